/* test_study_spec.c - the spec is the one source of a model's facts: the
 * study takes which models train adversarially, the epochs and the
 * evaluation's PGD from each model's description (`MODEL info --json`),
 * passes a grid's setting to the binaries only when the grid writes it
 * and records the values used; the report finds the models of its
 * findings by their patches, whatever their names; a diverged training
 * is known by its exit status and train.json alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "study/harness.h"

/* bin/<name>.json: the description the fake prints for name, as advcc
 * writes it (the parts the study reads). */
static void write_desc(scratch *s, const char *name, const char *patches,
                       int adversarial, int regularize, int rse)
{
    char *file = xasprintf("%s/%s.json", s->bin, name);
    FILE *f = fopen(file, "w");
    fprintf(f, "{\"format\": \"advcc-model-description\", \"format_version\": 1,"
            " \"name\": \"%s\", \"base\": \"plain\", \"patches\": [%s],"
            " \"adversarial\": %s, \"dataset\": \"cifar10\","
            " \"train\": {\"epochs\": 3, \"adversarial\": %s},"
            " \"attack\": {\"method\": \"pgd\", \"alpha_255\": 2.0, \"steps\": 10,"
            " \"restarts\": 1, \"init\": \"gaussian\", \"eot\": 1},"
            " \"ensemble\": {\"passes\": %d}, \"quantize\": [], \"noise\": [%s],"
            " \"regularize\": [%s]}\n", name, patches, adversarial ? "true" : "false",
            adversarial ? "true" : "false", rse ? 5 : 1, rse ? "{\"sigma\": 0.1}" : "",
            regularize ? "{\"kind\": \"orthogonal\"}" : "");
    fclose(f);
    free(file);
}

static const char *const models[] = { "plain", "robust", "smooth", "noisy", NULL };

static scratch *study_with(const char *extra)
{
    char *text = xasprintf("models plain robust smooth noisy\nbaseline plain\n"
                           "seeds 0-3\neps 8\ntrain_limit 300\ntest_limit 100\n%s",
                           extra);
    scratch *s = scratch_new(models, text);
    free(text);
    write_desc(s, "plain", "", 0, 0, 0);
    write_desc(s, "robust", "\"adv\"", 1, 0, 0);
    write_desc(s, "smooth", "\"reg\"", 0, 1, 0);
    write_desc(s, "noisy", "\"rse\"", 0, 0, 1);
    unsetenv("FAKE_DIVERGE");
    unsetenv("FAKE_DIE");
    unsetenv("FAKE_STEP_MS");
    unsetenv("FAKE_EVAL_MS");
    char *argv_log = path_join(s->dir, "argv.log");
    setenv("FAKE_ARGV", argv_log, 1);
    free(argv_log);
    return s;
}

static char *read_in(scratch *s, const char *name)
{
    char *path = path_join(s->dir, name);
    char *text = file_read(path, NULL);
    free(path);
    assert_non_null(text);
    return text;
}

static void read_results(scratch *s, csv_table *t)
{
    char *path = xasprintf("%s/out/results.csv", s->dir);
    char err[512];
    if (csv_read(path, t, err, sizeof err) != 0)
        fail_msg("%s", err);
    free(path);
}

/* Column col of every row of results.csv holds want. */
static void assert_column(scratch *s, const char *col, const char *want)
{
    csv_table t;
    read_results(s, &t);
    int j = csv_column(&t, col);
    assert_true(j >= 0);
    assert_true(t.nrow > 0);
    for (int i = 0; i < t.nrow; i++)
        if (strcmp(t.rows[i][j], want))
            fail_msg("results.csv: row %d has %s %s, want %s", i, col, t.rows[i][j],
                     want);
    csv_free(&t);
}

static void test_spec_settings(void **state)
{
    (void)state;
    scratch *s = study_with("");
    assert_int_equal(study_run(s, "run", "-j", "2", s->grid), 0);
    char *argv = read_in(s, "argv.log");
    /* nothing the grid does not write is passed */
    assert_int_equal(count_lines(argv, " train "), 4 * 3 + 4);
    assert_int_equal(count_lines(argv, "--epochs"), 0);
    assert_int_equal(count_lines(argv, "--steps"), 0);
    assert_int_equal(count_lines(argv, "--alpha"), 0);
    assert_int_equal(count_lines(argv, "--dataset"), 0);
    /* robust trains adversarially because its spec says so */
    assert_int_equal(count_lines(argv, "robust train "), 4);
    assert_int_equal(count_lines(argv, "robust train --seed 0 --threads 1 --limit 300 "
                                       "--test-limit 100 --eps 8/255"), 1);
    assert_int_equal(count_lines(argv, "plain train --seed 0 --threads 1 --limit 300 "
                                       "--test-limit 100 --out"), 1);
    free(argv);
    /* the spec's epochs and steps, as used */
    assert_column(s, "epochs", "3");
    assert_column(s, "steps", "10");
    assert_column(s, "dataset", "cifar10");
    char *cell = read_in(s, "out/cells/robust/seed0-eps8/model.json");
    assert_non_null(strstr(cell, "\"adversarial\": true"));
    free(cell);
    scratch_free(s);
}

static void test_grid_overrides(void **state)
{
    (void)state;
    scratch *s = study_with("epochs 2\nsteps 5\ndataset cifar10\n");
    assert_int_equal(study_run(s, "run", "-j", "2", s->grid), 0);
    char *argv = read_in(s, "argv.log");
    assert_int_equal(count_lines(argv, " train "), 16);
    assert_int_equal(count_lines(argv, "--epochs 2"), 16);
    assert_int_equal(count_lines(argv, " eval "), 16);
    assert_int_equal(count_lines(argv, "--steps 5"), 16);
    assert_int_equal(count_lines(argv, "--alpha"), 0);
    assert_int_equal(count_lines(argv, "--dataset cifar10"), 32);
    free(argv);
    assert_column(s, "epochs", "2");
    assert_column(s, "steps", "5");
    scratch_free(s);
}

static void test_adversarial_key_refused(void **state)
{
    (void)state;
    scratch *s = study_with("adversarial robust\n");
    assert_int_equal(study_run(s, "run", s->grid), 1);
    char *log = file_read(s->log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "grid.grid:7: error: 'adversarial' is no longer a "
                                "grid setting: the spec's `train adversarial` decides"));
    free(log);
    scratch_free(s);
}

static void test_claims_by_patches(void **state)
{
    (void)state;
    scratch *s = study_with("");
    assert_int_equal(study_run(s, "run", "-j", "2", s->grid), 0);
    assert_int_equal(study_run(s, "report", "--no-figures", s->grid), 0);
    char *md = read_in(s, "out/report/report.md");
    /* robust = plain + adv is judged as adversarially trained */
    assert_non_null(strstr(md, "   - `robust`, clean acc: eps 8: "));
    assert_non_null(strstr(md, "   - `robust`, robust acc: eps 8: "));
    assert_null(strstr(md, "The grid trains no model adversarially."));
    /* noisy = plain + rse is the RSE model; smooth = plain + reg the
     * regularised one, against plain */
    assert_non_null(strstr(md, "   - eps 8: `noisy` "));
    assert_non_null(strstr(md, "regularisation alone (`smooth`)"));
    assert_non_null(strstr(md, "   - `smooth` against `plain`: mean loss "));
    /* no model adds quantisation alone to plain: that part is undecided */
    assert_non_null(strstr(md, "   - no model is `plain` plus quantisation alone\n"));
    assert_int_equal(count_lines(md, "**cannot be decided.**"), 1);
    free(md);
    scratch_free(s);
}

static void test_diverged_by_exit_status(void **state)
{
    (void)state;
    scratch *s = study_with("");
    setenv("FAKE_DIVERGE", "smooth:1", 1);
    setenv("FAKE_DIVERGE_SILENT", "1", 1);
    assert_int_equal(study_run(s, "run", "-j", "2", s->grid), 0);
    unsetenv("FAKE_DIVERGE");
    unsetenv("FAKE_DIVERGE_SILENT");
    char *log = read_in(s, "out/cells/smooth/seed1/cell.log");
    assert_null(strstr(log, "diverged"));
    free(log);
    char *rows = read_in(s, "out/cells/smooth/seed1/result.csv");
    assert_non_null(strstr(rows, ",diverged,"));
    free(rows);
    csv_table t;
    read_results(s, &t);
    int cm = csv_column(&t, "model"), cs = csv_column(&t, "seed"),
        st = csv_column(&t, "status"), ds = csv_column(&t, "diverged_step");
    int found = 0;
    for (int i = 0; i < t.nrow; i++)
        if (!strcmp(t.rows[i][cm], "smooth") && !strcmp(t.rows[i][cs], "1")) {
            assert_string_equal(t.rows[i][st], "diverged");
            assert_string_equal(t.rows[i][ds], "3");
            found++;
        }
    assert_int_equal(found, 1);
    csv_free(&t);
    scratch_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_settings),
        cmocka_unit_test(test_grid_overrides),
        cmocka_unit_test(test_adversarial_key_refused),
        cmocka_unit_test(test_claims_by_patches),
        cmocka_unit_test(test_diverged_by_exit_status),
    };
    return cmocka_run_group_tests_name("study_spec", tests, NULL, NULL);
}
