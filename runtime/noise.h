/* noise.h - the noise layer of the random self-ensemble (RSE, Liu et al.
 * 2018): x += sigma * xi, xi ~ N(0, 1) drawn from the run's generator, in
 * training and in inference.  The noise is additive, so the layer's
 * backward is the identity and has no kernel.
 *
 * How a call draws (dropout's masks too, dropout.h): its n values are cut
 * into chunks of NOISE_CHUNK, chunk j drawn by rng_normal_fill from a
 * stream of its own, rng_split(rng as the call found it, j), so that the
 * threads draw chunks side by side and the values do not depend on how
 * many threads there are; the call then moves rng on by one rng_u64, so
 * that the next call draws afresh and a pass started from the same state
 * draws the same again. */
#ifndef ADVCC_NOISE_H
#define ADVCC_NOISE_H

#include "real.h"

#define NOISE_CHUNK 4096

struct advcc_rng;

/* Over n values: out = x + sigma * the call's draws, in one pass (out may
 * be x). */
void noise_add(real_t *out, const real_t *x, long n, real_t sigma,
               struct advcc_rng *rng);

/* The call's n draws into z, rng moved on as noise_add moves it: dropout's
 * masks, and whatever predicts a layer's noise (tests). */
void noise_draws(struct advcc_rng *rng, long n, real_t *z);

/* A record of every call's draws, calls in order, each in element order,
 * for a program that replays passes elsewhere (the oracle's dumper): none
 * unless noise_log points at one.  Draws past cap are left out and counted
 * in lost.  One context at a time. */
typedef struct noise_record {
    real_t *z;
    long n, cap, lost;
} noise_record;
extern noise_record *noise_log;

#endif
