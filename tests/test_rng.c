/* test_rng.c - the generator against published xoshiro256** and splitmix64
 * values, determinism, moments of its distributions, the independence of
 * split streams, and the labels of training's per-epoch streams.
 * Statistical bounds sit 4-6 standard errors from the expected value:
 * loose enough never to flake for a fixed seed, tight enough to catch a
 * wrong constant or an off-by-one in a transform. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <gsl/gsl_cdf.h>
#include "conv_direct.h"
#include "isa_walk.h"
#include "rng.h"

#define DRAWS 100000

static void test_known_values(void **state)
{
    (void)state;
    /* The reference implementation from state {1, 2, 3, 4}. */
    advcc_rng r = {{1, 2, 3, 4}, 0, 0.0};
    assert_int_equal(rng_u64(&r), 11520ULL);
    assert_int_equal(rng_u64(&r), 0ULL);
    assert_int_equal(rng_u64(&r), 1509978240ULL);
    assert_int_equal(rng_u64(&r), 1215971899390074240ULL);

    /* Seeding fills the state with splitmix64's outputs; from 0 the first
     * is splitmix64's published 0xe220a8397b1dcdaf. */
    rng_seed(&r, 0);
    assert_int_equal(r.s[0], 0xe220a8397b1dcdafULL);
    assert_int_equal(r.s[1], 0x6e789e6aa1b965f4ULL);
    assert_int_equal(r.s[2], 0x06c45d188009454fULL);
    assert_int_equal(r.s[3], 0xf88bb8a8724c81ecULL);
    assert_int_equal(rng_u64(&r), 0x99ec5f36cb75f2b4ULL);
    assert_int_equal(rng_u64(&r), 0xbf6e1f784956452aULL);

    rng_seed(&r, 42);
    assert_int_equal(rng_u64(&r), 0x15780b2e0c2ec716ULL);
    assert_int_equal(rng_u64(&r), 0x6104d9866d113a7eULL);
    assert_int_equal(rng_u64(&r), 0xae17533239e499a1ULL);
}

static void test_determinism(void **state)
{
    (void)state;
    advcc_rng a, b, c;
    rng_seed(&a, 12345);
    rng_seed(&b, 12345);
    rng_seed(&c, 12346);
    int same_as_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_u64(&a);
        assert_int_equal(x, rng_u64(&b));
        same_as_c += x == rng_u64(&c);
    }
    assert_int_equal(same_as_c, 0);
    for (int i = 0; i < 1000; i++) {
        double x = rng_normal(&a);
        double y = rng_normal(&b);
        assert_memory_equal(&x, &y, sizeof x);
    }
}

static void test_uniform_moments(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 1);
    double sum = 0, sum2 = 0;
    int bins[10] = {0};
    for (int i = 0; i < DRAWS; i++) {
        double u = rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        sum2 += u * u;
        bins[(int)(u * 10)]++;
    }
    double mean = sum / DRAWS, var = sum2 / DRAWS - mean * mean;
    /* standard errors: mean 0.00091, variance 0.00024 */
    assert_true(fabs(mean - 0.5) < 0.005);
    assert_true(fabs(var - 1.0 / 12) < 0.0015);
    for (int b = 0; b < 10; b++)    /* expected 10000, sd 95 */
        assert_in_range(bins[b], 9500, 10500);
}

/* The moments of n normals, their mass within one and beyond three
 * standard deviations, and the correlation of neighbours lag apart
 * (Box-Muller's pairs share a uniform; rng_normal_fill's lanes put a
 * pair's two values 16 apart and a lane's next pair 32 after). */
static void check_normal_moments(const double *z, int n, int lag)
{
    double m[5] = {0}, lagged = 0;
    int within1 = 0, beyond3 = 0;
    for (int i = 0; i < n; i++) {
        assert_true(isfinite(z[i]));
        if (i >= lag)
            lagged += z[i] * z[i - lag];
        double p = 1;
        for (int k = 1; k <= 4; k++)
            m[k] += (p *= z[i]);
        within1 += fabs(z[i]) < 1.0;
        beyond3 += fabs(z[i]) > 3.0;
    }
    for (int k = 1; k <= 4; k++)
        m[k] /= n;
    /* standard errors at n = 100,000: mean 0.0032, E z^2 0.0045, E z^3
     * 0.012, E z^4 0.031, P(|z|<1) 0.0015, P(|z|>3) 0.00016, lagged
     * correlation 0.0032 */
    const double se = sqrt(100000.0 / n);
    assert_true(fabs(m[1]) < 0.016 * se);
    assert_true(fabs(m[2] - 1.0) < 0.025 * se);
    assert_true(fabs(m[3]) < 0.06 * se);
    assert_true(fabs(m[4] - 3.0) < 0.15 * se);
    assert_true(fabs(within1 / (double)n - 0.682689) < 0.008 * se);
    assert_true(fabs(beyond3 / (double)n - 0.0026998) < 0.0008 * se);
    assert_true(fabs(lagged / (n - lag)) < 0.016 * se);
}

static void test_normal_moments(void **state)
{
    (void)state;
    double *z = malloc(sizeof *z * DRAWS);
    assert_non_null(z);
    advcc_rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < DRAWS; i++)
        z[i] = rng_normal(&r);
    check_normal_moments(z, DRAWS, 1);
    free(z);
}

/* n values of rng_normal_fill from seed, in calls of `call` values (each
 * call seeds its lanes afresh), as doubles. */
static double *fill_draws(uint64_t seed, long n, long call)
{
    double *z = malloc(sizeof *z * n);
    real_t *part = malloc(sizeof *part * call);
    assert_true(z && part);
    advcc_rng r;
    rng_seed(&r, seed);
    for (long i = 0; i < n; i += call) {
        const long m = n - i < call ? n - i : call;
        rng_normal_fill(&r, part, m);
        for (long k = 0; k < m; k++)
            z[i + k] = part[k];
    }
    free(part);
    return z;
}

static void test_fill_moments(void **state)
{
    (void)state;
    static const int lags[] = {1, 16, 32};
    for (int k = 0; k < 3; k++) {
        double *z = fill_draws(2 + k, DRAWS, 4096);
        check_normal_moments(z, DRAWS, lags[k]);
        free(z);
    }
    double *z = fill_draws(5, DRAWS, 1);    /* a lane's first value every call */
    check_normal_moments(z, DRAWS, 1);
    free(z);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The Kolmogorov-Smirnov distance of v[0 .. n) (sorted here) from cdf. */
static double ks_distance(double *v, int n, double (*cdf)(double))
{
    qsort(v, n, sizeof *v, compare_doubles);
    double d = 0;
    for (int i = 0; i < n; i++) {
        const double c = cdf(v[i]);
        d = fmax(d, fmax(c - (double)i / n, (double)(i + 1) / n - c));
    }
    return d;
}

static double chi2_2_cdf(double x)
{
    return -expm1(-x / 2);
}

static double angle_cdf(double a)
{
    return (a + M_PI) / (2 * M_PI);
}

/* rng_normal_fill's whole distribution: the Kolmogorov-Smirnov distance of
 * 400,000 values from GSL's normal CDF, whose 0.1% critical value is 1.95
 * / sqrt(n) = 0.0031; the same for a pair's squared radius z0^2 + z1^2
 * against chi-square with 2 degrees of freedom (the series for the log)
 * and its angle against uniform (the series for the sine and cosine, the
 * quadrants), pairs being values 16 apart in a block of 32; and the tails
 * up to the 5.77 that 24-bit uniforms reach: P(|z| > 4) = 6.3e-5, P(|z| >
 * 4.5) = 6.8e-6. */
static void test_fill_distribution(void **state)
{
    (void)state;
    enum { N = 400000, PAIRS = N / 2 };
    double *z = fill_draws(11, N, 4096);
    double *rad2 = malloc(sizeof *rad2 * PAIRS), *angle = malloc(sizeof *angle * PAIRS);
    assert_true(rad2 && angle);
    int past4 = 0, past45 = 0;
    double most = 0;
    for (int p = 0; p < PAIRS; p++) {
        const int i = (p / 16) * 32 + p % 16;
        const double c = z[i], s = z[i + 16];
        rad2[p] = c * c + s * s;
        angle[p] = atan2(s, c);
    }
    for (int i = 0; i < N; i++) {
        past4 += fabs(z[i]) > 4.0;
        past45 += fabs(z[i]) > 4.5;
        most = fmax(most, fabs(z[i]));
    }
    const double critical = 1.95 / sqrt((double)N), pair_critical = 1.95 / sqrt((double)PAIRS);
    assert_true(ks_distance(z, N, gsl_cdf_ugaussian_P) < critical);
    assert_true(ks_distance(rad2, PAIRS, chi2_2_cdf) < pair_critical);
    assert_true(ks_distance(angle, PAIRS, angle_cdf) < pair_critical);
    /* expected 25 (sd 5) and 2.7 (sd 1.6) */
    assert_true(past4 >= 5 && past4 <= 55);
    assert_true(past45 <= 12);
    assert_true(most <= 5.7686);
    free(z);
    free(rad2);
    free(angle);
}

/* A call's values: its first n do not depend on n (a shorter call is a
 * prefix of a longer one), rng_normal_add adds sigma times the same, the
 * call moves the stream on by 32 rng_u64 and nothing else, and every
 * instruction set the CPU has gives the same bits (the lanes' float steps
 * are correctly rounded and never fused). */
static void test_fill_calls(void **state)
{
    (void)state;
    static const long counts[] = {1, 15, 16, 31, 32, 33, 100, 4096, 5001};
    enum { MAX = 5001 };
    static real_t longest[MAX], z[MAX], x[MAX], out[MAX];
    for (long i = 0; i < MAX; i++)
        x[i] = (real_t)(i % 17) - 8;
    const real_t sigma = (real_t)0.3;
    advcc_rng root;
    rng_seed(&root, 5);
    advcc_rng a = root;
    rng_normal_fill(&a, longest, MAX);
    advcc_rng moved = root;
    for (int k = 0; k < 32; k++)
        rng_u64(&moved);
    assert_true(rng_equal(&a, &moved));
    int tried = 0;
    for (int t = 0; isa_next(&t);) {
        tried++;
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            const long n = counts[c];
            advcc_rng b = root, d = root;
            rng_normal_fill(&b, z, n);
            rng_normal_add(&d, out, x, sigma, n);
            for (long i = 0; i < n; i++) {
                if (z[i] != longest[i])
                    fail_msg("isa %d, count %ld: value %ld differs", (int)conv_direct_isa(), n, i);
                if (out[i] != x[i] + sigma * longest[i])
                    fail_msg("isa %d, count %ld: added value %ld differs", (int)conv_direct_isa(), n,
                             i);
            }
            assert_true(rng_equal(&b, &moved));
            assert_true(rng_equal(&d, &moved));
        }
    }
    assert_true(tried >= 1);
    /* another state, other values */
    advcc_rng other;
    rng_seed(&other, 6);
    rng_normal_fill(&other, z, 32);
    assert_true(memcmp(z, longest, sizeof *z * 32) != 0);
}

/* rng_normal_many gives what as many rng_normal calls would, and leaves
 * the generator where they would: from a fresh state and from one with a
 * spare pending, for even and odd counts, and for a count long enough to
 * share the transforms among the threads. */
static void test_normal_many(void **state)
{
    (void)state;
    static const long counts[] = {0, 1, 2, 3, 8, 41, 70000, 70001};
    double *z = malloc(sizeof *z * 70001);
    assert_non_null(z);
    for (int spare = 0; spare < 2; spare++)
        for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
            advcc_rng a, b;
            rng_seed(&a, 21 + k);
            rng_seed(&b, 21 + k);
            if (spare) {
                rng_normal(&a);
                rng_normal(&b);
            }
            rng_normal_many(&a, z, counts[k]);
            for (long i = 0; i < counts[k]; i++)
                if (z[i] != rng_normal(&b))
                    fail_msg("count %ld, spare %d: draw %ld differs", counts[k], spare, i);
            assert_int_equal(a.have_spare, b.have_spare);
            assert_true(rng_normal(&a) == rng_normal(&b));
            assert_true(rng_u64(&a) == rng_u64(&b));
        }
    free(z);
}

static void test_normal_spare_reset(void **state)
{
    (void)state;
    advcc_rng a, b, s;
    rng_seed(&a, 7);
    double first = rng_normal(&a);
    assert_true(a.have_spare);
    rng_seed(&a, 7);
    assert_false(a.have_spare);
    assert_true(rng_normal(&a) == first);

    rng_seed(&b, 8);
    rng_normal(&b);
    rng_split(&b, 3, &s);
    assert_false(s.have_spare);
}

static void test_below(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 3);
    assert_int_equal(rng_below(&r, 0), 0);
    assert_int_equal(rng_below(&r, 1), 0);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t v = rng_below(&r, 7);
        assert_true(v < 7);
        counts[v]++;
    }
    double chi2 = 0;
    for (int k = 0; k < 7; k++)
        chi2 += (counts[k] - 10000.0) * (counts[k] - 10000.0) / 10000.0;
    assert_true(chi2 < 30.0);       /* 6 degrees of freedom: p < 1e-4 */

    /* Where a modulo would be grossly biased: n = 3 * 2^30.  Values below
     * 2^30 would come up half again as often as the rest. */
    const uint32_t n = 3u << 30;
    int low = 0;
    for (int i = 0; i < 30000; i++) {
        uint32_t v = rng_below(&r, n);
        assert_true(v < n);
        low += v < (1u << 30);
    }
    assert_in_range(low, 10000 - 450, 10000 + 450);    /* sd 82 */

    uint32_t big = 0xffffffffu, seen_max = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t v = rng_below(&r, big);
        assert_true(v < big);
        if (v > seen_max)
            seen_max = v;
    }
    assert_true(seen_max > 0xf0000000u);
}

static void test_shuffle(void **state)
{
    (void)state;
    enum { N = 1000 };
    advcc_rng r, r2;
    rng_seed(&r, 4);
    rng_seed(&r2, 4);
    int a[N], b[N], seen[N] = {0};
    for (int i = 0; i < N; i++)
        a[i] = b[i] = i;
    rng_shuffle(&r, a, N);
    rng_shuffle(&r2, b, N);
    int moved = 0;
    for (int i = 0; i < N; i++) {
        assert_in_range(a[i], 0, N - 1);
        seen[a[i]]++;
        moved += a[i] != i;
        assert_int_equal(a[i], b[i]);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_true(moved > N / 2);

    rng_shuffle(&r, a, 0);          /* nothing to do, must not draw */
    rng_shuffle(&r, a, 1);

    /* Each of the 6 orders of 3 items equally often: 60000 shuffles. */
    int orders[6] = {0};
    for (int t = 0; t < 60000; t++) {
        int c[3] = {0, 1, 2};
        rng_shuffle(&r, c, 3);
        orders[c[0] * 2 + (c[1] > c[2])]++;
    }
    for (int k = 0; k < 6; k++)     /* expected 10000, sd 91 */
        assert_in_range(orders[k], 9550, 10450);
}

static void test_split(void **state)
{
    (void)state;
    advcc_rng root, before, s0, s0b, s1, other, o0;
    rng_seed(&root, 99);
    before = root;
    rng_split(&root, 0, &s0);
    rng_split(&root, 0, &s0b);
    rng_split(&root, 1, &s1);
    assert_memory_equal(root.s, before.s, sizeof root.s);  /* untouched */
    rng_seed(&other, 100);
    rng_split(&other, 0, &o0);

    advcc_rng rootc = root;
    int eq01 = 0, eq_root = 0, eq_other = 0;
    double prod = 0;
    for (int i = 0; i < DRAWS; i++) {
        uint64_t x0 = rng_u64(&s0);
        assert_int_equal(x0, rng_u64(&s0b));
        uint64_t x1 = rng_u64(&s1);
        eq01 += x0 == x1;
        eq_root += x0 == rng_u64(&rootc);
        eq_other += x0 == rng_u64(&o0);
        prod += (double)(x0 >> 11) * 0x1.0p-53 * (double)(x1 >> 11) * 0x1.0p-53;
    }
    assert_int_equal(eq01, 0);
    assert_int_equal(eq_root, 0);
    assert_int_equal(eq_other, 0);
    /* Independent uniforms: E[u v] = 1/4, standard error 0.0006. */
    assert_true(fabs(prod / DRAWS - 0.25) < 0.004);

    /* Split of a split is a stream of its own too. */
    advcc_rng ss;
    rng_split(&s1, 0, &ss);
    assert_true(rng_u64(&ss) != rng_u64(&s1));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Training's per-epoch streams: epoch 100's shuffle is not epoch 0's attack
 * (as 100 + e and 200 + e once made it), no two labels of any stream and
 * epoch meet, none falls among the commands' labels below 100, and epochs
 * below 100 keep the labels runs were made with. */
static void test_epoch_labels(void **state)
{
    (void)state;
    enum { EPOCHS = 100000, STREAMS = 4 };
    uint64_t *l = malloc(sizeof *l * EPOCHS * STREAMS);
    assert_non_null(l);
    for (int s = 0; s < STREAMS; s++)
        for (int e = 0; e < EPOCHS; e++) {
            uint64_t v = rng_epoch_label((enum rng_epoch_stream)(s + 1), e);
            assert_true(v >= 100);
            l[s * EPOCHS + e] = v;
        }
    qsort(l, EPOCHS * STREAMS, sizeof *l, cmp_u64);
    for (int i = 1; i < EPOCHS * STREAMS; i++)
        assert_true(l[i] != l[i - 1]);
    free(l);
    assert_true(rng_epoch_label(RNG_EPOCH_SHUFFLE, 100) != rng_epoch_label(RNG_EPOCH_ATTACK, 0));
    assert_true(rng_epoch_label(RNG_EPOCH_ATTACK, 100) != rng_epoch_label(RNG_EPOCH_NOISE, 0));
    assert_int_equal(rng_epoch_label(RNG_EPOCH_SHUFFLE, 7), 107);
    assert_int_equal(rng_epoch_label(RNG_EPOCH_ATTACK, 99), 299);
    assert_int_equal(rng_epoch_label(RNG_EPOCH_NOISE, 0), 300);
    assert_int_equal(rng_epoch_label(RNG_EPOCH_AUGMENT, 3), ((uint64_t)4 << 32) | 3);
    assert_int_equal(rng_epoch_label(RNG_EPOCH_SHUFFLE, 100), ((uint64_t)1 << 32) | 100);

    /* And the streams themselves differ where the labels once met. */
    advcc_rng root, a, b;
    rng_seed(&root, 0);
    rng_split(&root, rng_epoch_label(RNG_EPOCH_SHUFFLE, 100), &a);
    rng_split(&root, rng_epoch_label(RNG_EPOCH_ATTACK, 0), &b);
    assert_true(rng_u64(&a) != rng_u64(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_uniform_moments),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_fill_moments),
        cmocka_unit_test(test_fill_distribution),
        cmocka_unit_test(test_fill_calls),
        cmocka_unit_test(test_normal_many),
        cmocka_unit_test(test_normal_spare_reset),
        cmocka_unit_test(test_below),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_epoch_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
