/* test_kernels_float.c - the single-precision kernels the product runs,
 * against direct loops accumulated in double, at shapes like the seed
 * CNN's (the direct convolution under each instruction set the CPU has,
 * Winograd's F(2x2, 5x5) and F(2x2, 3x3) where they are taken);
 * and their determinism: at a given number of threads the same
 * inputs give the same bits, run after run. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conv_direct.h"
#include "isa_walk.h"
#include "kernels.h"
#include "reduce.h"
#include "rng.h"
#include "winograd.h"

#define TOL 1e-5

static advcc_rng rng;

static float *randf(long n)
{
    float *p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
    assert_non_null(p);
    for (long i = 0; i < n; i++)
        p[i] = (float)(2 * rng_uniform(&rng) - 1);
    return p;
}

static double *zerod(long n)
{
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    assert_non_null(p);
    return p;
}

/* max |got - want| / max |want|, which must stay under TOL. */
static void expect_close(const char *what, const float *got,
                         const double *want, long n)
{
    double err = 0, scale = 0;
    for (long i = 0; i < n; i++) {
        err = fmax(err, fabs(got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    assert_true(scale > 0);
    if (err > TOL * scale)
        fail_msg("%s: relative error %.3g", what, err / scale);
}

typedef struct shape {
    int ci, co, batch, h, w, k, stride, pad, ho, wo;
} shape;

static shape conv_shape_of(int ci, int co, int batch, int h, int k, int stride,
                           int pad)
{
    shape s = {ci, co, batch, h, h, k, stride, pad, 0, 0};
    s.ho = (h + 2 * pad - k) / stride + 1;
    s.wo = s.ho;
    return s;
}

static long xat(const shape *s, int c, int b, int y, int x)
{
    return (((long)c * s->batch + b) * s->h + y) * s->w + x;
}

static long yat(const shape *s, int o, int b, int y, int x)
{
    return (((long)o * s->batch + b) * s->ho + y) * s->wo + x;
}

/* Calls f(o, i, b, oy, ox, iy, ix, widx) for every tap that meets the
 * image: all three conv references are this one loop. */
#define FOR_EACH_TAP(s, BODY)                                                  \
    for (int o = 0; o < (s)->co; o++)                                          \
        for (int b = 0; b < (s)->batch; b++)                                   \
            for (int oy = 0; oy < (s)->ho; oy++)                               \
                for (int ox = 0; ox < (s)->wo; ox++)                           \
                    for (int i = 0; i < (s)->ci; i++)                          \
                        for (int ky = 0; ky < (s)->k; ky++)                    \
                            for (int kx = 0; kx < (s)->k; kx++) {              \
                                int iy = oy * (s)->stride - (s)->pad + ky;     \
                                int ix = ox * (s)->stride - (s)->pad + kx;     \
                                if (iy < 0 || iy >= (s)->h || ix < 0 ||        \
                                    ix >= (s)->w)                              \
                                    continue;                                  \
                                long wi = ((o * (s)->ci + i) * (s)->k + ky) *  \
                                              (s)->k + kx;                     \
                                long xi = xat(s, i, b, iy, ix);                \
                                long yi = yat(s, o, b, oy, ox);                \
                                BODY;                                          \
                            }

static void conv_check(shape s)
{
    long nx = (long)s.ci * s.batch * s.h * s.w;
    long ny = (long)s.co * s.batch * s.ho * s.wo;
    long nw = (long)s.co * s.ci * s.k * s.k;
    float *x = randf(nx), *w = randf(nw), *bias = randf(s.co), *dy = randf(ny);
    float *y = randf(ny), *dx = randf(nx), *dw = randf(nw), *db = randf(s.co);
    float *col = randf(nw / s.co * s.batch * s.ho * s.wo);
    double *ry = zerod(ny), *rdx = zerod(nx), *rdw = zerod(nw), *rdb = zerod(s.co);

    FOR_EACH_TAP(&s, {
        ry[yi] += (double)w[wi] * x[xi];
        rdx[xi] += (double)w[wi] * dy[yi];
        rdw[wi] += (double)dy[yi] * x[xi];
    });
    for (int o = 0; o < s.co; o++)
        for (long j = 0; j < ny / s.co; j++) {
            ry[o * (ny / s.co) + j] += bias[o];
            rdb[o] += dy[o * (ny / s.co) + j];
        }

    conv_forward(x, s.ci, s.batch, s.h, s.w, w, bias, s.co, s.k, s.stride,
                 s.pad, s.ho, s.wo, col, y);
    conv_backward_params(x, dy, s.ci, s.batch, s.h, s.w, s.co, s.k, s.stride,
                         s.pad, s.ho, s.wo, col, dw, db);
    conv_backward_input(dy, w, s.ci, s.batch, s.h, s.w, s.co, s.k, s.stride,
                        s.pad, s.ho, s.wo, col, dx);
    expect_close("conv y", y, ry, ny);
    expect_close("conv dx", dx, rdx, nx);
    expect_close("conv dw", dw, rdw, nw);
    expect_close("conv db", db, rdb, s.co);

    free(x), free(w), free(bias), free(dy), free(y), free(dx), free(dw);
    free(db), free(col), free(ry), free(rdx), free(rdw), free(rdb);
}

static void test_conv(void **state)
{
    (void)state;
    conv_check(conv_shape_of(3, 32, 4, 32, 5, 1, 2));   /* the seed CNN's */
    conv_check(conv_shape_of(32, 64, 3, 16, 5, 1, 2));
    conv_check(conv_shape_of(64, 16, 5, 8, 3, 1, 1));
    conv_check(conv_shape_of(5, 7, 3, 11, 3, 2, 1));
    conv_check(conv_shape_of(8, 6, 2, 9, 1, 1, 0));     /* pointwise */
    conv_check(conv_shape_of(2, 3, 2, 66, 3, 1, 1));    /* planes past im2col's padded copy */
    conv_check(conv_shape_of(2, 3, 2, 67, 3, 2, 1));
}

/* Image 0 of a batch alone (its channels shared out between the threads):
 * the same bits of y and dx as the batch's y and dx give it. */
static void expect_image_bits(const shape *s, const conv_shape *cs, const float *x,
                              const float *dy, const float *w, const float *bias,
                              const float *y, const float *dx)
{
    const long in_plane = (long)s->h * s->w, plane = (long)s->ho * s->wo;
    float *x1 = randf(s->ci * in_plane), *dy1 = randf(s->co * plane);
    float *y1 = randf(s->co * plane), *dx1 = randf(s->ci * in_plane);
    float *col = randf((long)s->ci * s->k * s->k * plane);
    for (int c = 0; c < s->ci; c++)
        memcpy(x1 + c * in_plane, x + (long)c * s->batch * in_plane, sizeof *x1 * (size_t)in_plane);
    for (int o = 0; o < s->co; o++)
        memcpy(dy1 + o * plane, dy + (long)o * s->batch * plane, sizeof *dy1 * (size_t)plane);
    conv_shape_forward(cs, x1, 1, w, bias, col, y1);
    conv_shape_backward_input(cs, dy1, w, 1, col, dx1);
    for (int o = 0; o < s->co; o++)
        assert_memory_equal(y1 + o * plane, y + (long)o * s->batch * plane,
                            sizeof *y1 * (size_t)plane);
    for (int c = 0; c < s->ci; c++)
        assert_memory_equal(dx1 + c * in_plane, dx + (long)c * s->batch * in_plane,
                            sizeof *dx1 * (size_t)in_plane);
    free(x1), free(dy1), free(y1), free(dx1), free(col);
}

/* The direct forward and input gradient (conv_direct.c) under each
 * instruction set this CPU has: against the double loop at shapes they
 * take, and the same bits under every one, since each output adds its taps
 * in the same order. */
static void test_conv_direct(void **state)
{
    (void)state;
    static const shape direct[] = {
        {32, 64, 3, 16, 16, 5, 1, 2, 16, 16},  /* the seed CNN's second layer */
        {32, 64, 1, 16, 16, 5, 1, 2, 16, 16},  /* one image: channels split between threads */
        {3, 32, 4, 32, 32, 5, 1, 2, 32, 32},   /* its first: the input gradient's 3 channels */
        {8, 3, 2, 16, 16, 3, 1, 1, 16, 16},    /* 3 channels over 4 rows of 16 */
        {8, 3, 1, 32, 32, 3, 1, 1, 32, 32},    /* and one image of them */
        {3, 16, 3, 32, 32, 3, 1, 1, 32, 32},
        {1, 8, 2, 36, 36, 5, 1, 0, 32, 32},    /* no padding */
        {4, 8, 2, 16, 16, 3, 1, 1, 16, 16},    /* AVX2's row block, two rows of AVX-512 */
        {8, 4, 2, 16, 16, 3, 1, 0, 14, 14},    /* the input gradient only */
        {8, 64, 1, 16, 16, 3, 1, 1, 16, 16},   /* its padded planes too large: unfolded */
        {2, 8, 2, 31, 34, 3, 1, 1, 31, 34},    /* neither: unfolded */
    };
    const enum conv_isa was = conv_direct_isa();
    const enum conv_isa isas[] = {CONV_ISA_AVX512, CONV_ISA_AVX2, CONV_ISA_NONE};
    const shape seed = direct[0];
    const conv_shape cs = conv_shape_square(seed.ci, seed.h, seed.w, seed.co, seed.k,
                                            seed.stride, seed.pad);
    const long nx = (long)seed.ci * seed.batch * seed.h * seed.w;
    const long ny = (long)seed.co * seed.batch * seed.ho * seed.wo;
    const long nw = (long)seed.co * seed.ci * seed.k * seed.k;
    float *x = randf(nx), *w = randf(nw), *bias = randf(seed.co), *dy = randf(ny);
    float *col = randf(nw / seed.co * seed.batch * seed.ho * seed.wo);
    float *first = NULL, *y = randf(ny), *first_dx = NULL, *dx = randf(nx);
    int ran = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (isas[i] == CONV_ISA_NONE || conv_direct_set_isa(isas[i]) != 0)
            continue;
        assert_true(conv_direct_fits(&cs));
        assert_true(conv_direct_fits_input(&cs));
        const conv_shape roomless = conv_shape_square(8, 16, 16, 64, 3, 1, 1);
        assert_false(conv_direct_fits_input(&roomless));
        /* the first layer's weight gradient, checked by conv_check below */
        const conv_shape first_layer = conv_shape_square(3, 32, 32, 32, 5, 1, 2);
        assert_int_equal(conv_direct_fits_params(&first_layer), isas[i] == CONV_ISA_AVX512);
        /* its input gradient, 3 channels, by AVX-512's block of 3 */
        assert_int_equal(conv_direct_fits_input(&first_layer), isas[i] == CONV_ISA_AVX512);
        ran++;
        for (size_t j = 0; j < sizeof direct / sizeof direct[0]; j++) {
            shape d = direct[j];
            d.ho = d.h + 2 * d.pad - d.k + 1;
            d.wo = d.w + 2 * d.pad - d.k + 1;
            conv_check(d);
        }
        conv_shape_forward(&cs, x, seed.batch, w, bias, col, y);
        conv_shape_backward_input(&cs, dy, w, seed.batch, col, dx);
        expect_image_bits(&seed, &cs, x, dy, w, bias, y, dx);
        if (!first) {
            first = malloc(sizeof *first * (size_t)ny);
            first_dx = malloc(sizeof *first_dx * (size_t)nx);
            assert_non_null(first);
            assert_non_null(first_dx);
            memcpy(first, y, sizeof *first * (size_t)ny);
            memcpy(first_dx, dx, sizeof *first_dx * (size_t)nx);
        } else {
            assert_memory_equal(first, y, sizeof *y * (size_t)ny);
            assert_memory_equal(first_dx, dx, sizeof *dx * (size_t)nx);
        }
    }
    assert_int_equal(conv_direct_set_isa(CONV_ISA_NONE), 0);
    assert_false(conv_direct_fits(&cs));
    assert_int_equal(conv_direct_set_isa(was), 0);
    if (!ran)
        print_message("no AVX2 or AVX-512 here: only the unfolded path checked\n");
    free(x), free(w), free(bias), free(dy), free(col), free(first), free(y), free(first_dx);
    free(dx);
}

/* Runs conv_shape_forward and conv_shape_backward_input of s on `threads`
 * threads into y and dx. */
static void conv_run(const shape *s, int threads, const float *x, const float *w,
                     const float *bias, const float *dy, float *col, float *y, float *dx)
{
    const conv_shape cs = conv_shape_square(s->ci, s->h, s->w, s->co, s->k, s->stride, s->pad);
    const int was = omp_get_max_threads();
    omp_set_num_threads(threads);
    conv_shape_forward(&cs, x, s->batch, w, bias, col, y);
    conv_shape_backward_input(&cs, dy, w, s->batch, col, dx);
    omp_set_num_threads(was);
}

/* Winograd's (winograd.c) bits for the images of big: the same whatever
 * the thread count or the instruction set of its transforms (the weight
 * gradient's, whatever the instruction set at one count), and for all
 * but the last image alone: an image's bits do not depend on the rest of
 * the batch (each group of images is multiplied at the same width, the last
 * one filled out). */
static void winograd_bits(const shape big)
{
    const long plane = (long)big.h * big.w;
    const long nx = big.ci * big.batch * plane, ny = big.co * big.batch * plane;
    const long nw = (long)big.co * big.ci * big.k * big.k;
    float *x = randf(nx), *w = randf(nw), *bias = randf(big.co);
    float *dy = randf(ny), *col = randf((long)big.ci * big.k * big.k * big.batch * plane);
    float *y[3], *dx[3];
    for (int i = 0; i < 3; i++)
        y[i] = randf(ny), dx[i] = randf(nx);
    conv_run(&big, 1, x, w, bias, dy, col, y[0], dx[0]);
    conv_run(&big, 3, x, w, bias, dy, col, y[1], dx[1]);
    assert_memory_equal(y[0], y[1], sizeof *y[0] * (size_t)ny);
    assert_memory_equal(dx[0], dx[1], sizeof *dx[0] * (size_t)nx);
    /* the weight gradient's bits at a thread count, under each set */
    const conv_shape cs = conv_shape_square(big.ci, big.h, big.w, big.co, big.k, 1, big.pad);
    float *dw[2] = {randf(nw), randf(nw)};
    const int was = omp_get_max_threads();
    omp_set_num_threads(2);
    for (int k = 0, first = 1; isa_next(&k); first = 0) {
        conv_run(&big, 2, x, w, bias, dy, col, y[2], dx[2]);
        assert_memory_equal(y[0], y[2], sizeof *y[0] * (size_t)ny);
        assert_memory_equal(dx[0], dx[2], sizeof *dx[0] * (size_t)nx);
        conv_shape_backward_params(&cs, x, dy, big.batch, col, dw[!first], NULL);
        if (!first)
            assert_memory_equal(dw[0], dw[1], sizeof *dw[0] * (size_t)nw);
    }
    omp_set_num_threads(was);
    free(dw[0]), free(dw[1]);

    /* All but the last image alone: the bits they had among all. */
    shape less = big;
    less.batch = big.batch - 1;
    const int nl = less.batch;
    assert_true(winograd_fits(&cs, big.batch));
    assert_true(winograd_fits(&cs, nl));
    float *x8 = randf(big.ci * nl * plane), *dy8 = randf(big.co * nl * plane);
    for (int c = 0; c < big.ci; c++)
        memcpy(x8 + c * nl * plane, x + c * big.batch * plane, sizeof *x8 * nl * plane);
    for (int o = 0; o < big.co; o++)
        memcpy(dy8 + o * nl * plane, dy + o * big.batch * plane, sizeof *dy8 * nl * plane);
    conv_run(&less, 2, x8, w, bias, dy8, col, y[2], dx[2]);
    for (int o = 0; o < big.co; o++)
        assert_memory_equal(y[2] + o * nl * plane, y[0] + o * big.batch * plane,
                            sizeof *y[2] * nl * plane);
    for (int c = 0; c < big.ci; c++)
        assert_memory_equal(dx[2] + c * nl * plane, dx[0] + c * big.batch * plane,
                            sizeof *dx[2] * nl * plane);
    for (int i = 0; i < 3; i++)
        free(y[i]), free(dx[i]);
    free(x), free(w), free(bias), free(dy), free(col), free(x8), free(dy8);
}

/* Winograd's F(2x2, 5x5) and F(2x2, 3x3) (winograd.c): the shapes they
 * take, against the double loop (rows of 8 or 4 tiles and of others); and
 * the same bits whatever the thread count, the instruction set of the
 * transforms, or the rest of the batch. */
static void test_winograd(void **state)
{
    (void)state;
    const shape seed = {32, 64, 8, 16, 16, 5, 1, 2, 16, 16};   /* the seed CNN's second layer */
    const shape seed3 = {64, 128, 16, 8, 8, 3, 1, 1, 8, 8};    /* and its third */
    const conv_shape cs = conv_shape_square(32, 16, 16, 64, 5, 1, 2);
    assert_true(winograd_fits(&cs, 8));
    assert_false(winograd_fits(&cs, WINOGRAD_MIN_BATCH - 1));
    /* 16 tiles an image: 5 images a product, whose room 8 images' columns
     * lack */
    const conv_shape three = conv_shape_square(64, 8, 8, 128, 3, 1, 1);
    assert_true(winograd_fits(&three, 16));
    assert_false(winograd_fits(&three, 8));
    const conv_shape first = conv_shape_square(3, 32, 32, 32, 5, 1, 2);
    const conv_shape strided = conv_shape_square(32, 16, 16, 64, 5, 2, 2);
    const conv_shape odd = conv_shape_square(32, 15, 15, 64, 5, 1, 2);
    const conv_shape valid = conv_shape_square(64, 8, 8, 128, 3, 1, 0);
    const conv_shape seven = conv_shape_square(32, 16, 16, 64, 7, 1, 3);
    assert_false(winograd_fits(&first, 100));
    assert_false(winograd_fits(&strided, 100));
    assert_false(winograd_fits(&odd, 100));
    assert_false(winograd_fits(&valid, 100));
    assert_false(winograd_fits(&seven, 100));

    conv_check(seed);
    conv_check((shape){16, 24, 9, 12, 12, 5, 1, 2, 12, 12});   /* rows of 6 tiles */
    conv_check((shape){24, 16, 8, 20, 10, 5, 1, 2, 20, 10});   /* 10 down, 5 across */
    const conv_shape taken[3] = {conv_shape_square(16, 12, 12, 24, 3, 1, 1),
                                 conv_shape_square(24, 6, 10, 16, 3, 1, 1),
                                 conv_shape_square(80, 8, 8, 72, 3, 1, 1)};
    for (int i = 0; i < 3; i++)
        assert_true(winograd_fits(&taken[i], i ? 8 : 9));
    conv_check(seed3);
    conv_check((shape){16, 24, 9, 12, 12, 3, 1, 1, 12, 12});   /* rows of 6 tiles */
    conv_check((shape){24, 16, 8, 6, 10, 3, 1, 1, 6, 10});     /* 3 down, 5 across */
    /* the kernels' transform takes 64 channels a block: 80 in, 72 out */
    const conv_shape wide = conv_shape_square(80, 8, 8, 72, 5, 1, 2);
    assert_true(winograd_fits(&wide, 8));
    conv_check((shape){80, 72, 8, 8, 8, 5, 1, 2, 8, 8});
    conv_check((shape){80, 72, 8, 8, 8, 3, 1, 1, 8, 8});

    winograd_bits((shape){32, 64, 9, 16, 16, 5, 1, 2, 16, 16});
    winograd_bits((shape){64, 128, 17, 8, 8, 3, 1, 1, 8, 8});   /* the last group short */
}

/* The double sums of BatchNorm and the bias gradient: against the same
 * sums in long double, and the same bits under every instruction set this
 * CPU has (AVX2's vectors hold twice the baseline's lanes, in the same
 * order, with no fused multiply-add). */
static void test_reduce(void **state)
{
    (void)state;
    const long n = 100003;      /* not a multiple of the 8 lanes */
    float *x = randf(n), *dy = randf(n);
    const double shift = 0.25;
    long double rs = 0, rm = 0, rq = 0, rp = 0;
    for (long i = 0; i < n; i++) {
        rs += dy[i];
        rm += x[i] - shift;
        rq += ((long double)x[i] - shift) * ((long double)x[i] - shift);
        rp += dy[i] * ((long double)x[i] - shift);
    }
    double first[5] = {0};
    int ran = 0;
    for (int k = 0; isa_next(&k);) {
        double got[5];
        got[0] = reduce_sum(dy, n);
        reduce_moments(x, n, shift, &got[1], &got[2]);
        reduce_dot(dy, x, n, shift, &got[3], &got[4]);
        const long double want[5] = {rs, rm, rq, rs, rp};
        for (int k = 0; k < 5; k++)
            assert_true(fabsl(got[k] - want[k]) <= 1e-9L * (1 + fabsl(want[k])));
        if (ran++ == 0)
            memcpy(first, got, sizeof first);
        else
            assert_memory_equal(first, got, sizeof first);
    }
    free(x), free(dy);
}

static void test_linear(void **state)
{
    (void)state;
    const int batch = 7, in = 300, out = 40;
    float *x = randf((long)batch * in), *w = randf((long)out * in);
    float *b = randf(out), *dy = randf((long)batch * out);
    float *y = randf((long)batch * out), *dx = randf((long)batch * in);
    float *dw = randf((long)out * in), *db = randf(out);
    double *ry = zerod((long)batch * out), *rdx = zerod((long)batch * in);
    double *rdw = zerod((long)out * in), *rdb = zerod(out);
    for (int n = 0; n < batch; n++)
        for (int o = 0; o < out; o++) {
            ry[n * out + o] = b[o];
            rdb[o] += dy[n * out + o];
            for (int i = 0; i < in; i++) {
                ry[n * out + o] += (double)x[n * in + i] * w[o * in + i];
                rdx[n * in + i] += (double)dy[n * out + o] * w[o * in + i];
                rdw[o * in + i] += (double)dy[n * out + o] * x[n * in + i];
            }
        }
    linear_forward(x, batch, in, w, b, out, y);
    linear_backward_params(x, dy, batch, in, out, dw, db);
    linear_backward_input(dy, w, batch, in, out, dx);
    expect_close("linear y", y, ry, (long)batch * out);
    expect_close("linear dx", dx, rdx, (long)batch * in);
    expect_close("linear dw", dw, rdw, (long)out * in);
    expect_close("linear db", db, rdb, out);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
    free(ry), free(rdx), free(rdw), free(rdb);
}

/* Products large enough to be cut into slabs, both ways, all transposes. */
static void test_gemm_slabs(void **state)
{
    (void)state;
    static const int mnk[][3] = {{40, 333, 50}, {333, 40, 50}, {97, 101, 64}};
    for (int t = 0; t < 3; t++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = mnk[t][0], n = mnk[t][1], k = mnk[t][2];
                int lda = ta ? m : k, ldb = tb ? k : n;
                float *a = randf((long)m * k), *b = randf((long)k * n);
                float *c = randf((long)m * n);
                double *want = zerod((long)m * n);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int l = 0; l < k; l++)
                            s += (double)(ta ? a[l * lda + i] : a[i * lda + l]) *
                                 (tb ? b[j * ldb + l] : b[l * ldb + j]);
                        want[i * n + j] = 0.5 * c[i * n + j] - 2 * s;
                    }
                gemm(ta, tb, m, n, k, -2, a, lda, b, ldb, 0.5f, c, n);
                expect_close("gemm", c, want, (long)m * n);
                free(a), free(b), free(c), free(want);
            }
}

static void test_batchnorm(void **state)
{
    (void)state;
    const int c = 6, n = 3 * 17 * 17;
    float *x = randf((long)c * n), *dy = randf((long)c * n);
    float *g = randf(c), *be = randf(c), *rm = randf(c), *rv = randf(c);
    float mean[6], invstd[6], dg[6], dbe[6];
    float *y = randf((long)c * n), *dx = randf((long)c * n);
    double *ry = zerod((long)c * n), *rdx = zerod((long)c * n);
    double rdg[6], rdbe[6];
    for (int ch = 0; ch < c; ch++) {
        rv[ch] = 1 + rv[ch] * rv[ch];
        for (int i = 0; i < n; i++)   /* an offset, as conv outputs have */
            x[(long)ch * n + i] = 5 + 2 * ch + x[(long)ch * n + i];
    }
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (long)ch * n, *dyc = dy + (long)ch * n;
        double m = 0, v = 0, sdy = 0, sdyx = 0;
        for (int i = 0; i < n; i++)
            m += xc[i];
        m /= n;
        for (int i = 0; i < n; i++)
            v += (xc[i] - m) * (xc[i] - m);
        v /= n;
        double is = 1 / sqrt(v + 1e-5);
        for (int i = 0; i < n; i++) {
            ry[(long)ch * n + i] = (xc[i] - m) * is * g[ch] + be[ch];
            sdy += dyc[i];
            sdyx += dyc[i] * (xc[i] - m) * is;
        }
        rdg[ch] = sdyx;
        rdbe[ch] = sdy;
        for (int i = 0; i < n; i++)
            rdx[(long)ch * n + i] = g[ch] * is *
                                    (dyc[i] - sdy / n - (xc[i] - m) * is * sdyx / n);
    }
    batchnorm_forward_train(x, c, n, g, be, rm, rv, 0, mean, invstd, y);
    batchnorm_backward_train(x, dy, c, n, g, mean, invstd, dx, dg, dbe);
    expect_close("batchnorm y", y, ry, (long)c * n);
    expect_close("batchnorm dx", dx, rdx, (long)c * n);
    expect_close("batchnorm dgamma", dg, rdg, c);
    expect_close("batchnorm dbeta", dbe, rdbe, c);
    free(x), free(dy), free(g), free(be), free(rm), free(rv), free(y), free(dx);
    free(ry), free(rdx);
}

static void test_softmax_xent(void **state)
{
    (void)state;
    const int batch = 50, classes = 10;
    float *z = randf((long)batch * classes), *d = randf((long)batch * classes);
    int labels[50], pred[50];
    double want = 0, *rd = zerod((long)batch * classes);
    for (int b = 0; b < batch; b++) {
        labels[b] = (int)rng_below(&rng, classes);
        float *zb = z + b * classes;
        for (int j = 0; j < classes; j++)
            zb[j] = 30 * zb[j] + (b == 0 ? 90.f : 0.f);
        double m = zb[0], s = 0;
        for (int j = 1; j < classes; j++)
            m = fmax(m, zb[j]);
        for (int j = 0; j < classes; j++)
            s += exp(zb[j] - m);
        want += log(s) + m - zb[labels[b]];
        for (int j = 0; j < classes; j++)
            rd[b * classes + j] = (exp(zb[j] - m) / s - (j == labels[b])) / batch;
    }
    want /= batch;
    double loss = softmax_xent(z, labels, batch, classes, d, pred);
    assert_true(fabs(loss - want) < TOL * want);
    expect_close("softmax_xent dlogits", d, rd, (long)batch * classes);
    free(z), free(d), free(rd);
}

static void test_pools(void **state)
{
    (void)state;
    const int planes = 32 * 3, h = 16, w = 16, ho = 8, wo = 8;
    float *x = randf((long)planes * h * w), *y = randf((long)planes * ho * wo);
    double *ry = zerod((long)planes * ho * wo);
    for (int p = 0; p < planes; p++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                const float *r = x + ((long)p * h + 2 * oy) * w + 2 * ox;
                ry[((long)p * ho + oy) * wo + ox] =
                    ((double)r[0] + r[1] + r[w] + r[w + 1]) / 4;
            }
    avgpool_forward(x, planes, h, w, 2, 2, ho, wo, y);
    expect_close("avgpool", y, ry, (long)planes * ho * wo);
    free(x), free(y), free(ry);
}

/* Everything a training step runs, as bits, at a given thread count. */
typedef struct step_bits {
    float *y, *dw, *db, *dx, *bn, *bnd;
} step_bits;

static const shape det = {32, 64, 20, 16, 16, 5, 1, 2, 16, 16};

static step_bits run_step(int threads, const float *x, const float *w,
                          const float *dy)
{
    const shape *s = &det;
    long nx = (long)s->ci * s->batch * s->h * s->w;
    long ny = (long)s->co * s->batch * s->ho * s->wo;
    long nw = (long)s->co * s->ci * s->k * s->k;
    float *col = malloc(sizeof *col * nw / s->co * s->batch * s->ho * s->wo);
    float g[64], be[64], rm[64] = {0}, rv[64], mean[64], invstd[64];
    step_bits r = {malloc(sizeof(float) * ny), malloc(sizeof(float) * nw),
                   malloc(sizeof(float) * s->co), malloc(sizeof(float) * nx),
                   malloc(sizeof(float) * ny), malloc(sizeof(float) * ny)};
    assert_non_null(col);
    for (int o = 0; o < s->co; o++)
        g[o] = 1 + 0.01f * o, be[o] = 0.1f * o, rv[o] = 1;
    int keep = omp_get_max_threads();
    omp_set_num_threads(threads);
    conv_forward(x, s->ci, s->batch, s->h, s->w, w, NULL, s->co, s->k,
                 s->stride, s->pad, s->ho, s->wo, col, r.y);
    batchnorm_forward_train(r.y, s->co, (int)(ny / s->co), g, be, rm, rv, 1,
                            mean, invstd, r.bn);
    batchnorm_backward_train(r.y, dy, s->co, (int)(ny / s->co), g, mean, invstd,
                             r.bnd, NULL, NULL);
    conv_backward_params(x, dy, s->ci, s->batch, s->h, s->w, s->co, s->k,
                         s->stride, s->pad, s->ho, s->wo, col, r.dw, r.db);
    conv_backward_input(dy, w, s->ci, s->batch, s->h, s->w, s->co, s->k,
                        s->stride, s->pad, s->ho, s->wo, col, r.dx);
    omp_set_num_threads(keep);
    free(col);
    return r;
}

static void step_free(step_bits *r)
{
    free(r->y), free(r->dw), free(r->db), free(r->dx), free(r->bn), free(r->bnd);
}

static void expect_same_bits(const step_bits *a, const step_bits *b)
{
    long ny = (long)det.co * det.batch * det.ho * det.wo;
    long nx = (long)det.ci * det.batch * det.h * det.w;
    long nw = (long)det.co * det.ci * det.k * det.k;
    assert_memory_equal(a->y, b->y, sizeof(float) * ny);
    assert_memory_equal(a->bn, b->bn, sizeof(float) * ny);
    assert_memory_equal(a->bnd, b->bnd, sizeof(float) * ny);
    assert_memory_equal(a->dw, b->dw, sizeof(float) * nw);
    assert_memory_equal(a->db, b->db, sizeof(float) * det.co);
    assert_memory_equal(a->dx, b->dx, sizeof(float) * nx);
}

static void expect_close_f(const char *what, const float *got,
                           const float *want, long n)
{
    double *w = zerod(n);
    for (long i = 0; i < n; i++)
        w[i] = want[i];
    expect_close(what, got, w, n);
    free(w);
}

/* Another thread count splits the work elsewhere: BLAS may then pick other
 * kernels, so only the values, not the bits, must agree. */
static void expect_same_values(const step_bits *a, const step_bits *b)
{
    long ny = (long)det.co * det.batch * det.ho * det.wo;
    long nx = (long)det.ci * det.batch * det.h * det.w;
    long nw = (long)det.co * det.ci * det.k * det.k;
    expect_close_f("y", a->y, b->y, ny);
    expect_close_f("bn", a->bn, b->bn, ny);
    expect_close_f("bn backward", a->bnd, b->bnd, ny);
    expect_close_f("dw", a->dw, b->dw, nw);
    expect_close_f("db", a->db, b->db, det.co);
    expect_close_f("dx", a->dx, b->dx, nx);
}

static void test_determinism(void **state)
{
    (void)state;
    long nx = (long)det.ci * det.batch * det.h * det.w;
    long ny = (long)det.co * det.batch * det.ho * det.wo;
    float *x = randf(nx), *w = randf((long)det.co * det.ci * det.k * det.k);
    float *dy = randf(ny);
    step_bits a = run_step(2, x, w, dy), b = run_step(2, x, w, dy);
    step_bits c = run_step(3, x, w, dy), d = run_step(3, x, w, dy);
    step_bits e = run_step(1, x, w, dy);
    expect_same_bits(&a, &b);
    expect_same_bits(&c, &d);
    expect_same_values(&a, &c);
    expect_same_values(&a, &e);
    step_free(&a), step_free(&b), step_free(&c), step_free(&d), step_free(&e);
    free(x), free(w), free(dy);
}

static int setup(void **state)
{
    (void)state;
    rng_seed(&rng, 7);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_direct),
        cmocka_unit_test(test_winograd),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_gemm_slabs),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_softmax_xent),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_determinism),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
