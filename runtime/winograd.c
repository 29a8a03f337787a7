/* winograd.c - F(2x2, 5x5) and F(2x2, 3x3) convolution, forward, to the
 * input and to the weights; see winograd.h.
 *
 * Both cut the output in tiles of 2x2, from input tiles of a x a (a = k + 1,
 * the kernel's side plus one): P = a * a points.  A product takes the
 * tiles of a group of images side by side, cols = group * tiles columns
 * (winograd.h's WINOGRAD_GROUP_COLS).  The layouts keep a group's
 * transforms contiguous by channel: tiles v[in_c][P][cols], products
 * m[out_c][P][cols] (the output gradient's tiles likewise), so that point
 * p's matrices are v + p * cols and m + p * cols with a leading dimension
 * of P * cols, and image j's tiles start at column j * tiles.  Stored
 * point-major instead ([P][in_c][cols]), the streams a channel's transform
 * writes lie a power of two apart and fight over the same cache sets: the
 * input transform ran 7x slower.  Each transform's body takes the kernel's side k and the tile
 * row's count tx as constants (BY_SHAPE), so that its loops are vector
 * loops of a known length. */
#include <omp.h>
#include <string.h>
#include "conv_direct.h"
#include "parallel.h"
#include "winograd.h"

#define MAX_SIDE 6          /* a tile's side: 6 for 5x5 kernels, 4 for 3x3 */

typedef struct wino_shape {
    int k, a, points;       /* the kernel's side, a tile's (k + 1), a * a */
    int ci, co;             /* channels in and out of the transform's product */
    int h, w;               /* plane, the same in and out */
    int ty, tx;             /* tiles down and across */
    long tiles;             /* an image's */
    int group;              /* images a product */
    long cols;              /* a product's columns, group * tiles */
} wino_shape;

static wino_shape wino_shape_of(int k, int ci, int co, int h, int w)
{
    const long tiles = (long)(h / 2) * (w / 2);
    const int group = tiles < WINOGRAD_GROUP_COLS ? (int)(WINOGRAD_GROUP_COLS / tiles) : 1;
    const wino_shape g = {k, k + 1, (k + 1) * (k + 1), ci, co, h, w, h / 2, w / 2,
                          tiles, group, group * tiles};
    return g;
}

/* The transformed kernels, [P][co][ci]. */
static long kernel_reals(const wino_shape *g)
{
    return (long)g->points * g->co * g->ci;
}

/* A thread's room: one group's tiles and products, and the output
 * transform's rows of a tile row (output_body's q). */
static long thread_reals(const wino_shape *g)
{
    return (long)g->points * g->cols * (g->ci + g->co) + (2L * g->a + 2) * g->tx;
}

/* A thread's room for the weight gradient: one group's tiles and output
 * gradient, and its part of the sums, [P][co][ci]. */
static long params_reals(const wino_shape *g)
{
    return (long)g->points * (g->cols * (g->ci + g->co) + (long)g->co * g->ci);
}

/* The column scratch conv_shape_forward sizes for s and a batch. */
static long col_reals(const conv_shape *s, int batch)
{
    return (long)s->in_c * s->kh * s->kw * batch * s->out_h * s->out_w;
}

int winograd_fits(const conv_shape *s, int batch)
{
    if ((s->kh != 5 && s->kh != 3) || s->kw != s->kh || s->stride_h != 1 ||
        s->stride_w != 1 || s->pad_h != s->kh / 2 || s->pad_w != s->kh / 2 ||
        s->out_h != s->in_h || s->out_w != s->in_w || s->in_h % 2 || s->in_w % 2 ||
        s->in_h > WINOGRAD_MAX_SIDE || s->in_w > WINOGRAD_MAX_SIDE ||
        s->in_c < WINOGRAD_MIN_CHANNELS || s->out_c < WINOGRAD_MIN_CHANNELS ||
        batch < WINOGRAD_MIN_BATCH)
        return 0;
    const wino_shape g = wino_shape_of(s->kh, s->in_c, s->out_c, s->in_h, s->in_w);
    const long col = col_reals(s, batch);
    return kernel_reals(&g) + thread_reals(&g) <= col && params_reals(&g) <= col;
}

/* G applied to a column (or row) of a kernel's taps: the kernel's side of
 * the transform, its a values to t[0], t[step], ... t[k step].  5x5: the
 * points 0, 1, -1, 2, -2 and infinity; 3x3: 0, 1, -1 and infinity. */
#define KERNEL_POINTS5(g0, g1, g2, g3, g4, t, step)                                  \
    do {                                                                             \
        (t)[0] = (g0) / 4;                                                           \
        (t)[step] = -((g0) + (g1) + (g2) + (g3) + (g4)) / 6;                         \
        (t)[2 * (step)] = -((g0) - (g1) + (g2) - (g3) + (g4)) / 6;                   \
        (t)[3 * (step)] = ((g0) + 2 * (g1) + 4 * (g2) + 8 * (g3) + 16 * (g4)) / 24; \
        (t)[4 * (step)] = ((g0) - 2 * (g1) + 4 * (g2) - 8 * (g3) + 16 * (g4)) / 24; \
        (t)[5 * (step)] = (g4);                                                      \
    } while (0)
#define KERNEL_POINTS3(g0, g1, g2, t, step)              \
    do {                                                 \
        (t)[0] = (g0);                                   \
        (t)[step] = ((g0) + (g1) + (g2)) / 2;            \
        (t)[2 * (step)] = ((g0) - (g1) + (g2)) / 2;      \
        (t)[3 * (step)] = (g2);                          \
    } while (0)

/* Input channels a block of the kernel transform. */
#define KERNEL_BLOCK 64

/* Rows [o0, o1) of the transformed kernels u [P][co][ci]: pair (o, c) is
 * G g G^T of the weight's kernel (o, c), or with flip, the input
 * gradient's, the weight's (c, o) turned half a circle.  A block of input
 * channels at a time, each tap's values side by side, so that the loops
 * over channels are vector loops storing whole rows of u (a pair at a
 * time, its 36 values a row of u apart, took 1.3 ms a training step of the
 * seed CNN). */
static inline __attribute__((always_inline)) void
kernel_body(const wino_shape *g, const real_t *weight, int flip, int o0, int o1, real_t *u,
            const int k)
{
    const int a = k + 1, taps = k * k;
    const long row = (long)g->co * g->ci;
    real_t kt[25][KERNEL_BLOCK], t[5][MAX_SIDE][KERNEL_BLOCK];
    for (int o = o0; o < o1; o++)
        for (int c0 = 0; c0 < g->ci; c0 += KERNEL_BLOCK) {
            const int nc = g->ci - c0 < KERNEL_BLOCK ? g->ci - c0 : KERNEL_BLOCK;
            for (int c = 0; c < nc; c++) {
                const real_t *src = weight +
                    (flip ? (long)(c0 + c) * g->co + o : (long)o * g->ci + c0 + c) * taps;
                for (int i = 0; i < taps; i++)
                    kt[i][c] = src[flip ? taps - 1 - i : i];
            }
            /* down each column of taps, then across each row of points */
            for (int col = 0; col < k; col++)
#pragma omp simd
                for (int c = 0; c < nc; c++) {
                    if (k == 5)
                        KERNEL_POINTS5(kt[col][c], kt[5 + col][c], kt[10 + col][c],
                                       kt[15 + col][c], kt[20 + col][c], &t[col][0][c],
                                       KERNEL_BLOCK);
                    else
                        KERNEL_POINTS3(kt[col][c], kt[3 + col][c], kt[6 + col][c],
                                       &t[col][0][c], KERNEL_BLOCK);
                }
            for (int p = 0; p < a; p++) {
                real_t *dst = u + (long)p * a * row + (long)o * g->ci + c0;
#pragma omp simd
                for (int c = 0; c < nc; c++) {
                    if (k == 5)
                        KERNEL_POINTS5(t[0][p][c], t[1][p][c], t[2][p][c], t[3][p][c],
                                       t[4][p][c], dst + c, row);
                    else
                        KERNEL_POINTS3(t[0][p][c], t[1][p][c], t[2][p][c], dst + c, row);
                }
            }
        }
}

static void kernel_transform(const wino_shape *g, const real_t *weight, int flip, int o0,
                             int o1, real_t *u)
{
    if (g->k == 5)
        kernel_body(g, weight, flip, o0, o1, u, 5);
    else
        kernel_body(g, weight, flip, o0, o1, u, 3);
}

/* The next channel's plane of an image, a page or more away (CNHW): no
 * hardware prefetcher follows the jump. */
static inline void prefetch_plane(const real_t *p, long plane)
{
    for (long i = 0; i < plane; i += 64 / (long)sizeof *p)
        __builtin_prefetch(p + i);
}

/* B^T applied to a tile's a values: the input's side. */
#define INPUT_POINTS5(d0, d1, d2, d3, d4, d5, out, at)                                \
    do {                                                                              \
        out[0 * (at)] = 4 * (d0) - 5 * (d2) + (d4);                                  \
        out[1 * (at)] = -4 * ((d1) + (d2)) + (d3) + (d4);                            \
        out[2 * (at)] = 4 * ((d1) - (d2)) - (d3) + (d4);                             \
        out[3 * (at)] = 2 * ((d3) - (d1)) - (d2) + (d4);                             \
        out[4 * (at)] = 2 * ((d1) - (d3)) - (d2) + (d4);                             \
        out[5 * (at)] = 4 * (d1) - 5 * (d3) + (d5);                                  \
    } while (0)
#define INPUT_POINTS3(d0, d1, d2, d3, out, at) \
    do {                                       \
        out[0 * (at)] = (d0) - (d2);           \
        out[1 * (at)] = (d1) + (d2);           \
        out[2 * (at)] = (d2) - (d1);           \
        out[3 * (at)] = (d1) - (d3);           \
    } while (0)

/* Image n of x (CNHW, batch images) into v [ci][P][cols], by way of the
 * padded plane's even and odd columns and its rows transformed across:
 * rows, 19 KB at 32x32 and 70 KB at WINOGRAD_MAX_SIDE, on the stack (in
 * the thread's room the transforms ran 10% slower). */
static inline __attribute__((always_inline)) void
input_body(const wino_shape *g, const real_t *x, int batch, int n, real_t *v, const int tx,
           const int k)
{
    const int a = k + 1, pad = k / 2, pr = g->h + 2 * pad, pc = tx + pad;
    real_t rows[2 * pr * pc + pr * a * tx];
    real_t *even = rows, *odd = even + (long)pr * pc, *across = odd + (long)pr * pc;
    const long plane = (long)g->h * g->w;
    memset(even, 0, sizeof *even * 2 * pr * pc);
    for (int c = 0; c < g->ci; c++) {
        const real_t *src = x + ((long)c * batch + n) * plane;
        if (c + 1 < g->ci)
            prefetch_plane(src + (long)batch * plane, plane);
        /* padded column p is the plane's p - pad: with pad 2, padded
         * 2j + 2 and 2j + 3 are the plane's 2j and 2j + 1; with pad 1,
         * padded 2j + 1 and 2j + 2 are */
        for (int i = 0; i < g->h; i++) {
            real_t *e = even + (long)(i + pad) * pc, *o = odd + (long)(i + pad) * pc;
            const real_t *s = src + (long)i * g->w;
            if (k == 5) {
#pragma omp simd simdlen(8)
                for (int j = 0; j < tx; j++) {
                    e[j + 1] = s[2 * j];
                    o[j + 1] = s[2 * j + 1];
                }
            } else {
#pragma omp simd simdlen(8)
                for (int j = 0; j < tx; j++) {
                    o[j] = s[2 * j];
                    e[j + 1] = s[2 * j + 1];
                }
            }
        }
        for (int r = 0; r < pr; r++) {
            const real_t *e = even + (long)r * pc, *o = odd + (long)r * pc;
            real_t *out = across + (long)r * a * tx;
#pragma omp simd simdlen(8)
            for (int t = 0; t < tx; t++) {
                if (k == 5)
                    INPUT_POINTS5(e[t], o[t], e[t + 1], o[t + 1], e[t + 2], o[t + 2], (out + t),
                                  tx);
                else
                    INPUT_POINTS3(e[t], o[t], e[t + 1], o[t + 1], (out + t), tx);
            }
        }
        real_t *vc = v + (long)c * g->points * g->cols;
        const long step = (long)a * tx, at = (long)a * g->cols;
        for (int ty = 0; ty < g->ty; ty++)
            for (int b = 0; b < a; b++) {
                const real_t *d = across + 2 * ty * step + (long)b * tx;
                real_t *out = vc + (long)b * g->cols + (long)ty * tx;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++) {
                    if (k == 5)
                        INPUT_POINTS5(d[t], d[t + step], d[t + 2 * step], d[t + 3 * step],
                                      d[t + 4 * step], d[t + 5 * step], (out + t), at);
                    else
                        INPUT_POINTS3(d[t], d[t + step], d[t + 2 * step], d[t + 3 * step],
                                      (out + t), at);
                }
            }
    }
}

/* A^T applied to a tile's a values: two outputs. */
#define OUTPUT_POINTS5(m0, m1, m2, m3, m4, m5, y0, y1) \
    do {                                               \
        y0 = (m0) + (m1) + (m2) + (m3) + (m4);         \
        y1 = (m1) - (m2) + 2 * ((m3) - (m4)) + (m5);   \
    } while (0)
#define OUTPUT_POINTS3(m0, m1, m2, m3, y0, y1) \
    do {                                       \
        y0 = (m0) + (m1) + (m2);               \
        y1 = (m1) - (m2) - (m3);               \
    } while (0)

/* The products m [co][P][cols] of image n back into y (CNHW), plus the
 * bias; q is the thread's room for the rows of a tile row. */
static inline __attribute__((always_inline)) void
output_body(const wino_shape *g, const real_t *m, const real_t *bias, int batch, int n,
            real_t *q, real_t *y, const int tx, const int k)
{
    const int a = k + 1;
    const long plane = (long)g->h * g->w, step = (long)a * g->cols;
    real_t *down = q, *pair = down + 2L * a * tx;   /* down [2][a][tx], pair [2][tx] */
    for (int o = 0; o < g->co; o++) {
        const real_t *mo = m + (long)o * g->points * g->cols;
        const real_t b0 = bias ? bias[o] : 0;
        real_t *dst = y + ((long)o * batch + n) * plane;
        for (int ty = 0; ty < g->ty; ty++) {
            for (int b = 0; b < a; b++) {
                const real_t *d = mo + (long)b * g->cols + (long)ty * tx;
                real_t *r0 = down + (long)b * tx, *r1 = r0 + (long)a * tx;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++) {
                    if (k == 5)
                        OUTPUT_POINTS5(d[t], d[t + step], d[t + 2 * step], d[t + 3 * step],
                                       d[t + 4 * step], d[t + 5 * step], r0[t], r1[t]);
                    else
                        OUTPUT_POINTS3(d[t], d[t + step], d[t + 2 * step], d[t + 3 * step],
                                       r0[t], r1[t]);
                }
            }
            for (int i = 0; i < 2; i++) {
                const real_t *d = down + (long)i * a * tx;
                real_t *ev = pair, *od = pair + tx;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++) {
                    if (k == 5)
                        OUTPUT_POINTS5(d[t], d[t + tx], d[t + 2 * tx], d[t + 3 * tx],
                                       d[t + 4 * tx], d[t + 5 * tx], ev[t], od[t]);
                    else
                        OUTPUT_POINTS3(d[t], d[t + tx], d[t + 2 * tx], d[t + 3 * tx], ev[t],
                                       od[t]);
                }
                real_t *row = dst + (long)(2 * ty + i) * g->w;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++) {
                    row[2 * t] = ev[t] + b0;
                    row[2 * t + 1] = od[t] + b0;
                }
            }
        }
    }
}

/* The tile loops of a known length: each body is built for the kernel's
 * side k and, for the seed CNN's layers (16-wide planes of 5x5 kernels,
 * 8-wide of 3x3), for rows of tx tiles as a constant: with the count known
 * only at run time the compiler's 16-lane loop never ran and the
 * transforms went scalar, 3x slower.  BY_SHAPE(body, (args)) calls
 * body(args, tx, k). */
#define WITH_8_5(...) (__VA_ARGS__, 8, 5)
#define WITH_TX_5(...) (__VA_ARGS__, g->tx, 5)
#define WITH_4_3(...) (__VA_ARGS__, 4, 3)
#define WITH_TX_3(...) (__VA_ARGS__, g->tx, 3)
#define BY_SHAPE(body, ARGS)                                                  \
    (g->k == 5 ? (g->tx == 8 ? body WITH_8_5 ARGS : body WITH_TX_5 ARGS)      \
               : (g->tx == 4 ? body WITH_4_3 ARGS : body WITH_TX_3 ARGS))

/* The transforms built for each instruction set (conv_direct.h): the same
 * operations in the same order, so the same bits.  WINO_TRANSFORM(name,
 * body, (params), (args)) defines name, which calls body by BY_SHAPE as
 * built for the instruction set in use. */
#define WINO_ISA_PARAMS(...) (__VA_ARGS__, enum conv_isa isa)
#define WINO_TRANSFORM(name, BODY, PARAMS, ARGS)                                        \
    static inline __attribute__((always_inline)) void name##_rows WINO_ISA_PARAMS PARAMS \
    {                                                                                   \
        (void)isa;                                                                      \
        BY_SHAPE(BODY, ARGS);                                                           \
    }                                                                                   \
    ISA_DISPATCH(name, name##_rows, PARAMS, ARGS)

WINO_TRANSFORM(input_transform, input_body,
               (const wino_shape *g, const real_t *x, int batch, int n, real_t *v),
               (g, x, batch, n, v))
WINO_TRANSFORM(output_transform, output_body,
               (const wino_shape *g, const real_t *m, const real_t *bias, int batch, int n,
                real_t *q, real_t *y),
               (g, m, bias, batch, n, q, y))

/* The transpose of A^T on two values: the output gradient's side of the
 * weight gradient, two values to a. */
#define GRAD_POINTS5(e, o, out, at)           \
    do {                                      \
        out[0 * (at)] = (e);                  \
        out[1 * (at)] = (e) + (o);            \
        out[2 * (at)] = (e) - (o);            \
        out[3 * (at)] = (e) + 2 * (o);        \
        out[4 * (at)] = (e) - 2 * (o);        \
        out[5 * (at)] = (o);                  \
    } while (0)
#define GRAD_POINTS3(e, o, out, at)           \
    do {                                      \
        out[0 * (at)] = (e);                  \
        out[1 * (at)] = (e) + (o);            \
        out[2 * (at)] = (e) - (o);            \
        out[3 * (at)] = -(o);                 \
    } while (0)

/* Image n of the output gradient dy (CNHW, co channels) into
 * w [co][P][cols]: each 2x2 tile carried to a x a (A dy A^T). */
static inline __attribute__((always_inline)) void
grad_body(const wino_shape *g, const real_t *dy, int batch, int n, real_t *w, const int tx,
          const int k)
{
    const int a = k + 1;
    real_t rows[2 * g->h * tx + g->h * a * tx];
    real_t *even = rows, *odd = even + (long)g->h * tx, *across = odd + (long)g->h * tx;
    const long plane = (long)g->h * g->w, step = (long)a * tx, at = (long)a * g->cols;
    for (int o = 0; o < g->co; o++) {
        const real_t *src = dy + ((long)o * batch + n) * plane;
        if (o + 1 < g->co)
            prefetch_plane(src + (long)batch * plane, plane);
        for (int i = 0; i < g->h; i++) {
            const real_t *s = src + (long)i * g->w;
#pragma omp simd simdlen(8)
            for (int j = 0; j < tx; j++) {
                even[(long)i * tx + j] = s[2 * j];
                odd[(long)i * tx + j] = s[2 * j + 1];
            }
        }
        for (int i = 0; i < g->h; i++) {
            const real_t *e = even + (long)i * tx, *d = odd + (long)i * tx;
            real_t *out = across + (long)i * step;
#pragma omp simd simdlen(8)
            for (int t = 0; t < tx; t++) {
                if (k == 5)
                    GRAD_POINTS5(e[t], d[t], (out + t), tx);
                else
                    GRAD_POINTS3(e[t], d[t], (out + t), tx);
            }
        }
        real_t *wo = w + (long)o * g->points * g->cols;
        for (int ty = 0; ty < g->ty; ty++)
            for (int b = 0; b < a; b++) {
                const real_t *d = across + 2 * ty * step + (long)b * tx;
                real_t *out = wo + (long)b * g->cols + (long)ty * tx;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++) {
                    if (k == 5)
                        GRAD_POINTS5(d[t], d[t + step], (out + t), at);
                    else
                        GRAD_POINTS3(d[t], d[t + step], (out + t), at);
                }
            }
    }
}

WINO_TRANSFORM(grad_transform, grad_body,
               (const wino_shape *g, const real_t *dy, int batch, int n, real_t *w),
               (g, dy, batch, n, w))

/* Pairs (output, input channel) of the kernel gradient a block. */
#define GRADIENT_BLOCK 16

/* The weights [p0, p1) of the kernel's gradient dw [co][ci][k][k] from the
 * sums in the transform domain, parts [P][co][ci] `stride` reals apart:
 * the parts added up in thread order, then G^T s G.  A block of pairs at a
 * time, side by side, so that every loop over them is a vector loop (a
 * pair at a time, the seed CNN's third layer spent 1.3 ms of CPU a
 * training step here); each pair's arithmetic in the same order. */
static inline __attribute__((always_inline)) void
gradient_body(const wino_shape *g, const real_t *parts, long stride, int nparts, long p0,
              long p1, real_t *dw, const int k)
{
    /* G^T [k][a]: tap j's share in each point (KERNEL_POINTS5, 3) */
    static const real_t gt5[5][6] = {
        {(real_t)1 / 4, (real_t)-1 / 6, (real_t)-1 / 6, (real_t)1 / 24, (real_t)1 / 24, 0},
        {0, (real_t)-1 / 6, (real_t)1 / 6, (real_t)1 / 12, (real_t)-1 / 12, 0},
        {0, (real_t)-1 / 6, (real_t)-1 / 6, (real_t)1 / 6, (real_t)1 / 6, 0},
        {0, (real_t)-1 / 6, (real_t)1 / 6, (real_t)1 / 3, (real_t)-1 / 3, 0},
        {0, (real_t)-1 / 6, (real_t)-1 / 6, (real_t)2 / 3, (real_t)2 / 3, 1},
    };
    static const real_t gt3[3][4] = {
        {1, (real_t)1 / 2, (real_t)1 / 2, 0},
        {0, (real_t)1 / 2, (real_t)-1 / 2, 0},
        {0, (real_t)1 / 2, (real_t)1 / 2, 1},
    };
    const int a = k + 1;
    const real_t *gt = k == 5 ? &gt5[0][0] : &gt3[0][0];
    const long pair_stride = (long)g->co * g->ci;
    for (long p = p0; p < p1; p += GRADIENT_BLOCK) {
        const int np = p1 - p < GRADIENT_BLOCK ? (int)(p1 - p) : GRADIENT_BLOCK;
        real_t sum[MAX_SIDE * MAX_SIDE][GRADIENT_BLOCK], half[MAX_SIDE][5][GRADIENT_BLOCK];
        real_t out[25][GRADIENT_BLOCK];
        for (int q = 0; q < a * a; q++) {
            const real_t *src = parts + q * pair_stride + p;
#pragma omp simd
            for (int e = 0; e < np; e++) {
                real_t v = src[e];
                for (int j = 1; j < nparts; j++)
                    v += src[j * stride + e];
                sum[q][e] = v;
            }
        }
        for (int i = 0; i < a; i++)
            for (int kx = 0; kx < k; kx++)
#pragma omp simd
                for (int e = 0; e < np; e++) {
                    real_t v = 0;
                    for (int b = 0; b < a; b++)
                        v += sum[i * a + b][e] * gt[kx * a + b];
                    half[i][kx][e] = v;
                }
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
#pragma omp simd
                for (int e = 0; e < np; e++) {
                    real_t v = 0;
                    for (int i = 0; i < a; i++)
                        v += gt[ky * a + i] * half[i][kx][e];
                    out[ky * k + kx][e] = v;
                }
        for (int e = 0; e < np; e++)
            for (int t = 0; t < k * k; t++)
                dw[(p + e) * k * k + t] = out[t][e];
    }
}

static inline __attribute__((always_inline)) void
gradient_by_side(const wino_shape *g, const real_t *parts, long stride, int nparts, long p0,
                 long p1, real_t *dw, enum conv_isa isa)
{
    (void)isa;
    if (g->k == 5)
        gradient_body(g, parts, stride, nparts, p0, p1, dw, 5);
    else
        gradient_body(g, parts, stride, nparts, p0, p1, dw, 3);
}

ISA_DISPATCH(kernel_gradient, gradient_by_side,
             (const wino_shape *g, const real_t *parts, long stride, int nparts, long p0,
              long p1, real_t *dw),
             (g, parts, stride, nparts, p0, p1, dw))

/* Columns [from, g->cols) of the rows of a group's transforms (rows of
 * them), zeroed: the room of the images a last, short group lacks, so
 * that its products keep the full width (and each image the bits it has
 * in a full group) and add nothing to the weight gradient's sums. */
static void group_tail_zero(const wino_shape *g, real_t *t, long rows, long from)
{
    for (long r = 0; r < rows && from < g->cols; r++)
        memset(t + r * g->cols + from, 0, sizeof *t * (size_t)(g->cols - from));
}

/* The groups [*first, *end) thread t of used takes, in order. */
static void group_share(const wino_shape *g, int batch, int t, long used, int *first, int *end)
{
    const long groups = (batch + g->group - 1) / g->group;
    *first = (int)(groups * t / used);
    *end = (int)(groups * (t + 1) / used);
}

/* y (co channels) from x (ci channels), both CNHW of g's plane; col holds
 * the transformed kernels, then each working thread's room.  Threads
 * beyond what col has room for, or beyond the groups, only help with the
 * kernels. */
static void wino_run(const wino_shape *g, const real_t *x, int batch, const real_t *weight,
                     int flip, const real_t *bias, long col_len, real_t *col, real_t *y)
{
    real_t *u = col;
    const long per = thread_reals(g), rooms = (col_len - kernel_reals(g)) / per;
    const long cols = g->cols, ld = g->points * cols, groups = (batch + g->group - 1) / g->group;
#pragma omp parallel
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        long o0, o1;
        thread_share(g->co, &o0, &o1);
        kernel_transform(g, weight, flip, (int)o0, (int)o1, u);
#pragma omp barrier
        long used = nt < groups ? nt : groups;
        if (used > rooms)
            used = rooms;
        if (t < used) {
            real_t *v = col + kernel_reals(g) + per * t;
            real_t *m = v + (long)g->ci * ld, *q = m + (long)g->co * ld;
            int first, end;
            group_share(g, batch, t, used, &first, &end);
            for (int k = first; k < end; k++) {
                const int n0 = k * g->group;
                const int nb = batch - n0 < g->group ? batch - n0 : g->group;
                for (int j = 0; j < nb; j++)
                    input_transform(g, x, batch, n0 + j, v + j * g->tiles);
                group_tail_zero(g, v, (long)g->ci * g->points, nb * g->tiles);
                for (int p = 0; p < g->points; p++)
                    gemm(0, 0, g->co, (int)cols, g->ci, 1, u + (long)p * g->co * g->ci, g->ci,
                         v + p * cols, (int)ld, 0, m + p * cols, (int)ld);
                for (int j = 0; j < nb; j++)
                    output_transform(g, m + j * g->tiles, bias, batch, n0 + j, q, y);
            }
        }
    }
}

void winograd_forward(const conv_shape *s, const real_t *x, int batch, const real_t *weight,
                      const real_t *bias, real_t *col, real_t *y)
{
    const wino_shape g = wino_shape_of(s->kh, s->in_c, s->out_c, s->in_h, s->in_w);
    wino_run(&g, x, batch, weight, 0, bias, col_reals(s, batch), col, y);
}

void winograd_backward_input(const conv_shape *s, const real_t *dy, int batch,
                             const real_t *weight, real_t *col, real_t *dx)
{
    const wino_shape g = wino_shape_of(s->kh, s->out_c, s->in_c, s->in_h, s->in_w);
    wino_run(&g, dy, batch, weight, 1, NULL, col_reals(s, batch), col, dx);
}

void winograd_backward_params(const conv_shape *s, const real_t *x, const real_t *dy, int batch,
                              real_t *col, real_t *dw)
{
    const wino_shape g = wino_shape_of(s->kh, s->in_c, s->out_c, s->in_h, s->in_w);
    const long per = params_reals(&g), ld = g.points * g.cols;
    const long rooms = col_reals(s, batch) / per, groups = (batch + g.group - 1) / g.group;
#pragma omp parallel
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        long used = nt < groups ? nt : groups;
        if (used > rooms)
            used = rooms;
        if (t < used) {
            real_t *v = col + per * t, *w = v + (long)g.ci * ld;
            real_t *part = w + (long)g.co * ld;
            int first, end;
            group_share(&g, batch, t, used, &first, &end);
            for (int k = first; k < end; k++) {
                const int n0 = k * g.group;
                const int nb = batch - n0 < g.group ? batch - n0 : g.group;
                for (int j = 0; j < nb; j++) {
                    input_transform(&g, x, batch, n0 + j, v + j * g.tiles);
                    grad_transform(&g, dy, batch, n0 + j, w + j * g.tiles);
                }
                group_tail_zero(&g, v, (long)g.ci * g.points, nb * g.tiles);
                group_tail_zero(&g, w, (long)g.co * g.points, nb * g.tiles);
                for (int p = 0; p < g.points; p++)
                    gemm(0, 1, g.co, g.ci, (int)g.cols, 1, w + p * g.cols, (int)ld,
                         v + p * g.cols, (int)ld, k > first, part + (long)p * g.co * g.ci,
                         g.ci);
            }
        }
#pragma omp barrier
        long p0, p1;
        thread_share((long)g.co * g.ci, &p0, &p1);
        kernel_gradient(&g, col + (long)g.points * g.cols * (g.ci + g.co), per, (int)used, p0,
                        p1, dw);
    }
}
