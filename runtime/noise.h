/* noise.h - the noise layer of the random self-ensemble (RSE, Liu et al.
 * 2018): x += sigma * xi, xi ~ N(0, 1) drawn from the run's generator, in
 * training and in inference.  The noise is additive, so the layer's
 * backward is the identity and has no kernel. */
#ifndef ADVCC_NOISE_H
#define ADVCC_NOISE_H

#include "real.h"

struct advcc_rng;

/* In place over n values; draws exactly n normals from rng, in order
 * (rng_normal_ziggurat). */
void noise_add(real_t *x, long n, real_t sigma, struct advcc_rng *rng);

#endif
