/* epilogue.h - BatchNorm's arithmetic, once: for the runtime's BatchNorm
 * layer (batchnorm.c) and for the epilogue of a convolution's fused group
 * in generated code.  The functions are inline and take a constant
 * descriptor, so the C compiler folds a generated group's shapes as if
 * they were written out.
 *
 * PyTorch's rules: eps 1e-5; training normalises by the biased batch
 * variance and moves the running statistics by momentum 0.1 towards the
 * batch mean and the unbiased batch variance; evaluation uses the running
 * statistics.  Sums are taken in double in a fixed order (reduce.h), so
 * results are the same bits whatever the thread count. */
#ifndef ADVCC_EPILOGUE_H
#define ADVCC_EPILOGUE_H

#include <math.h>
#include <stddef.h>
#include "parallel.h"
#include "real.h"
#include "reduce.h"

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

/* One channel's n values: the batch mean and 1/sqrt(var + eps); with
 * update, the running statistics move towards the batch's. */
static inline void bn_channel_moments(const real_t *xc, long n, int update,
                                      real_t *running_mean,
                                      real_t *running_var, double *mean,
                                      double *invstd)
{
    /* Moments about the first value: one pass, and no cancellation when
     * the mean is large against the spread. */
    double shift = xc[0], s, q;
    reduce_moments(xc, n, shift, &s, &q);
    double m = shift + s / n;
    double var = (q - s * s / n) / n;
    if (var < 0)
        var = 0;
    *mean = m;
    *invstd = 1 / sqrt(var + BN_EPS);
    if (update) {
        double unbiased = n > 1 ? var * n / (n - 1) : var;
        *running_mean = (real_t)((1 - BN_MOMENTUM) * *running_mean + BN_MOMENTUM * m);
        *running_var = (real_t)((1 - BN_MOMENTUM) * *running_var + BN_MOMENTUM * unbiased);
    }
}

/* 1/sqrt(running_var + eps): evaluation's invstd. */
static inline real_t bn_running_invstd(real_t running_var)
{
    return (real_t)(1 / sqrt((double)running_var + BN_EPS));
}

/* One channel's backward.  With xhat = (x - mean) * invstd and
 * y = gamma xhat + beta: dbeta = sum dy, dgamma = sum dy xhat and, with
 * batch statistics, dx = gamma invstd (dy - dbeta/n - xhat dgamma/n); with
 * running ones, dx = gamma invstd dy.  dgamma, dbeta may be NULL; dxc may
 * be dyc. */
static inline void bn_channel_backward(const real_t *xc, const real_t *dyc,
                                       long n, int batch, real_t gamma,
                                       real_t mean, real_t invstd,
                                       real_t *dxc, real_t *dgamma,
                                       real_t *dbeta)
{
    const double m = mean, is = invstd;
    /* dx = a dy + b (x - mean) + k, folded per channel. */
    const double g = gamma * is;
    const real_t a = (real_t)g, mr = (real_t)m;
    /* running statistics and no parameter gradients (an attack's
     * backward) need no sums */
    double sum = 0, dot = 0;
    if (batch || dgamma || dbeta)
        reduce_dot(dyc, xc, n, m, &sum, &dot);
    if (dgamma)
        *dgamma = (real_t)(dot * is);
    if (dbeta)
        *dbeta = (real_t)sum;
    if (!batch) {
#pragma omp simd
        for (long i = 0; i < n; i++)
            dxc[i] = a * dyc[i];
        return;
    }
    const double proj = dot * is * is / n;
    const real_t b = (real_t)(-g * proj);
    const real_t k = (real_t)(-g * sum / n);
#pragma omp simd
    for (long i = 0; i < n; i++)
        dxc[i] = a * dyc[i] + b * (xc[i] - mr) + k;
}

/* A BatchNorm in a convolution's fused group: its shape and where its
 * tensors are in the parameter buffer.  Activations are CNHW: channel ch
 * of a batch of B is B * plane contiguous values. */
typedef struct bn_epilogue {
    int channels;
    long plane;             /* values per channel of one image */
    long gamma, beta, running_mean, running_var;    /* parameter offsets */
} bn_epilogue;

/* The statistics the affine map uses: the batch's (batch != 0; update:
 * the running ones move) or the running ones. */
static inline void bn_epilogue_stats(const bn_epilogue *d, real_t *params,
                                     const real_t *y, int B, int batch,
                                     int update, real_t *mean, real_t *invstd)
{
    real_t *rm = params + d->running_mean, *rv = params + d->running_var;
    const long n = (long)B * d->plane;
    if (!batch) {
        for (int ch = 0; ch < d->channels; ch++) {
            mean[ch] = rm[ch];
            invstd[ch] = bn_running_invstd(rv[ch]);
        }
        return;
    }
#pragma omp parallel for schedule(static) if ((long)d->channels * n >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < d->channels; ch++) {
        double m, is;
        bn_channel_moments(y + (size_t)ch * n, n, update, &rm[ch], &rv[ch], &m, &is);
        mean[ch] = (real_t)m;
        invstd[ch] = (real_t)is;
    }
}

/* Channel ch of the affine map y * s + t that the statistics give. */
static inline real_t bn_epilogue_scale(const bn_epilogue *d, const real_t *params,
                                       const real_t *invstd, int ch)
{
    return params[d->gamma + ch] * invstd[ch];
}

static inline real_t bn_epilogue_shift(const bn_epilogue *d, const real_t *params,
                                       const real_t *mean, real_t s, int ch)
{
    return params[d->beta + ch] - mean[ch] * s;
}

/* Channel ch's backward in place over dy (the gradient at BatchNorm's
 * output on entry, at its input on return); grads NULL: no parameter
 * gradients. */
static inline void bn_epilogue_backward(const bn_epilogue *d, const real_t *params,
                                        real_t *grads, const real_t *y, real_t *dy,
                                        int B, int batch, const real_t *mean,
                                        const real_t *invstd, int ch)
{
    const long n = (long)B * d->plane;
    bn_channel_backward(y + (size_t)ch * n, dy + (size_t)ch * n, n, batch,
                        params[d->gamma + ch], mean[ch], invstd[ch],
                        dy + (size_t)ch * n, grads ? grads + d->gamma + ch : NULL,
                        grads ? grads + d->beta + ch : NULL);
}

#endif
