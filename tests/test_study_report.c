/* test_study_report.c - the report built from results files that are
 * complete, miss a model, a seed or an eps, lack the baseline, hold one
 * seed only, or are broken; the figures it draws; the optional feature
 * maps when the binaries cannot dump them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "study/harness.h"

static const char *const models[] = { "baseline", "adv", "quant", "reg", "rse", NULL };
static const char grid_text[] =
    "models baseline adv quant reg rse\n"
    "adversarial adv\n"
    "seeds 0-3\n"
    "eps 4 8\n"
    "epochs 2\n"
    "train_limit 300\n"
    "test_limit 100\n";

typedef struct fixture {
    scratch *s;
    char *out, *results;
} fixture;

static int setup(void **state)
{
    fixture *fx = xcalloc(1, sizeof *fx);
    fx->s = scratch_new(models, grid_text);
    fx->out = path_join(fx->s->dir, "out");
    fx->results = path_join(fx->out, "results.csv");
    unsetenv("FAKE_STEP_MS");
    unsetenv("FAKE_EVAL_MS");
    unsetenv("FAKE_DIVERGE");
    unsetenv("FAKE_DIE");
    unsetenv("FAKE_FEATURES");
    int rc = study_run(fx->s, "run", "-j", "2", fx->s->grid);
    *state = fx;
    return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    scratch_free(fx->s);
    free(fx->out);
    free(fx->results);
    free(fx);
    return 0;
}

typedef int (*keep_fn)(const char *model, int seed, const char *eps);

/* Copies the results file into the scratch dir, keeping the rows keep
 * accepts; returns the copy's path. */
static char *filtered(fixture *fx, const char *name, keep_fn keep)
{
    csv_table t;
    char err[512];
    if (csv_read(fx->results, &t, err, sizeof err) != 0)
        fail_msg("%s", err);
    char *path = path_join(fx->out, name);  /* beside it: cells/ resolve */
    FILE *f = fopen(path, "w");
    for (int j = 0; j < t.ncol; j++)
        fprintf(f, "%s%s", j ? "," : "", t.head[j]);
    fputc('\n', f);
    int cm = csv_column(&t, "model"), cs = csv_column(&t, "seed"),
        ce = csv_column(&t, "eps_255");
    for (int i = 0; i < t.nrow; i++) {
        if (!keep(t.rows[i][cm], atoi(t.rows[i][cs]), t.rows[i][ce]))
            continue;
        for (int j = 0; j < t.ncol; j++) {
            if (j)
                fputc(',', f);
            csv_put(f, t.rows[i][j]);
        }
        fputc('\n', f);
    }
    fclose(f);
    csv_free(&t);
    return path;
}

/* Runs report on results into report dir `name`; returns report.md. */
static char *report(fixture *fx, const char *results, const char *name, int want)
{
    char *dir = path_join(fx->s->dir, name);
    unlink(fx->s->log);
    int rc = results ? study_run(fx->s, "report", "--results", results,
                                 "--report-dir", dir, fx->s->grid)
                     : study_run(fx->s, "report", "--report-dir", dir, fx->s->grid);
    if (rc != want) {
        char *log = file_read(fx->s->log, NULL);
        fail_msg("report exited %d, want %d:\n%s", rc, want, log ? log : "");
    }
    char *md = path_join(dir, "report.md");
    char *text = file_read(md, NULL);
    free(md);
    free(dir);
    return text;
}

static void assert_figure(fixture *fx, const char *dir, const char *name)
{
    for (int k = 0; k < 2; k++) {
        char *path = xasprintf("%s/%s/%s.%s", fx->s->dir, dir, name,
                               k ? "svg" : "png");
        struct stat st;
        if (stat(path, &st) != 0 || st.st_size < 1000)
            fail_msg("%s missing or nearly empty", path);
        free(path);
    }
}

static void test_full_report(void **state)
{
    fixture *fx = *state;
    char *md = report(fx, NULL, "full", 0);
    assert_non_null(md);
    assert_non_null(strstr(md, "Nothing: every model, seed and eps"));
    assert_non_null(strstr(md, "Provenance: `advcc-study"));
    assert_non_null(strstr(md, "`baseline` was trained by `fake baseline train # fake 1.0`"));
    assert_non_null(strstr(md, "| adv | 8 | robust acc | 4 |"));
    for (int k = 1; k <= 4; k++) {
        char claim[16];
        snprintf(claim, sizeof claim, "\n%d. *", k);
        assert_non_null(strstr(md, claim));
    }
    /* the fake's adversarial models gain robust accuracy by far */
    assert_non_null(strstr(md, "![Training loss"));
    assert_null(strstr(md, "not drawn"));
    free(md);
    assert_figure(fx, "full", "loss");
    assert_figure(fx, "full", "accuracy-eps4");
    assert_figure(fx, "full", "accuracy-eps8");
    assert_figure(fx, "full", "success");
    assert_figure(fx, "full", "features");
    /* one row per model but the baseline, eps and metric */
    char *stats = path_join(fx->s->dir, "full/stats.csv");
    char *text = file_read(stats, NULL);
    assert_non_null(text);
    assert_int_equal(count_lines(text, ",baseline,"), 1 + 4 * 2 * 3);
    assert_int_equal(count_lines(text, "adv,baseline,8,robust_acc,greater,4,"), 1);
    assert_int_equal(count_lines(text, "rse,baseline,4,attack_success,less,4,"), 1);
    free(text);
    free(stats);
}

static int keep_gaps(const char *model, int seed, const char *eps)
{
    if (!strcmp(model, "rse") || seed == 3)
        return 0;
    return !(seed == 2 && !strcmp(model, "adv") && !strcmp(eps, "8"));
}

static void test_missing_model_and_seed(void **state)
{
    fixture *fx = *state;
    char *results = filtered(fx, "gaps.csv", keep_gaps);
    char *md = report(fx, results, "gaps", 0);
    assert_non_null(md);
    assert_non_null(strstr(md, "- `rse`: no results\n"));
    assert_non_null(strstr(md, "- seed 3: no results for any model\n"));
    assert_non_null(strstr(md, "- `adv` seed 2: eps 8 missing\n"));
    /* only those */
    const char *missing = strstr(md, "## What is missing");
    const char *means = strstr(md, "## Means");
    char *section = xstrndup(missing, (size_t)(means - missing));
    assert_int_equal(count_lines(section, "- "), 3);
    free(section);
    /* the tests pair what there is */
    assert_non_null(strstr(md, "| adv | 8 | robust acc | 2 |"));
    assert_non_null(strstr(md, "| adv | 4 | robust acc | 3 |"));
    assert_non_null(strstr(md, "RSE cuts attack success nearly as much as "
                               "adversarial training.* **cannot be decided.**"));
    assert_figure(fx, "gaps", "accuracy-eps8");
    free(md);
    free(results);
}

static int keep_no_baseline(const char *model, int seed, const char *eps)
{
    (void)seed;
    (void)eps;
    return strcmp(model, "baseline") != 0;
}

static void test_no_baseline(void **state)
{
    fixture *fx = *state;
    char *results = filtered(fx, "nobase.csv", keep_no_baseline);
    char *md = report(fx, results, "nobase", 0);
    assert_non_null(md);
    assert_non_null(strstr(md, "- `baseline`: no results\n"));
    assert_non_null(strstr(md, "No `baseline` results: nothing to compare"));
    assert_null(strstr(md, "## Paired tests"));
    assert_int_equal(count_lines(md, "**cannot be decided.**"), 4);
    assert_figure(fx, "nobase", "success");
    free(md);
    free(results);
}

static int keep_seed0(const char *model, int seed, const char *eps)
{
    (void)model;
    (void)eps;
    return seed == 0;
}

static void test_one_seed(void **state)
{
    fixture *fx = *state;
    char *results = filtered(fx, "one.csv", keep_seed0);
    char *md = report(fx, results, "one", 0);
    assert_non_null(md);
    assert_int_equal(count_lines(md, "| one paired seed only: no test |"), 4 * 2 * 3);
    /* one seed decides none of the claims, whatever the differences */
    assert_int_equal(count_lines(md, "**cannot be decided.**"), 4);
    assert_non_null(strstr(md, "- seed 1: no results for any model\n"));
    free(md);
    free(results);
}

static void test_features_optional(void **state)
{
    fixture *fx = *state;
    setenv("FAKE_FEATURES", "0", 1);
    char *md = report(fx, NULL, "nofeatures", 0);
    unsetenv("FAKE_FEATURES");
    assert_non_null(md);
    assert_non_null(strstr(md, "*First-layer feature maps of one test image for "
                               "every model (optional: needs `MODEL features`): "
                               "not drawn (no model wrote its feature maps).*"));
    assert_non_null(strstr(md, "`baseline features` failed (exit 2"));
    assert_figure(fx, "nofeatures", "loss");
    free(md);
}

static void test_broken_results(void **state)
{
    fixture *fx = *state;
    char *path = path_join(fx->s->dir, "broken.csv");
    char *text = file_read(fx->results, NULL);
    char *second = strchr(strchr(text, '\n') + 1, '\n') + 1;
    strcpy(second, "baseline,1,4\n");       /* line 3: three fields */
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    char *md = report(fx, path, "broken", 1);
    free(md);
    char *log = file_read(fx->s->log, NULL);
    char *want = xasprintf("%s:3: 3 fields, the header has", path);
    assert_non_null(strstr(log, want));
    free(want);
    free(log);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_report),
        cmocka_unit_test(test_missing_model_and_seed),
        cmocka_unit_test(test_no_baseline),
        cmocka_unit_test(test_one_seed),
        cmocka_unit_test(test_features_optional),
        cmocka_unit_test(test_broken_results),
    };
    return cmocka_run_group_tests_name("study_report", tests, setup, teardown);
}
