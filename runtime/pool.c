/* pool.c - average and max pooling over planes of h x w (for CNHW data the
 * planes are every channel of every image), kernel k, stride s, no padding.
 * One thread per plane: overlapping windows accumulate in a fixed order. */
#include <math.h>
#include <string.h>
#include "kernels.h"
#include "parallel.h"

void avgpool_forward(const real_t *x, int planes, int h, int w, int k, int s,
                     int ho, int wo, real_t *y)
{
    const real_t area = (real_t)(k * k);
#pragma omp parallel for schedule(static) \
    if ((long)planes * h * w >= PAR_MIN_ELEMS)
    for (int p = 0; p < planes; p++) {
        const real_t *restrict in = x + (long)p * h * w;
        real_t *restrict out = y + (long)p * ho * wo;
        for (int oy = 0; oy < ho; oy++) {
            const real_t *r0 = in + (long)oy * s * w;
            if (k == 2 && s == 2) {
                /* The common 2x2 case, summed in the general loop's order. */
                const real_t *r1 = r0 + w;
#pragma omp simd
                for (int ox = 0; ox < wo; ox++)
                    out[(long)oy * wo + ox] = (r0[2 * ox] + r0[2 * ox + 1] +
                                               r1[2 * ox] + r1[2 * ox + 1]) /
                                              area;
                continue;
            }
            for (int ox = 0; ox < wo; ox++) {
                real_t sum = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        sum += r0[(long)ky * w + ox * s + kx];
                out[(long)oy * wo + ox] = sum / area;
            }
        }
    }
}

void avgpool_backward(const real_t *dy, int planes, int h, int w, int k,
                      int s, int ho, int wo, real_t *dx)
{
    const real_t area = (real_t)(k * k);
#pragma omp parallel for schedule(static) \
    if ((long)planes * h * w >= PAR_MIN_ELEMS)
    for (int p = 0; p < planes; p++) {
        const real_t *restrict in = dy + (long)p * ho * wo;
        real_t *restrict out = dx + (long)p * h * w;
        /* Windows that tile the plane leave nothing to add up; otherwise
         * start from zero (cells outside every window stay zero). */
        if (s != k || ho * k != h || wo * k != w)
            memset(out, 0, sizeof *out * h * w);
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                const real_t g = in[(long)oy * wo + ox] / area;
                real_t *r = out + (long)oy * s * w + ox * s;
                if (s == k) {
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            r[(long)ky * w + kx] = g;
                } else {
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            r[(long)ky * w + kx] += g;
                }
            }
    }
}

void maxpool_forward(const real_t *x, int planes, int h, int w, int k, int s,
                     int ho, int wo, real_t *y, int *argmax)
{
#pragma omp parallel for schedule(static) \
    if ((long)planes * h * w >= PAR_MIN_ELEMS)
    for (int p = 0; p < planes; p++) {
        const real_t *restrict in = x + (long)p * h * w;
        real_t *restrict out = y + (long)p * ho * wo;
        int *restrict arg = argmax + (long)p * ho * wo;
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                int best = oy * s * w + ox * s;
                real_t m = in[best];
                /* Strict > keeps the first maximum; NaN wins, as in PyTorch. */
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const int at = (oy * s + ky) * w + ox * s + kx;
                        const real_t v = in[at];
                        if (v > m || (isnan(v) && !isnan(m))) {
                            m = v;
                            best = at;
                        }
                    }
                out[(long)oy * wo + ox] = m;
                arg[(long)oy * wo + ox] = best;
            }
    }
}

void maxpool_backward(const real_t *dy, const int *argmax, int planes, int h,
                      int w, int ho, int wo, real_t *dx)
{
#pragma omp parallel for schedule(static) \
    if ((long)planes * h * w >= PAR_MIN_ELEMS)
    for (int p = 0; p < planes; p++) {
        const real_t *restrict in = dy + (long)p * ho * wo;
        const int *restrict arg = argmax + (long)p * ho * wo;
        real_t *restrict out = dx + (long)p * h * w;
        memset(out, 0, sizeof *out * h * w);
        for (int i = 0; i < ho * wo; i++)
            out[arg[i]] += in[i];
    }
}
