/* sgd.h - the optimiser step over the model's trained tensors, with
 * PyTorch's semantics (docs/METHODS.md 1).  SGD (torch.optim.SGD,
 * dampening 0):
 *   d = g + wd * p;  v = d on the first step, else v = momentum * v + d;
 *   p -= lr * v, or with Nesterov p -= lr * (d + momentum * v).
 * Adam (torch.optim.Adam, L2 added to the gradient) and AdamW
 * (torch.optim.AdamW, decoupled decay), at step t = 1, 2, ...:
 *   Adam: d = g + wd * p;  AdamW: d = g, and first p *= 1 - lr * wd;
 *   m = beta1 m + (1 - beta1) d;  v = beta2 v + (1 - beta2) d^2;
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
 * Only trained tensors move; running statistics and other state do not. */
#ifndef ADVCC_SGD_H
#define ADVCC_SGD_H

#include "model.h"

typedef struct sgd_state {
    real_t *velocity;       /* model->n_params: SGD's momentum, Adam's m */
    real_t *second;         /* Adam's v; NULL for SGD */
    double lr, momentum, weight_decay;
    int optimizer;          /* enum advcc_optimizer */
    int nesterov;
    double beta1, beta2, eps;
    long steps;             /* updates taken (Adam's t before the next) */
    int started;
} sgd_state;

/* Plain SGD with momentum, as train sgd without further keys. */
int sgd_init(sgd_state *s, const advcc_model *m, double lr, double momentum,
             double weight_decay);
/* The optimiser of a training recipe (its optimizer, nesterov and Adam
 * keys), with lr, momentum and weight decay given apart (the command line
 * may override them).  0, or -1 out of memory. */
int sgd_init_recipe(sgd_state *s, const advcc_model *m, const advcc_train_cfg *t,
                    double lr, double momentum, double weight_decay);
/* One update with the learning rate s->lr. */
void sgd_step(sgd_state *s, const advcc_model *m, real_t *params,
              const real_t *grads);
void sgd_free(sgd_state *s);

#endif
