/* lipschitz.c - operator-norm bounds and estimates; see lipschitz.h. */
#include <cblas.h>
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lipschitz.h"

/* Gram iteration on a square n x n matrix g (real or complex by cplx),
 * already G_1 = A^* A; tmp the same size.  Returns log of the bound on
 * sigma_max(A). */
static double gram_square(void *g, void *tmp, int n, int iters, int cplx)
{
    /* True G_t = exp(ls) * g.  Invariant kept per step: normalise g to
     * unit Frobenius norm, then square it. */
    double ls = 0;
    int t = 1;                  /* g holds G_1 */
    long nn = (long)n * n;
    for (;;) {
        double f = cplx ? cblas_dznrm2((int)nn, g, 1) : cblas_dnrm2((int)nn, g, 1);
        if (!(f > 0))
            return -INFINITY;   /* A == 0 */
        if (cplx) {
            double complex inv = 1 / f;
            cblas_zscal((int)nn, &inv, g, 1);
        } else {
            cblas_dscal((int)nn, 1 / f, g, 1);
        }
        ls += log(f);
        if (t >= iters)
            return ls / ldexp(1, t);   /* ||G_t||_F^(1/2^t) with ||g|| = 1 */
        if (cplx) {
            double complex one = 1, zero = 0;
            cblas_zgemm(CblasRowMajor, CblasConjTrans, CblasNoTrans, n, n, n,
                        &one, g, n, g, n, &zero, tmp, n);
        } else {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1,
                        g, n, g, n, 0, tmp, n);
        }
        memcpy(g, tmp, (size_t)nn * (cplx ? sizeof(double complex) : sizeof(double)));
        ls *= 2;
        t++;
    }
}

double lip_gram(const double *a, int m, int n, int iters)
{
    if (iters < 1)
        iters = 1;
    int s = m < n ? m : n;
    double *g = malloc(sizeof(double) * (size_t)s * s);
    double *tmp = malloc(sizeof(double) * (size_t)s * s);
    double r = -1;
    if (g && tmp) {
        /* G_1 on the smaller side: A A^T (m < n) or A^T A */
        if (m < n)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, n, 1, a,
                        n, a, n, 0, g, m);
        else
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, m, 1, a,
                        n, a, n, 0, g, n);
        /* sigma_max(A)^2 = sigma_max(G_1) <= bound of G_1 */
        double lb = gram_square(g, tmp, s, iters, 0);
        r = isinf(lb) ? 0 : exp(lb) * (1 + LIP_SAFETY);
    }
    free(g);
    free(tmp);
    return r;
}

/* floor(a / b) for b > 0 */
static int floordiv(int a, int b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The polyphase place of every tap along one axis: tap a of a kernel of k
 * reads input s*i + a - pad = s*(i + q[a]) + r[a], component r[a] at
 * offset q[a]. */
static void phase_taps(int k, int s, int pad, int *q, int *r)
{
    for (int a = 0; a < k; a++) {
        q[a] = floordiv(a - pad, s);
        r[a] = a - pad - s * q[a];
    }
}

/* The bound on one grid n1 x n2 (multiples of the strides, at least
 * h + pad_h, w + pad_w). */
static double fourier_grid(const double *weight, const conv_shape *cs, int n1, int n2,
                           int iters)
{
    const int co = cs->out_c, ci = cs->in_c, kh = cs->kh, kw = cs->kw;
    const int s1 = cs->stride_h, s2 = cs->stride_w, taps = kh * kw;
    int m1 = n1 / s1, m2 = n2 / s2;
    int cin = ci * s1 * s2;     /* polyphase input channels (c, r1, r2) */
    int side = co < cin ? co : cin;
    double complex *m = malloc(sizeof *m * (size_t)co * cin);
    double complex *g = malloc(sizeof *g * (size_t)side * side);
    double complex *tmp = malloc(sizeof *tmp * (size_t)side * side);
    double complex *ph = malloc(sizeof *ph * (size_t)taps);
    int *col = malloc(sizeof *col * (size_t)taps);
    int *q = malloc(sizeof *q * (size_t)(2 * (kh + kw)));
    double best = -1;
    if (!m || !g || !tmp || !ph || !col || !q)
        goto done;
    int *q1 = q, *r1 = q + kh, *q2 = q + 2 * kh, *r2 = q + 2 * kh + kw;
    phase_taps(kh, s1, cs->pad_h, q1, r1);
    phase_taps(kw, s2, cs->pad_w, q2, r2);
    for (int a = 0; a < kh; a++)
        for (int b = 0; b < kw; b++)
            col[a * kw + b] = r1[a] * s2 + r2[b];
    double worst = -INFINITY;
    /* real kernels: frequency (-f1, -f2) is the conjugate of (f1, f2), with
     * the same singular values, so f1 <= m1 / 2 covers every value */
    for (int f1 = 0; f1 <= m1 / 2; f1++)
        for (int f2 = 0; f2 < m2; f2++) {
            for (int a = 0; a < kh; a++)
                for (int b = 0; b < kw; b++) {
                    double th = 2 * M_PI * ((double)f1 * q1[a] / m1 + (double)f2 * q2[b] / m2);
                    ph[a * kw + b] = cos(th) + I * sin(th);
                }
            memset(m, 0, sizeof *m * (size_t)co * cin);
            for (int o = 0; o < co; o++)
                for (int c = 0; c < ci; c++) {
                    const double *wk = weight + ((long)o * ci + c) * taps;
                    double complex *row = m + (long)o * cin + (long)c * s1 * s2;
                    for (int t = 0; t < taps; t++)
                        row[col[t]] += wk[t] * ph[t];
                }
            double complex one = 1, zero = 0;
            if (co < cin)       /* G_1 = M M^* (co x co) */
                cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasConjTrans, co, co, cin,
                            &one, m, cin, m, cin, &zero, g, co);
            else                /* G_1 = M^* M (cin x cin) */
                cblas_zgemm(CblasRowMajor, CblasConjTrans, CblasNoTrans, cin, cin, co,
                            &one, m, cin, m, cin, &zero, g, cin);
            double lb = gram_square(g, tmp, side, iters, 1);
            if (lb > worst)
                worst = lb;
        }
    best = isinf(worst) ? 0 : exp(worst) * (1 + LIP_SAFETY);
done:
    free(m);
    free(g);
    free(tmp);
    free(ph);
    free(col);
    free(q);
    return best;
}

double lip_conv_fourier(const double *weight, const conv_shape *s, int iters)
{
    if (iters < 1)
        iters = 1;
    const int s1 = s->stride_h, s2 = s->stride_w;
    int n1 = (s->in_h + s->pad_h + s1 - 1) / s1 * s1, n2 = (s->in_w + s->pad_w + s2 - 1) / s2 * s2;
    /* every grid gives a bound: the smallest of a few */
    double best = INFINITY;
    for (int e = 0; e < LIP_FOURIER_GRIDS; e++) {
        double b = fourier_grid(weight, s, n1 + e * s1, n2 + e * s2, iters);
        if (b < 0)
            return b;
        best = fmin(best, b);
    }
    return best;
}

/* The dense [co*ho*wo][ci*h*w] matrix of the convolution. */
static void conv_dense(const double *weight, const conv_shape *s, double *op)
{
    const int h = s->in_h, w = s->in_w, ho = s->out_h, wo = s->out_w;
    const long nv = (long)s->in_c * h * w;
    memset(op, 0, sizeof(double) * (size_t)s->out_c * ho * wo * nv);
    for (int o = 0; o < s->out_c; o++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++)
                for (int c = 0; c < s->in_c; c++)
                    for (int i = 0; i < s->kh; i++)
                        for (int j = 0; j < s->kw; j++) {
                            int iy = y * s->stride_h + i - s->pad_h;
                            int ix = x * s->stride_w + j - s->pad_w;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            long row = ((long)o * ho + y) * wo + x;
                            long col = ((long)c * h + iy) * w + ix;
                            op[row * nv + col] +=
                                weight[(((long)o * s->in_c + c) * s->kh + i) * s->kw + j];
                        }
}

double lip_conv_dense(const double *weight, const conv_shape *s, int iters, long max_entries)
{
    long rows = (long)s->out_c * s->out_h * s->out_w, cols = (long)s->in_c * s->in_h * s->in_w;
    if (rows * cols > max_entries || rows > 1L << 30 || cols > 1L << 30)
        return -2;
    double *op = malloc(sizeof(double) * (size_t)(rows * cols));
    if (!op)
        return -1;
    conv_dense(weight, s, op);
    double r = lip_gram(op, (int)rows, (int)cols, iters);
    free(op);
    return r;
}

/* A fixed pseudo-random start in [0.5, 1.5): not orthogonal to the top
 * singular vector of any structured operator by accident (ones is, for a
 * zero-mean kernel on a circular grid). */
static void start(double *v, long n)
{
    unsigned long long s = 0x9e3779b97f4a7c15ULL;
    for (long j = 0; j < n; j++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v[j] = 0.5 + (double)(s >> 11) / 9007199254740992.0;
    }
}

static double unit(double *x, long n)
{
    double s = cblas_dnrm2((int)n, x, 1);
    if (s > 0)
        cblas_dscal((int)n, 1 / s, x, 1);
    return s;
}

double lip_power(const double *a, int m, int n, int iters)
{
    double *u = malloc(sizeof *u * (size_t)m), *v = malloc(sizeof *v * (size_t)n);
    double sigma = -1;
    if (u && v) {
        start(v, n);
        sigma = 0;
        for (int it = 0; it < iters; it++) {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, m, n, 1, a, n, v, 1, 0, u, 1);
            unit(u, m);
            cblas_dgemv(CblasRowMajor, CblasTrans, m, n, 1, a, n, u, 1, 0, v, 1);
            sigma = unit(v, n);
        }
    }
    free(u);
    free(v);
    return sigma;
}

/* y = conv(x) (transpose: x = conv^T(y)), direct, in double. */
static void conv_apply(const double *wt, const conv_shape *s, const double *x, double *y,
                       int transpose)
{
    const int h = s->in_h, w = s->in_w, ho = s->out_h, wo = s->out_w;
    if (transpose)
        memset((double *)x, 0, sizeof(double) * (size_t)s->in_c * h * w);
    else
        memset(y, 0, sizeof(double) * (size_t)s->out_c * ho * wo);
    double *xm = (double *)x;
    for (int o = 0; o < s->out_c; o++)
        for (int c = 0; c < s->in_c; c++)
            for (int i = 0; i < s->kh; i++)
                for (int j = 0; j < s->kw; j++) {
                    double wv = wt[(((long)o * s->in_c + c) * s->kh + i) * s->kw + j];
                    for (int oy = 0; oy < ho; oy++) {
                        int iy = oy * s->stride_h + i - s->pad_h;
                        if (iy < 0 || iy >= h)
                            continue;
                        double *yr = y + ((long)o * ho + oy) * wo;
                        double *xr = xm + ((long)c * h + iy) * w;
                        for (int ox = 0; ox < wo; ox++) {
                            int ix = ox * s->stride_w + j - s->pad_w;
                            if (ix < 0 || ix >= w)
                                continue;
                            if (transpose)
                                xr[ix] += wv * yr[ox];
                            else
                                yr[ox] += wv * xr[ix];
                        }
                    }
                }
}

double lip_power_conv(const double *weight, const conv_shape *s, int iters)
{
    long nv = (long)s->in_c * s->in_h * s->in_w, nu = (long)s->out_c * s->out_h * s->out_w;
    double *u = malloc(sizeof *u * (size_t)nu), *v = malloc(sizeof *v * (size_t)nv);
    double sigma = -1;
    if (u && v) {
        start(v, nv);
        sigma = 0;
        for (int it = 0; it < iters; it++) {
            conv_apply(weight, s, v, u, 0);
            unit(u, nu);
            conv_apply(weight, s, v, u, 1);
            sigma = unit(v, nv);
        }
    }
    free(u);
    free(v);
    return sigma;
}
