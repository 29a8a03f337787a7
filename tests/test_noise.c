/* test_noise.c - the RSE noise layer: the added values have mean 0 and
 * standard deviation sigma over many draws, are reproducible from a seed
 * and differ between seeds, leave the input untouched when written
 * elsewhere, come chunk by chunk from split streams whatever the thread
 * count, and are recorded, with dropout's, for a program that replays
 * them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <omp.h>
#include "dropout.h"
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
    noise_add(x, x, N, sigma, &r);
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
    float a[M], b[M], c[M], x[M];
    for (int i = 0; i < M; i++)
        a[i] = c[i] = x[i] = (float)i / M;
    advcc_rng ra, rb, rc, rd;
    rng_seed(&ra, 5);
    rng_seed(&rb, 5);
    rng_seed(&rc, 6);
    noise_add(a, a, M, 0.1f, &ra);
    noise_add(b, x, M, 0.1f, &rb);     /* out of place: x untouched */
    noise_add(c, c, M, 0.1f, &rc);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < M; i++)
        assert_true(x[i] == (float)i / M);
    int same = 0;
    for (int i = 0; i < M; i++)
        same += a[i] == c[i];
    assert_true(same < 5);
    /* x + sigma * the call's draws (noise_draws), and the generator moved
     * on as noise_draws moves it */
    float z[M];
    rng_seed(&rd, 5);
    noise_draws(&rd, M, z);
    for (int i = 0; i < M; i++)
        assert_true(fabsf(a[i] - ((float)i / M + 0.1f * z[i])) <= 1e-6f);
    assert_true(rng_normal(&ra) == rng_normal(&rd));
    assert_true(rng_u64(&ra) == rng_u64(&rd));
    /* recorded, the draws are added after they are made, unrecorded as
     * they are made: the same sums */
    float e[M];
    real_t log[M];
    noise_record rec = {log, 0, M, 0};
    advcc_rng re;
    rng_seed(&re, 5);
    noise_log = &rec;
    noise_add(e, x, M, 0.1f, &re);
    noise_log = NULL;
    assert_int_equal(rec.n, M);
    assert_memory_equal(a, e, sizeof a);
}

/* The draws of a call, chunk by chunk: chunk j by rng_normal_fill from
 * rng_split(state, j), then one rng_u64; the same on one thread as on
 * several. */
static void test_chunks(void **state)
{
    (void)state;
    const long n = 3 * NOISE_CHUNK + 17;    /* enough to share out, a short last chunk */
    float *z = malloc(sizeof *z * n), *x = calloc(n, sizeof *x);
    assert_true(z && x);
    advcc_rng r, want;
    rng_seed(&r, 9);
    want = r;
    noise_add(x, x, n, 1, &r);
    for (long j = 0; j * NOISE_CHUNK < n; j++) {
        advcc_rng c;
        rng_split(&want, (uint64_t)j, &c);
        const long len = n - j * NOISE_CHUNK < NOISE_CHUNK ? n - j * NOISE_CHUNK : NOISE_CHUNK;
        rng_normal_fill(&c, z + j * NOISE_CHUNK, len);
    }
    assert_memory_equal(x, z, sizeof *z * n);
    rng_u64(&want);
    assert_true(rng_u64(&r) == rng_u64(&want));
    /* one thread: the same values */
    omp_set_num_threads(1);
    rng_seed(&r, 9);
    memset(x, 0, sizeof *x * n);
    noise_add(x, x, n, 1, &r);
    omp_set_num_threads(omp_get_num_procs());
    assert_memory_equal(x, z, sizeof *z * n);
    free(z);
    free(x);
}

/* The record a replaying program reads: each call's draws, in order. */
static void test_record(void **state)
{
    (void)state;
    real_t buf[40], a[10] = {0}, m[20], y[20], x[20];
    for (int i = 0; i < 20; i++)
        x[i] = 1;
    noise_record rec = {buf, 0, 30, 0};
    advcc_rng r, p;
    rng_seed(&r, 3);
    p = r;
    noise_log = &rec;
    noise_add(a, a, 10, 1, &r);
    dropout_forward(x, 20, 0, 2, &r, m, y);
    noise_add(a, a, 10, 1, &r);              /* past cap: left out, counted */
    noise_log = NULL;
    assert_int_equal(rec.n, 30);
    assert_int_equal(rec.lost, 10);
    real_t z[20];
    noise_draws(&p, 10, z);
    assert_memory_equal(buf, z, sizeof(real_t) * 10);
    noise_draws(&p, 20, z);
    assert_memory_equal(buf + 10, z, sizeof(real_t) * 20);
    for (int i = 0; i < 20; i++)
        assert_true(m[i] == (z[i] >= 0 ? 2 : 0) && y[i] == m[i]);
}

static void test_zero_sigma(void **state)
{
    (void)state;
    float x[4] = {1, -2, 3, 0.5f}, y[4];
    memcpy(y, x, sizeof x);
    advcc_rng r;
    rng_seed(&r, 1);
    noise_add(x, x, 4, 0, &r);
    assert_memory_equal(x, y, sizeof x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moments),
        cmocka_unit_test(test_seeded),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_zero_sigma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
