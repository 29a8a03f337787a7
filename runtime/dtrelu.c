/* dtrelu.c - DTReLU forward and backward; see dtrelu.h. */
#include <assert.h>
#include <stddef.h>
#include "conv_direct.h"
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

/* dtrelu_gradient's loop over a block: each value's sum in lane i mod
 * DTRELU_LANES of real_t lanes, one vector of AVX-512, two of AVX2, four
 * of SSE2, the same sums whichever.  affine and store fold into
 * constants where the body is inlined. */
static inline __attribute__((always_inline)) void
gradient_lanes(const real_t *y, long n, int affine, real_t s, real_t t, real_t lo, real_t hi,
               int pass, const real_t *g, real_t *dz, int store, real_t *lb, real_t *ab)
{
    long i = 0;
    for (; i + DTRELU_LANES <= n; i += DTRELU_LANES)
#pragma omp simd
        for (int l = 0; l < DTRELU_LANES; l++) {
            const real_t z = affine ? y[i + l] * s + t : y[i + l], gi = g[i + l];
            lb[l] += z < lo ? gi : 0;
            ab[l] += z > hi ? gi : 0;
            if (store)
                dz[i + l] = (pass | ((z >= lo) & (z <= hi))) ? gi : 0;
        }
    for (int l = 0; i < n; i++, l++) {
        const real_t z = affine ? y[i] * s + t : y[i], gi = g[i];
        lb[l] += z < lo ? gi : 0;
        ab[l] += z > hi ? gi : 0;
        if (store)
            dz[i] = (pass | ((z >= lo) & (z <= hi))) ? gi : 0;
    }
}

/* The lanes' sum, halves added pairwise: a fixed order. */
static inline __attribute__((always_inline)) real_t lanes_sum(real_t *v)
{
    for (int w = DTRELU_LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++)
            v[l] += v[l + w];
    return v[0];
}

static inline __attribute__((always_inline)) void
gradient_body(const real_t *y, long n, int affine, real_t s, real_t t, real_t lo, real_t hi,
              int pass, const real_t *g, real_t *dz, double *below, double *above,
              enum conv_isa isa)
{
    (void)isa;
    for (long start = 0; start < n; start += DTRELU_BLOCK) {
        const long len = n - start < DTRELU_BLOCK ? n - start : DTRELU_BLOCK;
        real_t lb[DTRELU_LANES] = {0}, ab[DTRELU_LANES] = {0};
        const real_t *yb = y + start, *gb = g + start;
        real_t *db = dz ? dz + start : NULL;
        if (affine && dz)
            gradient_lanes(yb, len, 1, s, t, lo, hi, pass, gb, db, 1, lb, ab);
        else if (affine)
            gradient_lanes(yb, len, 1, s, t, lo, hi, pass, gb, db, 0, lb, ab);
        else if (dz)
            gradient_lanes(yb, len, 0, s, t, lo, hi, pass, gb, db, 1, lb, ab);
        else
            gradient_lanes(yb, len, 0, s, t, lo, hi, pass, gb, db, 0, lb, ab);
        *below += lanes_sum(lb);
        *above += lanes_sum(ab);
    }
}

ISA_DISPATCH(gradient_run, gradient_body,
             (const real_t *y, long n, int affine, real_t s, real_t t, real_t lo, real_t hi,
              int pass, const real_t *g, real_t *dz, double *below, double *above),
             (y, n, affine, s, t, lo, hi, pass, g, dz, below, above))

void dtrelu_gradient(const real_t *y, long n, int affine, real_t s, real_t t, real_t lo,
                     real_t hi, int pass, const real_t *g, real_t *dz, double *below,
                     double *above)
{
    gradient_run(y, n, affine, s, t, lo, hi, pass, g, dz, below, above);
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
    } else {
        dtrelu_gradient(x, n, 0, 1, 0, lo, hi, bpda, dy, dx, &below, &above);
    }
    if (dlo)
        *dlo = (real_t)below;
    if (dhi)
        *dhi = (real_t)above;
}
