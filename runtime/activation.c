/* activation.c - ReLU and leaky ReLU.  ReLU's backward reads the forward
 * output: y > 0 exactly where x > 0, and y may overwrite x in place.  Leaky
 * ReLU's reads the input, which any slope (zero, negative) leaves
 * recoverable.  Tanh's and the sigmoid's read the output, from which their
 * derivatives follow. */
#include <math.h>

#include "kernels.h"
#include "parallel.h"

void relu_forward(const real_t *x, long n, real_t *y)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
}

void relu_backward(const real_t *y, const real_t *dy, long n, real_t *dx)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++) {
        const real_t g = dy[i];     /* loaded always, so the loop vectorises */
        dx[i] = y[i] > 0 ? g : 0;
    }
}

void leakyrelu_forward(const real_t *x, long n, real_t slope, real_t *y)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : slope * x[i];
}

void leakyrelu_backward(const real_t *x, const real_t *dy, long n, real_t slope, real_t *dx)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++) {
        const real_t g = dy[i];
        dx[i] = x[i] > 0 ? g : slope * g;
    }
}

void tanh_forward(const real_t *x, long n, real_t *y)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++)
        y[i] = (real_t)tanh(x[i]);
}

void tanh_backward(const real_t *y, const real_t *dy, long n, real_t *dx)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++)
        dx[i] = dy[i] * (1 - y[i] * y[i]);
}

void sigmoid_forward(const real_t *x, long n, real_t *y)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++)
        y[i] = (real_t)(1 / (1 + exp(-x[i])));
}

void sigmoid_backward(const real_t *y, const real_t *dy, long n, real_t *dx)
{
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++)
        dx[i] = dy[i] * y[i] * (1 - y[i]);
}
