/* conv.c - 2-D convolution over a CNHW batch as one gemm per pass.
 *
 * Forward: col = im2col(x), y[co][batch*ho*wo] = W[co][ci*k*k] col (+ bias).
 * Weight gradient: dW = dy col^T; bias gradient: row sums of dy.
 * Input gradient: dcol = W^T dy, dx = col2im(dcol).
 * A 1x1 convolution with stride 1 and no padding is a plain product: its
 * column matrix is x itself, so im2col and col2im are skipped. */
#include "kernels.h"
#include "reduce.h"

static int conv_is_pointwise(int k, int stride, int pad)
{
    return k == 1 && stride == 1 && pad == 0;
}

void conv_forward(const real_t *x, int ci, int batch, int h, int w,
                  const real_t *weight, const real_t *bias, int co, int k,
                  int stride, int pad, int ho, int wo, real_t *col, real_t *y)
{
    const int kk = ci * k * k;
    const long n = (long)batch * ho * wo;
    const real_t *cols = x;
    if (!conv_is_pointwise(k, stride, pad)) {
        im2col(x, ci, batch, h, w, k, stride, pad, ho, wo, col);
        cols = col;
    }
    gemm(0, 0, co, (int)n, kk, 1, weight, kk, cols, (int)n, 0, y, (int)n);
    if (!bias)
        return;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < co; o++) {
        real_t *row = y + o * n;
        const real_t b = bias[o];
#pragma omp simd
        for (long i = 0; i < n; i++)
            row[i] += b;
    }
}

void conv_backward_params(const real_t *x, const real_t *dy, int ci, int batch,
                          int h, int w, int co, int k, int stride, int pad,
                          int ho, int wo, real_t *col, real_t *dw, real_t *db)
{
    const int kk = ci * k * k;
    const long n = (long)batch * ho * wo;
    const real_t *cols = x;
    if (!conv_is_pointwise(k, stride, pad)) {
        im2col(x, ci, batch, h, w, k, stride, pad, ho, wo, col);
        cols = col;
    }
    gemm(0, 1, co, kk, (int)n, 1, dy, (int)n, cols, (int)n, 0, dw, kk);
    if (!db)
        return;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < co; o++)
        db[o] = (real_t)reduce_sum(dy + o * n, n);
}

void conv_backward_input(const real_t *dy, const real_t *weight, int ci,
                         int batch, int h, int w, int co, int k, int stride,
                         int pad, int ho, int wo, real_t *col, real_t *dx)
{
    const int kk = ci * k * k;
    const long n = (long)batch * ho * wo;
    if (conv_is_pointwise(k, stride, pad)) {
        gemm(1, 0, kk, (int)n, co, 1, weight, kk, dy, (int)n, 0, dx, (int)n);
        return;
    }
    gemm(1, 0, kk, (int)n, co, 1, weight, kk, dy, (int)n, 0, col, (int)n);
    col2im(col, ci, batch, h, w, k, stride, pad, ho, wo, dx);
}
