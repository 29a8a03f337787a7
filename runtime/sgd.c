/* sgd.c - the optimiser step over the model's trained tensors. */
#include <math.h>
#include <stdlib.h>
#include "parallel.h"
#include "sgd.h"

int sgd_init(sgd_state *s, const advcc_model *m, double lr, double momentum,
             double weight_decay)
{
    advcc_train_cfg plain = {0};
    return sgd_init_recipe(s, m, &plain, lr, momentum, weight_decay);
}

int sgd_init_recipe(sgd_state *s, const advcc_model *m, const advcc_train_cfg *t,
                    double lr, double momentum, double weight_decay)
{
    size_t n = m->n_params ? m->n_params : 1;
    s->optimizer = t->optimizer;
    s->nesterov = t->nesterov;
    s->beta1 = t->beta1;
    s->beta2 = t->beta2;
    s->eps = t->eps;
    s->velocity = calloc(n, sizeof(real_t));
    s->second = t->optimizer != ADVCC_OPT_SGD ? calloc(n, sizeof(real_t)) : NULL;
    s->lr = lr;
    s->momentum = momentum;
    s->weight_decay = weight_decay;
    s->steps = 0;
    s->started = 0;
    return s->velocity && (s->second || t->optimizer == ADVCC_OPT_SGD) ? 0 : -1;
}

/* Adam and AdamW, step t = s->steps + 1, in double. */
static void adam_update(sgd_state *s, real_t *p, real_t *m1, real_t *m2,
                        const real_t *g, size_t n)
{
    const double t = (double)(s->steps + 1), b1 = s->beta1, b2 = s->beta2;
    const double step = s->lr / (1 - pow(b1, t)), root2 = sqrt(1 - pow(b2, t));
    const int decoupled = s->optimizer == ADVCC_OPT_ADAMW;
    const double wd = s->weight_decay, shrink = 1 - s->lr * wd;
    for (size_t i = 0; i < n; i++) {
        double pi = p[i], d = g[i];
        if (decoupled)
            pi *= shrink;
        else
            d += wd * pi;
        double a = b1 * m1[i] + (1 - b1) * d;
        double b = b2 * m2[i] + (1 - b2) * d * d;
        m1[i] = (real_t)a;
        m2[i] = (real_t)b;
        p[i] = (real_t)(pi - step * a / (sqrt(b) / root2 + s->eps));
    }
}

/* SGD with momentum over n values.  Called with constant carry (momentum
 * carried over from the last step) and nesterov, so that each use compiles
 * to a loop without branches, vectorised: the branches inside the loop
 * kept it scalar. */
static inline void sgd_update(real_t *restrict p, real_t *restrict v, const real_t *restrict g,
                              size_t n, real_t lr, real_t mom, real_t wd, int carry,
                              int nesterov)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        const real_t d = g[i] + wd * p[i];
        const real_t vi = carry ? mom * v[i] + d : d;
        v[i] = vi;
        p[i] -= nesterov ? lr * (d + mom * vi) : lr * vi;
    }
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
        if (s->optimizer != ADVCC_OPT_SGD) {
            adam_update(s, p, v, s->second + T->offset, g, T->size);
            continue;
        }
        /* a large tensor (the seed CNN's first linear layer, half a
         * million weights) shared between the threads, a piece each: each
         * value is updated on its own, so the same bits */
        const int carry = s->started && mom != 0;
#pragma omp parallel if (T->size >= PAR_MIN_ELEMS)
        {
            long a, end;
            thread_share((long)T->size, &a, &end);
            const size_t n = (size_t)(end - a);
            if (carry && !s->nesterov)
                sgd_update(p + a, v + a, g + a, n, lr, mom, wd, 1, 0);
            else if (carry)
                sgd_update(p + a, v + a, g + a, n, lr, mom, wd, 1, 1);
            else
                sgd_update(p + a, v + a, g + a, n, lr, mom, wd, 0, s->nesterov);
        }
    }
    s->steps++;
    s->started = 1;
}

void sgd_free(sgd_state *s)
{
    free(s->velocity);
    free(s->second);
    s->velocity = NULL;
    s->second = NULL;
}
