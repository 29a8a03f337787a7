/* reduce.c - sums in double over runs of reals; see reduce.h.
 *
 * Each sum is one always-inline body, compiled twice: as the baseline's
 * code (SSE2, two doubles a vector) and for AVX2 (four), which runs the
 * seed CNN's first BatchNorm's moments of 3.3 million values in 0.50 ms
 * against 1.69.  AVX2 without FMA, so that no multiply and add is fused and
 * the sums keep their bits. */
#include "conv_direct.h"
#include "reduce.h"

#define REDUCE_LANES 8

static inline __attribute__((always_inline)) double combine(const double *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static inline __attribute__((always_inline)) double sum_body(const real_t *x, long n)
{
    double acc[REDUCE_LANES] = {0};
    long i = 0;
    for (; i + REDUCE_LANES <= n; i += REDUCE_LANES)
        for (int j = 0; j < REDUCE_LANES; j++)
            acc[j] += x[i + j];
    for (; i < n; i++)
        acc[i % REDUCE_LANES] += x[i];
    return combine(acc);
}

static inline __attribute__((always_inline)) void
moments_body(const real_t *x, long n, double shift, double *sum, double *sumsq)
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
    *sum = combine(s);
    *sumsq = combine(q);
}

static inline __attribute__((always_inline)) void
dot_body(const real_t *dy, const real_t *x, long n, double shift, double *sum, double *dot)
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
    *sum = combine(s);
    *dot = combine(p);
}

/* (the instruction set in use is none without x86-64, or in the double
 * build, where the attribute has nothing to select) */
#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2"), noinline))
#else
#define AVX2 __attribute__((noinline))
#endif

AVX2 static double sum_avx2(const real_t *x, long n)
{
    return sum_body(x, n);
}

AVX2 static void moments_avx2(const real_t *x, long n, double shift, double *sum, double *sumsq)
{
    moments_body(x, n, shift, sum, sumsq);
}

AVX2 static void dot_avx2(const real_t *dy, const real_t *x, long n, double shift, double *sum,
                          double *dot)
{
    dot_body(dy, x, n, shift, sum, dot);
}

static int use_avx2(void)
{
    return conv_direct_isa() != CONV_ISA_NONE;
}

double reduce_sum(const real_t *x, long n)
{
    return use_avx2() ? sum_avx2(x, n) : sum_body(x, n);
}

void reduce_moments(const real_t *x, long n, double shift, double *sum, double *sumsq)
{
    if (use_avx2())
        moments_avx2(x, n, shift, sum, sumsq);
    else
        moments_body(x, n, shift, sum, sumsq);
}

void reduce_dot(const real_t *dy, const real_t *x, long n, double shift, double *sum,
                double *dot)
{
    if (use_avx2())
        dot_avx2(dy, x, n, shift, sum, dot);
    else
        dot_body(dy, x, n, shift, sum, dot);
}
