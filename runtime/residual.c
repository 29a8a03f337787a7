/* residual.c - the sum at the end of a residual block and the gradient
 * that meets where its two paths began: y = a + b, and y += x where a
 * layer's output feeds two others. */
#include "kernels.h"
#include "parallel.h"

void residual_add(const real_t *a, const real_t *b, long n, real_t *y)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void residual_accumulate(real_t *y, const real_t *x, long n)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++)
        y[i] += x[i];
}
