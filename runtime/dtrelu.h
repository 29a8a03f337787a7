/* dtrelu.h - DTReLU, the quantised activation with learnable bounds
 * (Jacob et al. 2018's activation ranges, made trainable).
 *
 *     y = q_N(clip(x, a, b))
 *
 * where q_N is the N-bit fake quantiser of quant.h whose grid spans [a, b]
 * (s = (b - a) / (2^N - 1)) and a, b are learnable scalars of the layer
 * (initially 0 and 6).  Gradients, straight through the rounding:
 *     dy/dx = 1 where a <= x <= b, else 0
 *     dL/da = sum of dy where x < a
 *     dL/db = sum of dy where x > b
 * i.e. the exact gradients of clip(x, a, b).  Elementwise over n values, so
 * the layout does not matter.
 *
 * Training may push b to or below a; the layer then computes
 * min(max(x, a), b) = b everywhere and its gradient reaches b only
 * (dL/db = sum of dy). */
#ifndef ADVCC_DTRELU_H
#define ADVCC_DTRELU_H

#include "real.h"

void dtrelu_forward(const real_t *x, long n, real_t lo, real_t hi, int bits,
                    real_t *y);
/* Overwrites dx (may be NULL, may alias dy) and *dlo, *dhi (both NULL for
 * an input-only backward). x is the forward's input.  bpda nonzero: dx = dy
 * everywhere, the identity in place of the activation (BPDA,
 * docs/METHODS.md 11); *dlo and *dhi are as without it. */
void dtrelu_backward(const real_t *x, const real_t *dy, long n, real_t lo,
                     real_t hi, real_t *dx, real_t *dlo, real_t *dhi,
                     int bpda);

#endif
