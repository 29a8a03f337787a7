/* spectral.c - spectral norms by power iteration; see spectral.h. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include "kernels.h"
#include "reduce.h"
#include "spectral.h"

/* Scales x to unit length; returns the old length (x untouched when 0).
 * The sum in reduce.h's fixed lanes and the scaling by one reciprocal keep
 * both loops vector loops (a convolution's u is 32,768 values). */
static double normalize(real_t *x, long n)
{
    double sum, sq;
    reduce_moments(x, n, 0, &sum, &sq);
    const double s = sqrt(sq);
    if (s > 0) {
        const double inv = 1 / s;
#pragma omp simd
        for (long i = 0; i < n; i++)
            x[i] = (real_t)(x[i] * inv);
    }
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

double spectral_linear_iterate(const real_t *w, int rows, int cols, real_t *u, real_t *v,
                               int iters, int restart)
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
    return sigma;
}

void spectral_linear_grad_cols(const real_t *u, const real_t *v, int rows, int cols, int c0,
                               int c1, real_t scale, real_t *dw)
{
    if (c1 > c0)
        gemm(0, 1, rows, c1 - c0, 1, scale, u, 1, v + c0, 1, 1, dw + c0, cols);
}

double spectral_linear(const real_t *w, int rows, int cols, real_t *u,
                       real_t *v, int iters, int restart, real_t scale,
                       real_t *dw)
{
    const double sigma = spectral_linear_iterate(w, rows, cols, u, v, iters, restart);
    if (dw && sigma > 0)
        spectral_linear_grad_cols(u, v, rows, cols, 0, cols, scale, dw);
    return sigma;
}

size_t spectral_conv_scratch(const conv_shape *s)
{
    return (size_t)s->in_c * s->kh * s->kw * s->out_h * s->out_w;    /* one im2col of v */
}

double spectral_conv(const real_t *weight, const conv_shape *s, real_t *u, real_t *v,
                     int iters, int restart, real_t scale, real_t *dw, real_t *scratch)
{
    assert(iters >= 1);
    const long plane = (long)s->out_h * s->out_w;
    long nv = (long)s->in_c * s->in_h * s->in_w, nu = (long)s->out_c * plane;
    start_vector(v, nv, restart);
    double sigma = 0;
    for (int it = 0; it < iters; it++) {
        conv_shape_forward(s, v, 1, weight, NULL, scratch, u);
        normalize(u, nu);
        conv_shape_backward_input(s, u, weight, 1, scratch, v);
        sigma = normalize(v, nv);
    }
    if (dw && sigma > 0) {
        /* the weight gradient of <u, conv(v, W)>: u [co][ho*wo] times the
         * columns of v, accumulated into dw */
        int kk = s->in_c * s->kh * s->kw;
        conv_im2col(s, v, 1, scratch);
        gemm(0, 1, s->out_c, kk, (int)plane, scale, u, (int)plane, scratch, (int)plane, 1, dw,
             kk);
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

double spectral_norm_conv(const real_t *weight, const conv_shape *s, int iters)
{
    real_t *u = calloc((size_t)s->out_c * s->out_h * s->out_w, sizeof *u);
    real_t *v = calloc((size_t)s->in_c * s->in_h * s->in_w, sizeof *v);
    real_t *sc = calloc(spectral_conv_scratch(s), sizeof *sc);
    double sigma = -1;
    if (u && v && sc)
        sigma = spectral_conv(weight, s, u, v, iters, 1, 0, NULL, sc);
    free(u);
    free(v);
    free(sc);
    return sigma;
}
