/* test64_threshold.c - the multi-threshold activations of threshold_act.h in
 * double precision: hand-worked values, the threshold gradients against
 * finite differences (inputs kept away from the jumps, where the staircase
 * is differentiable in its thresholds), the straight-through input gradient
 * against its definition and against the finite-difference gradient of the
 * clip, the piecewise-linear variant's exact gradients, sorting, and the
 * behaviour the variants exist to show: on the same toy objective the naive
 * thresholds collapse and DDTReLU's stay spread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rng.h"
#include "threshold_act.h"
#include "fdiff.h"

#define FD_STEP 1e-6
#define FD_TOL 1e-6
#define K 6

typedef struct act_op {
    int kind;               /* 0 naive, 1 ddtrelu, 2 pwl */
    long n;
    double *x, *r, *y, t[K], v[K];
} act_op;

static double act_loss(void *p)
{
    act_op *a = p;
    if (a->kind == 0)
        naive_threshold_forward(a->x, a->n, a->t, K, a->y);
    else if (a->kind == 1)
        ddtrelu_forward(a->x, a->n, a->t, K, a->y);
    else
        pwl_forward(a->x, a->n, a->t, a->v, K, a->y);
    return dot(a->r, a->y, a->n);
}

/* Clip to [t[0], t[K-1]]: what the straight-through input gradient is the
 * gradient of. */
static double clip_loss(void *p)
{
    act_op *a = p;
    double s = 0;
    for (long i = 0; i < a->n; i++)
        s += a->r[i] * fmin(fmax(a->x[i], a->t[0]), a->t[K - 1]);
    return s;
}

/* True when x is within d of a point where the output jumps. */
static int near_jump(const act_op *a, double x, double d)
{
    for (int j = 0; j < K; j++) {
        if (fabs(x - a->t[j]) < d)
            return 1;
        if (j + 1 < K && fabs(x - (a->t[j] + a->t[j + 1]) / 2) < d)
            return 1;
    }
    return 0;
}

static void op_setup(act_op *a, int kind, long n)
{
    const double t[K] = {-0.5, 0.1, 0.4, 1.3, 2.0, 3.1};
    a->kind = kind;
    a->n = n;
    memcpy(a->t, t, sizeof t);
    for (int j = 0; j < K; j++)
        a->v[j] = t[j] * t[j] - 0.3 * j;        /* not monotone on purpose */
    a->x = random_vec(n, -1.5, 4);
    for (long i = 0; i < n; i++)
        while (near_jump(a, a->x[i], 1e-3))
            a->x[i] += 2.5e-3;
    a->r = random_vec(n, -1, 1);
    a->y = alloc(n);
}

static void op_teardown(act_op *a)
{
    free(a->x);
    free(a->r);
    free(a->y);
}

static void test_values(void **state)
{
    (void)state;
    const double t[3] = {0, 1, 3};
    const double x[7] = {-1, 0, 0.4, 0.6, 1.9, 2.1, 5};
    const double naive[7] = {0, 0, 0, 0, 1, 1, 3};
    const double ddt[7] = {0, 0, 0, 1, 1, 3, 3};
    const double v[3] = {1, 2, 0};
    const double pwl[7] = {1, 1, 1.4, 1.6, 2 - 0.9, 2 - 1.1, 0};
    double y[7];
    naive_threshold_forward(x, 7, t, 3, y);
    assert_memory_equal(y, naive, sizeof y);
    ddtrelu_forward(x, 7, t, 3, y);
    assert_memory_equal(y, ddt, sizeof y);
    pwl_forward(x, 7, t, v, 3, y);
    for (int i = 0; i < 7; i++)
        assert_true(fabs(y[i] - pwl[i]) < 1e-12);
}

static void check_staircase(int kind)
{
    act_op a;
    op_setup(&a, kind, 400);
    double *dx = alloc(a.n), dt[K];
    if (kind == 0)
        naive_threshold_backward(a.x, a.r, a.n, a.t, K, dx, dt, 0);
    else
        ddtrelu_backward(a.x, a.r, a.n, a.t, K, dx, dt, 0);
    const char *name = kind ? "ddtrelu" : "naive";
    assert_fd(name, fd_error(act_loss, &a, a.t, dt, K, FD_STEP), FD_TOL);
    assert_fd(name, fd_error(clip_loss, &a, a.x, dx, a.n, FD_STEP), FD_TOL);
    for (long i = 0; i < a.n; i++)
        assert_true(dx[i] == (a.x[i] >= a.t[0] && a.x[i] <= a.t[K - 1] ?
                              a.r[i] : 0));
    /* the definition: which elements feed which threshold */
    double want[K] = {0};
    for (long i = 0; i < a.n; i++) {
        int j = 0;
        if (kind == 0) {
            while (j + 1 < K && a.x[i] >= a.t[j + 1])
                j++;
        } else {
            while (j + 1 < K && a.x[i] >= (a.t[j] + a.t[j + 1]) / 2)
                j++;
        }
        want[j] += a.r[i];
    }
    for (int j = 0; j < K; j++)
        assert_true(fabs(dt[j] - want[j]) < 1e-12);
    /* in place, thresholds left out */
    double *d2 = alloc(a.n);
    memcpy(d2, a.r, a.n * sizeof *d2);
    if (kind == 0)
        naive_threshold_backward(a.x, d2, a.n, a.t, K, d2, NULL, 0);
    else
        ddtrelu_backward(a.x, d2, a.n, a.t, K, d2, NULL, 0);
    assert_memory_equal(d2, dx, a.n * sizeof *dx);
    free(d2);
    free(dx);
    op_teardown(&a);
}

static void test_naive_gradients(void **state)
{
    (void)state;
    check_staircase(0);
}

static void test_ddtrelu_gradients(void **state)
{
    (void)state;
    check_staircase(1);
}

static void test_pwl_gradients(void **state)
{
    (void)state;
    act_op a;
    op_setup(&a, 2, 400);
    double *dx = alloc(a.n), dt[K], dv[K];
    pwl_backward(a.x, a.r, a.n, a.t, a.v, K, dx, dt, dv, 0);
    assert_fd("pwl dt", fd_error(act_loss, &a, a.t, dt, K, FD_STEP), FD_TOL);
    assert_fd("pwl dv", fd_error(act_loss, &a, a.v, dv, K, FD_STEP), FD_TOL);
    /* dL/dx[i] = r[i] dy/dx: compare per element against sum r y */
    assert_fd("pwl dx", fd_error(act_loss, &a, a.x, dx, a.n, FD_STEP), FD_TOL);
    free(dx);
    op_teardown(&a);
}

static void test_sort(void **state)
{
    (void)state;
    double t[5] = {3, -1, 2, 2.5, 0}, v[5] = {30, -10, 20, 25, 0};
    thresholds_sort(t, v, 5);
    for (int j = 0; j < 5; j++) {
        if (j)
            assert_true(t[j - 1] <= t[j]);
        assert_true(v[j] == 10 * t[j]);
    }
    double u[3] = {2, 1, 0};
    thresholds_sort(u, NULL, 3);
    assert_true(u[0] == 0 && u[1] == 1 && u[2] == 2);
}

/* SGD on the thresholds for the loss mean (f(x) - relu(x))^2, x ~ N(0.5, 1):
 * the toy objective of examples/activations.  Returns how many output
 * levels the trained function really uses on fresh data: exp of the entropy
 * of the level distribution (K when all levels are equally used, 1 for a
 * constant function). */
static double train_levels(int kind)
{
    enum { B = 500, STEPS = 1500, TEST = 20000 };
    static double x[TEST], y[TEST], dy[B];
    double t[K], dt[K];
    for (int j = 0; j < K; j++)
        t[j] = j * 0.6;
    advcc_rng r;
    rng_seed(&r, 99);
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < B; i++)
            x[i] = 0.5 + rng_normal(&r);
        if (kind == 0)
            naive_threshold_forward(x, B, t, K, y);
        else
            ddtrelu_forward(x, B, t, K, y);
        for (int i = 0; i < B; i++)
            dy[i] = 2 * (y[i] - fmax(x[i], 0)) / B;
        if (kind == 0)
            naive_threshold_backward(x, dy, B, t, K, NULL, dt, 0);
        else
            ddtrelu_backward(x, dy, B, t, K, NULL, dt, 0);
        for (int j = 0; j < K; j++)
            t[j] -= 0.2 * dt[j];
        thresholds_sort(t, NULL, K);
    }
    for (int i = 0; i < TEST; i++)
        x[i] = 0.5 + rng_normal(&r);
    if (kind == 0)
        naive_threshold_forward(x, TEST, t, K, y);
    else
        ddtrelu_forward(x, TEST, t, K, y);
    double count[K] = {0}, h = 0;
    for (int i = 0; i < TEST; i++)
        for (int j = 0; j < K; j++)
            count[j] += y[i] == t[j];
    for (int j = 0; j < K; j++)
        if (count[j] > 0)
            h -= count[j] / TEST * log(count[j] / TEST);
    return exp(h);
}

static void test_collapse_and_stability(void **state)
{
    (void)state;
    double naive = train_levels(0), ddt = train_levels(1);
    print_message("levels in use (of %d): naive %.2f, ddtrelu %.2f\n", K,
                  naive, ddt);
    assert_true(naive < 1.5);       /* nearly constant: collapsed */
    assert_true(ddt > 4);           /* most levels in use */
}

static int setup(void **state)
{
    (void)state;
    rng_seed(&rng, 777);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_naive_gradients),
        cmocka_unit_test(test_ddtrelu_gradients),
        cmocka_unit_test(test_pwl_gradients),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_collapse_and_stability),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
