/* regularize.c - a model's penalties run as one job; see regularize.h. */
#include "orthogonal.h"
#include "parallel.h"
#include "regularize.h"
#include "spectral.h"

/* Columns of a split weight's gradient a job adds. */
#define REG_SLAB_COLS 512

/* Whether the calling thread of the team owns column c of a weight with
 * `cols` columns: its share of them (parallel.h's thread_share). */
static int thread_owns(int c, int cols)
{
    long first, end;
    thread_share(cols, &first, &end);
    return c >= first && c < end;
}

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

/* A term's room, a multiple of 16 reals: each room starts on 64 bytes. */
static size_t term_scratch(const reg_term *t)
{
    size_t r = 0;
    if (t->kind == REG_ORTHOGONAL)
        r = orthogonal_scratch(t->rows, t->cols);
    else if (t->kind == REG_SPECTRAL_CONV)
        r = spectral_conv_scratch(t->conv);
    return (r + 15) / 16 * 16;
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

/* Whether a term goes in steps (orthogonal.h, spectral.h): a weight made
 * only of such terms is split. */
static int term_splits(const reg_term *t)
{
    return (t->kind == REG_ORTHOGONAL && t->form != ORTH_OFFDIAG) ||
           t->kind == REG_SPECTRAL_LINEAR;
}

/* A single-threaded job: term a's power iterations, or small weight a's
 * terms. */
enum { JOB_ITERATE, JOB_WEIGHT };
typedef struct reg_job {
    int kind, a;
    double cost;
} reg_job;

/* job into the list of jobs, dearest first (a tie keeps the list's order). */
static void job_add(reg_job *job, int *jobs, reg_job add)
{
    int j = (*jobs)++;
    for (; j > 0 && job[j - 1].cost < add.cost; j--)
        job[j] = job[j - 1];
    job[j] = add;
}

/* Columns c0.. of a split weight's gradient (the weight of term `first`):
 * each of its terms with a gradient, in the list's order. */
static void slab_run(const reg_term *t, int n, int first, int c0, const int *grad,
                     const size_t *at, real_t *params, real_t *grads, real_t *scratch)
{
    const int cols = t[first].cols;
    const int c1 = c0 + REG_SLAB_COLS < cols ? c0 + REG_SLAB_COLS : cols;
    for (int i = first; i < n; i++) {
        const reg_term *u = &t[i];
        if (u->weight != t[first].weight || !grad[i])
            continue;
        if (u->kind == REG_ORTHOGONAL)
            orthogonal_grad_cols(params + u->weight, u->rows, cols, u->form, c0, c1,
                                 scratch + at[i], grads + u->weight);
        else
            spectral_linear_grad_cols(params + u->u, params + u->v, u->rows, cols, c0, c1,
                                      (real_t)u->scale, grads + u->weight);
    }
}

double regularize_run(const reg_term *t, int n, real_t *params, real_t *grads, double *terms,
                      real_t *scratch)
{
    const int cap = n > 0 ? n : 1;
    /* the weights, each by its first term, its terms' FLOPs and largest
     * room, whether it is large and whether it splits; of[i]: term i's */
    int first[cap], large[cap], split[cap], of[cap];
    double cost[cap];
    size_t room[cap];
    int weights = 0;
    for (int i = 0; i < n; i++) {
        int g = 0;
        while (g < weights && t[first[g]].weight != t[i].weight)
            g++;
        of[i] = g;
        if (g == weights) {
            first[weights] = i;
            split[weights] = 1;
            cost[weights] = 0;
            room[weights++] = 0;
        }
        cost[g] += term_flops(&t[i]);
        split[g] &= term_splits(&t[i]);
        const size_t r = term_scratch(&t[i]);
        room[g] = r > room[g] ? r : room[g];
    }
    /* a large weight that does not split: its terms in order on the team,
     * before anything else holds scratch */
    for (int g = 0; g < weights; g++) {
        large[g] = cost[g] > REG_SHARED_FLOPS;
        split[g] &= large[g];
        if (large[g] && !split[g])
            weight_run(t, n, first[g], params, grads, terms, scratch);
    }
    /* the jobs before the split weights' gradients, each split orthogonal
     * term and each small weight in a room of its own */
    reg_job job[cap];
    size_t at[cap], sum = 0;
    int jobs = 0, pieces = 0;
    for (int i = 0; i < n; i++) {
        const int g = of[i];
        if (!large[g] && first[g] == i) {
            at[i] = sum;
            sum += room[g];
            job_add(job, &jobs, (reg_job){JOB_WEIGHT, g, cost[g]});
        } else if (split[g] && t[i].kind == REG_ORTHOGONAL) {
            at[i] = sum;
            sum += term_scratch(&t[i]);
            pieces += orthogonal_gram_pieces(t[i].rows, t[i].cols);
        } else if (split[g]) {
            job_add(job, &jobs, (reg_job){JOB_ITERATE, i, term_flops(&t[i])});
        }
    }
    double sigma[cap];
#pragma omp parallel if (jobs + pieces > 1)
    {
        /* the Gram's pieces of the columns each thread owns first, then
         * the jobs, dearest first, to whichever thread is free */
        for (int i = 0; i < n; i++)
            if (split[of[i]] && t[i].kind == REG_ORTHOGONAL)
                for (int k = 0; k < orthogonal_gram_pieces(t[i].rows, t[i].cols); k++) {
                    int c0, c1;
                    orthogonal_gram_piece_cols(t[i].rows, t[i].cols, k, &c0, &c1);
                    if (thread_owns(c0, t[i].cols))
                        orthogonal_gram_piece(params + t[i].weight, t[i].rows, t[i].cols, k,
                                              scratch + at[i]);
                }
#pragma omp for schedule(dynamic, 1) nowait
        for (int j = 0; j < jobs; j++) {
            const reg_job *b = &job[j];
            const reg_term *u = &t[b->a];
            if (b->kind == JOB_WEIGHT)
                weight_run(t, n, first[b->a], params, grads, terms, scratch + at[first[b->a]]);
            else
                sigma[b->a] = spectral_linear_iterate(params + u->weight, u->rows, u->cols,
                                                      params + u->u, params + u->v, u->iters,
                                                      u->restart);
        }
    }
    /* the split terms' values, and which have a gradient to add */
    int grad[cap], slabs = 0;
    for (int i = 0; i < n; i++) {
        if (!split[of[i]])
            continue;
        const reg_term *u = &t[i];
        if (u->kind == REG_ORTHOGONAL) {
            grad[i] = grads != NULL;
            terms[i] = u->scale * orthogonal_finish(params + u->weight, u->rows, u->cols,
                                                    u->form, (real_t)u->scale, &grad[i],
                                                    scratch + at[i]);
        } else {
            grad[i] = grads && sigma[i] > 0;
            terms[i] = u->scale * sigma[i];
        }
        if (grads && first[of[i]] == i)
            slabs += (u->cols + REG_SLAB_COLS - 1) / REG_SLAB_COLS;
    }
    /* their gradients by slabs of columns */
    int slab_first[slabs > 0 ? slabs : 1], slab_c0[slabs > 0 ? slabs : 1];
    for (int g = 0, k = 0; g < weights && grads; g++)
        for (int c0 = 0; split[g] && c0 < t[first[g]].cols; c0 += REG_SLAB_COLS, k++) {
            slab_first[k] = first[g];
            slab_c0[k] = c0;
        }
#pragma omp parallel if (slabs > 1)
    for (int k = 0; k < slabs; k++)
        if (thread_owns(slab_c0[k], t[slab_first[k]].cols))
            slab_run(t, n, slab_first[k], slab_c0[k], grad, at, params, grads, scratch);
    double total = 0;
    for (int i = 0; i < n; i++)
        total += terms[i];
    return total;
}
