/* rng.c - xoshiro256** (Blackman and Vigna) seeded through splitmix64.
 *
 * Everything is integer arithmetic on uint64_t except the normals, which
 * need log, sqrt, cos and sin (Box-Muller) or exp and log (the ziggurat's
 * tables and rare rejections); so integer and uniform streams are
 * bit-identical everywhere and normal streams wherever libm agrees. */
#include <math.h>
#include <pthread.h>
#include <string.h>
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
    r->have_half = 0;
    r->half = 0;
}

int rng_equal(const advcc_rng *a, const advcc_rng *b)
{
    return memcmp(a->s, b->s, sizeof a->s) == 0 && a->have_spare == b->have_spare &&
           (!a->have_spare || a->spare == b->spare) && a->have_half == b->have_half &&
           (!a->have_half || a->half == b->half);
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

/* xoshiro256**: the output of state s, and the step to the next state;
 * xoshiro_next is both. */
static inline uint64_t xoshiro_output(const uint64_t *s)
{
    return rotl(s[1] * 5, 7) * 9;
}

static inline void xoshiro_step(uint64_t *s)
{
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
}

static inline uint64_t xoshiro_next(uint64_t *s)
{
    const uint64_t result = xoshiro_output(s);
    xoshiro_step(s);
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

/* Marsaglia and Tsang's ziggurat (2000) for N(0, 1) over 256 strips of
 * equal area, its tables made once from the strips' edges.  GSL's
 * gsl_ran_gaussian_ziggurat is the same method, but it reaches the
 * generator through a function pointer a draw: 5.8 ns a draw on this
 * project's machine against 3.0 for rng_normal_fill, whose loop inlines
 * the generator; the noise layers draw one an element, and RSE's attack
 * took 0.93x the time.  A draw takes 32 bits, half of an rng_u64 (the low
 * half first, the high one left pending in r->half): its strip from the
 * low 8 bits and its signed value from the high 24, so that the two share
 * no bits (Doornik 2005), and 24 bits are a float's precision.  Two draws
 * an rng_u64 and 256 strips (rejections 1.2% -> 0.6% of draws) made a
 * draw 2.10 -> 1.59 ns. */
#define ZIG_STRIPS 256
#define ZIG_R 3.6541528853610088            /* the base strip's right edge */
#define ZIG_AREA 4.92867323399e-3           /* each strip's area */
#define ZIG_ONE 8388608.0                   /* 2^23: the value bits' scale */

static struct {
    uint32_t k[ZIG_STRIPS];     /* |j| below k[i]: inside strip i's rectangle */
    /* the same test without |j|: (uint32_t)j + off[i] below span[i], that
     * is -k[i] < j < k[i] (span 0 where k[i] is 0: never) */
    uint32_t off[ZIG_STRIPS], span[ZIG_STRIPS];
    double w[ZIG_STRIPS];       /* the value of j = 1 in strip i */
    double f[ZIG_STRIPS];       /* exp(-x^2 / 2) at strip i's edge */
} zig;
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_tables(void)
{
    const double m = ZIG_ONE;
    double dn = ZIG_R, tn = dn;
    const double q = ZIG_AREA / exp(-0.5 * dn * dn);
    zig.k[0] = (uint32_t)(dn / q * m);
    zig.k[1] = 0;
    zig.w[0] = q / m;
    zig.w[ZIG_STRIPS - 1] = dn / m;
    zig.f[0] = 1.0;
    zig.f[ZIG_STRIPS - 1] = exp(-0.5 * dn * dn);
    for (int i = ZIG_STRIPS - 2; i >= 1; i--) {
        dn = sqrt(-2.0 * log(ZIG_AREA / dn + exp(-0.5 * dn * dn)));
        zig.k[i + 1] = (uint32_t)(dn / tn * m);
        tn = dn;
        zig.f[i] = exp(-0.5 * dn * dn);
        zig.w[i] = dn / m;
    }
    for (int i = 0; i < ZIG_STRIPS; i++) {
        zig.off[i] = zig.k[i] - 1;
        zig.span[i] = zig.k[i] ? 2 * zig.k[i] - 1 : 0;
    }
}

/* The next 32 bits of the stream for a draw: the pending high half, or the
 * low half of a new rng_u64. */
static inline uint32_t zig_bits(uint64_t *s, uint32_t *half, int *have_half)
{
    if (*have_half) {
        *have_half = 0;
        return *half;
    }
    const uint64_t u = xoshiro_next(s);
    *half = (uint32_t)(u >> 32);
    *have_half = 1;
    return (uint32_t)u;
}

/* A uniform in (0, 1], so that its log is finite. */
static double zig_uniform(advcc_rng *r)
{
    return 1.0 - rng_uniform(r);
}

/* 32 bits h's strip (low bits) and signed value (high 24); whether the
 * value falls in the strip's rectangle, where the draw is j w[k]. */
static inline int zig_split(uint32_t h, int *k, int32_t *j)
{
    *k = (int)(h & (ZIG_STRIPS - 1));
    *j = (int32_t)h >> 8;
    return (uint32_t)*j + zig.off[*k] < zig.span[*k];
}

/* A draw of strip i and value j outside the strip's rectangle: the
 * wedge's test, or in the base strip the tail beyond ZIG_R by Marsaglia's
 * method for it; a rejected draw starts over with the next 32 bits.  Its
 * uniforms are whole rng_u64s, the pending half kept for later. */
static double zig_slow(advcc_rng *r, int i, int32_t j)
{
    for (;;) {
        if (i == 0) {
            double t, y;
            do {
                t = -log(zig_uniform(r)) / ZIG_R;
                y = -log(zig_uniform(r));
            } while (y + y < t * t);
            return j > 0 ? ZIG_R + t : -ZIG_R - t;
        }
        const double x = j * zig.w[i];
        if (zig.f[i] + zig_uniform(r) * (zig.f[i - 1] - zig.f[i]) < exp(-0.5 * x * x))
            return x;
        if (zig_split(zig_bits(r->s, &r->half, &r->have_half), &i, &j))
            return j * zig.w[i];
    }
}

double rng_normal_ziggurat(advcc_rng *r)
{
    pthread_once(&zig_once, zig_tables);
    int i;
    int32_t j;
    if (zig_split(zig_bits(r->s, &r->half, &r->have_half), &i, &j))
        return j * zig.w[i];
    return zig_slow(r, i, j);
}

/* The same draws as n calls of rng_normal_ziggurat, each rounded to real_t
 * as z, and out[i] = x[i] + sigma z when add (else out[i] = z); inlined
 * into its two callers, so that each is the loop for its case.  While no
 * half is pending, a u64 whose two halves both fall in their rectangles
 * (99% of them) gives its two draws at once, its state in locals; any
 * other draw (a pending half, a slow one, the last of an odd count) is
 * rng_normal_ziggurat's.  A draw took 1.57 ns one at a time, the pending
 * half's flag and |j| in the loop, against 1.30 ns so. */
static inline __attribute__((always_inline)) void
zig_fill(advcc_rng *r, real_t *out, const real_t *x, real_t sigma, long n, const int add)
{
    pthread_once(&zig_once, zig_tables);
    long i = 0;
    while (i < n) {
        if (!r->have_half && i + 2 <= n) {
            uint64_t s[4] = { r->s[0], r->s[1], r->s[2], r->s[3] };
            _Pragma("GCC unroll 2")
            for (; i + 2 <= n; i += 2) {
                const uint64_t u = xoshiro_output(s);
                int k0, k1;
                int32_t j0, j1;
                const int in0 = zig_split((uint32_t)u, &k0, &j0);
                const int in1 = zig_split((uint32_t)(u >> 32), &k1, &j1);
                if (!(in0 & in1))
                    break;      /* this u64 the general way, from its low half */
                xoshiro_step(s);
                const real_t z0 = (real_t)(j0 * zig.w[k0]), z1 = (real_t)(j1 * zig.w[k1]);
                out[i] = add ? x[i] + sigma * z0 : z0;
                out[i + 1] = add ? x[i + 1] + sigma * z1 : z1;
            }
            for (int q = 0; q < 4; q++)
                r->s[q] = s[q];
            if (i >= n)
                break;
        }
        const real_t z = (real_t)rng_normal_ziggurat(r);
        out[i] = add ? x[i] + sigma * z : z;
        i++;
    }
}

void rng_normal_fill(advcc_rng *r, real_t *z, long n)
{
    zig_fill(r, z, NULL, 0, n, 0);
}

void rng_normal_add(advcc_rng *r, real_t *out, const real_t *x, real_t sigma, long n)
{
    zig_fill(r, out, x, sigma, n, 1);
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
