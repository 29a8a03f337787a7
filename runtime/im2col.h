/* im2col.h - the pieces im2col and col2im are made of, for kernels that
 * unfold a batch a few images at a time so the columns stay in cache
 * (conv.c).  The public, whole-batch forms are in kernels.h.
 *
 * A column matrix has one row per kernel tap r = (channel, ky, kx) and one
 * column per (image, output pixel); ld is the distance between its rows. */
#ifndef ADVCC_IM2COL_H
#define ADVCC_IM2COL_H

#include "kernels.h"
#include "real.h"

/* A convolution's shape (kernels.h) over a batch of images. */
typedef struct im2col_shape {
    int c, batch, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, ho, wo;
} im2col_shape;

static inline im2col_shape im2col_shape_of(const conv_shape *s, int batch)
{
    const im2col_shape r = {s->in_c, batch, s->in_h, s->in_w, s->kh, s->kw, s->stride_h,
                            s->stride_w, s->pad_h, s->pad_w, s->out_h, s->out_w};
    return r;
}

/* Writes tap rows t0 <= t < t1 (t = ky*kw + kx) of channel ch for image b
 * of the CNHW batch x, ho*wo values each, row t at out + (t - t0)*ld. */
void unfold_channel(const real_t *x, const im2col_shape *s, int ch, int b, int t0, int t1,
                    real_t *out, long ld);
/* Overwrites the h*w plane of channel ch, image b, of dx with the sum of its
 * column entries; col points at image b's first column, rows ld apart. */
void fold_plane(const real_t *col, long ld, const im2col_shape *s, int ch,
                int b, real_t *dx);

#endif
