/* robust.c - clean accuracy, robust accuracy and attack success over a data
 * set, with adversarial images saved or read back for transfer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "npy.h"
#include "robust.h"

static int fail(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

/* The adversarial images of a transfer run: [n][c][h][w], nothing else. */
static int read_adv_file(const char *path, const advcc_model *m, int n,
                         real_t **adv, char *err, size_t errlen)
{
    int ndim, shape[8];
    if (npy_read(path, adv, &ndim, shape, err, errlen) != 0)
        return -1;
    int want[4] = {n, m->in_c, m->in_h, m->in_w};
    int ok = ndim == 4;
    for (int i = 0; ok && i < 4; i++)
        ok = shape[i] == want[i];
    if (ok) {
        /* pixels, like the data sets': finite and in [0, 1] */
        size_t count = (size_t)n * m->in_c * m->in_h * m->in_w;
        for (size_t i = 0; i < count; i++) {
            double v = (double)(*adv)[i];
            if (!(v >= 0 && v <= 1)) {
                if (err && errlen)
                    snprintf(err, errlen, "%s: element %zu (image %zu) is %g, not a pixel "
                             "value in [0, 1]", path, i, i / (count / (size_t)n) + 1, v);
                free(*adv);
                *adv = NULL;
                return -1;
            }
        }
        return 0;
    }
    char got[128];
    int len = 0;
    for (int i = 0; i < ndim && len < (int)sizeof got - 16; i++)
        len += snprintf(got + len, sizeof got - len, "%s%d", i ? ", " : "",
                        shape[i]);
    got[len] = 0;
    if (err && errlen)
        snprintf(err, errlen,
                 "%s: shape (%s) does not match the images evaluated "
                 "(%d, %d, %d, %d)",
                 path, got, want[0], want[1], want[2], want[3]);
    free(*adv);
    *adv = NULL;
    return -1;
}

static void count_preds(infer_ws *inf, const real_t *x, const int *y, int n,
                        int mode, real_t *logits, int *correct)
{
    infer_logits(inf, x, n, mode, logits);
    for (int b = 0; b < n; b++) {
        int pred;
        infer_row_loss(logits + (size_t)b * inf->classes, y[b], inf->classes,
                       &pred);
        correct[b] = pred == y[b];
    }
}

/* The attack of one batch, aimed at aim (labels, or targets), into xadv;
 * with INFER_GRAD_BOTH also under BPDA into xalt, whose image replaces the
 * straight-through one where only it is misclassified. */
static void attack_batch(pgd_ws *pgd, const robust_cfg *cfg, const real_t *x,
                         const int *aim, const int *y, int n, advcc_rng *rng,
                         real_t *xadv, real_t *xalt, real_t *logits, int *ok,
                         int *ok_alt, robust_result *out)
{
    infer_ws *inf = pgd->inf;
    advcc_ctx *ctx = inf->ctx;
    const int keep = ctx->bpda, d = inf->in_size;
    ctx->bpda = cfg->grad == INFER_GRAD_BPDA;
    pgd_attack(pgd, cfg->attack, x, aim, n, rng, xadv, &out->grad);
    if (cfg->grad == INFER_GRAD_BOTH) {
        ctx->bpda = 1;
        pgd_attack(pgd, cfg->attack, x, aim, n, rng, xalt, &out->grad);
        count_preds(inf, xadv, y, n, ADVCC_EVAL, logits, ok);
        count_preds(inf, xalt, y, n, ADVCC_EVAL, logits, ok_alt);
        for (int b = 0; b < n; b++)
            if (ok[b] && !ok_alt[b]) {
                memcpy(xadv + (size_t)b * d, xalt + (size_t)b * d, sizeof(real_t) * d);
                out->bpda_broken++;
            }
    }
    ctx->bpda = keep;
}

int robust_evaluate(advcc_ctx *ctx, const advcc_dataset *d,
                    const robust_cfg *cfg, advcc_rng *rng, robust_result *out,
                    char *err, size_t errlen)
{
    const advcc_model *m = ctx->model;
    memset(out, 0, sizeof *out);
    if (d->c != m->in_c || d->h != m->in_h || d->w != m->in_w) {
        if (err && errlen)
            snprintf(err, errlen,
                     "%s images are %dx%dx%d but model %s takes %dx%dx%d",
                     d->name, d->c, d->h, d->w, m->name, m->in_c, m->in_h,
                     m->in_w);
        return -1;
    }
    if (d->classes > m->classes) {
        if (err && errlen)
            snprintf(err, errlen, "%s has %d classes but model %s has %d",
                     d->name, d->classes, m->name, m->classes);
        return -1;
    }
    int n = cfg->limit > 0 && cfg->limit < d->n ? cfg->limit : d->n;
    int judge = cfg->judge > 1 ? cfg->judge : 1;
    int attacking = cfg->attack && !cfg->adv_file;
    if (n < 1)
        return fail(err, errlen, "no images to evaluate");
    if (cfg->save_adv && !cfg->attack && !cfg->adv_file)
        return fail(err, errlen, "saving adversarial images needs an attack");
    if (attacking && pgd_check_cfg(cfg->attack, m->in_c, err, errlen) != 0)
        return -1;
    int mode = ADVCC_EVAL;     /* predictions; the attack uses its own */

    real_t *file_adv = NULL;
    if (cfg->adv_file &&
        read_adv_file(cfg->adv_file, m, n, &file_adv, err, errlen) != 0)
        return -1;

    int cap = ctx->batch_cap, in_size = m->in_c * m->in_h * m->in_w;
    infer_ws inf;
    pgd_ws pgd;
    int have_inf = infer_init(&inf, ctx) == 0;
    int have_pgd = have_inf && pgd_init(&pgd, &inf) == 0;
    real_t *x = malloc(sizeof(real_t) * (size_t)cap * in_size);
    real_t *xadv = malloc(sizeof(real_t) * (size_t)cap * in_size);
    const int both = attacking && cfg->grad == INFER_GRAD_BOTH;
    real_t *xalt = both ? malloc(sizeof(real_t) * (size_t)cap * in_size) : NULL;
    real_t *logits = malloc(sizeof(real_t) * (size_t)cap * m->classes);
    real_t *all_adv = cfg->save_adv
                          ? malloc(sizeof(real_t) * (size_t)n * in_size)
                          : NULL;
    int *idx = malloc(sizeof(int) * cap);
    int *y = malloc(sizeof(int) * cap);
    int *target = malloc(sizeof(int) * cap);
    int *clean_ok = malloc(sizeof(int) * cap);
    int *adv_ok = malloc(sizeof(int) * cap);
    int rc = 0;
    if (!have_pgd || !x || !xadv || (both && !xalt) || !logits || (cfg->save_adv && !all_adv) ||
        !idx || !y || !target || !clean_ok || !adv_ok) {
        rc = fail(err, errlen, "out of memory");
        goto done;
    }

    for (int start = 0; start < n; start += cap) {
        int b = n - start < cap ? n - start : cap;
        for (int i = 0; i < b; i++)
            idx[i] = start + i;
        dataset_batch(d, idx, b, x, y);
        const real_t *adv = xadv;
        if (file_adv)
            adv = file_adv + (size_t)start * in_size;
        else if (attacking) {
            /* A targeted attack aims every image at the next class. */
            for (int i = 0; i < b; i++)
                target[i] = (y[i] + 1) % m->classes;
            attack_batch(&pgd, cfg, x, cfg->attack->targeted ? target : y, y, b,
                         rng, xadv, xalt, logits, clean_ok, adv_ok, out);
        } else
            adv = x;
        if (all_adv)
            memcpy(all_adv + (size_t)start * in_size, adv,
                   sizeof(real_t) * (size_t)b * in_size);

        for (int r = 0; r < judge; r++) {
            count_preds(&inf, x, y, b, mode, logits, clean_ok);
            if (adv != x)
                count_preds(&inf, adv, y, b, mode, logits, adv_ok);
            else
                memcpy(adv_ok, clean_ok, sizeof(int) * b);
            for (int i = 0; i < b; i++) {
                out->clean_correct += clean_ok[i];
                out->adv_correct += adv_ok[i];
                out->robust_correct += clean_ok[i] && adv_ok[i];
            }
        }
        if (cfg->progress)
            cfg->progress(cfg->progress_arg, start + b, n);
    }

    out->n = n;
    out->total = (long long)n * judge;
    out->clean_acc = (double)out->clean_correct / out->total;
    out->robust_acc = (double)out->robust_correct / out->total;
    out->adv_acc = (double)out->adv_correct / out->total;
    out->attack_success =
        out->clean_correct
            ? (double)(out->clean_correct - out->robust_correct) /
                  out->clean_correct
            : 0.0;
    out->grad_zero_share = out->grad.grad_entries
                               ? (double)out->grad.grad_zero /
                                     out->grad.grad_entries
                               : 0.0;
    out->grad_warning = out->grad_zero_share > ROBUST_ZERO_WARN ||
                        out->grad.grad_nonfinite > 0;

    if (all_adv) {
        int shape[4] = {n, m->in_c, m->in_h, m->in_w};
        if (npy_write(cfg->save_adv, all_adv, 4, shape, err, errlen) != 0)
            rc = -1;
    }
done:
    if (have_pgd)
        pgd_free(&pgd);
    if (have_inf)
        infer_free(&inf);
    free(x);
    free(xadv);
    free(xalt);
    free(logits);
    free(all_adv);
    free(idx);
    free(y);
    free(target);
    free(clean_ok);
    free(adv_ok);
    free(file_adv);
    return rc;
}
