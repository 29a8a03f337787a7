/* rng.h - the deterministic random number generator every random choice
 * goes through (initialisation, shuffling, attack starts, noise layers).
 * The same seed gives the same stream on every machine. */
#ifndef ADVCC_RNG_H
#define ADVCC_RNG_H

#include <stdint.h>

typedef struct advcc_rng {
    uint64_t s[4];
    int have_spare;
    double spare;
} advcc_rng;

void rng_seed(advcc_rng *r, uint64_t seed);
/* An independent stream derived from r's seed and a label (e.g. per epoch). */
void rng_split(const advcc_rng *r, uint64_t label, advcc_rng *out);
uint64_t rng_u64(advcc_rng *r);
double rng_uniform(advcc_rng *r);                   /* [0, 1) */
double rng_normal(advcc_rng *r);                    /* N(0, 1) */
uint32_t rng_below(advcc_rng *r, uint32_t n);       /* [0, n), unbiased */
void rng_shuffle(advcc_rng *r, int *a, int n);      /* Fisher-Yates */

#endif
