/* noise.c - additive Gaussian noise; see noise.h. */
#include "noise.h"
#include "rng.h"

void noise_add(real_t *x, long n, real_t sigma, struct advcc_rng *rng)
{
    for (long i = 0; i < n; i++)
        x[i] += (real_t)(sigma * rng_normal_ziggurat(rng));
}
