/* test_noise.c - the RSE noise layer: the added values have mean 0 and
 * standard deviation sigma over many draws, are reproducible from a seed
 * and differ between seeds, leave the input in place underneath, and
 * consume exactly n draws of the generator. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "noise.h"
#include "rng.h"

#define N 1000000

static void test_moments(void **state)
{
    (void)state;
    float *x = calloc(N, sizeof *x);
    assert_non_null(x);
    advcc_rng r;
    rng_seed(&r, 11);
    const float sigma = 0.2f;
    noise_add(x, N, sigma, &r);
    double s = 0, q = 0, k4 = 0;
    for (long i = 0; i < N; i++) {
        s += x[i];
        q += (double)x[i] * x[i];
        k4 += pow(x[i], 4);
    }
    double mean = s / N, var = q / N - mean * mean;
    /* 5 standard errors: sd(mean) = sigma / sqrt(N), sd(var) ~ sigma^2
     * sqrt(2 / N) */
    assert_true(fabs(mean) < 5 * sigma / sqrt(N));
    assert_true(fabs(var - sigma * sigma) < 5 * sigma * sigma * sqrt(2.0 / N));
    /* Gaussian, not merely the right variance: E x^4 = 3 sigma^4 */
    double kurt = k4 / N / (var * var);
    assert_true(fabs(kurt - 3) < 0.05);
    free(x);
}

static void test_seeded(void **state)
{
    (void)state;
    enum { M = 1001 };                  /* odd: a spare normal is left over */
    float a[M], b[M], c[M];
    for (int i = 0; i < M; i++)
        a[i] = b[i] = c[i] = (float)i / M;
    advcc_rng ra, rb, rc, rd;
    rng_seed(&ra, 5);
    rng_seed(&rb, 5);
    rng_seed(&rc, 6);
    noise_add(a, M, 0.1f, &ra);
    noise_add(b, M, 0.1f, &rb);
    noise_add(c, M, 0.1f, &rc);
    assert_memory_equal(a, b, sizeof a);
    int same = 0;
    for (int i = 0; i < M; i++)
        same += a[i] == c[i];
    assert_true(same < 5);
    /* x + sigma * the generator's own normals, drawn in order */
    rng_seed(&rd, 5);
    for (int i = 0; i < M; i++) {
        float want = (float)i / M + (float)(0.1f * rng_normal_ziggurat(&rd));
        assert_true(fabsf(a[i] - want) <= 1e-6f);
    }
    /* exactly M draws: both generators are at the same place */
    assert_true(rng_normal(&ra) == rng_normal(&rd));
    assert_true(rng_u64(&ra) == rng_u64(&rd));
}

static void test_zero_sigma(void **state)
{
    (void)state;
    float x[4] = {1, -2, 3, 0.5f}, y[4];
    memcpy(y, x, sizeof x);
    advcc_rng r;
    rng_seed(&r, 1);
    noise_add(x, 4, 0, &r);
    assert_memory_equal(x, y, sizeof x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moments),
        cmocka_unit_test(test_seeded),
        cmocka_unit_test(test_zero_sigma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
