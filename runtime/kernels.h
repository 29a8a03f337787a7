/* kernels.h - the layer kernels generated code calls, forward and backward
 * side by side.  Shapes are passed as arguments; generated code passes
 * constants.
 *
 * Layouts inside a model: convolutional activations are "CNHW",
 * [channels][batch][height][width], so that one sgemm covers the whole batch
 * and BatchNorm's per-channel data are contiguous; fully connected
 * activations are [batch][features].  Kernels that cross a boundary say so.
 *
 * Backward kernels overwrite their outputs (dx, dw, db) unless named _acc.
 */
#ifndef ADVCC_KERNELS_H
#define ADVCC_KERNELS_H

#include "real.h"

/* C = alpha * op(A) op(B) + beta * C, row-major, through OpenBLAS. */
void gemm(int trans_a, int trans_b, int m, int n, int k, real_t alpha,
          const real_t *a, int lda, const real_t *b, int ldb, real_t beta,
          real_t *c, int ldc);
/* The lower triangle of C = A A^T, A [n][k] row-major (the strict upper
 * triangle left as it was), through OpenBLAS's syrk: half gemm's
 * multiply-adds.  Single-threaded
 * inside a parallel region, as gemm's slabs are. */
void gram_lower(int n, int k, const real_t *a, int lda, real_t *c, int ldc);

/* normalize: x NCHW pixels -> y CNHW, (x - mean[c]) / std[c]. */
void normalize_forward(const real_t *x, int batch, int c, int hw,
                       const real_t *mean, const real_t *std, real_t *y);
/* dy CNHW -> dx NCHW. */
void normalize_backward(const real_t *dy, int batch, int c, int hw,
                        const real_t *std, real_t *dx);

/* A convolution's shape, per image: a kh x kw kernel, its stride and zero
 * padding along the height and the width, and the output size
 * out = (in + 2 pad - k) / stride + 1 on each axis.  Generated models name
 * each convolution's shape once, as a constant. */
typedef struct conv_shape {
    int in_c, in_h, in_w;
    int out_c, kh, kw, stride_h, stride_w, pad_h, pad_w;
    int out_h, out_w;
} conv_shape;

/* The shape of a square convolution: a k x k kernel, the same stride and
 * padding on both axes, the output size from them. */
static inline conv_shape conv_shape_square(int in_c, int in_h, int in_w, int out_c, int k,
                                           int stride, int pad)
{
    const conv_shape s = {in_c, in_h, in_w, out_c, k, k, stride, stride, pad, pad,
                          (in_h + 2 * pad - k) / stride + 1, (in_w + 2 * pad - k) / stride + 1};
    return s;
}

/* im2col over a CNHW batch: col is [in_c*kh*kw][batch*out_h*out_w], row r
 * the tap (channel, ky, kx). */
void conv_im2col(const conv_shape *s, const real_t *x, int batch, real_t *col);
/* The adjoint of im2col: dx (CNHW) = sum of col entries; overwrites dx. */
void conv_col2im(const conv_shape *s, const real_t *col, int batch, real_t *dx);

/* Convolution, CNHW in and out; weight [out_c][in_c][kh][kw]; bias may be
 * NULL.  col is scratch of in_c*kh*kw*batch*out_h*out_w reals. */
void conv_shape_forward(const conv_shape *s, const real_t *x, int batch, const real_t *weight,
                        const real_t *bias, real_t *col, real_t *y);
/* dw and db (db may be NULL) from x and dy; col is scratch. */
void conv_shape_backward_params(const conv_shape *s, const real_t *x, const real_t *dy,
                                int batch, real_t *col, real_t *dw, real_t *db);
/* dx from dy; col is scratch. */
void conv_shape_backward_input(const conv_shape *s, const real_t *dy, const real_t *weight,
                               int batch, real_t *col, real_t *dx);

/* The same for a square k x k kernel, its shape given as arguments. */
#define CONV_SQUARE(c, h, w, co, k, stride, pad, ho, wo) \
    (&(const conv_shape){c, h, w, co, k, k, stride, stride, pad, pad, ho, wo})

static inline void im2col(const real_t *x, int c, int batch, int h, int w, int k, int stride,
                          int pad, int ho, int wo, real_t *col)
{
    conv_im2col(CONV_SQUARE(c, h, w, 0, k, stride, pad, ho, wo), x, batch, col);
}

static inline void col2im(const real_t *col, int c, int batch, int h, int w, int k, int stride,
                          int pad, int ho, int wo, real_t *dx)
{
    conv_col2im(CONV_SQUARE(c, h, w, 0, k, stride, pad, ho, wo), col, batch, dx);
}

static inline void conv_forward(const real_t *x, int ci, int batch, int h, int w,
                                const real_t *weight, const real_t *bias, int co, int k,
                                int stride, int pad, int ho, int wo, real_t *col, real_t *y)
{
    conv_shape_forward(CONV_SQUARE(ci, h, w, co, k, stride, pad, ho, wo), x, batch, weight,
                       bias, col, y);
}

static inline void conv_backward_params(const real_t *x, const real_t *dy, int ci, int batch,
                                        int h, int w, int co, int k, int stride, int pad,
                                        int ho, int wo, real_t *col, real_t *dw, real_t *db)
{
    conv_shape_backward_params(CONV_SQUARE(ci, h, w, co, k, stride, pad, ho, wo), x, dy, batch,
                               col, dw, db);
}

static inline void conv_backward_input(const real_t *dy, const real_t *weight, int ci,
                                       int batch, int h, int w, int co, int k, int stride,
                                       int pad, int ho, int wo, real_t *col, real_t *dx)
{
    conv_shape_backward_input(CONV_SQUARE(ci, h, w, co, k, stride, pad, ho, wo), dy, weight,
                              batch, col, dx);
}

/* Fully connected: x [batch][in], weight [out][in], y [batch][out]. */
void linear_forward(const real_t *x, int batch, int in, const real_t *weight,
                    const real_t *bias, int out, real_t *y);
void linear_backward_params(const real_t *x, const real_t *dy, int batch,
                            int in, int out, real_t *dw, real_t *db);
void linear_backward_input(const real_t *dy, const real_t *weight, int batch,
                           int in, int out, real_t *dx);

/* CNHW [c][batch*hw] <-> [batch][c*hw], the flatten between conv and linear. */
void cnhw_to_rows(const real_t *x, int c, int batch, int hw, real_t *y);
void rows_to_cnhw(const real_t *x, int c, int batch, int hw, real_t *y);

/* BatchNorm over CNHW, n = batch*h*w values per channel, eps 1e-5,
 * momentum 0.1, unbiased running variance (PyTorch's rules).
 * Training: batch statistics; mean and invstd saved for backward; running
 * statistics updated only when update != 0. */
void batchnorm_forward_train(const real_t *x, int c, int n,
                             const real_t *gamma, const real_t *beta,
                             real_t *running_mean, real_t *running_var,
                             int update, real_t *mean, real_t *invstd,
                             real_t *y);
void batchnorm_forward_eval(const real_t *x, int c, int n,
                            const real_t *gamma, const real_t *beta,
                            const real_t *running_mean,
                            const real_t *running_var, real_t *y);
/* Training-mode backward (batch statistics). dgamma/dbeta may be NULL. */
void batchnorm_backward_train(const real_t *x, const real_t *dy, int c, int n,
                              const real_t *gamma, const real_t *mean,
                              const real_t *invstd, real_t *dx,
                              real_t *dgamma, real_t *dbeta);
/* Eval-mode backward (running statistics are constants). */
void batchnorm_backward_eval(const real_t *dy, int c, int n,
                             const real_t *gamma, const real_t *running_var,
                             real_t *dx);
/* Eval-mode dgamma and dbeta, from the input x and dy. */
void batchnorm_backward_eval_params(const real_t *x, const real_t *dy, int c,
                                    int n, const real_t *running_mean,
                                    const real_t *running_var, real_t *dgamma,
                                    real_t *dbeta);

/* Elementwise ReLU; backward uses the forward output y (y > 0). */
void relu_forward(const real_t *x, long n, real_t *y);
void relu_backward(const real_t *y, const real_t *dy, long n, real_t *dx);
/* Elementwise leaky ReLU, x > 0 ? x : slope * x; backward uses the input x
 * (dx may be dy). */
void leakyrelu_forward(const real_t *x, long n, real_t slope, real_t *y);
void leakyrelu_backward(const real_t *x, const real_t *dy, long n, real_t slope, real_t *dx);
/* Elementwise tanh and logistic sigmoid; backward uses the forward output y
 * (tanh' = 1 - y^2, sigmoid' = y (1 - y)), and dx may be dy. */
void tanh_forward(const real_t *x, long n, real_t *y);
void tanh_backward(const real_t *y, const real_t *dy, long n, real_t *dx);
void sigmoid_forward(const real_t *x, long n, real_t *y);
void sigmoid_backward(const real_t *y, const real_t *dy, long n, real_t *dx);

/* Residual blocks (residual.c): y = a + b (y may be a or b), and y += x,
 * the gradient of a layer two others read (and any such sum of gradients:
 * an ensemble's passes', infer.c). */
void residual_add(const real_t *a, const real_t *b, long n, real_t *y);
void residual_accumulate(real_t *y, const real_t *x, long n);

/* Pools over planes of h x w (planes = c * batch for CNHW), kernel k,
 * stride s, no padding, floor output size. */
void avgpool_forward(const real_t *x, int planes, int h, int w, int k, int s,
                     int ho, int wo, real_t *y);
void avgpool_backward(const real_t *dy, int planes, int h, int w, int k,
                      int s, int ho, int wo, real_t *dx);
/* maxpool records the argmax offset within each plane for backward. */
void maxpool_forward(const real_t *x, int planes, int h, int w, int k, int s,
                     int ho, int wo, real_t *y, int *argmax);
void maxpool_backward(const real_t *dy, const int *argmax, int planes, int h,
                      int w, int ho, int wo, real_t *dx);

/* Mean softmax cross-entropy over the batch; writes dlogits (of the mean
 * loss) when not NULL and the predicted class per row when pred not NULL. */
double softmax_xent(const real_t *logits, const int *labels, int batch,
                    int classes, real_t *dlogits, int *pred);

#endif
