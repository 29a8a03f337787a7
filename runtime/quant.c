/* quant.c - the fake quantiser, forward and backward; see quant.h. */
#include <assert.h>
#include <omp.h>
#include "conv_direct.h"
#include "parallel.h"
#include "quant.h"

/* quant_grid's loop: one always-inline body built for each instruction
 * set (conv_direct.h).  The baseline's SSE2 divides four floats at a
 * time: the seed CNN's first DTReLU (3.3 million values, one thread) took
 * 1.40 ms against 0.72 with AVX2 and 0.43 with AVX-512. */
static inline __attribute__((always_inline)) void
grid_body(const real_t *x, long n, int affine, real_t scale, real_t shift, real_t lo,
          real_t s, real_t top, real_t *y, enum conv_isa isa)
{
    (void)isa;
    /* quant_value with its index bounds hidden (quant.h) */
    volatile real_t opaque_zero = 0, opaque_top = top;
    const real_t zero = opaque_zero, last = opaque_top;
    if (affine) {
#pragma omp simd
        for (long i = 0; i < n; i++)
            y[i] = quant_grid_value(x[i] * scale + shift, lo, s, zero, last);
    } else {
#pragma omp simd
        for (long i = 0; i < n; i++)
            y[i] = quant_grid_value(x[i], lo, s, zero, last);  /* clips, then rounds */
    }
}

ISA_DISPATCH(grid_run, grid_body,
             (const real_t *x, long n, int affine, real_t scale, real_t shift, real_t lo,
              real_t s, real_t top, real_t *y),
             (x, n, affine, scale, shift, lo, s, top, y))

void quant_grid(const real_t *x, long n, int affine, real_t scale, real_t shift, real_t lo,
                real_t s, real_t top, real_t *y)
{
    grid_run(x, n, affine, scale, shift, lo, s, top, y);
}

void quant_minmax(const real_t *x, long n, real_t *lo, real_t *hi)
{
    real_t a = x[0], b = x[0];
#pragma omp simd reduction(min:a) reduction(max:b)
    for (long i = 1; i < n; i++) {
        a = x[i] < a ? x[i] : a;
        b = x[i] > b ? x[i] : b;
    }
    *lo = a;
    *hi = b;
}

void quant_forward(const real_t *x, long n, int bits, real_t lo, real_t hi,
                   real_t *y)
{
    assert(bits >= QUANT_MIN_BITS && bits <= QUANT_MAX_BITS);
    real_t s = quant_step(lo, hi, bits), top = quant_top(bits);
    if (!(s > 0)) {                     /* a grid of one point: x as it is */
        for (long i = 0; i < n; i++)
            y[i] = x[i];
        return;
    }
    quant_grid(x, n, 0, 1, 0, lo, s, top, y);
}

/* Values a piece of quant_forward_minmax's work. */
#define QUANT_PIECE 16384

/* Piece j of n values: its length, its start in *at. */
static long quant_piece(long n, long j, long *at)
{
    *at = j * QUANT_PIECE;
    return n - *at < QUANT_PIECE ? n - *at : QUANT_PIECE;
}

/* A large tensor (the seed CNN's first linear weight, 524,288 values, a
 * forward pass) goes by pieces the team shares: each piece's bounds, then
 * the pieces' in order (the smallest and largest are exact whatever the
 * order), then the grid a piece at a time. */
void quant_forward_minmax(const real_t *x, long n, int bits, real_t *lo,
                          real_t *hi, real_t *y)
{
    const long pieces = (n + QUANT_PIECE - 1) / QUANT_PIECE;
    if (n < PAR_MIN_ELEMS || omp_in_parallel() || omp_get_max_threads() < 2) {
        quant_minmax(x, n, lo, hi);
        quant_forward(x, n, bits, *lo, *hi, y);
        return;
    }
    real_t plo[pieces], phi[pieces];
#pragma omp parallel for schedule(static)
    for (long j = 0; j < pieces; j++) {
        long at;
        const long len = quant_piece(n, j, &at);
        quant_minmax(x + at, len, &plo[j], &phi[j]);
    }
    real_t a = plo[0], b = phi[0];
    for (long j = 1; j < pieces; j++) {
        a = plo[j] < a ? plo[j] : a;
        b = phi[j] > b ? phi[j] : b;
    }
    *lo = a;
    *hi = b;
#pragma omp parallel for schedule(static)
    for (long j = 0; j < pieces; j++) {
        long at;
        const long len = quant_piece(n, j, &at);
        quant_forward(x + at, len, bits, a, b, y + at);
    }
}

void quant_forward_rows(const real_t *w, int rows, long cols, int bits,
                        real_t *lo, real_t *hi, real_t *y)
{
    for (int r = 0; r < rows; r++)
        quant_forward_minmax(w + r * cols, cols, bits, &lo[r], &hi[r],
                             y + r * cols);
}

void quant_backward(const real_t *x, const real_t *dy, long n, real_t lo,
                    real_t hi, real_t *dx)
{
    if (!(hi > lo)) {           /* the forward was the identity */
        for (long i = 0; i < n; i++)
            dx[i] = dy[i];
        return;
    }
#pragma omp simd
    for (long i = 0; i < n; i++) {
        real_t v = x[i], g = dy[i];
        dx[i] = v >= lo && v <= hi ? g : 0;
    }
}

void quant_backward_rows(const real_t *w, const real_t *dy, int rows,
                         long cols, const real_t *lo, const real_t *hi,
                         real_t *dx)
{
    for (int r = 0; r < rows; r++)
        quant_backward(w + r * cols, dy + r * cols, cols, lo[r], hi[r],
                       dx + r * cols);
}
