/* rng.h - the deterministic random number generator every random choice
 * goes through (initialisation, shuffling, attack starts, noise layers).
 * The same seed gives the same stream on every machine (normals: wherever
 * libm agrees). */
#ifndef ADVCC_RNG_H
#define ADVCC_RNG_H

#include <stdint.h>
#include "real.h"

typedef struct advcc_rng {
    uint64_t s[4];
    int have_spare;
    double spare;               /* rng_normal's second value */
} advcc_rng;

void rng_seed(advcc_rng *r, uint64_t seed);
/* An independent stream derived from r's seed and a label (e.g. per epoch). */
void rng_split(const advcc_rng *r, uint64_t label, advcc_rng *out);
/* Whether a and b stand at the same point of the same stream: the state
 * words and rng_normal's pending spare. */
int rng_equal(const advcc_rng *a, const advcc_rng *b);
uint64_t rng_u64(advcc_rng *r);
double rng_uniform(advcc_rng *r);                   /* [0, 1) */
double rng_normal(advcc_rng *r);                    /* N(0, 1) */
/* The next n values of rng_normal into z, the same bits as n calls (the
 * spare taken and left as they would), their transforms shared among the
 * threads: a PGD start's 307,200 draws took 3% of the attack on one
 * thread while the other waited. */
void rng_normal_many(advcc_rng *r, double *z, long n);
/* n normals into z, in float and rounded to real_t: what the noise and
 * dropout layers draw, where rng_normal's double-precision libm costs
 * several times more.  The call seeds 16 lanes of xoshiro128+ from r (32
 * rng_u64, leaving r moved on by those and by nothing else) and draws
 * Box-Muller pairs from them 32 values at a time (rng.c); so the first n
 * of a call's values do not depend on n, and every instruction set gives
 * the same bits.  |z| <= 5.77. */
void rng_normal_fill(advcc_rng *r, real_t *z, long n);
/* out[i] = x[i] + sigma z[i] for the z rng_normal_fill would give, in one
 * pass (out may be x). */
void rng_normal_add(advcc_rng *r, real_t *out, const real_t *x, real_t sigma, long n);
uint32_t rng_below(advcc_rng *r, uint32_t n);       /* [0, n), unbiased */
void rng_shuffle(advcc_rng *r, int *a, int n);      /* Fisher-Yates */

/* The streams a program splits from its seed (rng_seed(&root, seed), then
 * rng_split(&root, label, ...)).  Every label of the tree is here, so that
 * no two streams meet: the commands' own take labels below 100, the
 * per-epoch streams of training rng_epoch_label's. */
enum rng_stream {
    RNG_STREAM_INIT = 1,        /* the parameters' initialisation */
    RNG_STREAM_CONTEXT = 2,     /* a context's stream (noise layers) */
    RNG_STREAM_EVAL = 3,        /* `eval`'s attack */
    RNG_STREAM_ATTACK = 5,      /* train's final evaluation, `attack`, `certify --check` */
    RNG_STREAM_SANITY = 21,     /* sanity's checks: 21 + the check's number */
    RNG_STREAM_SANITY_SQUARE = 31,
    RNG_STREAM_SANITY_LEAD = 32
};
/* Training's streams, one of each for every epoch. */
enum rng_epoch_stream {
    RNG_EPOCH_SHUFFLE = 1, RNG_EPOCH_ATTACK = 2, RNG_EPOCH_NOISE = 3, RNG_EPOCH_AUGMENT = 4
};
/* The label of stream s in epoch e >= 0: never one of another (s, e) nor
 * below 100.  Epochs below 100 keep the labels 100 s + e that shuffle,
 * attack and noise have always had, so that runs made before reproduce bit
 * for bit; from epoch 100 on (where 100 + e would be the attack's epoch
 * e - 100), and for augmentation always, it is s << 32 | e. */
uint64_t rng_epoch_label(enum rng_epoch_stream s, int e);

#endif
