/* square.c - the L-infinity Square attack, querying only the images not
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
    if (cfg->norm != ADVCC_LINF)
        why = "only the Linf norm is implemented";
    else if (!(cfg->eps >= 0 && cfg->eps <= 1))
        why = "eps must be in [0, 1]";
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

static int misclassified(const real_t *row, int classes, int y)
{
    int pred = 0;
    for (int j = 1; j < classes; j++)
        if (row[j] > row[pred])
            pred = j;
    return pred != y;
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
    w->logits = malloc(sizeof(real_t) * (size_t)w->cap * inf->classes);
    w->margin = malloc(sizeof(double) * w->cap);
    w->idx = malloc(sizeof(int) * w->cap);
    w->ys = malloc(sizeof(int) * w->cap);
    w->live = malloc(sizeof(int) * w->cap);
    if (!w->xbest || !w->cand || !w->xs || !w->logits || !w->margin ||
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

int square_attack(square_ws *w, const square_cfg *cfg, const real_t *x,
                  const int *y, int n, advcc_rng *rng, real_t *xadv,
                  int *hit_query, long long *queries)
{
    if (square_check_cfg(cfg, NULL, 0) != 0)
        return -1;
    assert(n >= 1 && n <= w->cap);
    infer_ws *inf = w->inf;
    const advcc_model *m = inf->ctx->model;
    int C = inf->classes, d = w->in_size;
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
    infer_logits(inf, w->xbest, n, cfg->mode, w->logits);
    for (int b = 0; b < n; b++) {
        queries[b] = 1;
        const real_t *row = w->logits + (size_t)b * C;
        w->margin[b] = square_margin(row, C, y[b]);
        w->live[b] = !misclassified(row, C, y[b]);
        hit_query[b] = w->live[b] ? -1 : 1;
    }

    for (int it = 0; it < cfg->queries - 1; it++) {
        int k = 0;
        for (int b = 0; b < n; b++)
            if (w->live[b])
                w->idx[k++] = b;
        if (k == 0)
            break;
        int s = square_side(square_p(cfg->p_init, it, cfg->queries), ch, h, wd);
        for (int j = 0; j < k; j++) {
            int b = w->idx[j];
            const real_t *xb = x + (size_t)b * d;
            real_t *v = w->cand + (size_t)j * d;
            memcpy(v, w->xbest + (size_t)b * d, bytes);
            memcpy(w->xs + (size_t)j * d, xb, bytes);
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
        infer_logits(inf, w->cand, k, cfg->mode, w->logits);
        for (int j = 0; j < k; j++) {
            int b = w->idx[j];
            queries[b]++;
            const real_t *row = w->logits + (size_t)j * C;
            double mg = square_margin(row, C, y[b]);
            int miss = misclassified(row, C, y[b]);
            if (mg < w->margin[b] || miss) {
                w->margin[b] = mg;
                memcpy(w->xbest + (size_t)b * d, w->cand + (size_t)j * d, bytes);
            }
            if (miss) {
                w->live[b] = 0;
                hit_query[b] = (int)queries[b];
            }
        }
    }
    memcpy(xadv, w->xbest, bytes * n);
    return 0;
}
