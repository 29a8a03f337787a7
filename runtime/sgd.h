/* sgd.h - stochastic gradient descent with momentum and weight decay, with
 * PyTorch's semantics (torch.optim.SGD, dampening 0, no Nesterov):
 *   d = g + wd * p;  v = d on the first step, else v = momentum * v + d;
 *   p -= lr * v.
 * Only trained tensors move; running statistics and other state do not. */
#ifndef ADVCC_SGD_H
#define ADVCC_SGD_H

#include "model.h"

typedef struct sgd_state {
    real_t *velocity;       /* model->n_params */
    double lr, momentum, weight_decay;
    int started;
} sgd_state;

int sgd_init(sgd_state *s, const advcc_model *m, double lr, double momentum,
             double weight_decay);
void sgd_step(sgd_state *s, const advcc_model *m, real_t *params,
              const real_t *grads);
void sgd_free(sgd_state *s);

#endif
