/* batchnorm.c - BatchNorm2d over CNHW activations, following PyTorch's
 * rules: eps 1e-5; training normalises by the biased batch variance and
 * moves the running statistics by momentum 0.1 towards the batch mean and
 * the unbiased batch variance; evaluation uses the running statistics.
 *
 * Each channel's n values are contiguous and handled by one thread; sums are
 * taken in double in a fixed order (reduce.h), so results are the same bits
 * whatever the thread count. */
#include <math.h>
#include "kernels.h"
#include "parallel.h"
#include "reduce.h"

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

/* y = x * scale + shift over one channel: the affine form of
 * (x - mean) * invstd * gamma + beta.  y may be x. */
static void channel_affine(const real_t *x, long n, real_t scale,
                           real_t shift, real_t *y)
{
#pragma omp simd
    for (long i = 0; i < n; i++)
        y[i] = x[i] * scale + shift;
}

void batchnorm_forward_train(const real_t *x, int c, int n,
                             const real_t *gamma, const real_t *beta,
                             real_t *running_mean, real_t *running_var,
                             int update, real_t *mean, real_t *invstd,
                             real_t *y)
{
#pragma omp parallel for schedule(static) if ((long)c * n >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < c; ch++) {
        const real_t *xc = x + (long)ch * n;
        /* Moments about the first value: one pass, and no cancellation when
         * the mean is large against the spread. */
        double shift = xc[0], s, q;
        reduce_moments(xc, n, shift, &s, &q);
        double m = shift + s / n;
        double var = (q - s * s / n) / n;
        if (var < 0)
            var = 0;
        double is = 1 / sqrt(var + BN_EPS);
        mean[ch] = (real_t)m;
        invstd[ch] = (real_t)is;
        double scale = is * gamma[ch];
        channel_affine(xc, n, (real_t)scale, (real_t)(beta[ch] - m * scale),
                       y + (long)ch * n);
        if (update) {
            double unbiased = n > 1 ? var * n / (n - 1) : var;
            running_mean[ch] = (real_t)((1 - BN_MOMENTUM) * running_mean[ch] +
                                        BN_MOMENTUM * m);
            running_var[ch] = (real_t)((1 - BN_MOMENTUM) * running_var[ch] +
                                       BN_MOMENTUM * unbiased);
        }
    }
}

void batchnorm_forward_eval(const real_t *x, int c, int n,
                            const real_t *gamma, const real_t *beta,
                            const real_t *running_mean,
                            const real_t *running_var, real_t *y)
{
#pragma omp parallel for schedule(static) if ((long)c * n >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < c; ch++) {
        double scale = gamma[ch] / sqrt((double)running_var[ch] + BN_EPS);
        channel_affine(x + (long)ch * n, n, (real_t)scale,
                       (real_t)(beta[ch] - running_mean[ch] * scale),
                       y + (long)ch * n);
    }
}

/* With xhat = (x - mean) * invstd and y = gamma xhat + beta:
 * dbeta = sum dy, dgamma = sum dy xhat, and
 * dx = gamma invstd (dy - dbeta/n - xhat dgamma/n). */
void batchnorm_backward_train(const real_t *x, const real_t *dy, int c, int n,
                              const real_t *gamma, const real_t *mean,
                              const real_t *invstd, real_t *dx,
                              real_t *dgamma, real_t *dbeta)
{
#pragma omp parallel for schedule(static) if ((long)c * n >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < c; ch++) {
        const real_t *xc = x + (long)ch * n;
        const real_t *dyc = dy + (long)ch * n;
        real_t *dxc = dx + (long)ch * n;     /* may be dy */
        const double m = mean[ch], is = invstd[ch];
        double sum, dot;
        reduce_dot(dyc, xc, n, m, &sum, &dot);
        if (dgamma)
            dgamma[ch] = (real_t)(dot * is);
        if (dbeta)
            dbeta[ch] = (real_t)sum;
        /* dx = a dy + b (x - mean) + k, folded per channel. */
        const double g = gamma[ch] * is;
        const double proj = dot * is * is / n;
        const real_t a = (real_t)g, mr = (real_t)m;
        const real_t b = (real_t)(-g * proj);
        const real_t k = (real_t)(-g * sum / n);
#pragma omp simd
        for (long i = 0; i < n; i++)
            dxc[i] = a * dyc[i] + b * (xc[i] - mr) + k;
    }
}

void batchnorm_backward_eval(const real_t *dy, int c, int n,
                             const real_t *gamma, const real_t *running_var,
                             real_t *dx)
{
#pragma omp parallel for schedule(static) if ((long)c * n >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < c; ch++) {
        const real_t scale =
            (real_t)(gamma[ch] / sqrt((double)running_var[ch] + BN_EPS));
        const real_t *dyc = dy + (long)ch * n;
        real_t *dxc = dx + (long)ch * n;     /* may be dy */
#pragma omp simd
        for (long i = 0; i < n; i++)
            dxc[i] = dyc[i] * scale;
    }
}

/* The parameter gradients of evaluation mode, where xhat uses the running
 * statistics: dbeta = sum dy, dgamma = sum dy (x - running_mean) /
 * sqrt(running_var + eps). */
void batchnorm_backward_eval_params(const real_t *x, const real_t *dy, int c,
                                    int n, const real_t *running_mean,
                                    const real_t *running_var, real_t *dgamma,
                                    real_t *dbeta)
{
#pragma omp parallel for schedule(static) if ((long)c * n >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < c; ch++) {
        double sum, dot;
        reduce_dot(dy + (long)ch * n, x + (long)ch * n, n, running_mean[ch],
                   &sum, &dot);
        dgamma[ch] = (real_t)(dot / sqrt((double)running_var[ch] + BN_EPS));
        dbeta[ch] = (real_t)sum;
    }
}
