/* reduce.h - sums over a contiguous run of reals, accumulated in double.
 *
 * Eight partial sums, combined in a fixed order, break the dependency chain
 * of a single accumulator (so the loop runs at the speed of the loads and
 * vectorises) while keeping the result independent of the data's alignment
 * and of the thread count: the same inputs always give the same bits. */
#ifndef ADVCC_REDUCE_H
#define ADVCC_REDUCE_H

#include "real.h"

#define REDUCE_LANES 8

static inline double reduce_combine(const double *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
           ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* sum x[i] */
static inline double reduce_sum(const real_t *x, long n)
{
    double acc[REDUCE_LANES] = {0};
    long i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
        for (int j = 0; j < REDUCE_LANES; j++)
            acc[j] += x[i + j];
    for (; i < n; i++)
        acc[i % REDUCE_LANES] += x[i];
    return reduce_combine(acc);
}

/* sum (x[i] - shift) and sum (x[i] - shift)^2 */
static inline void reduce_moments(const real_t *x, long n, double shift,
                                  double *sum, double *sumsq)
{
    double s[REDUCE_LANES] = {0}, q[REDUCE_LANES] = {0};
    long i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
        for (int j = 0; j < REDUCE_LANES; j++) {
            double d = x[i + j] - shift;
            s[j] += d;
            q[j] += d * d;
        }
    for (; i < n; i++) {
        double d = x[i] - shift;
        s[i % REDUCE_LANES] += d;
        q[i % REDUCE_LANES] += d * d;
    }
    *sum = reduce_combine(s);
    *sumsq = reduce_combine(q);
}

/* sum dy[i] and sum dy[i] * (x[i] - shift) */
static inline void reduce_dot(const real_t *dy, const real_t *x, long n,
                              double shift, double *sum, double *dot)
{
    double s[REDUCE_LANES] = {0}, p[REDUCE_LANES] = {0};
    long i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
        for (int j = 0; j < REDUCE_LANES; j++) {
            s[j] += dy[i + j];
            p[j] += dy[i + j] * (x[i + j] - shift);
        }
    for (; i < n; i++) {
        s[i % REDUCE_LANES] += dy[i];
        p[i % REDUCE_LANES] += dy[i] * (x[i] - shift);
    }
    *sum = reduce_combine(s);
    *dot = reduce_combine(p);
}

#endif
