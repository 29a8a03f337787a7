/* runs.c - reading the results file into runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "csv.h"
#include "fsutil.h"
#include "results.h"
#include "runs.h"
#include "stats.h"

const char *const metric_names[METRIC_COUNT] = {
    "clean acc", "robust acc", "attack success"
};
const char *const metric_columns[METRIC_COUNT] = {
    "clean_acc", "robust_acc", "attack_success"
};
const int metric_better[METRIC_COUNT] = { +1, +1, -1 };
const int cert_radii_255[CERT_RADII] = { 36, 72, 108 };
const char *const evaluation_keys[EVAL_COUNT] = { "pgd", "strong" };

static double number_or_nan(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

int runs_model(const runs *rs, const char *name)
{
    for (int i = 0; i < rs->models.n; i++)
        if (!strcmp(rs->models.v[i], name))
            return i;
    return -1;
}

int runs_load(runs *rs, const char *path, const grid *g, char *err, size_t errlen)
{
    memset(rs, 0, sizeof *rs);
    csv_table t;
    if (results_read(path, &t, err, errlen) != 0)
        return -1;
    rs->path = xstrdup(path);
    const char *slash = strrchr(path, '/');
    rs->dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
    if (g)
        for (int m = 0; m < g->models.n; m++)
            strvec_push(&rs->models, g->models.v[m]);
    int c_model = csv_column(&t, "model"), c_seed = csv_column(&t, "seed"),
        c_eps = csv_column(&t, "eps_255"), c_status = csv_column(&t, "status"),
        c_train_eps = csv_column(&t, "train_eps_255"),
        c_step = csv_column(&t, "diverged_step"), c_cell = csv_column(&t, "cell");
    int c_metric[METRIC_COUNT];
    for (int k = 0; k < METRIC_COUNT; k++)
        c_metric[k] = csv_column(&t, metric_columns[k]);
    /* absent in files from before the strong evaluation */
    int c_strong_clean = csv_column(&t, "strong_clean_acc"),
        c_strong_robust = csv_column(&t, "strong_robust_acc"),
        c_strong_n = csv_column(&t, "strong_n"),
        c_strong_ensemble = csv_column(&t, "strong_ensemble");
    int c_cert[CERT_RADII], c_lipschitz = csv_column(&t, "lipschitz");
    for (int k = 0; k < CERT_RADII; k++) {
        char name[32];
        snprintf(name, sizeof name, "cert_acc_%d", cert_radii_255[k]);
        c_cert[k] = csv_column(&t, name);
    }
    rs->r = xcalloc((size_t)(t.nrow ? t.nrow : 1), sizeof *rs->r);
    for (int i = 0; i < t.nrow; i++) {
        char **f = t.rows[i];
        run_row *r = &rs->r[rs->n];
        char *end;
        long seed = strtol(f[c_seed], &end, 10);
        double eps = number_or_nan(f[c_eps]);
        if (end == f[c_seed] || *end || isnan(eps)) {
            snprintf(err, errlen, "%s:%d: bad seed '%s' or eps '%s'", path,
                     i + 2, f[c_seed], f[c_eps]);
            csv_free(&t);
            runs_free(rs);
            return -1;
        }
        int m = runs_model(rs, f[c_model]);
        if (m < 0) {
            strvec_push(&rs->models, f[c_model]);
            m = rs->models.n - 1;
        }
        r->model = m;
        r->seed = (int)seed;
        r->eps = eps;
        r->train_eps = c_train_eps >= 0 ? number_or_nan(f[c_train_eps]) : NAN;
        r->ok = !strcmp(f[c_status], "ok");
        for (int k = 0; k < METRIC_COUNT; k++)
            r->metric[EVAL_PGD][k] = number_or_nan(f[c_metric[k]]);
        if (r->ok && (isnan(r->metric[EVAL_PGD][0]) ||
                      isnan(r->metric[EVAL_PGD][1]) ||
                      isnan(r->metric[EVAL_PGD][2])))
            r->ok = 0;
        double *strong = r->metric[EVAL_STRONG];
        strong[METRIC_CLEAN] = c_strong_clean >= 0 ?
                               number_or_nan(f[c_strong_clean]) : NAN;
        strong[METRIC_ROBUST] = c_strong_robust >= 0 ?
                                number_or_nan(f[c_strong_robust]) : NAN;
        strong[METRIC_SUCCESS] = isnan(strong[METRIC_CLEAN]) ||
                                 isnan(strong[METRIC_ROBUST]) ? NAN
                                 : strong[METRIC_CLEAN] > 0
                                 ? 1 - strong[METRIC_ROBUST] / strong[METRIC_CLEAN]
                                 : 0;
        r->strong_n = c_strong_n >= 0 ? atoi(f[c_strong_n]) : 0;
        r->strong_ensemble = xstrdup(c_strong_ensemble >= 0 ?
                                     f[c_strong_ensemble] : "");
        for (int k = 0; k < CERT_RADII; k++)
            r->cert[k] = c_cert[k] >= 0 ? number_or_nan(f[c_cert[k]]) : NAN;
        r->lipschitz = c_lipschitz >= 0 ? number_or_nan(f[c_lipschitz]) : NAN;
        r->diverged_step = xstrdup(c_step >= 0 ? f[c_step] : "");
        r->cell = xstrdup(c_cell >= 0 ? f[c_cell] : "");
        rs->n++;
    }
    csv_free(&t);
    return 0;
}

void runs_free(runs *rs)
{
    for (int i = 0; i < rs->n; i++) {
        free(rs->r[i].diverged_step);
        free(rs->r[i].strong_ensemble);
        free(rs->r[i].cell);
    }
    free(rs->r);
    strvec_free(&rs->models);
    free(rs->path);
    free(rs->dir);
    memset(rs, 0, sizeof *rs);
}

int runs_have_cert(const runs *rs)
{
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].ok && !isnan(rs->r[i].cert[0]))
            return 1;
    return 0;
}

const run_row *runs_find(const runs *rs, int model, int seed, double eps)
{
    for (int i = 0; i < rs->n; i++) {
        const run_row *r = &rs->r[i];
        if (r->ok && r->model == model && r->seed == seed && r->eps == eps)
            return r;
    }
    return NULL;
}

int run_has(const run_row *r, int eval)
{
    return r->ok && !isnan(r->metric[eval][METRIC_ROBUST]) &&
           !isnan(r->metric[eval][METRIC_CLEAN]);
}

int runs_count(const runs *rs, int eval, double eps)
{
    int n = 0;
    for (int i = 0; i < rs->n; i++)
        n += run_has(&rs->r[i], eval) && rs->r[i].eps == eps;
    return n;
}

int runs_robust_gap(const runs *rs, int model, double eps, robust_gap *out)
{
    size_t cap = (size_t)(rs->n ? rs->n : 1);
    double *pgd = xmalloc(cap * sizeof *pgd), *strong = xmalloc(cap * sizeof *strong);
    double *gap = xmalloc(cap * sizeof *gap);
    int n = 0;
    for (int i = 0; i < rs->n; i++) {
        const run_row *r = &rs->r[i];
        if (r->model != model || r->eps != eps || !run_has(r, EVAL_PGD) ||
            !run_has(r, EVAL_STRONG))
            continue;
        pgd[n] = r->metric[EVAL_PGD][METRIC_ROBUST];
        strong[n] = r->metric[EVAL_STRONG][METRIC_ROBUST];
        gap[n] = pgd[n] - strong[n];
        n++;
    }
    out->n = n;
    mean_sd(pgd, n, &out->pgd, &out->pgd_sd);
    mean_sd(strong, n, &out->strong, &out->strong_sd);
    mean_sd(gap, n, &out->gap, &out->gap_sd);
    free(pgd);
    free(strong);
    free(gap);
    return n;
}

double *runs_loss_curve(const runs *rs, const run_row *row, int *n)
{
    *n = 0;
    if (!row->cell[0])
        return NULL;
    char *dir = path_join(rs->dir, row->cell);
    char *path = path_join(dir, "train_loss.csv");
    free(dir);
    csv_table t;
    char err[512];
    double *v = NULL;
    if (csv_read(path, &t, err, sizeof err) == 0) {
        int c = csv_column(&t, "loss");
        if (c >= 0 && t.nrow > 0) {
            v = xmalloc((size_t)t.nrow * sizeof *v);
            for (int i = 0; i < t.nrow; i++)
                v[i] = number_or_nan(t.rows[i][c]);
            *n = t.nrow;
        }
        csv_free(&t);
    }
    free(path);
    return v;
}
