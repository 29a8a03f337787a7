/* regularize.c - a model's penalties run as one job; see regularize.h. */
#include "orthogonal.h"
#include "regularize.h"
#include "spectral.h"

static double term_flops(const reg_term *t)
{
    switch (t->kind) {
    case REG_ORTHOGONAL: {      /* the Gram of the shorter side, then W A */
        const double m = t->rows < t->cols ? t->rows : t->cols;
        return 4 * m * m * (t->rows < t->cols ? t->cols : t->rows);
    }
    case REG_SPECTRAL_LINEAR:
        return 4.0 * t->iters * t->rows * t->cols;
    default: {                  /* an image forward and back an iteration, then dW */
        const conv_shape *s = t->conv;
        return 2.0 * (2 * t->iters + 1) * s->out_c * s->in_c * s->kh * s->kw * s->out_h *
               s->out_w;
    }
    }
}

static size_t term_scratch(const reg_term *t)
{
    switch (t->kind) {
    case REG_ORTHOGONAL:
        return orthogonal_scratch(t->rows, t->cols);
    case REG_SPECTRAL_CONV:
        return spectral_conv_scratch(t->conv);
    default:
        return 0;
    }
}

size_t regularize_scratch(const reg_term *t, int n)
{
    size_t sum = 0;             /* a term's room each: enough however they group */
    for (int i = 0; i < n; i++)
        sum += term_scratch(&t[i]);
    return sum;
}

static double term_run(const reg_term *t, real_t *params, real_t *grads, real_t *scratch)
{
    real_t *dw = grads ? grads + t->weight : NULL;
    const real_t *w = params + t->weight;
    const real_t scale = (real_t)t->scale;
    double p;
    switch (t->kind) {
    case REG_ORTHOGONAL:
        p = orthogonal_penalty(w, t->rows, t->cols, t->form, scale, dw, scratch);
        break;
    case REG_SPECTRAL_LINEAR:
        p = spectral_linear(w, t->rows, t->cols, params + t->u, params + t->v, t->iters,
                            t->restart, scale, dw);
        break;
    default:
        p = spectral_conv(w, t->conv, params + t->u, params + t->v, t->iters, t->restart, scale,
                          dw, scratch);
        break;
    }
    return t->scale * p;
}

/* The terms of the weight term `first` has, in order, from first on. */
static void weight_run(const reg_term *t, int n, int first, real_t *params, real_t *grads,
                       double *terms, real_t *scratch)
{
    for (int i = first; i < n; i++)
        if (t[i].weight == t[first].weight)
            terms[i] = term_run(&t[i], params, grads, scratch);
}

double regularize_run(const reg_term *t, int n, real_t *params, real_t *grads, double *terms,
                      real_t *scratch)
{
    /* the weights, each by its first term, its terms' FLOPs and largest
     * room; the small ones dearest first */
    int first[n > 0 ? n : 1], small[n > 0 ? n : 1];
    double cost[n > 0 ? n : 1];
    size_t room[n > 0 ? n : 1];
    int weights = 0, smalls = 0;
    for (int i = 0; i < n; i++) {
        int g = 0;
        while (g < weights && t[first[g]].weight != t[i].weight)
            g++;
        if (g == weights) {
            first[weights] = i;
            cost[weights] = 0;
            room[weights++] = 0;
        }
        cost[g] += term_flops(&t[i]);
        const size_t r = term_scratch(&t[i]);
        room[g] = r > room[g] ? r : room[g];
    }
    for (int g = 0; g < weights; g++) {
        if (cost[g] > REG_SHARED_FLOPS) {
            weight_run(t, n, first[g], params, grads, terms, scratch);
            continue;
        }
        int k = smalls++;
        for (; k > 0 && cost[small[k - 1]] < cost[g]; k--)
            small[k] = small[k - 1];
        small[k] = g;
    }
    /* each small weight in scratch of its own */
    size_t at[smalls > 0 ? smalls : 1], sum = 0;
    for (int k = 0; k < smalls; k++) {
        at[k] = sum;
        sum += room[small[k]];
    }
#pragma omp parallel for schedule(dynamic, 1) if (smalls > 1)
    for (int k = 0; k < smalls; k++)
        weight_run(t, n, first[small[k]], params, grads, terms, scratch + at[k]);
    double total = 0;
    for (int i = 0; i < n; i++)
        total += terms[i];
    return total;
}
