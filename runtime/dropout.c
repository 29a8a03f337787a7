/* dropout.c - inverted dropout with masks from the run's generator; see
 * dropout.h. */
#include "dropout.h"
#include "noise.h"
#include "parallel.h"

void dropout_forward(const real_t *x, long n, real_t cut, real_t scale,
                     struct advcc_rng *rng, real_t *mask, real_t *y)
{
    noise_draws(rng, n, mask);
#pragma omp parallel for simd schedule(static) if (parallel: n >= PAR_MIN_ELEMS)
    for (long i = 0; i < n; i++) {
        /* compared in real_t, so that a float dump of the draws decides
         * as the run did */
        mask[i] = mask[i] >= cut ? scale : 0;
        y[i] = x[i] * mask[i];
    }
}

void dropout_backward(const real_t *mask, const real_t *dout, long n, real_t *dx)
{
    for (long i = 0; i < n; i++)
        dx[i] = dout[i] * mask[i];
}
