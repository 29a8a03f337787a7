/* reduce.h - sums over a contiguous run of reals, accumulated in double.
 *
 * Eight partial sums, combined in a fixed order, break the dependency chain
 * of a single accumulator (so the loop runs at the speed of the loads and
 * vectorises) while keeping the result independent of the data's alignment
 * and of the thread count: the same inputs always give the same bits.
 * Compiled for the baseline and for AVX2, chosen by the instruction set in
 * use (conv_direct.h): the same lanes in the same order, and no multiply
 * and add fused, so the same bits either way. */
#ifndef ADVCC_REDUCE_H
#define ADVCC_REDUCE_H

#include "real.h"

/* sum x[i] */
double reduce_sum(const real_t *x, long n);

/* sum (x[i] - shift) and sum (x[i] - shift)^2 */
void reduce_moments(const real_t *x, long n, double shift, double *sum, double *sumsq);

/* sum dy[i] and sum dy[i] * (x[i] - shift) */
void reduce_dot(const real_t *dy, const real_t *x, long n, double shift, double *sum,
                double *dot);

#endif
