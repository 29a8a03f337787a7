/* winograd.h - 5x5 and 3x3 stride-1 "same" convolutions by Winograd's
 * F(2x2, 5x5) and F(2x2, 3x3): forward, to the input and to the weights.
 *
 * Each output tile of 2x2 comes from an a x a tile of the input (a = 6 for
 * 5x5 kernels, 4 for 3x3): the input tiles and the kernels are carried into
 * an a*a-point transform domain (B^T d B, G g G^T; points 0, +-1, +-2 and
 * infinity for 5x5, 0, +-1 and infinity for 3x3), where the sum over input
 * channels is, for each point, one product of the transformed kernels
 * [out_c][in_c] by the transformed tiles [in_c][tiles] (sgemm), and A^T m A
 * brings each tile back to 2x2: 9 multiply-adds an output against the
 * direct convolution's 25, or 4 against 9.  Small planes go a group of
 * images a product (WINOGRAD_GROUP_COLS).  Each thread its images, so the
 * forward's and the input gradient's bits do not depend on the thread
 * count; the rounding is that of a few more terms (about 1e-6 of an
 * output's scale with 5x5 kernels; 3x3's transforms only add and halve).
 *
 * The input gradient is the same transform run on the output gradient with
 * the kernel flipped and its channels swapped; the weight gradient sums,
 * point by point, the products of the output gradient's tiles (A dy A^T)
 * by the input's, and G^T s G brings the sums back to k x k.  Not taken:
 * other kernel sizes, strides or paddings, odd output sizes or sides over
 * WINOGRAD_MAX_SIDE, fewer than WINOGRAD_MIN_CHANNELS channels on either
 * side (the first layer of three colour planes stays direct), batches
 * below WINOGRAD_MIN_BATCH, or a column scratch too small for the
 * transformed kernels and one group's transforms. */
#ifndef ADVCC_WINOGRAD_H
#define ADVCC_WINOGRAD_H

#include "kernels.h"

#define WINOGRAD_MIN_CHANNELS 16
#define WINOGRAD_MIN_BATCH 8
#define WINOGRAD_MAX_SIDE 64     /* the input transform's rows live on the stack */
/* An image of fewer tiles than this shares its products with the next
 * ones, WINOGRAD_GROUP_COLS / tiles images side by side (fixed groups from
 * the batch's first image, the last one filled out with zeros, so that an
 * image's bits depend neither on the thread count nor on the images after
 * it in the batch): the seed CNN's third layer, 16 tiles an image, multiplies 5 at a
 * time, up to 1.4x as fast as one at a time (AVX2, two threads); 100
 * images make 20 groups, even on 2 or 4 threads. */
#define WINOGRAD_GROUP_COLS 80

/* Whether winograd_forward (and, channels swapped, winograd_backward_input)
 * takes s for a batch, given col's length as conv_shape_forward sizes it
 * (in_c * kh * kw * batch * out_h * out_w reals). */
int winograd_fits(const conv_shape *s, int batch);

/* y = conv(x) (+ bias, which may be NULL), CNHW; col is scratch as for
 * conv_shape_forward.  Starts its own threads. */
void winograd_forward(const conv_shape *s, const real_t *x, int batch, const real_t *weight,
                      const real_t *bias, real_t *col, real_t *y);

/* dx from dy, CNHW; col is scratch as for conv_shape_backward_input. */
void winograd_backward_input(const conv_shape *s, const real_t *dy, int batch,
                             const real_t *weight, real_t *col, real_t *dx);

/* dw from x and dy: each thread sums its images' products in the
 * transform domain, G^T (B^T d B) (A dy A^T) G being the gradient of a
 * tile; the threads' sums are added in thread order, so a thread count
 * gives the same bits run after run.  col as for
 * conv_shape_backward_params. */
void winograd_backward_params(const conv_shape *s, const real_t *x, const real_t *dy, int batch,
                              real_t *col, real_t *dw);

#endif
