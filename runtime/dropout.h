/* dropout.h - dropout (Srivastava et al. 2014) as training uses it,
 * inverted: in a training pass each element is kept with probability
 * 1 - p and scaled by 1 / (1 - p), or zeroed, so that evaluation, where
 * the layer is the identity, needs no rescaling.  The keep-or-drop choice
 * of an element is a standard normal z drawn from the run's generator
 * against the p-quantile `cut` of N(0, 1) (kept when z >= cut): the masks
 * are then reproducible from the seed like the noise layers' draws, and
 * whatever replays a pass's normal draws (the oracle's dumper) replays
 * them too. */
#ifndef ADVCC_DROPOUT_H
#define ADVCC_DROPOUT_H

#include "real.h"

struct advcc_rng;

/* y = x * mask over n values, mask[i] = scale where kept, else 0; the
 * normals are a noise layer's call's (noise_draws, noise.h).  mask is kept
 * for the backward. */
void dropout_forward(const real_t *x, long n, real_t cut, real_t scale,
                     struct advcc_rng *rng, real_t *mask, real_t *y);
/* dx = dout * mask over n values. */
void dropout_backward(const real_t *mask, const real_t *dout, long n, real_t *dx);

#endif
