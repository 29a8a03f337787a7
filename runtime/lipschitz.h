/* lipschitz.h - sound upper bounds, and power-iteration estimates, of the
 * L2 operator norm (largest singular value) of a layer's linear map, in
 * double precision, for certified robustness (certify.h;
 * docs/METHODS.md 10).
 *
 * Power iteration gives a LOWER estimate of sigma_max (a Rayleigh
 * quotient).  The bounds here are proven UPPER bounds:
 *
 * Gram iteration (Delattre et al. 2023): G_0 = A, G_{t+1} = G_t^* G_t; the
 *   singular values of G_t are sigma_i^(2^t), so
 *       sigma_max(A) <= ||G_t||_F^(1 / 2^t)
 *   for every t, and the gap shrinks like rank^(1 / 2^t) at worst.  Each
 *   G_t is rescaled to unit Frobenius norm, its logarithm carried aside.
 *
 * Convolutions, zero padding P1, P2, strides s1, s2 (height, width), input
 *   c x h x w: the operator is a submatrix of the circular strided
 *   convolution on an N1 x N2 grid whenever N1 >= h + P1, N2 >= w + P2 (the
 *   input embedded at the grid's corner, zeros beside it; no read wraps onto
 *   data) and s1 divides N1, s2 divides N2.  Split into its s1 x s2
 *   polyphase components (a permutation of the input, Sedghi et al. 2019's
 *   space-to-depth), that is a stride-1 circular convolution from ci*s1*s2
 *   channels on an (N1/s1) x (N2/s2) grid, whose norm is exactly the
 *   largest, over the frequencies, sigma_max of the co x ci*s1*s2 matrix of
 *   kernel DFTs.  A kh x kw kernel is no different from a square one here.  A submatrix's norm is at most the
 *   matrix's.  Each of the small matrices is bounded by Gram iteration.
 *   The bound is sound for every such grid; lip_conv_fourier takes the
 *   smallest (the fewest frequencies).  Its gap to the true norm comes from
 *   the border, and shrinks as the grid grows against the kernel.
 *
 * Small convolutions can also be written out as a dense matrix and bounded
 * by Gram iteration directly (no boundary gap).
 *
 * Every bound is multiplied by (1 + LIP_SAFETY) to cover rounding in double
 * precision, which is orders of magnitude smaller. */
#ifndef ADVCC_LIPSCHITZ_H
#define ADVCC_LIPSCHITZ_H

#include "kernels.h"

#define LIP_SAFETY 1e-9
#define LIP_GRAM_ITERS 12       /* Gram iterations by default */
#define LIP_POWER_ITERS 100     /* power iterations by default */
#define LIP_FOURIER_GRIDS 4     /* grid sizes tried by the Fourier bound */

/* Upper bound of sigma_max of the row-major m x n matrix a, by iters >= 1
 * Gram iterations (on the smaller side).  -1 when out of memory. */
double lip_gram(const double *a, int m, int n, int iters);

/* Upper bound of the true operator norm of the convolution s (kernels.h)
 * with weight [out_c][in_c][kh][kw], as above.  -1 when out of memory. */
double lip_conv_fourier(const double *weight, const conv_shape *s, int iters);

/* The same convolution written out as a dense [co*ho*wo][ci*h*w] matrix
 * and bounded by Gram iteration; -2 when the matrix would have more than
 * max_entries entries, -1 when out of memory. */
double lip_conv_dense(const double *weight, const conv_shape *s, int iters, long max_entries);

/* Lower estimates by power iteration from a fixed pseudo-random start. */
double lip_power(const double *a, int m, int n, int iters);
double lip_power_conv(const double *weight, const conv_shape *s, int iters);

#endif
