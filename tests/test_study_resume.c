/* test_study_resume.c - the runner against the fake model binary: every
 * cell exactly once with the numbers of an uninterrupted run, whatever is
 * killed when (the runner at random points, a model process in training
 * or in an attack), two runners at once, and a diverging cell recorded as
 * failed while the grid goes on. */
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
    "adversarial adv\n"
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

static void assert_same_as_reference(fixture *fx, const char *out)
{
    char *got = results_projection(out);
    assert_non_null(got);
    if (strcmp(got, fx->reference)) {
        print_error("results differ from the uninterrupted run:\n%s\nwant:\n%s\n",
                    got, fx->reference);
        fail();
    }
    free(got);
    tmp_files = 0;
    nftw(out, count_tmp, 16, FTW_PHYS);
    assert_int_equal(tmp_files, 0);
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

/* Every lock free within seconds: the cells died with their runner. */
static void assert_no_cell_running(fixture *fx, const char *out)
{
    grid g;
    char err[512];
    assert_int_equal(grid_load(&g, fx->s->grid, err, sizeof err), 0);
    free(g.out);
    g.out = xstrdup(out);
    int n;
    cell *cells = cells_build(&g, &n);
    for (int tries = 0; ; tries++) {
        int running = 0;
        for (int i = 0; i < n; i++)
            running += cell_state(&g, &cells[i], NULL) == CELL_RUNNING;
        if (!running)
            break;
        if (tries == 500)
            fail_msg("%d cells still locked 5 s after their runner died",
                     running);
        sleep_ms(10);
    }
    free(cells);
    grid_free(&g);
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
        sleep_ms(20 + rand_r(&seed) % 350);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_schedule),
        cmocka_unit_test(test_sigkill_runner),
        cmocka_unit_test(test_sigkill_cell),
        cmocka_unit_test(test_two_runners),
        cmocka_unit_test(test_diverged_cell),
        cmocka_unit_test(test_missing_binary),
    };
    return cmocka_run_group_tests_name("study_resume", tests, setup, teardown);
}
