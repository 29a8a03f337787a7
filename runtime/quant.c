/* quant.c - the fake quantiser, forward and backward; see quant.h. */
#include <assert.h>
#include "quant.h"

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
#pragma omp simd
    for (long i = 0; i < n; i++)
        y[i] = quant_value(x[i], lo, s, top);
}

void quant_forward_minmax(const real_t *x, long n, int bits, real_t *lo,
                          real_t *hi, real_t *y)
{
    quant_minmax(x, n, lo, hi);
    quant_forward(x, n, bits, *lo, *hi, y);
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
