/* pgd.c - L-infinity and L2 PGD with random starts and per-image restarts. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "parallel.h"
#include "pgd.h"

void pgd_cfg_from_attack(pgd_cfg *cfg, const advcc_attack_cfg *a)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->norm = a->norm;
    cfg->eps = a->eps;
    cfg->alpha = a->alpha;
    cfg->steps = a->steps;
    cfg->restarts = a->restarts > 0 ? a->restarts : 1;
    cfg->eot = a->eot > 0 ? a->eot : 1;
    cfg->init = a->init;
    cfg->clip = a->clip;
    cfg->targeted = 0;
    cfg->labels = PGD_LABELS_TRUE;
    cfg->mode = ADVCC_EVAL;
}

int pgd_check_cfg(const pgd_cfg *cfg, int channels, char *err, size_t errlen)
{
    const char *why = NULL;
    if (cfg->norm != ADVCC_LINF && cfg->norm != ADVCC_L2)
        why = "unknown norm";
    else if (!(cfg->eps >= 0) || !isfinite(cfg->eps))
        why = "eps must be a finite number >= 0";
    else if (cfg->norm == ADVCC_LINF && cfg->eps > 1)
        why = "eps of an Linf attack must be at most 1 (pixels are in [0, 1])";
    else if (!(cfg->alpha >= 0) || !isfinite(cfg->alpha))
        why = "alpha must be a finite number >= 0";
    else if (cfg->steps < 0)
        why = "steps must be >= 0";
    else if (cfg->restarts < 1)
        why = "restarts must be >= 1";
    else if (cfg->eot < 1)
        why = "eot must be >= 1";
    else if (cfg->init != ADVCC_INIT_NONE && cfg->init != ADVCC_INIT_GAUSSIAN &&
             cfg->init != ADVCC_INIT_UNIFORM)
        why = "unknown init";
    else if (cfg->clip != ADVCC_CLIP_PIXEL && cfg->clip != ADVCC_CLIP_NORMALIZED)
        why = "unknown clip";
    else if (cfg->clip == ADVCC_CLIP_NORMALIZED && (!cfg->mean || !cfg->std))
        why = "clip=normalized needs the per-channel mean and std";
    else if (cfg->labels != PGD_LABELS_TRUE && cfg->labels != PGD_LABELS_PRED)
        why = "unknown label choice";
    else if (cfg->mode == ADVCC_TRAIN)
        why = "attack passes must not update BatchNorm running statistics "
              "(use eval or train-frozen mode)";
    if (!why && cfg->clip == ADVCC_CLIP_NORMALIZED)
        for (int c = 0; c < channels; c++)
            if (!(cfg->std[c] > 0))
                why = "clip=normalized needs std > 0 in every channel";
    if (why) {
        if (err && errlen)
            snprintf(err, errlen, "pgd: %s", why);
        return -1;
    }
    return 0;
}

int pgd_init(pgd_ws *w, infer_ws *inf)
{
    memset(w, 0, sizeof *w);
    w->inf = inf;
    w->cap = inf->cap;
    w->in_size = inf->in_size;
    int channels = inf->ctx->model->in_c;
    size_t in_n = (size_t)w->cap * w->in_size;
    w->cur = malloc(sizeof(real_t) * in_n);
    w->grad = malloc(sizeof(real_t) * in_n);
    w->logits = malloc(sizeof(real_t) * (size_t)w->cap * inf->classes);
    w->box_lo = malloc(sizeof(real_t) * channels);
    w->box_hi = malloc(sizeof(real_t) * channels);
    w->best_loss = malloc(sizeof(double) * w->cap);
    w->best_hit = malloc(sizeof(int) * w->cap);
    w->labels = malloc(sizeof(int) * w->cap);
    w->normals = malloc(sizeof(double) * in_n);
    if (!w->cur || !w->grad || !w->logits || !w->box_lo || !w->box_hi ||
        !w->best_loss || !w->best_hit || !w->labels || !w->normals) {
        pgd_free(w);
        return -1;
    }
    return 0;
}

void pgd_free(pgd_ws *w)
{
    free(w->cur);
    free(w->grad);
    free(w->logits);
    free(w->box_lo);
    free(w->box_hi);
    free(w->best_loss);
    free(w->best_hit);
    free(w->labels);
    free(w->normals);
    memset(w, 0, sizeof *w);
}

static void set_box(pgd_ws *w, const pgd_cfg *cfg)
{
    int channels = w->inf->ctx->model->in_c;
    for (int c = 0; c < channels; c++) {
        if (cfg->clip == ADVCC_CLIP_NORMALIZED) {
            w->box_lo[c] = (real_t)(cfg->mean[c] - 2.0 * cfg->std[c]);
            w->box_hi[c] = (real_t)(cfg->mean[c] + 2.0 * cfg->std[c]);
        } else {
            w->box_lo[c] = 0;
            w->box_hi[c] = 1;
        }
    }
}

/* v in [lo, hi], lo <= hi: two selections one after the other (a max, then
 * a min), which vectorise; the nested form v < lo ? lo : v > hi ? hi : v
 * gives the same values but stayed scalar, branching on every pixel. */
static real_t clamp(real_t v, real_t lo, real_t hi)
{
    const real_t t = v < lo ? lo : v;
    return t > hi ? hi : t;
}

/* v into the box, then into the eps ball around x, image by image (the
 * images side by side on the threads). */
static void project(pgd_ws *w, const pgd_cfg *cfg, const real_t *x,
                    real_t *v, int n)
{
    const int d = w->in_size, channels = w->inf->ctx->model->in_c, plane = d / channels;
    const real_t eps = (real_t)cfg->eps;
#pragma omp parallel for schedule(static) if ((long)n * d >= PAR_MIN_ELEMS)
    for (int b = 0; b < n; b++) {
        const real_t *xb = x + (size_t)b * d;
        real_t *vb = v + (size_t)b * d;
        for (int c = 0; c < channels; c++) {
            const real_t lo = w->box_lo[c], hi = w->box_hi[c];
            const real_t *xc = xb + (size_t)c * plane;
            real_t *vc = vb + (size_t)c * plane;
            /* omp simd: without it the loops stayed scalar (the trip
             * count unknown to GCC's cheap vectoriser) */
            if (cfg->norm == ADVCC_LINF) {
#pragma omp simd
                for (int i = 0; i < plane; i++)
                    vc[i] = clamp(clamp(vc[i], lo, hi), xc[i] - eps, xc[i] + eps);
            } else {
#pragma omp simd
                for (int i = 0; i < plane; i++)
                    vc[i] = clamp(vc[i], lo, hi);
            }
        }
        if (cfg->norm == ADVCC_LINF)
            continue;
        double sq = 0.0;
        for (int i = 0; i < d; i++)
            sq += ((double)vb[i] - xb[i]) * ((double)vb[i] - xb[i]);
        double norm = sqrt(sq);
        if (norm > cfg->eps) {
            /* Shrinking toward x keeps a point of the box in the box
             * whenever x is in it (the box is convex). */
            double s = cfg->eps / norm;
            for (int i = 0; i < d; i++)
                vb[i] = (real_t)(xb[i] + s * ((double)vb[i] - xb[i]));
        }
    }
}

/* The attempt's starting point x + xi, projected. */
static void start_point(pgd_ws *w, const pgd_cfg *cfg, const real_t *x,
                        int n, advcc_rng *rng, real_t *v)
{
    int d = w->in_size;
    memcpy(v, x, sizeof(real_t) * n * d);
    if (cfg->init == ADVCC_INIT_NONE || cfg->eps == 0)
        return;
    if (cfg->init == ADVCC_INIT_GAUSSIAN) {
        /* the draws of image after image, as one stream */
        const long len = (long)n * d;
        const double s = cfg->norm == ADVCC_LINF ? cfg->eps : cfg->eps / sqrt((double)d);
        rng_normal_many(rng, w->normals, len);
#pragma omp parallel for schedule(static) if (len >= PAR_MIN_ELEMS)
        for (long i = 0; i < len; i++)
            v[i] += (real_t)(s * w->normals[i]);
        project(w, cfg, x, v, n);
        return;
    }
    for (int b = 0; b < n; b++) {
        real_t *vb = v + (size_t)b * d;
        if (cfg->norm == ADVCC_LINF) {
            for (int i = 0; i < d; i++)
                vb[i] += (real_t)(cfg->eps * (2.0 * rng_uniform(rng) - 1.0));
        } else {
            /* Uniform in the ball: a uniform direction, radius eps u^(1/d). */
            double sq = 0.0;
            for (int i = 0; i < d; i++) {
                double z = rng_normal(rng);
                w->grad[(size_t)b * d + i] = (real_t)z;
                sq += z * z;
            }
            double r = cfg->eps * pow(rng_uniform(rng), 1.0 / d);
            double s = sq > 0 ? r / sqrt(sq) : 0.0;
            for (int i = 0; i < d; i++)
                vb[i] += (real_t)(s * w->grad[(size_t)b * d + i]);
        }
    }
    project(w, cfg, x, v, n);
}

#define COUNT_BLOCK 4096

static void count_grad(const real_t *g, long len, pgd_stats *st)
{
    if (!st)
        return;
    long long zero = 0, bad = 0;
    /* blocks with int counts: branch-free sums GCC vectorises */
#pragma omp parallel for schedule(static) reduction(+ : zero, bad) if (len >= PAR_MIN_ELEMS)
    for (long start = 0; start < len; start += COUNT_BLOCK) {
        const long end = len - start < COUNT_BLOCK ? len : start + COUNT_BLOCK;
        int z = 0, b = 0;
#pragma omp simd reduction(+ : z, b)
        for (long i = start; i < end; i++) {
            z += g[i] == 0;
            b += !(g[i] - g[i] == 0);   /* inf - inf and NaN are NaN */
        }
        zero += z;
        bad += b;
    }
    st->grad_entries += len;
    st->grad_zero += zero;
    st->grad_nonfinite += bad;
}

/* One ascent step along w->grad, then the projection.  Entries that are
 * not finite do not move their pixel. */
static void take_step(pgd_ws *w, const pgd_cfg *cfg, const real_t *x, int n)
{
    int d = w->in_size;
#pragma omp parallel for schedule(static) if ((long)n * d >= PAR_MIN_ELEMS)
    for (int b = 0; b < n; b++) {
        real_t *vb = w->cur + (size_t)b * d;
        const real_t *g = w->grad + (size_t)b * d;
        if (cfg->norm == ADVCC_LINF) {
            real_t a = (real_t)cfg->alpha;
#pragma omp simd
            for (int i = 0; i < d; i++)
                vb[i] += g[i] > 0 ? a : g[i] < 0 ? -a : 0;
            continue;
        }
        double sq = 0.0;
        for (int i = 0; i < d; i++)
            if (isfinite(g[i]))
                sq += (double)g[i] * g[i];
        if (!(sq > 0) || !isfinite(sq))
            continue;
        double s = cfg->alpha / sqrt(sq);
        for (int i = 0; i < d; i++)
            if (isfinite(g[i]))
                vb[i] = (real_t)(vb[i] + s * g[i]);
    }
    project(w, cfg, x, w->cur, n);
}

int pgd_attack(pgd_ws *w, const pgd_cfg *cfg, const real_t *x, const int *y,
               int n, advcc_rng *rng, real_t *xadv, pgd_stats *st)
{
    infer_ws *inf = w->inf;
    int C = inf->classes, d = w->in_size;
    if (pgd_check_cfg(cfg, inf->ctx->model->in_c, NULL, 0) != 0)
        return -1;
    assert(n >= 1 && n <= w->cap);
    set_box(w, cfg);

    if (cfg->targeted || cfg->labels == PGD_LABELS_TRUE) {
        memcpy(w->labels, y, sizeof(int) * n);
    } else {
        infer_logits(inf, x, n, cfg->mode, w->logits);
        for (int b = 0; b < n; b++)
            infer_row_loss(w->logits + (size_t)b * C, 0, C, &w->labels[b]);
    }

    for (int r = 0; r < cfg->restarts; r++) {
        start_point(w, cfg, x, n, rng, w->cur);
        for (int s = 0; s < cfg->steps; s++) {
            infer_loss_grad(inf, w->cur, w->labels, n, cfg->mode, cfg->eot,
                            cfg->targeted, w->grad, NULL);
            count_grad(w->grad, (long)n * d, st);
            take_step(w, cfg, x, n);
        }
        if (st)
            st->attempts++;
        if (cfg->restarts == 1) {
            memcpy(xadv, w->cur, sizeof(real_t) * n * d);
            break;
        }

        /* Judge the attempt image by image. */
        infer_logits(inf, w->cur, n, cfg->mode, w->logits);
        int all_hit = 1;
        for (int b = 0; b < n; b++) {
            int pred;
            double loss = infer_row_loss(w->logits + (size_t)b * C,
                                         w->labels[b], C, &pred);
            int hit = cfg->targeted ? pred == w->labels[b]
                                    : pred != w->labels[b];
            int better = cfg->targeted ? loss < w->best_loss[b]
                                       : loss > w->best_loss[b];
            if (r == 0 || (!w->best_hit[b] && (hit || better))) {
                memcpy(xadv + (size_t)b * d, w->cur + (size_t)b * d,
                       sizeof(real_t) * d);
                w->best_loss[b] = loss;
                w->best_hit[b] = hit;
            }
            all_hit &= w->best_hit[b];
        }
        if (all_hit)
            break;
    }
    return 0;
}
