/* orthogonal.c - orthogonality penalties and their gradients; see
 * orthogonal.h. */
#include <assert.h>
#include <math.h>
#include "kernels.h"
#include "orthogonal.h"
#include "parallel.h"
#include "reduce.h"

/* Block edges of a large Gram fall on multiples of this (full BLAS tiles). */
#define GRAM_ALIGN 16

/* A large Gram W W^T (W [m][cols] wide, G [m][m]) is formed in
 * ORTH_GRAM_PIECES single-threaded pieces of equal work, a piece the Gram
 * of a block of W's columns (its lower triangle, by syrk), summed in the
 * pieces' order and mirrored by orthogonal_finish: G comes out exactly
 * symmetric and the same bits whatever runs the pieces.  A thread whose
 * pieces are the columns its gradient slabs also take (regularize.c)
 * reads only those columns of W.  The number of pieces: 1 where G is one
 * product (a narrow W, or a small one). */
int orthogonal_gram_pieces(int rows, int cols)
{
    if (rows > cols || cols < ORTH_GRAM_PIECES * GRAM_ALIGN ||
        (double)rows * rows * cols < 8 * PAR_MIN_MACS)
        return 1;
    return ORTH_GRAM_PIECES;
}

/* The first column of piece k of a Gram in `pieces`. */
static int piece_start(int k, int pieces, int cols)
{
    const long at = (long)cols * k / pieces;
    return k == pieces ? cols : (int)(at - at % GRAM_ALIGN);
}

size_t orthogonal_scratch(int rows, int cols)
{
    size_t m = rows < cols ? rows : cols;
    return m * m * orthogonal_gram_pieces(rows, cols) + (size_t)rows * cols + cols;
}

void orthogonal_gram_piece_cols(int rows, int cols, int k, int *c0, int *c1)
{
    const int pieces = orthogonal_gram_pieces(rows, cols);
    *c0 = piece_start(k, pieces, cols);
    *c1 = piece_start(k + 1, pieces, cols);
}

/* Piece k's room: G itself for the first, then after W A and diag(A). */
static real_t *piece_room(real_t *scratch, int rows, int cols, int k)
{
    const size_t m = rows;      /* a split Gram's W is wide */
    return k == 0 ? scratch : scratch + m * m * k + (size_t)rows * cols + cols;
}

void orthogonal_gram_piece(const real_t *w, int rows, int cols, int k, real_t *scratch)
{
    real_t *g = scratch;
    if (orthogonal_gram_pieces(rows, cols) == 1) {
        if (rows <= cols)
            gemm(0, 1, rows, rows, cols, 1, w, cols, w, cols, 0, g, rows);
        else
            gemm(1, 0, cols, cols, rows, 1, w, cols, w, cols, 0, g, cols);
        return;
    }
    int c0, c1;
    orthogonal_gram_piece_cols(rows, cols, k, &c0, &c1);
    gram_lower(rows, c1 - c0, w + c0, cols, piece_room(scratch, rows, cols, k), rows);
}

/* G from its pieces, on the team. */
static void gram_form(const real_t *w, int rows, int cols, real_t *scratch)
{
    const int pieces = orthogonal_gram_pieces(rows, cols);
#pragma omp parallel for schedule(static) if (pieces > 1)
    for (int k = 0; k < pieces; k++)
        orthogonal_gram_piece(w, rows, cols, k, scratch);
}

/* sum over the m x m matrix g of (g[i][j] * s - (i == j ? id : 0))^2,
 * leaving out the diagonal when offdiag. */
static double gram_distance(const real_t *g, int m, double s, double id,
                            int offdiag)
{
    double sum = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            if (offdiag && i == j)
                continue;
            double e = g[(size_t)i * m + j] * s - (i == j ? id : 0);
            sum += e * e;
        }
    return sum;
}

double orthogonal_finish(const real_t *w, int rows, int cols, int form, real_t scale,
                         int *grad, real_t *scratch)
{
    assert(form >= ORTH_COLS && form <= ORTH_NORMALIZED);
    const int want = *grad;
    *grad = 0;
    int wide = rows <= cols;            /* then the Gram formed is W W^T */
    int m = wide ? rows : cols;
    real_t *g = scratch;
    real_t *wa = g + (size_t)m * m;     /* W A = W W^T W */
    real_t *diag = wa + (size_t)rows * cols;   /* diag(A): squared column norms */

    const int pieces = orthogonal_gram_pieces(rows, cols);
    if (pieces > 1) {
        for (int k = 1; k < pieces; k++) {
            const real_t *add = piece_room(scratch, rows, cols, k);
            for (int i = 0; i < m; i++)
#pragma omp simd
                for (int j = 0; j <= i; j++)
                    g[(long)i * m + j] += add[(long)i * m + j];
        }
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++)
                g[(long)i * m + j] = g[(long)j * m + i];
    }

    double gsum, gg;                            /* ||A||^2, in vector lanes */
    reduce_moments(g, (long)m * m, 0, &gsum, &gg);
    double tr = 0;                              /* tr(A) = ||W||^2 */
    for (int i = 0; i < m; i++)
        tr += g[(size_t)i * m + i];
    double na = sqrt(gg);

    double p2;
    switch (form) {
    case ORTH_COLS:
        p2 = wide ? gg - 2 * tr + cols : gram_distance(g, m, 1, 1, 0);
        break;
    case ORTH_ROWS:
        p2 = wide ? gram_distance(g, m, 1, 1, 0) : gg - 2 * tr + rows;
        break;
    case ORTH_OFFDIAG:
        for (int j = 0; j < cols; j++) {
            double s = 0;
            for (int i = 0; i < rows; i++)
                s += (double)w[(size_t)i * cols + j] * w[(size_t)i * cols + j];
            diag[j] = (real_t)s;
        }
        if (wide) {
            double d2 = 0;
            for (int j = 0; j < cols; j++)
                d2 += (double)diag[j] * diag[j];
            p2 = gg - d2;
        } else {
            p2 = gram_distance(g, m, 1, 0, 1);
        }
        break;
    default:                            /* ORTH_NORMALIZED */
        if (na == 0)                    /* W = 0: take A / ||A|| as 0 */
            return sqrt((double)cols);
        if (cols == 1)                  /* A is 1 x 1: A / ||A|| = I exactly; */
            return 0;                   /* rounding would leave ~eps, and 2/p */
                                        /* times rounding noise as gradient */
        p2 = wide ? 1 - 2 * tr / na + cols : gram_distance(g, m, 1 / na, 1, 0);
        break;
    }
    double p = sqrt(p2 > 0 ? p2 : 0);
    if (!want || p == 0)
        return p;
    *grad = 1;

    /* dw += scale * 2 / p * (ca * W A - cw[j] * W), cw per column */
    double ca = 1, cw = 1;
    if (form == ORTH_NORMALIZED) {
        ca = tr / (na * na * na);
        cw = 1 / na;
    }
    double f = 2 * (double)scale / p;
    if (form != ORTH_OFFDIAG) {
        /* cw is one number, so f (ca A - cw I) is one matrix: the Gram,
         * scaled and its diagonal shifted, and one product adds the whole
         * gradient into dw, with no pass of its own over W and dw */
        const double ga = f * ca, gi = -f * cw;
        for (int i = 0; i < m; i++)         /* the diagonal, still A's, in diag */
            diag[i] = (real_t)(ga * g[(long)i * m + i] + gi);
#pragma omp simd
        for (long i = 0; i < (long)m * m; i++)
            g[i] = (real_t)(ga * g[i]);
        for (int i = 0; i < m; i++)
            g[(long)i * m + i] = diag[i];
        return p;
    }
    if (wide)
        gemm(0, 0, rows, cols, rows, 1, g, rows, w, cols, 0, wa, cols);
    else
        gemm(0, 0, rows, cols, cols, 1, w, cols, g, cols, 0, wa, cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            size_t at = (size_t)i * cols + j;
            wa[at] = (real_t)(f * (wa[at] - diag[j] * w[at]));
        }
    return p;
}

void orthogonal_grad_cols(const real_t *w, int rows, int cols, int form, int c0, int c1,
                          const real_t *scratch, real_t *dw)
{
    const int wide = rows <= cols, m = wide ? rows : cols;
    const real_t *g = scratch, *wa = g + (size_t)m * m;
    if (c1 <= c0)
        return;
    if (form == ORTH_OFFDIAG) {
        for (int i = 0; i < rows; i++)
            for (int j = c0; j < c1; j++)
                dw[(size_t)i * cols + j] += wa[(size_t)i * cols + j];
        return;
    }
    if (wide)       /* columns c0..c1 of (f (ca A - cw I)) W */
        gemm(0, 0, rows, c1 - c0, rows, 1, g, rows, w + c0, cols, 1, dw + c0, cols);
    else            /* of W (f (ca A - cw I)) */
        gemm(0, 0, rows, c1 - c0, cols, 1, w, cols, g + c0, cols, 1, dw + c0, cols);
}

double orthogonal_penalty(const real_t *w, int rows, int cols, int form,
                          real_t scale, real_t *dw, real_t *scratch)
{
    gram_form(w, rows, cols, scratch);
    int grad = dw != NULL;
    const double p = orthogonal_finish(w, rows, cols, form, scale, &grad, scratch);
    if (grad)
        orthogonal_grad_cols(w, rows, cols, form, 0, cols, scratch, dw);
    return p;
}
