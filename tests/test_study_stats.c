/* test_study_stats.c - the paired t-test against a textbook example with
 * published values and against SciPy's ttest_rel as an oracle; Holm's
 * correction; the notes for degenerate pairs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "stats.h"

#define ORACLE "tests/oracle/ttest_oracle.py"
#define PYTHON "/usr/bin/python3"

static void assert_close(double got, double want, double rel, const char *what)
{
    double tol = rel * fmax(1.0, fabs(want));
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: got %.17g, want %.17g\n", what, got, want);
        fail();
    }
}

/* Student's sleep data (Cushny and Peebles 1905, in Student 1908; R's
 * `sleep`): extra hours of sleep under two drugs, ten patients.
 * t.test(extra ~ group, paired = TRUE) publishes t = -4.0621, df = 9,
 * p = 0.002833 (two-sided), 95% CI -2.4598858 -0.7001142, mean -1.58. */
static const double drug1[10] = { 0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0 };
static const double drug2[10] = { 1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4 };

static void test_textbook_sleep(void **state)
{
    (void)state;
    ttest less, greater;
    ttest_paired(drug1, drug2, 10, TTEST_LESS, &less);
    ttest_paired(drug1, drug2, 10, TTEST_GREATER, &greater);
    assert_null(less.note);
    assert_int_equal(less.n, 10);
    assert_close(less.mean_d, -1.58, 1e-12, "mean difference");
    assert_close(less.t, -4.0621, 1e-4, "t");
    assert_close(less.df, 9, 0, "df");
    /* one-sided p is half the published two-sided one */
    assert_close(2 * less.p, 0.002833, 1e-3, "two-sided p");
    assert_close(greater.p, 1 - less.p, 1e-12, "p greater");
    assert_close(less.ci_lo, -2.4598858, 1e-7, "ci low");
    assert_close(less.ci_hi, -0.7001142, 1e-7, "ci high");
    assert_string_equal(p_marks(less.p), "***");
}

/* Data sets of varied size, scale and effect, from a fixed generator. */
static double uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0;
}

#define SETS 60

static void test_against_scipy(void **state)
{
    (void)state;
    if (access(PYTHON, X_OK) != 0)
        skip();
    char path[] = "/tmp/advcc-ttest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    static double x[SETS][40], y[SETS][40];
    int n[SETS];
    uint64_t s = 12345;
    for (int k = 0; k < SETS; k++) {
        n[k] = 2 + (int)(uniform(&s) * 30);
        double effect = (uniform(&s) - 0.5) * 0.2;
        double spread = 0.001 + uniform(&s) * 0.1;
        for (int i = 0; i < n[k]; i++) {
            y[k][i] = 0.5 + 0.2 * uniform(&s);
            x[k][i] = y[k][i] + effect + spread * (uniform(&s) - 0.5);
            fprintf(f, "%.17g ", x[k][i]);
        }
        fputs(";", f);
        for (int i = 0; i < n[k]; i++)
            fprintf(f, " %.17g", y[k][i]);
        fputc('\n', f);
    }
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, PYTHON " " ORACLE " %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int checked = 0;
    for (int k = 0; k < SETS; k++) {
        double t, df, pg, pl, lo, hi;
        if (fscanf(p, "%lf %lf %lf %lf %lf %lf", &t, &df, &pg, &pl, &lo, &hi) != 6)
            break;
        ttest g, l;
        ttest_paired(x[k], y[k], n[k], TTEST_GREATER, &g);
        ttest_paired(x[k], y[k], n[k], TTEST_LESS, &l);
        assert_null(g.note);
        assert_close(g.t, t, 1e-9, "t");
        assert_close(g.df, df, 0, "df");
        assert_close(g.p, pg, 1e-8, "p greater");
        assert_close(l.p, pl, 1e-8, "p less");
        assert_close(g.ci_lo, lo, 1e-9, "ci low");
        assert_close(g.ci_hi, hi, 1e-9, "ci high");
        checked++;
    }
    int rc = pclose(p);
    unlink(path);
    if (rc != 0 && checked == 0) {
        print_message("SciPy oracle not available (exit %d)\n", rc);
        skip();
    }
    assert_int_equal(checked, SETS);
}

static void test_degenerate_pairs(void **state)
{
    (void)state;
    const double a[3] = { 0.5, 0.6, 0.7 };
    const double b[3] = { 0.4, 0.5, 0.6 };   /* the same difference: 0.1 */
    ttest r;
    ttest_paired(a, b, 3, TTEST_GREATER, &r);
    assert_non_null(r.note);
    assert_non_null(strstr(r.note, "zero variance"));
    assert_true(isnan(r.p));
    assert_close(r.mean_d, 0.1, 1e-12, "mean difference");
    ttest_paired(a, a, 3, TTEST_GREATER, &r);
    assert_non_null(strstr(r.note, "identical"));
    assert_true(isnan(r.t));
    ttest_paired(a, b, 1, TTEST_LESS, &r);
    assert_non_null(strstr(r.note, "one paired seed"));
    assert_true(isnan(r.ci_lo));
    ttest_paired(a, b, 0, TTEST_LESS, &r);
    assert_non_null(strstr(r.note, "no paired seeds"));
    assert_string_equal(p_marks(r.p), "");
}

static void test_holm(void **state)
{
    (void)state;
    /* sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04
     * -> kept non-decreasing: 0.02, 0.03, 0.06, 0.06; NaN is no test */
    const double p[5] = { 0.01, 0.04, NAN, 0.03, 0.005 };
    double adj[5];
    holm_adjust(p, adj, 5);
    assert_close(adj[0], 0.03, 1e-15, "holm 0.01");
    assert_close(adj[1], 0.06, 1e-15, "holm 0.04");
    assert_true(isnan(adj[2]));
    assert_close(adj[3], 0.06, 1e-15, "holm 0.03");
    assert_close(adj[4], 0.02, 1e-15, "holm 0.005");
    const double big[2] = { 0.6, 0.7 };
    holm_adjust(big, adj, 2);
    assert_close(adj[0], 1.0, 0, "capped at 1");
    assert_close(adj[1], 1.0, 0, "capped at 1");
}

static void test_marks(void **state)
{
    (void)state;
    assert_string_equal(p_marks(0.009), "***");
    assert_string_equal(p_marks(0.01), "**");
    assert_string_equal(p_marks(0.049), "**");
    assert_string_equal(p_marks(0.05), "*");
    assert_string_equal(p_marks(0.099), "*");
    assert_string_equal(p_marks(0.1), "");
    double m, sd;
    const double v[4] = { 1, 2, 3, 4 };
    mean_sd(v, 4, &m, &sd);
    assert_close(m, 2.5, 1e-15, "mean");
    assert_close(sd, sqrt(5.0 / 3.0), 1e-15, "sample sd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_textbook_sleep),
        cmocka_unit_test(test_against_scipy),
        cmocka_unit_test(test_degenerate_pairs),
        cmocka_unit_test(test_holm),
        cmocka_unit_test(test_marks),
    };
    return cmocka_run_group_tests_name("study_stats", tests, NULL, NULL);
}
