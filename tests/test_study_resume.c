/* test_study_resume.c - the runner against the fake model binary: every
 * cell exactly once with the numbers of an uninterrupted run, whatever is
 * killed when (the runner at random points, a model process in training
 * or in an attack), two runners at once, a diverging cell recorded as
 * failed while the grid goes on, and the strong evaluation: its columns,
 * and a killed one resumed on the kept checkpoint. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "study/harness.h"
#include "cells.h"
#include "grid.h"

static const char *const models[] = { "baseline", "adv", "reg", NULL };
static const char grid_text[] =
    "models baseline adv reg\n"
    "seeds 0-2\n"
    "eps 4 8\n"
    "epochs 2\n"
    "train_limit 500\n"         /* 5 steps an epoch for the fake */
    "test_limit 100\n";

typedef struct fixture {
    scratch *s;
    char *reference;            /* results of an uninterrupted run */
    char *fake_log;
} fixture;

static void fake_env(fixture *fx, int step_ms, int eval_ms)
{
    char v[32];
    snprintf(v, sizeof v, "%d", step_ms);
    setenv("FAKE_STEP_MS", v, 1);
    snprintf(v, sizeof v, "%d", eval_ms);
    setenv("FAKE_EVAL_MS", v, 1);
    setenv("FAKE_LOG", fx->fake_log, 1);
    unsetenv("FAKE_DIE");
    unsetenv("FAKE_DIE_ONCE");
    unsetenv("FAKE_DIVERGE");
}

static int setup(void **state)
{
    fixture *fx = xcalloc(1, sizeof *fx);
    fx->s = scratch_new(models, grid_text);
    fx->fake_log = path_join(fx->s->dir, "fake.log");
    fake_env(fx, 0, 0);
    char *out = path_join(fx->s->dir, "reference");
    int rc = study_run(fx->s, "run", "--out", out, "-j", "2", fx->s->grid);
    if (rc != 0) {
        fprintf(stderr, "reference run failed (%d)\n", rc);
        return -1;
    }
    fx->reference = results_projection(out);
    free(out);
    *state = fx;
    return fx->reference ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    scratch_free(fx->s);
    free(fx->reference);
    free(fx->fake_log);
    free(fx);
    return 0;
}

static char *read_log(fixture *fx)
{
    char *t = file_read(fx->fake_log, NULL);
    return t ? t : xstrdup("");
}

/* ---- what a finished grid must look like ---- */

static int tmp_files;
static int count_tmp(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
    (void)st;
    (void)flag;
    const char *name = path + ftw->base;
    if (strstr(name, ".tmp"))
        tmp_files++;
    return 0;
}

static void assert_same_as(const char *want, const char *out)
{
    char *got = results_projection(out);
    assert_non_null(got);
    if (strcmp(got, want)) {
        print_error("results differ from the uninterrupted run:\n%s\nwant:\n%s\n",
                    got, want);
        fail();
    }
    free(got);
    tmp_files = 0;
    nftw(out, count_tmp, 16, FTW_PHYS);
    assert_int_equal(tmp_files, 0);
}

static void assert_same_as_reference(fixture *fx, const char *out)
{
    assert_same_as(fx->reference, out);
}

static void test_reference_schedule(void **state)
{
    fixture *fx = *state;
    /* 12 cells; 3 models x 3 seeds x 2 eps = 18 rows and a header */
    int lines = 0;
    for (const char *c = fx->reference; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 18 + 1);
    char *log = read_log(fx);
    /* baseline and reg trained once per seed and attacked at both eps;
     * adv trained and attacked once per seed and eps */
    for (int seed = 0; seed < 3; seed++) {
        char key[64];
        snprintf(key, sizeof key, "baseline train %d ", seed);
        assert_int_equal(count_lines(log, key), 1);
        snprintf(key, sizeof key, "reg train %d ", seed);
        assert_int_equal(count_lines(log, key), 1);
        for (int e = 4; e <= 8; e += 4) {
            snprintf(key, sizeof key, "adv train %d %d", seed, e);
            assert_int_equal(count_exact(log, key), 1);
            snprintf(key, sizeof key, "adv eval %d %d", seed, e);
            assert_int_equal(count_exact(log, key), 1);
            snprintf(key, sizeof key, "baseline eval %d %d", seed, e);
            assert_int_equal(count_exact(log, key), 1);
        }
    }
    assert_int_equal(count_lines(log, " train "), 3 + 3 + 6);
    free(log);
    /* a second run finds everything done and runs nothing */
    unlink(fx->fake_log);
    char *out = path_join(fx->s->dir, "reference");
    assert_int_equal(study_run(fx->s, "run", "--out", out, fx->s->grid), 0);
    log = read_log(fx);
    assert_string_equal(log, "");
    free(log);
    /* nor when the grid changed, but it says so */
    char *text = file_read(fx->s->grid, NULL);
    char *grid2 = path_join(fx->s->dir, "epochs3.grid");
    char *at = strstr(text, "epochs 2");
    at[7] = '3';
    assert_int_equal(file_write_atomic(grid2, text, strlen(text)), 0);
    unlink(fx->s->log);
    assert_int_equal(study_run(fx->s, "run", "--out", out, grid2), 0);
    char *said = file_read(fx->s->log, NULL);
    assert_non_null(strstr(said, "seed0 was finished with other settings "
                                 "(epochs 2, the grid says 3)"));
    assert_non_null(strstr(said, "12 finished cells in all"));
    log = read_log(fx);
    assert_string_equal(log, "");
    free(log);
    free(said);
    free(grid2);
    free(text);
    free(out);
}

/* Cells whose lock some process holds now. */
static int count_running(fixture *fx, const char *out)
{
    grid g;
    char err[512];
    assert_int_equal(grid_load(&g, fx->s->grid, err, sizeof err), 0);
    free(g.out);
    g.out = xstrdup(out);
    int n, running = 0;
    cell *cells = cells_build(&g, &n);
    for (int i = 0; i < n; i++)
        running += cell_state(&g, &cells[i], NULL) == CELL_RUNNING;
    free(cells);
    grid_free(&g);
    return running;
}

/* Every lock free within seconds: the cells died with their runner. */
static void assert_no_cell_running(fixture *fx, const char *out)
{
    for (int tries = 0; ; tries++) {
        const int running = count_running(fx, out);
        if (!running)
            break;
        if (tries == 500)
            fail_msg("%d cells still locked 5 s after their runner died",
                     running);
        sleep_ms(10);
    }
}

/* Until some cell is at work, or the runner pid has ended (10 s at most):
 * a kill at a random time after the runner starts can come before its
 * first cell does on a slow or loaded machine (a sanitizer build), and
 * then hits nothing.  The runner is left to be reaped. */
static void wait_cell_running(fixture *fx, const char *out, pid_t pid)
{
    for (int tries = 0; tries < 2000 && !count_running(fx, out); tries++) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            return;
        sleep_ms(5);
    }
}

/* Cells that were started and not finished. */
static int count_interrupted(fixture *fx, const char *out)
{
    grid g;
    char err[512];
    assert_int_equal(grid_load(&g, fx->s->grid, err, sizeof err), 0);
    free(g.out);
    g.out = xstrdup(out);
    int n, interrupted = 0;
    cell *cells = cells_build(&g, &n);
    for (int i = 0; i < n; i++) {
        char *lock = cell_file(&g, &cells[i], CELL_LOCK);
        char *result = cell_file(&g, &cells[i], CELL_RESULT);
        interrupted += path_exists(lock) && !path_exists(result);
        free(lock);
        free(result);
    }
    free(cells);
    grid_free(&g);
    return interrupted;
}

/* Rows of a partial results file are rows of the reference, once each. */
static void assert_partial_results(fixture *fx, const char *out)
{
    char *got = results_projection(out);
    if (!got)
        return;
    int lines = 0;
    for (char *p = got, *eol; (eol = strchr(p, '\n')); p = eol + 1, lines++) {
        char *line = xstrndup(p, (size_t)(eol - p));
        assert_int_equal(count_exact(fx->reference, line), 1);
        assert_int_equal(count_exact(got, line), 1);
        free(line);
    }
    free(got);
}

static void test_sigkill_runner(void **state)
{
    fixture *fx = *state;
    fake_env(fx, 10, 25);
    unsigned seed = getenv("STUDY_TEST_SEED") ? (unsigned)atoi(getenv("STUDY_TEST_SEED"))
                                              : (unsigned)time(NULL);
    print_message("kill times from seed %u (STUDY_TEST_SEED to repeat)\n", seed);
    char *out = path_join(fx->s->dir, "killed");
    int interrupted = 0;
    for (int k = 0; k < 8; k++) {
        pid_t pid = study_spawn(fx->s, "run", "--out", out, "-j", "2",
                                fx->s->grid, (char *)NULL);
        wait_cell_running(fx, out, pid);
        sleep_ms(rand_r(&seed) % 100);
        kill(pid, SIGKILL);
        wait_exit(pid);
        assert_no_cell_running(fx, out);
        assert_partial_results(fx, out);
        interrupted += count_interrupted(fx, out);
    }
    /* the kills did hit cells at work */
    assert_true(interrupted > 0);
    assert_int_equal(study_run(fx->s, "run", "--out", out, fx->s->grid), 0);
    assert_same_as_reference(fx, out);
    free(out);
}

static void test_sigkill_cell(void **state)
{
    fixture *fx = *state;
    static const char *const deaths[] = { "baseline:1:train", "adv:2:eval" };
    for (int d = 0; d < 2; d++) {
        fake_env(fx, 0, 0);
        char *once = xasprintf("%s/died-%d", fx->s->dir, d);
        char *out = xasprintf("%s/cellkill-%d", fx->s->dir, d);
        setenv("FAKE_DIE", deaths[d], 1);
        setenv("FAKE_DIE_ONCE", once, 1);
        /* the killed cell fails, the others finish */
        assert_int_equal(study_run(fx->s, "run", "--out", out, fx->s->grid), 1);
        assert_true(path_exists(once));
        char *status = xasprintf("%s/status-%d", fx->s->dir, d);
        unlink(fx->s->log);
        assert_int_equal(study_run(fx->s, "status", "--out", out, fx->s->grid), 0);
        char *text = file_read(fx->s->log, NULL);
        assert_non_null(text);
        assert_non_null(strstr(text, "failed"));
        assert_non_null(strstr(text, "killed by signal 9"));
        assert_non_null(strstr(text, "11 done"));
        free(text);
        /* the next run redoes that cell from the start */
        assert_int_equal(study_run(fx->s, "run", "--out", out, fx->s->grid), 0);
        assert_same_as_reference(fx, out);
        free(status);
        free(once);
        free(out);
    }
}

static void test_two_runners(void **state)
{
    fixture *fx = *state;
    fake_env(fx, 5, 5);
    unlink(fx->fake_log);
    char *out = path_join(fx->s->dir, "pair");
    pid_t a = study_spawn(fx->s, "run", "--out", out, "-j", "2", fx->s->grid,
                          (char *)NULL);
    pid_t b = study_spawn(fx->s, "run", "--out", out, "-j", "2", fx->s->grid,
                          (char *)NULL);
    wait_exit(a);
    wait_exit(b);
    /* a cell one runner skipped as busy is finished by the other; a last
     * run picks up anything both skipped */
    assert_int_equal(study_run(fx->s, "run", "--out", out, fx->s->grid), 0);
    char *log = read_log(fx);
    assert_int_equal(count_lines(log, " train "), 12);
    free(log);
    assert_same_as_reference(fx, out);
    free(out);
}

static void test_diverged_cell(void **state)
{
    fixture *fx = *state;
    fake_env(fx, 0, 0);
    setenv("FAKE_DIVERGE", "reg:1", 1);
    char *out = path_join(fx->s->dir, "diverged");
    /* finished (done or diverged) everywhere: the grid went on */
    assert_int_equal(study_run(fx->s, "run", "--out", out, fx->s->grid), 0);
    char *got = results_projection(out);
    assert_non_null(got);
    /* both eps rows of reg seed 1 say so, with the step and no metrics */
    assert_int_equal(count_lines(got, ",diverged,"), 2);
    assert_int_equal(count_lines(got, "reg,1,4,diverged,,,,"), 1);
    assert_int_equal(count_lines(got, "reg,1,8,diverged,,,,"), 1);
    assert_int_equal(count_lines(got, ",3,fake 1.0,cells/reg/seed1"), 2);
    /* every other row as in the reference */
    int same = 0;
    for (char *p = got, *eol; (eol = strchr(p, '\n')); p = eol + 1) {
        char *line = xstrndup(p, (size_t)(eol - p));
        same += count_exact(fx->reference, line);
        free(line);
    }
    assert_int_equal(same, 1 + 18 - 2);
    free(got);
    unlink(fx->s->log);
    assert_int_equal(study_run(fx->s, "status", "--out", out, fx->s->grid), 0);
    char *text = file_read(fx->s->log, NULL);
    assert_non_null(strstr(text, "reg/seed1"));
    assert_non_null(strstr(text, "training diverged at step 3"));
    assert_non_null(strstr(text, "1 diverged"));
    free(text);
    /* a diverged cell is finished: never trained again */
    unlink(fx->fake_log);
    assert_int_equal(study_run(fx->s, "run", "--out", out, fx->s->grid), 0);
    char *log = read_log(fx);
    assert_string_equal(log, "");
    free(log);
    unsetenv("FAKE_DIVERGE");
    free(out);
}

static void test_missing_binary(void **state)
{
    fixture *fx = *state;
    fake_env(fx, 0, 0);
    char *out = path_join(fx->s->dir, "nobin");
    char *bin = path_join(fx->s->dir, "nowhere");
    assert_int_equal(study_run(fx->s, "run", "--out", out, "--bin", bin,
                               fx->s->grid), 1);
    char *text = file_read(fx->s->log, NULL);
    assert_non_null(strstr(text, "no model binary"));
    free(text);
    free(bin);
    free(out);
}

/* ---- the strong evaluation ---- */

static const char *const strong_models[] = { "baseline", "adv", "rse", NULL };
static const char strong_grid[] =
    "models baseline adv rse\n"
    "seeds 0-1\n"
    "eps 4 8\n"
    "epochs 2\n"
    "train_limit 500\n"
    "test_limit 100\n"
    "strong auto\n"
    "strong_limit 40\n"
    "strong_eps 8\n";

/* The field of column name in the row of (model, seed, eps). */
static char *field(const char *out, const char *model, int seed, int eps,
                   const char *name)
{
    char *path = path_join(out, "results.csv");
    csv_table t;
    char err[512];
    if (csv_read(path, &t, err, sizeof err) != 0)
        fail_msg("%s", err);
    free(path);
    int c = csv_column(&t, name), cm = csv_column(&t, "model"),
        cs = csv_column(&t, "seed"), ce = csv_column(&t, "eps_255");
    char *v = NULL;
    for (int i = 0; i < t.nrow && c >= 0; i++)
        if (!strcmp(t.rows[i][cm], model) && atoi(t.rows[i][cs]) == seed &&
            atoi(t.rows[i][ce]) == eps)
            v = xstrdup(t.rows[i][c]);
    csv_free(&t);
    if (!v)
        fail_msg("no %s for %s seed %d eps %d", name, model, seed, eps);
    return v;
}

static void assert_field(const char *out, const char *model, int seed, int eps,
                         const char *name, const char *want)
{
    char *v = field(out, model, seed, eps, name);
    if (strcmp(v, want))
        fail_msg("%s of %s seed %d eps %d: '%s', want '%s'", name, model, seed,
                 eps, v, want);
    free(v);
}

/* The first line of OUT/results.csv. */
static char *results_header(const char *out)
{
    char *path = path_join(out, "results.csv");
    char *text = file_read(path, NULL);
    free(path);
    assert_non_null(text);
    *strchr(text, '\n') = '\0';
    return text;
}

static void test_strong_columns(void **state)
{
    (void)state;
    scratch *s = scratch_new(strong_models, strong_grid);
    char *log = path_join(s->dir, "fake.log"), *out = path_join(s->dir, "out");
    setenv("FAKE_LOG", log, 1);
    unsetenv("FAKE_DIE");
    assert_int_equal(study_run(s, "run", s->grid), 0);
    char *header = results_header(out);
    /* the ensembles' attacks as the JSON named them: rse ran rand */
    assert_non_null(strstr(header, ",strong_clean_acc,strong_robust_acc,"
                               "strong_n,strong_seconds,strong_ensemble,strong_quick,"
                               "strong_after_apgd_ce,strong_after_apgd_t,"
                               "strong_after_square,strong_after_apgd_dlr"));
    assert_field(out, "rse", 1, 8, "strong_ensemble", "rand");
    assert_field(out, "adv", 1, 8, "strong_ensemble", "standard");
    assert_field(out, "rse", 1, 8, "strong_after_square", "");
    assert_field(out, "baseline", 0, 8, "strong_n", "40");
    assert_field(out, "baseline", 0, 8, "strong_quick", "0");
    /* not at eps 4 (not in strong_eps) */
    assert_field(out, "baseline", 0, 4, "strong_robust_acc", "");
    assert_field(out, "adv", 0, 4, "strong_n", "");
    /* the final robust accuracy is the last attack's, and never above PGD's */
    for (int seed = 0; seed < 2; seed++)
        for (int m = 0; m < 3; m++) {
            const char *last = m == 2 ? "strong_after_apgd_dlr" : "strong_after_square";
            char *a = field(out, strong_models[m], seed, 8, "strong_robust_acc");
            char *b = field(out, strong_models[m], seed, 8, last);
            char *p = field(out, strong_models[m], seed, 8, "robust_acc");
            assert_string_equal(a, b);
            assert_true(atof(a) <= atof(p));
            free(a);
            free(b);
            free(p);
        }
    char *text = file_read(log, NULL);
    assert_int_equal(count_lines(text, " strong "), 2 * 3);
    assert_int_equal(count_lines(text, " strong 0 4"), 0);
    free(text);
    free(header);

    /* a grid whose ensemble has other attacks: columns follow the JSON */
    setenv("FAKE_AA_ATTACKS", "apgd-ce,fab-t", 1);
    char *other = path_join(s->dir, "fab");
    assert_int_equal(study_run(s, "run", "--out", other, s->grid), 0);
    unsetenv("FAKE_AA_ATTACKS");
    header = results_header(other);
    assert_non_null(strstr(header, ",strong_quick,strong_after_apgd_ce,"
                               "strong_after_fab_t"));
    assert_null(strstr(header, "square"));
    char *a = field(other, "adv", 0, 8, "strong_robust_acc");
    char *b = field(other, "adv", 0, 8, "strong_after_fab_t");
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(header);
    free(other);

    /* a cell file from before the strong evaluation: merged with its
     * strong columns empty, and `run` says it lacks what the grid asks */
    char *cell = path_join(out, "cells/baseline/seed1/result.csv");
    csv_table t;
    char err[512];
    assert_int_equal(csv_read(cell, &t, err, sizeof err), 0);
    FILE *f = fopen(cell, "w");
    int cut = csv_column(&t, "strong_clean_acc");
    for (int i = -1; i < t.nrow; i++) {
        for (int j = 0; j < cut; j++) {
            fputs(j ? "," : "", f);
            csv_put(f, i < 0 ? t.head[j] : t.rows[i][j]);
        }
        fputc('\n', f);
    }
    fclose(f);
    csv_free(&t);
    unlink(s->log);
    assert_int_equal(study_run(s, "run", s->grid), 0);
    text = file_read(s->log, NULL);
    assert_non_null(strstr(text, "seed1 was finished with other settings (no "
                                 "strong evaluation at eps 8, the grid says "
                                 "strong auto)"));
    free(text);
    assert_field(out, "baseline", 1, 8, "strong_robust_acc", "");
    assert_field(out, "baseline", 1, 8, "strong_after_apgd_ce", "");
    a = field(out, "baseline", 0, 8, "strong_robust_acc");
    assert_true(*a);
    free(a);
    free(cell);
    unsetenv("FAKE_LOG");
    free(log);
    free(out);
    scratch_free(s);
}

static void test_strong_resumed(void **state)
{
    (void)state;
    scratch *s = scratch_new(strong_models, strong_grid);
    char *log = path_join(s->dir, "fake.log");
    char *ref = path_join(s->dir, "reference"), *out = path_join(s->dir, "out");
    char *once = path_join(s->dir, "died");
    setenv("FAKE_LOG", log, 1);
    unsetenv("FAKE_DIE");
    assert_int_equal(study_run(s, "run", "--out", ref, s->grid), 0);
    char *want = results_projection(ref);
    unlink(log);
    /* killed halfway through its strong evaluation, the cell fails */
    setenv("FAKE_DIE", "adv:1:strong", 1);
    setenv("FAKE_DIE_ONCE", once, 1);
    assert_int_equal(study_run(s, "run", "--out", out, s->grid), 1);
    assert_true(path_exists(once));
    char *csv = path_join(out, "cells/adv/seed1-eps8/strong-eps8.csv");
    assert_true(path_exists(csv));
    /* the next run keeps its training and continues the attack */
    assert_int_equal(study_run(s, "run", "--out", out, s->grid), 0);
    char *text = file_read(log, NULL);
    assert_int_equal(count_exact(text, "adv train 1 8"), 1);
    assert_int_equal(count_exact(text, "adv strong 1 8"), 1);
    assert_int_equal(count_exact(text, "adv strong-resumed 1 8"), 1);
    assert_int_equal(count_lines(text, "strong-resumed"), 1);
    free(text);
    assert_same_as(want, out);
    char *path = path_join(out, "cells/adv/seed1-eps8/cell.log");
    char *cell_log = file_read(path, NULL);
    assert_non_null(strstr(cell_log, "### train: kept from an earlier attempt"));
    free(cell_log);
    free(path);

    /* killed again, and the grid's strong settings changed before the
     * next run: the records of the old settings are dropped, not resumed */
    unlink(once);
    unlink(log);
    char *out2 = path_join(s->dir, "changed");
    setenv("FAKE_DIE", "rse:0:strong", 1);
    assert_int_equal(study_run(s, "run", "--out", out2, s->grid), 1);
    unsetenv("FAKE_DIE");
    char *grid2 = path_join(s->dir, "limit30.grid");
    char *gtext = file_read(s->grid, NULL);
    memcpy(strstr(gtext, "strong_limit 40"), "strong_limit 30", 15);
    assert_int_equal(file_write_atomic(grid2, gtext, strlen(gtext)), 0);
    assert_int_equal(study_run(s, "run", "--out", out2, grid2), 0);
    text = file_read(log, NULL);
    assert_int_equal(count_lines(text, "rse train 0 "), 1);
    assert_int_equal(count_exact(text, "rse strong 0 8"), 2);
    assert_int_equal(count_lines(text, "strong-resumed"), 0);
    free(text);
    assert_field(out2, "rse", 0, 8, "strong_n", "30");
    /* a finished cell is not run again */
    assert_field(out2, "rse", 1, 8, "strong_n", "40");
    free(gtext);
    free(grid2);
    free(out2);
    unsetenv("FAKE_DIE_ONCE");
    unsetenv("FAKE_LOG");
    free(csv);
    free(want);
    free(once);
    free(ref);
    free(out);
    free(log);
    scratch_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_schedule),
        cmocka_unit_test(test_sigkill_runner),
        cmocka_unit_test(test_sigkill_cell),
        cmocka_unit_test(test_two_runners),
        cmocka_unit_test(test_diverged_cell),
        cmocka_unit_test(test_missing_binary),
        cmocka_unit_test(test_strong_columns),
        cmocka_unit_test(test_strong_resumed),
    };
    return cmocka_run_group_tests_name("study_resume", tests, setup, teardown);
}
