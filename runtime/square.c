/* square.c - the Square attack, L-infinity and L2, querying only the images not
 * yet misclassified. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "square.h"

void square_defaults(square_cfg *cfg, double eps)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->norm = ADVCC_LINF;
    cfg->eps = eps;
    cfg->queries = 5000;
    cfg->p_init = 0.8;
    cfg->mode = ADVCC_EVAL;
}

int square_check_cfg(const square_cfg *cfg, char *err, size_t errlen)
{
    const char *why = NULL;
    if (cfg->norm != ADVCC_LINF && cfg->norm != ADVCC_L2)
        why = "unknown norm";
    else if (!(cfg->eps >= 0 && isfinite(cfg->eps)) ||
             (cfg->norm == ADVCC_LINF && cfg->eps > 1))
        why = "eps must be >= 0 (and at most 1 for Linf)";
    else if (cfg->queries < 1)
        why = "queries must be >= 1";
    else if (!(cfg->p_init > 0 && cfg->p_init <= 1))
        why = "p_init must be in (0, 1]";
    else if (cfg->mode == ADVCC_TRAIN)
        why = "attack passes must not update BatchNorm running statistics";
    if (why) {
        if (err && errlen)
            snprintf(err, errlen, "square: %s", why);
        return -1;
    }
    return 0;
}

double square_p(double p_init, int it, int n_queries)
{
    static const int at[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
    long r = (long)((double)it / n_queries * 10000);
    double p = p_init;
    for (int i = 0; i < 9; i++)
        if (r > at[i])
            p = p_init / (double)(2L << i);
    return p;
}

int square_side(double p, int c, int h, int w)
{
    int s = (int)lround(sqrt(p * (double)c * h * w / c));
    if (s < 1)
        s = 1;
    if (s > h)
        s = h;
    if (s > w)
        s = w;
    return s;
}

double square_margin(const real_t *row, int classes, int y)
{
    double other = -INFINITY;
    for (int j = 0; j < classes; j++)
        if (j != y && row[j] > other)
            other = row[j];
    return (double)row[y] - other;
}

int square_init(square_ws *w, infer_ws *inf)
{
    memset(w, 0, sizeof *w);
    w->inf = inf;
    w->cap = inf->cap;
    w->in_size = inf->in_size;
    size_t in_n = (size_t)w->cap * w->in_size;
    w->xbest = malloc(sizeof(real_t) * in_n);
    w->cand = malloc(sizeof(real_t) * in_n);
    w->xs = malloc(sizeof(real_t) * in_n);
    const advcc_model *m = inf->ctx->model;
    w->pat = malloc(sizeof(double) * (size_t)m->in_h * m->in_w);
    w->logits = malloc(sizeof(real_t) * (size_t)w->cap * inf->classes);
    w->margin = malloc(sizeof(double) * w->cap);
    w->idx = malloc(sizeof(int) * w->cap);
    w->ys = malloc(sizeof(int) * w->cap);
    w->live = malloc(sizeof(int) * w->cap);
    if (!w->xbest || !w->cand || !w->xs || !w->pat || !w->logits || !w->margin ||
        !w->idx || !w->ys || !w->live) {
        square_free(w);
        return -1;
    }
    return 0;
}

void square_free(square_ws *w)
{
    free(w->xbest);
    free(w->cand);
    free(w->xs);
    free(w->pat);
    free(w->logits);
    free(w->margin);
    free(w->idx);
    free(w->ys);
    free(w->live);
    memset(w, 0, sizeof *w);
}

static real_t box(double v)
{
    return (real_t)(v < 0 ? 0 : v > 1 ? 1 : v);
}

/* Queries the starting points w->xbest of all n images: margins, which
 * are still classified right, one query each. */
static void square_start(square_ws *w, const square_cfg *cfg, const int *y, int n,
                         int *hit_query, long long *queries)
{
    int C = w->inf->classes;
    infer_logits(w->inf, w->xbest, n, cfg->mode, w->logits);
    for (int b = 0; b < n; b++) {
        queries[b] = 1;
        const real_t *row = w->logits + (size_t)b * C;
        w->margin[b] = square_margin(row, C, y[b]);
        w->live[b] = !infer_misclassified(row, C, y[b]);
        hit_query[b] = w->live[b] ? -1 : 1;
    }
}

/* The images still classified right, into w->idx; returns their count. */
static int square_live(square_ws *w, int n)
{
    int k = 0;
    for (int b = 0; b < n; b++)
        if (w->live[b])
            w->idx[k++] = b;
    return k;
}

/* Queries the k candidates w->cand (candidate j for image w->idx[j]) and
 * keeps each that lowers its image's margin or misclassifies it; with
 * delta (L2), the kept point's perturbation, box included, is stored
 * there. */
static void square_accept(square_ws *w, const square_cfg *cfg, const real_t *x,
                          const int *y, int k, double *delta, int *hit_query,
                          long long *queries)
{
    int C = w->inf->classes, d = w->in_size;
    infer_logits(w->inf, w->cand, k, cfg->mode, w->logits);
    for (int j = 0; j < k; j++) {
        int b = w->idx[j];
        queries[b]++;
        const real_t *row = w->logits + (size_t)j * C;
        double mg = square_margin(row, C, y[b]);
        int miss = infer_misclassified(row, C, y[b]);
        if (mg < w->margin[b] || miss) {
            real_t *best = w->xbest + (size_t)b * d;
            w->margin[b] = mg;
            memcpy(best, w->cand + (size_t)j * d, sizeof(real_t) * d);
            if (delta)
                for (int i = 0; i < d; i++)
                    delta[(size_t)b * d + i] = (double)best[i] - x[(size_t)b * d + i];
        }
        if (miss) {
            w->live[b] = 0;
            hit_query[b] = (int)queries[b];
        }
    }
}

static int square_linf(square_ws *w, const square_cfg *cfg, const real_t *x,
                       const int *y, int n, advcc_rng *rng, real_t *xadv,
                       int *hit_query, long long *queries)
{
    infer_ws *inf = w->inf;
    const advcc_model *m = inf->ctx->model;
    int d = w->in_size;
    int ch = m->in_c, h = m->in_h, wd = m->in_w;
    size_t bytes = sizeof(real_t) * d;

    /* vertical stripes: one sign per channel and column */
    for (int b = 0; b < n; b++) {
        const real_t *xb = x + (size_t)b * d;
        real_t *v = w->xbest + (size_t)b * d;
        for (int c = 0; c < ch; c++)
            for (int col = 0; col < wd; col++) {
                double s = rng_below(rng, 2) ? cfg->eps : -cfg->eps;
                for (int row = 0; row < h; row++) {
                    size_t i = ((size_t)c * h + row) * wd + col;
                    v[i] = box(xb[i] + s);
                }
            }
    }
    square_start(w, cfg, y, n, hit_query, queries);

    for (int it = 0; it < cfg->queries - 1; it++) {
        int k = square_live(w, n);
        if (k == 0)
            break;
        int s = square_side(square_p(cfg->p_init, it, cfg->queries), ch, h, wd);
        for (int j = 0; j < k; j++) {
            int b = w->idx[j];
            const real_t *xb = x + (size_t)b * d;
            real_t *v = w->cand + (size_t)j * d;
            memcpy(v, w->xbest + (size_t)b * d, bytes);
            w->ys[j] = y[b];
            int r0 = (int)rng_below(rng, (uint32_t)(h - s + 1));
            int c0 = (int)rng_below(rng, (uint32_t)(wd - s + 1));
            for (int c = 0; c < ch; c++) {
                double sg = rng_below(rng, 2) ? cfg->eps : -cfg->eps;
                for (int row = r0; row < r0 + s; row++)
                    for (int col = c0; col < c0 + s; col++) {
                        size_t i = ((size_t)c * h + row) * wd + col;
                        v[i] = box(xb[i] + sg);
                    }
            }
        }
        square_accept(w, cfg, x, y, k, NULL, hit_query, queries);
    }
    memcpy(xadv, w->xbest, bytes * n);
    return 0;
}

/* The L2 square's pattern on an a x b block: concentric rings around the
 * centre, a ring at Chebyshev distance r weighing sum_{k >= r} 1/(k+1)^2,
 * added into out (row stride ld) times sign. */
static void rings(double *out, int ld, int a, int b, double sign)
{
    int ci = a / 2, cj = b / 2;
    int rmax = (a / 2 + 1) > (b / 2 + 1) ? a / 2 + 1 : b / 2 + 1;
    for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++) {
            int di = abs(i - ci), dj = abs(j - cj);
            int r = di > dj ? di : dj;
            double v = 0.0;
            for (int k = r; k < rmax; k++)
                v += 1.0 / ((k + 1.0) * (k + 1.0));
            out[(size_t)i * ld + j] += sign * v;
        }
}

/* The s x s pattern: rings on the upper half, minus rings on the lower,
 * unit L2 norm, transposed with probability 1/2. */
static void l2_pattern(double *pat, int s, advcc_rng *rng)
{
    memset(pat, 0, sizeof(double) * s * s);
    rings(pat, s, s / 2, s, 1.0);
    rings(pat + (size_t)(s / 2) * s, s, s - s / 2, s, -1.0);
    double sq = 0.0;
    for (int i = 0; i < s * s; i++)
        sq += pat[i] * pat[i];
    double nrm = sq > 0 ? sqrt(sq) : 1.0;
    for (int i = 0; i < s * s; i++)
        pat[i] /= nrm;
    if (rng_below(rng, 2))
        for (int i = 0; i < s; i++)
            for (int j = i + 1; j < s; j++) {
                double t = pat[i * s + j];
                pat[i * s + j] = pat[j * s + i];
                pat[j * s + i] = t;
            }
}

/* v = clip(x + eps delta / ||delta||, 0, 1); delta is the image's
 * perturbation, held in dv (doubles). */
static void l2_point(const double *dv, const real_t *x, double eps, int d,
                     real_t *v)
{
    double sq = 0.0;
    for (int i = 0; i < d; i++)
        sq += dv[i] * dv[i];
    double s = sq > 0 ? eps / sqrt(sq) : 0.0;
    for (int i = 0; i < d; i++)
        v[i] = box(x[i] + s * dv[i]);
    /* the box can only shorten the perturbation, but rounding can lengthen
     * it by an ulp: shrink toward x until it is in the ball */
    for (int t = 0; t < 4; t++) {
        double n2 = 0.0;
        for (int i = 0; i < d; i++)
            n2 += ((double)v[i] - x[i]) * ((double)v[i] - x[i]);
        if (sqrt(n2) <= eps)
            break;
        double f = eps / sqrt(n2) * (1 - 1e-6);
        for (int i = 0; i < d; i++)
            v[i] = box(x[i] + f * ((double)v[i] - x[i]));
    }
}

/* L2: the paper's windows of concentric rings (Andriushchenko et al.
 * 2020, section 3.2).  Start: a grid of squares of side h/5, each a
 * pattern with a random sign per channel, scaled to norm eps.  Step: two
 * windows W1, W2 of side s (odd, >= 3); per channel, the mass of the
 * perturbation on W1 and W2 together, plus an equal share of the unused
 * budget, goes to W1 as a fresh pattern added to W1's old direction; W2 is
 * cleared; the whole perturbation is rescaled to norm eps. */
static int square_l2(square_ws *w, const square_cfg *cfg, const real_t *x,
                     const int *y, int n, advcc_rng *rng, real_t *xadv,
                     int *hit_query, long long *queries)
{
    infer_ws *inf = w->inf;
    const advcc_model *m = inf->ctx->model;
    int d = w->in_size;
    int ch = m->in_c, h = m->in_h, wd = m->in_w, plane = h * wd;
    size_t bytes = sizeof(real_t) * d;
    double *delta = malloc(sizeof(double) * (size_t)n * d);
    double *cand = malloc(sizeof(double) * d);
    double *old = malloc(sizeof(double) * (size_t)plane);
    if (!delta || !cand || !old) {
        free(delta);
        free(cand);
        free(old);
        return -1;
    }
    int s0 = h / 5 > 0 ? h / 5 : 1, off = (h - 5 * s0) / 2;
    for (int b = 0; b < n; b++) {
        double *dl = delta + (size_t)b * d;
        memset(dl, 0, sizeof(double) * d);
        for (int r0 = off; r0 + s0 <= h; r0 += s0)
            for (int c0 = off; c0 + s0 <= wd; c0 += s0) {
                l2_pattern(w->pat, s0, rng);
                for (int c = 0; c < ch; c++) {
                    double sg = rng_below(rng, 2) ? 1.0 : -1.0;
                    for (int i = 0; i < s0; i++)
                        for (int j = 0; j < s0; j++)
                            dl[(size_t)c * plane + (r0 + i) * wd + c0 + j] +=
                                sg * w->pat[i * s0 + j];
                }
            }
        l2_point(dl, x + (size_t)b * d, cfg->eps, d, w->xbest + (size_t)b * d);
        /* the perturbation actually applied, box included */
        for (int i = 0; i < d; i++)
            dl[i] = (double)w->xbest[(size_t)b * d + i] - x[(size_t)b * d + i];
    }
    square_start(w, cfg, y, n, hit_query, queries);
    for (int it = 0; it < cfg->queries - 1; it++) {
        int k = square_live(w, n);
        if (k == 0)
            break;
        double p = square_p(cfg->p_init, it, cfg->queries);
        int s = (int)lround(sqrt(p * plane));
        if (s < 3)
            s = 3;
        if (s % 2 == 0)
            s++;
        if (s > h)
            s = h;
        if (s > wd)
            s = wd;
        for (int j = 0; j < k; j++) {
            int b = w->idx[j];
            const double *dl = delta + (size_t)b * d;
            memcpy(cand, dl, sizeof(double) * d);
            int r1 = (int)rng_below(rng, (uint32_t)(h - s + 1));
            int c1 = (int)rng_below(rng, (uint32_t)(wd - s + 1));
            int r2 = (int)rng_below(rng, (uint32_t)(h - s + 1));
            int c2 = (int)rng_below(rng, (uint32_t)(wd - s + 1));
            double total = 0.0;
            for (int i = 0; i < d; i++)
                total += dl[i] * dl[i];
            double unused = cfg->eps * cfg->eps - total;
            if (unused < 0)
                unused = 0;
            l2_pattern(w->pat, s, rng);
            for (int c = 0; c < ch; c++) {
                const double *dc = dl + (size_t)c * plane;
                double *nc = cand + (size_t)c * plane;
                double w1 = 0.0, both = 0.0;
                for (int i = 0; i < plane; i++) {
                    int row = i / wd, col = i % wd;
                    int in1 = row >= r1 && row < r1 + s && col >= c1 && col < c1 + s;
                    int in2 = row >= r2 && row < r2 + s && col >= c2 && col < c2 + s;
                    if (in1)
                        w1 += dc[i] * dc[i];
                    if (in1 || in2)
                        both += dc[i] * dc[i];
                }
                w1 = sqrt(w1);
                double sg = rng_below(rng, 2) ? 1.0 : -1.0, sq = 0.0;
                for (int a = 0; a < s; a++)
                    for (int bb = 0; bb < s; bb++) {
                        int i = (r1 + a) * wd + c1 + bb;
                        old[a * s + bb] = sg * w->pat[a * s + bb] +
                                          dc[i] / (w1 + 1e-12);
                        sq += old[a * s + bb] * old[a * s + bb];
                    }
                double scale = sqrt(unused / ch + both) / (sqrt(sq) + 1e-12);
                for (int a = 0; a < s; a++)
                    for (int bb = 0; bb < s; bb++)
                        nc[(r2 + a) * wd + c2 + bb] = 0.0;
                for (int a = 0; a < s; a++)
                    for (int bb = 0; bb < s; bb++)
                        nc[(r1 + a) * wd + c1 + bb] = scale * old[a * s + bb];
            }
            l2_point(cand, x + (size_t)b * d, cfg->eps, d, w->cand + (size_t)j * d);
        }
        square_accept(w, cfg, x, y, k, delta, hit_query, queries);
    }
    memcpy(xadv, w->xbest, bytes * n);
    free(delta);
    free(cand);
    free(old);
    return 0;
}

int square_attack(square_ws *w, const square_cfg *cfg, const real_t *x,
                  const int *y, int n, advcc_rng *rng, real_t *xadv,
                  int *hit_query, long long *queries)
{
    if (square_check_cfg(cfg, NULL, 0) != 0)
        return -1;
    assert(n >= 1 && n <= w->cap);
    if (cfg->norm == ADVCC_L2)
        return square_l2(w, cfg, x, y, n, rng, xadv, hit_query, queries);
    return square_linf(w, cfg, x, y, n, rng, xadv, hit_query, queries);
}
