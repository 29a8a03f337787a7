/* model_certify.c - certified radii (runtime/certify.h, docs/METHODS.md 10)
 * on generated models where the answer is known:
 *
 *   ct_linear   one linear layer on normalised pixels: L is ||W diag(1/std)||
 *               (LAPACK), and the pairwise radius is exact: a step just past
 *               it, towards the nearest class, flips the prediction, and a
 *               step just short of it does not;
 *   every model the bound accepts (the test specs' small networks, tanh,
 *               sigmoid and global average pooling among them, and the
 *               seed's baseline, with random running statistics): each
 *               layer's bound is at least its power-iteration estimate, the
 *               radius does not change when the logits are scaled (the last
 *               layer's weight and bias times 7), no logit moves by more
 *               than L times a random perturbation's norm, and L2 PGD at
 *               eps = the radius breaks no certified image;
 *   the flattened kernels' product is not a bound (smaller than L);
 *   quantised activations and weights and noise layers are refused, the
 *               last naming randomized smoothing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lapacke.h>
#include "certify.h"
#include "context.h"
#include "infer.h"
#include "pgd.h"
#include "rng.h"

extern const advcc_model advcc_model_ct_linear, advcc_model_ct_net, advcc_model_gc_maxpool,
    advcc_model_gc_plain, advcc_model_gc_bnconv, advcc_model_gc_bnlone, advcc_model_gc_mlp_bn,
    advcc_model_gc_mlp_bnpost, advcc_model_gc_mlp_bnlast, advcc_model_baseline,
    advcc_model_df_quant, advcc_model_df_act_dtrelu, advcc_model_df_noise, advcc_model_rse,
    advcc_model_quant, advcc_model_gc_smooth, advcc_model_gc_gap, advcc_model_gc_gap_bn,
    advcc_model_gc_gap_input;

static const advcc_model *const certifiable[] = {
    &advcc_model_ct_linear, &advcc_model_ct_net, &advcc_model_gc_maxpool,
    &advcc_model_gc_plain, &advcc_model_gc_bnconv, &advcc_model_gc_bnlone,
    &advcc_model_gc_mlp_bn, &advcc_model_gc_mlp_bnpost, &advcc_model_gc_mlp_bnlast,
    &advcc_model_gc_smooth, &advcc_model_gc_gap, &advcc_model_gc_gap_bn,
    &advcc_model_gc_gap_input,
};
#define N_CERT (int)(sizeof certifiable / sizeof certifiable[0])

#define N_IMG 24

/* A context with random parameters and BatchNorm running statistics (so
 * that BatchNorm is not the identity). */
static advcc_ctx *make(const advcc_model *m, int batch, uint64_t seed)
{
    advcc_ctx *c = ctx_create(m, batch, seed);
    assert_non_null(c);
    advcc_rng r;
    rng_seed(&r, seed + 99);
    for (int i = 0; i < m->n_layers; i++) {
        const advcc_layer *l = &m->layers[i];
        if (l->kind != ADVCC_LAYER_BATCHNORM)
            continue;
        for (int ch = 0; ch < l->in_c; ch++) {
            c->params[m->tensors[l->weight].offset + ch] = (real_t)(0.3 + 1.5 * rng_uniform(&r));
            c->params[m->tensors[l->bias].offset + ch] = (real_t)(rng_uniform(&r) - 0.5);
            c->params[m->tensors[l->running_mean].offset + ch] = (real_t)(0.2 * rng_uniform(&r));
            c->params[m->tensors[l->running_var].offset + ch] = (real_t)(0.2 + rng_uniform(&r));
        }
    }
    return c;
}

static void images(const advcc_model *m, int n, uint64_t seed, real_t *x)
{
    advcc_rng r;
    rng_seed(&r, seed);
    long sz = (long)n * m->in_c * m->in_h * m->in_w;
    for (long i = 0; i < sz; i++)
        x[i] = (real_t)rng_uniform(&r);
}

static void bounds(const advcc_model *m, advcc_ctx *c, int flattened, certify_net *net)
{
    char err[512];
    certify_opts o = {.flattened = flattened};
    if (certify_bounds(m, c->params, &o, net, err, sizeof err) != 0)
        fail_msg("%s: %s", m->name, err);
}

static const advcc_layer *last_linear(const advcc_model *m)
{
    for (int i = m->n_layers - 1; i >= 0; i--)
        if (m->layers[i].kind == ADVCC_LAYER_LINEAR)
            return &m->layers[i];
    return NULL;
}

static void test_linear_exact(void **state)
{
    (void)state;
    const advcc_model *m = &advcc_model_ct_linear;
    advcc_ctx *c = make(m, N_IMG, 3);
    certify_net net;
    bounds(m, c, 0, &net);
    /* W diag(1/std) in double, against LAPACK */
    const advcc_tensor *wt = &m->tensors[last_linear(m)->weight];
    int rows = wt->shape[0], cols = wt->shape[1], per = cols / m->in_c;
    double *w = malloc(sizeof *w * (size_t)rows * cols), *cp = malloc(sizeof *cp * (size_t)rows * cols);
    double s[8], sup[8];
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < cols; t++)
            w[r * cols + t] = c->params[wt->offset + (size_t)r * cols + t] / m->norm_std[t / per];
    memcpy(cp, w, sizeof *w * (size_t)rows * cols);
    assert_int_equal(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', rows, cols, cp, cols, s, NULL,
                                    1, NULL, 1, sup), 0);
    assert_int_equal(net.n, 1);
    if (!(net.lipschitz >= s[0] && net.lipschitz <= s[0] * (1 + 1e-6)))
        fail_msg("L %.12g, ||W|| %.12g", net.lipschitz, s[0]);
    assert_true(net.pairwise);
    assert_true(net.before_last == 1);

    real_t x[N_IMG * 18], logits[N_IMG * 4], xs[18], ls[4];
    images(m, N_IMG, 5, x);
    m->forward(c, x, N_IMG, ADVCC_EVAL, logits);
    for (int i = 0; i < N_IMG; i++) {
        const real_t *z = logits + i * 4;
        int pred, p2;
        double margin, global;
        /* label the image with its own prediction */
        int y = 0;
        for (int j = 1; j < 4; j++)
            if (z[j] > z[y])
                y = j;
        double rad = certify_radius(&net, z, y, &pred, &margin, &global);
        assert_int_equal(pred, y);
        assert_true(rad >= global);
        /* the exact pairwise radius and its nearest class */
        double want = INFINITY;
        int jn = -1;
        for (int j = 0; j < 4; j++) {
            if (j == y)
                continue;
            double d = 0;
            for (int t = 0; t < cols; t++)
                d += (w[y * cols + t] - w[j * cols + t]) * (w[y * cols + t] - w[j * cols + t]);
            double rj = ((double)z[y] - z[j]) / sqrt(d);
            if (rj < want) {
                want = rj;
                jn = j;
            }
        }
        if (!(fabs(rad - want) <= 1e-6 * want))
            fail_msg("image %d: radius %.9g, exact %.9g", i, rad, want);
        /* along w_jn - w_y: past the radius the prediction flips (to jn or
         * another class), short of it not */
        double d = 0;
        for (int t = 0; t < cols; t++)
            d += (w[jn * cols + t] - w[y * cols + t]) * (w[jn * cols + t] - w[y * cols + t]);
        for (int side = 0; side < 2; side++) {
            double step = rad * (side ? 1.01 : 0.99);
            for (int t = 0; t < cols; t++)
                xs[t] = (real_t)(x[i * 18 + t] + step * (w[jn * cols + t] - w[y * cols + t]) / sqrt(d));
            m->forward(c, xs, 1, ADVCC_EVAL, ls);
            p2 = 0;
            for (int j = 1; j < 4; j++)
                if (ls[j] > ls[p2])
                    p2 = j;
            if (side ? p2 == y : p2 != y)
                fail_msg("image %d: a step of %.3f x the radius gives class %d (label %d)", i,
                         side ? 1.01 : 0.99, p2, y);
        }
    }
    certify_net_free(&net);
    free(w);
    free(cp);
    ctx_free(c);
}

/* Radii of the images x under parameters c->params; labels = predictions. */
static void radii(const advcc_model *m, advcc_ctx *c, const real_t *x, int n, double *rad,
                  int *labels)
{
    certify_net net;
    bounds(m, c, 0, &net);
    real_t *z = malloc(sizeof *z * (size_t)n * m->classes);
    m->forward(c, x, n, ADVCC_EVAL, z);
    for (int i = 0; i < n; i++) {
        const real_t *row = z + (size_t)i * m->classes;
        int y = 0, pred;
        double margin;
        for (int j = 1; j < m->classes; j++)
            if (row[j] > row[y])
                y = j;
        labels[i] = y;
        rad[i] = certify_radius(&net, row, y, &pred, &margin, NULL);
    }
    free(z);
    certify_net_free(&net);
}

static void test_scale_invariant(void **state)
{
    (void)state;
    const advcc_model *list[] = {&advcc_model_ct_linear, &advcc_model_ct_net,
                                 &advcc_model_gc_maxpool, &advcc_model_gc_plain};
    for (int k = 0; k < 4; k++) {
        const advcc_model *m = list[k];
        advcc_ctx *c = make(m, N_IMG, 11 + k);
        int in = m->in_c * m->in_h * m->in_w;
        real_t *x = malloc(sizeof *x * (size_t)N_IMG * in);
        double r0[N_IMG], r1[N_IMG];
        int y0[N_IMG], y1[N_IMG];
        images(m, N_IMG, 21 + k, x);
        radii(m, c, x, N_IMG, r0, y0);
        const advcc_layer *l = last_linear(m);
        const advcc_tensor *w = &m->tensors[l->weight];
        for (size_t t = 0; t < w->size; t++)
            c->params[w->offset + t] *= 7;
        if (l->bias >= 0)
            for (size_t t = 0; t < m->tensors[l->bias].size; t++)
                c->params[m->tensors[l->bias].offset + t] *= 7;
        radii(m, c, x, N_IMG, r1, y1);
        for (int i = 0; i < N_IMG; i++) {
            assert_int_equal(y0[i], y1[i]);
            if (!(fabs(r0[i] - r1[i]) <= 1e-4 * fmax(r0[i], 1e-6)))
                fail_msg("%s image %d: radius %.9g, %.9g with the logits x7", m->name, i, r0[i],
                         r1[i]);
        }
        free(x);
        ctx_free(c);
    }
}

/* Every layer: bound >= power iteration; the flattened product is smaller
 * than L wherever a conv has a kernel larger than 1. */
static void test_bounds_above_estimates(void **state)
{
    (void)state;
    for (int k = 0; k < N_CERT; k++) {
        const advcc_model *m = certifiable[k];
        advcc_ctx *c = make(m, 1, 31 + k);
        certify_net net, flat;
        bounds(m, c, 0, &net);
        bounds(m, c, 1, &flat);
        for (int i = 0; i < net.n; i++)
            if (!(net.layers[i].bound >= net.layers[i].estimate * (1 - 1e-6)))
                fail_msg("%s %s: bound %.9g below the estimate %.9g", m->name,
                         net.layers[i].name, net.layers[i].bound, net.layers[i].estimate);
        assert_true(net.lipschitz >= net.estimate * (1 - 1e-5));
        assert_true(flat.lipschitz <= net.lipschitz * (1 + 1e-9));
        certify_net_free(&net);
        certify_net_free(&flat);
        ctx_free(c);
    }
    /* the seed network: tolerance of the Fourier bound on its 32, 16 and 8
     * pixel grids */
    const advcc_model *m = &advcc_model_baseline;
    advcc_ctx *c = make(m, 1, 5);
    certify_net net, flat;
    bounds(m, c, 0, &net);
    bounds(m, c, 1, &flat);
    for (int i = 0; i < net.n; i++) {
        const certify_layer *l = &net.layers[i];
        if (!(l->bound >= l->estimate * (1 - 1e-6) && l->bound <= l->estimate * 1.05))
            fail_msg("baseline %s: bound %.9g, estimate %.9g", l->name, l->bound, l->estimate);
    }
    assert_true(flat.lipschitz < net.lipschitz);
    certify_net_free(&net);
    certify_net_free(&flat);
    ctx_free(c);
}

/* ||f(x + d) - f(x)|| <= L ||d|| for random x and d of several sizes. */
static void test_lipschitz_holds(void **state)
{
    (void)state;
    for (int k = 0; k < N_CERT; k++) {
        const advcc_model *m = certifiable[k];
        advcc_ctx *c = make(m, 2, 41 + k);
        certify_net net;
        bounds(m, c, 0, &net);
        int in = m->in_c * m->in_h * m->in_w, K = m->classes;
        real_t *x = malloc(sizeof *x * 2 * (size_t)in), z[2 * 16];
        advcc_rng r;
        rng_seed(&r, 51 + k);
        for (int trial = 0; trial < 200; trial++) {
            double scale = pow(10, -3 + 3 * rng_uniform(&r)), dn = 0;
            for (int t = 0; t < in; t++) {
                x[t] = (real_t)rng_uniform(&r);
                double d = scale * (2 * rng_uniform(&r) - 1);
                x[in + t] = (real_t)(x[t] + d);
                dn += ((double)x[in + t] - x[t]) * ((double)x[in + t] - x[t]);
            }
            m->forward(c, x, 2, ADVCC_EVAL, z);
            double zn = 0;
            for (int j = 0; j < K; j++)
                zn += ((double)z[K + j] - z[j]) * ((double)z[K + j] - z[j]);
            if (!(sqrt(zn) <= net.lipschitz * sqrt(dn) * (1 + 1e-3) + 1e-5))
                fail_msg("%s: logits moved %.9g for an input step %.9g, L %.9g", m->name,
                         sqrt(zn), sqrt(dn), net.lipschitz);
        }
        free(x);
        certify_net_free(&net);
        ctx_free(c);
    }
}

/* L2 PGD at eps = the radius, per image: no certified image is broken. */
static void test_attack_inside_radius(void **state)
{
    (void)state;
    int checked = 0;
    for (int k = 0; k < N_CERT; k++) {
        const advcc_model *m = certifiable[k];
        advcc_ctx *c = make(m, N_IMG, 61 + k);
        int in = m->in_c * m->in_h * m->in_w;
        real_t *x = malloc(sizeof *x * (size_t)N_IMG * in), *xa = malloc(sizeof *xa * (size_t)in);
        real_t z[16];
        double rad[N_IMG];
        int y[N_IMG];
        images(m, N_IMG, 71 + k, x);
        radii(m, c, x, N_IMG, rad, y);
        infer_ws inf;
        pgd_ws pgd;
        assert_int_equal(infer_init(&inf, c), 0);
        assert_int_equal(pgd_init(&pgd, &inf), 0);
        pgd_cfg cfg = {.norm = ADVCC_L2, .steps = 60, .restarts = 3, .eot = 1,
                       .init = ADVCC_INIT_UNIFORM, .clip = ADVCC_CLIP_PIXEL,
                       .labels = PGD_LABELS_TRUE, .mode = ADVCC_EVAL};
        advcc_rng r;
        rng_seed(&r, 81 + k);
        for (int i = 0; i < N_IMG; i++) {
            if (!(rad[i] > 0))
                continue;
            cfg.eps = rad[i];
            cfg.alpha = 2.5 * rad[i] / cfg.steps;
            assert_int_equal(pgd_attack(&pgd, &cfg, x + (size_t)i * in, &y[i], 1, &r, xa, NULL), 0);
            infer_logits(&inf, xa, 1, ADVCC_EVAL, z);
            int p;
            infer_row_loss(z, y[i], m->classes, &p);
            if (p != y[i])
                fail_msg("%s image %d: certified at %.6g but PGD inside it gives class %d "
                         "(label %d)", m->name, i, rad[i], p, y[i]);
            checked++;
        }
        pgd_free(&pgd);
        infer_free(&inf);
        free(x);
        free(xa);
        ctx_free(c);
    }
    assert_true(checked > N_CERT * N_IMG / 2);
}

static void refused(const advcc_model *m, const char *why)
{
    char err[512];
    if (certify_supported(m, err, sizeof err) == 0)
        fail_msg("%s was not refused", m->name);
    if (!strstr(err, why))
        fail_msg("%s: refused with '%s', want '%s'", m->name, err, why);
}

static void test_refusals(void **state)
{
    (void)state;
    refused(&advcc_model_df_quant, "fake-quantised weights");
    refused(&advcc_model_quant, "fake-quantised weights");
    refused(&advcc_model_df_act_dtrelu, "discontinuous");
    refused(&advcc_model_df_noise, "randomized smoothing");
    refused(&advcc_model_rse, "randomized smoothing");
    char err[512];
    for (int k = 0; k < N_CERT; k++)
        assert_int_equal(certify_supported(certifiable[k], err, sizeof err), 0);
    assert_int_equal(certify_supported(&advcc_model_baseline, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_exact),
        cmocka_unit_test(test_scale_invariant),
        cmocka_unit_test(test_bounds_above_estimates),
        cmocka_unit_test(test_lipschitz_holds),
        cmocka_unit_test(test_attack_inside_radius),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
