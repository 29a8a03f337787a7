/* lipschitz.h - sound upper bounds, and power-iteration estimates, of the
 * L2 operator norm (largest singular value) of a layer's linear map, in
 * double precision, for certified robustness (certify.h;
 * docs/METHODS.md 9).
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
 * Convolutions, zero padding P, stride s, input c x h x w: the stride-s
 *   operator is a row subset of the stride-1 one, and that is a submatrix
 *   of the circular convolution on an N1 x N2 grid whenever N1 >= h + P,
 *   N2 >= w + P (the input embedded at the grid's corner, zeros beside it;
 *   no read wraps onto data).  A submatrix's norm is at most the matrix's,
 *   and the circular convolution's norm is exactly the largest, over the
 *   N1 x N2 frequencies, sigma_max of the co x ci matrix of kernel DFTs.
 *   Each of those small matrices is bounded by Gram iteration.  The bound
 *   is sound for every grid size; lip_conv_fourier uses N = h + P, w + P
 *   (the fewest frequencies).  For stride > 1 it is the stride-1 bound.
 *
 * Small convolutions can also be written out as a dense matrix and bounded
 * by Gram iteration directly (no boundary gap).
 *
 * Every bound is multiplied by (1 + LIP_SAFETY) to cover rounding in double
 * precision, which is orders of magnitude smaller. */
#ifndef ADVCC_LIPSCHITZ_H
#define ADVCC_LIPSCHITZ_H

#define LIP_SAFETY 1e-9
#define LIP_GRAM_ITERS 12       /* Gram iterations by default */
#define LIP_POWER_ITERS 100     /* power iterations by default */

/* Upper bound of sigma_max of the row-major m x n matrix a, by iters >= 1
 * Gram iterations (on the smaller side).  -1 when out of memory. */
double lip_gram(const double *a, int m, int n, int iters);

/* Upper bound of the true operator norm of the convolution with weight
 * [co][ci][k][k] on ci x h x w inputs (zero padding pad, stride), as
 * above.  -1 when out of memory. */
double lip_conv_fourier(const double *weight, int co, int ci, int k, int h,
                        int w, int stride, int pad, int iters);

/* The same convolution written out as a dense [co*ho*wo][ci*h*w] matrix
 * and bounded by Gram iteration; -2 when the matrix would have more than
 * max_entries entries, -1 when out of memory. */
double lip_conv_dense(const double *weight, int co, int ci, int k, int h,
                      int w, int stride, int pad, int iters,
                      long max_entries);

/* Lower estimates by power iteration from a fixed pseudo-random start. */
double lip_power(const double *a, int m, int n, int iters);
double lip_power_conv(const double *weight, int co, int ci, int k, int h,
                      int w, int stride, int pad, int iters);

/* Output size of a convolution: (h + 2 pad - k) / stride + 1. */
int lip_conv_out(int h, int k, int stride, int pad);

#endif
