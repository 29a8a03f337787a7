/* masking.c - the gradient-masking checks and their verdicts; see
 * masking.h (docs/METHODS.md 11). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_write.h"
#include "masking.h"
#include "npy.h"

static const char *const names[MASKING_CHECKS] = {
    "eps_sweep", "iterations", "square", "noise", "transfer", "frozen_noise",
    "zero_gradients"};
static const char *const texts[MASKING_CHECKS] = {
    "robust accuracy reaches 0 as eps grows",
    "twice the iterations change robust accuracy little",
    "Square adds little to the gradient attacks",
    "random noise of the ball's size is far weaker",
    "the undefended twin's transfer attack is weaker",
    "frozen noise breaks at least as often as EOT",
    "few input gradients are exactly zero"};

const char *masking_check_name(int check)
{
    return check >= 0 && check < MASKING_CHECKS ? names[check] : "?";
}

const char *masking_check_text(int check)
{
    return check >= 0 && check < MASKING_CHECKS ? texts[check] : "?";
}

const char *masking_verdict_name(int verdict)
{
    return verdict == MASKING_PASS ? "PASS" : verdict == MASKING_WARNING ? "WARNING" : "not run";
}

static void decide(masking_item *it, int pass, double figure, const char *fmt, ...)
{
    va_list ap;
    it->verdict = pass ? MASKING_PASS : MASKING_WARNING;
    it->figure = figure;
    va_start(ap, fmt);
    vsnprintf(it->detail, sizeof it->detail, fmt, ap);
    va_end(ap);
}

static void not_run(masking_item *it, const char *why)
{
    it->verdict = MASKING_NOT_RUN;
    it->figure = 0;
    snprintf(it->detail, sizeof it->detail, "%s", why);
}

/* Appends to an item's detail. */
static void append(masking_item *it, const char *fmt, ...)
{
    size_t len = strlen(it->detail);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->detail + len, sizeof it->detail - len, fmt, ap);
    va_end(ap);
}

static const char *eps_text(double eps, int norm, char *buf, size_t len)
{
    if (norm == ADVCC_LINF)
        snprintf(buf, len, "%.4g/255", eps * 255);
    else
        snprintf(buf, len, "%.4g", eps);
    return buf;
}

void masking_verdict_eps(masking_item *it, double eps, int norm, int robust, int n)
{
    char e[32];
    eps_text(eps, norm, e, sizeof e);
    if (robust == 0)
        decide(it, 1, 0, "no image robust at eps %s", e);
    else
        decide(it, 0, n ? (double)robust / n : 0,
               "%d of %d images (%.1f%%) still robust at eps %s, the largest tried",
               robust, n, n ? 100.0 * robust / n : 0.0, e);
}

void masking_verdict_iters(masking_item *it, int iters, int robust, int robust2, int n)
{
    double points = n ? 100.0 * (robust2 - robust) / n : 0;
    decide(it, fabs(points) < MASKING_POINTS, points,
           "robust %.1f%% at %d iterations, %.1f%% at %d: %+.1f points (limit %.1f) on %d images",
           n ? 100.0 * robust / n : 0.0, iters, n ? 100.0 * robust2 / n : 0.0, 2 * iters,
           points, MASKING_POINTS, n);
}

void masking_verdict_square(masking_item *it, int broken, int n)
{
    double points = n ? 100.0 * broken / n : 0;
    decide(it, points <= MASKING_POINTS, points,
           "Square broke %d images the gradient attacks left robust: %.1f points of %d "
           "(limit %.1f)", broken, points, n, MASKING_POINTS);
}

void masking_verdict_noise(masking_item *it, int draws, int noise_broken, int attack_broken)
{
    /* a ratio without an attack to divide by is infinite (null in JSON) */
    double ratio = attack_broken ? (double)noise_broken / attack_broken
                   : noise_broken ? INFINITY : 0;
    decide(it, noise_broken == 0 || noise_broken < MASKING_NOISE_SHARE * attack_broken, ratio,
           "the best of %d random points on the ball's surface broke %d images, the attack "
           "%d: ratio %.2f (limit %.2f)", draws, noise_broken, attack_broken, ratio,
           MASKING_NOISE_SHARE);
}

void masking_verdict_transfer(masking_item *it, int transfer_broken, int attack_broken, int n)
{
    double points = n ? 100.0 * (transfer_broken - attack_broken) / n : 0;
    decide(it, transfer_broken <= attack_broken, points,
           "the twin's images broke %d images, the white-box attack %d (%+.1f points)",
           transfer_broken, attack_broken, points);
}

void masking_verdict_frozen(masking_item *it, int frozen_broken, int frozen_correct,
                            double eot_broken, int eot_correct)
{
    double fs = frozen_correct ? 100.0 * frozen_broken / frozen_correct : 0;
    double es = eot_correct ? 100.0 * eot_broken / eot_correct : 0;
    decide(it, fs - es >= -MASKING_POINTS, fs - es,
           "attack success %.1f%% (%d of %d) on the frozen draw, %.1f%% (%.1f of %d) per "
           "fresh draw by EOT: %+.1f points (limit -%.1f)", fs, frozen_broken,
           frozen_correct, es, eot_broken, eot_correct, fs - es, MASKING_POINTS);
}

void masking_verdict_zero(masking_item *it, long long rows, long long zero_rows)
{
    double share = rows ? (double)zero_rows / rows : 0;
    decide(it, share <= MASKING_ZERO_MAX, share,
           "%lld of %lld input gradients (%.2f%%) were zero in every entry (limit %.0f%%)",
           zero_rows, rows, 100 * share, 100 * MASKING_ZERO_MAX);
}

int masking_broken(const aa_image *img, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += img[i].clean_ok && img[i].broken_by >= 0;
    return k;
}

int masking_robust(const aa_image *img, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += img[i].clean_ok && img[i].broken_by < 0;
    return k;
}

int masking_warnings(const masking_report *rep)
{
    int k = 0;
    for (int c = 0; c < MASKING_CHECKS; c++)
        k += rep->item[c].verdict == MASKING_WARNING;
    return k;
}

/* ---- measuring ---- */

/* cfg on the first n images of d, from scratch (all = 1) or on the images
 * img[] leaves robust only (the others kept as they are). */
static int attack(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg, int n,
                  aa_image *img, int all, advcc_rng *rng, aa_result *res, char *err,
                  size_t errlen)
{
    aa_cfg c = *cfg;
    c.limit = n;
    c.progress = NULL;
    c.checkpoint = NULL;
    for (int i = 0; i < n; i++)
        img[i].done = all ? -1 : img[i].clean_ok && img[i].broken_by < 0 ? 0 : c.n_attacks;
    return aa_evaluate(ctx, d, &c, rng, img, res, err, errlen);
}

static aa_image *copy_images(const aa_image *img, int n)
{
    aa_image *c = malloc(sizeof *c * (size_t)(n > 0 ? n : 1));
    if (c)
        memcpy(c, img, sizeof *c * (size_t)n);
    return c;
}

static int oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* a: the budget doubled, on the images still robust, until none is or the
 * budget covers the whole box. */
static int check_eps(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *attack_cfg,
                     int n, const aa_image *base, advcc_rng *rng, masking_item *it,
                     char *err, size_t errlen)
{
    const advcc_model *m = ctx->model;
    aa_image *img = copy_images(base, n);
    if (!img)
        return oom(err, errlen);
    aa_cfg c = *attack_cfg;
    double top = c.norm == ADVCC_LINF ? 1.0 : sqrt((double)m->in_c * m->in_h * m->in_w);
    double eps = c.eps;
    int robust = masking_robust(img, n), rc = 0;
    char trace[160] = "", e[32];
    int len = snprintf(trace, sizeof trace, "%s %.1f%%", eps_text(eps, c.norm, e, sizeof e),
                       n ? 100.0 * robust / n : 0.0);
    aa_result res;
    while (robust > 0 && eps < top && rc == 0) {
        eps = eps > 0 ? fmin(2 * eps, top) : c.norm == ADVCC_LINF ? 1 / 255.0 : 0.1;
        c.eps = eps;
        rc = attack(ctx, d, &c, n, img, 0, rng, &res, err, errlen);
        robust = masking_robust(img, n);
        if (len < (int)sizeof trace)
            len += snprintf(trace + len, sizeof trace - len, ", %s %.1f%%",
                            eps_text(eps, c.norm, e, sizeof e), n ? 100.0 * robust / n : 0.0);
    }
    free(img);
    if (rc != 0)
        return -1;
    masking_verdict_eps(it, eps, c.norm, robust, n);
    append(it, " (%s)", trace);
    return 0;
}

/* b: cfg at twice its iterations on the first n images, against `robust`
 * images left robust at its own. */
static int check_iters(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg, int n,
                       int robust, advcc_rng *rng, masking_item *it, char *err,
                       size_t errlen)
{
    aa_cfg c = *cfg;
    c.iters = 2 * cfg->iters;
    aa_image *img = malloc(sizeof *img * (size_t)(n > 0 ? n : 1));
    if (!img)
        return oom(err, errlen);
    aa_result res;
    int rc = attack(ctx, d, &c, n, img, 1, rng, &res, err, errlen);
    if (rc == 0)
        masking_verdict_iters(it, cfg->iters, robust, masking_robust(img, n), n);
    free(img);
    return rc;
}

/* c: Square on the images the gradient attacks left robust. */
static int check_square(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *attack_cfg,
                        int queries, int n, const aa_image *base, advcc_rng *rng,
                        masking_item *it, char *err, size_t errlen)
{
    aa_cfg c = *attack_cfg;
    c.attacks[0] = AA_SQUARE;
    c.n_attacks = 1;
    c.queries = queries;
    aa_image *img = copy_images(base, n);
    if (!img)
        return oom(err, errlen);
    aa_result res;
    int before = masking_robust(img, n);
    int rc = attack(ctx, d, &c, n, img, 0, rng, &res, err, errlen);
    if (rc == 0) {
        masking_verdict_square(it, before - masking_robust(img, n), n);
        append(it, ", %d queries", queries);
    }
    free(img);
    return rc;
}

/* A random point of the ball's surface around each of x[n] into v: a
 * corner of the Linf cube, or a uniform direction of length eps; then the
 * pixel box. */
static void surface_point(int norm, double eps, const real_t *x, int n, int dim,
                          advcc_rng *rng, real_t *v)
{
    for (int b = 0; b < n; b++) {
        const real_t *xb = x + (size_t)b * dim;
        real_t *vb = v + (size_t)b * dim;
        double s = eps;
        if (norm == ADVCC_L2) {
            double sq = 0;
            for (int i = 0; i < dim; i++) {
                double g = rng_normal(rng);
                vb[i] = (real_t)g;
                sq += g * g;
            }
            s = sq > 0 ? eps / sqrt(sq) : 0;
        }
        for (int i = 0; i < dim; i++) {
            double step = norm == ADVCC_LINF ? (rng_uniform(rng) < 0.5 ? -s : s) : s * vb[i];
            double p = xb[i] + step;
            vb[i] = (real_t)(p < 0 ? 0 : p > 1 ? 1 : p);
        }
    }
}

/* The clean-right images among the first n of d, batch by batch: loads
 * the next batch from *start on into x, y, idx; 0 when none is left. */
static int next_batch(const advcc_dataset *d, const aa_image *img, int n, int cap,
                      int *start, int *idx, real_t *x, int *y)
{
    int b = 0;
    while (*start < n && b < cap) {
        if (img[*start].clean_ok)
            idx[b++] = *start;
        (*start)++;
    }
    if (b > 0)
        dataset_batch(d, idx, b, x, y);
    return b;
}

/* Buffers of a pass over the images, batch by batch. */
typedef struct pass_ws {
    infer_ws inf;
    int have_inf, cap, dim;
    real_t *x, *v, *logits;     /* images, their moved copies, outputs */
    int *idx, *y, *hit, *ok, *iter;
} pass_ws;

static void pass_free(pass_ws *w)
{
    if (w->have_inf)
        infer_free(&w->inf);
    free(w->x);
    free(w->v);
    free(w->logits);
    free(w->idx);
    free(w->y);
    free(w->hit);
    free(w->ok);
    free(w->iter);
}

static int pass_init(pass_ws *w, advcc_ctx *ctx)
{
    const advcc_model *m = ctx->model;
    memset(w, 0, sizeof *w);
    w->cap = ctx->batch_cap;
    w->dim = m->in_c * m->in_h * m->in_w;
    w->have_inf = infer_init(&w->inf, ctx) == 0;
    size_t img = (size_t)w->cap * w->dim;
    w->x = malloc(sizeof(real_t) * img);
    w->v = malloc(sizeof(real_t) * img);
    w->logits = malloc(sizeof(real_t) * (size_t)w->cap * m->classes);
    w->idx = malloc(sizeof(int) * w->cap);
    w->y = malloc(sizeof(int) * w->cap);
    w->hit = malloc(sizeof(int) * w->cap);
    w->ok = malloc(sizeof(int) * w->cap);
    w->iter = malloc(sizeof(int) * w->cap);
    if (!w->have_inf || !w->x || !w->v || !w->logits || !w->idx || !w->y || !w->hit ||
        !w->ok || !w->iter) {
        pass_free(w);
        return -1;
    }
    return 0;
}

/* hit[b] |= the model misclassifies v[b] (judge predictions, fresh noise). */
static void mark_wrong(pass_ws *w, const real_t *v, int n, int judge)
{
    int C = w->inf.classes;
    for (int r = 0; r < judge; r++) {
        infer_logits(&w->inf, v, n, ADVCC_EVAL, w->logits);
        for (int b = 0; b < n; b++)
            w->hit[b] |= infer_misclassified(w->logits + (size_t)b * C, C, w->y[b]);
        if (!w->inf.random)
            break;
    }
}

/* d: `draws` random surface points for every clean-right image. */
static int check_noise(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg,
                       int draws, int n, const aa_image *img, advcc_rng *rng,
                       masking_item *it, char *err, size_t errlen)
{
    pass_ws w;
    if (pass_init(&w, ctx) != 0)
        return oom(err, errlen);
    int broken = 0, b, start = 0;
    while ((b = next_batch(d, img, n, w.cap, &start, w.idx, w.x, w.y)) > 0) {
        memset(w.hit, 0, sizeof(int) * b);
        for (int r = 0; r < draws; r++) {
            surface_point(cfg->norm, cfg->eps, w.x, b, w.dim, rng, w.v);
            mark_wrong(&w, w.v, b, 1);
        }
        for (int i = 0; i < b; i++)
            broken += w.hit[i];
    }
    pass_free(&w);
    masking_verdict_noise(it, draws, broken, masking_broken(img, n));
    return 0;
}

/* e, before any attack: the twin's images, which must be the first n test
 * images, each moved within this attack's ball (otherwise the file belongs
 * to other images or a larger budget).  NULL on an error (err). */
static real_t *load_transfer(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg,
                             const char *path, int n, char *err, size_t errlen)
{
    const advcc_model *m = ctx->model;
    real_t *adv = NULL;
    int ndim, shape[8];
    if (npy_read(path, &adv, &ndim, shape, err, errlen) != 0)
        return NULL;
    int fits = ndim == 4 && shape[0] == n && shape[1] == m->in_c && shape[2] == m->in_h &&
               shape[3] == m->in_w;
    if (!fits) {
        char got[96];
        int len = 0;
        for (int i = 0; i < ndim && i < 8 && len < (int)sizeof got - 16; i++)
            len += snprintf(got + len, sizeof got - len, "%s%d", i ? ", " : "", shape[i]);
        got[len] = 0;
        snprintf(err, errlen,
                 "--transfer-from %s: an array of shape (%s), but the check evaluates %d "
                 "images of %dx%dx%d; write it with the twin's `attack --limit %d "
                 "--save-adv FILE` on the same test set", path, got, n, m->in_c, m->in_h,
                 m->in_w, n);
        free(adv);
        return NULL;
    }
    pass_ws w;
    if (pass_init(&w, ctx) != 0) {
        free(adv);
        oom(err, errlen);
        return NULL;
    }
    for (int start = 0; start < n && adv; start += w.cap) {
        int b = n - start < w.cap ? n - start : w.cap;
        for (int i = 0; i < b; i++)
            w.idx[i] = start + i;
        dataset_batch(d, w.idx, b, w.x, w.y);
        for (int i = 0; i < b; i++) {
            size_t o = (size_t)(start + i) * w.dim;
            double r = apgd_distance(cfg->norm, w.x + (size_t)i * w.dim, adv + o, w.dim);
            if (r > cfg->eps * (1 + 1e-5) + 1e-5) {
                char e[32];
                snprintf(err, errlen,
                         "--transfer-from %s: image %d lies %.4g from test image %d, outside "
                         "this check's ball (eps %s): not the twin's attack on these images "
                         "at this budget", path, start + i, r, start + i,
                         eps_text(cfg->eps, cfg->norm, e, sizeof e));
                free(adv);
                adv = NULL;
                break;
            }
        }
    }
    pass_free(&w);
    return adv;
}

/* e: the twin's images adv[n] judged as the attack's are. */
static int check_transfer(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg,
                          const real_t *adv, int n, const aa_image *img, masking_item *it,
                          char *err, size_t errlen)
{
    pass_ws w;
    if (pass_init(&w, ctx) != 0)
        return oom(err, errlen);
    int broken = 0;
    for (int start = 0; start < n; start += w.cap) {
        int b = n - start < w.cap ? n - start : w.cap;
        for (int i = 0; i < b; i++)
            w.idx[i] = start + i;
        dataset_batch(d, w.idx, b, w.x, w.y);
        memset(w.hit, 0, sizeof(int) * b);
        mark_wrong(&w, adv + (size_t)start * w.dim, b, cfg->judge);
        for (int i = 0; i < b; i++)
            broken += img[start + i].clean_ok && w.hit[i];
    }
    pass_free(&w);
    masking_verdict_transfer(it, broken, masking_broken(img, n), n);
    return 0;
}

/* f: APGD-CE (the white-box attack's iterations and restarts, one draw per
 * step) on the model with its noise frozen to one draw per batch, clean
 * and attacked images judged on that draw. */
static int check_frozen(advcc_ctx *ctx, const advcc_dataset *d, const masking_cfg *cfg,
                        int n, const aa_image *base, advcc_rng *rng, masking_item *it,
                        char *err, size_t errlen)
{
    pass_ws w;
    apgd_ws ap;
    if (pass_init(&w, ctx) != 0)
        return oom(err, errlen);
    if (apgd_init(&ap, &w.inf) != 0) {
        pass_free(&w);
        return oom(err, errlen);
    }
    apgd_cfg a;
    apgd_defaults(&a, cfg->attack.norm, cfg->attack.eps);
    a.iters = cfg->attack.iters;
    a.restarts = cfg->attack.restarts;
    a.mode = cfg->attack.mode;
    advcc_rng frozen;
    w.inf.freeze = &frozen;
    const int keep = ctx->bpda, C = w.inf.classes;
    int correct = 0, broken = 0;
    for (int start = 0; start < n; start += w.cap) {
        int b = n - start < w.cap ? n - start : w.cap;
        for (int i = 0; i < b; i++)
            w.idx[i] = start + i;
        dataset_batch(d, w.idx, b, w.x, w.y);
        rng_split(rng, (uint64_t)start + 1, &frozen);
        infer_logits(&w.inf, w.x, b, ADVCC_EVAL, w.logits);
        for (int i = 0; i < b; i++)
            w.ok[i] = !infer_misclassified(w.logits + (size_t)i * C, C, w.y[i]);
        memset(w.hit, 0, sizeof(int) * b);
        for (int pass = 0; pass < 2; pass++) {
            int bpda = cfg->grad == INFER_GRAD_BPDA || pass == 1;
            if (pass == 1 && cfg->grad != INFER_GRAD_BOTH)
                break;
            ctx->bpda = bpda;
            if (apgd_attack(&ap, &a, w.x, w.y, NULL, b, rng, w.v, w.iter, NULL) != 0) {
                ctx->bpda = keep;
                apgd_free(&ap);
                pass_free(&w);
                snprintf(err, errlen, "frozen-noise attack: invalid settings");
                return -1;
            }
            mark_wrong(&w, w.v, b, 1);
        }
        ctx->bpda = keep;
        for (int i = 0; i < b; i++) {
            correct += w.ok[i];
            broken += w.ok[i] && w.hit[i];
        }
    }
    apgd_free(&ap);
    pass_free(&w);
    int eot_correct = 0, judge = cfg->attack.judge > 0 ? cfg->attack.judge : 1;
    double eot_broken = 0;
    for (int i = 0; i < n; i++) {
        eot_correct += base[i].clean_ok;
        eot_broken += base[i].clean_ok ? (double)base[i].wrong / judge : 0;
    }
    masking_verdict_frozen(it, broken, correct, eot_broken, eot_correct);
    return 0;
}

static void report_counts(masking_report *rep, const aa_image *img, int n)
{
    rep->n = n;
    rep->clean_correct = 0;
    for (int i = 0; i < n; i++)
        rep->clean_correct += img[i].clean_ok;
    rep->robust = masking_robust(img, n);
}

int masking_run(advcc_ctx *ctx, const advcc_dataset *d, const masking_cfg *cfg,
                FILE *out, masking_report *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    int n = cfg->attack.limit > 0 && cfg->attack.limit < d->n ? cfg->attack.limit : d->n;
    real_t *twin = NULL;
    if (cfg->transfer &&
        !(twin = load_transfer(ctx, d, &cfg->attack, cfg->transfer, n, err, errlen)))
        return -1;
    aa_image *img = malloc(sizeof *img * (size_t)(n > 0 ? n : 1));
    if (!img) {
        free(twin);
        return oom(err, errlen);
    }
    _Static_assert(RNG_STREAM_SANITY + MASKING_CHECKS < RNG_STREAM_SANITY_SQUARE,
                   "sanity's streams meet");
    advcc_rng root, r[MASKING_CHECKS + 1];
    rng_seed(&root, cfg->seed);
    for (int k = 0; k <= MASKING_CHECKS; k++)
        rng_split(&root, RNG_STREAM_SANITY + (uint64_t)k, &r[k]);
    aa_result res;
    int rc = attack(ctx, d, &cfg->attack, n, img, 1, &r[MASKING_CHECKS], &res, err, errlen);
    if (rc == 0) {
        report_counts(rep, img, n);
        if (out) {
            char e[32];
            fprintf(out, "white-box attack:");
            for (int a = 0; a < cfg->attack.n_attacks; a++)
                fprintf(out, " %s", aa_attack_name(cfg->attack.attacks[a]));
            fprintf(out, ", %s eps %s, %d iterations: clean %.1f%%, robust %.1f%% of %d images\n",
                    cfg->attack.norm == ADVCC_L2 ? "L2" : "Linf",
                    eps_text(cfg->attack.eps, cfg->attack.norm, e, sizeof e), cfg->attack.iters,
                    n ? 100.0 * rep->clean_correct / n : 0.0, n ? 100.0 * rep->robust / n : 0.0, n);
        }
    }
    masking_item *it = rep->item;
    for (int c = 0; c < MASKING_CHECKS && rc == 0; c++) {
        switch (c) {
        case MASKING_EPS:
            rc = check_eps(ctx, d, &cfg->attack, n, img, &r[c], &it[c], err, errlen);
            break;
        case MASKING_ITERS:
            rc = check_iters(ctx, d, &cfg->attack, n, rep->robust, &r[c], &it[c], err, errlen);
            break;
        case MASKING_SQUARE:
            rc = check_square(ctx, d, &cfg->attack, cfg->queries, n, img, &r[c], &it[c], err,
                              errlen);
            break;
        case MASKING_NOISE:
            rc = check_noise(ctx, d, &cfg->attack, cfg->draws, n, img, &r[c], &it[c], err,
                             errlen);
            break;
        case MASKING_TRANSFER:
            if (twin)
                rc = check_transfer(ctx, d, &cfg->attack, twin, n, img, &it[c], err, errlen);
            else
                not_run(&it[c], "no --transfer-from file of the undefended twin's images");
            break;
        case MASKING_FROZEN:
            if (cfg->random)
                rc = check_frozen(ctx, d, cfg, n, img, &r[c], &it[c], err, errlen);
            else
                not_run(&it[c], "the model draws no noise");
            break;
        default:
            masking_verdict_zero(&it[c], res.grad_rows, res.grad_zero_rows);
            break;
        }
        if (rc == 0 && out) {
            masking_print_row(out, rep, c);
            fflush(out);
        }
    }
    free(img);
    free(twin);
    if (rc != 0)
        return -1;
    return masking_warnings(rep) ? 1 : 0;
}

int masking_summary(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg,
                    const aa_image *img, const aa_result *res, int draws,
                    int subset, uint64_t seed, masking_report *rep, char *err,
                    size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    int n = res->n;
    report_counts(rep, img, n);
    masking_item *it = rep->item;
    advcc_rng root, r;
    rng_seed(&root, seed);
    int square = 0, lead = 0;
    for (int a = 0; a < cfg->n_attacks; a++)
        square |= (cfg->attacks[a] & ~AA_BPDA) == AA_SQUARE;
    while (lead < cfg->n_attacks && (cfg->attacks[lead] & ~AA_BPDA) == AA_APGD_CE)
        lead++;
    if (square) {
        int broken = 0;
        for (int i = 0; i < n; i++)
            broken += img[i].clean_ok && img[i].broken_by >= 0 &&
                      (cfg->attacks[img[i].broken_by] & ~AA_BPDA) == AA_SQUARE;
        masking_verdict_square(&it[MASKING_SQUARE], broken, n);
    } else {
        not_run(&it[MASKING_SQUARE], "no Square in this ensemble");
    }
    masking_verdict_zero(&it[MASKING_ZERO], res->grad_rows, res->grad_zero_rows);
    rng_split(&root, RNG_STREAM_SANITY_SQUARE, &r);
    if (check_noise(ctx, d, cfg, draws, n, img, &r, &it[MASKING_NOISE], err, errlen) != 0)
        return -1;
    if (lead > 0) {
        aa_cfg c = *cfg;
        c.n_attacks = lead;
        int m = subset > 0 && subset < n ? subset : n, robust = 0;
        for (int i = 0; i < m; i++)
            robust += img[i].clean_ok && (img[i].broken_by < 0 || img[i].broken_by >= lead);
        rng_split(&root, RNG_STREAM_SANITY_LEAD, &r);
        if (check_iters(ctx, d, &c, m, robust, &r, &it[MASKING_ITERS], err, errlen) != 0)
            return -1;
        append(&it[MASKING_ITERS], ", APGD-CE");
    } else {
        not_run(&it[MASKING_ITERS], "the ensemble does not begin with APGD-CE");
    }
    static const int full[] = {MASKING_EPS, MASKING_TRANSFER, MASKING_FROZEN};
    for (int k = 0; k < 3; k++)
        not_run(&it[full[k]], "run `MODEL sanity` for it");
    return masking_warnings(rep) ? 1 : 0;
}

/* ---- reporting ---- */

void masking_print_row(FILE *out, const masking_report *rep, int check)
{
    if (check < 0 || check >= MASKING_CHECKS)
        return;
    const masking_item *it = &rep->item[check];
    fprintf(out, "%c. %-15s %-8s %s\n", 'a' + check, masking_check_name(check),
            masking_verdict_name(it->verdict), it->detail);
}

void masking_print(FILE *out, const masking_report *rep)
{
    for (int c = 0; c < MASKING_CHECKS; c++)
        if (rep->item[c].verdict != MASKING_NOT_RUN)
            masking_print_row(out, rep, c);
}

/* s as a JSON string; the details hold no control characters. */
json_t *masking_json(const masking_report *rep)
{
    json_t *o = json_object();
    for (int c = 0; c < MASKING_CHECKS; c++) {
        const masking_item *it = &rep->item[c];
        json_t *item = it->verdict == MASKING_NOT_RUN
            ? json_pack("{s:s, s:o}", "verdict", "not run", "detail", jw_str(it->detail))
            : json_pack("{s:s, s:o, s:o}", "verdict", masking_verdict_name(it->verdict),
                        "figure", jw_sig(it->figure, 6), "detail", jw_str(it->detail));
        if (json_object_set_new(o, masking_check_name(c), item)) {
            json_decref(o);
            return NULL;
        }
    }
    return jw_merge(o, json_pack("{s:i, s:i, s:i, s:i}", "n", rep->n, "clean_correct",
                                 rep->clean_correct, "robust", rep->robust,
                                 "warnings", masking_warnings(rep)));
}
