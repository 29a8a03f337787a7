/* rng.c - xoshiro256** (Blackman and Vigna) seeded through splitmix64.
 *
 * Everything is integer arithmetic on uint64_t except the normals, which
 * needs log, sqrt, cos and sin; so integer and uniform streams are
 * bit-identical everywhere and normal streams wherever libm agrees. */
#include <math.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
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

uint64_t rng_u64(advcc_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(advcc_rng *r)
{
    /* The top 53 bits scaled by 2^-53: every double in [0,1) that is a
     * multiple of 2^-53, each equally likely. */
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

double rng_normal(advcc_rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    /* Box-Muller; 1 - u lies in (0, 1], so the log is finite. */
    double u1 = 1.0 - rng_uniform(r);
    double u2 = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double theta = 6.283185307179586476925287 * u2;
    r->spare = rad * sin(theta);
    r->have_spare = 1;
    return rad * cos(theta);
}

/* GSL draws through a gsl_rng; this type makes one of an advcc_rng, with
 * no state of its own: the ziggurat takes 32 bits of a draw (the top half
 * of rng_u64) and, in its rare slow path, uniforms as rng_uniform makes. */
static unsigned long zig_get(void *state)
{
    return (unsigned long)(rng_u64(state) >> 32);
}

static double zig_get_double(void *state)
{
    return rng_uniform(state);
}

static void zig_set(void *state, unsigned long seed)
{
    (void)state;
    (void)seed;
}

static const gsl_rng_type zig_type = {
    "advcc-xoshiro256**", 0xffffffffUL, 0, 0, zig_set, zig_get, zig_get_double
};

double rng_normal_ziggurat(advcc_rng *r)
{
    gsl_rng g = {&zig_type, r};
    return gsl_ran_gaussian_ziggurat(&g, 1.0);
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
