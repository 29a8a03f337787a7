/* im2col.c - unfold a CNHW batch into the column matrix a convolution's
 * gemm consumes, and fold columns back (the exact adjoint).
 *
 * Column row r = (channel, ky, kx) holds, for every image and output pixel,
 * the input value that kernel tap meets (0 in the padding).  Work is split
 * into (channel, image) pieces, each done whole by one thread, so results
 * do not depend on the thread count. */
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

/* Tap row r of image b straight from x, row by row: the form for planes
 * too big for the padded copy. */
static void unfold_tap(const real_t *x, const im2col_shape *s, int r, int b, real_t *out)
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

static void fold_plane_direct(const real_t *col, long ld, const im2col_shape *s, int ch, int b,
                              real_t *dx)
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

/* The padded plane: (h + 2 pad_h) x (w + 2 pad_w), when it fits on the
 * stack.  Every tap then reads or writes whole output rows of it with no
 * bounds to test, which costs far less per row than clipping each row. */
#define IM2COL_PAD_MAX 4096

static int padded_fits(const im2col_shape *s)
{
    return (long)(s->h + 2 * s->pad_h) * (s->w + 2 * s->pad_w) <= IM2COL_PAD_MAX;
}

/* f(ARGS, wo, sw) with the usual widths (8, 16, 32) as constants when the
 * stride is 1: whole vectors, no remainder. */
#define BY_WIDTH(f, wo, sw, ...)                                                            \
    ((sw) != 1    ? f(__VA_ARGS__, wo, sw)                                                  \
     : (wo) == 32 ? f(__VA_ARGS__, 32, 1)                                                   \
     : (wo) == 16 ? f(__VA_ARGS__, 16, 1)                                                   \
     : (wo) == 8  ? f(__VA_ARGS__, 8, 1)                                                    \
                  : f(__VA_ARGS__, wo, 1))

/* ho rows of wo values from in (rows step apart, values sw apart) to o. */
static inline __attribute__((always_inline)) void copy_rows(real_t *restrict o,
                                                            const real_t *restrict in, int ho,
                                                            long step, int wo, int sw)
{
    for (int oy = 0; oy < ho; oy++, o += wo, in += step) {
        if (sw == 1) {
#pragma omp simd
            for (int ox = 0; ox < wo; ox++)
                o[ox] = in[ox];
        } else {
            for (int ox = 0; ox < wo; ox++)
                o[ox] = in[ox * sw];
        }
    }
}

void unfold_channel(const real_t *x, const im2col_shape *s, int ch, int b, int t0, int t1,
                    real_t *out, long ld)
{
    const int kw = s->kw, taps = s->kh * kw;
    if (!padded_fits(s)) {
        for (int t = t0; t < t1; t++)
            unfold_tap(x, s, ch * taps + t, b, out + (t - t0) * ld);
        return;
    }
    const int h = s->h, w = s->w, ph = s->pad_h, pw = s->pad_w, wp = w + 2 * pw;
    const int ho = s->ho, wo = s->wo, sh = s->stride_h, sw = s->stride_w;
    real_t pad[IM2COL_PAD_MAX];
    const real_t *src = x + ((long)ch * s->batch + b) * h * w;
    memset(pad, 0, sizeof *pad * ph * wp);
    memset(pad + (long)(ph + h) * wp, 0, sizeof *pad * ph * wp);
    for (int iy = 0; iy < h; iy++) {
        real_t *row = pad + (long)(iy + ph) * wp;
        for (int i = 0; i < pw; i++)
            row[i] = row[pw + w + i] = 0;
        memcpy(row + pw, src + (long)iy * w, sizeof *row * w);
    }
    for (int t = t0; t < t1; t++) {
        const int ky = t / kw, kx = t % kw;
        real_t *o = out + (long)(t - t0) * ld;
        const real_t *in = pad + (long)ky * wp + kx;
        BY_WIDTH(copy_rows, wo, sw, o, in, ho, (long)sh * wp);
    }
}

/* The adjoint of copy_rows: a += the ho rows of wo values at in. */
static inline __attribute__((always_inline)) void add_rows(real_t *restrict a,
                                                           const real_t *restrict in, int ho,
                                                           long step, int wo, int sw)
{
    for (int oy = 0; oy < ho; oy++, a += step, in += wo) {
        if (sw == 1) {
#pragma omp simd
            for (int ox = 0; ox < wo; ox++)
                a[ox] += in[ox];
        } else {
            for (int ox = 0; ox < wo; ox++)
                a[ox * sw] += in[ox];
        }
    }
}

void fold_plane(const real_t *col, long ld, const im2col_shape *s, int ch, int b, real_t *dx)
{
    if (!padded_fits(s)) {
        fold_plane_direct(col, ld, s, ch, b, dx);
        return;
    }
    const int kh = s->kh, kw = s->kw, h = s->h, w = s->w, ph = s->pad_h, pw = s->pad_w;
    const int wp = w + 2 * pw, ho = s->ho, wo = s->wo, sh = s->stride_h, sw = s->stride_w;
    real_t acc[IM2COL_PAD_MAX];
    memset(acc, 0, sizeof *acc * (h + 2 * ph) * wp);
    /* Taps in the same fixed order as the direct form: the same sums, the
     * same bits; what lands in the padding is dropped. */
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            const real_t *in = col + ((long)ch * kh * kw + ky * kw + kx) * ld;
            real_t *a = acc + (long)ky * wp + kx;
            BY_WIDTH(add_rows, wo, sw, a, in, ho, (long)sh * wp);
        }
    real_t *dst = dx + ((long)ch * s->batch + b) * h * w;
    for (int iy = 0; iy < h; iy++)
        memcpy(dst + (long)iy * w, acc + (long)(iy + ph) * wp + pw, sizeof *dst * w);
}

void conv_im2col(const conv_shape *cs, const real_t *x, int batch, real_t *col)
{
    const im2col_shape s = im2col_shape_of(cs, batch);
    const int taps = s.kh * s.kw;
    const long plane = (long)s.ho * s.wo, ncol = (long)batch * plane;
#pragma omp parallel for collapse(2) schedule(static) \
    if ((long)s.c * taps * ncol >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < s.c; ch++)
        for (int b = 0; b < batch; b++)
            unfold_channel(x, &s, ch, b, 0, taps, col + ch * taps * ncol + b * plane, ncol);
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
