/* dtrelu.c - DTReLU forward and backward; see dtrelu.h. */
#include <assert.h>
#include <stddef.h>
#include <string.h>
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

/* dtrelu_gradient over a block of n <= DTRELU_BLOCK values: each value's
 * sums in lane i mod DTRELU_LANES (16) of real_t lanes, those added
 * pairwise (lanes_sum) into sums[0] (below) and sums[1] (above); dz = g
 * where lo <= z <= hi, else 0, when store (pass is the caller's).  Whole
 * groups of 16 go by vectors (block_vectors), the rest value by value. */
static inline __attribute__((always_inline)) void
gradient_value(real_t y, real_t g, int affine, real_t s, real_t t, real_t lo, real_t hi,
               real_t *dz, int store, real_t *lb, real_t *ab)
{
    const real_t z = affine ? y * s + t : y;
    *lb += z < lo ? g : 0;
    *ab += z > hi ? g : 0;
    if (store)
        *dz = (z >= lo) & (z <= hi) ? g : 0;
}

/* The lanes' sum, halves added pairwise (8 to 8, 4 to 4, 2 to 2, 1 to 1):
 * a fixed order, in vectors of 4. */
static inline __attribute__((always_inline)) real_t lanes_sum(const real_t *v)
{
    typedef real_t vec4 __attribute__((vector_size(4 * sizeof(real_t))));
    vec4 c[4];
    memcpy(c, v, sizeof c);
    const vec4 h = (c[0] + c[2]) + (c[1] + c[3]);
    return (h[0] + h[2]) + (h[1] + h[3]);
}

static inline __attribute__((always_inline)) void
block_tail(const real_t *y, long i, long n, int affine, real_t s, real_t t, real_t lo, real_t hi,
           const real_t *g, real_t *dz, int store, real_t *lb, real_t *ab, real_t *sums)
{
    for (int l = 0; i < n; i++, l = (l + 1) % DTRELU_LANES)
        gradient_value(y[i], g[i], affine, s, t, lo, hi, dz ? dz + i : NULL, store, &lb[l],
                       &ab[l]);
    sums[0] = lanes_sum(lb);
    sums[1] = lanes_sum(ab);
}

#ifndef ADVCC_DOUBLE
/* The lanes as NA vectors of VL floats, held in registers: as a simd loop
 * over lb and ab each sum waited on a store and a load, and the lanes'
 * sum ran scalar (1 cycle a value with AVX2).  Masks pick g bit for bit,
 * so every sum is the scalar loop's.  NAME is a function of its own built
 * for its target (inlined into another's, GCC 12 lowers comparisons other
 * than < and > lane by lane), its loop specialised for affine and store. */
#define BLOCK_VECTORS(NAME, VL, ATTR)                                                           \
    static inline __attribute__((always_inline)) ATTR void NAME##_loop(                        \
        const real_t *y, long n, int affine, real_t s, real_t t, real_t lo, real_t hi,         \
        const real_t *g, real_t *dz, int store, real_t *sums)                                   \
    {                                                                                           \
        typedef real_t vec __attribute__((vector_size((VL) * sizeof(real_t))));                \
        typedef int mask __attribute__((vector_size((VL) * sizeof(int))));                     \
        enum { NA = DTRELU_LANES / (VL) };                                                      \
        vec bsum[NA] = {{0}}, asum[NA] = {{0}};                                                 \
        const vec sv = (vec){0} + s, tv = (vec){0} + t, lov = (vec){0} + lo,                    \
                  hiv = (vec){0} + hi;                                                          \
        long i = 0;                                                                             \
        for (; i + DTRELU_LANES <= n; i += DTRELU_LANES)                                        \
            _Pragma("GCC unroll 4") for (int a = 0; a < NA; a++) {                              \
                vec yv, gv;                                                                     \
                memcpy(&yv, y + i + a * (VL), sizeof yv);                                       \
                memcpy(&gv, g + i + a * (VL), sizeof gv);                                       \
                const vec z = affine ? yv * sv + tv : yv;                                       \
                const mask gb = (mask)gv;                                                       \
                bsum[a] += (vec)(gb & (z < lov));                                               \
                asum[a] += (vec)(gb & (z > hiv));                                               \
                if (store) {                                                                    \
                    const vec d = (vec)((gb & (z >= lov)) & (z <= hiv));                        \
                    memcpy(dz + i + a * (VL), &d, sizeof d);                                    \
                }                                                                               \
            }                                                                                   \
        real_t lb[DTRELU_LANES], ab[DTRELU_LANES];                                              \
        memcpy(lb, bsum, sizeof lb);                                                            \
        memcpy(ab, asum, sizeof ab);                                                            \
        block_tail(y, i, n, affine, s, t, lo, hi, g, dz, store, lb, ab, sums);                  \
    }                                                                                           \
    static __attribute__((noinline)) ATTR void NAME(                                           \
        const real_t *y, long n, int affine, real_t s, real_t t, real_t lo, real_t hi,         \
        const real_t *g, real_t *dz, int store, real_t *sums)                                   \
    {                                                                                           \
        if (affine && store)                                                                    \
            NAME##_loop(y, n, 1, s, t, lo, hi, g, dz, 1, sums);                                 \
        else if (affine)                                                                        \
            NAME##_loop(y, n, 1, s, t, lo, hi, g, dz, 0, sums);                                 \
        else if (store)                                                                         \
            NAME##_loop(y, n, 0, s, t, lo, hi, g, dz, 1, sums);                                 \
        else                                                                                    \
            NAME##_loop(y, n, 0, s, t, lo, hi, g, dz, 0, sums);                                 \
    }
BLOCK_VECTORS(block_vectors4, 4, )
#if defined(__x86_64__)
#define BLOCK_TARGET(isa) __attribute__((target(isa), optimize("fp-contract=off")))
BLOCK_VECTORS(block_vectors8, 8, BLOCK_TARGET("avx2,fma"))
BLOCK_VECTORS(block_vectors16, 16, BLOCK_TARGET("avx512f,fma"))
#endif
#endif

/* A block by the instruction set in use. */
static void gradient_block(const real_t *y, long n, int affine, real_t s, real_t t, real_t lo,
                           real_t hi, const real_t *g, real_t *dz, int store, real_t *sums)
{
#ifdef ADVCC_DOUBLE
    real_t lb[DTRELU_LANES] = {0}, ab[DTRELU_LANES] = {0};
    block_tail(y, 0, n, affine, s, t, lo, hi, g, dz, store, lb, ab, sums);
#else
#if defined(__x86_64__)
    const enum conv_isa isa = conv_direct_isa();
    if (isa == CONV_ISA_AVX512)
        block_vectors16(y, n, affine, s, t, lo, hi, g, dz, store, sums);
    else if (isa == CONV_ISA_AVX2)
        block_vectors8(y, n, affine, s, t, lo, hi, g, dz, store, sums);
    else
#endif
        block_vectors4(y, n, affine, s, t, lo, hi, g, dz, store, sums);
#endif
}

void dtrelu_gradient(const real_t *y, long n, int affine, real_t s, real_t t, real_t lo,
                     real_t hi, int pass, const real_t *g, real_t *dz, double *below,
                     double *above)
{
    const int store = dz && !pass;      /* pass: dz = g, copied below */
    for (long start = 0; start < n; start += DTRELU_BLOCK) {
        const long len = n - start < DTRELU_BLOCK ? n - start : DTRELU_BLOCK;
        real_t sums[2];
        gradient_block(y + start, len, affine, s, t, lo, hi, g + start,
                       dz ? dz + start : NULL, store, sums);
        *below += sums[0];
        *above += sums[1];
    }
    if (dz && pass && dz != g)
        memcpy(dz, g, sizeof(real_t) * (size_t)n);
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
