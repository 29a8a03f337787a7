/* fdiff.h - what the double-precision gradient tests of the kernels and
 * defences share: allocation that fails the test, random vectors, and a
 * comparison of an analytic gradient with central finite differences of a
 * scalar loss, at every entry or at sampled ones.  Include after <cmocka.h>
 * and rng.h; this header defines `static advcc_rng rng`, which the
 * including file seeds. */
#ifndef ADVCC_TESTS_FDIFF_H
#define ADVCC_TESTS_FDIFF_H

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

static advcc_rng rng;

static inline double *alloc(long n)
{
    double *p = calloc(n > 0 ? (size_t)n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* n values uniform in [lo, hi). */
static inline double *random_vec(long n, double lo, double hi)
{
    double *p = alloc(n);
    for (long i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * rng_uniform(&rng);
    return p;
}

static inline double dot(const double *a, const double *b, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static inline double max_abs(const double *a, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

/* A scalar loss of whatever op points at. */
typedef double (*loss_fn)(void *op);

/* Largest |central difference - g[i]| over entries of p, relative to the
 * largest |g|; step h.  All n entries when n <= points, else `points`
 * entries drawn from rng.  p is restored. */
static inline double fd_error_at(loss_fn loss, void *op, double *p,
                                 const double *g, long n, double h, long points)
{
    double scale = max_abs(g, n), worst = 0;
    assert_true(scale > 0);
    for (long t = 0; t < (n < points ? n : points); t++) {
        long i = n <= points ? t : (long)rng_below(&rng, (uint32_t)n);
        double keep = p[i];
        p[i] = keep + h;
        double up = loss(op);
        p[i] = keep - h;
        double down = loss(op);
        p[i] = keep;
        worst = fmax(worst, fabs((up - down) / (2 * h) - g[i]) / scale);
    }
    return worst;
}

/* The same over all n entries. */
static inline double fd_error(loss_fn loss, void *op, double *p,
                              const double *g, long n, double h)
{
    return fd_error_at(loss, op, p, g, n, h, n);
}

#define assert_fd(what, err, tol)                                           \
    do {                                                                    \
        double e_ = (err);                                                  \
        if (!(e_ < (tol)))                                                  \
            fail_msg("%s: relative gradient error %.3g", (what), e_);       \
    } while (0)

#endif
