/* linear.c - fully connected layers on [batch][features] rows:
 * y = x W^T + b, dW = dy^T x, db = column sums of dy, dx = dy W. */
#include "kernels.h"

void linear_forward(const real_t *x, int batch, int in, const real_t *weight,
                    const real_t *bias, int out, real_t *y)
{
    gemm(0, 1, batch, out, in, 1, x, in, weight, in, 0, y, out);
    if (!bias)
        return;
    for (int b = 0; b < batch; b++) {
        real_t *row = y + (long)b * out;
#pragma omp simd
        for (int o = 0; o < out; o++)
            row[o] += bias[o];
    }
}

void linear_backward_params(const real_t *x, const real_t *dy, int batch,
                            int in, int out, real_t *dw, real_t *db)
{
    gemm(1, 0, out, in, batch, 1, dy, out, x, in, 0, dw, in);
    if (!db)
        return;
    /* Column sums in double, images in order: small (out x batch) work. */
    for (int o = 0; o < out; o++) {
        double s = 0;
        for (int b = 0; b < batch; b++)
            s += dy[(long)b * out + o];
        db[o] = (real_t)s;
    }
}

void linear_backward_input(const real_t *dy, const real_t *weight, int batch,
                           int in, int out, real_t *dx)
{
    gemm(0, 0, batch, in, out, 1, dy, out, weight, in, 0, dx, in);
}
