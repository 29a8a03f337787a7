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
/* Values a block of dtrelu_gradient's sums, and the lanes within one. */
#define DTRELU_BLOCK 4096
#define DTRELU_LANES 16

/* The backward's loop over n values, for hi > lo: z = y * s + t when
 * affine (BatchNorm folded in, conv_group.h), else y; dz (NULL: not
 * written; it may be g) is g where lo <= z <= hi, or everywhere when
 * pass (BPDA), else 0; the g where z < lo are added to *below, where
 * z > hi to *above.  The sums run in blocks of DTRELU_BLOCK values:
 * within one in DTRELU_LANES real_t lanes by position, the lanes added
 * pairwise, across blocks in double.  Built for each instruction set
 * (conv_direct.h), the order fixed: the same bits on each. */
void dtrelu_gradient(const real_t *y, long n, int affine, real_t s, real_t t, real_t lo,
                     real_t hi, int pass, const real_t *g, real_t *dz, double *below,
                     double *above);

void dtrelu_backward(const real_t *x, const real_t *dy, long n, real_t lo,
                     real_t hi, real_t *dx, real_t *dlo, real_t *dhi,
                     int bpda);

#endif
