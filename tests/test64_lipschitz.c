/* test64_lipschitz.c - the operator-norm bounds of runtime/lipschitz.h
 * against LAPACK's largest singular value (dgesvd) of the explicitly built
 * operator: random matrices, and the true operators of small convolutions
 * (paddings 0 to 2, kernels 1 to 5, square and rectangular, strides 1 and
 * 2, one and several channels).  Every bound must be at least the true value; the Gram
 * iteration on a dense matrix within 1% of it after the default
 * iterations; the Fourier bound of a zero-padded convolution within the
 * gap measured here for tiny grids (it is the norm of a circular
 * convolution on a grid larger than the input, of which the padded
 * operator is a submatrix); power iteration never above it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <lapacke.h>

#include "lipschitz.h"
#include "rng.h"
#include "fdiff.h"
#include "dense_operator.h"

/* The largest ratio bound / true seen for the Fourier bound on the tiny
 * grids below (measured: see test_conv_fourier's output); a guard, not a
 * property. */
#define FOURIER_GAP_TINY 0.25
#define FOURIER_GAP_MID 0.05    /* grids of 12 and more, stride 1 */

static const int lin_shapes[][2] = {{7, 5}, {5, 7}, {20, 13}, {1, 9},
                                    {9, 1}, {30, 30}, {64, 40}, {10, 200}};
#define N_LIN (int)(sizeof lin_shapes / sizeof lin_shapes[0])

static void test_gram_dense(void **state)
{
    (void)state;
    for (int s = 0; s < N_LIN; s++) {
        int r = lin_shapes[s][0], c = lin_shapes[s][1];
        double *w = random_vec((long)r * c, -1, 1);
        double want = sigma_max(w, r, c);
        double got = lip_gram(w, r, c, LIP_GRAM_ITERS);
        double est = lip_power(w, r, c, LIP_POWER_ITERS);
        if (!(got >= want))
            fail_msg("gram %dx%d: bound %.12g below the true %.12g", r, c, got, want);
        if (!(got <= want * 1.01))
            fail_msg("gram %dx%d: bound %.12g more than 1%% above %.12g", r, c, got, want);
        if (!(est <= want * (1 + 1e-12)))
            fail_msg("power %dx%d: %.12g above the true %.12g", r, c, est, want);
        /* fewer iterations: looser, still a bound */
        for (int it = 1; it < 4; it++)
            assert_true(lip_gram(w, r, c, it) >= want);
        free(w);
    }
}

/* A matrix whose singular values are all equal is Gram iteration's worst
 * case (rank^(1/2^t)): still a bound, within 1% at the default. */
static void test_gram_flat_spectrum(void **state)
{
    (void)state;
    int n = 50;
    double *a = calloc((size_t)n * n, sizeof *a);
    for (int i = 0; i < n; i++)
        a[i * n + (i * 7) % n] = 3;     /* a scaled permutation */
    double got = lip_gram(a, n, n, LIP_GRAM_ITERS);
    assert_true(got >= 3 && got <= 3 * 1.01);
    double zero[6] = {0};
    assert_true(lip_gram(zero, 2, 3, 5) == 0);
    free(a);
}

/* A square kernel, or with kw > 0 a rectangle: k, stride and pad are then
 * the height's, kw, sw and pw the width's. */
typedef struct conv_case {
    int co, ci, k, h, w, stride, pad;
    int kw, sw, pw;
} conv_case;

static conv_shape case_shape(const conv_case *c)
{
    conv_shape s = conv_shape_square(c->ci, c->h, c->w, c->co, c->k, c->stride, c->pad);
    if (c->kw > 0) {
        s.kw = c->kw;
        s.stride_w = c->sw;
        s.pad_w = c->pw;
        s.out_w = (c->w + 2 * c->pw - c->kw) / c->sw + 1;
    }
    return s;
}

static long case_weights(const conv_case *c)
{
    const conv_shape s = case_shape(c);
    return (long)s.out_c * s.in_c * s.kh * s.kw;
}

static const conv_case convs[] = {
    {1, 1, 3, 5, 5, 1, 1, 0, 0, 0}, {2, 3, 3, 6, 6, 1, 1, 0, 0, 0}, {3, 2, 5, 7, 7, 1, 2, 0, 0, 0},
    {4, 3, 3, 5, 4, 1, 0, 0, 0, 0}, {2, 2, 1, 6, 6, 1, 0, 0, 0, 0}, {3, 3, 3, 8, 8, 2, 1, 0, 0, 0},
    {2, 4, 5, 9, 9, 2, 2, 0, 0, 0}, {5, 1, 3, 6, 6, 1, 2, 0, 0, 0}, {1, 4, 2, 6, 6, 1, 1, 0, 0, 0},
    {4, 4, 3, 4, 4, 1, 1, 0, 0, 0},
};
#define N_CONV (int)(sizeof convs / sizeof convs[0])

/* Rectangular kernels, strides and paddings differing between the axes. */
static const conv_case rect_convs[] = {
    {2, 3, 1, 6, 7, 1, 0, 3, 1, 1}, {3, 2, 3, 7, 5, 1, 1, 1, 1, 0},
    {2, 2, 3, 6, 8, 2, 1, 5, 1, 2}, {3, 2, 5, 9, 6, 1, 0, 3, 2, 1},
};
#define N_RECT (int)(sizeof rect_convs / sizeof rect_convs[0])

static double conv_true(const conv_case *c, const double *wt)
{
    const conv_shape cs = case_shape(c);
    const int ho = cs.out_h, wo = cs.out_w;
    double *op = malloc(sizeof(double) * (size_t)c->co * ho * wo * c->ci * c->h * c->w);
    conv_dense(wt, &cs, op);
    double s = sigma_max(op, c->co * ho * wo, c->ci * c->h * c->w);
    free(op);
    return s;
}

/* The dense bound within 1% above the true norm, power iteration within 1%
 * below it. */
static void check_dense(const conv_case *c, int i)
{
    double *wt = random_vec(case_weights(c), -1, 1);
    double want = conv_true(c, wt);
    const conv_shape cs = case_shape(c);
    double got = lip_conv_dense(wt, &cs, LIP_GRAM_ITERS, 1L << 22);
    double est = lip_power_conv(wt, &cs, LIP_POWER_ITERS * 5);
    if (!(got >= want && got <= want * 1.01))
        fail_msg("dense conv case %d: bound %.12g, true %.12g", i, got, want);
    if (!(est <= want * (1 + 1e-12) && est >= want * 0.99))
        fail_msg("power conv case %d: %.12g, true %.12g", i, est, want);
    assert_true(lip_conv_dense(wt, &cs, LIP_GRAM_ITERS, 10) == -2);
    free(wt);
}

/* The Fourier bound above the true norm, by at most FOURIER_GAP_TINY; the
 * gap. */
static double check_fourier(const conv_case *c, int i)
{
    double *wt = random_vec(case_weights(c), -1, 1);
    double want = conv_true(c, wt);
    const conv_shape cs = case_shape(c);
    double got = lip_conv_fourier(wt, &cs, LIP_GRAM_ITERS);
    if (!(got >= want))
        fail_msg("fourier case %d: bound %.12g below the true %.12g", i, got, want);
    double gap = got / want - 1;
    if (getenv("LIP_VERBOSE"))
        printf("case %d (co %d ci %d k %dx%d %dx%d s %d,%d p %d,%d): gap %.2f%%\n", i, c->co,
               c->ci, cs.kh, cs.kw, c->h, c->w, cs.stride_h, cs.stride_w, cs.pad_h, cs.pad_w,
               100 * gap);
    if (!(gap <= FOURIER_GAP_TINY))
        fail_msg("fourier case %d: gap %.3g", i, gap);
    free(wt);
    return gap;
}

static void test_conv_dense(void **state)
{
    (void)state;
    for (int i = 0; i < N_CONV; i++)
        check_dense(&convs[i], i);
}

static void test_conv_fourier(void **state)
{
    (void)state;
    double worst = 0;
    for (int i = 0; i < N_CONV; i++)
        worst = fmax(worst, check_fourier(&convs[i], i));
    printf("fourier bound on tiny grids: largest gap %.2f%%\n", 100 * worst);
}

/* Rectangular kernels: the same checks, the same guard. */
static void test_conv_rect(void **state)
{
    (void)state;
    double worst = 0;
    for (int i = 0; i < N_RECT; i++) {
        check_dense(&rect_convs[i], i);
        worst = fmax(worst, check_fourier(&rect_convs[i], i));
    }
    printf("fourier bound, rectangular kernels: largest gap %.2f%%\n", 100 * worst);
}

/* Larger grids, stride 1: the boundary matters less, the bound tightens. */
static void test_conv_fourier_mid(void **state)
{
    (void)state;
    static const conv_case mid[] = {{3, 2, 3, 12, 12, 1, 1, 0, 0, 0},
                                    {2, 2, 5, 14, 14, 1, 2, 0, 0, 0},
                                    {4, 3, 3, 16, 16, 1, 1, 0, 0, 0}};
    double worst = 0;
    for (int i = 0; i < 3; i++) {
        const conv_case *c = &mid[i];
        double *wt = random_vec(case_weights(c), -1, 1);
        double want = conv_true(c, wt);
        const conv_shape cs = case_shape(c);
        double got = lip_conv_fourier(wt, &cs, LIP_GRAM_ITERS);
        assert_true(got >= want);
        if (getenv("LIP_VERBOSE"))
            printf("mid case %d: gap %.2f%%\n", i, 100 * (got / want - 1));
        if (got / want - 1 > worst)
            worst = got / want - 1;
        if (!(got <= want * (1 + FOURIER_GAP_MID)))
            fail_msg("fourier mid case %d: bound %.12g, true %.12g", i, got, want);
        free(wt);
    }
    printf("fourier bound on 12..16 grids: largest gap %.2f%%\n", 100 * worst);
}

/* A single-tap kernel (k = 1) is a channel-mixing matrix at every pixel:
 * every bound is that matrix's norm exactly. */
static void test_conv_1x1_exact(void **state)
{
    (void)state;
    double *wt = random_vec(4 * 3, -1, 1);
    double want = sigma_max(wt, 4, 3);
    const conv_shape cs = conv_shape_square(3, 5, 5, 4, 1, 1, 0);
    double got = lip_conv_fourier(wt, &cs, LIP_GRAM_ITERS);
    assert_true(got >= want && got <= want * 1.01);
    free(wt);
}

int main(void)
{
    rng_seed(&rng, 16);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gram_dense),
        cmocka_unit_test(test_gram_flat_spectrum),
        cmocka_unit_test(test_conv_dense),
        cmocka_unit_test(test_conv_fourier),
        cmocka_unit_test(test_conv_fourier_mid),
        cmocka_unit_test(test_conv_1x1_exact),
        cmocka_unit_test(test_conv_rect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
