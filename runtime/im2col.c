/* im2col.c - unfold a CNHW batch into the column matrix a convolution's
 * gemm consumes, and fold columns back (the exact adjoint).
 *
 * Column row r = (channel, ky, kx) holds, for every image and output pixel,
 * the input value that kernel tap meets (0 in the padding).  Work is split
 * into (row, image) or (channel, image) pieces, each done whole by one
 * thread, so results do not depend on the thread count. */
#include <string.h>
#include "im2col.h"
#include "kernels.h"
#include "parallel.h"

/* The output columns ox whose tap kx lands inside a row of width w:
 * 0 <= ox*stride_w - pad_w + kx < w  gives  lo <= ox < hi. */
static void tap_range(int kx, const im2col_shape *s, int *lo, int *hi)
{
    int first = s->pad_w - kx, last = s->w - 1 + s->pad_w - kx;
    int l = first > 0 ? (first + s->stride_w - 1) / s->stride_w : 0;
    int h = last >= 0 ? last / s->stride_w + 1 : 0;
    if (h > s->wo)
        h = s->wo;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

void unfold_tap(const real_t *x, const im2col_shape *s, int r, int b,
                real_t *out)
{
    const int kh = s->kh, kw = s->kw, ch = r / (kh * kw), ky = r / kw % kh, kx = r % kw;
    const int stride = s->stride_w, shift = kx - s->pad_w, wo = s->wo;
    const real_t *src = x + ((long)ch * s->batch + b) * s->h * s->w;
    int lo, hi;
    tap_range(kx, s, &lo, &hi);
    for (int oy = 0; oy < s->ho; oy++, out += wo) {
        const int iy = oy * s->stride_h - s->pad_h + ky;
        if (iy < 0 || iy >= s->h) {
            memset(out, 0, sizeof *out * wo);
            continue;
        }
        const real_t *restrict in = src + (long)iy * s->w;
        real_t *restrict o = out;
        for (int ox = 0; ox < lo; ox++)
            o[ox] = 0;
        /* Plain loops: rows are short, a call to memcpy costs more. */
        if (stride == 1) {
#pragma omp simd
            for (int ox = lo; ox < hi; ox++)
                o[ox] = in[ox + shift];
        } else {
            for (int ox = lo; ox < hi; ox++)
                o[ox] = in[ox * stride + shift];
        }
        for (int ox = hi; ox < wo; ox++)
            o[ox] = 0;
    }
}

void fold_plane(const real_t *col, long ld, const im2col_shape *s, int ch,
                int b, real_t *dx)
{
    const int kh = s->kh, kw = s->kw, stride = s->stride_w, wo = s->wo;
    real_t *dst = dx + ((long)ch * s->batch + b) * s->h * s->w;
    memset(dst, 0, sizeof *dst * s->h * s->w);
    /* Taps in a fixed order: each sum is always added up alike. */
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            const real_t *in = col + (((long)ch * kh + ky) * kw + kx) * ld;
            const int shift = kx - s->pad_w;
            int lo, hi;
            tap_range(kx, s, &lo, &hi);
            for (int oy = 0; oy < s->ho; oy++, in += wo) {
                const int iy = oy * s->stride_h - s->pad_h + ky;
                if (iy < 0 || iy >= s->h)
                    continue;
                real_t *restrict o = dst + (long)iy * s->w;
                const real_t *restrict i = in;
                if (stride == 1) {
#pragma omp simd
                    for (int ox = lo; ox < hi; ox++)
                        o[ox + shift] += i[ox];
                } else {
                    for (int ox = lo; ox < hi; ox++)
                        o[ox * stride + shift] += i[ox];
                }
            }
        }
}

void conv_im2col(const conv_shape *cs, const real_t *x, int batch, real_t *col)
{
    const im2col_shape s = im2col_shape_of(cs, batch);
    const int rows = s.c * s.kh * s.kw;
    const long plane = (long)s.ho * s.wo, ncol = (long)batch * plane;
#pragma omp parallel for collapse(2) schedule(static) \
    if (rows * ncol >= PAR_MIN_ELEMS)
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < batch; b++)
            unfold_tap(x, &s, r, b, col + r * ncol + b * plane);
}

void conv_col2im(const conv_shape *cs, const real_t *col, int batch, real_t *dx)
{
    const im2col_shape s = im2col_shape_of(cs, batch);
    const long plane = (long)s.ho * s.wo, ncol = (long)batch * plane;
#pragma omp parallel for collapse(2) schedule(static) \
    if ((long)s.c * s.kh * s.kw * ncol >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < s.c; ch++)
        for (int b = 0; b < batch; b++)
            fold_plane(col + b * plane, ncol, &s, ch, b, dx);
}
