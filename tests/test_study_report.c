/* test_study_report.c - the report built from results files that are
 * complete, miss a model, a seed or an eps, lack the baseline, hold one
 * seed only, or are broken; the figures it draws; the optional feature
 * maps when the binaries cannot dump them; the strong evaluation's
 * section from a hand-made file, and from files without its columns; the
 * certified-robustness section from a hand-made file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "study/harness.h"

static const char *const models[] = { "baseline", "adv", "quant", "reg", "rse", NULL };
static const char grid_text[] =
    "models baseline adv quant reg rse\n"
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

/* Runs report of grid on results into report dir `name`; returns
 * report.md. */
static char *report_of(fixture *fx, const char *grid, const char *results,
                       const char *name, int want)
{
    char *dir = path_join(fx->s->dir, name);
    unlink(fx->s->log);
    int rc = results ? study_run(fx->s, "report", "--results", results,
                                 "--report-dir", dir, grid)
                     : study_run(fx->s, "report", "--report-dir", dir, grid);
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

static char *report(fixture *fx, const char *results, const char *name, int want)
{
    return report_of(fx, fx->s->grid, results, name, want);
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

/* Hand-made runs at eps 8 (seeds 0-3): under PGD, RSE looks nearly as
 * robust as adversarial training; under the strong evaluation its robust
 * accuracy falls to the baseline's, while adv keeps its lead. */
static const struct {
    const char *model;
    double clean[4], pgd[4], strong[4];
} hand[] = {
    { "baseline", { .60, .61, .62, .63 }, { .10, .11, .12, .13 }, { .05, .06, .07, .08 } },
    { "adv",      { .70, .72, .71, .73 }, { .40, .42, .41, .44 }, { .35, .37, .36, .39 } },
    { "rse",      { .60, .62, .61, .63 }, { .35, .37, .36, .38 }, { .05, .07, .06, .08 } },
};

/* The grid of the hand-made runs: eps 8 only. */
static char *hand_grid(fixture *fx)
{
    char *path = path_join(fx->s->dir, "hand.grid");
    FILE *f = fopen(path, "w");
    fprintf(f, "models baseline adv rse\nseeds 0-3\neps 8\n"
            "test_limit 100\nbin %s\nout %s\n", fx->s->bin, fx->out);
    fclose(f);
    return path;
}

static char *hand_results(fixture *fx, const char *name, int strong)
{
    char *path = path_join(fx->out, name);
    FILE *f = fopen(path, "w");
    fprintf(f, "model,seed,eps_255,status,clean_acc,robust_acc,attack_success%s\n",
            strong ? ",strong_clean_acc,strong_robust_acc,strong_n,"
                     "strong_ensemble,strong_after_apgd_ce" : "");
    for (size_t m = 0; m < sizeof hand / sizeof hand[0]; m++)
        for (int s = 0; s < 4; s++) {
            fprintf(f, "%s,%d,8,ok,%.2f,%.2f,%.6f", hand[m].model, s,
                    hand[m].clean[s], hand[m].pgd[s],
                    1 - hand[m].pgd[s] / hand[m].clean[s]);
            if (strong)
                fprintf(f, ",%.2f,%.2f,200,%s,%.2f", hand[m].clean[s],
                        hand[m].strong[s], strcmp(hand[m].model, "rse") ?
                        "standard" : "rand", hand[m].strong[s] + 0.1);
            fputc('\n', f);
        }
    fclose(f);
    return path;
}

/* The report of the hand-made runs into report dir name. */
static char *hand_report(fixture *fx, const char *name, int strong)
{
    char *csv = xasprintf("%s.csv", name);
    char *results = hand_results(fx, csv, strong);
    char *grid = hand_grid(fx);
    char *md = report_of(fx, grid, results, name, 0);
    free(grid);
    free(results);
    free(csv);
    return md;
}

static void test_strong_report(void **state)
{
    fixture *fx = *state;
    char *md = hand_report(fx, "strong", 1);
    assert_non_null(md);
    const char *sec = strstr(md, "## Strong evaluation");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "It saw the first 200 test images, PGD-4 the "
                                "first 100"));
    assert_non_null(strstr(sec, "`adv` standard; `rse` rand;"));
    /* per model: PGD-4 and strong robust accuracy, their gap */
    assert_non_null(strstr(sec, "### eps 8/255"));
    assert_null(strstr(sec, "### eps 4/255"));
    assert_non_null(strstr(sec, "| baseline | 4 | 0.1150 ± 0.0129 | 0.0650 ± 0.0129 | +0.0500 ± 0.0000 |"));
    assert_non_null(strstr(sec, "| adv | 4 | 0.4175 ± 0.0171 | 0.3675 ± 0.0171 | +0.0500 ± 0.0000 |"));
    assert_non_null(strstr(sec, "| rse | 4 | 0.3650 ± 0.0129 | 0.0650 ± 0.0129 | +0.3000 ± 0.0000 |"));
    assert_non_null(strstr(sec, "### Paired tests against `baseline`, strong evaluation"));
    assert_non_null(strstr(sec, "| rse | 8 | attack success | 4 |"));
    /* the findings side by side: RSE's holds under PGD-4 only */
    assert_non_null(strstr(sec, "| 1. Adversarially trained models gain both "
                                "clean and robust accuracy | yes | yes |"));
    assert_non_null(strstr(sec, "| 2. RSE cuts attack success nearly as much as "
                                "adversarial training | yes | no (not confirmed) |"));
    assert_non_null(strstr(sec, "| 3. Quantisation and regularisation alone "
                                "change little | cannot be decided | cannot be decided |"));
    /* and in full: the PGD-4 findings above, the strong ones below */
    const char *pgd2 = strstr(md, "2. *RSE cuts attack success");
    assert_true(pgd2 && pgd2 < sec);
    assert_non_null(strstr(pgd2, "adversarial training.* **confirmed.**"));
    assert_non_null(strstr(sec, "2. *RSE cuts attack success nearly as much as "
                                "adversarial training.* **not confirmed.**"));
    assert_figure(fx, "strong", "strong");
    free(md);
    /* stats.csv: the strong tests on the strong columns */
    char *stats = path_join(fx->s->dir, "strong/stats.csv");
    char *text = file_read(stats, NULL);
    assert_non_null(text);
    assert_int_equal(count_lines(text, ",strong"), 2 * 3);
    assert_int_equal(count_lines(text, ",pgd"), 2 * 3);
    assert_int_equal(count_lines(text, "rse,baseline,8,robust_acc,greater,4,0.365,0.115,"), 1);
    assert_int_equal(count_lines(text, "rse,baseline,8,robust_acc,greater,4,0.065,0.065,"), 1);
    free(text);
    free(stats);
}

/* Results without the strong columns (from before them) still report. */
static void test_strong_absent(void **state)
{
    fixture *fx = *state;
    char *md = hand_report(fx, "old", 0);
    assert_non_null(md);
    assert_non_null(strstr(md, "## Strong evaluation\n\nNo run in these results "
                               "has a strong evaluation"));
    assert_null(strstr(md, "## Certified robustness"));
    assert_non_null(strstr(md, "2. *RSE cuts attack success nearly as much as "
                               "adversarial training.* **confirmed.**"));
    char *stats = path_join(fx->s->dir, "old/stats.csv");
    char *text = file_read(stats, NULL);
    assert_int_equal(count_lines(text, ",strong"), 0);
    assert_int_equal(count_lines(text, ",pgd"), 2 * 3);
    free(text);
    free(stats);
    free(md);
}

/* Hand-made certificates (seeds 0-3, eps 8): reg_a gains certified
 * accuracy at 36/255 on every seed, reg_b gains nothing, rse is refused
 * (empty columns); the grid names the baseline. */
static const struct {
    const char *model;
    const char *cert36[4], *cert72[4], *lip[4];
} hand_cert[] = {
    { "cert_base", { "0.010", "0.000", "0.020", "0.010" }, { "0", "0", "0", "0" },
      { "1000", "1100", "900", "1050" } },
    { "reg_a", { "0.060", "0.050", "0.080", "0.070" }, { "0.010", "0", "0.020", "0" },
      { "40", "45", "38", "42" } },
    { "reg_b", { "0.000", "0.020", "0.010", "0.010" }, { "0", "0", "0", "0" },
      { "900", "950", "1000", "980" } },
    { "rse", { "", "", "", "" }, { "", "", "", "" }, { "", "", "", "" } },
};

static void test_certified_report(void **state)
{
    fixture *fx = *state;
    char *grid = path_join(fx->s->dir, "cert.grid");
    FILE *f = fopen(grid, "w");
    fprintf(f, "models cert_base reg_a reg_b rse\nbaseline cert_base\nseeds 0-3\n"
            "eps 8\ntest_limit 100\ncertify 1\nbin %s\nout %s\n", fx->s->bin, fx->out);
    fclose(f);
    char *results = path_join(fx->out, "cert.csv");
    f = fopen(results, "w");
    fprintf(f, "model,seed,eps_255,status,clean_acc,robust_acc,attack_success,"
            "cert_acc_36,cert_acc_72,cert_acc_108,lipschitz\n");
    for (size_t m = 0; m < sizeof hand_cert / sizeof hand_cert[0]; m++)
        for (int s = 0; s < 4; s++)
            fprintf(f, "%s,%d,8,ok,0.6%d,0.10,0.8,%s,%s,%s,%s\n", hand_cert[m].model, s, s,
                    hand_cert[m].cert36[s], hand_cert[m].cert72[s],
                    hand_cert[m].cert36[s][0] ? "0" : "", hand_cert[m].lip[s]);
    fclose(f);
    char *md = report_of(fx, grid, results, "cert", 0);
    assert_non_null(md);
    const char *sec = strstr(md, "## Certified robustness (L2)");
    assert_non_null(sec);
    /* means over seeds; L's median; the refused model has no row */
    assert_non_null(strstr(sec, "| cert_base | 4 | 0.6150 ± 0.0129 | 1025 | 0.0100 ± 0.0082 | "
                                "0.0000 ± 0.0000 | 0.0000 ± 0.0000 |"));
    assert_non_null(strstr(sec, "| reg_a | 4 | 0.6150 ± 0.0129 | 41 | 0.0650 ± 0.0129 | "
                                "0.0075 ± 0.0096 |"));
    assert_null(strstr(sec, "| rse |"));
    /* the tests against the grid's baseline, and the verdicts */
    assert_non_null(strstr(sec, "over `cert_base`?"));
    assert_non_null(strstr(sec, "| reg_a | 36/255 | 4 | +0.0550 |"));
    assert_non_null(strstr(sec, "- `reg_a`: raises certified accuracy over `cert_base` at 36/255."));
    assert_non_null(strstr(sec, "- `reg_b`: does not raise certified accuracy over `cert_base`"));
    free(md);
    /* the baseline from the command line wins over the grid's */
    char *dir = path_join(fx->s->dir, "cert2");
    assert_int_equal(study_run(fx->s, "report", "--results", results, "--report-dir", dir,
                               "--baseline", "reg_b", grid), 0);
    char *md2_path = path_join(dir, "report.md");
    char *md2 = file_read(md2_path, NULL);
    assert_non_null(md2);
    assert_non_null(strstr(md2, "- `reg_a`: raises certified accuracy over `reg_b` at 36/255."));
    free(md2);
    free(md2_path);
    free(dir);
    free(results);
    free(grid);
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
        cmocka_unit_test(test_strong_report),
        cmocka_unit_test(test_strong_absent),
        cmocka_unit_test(test_certified_report),
    };
    return cmocka_run_group_tests_name("study_report", tests, setup, teardown);
}
