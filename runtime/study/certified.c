/* certified.c - the report's certified-robustness section; see
 * certified.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "certified.h"
#include "stats.h"
#include "text.h"

/* The certificate of (model, seed): the first ok row that has one (a
 * cell's rows at each eps share one checkpoint, so one certificate). */
static const run_row *cert_run(const runs *rs, int model, int seed)
{
    for (int i = 0; i < rs->n; i++) {
        const run_row *r = &rs->r[i];
        if (r->ok && r->model == model && r->seed == seed && !isnan(r->cert[0]))
            return r;
    }
    return NULL;
}

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static int cmp_double(const void *a, const void *b)
{
    return (*(const double *)a > *(const double *)b) - (*(const double *)a < *(const double *)b);
}

/* The seeds with a certificate, sorted, into seeds[]; returns how many. */
static int cert_seeds(const runs *rs, int *seeds)
{
    int n = 0;
    for (int i = 0; i < rs->n; i++) {
        const run_row *r = &rs->r[i];
        if (!r->ok || isnan(r->cert[0]))
            continue;
        int seen = 0;
        for (int k = 0; k < n; k++)
            seen |= seeds[k] == r->seed;
        if (!seen)
            seeds[n++] = r->seed;
    }
    qsort(seeds, (size_t)n, sizeof *seeds, cmp_int);
    return n;
}

/* Per model: seeds, clean accuracy, the bound's median, certified
 * accuracy at each radius. */
static void put_cert_means(FILE *f, const runs *rs, const int *seeds, int nseeds)
{
    fprintf(f, "| model | n | clean acc | L (median) |");
    for (int k = 0; k < CERT_RADII; k++)
        fprintf(f, " cert acc %d/255 |", cert_radii_255[k]);
    fprintf(f, "\n|---|---:|---:|---:|");
    for (int k = 0; k < CERT_RADII; k++)
        fprintf(f, "---:|");
    fputc('\n', f);
    double *v = xmalloc((size_t)nseeds * sizeof *v);
    double *l = xmalloc((size_t)nseeds * sizeof *l);
    const run_row **runs_of = xmalloc((size_t)nseeds * sizeof *runs_of);
    for (int m = 0; m < rs->models.n; m++) {
        int n = 0;
        for (int s = 0; s < nseeds; s++)
            if ((runs_of[n] = cert_run(rs, m, seeds[s])))
                n++;
        if (n == 0)
            continue;
        fprintf(f, "| %s | %d | ", rs->models.v[m], n);
        for (int i = 0; i < n; i++) {
            v[i] = runs_of[i]->metric[EVAL_PGD][METRIC_CLEAN];
            l[i] = runs_of[i]->lipschitz;
        }
        mean_sd_print(f, v, n);
        qsort(l, (size_t)n, sizeof *l, cmp_double);
        fprintf(f, " | %.4g |", n % 2 ? l[n / 2] : (l[n / 2 - 1] + l[n / 2]) / 2);
        for (int k = 0; k < CERT_RADII; k++) {
            for (int i = 0; i < n; i++)
                v[i] = runs_of[i]->cert[k];
            fputc(' ', f);
            mean_sd_print(f, v, n);
            fputs(" |", f);
        }
        fputc('\n', f);
    }
    fputc('\n', f);
    free(v);
    free(l);
    free(runs_of);
}

typedef struct cert_test {
    int model, radius;
    ttest t;
    double holm;
} cert_test;

void report_certified(FILE *f, const runs *rs, const char *baseline, double level)
{
    if (!runs_have_cert(rs))
        return;
    int *seeds = xmalloc((size_t)(rs->n ? rs->n : 1) * sizeof *seeds);
    int nseeds = cert_seeds(rs, seeds);
    fprintf(f, "## Certified robustness (L2)\n\n"
            "`MODEL certify` on each cell's checkpoint (docs/METHODS.md 10): "
            "an image is certified at radius r when its logit margin m "
            "satisfies m / (sqrt(2) L) >= r, with L a sound upper bound of "
            "the network's Lipschitz constant (the product of each layer's "
            "operator-norm bound); certified accuracy is the share of the "
            "test images certified and classified right. Mean and sample "
            "standard deviation over the seeds (n); L is the median over "
            "them. Quantised and randomised models are refused and have no "
            "row.\n\n");
    put_cert_means(f, rs, seeds, nseeds);
    int b = runs_model(rs, baseline);
    int have_b = 0;
    for (int s = 0; b >= 0 && s < nseeds; s++)
        have_b |= cert_run(rs, b, seeds[s]) != NULL;
    if (!have_b) {
        fprintf(f, "No `%s` run with certified accuracy: no tests.\n\n", baseline);
        free(seeds);
        return;
    }
    cert_test *tests = xcalloc((size_t)rs->models.n * CERT_RADII, sizeof *tests);
    double *x = xmalloc((size_t)nseeds * sizeof *x), *y = xmalloc((size_t)nseeds * sizeof *y);
    int nt = 0;
    for (int m = 0; m < rs->models.n; m++) {
        if (m == b)
            continue;
        for (int k = 0; k < CERT_RADII; k++) {
            int n = 0;
            for (int s = 0; s < nseeds; s++) {
                const run_row *rm = cert_run(rs, m, seeds[s]), *rb = cert_run(rs, b, seeds[s]);
                if (rm && rb) {
                    x[n] = rm->cert[k];
                    y[n++] = rb->cert[k];
                }
            }
            if (n == 0)
                break;
            tests[nt].model = m;
            tests[nt].radius = k;
            ttest_paired(x, y, n, TTEST_GREATER, &tests[nt].t);
            nt++;
        }
    }
    double *p = xmalloc((size_t)(nt ? nt : 1) * sizeof *p), *adj = xmalloc((size_t)(nt ? nt : 1) * sizeof *adj);
    for (int i = 0; i < nt; i++)
        p[i] = tests[i].t.p;
    holm_adjust(p, adj, nt);
    fprintf(f, "### Does a model raise certified accuracy over `%s`?\n\n"
            "One-sided paired t-tests (model - %s > 0) on the seeds both "
            "have; Holm's correction over the %d tests of this table; a "
            "model raises certified accuracy at a radius when its Holm p is "
            "below %g.\n\n| model | radius | n | mean diff | 95%% CI | t | p "
            "| Holm p | note |\n|---|---:|---:|---:|---|---:|---:|---:|---|\n",
            baseline, baseline, nt, level);
    for (int i = 0; i < nt; i++) {
        const ttest *t = &tests[i].t;
        tests[i].holm = adj[i];
        fprintf(f, "| %s | %d/255 | %d | %+.4f | ", rs->models.v[tests[i].model],
                cert_radii_255[tests[i].radius], t->n, t->mean_d);
        if (isnan(t->ci_lo))
            fputs("n/a", f);
        else
            fprintf(f, "[%+.4f, %+.4f]", t->ci_lo, t->ci_hi);
        if (isnan(t->t))
            fputs(" | n/a | ", f);
        else
            fprintf(f, " | %.3f | ", t->t);
        p_print(f, t->p);
        fputs(" | ", f);
        p_print(f, adj[i]);
        fprintf(f, " | %s |\n", t->note ? t->note : "");
    }
    fputc('\n', f);
    /* one verdict per model */
    for (int i = 0; i < nt;) {
        int m = tests[i].model, j = i, raised = 0, open = 0;
        for (; j < nt && tests[j].model == m; j++) {
            if (tests[j].holm < level && tests[j].t.mean_d > 0)
                raised |= 1 << tests[j].radius;
            else if (isnan(tests[j].holm) && tests[j].t.mean_d > 0)
                open = 1;
        }
        fprintf(f, "- `%s`: ", rs->models.v[m]);
        if (raised) {
            fprintf(f, "raises certified accuracy over `%s` at", baseline);
            for (int k = 0, first = 1; k < CERT_RADII; k++)
                if (raised & 1 << k) {
                    fprintf(f, "%s %d/255", first ? "" : ",", cert_radii_255[k]);
                    first = 0;
                }
            fputs(".\n", f);
        } else if (open) {
            fprintf(f, "cannot be decided: a positive difference without a "
                    "test (too few seeds, or the same difference on every "
                    "seed).\n");
        } else {
            fprintf(f, "does not raise certified accuracy over `%s` at any "
                    "radius (Holm p >= %g, or no positive difference).\n", baseline,
                    level);
        }
        i = j;
    }
    fputc('\n', f);
    free(p);
    free(adj);
    free(x);
    free(y);
    free(tests);
    free(seeds);
}
