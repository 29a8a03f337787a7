/* autoattack.c - attacks run one after another on the images still robust,
 * judged on fresh predictions, with per-image records. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autoattack.h"
#include "progress.h"

static const char *const names[AA_KINDS] = {"apgd-ce", "apgd-dlr", "apgd-t",
                                            "square", "fab-t"};

const char *aa_attack_name(int kind)
{
    static char bpda_names[AA_KINDS][32];
    int base = kind & ~AA_BPDA;
    if (base < 0 || base >= AA_KINDS)
        return "?";
    if (!(kind & AA_BPDA))
        return names[base];
    if (!bpda_names[base][0])
        snprintf(bpda_names[base], sizeof bpda_names[base], "%s/bpda", names[base]);
    return bpda_names[base];
}

int aa_attack_by_name(const char *name)
{
    for (int i = 0; i < AA_KINDS; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

static void set_lengths(aa_cfg *cfg, int quick)
{
    cfg->iters = quick ? 20 : 100;
    cfg->restarts = 1;
    cfg->targets = quick ? 3 : 9;
    cfg->queries = quick ? 500 : 5000;
    cfg->p_init = 0.8;
    cfg->eot = 1;
    cfg->judge = 1;
}

void aa_set_version(aa_cfg *cfg, int version, int quick)
{
    set_lengths(cfg, quick);
    if (version == AA_RAND) {
        cfg->attacks[0] = AA_APGD_CE;
        cfg->attacks[1] = AA_APGD_DLR;
        cfg->n_attacks = 2;
        cfg->eot = quick ? 5 : 20;
        cfg->judge = quick ? 5 : 10;
    } else {
        cfg->attacks[0] = AA_APGD_CE;
        cfg->attacks[1] = AA_APGD_T;
        cfg->attacks[2] = AA_FAB_T;
        cfg->attacks[3] = AA_SQUARE;
        cfg->n_attacks = 4;
    }
}

void aa_set_single(aa_cfg *cfg, int kind, int quick)
{
    set_lengths(cfg, quick);
    cfg->attacks[0] = kind;
    cfg->n_attacks = 1;
}

int aa_set_grad(aa_cfg *cfg, int grad)
{
    if (grad == INFER_GRAD_STE)
        return 0;
    int out[AA_MAX_ATTACKS], n = 0;
    for (int i = 0; i < cfg->n_attacks; i++) {
        int k = cfg->attacks[i] & ~AA_BPDA, gradient = k != AA_SQUARE;
        if (gradient && grad == INFER_GRAD_BOTH) {
            if (n == AA_MAX_ATTACKS)
                return -1;
            out[n++] = k;
        }
        if (n == AA_MAX_ATTACKS)
            return -1;
        out[n++] = gradient ? k | AA_BPDA : k;
    }
    memcpy(cfg->attacks, out, sizeof(int) * n);
    cfg->n_attacks = n;
    return 0;
}

int aa_check_cfg(const aa_cfg *cfg, int classes, char *err, size_t errlen)
{
    const char *why = NULL;
    if (cfg->n_attacks < 1 || cfg->n_attacks > AA_MAX_ATTACKS)
        why = "no attack to run";
    for (int i = 0; !why && i < cfg->n_attacks; i++) {
        int k = cfg->attacks[i] & ~AA_BPDA;
        if (k < 0 || k >= AA_KINDS)
            why = "unknown attack";
        else if (k == AA_SQUARE && (cfg->attacks[i] & AA_BPDA))
            why = "square takes no gradient, so no BPDA";
        else if (k == AA_APGD_DLR && classes < 3)
            why = "apgd-dlr needs at least 3 classes";
        else if (k == AA_APGD_T && classes < 4)
            why = "apgd-t needs at least 4 classes";
    }
    if (!why && (cfg->norm != ADVCC_LINF && cfg->norm != ADVCC_L2))
        why = "unknown norm";
    else if (!why && !(cfg->eps >= 0 && isfinite(cfg->eps)))
        why = "eps must be a finite number >= 0";
    else if (!why && cfg->norm == ADVCC_LINF && cfg->eps > 1)
        why = "eps of an Linf attack must be at most 1";
    else if (!why && (cfg->iters < 0 || cfg->restarts < 1 || cfg->eot < 1 ||
                      cfg->targets < 1 || cfg->queries < 1 || cfg->judge < 1))
        why = "iterations >= 0, restarts, eot, targets, queries and judge >= 1";
    else if (!why && cfg->mode == ADVCC_TRAIN)
        why = "attack passes must not update BatchNorm running statistics";
    if (why) {
        if (err && errlen)
            snprintf(err, errlen, "autoattack: %s", why);
        return -1;
    }
    return 0;
}

int aa_model_random(advcc_ctx *ctx)
{
    infer_ws inf;
    if (infer_init(&inf, ctx) != 0)
        return 0;
    const advcc_model *m = ctx->model;
    int d = m->in_c * m->in_h * m->in_w;
    real_t *x = calloc((size_t)d, sizeof(real_t));
    real_t *lg = malloc(sizeof(real_t) * m->classes);
    int random = 0;
    if (x && lg) {
        infer_logits(&inf, x, 1, ADVCC_EVAL, lg);
        random = inf.random;
    }
    free(x);
    free(lg);
    infer_free(&inf);
    return random;
}

typedef struct aa_ws {
    infer_ws inf;
    apgd_ws apgd;
    fab_ws fab;
    square_ws sq;
    real_t *x, *xadv, *xs, *xa, *logits, *clean_logits;
    int *idx, *y, *ys, *ts, *hit, *sub, *broken, *tgt;
    long long *q;
    double *margin;
} aa_ws;

static void ws_free(aa_ws *w, int have_inf, int have_apgd, int have_fab,
                    int have_sq)
{
    if (have_sq)
        square_free(&w->sq);
    if (have_fab)
        fab_free(&w->fab);
    if (have_apgd)
        apgd_free(&w->apgd);
    if (have_inf)
        infer_free(&w->inf);
    free(w->x);
    free(w->xadv);
    free(w->xs);
    free(w->xa);
    free(w->logits);
    free(w->clean_logits);
    free(w->idx);
    free(w->y);
    free(w->ys);
    free(w->ts);
    free(w->hit);
    free(w->sub);
    free(w->broken);
    free(w->tgt);
    free(w->q);
    free(w->margin);
}

/* broken[b]: how many of the judge predictions of v misclassify it (> 0:
 * broken); margin[b]: the smallest margin seen. */
static void judge(aa_ws *w, const aa_cfg *cfg, const real_t *v, const int *y,
                  int n)
{
    int C = w->inf.classes;
    for (int b = 0; b < n; b++) {
        w->broken[b] = 0;
        w->margin[b] = INFINITY;
    }
    for (int r = 0; r < cfg->judge; r++) {
        infer_logits(&w->inf, v, n, ADVCC_EVAL, w->logits);
        for (int b = 0; b < n; b++) {
            double mg = square_margin(w->logits + (size_t)b * C, C, y[b]);
            int pred = 0;
            for (int j = 1; j < C; j++)
                if (w->logits[(size_t)b * C + j] > w->logits[(size_t)b * C + pred])
                    pred = j;
            w->broken[b] += pred != y[b];
            if (mg < w->margin[b])
                w->margin[b] = mg;
        }
        if (!w->inf.random)
            break;
    }
}

/* Records the judged outputs xa[n] of attack ai for images idx[n]. */
static void record(aa_ws *w, const aa_cfg *cfg, int ai, aa_image *img,
                   const int *idx, const real_t *xs, const real_t *xa,
                   const int *ys, const int *hit, int n, int fallback_at)
{
    int d = w->inf.in_size;
    judge(w, cfg, xa, ys, n);
    for (int b = 0; b < n; b++) {
        aa_image *im = &img[idx[b]];
        im->margin = w->margin[b];
        im->wrong = w->broken[b];
        im->pert = apgd_distance(cfg->norm, xs + (size_t)b * d,
                                 xa + (size_t)b * d, d);
        if (w->broken[b]) {
            im->broken_by = ai;
            im->at = hit[b] >= 0 ? hit[b] : fallback_at;
            im->done = cfg->n_attacks;
        }
    }
}

static void apgd_cfg_of(const aa_cfg *cfg, int loss, apgd_cfg *a)
{
    apgd_defaults(a, cfg->norm, cfg->eps);
    a->iters = cfg->iters;
    a->restarts = cfg->restarts;
    a->eot = cfg->eot;
    a->loss = loss;
    a->mode = cfg->mode;
}

/* APGD-T and FAB-T: targets from the clean output, one run per target on
 * the images that the earlier targets left standing; the iteration counts
 * over all targets (and FAB-T's restarts) run so far. */
static int run_targeted(aa_ws *w, const aa_cfg *cfg, int ai, aa_image *img,
                        int n, advcc_rng *rng, aa_result *out)
{
    int kind = cfg->attacks[ai] & ~AA_BPDA, d = w->inf.in_size, C = w->inf.classes;
    int k = cfg->targets < C - 1 ? cfg->targets : C - 1;
    infer_logits(&w->inf, w->x, n, ADVCC_EVAL, w->clean_logits);
    for (int b = 0; b < n; b++)
        apgd_top_targets(w->clean_logits + (size_t)b * C, C, w->y[b], k,
                         w->tgt + (size_t)b * k);
    apgd_cfg a;
    apgd_cfg_of(cfg, INFER_DLR_T, &a);
    fab_cfg f;
    fab_defaults(&f, cfg->norm, cfg->eps);
    f.iters = cfg->iters;
    f.restarts = cfg->restarts;
    f.mode = cfg->mode;
    int per_target = kind == AA_FAB_T ? cfg->iters * cfg->restarts : cfg->iters;
    for (int t = 0; t < k; t++) {
        int m = 0;
        for (int b = 0; b < n; b++)
            if (img[w->idx[b]].broken_by < 0) {
                w->sub[m] = w->idx[b];
                memcpy(w->xs + (size_t)m * d, w->x + (size_t)b * d,
                       sizeof(real_t) * d);
                w->ys[m] = w->y[b];
                w->ts[m] = w->tgt[(size_t)b * k + t];
                m++;
            }
        if (m == 0)
            break;
        int rc = kind == AA_FAB_T
                     ? fab_attack(&w->fab, &f, w->xs, w->ys, w->ts, m, rng,
                                  w->xa, w->hit, NULL, &out->grads)
                     : apgd_attack(&w->apgd, &a, w->xs, w->ys, w->ts, m, rng,
                                   w->xa, w->hit, &out->grads);
        if (rc != 0)
            return -1;
        for (int b = 0; b < m; b++)
            if (w->hit[b] >= 0)
                w->hit[b] += t * per_target;
        record(w, cfg, ai, img, w->sub, w->xs, w->xa, w->ys, w->hit, m,
               (t + 1) * per_target);
    }
    return 0;
}

/* Attack ai on the n images idx[] (loaded in w->x, labels w->y). */
static int run_chunk(aa_ws *w, const aa_cfg *cfg, int ai, aa_image *img,
                     int n, advcc_rng *rng, aa_result *out)
{
    int kind = cfg->attacks[ai] & ~AA_BPDA;
    apgd_cfg a;
    if (kind == AA_APGD_CE || kind == AA_APGD_DLR) {
        apgd_cfg_of(cfg, kind == AA_APGD_CE ? INFER_CE : INFER_DLR, &a);
        if (apgd_attack(&w->apgd, &a, w->x, w->y, NULL, n, rng, w->xadv,
                        w->hit, &out->grads) != 0)
            return -1;
        record(w, cfg, ai, img, w->idx, w->x, w->xadv, w->y, w->hit, n,
               cfg->iters);
        return 0;
    }
    if (kind == AA_SQUARE) {
        square_cfg s;
        square_defaults(&s, cfg->eps);
        s.norm = cfg->norm;
        s.queries = cfg->queries;
        s.p_init = cfg->p_init;
        s.mode = cfg->mode;
        if (square_attack(&w->sq, &s, w->x, w->y, n, rng, w->xadv, w->hit,
                          w->q) != 0)
            return -1;
        for (int b = 0; b < n; b++)
            out->queries += w->q[b];
        record(w, cfg, ai, img, w->idx, w->x, w->xadv, w->y, w->hit, n,
               (int)w->q[0]);
        for (int b = 0; b < n; b++)
            if (img[w->idx[b]].broken_by == ai && w->hit[b] < 0)
                img[w->idx[b]].at = (int)w->q[b];
        return 0;
    }
    return run_targeted(w, cfg, ai, img, n, rng, out);
}

int aa_evaluate(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg,
                advcc_rng *rng, aa_image *img, aa_result *out, char *err,
                size_t errlen)
{
    const advcc_model *m = ctx->model;
    memset(out, 0, sizeof *out);
    if (aa_check_cfg(cfg, m->classes, err, errlen) != 0)
        return -1;
    if (d->c != m->in_c || d->h != m->in_h || d->w != m->in_w ||
        d->classes > m->classes) {
        if (err && errlen)
            snprintf(err, errlen, "%s does not fit model %s", d->name, m->name);
        return -1;
    }
    int n = cfg->limit > 0 && cfg->limit < d->n ? cfg->limit : d->n;
    int cap = ctx->batch_cap, in = m->in_c * m->in_h * m->in_w, C = m->classes;
    const int bpda_before = ctx->bpda;
    aa_ws w;
    memset(&w, 0, sizeof w);
    int have_inf = infer_init(&w.inf, ctx) == 0;
    int have_apgd = have_inf && apgd_init(&w.apgd, &w.inf) == 0;
    int have_fab = have_apgd && fab_init(&w.fab, &w.inf) == 0;
    int have_sq = have_fab && square_init(&w.sq, &w.inf) == 0;
    size_t img_n = (size_t)cap * in;
    w.x = malloc(sizeof(real_t) * img_n);
    w.xadv = malloc(sizeof(real_t) * img_n);
    w.xs = malloc(sizeof(real_t) * img_n);
    w.xa = malloc(sizeof(real_t) * img_n);
    w.logits = malloc(sizeof(real_t) * (size_t)cap * C);
    w.clean_logits = malloc(sizeof(real_t) * (size_t)cap * C);
    w.idx = malloc(sizeof(int) * cap);
    w.y = malloc(sizeof(int) * cap);
    w.ys = malloc(sizeof(int) * cap);
    w.ts = malloc(sizeof(int) * cap);
    w.hit = malloc(sizeof(int) * cap);
    w.sub = malloc(sizeof(int) * cap);
    w.broken = malloc(sizeof(int) * cap);
    w.tgt = malloc(sizeof(int) * (size_t)cap * C);
    w.q = malloc(sizeof(long long) * cap);
    w.margin = malloc(sizeof(double) * cap);
    int rc = 0;
    if (!have_sq || !w.x || !w.xadv || !w.xs || !w.xa || !w.logits ||
        !w.clean_logits || !w.idx || !w.y || !w.ys || !w.ts || !w.hit ||
        !w.sub || !w.broken || !w.tgt || !w.q || !w.margin) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        rc = -1;
        goto done;
    }

    /* clean predictions of the images not yet evaluated (done < 0) */
    for (int start = 0; start < n;) {
        int b = 0;
        while (start < n && b < cap) {
            if (img[start].done < 0)
                w.idx[b++] = start;
            start++;
        }
        if (b == 0)
            continue;
        dataset_batch(d, w.idx, b, w.x, w.y);
        infer_logits(&w.inf, w.x, b, ADVCC_EVAL, w.logits);
        for (int i = 0; i < b; i++) {
            aa_image *im = &img[w.idx[i]];
            const real_t *row = w.logits + (size_t)i * C;
            int pred = 0;
            for (int j = 1; j < C; j++)
                if (row[j] > row[pred])
                    pred = j;
            im->label = w.y[i];
            im->clean_ok = pred == w.y[i];
            im->broken_by = -1;
            im->at = 0;
            im->margin = square_margin(row, C, w.y[i]);
            im->pert = 0;
            im->wrong = 0;
            im->done = im->clean_ok ? 0 : cfg->n_attacks;
        }
        if (cfg->checkpoint && cfg->checkpoint(cfg->checkpoint_arg, n) != 0) {
            if (err && errlen)
                snprintf(err, errlen, "could not write the checkpoint");
            rc = -1;
            goto done;
        }
    }

    for (int ai = 0; ai < cfg->n_attacks; ai++) {
        int total = 0, done_n = 0;
        for (int i = 0; i < n; i++)
            total += img[i].done == ai;
        double t0 = progress_now();
        ctx->bpda = (cfg->attacks[ai] & AA_BPDA) != 0;
        for (int start = 0; start < n;) {
            int b = 0;
            while (start < n && b < cap) {
                if (img[start].done == ai)
                    w.idx[b++] = start;
                start++;
            }
            if (b == 0)
                continue;
            dataset_batch(d, w.idx, b, w.x, w.y);
            if (run_chunk(&w, cfg, ai, img, b, rng, out) != 0) {
                if (err && errlen)
                    snprintf(err, errlen, "%s failed", aa_attack_name(cfg->attacks[ai]));
                rc = -1;
                goto done;
            }
            for (int i = 0; i < b; i++)
                if (img[w.idx[i]].done == ai)
                    img[w.idx[i]].done = ai + 1;
            done_n += b;
            if (cfg->progress)
                cfg->progress(cfg->progress_arg, ai, done_n, total);
            if (cfg->checkpoint &&
                cfg->checkpoint(cfg->checkpoint_arg, n) != 0) {
                if (err && errlen)
                    snprintf(err, errlen, "could not write the checkpoint");
                rc = -1;
                goto done;
            }
        }
        out->seconds[ai] = progress_now() - t0;
    }

    out->n = n;
    out->grad_rows = w.inf.grad_rows;
    out->grad_zero_rows = w.inf.grad_zero_rows;
    for (int i = 0; i < n; i++) {
        out->clean_correct += img[i].clean_ok;
        for (int ai = 0; ai < cfg->n_attacks; ai++)
            out->robust_after[ai] +=
                img[i].clean_ok && (img[i].broken_by < 0 || img[i].broken_by > ai);
    }
done:
    ctx->bpda = bpda_before;
    ws_free(&w, have_inf, have_apgd, have_fab, have_sq);
    return rc;
}
