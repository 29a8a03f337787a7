/* batchnorm.c - BatchNorm2d over CNHW activations, its arithmetic from
 * epilogue.h (PyTorch's rules).  Each channel's n values are contiguous and
 * handled by one thread. */
#include <math.h>
#include "epilogue.h"
#include "kernels.h"
#include "parallel.h"
#include "reduce.h"

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
        real_t rm = update ? running_mean[ch] : 0, rv = update ? running_var[ch] : 0;
        double m, is;
        bn_channel_moments(xc, n, update, &rm, &rv, &m, &is);
        mean[ch] = (real_t)m;
        invstd[ch] = (real_t)is;
        if (update) {
            running_mean[ch] = rm;
            running_var[ch] = rv;
        }
        double scale = is * gamma[ch];
        channel_affine(xc, n, (real_t)scale, (real_t)(beta[ch] - m * scale),
                       y + (long)ch * n);
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
        bn_channel_backward(x + (long)ch * n, dy + (long)ch * n, n, 1, gamma[ch],
                            mean[ch], invstd[ch], dx + (long)ch * n,
                            dgamma ? &dgamma[ch] : NULL, dbeta ? &dbeta[ch] : NULL);
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
