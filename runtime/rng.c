/* rng.c - xoshiro256** (Blackman and Vigna) seeded through splitmix64.
 *
 * Everything is integer arithmetic on uint64_t except the normals, which
 * need log, sqrt, cos and sin (Box-Muller): so integer and uniform streams
 * are bit-identical everywhere, rng_normal's wherever libm agrees, and the
 * noise layers' (rng_normal_fill), which do without libm, everywhere. */
#include <math.h>
#include <string.h>
#include "conv_direct.h"
#include "parallel.h"
#include "rng.h"

/* splitmix64: turns any 64-bit seed, even 0, into well-mixed state words. */
static uint64_t splitmix64_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_seed(advcc_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    /* Four successive splitmix64 outputs are distinct, so the state is
     * never all zero. */
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64_next(&x);
    r->have_spare = 0;
    r->spare = 0.0;
}

int rng_equal(const advcc_rng *a, const advcc_rng *b)
{
    return memcmp(a->s, b->s, sizeof a->s) == 0 && a->have_spare == b->have_spare &&
           (!a->have_spare || a->spare == b->spare);
}

/* The stream is a function of r's state words and the label only: split a
 * root generator that is never drawn from, and every (seed, label) pair
 * names one stream however the other streams were used. */
void rng_split(const advcc_rng *r, uint64_t label, advcc_rng *out)
{
    uint64_t h = 0x243f6a8885a308d3ULL;     /* pi, so label 0 is not special */
    for (int i = 0; i < 4; i++) {
        h ^= r->s[i];
        h = splitmix64_next(&h);
    }
    h ^= label;
    h = splitmix64_next(&h);
    rng_seed(out, h);
}

uint64_t rng_epoch_label(enum rng_epoch_stream s, int e)
{
    if (s != RNG_EPOCH_AUGMENT && e < 100)
        return 100 * (uint64_t)s + (uint64_t)e;
    return ((uint64_t)s << 32) | (uint64_t)(uint32_t)e;
}

/* xoshiro256**: the output of state s, then the step to the next state. */
static inline uint64_t xoshiro_next(uint64_t *s)
{
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rng_u64(advcc_rng *r)
{
    return xoshiro_next(r->s);
}

double rng_uniform(advcc_rng *r)
{
    /* The top 53 bits scaled by 2^-53: every double in [0,1) that is a
     * multiple of 2^-53, each equally likely. */
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller: two normals from u1 in (0, 1] (so the log is finite) and
 * u2 in [0, 1). */
static inline void box_muller(double u1, double u2, double *c, double *s)
{
    const double rad = sqrt(-2.0 * log(u1));
    const double theta = 6.283185307179586476925287 * u2;
    *s = rad * sin(theta);
    *c = rad * cos(theta);
}

double rng_normal(advcc_rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - rng_uniform(r);
    double u2 = rng_uniform(r);
    double c;
    box_muller(u1, u2, &c, &r->spare);
    r->have_spare = 1;
    return c;
}

void rng_normal_many(advcc_rng *r, double *z, long n)
{
    long i = 0;
    if (n > 0 && r->have_spare) {
        z[i++] = r->spare;
        r->have_spare = 0;
    }
    const long pairs = (n - i) / 2;
    double *p = z + i;
    for (long k = 0; k < pairs; k++) {
        p[2 * k] = 1.0 - rng_uniform(r);
        p[2 * k + 1] = rng_uniform(r);
    }
    /* the uniforms above are the stream's; their transforms are the cost */
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (long k = 0; k < pairs; k++)
        box_muller(p[2 * k], p[2 * k + 1], &p[2 * k], &p[2 * k + 1]);
    if ((n - i) % 2)
        z[n - 1] = rng_normal(r);   /* its pair's other half stays the spare */
}

/* The noise layers' normals: Box-Muller in float over NORMAL_LANES
 * streams of xoshiro128+ (Blackman and Vigna's generator for 32-bit
 * floats, whose top bits are the ones a float takes), seeded from the
 * caller's stream.  A block is two words of each lane and gives 2
 * NORMAL_LANES normals: lane l's cosine at l, its sine at NORMAL_LANES + l.
 * Every step is an integer operation or one correctly rounded float
 * operation in a fixed order (no fused multiply-adds, no libm), so the
 * portable, AVX2 and AVX-512 builds of the loop, of any width, give the
 * same bits.  Its log and its sine and cosine are series short enough
 * for a float's precision (below); its uniforms have 24 bits, so that
 * |z| <= sqrt(48 ln 2) = 5.77, where N(0, 1) puts 8e-9 of its mass
 * beyond.  The ziggurat it replaces drew one value at a time through a
 * table: 1.30 ns a draw, 5.5% of RSE's attack. */
#define NORMAL_LANES 16

typedef struct normal_lanes {
    uint32_t s[4][NORMAL_LANES];
} normal_lanes;

/* Two rng_u64 a lane; a lane's state is never all zero. */
static void normal_lanes_seed(advcc_rng *r, normal_lanes *g)
{
    for (int l = 0; l < NORMAL_LANES; l++) {
        const uint64_t a = rng_u64(r), b = rng_u64(r);
        g->s[0][l] = (uint32_t)a;
        g->s[1][l] = (uint32_t)(a >> 32);
        g->s[2][l] = (uint32_t)b;
        g->s[3][l] = (uint32_t)(b >> 32) | (uint32_t)((a | b) == 0);
    }
}

static inline __attribute__((always_inline)) uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline __attribute__((always_inline)) float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* log u for u in (0, 1]: u = m 2^e with m in [sqrt(1/2), sqrt(2)), and
 * log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its series
 * to s^9 (the next term is below 2e-9 of the sum).  Bit operations, not
 * branches, so that the lanes' loop is one vector loop. */
static inline __attribute__((always_inline)) float lane_log(float u)
{
    const uint32_t bits = float_bits(u);
    uint32_t mant = (bits & 0x7fffffu) | 0x3f800000u;          /* [1, 2) */
    const uint32_t above = mant > 0x3fb504f3u;                  /* > sqrt(2) */
    mant -= above << 23;                                        /* halved */
    const float m = bits_float(mant);
    const float e = (float)((int)(bits >> 23) - 127 + (int)above);
    const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    const float series = 1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
    return e * 0.693147181f + 2.0f * s * series;
}

/* xoshiro128+'s step of state (a, b, c, d); its output is a + d before. */
#define XOSHIRO128_STEP(a, b, c, d)         \
    do {                                    \
        const uint32_t t_ = (b) << 9;       \
        (c) ^= (a);                         \
        (d) ^= (b);                         \
        (b) ^= (c);                         \
        (a) ^= (d);                         \
        (c) ^= t_;                          \
        (d) = ((d) << 11) | ((d) >> 21);    \
    } while (0)

/* One block of every lane into z[0 .. 2 NORMAL_LANES). */
static inline __attribute__((always_inline)) void normal_block(normal_lanes *g, float *z)
{
    uint32_t *s0 = g->s[0], *s1 = g->s[1], *s2 = g->s[2], *s3 = g->s[3];
#pragma omp simd
    for (int l = 0; l < NORMAL_LANES; l++) {
        uint32_t t0 = s0[l], t1 = s1[l], t2 = s2[l], t3 = s3[l];
        const uint32_t w0 = t0 + t3;            /* xoshiro128+, twice */
        XOSHIRO128_STEP(t0, t1, t2, t3);
        const uint32_t w1 = t0 + t3;
        XOSHIRO128_STEP(t0, t1, t2, t3);
        s0[l] = t0;
        s1[l] = t1;
        s2[l] = t2;
        s3[l] = t3;
        /* the radius from u in (0, 1], the top 24 bits of the first word */
        const float u = (float)((w0 >> 8) + 1) * 0x1p-24f;
        const float rad = sqrtf(-2.0f * lane_log(u));
        /* the angle: a quadrant from the second word's top 2 bits, and
         * phi in [-pi/4, pi/4) from its next 24 */
        const float phi = (float)((w1 >> 6) & 0xffffffu) * (1.57079633f * 0x1p-24f) - 0.785398163f;
        const float p2 = phi * phi;
        const float sn = phi + phi * p2 * (-1.0f / 6 + p2 * (1.0f / 120 + p2 * (-1.0f / 5040 + p2 * (1.0f / 362880))));
        const float cs = 1.0f + p2 * (-0.5f + p2 * (1.0f / 24 + p2 * (-1.0f / 720 + p2 * (1.0f / 40320))));
        /* (cos, sin) of phi turned by q quarter turns: swapped and one
         * negated for odd q, both negated for q >= 2 (sign bits) */
        const uint32_t q = w1 >> 30, odd = 0u - (q & 1), neg = (q & 2) << 30;
        const uint32_t cb = float_bits(cs), sb = float_bits(sn);
        const float c = bits_float(((cb & ~odd) | ((sb ^ 0x80000000u) & odd)) ^ neg);
        const float s = bits_float(((sb & ~odd) | (cb & odd)) ^ neg);
        z[l] = rad * c;
        z[NORMAL_LANES + l] = rad * s;
    }
}

/* n normals from g into out, or x + sigma times them when add. */
static inline __attribute__((always_inline)) void
normal_body(normal_lanes *g, real_t *out, const real_t *x, real_t sigma, long n, int add,
            enum conv_isa isa)
{
    (void)isa;
    float z[2 * NORMAL_LANES];
    for (long i = 0; i < n; i += 2 * NORMAL_LANES) {
        normal_block(g, z);
        const int m = n - i < 2 * NORMAL_LANES ? (int)(n - i) : 2 * NORMAL_LANES;
        if (add) {
#pragma omp simd
            for (int k = 0; k < m; k++)
                out[i + k] = x[i + k] + sigma * (real_t)z[k];
        } else {
            for (int k = 0; k < m; k++)
                out[i + k] = (real_t)z[k];
        }
    }
}

ISA_DISPATCH(normal_lanes_run, normal_body,
             (normal_lanes *g, real_t *out, const real_t *x, real_t sigma, long n, int add),
             (g, out, x, sigma, n, add))

static void normal_run(advcc_rng *r, real_t *out, const real_t *x, real_t sigma, long n, int add)
{
    normal_lanes g;
    normal_lanes_seed(r, &g);
    normal_lanes_run(&g, out, x, sigma, n, add);
}

void rng_normal_fill(advcc_rng *r, real_t *z, long n)
{
    normal_run(r, z, NULL, 0, n, 0);
}

void rng_normal_add(advcc_rng *r, real_t *out, const real_t *x, real_t sigma, long n)
{
    normal_run(r, out, x, sigma, n, 1);
}

/* Lemire's multiply-and-reject: the high half of a 32x32 product, redrawn
 * in the rare case the low half falls in the biased sliver.  n == 0 gives 0. */
uint32_t rng_below(advcc_rng *r, uint32_t n)
{
    if (n == 0)
        return 0;
    uint64_t m = (rng_u64(r) >> 32) * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;    /* 2^32 mod n */
        while (low < threshold) {
            m = (rng_u64(r) >> 32) * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void rng_shuffle(advcc_rng *r, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
