/* test64_quant.c - the fake quantiser and DTReLU in double precision:
 * rounding (ties away from zero), grids, bounds, the one-point grid, bit
 * widths 2 and 16, and the straight-through gradients: that each backward
 * is its definition, and that the definition is the finite-difference
 * gradient of clip(x, a, b) with respect to x, a and b. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dtrelu.h"
#include "quant.h"
#include "rng.h"
#include "fdiff.h"

#define FD_STEP 1e-6
#define FD_TOL 1e-6

/* Where a grid value sits: index j with q = lo + j s, checked integral. */
static long grid_index(double q, double lo, double s)
{
    double j = (q - lo) / s;
    assert_true(fabs(j - nearbyint(j)) < 1e-6);
    return lround(j);
}

static void test_round_ties_away(void **state)
{
    (void)state;
    /* a = 0, b = 3, 2 bits: s = 1 and x + 0.5 are exact ties */
    const double x[] = {0.5, 1.5, 2.5, 0.49, 2.51, -0.7, 3.2, 1.0};
    const double want[] = {1, 2, 3, 0, 3, 0, 3, 1};
    double y[8];
    quant_forward(x, 8, 2, 0, 3, y);
    for (int i = 0; i < 8; i++)
        assert_true(y[i] == want[i]);
    /* bounds below zero: the tie is in the index, (x - a) / s = 0.5 -> 1 */
    const double xn[] = {-2.5, -1.5, -0.5};
    const double wantn[] = {-2, -1, 0};
    quant_forward(xn, 3, 2, -3, 0, y);
    for (int i = 0; i < 3; i++)
        assert_true(y[i] == wantn[i]);
}

static void test_grid_minmax(void **state)
{
    (void)state;
    for (int bits = 2; bits <= 16; bits += 2) {
        long n = 5000;
        double *x = random_vec(n, -1.7, 2.3), *y = alloc(n);
        double lo, hi;
        quant_forward_minmax(x, n, bits, &lo, &hi, y);
        double mn = x[0], mx = x[0];
        for (long i = 1; i < n; i++) {
            mn = fmin(mn, x[i]);
            mx = fmax(mx, x[i]);
        }
        assert_true(lo == mn && hi == mx);
        double s = (hi - lo) / ((1L << bits) - 1);
        for (long i = 0; i < n; i++) {
            long j = grid_index(y[i], lo, s);
            assert_true(j >= 0 && j < (1L << bits));
            assert_true(fabs(y[i] - x[i]) <= s / 2 * (1 + 1e-9));
            /* an independent rounding: half up, as ties away from zero is
             * for the non-negative index */
            assert_true(j == (long)floor((x[i] - lo) / s + 0.5));
        }
        free(x);
        free(y);
    }
}

static void test_bits_2_and_16(void **state)
{
    (void)state;
    long n = 20000;
    double *x = random_vec(n, 0, 1), *y = alloc(n);
    double lo, hi;
    /* 2 bits: exactly four levels, all used by 20000 uniform values */
    quant_forward_minmax(x, n, 2, &lo, &hi, y);
    double levels[8];
    int nl = 0;
    for (long i = 0; i < n; i++) {
        int seen = 0;
        for (int l = 0; l < nl; l++)
            seen |= levels[l] == y[i];
        if (!seen) {
            assert_true(nl < 8);
            levels[nl++] = y[i];
        }
    }
    assert_int_equal(nl, 4);
    /* 16 bits: the error is at most half of a step of range / 65535 */
    quant_forward_minmax(x, n, 16, &lo, &hi, y);
    double s = (hi - lo) / 65535, worst = 0;
    for (long i = 0; i < n; i++)
        worst = fmax(worst, fabs(y[i] - x[i]));
    assert_true(worst <= s / 2 * (1 + 1e-9));
    assert_true(worst > s / 4);     /* but the values did move */
    free(x);
    free(y);
}

static void test_one_point_grid(void **state)
{
    (void)state;
    double x[5] = {0.25, 0.25, 0.25, 0.25, 0.25}, y[5], lo, hi;
    quant_forward_minmax(x, 5, 8, &lo, &hi, y);
    assert_true(lo == 0.25 && hi == 0.25);
    assert_memory_equal(x, y, sizeof x);
    /* fixed a == b: the values pass unchanged, and so does the gradient */
    double z[3] = {-1, 0.5, 7}, dz[3], dy[3] = {1, 2, 3};
    quant_forward(z, 3, 4, 0.5, 0.5, y);
    assert_memory_equal(z, y, sizeof z);
    quant_backward(z, dy, 3, 0.5, 0.5, dz);
    assert_memory_equal(dy, dz, sizeof dy);
}

static void test_quant_backward(void **state)
{
    (void)state;
    const double x[] = {-0.5, 0, 0.3, 1, 1.5};   /* bounds [0, 1] inclusive */
    const double dy[] = {1, 2, 3, 4, 5};
    const double want[] = {0, 2, 3, 4, 0};
    double dx[5];
    quant_backward(x, dy, 5, 0, 1, dx);
    assert_memory_equal(dx, want, sizeof want);
    memcpy(dx, dy, sizeof dx);                 /* in place */
    quant_backward(x, dx, 5, 0, 1, dx);
    assert_memory_equal(dx, want, sizeof want);
}

static void test_quant_rows(void **state)
{
    (void)state;
    int rows = 4;
    long cols = 27;
    double *w = random_vec(rows * cols, -1, 1), *y = alloc(rows * cols);
    double *dy = random_vec(rows * cols, -1, 1), *dx = alloc(rows * cols);
    for (long i = 0; i < cols; i++)
        w[2 * cols + i] *= 0.01;                /* a row of small weights */
    double lo[4], hi[4], one[27];
    quant_forward_rows(w, rows, cols, 3, lo, hi, y);
    for (int r = 0; r < rows; r++) {
        double a, b;
        quant_forward_minmax(w + r * cols, cols, 3, &a, &b, one);
        assert_true(lo[r] == a && hi[r] == b);
        assert_memory_equal(one, y + r * cols, sizeof one);
    }
    /* per-row bounds keep the small row's resolution */
    assert_true(hi[2] - lo[2] < 0.03);
    quant_backward_rows(w, dy, rows, cols, lo, hi, dx);
    assert_memory_equal(dx, dy, rows * cols * sizeof *dx);  /* all inside */
    free(w);
    free(y);
    free(dy);
    free(dx);
}

/* ---- DTReLU ---- */

typedef struct clip_op {
    long n;
    double *x, *r, a, b;
} clip_op;

/* L = sum r clip(x, a, b): what the straight-through gradient differentiates */
static double clip_loss(void *v)
{
    clip_op *c = v;
    double s = 0;
    for (long i = 0; i < c->n; i++)
        s += c->r[i] * fmin(fmax(c->x[i], c->a), c->b);
    return s;
}

/* x values kept away from a and b by more than the step */
static double *spread_inputs(long n, double a, double b)
{
    double *x = random_vec(n, a - 2, b + 2);
    for (long i = 0; i < n; i++)
        if (fabs(x[i] - a) < 1e-3 || fabs(x[i] - b) < 1e-3)
            x[i] += 0.01;
    return x;
}

static void test_dtrelu_definition(void **state)
{
    (void)state;
    long n = 301;
    double a = -0.4, b = 2.9;
    for (int bits = 2; bits <= 8; bits += 3) {
        double *x = spread_inputs(n, a, b), *dy = random_vec(n, -1, 1);
        double *y = alloc(n), *dx = alloc(n);
        dtrelu_forward(x, n, a, b, bits, y);
        double s = (b - a) / ((1L << bits) - 1);
        for (long i = 0; i < n; i++) {
            double c = fmin(fmax(x[i], a), b);
            long j = grid_index(y[i], a, s);
            assert_true(j >= 0 && j < (1L << bits));
            assert_true(fabs(y[i] - c) <= s / 2 * (1 + 1e-9));
        }
        double da, db, wa = 0, wb = 0;
        dtrelu_backward(x, dy, n, a, b, dx, &da, &db, 0);
        for (long i = 0; i < n; i++) {
            assert_true(dx[i] == (x[i] >= a && x[i] <= b ? dy[i] : 0));
            wa += x[i] < a ? dy[i] : 0;
            wb += x[i] > b ? dy[i] : 0;
        }
        assert_true(fabs(da - wa) < 1e-12 && fabs(db - wb) < 1e-12);
        assert_true(wa != 0 && wb != 0);
        /* in place, and with the parameter gradients left out */
        double *d2 = alloc(n);
        memcpy(d2, dy, n * sizeof *d2);
        dtrelu_backward(x, d2, n, a, b, d2, NULL, NULL, 0);
        assert_memory_equal(d2, dx, n * sizeof *dx);
        free(d2);
        free(x);
        free(dy);
        free(y);
        free(dx);
    }
}

static void test_dtrelu_fd(void **state)
{
    (void)state;
    long n = 200;
    clip_op c = {n, NULL, NULL, -0.3, 4.1};
    c.x = spread_inputs(n, c.a, c.b);
    c.r = random_vec(n, -1, 1);
    double *dx = alloc(n), da, db;
    dtrelu_backward(c.x, c.r, n, c.a, c.b, dx, &da, &db, 0);
    assert_fd("dtrelu dx", fd_error(clip_loss, &c, c.x, dx, n, FD_STEP),
              FD_TOL);
    assert_fd("dtrelu da", fd_error(clip_loss, &c, &c.a, &da, 1, FD_STEP),
              FD_TOL);
    assert_fd("dtrelu db", fd_error(clip_loss, &c, &c.b, &db, 1, FD_STEP),
              FD_TOL);
    free(c.x);
    free(c.r);
    free(dx);
}

/* The forward itself is a staircase: away from its jumps, moving b moves an
 * inner output on level j by j / (2^N - 1) of the change. */
static void test_dtrelu_staircase(void **state)
{
    (void)state;
    int bits = 3;
    double a = 0, b = 6, h = 1e-7, x[4] = {0.2, 1.9, 3.3, 5.0};
    double y[4], up[4], down[4];
    dtrelu_forward(x, 4, a, b, bits, y);
    dtrelu_forward(x, 4, a, b + h, bits, up);
    dtrelu_forward(x, 4, a, b - h, bits, down);
    for (int i = 0; i < 4; i++) {
        long j = grid_index(y[i], a, (b - a) / 7);
        assert_true(fabs((up[i] - down[i]) / (2 * h) - j / 7.0) < 1e-6);
    }
    dtrelu_forward(x, 4, a + h, b, bits, up);
    dtrelu_forward(x, 4, a - h, b, bits, down);
    for (int i = 0; i < 4; i++) {
        long j = grid_index(y[i], a, (b - a) / 7);
        assert_true(fabs((up[i] - down[i]) / (2 * h) - (1 - j / 7.0)) < 1e-6);
    }
}

static void test_dtrelu_crossed_bounds(void **state)
{
    (void)state;
    double x[3] = {-1, 0.5, 3}, dy[3] = {1, 2, 4}, y[3], dx[3], da, db;
    dtrelu_forward(x, 3, 1, 1, 8, y);           /* b == a */
    for (int i = 0; i < 3; i++)
        assert_true(y[i] == 1);
    dtrelu_forward(x, 3, 2, 1, 8, y);           /* b < a: min(max(x,a),b) = b */
    for (int i = 0; i < 3; i++)
        assert_true(y[i] == 1);
    dtrelu_backward(x, dy, 3, 2, 1, dx, &da, &db, 0);
    assert_true(da == 0 && db == 7);
    for (int i = 0; i < 3; i++)
        assert_true(dx[i] == 0);
}

static int setup(void **state)
{
    (void)state;
    rng_seed(&rng, 4242);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_ties_away),
        cmocka_unit_test(test_grid_minmax),
        cmocka_unit_test(test_bits_2_and_16),
        cmocka_unit_test(test_one_point_grid),
        cmocka_unit_test(test_quant_backward),
        cmocka_unit_test(test_quant_rows),
        cmocka_unit_test(test_dtrelu_definition),
        cmocka_unit_test(test_dtrelu_fd),
        cmocka_unit_test(test_dtrelu_staircase),
        cmocka_unit_test(test_dtrelu_crossed_bounds),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
