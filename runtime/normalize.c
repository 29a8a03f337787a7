/* normalize.c - the model's input layer: per-channel (x - mean) / std of
 * NCHW pixels, written as CNHW for the convolutions that follow.  It divides
 * (rather than multiplying by 1/std) to round as torchvision's Normalize. */
#include "kernels.h"
#include "parallel.h"

void normalize_forward(const real_t *x, int batch, int c, int hw,
                       const real_t *mean, const real_t *std, real_t *y)
{
#pragma omp parallel for collapse(2) schedule(static) \
    if ((long)batch * c * hw >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < c; ch++)
        for (int b = 0; b < batch; b++) {
            const real_t *restrict in = x + ((long)b * c + ch) * hw;
            real_t *restrict out = y + ((long)ch * batch + b) * hw;
            const real_t m = mean[ch], s = std[ch];
#pragma omp simd
            for (int i = 0; i < hw; i++)
                out[i] = (in[i] - m) / s;
        }
}

void normalize_backward(const real_t *dy, int batch, int c, int hw,
                        const real_t *std, real_t *dx)
{
#pragma omp parallel for collapse(2) schedule(static) \
    if ((long)batch * c * hw >= PAR_MIN_ELEMS)
    for (int b = 0; b < batch; b++)
        for (int ch = 0; ch < c; ch++) {
            const real_t *restrict in = dy + ((long)ch * batch + b) * hw;
            real_t *restrict out = dx + ((long)b * c + ch) * hw;
            const real_t s = std[ch];
#pragma omp simd
            for (int i = 0; i < hw; i++)
                out[i] = in[i] / s;
        }
}
