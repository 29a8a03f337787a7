/* dense_operator.h - the exact references of the spectral-norm tests: a
 * convolution written out as its dense matrix, and the largest singular
 * value of a dense matrix by LAPACK's SVD.  Include after <cmocka.h> and
 * <lapacke.h>. */
#ifndef ADVCC_TESTS_DENSE_OPERATOR_H
#define ADVCC_TESTS_DENSE_OPERATOR_H

#include <stdlib.h>
#include <string.h>

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

/* The convolution of weight [co][ci][k][k] (no bias) on ci x h x w inputs
 * as a dense [co*ho*wo][ci*h*w] matrix, by its definition: output (o, y, x)
 * takes W[o][c][i][j] times input (c, y*stride + i - pad, x*stride + j - pad).
 * op must hold that many values; ho, wo are the output size. */
static inline void conv_dense(const double *weight, int co, int ci, int k, int h,
                              int w, int stride, int pad, int ho, int wo, double *op)
{
    const long nv = (long)ci * h * w;
    memset(op, 0, sizeof(double) * (size_t)co * ho * wo * nv);
    for (int o = 0; o < co; o++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++)
                for (int ch = 0; ch < ci; ch++)
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int iy = y * stride + i - pad, ix = x * stride + j - pad;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            long row = ((long)o * ho + y) * wo + x;
                            long col = ((long)ch * h + iy) * w + ix;
                            op[row * nv + col] += weight[((o * ci + ch) * k + i) * k + j];
                        }
}

#endif
