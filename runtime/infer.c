/* infer.c - ensemble-averaged prediction and its input gradient, with noise
 * replayed pass by pass. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "infer.h"
#include "kernels.h"

int infer_init(infer_ws *w, advcc_ctx *ctx)
{
    const advcc_model *m = ctx->model;
    memset(w, 0, sizeof *w);
    w->ctx = ctx;
    w->passes = m->ensemble > 1 ? m->ensemble : 1;
    w->in_size = m->in_c * m->in_h * m->in_w;
    w->classes = m->classes;
    w->cap = ctx->batch_cap;
    size_t rows = (size_t)w->cap * w->classes;
    w->pass_out = malloc(sizeof(real_t) * rows * w->passes);
    w->out = malloc(sizeof(real_t) * rows);
    w->replay_out = malloc(sizeof(real_t) * rows);
    w->dlogits = malloc(sizeof(real_t) * rows);
    w->dx_pass = malloc(sizeof(real_t) * (size_t)w->cap * w->in_size);
    w->lse = malloc(sizeof(double) * (size_t)w->cap * w->passes);
    w->states = malloc(sizeof(advcc_rng) * w->passes);
    if (!w->pass_out || !w->out || !w->replay_out || !w->dlogits ||
        !w->dx_pass || !w->lse || !w->states) {
        infer_free(w);
        return -1;
    }
    return 0;
}

void infer_free(infer_ws *w)
{
    free(w->pass_out);
    free(w->out);
    free(w->replay_out);
    free(w->dlogits);
    free(w->dx_pass);
    free(w->lse);
    free(w->states);
    memset(w, 0, sizeof *w);
}

static int rng_equal(const advcc_rng *a, const advcc_rng *b)
{
    return memcmp(a->s, b->s, sizeof a->s) == 0 &&
           a->have_spare == b->have_spare &&
           (!a->have_spare || a->spare == b->spare);
}

/* Runs the forward passes of one draw into w->pass_out, remembering the
 * rng state each started from.  Returns how many passes differ: 1 when the
 * first pass drew no noise (w->random = 0). */
static int run_passes(infer_ws *w, const real_t *x, int n, int mode)
{
    advcc_ctx *c = w->ctx;
    size_t rows = (size_t)w->cap * w->classes;
    w->random = 0;
    for (int k = 0; k < w->passes; k++) {
        if (c->rng)
            w->states[k] = *c->rng;
        c->model->forward(c, x, n, mode, w->pass_out + k * rows);
        if (k == 0) {
            w->random = c->rng && !rng_equal(&w->states[0], c->rng);
            if (!w->random)
                return 1;
        }
    }
    return w->passes;
}

/* log sum_j exp(z[j]), shifted by the maximum. */
static double row_lse(const real_t *z, int classes)
{
    double zmax = z[0];
    for (int j = 1; j < classes; j++)
        if (z[j] > zmax)
            zmax = z[j];
    double sum = 0.0;
    for (int j = 0; j < classes; j++)
        sum += exp((double)z[j] - zmax);
    return zmax + log(sum);
}

/* w->out from the first `passes` passes: mean logits, or log mean
 * probabilities.  Also fills w->lse for the probability gradient. */
static void combine(infer_ws *w, int n, int passes)
{
    const advcc_model *m = w->ctx->model;
    int C = w->classes;
    size_t rows = (size_t)w->cap * C;
    if (!m->ensemble_probs) {
        if (passes == 1) {
            memcpy(w->out, w->pass_out, sizeof(real_t) * n * C);
            return;
        }
        for (long i = 0; i < (long)n * C; i++) {
            double s = 0.0;
            for (int k = 0; k < passes; k++)
                s += w->pass_out[k * rows + i];
            w->out[i] = (real_t)(s / passes);
        }
        return;
    }
    for (int k = 0; k < passes; k++)
        for (int b = 0; b < n; b++)
            w->lse[(size_t)k * w->cap + b] =
                row_lse(w->pass_out + k * rows + (size_t)b * C, C);
    double logp = log((double)passes);
    for (int b = 0; b < n; b++)
        for (int j = 0; j < C; j++) {
            /* log mean_k p_k[j] = logsumexp_k(log p_k[j]) - log passes */
            double mx = -INFINITY, s = 0.0;
            for (int k = 0; k < passes; k++) {
                double lp = w->pass_out[k * rows + (size_t)b * C + j] -
                            w->lse[(size_t)k * w->cap + b];
                if (lp > mx)
                    mx = lp;
            }
            for (int k = 0; k < passes; k++)
                s += exp(w->pass_out[k * rows + (size_t)b * C + j] -
                         w->lse[(size_t)k * w->cap + b] - mx);
            w->out[(size_t)b * C + j] = (real_t)(mx + log(s) - logp);
        }
}

double infer_row_loss(const real_t *row, int y, int classes, int *pred)
{
    return softmax_xent(row, &y, 1, classes, NULL, pred);
}

void infer_logits(infer_ws *w, const real_t *x, int n, int mode,
                  real_t *logits)
{
    assert(n >= 1 && n <= w->cap);
    int passes = run_passes(w, x, n, mode);
    combine(w, n, passes);
    memcpy(logits, w->out, sizeof(real_t) * n * w->classes);
}

/* dlogits of pass k (scaled by `scale`) for the summed loss of w->out. */
static void pass_dlogits(infer_ws *w, int k, const int *y, int n, double scale)
{
    const advcc_model *m = w->ctx->model;
    int C = w->classes;
    size_t rows = (size_t)w->cap * C;
    for (int b = 0; b < n; b++) {
        const real_t *o = w->out + (size_t)b * C;
        real_t *d = w->dlogits + (size_t)b * C;
        double lo = row_lse(o, C);
        if (!m->ensemble_probs) {
            /* d loss / d mean logits, shared by every pass */
            for (int j = 0; j < C; j++)
                d[j] = (real_t)(scale * (exp(o[j] - lo) - (j == y[b])));
            continue;
        }
        /* loss = -log pbar_y: d/dz_k[i] = (p_k[y] / pbar_y) (p_k[i] - [i=y])
         * / passes; the ratio is taken in logs so that it never divides
         * zero by zero. */
        const real_t *z = w->pass_out + k * rows + (size_t)b * C;
        double lse = w->lse[(size_t)k * w->cap + b];
        double ratio = exp((z[y[b]] - lse) - (o[y[b]] - lo));
        for (int j = 0; j < C; j++)
            d[j] = (real_t)(scale * ratio * (exp(z[j] - lse) - (j == y[b])));
    }
}

double infer_loss_grad(infer_ws *w, const real_t *x, const int *y, int n,
                       int mode, int eot, int targeted, real_t *dx,
                       real_t *logits_out)
{
    assert(n >= 1 && n <= w->cap);
    advcc_ctx *c = w->ctx;
    const advcc_model *m = c->model;
    int C = w->classes;
    long in_n = (long)n * w->in_size;
    int draws = eot > 1 ? eot : 1;
    double sign = targeted ? -1.0 : 1.0;
    double total = 0.0;

    for (int d = 0; d < draws; d++) {
        int passes = run_passes(w, x, n, mode);
        if (d == 0 && !w->random)
            draws = 1;          /* every draw would be the same */
        advcc_rng after;
        if (w->random)
            after = *c->rng;
        combine(w, n, passes);
        if (d == 0 && logits_out)
            memcpy(logits_out, w->out, sizeof(real_t) * n * C);
        for (int b = 0; b < n; b++)
            total += infer_row_loss(w->out + (size_t)b * C, y[b], C, NULL);

        int direct = passes == 1 && draws == 1;
        if (d == 0 && !direct)
            memset(dx, 0, sizeof(real_t) * in_n);
        double scale = sign / ((double)passes * draws);
        /* The arena holds the last pass: backward it first, then replay the
         * others from their saved rng states. */
        for (int k = passes - 1; k >= 0; k--) {
            if (k != passes - 1) {
                *c->rng = w->states[k];
                m->forward(c, x, n, mode, w->replay_out);
            }
            if (k == passes - 1 || m->ensemble_probs)
                pass_dlogits(w, k, y, n, scale);
            m->backward(c, w->dlogits, 0, direct ? dx : w->dx_pass);
            if (!direct)
                for (long i = 0; i < in_n; i++)
                    dx[i] += w->dx_pass[i];
        }
        if (w->random)
            *c->rng = after;    /* later draws are fresh */
    }
    return total / ((double)n * draws);
}
