/* winograd.c - F(2x2, 5x5) convolution, forward, to the input and to the
 * weights; see winograd.h.
 *
 * The layouts keep each image's transforms contiguous by channel: tiles
 * v[in_c][36][tiles], products m[out_c][36][tiles] (the output gradient's
 * tiles likewise), so that point p's matrices are v + p * tiles and
 * m + p * tiles with a leading dimension of 36 * tiles.  Stored
 * point-major instead ([36][in_c][tiles]), the 36 streams a channel's
 * transform writes lie a power of two apart and fight over the same cache
 * sets: the input transform ran 7x slower. */
#include <omp.h>
#include <string.h>
#include "conv_direct.h"
#include "parallel.h"
#include "winograd.h"

#define POINTS 36

typedef struct wino_shape {
    int ci, co;             /* channels in and out of the transform's product */
    int h, w;               /* plane, the same in and out */
    int ty, tx;             /* tiles down and across */
    long tiles;
} wino_shape;

static wino_shape wino_shape_of(int ci, int co, int h, int w)
{
    const wino_shape g = {ci, co, h, w, h / 2, w / 2, (long)(h / 2) * (w / 2)};
    return g;
}

/* The transformed kernels, [36][co][ci]. */
static long kernel_reals(const wino_shape *g)
{
    return (long)POINTS * g->co * g->ci;
}

/* A thread's room: one image's tiles and products, and the output
 * transform's two rows of a tile row (output_body's q). */
static long thread_reals(const wino_shape *g)
{
    return (long)POINTS * g->tiles * (g->ci + g->co) + 14L * g->tx;
}

/* A thread's room for the weight gradient: one image's tiles and output
 * gradient, and its part of the sums, [36][co][ci]. */
static long params_reals(const wino_shape *g)
{
    return (long)POINTS * (g->tiles * (g->ci + g->co) + (long)g->co * g->ci);
}

int winograd_fits(const conv_shape *s, int batch)
{
    if (s->kh != 5 || s->kw != 5 || s->stride_h != 1 || s->stride_w != 1 || s->pad_h != 2 ||
        s->pad_w != 2 || s->out_h != s->in_h || s->out_w != s->in_w || s->in_h % 2 ||
        s->in_w % 2 || s->in_h > WINOGRAD_MAX_SIDE || s->in_w > WINOGRAD_MAX_SIDE ||
        s->in_c < WINOGRAD_MIN_CHANNELS || s->out_c < WINOGRAD_MIN_CHANNELS ||
        batch < WINOGRAD_MIN_BATCH)
        return 0;
    const wino_shape g = wino_shape_of(s->in_c, s->out_c, s->in_h, s->in_w);
    const long col = (long)s->in_c * 25 * batch * s->out_h * s->out_w;
    return kernel_reals(&g) + thread_reals(&g) <= col && params_reals(&g) <= col;
}

/* G applied to five taps: the kernel's side of the transform, its six
 * values to t[0], t[step], ... t[5 step]. */
static inline void kernel_points(real_t g0, real_t g1, real_t g2, real_t g3, real_t g4,
                                 real_t *t, long step)
{
    t[0] = g0 / 4;
    t[step] = -(g0 + g1 + g2 + g3 + g4) / 6;
    t[2 * step] = -(g0 - g1 + g2 - g3 + g4) / 6;
    t[3 * step] = (g0 + 2 * g1 + 4 * g2 + 8 * g3 + 16 * g4) / 24;
    t[4 * step] = (g0 - 2 * g1 + 4 * g2 - 8 * g3 + 16 * g4) / 24;
    t[5 * step] = g4;
}

/* Input channels a block of the kernel transform. */
#define KERNEL_BLOCK 64

/* Rows [o0, o1) of the transformed kernels u [36][co][ci]: pair (o, c) is
 * G g G^T of the weight's kernel (o, c), or with flip, the input
 * gradient's, the weight's (c, o) turned half a circle.  A block of input
 * channels at a time, each tap's values side by side, so that the loops
 * over channels are vector loops storing whole rows of u (a pair at a
 * time, its 36 values a row of u apart, took 1.3 ms a training step of the
 * seed CNN); the arithmetic is kernel_points', the same bits. */
static void kernel_transform(const wino_shape *g, const real_t *weight, int flip, int o0,
                             int o1, real_t *u)
{
    const long row = (long)g->co * g->ci;
    real_t k[25][KERNEL_BLOCK], t[5][6][KERNEL_BLOCK];
    for (int o = o0; o < o1; o++)
        for (int c0 = 0; c0 < g->ci; c0 += KERNEL_BLOCK) {
            const int nc = g->ci - c0 < KERNEL_BLOCK ? g->ci - c0 : KERNEL_BLOCK;
            for (int c = 0; c < nc; c++) {
                const real_t *src =
                    weight + (flip ? (long)(c0 + c) * g->co + o : (long)o * g->ci + c0 + c) * 25;
                for (int i = 0; i < 25; i++)
                    k[i][c] = src[flip ? 24 - i : i];
            }
            for (int col = 0; col < 5; col++)
#pragma omp simd
                for (int c = 0; c < nc; c++)
                    kernel_points(k[col][c], k[5 + col][c], k[10 + col][c], k[15 + col][c],
                                  k[20 + col][c], &t[col][0][c], KERNEL_BLOCK);
            for (int a = 0; a < 6; a++) {
                real_t *dst = u + (long)a * 6 * row + (long)o * g->ci + c0;
#pragma omp simd
                for (int c = 0; c < nc; c++)
                    kernel_points(t[0][a][c], t[1][a][c], t[2][a][c], t[3][a][c], t[4][a][c],
                                  dst + c, row);
            }
        }
}

/* The next channel's plane of an image, a page or more away (CNHW): no
 * hardware prefetcher follows the jump. */
static inline void prefetch_plane(const real_t *p, long plane)
{
    for (long i = 0; i < plane; i += 64 / (long)sizeof *p)
        __builtin_prefetch(p + i);
}

/* B^T applied to six values: the input's side. */
#define INPUT_POINTS(d0, d1, d2, d3, d4, d5, out, at)                                 \
    do {                                                                              \
        out[0 * (at)] = 4 * (d0) - 5 * (d2) + (d4);                                  \
        out[1 * (at)] = -4 * ((d1) + (d2)) + (d3) + (d4);                            \
        out[2 * (at)] = 4 * ((d1) - (d2)) - (d3) + (d4);                             \
        out[3 * (at)] = 2 * ((d3) - (d1)) - (d2) + (d4);                             \
        out[4 * (at)] = 2 * ((d1) - (d3)) - (d2) + (d4);                             \
        out[5 * (at)] = 4 * (d1) - 5 * (d3) + (d5);                                  \
    } while (0)

/* Image n of x (CNHW, batch images) into v [ci][36][tiles], by way of the
 * padded plane's even and odd columns and its rows transformed across:
 * rows, 19 KB at 32x32 and 70 KB at WINOGRAD_MAX_SIDE, on the stack (in
 * the thread's room the transforms ran 10% slower). */
static inline __attribute__((always_inline)) void
input_body(const wino_shape *g, const real_t *x, int batch, int n, real_t *v, const int tx)
{
    const int pr = g->h + 4, pc = tx + 2;
    real_t rows[2 * pr * pc + pr * 6 * tx];
    real_t *even = rows, *odd = even + (long)pr * pc, *across = odd + (long)pr * pc;
    const long plane = (long)g->h * g->w;
    memset(even, 0, sizeof *even * 2 * pr * pc);
    for (int c = 0; c < g->ci; c++) {
        const real_t *src = x + ((long)c * batch + n) * plane;
        if (c + 1 < g->ci)
            prefetch_plane(src + (long)batch * plane, plane);
        /* padded column 2j is the plane's 2j - 2, 2j + 1 its 2j - 1 */
        for (int i = 0; i < g->h; i++) {
            real_t *e = even + (long)(i + 2) * pc + 1, *o = odd + (long)(i + 2) * pc + 1;
            const real_t *s = src + (long)i * g->w;
#pragma omp simd simdlen(8)
            for (int j = 0; j < tx; j++) {
                e[j] = s[2 * j];
                o[j] = s[2 * j + 1];
            }
        }
        for (int r = 0; r < pr; r++) {
            const real_t *e = even + (long)r * pc, *o = odd + (long)r * pc;
            real_t *out = across + (long)r * 6 * tx;
#pragma omp simd simdlen(8)
            for (int t = 0; t < tx; t++)
                INPUT_POINTS(e[t], o[t], e[t + 1], o[t + 1], e[t + 2], o[t + 2], (out + t), tx);
        }
        real_t *vc = v + (long)c * POINTS * g->tiles;
        for (int ty = 0; ty < g->ty; ty++)
            for (int b = 0; b < 6; b++) {
                const real_t *d = across + (long)2 * ty * 6 * tx + (long)b * tx;
                const long step = 6L * tx;
                real_t *out = vc + (long)b * g->tiles + (long)ty * tx;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++)
                    INPUT_POINTS(d[t], d[t + step], d[t + 2 * step], d[t + 3 * step],
                                 d[t + 4 * step], d[t + 5 * step], (out + t), 6 * g->tiles);
            }
    }
}

/* A^T applied to six values: two outputs. */
#define OUTPUT_POINTS(m0, m1, m2, m3, m4, m5, y0, y1) \
    do {                                              \
        y0 = (m0) + (m1) + (m2) + (m3) + (m4);        \
        y1 = (m1) - (m2) + 2 * ((m3) - (m4)) + (m5);  \
    } while (0)

/* The products m [co][36][tiles] of image n back into y (CNHW), plus the
 * bias; q is the thread's room for two rows of a tile row. */
static inline __attribute__((always_inline)) void
output_body(const wino_shape *g, const real_t *m, const real_t *bias, int batch, int n,
            real_t *q, real_t *y, const int tx)
{
    const long plane = (long)g->h * g->w, step = g->tiles;
    real_t *down = q, *pair = down + 12L * tx;      /* down [2][6][tx], pair [2][tx] */
    for (int o = 0; o < g->co; o++) {
        const real_t *mo = m + (long)o * POINTS * g->tiles;
        const real_t b0 = bias ? bias[o] : 0;
        real_t *dst = y + ((long)o * batch + n) * plane;
        for (int ty = 0; ty < g->ty; ty++) {
            for (int b = 0; b < 6; b++) {
                const real_t *d = mo + (long)b * step + (long)ty * tx;
                real_t *r0 = down + (long)b * tx, *r1 = r0 + 6L * tx;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++)
                    OUTPUT_POINTS(d[t], d[t + 6 * step], d[t + 12 * step], d[t + 18 * step],
                                  d[t + 24 * step], d[t + 30 * step], r0[t], r1[t]);
            }
            for (int i = 0; i < 2; i++) {
                const real_t *d = down + (long)i * 6 * tx;
                real_t *ev = pair, *od = pair + tx;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++)
                    OUTPUT_POINTS(d[t], d[t + tx], d[t + 2 * tx], d[t + 3 * tx], d[t + 4 * tx],
                                  d[t + 5 * tx], ev[t], od[t]);
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

/* Rows of 8 tiles (16-wide planes, the seed CNN's second layer) get a
 * body of their own, the tile loops a known 8 lanes: with the count known
 * only at run time the compiler's 16-lane loop never ran and the
 * transforms went scalar, 3x slower.  BY_TILE_ROWS(body, (args)) calls
 * body(args, tx) with tx a constant 8 there, g->tx elsewhere. */
#define WITH_8(...) (__VA_ARGS__, 8)
#define WITH_TX(...) (__VA_ARGS__, g->tx)
#define BY_TILE_ROWS(body, ARGS) (g->tx == 8 ? body WITH_8 ARGS : body WITH_TX ARGS)

/* The transforms built for each instruction set (conv_direct.h): the same
 * operations in the same order, so the same bits.  WINO_TRANSFORM(name,
 * body, (params), (args)) defines name, which calls body by BY_TILE_ROWS
 * as built for the instruction set in use. */
#define WINO_ISA_PARAMS(...) (__VA_ARGS__, enum conv_isa isa)
#define WINO_TRANSFORM(name, BODY, PARAMS, ARGS)                                        \
    static inline __attribute__((always_inline)) void name##_rows WINO_ISA_PARAMS PARAMS \
    {                                                                                   \
        (void)isa;                                                                      \
        BY_TILE_ROWS(BODY, ARGS);                                                       \
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
 * weight gradient, two values to six. */
#define GRAD_POINTS(e, o, out, at)            \
    do {                                      \
        out[0 * (at)] = (e);                  \
        out[1 * (at)] = (e) + (o);            \
        out[2 * (at)] = (e) - (o);            \
        out[3 * (at)] = (e) + 2 * (o);        \
        out[4 * (at)] = (e) - 2 * (o);        \
        out[5 * (at)] = (o);                  \
    } while (0)

/* Image n of the output gradient dy (CNHW, co channels) into
 * w [co][36][tiles]: each 2x2 tile carried to 6x6 (A dy A^T). */
static inline __attribute__((always_inline)) void
grad_body(const wino_shape *g, const real_t *dy, int batch, int n, real_t *w, const int tx)
{
    real_t rows[2 * g->h * tx + g->h * 6 * tx];
    real_t *even = rows, *odd = even + (long)g->h * tx, *across = odd + (long)g->h * tx;
    const long plane = (long)g->h * g->w;
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
            real_t *out = across + (long)i * 6 * tx;
#pragma omp simd simdlen(8)
            for (int t = 0; t < tx; t++)
                GRAD_POINTS(e[t], d[t], (out + t), tx);
        }
        real_t *wo = w + (long)o * POINTS * g->tiles;
        for (int ty = 0; ty < g->ty; ty++)
            for (int b = 0; b < 6; b++) {
                const real_t *d = across + (long)2 * ty * 6 * tx + (long)b * tx;
                real_t *out = wo + (long)b * g->tiles + (long)ty * tx;
#pragma omp simd simdlen(8)
                for (int t = 0; t < tx; t++)
                    GRAD_POINTS(d[t], d[t + 6 * tx], (out + t), 6 * g->tiles);
            }
    }
}

WINO_TRANSFORM(grad_transform, grad_body,
               (const wino_shape *g, const real_t *dy, int batch, int n, real_t *w),
               (g, dy, batch, n, w))

/* The weights [p0, p1) of the kernel's gradient dw [co][ci][5][5] from the
 * sums in the transform domain, parts [36][co][ci] `stride` reals apart:
 * the parts added up in thread order, then G^T s G. */
static void kernel_gradient(const wino_shape *g, const real_t *parts, long stride, int nparts,
                            long p0, long p1, real_t *dw)
{
    static const real_t gt[5][6] = {
        {(real_t)1 / 4, (real_t)-1 / 6, (real_t)-1 / 6, (real_t)1 / 24, (real_t)1 / 24, 0},
        {0, (real_t)-1 / 6, (real_t)1 / 6, (real_t)1 / 12, (real_t)-1 / 12, 0},
        {0, (real_t)-1 / 6, (real_t)-1 / 6, (real_t)1 / 6, (real_t)1 / 6, 0},
        {0, (real_t)-1 / 6, (real_t)1 / 6, (real_t)1 / 3, (real_t)-1 / 3, 0},
        {0, (real_t)-1 / 6, (real_t)-1 / 6, (real_t)2 / 3, (real_t)2 / 3, 1},
    };
    const long pair_stride = (long)g->co * g->ci;
    for (long p = p0; p < p1; p++) {
        real_t sum[6][6], half[6][5];
        for (int q = 0; q < POINTS; q++) {
            real_t v = parts[q * pair_stride + p];
            for (int k = 1; k < nparts; k++)
                v += parts[k * stride + q * pair_stride + p];
            sum[q / 6][q % 6] = v;
        }
        for (int a = 0; a < 6; a++)
            for (int kx = 0; kx < 5; kx++) {
                real_t v = 0;
                for (int b = 0; b < 6; b++)
                    v += sum[a][b] * gt[kx][b];
                half[a][kx] = v;
            }
        real_t *out = dw + p * 25;
        for (int ky = 0; ky < 5; ky++)
            for (int kx = 0; kx < 5; kx++) {
                real_t v = 0;
                for (int a = 0; a < 6; a++)
                    v += gt[ky][a] * half[a][kx];
                out[ky * 5 + kx] = v;
            }
    }
}

/* y (co channels) from x (ci channels), both CNHW of g's plane; col holds
 * the transformed kernels, then each working thread's room.  Threads
 * beyond what col has room for, or beyond the batch, only help with the
 * kernels. */
static void wino_run(const wino_shape *g, const real_t *x, int batch, const real_t *weight,
                     int flip, const real_t *bias, long col_len, real_t *col, real_t *y)
{
    real_t *u = col;
    const long per = thread_reals(g), rooms = (col_len - kernel_reals(g)) / per;
    const long tiles = g->tiles, ld = POINTS * tiles;
#pragma omp parallel
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        long o0, o1;
        thread_share(g->co, &o0, &o1);
        kernel_transform(g, weight, flip, (int)o0, (int)o1, u);
#pragma omp barrier
        long used = nt < batch ? nt : batch;
        if (used > rooms)
            used = rooms;
        if (t < used) {
            real_t *v = col + kernel_reals(g) + per * t;
            real_t *m = v + (long)g->ci * ld, *q = m + (long)g->co * ld;
            const int first = (int)(batch * t / used), end = (int)(batch * (t + 1) / used);
            for (int n = first; n < end; n++) {
                input_transform(g, x, batch, n, v);
                for (int p = 0; p < POINTS; p++)
                    gemm(0, 0, g->co, (int)tiles, g->ci, 1, u + (long)p * g->co * g->ci, g->ci,
                         v + p * tiles, (int)ld, 0, m + p * tiles, (int)ld);
                output_transform(g, m, bias, batch, n, q, y);
            }
        }
    }
}

void winograd_forward(const conv_shape *s, const real_t *x, int batch, const real_t *weight,
                      const real_t *bias, real_t *col, real_t *y)
{
    const wino_shape g = wino_shape_of(s->in_c, s->out_c, s->in_h, s->in_w);
    wino_run(&g, x, batch, weight, 0, bias, (long)s->in_c * 25 * batch * s->out_h * s->out_w,
             col, y);
}

void winograd_backward_input(const conv_shape *s, const real_t *dy, int batch,
                             const real_t *weight, real_t *col, real_t *dx)
{
    const wino_shape g = wino_shape_of(s->out_c, s->in_c, s->in_h, s->in_w);
    wino_run(&g, dy, batch, weight, 1, NULL, (long)s->in_c * 25 * batch * s->out_h * s->out_w,
             col, dx);
}

void winograd_backward_params(const conv_shape *s, const real_t *x, const real_t *dy, int batch,
                              real_t *col, real_t *dw)
{
    const wino_shape g = wino_shape_of(s->in_c, s->out_c, s->in_h, s->in_w);
    const long per = params_reals(&g), ld = POINTS * g.tiles;
    const long rooms = (long)s->in_c * 25 * batch * s->out_h * s->out_w / per;
#pragma omp parallel
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        long used = nt < batch ? nt : batch;
        if (used > rooms)
            used = rooms;
        if (t < used) {
            real_t *v = col + per * t, *w = v + (long)g.ci * ld;
            real_t *part = w + (long)g.co * ld;
            const int first = (int)(batch * t / used), end = (int)(batch * (t + 1) / used);
            for (int n = first; n < end; n++) {
                input_transform(&g, x, batch, n, v);
                grad_transform(&g, dy, batch, n, w);
                for (int p = 0; p < POINTS; p++)
                    gemm(0, 1, g.co, g.ci, (int)g.tiles, 1, w + p * g.tiles, (int)ld,
                         v + p * g.tiles, (int)ld, n > first, part + (long)p * g.co * g.ci,
                         g.ci);
            }
        }
#pragma omp barrier
        long p0, p1;
        thread_share((long)g.co * g.ci, &p0, &p1);
        kernel_gradient(&g, col + (long)POINTS * g.tiles * (g.ci + g.co), per, (int)used, p0,
                        p1, dw);
    }
}
