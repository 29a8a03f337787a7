/* conv.c - 2-D convolution over a CNHW batch as matrix products.
 *
 * Forward: col = im2col(x), y[co][batch*ho*wo] = W[co][ci*kh*kw] col (+ bias).
 * Weight gradient: dW = dy col^T; bias gradient: row sums of dy.
 * Input gradient: dcol = W^T dy, dx = col2im(dcol).
 *
 * The batch is unfolded a piece of a few images at a time, each piece's
 * columns (about CONV_PIECE_BYTES) consumed by its product while they are
 * still in the core's cache: unfolding the whole batch first streams the
 * column matrix, several times the size of the activations, through memory
 * twice.  Each thread takes whole pieces and calls a single-threaded gemm,
 * so both cores work without waiting on each other.  Pieces never split a
 * sum over k, and the weight gradient adds its pieces up in batch order, so
 * a given thread count always gives the same bits.  (Pieces handed to
 * whichever thread is free instead of each thread's fixed half ran the
 * seed CNN's attack 1.10x slower.)
 *
 * The weight gradient, too, goes image by image on the threads: each thread
 * sums its images' products into a partial of its own, dW transposed (the
 * product's long side is then the taps, the faster way round for OpenBLAS),
 * and the partials are added up in thread order.  Splitting dW's columns
 * between the threads instead left each product a narrow output (37 of the
 * seed CNN's first layer's 75 taps) and ran that layer's weight gradient
 * 1.5-1.7x slower, the other two 1.1x.  A batch too small for a piece and
 * a partial per thread in the column scratch (one image on two threads) is
 * still split by columns.
 *
 * The forward of a stride-1 convolution with rows that suit the vectors is
 * direct (conv_direct.c) when the CPU has the instructions for it, and so
 * is its input gradient, the output gradient convolved with the flipped
 * kernel: each thread its images, its share of col as the padded copy of
 * one image.  So is the weight gradient of wide rows and few taps (the
 * seed CNN's first layer, whose products are too thin for sgemm), each
 * thread's vector partials in col, added up in thread order.
 *
 * A 1x1 convolution with stride 1 and no padding is a plain product: its
 * column matrix is x itself.
 *
 * A 5x5 or 3x3 "same" convolution of 16 channels and more on both sides
 * goes by Winograd's F(2x2, 5x5) or F(2x2, 3x3) (winograd.c), forward, to
 * its input and to its weights, for batches of WINOGRAD_MIN_BATCH images
 * and more: 9 multiply-adds an output where the direct kernel spends 25,
 * 4 where it spends 9.  On the seed CNN's second layer (100 images, one
 * thread) the forward runs 1.6x as fast as the direct kernel with AVX-512
 * and 1.9x with AVX2, the input gradient 1.4x and 1.9x, the weight
 * gradient 1.6x and 2.0x as fast as im2col and sgemm (laid out
 * point-major, or with tile loops of a count known only at run time, the
 * same transform ran at 0.5-0.7x: winograd.c).  On its third (3x3, 8x8
 * planes, 64 channels in and 128 out, five images a product) the forward,
 * the input gradient and the weight gradient run 1.5x, 1.3x and 1.2x as
 * fast as the direct kernel and im2col with AVX-512 at one thread (1.5x,
 * 1.4x, 1.3x at two), 1.7x, 1.6x and 1.6x with AVX2 (1.7x, 1.7x, 1.6x).
 * F(4x4, 3x3) ran it 1.4x faster forward and 1.2x to the input, but its
 * rounding (1e-6 of an output's terms against 1e-7) moved the seed CNN's
 * input gradient in evaluation mode 2% from PyTorch's (the oracle's `eval
 * dx`; 4e-7 with im2col); F(2x2, 3x3)'s transforms only add and halve. */
#include <omp.h>
#include <string.h>
#include "conv_direct.h"
#include "im2col.h"
#include "kernels.h"
#include "parallel.h"
#include "reduce.h"
#include "winograd.h"

#define CONV_PIECE_BYTES (1L << 20)

static int conv_is_pointwise(const conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_h == 0 &&
           s->pad_w == 0;
}

/* This thread's part of a direct convolution of batch images into out_c
 * channels, blocks of `block`, each thread a padded copy of `scratch` reals
 * in col (col_len reals): its images, or, with fewer images than threads
 * and room for a copy each, its share of every image's blocks, so that a single
 * image (the spectral penalty's power iteration) does not leave a thread
 * idle; the same sums either way.  Returns where its copy goes in col;
 * *b0 == *b1 when it has nothing to do. */
static long direct_share(int batch, int out_c, int block, long scratch, long col_len, int *b0,
                         int *b1, int *o0, int *o1)
{
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (batch >= nt || nt * scratch > col_len) {
        long first, end;
        thread_share(batch, &first, &end);
        *b0 = (int)first, *b1 = (int)end;
        *o0 = 0, *o1 = out_c;
        return col_len / batch * *b0;
    }
    const int blocks = out_c / block;
    *o0 = blocks * t / nt * block;
    *o1 = blocks * (t + 1) / nt * block;
    *b0 = 0, *b1 = *o1 > *o0 ? batch : 0;
    return scratch * t;
}

/* Images per piece, from the shape alone. */
static int piece_images(int kk, long plane, int batch)
{
    long per = CONV_PIECE_BYTES / ((long)kk * plane * (long)sizeof(real_t));
    if (per < 1)
        per = 1;
    return per < batch ? (int)per : batch;
}

static void add_bias(real_t *y, long ld, long len, const real_t *bias, int co)
{
    for (int o = 0; o < co; o++) {
        real_t *row = y + o * ld;
        const real_t b = bias[o];
#pragma omp simd
        for (long i = 0; i < len; i++)
            row[i] += b;
    }
}

void conv_shape_forward(const conv_shape *cs, const real_t *x, int batch, const real_t *weight,
                        const real_t *bias, real_t *col, real_t *y)
{
    const im2col_shape s = im2col_shape_of(cs, batch);
    const int co = cs->out_c, taps = s.kh * s.kw, kk = s.c * taps;
    const long plane = (long)s.ho * s.wo, n = batch * plane;
    if (conv_is_pointwise(cs)) {
        gemm(0, 0, co, (int)n, kk, 1, weight, kk, x, (int)n, 0, y, (int)n);
        if (bias) {
#pragma omp parallel for schedule(static) if (co * n >= PAR_MIN_ELEMS)
            for (int o = 0; o < co; o++)
                add_bias(y + o * n, n, n, bias + o, 1);
        }
        return;
    }
    if (winograd_fits(cs, batch)) {
        winograd_forward(cs, x, batch, weight, bias, col, y);
        return;
    }
    if (conv_direct_fits(cs)) {
#pragma omp parallel if ((double)co * kk * n >= PAR_MIN_MACS)
        {
            int b0, b1, o0, o1;
            const long at = direct_share(batch, co, conv_direct_block(cs),
                                         conv_direct_scratch(cs), kk * n, &b0, &b1, &o0, &o1);
            if (b1 > b0)
                conv_direct_forward(cs, x, batch, b0, b1, o0, o1, weight, bias, col + at, y);
        }
        return;
    }
    const int per = piece_images(kk, plane, batch);
#pragma omp parallel if ((double)co * kk * n >= PAR_MIN_MACS)
    {
        /* This thread's images, and its share of col to unfold them in. */
        long first, end;
        thread_share(batch, &first, &end);
        real_t *cols = col + (long)kk * plane * first;
        for (int b0 = first; b0 < end; b0 += per) {
            const int nb = end - b0 < per ? end - b0 : per;
            const long m = nb * plane;
            for (int ch = 0; ch < s.c; ch++)
                for (int b = 0; b < nb; b++)
                    unfold_channel(x, &s, ch, b0 + b, 0, taps,
                                   cols + ch * taps * m + b * plane, m);
            gemm(0, 0, co, (int)m, kk, 1, weight, kk, cols, (int)m, 0,
                 y + b0 * plane, (int)n);
            if (bias)
                add_bias(y + b0 * plane, n, m, bias, co);
        }
    }
}

/* Images per piece of the weight gradient by images on nt threads, so that
 * nt pieces and nt partials of co x kk fit in the column scratch of batch
 * images; 0 if they do not. */
static int dw_piece_images(int kk, int co, long plane, int batch, int nt)
{
    const long room = (plane * batch - (long)nt * co) / (nt * plane);
    const int per = piece_images(kk, plane, batch);
    return room < 1 ? 0 : room < per ? (int)room : per;
}

/* This thread's part of dW by its own images; called by every thread of the
 * team, per as dw_piece_images gave it. */
static void dw_by_images(const im2col_shape *s, int co, const real_t *x, const real_t *dy,
                         int batch, int per, real_t *col, real_t *dw)
{
    const int taps = s->kh * s->kw, kk = s->c * taps;
    const long plane = (long)s->ho * s->wo, n = batch * plane;
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    long first, end;
    thread_share(batch, &first, &end);
    real_t *cols = col + (long)t * per * kk * plane;
    real_t *partials = col + (long)nt * per * kk * plane;
    real_t *part = partials + (long)t * kk * co;    /* [kk][co] */
    if (first == end)
        memset(part, 0, sizeof *part * (size_t)kk * co);
    for (int b0 = first; b0 < end; b0 += per) {
        const int nb = end - b0 < per ? end - b0 : per;
        const long m = nb * plane;
        for (int ch = 0; ch < s->c; ch++)
            for (int b = 0; b < nb; b++)
                unfold_channel(x, s, ch, b0 + b, 0, taps, cols + ch * taps * m + b * plane, m);
        gemm(0, 1, kk, co, (int)m, 1, cols, (int)m, dy + b0 * plane, (int)n, b0 > first,
             part, co);
    }
#pragma omp barrier
    long o0, o1;
    thread_share(co, &o0, &o1);
    for (int o = o0; o < o1; o++)
        for (int r = 0; r < kk; r++) {
            real_t sum = partials[(long)r * co + o];
            for (int u = 1; u < nt; u++)
                sum += partials[((long)u * kk + r) * co + o];
            dw[(long)o * kk + r] = sum;
        }
}

/* This thread's columns of dW over the whole batch, the pieces added up in
 * batch order. */
static void dw_by_taps(const im2col_shape *s, int co, const real_t *x, const real_t *dy,
                       int batch, real_t *col, real_t *dw)
{
    const int taps = s->kh * s->kw, kk = s->c * taps;
    const long plane = (long)s->ho * s->wo, n = batch * plane;
    const int per = piece_images(kk, plane, batch);
    long first, end;
    thread_share(kk, &first, &end);
    real_t *cols = col + (long)first * per * plane;
    for (int b0 = 0; b0 < batch && end > first; b0 += per) {
        const int nb = batch - b0 < per ? batch - b0 : per;
        const long m = nb * plane;
        for (int ch = first / taps; ch * taps < end; ch++) {
            const int t0 = ch * taps < first ? first - ch * taps : 0;
            const int t1 = (ch + 1) * taps > end ? end - ch * taps : taps;
            for (int b = 0; b < nb; b++)
                unfold_channel(x, s, ch, b0 + b, t0, t1,
                               cols + (ch * taps + t0 - first) * m + b * plane, m);
        }
        gemm(0, 1, co, end - first, (int)m, 1, dy + b0 * plane, (int)n, cols, (int)m,
             b0 ? 1 : 0, dw + first, kk);
    }
}

/* This thread's images of dW by the direct kernel (conv_direct.h), each
 * thread's scratch `part` reals apart in col, then its share of the
 * weights summed over the threads' partials. */
static void dw_direct(const conv_shape *cs, const real_t *x, const real_t *dy, int batch,
                      long part, real_t *col, real_t *dw)
{
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    long b0, b1, w0, w1;
    thread_share(batch, &b0, &b1);
    conv_direct_params_part(cs, x, dy, batch, (int)b0, (int)b1, col + part * t);
#pragma omp barrier
    thread_share((long)cs->out_c * cs->in_c * cs->kh * cs->kw, &w0, &w1);
    conv_direct_params_sum(cs, col, part, nt, w0, w1, dw);
}

void conv_shape_backward_params(const conv_shape *cs, const real_t *x, const real_t *dy,
                                int batch, real_t *col, real_t *dw, real_t *db)
{
    const im2col_shape s = im2col_shape_of(cs, batch);
    const int co = cs->out_c, kk = s.c * s.kh * s.kw;
    const long plane = (long)s.ho * s.wo, n = batch * plane;
    if (conv_is_pointwise(cs)) {
        gemm(0, 1, co, kk, (int)n, 1, dy, (int)n, x, (int)n, 0, dw, kk);
    } else if (winograd_fits(cs, batch)) {
        winograd_backward_params(cs, x, dy, batch, col, dw);
    } else {
#pragma omp parallel if ((double)co * kk * n >= PAR_MIN_MACS)
        {
            const int nt = omp_get_num_threads();
            const int per = dw_piece_images(kk, co, plane, batch, nt);
            const long part = conv_direct_params_scratch(cs);
            if (conv_direct_fits_params(cs) && nt * part <= kk * n)
                dw_direct(cs, x, dy, batch, part, col, dw);
            else if (per)
                dw_by_images(&s, co, x, dy, batch, per, col, dw);
            else
                dw_by_taps(&s, co, x, dy, batch, col, dw);
        }
    }
    if (!db)
        return;
#pragma omp parallel for schedule(static) if (co * n >= PAR_MIN_ELEMS)
    for (int o = 0; o < co; o++)
        db[o] = (real_t)reduce_sum(dy + o * n, n);
}

void conv_shape_backward_input(const conv_shape *cs, const real_t *dy, const real_t *weight,
                               int batch, real_t *col, real_t *dx)
{
    const im2col_shape s = im2col_shape_of(cs, batch);
    const int co = cs->out_c, kk = s.c * s.kh * s.kw;
    const long plane = (long)s.ho * s.wo, n = batch * plane;
    if (conv_is_pointwise(cs)) {
        gemm(1, 0, kk, (int)n, co, 1, weight, kk, dy, (int)n, 0, dx, (int)n);
        return;
    }
    if (winograd_fits(cs, batch)) {
        winograd_backward_input(cs, dy, batch, weight, col, dx);
        return;
    }
    if (conv_direct_fits_input(cs)) {
#pragma omp parallel if ((double)co * kk * n >= PAR_MIN_MACS)
        {
            int b0, b1, o0, o1;
            const long at = direct_share(batch, s.c, conv_direct_input_block(cs),
                                         conv_direct_input_scratch(cs), kk * n, &b0, &b1, &o0,
                                         &o1);
            if (b1 > b0)
                conv_direct_backward_input(cs, dy, batch, b0, b1, o0, o1, weight, col + at, dx);
        }
        return;
    }
    const int per = piece_images(kk, plane, batch);
#pragma omp parallel if ((double)co * kk * n >= PAR_MIN_MACS)
    {
        long first, end;
        thread_share(batch, &first, &end);
        real_t *cols = col + (long)kk * plane * first;
        for (int b0 = first; b0 < end; b0 += per) {
            const int nb = end - b0 < per ? end - b0 : per;
            const long m = nb * plane;
            gemm(1, 0, kk, (int)m, co, 1, weight, kk, dy + b0 * plane, (int)n,
                 0, cols, (int)m);
            for (int c = 0; c < s.c; c++)
                for (int b = 0; b < nb; b++)
                    fold_plane(cols + b * plane, m, &s, c, b0 + b, dx);
        }
    }
}
