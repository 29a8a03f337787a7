/* test64_kernels.c - every backward kernel against central finite
 * differences of its forward, in double precision.
 *
 * The scalar checked is L = sum(r . y) for a fixed random r, so dL/dy = r is
 * what each backward receives.  Shapes cover odd sizes, strides 1 and 2,
 * padding 0 to 2, kernels 1, 3 and 5, batches 1 and 3 and 1 to 5 channels.
 * Forward kernels are also checked against direct loops, and the layout
 * kernels (pure permutations) for being each other's inverse and adjoint. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kernels.h"
#include "rng.h"
#include "fdiff.h"

#define FD_STEP 1e-6
#define FD_TOL 1e-6
#define FD_MAX_POINTS 400   /* larger tensors are checked at sampled points */

/* Compares the analytic gradient g of loss with respect to p (n values)
 * against central differences at up to FD_MAX_POINTS entries; the error is
 * relative to the largest |g|. */
static void check_grad(const char *what, loss_fn loss, void *op, double *p,
                       const double *g, long n)
{
    assert_fd(what, fd_error_at(loss, op, p, g, n, FD_STEP, FD_MAX_POINTS), FD_TOL);
}

/* ---- convolution ---- */

typedef struct conv_case {
    int ci, co, batch, h, w, k, stride, pad;
} conv_case;

/* A case's shape (kernels.h); the batch is the case's. */
typedef struct conv_op {
    conv_case s;
    conv_shape cs;
    int ho, wo;
    long nx, ny, nw, ncol;
    double *x, *w, *b, *y, *r, *col;
} conv_op;

static double conv_loss(void *v)
{
    conv_op *c = v;
    conv_shape_forward(&c->cs, c->x, c->s.batch, c->w, c->b, c->col, c->y);
    return dot(c->r, c->y, c->ny);
}

/* A case of any shape: cs and the batch (s gives only the batch). */
static void conv_setup_shape(conv_op *c, conv_case s, conv_shape cs)
{
    c->s = s;
    c->cs = cs;
    c->ho = cs.out_h;
    c->wo = cs.out_w;
    c->nx = (long)cs.in_c * s.batch * cs.in_h * cs.in_w;
    c->ny = (long)cs.out_c * s.batch * c->ho * c->wo;
    c->nw = (long)cs.out_c * cs.in_c * cs.kh * cs.kw;
    c->ncol = (long)cs.in_c * cs.kh * cs.kw * s.batch * c->ho * c->wo;
    c->x = random_vec(c->nx, -1, 1);
    c->w = random_vec(c->nw, -1, 1);
    c->b = random_vec(cs.out_c, -1, 1);
    c->y = alloc(c->ny);
    c->r = random_vec(c->ny, -1, 1);
    c->col = alloc(c->ncol);
}

static void conv_setup(conv_op *c, conv_case s)
{
    conv_setup_shape(c, s, conv_shape_square(s.ci, s.h, s.w, s.co, s.k, s.stride, s.pad));
}

static void conv_teardown(conv_op *c)
{
    free(c->x);
    free(c->w);
    free(c->b);
    free(c->y);
    free(c->r);
    free(c->col);
}

/* y[o][b][oy][ox] by the definition, CNHW. */
static double conv_direct(const conv_op *c, int o, int b, int oy, int ox)
{
    const conv_shape *s = &c->cs;
    double sum = c->b[o];
    for (int i = 0; i < s->in_c; i++)
        for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++) {
                int iy = oy * s->stride_h - s->pad_h + ky;
                int ix = ox * s->stride_w - s->pad_w + kx;
                if (iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w)
                    continue;
                sum += c->w[((o * s->in_c + i) * s->kh + ky) * s->kw + kx] *
                       c->x[(((long)i * c->s.batch + b) * s->in_h + iy) * s->in_w + ix];
            }
    return sum;
}

static conv_case conv_cases[] = {
    /* ci co batch  h  w  k  s  p */
    {1, 1, 1, 5, 5, 3, 1, 1},
    {3, 4, 3, 7, 5, 3, 1, 1},
    {2, 5, 3, 9, 7, 5, 1, 2},
    {4, 3, 1, 8, 9, 5, 2, 2},
    {5, 2, 3, 7, 7, 3, 2, 0},
    {3, 3, 3, 6, 5, 3, 2, 1},
    {2, 4, 3, 5, 6, 1, 1, 0},   /* pointwise: no im2col */
    {3, 2, 1, 7, 5, 1, 2, 0},
    {2, 3, 3, 4, 5, 1, 1, 1},
    {1, 2, 3, 5, 5, 5, 1, 0},   /* one output pixel per image */
    {3, 5, 1, 3, 4, 5, 1, 2},   /* kernel larger than the image */
    {2, 3, 3, 3, 2, 5, 1, 2},   /* some taps miss every column */
    {2, 2, 3, 9, 8, 5, 2, 1},
    {16, 16, 8, 6, 4, 5, 1, 2}, /* Winograd's F(2x2, 5x5) (winograd.h) */
};
#define N_CONV_CASES (int)(sizeof conv_cases / sizeof conv_cases[0])

/* A few more shapes drawn at random from the same ranges. */
static conv_case conv_random_case(void)
{
    static const int ks[] = {1, 3, 5};
    conv_case s;
    for (;;) {
        s.ci = 1 + (int)rng_below(&rng, 5);
        s.co = 1 + (int)rng_below(&rng, 5);
        s.batch = rng_below(&rng, 2) ? 3 : 1;
        s.h = 3 + (int)rng_below(&rng, 7);
        s.w = 3 + (int)rng_below(&rng, 7);
        s.k = ks[rng_below(&rng, 3)];
        s.stride = 1 + (int)rng_below(&rng, 2);
        s.pad = (int)rng_below(&rng, 3);
        if (s.h + 2 * s.pad >= s.k && s.w + 2 * s.pad >= s.k)
            return s;
    }
}

/* Forward against the direct loop and both gradients by finite
 * differences, of the shape cs over a batch of s.batch. */
static void conv_check_shape(conv_case s, conv_shape cs)
{
    conv_op c;
    conv_setup_shape(&c, s, cs);
    s.ci = cs.in_c;
    s.co = cs.out_c;
    char what[128];
    snprintf(what, sizeof what, "conv ci%d co%d n%d %dx%d k%dx%d s%d,%d p%d,%d", s.ci, s.co,
             s.batch, cs.in_h, cs.in_w, cs.kh, cs.kw, cs.stride_h, cs.stride_w, cs.pad_h,
             cs.pad_w);

    /* Forward against the direct loop. */
    conv_loss(&c);
    double err = 0, scale = max_abs(c.y, c.ny);
    for (int o = 0; o < s.co; o++)
        for (int b = 0; b < s.batch; b++)
            for (int oy = 0; oy < c.ho; oy++)
                for (int ox = 0; ox < c.wo; ox++) {
                    long at = (((long)o * s.batch + b) * c.ho + oy) * c.wo + ox;
                    err = fmax(err, fabs(c.y[at] - conv_direct(&c, o, b, oy, ox)));
                }
    if (err > 1e-12 * scale)
        fail_msg("%s: forward differs from direct loop by %.3g", what, err);

    double *dx = alloc(c.nx), *dw = alloc(c.nw), *db = alloc(s.co);
    /* Poison the outputs: backward kernels must overwrite, not add. */
    for (long i = 0; i < c.nx; i++)
        dx[i] = 1e30;
    for (long i = 0; i < c.nw; i++)
        dw[i] = 1e30;
    conv_shape_backward_params(&cs, c.x, c.r, s.batch, c.col, dw, db);
    conv_shape_backward_input(&cs, c.r, c.w, s.batch, c.col, dx);
    char sub[160];
    snprintf(sub, sizeof sub, "%s dx", what);
    check_grad(sub, conv_loss, &c, c.x, dx, c.nx);
    snprintf(sub, sizeof sub, "%s dw", what);
    check_grad(sub, conv_loss, &c, c.w, dw, c.nw);
    snprintf(sub, sizeof sub, "%s db", what);
    check_grad(sub, conv_loss, &c, c.b, db, s.co);

    /* db may be NULL; dw is unchanged by it. */
    double *dw2 = alloc(c.nw);
    conv_shape_backward_params(&cs, c.x, c.r, s.batch, c.col, dw2, NULL);
    assert_memory_equal(dw, dw2, sizeof *dw * c.nw);
    /* bias NULL is bias 0. */
    memset(c.b, 0, sizeof *c.b * s.co);
    double *y0 = alloc(c.ny);
    conv_shape_forward(&cs, c.x, s.batch, c.w, NULL, c.col, y0);
    conv_loss(&c);
    assert_memory_equal(y0, c.y, sizeof *y0 * c.ny);


    free(y0);
    free(dw2);
    free(dx);
    free(dw);
    free(db);
    conv_teardown(&c);
}

static void conv_check(conv_case s)
{
    conv_check_shape(s, conv_shape_square(s.ci, s.h, s.w, s.co, s.k, s.stride, s.pad));
}

static void test_conv(void **state)
{
    (void)state;
    for (int i = 0; i < N_CONV_CASES; i++)
        conv_check(conv_cases[i]);
    for (int i = 0; i < 12; i++)
        conv_check(conv_random_case());
}

/* Shapes with enough work to be shared between threads (the ones above are
 * too small to be): the backward kernels are the exact adjoints of the
 * forward, <conv(x; W), dy> == <x, dx> == <W, dW>, so two calls check them. */
static void test_conv_shared(void **state)
{
    (void)state;
    static const conv_case big[] = {
        {4, 8, 3, 21, 19, 5, 1, 2},
        {6, 12, 1, 48, 47, 3, 2, 1},
        {5, 16, 7, 12, 13, 3, 1, 0},
    };
    for (int i = 0; i < 3; i++) {
        conv_case s = big[i];
        conv_op c;
        conv_setup(&c, s);
        conv_loss(&c);
        double err = 0, scale = max_abs(c.y, c.ny);
        for (int o = 0; o < s.co; o++)
            for (int b = 0; b < s.batch; b++)
                for (int oy = 0; oy < c.ho; oy += 3)
                    for (int ox = 0; ox < c.wo; ox++) {
                        long at = (((long)o * s.batch + b) * c.ho + oy) * c.wo + ox;
                        err = fmax(err, fabs(c.y[at] - conv_direct(&c, o, b, oy, ox)));
                    }
        assert_true(err <= 1e-12 * scale);

        double *dx = alloc(c.nx), *dw = alloc(c.nw), *db = alloc(s.co);
        conv_forward(c.x, s.ci, s.batch, s.h, s.w, c.w, NULL, s.co, s.k,
                     s.stride, s.pad, c.ho, c.wo, c.col, c.y);
        conv_backward_params(c.x, c.r, s.ci, s.batch, s.h, s.w, s.co, s.k,
                             s.stride, s.pad, c.ho, c.wo, c.col, dw, db);
        conv_backward_input(c.r, c.w, s.ci, s.batch, s.h, s.w, s.co, s.k,
                            s.stride, s.pad, c.ho, c.wo, c.col, dx);
        double ydy = dot(c.y, c.r, c.ny);
        double xdx = dot(c.x, dx, c.nx), wdw = dot(c.w, dw, c.nw);
        if (fabs(ydy - xdx) > 1e-12 * c.ny || fabs(ydy - wdw) > 1e-12 * c.ny)
            fail_msg("shared conv %d: <y,dy> %.17g <x,dx> %.17g <w,dw> %.17g",
                     i, ydy, xdx, wdw);
        long per = c.ny / s.co;
        for (int o = 0; o < s.co; o++) {
            double sum = 0;
            for (long j = 0; j < per; j++)
                sum += c.r[o * per + j];
            assert_true(fabs(db[o] - sum) < 1e-12 * per);
        }
        free(dx);
        free(dw);
        free(db);
        conv_teardown(&c);
    }
}

/* <im2col(x), c> == <x, col2im(c)>, and col2im overwrites its output. */
static void check_im2col_adjoint(conv_case s, conv_shape cs, int i)
{
    conv_op c;
    conv_setup_shape(&c, s, cs);
    double *cr = random_vec(c.ncol, -1, 1), *dx = alloc(c.nx);
    for (long j = 0; j < c.nx; j++)
        dx[j] = -7;
    conv_im2col(&cs, c.x, s.batch, c.col);
    conv_col2im(&cs, cr, s.batch, dx);
    double lhs = dot(c.col, cr, c.ncol), rhs = dot(c.x, dx, c.nx);
    if (fabs(lhs - rhs) > 1e-12 * (fabs(lhs) + 1))
        fail_msg("im2col case %d: <Ax,c> = %.17g, <x,A'c> = %.17g", i, lhs, rhs);
    free(cr);
    free(dx);
    conv_teardown(&c);
}

static void test_im2col_adjoint(void **state)
{
    (void)state;
    for (int i = 0; i < N_CONV_CASES + 12; i++) {
        conv_case s = i < N_CONV_CASES ? conv_cases[i] : conv_random_case();
        check_im2col_adjoint(s, conv_shape_square(s.ci, s.h, s.w, s.co, s.k, s.stride, s.pad),
                             i);
    }
}

/* Rectangular kernels, strides and paddings differing between the axes:
 * pointwise along one axis, kernels larger than the image along one, taps
 * that miss every column, and one shape large enough to share between
 * threads. */
static void test_conv_rect(void **state)
{
    (void)state;
    static const struct {
        int batch;
        conv_shape s;   /* in_c h w, out_c, kh kw, strides, pads; output from them */
    } rect[] = {
        {3, {2, 7, 9, 3, 1, 3, 1, 1, 0, 1, 0, 0}},
        {3, {3, 6, 5, 2, 3, 1, 1, 2, 1, 0, 0, 0}},
        {1, {2, 9, 7, 4, 3, 5, 2, 1, 1, 2, 0, 0}},
        {3, {1, 5, 8, 2, 5, 3, 1, 2, 0, 1, 0, 0}},
        {3, {2, 4, 3, 3, 1, 5, 1, 1, 0, 2, 0, 0}},
        {3, {3, 8, 6, 2, 2, 3, 2, 3, 1, 0, 0, 0}},
        {7, {4, 21, 19, 6, 3, 5, 1, 2, 1, 2, 0, 0}},
    };
    for (size_t i = 0; i < sizeof rect / sizeof rect[0]; i++) {
        conv_shape cs = rect[i].s;
        cs.out_h = (cs.in_h + 2 * cs.pad_h - cs.kh) / cs.stride_h + 1;
        cs.out_w = (cs.in_w + 2 * cs.pad_w - cs.kw) / cs.stride_w + 1;
        conv_case s = {0};
        s.batch = rect[i].batch;
        conv_check_shape(s, cs);
        check_im2col_adjoint(s, cs, (int)i);
    }
}

/* ---- fully connected ---- */

typedef struct linear_op {
    int batch, in, out;
    double *x, *w, *b, *y, *r;
} linear_op;

static double linear_loss(void *v)
{
    linear_op *l = v;
    linear_forward(l->x, l->batch, l->in, l->w, l->b, l->out, l->y);
    return dot(l->r, l->y, (long)l->batch * l->out);
}

static void test_linear(void **state)
{
    (void)state;
    static const int shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {1, 5, 9}, {3, 12, 4},
                                    {4, 3, 1}};
    for (int t = 0; t < 5; t++) {
        linear_op l = {shapes[t][0], shapes[t][1], shapes[t][2], 0, 0, 0, 0, 0};
        long nx = (long)l.batch * l.in, ny = (long)l.batch * l.out,
             nw = (long)l.out * l.in;
        l.x = random_vec(nx, -1, 1);
        l.w = random_vec(nw, -1, 1);
        l.b = random_vec(l.out, -1, 1);
        l.y = alloc(ny);
        l.r = random_vec(ny, -1, 1);
        linear_loss(&l);
        for (int b = 0; b < l.batch; b++)
            for (int o = 0; o < l.out; o++) {
                double s = l.b[o];
                for (int i = 0; i < l.in; i++)
                    s += l.x[b * l.in + i] * l.w[o * l.in + i];
                assert_true(fabs(s - l.y[b * l.out + o]) < 1e-12);
            }
        double *dx = alloc(nx), *dw = alloc(nw), *db = alloc(l.out);
        linear_backward_params(l.x, l.r, l.batch, l.in, l.out, dw, db);
        linear_backward_input(l.r, l.w, l.batch, l.in, l.out, dx);
        check_grad("linear dx", linear_loss, &l, l.x, dx, nx);
        check_grad("linear dw", linear_loss, &l, l.w, dw, nw);
        check_grad("linear db", linear_loss, &l, l.b, db, l.out);
        free(dx);
        free(dw);
        free(db);
        free(l.x);
        free(l.w);
        free(l.b);
        free(l.y);
        free(l.r);
    }
}

/* ---- BatchNorm ---- */

typedef struct bn_op {
    int c, n, train;
    double *x, *gamma, *beta, *rm, *rv, *mean, *invstd, *y, *r;
} bn_op;

static double bn_loss(void *v)
{
    bn_op *o = v;
    if (o->train)
        batchnorm_forward_train(o->x, o->c, o->n, o->gamma, o->beta, o->rm,
                                o->rv, 0, o->mean, o->invstd, o->y);
    else
        batchnorm_forward_eval(o->x, o->c, o->n, o->gamma, o->beta, o->rm,
                               o->rv, o->y);
    return dot(o->r, o->y, (long)o->c * o->n);
}

static void bn_setup(bn_op *o, int c, int n, int train)
{
    o->c = c;
    o->n = n;
    o->train = train;
    o->x = random_vec((long)c * n, -1, 1);
    /* An offset and a scale per channel, as conv outputs have. */
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < n; i++)
            o->x[(long)ch * n + i] = 3 * ch - 2 + (ch + 1) * o->x[(long)ch * n + i];
    o->gamma = random_vec(c, -1, 1);
    o->beta = random_vec(c, -1, 1);
    o->rm = random_vec(c, -1, 1);
    o->rv = alloc(c);
    for (int ch = 0; ch < c; ch++)
        o->rv[ch] = 0.5 + rng_uniform(&rng);
    o->mean = alloc(c);
    o->invstd = alloc(c);
    o->y = alloc((long)c * n);
    o->r = random_vec((long)c * n, -1, 1);
}

static void bn_teardown(bn_op *o)
{
    free(o->x);
    free(o->gamma);
    free(o->beta);
    free(o->rm);
    free(o->rv);
    free(o->mean);
    free(o->invstd);
    free(o->y);
    free(o->r);
}

static void test_batchnorm_train(void **state)
{
    (void)state;
    /* Very few values per channel are left out: with an outlier among them
     * the output saturates at +-gamma, the gradient shrinks to the order of
     * eps and finite differences drown in rounding. */
    static const int shapes[][2] = {{1, 6}, {3, 8}, {2, 27}, {5, 16}, {4, 75}};
    for (int t = 0; t < 5; t++) {
        bn_op o;
        bn_setup(&o, shapes[t][0], shapes[t][1], 1);
        long nx = (long)o.c * o.n;
        double *rm0 = alloc(o.c), *rv0 = alloc(o.c);
        memcpy(rm0, o.rm, sizeof *rm0 * o.c);
        memcpy(rv0, o.rv, sizeof *rv0 * o.c);
        bn_loss(&o);
        /* update = 0 leaves the running statistics alone. */
        assert_memory_equal(rm0, o.rm, sizeof *rm0 * o.c);
        assert_memory_equal(rv0, o.rv, sizeof *rv0 * o.c);

        /* Output against the definition, biased variance. */
        for (int ch = 0; ch < o.c; ch++) {
            const double *xc = o.x + (long)ch * o.n;
            double m = 0, v = 0;
            for (int i = 0; i < o.n; i++)
                m += xc[i];
            m /= o.n;
            for (int i = 0; i < o.n; i++)
                v += (xc[i] - m) * (xc[i] - m);
            v /= o.n;
            assert_true(fabs(o.mean[ch] - m) < 1e-12 * (1 + fabs(m)));
            assert_true(fabs(o.invstd[ch] - 1 / sqrt(v + 1e-5)) < 1e-12 * o.invstd[ch]);
            for (int i = 0; i < o.n; i++) {
                double want = (xc[i] - m) / sqrt(v + 1e-5) * o.gamma[ch] + o.beta[ch];
                assert_true(fabs(o.y[(long)ch * o.n + i] - want) < 1e-12 * (1 + fabs(want)));
            }
        }

        double *dx = alloc(nx), *dg = alloc(o.c), *dbeta = alloc(o.c);
        double *mean = alloc(o.c), *invstd = alloc(o.c);
        memcpy(mean, o.mean, sizeof *mean * o.c);
        memcpy(invstd, o.invstd, sizeof *invstd * o.c);
        batchnorm_backward_train(o.x, o.r, o.c, o.n, o.gamma, mean, invstd, dx,
                                 dg, dbeta);
        check_grad("batchnorm train dx", bn_loss, &o, o.x, dx, nx);
        check_grad("batchnorm train dgamma", bn_loss, &o, o.gamma, dg, o.c);
        check_grad("batchnorm train dbeta", bn_loss, &o, o.beta, dbeta, o.c);
        /* dgamma and dbeta may be NULL; dx is the same, also in place. */
        double *dx2 = alloc(nx);
        memcpy(dx2, o.r, sizeof *dx2 * nx);
        batchnorm_backward_train(o.x, dx2, o.c, o.n, o.gamma, mean, invstd, dx2,
                                 NULL, NULL);
        assert_memory_equal(dx, dx2, sizeof *dx * nx);
        /* Forward in place. */
        bn_loss(&o);
        memcpy(dx2, o.x, sizeof *dx2 * nx);
        batchnorm_forward_train(dx2, o.c, o.n, o.gamma, o.beta, o.rm, o.rv, 0,
                                o.mean, o.invstd, dx2);
        assert_memory_equal(o.y, dx2, sizeof *dx2 * nx);

        /* update != 0: PyTorch's momentum rule with the unbiased variance. */
        batchnorm_forward_train(o.x, o.c, o.n, o.gamma, o.beta, o.rm, o.rv, 1,
                                o.mean, o.invstd, o.y);
        for (int ch = 0; ch < o.c; ch++) {
            double m = o.mean[ch];
            double var = 1 / (o.invstd[ch] * o.invstd[ch]) - 1e-5;
            double unbiased = o.n > 1 ? var * o.n / (o.n - 1) : var;
            assert_true(fabs(o.rm[ch] - (0.9 * rm0[ch] + 0.1 * m)) < 1e-12);
            assert_true(fabs(o.rv[ch] - (0.9 * rv0[ch] + 0.1 * unbiased)) <
                        1e-9 * (1 + o.rv[ch]));
        }
        free(dx2);
        free(mean);
        free(invstd);
        free(dx);
        free(dg);
        free(dbeta);
        free(rm0);
        free(rv0);
        bn_teardown(&o);
    }
}

static void test_batchnorm_eval(void **state)
{
    (void)state;
    bn_op o;
    bn_setup(&o, 4, 30, 0);
    long nx = (long)o.c * o.n;
    bn_loss(&o);
    for (int ch = 0; ch < o.c; ch++)
        for (int i = 0; i < o.n; i++) {
            double want = (o.x[(long)ch * o.n + i] - o.rm[ch]) /
                              sqrt(o.rv[ch] + 1e-5) * o.gamma[ch] + o.beta[ch];
            assert_true(fabs(o.y[(long)ch * o.n + i] - want) < 1e-12 * (1 + fabs(want)));
        }
    double *dx = alloc(nx);
    batchnorm_backward_eval(o.r, o.c, o.n, o.gamma, o.rv, dx);
    check_grad("batchnorm eval dx", bn_loss, &o, o.x, dx, nx);
    free(dx);
    bn_teardown(&o);
}

/* ---- pools and ReLU ---- */

typedef struct pool_op {
    int planes, h, w, k, s, ho, wo, max;
    double *x, *y, *r;
    int *arg;
} pool_op;

static double pool_loss(void *v)
{
    pool_op *p = v;
    if (p->max)
        maxpool_forward(p->x, p->planes, p->h, p->w, p->k, p->s, p->ho, p->wo,
                        p->y, p->arg);
    else
        avgpool_forward(p->x, p->planes, p->h, p->w, p->k, p->s, p->ho, p->wo,
                        p->y);
    return dot(p->r, p->y, (long)p->planes * p->ho * p->wo);
}

static void pool_check(int max, int planes, int h, int w, int k, int s)
{
    pool_op p = {planes, h, w, k, s, (h - k) / s + 1, (w - k) / s + 1, max,
                 0, 0, 0, 0};
    long nx = (long)planes * h * w, ny = (long)planes * p.ho * p.wo;
    p.x = alloc(nx);
    /* Distinct values a grid step apart, in random order: no max is within
     * the finite-difference step of another. */
    int *perm = malloc(sizeof *perm * nx);
    assert_non_null(perm);
    for (long i = 0; i < nx; i++)
        perm[i] = (int)i;
    rng_shuffle(&rng, perm, (int)nx);
    for (long i = 0; i < nx; i++)
        p.x[i] = (perm[i] - nx / 2.0) * 1e-2;
    free(perm);
    p.y = alloc(ny);
    p.r = random_vec(ny, -1, 1);
    p.arg = malloc(sizeof *p.arg * ny);
    assert_non_null(p.arg);
    pool_loss(&p);

    /* Forward against the definition. */
    for (int pl = 0; pl < planes; pl++)
        for (int oy = 0; oy < p.ho; oy++)
            for (int ox = 0; ox < p.wo; ox++) {
                double acc = max ? -INFINITY : 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        double v = p.x[((long)pl * h + oy * s + ky) * w + ox * s + kx];
                        acc = max ? fmax(acc, v) : acc + v;
                    }
                if (!max)
                    acc /= k * k;
                long at = ((long)pl * p.ho + oy) * p.wo + ox;
                assert_true(fabs(p.y[at] - acc) < 1e-12);
                if (max)
                    assert_true(p.x[(long)pl * h * w + p.arg[at]] == p.y[at]);
            }

    double *dx = alloc(nx);
    for (long i = 0; i < nx; i++)
        dx[i] = 1e30;
    if (max)
        maxpool_backward(p.r, p.arg, planes, h, w, p.ho, p.wo, dx);
    else
        avgpool_backward(p.r, planes, h, w, k, s, p.ho, p.wo, dx);
    char what[96];
    snprintf(what, sizeof what, "%s pool %dx%d k%d s%d", max ? "max" : "avg", h,
             w, k, s);
    check_grad(what, pool_loss, &p, p.x, dx, nx);
    free(dx);
    free(p.x);
    free(p.y);
    free(p.r);
    free(p.arg);
}

static const int pool_cases[][5] = {
    /* planes h w k s */
    {6, 8, 8, 2, 2},    /* the model's case */
    {3, 7, 9, 2, 2},    /* odd sizes: last row and column unused */
    {4, 7, 7, 3, 2},    /* overlapping windows */
    {2, 9, 8, 2, 3},    /* gaps between windows */
    {5, 6, 5, 3, 3},
    {1, 5, 5, 1, 1},
    {3, 4, 6, 4, 1},
};

static void test_pools(void **state)
{
    (void)state;
    for (int i = 0; i < 7; i++) {
        const int *c = pool_cases[i];
        pool_check(0, c[0], c[1], c[2], c[3], c[4]);
        pool_check(1, c[0], c[1], c[2], c[3], c[4]);
    }
}

/* Ties go to the first maximum in scan order, as in PyTorch. */
static void test_maxpool_ties(void **state)
{
    (void)state;
    double x[16] = {1, 1, 0, 2,
                    1, 0, 2, 2,
                    3, 0, 5, 1,
                    0, 3, 1, 5};
    double y[4], dx[16];
    int arg[4];
    maxpool_forward(x, 1, 4, 4, 2, 2, 2, 2, y, arg);
    assert_int_equal(arg[0], 0);
    assert_int_equal(arg[1], 3);
    assert_int_equal(arg[2], 8);
    assert_int_equal(arg[3], 10);
    /* Overlapping windows (stride 1) share a maximum: gradients add. */
    double y9[9], dy9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    int arg9[9];
    maxpool_forward(x, 1, 4, 4, 2, 1, 3, 3, y9, arg9);
    maxpool_backward(dy9, arg9, 1, 4, 4, 3, 3, dx);
    assert_true(dx[10] == 4);   /* 5 at (2,2) tops four windows */
}

/* n random values in [-1, 1], none within 1e-3 of the kink at 0. */
static double *away_from_kink(long n)
{
    double *x = random_vec(n, -1, 1);
    for (long i = 0; i < n; i++)
        if (fabs(x[i]) < 1e-3)
            x[i] = 0.5;
    return x;
}

typedef struct relu_op {
    long n;
    double *x, *y, *r;
} relu_op;

static double relu_loss(void *v)
{
    relu_op *o = v;
    relu_forward(o->x, o->n, o->y);
    return dot(o->r, o->y, o->n);
}

static void test_relu(void **state)
{
    (void)state;
    relu_op o = {1001, 0, 0, 0};
    o.x = away_from_kink(o.n);
    o.y = alloc(o.n);
    o.r = random_vec(o.n, -1, 1);
    relu_loss(&o);
    for (long i = 0; i < o.n; i++)
        assert_true(o.y[i] == (o.x[i] > 0 ? o.x[i] : 0));
    double *dx = alloc(o.n);
    relu_backward(o.y, o.r, o.n, dx);
    check_grad("relu", relu_loss, &o, o.x, dx, o.n);
    /* In place. */
    relu_loss(&o);
    double *t = alloc(o.n);
    memcpy(t, o.x, sizeof *t * o.n);
    relu_forward(t, o.n, t);
    assert_memory_equal(t, o.y, sizeof *t * o.n);
    free(t);
    free(dx);
    free(o.x);
    free(o.y);
    free(o.r);
}

typedef struct leaky_op {
    long n;
    double slope;
    double *x, *y, *r;
} leaky_op;

static double leaky_loss(void *v)
{
    leaky_op *o = v;
    leakyrelu_forward(o->x, o->n, o->slope, o->y);
    return dot(o->r, o->y, o->n);
}

/* Leaky ReLU at PyTorch's default slope, at zero (ReLU), negative and
 * above one: its values, and its gradient by finite differences, with the
 * gradient written over the output gradient in place. */
static void test_leakyrelu(void **state)
{
    (void)state;
    static const double slopes[] = {0.01, 0, -0.5, 2.5};
    for (size_t s = 0; s < sizeof slopes / sizeof slopes[0]; s++) {
        leaky_op o = {1001, slopes[s], 0, 0, 0};
        o.x = away_from_kink(o.n);
        o.y = alloc(o.n);
        o.r = random_vec(o.n, -1, 1);
        leaky_loss(&o);
        for (long i = 0; i < o.n; i++)
            assert_true(o.y[i] == (o.x[i] > 0 ? o.x[i] : o.slope * o.x[i]));
        double *dx = alloc(o.n);
        memcpy(dx, o.r, sizeof *dx * o.n);
        leakyrelu_backward(o.x, dx, o.n, o.slope, dx);
        check_grad("leakyrelu", leaky_loss, &o, o.x, dx, o.n);
        free(dx);
        free(o.x);
        free(o.y);
        free(o.r);
    }
}

typedef struct smooth_op {
    void (*forward)(const double *x, long n, double *y);
    long n;
    double *x, *y, *r;
} smooth_op;

static double smooth_loss(void *v)
{
    smooth_op *o = v;
    o->forward(o->x, o->n, o->y);
    return dot(o->r, o->y, o->n);
}

/* Tanh and the sigmoid, over [-4, 4]: their values, and their gradients
 * from the output by finite differences, written over the output gradient
 * in place. */
static void test_smooth(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        smooth_op o = {k ? sigmoid_forward : tanh_forward, 1001, 0, 0, 0};
        o.x = random_vec(o.n, -4, 4);
        o.y = alloc(o.n);
        o.r = random_vec(o.n, -1, 1);
        smooth_loss(&o);
        for (long i = 0; i < o.n; i++)
            assert_true(fabs(o.y[i] - (k ? 1 / (1 + exp(-o.x[i])) : tanh(o.x[i]))) < 1e-15);
        double *dx = alloc(o.n);
        memcpy(dx, o.r, sizeof *dx * o.n);
        (k ? sigmoid_backward : tanh_backward)(o.y, dx, o.n, dx);
        check_grad(k ? "sigmoid" : "tanh", smooth_loss, &o, o.x, dx, o.n);
        free(dx);
        free(o.x);
        free(o.y);
        free(o.r);
    }
}

/* ---- normalisation and layouts ---- */

typedef struct norm_op {
    int batch, c, hw;
    double *x, *mean, *std, *y, *r;
} norm_op;

static double norm_loss(void *v)
{
    norm_op *o = v;
    normalize_forward(o->x, o->batch, o->c, o->hw, o->mean, o->std, o->y);
    return dot(o->r, o->y, (long)o->batch * o->c * o->hw);
}

static void test_normalize(void **state)
{
    (void)state;
    norm_op o = {3, 3, 10, 0, 0, 0, 0, 0};
    long n = (long)o.batch * o.c * o.hw;
    o.x = random_vec(n, -1, 1);
    o.mean = random_vec(o.c, -1, 1);
    o.std = alloc(o.c);
    for (int i = 0; i < o.c; i++)
        o.std[i] = 0.2 + rng_uniform(&rng);
    o.y = alloc(n);
    o.r = random_vec(n, -1, 1);
    norm_loss(&o);
    for (int b = 0; b < o.batch; b++)
        for (int ch = 0; ch < o.c; ch++)
            for (int p = 0; p < o.hw; p++)
                assert_true(o.y[((long)ch * o.batch + b) * o.hw + p] ==
                            (o.x[((long)b * o.c + ch) * o.hw + p] - o.mean[ch]) /
                                o.std[ch]);
    double *dx = alloc(n);
    normalize_backward(o.r, o.batch, o.c, o.hw, o.std, dx);
    check_grad("normalize", norm_loss, &o, o.x, dx, n);
    free(dx);
    free(o.x);
    free(o.mean);
    free(o.std);
    free(o.y);
    free(o.r);
}

static void test_layout(void **state)
{
    (void)state;
    static const int shapes[][3] = {{1, 1, 1}, {3, 2, 5}, {4, 3, 9}, {2, 1, 7}};
    for (int t = 0; t < 4; t++) {
        int c = shapes[t][0], batch = shapes[t][1], hw = shapes[t][2];
        long n = (long)c * batch * hw;
        double *x = random_vec(n, -1, 1), *z = random_vec(n, -1, 1);
        double *rows = alloc(n), *back = alloc(n), *zt = alloc(n);
        cnhw_to_rows(x, c, batch, hw, rows);
        for (int ch = 0; ch < c; ch++)
            for (int b = 0; b < batch; b++)
                for (int p = 0; p < hw; p++)
                    assert_true(rows[((long)b * c + ch) * hw + p] ==
                                x[((long)ch * batch + b) * hw + p]);
        rows_to_cnhw(rows, c, batch, hw, back);
        assert_memory_equal(back, x, sizeof *x * n);
        /* Adjoint: <P x, z> == <x, P' z>, and P' is rows_to_cnhw. */
        rows_to_cnhw(z, c, batch, hw, zt);
        assert_true(fabs(dot(rows, z, n) - dot(x, zt, n)) < 1e-12 * n);
        cnhw_to_rows(zt, c, batch, hw, back);
        assert_memory_equal(back, z, sizeof *z * n);
        free(x);
        free(z);
        free(rows);
        free(back);
        free(zt);
    }
}

/* ---- loss ---- */

typedef struct xent_op {
    int batch, classes;
    double *logits;
    int *labels;
} xent_op;

static double xent_loss(void *v)
{
    xent_op *o = v;
    return softmax_xent(o->logits, o->labels, o->batch, o->classes, NULL, NULL);
}

static void test_softmax_xent(void **state)
{
    (void)state;
    xent_op o = {5, 7, 0, 0};
    long n = (long)o.batch * o.classes;
    o.logits = random_vec(n, -1, 1);
    o.labels = malloc(sizeof *o.labels * o.batch);
    assert_non_null(o.labels);
    for (int b = 0; b < o.batch; b++) {
        o.labels[b] = (int)rng_below(&rng, (uint32_t)o.classes);
        for (int j = 0; j < o.classes; j++)
            o.logits[b * o.classes + j] *= 4;
    }
    /* Large logits must not overflow. */
    for (int j = 0; j < o.classes; j++)
        o.logits[j] += 1000;
    double *d = alloc(n);
    int pred[5];
    double loss = softmax_xent(o.logits, o.labels, o.batch, o.classes, d, pred);
    double want = 0;
    for (int b = 0; b < o.batch; b++) {
        const double *z = o.logits + b * o.classes;
        int best = 0;
        double m = z[0], s = 0;
        for (int j = 1; j < o.classes; j++)
            if (z[j] > m) {
                m = z[j];
                best = j;
            }
        for (int j = 0; j < o.classes; j++)
            s += exp(z[j] - m);
        want += log(s) + m - z[o.labels[b]];
        assert_int_equal(pred[b], best);
    }
    want /= o.batch;
    assert_true(isfinite(loss));
    assert_true(fabs(loss - want) < 1e-12 * want);
    /* Each row of dlogits sums to zero. */
    for (int b = 0; b < o.batch; b++) {
        double s = 0;
        for (int j = 0; j < o.classes; j++)
            s += d[b * o.classes + j];
        assert_true(fabs(s) < 1e-15);
    }
    check_grad("softmax_xent", xent_loss, &o, o.logits, d, n);
    free(d);
    free(o.logits);
    free(o.labels);
}

/* ---- gemm ---- */

static void test_gemm(void **state)
{
    (void)state;
    const int m = 4, n = 5, k = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            double *a = random_vec(m * k, -1, 1), *b = random_vec(k * n, -1, 1);
            double *c = random_vec(m * n, -1, 1), *c0 = alloc(m * n);
            memcpy(c0, c, sizeof *c * m * n);
            int lda = ta ? m : k, ldb = tb ? k : n;
            gemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 2, c, n);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int l = 0; l < k; l++)
                        s += (ta ? a[l * lda + i] : a[i * lda + l]) *
                             (tb ? b[j * ldb + l] : b[l * ldb + j]);
                    assert_true(fabs(c[i * n + j] - (0.5 * s + 2 * c0[i * n + j])) <
                                1e-13);
                }
            free(a);
            free(b);
            free(c);
            free(c0);
        }
}

static int setup(void **state)
{
    (void)state;
    rng_seed(&rng, 20240607);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_shared),
        cmocka_unit_test(test_im2col_adjoint),
        cmocka_unit_test(test_conv_rect),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_batchnorm_train),
        cmocka_unit_test(test_batchnorm_eval),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_maxpool_ties),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_leakyrelu),
        cmocka_unit_test(test_smooth),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_softmax_xent),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
