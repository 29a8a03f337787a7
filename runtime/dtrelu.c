/* dtrelu.c - DTReLU forward and backward; see dtrelu.h. */
#include <assert.h>
#include <stddef.h>
#include "dtrelu.h"
#include "quant.h"

void dtrelu_forward(const real_t *x, long n, real_t lo, real_t hi, int bits,
                    real_t *y)
{
    assert(bits >= QUANT_MIN_BITS && bits <= QUANT_MAX_BITS);
    if (!(hi > lo)) {
        for (long i = 0; i < n; i++)
            y[i] = hi;
        return;
    }
    quant_grid(x, n, 0, 1, 0, lo, quant_step(lo, hi, bits), quant_top(bits), y);
}

/* The backward's loop, for dx present or not.  The sums run in blocks:
 * within a block in real_t vector lanes (so the loop vectorises), across
 * blocks in double; the order is fixed, so are the bits. */
#define DTRELU_BLOCK 4096

static inline void dtrelu_sums(const real_t *x, const real_t *dy, long n,
                               real_t lo, real_t hi, real_t *dx,
                               double *below, double *above)
{
    double sb = 0, sa = 0;
    for (long start = 0; start < n; start += DTRELU_BLOCK) {
        long end = n - start < DTRELU_BLOCK ? n : start + DTRELU_BLOCK;
        real_t b = 0, a = 0;
#pragma omp simd reduction(+:b, a)
        for (long i = start; i < end; i++) {
            real_t v = x[i], g = dy[i];
            b += v < lo ? g : 0;
            a += v > hi ? g : 0;
            if (dx)
                dx[i] = v >= lo && v <= hi ? g : 0;
        }
        sb += b;
        sa += a;
    }
    *below = sb;
    *above = sa;
}

void dtrelu_backward(const real_t *x, const real_t *dy, long n, real_t lo,
                     real_t hi, real_t *dx, real_t *dlo, real_t *dhi,
                     int bpda)
{
    double below = 0, above = 0;
    if (!(hi > lo)) {
        for (long i = 0; i < n; i++) {
            above += dy[i];
            if (dx)
                dx[i] = bpda ? dy[i] : 0;
        }
    } else if (dx && !bpda) {
        dtrelu_sums(x, dy, n, lo, hi, dx, &below, &above);
    } else {
        dtrelu_sums(x, dy, n, lo, hi, NULL, &below, &above);
        if (dx && dx != dy)
            for (long i = 0; i < n; i++)
                dx[i] = dy[i];
    }
    if (dlo)
        *dlo = (real_t)below;
    if (dhi)
        *dhi = (real_t)above;
}
