/* test64_spectral.c - spectral norms by power iteration in double
 * precision, against LAPACK's singular values (dgesvd) of matrices built
 * here explicitly: random linear layers, and the true operators of small
 * convolutions (paddings 0 to 2, kernels 1, 3, 5, odd and even sizes, one
 * and several channels, strides 1 and 2).  Also: the flattened kernel's
 * norm is a different number; the gradient u v^T (and its convolution
 * form) against finite differences of the exact largest singular value;
 * persistent vectors, one iteration a call; fresh and zero corners. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <lapacke.h>
#include <omp.h>

#include "kernels.h"
#include "rng.h"
#include "spectral.h"
#include "fdiff.h"
#include "dense_operator.h"

#define SVD_TOL 1e-3        /* power iteration against LAPACK */
#define GRAD_TOL 1e-5       /* u v^T against d sigma_max / dW by differences */

static void assert_close(const char *what, double got, double want,
                         double tol)
{
    if (!(fabs(got - want) <= tol * fabs(want)))
        fail_msg("%s: %.10g, want %.10g (relative error %.3g)", what, got,
                 want, fabs(got - want) / fabs(want));
}

/* ---- linear layers ---- */

static const int lin_shapes[][2] = {{7, 5}, {5, 7}, {20, 13}, {1, 9},
                                    {9, 1}, {30, 30}, {64, 40}};
#define N_LIN (int)(sizeof lin_shapes / sizeof lin_shapes[0])

static void test_linear_vs_svd(void **state)
{
    (void)state;
    for (int s = 0; s < N_LIN; s++) {
        int r = lin_shapes[s][0], c = lin_shapes[s][1];
        double *w = random_vec((long)r * c, -1, 1), *u = alloc(r), *v = alloc(c);
        double want = sigma_max(w, r, c);
        double got = spectral_linear(w, r, c, u, v, 300, 1, 0, NULL);
        char what[64];
        snprintf(what, sizeof what, "linear %dx%d", r, c);
        assert_close(what, got, want, SVD_TOL);
        assert_true(got <= want * (1 + 1e-12));     /* a Rayleigh quotient */
        assert_close("|u|", sqrt(dot(u, u, r)), 1, 1e-12);
        assert_close("|v|", sqrt(dot(v, v, c)), 1, 1e-12);
        free(w);
        free(u);
        free(v);
    }
}

/* Algorithm 3 step by step, once: from v = 1, u = Wv/|Wv|, v = W^T u/|W^T u|,
 * sigma = u^T W v. */
static void test_linear_one_step(void **state)
{
    (void)state;
    int r = 6, c = 4;
    double *w = random_vec(r * c, -1, 1), u[6], v[4], wu[6], wv[4], ww[6];
    for (int j = 0; j < c; j++)
        v[j] = 1;
    for (int i = 0; i < r; i++)
        wu[i] = dot(w + i * c, v, c);
    double nu = sqrt(dot(wu, wu, r));
    for (int j = 0; j < c; j++) {
        wv[j] = 0;
        for (int i = 0; i < r; i++)
            wv[j] += w[i * c + j] * wu[i] / nu;
    }
    double nv = sqrt(dot(wv, wv, c));
    for (int j = 0; j < c; j++)
        wv[j] /= nv;
    for (int i = 0; i < r; i++)
        ww[i] = dot(w + i * c, wv, c);
    double want = 0;
    for (int i = 0; i < r; i++)
        want += wu[i] / nu * ww[i];
    memset(v, 0, sizeof v);             /* fresh state: starts from ones */
    double got = spectral_linear(w, r, c, u, v, 1, 0, 0, NULL);
    assert_close("one step", got, want, 1e-12);
    for (int j = 0; j < c; j++)
        assert_close("v", v[j], wv[j], 1e-12);
    free(w);
}

static void test_linear_persistent(void **state)
{
    (void)state;
    int r = 24, c = 17;
    long n = (long)r * c;
    double *w = random_vec(n, -1, 1), *u = alloc(r), *v = alloc(c);
    double want = sigma_max(w, r, c), got = 0;
    for (int call = 0; call < 300; call++)
        got = spectral_linear(w, r, c, u, v, 1, 0, 0, NULL);
    assert_close("persistent linear", got, want, SVD_TOL);
    /* the gradient added is scale * u v^T of the vectors left behind */
    double *dw = random_vec(n, -1, 1), *dw0 = alloc(n);
    memcpy(dw0, dw, n * sizeof *dw);
    spectral_linear(w, r, c, u, v, 1, 0, 2.5, dw);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++)
            assert_true(fabs(dw[i * c + j] - dw0[i * c + j] -
                             2.5 * u[i] * v[j]) < 1e-12);
    free(w);
    free(u);
    free(v);
    free(dw);
    free(dw0);
}

typedef struct lin_op {
    int r, c;
    double *w;
} lin_op;

static double lin_sigma(void *p)
{
    lin_op *o = p;
    return sigma_max(o->w, o->r, o->c);
}

static void test_linear_gradient(void **state)
{
    (void)state;
    lin_op o = {8, 5, NULL};
    long n = (long)o.r * o.c;
    o.w = random_vec(n, -1, 1);
    double *u = alloc(o.r), *v = alloc(o.c), *dw = alloc(n);
    spectral_linear(o.w, o.r, o.c, u, v, 500, 1, 1, dw);
    assert_fd("linear d sigma / dW", fd_error(lin_sigma, &o, o.w, dw, n, 1e-6),
              GRAD_TOL);
    free(o.w);
    free(u);
    free(v);
    free(dw);
}

static void test_linear_zero(void **state)
{
    (void)state;
    double w[12] = {0}, u[3], v[4] = {0}, dw[12] = {0};
    assert_true(spectral_linear(w, 3, 4, u, v, 3, 1, 1, dw) == 0);
    for (int i = 0; i < 12; i++)
        assert_true(dw[i] == 0);
}

/* ---- convolutions ---- */

/* A square kernel, or with kw > 0 a rectangle: k, stride and pad are then
 * the height's, kw, sw and pw the width's. */
typedef struct conv_case {
    int ci, co, h, w, k, stride, pad;
    int kw, sw, pw;
} conv_case;

static const conv_case conv_cases[] = {
    {1, 1, 5, 5, 3, 1, 1, 0, 0, 0}, {2, 3, 6, 6, 3, 1, 1, 0, 0, 0}, {3, 2, 7, 5, 3, 1, 0, 0, 0, 0},
    {2, 4, 5, 5, 5, 1, 2, 0, 0, 0}, {3, 3, 4, 4, 1, 1, 0, 0, 0, 0}, {2, 2, 6, 7, 5, 1, 0, 0, 0, 0},
    {3, 4, 8, 8, 3, 2, 1, 0, 0, 0}, {1, 2, 9, 9, 5, 1, 2, 0, 0, 0}, {4, 2, 5, 6, 3, 1, 2, 0, 0, 0},
    {3, 5, 8, 8, 5, 1, 2, 0, 0, 0},
};
#define N_CONV (int)(sizeof conv_cases / sizeof conv_cases[0])

/* Rectangular kernels, strides and paddings differing between the axes. */
static const conv_case rect_cases[] = {
    {2, 3, 6, 7, 1, 1, 0, 3, 1, 1}, {3, 2, 7, 5, 3, 1, 1, 1, 1, 0},
    {2, 2, 6, 8, 3, 2, 1, 5, 1, 2},
};
#define N_RECT (int)(sizeof rect_cases / sizeof rect_cases[0])

typedef struct conv_op {
    conv_case s;
    conv_shape cs;
    int ho, wo;
    long nv, nu, nw;
    double *weight, *op;    /* op: the explicit [nu][nv] operator */
} conv_op;

/* The convolution as a dense matrix (dense_operator.h). */
static void conv_build(conv_op *c)
{
    conv_dense(c->weight, &c->cs, c->op);
}

static double conv_sigma(void *p)
{
    conv_op *c = p;
    conv_build(c);
    return sigma_max(c->op, (int)c->nu, (int)c->nv);
}

static void conv_setup(conv_op *c, conv_case s)
{
    c->s = s;
    c->cs = conv_shape_square(s.ci, s.h, s.w, s.co, s.k, s.stride, s.pad);
    if (s.kw > 0) {
        c->cs.kw = s.kw;
        c->cs.stride_w = s.sw;
        c->cs.pad_w = s.pw;
        c->cs.out_w = (s.w + 2 * s.pw - s.kw) / s.sw + 1;
    }
    c->ho = c->cs.out_h;
    c->wo = c->cs.out_w;
    c->nv = (long)s.ci * s.h * s.w;
    c->nu = (long)s.co * c->ho * c->wo;
    c->nw = (long)s.co * s.ci * c->cs.kh * c->cs.kw;
    c->weight = random_vec(c->nw, -1, 1);
    c->op = alloc(c->nu * c->nv);
}

static void conv_teardown(conv_op *c)
{
    free(c->weight);
    free(c->op);
}

static double conv_power(conv_op *c, int iters, int restart, double *u,
                         double *v, double scale, double *dw)
{
    double *scratch = alloc((long)spectral_conv_scratch(&c->cs));
    double sigma = spectral_conv(c->weight, &c->cs, u, v, iters, restart,
                                 scale, dw, scratch);
    free(scratch);
    return sigma;
}

/* Power iteration against the SVD of the dense operator; the relative
 * error. */
static double check_vs_svd(const conv_case *t)
{
    conv_op c;
    conv_setup(&c, *t);
    double *u = alloc(c.nu), *v = alloc(c.nv);
    double want = conv_sigma(&c);
    double got = conv_power(&c, 400, 1, u, v, 0, NULL);
    char what[96];
    const conv_shape *s = &c.cs;
    snprintf(what, sizeof what, "conv %d->%d k%dx%d s%d,%d p%d,%d on %dx%d", s->in_c,
             s->out_c, s->kh, s->kw, s->stride_h, s->stride_w, s->pad_h, s->pad_w, s->in_h,
             s->in_w);
    assert_close(what, got, want, SVD_TOL);
    assert_true(got <= want * (1 + 1e-12));
    /* the other helper agrees */
    double again = spectral_norm_conv(c.weight, s, 400);
    assert_close(what, again, got, 1e-12);
    free(u);
    free(v);
    conv_teardown(&c);
    return fabs(got - want) / want;
}

static void test_conv_vs_svd(void **state)
{
    (void)state;
    double worst = 0;
    for (int t = 0; t < N_CONV; t++)
        worst = fmax(worst, check_vs_svd(&conv_cases[t]));
    print_message("%d convolutions: largest relative error %.2g\n", N_CONV,
                  worst);
}

/* The norm of the flattened kernel [co][ci*k*k] is another number. */
static void test_conv_not_flat(void **state)
{
    (void)state;
    const conv_case cases[] = {{3, 8, 8, 8, 3, 1, 1, 0, 0, 0},
                               {2, 4, 7, 7, 5, 1, 2, 0, 0, 0},
                               {4, 4, 6, 6, 3, 1, 0, 0, 0, 0}};
    for (int t = 0; t < 3; t++) {
        conv_op c;
        conv_setup(&c, cases[t]);
        const conv_case *s = &c.s;
        int kk = s->ci * s->k * s->k;
        double flat = spectral_norm_flat(c.weight, s->co, kk, 1000);
        assert_close("flattened kernel", flat,
                     sigma_max(c.weight, s->co, kk), SVD_TOL);
        double real = conv_sigma(&c);
        print_message("conv %d->%d k%d pad %d on %dx%d: operator %.4f, "
                      "flattened kernel %.4f\n", s->ci, s->co, s->k, s->pad,
                      s->h, s->w, real, flat);
        assert_true(fabs(real - flat) > 0.1 * real);
        conv_teardown(&c);
    }
}

static void test_conv_persistent(void **state)
{
    (void)state;
    conv_op c;
    conv_setup(&c, (conv_case){3, 4, 6, 6, 3, 1, 1, 0, 0, 0});
    double *u = alloc(c.nu), *v = alloc(c.nv), got = 0;
    for (int call = 0; call < 400; call++)
        got = conv_power(&c, 1, 0, u, v, 0, NULL);
    assert_close("persistent conv", got, conv_sigma(&c), SVD_TOL);
    assert_close("|u|", sqrt(dot(u, u, c.nu)), 1, 1e-12);
    assert_close("|v|", sqrt(dot(v, v, c.nv)), 1, 1e-12);
    free(u);
    free(v);
    conv_teardown(&c);
}

/* <u, conv(v, W)> with u, v held: linear in W, its gradient is exact. */
typedef struct bilinear_op {
    conv_op *c;
    double *u, *v;
} bilinear_op;

static double bilinear(void *p)
{
    bilinear_op *b = p;
    conv_build(b->c);
    double s = 0;
    for (long i = 0; i < b->c->nu; i++)
        s += b->u[i] * dot(b->c->op + i * b->c->nv, b->v, b->c->nv);
    return s;
}

/* sigma's weight gradient: that of <u, conv(v, W)> with u, v held, by
 * finite differences of both. */
static void check_gradient(const conv_case *t)
{
    conv_op c;
    conv_setup(&c, *t);
    double *u = alloc(c.nu), *v = alloc(c.nv), *dw = random_vec(c.nw, -1, 1);
    double *dw0 = alloc(c.nw);
    memcpy(dw0, dw, c.nw * sizeof *dw);
    double sigma = conv_power(&c, 800, 1, u, v, 0.5, dw);
    for (long i = 0; i < c.nw; i++)
        dw[i] = (dw[i] - dw0[i]) / 0.5;
    bilinear_op b = {&c, u, v};
    assert_close("sigma = <u, conv(v)>", bilinear(&b), sigma, 1e-10);
    assert_fd("conv d<u, conv(v, W)>/dW",
              fd_error(bilinear, &b, c.weight, dw, c.nw, 1e-6), 1e-8);
    assert_fd("conv d sigma / dW",
              fd_error(conv_sigma, &c, c.weight, dw, c.nw, 1e-6),
              GRAD_TOL);
    free(u);
    free(v);
    free(dw);
    free(dw0);
    conv_teardown(&c);
}

static void test_conv_gradient(void **state)
{
    (void)state;
    const conv_case cases[] = {{2, 3, 5, 5, 3, 1, 1, 0, 0, 0},
                               {1, 2, 6, 6, 5, 1, 2, 0, 0, 0},
                               {2, 2, 7, 6, 3, 2, 0, 0, 0, 0}};
    for (int t = 0; t < 3; t++)
        check_gradient(&cases[t]);
}

/* Rectangular kernels: the same checks. */
static void test_conv_rect(void **state)
{
    (void)state;
    double worst = 0;
    for (int t = 0; t < N_RECT; t++) {
        worst = fmax(worst, check_vs_svd(&rect_cases[t]));
        check_gradient(&rect_cases[t]);
    }
    print_message("%d rectangular convolutions: largest relative error %.2g\n", N_RECT,
                  worst);
}

static int setup(void **state)
{
    (void)state;
    /* thousands of products of tiny operators: a thread team costs more
     * than it saves, and far more on a loaded machine */
    omp_set_num_threads(1);
    rng_seed(&rng, 2718);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_vs_svd),
        cmocka_unit_test(test_linear_one_step),
        cmocka_unit_test(test_linear_persistent),
        cmocka_unit_test(test_linear_gradient),
        cmocka_unit_test(test_linear_zero),
        cmocka_unit_test(test_conv_vs_svd),
        cmocka_unit_test(test_conv_not_flat),
        cmocka_unit_test(test_conv_persistent),
        cmocka_unit_test(test_conv_gradient),
        cmocka_unit_test(test_conv_rect),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
