/* compare.c - pairing runs by seed and testing them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "compare.h"

void compare_all(const runs *rs, const char *baseline, const double *eps,
                 int neps, int eval, comparisons *out)
{
    memset(out, 0, sizeof *out);
    out->eval = eval;
    out->baseline = runs_model(rs, baseline);
    int present = 0;
    for (int i = 0; i < rs->n && !present; i++)
        present = run_has(&rs->r[i], eval) && rs->r[i].model == out->baseline;
    if (!present) {     /* a grid's model without results is no baseline */
        out->baseline = -1;
        return;
    }
    int cap = rs->models.n * neps * METRIC_COUNT;
    out->c = xcalloc((size_t)(cap ? cap : 1), sizeof *out->c);
    double *x = xmalloc((size_t)(rs->n ? rs->n : 1) * sizeof *x);
    double *y = xmalloc((size_t)(rs->n ? rs->n : 1) * sizeof *y);
    for (int m = 0; m < rs->models.n; m++) {
        if (m == out->baseline)
            continue;
        for (int e = 0; e < neps; e++)
            for (int k = 0; k < METRIC_COUNT; k++) {
                int n = 0;
                for (int i = 0; i < rs->n; i++) {
                    const run_row *r = &rs->r[i];
                    if (!run_has(r, eval) || r->model != m || r->eps != eps[e])
                        continue;
                    const run_row *b = runs_find(rs, out->baseline, r->seed,
                                                 eps[e]);
                    if (!b || !run_has(b, eval))
                        continue;
                    x[n] = r->metric[eval][k];
                    y[n] = b->metric[eval][k];
                    n++;
                }
                comparison *c = &out->c[out->n++];
                c->model = m;
                c->eps = eps[e];
                c->metric = k;
                ttest_paired(x, y, n, metric_better[k] > 0 ? TTEST_GREATER
                                                           : TTEST_LESS, &c->t);
                c->p_two = isnan(c->t.p) ? NAN
                           : fmin(1.0, 2.0 * fmin(c->t.p, 1.0 - c->t.p));
            }
    }
    free(x);
    free(y);
    double *p = xmalloc((size_t)(out->n ? out->n : 1) * sizeof *p);
    double *adj = xmalloc((size_t)(out->n ? out->n : 1) * sizeof *adj);
    for (int i = 0; i < out->n; i++) {
        p[i] = out->c[i].t.p;
        out->tests += !isnan(p[i]);
    }
    holm_adjust(p, adj, out->n);
    for (int i = 0; i < out->n; i++)
        out->c[i].holm = adj[i];
    free(p);
    free(adj);
}

void comparisons_free(comparisons *cs)
{
    free(cs->c);
    memset(cs, 0, sizeof *cs);
}

const comparison *compare_find(const comparisons *cs, int model, double eps,
                               int metric)
{
    for (int i = 0; i < cs->n; i++)
        if (cs->c[i].model == model && cs->c[i].eps == eps &&
            cs->c[i].metric == metric)
            return &cs->c[i];
    return NULL;
}
