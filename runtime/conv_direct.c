/* conv_direct.c - direct convolution forward; see conv_direct.h.
 *
 * One image at a time: its input planes are copied into a zero-padded
 * scratch, so that every tap of every output is a plain load; then, for a
 * block of OB output channels and a piece of an output row NV vectors
 * long, OB x NV accumulators stay in registers while the loop runs over
 * the input channels and the kernel's rows and columns: 8 channels by 2
 * vectors of 16 floats with AVX-512 (16 of its 32 registers), 4 by 2 of 8
 * with AVX2 (8 of its 16).  Each tap is one load per vector and one
 * broadcast weight per channel, so the fused multiply-adds, not the loads,
 * set the pace. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conv_direct.h"

/* Where the direct kernel finds its weights: see DIRECT_ROWS. */
typedef struct weight_view {
    const real_t *w;
    long so, sc, sy, sx;
} weight_view;

/* A kernel of DIRECT_ROWS: its output channels, vectors, lanes and rows a
 * block, and whether it stacks rows one vector wide. */
typedef void rows_fn(const float *xp, int in_c, int hp, int wp, int kh, int kw,
                     const weight_view *wv, int out_c, int ho, int wo, const float *bias,
                     float *y, long n);
typedef struct direct_kernel {
    rows_fn *rows;
    int channels, vectors, lanes, rows_a_block, tall;
} direct_kernel;

#if defined(__x86_64__) && !defined(ADVCC_DOUBLE)
#define CONV_DIRECT_BUILT 1

/* Where vector j of DIRECT_ROWS's block is, its rows w apart: NV / RB
 * vectors of VL a row, or one a row if tall. */
#define DIRECT_AT(j, w, tall, VL, NV, RB) \
    ((tall) ? (long)(j) * (w) : (long)((j) / ((NV) / (RB))) * (w) + (j) % ((NV) / (RB)) * (VL))

/* Output rows of one image: xp is its padded input, in_c planes of hp x wp;
 * y its first output value, channel planes n apart; the weight of output
 * channel o, input channel c and tap (ky, kx) is w[o so + c sc + ky sy +
 * kx sx] (a forward's own weights, or the input gradient's flipped and
 * transposed view of them).  NAME is compiled for TARGET with VEC, a vector
 * of VL floats, OB channels and NV vectors a block: NV / RB pieces of RB
 * rows, or on rows one vector wide NV rows.  (A macro: a vector type wider
 * than the target's registers is split, and GCC then keeps the accumulators
 * on the stack.) */
#define DIRECT_ROWS(NAME, TARGET, VEC, VL, OB, NV, RB)                                          \
    typedef float VEC __attribute__((vector_size((VL) * sizeof(float)), aligned(sizeof(float)))); \
    __attribute__((target(TARGET))) static void                                                 \
    NAME(const float *xp, int in_c, int hp, int wp, int kh, int kw, const weight_view *wv,       \
         int out_c, int ho, int wo, const float *bias, float *y, long n)                        \
    {                                                                                           \
        const long so = wv->so, sc = wv->sc, sy = wv->sy, sx = wv->sx;                          \
        const int tall = wo == (VL);                                                            \
        const int dy = tall ? (NV) : (RB), dx = tall ? (VL) : (NV) / (RB) * (VL);               \
        for (int o0 = 0; o0 < out_c; o0 += (OB))                                                \
            for (int oy = 0; oy < ho; oy += dy)                                                 \
                for (int ox0 = 0; ox0 < wo; ox0 += dx) {                                        \
                    VEC acc[OB][NV];                                                            \
                    _Pragma("GCC unroll 8") for (int o = 0; o < (OB); o++)                      \
                        _Pragma("GCC unroll 4") for (int j = 0; j < (NV); j++)                  \
                            acc[o][j] = (VEC){0} + (bias ? bias[o0 + o] : 0);                   \
                    for (int c = 0; c < in_c; c++)                                              \
                        for (int ky = 0; ky < kh; ky++) {                                       \
                            const float *row = xp + ((long)c * hp + oy + ky) * wp + ox0;        \
                            const float *wr = wv->w + o0 * so + c * sc + ky * sy;               \
                            for (int kx = 0; kx < kw; kx++) {                                   \
                                VEC v[NV];                                                      \
                                _Pragma("GCC unroll 4") for (int j = 0; j < (NV); j++) {        \
                                    const long at = DIRECT_AT(j, wp, tall, VL, NV, RB);         \
                                    v[j] = *(const VEC *)(row + kx + at);                       \
                                    __asm__("" : "+v"(v[j])); /* loaded once, not per FMA */    \
                                }                                                               \
                                _Pragma("GCC unroll 8") for (int o = 0; o < (OB); o++) {        \
                                    const float wt = wr[o * so + kx * sx];                      \
                                    _Pragma("GCC unroll 4") for (int j = 0; j < (NV); j++)      \
                                        acc[o][j] += wt * v[j];                                 \
                                }                                                               \
                            }                                                                   \
                        }                                                                       \
                    _Pragma("GCC unroll 8") for (int o = 0; o < (OB); o++)                      \
                        _Pragma("GCC unroll 4") for (int j = 0; j < (NV); j++)                  \
                            *(VEC *)(y + (long)(o0 + o) * n + (long)oy * wo + ox0 +             \
                                     DIRECT_AT(j, wo, tall, VL, NV, RB)) = acc[o][j];           \
                }                                                                               \
    }

DIRECT_ROWS(rows_avx512, "avx512f,fma", vec16, 16, 8, 2, 1)
DIRECT_ROWS(rows_avx2, "avx2,fma", vec8, 8, 4, 2, 1)
/* Three channels (an RGB image's input gradient) by 4 vectors: 12
 * accumulators, enough to keep both FMA units busy, where the 8-channel
 * block cannot be filled. */
DIRECT_ROWS(rows3_avx512, "avx512f,fma", vec16, 16, 3, 4, 2)

/* The weight gradient's share of one image, added into part: the lanes of
 * part[((o in_c + c) kh + ky) kw + kx] sum to that weight's share.  xp is
 * the image's padded input, dy its output gradient (channel planes n
 * apart).  A block is 4 output channels by a kernel row's taps (kw <= 5):
 * 20 accumulators, 4 gradient and 5 input vectors of AVX-512's 32
 * registers, summed over the image's rows before they go to memory. */
__attribute__((target("avx512f,fma"))) static void
dw_rows_avx512(const float *xp, int in_c, int hp, int wp, int kh, int kw, const float *dy,
               int out_c, int ho, int wo, long n, vec16 *part)
{
    for (int o0 = 0; o0 < out_c; o0 += 4)
        for (int c = 0; c < in_c; c++)
            for (int ky = 0; ky < kh; ky++) {
                vec16 acc[4][5] = {{{0}}};
                for (int oy = 0; oy < ho; oy++) {
                    const float *row = xp + ((long)c * hp + oy + ky) * wp;
                    const float *g = dy + (long)o0 * n + (long)oy * wo;
                    for (int ox = 0; ox < wo; ox += 16) {
                        vec16 d[4], v[5];
#pragma GCC unroll 4
                        for (int o = 0; o < 4; o++)
                            d[o] = *(const vec16 *)(g + o * n + ox);
#pragma GCC unroll 5
                        for (int t = 0; t < 5; t++)
                            v[t] = t < kw ? *(const vec16 *)(row + ox + t) : (vec16){0};
#pragma GCC unroll 4
                        for (int o = 0; o < 4; o++)
#pragma GCC unroll 5
                            for (int t = 0; t < 5; t++)
                                acc[o][t] += d[o] * v[t];
                    }
                }
                vec16 *p = part + (((long)o0 * in_c + c) * kh + ky) * kw;
                for (int o = 0; o < 4; o++)
                    for (int t = 0; t < kw; t++)
                        p[(long)o * in_c * kh * kw + t] += acc[o][t];
            }
}

static int isa_supported(enum conv_isa isa)
{
    switch (isa) {
    case CONV_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    case CONV_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
        return 1;
    }
}
#else
#define CONV_DIRECT_BUILT 0
static int isa_supported(enum conv_isa isa)
{
    return isa == CONV_ISA_NONE;
}
#endif

static enum conv_isa isa_in_use;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static void isa_choose(void)
{
    static const struct { const char *name; enum conv_isa isa; } names[] = {
        {"none", CONV_ISA_NONE}, {"avx2", CONV_ISA_AVX2}, {"avx512", CONV_ISA_AVX512}};
    enum conv_isa best = CONV_ISA_NONE;
    for (int i = CONV_ISA_AVX512; i > CONV_ISA_NONE; i--)
        if (isa_supported((enum conv_isa)i)) {
            best = (enum conv_isa)i;
            break;
        }
    isa_in_use = best;
    const char *want = getenv("ADVCC_ISA");
    if (!want || !*want)
        return;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(want, names[i].name) == 0) {
            if (names[i].isa <= best)
                isa_in_use = names[i].isa;
            else
                fprintf(stderr, "advcc: ADVCC_ISA=%s: this CPU lacks it; using %s\n", want,
                        names[best].name);
            return;
        }
    fprintf(stderr, "advcc: ADVCC_ISA=%s: not one of avx512, avx2, none; using %s\n", want,
            names[best].name);
}

enum conv_isa conv_direct_isa(void)
{
    pthread_once(&isa_once, isa_choose);
    return isa_in_use;
}

int conv_direct_set_isa(enum conv_isa isa)
{
    pthread_once(&isa_once, isa_choose);
    if (!isa_supported(isa))
        return -1;
    isa_in_use = isa;
    return 0;
}

/* The kernel that runs stride-1 convolution s, or NULL: its rows and
 * channels in whole blocks (with AVX-512 of 8 channels, or exactly 3). */
static const direct_kernel *kernel_for(const conv_shape *s)
{
#if CONV_DIRECT_BUILT
    static const direct_kernel avx512 = {rows_avx512, 8, 2, 16, 1, 1};
    static const direct_kernel avx512_rgb = {rows3_avx512, 3, 4, 16, 2, 1};
    /* with AVX2 two rows of 8 ran the seed CNN's third layer at 164
     * GFLOP/s against 193 through im2col and sgemm */
    static const direct_kernel avx2 = {rows_avx2, 4, 2, 8, 1, 0};
    const enum conv_isa isa = conv_direct_isa();
    if (isa == CONV_ISA_NONE || s->stride_h != 1 || s->stride_w != 1)
        return NULL;
    const direct_kernel *k = isa == CONV_ISA_AVX2 ? &avx2 : s->out_c == 3 ? &avx512_rgb : &avx512;
    const int wide = s->out_w % (k->vectors / k->rows_a_block * k->lanes) == 0 &&
                     s->out_h % k->rows_a_block == 0;
    const int tall = k->tall && s->out_w == k->lanes && s->out_h % k->vectors == 0;
    return (wide || tall) && s->out_c % k->channels == 0 ? k : NULL;
#else
    (void)s;
    return NULL;
#endif
}

int conv_direct_fits(const conv_shape *s)
{
    return kernel_for(s) != NULL;
}

long conv_direct_scratch(const conv_shape *s)
{
    return (long)s->in_c * (s->in_h + 2 * s->pad_h) * (s->in_w + 2 * s->pad_w);
}

/* The input gradient of stride-1 convolution s as a convolution of its
 * output gradient: out_c planes in, in_c out, the kernel flipped and the
 * padding k - 1 - pad, so that its output is s's input size. */
static conv_shape transposed(const conv_shape *s)
{
    conv_shape t = *s;
    t.in_c = s->out_c, t.in_h = s->out_h, t.in_w = s->out_w;
    t.out_c = s->in_c, t.out_h = s->in_h, t.out_w = s->in_w;
    t.pad_h = s->kh - 1 - s->pad_h, t.pad_w = s->kw - 1 - s->pad_w;
    return t;
}

int conv_direct_fits_input(const conv_shape *s)
{
    if (s->stride_h != 1 || s->stride_w != 1 || s->pad_h >= s->kh || s->pad_w >= s->kw)
        return 0;
    const conv_shape t = transposed(s);
    /* one image's padded planes in one image's columns, whatever the batch */
    return conv_direct_fits(&t) &&
           conv_direct_scratch(&t) <= (long)s->in_c * s->kh * s->kw * s->out_h * s->out_w;
}

int conv_direct_block(const conv_shape *s)
{
    const direct_kernel *k = kernel_for(s);
    return k ? k->channels : 0;
}

#if CONV_DIRECT_BUILT
/* One image's padded planes of s in xp, zeroed; their height and width. */
static void pad_clear(const conv_shape *s, real_t *xp, int *hp, int *wp)
{
    *hp = s->in_h + 2 * s->pad_h, *wp = s->in_w + 2 * s->pad_w;
    memset(xp, 0, sizeof *xp * (size_t)conv_direct_scratch(s));
}

/* Image b of a CNHW batch into its padded planes, hp x wp: the borders stay
 * as pad_clear left them (zero), only the inside is written. */
static void pad_image(const conv_shape *s, const real_t *x, int batch, int b, real_t *xp, int hp,
                      int wp)
{
    const long in_plane = (long)s->in_h * s->in_w;
    for (int c = 0; c < s->in_c; c++)
        for (int i = 0; i < s->in_h; i++)
            memcpy(xp + ((long)c * hp + i + s->pad_h) * wp + s->pad_w,
                   x + ((long)c * batch + b) * in_plane + (long)i * s->in_w,
                   sizeof *x * (size_t)s->in_w);
}
#endif

/* Images [b0, b1), output channels [o0, o1), of a CNHW batch through the
 * kernel; see conv_direct_forward. */
static void direct_images(const conv_shape *s, const real_t *x, int batch, int b0, int b1,
                          int o0, int o1, const weight_view *wv, const real_t *bias,
                          real_t *scratch, real_t *y)
{
#if CONV_DIRECT_BUILT
    const long plane = (long)s->out_h * s->out_w;
    const long n = batch * plane;
    const direct_kernel *k = kernel_for(s);
    weight_view part = *wv;
    part.w += o0 * wv->so;
    int hp, wp;
    pad_clear(s, scratch, &hp, &wp);
    for (int b = b0; b < b1; b++) {
        pad_image(s, x, batch, b, scratch, hp, wp);
        k->rows(scratch, s->in_c, hp, wp, s->kh, s->kw, &part, o1 - o0, s->out_h, s->out_w,
                bias ? bias + o0 : NULL, y + o0 * n + b * plane, n);
    }
#else
    (void)s, (void)x, (void)batch, (void)b0, (void)b1, (void)o0, (void)o1, (void)wv, (void)bias,
        (void)scratch, (void)y;
    abort();    /* conv_direct_fits said no */
#endif
}

void conv_direct_forward(const conv_shape *s, const real_t *x, int batch, int b0, int b1,
                         int o0, int o1, const real_t *weight, const real_t *bias,
                         real_t *scratch, real_t *y)
{
    const long taps = (long)s->kh * s->kw;
    const weight_view wv = {weight, s->in_c * taps, taps, s->kw, 1};
    direct_images(s, x, batch, b0, b1, o0, o1, &wv, bias, scratch, y);
}

void conv_direct_backward_input(const conv_shape *s, const real_t *dy, int batch, int b0,
                                int b1, int o0, int o1, const real_t *weight, real_t *scratch,
                                real_t *dx)
{
    const conv_shape t = transposed(s);
    const long taps = (long)s->kh * s->kw;
    /* dx's channel o, dy's channel c, tap (ky, kx): W[c][o][kh-1-ky][kw-1-kx] */
    const weight_view wv = {weight + taps - 1, taps, s->in_c * taps, -s->kw, -1};
    direct_images(&t, dy, batch, b0, b1, o0, o1, &wv, NULL, scratch, dx);
}

long conv_direct_input_scratch(const conv_shape *s)
{
    const conv_shape t = transposed(s);
    return conv_direct_scratch(&t);
}

int conv_direct_input_block(const conv_shape *s)
{
    const conv_shape t = transposed(s);
    return conv_direct_block(&t);
}

/* The weight gradient: 16 lanes a weight (one AVX-512 vector) */
#define DW_LANES 16

int conv_direct_fits_params(const conv_shape *s)
{
    return CONV_DIRECT_BUILT && conv_direct_isa() == CONV_ISA_AVX512 && s->stride_h == 1 &&
           s->stride_w == 1 && s->out_w % 32 == 0 && s->kw <= 5 && s->out_c % 4 == 0;
}

long conv_direct_params_scratch(const conv_shape *s)
{
    return conv_direct_scratch(s) + (long)s->out_c * s->in_c * s->kh * s->kw * DW_LANES;
}

void conv_direct_params_part(const conv_shape *s, const real_t *x, const real_t *dy, int batch,
                             int b0, int b1, real_t *scratch)
{
    const long weights = (long)s->out_c * s->in_c * s->kh * s->kw;
    real_t *part = scratch + conv_direct_scratch(s);
    memset(part, 0, sizeof *part * (size_t)(weights * DW_LANES));
#if CONV_DIRECT_BUILT
    const long plane = (long)s->out_h * s->out_w, n = batch * plane;
    int hp, wp;
    pad_clear(s, scratch, &hp, &wp);
    for (int b = b0; b < b1; b++) {
        pad_image(s, x, batch, b, scratch, hp, wp);
        dw_rows_avx512(scratch, s->in_c, hp, wp, s->kh, s->kw, dy + b * plane, s->out_c,
                       s->out_h, s->out_w, n, (vec16 *)part);
    }
#else
    (void)x, (void)dy, (void)batch, (void)b0, (void)b1;
    abort();    /* conv_direct_fits_params said no */
#endif
}

void conv_direct_params_sum(const conv_shape *s, const real_t *scratch, long stride, int parts,
                            long w0, long w1, real_t *dw)
{
    const real_t *part = scratch + conv_direct_scratch(s);
    for (long w = w0; w < w1; w++) {
        real_t sum = 0;
        for (int t = 0; t < parts; t++)
            for (int l = 0; l < DW_LANES; l++)
                sum += part[t * stride + w * DW_LANES + l];
        dw[w] = sum;
    }
}
