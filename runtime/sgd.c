/* sgd.c - the optimizer step over the model's trained tensors. */
#include <stdlib.h>
#include "sgd.h"

int sgd_init(sgd_state *s, const advcc_model *m, double lr, double momentum,
             double weight_decay)
{
    s->velocity = calloc(m->n_params ? m->n_params : 1, sizeof(real_t));
    s->lr = lr;
    s->momentum = momentum;
    s->weight_decay = weight_decay;
    s->started = 0;
    return s->velocity ? 0 : -1;
}

void sgd_step(sgd_state *s, const advcc_model *m, real_t *params,
              const real_t *grads)
{
    const real_t lr = (real_t)s->lr, mom = (real_t)s->momentum;
    const real_t wd = (real_t)s->weight_decay;
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        if (T->kind == ADVCC_STATE)
            continue;
        real_t *p = params + T->offset, *v = s->velocity + T->offset;
        const real_t *g = grads + T->offset;
        for (size_t i = 0; i < T->size; i++) {
            real_t d = g[i] + wd * p[i];
            v[i] = s->started && mom != 0 ? mom * v[i] + d : d;
            p[i] -= lr * v[i];
        }
    }
    s->started = 1;
}

void sgd_free(sgd_state *s)
{
    free(s->velocity);
    s->velocity = NULL;
}
