/* test_quant.c - the fake quantiser and DTReLU in the float build the
 * models run: ties rounded away from zero by roundf, the vectorised grid
 * index giving the formula's bits, and DTReLU's default
 * 8-bit grid on [0, 6], where every output is one of the 256 levels
 * j * 6 / 255 computed the same way in float; quant_grid's loop under
 * every instruction set against the element-by-element quant_value; a
 * large tensor's quantiser, by pieces on the team, giving the bounds and
 * the bits of the one-thread pass at every thread count; DTReLU's
 * backward loop under every instruction set against its documented
 * order of sums. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <omp.h>

#include "conv_direct.h"
#include "dtrelu.h"
#include "isa_walk.h"
#include "quant.h"
#include "rng.h"

static void test_ties_float(void **state)
{
    (void)state;
    const float x[] = {0.5f, 1.5f, 2.5f, -4.0f, 9.0f};
    const float want[] = {1, 2, 3, 0, 3};
    float y[5];
    quant_forward(x, 5, 2, 0, 3, y);
    assert_memory_equal(y, want, sizeof y);
}

/* The clamp of the grid index gives the bits of the formula with the clip
 * of x and roundf: at random points, at the bounds, beyond them and at
 * (and one float either side of) the midpoints between levels. */
static void test_formula_bits(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 17);
    long checked = 0;
    for (int trial = 0; trial < 300; trial++) {
        int bits = 2 + (int)rng_below(&r, 15);
        float lo = (float)(4 * rng_uniform(&r) - 2);
        float hi = lo + (float)(3 * rng_uniform(&r) + 1e-3);
        float s = quant_step(lo, hi, bits), top = quant_top(bits);
        for (int p = 0; p < 200; p++) {
            float x;
            if (p < 100) {
                x = (float)(lo - 1 + (hi - lo + 2) * rng_uniform(&r));
            } else {
                float j = (float)rng_below(&r, (uint32_t)top) + 0.5f;
                x = lo + j * s;
                if (p % 3 == 1)
                    x = nextafterf(x, INFINITY);
                else if (p % 3 == 2)
                    x = nextafterf(x, -INFINITY);
            }
            if (p == 0)
                x = lo;
            if (p == 1)
                x = hi;
            if (p == 2)
                x = nextafterf(hi, INFINITY);
            float c = fminf(fmaxf(x, lo), hi);
            float want = s * roundf((c - lo) / s) + lo;
            float got = quant_value(x, lo, s, top);
            if (got != want)
                fail_msg("bits %d [%.9g, %.9g] x %.9g: %.9g, formula %.9g",
                         bits, lo, hi, x, got, want);
            checked++;
        }
    }
    assert_int_equal(checked, 60000);
}

static void test_dtrelu_default_grid(void **state)
{
    (void)state;
    enum { M = 10000 };
    static float x[M], y[M];
    advcc_rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < M; i++)
        x[i] = (float)(8 * rng_uniform(&r) - 1);
    dtrelu_forward(x, M, 0, 6, 8, y);
    const float s = 6.0f / 255.0f;
    for (int i = 0; i < M; i++) {
        float c = x[i] < 0 ? 0 : x[i] > 6 ? 6 : x[i];
        float j = roundf(c / s);
        assert_true(y[i] == s * j);             /* bit for bit */
        assert_true(fabsf(y[i] - c) <= s / 2 * 1.0001f);
    }
}

/* quant_grid is quant_value element by element, bit for bit, with and
 * without the affine step, under each instruction set the CPU has: random
 * values around [lo, hi], the levels' midpoints, both bounds, a NaN, and a
 * length that is not a whole number of vectors. */
static void test_grid_kernels(void **state)
{
    (void)state;
    enum { M = 10007 };
    static float x[M], y[M];
    advcc_rng r;
    rng_seed(&r, 5);
    const float lo = -0.75f, hi = 2.5f, top = quant_top(6), s = quant_step(lo, hi, 6);
    const float scale = 1.3f, shift = -0.2f;
    for (int i = 0; i < M; i++)
        x[i] = (float)(6 * rng_uniform(&r) - 2);
    for (int j = 0; j < 64 && 3 * j + 2 < M; j++) {
        x[3 * j] = lo + ((float)j + 0.5f) * s;
        x[3 * j + 1] = (lo + ((float)j + 0.5f) * s - shift) / scale;
    }
    x[M - 1] = lo, x[M - 2] = hi, x[M - 3] = NAN;
    for (int k = 0; isa_next(&k);)
        for (int affine = 0; affine < 2; affine++) {
            quant_grid(x, M, affine, scale, shift, lo, s, top, y);
            for (int i = 0; i < M; i++) {
                const float want = quant_value(affine ? x[i] * scale + shift : x[i], lo, s, top);
                if (memcmp(&y[i], &want, sizeof want) != 0)
                    fail_msg("isa %d affine %d x %.9g: %.9g, quant_value %.9g",
                             (int)conv_direct_isa(), affine, x[i], y[i], want);
            }
        }
}

/* dtrelu_gradient as dtrelu.h documents it, a value at a time: z, the
 * gradient kept or not, and the sums in lanes by position within blocks,
 * the lanes added pairwise, the blocks in double. */
static void gradient_reference(const float *y, long n, int affine, float s, float t, float lo,
                               float hi, int pass, const float *g, float *dz, double *below,
                               double *above)
{
    for (long start = 0; start < n; start += DTRELU_BLOCK) {
        float lb[DTRELU_LANES] = {0}, ab[DTRELU_LANES] = {0};
        for (long i = start; i < n && i < start + DTRELU_BLOCK; i++) {
            const float z = affine ? y[i] * s + t : y[i], gi = g[i];
            const int l = (int)((i - start) % DTRELU_LANES);
            if (z < lo)
                lb[l] += gi;
            if (z > hi)
                ab[l] += gi;
            if (dz)
                dz[i] = pass || (z >= lo && z <= hi) ? gi : 0;
        }
        for (int w = DTRELU_LANES / 2; w >= 1; w /= 2)
            for (int l = 0; l < w; l++) {
                lb[l] += lb[l + w];
                ab[l] += ab[l + w];
            }
        *below += lb[0];
        *above += ab[0];
    }
}

/* dtrelu_gradient under each instruction set the CPU has gives the
 * reference's bits: with and without BatchNorm's affine step, with and
 * without dz (and dz on g), under BPDA, at lengths around a vector and a
 * block; and dtrelu_backward the same sums. */
static void test_dtrelu_gradient(void **state)
{
    (void)state;
    enum { M = 2 * DTRELU_BLOCK + 37 };
    static float y[M], g[M], dz[M], want[M], inplace[M];
    advcc_rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < M; i++) {
        y[i] = (float)(9 * rng_uniform(&r) - 2);
        g[i] = (float)(2 * rng_uniform(&r) - 1);
    }
    y[5] = 0, y[6] = 6;     /* on the bounds: kept */
    y[7] = NAN;             /* neither below, above nor kept */
    const float lo = 0, hi = 6, s = 1.25f, t = -0.5f;
    const long lengths[] = {1, 15, 16, 17, 100, DTRELU_BLOCK, DTRELU_BLOCK + 1, M};
    for (int v = 0; isa_next(&v);) {
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++)
            for (int affine = 0; affine < 2; affine++)
                for (int pass = 0; pass < 2; pass++) {
                    const long n = lengths[k];
                    double wb = 0.5, wa = -0.25, b = 0.5, a = -0.25;   /* added to */
                    gradient_reference(y, n, affine, s, t, lo, hi, pass, g, want, &wb, &wa);
                    dtrelu_gradient(y, n, affine, s, t, lo, hi, pass, g, dz, &b, &a);
                    assert_memory_equal(dz, want, n * sizeof *dz);
                    assert_true(b == wb && a == wa);
                    b = 0.5, a = -0.25;
                    dtrelu_gradient(y, n, affine, s, t, lo, hi, pass, g, NULL, &b, &a);
                    assert_true(b == wb && a == wa);
                    memcpy(inplace, g, n * sizeof *g);
                    b = 0.5, a = -0.25;
                    dtrelu_gradient(y, n, affine, s, t, lo, hi, pass, inplace, inplace, &b, &a);
                    assert_memory_equal(inplace, want, n * sizeof *dz);
                    assert_true(b == wb && a == wa);
                }
        float dlo, dhi;
        double wb = 0, wa = 0;
        gradient_reference(y, M, 0, 1, 0, lo, hi, 0, g, want, &wb, &wa);
        dtrelu_backward(y, g, M, lo, hi, dz, &dlo, &dhi, 0);
        assert_memory_equal(dz, want, sizeof dz);
        assert_true(dlo == (float)wb && dhi == (float)wa && wb != 0 && wa != 0);
    }
}

/* quant_forward_minmax on a tensor large enough to go by pieces (a
 * seed-CNN first linear weight, and a length no piece divides) at 1, 2 and
 * 3 threads: the bounds and every quantised value of quant_minmax and
 * quant_forward on the whole, the extremes placed in different pieces. */
static void test_minmax_pieces(void **state)
{
    (void)state;
    static const long lengths[] = {524288, 100003};
    advcc_rng r;
    rng_seed(&r, 77);
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        const long n = lengths[k];
        float *x = malloc(sizeof *x * (size_t)n), *want = malloc(sizeof *x * (size_t)n),
              *got = malloc(sizeof *x * (size_t)n);
        assert_non_null(x);
        assert_non_null(want);
        assert_non_null(got);
        for (long i = 0; i < n; i++)
            x[i] = (float)(rng_uniform(&r) * 0.2 - 0.1);
        /* the bounds in the first, a middle and the last piece */
        x[k ? n - 5 : 3] = -0.25f;
        x[k ? 1 : n / 3] = 0.3f;
        float lo, hi;
        quant_minmax(x, n, &lo, &hi);
        assert_true(lo == -0.25f && hi == 0.3f);
        quant_forward(x, n, 8, lo, hi, want);
        const int saved = omp_get_max_threads();
        for (int t = 1; t <= 3; t++) {
            omp_set_num_threads(t);
            float plo = 0, phi = 0;
            quant_forward_minmax(x, n, 8, &plo, &phi, got);
            assert_true(plo == lo && phi == hi);
            assert_memory_equal(got, want, sizeof *x * (size_t)n);
        }
        omp_set_num_threads(saved);
        free(x);
        free(want);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ties_float),
        cmocka_unit_test(test_formula_bits),
        cmocka_unit_test(test_dtrelu_default_grid),
        cmocka_unit_test(test_grid_kernels),
        cmocka_unit_test(test_dtrelu_gradient),
        cmocka_unit_test(test_minmax_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
