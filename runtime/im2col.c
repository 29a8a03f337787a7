/* im2col.c - unfold a CNHW batch into the column matrix a convolution's
 * single gemm consumes, and fold columns back (the exact adjoint).
 *
 * col row r = (channel, ky, kx) holds, for every image and output pixel,
 * the input value that kernel tap meets (0 in the padding).  Both kernels
 * split the work into (row, image) or (channel, image) pieces, each done by
 * one thread, so results do not depend on the thread count. */
#include <string.h>
#include "kernels.h"

/* The output columns ox whose tap kx lands inside a row of width w:
 * 0 <= ox*stride - pad + kx < w  gives  lo <= ox < hi. */
static void tap_range(int kx, int w, int stride, int pad, int wo, int *lo,
                      int *hi)
{
    int first = pad - kx, last = w - 1 + pad - kx;
    int l = first > 0 ? (first + stride - 1) / stride : 0;
    int h = last >= 0 ? last / stride + 1 : 0;
    if (h > wo)
        h = wo;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

void im2col(const real_t *x, int c, int batch, int h, int w, int k,
            int stride, int pad, int ho, int wo, real_t *col)
{
    const int rows = c * k * k;
    const long plane = (long)ho * wo, ncol = (long)batch * plane;
#pragma omp parallel for collapse(2) schedule(static)
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < batch; b++) {
            const int ch = r / (k * k), ky = r / k % k, kx = r % k;
            const real_t *restrict src = x + ((long)ch * batch + b) * h * w;
            real_t *restrict out = col + r * ncol + b * plane;
            int lo, hi;
            tap_range(kx, w, stride, pad, wo, &lo, &hi);
            for (int oy = 0; oy < ho; oy++, out += wo) {
                const int iy = oy * stride - pad + ky;
                if (iy < 0 || iy >= h) {
                    memset(out, 0, sizeof *out * wo);
                    continue;
                }
                const real_t *in = src + (long)iy * w;
                const int shift = kx - pad;
                for (int ox = 0; ox < lo; ox++)
                    out[ox] = 0;
                if (stride == 1 && hi > lo)
                    memcpy(out + lo, in + lo + shift, sizeof *out * (hi - lo));
                else if (stride != 1)
                    for (int ox = lo; ox < hi; ox++)
                        out[ox] = in[ox * stride + shift];
                for (int ox = hi; ox < wo; ox++)
                    out[ox] = 0;
            }
        }
}

void col2im(const real_t *col, int c, int batch, int h, int w, int k,
            int stride, int pad, int ho, int wo, real_t *dx)
{
    const long plane = (long)ho * wo, ncol = (long)batch * plane;
#pragma omp parallel for collapse(2) schedule(static)
    for (int ch = 0; ch < c; ch++)
        for (int b = 0; b < batch; b++) {
            real_t *restrict dst = dx + ((long)ch * batch + b) * h * w;
            memset(dst, 0, sizeof *dst * h * w);
            /* Taps in a fixed order: each dx sum is always added up alike. */
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    const long r = ((long)ch * k + ky) * k + kx;
                    const real_t *restrict in = col + r * ncol + b * plane;
                    int lo, hi;
                    tap_range(kx, w, stride, pad, wo, &lo, &hi);
                    for (int oy = 0; oy < ho; oy++, in += wo) {
                        const int iy = oy * stride - pad + ky;
                        if (iy < 0 || iy >= h)
                            continue;
                        real_t *out = dst + (long)iy * w;
                        const int shift = kx - pad;
                        if (stride == 1) {
#pragma omp simd
                            for (int ox = lo; ox < hi; ox++)
                                out[ox + shift] += in[ox];
                        } else {
                            for (int ox = lo; ox < hi; ox++)
                                out[ox * stride + shift] += in[ox];
                        }
                    }
                }
        }
}
