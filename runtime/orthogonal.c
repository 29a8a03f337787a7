/* orthogonal.c - orthogonality penalties and their gradients; see
 * orthogonal.h. */
#include <assert.h>
#include <math.h>
#include "kernels.h"
#include "orthogonal.h"
#include "parallel.h"

size_t orthogonal_scratch(int rows, int cols)
{
    size_t m = rows < cols ? rows : cols;
    return m * m + (size_t)rows * cols + cols;
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

double orthogonal_penalty(const real_t *w, int rows, int cols, int form,
                          real_t scale, real_t *dw, real_t *scratch)
{
    assert(form >= ORTH_COLS && form <= ORTH_NORMALIZED);
    int wide = rows <= cols;            /* then the Gram formed is W W^T */
    int m = wide ? rows : cols;
    real_t *g = scratch;
    real_t *wa = g + (size_t)m * m;     /* W A = W W^T W */
    real_t *diag = wa + (size_t)rows * cols;   /* diag(A): squared column norms */

    if (wide)
        gemm(0, 1, rows, rows, cols, 1, w, cols, w, cols, 0, g, rows);
    else
        gemm(1, 0, cols, cols, rows, 1, w, cols, w, cols, 0, g, cols);

    double gg = gram_distance(g, m, 1, 0, 0);   /* ||A||^2 */
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
    if (!dw || p == 0)
        return p;

    /* dw += scale * 2 / p * (ca * W A - cw[j] * W), cw per column */
    double ca = 1, cw = 1;
    if (form == ORTH_NORMALIZED) {
        ca = tr / (na * na * na);
        cw = 1 / na;
    }
    double f = 2 * (double)scale / p;
    if (form != ORTH_OFFDIAG) {
        /* cw is one number: the product goes straight into dw, with no
         * W A to write and read back in a serial pass (a 256 x 2048
         * weight's penalty and gradient: 1.72 ms against 2.10, 2 threads) */
        const real_t keep = (real_t)(-f * cw);
        const long n = (long)rows * cols;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
        for (long i = 0; i < n; i++)
            dw[i] += keep * w[i];
        if (wide)
            gemm(0, 0, rows, cols, rows, (real_t)(f * ca), g, rows, w, cols, 1, dw, cols);
        else
            gemm(0, 0, rows, cols, cols, (real_t)(f * ca), w, cols, g, cols, 1, dw, cols);
        return p;
    }
    if (wide)
        gemm(0, 0, rows, cols, rows, 1, g, rows, w, cols, 0, wa, cols);
    else
        gemm(0, 0, rows, cols, cols, 1, w, cols, g, cols, 0, wa, cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            size_t at = (size_t)i * cols + j;
            dw[at] += (real_t)(f * (wa[at] - diag[j] * w[at]));
        }
    return p;
}
