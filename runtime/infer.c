/* infer.c - ensemble-averaged prediction and its input gradient, each pass
 * in an arena of its own or replayed; see infer.h. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "context.h"
#include "infer.h"
#include "kernels.h"
#include "noise.h"

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
    w->gout = malloc(sizeof(real_t) * rows);
    w->dx_pass = malloc(sizeof(real_t) * (size_t)w->cap * w->in_size);
    w->lse = malloc(sizeof(double) * (size_t)w->cap * w->passes);
    w->states = malloc(sizeof(advcc_rng) * w->passes);
    if (w->passes > 1 && m->backward_top)
        w->dy_sum = malloc(sizeof(real_t) * (size_t)w->cap * m->top_size);
    if (!w->pass_out || !w->out || !w->replay_out || !w->dlogits || !w->gout ||
        !w->dx_pass || !w->lse || !w->states || (w->passes > 1 && m->backward_top && !w->dy_sum)) {
        infer_free(w);
        return -1;
    }
    double bytes = (double)ctx_pass_reals(m, w->cap) * sizeof(real_t) * (w->passes - 1);
    if (w->passes > 1 && bytes <= INFER_KEEP_BYTES &&
        (w->arenas = calloc((size_t)w->passes - 1, sizeof *w->arenas)) != NULL) {
        for (int k = 0; k < w->passes - 1; k++)
            if (!(w->arenas[k] = ctx_alloc_arena(m, w->cap))) {
                infer_replay_passes(w);     /* replaying needs no more memory */
                break;
            }
    }
    return 0;
}

void infer_replay_passes(infer_ws *w)
{
    if (!w->arenas)
        return;
    for (int k = 0; k < w->passes - 1; k++)
        ctx_free_arena(w->arenas[k]);
    free(w->arenas);
    w->arenas = NULL;
}

void infer_free(infer_ws *w)
{
    free(w->pass_out);
    free(w->out);
    free(w->replay_out);
    free(w->dlogits);
    free(w->gout);
    free(w->dx_pass);
    free(w->lse);
    free(w->states);
    free(w->dy_sum);
    infer_replay_passes(w);
    memset(w, 0, sizeof *w);
}

/* The arena pass k runs in: the first pass (the only one of a model
 * without noise) the context's, the others their own, or with passes
 * replayed, the context's too. */
static real_t *pass_arena(const infer_ws *w, int k, real_t *own)
{
    return w->arenas && k > 0 ? w->arenas[k - 1] : own;
}

/* Runs the forward passes of one draw into w->pass_out, remembering the
 * rng state each started from, each in its arena when a backward follows
 * (keep), else all in the context's, where the last pass's activations are
 * still in cache.  Returns how many passes differ: 1 when the first pass
 * drew no noise (w->random = 0). */
static int run_passes(infer_ws *w, const real_t *x, int n, int mode, int keep)
{
    advcc_ctx *c = w->ctx;
    real_t *own = c->arena;
    size_t rows = (size_t)w->cap * w->classes;
    w->random = 0;
    if (w->freeze && c->rng)
        *c->rng = *w->freeze;
    for (int k = 0; k < w->passes; k++) {
        if (c->rng)
            w->states[k] = *c->rng;
        c->arena = keep ? pass_arena(w, k, own) : own;
        c->model->forward(c, x, n, mode, w->pass_out + k * rows);
        if (k == 0) {
            w->random = c->rng && !rng_equal(&w->states[0], c->rng);
            if (!w->random)
                break;
        }
    }
    c->arena = own;
    return w->random ? w->passes : 1;
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

int infer_misclassified(const real_t *row, int classes, int y)
{
    int pred = 0;
    for (int j = 1; j < classes; j++)
        if (row[j] > row[pred])
            pred = j;
    return pred != y;
}

double infer_row_loss(const real_t *row, int y, int classes, int *pred)
{
    return softmax_xent(row, &y, 1, classes, NULL, pred);
}

void infer_logits(infer_ws *w, const real_t *x, int n, int mode,
                  real_t *logits)
{
    assert(n >= 1 && n <= w->cap);
    int passes = run_passes(w, x, n, mode, 0);
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

/* dlogits of pass k (scaled by `scale`) from w->gout, the gradient of the
 * loss in the combined output.  Mean logits: the same for every pass.  Log
 * mean probabilities out_j = log (1/P) sum_k p_k[j]:
 *   d/dz_k[i] = (1/P) (g_i e_k[i] - p_k[i] sum_j g_j e_k[j]),
 * e_k[j] = p_k[j] / pbar_j, the 1/P in scale. */
static void pass_dlogits_g(infer_ws *w, int k, int n, double scale)
{
    const advcc_model *m = w->ctx->model;
    int C = w->classes;
    size_t rows = (size_t)w->cap * C;
    for (int b = 0; b < n; b++) {
        const real_t *g = w->gout + (size_t)b * C;
        real_t *d = w->dlogits + (size_t)b * C;
        if (!m->ensemble_probs) {
            for (int j = 0; j < C; j++)
                d[j] = (real_t)(scale * g[j]);
            continue;
        }
        const real_t *o = w->out + (size_t)b * C;
        const real_t *z = w->pass_out + k * rows + (size_t)b * C;
        double lse = w->lse[(size_t)k * w->cap + b];
        double s = 0.0;
        for (int j = 0; j < C; j++)
            s += g[j] * exp(z[j] - lse - o[j]);
        for (int j = 0; j < C; j++)
            d[j] = (real_t)(scale * (g[j] * exp(z[j] - lse - o[j]) -
                                     exp(z[j] - lse) * s));
    }
}

/* Indices of the four largest entries of row (fewer when classes < 4). */
static void top4(const real_t *row, int classes, int *top)
{
    for (int r = 0; r < 4; r++)
        top[r] = -1;
    for (int j = 0; j < classes; j++) {
        int at = 4;
        while (at > 0 && (top[at - 1] < 0 || row[j] > row[top[at - 1]]))
            at--;
        if (at >= 4)
            continue;
        for (int r = 3; r > at; r--)
            top[r] = top[r - 1];
        top[at] = j;
    }
}

double infer_row_loss_kind(const real_t *row, int classes, int kind, int y,
                           int t, real_t *g)
{
    if (kind == INFER_CE) {
        double l = infer_row_loss(row, y, classes, NULL);
        if (g) {
            double lo = row_lse(row, classes);
            for (int j = 0; j < classes; j++)
                g[j] = (real_t)(exp(row[j] - lo) - (j == y));
        }
        return l;
    }
    if (kind == INFER_DIFF_T) {
        if (g) {
            memset(g, 0, sizeof(real_t) * classes);
            g[t] += 1;
            g[y] -= 1;
        }
        return (double)row[t] - row[y];
    }
    int top[4];
    top4(row, classes, top);
    if (g)
        memset(g, 0, sizeof(real_t) * classes);
    if (kind == INFER_DLR) {
        assert(classes >= 3);
        int other = top[0] == y ? top[1] : top[0];
        double num = (double)row[y] - row[other];
        double den = (double)row[top[0]] - row[top[2]] + 1e-12;
        if (g) {
            g[y] += (real_t)(-1.0 / den);
            g[other] += (real_t)(1.0 / den);
            g[top[0]] += (real_t)(num / (den * den));
            g[top[2]] -= (real_t)(num / (den * den));
        }
        return -num / den;
    }
    assert(classes >= 4);
    double num = (double)row[y] - row[t];
    double den = (double)row[top[0]] -
                 0.5 * ((double)row[top[2]] + row[top[3]]) + 1e-12;
    if (g) {
        g[y] += (real_t)(-1.0 / den);
        g[t] += (real_t)(1.0 / den);
        g[top[0]] += (real_t)(num / (den * den));
        g[top[2]] -= (real_t)(0.5 * num / (den * den));
        g[top[3]] -= (real_t)(0.5 * num / (den * den));
    }
    return -num / den;
}

/* The loss of one draw's combined output w->out: per-image losses added to
 * loss[] (scaled by 1/draws) when not NULL, and for kinds other than CE
 * their gradients into w->gout.  Returns the sum over images. */
static double draw_losses(infer_ws *w, const int *y, const int *t, int n,
                          int kind, int draws, double *loss)
{
    int C = w->classes;
    double total = 0.0;
    for (int b = 0; b < n; b++) {
        const real_t *row = w->out + (size_t)b * C;
        double l = kind == INFER_CE
                       ? infer_row_loss(row, y[b], C, NULL)
                       : infer_row_loss_kind(row, C, kind, y[b], t ? t[b] : 0,
                                             w->gout + (size_t)b * C);
        if (loss)
            loss[b] += l / draws;
        total += l;
    }
    return total;
}

/* sum = dy (first) or sum += dy, over len values: the passes' gradients
 * at the output of the layer below which they share the backward. */
static void sum_pass_dy(real_t *sum, const real_t *dy, long len, int first)
{
    if (first)
        memcpy(sum, dy, sizeof(real_t) * (size_t)len);
    else
        residual_accumulate(sum, dy, len);
}

static double loss_grad(infer_ws *w, const real_t *x, const int *y,
                        const int *t, int n, int mode, int eot, int targeted,
                        int kind, real_t *dx, double *loss, real_t *logits_out)
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
        int passes = run_passes(w, x, n, mode, 1);
        if (d == 0 && !w->random)
            draws = 1;          /* every draw would be the same */
        advcc_rng after;
        if (w->random)
            after = *c->rng;
        combine(w, n, passes);
        if (d == 0 && logits_out)
            memcpy(logits_out, w->out, sizeof(real_t) * n * C);
        if (d == 0 && loss)
            memset(loss, 0, sizeof(double) * n);
        total += draw_losses(w, y, t, n, kind, draws, loss);

        int direct = passes == 1 && draws == 1;
        /* passes share the backward below the model's split (model.h) */
        int share = passes > 1 && w->dy_sum;
        if (d == 0 && !direct)
            memset(dx, 0, sizeof(real_t) * in_n);
        double scale = sign / ((double)passes * draws);
        /* Last pass first: with passes replayed, the context's arena holds
         * it, and the others are run again from their saved rng states. */
        real_t *own = c->arena;
        for (int k = passes - 1; k >= 0; k--) {
            c->arena = pass_arena(w, k, own);
            if (k != passes - 1 && !w->arenas) {
                /* the same draws again: not new ones to record */
                noise_record *log = noise_log;
                noise_log = NULL;
                *c->rng = w->states[k];
                m->forward(c, x, n, mode, w->replay_out);
                noise_log = log;
            }
            if (kind != INFER_CE)
                pass_dlogits_g(w, k, n, scale);
            else if (k == passes - 1 || m->ensemble_probs)
                pass_dlogits(w, k, y, n, scale);
            if (share) {
                sum_pass_dy(w->dy_sum, m->backward_top(c, w->dlogits),
                            (long)n * m->top_size, k == passes - 1);
                continue;
            }
            m->backward(c, w->dlogits, 0, direct ? dx : w->dx_pass);
            if (!direct)
                residual_accumulate(dx, w->dx_pass, in_n);
        }
        c->arena = own;
        if (share) {
            m->backward_bottom(c, w->dy_sum, draws == 1 ? dx : w->dx_pass);
            if (draws > 1)
                residual_accumulate(dx, w->dx_pass, in_n);
        }
        if (w->random)
            *c->rng = after;    /* later draws are fresh */
    }
    for (int b = 0; b < n; b++) {
        const real_t *g = dx + (size_t)b * w->in_size;
        int i = 0;
        while (i < w->in_size && g[i] == 0)
            i++;
        w->grad_zero_rows += i == w->in_size;
    }
    w->grad_rows += n;
    return total / ((double)n * draws);
}

const char *infer_grad_name(int grad)
{
    return grad == INFER_GRAD_BPDA ? "bpda" : grad == INFER_GRAD_BOTH ? "both" : "ste";
}

int infer_grad_by_name(const char *name)
{
    for (int g = INFER_GRAD_STE; g <= INFER_GRAD_BOTH; g++)
        if (!strcmp(name, infer_grad_name(g)))
            return g;
    return -1;
}

int infer_bpda_layers(const advcc_model *m)
{
    int count = 0;
    for (int i = 0; m->layers && i < m->n_layers; i++) {
        int k = m->layers[i].kind;
        count += k == ADVCC_LAYER_DTRELU || k == ADVCC_LAYER_PWLINEAR ||
                 k == ADVCC_LAYER_NAIVEDT || k == ADVCC_LAYER_DDTRELU;
    }
    return count;
}

double infer_loss_grad(infer_ws *w, const real_t *x, const int *y, int n,
                       int mode, int eot, int targeted, real_t *dx,
                       real_t *logits_out)
{
    return loss_grad(w, x, y, NULL, n, mode, eot, targeted, INFER_CE, dx,
                     NULL, logits_out);
}

double infer_loss_grad_kind(infer_ws *w, const real_t *x, const int *y,
                            const int *t, int n, int mode, int eot, int kind,
                            real_t *dx, double *loss, real_t *logits_out)
{
    return loss_grad(w, x, y, t, n, mode, eot, 0, kind, dx, loss, logits_out);
}
