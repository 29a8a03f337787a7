/* fab.c - FAB-T: steps onto the linearised boundary between the label and
 * the target, biased towards the original image, stepping back whenever
 * the boundary was crossed. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apgd.h"
#include "fab.h"

void fab_defaults(fab_cfg *cfg, int norm, double eps)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->norm = norm;
    cfg->eps = eps;
    cfg->iters = 100;
    cfg->restarts = 1;
    cfg->alpha_max = 0.1;
    cfg->eta = 1.05;
    cfg->beta = 0.9;
    cfg->mode = ADVCC_EVAL;
}

int fab_check_cfg(const fab_cfg *cfg, char *err, size_t errlen)
{
    const char *why = apgd_check_common(cfg->norm, cfg->eps, cfg->iters,
                                        cfg->restarts, cfg->mode);
    if (!why) {
        if (!(cfg->alpha_max > 0 && cfg->alpha_max <= 1))
            why = "alpha_max must be in (0, 1]";
        else if (!(cfg->eta >= 1 && isfinite(cfg->eta)))
            why = "eta must be a finite number >= 1";
        else if (!(cfg->beta > 0 && cfg->beta < 1))
            why = "beta must be in (0, 1)";
    }
    if (why) {
        if (err && errlen)
            snprintf(err, errlen, "fab: %s", why);
        return -1;
    }
    return 0;
}

/* The projection, both norms at once.  With the sign of w chosen so that
 * c = w . t - b >= 0, the plane is reached by lowering w . z by c.  Within
 * radius r (L-inf) coordinate i can lower it by |w_i| min(r, cap_i), cap_i
 * the room to the bound it moves towards (t_i when w_i > 0, 1 - t_i when
 * w_i < 0); in L2 the closest point moves coordinate i by min(mu |w_i|,
 * cap_i) for a multiplier mu (the box-clipped gradient step).  Either way
 * the amount lowered,
 *   G(r) = sum_{key_i <= r} gain_i + r sum_{key_i > r} slope_i,
 * is piecewise linear and increasing in r (key_i = cap_i, slope_i = |w_i|
 * for L-inf; key_i = cap_i / |w_i|, slope_i = w_i^2 for L2; gain_i =
 * |w_i| cap_i), and the answer is the smallest r with G(r) = c.  It is
 * found without sorting: partition the breakpoints around a pivot, keep the
 * side that holds r (as in quickselect). */
static double plane_radius(fab_break *k, int m, double c)
{
    double gain_below = 0.0, slope_above = 0.0;
    int lo = 0, hi = m;     /* the undecided breakpoints k[lo..hi) */
    while (lo < hi) {
        double p = k[lo + (hi - lo) / 2].key;
        /* three-way partition: [lo, lt) < p, [lt, gt) == p, [gt, hi) > p */
        int lt = lo, i = lo, gt = hi;
        double gain_le = 0.0, slope_ge = 0.0;
        while (i < gt) {
            if (k[i].key < p) {
                fab_break s = k[i];
                k[i++] = k[lt];
                k[lt++] = s;
            } else if (k[i].key > p) {
                fab_break s = k[i];
                k[i] = k[--gt];
                k[gt] = s;
            } else {
                i++;
            }
        }
        for (int j = lo; j < gt; j++)
            gain_le += k[j].gain;
        for (int j = lt; j < hi; j++)
            slope_ge += k[j].slope;
        double slope_gt = slope_ge;
        for (int j = lt; j < gt; j++)
            slope_gt -= k[j].slope;
        double g_at_p = gain_below + gain_le + p * (slope_above + slope_gt);
        if (g_at_p >= c) {
            slope_above += slope_ge;    /* r <= p: these still grow at r */
            hi = lt;
        } else {
            gain_below += gain_le;      /* r > p: these have stopped */
            lo = gt;
        }
    }
    return slope_above > 0 ? (c - gain_below) / slope_above : 0.0;
}

/* |w_i| at most this counts as 0: its L2 breakpoint cap / |w_i| would
 * overflow. */
#define FAB_TINY 1e-150

int fab_project(int norm, const double *t, const double *w, double b, int d,
                fab_break *scratch, double *delta)
{
    double c = -b;
    for (int i = 0; i < d; i++)
        c += w[i] * t[i];
    double s = c >= 0 ? 1.0 : -1.0;     /* lower s w . z by |c| */
    c = fabs(c);
    int m = 0;
    double total = 0.0;
    for (int i = 0; i < d; i++) {
        double v = s * w[i], a = fabs(v);
        if (!(a > FAB_TINY))
            continue;
        double cap = v > 0 ? t[i] : 1.0 - t[i];
        fab_break *k = &scratch[m++];
        k->key = norm == ADVCC_LINF ? cap : cap / a;
        k->slope = norm == ADVCC_LINF ? a : a * a;
        k->gain = a * cap;
        total += k->gain;
    }
    if (c == 0) {
        memset(delta, 0, sizeof(double) * d);
        return 1;
    }
    int feasible = c <= total;
    double r = feasible ? plane_radius(scratch, m, c) : INFINITY;
    for (int i = 0; i < d; i++) {
        double v = s * w[i], a = fabs(v);
        if (!(a > FAB_TINY)) {
            delta[i] = 0;
            continue;
        }
        double cap = v > 0 ? t[i] : 1.0 - t[i];
        double move = norm == ADVCC_LINF ? r : r * a;
        if (!(move < cap))
            move = cap;
        delta[i] = v > 0 ? -move : move;
    }
    return feasible;
}

int fab_init(fab_ws *w, infer_ws *inf)
{
    memset(w, 0, sizeof *w);
    w->inf = inf;
    w->cap = inf->cap;
    w->in_size = inf->in_size;
    /* two blocks: the batch's images and logits; the per-image numbers
     * and one image's double-precision work */
    size_t in_n = (size_t)w->cap * w->in_size, d = (size_t)w->in_size;
    size_t lg_n = (size_t)w->cap * inf->classes;
    w->xk = malloc(sizeof(real_t) * (3 * in_n + lg_n));
    w->f = malloc(sizeof(double) * (2 * (size_t)w->cap + 4 * d));
    w->brk = malloc(sizeof(fab_break) * d);
    if (!w->xk || !w->f || !w->brk) {
        fab_free(w);
        return -1;
    }
    w->grad = w->xk + in_n;
    w->best = w->grad + in_n;
    w->logits = w->best + in_n;
    w->best_norm = w->f + w->cap;
    w->t = w->best_norm + w->cap;
    w->w = w->t + d;
    w->d_k = w->w + d;
    w->d_0 = w->d_k + d;
    return 0;
}

void fab_free(fab_ws *w)
{
    free(w->xk);
    free(w->f);
    free(w->brk);
    memset(w, 0, sizeof *w);
}

static double norm_of(int norm, const double *v, int d)
{
    double r = 0.0;
    for (int i = 0; i < d; i++)
        r = norm == ADVCC_LINF ? fmax(r, fabs(v[i])) : r + v[i] * v[i];
    return norm == ADVCC_LINF ? r : sqrt(r);
}

/* A restart's start: x moved by eps/2 in a random direction (uniform
 * entries scaled to L-inf norm eps/2, or a Gaussian one to L2 norm eps/2),
 * clipped to the box. */
static void random_start(const fab_cfg *cfg, const real_t *x, int d,
                         advcc_rng *rng, double *u, real_t *v)
{
    for (int i = 0; i < d; i++)
        u[i] = cfg->norm == ADVCC_LINF ? 2.0 * rng_uniform(rng) - 1.0
                                       : rng_normal(rng);
    double len = norm_of(cfg->norm, u, d);
    double s = len > 0 ? 0.5 * cfg->eps / len : 0.0;
    for (int i = 0; i < d; i++)
        v[i] = (real_t)fmin(fmax(x[i] + s * u[i], 0.0), 1.0);
}

/* x_k of one image moved onto (a little past) the linearised boundary,
 * biased towards x (fab.h). */
static void fab_step(fab_ws *w, const fab_cfg *cfg, const real_t *x,
                     real_t *xk, const real_t *g, double f)
{
    int d = w->in_size;
    if (!isfinite(f))
        return;
    /* the plane g . z = g . x_k - f */
    double b = -f;
    for (int i = 0; i < d; i++) {
        w->w[i] = isfinite(g[i]) ? g[i] : 0.0;
        b += w->w[i] * xk[i];
    }
    for (int i = 0; i < d; i++)
        w->t[i] = xk[i];
    fab_project(cfg->norm, w->t, w->w, b, d, w->brk, w->d_k);
    for (int i = 0; i < d; i++)
        w->t[i] = x[i];
    fab_project(cfg->norm, w->t, w->w, b, d, w->brk, w->d_0);
    double nk = fmax(norm_of(cfg->norm, w->d_k, d), 1e-8);
    double n0 = fmax(norm_of(cfg->norm, w->d_0, d), 1e-8);
    double a = fmin(nk / (nk + n0), cfg->alpha_max);
    for (int i = 0; i < d; i++) {
        double v = (xk[i] + cfg->eta * w->d_k[i]) * (1.0 - a) +
                   (x[i] + cfg->eta * w->d_0[i]) * a;
        xk[i] = (real_t)fmin(fmax(v, 0.0), 1.0);
    }
}

/* A misclassified point xk of image b found at iteration `it`: kept when
 * closer than any before; the search then steps back towards x. */
static void found(fab_ws *w, const fab_cfg *cfg, const real_t *x, real_t *xk,
                  int b, int it, int *hit_iter)
{
    int d = w->in_size;
    double r = apgd_distance(cfg->norm, x, xk, d);
    if (r < w->best_norm[b]) {
        w->best_norm[b] = r;
        memcpy(w->best + (size_t)b * d, xk, sizeof(real_t) * d);
    }
    if (r <= cfg->eps && hit_iter[b] < 0)
        hit_iter[b] = it;
    for (int i = 0; i < d; i++)
        xk[i] = (real_t)(x[i] + cfg->beta * ((double)xk[i] - x[i]));
}

int fab_attack(fab_ws *w, const fab_cfg *cfg, const real_t *x, const int *y,
               const int *t, int n, advcc_rng *rng, real_t *xadv,
               int *hit_iter, double *best_norm, long long *grads)
{
    if (fab_check_cfg(cfg, NULL, 0) != 0 || !t)
        return -1;
    assert(n >= 1 && n <= w->cap);
    infer_ws *inf = w->inf;
    int d = w->in_size, C = inf->classes;
    size_t bytes = sizeof(real_t) * d;
    for (int b = 0; b < n; b++) {
        hit_iter[b] = -1;
        w->best_norm[b] = INFINITY;
    }
    for (int r = 0; r < cfg->restarts; r++) {
        if (r == 0)
            memcpy(w->xk, x, bytes * n);
        else
            for (int b = 0; b < n; b++)
                random_start(cfg, x + (size_t)b * d, d, rng, w->d_k,
                             w->xk + (size_t)b * d);
        for (int k = 0; k < cfg->iters; k++) {
            infer_loss_grad_kind(inf, w->xk, y, t, n, cfg->mode, 1,
                                 INFER_DIFF_T, w->grad, w->f, w->logits);
            if (grads)
                *grads += n;
            /* the start x itself, when the model already gets it wrong */
            for (int b = 0; r == 0 && k == 0 && b < n; b++) {
                size_t o = (size_t)b * d;
                if (infer_misclassified(w->logits + (size_t)b * C, C, y[b]))
                    found(w, cfg, x + o, w->xk + o, b, 0, hit_iter);
            }
            for (int b = 0; b < n; b++) {
                size_t o = (size_t)b * d;
                fab_step(w, cfg, x + o, w->xk + o, w->grad + o, w->f[b]);
            }
            infer_logits(inf, w->xk, n, cfg->mode, w->logits);
            for (int b = 0; b < n; b++) {
                size_t o = (size_t)b * d;
                if (infer_misclassified(w->logits + (size_t)b * C, C, y[b]))
                    found(w, cfg, x + o, w->xk + o, b, r * cfg->iters + k + 1,
                          hit_iter);
            }
        }
    }
    for (int b = 0; b < n; b++) {
        size_t o = (size_t)b * d;
        int won = w->best_norm[b] <= cfg->eps;
        memcpy(xadv + o, won ? w->best + o : x + o, bytes);
        if (best_norm)
            best_norm[b] = w->best_norm[b];
    }
    return 0;
}
