/* spectral.c - spectral norms by power iteration; see spectral.h. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include "kernels.h"
#include "spectral.h"

/* Scales x to unit length; returns the old length (x untouched when 0). */
static double normalize(real_t *x, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    s = sqrt(s);
    if (s > 0)
        for (long i = 0; i < n; i++)
            x[i] = (real_t)(x[i] / s);
    return s;
}

/* Puts v at ones / sqrt(n) when asked to or when it is all zeros. */
static void start_vector(real_t *v, long n, int restart)
{
    if (!restart) {
        for (long i = 0; i < n; i++)
            if (v[i] != 0)
                return;
    }
    real_t one = (real_t)(1 / sqrt((double)n));
    for (long i = 0; i < n; i++)
        v[i] = one;
}

double spectral_linear(const real_t *w, int rows, int cols, real_t *u,
                       real_t *v, int iters, int restart, real_t scale,
                       real_t *dw)
{
    assert(iters >= 1);
    start_vector(v, cols, restart);
    double sigma = 0;
    for (int it = 0; it < iters; it++) {
        gemm(0, 0, rows, 1, cols, 1, w, cols, v, 1, 0, u, 1);  /* u = W v */
        normalize(u, rows);
        gemm(1, 0, cols, 1, rows, 1, w, cols, u, 1, 0, v, 1);  /* v = W^T u */
        sigma = normalize(v, cols);
    }
    if (dw && sigma > 0)
        gemm(0, 1, rows, cols, 1, scale, u, 1, v, 1, 1, dw, cols);
    return sigma;
}

int spectral_conv_out(int h, int k, int stride, int pad)
{
    return (h + 2 * pad - k) / stride + 1;
}

size_t spectral_conv_scratch(int ci, int k, int h, int w, int stride,
                             int pad)
{
    size_t ho = spectral_conv_out(h, k, stride, pad);
    size_t wo = spectral_conv_out(w, k, stride, pad);
    return (size_t)ci * k * k * ho * wo;    /* one im2col of v */
}

double spectral_conv(const real_t *weight, int co, int ci, int k, int h,
                     int w, int stride, int pad, real_t *u, real_t *v,
                     int iters, int restart, real_t scale, real_t *dw,
                     real_t *scratch)
{
    assert(iters >= 1);
    int ho = spectral_conv_out(h, k, stride, pad);
    int wo = spectral_conv_out(w, k, stride, pad);
    long nv = (long)ci * h * w, nu = (long)co * ho * wo;
    start_vector(v, nv, restart);
    double sigma = 0;
    for (int it = 0; it < iters; it++) {
        conv_forward(v, ci, 1, h, w, weight, NULL, co, k, stride, pad, ho, wo,
                     scratch, u);
        normalize(u, nu);
        conv_backward_input(u, weight, ci, 1, h, w, co, k, stride, pad, ho,
                            wo, scratch, v);
        sigma = normalize(v, nv);
    }
    if (dw && sigma > 0) {
        /* the weight gradient of <u, conv(v, W)>: u [co][ho*wo] times the
         * columns of v, accumulated into dw */
        int kk = ci * k * k;
        im2col(v, ci, 1, h, w, k, stride, pad, ho, wo, scratch);
        gemm(0, 1, co, kk, ho * wo, scale, u, ho * wo, scratch, ho * wo, 1,
             dw, kk);
    }
    return sigma;
}

double spectral_norm_flat(const real_t *w, int rows, int cols, int iters)
{
    real_t *u = calloc(rows, sizeof *u), *v = calloc(cols, sizeof *v);
    double sigma = -1;
    if (u && v)
        sigma = spectral_linear(w, rows, cols, u, v, iters, 1, 0, NULL);
    free(u);
    free(v);
    return sigma;
}

double spectral_norm_conv(const real_t *weight, int co, int ci, int k, int h,
                          int w, int stride, int pad, int iters)
{
    int ho = spectral_conv_out(h, k, stride, pad);
    int wo = spectral_conv_out(w, k, stride, pad);
    real_t *u = calloc((size_t)co * ho * wo, sizeof *u);
    real_t *v = calloc((size_t)ci * h * w, sizeof *v);
    real_t *s = calloc(spectral_conv_scratch(ci, k, h, w, stride, pad),
                       sizeof *s);
    double sigma = -1;
    if (u && v && s)
        sigma = spectral_conv(weight, co, ci, k, h, w, stride, pad, u, v,
                              iters, 1, 0, NULL, s);
    free(u);
    free(v);
    free(s);
    return sigma;
}
