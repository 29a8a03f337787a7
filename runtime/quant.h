/* quant.h - the fake quantiser (simulated N-bit quantisation) and its
 * saturating straight-through gradient.
 *
 * Values stay real_t; they are rounded onto the grid of 2^N levels
 *     a, a + s, ..., b        s = (b - a) / (2^N - 1)
 * by q(x) = s * round((clip(x, a, b) - a) / s) + a, round() taking ties
 * away from zero (C's round/roundf).  The bounds are the tensor's min and max
 * (the default), fixed values, or one pair per row of a [rows][cols] weight
 * (per output channel; a conv weight [co][ci][k][k] is [co][ci*k*k]).
 * When a == b the grid is a single point and q(x) = x: the tensor passes
 * unchanged (a constant tensor is already on any grid); so it does for fixed
 * bounds with a > b.
 *
 * Backward (Lin et al. 2017): dx = dy where a <= x <= b, else 0.  With
 * min/max bounds every x lies inside, so the gradient passes whole.
 *
 * The forward writes a separate buffer: float master weights stay
 * unquantised.  Bits range over 2..16.  Backward may run in place (dx == dy).
 */
#ifndef ADVCC_QUANT_H
#define ADVCC_QUANT_H

#include "real.h"

#define QUANT_MIN_BITS 2
#define QUANT_MAX_BITS 16

/* The grid's number of steps, 2^N - 1, and its step for bounds [lo, hi]. */
static inline real_t quant_top(int bits)
{
    return (real_t)((1L << bits) - 1);
}

static inline real_t quant_step(real_t lo, real_t hi, int bits)
{
    return (hi - lo) / quant_top(bits);
}

/* round(v) for 0 <= v < 2^31 - 1, ties away from zero: the same value as
 * C's round/roundf without a call into libm, so that loops vectorise.
 * v - trunc(v) is exact (Sterbenz), so the comparison sees the true
 * fraction. */
static inline real_t quant_round(real_t v)
{
    int r = (int)v;
    r += v - (real_t)r >= (real_t)0.5;
    return (real_t)r;
}

/* x onto the grid lo + j s, j = 0..top (s > 0, top = quant_top(bits)).
 * The clip is applied to the grid index, (x - lo) / s clamped to [0, top],
 * which for every x gives the same value as the formula above: inside
 * [lo, hi] the operations are the same, below lo both give j = 0, above hi
 * both give j = top.  So a float oracle that computes
 * s * round((clip(x, a, b) - a) / s) + a gets the same bits.  (This form
 * keeps the loop free of branches the compiler would duplicate.)  A NaN
 * goes to lo.  quant_grid_value takes the index's bounds, 0 and top, as
 * arguments: a loop that passes them from volatile copies keeps them
 * unknown to the compiler, which otherwise splits the loop at each clamp
 * where it knows the result (a constant top) and leaves it scalar. */
static inline real_t quant_grid_value(real_t x, real_t lo, real_t s, real_t jmin, real_t jmax)
{
    real_t v = (x - lo) / s;
    v = v > jmin ? v : jmin;
    v = v < jmax ? v : jmax;
    return s * quant_round(v) + lo;
}

static inline real_t quant_value(real_t x, real_t lo, real_t s, real_t top)
{
    return quant_grid_value(x, lo, s, 0, top);
}

/* y[i] = quant_value(x[i] * scale + shift, lo, s, top) over n values
 * (affine nonzero; else of x[i]), for s > 0: the loop of quant_forward,
 * of DTReLU (dtrelu.c) and of the fused epilogue's DTReLU after BatchNorm
 * (conv_group.h).  Compiled for the baseline, for AVX2 and for AVX-512,
 * chosen by the instruction set in use (conv_direct.h); no multiply and
 * add is fused, so each gives the same bits. */
void quant_grid(const real_t *x, long n, int affine, real_t scale, real_t shift, real_t lo,
                real_t s, real_t top, real_t *y);

/* Smallest and largest of x[0..n-1]; n >= 1. */
void quant_minmax(const real_t *x, long n, real_t *lo, real_t *hi);

/* y = q(x) over fixed bounds [lo, hi]. */
void quant_forward(const real_t *x, long n, int bits, real_t lo, real_t hi,
                   real_t *y);
/* y = q(x) with the bounds taken from x (min, max); the bounds are written
 * to *lo, *hi for the backward. */
void quant_forward_minmax(const real_t *x, long n, int bits, real_t *lo,
                          real_t *hi, real_t *y);
/* Per row of w [rows][cols]: bounds from each row's min and max, written to
 * lo[rows], hi[rows]. */
void quant_forward_rows(const real_t *w, int rows, long cols, int bits,
                        real_t *lo, real_t *hi, real_t *y);

/* dx = dy where lo <= x <= hi, else 0 (x is the unquantised input); when
 * lo >= hi the forward was the identity and dx = dy. */
void quant_backward(const real_t *x, const real_t *dy, long n, real_t lo,
                    real_t hi, real_t *dx);
void quant_backward_rows(const real_t *w, const real_t *dy, int rows,
                         long cols, const real_t *lo, const real_t *hi,
                         real_t *dx);

#endif
