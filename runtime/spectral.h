/* spectral.h - the largest singular value sigma of a layer's linear map by
 * power iteration, and its gradient, for the spectral-norm penalty
 * (report eq. 5 and Algorithms 3-4; Yoshida & Miyato 2017).
 *
 * Linear layer, W [rows][cols] (Algorithm 3):
 *     repeat: u = W v / ||W v||;  v = W^T u / ||W^T u||
 *     sigma = u^T W v,  d sigma / dW = u v^T  (u, v held constant).
 * Convolution (Algorithm 4): the map is the convolution itself, from an
 * input ci x h x w to an output co x ho x wo (a kh x kw kernel, strides and
 * padding per axis; kernels.h conv_shape), not the flattened kernel
 * [co][ci*kh*kw]:
 *     repeat: u = conv(v, W) / ||.||;  v = conv^T(u, W) / ||.||
 * where conv^T is the transposed convolution (conv_backward_input; equal to
 * a convolution with the flipped kernel, in/out channels swapped, padding
 * k - 1 - pad on each axis, at stride 1).  sigma = <u, conv(v, W)>, and d sigma / dW is
 * the weight gradient of a convolution with input v and output gradient u.
 * The dense operator is never formed.
 *
 * After the v step, u^T W v = ||W^T u||, so sigma is that norm and costs no
 * extra product.
 *
 * u and v persist between calls (state tensors of the parameter buffer):
 * with restart == 0 the iteration continues from them (Miyato et al. 2018;
 * one iteration a step is the cheap default); with restart != 0, or when v
 * is all zeros (fresh state), it starts from v = ones / sqrt(len) (the
 * report's choice).  Where the map sends v to zero, sigma is 0 and so is
 * the gradient. */
#ifndef ADVCC_SPECTRAL_H
#define ADVCC_SPECTRAL_H

#include <stddef.h>
#include "kernels.h"
#include "real.h"

/* W [rows][cols]; u [rows], v [cols].  Returns sigma; when dw is not NULL
 * adds scale * u v^T into it.  iters >= 1. */
double spectral_linear(const real_t *w, int rows, int cols, real_t *u,
                       real_t *v, int iters, int restart, real_t scale,
                       real_t *dw);

/* spectral_linear's two steps, for a caller that shares them among
 * threads (regularize.c): the iterations (u, v moved on, sigma returned),
 * then columns c0..c1 of scale * u v^T added into dw's (where sigma > 0). */
double spectral_linear_iterate(const real_t *w, int rows, int cols, real_t *u, real_t *v,
                               int iters, int restart);
void spectral_linear_grad_cols(const real_t *u, const real_t *v, int rows, int cols, int c0,
                               int c1, real_t scale, real_t *dw);

/* Reals of scratch spectral_conv needs. */
size_t spectral_conv_scratch(const conv_shape *s);

/* W [out_c][in_c][kh][kw]; v [in_c][in_h][in_w], u [out_c][out_h][out_w].
 * Returns sigma; when dw is not NULL adds scale * d sigma / dW into it.
 * iters >= 1. */
double spectral_conv(const real_t *weight, const conv_shape *s, real_t *u, real_t *v,
                     int iters, int restart, real_t scale, real_t *dw, real_t *scratch);

/* Diagnostics (allocate; not for the training step): sigma after iters
 * iterations from ones, of the flattened kernel W [rows][cols] and of the
 * convolution's true operator.  -1 when out of memory. */
double spectral_norm_flat(const real_t *w, int rows, int cols, int iters);
double spectral_norm_conv(const real_t *weight, const conv_shape *s, int iters);

#endif
