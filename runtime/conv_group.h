/* conv_group.h - a convolution's fused group, once: the convolution
 * (im2col and sgemm, conv.c), then BatchNorm, an activation and a pool in
 * one pass over its output; backward, the pool and activation then
 * BatchNorm in one pass per channel, then the weight and input gradients.
 *
 * A generated model describes each group by a `static const conv_group`
 * and calls these inline functions with it, so that the C compiler folds
 * the group's shapes and choices (which activation, which pool) into each
 * call as if the loops were written out for the group.  The loop over
 * channels stays in the generated group, one parallel region each: GCC
 * outlines a parallel region before it inlines, so a region in here would
 * be one function for every group and fold nothing.
 *
 * Activations are CNHW: channel ch of image img is plane ch * B + img.
 * The arithmetic is the runtime's own kernels' (activation.c, dtrelu.c,
 * pool.c, epilogue.h), element by element.
 *
 * In evaluation mode BatchNorm's statistics are known before the
 * convolution, so each thread could run the epilogue on a piece of images
 * right after its product, while that piece is in the core's cache.  It
 * was measured on the seed CNN and left out: evaluation ran 1.02-1.03x
 * slower, the output (13 MB at most) coming back from the L3 cache
 * anyway. */
#ifndef ADVCC_CONV_GROUP_H
#define ADVCC_CONV_GROUP_H

#include <math.h>
#include <string.h>
#include "dtrelu.h"
#include "epilogue.h"
#include "kernels.h"
#include "model.h"
#include "parallel.h"
#include "quant.h"
#include "real.h"

/* The activation a group applies after BatchNorm. */
typedef enum conv_act {
    CONV_ACT_NONE = 0,
    CONV_ACT_RELU,
    CONV_ACT_LEAKYRELU,     /* slope */
    CONV_ACT_TANH,
    CONV_ACT_SIGMOID,
    CONV_ACT_DTRELU,        /* lo, hi, bits; bound_sums (docs/METHODS.md 4) */
} conv_act;

typedef enum conv_pool { CONV_POOL_NONE = 0, CONV_POOL_AVG, CONV_POOL_MAX } conv_pool;

/* Where a group's tensors and slots are, and what it computes.  Offsets:
 * parameters (-1: none), arena slots per image and fixed-part offsets
 * (-1: none), as the generated model's enums name them. */
typedef struct conv_group {
    conv_shape conv;
    long weight, bias;
    long wq;                    /* fixed: the forward's quantised weight */
    const bn_epilogue *bn;      /* NULL: none */
    conv_act act;
    real_t slope;               /* leaky ReLU */
    long lo, hi;                /* DTReLU's learnable bounds */
    int bits;                   /* DTReLU */
    conv_pool pool;
    int pool_k, pool_stride, pool_h, pool_w;
    long per_image;             /* arena reals per image below the
                                   scratch (model.h keep_size): the fixed
                                   part starts at batch_cap times this,
                                   slots from this on are c->scratch's */
    long col, dy;               /* scratch: im2col, the epilogue's gradient */
    long y;                     /* the convolution's output */
    long out;                   /* the group's output (y without epilogue) */
    long argmax;                /* max pool: the window's argmax (ints) */
    long stats;                 /* fixed: BatchNorm's mean, then invstd */
    long bound_sums;            /* fixed: DTReLU's bound gradients per
                                   channel, below lo then above hi */
} conv_group;

#define CONV_GROUP_INLINE static inline __attribute__((always_inline))

CONV_GROUP_INLINE real_t *conv_group_slot(const conv_group *d, const advcc_ctx *c, long slot)
{
    if (slot < d->per_image)
        return c->arena + (size_t)c->batch_cap * slot;
    return c->scratch + (size_t)c->batch_cap * (slot - d->per_image);
}

CONV_GROUP_INLINE real_t *conv_group_fixed(const conv_group *d, const advcc_ctx *c, long off)
{
    return c->arena + (size_t)c->batch_cap * d->per_image + off;
}

CONV_GROUP_INLINE int conv_group_has_epilogue(const conv_group *d)
{
    return d->bn || d->act != CONV_ACT_NONE || d->pool != CONV_POOL_NONE;
}

/* Whether the loop over the group's output is worth sharing (parallel.h). */
CONV_GROUP_INLINE int conv_group_parallel(const conv_group *d, int B)
{
    return (long)B * d->conv.out_c * d->conv.out_h * d->conv.out_w >= PAR_MIN_ELEMS;
}

CONV_GROUP_INLINE const real_t *conv_group_weight(const conv_group *d, const advcc_ctx *c)
{
    return d->wq >= 0 ? conv_group_fixed(d, c, d->wq) : c->params + d->weight;
}

/* The activation's state for one pass: DTReLU's bounds and grid. */
typedef struct conv_act_state {
    real_t lo, hi, qs, qtop;
    int qok;                    /* else every output is hi (dtrelu.h) */
} conv_act_state;

CONV_GROUP_INLINE conv_act_state conv_act_load(const conv_group *d, const real_t *params)
{
    conv_act_state a = {0, 0, 0, 0, 0};
    if (d->act == CONV_ACT_DTRELU) {
        a.lo = params[d->lo];
        a.hi = params[d->hi];
        a.qok = a.hi > a.lo;
        a.qs = quant_step(a.lo, a.hi, d->bits);
        a.qtop = quant_top(d->bits);
    }
    return a;
}

CONV_GROUP_INLINE real_t conv_act_forward(const conv_group *d, real_t z)
{
    switch (d->act) {
    case CONV_ACT_RELU:
        return z > 0 ? z : 0;
    case CONV_ACT_LEAKYRELU:
        return z > 0 ? z : d->slope * z;
    case CONV_ACT_TANH:
        return (real_t)tanh(z);
    case CONV_ACT_SIGMOID:
        return (real_t)(1 / (1 + exp(-z)));
    default:    /* DTReLU: conv_act_forward_block's own loop */
        return z;
    }
}

/* dL/dz from dL/dact = g at the activation's input z.  DTReLU: the
 * straight-through gradient inside [lo, hi], everything under BPDA, and
 * what falls outside added to the bound gradients' sums. */
CONV_GROUP_INLINE real_t conv_act_backward(const conv_group *d, const conv_act_state *a, real_t z,
                                           real_t g, int bpda, double *below, double *above)
{
    switch (d->act) {
    case CONV_ACT_RELU:
        return z > 0 ? g : 0;
    case CONV_ACT_LEAKYRELU:
        return z > 0 ? g : d->slope * g;
    case CONV_ACT_TANH: {
        const real_t t = (real_t)tanh(z);
        return g * (1 - t * t);
    }
    case CONV_ACT_SIGMOID: {
        const real_t s = (real_t)(1 / (1 + exp(-z)));
        return g * s * (1 - s);
    }
    case CONV_ACT_DTRELU:
        *below += a->qok && z < a->lo ? g : 0;
        *above += !a->qok || z > a->hi ? g : 0;
        return bpda || (a->qok && z >= a->lo && z <= a->hi) ? g : 0;
    default:
        return g;
    }
}

/* The epilogue works a plane at a time through loops the compiler
 * vectorises: the activation over a whole plane, then the pool from there;
 * backward, the pool's gradient spread first, then the activation's over
 * the plane in place.  Every value is the one the element-by-element
 * formulas give; DTReLU's loops are the runtime's, built for each
 * instruction set: quant.c's forward (quant_grid) and dtrelu.c's
 * backward with its bound sums (dtrelu_gradient). */

/* za[i] = act(BatchNorm(y[i])) over n values.  The state is copied so
 * that the compiler sees it cannot change under the stores. */
CONV_GROUP_INLINE void conv_act_forward_block(const conv_group *d, const conv_act_state *a,
                                              const real_t *yp, real_t s, real_t t, long n,
                                              real_t *za)
{
    const conv_act_state st = *a;
    if (d->act == CONV_ACT_DTRELU && !st.qok) {
        for (long i = 0; i < n; i++)
            za[i] = st.hi;
        return;
    }
    if (d->act == CONV_ACT_DTRELU) {
        quant_grid(yp, n, d->bn != NULL, s, t, st.lo, st.qs, st.qtop, za);
        return;
    }
#pragma omp simd
    for (long i = 0; i < n; i++)
        za[i] = conv_act_forward(d, d->bn ? yp[i] * s + t : yp[i]);
}

/* dz[i] = the activation's gradient at z = BatchNorm(y[i]) times g[i] over
 * n values (g may be dz); DTReLU's out-of-bound sums added to below and
 * above, a block at a time. */
CONV_GROUP_INLINE void conv_act_backward_block(const conv_group *d, const conv_act_state *a,
                                               const real_t *yp, real_t s, real_t t, long n,
                                               int bpda, const real_t *g, real_t *dz,
                                               double *below, double *above)
{
    const conv_act_state st = *a;
    if (d->act != CONV_ACT_DTRELU) {
        /* only DTReLU keeps sums: the others' loop, given sums of its own
         * that nothing reads, vectorises (with below and above it ran
         * scalar, two thirds of the seed CNN's first group's backward) */
        double unused = 0;
#pragma omp simd
        for (long i = 0; i < n; i++)
            dz[i] = conv_act_backward(d, &st, d->bn ? yp[i] * s + t : yp[i], g[i], bpda,
                                      &unused, &unused);
        return;
    }
    if (!st.qok) {
        for (long i = 0; i < n; i++)
            dz[i] = conv_act_backward(d, &st, d->bn ? yp[i] * s + t : yp[i], g[i], bpda,
                                      below, above);
        return;
    }
    dtrelu_gradient(yp, n, d->bn != NULL, s, t, st.lo, st.hi, bpda != 0, g, dz, below, above);
}

/* Whether the group's pool is the common 2x2 average of stride 2 that
 * halves the plane, which has loops of its own the compiler vectorises. */
CONV_GROUP_INLINE int conv_group_pool_halves(const conv_group *d)
{
    return d->pool == CONV_POOL_AVG && d->pool_k == 2 && d->pool_stride == 2 &&
           d->pool_h * 2 == d->conv.out_h && d->pool_w * 2 == d->conv.out_w;
}

/* A 2x2 average pool of the plane za, w wide, into ph x pw values of op,
 * each window summed from 0 in the general loop's order. */
CONV_GROUP_INLINE void conv_avgpool2_forward(const real_t *za, int w, int ph, int pw,
                                             real_t *op)
{
    for (int i = 0; i < ph; i++) {
        const real_t *r0 = za + (long)2 * i * w, *r1 = r0 + w;
        real_t *o = op + (long)i * pw;
#pragma omp simd
        for (int j = 0; j < pw; j++) {
            real_t acc = 0;
            acc += r0[2 * j];
            acc += r0[2 * j + 1];
            acc += r1[2 * j];
            acc += r1[2 * j + 1];
            o[j] = acc * (real_t)0.25;
        }
    }
}

/* Its gradient: a quarter of gp's each value to its window's four. */
CONV_GROUP_INLINE void conv_avgpool2_backward(const real_t *gp, int w, int ph, int pw,
                                              real_t *dp)
{
    for (int i = 0; i < ph; i++) {
        const real_t *g = gp + (long)i * pw;
        real_t *r0 = dp + (long)2 * i * w, *r1 = r0 + w;
#pragma omp simd
        for (int j = 0; j < pw; j++) {
            const real_t q = g[j] * (real_t)0.25;
            r0[2 * j] = q;
            r0[2 * j + 1] = q;
            r1[2 * j] = q;
            r1[2 * j + 1] = q;
        }
    }
}

/* The convolution into its output, then BatchNorm's statistics. */
CONV_GROUP_INLINE void conv_group_conv(const conv_group *d, advcc_ctx *c, const real_t *x,
                                       int B, int mode)
{
    real_t *y = conv_group_slot(d, c, d->y);
    conv_shape_forward(&d->conv, x, B, conv_group_weight(d, c),
                       d->bias >= 0 ? c->params + d->bias : NULL,
                       conv_group_slot(d, c, d->col), y);
    if (d->bn) {
        real_t *mean = conv_group_fixed(d, c, d->stats);
        bn_epilogue_stats(d->bn, c->params, y, B, mode != ADVCC_EVAL, mode == ADVCC_TRAIN,
                          mean, mean + d->conv.out_c);
    }
}

/* Channel ch of the epilogue over all B images: z = BatchNorm(y), the
 * activation, the pool. */
CONV_GROUP_INLINE void conv_group_forward_channel(const conv_group *d, const advcc_ctx *c,
                                                  int B, int ch)
{
    const conv_shape *cs = &d->conv;
    const long hw = (long)cs->out_h * cs->out_w;
    const real_t *y = conv_group_slot(d, c, d->y);
    real_t *o = conv_group_slot(d, c, d->out);
    int *am = (int *)conv_group_slot(d, c, d->argmax);
    real_t s = 1, t = 0;
    if (d->bn) {
        const real_t *mean = conv_group_fixed(d, c, d->stats), *invstd = mean + cs->out_c;
        s = bn_epilogue_scale(d->bn, c->params, invstd, ch);
        t = bn_epilogue_shift(d->bn, c->params, mean, s, ch);
    }
    const conv_act_state a = conv_act_load(d, c->params);
    for (int img = 0; img < B; img++) {
        const size_t plane = (size_t)ch * B + img;
        const real_t *yp = y + plane * hw;
        if (d->pool == CONV_POOL_NONE) {
            conv_act_forward_block(d, &a, yp, s, t, hw, o + plane * hw);
            continue;
        }
        const int max = d->pool == CONV_POOL_MAX, k = d->pool_k, st = d->pool_stride;
        const long ohw = (long)d->pool_h * d->pool_w;
        real_t *op = o + plane * ohw;
        int *ap = max ? am + plane * ohw : NULL;
        /* the activated plane goes through the gradient slot, which only
         * backward passes use */
        real_t *za = conv_group_slot(d, c, d->dy) + plane * hw;
        conv_act_forward_block(d, &a, yp, s, t, hw, za);
        if (conv_group_pool_halves(d)) {
            conv_avgpool2_forward(za, cs->out_w, d->pool_h, d->pool_w, op);
            continue;
        }
        for (int i = 0; i < d->pool_h; i++)
            for (int j = 0; j < d->pool_w; j++) {
                real_t acc = max ? -INFINITY : 0;
                int arg = 0;
                for (int di = 0; di < k; di++)
                    for (int dj = 0; dj < k; dj++) {
                        const int at = (i * st + di) * cs->out_w + j * st + dj;
                        if (!max) {
                            acc += za[at];
                        } else if (za[at] > acc) {
                            acc = za[at];
                            arg = at;
                        }
                    }
                if (max) {
                    op[i * d->pool_w + j] = acc;
                    ap[i * d->pool_w + j] = arg;
                } else {
                    op[i * d->pool_w + j] = acc * (real_t)(1.0 / (k * k));
                }
            }
    }
}

/* Channel ch of the epilogue's backward: from dout, the gradient at the
 * group's output, through the pool and the activation into the dy slot,
 * then BatchNorm's backward in place there (its parameter gradients when
 * want_params). */
CONV_GROUP_INLINE void conv_group_backward_channel(const conv_group *d, advcc_ctx *c,
                                                   const real_t *dout, int B, int mode,
                                                   int want_params, int ch)
{
    const conv_shape *cs = &d->conv;
    const long hw = (long)cs->out_h * cs->out_w;
    const int act = d->act != CONV_ACT_NONE;
    const real_t *y = conv_group_slot(d, c, d->y);
    real_t *dy = conv_group_slot(d, c, d->dy);
    const int *am = (const int *)conv_group_slot(d, c, d->argmax);
    const real_t *mean = d->bn ? conv_group_fixed(d, c, d->stats) : NULL;
    const real_t *invstd = d->bn ? mean + cs->out_c : NULL;
    real_t s = 1, t = 0;
    if (d->bn && act) {
        s = bn_epilogue_scale(d->bn, c->params, invstd, ch);
        t = bn_epilogue_shift(d->bn, c->params, mean, s, ch);
    }
    const conv_act_state a = conv_act_load(d, c->params);
    const int bpda = c->bpda;   /* dx = dy: the identity's gradient */
    double below = 0, above = 0;
    for (int img = 0; img < B; img++) {
        const size_t plane = (size_t)ch * B + img;
        const real_t *yp = y + plane * hw;
        real_t *dp = dy + plane * hw;
        if (d->pool == CONV_POOL_NONE) {
            const real_t *gp = dout + plane * hw;
            if (act)
                conv_act_backward_block(d, &a, yp, s, t, hw, bpda, gp, dp, &below, &above);
            else
                memcpy(dp, gp, sizeof(real_t) * hw);
            continue;
        }
        const int k = d->pool_k, st = d->pool_stride;
        const int overlap = st < k;
        const int covers = d->pool_h * st == cs->out_h && d->pool_w * st == cs->out_w && k == st;
        const long ohw = (long)d->pool_h * d->pool_w;
        const real_t *gp = dout + plane * ohw;
        if (d->pool == CONV_POOL_MAX || !covers)
            memset(dp, 0, sizeof(real_t) * hw);
        if (d->pool == CONV_POOL_MAX) {
            const int *ap = am + plane * ohw;
            for (long i = 0; i < ohw; i++) {
                const int at = ap[i];
                const real_t z = act && d->bn ? yp[at] * s + t : act ? yp[at] : 0;
                const real_t dz = act ? conv_act_backward(d, &a, z, gp[i], bpda, &below, &above)
                                      : gp[i];
                if (overlap)
                    dp[at] += dz;
                else
                    dp[at] = dz;
            }
            continue;
        }
        if (covers) {
            /* windows tile the plane: the pool's gradient spread over it,
             * then the activation's over the whole plane */
            if (conv_group_pool_halves(d))
                conv_avgpool2_backward(gp, cs->out_w, d->pool_h, d->pool_w, dp);
            else
                for (int i = 0; i < d->pool_h; i++)
                    for (int j = 0; j < d->pool_w; j++) {
                        const real_t g = gp[i * d->pool_w + j] * (real_t)(1.0 / (k * k));
                        for (int di = 0; di < k; di++)
                            for (int dj = 0; dj < k; dj++)
                                dp[(i * st + di) * cs->out_w + j * st + dj] = g;
                    }
            if (act)
                conv_act_backward_block(d, &a, yp, s, t, hw, bpda, dp, dp, &below, &above);
            continue;
        }
        for (int i = 0; i < d->pool_h; i++)
            for (int j = 0; j < d->pool_w; j++) {
                const real_t g = gp[i * d->pool_w + j] * (real_t)(1.0 / (k * k));
                for (int di = 0; di < k; di++)
                    for (int dj = 0; dj < k; dj++) {
                        const int at = (i * st + di) * cs->out_w + j * st + dj;
                        const real_t z = act && d->bn ? yp[at] * s + t : act ? yp[at] : 0;
                        const real_t dz = act ? conv_act_backward(d, &a, z, g, bpda, &below, &above)
                                              : g;
                        if (overlap)
                            dp[at] += dz;
                        else
                            dp[at] = dz;
                    }
            }
    }
    if (d->act == CONV_ACT_DTRELU) {
        real_t *sums = conv_group_fixed(d, c, d->bound_sums);
        sums[ch] = (real_t)below;
        sums[cs->out_c + ch] = (real_t)above;
    }
    if (d->bn)
        bn_epilogue_backward(d->bn, c->params, want_params ? c->grads : NULL, y, dy, B,
                             mode != ADVCC_EVAL, mean, invstd, ch);
}

/* The gradient at the convolution's output once the channels' backward
 * ran: the epilogue's, or dout when there is none. */
CONV_GROUP_INLINE const real_t *conv_group_dy(const conv_group *d, const advcc_ctx *c,
                                              const real_t *dout)
{
    return conv_group_has_epilogue(d) ? conv_group_slot(d, c, d->dy) : dout;
}

/* After the channels: DTReLU's bound gradients (summed over channels in
 * order, so the same bits whatever the thread count), then the
 * convolution's weight gradient (want_params) and input gradient (dx not
 * NULL) from the epilogue's gradient, or from dout without epilogue. */
CONV_GROUP_INLINE void conv_group_backward(const conv_group *d, advcc_ctx *c, const real_t *x,
                                           const real_t *dout, real_t *dx, int B,
                                           int want_params)
{
    const conv_shape *cs = &d->conv;
    if (d->act == CONV_ACT_DTRELU && want_params) {
        const real_t *sums = conv_group_fixed(d, c, d->bound_sums);
        double below = 0, above = 0;
        for (int ch = 0; ch < cs->out_c; ch++) {
            below += sums[ch];
            above += sums[cs->out_c + ch];
        }
        c->grads[d->lo] = (real_t)below;
        c->grads[d->hi] = (real_t)above;
    }
    const real_t *dy = conv_group_dy(d, c, dout);
    real_t *col = conv_group_slot(d, c, d->col);
    if (want_params)
        conv_shape_backward_params(cs, x, dy, B, col, c->grads + d->weight,
                                   d->bias >= 0 ? c->grads + d->bias : NULL);
    if (dx)
        conv_shape_backward_input(cs, dy, conv_group_weight(d, c), B, col, dx);
}

/* The input gradient dx from a gradient dy at the convolution's output
 * that need not be this arena's pass's: an ensemble's passes share the
 * input gradient below the convolution, computed once from the sum of
 * their dy (model.h backward_bottom). */
CONV_GROUP_INLINE void conv_group_backward_input(const conv_group *d, advcc_ctx *c,
                                                 const real_t *dy, int B, real_t *dx)
{
    conv_shape_backward_input(&d->conv, dy, conv_group_weight(d, c), B,
                              conv_group_slot(d, c, d->col), dx);
}

#endif
