/* report.c - the report page.  Every claim of the seed report is decided
 * by a stated rule on the tests of the table, at the 5% level after
 * Holm's correction, so that a reader can check the verdict by hand. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mkdirs.h"
#include "atomic_file.h"
#include "certified.h"
#include "compare.h"
#include "csv.h"
#include "fsutil.h"
#include "json.h"
#include "plots.h"
#include "report.h"
#include "runs.h"

#define LEVEL 0.05          /* significance level of the verdicts */
#define LITTLE 0.02         /* "changes little": under 2 percentage points */
#define NEARLY (2.0 / 3.0)  /* "nearly as much": two thirds of the cut */
#define MAX_MISSING_LINES 40

typedef struct ctx {
    const grid *g;
    const runs *rs;
    const comparisons *cs;  /* the tests of the evaluation being judged */
    const double *eps;      /* the eps it has */
    int neps;
    const char *baseline;
    const model_settings *ms;   /* the baseline's (the report's PGD) */
    FILE *f;
} ctx;

enum verdict { UNDECIDED, NOT_CONFIRMED, CONFIRMED, REFUTED };
static const char *const verdict_names[] = {
    "cannot be decided", "not confirmed", "confirmed", "refuted"
};

static void put_signed(FILE *f, double x)
{
    if (isnan(x))
        fputs("n/a", f);
    else
        fprintf(f, "%+.4f", x);
}

static int any_ok(const runs *rs, int m, int seed, int use_seed)
{
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].ok && (m < 0 || rs->r[i].model == m) &&
            (!use_seed || rs->r[i].seed == seed))
            return 1;
    return 0;
}

static int any_row(const runs *rs, int m)
{
    for (int i = 0; i < rs->n; i++)
        if (rs->r[i].model == m)
            return 1;
    return 0;
}

/* What the grid expects and the results file lacks. */
static void put_missing(ctx *c)
{
    const grid *g = c->g;
    const runs *rs = c->rs;
    FILE *f = c->f;
    int lines = 0, more = 0;
    fprintf(f, "## What is missing\n\n");
#define LINE(...) do { if (lines < MAX_MISSING_LINES) { \
        fprintf(f, "- " __VA_ARGS__); lines++; } else more++; } while (0)
    unsigned char *seed_gone = xcalloc((size_t)g->nseeds, 1);
    for (int s = 0; s < g->nseeds; s++)
        if (!any_ok(rs, -1, g->seeds[s], 1)) {
            seed_gone[s] = 1;
            LINE("seed %d: no results for any model\n", g->seeds[s]);
        }
    for (int gm = 0; gm < g->models.n; gm++) {
        int m = runs_model(rs, g->models.v[gm]);
        if (m < 0 || !any_ok(rs, m, 0, 0)) {
            LINE("`%s`: no results%s\n", g->models.v[gm],
                 m >= 0 && any_row(rs, m) ? " (every run failed)" : "");
            continue;
        }
        for (int s = 0; s < g->nseeds; s++) {
            if (seed_gone[s])
                continue;
            char list[256] = "";
            int miss = 0;
            for (int e = 0; e < g->neps; e++)
                if (!runs_find(rs, m, g->seeds[s], g->eps[e])) {
                    snprintf(list + strlen(list), sizeof list - strlen(list),
                             "%s%g", miss ? ", " : "", g->eps[e]);
                    miss++;
                }
            if (miss == g->neps)
                LINE("`%s` seed %d: no results\n", g->models.v[gm], g->seeds[s]);
            else if (miss)
                LINE("`%s` seed %d: eps %s missing\n", g->models.v[gm],
                     g->seeds[s], list);
        }
    }
    for (int gm = 0; g->desc && gm < g->models.n; gm++)
        if (!g->desc[gm].text)
            LINE("`%s`: no description (no binary %s/%s, no cell kept one): "
                 "the findings cannot tell what it is\n", g->models.v[gm],
                 g->bin, g->models.v[gm]);
    for (int i = 0; i < rs->n; i++) {
        const run_row *r = &rs->r[i];
        if (!r->ok)
            LINE("`%s` seed %d eps %g: failed (%s%s)\n",
                 rs->models.v[r->model], r->seed, r->eps,
                 r->diverged_step[0] ? "training diverged at step " :
                 "status not ok", r->diverged_step);
    }
#undef LINE
    if (more)
        fprintf(f, "- ... and %d more\n", more);
    if (lines == 0)
        fprintf(f, "Nothing: every model, seed and eps of the grid has its "
                "results.\n");
    if (c->cs->baseline < 0)
        fprintf(f, "\n**No `%s` results: nothing to compare against, so no "
                "tests and no verdicts.**\n", c->baseline);
    fputc('\n', f);
    free(seed_gone);
}

static void put_means(ctx *c)
{
    const runs *rs = c->rs;
    FILE *f = c->f;
    fprintf(f, "## Means over seeds\n\nMean and sample standard deviation "
            "(n - 1) over the seeds with results; n is their number.\n\n"
            "| model | eps | n | clean acc | robust acc | attack success |\n"
            "|---|---:|---:|---:|---:|---:|\n");
    double *v = xmalloc((size_t)(rs->n ? rs->n : 1) * sizeof *v);
    for (int m = 0; m < rs->models.n; m++)
        for (int e = 0; e < c->g->neps; e++) {
            double eps = c->g->eps[e];
            int n = 0;
            for (int k = 0; k < METRIC_COUNT; k++) {
                n = 0;
                for (int i = 0; i < rs->n; i++)
                    if (run_has(&rs->r[i], EVAL_PGD) && rs->r[i].model == m &&
                        rs->r[i].eps == eps)
                        v[n++] = rs->r[i].metric[EVAL_PGD][k];
                if (n == 0)
                    break;
                if (k == 0)
                    fprintf(f, "| %s | %g | %d ", rs->models.v[m], eps, n);
                fputs("| ", f);
                mean_sd_print(f, v, n);
                fputc(' ', f);
            }
            if (n)
                fputs("|\n", f);
        }
    free(v);
    fputc('\n', f);
}

/* heading: "## Paired tests against `%s`" or the like, given the baseline */
static void put_tests(ctx *c, const char *heading)
{
    const comparisons *cs = c->cs;
    FILE *f = c->f;
    if (cs->baseline < 0)
        return;
    fprintf(f, heading, c->baseline);
    fprintf(f, "\n\n"
            "For each model, eps and metric: a one-sided paired t-test on the "
            "runs that share a seed, in the direction of improvement (higher "
            "accuracy, lower attack success). Mean difference = model - "
            "baseline; 95%% confidence interval two-sided; marks from p: "
            "*** p < 0.01, ** p < 0.05, * p < 0.1. Holm's correction runs "
            "over all %d tests of the table.\n\n"
            "| model | eps | metric | n | mean diff | 95%% CI | t | p | | "
            "Holm p | note |\n|---|---:|---|---:|---:|---|---:|---:|---|---:|---|\n",
            cs->tests);
    for (int i = 0; i < cs->n; i++) {
        const comparison *x = &cs->c[i];
        fprintf(f, "| %s | %g | %s | %d | ", c->rs->models.v[x->model], x->eps,
                metric_names[x->metric], x->t.n);
        put_signed(f, x->t.mean_d);
        fputs(" | ", f);
        if (isnan(x->t.ci_lo))
            fputs("n/a", f);
        else
            fprintf(f, "[%+.4f, %+.4f]", x->t.ci_lo, x->t.ci_hi);
        fputs(" | ", f);
        if (isnan(x->t.t))
            fputs("n/a", f);
        else
            fprintf(f, "%.3f", x->t.t);
        fputs(" | ", f);
        p_print(f, x->t.p);
        fprintf(f, " | %s | ", p_marks(x->t.p));
        p_print(f, x->holm);
        fprintf(f, " | %s |\n", x->t.note ? x->t.note : "");
    }
    fputc('\n', f);
}

/* The machine-readable test table: the tests of every evaluation, each
 * row saying which (the last column). */
static int write_stats_csv(ctx *c, const char *dir, const comparisons *const *all,
                           int nall)
{
    char *path = path_join(dir, "stats.csv");
    atomic_file af;
    if (atomic_open(&af, path) != 0) {
        fprintf(stderr, "advcc-study: %s: %s\n", path, strerror(errno));
        free(path);
        return -1;
    }
    fprintf(af.fp, "model,baseline,eps_255,metric,alternative,n,mean_model,"
            "mean_baseline,mean_diff,sd_diff,ci_lo,ci_hi,t,df,p,marks,holm_p,"
            "p_two_sided,note,evaluation\n");
    for (int a = 0; a < nall; a++)
        for (int i = 0; i < all[a]->n; i++) {
            const comparison *x = &all[a]->c[i];
            const ttest *t = &x->t;
            fprintf(af.fp, "%s,%s,%g,%s,%s,%d,%.10g,%.10g,%.10g,%.10g,%.10g,"
                    "%.10g,%.10g,%.10g,%.10g,%s,%.10g,%.10g,",
                    c->rs->models.v[x->model], c->baseline, x->eps,
                    metric_columns[x->metric],
                    metric_better[x->metric] > 0 ? "greater" : "less", t->n,
                    t->mean_x, t->mean_y, t->mean_d, t->sd_d, t->ci_lo,
                    t->ci_hi, t->t, t->df, t->p, p_marks(t->p), x->holm,
                    x->p_two);
            csv_put(af.fp, t->note ? t->note : "");
            fprintf(af.fp, ",%s\n", evaluation_keys[all[a]->eval]);
        }
    int rc = atomic_commit(&af);
    if (rc != 0)
        fprintf(stderr, "advcc-study: %s: %s\n", path, strerror(errno));
    free(path);
    return rc;
}

/* ---- the claims ---- */

/* The models the findings are about are found by what they are, from
 * their descriptions (model_desc.h), not by their names: the model that
 * adds one patch to another, and what that patch brings. */

/* The description of the runs' model rm; NULL when the grid has none. */
static const model_desc *desc_of(const ctx *c, int rm)
{
    int gm = rm >= 0 && c->g->desc ? grid_model_index(c->g, c->rs->models.v[rm]) : -1;
    return gm >= 0 ? &c->g->desc[gm] : NULL;
}

enum twin { TWIN_RSE, TWIN_QUANT, TWIN_REG };
static const char *const twin_what[] = {
    "noise layers or an ensemble (RSE)", "quantisation", "regularisation"
};

/* The first model (runs index) that is the baseline plus one patch, not
 * trained adversarially, that brings what `what` names: noise layers or
 * an ensemble, quantisers (and nothing of RSE), regularisers (and
 * nothing else); -1 when none. */
static int baseline_twin(const ctx *c, int what)
{
    const model_desc *b = desc_of(c, runs_model(c->rs, c->baseline));
    for (int m = 0; b && m < c->rs->models.n; m++) {
        const model_desc *d = desc_of(c, m);
        if (!d || d == b || d->adversarial || !model_desc_adds(d, b))
            continue;
        int rse = d->noise > b->noise || d->ensemble > b->ensemble;
        if (what == TWIN_RSE ? rse
            : what == TWIN_QUANT ? !rse && d->quantize > b->quantize
            : !rse && d->quantize == b->quantize && d->regularize > b->regularize)
            return m;
    }
    return -1;
}

/* Significant in the claimed direction, against it, or neither. */
static int judge(const comparison *x, int want_sign)
{
    if (!x || isnan(x->t.p))
        return UNDECIDED;
    if (x->holm < LEVEL && x->t.mean_d * want_sign > 0)
        return CONFIRMED;
    if (x->p_two < LEVEL && x->t.mean_d * want_sign < 0)
        return REFUTED;
    return NOT_CONFIRMED;
}

/* Folds one judgement into a claim's verdict: any refutation refutes,
 * any gap leaves it undecided or unconfirmed. */
static int fold(int verdict, int one, int first)
{
    if (first)
        return one;
    if (verdict == REFUTED || one == REFUTED)
        return REFUTED;
    if (verdict == UNDECIDED || one == UNDECIDED)
        return UNDECIDED;
    if (verdict == NOT_CONFIRMED || one == NOT_CONFIRMED)
        return NOT_CONFIRMED;
    return CONFIRMED;
}

static void put_test_brief(FILE *f, const comparison *x)
{
    if (!x) {
        fputs("no data", f);
        return;
    }
    put_signed(f, x->t.mean_d);
    if (isnan(x->t.p)) {
        fprintf(f, " (%s)", x->t.note ? x->t.note : "no test");
        return;
    }
    fputs(" (p ", f);
    p_print(f, x->t.p);
    fputs(", Holm ", f);
    p_print(f, x->holm);
    fprintf(f, ", n %d)", x->t.n);
}

static int claim_adversarial(ctx *c)
{
    const grid *g = c->g;
    FILE *f = c->f;
    char *body = NULL;
    size_t len = 0;
    FILE *b = open_memstream(&body, &len);
    int verdict = UNDECIDED, first = 1;
    for (int gm = 0; gm < g->models.n; gm++) {
        if (!g->adversarial[gm])
            continue;
        int m = runs_model(c->rs, g->models.v[gm]);
        for (int k = METRIC_CLEAN; k <= METRIC_ROBUST; k++) {
            fprintf(b, "   - `%s`, %s:", g->models.v[gm], metric_names[k]);
            for (int e = 0; e < c->neps; e++) {
                const comparison *x = m < 0 ? NULL :
                    compare_find(c->cs, m, c->eps[e], k);
                fprintf(b, "%s eps %g: ", e ? ";" : "", c->eps[e]);
                put_test_brief(b, x);
                verdict = fold(verdict, judge(x, +1), first);
                first = 0;
            }
            fputc('\n', b);
        }
    }
    fclose(b);
    fprintf(f, "1. *All adversarially trained models gain both clean and robust "
            "accuracy.* **%s.**\n", first ? "cannot be decided" :
            verdict_names[verdict]);
    if (first)
        fprintf(f, "   The grid trains no model adversarially.\n");
    else
        fprintf(f, "   Rule: confirmed when every adversarially trained model "
                "is better than the baseline in clean and in robust accuracy "
                "at every eps (one-sided, Holm p < %g); refuted when one is "
                "worse (two-sided p < %g). Mean differences:\n%s", LEVEL,
                LEVEL, body);
    free(body);
    return first ? UNDECIDED : verdict;
}

static int claim_rse(ctx *c)
{
    const grid *g = c->g;
    FILE *f = c->f;
    int rse = baseline_twin(c, TWIN_RSE);
    fprintf(f, "2. *RSE cuts attack success nearly as much as adversarial "
            "training.* ");
    if (rse < 0 || c->cs->baseline < 0) {
        if (rse < 0)
            fprintf(f, "**cannot be decided.** No model is `%s` plus %s.\n",
                    c->baseline, twin_what[TWIN_RSE]);
        else
            fprintf(f, "**cannot be decided.** No `%s` results.\n", c->baseline);
        return UNDECIDED;
    }
    const char *rse_name = c->rs->models.v[rse];
    int verdict = UNDECIDED, first = 1;
    char *body = NULL;
    size_t len = 0;
    FILE *b = open_memstream(&body, &len);
    for (int e = 0; e < c->neps; e++) {
        const comparison *x = compare_find(c->cs, rse, c->eps[e], METRIC_SUCCESS);
        double cut = 0;
        int nadv = 0;
        for (int gm = 0; gm < g->models.n; gm++) {
            int m = g->adversarial[gm] ? runs_model(c->rs, g->models.v[gm]) : -1;
            const comparison *a = m < 0 ? NULL :
                compare_find(c->cs, m, c->eps[e], METRIC_SUCCESS);
            if (a && !isnan(a->t.mean_d)) {
                cut += -a->t.mean_d;
                nadv++;
            }
        }
        int one = judge(x, -1);
        fprintf(b, "   - eps %g: `%s` ", c->eps[e], rse_name);
        put_test_brief(b, x);
        if (nadv == 0) {
            fprintf(b, "; no adversarially trained model to compare with\n");
            one = UNDECIDED;
        } else {
            cut /= nadv;
            double ratio = x ? -x->t.mean_d / cut : NAN;
            fprintf(b, "; adversarial training cuts it by %.4f on average; "
                    "ratio %.2f\n", cut, ratio);
            if (one == CONFIRMED && !(ratio >= NEARLY))
                one = NOT_CONFIRMED;
        }
        verdict = fold(verdict, one, first);
        first = 0;
    }
    fclose(b);
    fprintf(f, "**%s.**\n   Rule: confirmed when at every eps the attack "
            "success of `%s` (the baseline plus %s) is below the baseline's "
            "(one-sided, Holm p < %g) and its cut is at least %.0f%% of the "
            "mean cut of the adversarially trained models; refuted when its "
            "success is higher (two-sided p < %g).\n%s", verdict_names[verdict], rse_name,
            twin_what[TWIN_RSE], LEVEL, 100 * NEARLY, LEVEL, body);
    free(body);
    return verdict;
}

static int claim_little(ctx *c)
{
    FILE *f = c->f;
    static const int twins[] = { TWIN_QUANT, TWIN_REG };
    const char *names[2];
    int verdict = UNDECIDED, first = 1;
    char *body = NULL;
    size_t len = 0;
    FILE *b = open_memstream(&body, &len);
    for (int i = 0; i < 2; i++) {
        int m = baseline_twin(c, twins[i]);
        names[i] = m >= 0 ? c->rs->models.v[m] : "?";
        if (m < 0 || c->cs->baseline < 0) {
            if (m < 0)
                fprintf(b, "   - no model is `%s` plus %s alone\n", c->baseline,
                        twin_what[twins[i]]);
            else
                fprintf(b, "   - `%s`: no results\n", names[i]);
            verdict = fold(verdict, UNDECIDED, first);
            first = 0;
            continue;
        }
        const comparison *worst = NULL;
        int changes = 0, gaps = 0, wide = 0;
        for (int e = 0; e < c->neps; e++)
            for (int k = 0; k < METRIC_COUNT; k++) {
                const comparison *x = compare_find(c->cs, m, c->eps[e], k);
                if (!x || isnan(x->t.mean_d)) {
                    gaps++;
                    continue;
                }
                if (!worst || fabs(x->t.mean_d) > fabs(worst->t.mean_d))
                    worst = x;
                if (x->t.n < 2) {   /* one pair is no evidence either way */
                    gaps++;
                    continue;
                }
                int big = fabs(x->t.mean_d) >= LITTLE;
                /* a difference without a test (zero variance over two or
                 * more seeds) is judged by its size alone */
                int signif = isnan(x->p_two) ? 1 : x->p_two < LEVEL;
                if (big && signif) {
                    changes++;
                    fprintf(b, "   - `%s` changes %s at eps %g by ", names[i],
                            metric_names[k], c->eps[e]);
                    put_signed(b, x->t.mean_d);
                    fputs(" (two-sided p ", b);
                    p_print(b, x->p_two);
                    fputs(")\n", b);
                }
                /* equivalence: the whole interval inside the margin */
                if (isnan(x->t.ci_lo) ? big
                    : x->t.ci_lo <= -LITTLE || x->t.ci_hi >= LITTLE)
                    wide++;
            }
        if (!changes && worst) {
            fprintf(b, "   - `%s`: largest difference %s at eps %g: ", names[i],
                    metric_names[worst->metric], worst->eps);
            put_signed(b, worst->t.mean_d);
            fputs(" (two-sided p ", b);
            p_print(b, worst->p_two);
            if (!isnan(worst->t.ci_lo))
                fprintf(b, ", 95%% CI [%+.4f, %+.4f]", worst->t.ci_lo,
                        worst->t.ci_hi);
            if (gaps == c->neps * METRIC_COUNT)
                fprintf(b, "); %s\n", worst->t.note ? worst->t.note : "no test");
            else
                fprintf(b, "); %d of %d intervals reach past +-%g\n", wide,
                        c->neps * METRIC_COUNT - gaps, LITTLE);
        }
        int one = changes ? REFUTED : gaps || !worst ? UNDECIDED
                  : wide ? NOT_CONFIRMED : CONFIRMED;
        verdict = fold(verdict, one, first);
        first = 0;
    }
    fclose(b);
    fprintf(f, "3. *Quantisation and regularisation alone change little.* "
            "**%s.**\n   Rule: refuted when the baseline plus quantisation "
            "alone (`%s`) or plus regularisation alone (`%s`) differs from the "
            "baseline in any metric at any eps by %.0f percentage points or "
            "more with two-sided p < %g (Holm not applied: it would favour "
            "the claim); confirmed when every 95%% interval of the "
            "differences lies within +-%g (an equivalence test); not "
            "confirmed when neither holds.\n%s", verdict_names[verdict],
            names[0], names[1], 100 * LITTLE, LEVEL, LITTLE, body);
    free(body);
    return verdict;
}

/* The model a regularised one is compared with: the same model without
 * the patch that brings the regulariser (quant_adv_reg = baseline + quant
 * + adv + reg against quant_adv = baseline + quant + adv); -1 if none. */
static int unregularised(const ctx *c, int m)
{
    const model_desc *dm = desc_of(c, m);
    for (int u = 0; dm && dm->regularize && u < c->rs->models.n; u++) {
        const model_desc *du = desc_of(c, u);
        if (du && !du->regularize && model_desc_adds(dm, du))
            return u;
    }
    return -1;
}

static int same_eps(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static int claim_convergence(ctx *c)
{
    const runs *rs = c->rs;
    FILE *f = c->f;
    typedef struct pair_test { int m, u; ttest t; } pair_test;
    pair_test *tests = xcalloc((size_t)rs->models.n + 1, sizeof *tests);
    int ntests = 0;
    char *body = NULL;
    size_t len = 0;
    FILE *b = open_memstream(&body, &len);
    double *x = xmalloc((size_t)(rs->n + 1) * sizeof *x);
    double *y = xmalloc((size_t)(rs->n + 1) * sizeof *y);
    for (int m = 0; m < rs->models.n; m++) {
        int u = unregularised(c, m);
        if (u < 0)
            continue;
        /* pair the cells of m and u that share seed and training eps */
        int n = 0;
        char **seen = xcalloc((size_t)rs->n + 1, sizeof *seen);
        int nseen = 0;
        for (int i = 0; i < rs->n; i++) {
            const run_row *r = &rs->r[i];
            if (!r->ok || r->model != m)
                continue;
            int dup = 0;
            for (int k = 0; k < nseen && !dup; k++)
                dup = !strcmp(seen[k], r->cell);
            if (dup)
                continue;
            seen[nseen++] = r->cell;
            const run_row *q = NULL;
            for (int j = 0; j < rs->n && !q; j++)
                if (rs->r[j].ok && rs->r[j].model == u &&
                    rs->r[j].seed == r->seed &&
                    same_eps(rs->r[j].train_eps, r->train_eps))
                    q = &rs->r[j];
            if (!q)
                continue;
            int na, nb;
            double *ca = runs_loss_curve(rs, r, &na);
            double *cb = runs_loss_curve(rs, q, &nb);
            if (ca && cb) {
                int common = na < nb ? na : nb;
                x[n] = curve_mean(ca, common);
                y[n] = curve_mean(cb, common);
                n++;
            }
            free(ca);
            free(cb);
        }
        free(seen);
        pair_test *p = &tests[ntests++];
        p->m = m;
        p->u = u;
        ttest_paired(x, y, n, TTEST_GREATER, &p->t);
    }
    free(x);
    free(y);
    double *pv = xmalloc((size_t)(ntests + 1) * sizeof *pv);
    double *adj = xmalloc((size_t)(ntests + 1) * sizeof *adj);
    for (int i = 0; i < ntests; i++)
        pv[i] = tests[i].t.p;
    holm_adjust(pv, adj, ntests);
    int verdict = UNDECIDED;
    for (int i = 0; i < ntests; i++) {
        const ttest *t = &tests[i].t;
        comparison as_test = { .t = *t, .holm = adj[i],
                            .p_two = isnan(t->p) ? NAN :
                                     fmin(1, 2 * fmin(t->p, 1 - t->p)) };
        verdict = fold(verdict, judge(&as_test, +1), i == 0);
        fprintf(b, "   - `%s` against `%s`: mean loss %.4f against %.4f, "
                "difference ", rs->models.v[tests[i].m],
                rs->models.v[tests[i].u], t->mean_x, t->mean_y);
        put_test_brief(b, &as_test);
        fputc('\n', b);
    }
    fclose(b);
    fprintf(f, "4. *Regularised models converge more slowly.* **%s.**\n",
            ntests ? verdict_names[verdict] : "cannot be decided");
    if (ntests)
        fprintf(f, "   Rule: the mean training loss over all steps (the area "
                "under the loss curve, per step) of each regularised model "
                "against the same model without the regulariser, paired by "
                "seed and training eps; confirmed when every regularised "
                "model's is higher (one-sided, Holm p < %g over these %d "
                "tests); refuted when one is lower (two-sided p < %g).\n%s",
                LEVEL, ntests, LEVEL, body);
    else
        fprintf(f, "   No regularised model with its unregularised "
                "counterpart and training losses in the results.\n");
    free(tests);
    free(adj);
    free(pv);
    free(body);
    return ntests ? verdict : UNDECIDED;
}

static void put_figure(FILE *f, const char *name, const char *caption,
                       int ok, const char *why)
{
    if (ok)
        fprintf(f, "![%s](%s.png)\n\n*%s* ([SVG](%s.svg))\n\n", caption, name,
                caption, name);
    else
        fprintf(f, "*%s: not drawn (%s).*\n\n", caption, why);
}

static void put_figures(ctx *c, const char *dir, const report_opts *o)
{
    FILE *f = c->f;
    char why[1024];
    fprintf(f, "## Figures\n\n");
    if (!o->figures) {
        fprintf(f, "Not drawn (--no-figures).\n\n");
        return;
    }
    int ok = plot_loss(c->rs, c->g->loss_eps, dir, why, sizeof why) == 0;
    put_figure(f, "loss", "Training loss against step, mean over seeds with "
               "a band of one standard deviation", ok, why);
    for (int e = 0; e < c->g->neps; e++) {
        char *name = xasprintf("accuracy-eps%g", c->g->eps[e]);
        char *caption = xasprintf("Clean and robust accuracy and attack "
                                  "success per model at eps %g/255, with the "
                                  "marks of the paired tests", c->g->eps[e]);
        ok = plot_accuracy(c->rs, c->cs, c->g->eps[e], dir, why, sizeof why) == 0;
        put_figure(f, name, caption, ok, why);
        free(name);
        free(caption);
    }
    ok = plot_success(c->rs, c->g->eps, c->g->neps, dir, why, sizeof why) == 0;
    put_figure(f, "success", "Attack success against eps: mean and sample "
               "standard deviation over seeds", ok, why);
    if (!o->features) {
        fprintf(f, "*First-layer feature maps: not drawn (--no-features).*\n\n");
        return;
    }
    char *missing = NULL;
    ok = plot_features(c->rs, c->g, dir, &missing, why, sizeof why) == 0;
    put_figure(f, "features", "First-layer feature maps of one test image "
               "for every model (optional: needs `MODEL features`)", ok, why);
    if (missing)
        fprintf(f, "Feature maps missing for: %s.\n\n", missing);
    free(missing);
}

/* ---- the strong evaluation (docs/METHODS.md 7, 9) ---- */

#define NCLAIMS 4
static const char *const claim_titles[NCLAIMS] = {
    "1. Adversarially trained models gain both clean and robust accuracy",
    "2. RSE cuts attack success nearly as much as adversarial training",
    "3. Quantisation and regularisation alone change little",
    "4. Regularised models converge more slowly",
};
typedef int (*claim_fn)(ctx *c);
static const claim_fn claims[NCLAIMS] = {
    claim_adversarial, claim_rse, claim_little, claim_convergence
};
#define CLAIM_NO_ATTACK 3   /* judged on training losses alone */

static const char *holds(int verdict)
{
    switch (verdict) {
    case CONFIRMED: return "yes";
    case REFUTED: return "no (refuted)";
    case NOT_CONFIRMED: return "no (not confirmed)";
    default: return "cannot be decided";
    }
}

/* The runs the grid asks a strong evaluation of and that lack one. */
static void put_strong_missing(ctx *c)
{
    int lines = 0, more = 0;
    for (int i = 0; i < c->rs->n; i++) {
        const run_row *r = &c->rs->r[i];
        if (!r->ok || !grid_strong_at(c->g, r->eps) || run_has(r, EVAL_STRONG))
            continue;
        if (lines++ == 0)
            fprintf(c->f, "Runs without the strong evaluation the grid asks "
                    "for (finished before it was asked for, or by an older "
                    "version):\n\n");
        if (lines <= MAX_MISSING_LINES)
            fprintf(c->f, "- `%s` seed %d eps %g\n", c->rs->models.v[r->model],
                    r->seed, r->eps);
        else
            more++;
    }
    if (more)
        fprintf(c->f, "- ... and %d more\n", more);
    if (lines)
        fputc('\n', c->f);
}

/* What ran: each model's ensemble and the images it saw. */
static void put_strong_setting(ctx *c, const char *pgd)
{
    const runs *rs = c->rs;
    const grid *g = c->g;
    FILE *f = c->f;
    int lo = 0, hi = 0;
    for (int i = 0; i < rs->n; i++)
        if (run_has(&rs->r[i], EVAL_STRONG)) {
            int n = rs->r[i].strong_n;
            lo = !lo || n < lo ? n : lo;
            hi = n > hi ? n : hi;
        }
    char test_n[32] = "all";
    if (g->test_limit)
        snprintf(test_n, sizeof test_n, "%d", g->test_limit);
    fprintf(f, "AutoAttack (docs/METHODS.md 9) on each cell's checkpoint: "
            "each attack of the ensemble runs on the images every earlier "
            "one left standing, so its robust accuracy is the worst case per "
            "image. It saw the first %d", lo);
    if (hi != lo)
        fprintf(f, "-%d", hi);
    fprintf(f, " test images, %s the first %s; the grid says `strong %s`, "
            "`strong_quick %d`%s. Ensembles:", pgd, test_n,
            grid_strong_names[g->strong], g->strong_quick,
            g->strong_quick ? " (shortened attacks: a first look, not the "
            "reference's settings)" : "");
    for (int m = 0; m < rs->models.n; m++)
        for (int i = 0; i < rs->n; i++)
            if (rs->r[i].model == m && run_has(&rs->r[i], EVAL_STRONG)) {
                fprintf(f, " `%s` %s;", rs->models.v[m],
                        rs->r[i].strong_ensemble[0] ? rs->r[i].strong_ensemble
                                                    : "?");
                break;
            }
    fprintf(f, " the robust accuracy after each of its attacks is in "
            "results.csv (strong_after_*). The gap is %s's robust accuracy "
            "minus the strong evaluation's, run by run: how much %s "
            "overstates robustness.\n\n", pgd, pgd);
}

static void put_strong_tables(ctx *c, const char *pgd)
{
    FILE *f = c->f;
    for (int e = 0; e < c->neps; e++) {
        fprintf(f, "### eps %g/255\n\nMean and sample standard deviation "
                "over the seeds that have both evaluations (n).\n\n"
                "| model | n | %s robust acc | strong robust acc | gap "
                "(%s - strong) |\n|---|---:|---:|---:|---:|\n", c->eps[e],
                pgd, pgd);
        for (int m = 0; m < c->rs->models.n; m++) {
            robust_gap rg;
            if (runs_robust_gap(c->rs, m, c->eps[e], &rg) == 0)
                continue;
            fprintf(f, "| %s | %d | ", c->rs->models.v[m], rg.n);
            const double cols[3][2] = { { rg.pgd, rg.pgd_sd },
                                        { rg.strong, rg.strong_sd },
                                        { rg.gap, rg.gap_sd } };
            for (int k = 0; k < 3; k++) {
                fprintf(f, k == 2 ? "%+.4f" : "%.4f", cols[k][0]);
                if (!isnan(cols[k][1]))
                    fprintf(f, " ± %.4f", cols[k][1]);
                fputs(k < 2 ? " | " : " |\n", f);
            }
        }
        fputc('\n', f);
    }
}

/* Each finding judged under both evaluations, side by side, then the
 * strong evaluation's judgements in full.  c->cs and c->eps are the
 * strong evaluation's here. */
static void put_strong_claims(ctx *c, const int *pgd_verdict, const char *pgd)
{
    FILE *f = c->f;
    char *body = NULL;
    size_t len = 0;
    c->f = open_memstream(&body, &len);
    int verdict[NCLAIMS];
    for (int k = 0; k < NCLAIMS; k++)
        verdict[k] = k == CLAIM_NO_ATTACK ? pgd_verdict[k] : claims[k](c);
    fclose(c->f);
    c->f = f;
    fprintf(f, "### The seed report's findings under both evaluations\n\n"
            "Each decided by the rule given with it in the findings above, "
            "on the tests of %s and on those of the strong evaluation "
            "(its eps only).\n\n| finding | holds under %s | holds under "
            "the strong evaluation |\n|---|---|---|\n", pgd, pgd);
    for (int k = 0; k < NCLAIMS; k++)
        fprintf(f, "| %s | %s | %s%s |\n", claim_titles[k], holds(pgd_verdict[k]),
                holds(verdict[k]), k == CLAIM_NO_ATTACK ?
                " (training losses: no attack involved)" : "");
    fprintf(f, "\nUnder the strong evaluation, in full:\n\n%s\n", body);
    free(body);
}

static void put_strong(ctx *c, const comparisons *strong, const double *eps,
                       int neps, const int *pgd_verdict, const char *dir,
                       const report_opts *o)
{
    FILE *f = c->f;
    char *pgd = xasprintf("PGD-%d", c->ms->steps);
    fprintf(f, "## Strong evaluation\n\n");
    if (neps == 0) {
        fprintf(f, "No run in these results has a strong evaluation (the "
                "grid's `strong` is off, or the results predate it).\n\n");
        put_strong_missing(c);
        free(pgd);
        return;
    }
    ctx s = *c;
    s.cs = strong;
    s.eps = eps;
    s.neps = neps;
    put_strong_setting(&s, pgd);
    put_strong_missing(&s);
    put_strong_tables(&s, pgd);
    if (o->figures) {
        char why[1024];
        int ok = plot_strong(c->rs, eps, neps, pgd, dir, why, sizeof why) == 0;
        char *caption = xasprintf("Robust accuracy under %s and under the "
                                  "strong evaluation per model and eps, mean "
                                  "and standard deviation over seeds, with "
                                  "the gap", pgd);
        put_figure(f, "strong", caption, ok, why);
        free(caption);
    }
    put_tests(&s, "### Paired tests against `%s`, strong evaluation");
    if (strong->baseline < 0)
        fprintf(f, "No `%s` run with a strong evaluation: no tests.\n\n",
                c->baseline);
    put_strong_claims(&s, pgd_verdict, pgd);
    free(pgd);
}

/* How the page and each model's results were made: the report's command
 * line, and the `provenance` of the first finished cell of every model
 * (its training's command line, spec hash and version, from train.json). */
static void put_provenance(ctx *c, const report_opts *o)
{
    FILE *f = c->f;
    fprintf(f, "Provenance: `%s` (%s).", o->command ? o->command : "advcc-study report",
            o->version ? o->version : "advcc-study");
    for (int m = 0; m < c->rs->models.n; m++) {
        for (int i = 0; i < c->rs->n; i++) {
            const run_row *r = &c->rs->r[i];
            if (r->model != m || !r->cell)
                continue;
            char *cell = path_join(c->rs->dir, r->cell);
            char *path = path_join(cell, "train.json");
            char err[256];
            json_t *tj = jobj_read(path, err, sizeof err);
            char *p = jobj_text(tj, "provenance");
            if (p)
                fprintf(f, " `%s` was trained by `%s`.", c->rs->models.v[m], p);
            free(p);
            json_decref(tj);
            free(path);
            free(cell);
            break;
        }
    }
    fprintf(f, " Each cell's train.json and eval JSON say the same of it "
            "(`provenance`).\n\n");
}

int report_build(const grid *g, const report_opts *o)
{
    char *results = o->results ? xstrdup(o->results) : path_join(g->out, "results.csv");
    char *dir = o->dir ? xstrdup(o->dir) : path_join(g->out, "report");
    const char *baseline = o->baseline ? o->baseline : g->baseline ? g->baseline : "baseline";
    runs rs;
    char err[1024];
    int rc = 1;
    if (runs_load(&rs, results, g, err, sizeof err) != 0) {
        fprintf(stderr, "advcc-study: %s\n", err);
        free(results);
        free(dir);
        return 1;
    }
    comparisons cs, strong;
    compare_all(&rs, baseline, g->eps, g->neps, EVAL_PGD, &cs);
    /* the strong evaluation where the results have it */
    double *strong_eps = xmalloc((size_t)g->neps * sizeof *strong_eps);
    int nstrong = 0;
    for (int e = 0; e < g->neps; e++)
        if (runs_count(&rs, EVAL_STRONG, g->eps[e]) > 0)
            strong_eps[nstrong++] = g->eps[e];
    compare_all(&rs, baseline, strong_eps, nstrong, EVAL_STRONG, &strong);
    if (mkdirs(dir, NULL, NULL) != 0) {
        fprintf(stderr, "advcc-study: %s: %s\n", dir, strerror(errno));
        goto out;
    }
    /* keep old figures from passing for new ones */
    dir_remove_prefixed(dir, "gnuplot.log");
    dir_remove_prefixed(dir, "features.log");
    model_settings ms;
    int gb = grid_model_index(g, baseline);
    grid_model_settings(g, gb >= 0 ? gb : 0, &ms);
    ctx c = { g, &rs, &cs, g->eps, g->neps, baseline, &ms, NULL };
    const comparisons *const tables[] = { &cs, &strong };
    if (write_stats_csv(&c, dir, tables, nstrong ? 2 : 1) != 0)
        goto out;
    char *path = path_join(dir, "report.md");
    atomic_file af;
    if (atomic_open(&af, path) != 0) {
        fprintf(stderr, "advcc-study: %s: %s\n", path, strerror(errno));
        free(path);
        goto out;
    }
    c.f = af.fp;
    int ok = 0, failed = 0;
    for (int i = 0; i < rs.n; i++)
        rs.r[i].ok ? ok++ : failed++;
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now));
    fprintf(af.fp, "# Study `%s`\n\nGrid `%s`; results `%s`: %d runs, %d "
            "with results, %d failed. Models: %d; seeds: %d; eps: ",
            g->name, g->path, results, rs.n, ok, failed, g->models.n, g->nseeds);
    for (int e = 0; e < g->neps; e++)
        fprintf(af.fp, "%s%g", e ? ", " : "", g->eps[e]);
    char train_n[32] = "all", test_n[32] = "all";
    if (g->train_limit)
        snprintf(train_n, sizeof train_n, "%d", g->train_limit);
    if (g->test_limit)
        snprintf(test_n, sizeof test_n, "%d", g->test_limit);
    fprintf(af.fp, " (/255); %d epochs; training images %s; test images %s; "
            "PGD alpha %g/255, %d steps, %d restart(s), init %s. Written %s "
            "by advcc-study.\n\n", ms.epochs, train_n, test_n, ms.alpha,
            ms.steps, ms.restarts, ms.init, date);
    put_provenance(&c, o);
    put_missing(&c);
    put_means(&c);
    put_tests(&c, "## Paired tests against `%s`");
    put_figures(&c, dir, o);
    fprintf(af.fp, "## The seed report's findings\n\nEach decided at the %g "
            "level by the rule given with it, on the tests of PGD-%d.\n\n",
            LEVEL, ms.steps);
    int verdict[NCLAIMS];
    for (int k = 0; k < NCLAIMS; k++)
        verdict[k] = claims[k](&c);
    fputc('\n', af.fp);
    put_strong(&c, &strong, strong_eps, nstrong, verdict, dir, o);
    report_certified(af.fp, &rs, baseline, LEVEL);
    if (atomic_commit(&af) != 0)
        fprintf(stderr, "advcc-study: %s: %s\n", path, strerror(errno));
    else {
        printf("report: %s\n", path);
        rc = 0;
    }
    free(path);
out:
    comparisons_free(&cs);
    comparisons_free(&strong);
    free(strong_eps);
    runs_free(&rs);
    free(results);
    free(dir);
    return rc;
}
