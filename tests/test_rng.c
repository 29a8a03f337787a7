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
#include <cmocka.h>
#include <gsl/gsl_cdf.h>
#include "rng.h"

#define DRAWS 100000

static void test_known_values(void **state)
{
    (void)state;
    /* The reference implementation from state {1, 2, 3, 4}. */
    advcc_rng r = {{1, 2, 3, 4}, 0, 0.0, 0, 0};
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

/* The moments of a normal generator's stream, its mass within one and
 * beyond three standard deviations (the ziggurat's tail is its own code),
 * and the correlation of neighbours (Box-Muller's pairs share a draw). */
static void check_normal_moments(double (*draw)(advcc_rng *), uint64_t seed)
{
    advcc_rng r;
    rng_seed(&r, seed);
    double m[5] = {0}, lag1 = 0, prev = 0;
    int within1 = 0, beyond3 = 0;
    for (int i = 0; i < DRAWS; i++) {
        double z = draw(&r);
        assert_true(isfinite(z));
        lag1 += z * prev;
        prev = z;
        double p = 1;
        for (int k = 1; k <= 4; k++)
            m[k] += (p *= z);
        within1 += fabs(z) < 1.0;
        beyond3 += fabs(z) > 3.0;
    }
    for (int k = 1; k <= 4; k++)
        m[k] /= DRAWS;
    /* standard errors: mean 0.0032, E z^2 0.0045, E z^3 0.012,
     * E z^4 0.031, P(|z|<1) 0.0015, P(|z|>3) 0.00016, lag-1 correlation
     * 0.0032 */
    assert_true(fabs(m[1]) < 0.016);
    assert_true(fabs(m[2] - 1.0) < 0.025);
    assert_true(fabs(m[3]) < 0.06);
    assert_true(fabs(m[4] - 3.0) < 0.15);
    assert_true(fabs(within1 / (double)DRAWS - 0.682689) < 0.008);
    assert_true(fabs(beyond3 / (double)DRAWS - 0.0026998) < 0.0008);
    assert_true(fabs(lag1 / DRAWS) < 0.016);
}

static void test_normal_moments(void **state)
{
    (void)state;
    check_normal_moments(rng_normal, 2);
}

static void test_ziggurat_moments(void **state)
{
    (void)state;
    check_normal_moments(rng_normal_ziggurat, 2);
    check_normal_moments(rng_normal_ziggurat, 3);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The ziggurat's whole distribution against GSL's normal CDF: the
 * Kolmogorov-Smirnov distance of 400,000 draws, whose 0.1% critical value
 * is 1.95 / sqrt(n) = 0.0031 (a wrong strip edge or width moves it
 * several times past); and the far tail, where the ziggurat's own code
 * takes over at 3.65: P(|z| > 3.65) = 2.6e-4 and P(|z| > 4) = 6.3e-5. */
static void test_ziggurat_distribution(void **state)
{
    (void)state;
    enum { N = 400000 };
    double *z = malloc(sizeof *z * N);
    assert_non_null(z);
    advcc_rng r;
    rng_seed(&r, 11);
    int past_r = 0, past4 = 0;
    for (int i = 0; i < N; i++) {
        z[i] = rng_normal_ziggurat(&r);
        past_r += fabs(z[i]) > 3.6541528853610088;
        past4 += fabs(z[i]) > 4.0;
    }
    qsort(z, N, sizeof *z, compare_doubles);
    double d = 0;
    for (int i = 0; i < N; i++) {
        double c = gsl_cdf_ugaussian_P(z[i]);
        double lo = c - (double)i / N, hi = (double)(i + 1) / N - c;
        d = fmax(d, fmax(lo, hi));
    }
    free(z);
    assert_true(d < 1.95 / sqrt((double)N));
    /* standard errors 10 and 5 draws */
    assert_true(abs(past_r - 103) < 6 * 10);
    assert_true(abs(past4 - 25) < 6 * 5 + 1);
}

/* rng_normal_fill is rng_normal_ziggurat's draws, each rounded to real_t,
 * whatever the calls' counts: a draw is half an rng_u64, so an odd count
 * leaves the other half for the next call, the same as the scalar draws
 * do; rng_u64 then takes a fresh word in both.  rng_normal_add adds sigma
 * times the same draws.  The 50,000-draw parts hold some 600 slow draws
 * (0.6% of draws fall outside their strips' rectangles), in low and high
 * halves, and reach the tails (|z| > 3). */
static void test_ziggurat_fill(void **state)
{
    (void)state;
    static const long parts[] = {333, 1, 666, 1000, 2, 50000, 3, 49999};
    enum { MAX_PART = 50000 };
    static real_t z[MAX_PART], x[MAX_PART], out[MAX_PART];
    for (long i = 0; i < MAX_PART; i++)
        x[i] = (real_t)(i % 17) - 8;
    const real_t sigma = (real_t)0.3;
    advcc_rng a, b;
    rng_seed(&a, 5);
    rng_seed(&b, 5);
    long tails = 0;
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        const int add = p % 2;
        if (add)
            rng_normal_add(&a, out, x, sigma, parts[p]);
        else
            rng_normal_fill(&a, z, parts[p]);
        for (long i = 0; i < parts[p]; i++) {
            const real_t want = (real_t)rng_normal_ziggurat(&b);
            if (add ? out[i] != x[i] + sigma * want : z[i] != want)
                fail_msg("part %zu (%ld draws): draw %ld differs", p, parts[p], i);
            tails += fabs(want) > 3.0;
        }
    }
    assert_true(tails > 0);
    assert_int_equal(a.have_half, b.have_half);
    assert_true(rng_u64(&a) == rng_u64(&b));
    assert_true(rng_normal_ziggurat(&a) == rng_normal_ziggurat(&b));
}

/* The ziggurat draws from the stream it is given, and only from it: the
 * same state, the same value; it leaves a Box-Muller spare pending. */
static void test_ziggurat_stream(void **state)
{
    (void)state;
    advcc_rng a, b;
    rng_seed(&a, 9);
    rng_seed(&b, 9);
    rng_normal(&a);     /* each keeps a spare */
    rng_normal(&b);
    double z = rng_normal_ziggurat(&a);
    assert_true(rng_normal_ziggurat(&b) == z);
    assert_true(rng_normal(&a) == rng_normal(&b));     /* the spares */
    rng_seed(&b, 10);
    assert_true(rng_normal_ziggurat(&b) != z);
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
        cmocka_unit_test(test_ziggurat_moments),
        cmocka_unit_test(test_ziggurat_stream),
        cmocka_unit_test(test_ziggurat_distribution),
        cmocka_unit_test(test_ziggurat_fill),
        cmocka_unit_test(test_normal_many),
        cmocka_unit_test(test_normal_spare_reset),
        cmocka_unit_test(test_below),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_epoch_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
