/* dense_operator.h - the exact references of the spectral-norm tests: a
 * convolution written out as its dense matrix, and the largest singular
 * value of a dense matrix by LAPACK's SVD.  Include after <cmocka.h> and
 * <lapacke.h>. */
#ifndef ADVCC_TESTS_DENSE_OPERATOR_H
#define ADVCC_TESTS_DENSE_OPERATOR_H

#include <stdlib.h>
#include <string.h>
#include "kernels.h"

/* Largest singular value of the row-major m x n matrix a (a is kept). */
static inline double sigma_max(const double *a, int m, int n)
{
    int k = m < n ? m : n;
    double *copy = malloc(sizeof(double) * (size_t)m * n);
    double *s = malloc(sizeof(double) * k), *superb = malloc(sizeof(double) * k);
    assert_true(copy && s && superb);
    memcpy(copy, a, (size_t)m * n * sizeof *a);
    lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', m, n, copy,
                                     n, s, NULL, 1, NULL, 1, superb);
    assert_int_equal(info, 0);
    double top = s[0];
    free(copy);
    free(s);
    free(superb);
    return top;
}

/* The convolution s (runtime/kernels.h conv_shape) of weight
 * [out_c][in_c][kh][kw] (no bias) as a dense [co*ho*wo][ci*h*w] matrix, by
 * its definition: output (o, y, x) takes W[o][c][i][j] times input
 * (c, y*stride_h + i - pad_h, x*stride_w + j - pad_w).  op must hold that
 * many values. */
static inline void conv_dense(const double *weight, const conv_shape *s, double *op)
{
    const int ci = s->in_c, h = s->in_h, w = s->in_w, ho = s->out_h, wo = s->out_w;
    const long nv = (long)ci * h * w;
    memset(op, 0, sizeof(double) * (size_t)s->out_c * ho * wo * nv);
    for (int o = 0; o < s->out_c; o++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++)
                for (int ch = 0; ch < ci; ch++)
                    for (int i = 0; i < s->kh; i++)
                        for (int j = 0; j < s->kw; j++) {
                            int iy = y * s->stride_h + i - s->pad_h;
                            int ix = x * s->stride_w + j - s->pad_w;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            long row = ((long)o * ho + y) * wo + x;
                            long col = ((long)ch * h + iy) * w + ix;
                            op[row * nv + col] += weight[((o * ci + ch) * s->kh + i) * s->kw + j];
                        }
}

#endif
