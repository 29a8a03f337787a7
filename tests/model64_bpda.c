/* model64_bpda.c - BPDA (docs/METHODS.md 11), checked in double precision:
 * with ctx->bpda set, the input gradient of a network with every activation
 * quantiser and threshold (tests/specs/bpda.net: bp_net) is the gradient of
 * its twin with each of them replaced by the identity (bp_twin), fed the
 * same output gradient, in evaluation and batch-statistics modes, also when
 * a DTReLU is constant (hi <= lo); the forward pass does not change; the
 * straight-through gradient with the switch off is what it was before, and
 * differs.  DTReLU fused into conv loops with a max pool agrees with the
 * kernel called alone under BPDA too (df_net, df_lone of defences.net), and
 * each kernel passes dy unchanged while its threshold gradients stay as
 * they were. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "context.h"
#include "dtrelu.h"
#include "kernels.h"
#include "model.h"
#include "rng.h"
#include "threshold_act.h"
#include "model_gradcheck.h"

extern const advcc_model advcc_model_bp_net, advcc_model_bp_twin,
    advcc_model_df_net, advcc_model_df_lone;

static const int modes[2] = {ADVCC_TRAIN_FROZEN, ADVCC_EVAL};

/* Every tensor of `to` from the tensor of the same name of `from`, and the
 * images. */
static void share(fixture *to, const fixture *from)
{
    for (int t = 0; t < to->m->n_tensors; t++) {
        const advcc_tensor *T = &to->m->tensors[t];
        const advcc_tensor *U = tensor_named(from->m, T->name);
        assert_non_null(U);
        assert_int_equal(T->size, U->size);
        memcpy(to->c->params + T->offset, from->c->params + U->offset,
               sizeof(double) * T->size);
    }
    size_t img = (size_t)from->m->in_c * from->m->in_h * from->m->in_w;
    memcpy(to->x, from->x, sizeof(double) * img * from->batch);
    memcpy(to->y, from->y, sizeof(int) * from->batch);
}

/* bp_net under BPDA against bp_twin; flat: dtrelu2 made constant. */
static void check_twin(int mode, int flat)
{
    fixture *a = fixture_new(&advcc_model_bp_net, 4, 77);
    fixture *b = fixture_new(&advcc_model_bp_twin, 4, 77);
    const advcc_model *m = a->m;
    if (flat) {
        a->c->params[tensor_named(m, "dtrelu2.lo")->offset] = 0.3;
        a->c->params[tensor_named(m, "dtrelu2.hi")->offset] = -0.2;
    }
    share(b, a);
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w, n = img * 4;
    const size_t nl = 4 * (size_t)m->classes;
    double *ste = malloc(sizeof(double) * n), *logits = malloc(sizeof(double) * nl);

    forward_backward(a, mode);
    memcpy(ste, a->dx, sizeof(double) * n);
    memcpy(logits, a->logits, sizeof(double) * nl);
    a->c->bpda = 1;
    forward_backward(a, mode);
    assert_memory_equal(a->logits, logits, sizeof(double) * nl);
    loss_at(b, mode);           /* the twin's activations, for its backward */
    b->m->backward(b->c, a->dlogits, 0, b->dx);
    double scale = max_abs(b->dx, n);
    assert_true(scale > 0);
    if (!(max_diff(a->dx, b->dx, n) <= 1e-12 * scale))
        fail_msg("mode %d flat %d: BPDA and the identity twin differ by %.3g (scale %.3g)",
                 mode, flat, max_diff(a->dx, b->dx, n), scale);
    /* the straight-through gradient is another one, and comes back */
    assert_true(max_diff(ste, b->dx, n) > 1e-3 * scale);
    a->c->bpda = 0;
    forward_backward(a, mode);
    assert_memory_equal(a->dx, ste, sizeof(double) * n);
    free(ste);
    free(logits);
    fixture_free(a);
    fixture_free(b);
}

static void test_bpda_is_the_identity_twin(void **s)
{
    (void)s;
    for (int k = 0; k < 2; k++)
        for (int flat = 0; flat < 2; flat++)
            check_twin(modes[k], flat);
}

/* Fused DTReLU (conv with BatchNorm and average pool, conv with max pool,
 * linear) against the kernel alone, both under BPDA. */
static void test_bpda_fused_equals_lone(void **s)
{
    (void)s;
    for (int k = 0; k < 2; k++) {
        fixture *a = fixture_new(&advcc_model_df_net, 3, 55);
        fixture *b = fixture_new(&advcc_model_df_lone, 3, 55);
        static const double lo[3] = {-0.1, -0.03, -0.05}, hi[3] = {0.15, 0.04, 0.08};
        char name[32];
        for (int j = 0; j < 3; j++) {
            snprintf(name, sizeof name, "dtrelu%d.lo", j + 1);
            a->c->params[tensor_named(a->m, name)->offset] = lo[j];
            snprintf(name, sizeof name, "dtrelu%d.hi", j + 1);
            a->c->params[tensor_named(a->m, name)->offset] = hi[j];
        }
        share(b, a);
        const size_t n = (size_t)a->m->in_c * a->m->in_h * a->m->in_w * 3;
        forward_backward(a, modes[k]);
        double *ste = malloc(sizeof(double) * n);
        memcpy(ste, a->dx, sizeof(double) * n);
        a->c->bpda = b->c->bpda = 1;
        forward_backward(a, modes[k]);
        forward_backward(b, modes[k]);
        double scale = max_abs(a->dx, n);
        assert_true(scale > 0);
        assert_true(max_diff(a->dx, b->dx, n) <= 1e-12 * scale);
        assert_true(max_diff(a->dx, ste, n) > 1e-3 * scale);
        free(ste);
        fixture_free(a);
        fixture_free(b);
    }
}

/* Each kernel under BPDA: dx = dy (also in place), threshold gradients as
 * without it. */
static void test_bpda_kernels(void **s)
{
    (void)s;
    enum { N = 200, K = 5 };
    double x[N], dy[N], dx[N], dx0[N], d2[N], t[K], v[K];
    double dt[K], dv[K], dt0[K], dv0[K];
    advcc_rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        x[i] = 2 * rng_uniform(&r) - 1;
        dy[i] = rng_normal(&r);
    }
    for (int j = 0; j < K; j++) {
        t[j] = -0.4 + 0.2 * j;
        v[j] = t[j] * t[j];
    }
    for (int kind = 0; kind < 4; kind++) {
        for (int bpda = 0; bpda < 2; bpda++) {
            double *g = bpda ? dx : dx0, *gt = bpda ? dt : dt0, *gv = bpda ? dv : dv0;
            memcpy(d2, dy, sizeof d2);
            if (kind == 0) {
                dtrelu_backward(x, dy, N, -0.3, 0.4, g, &gt[0], &gt[1], bpda);
                dtrelu_backward(x, d2, N, -0.3, 0.4, d2, NULL, NULL, bpda);
            } else if (kind == 1) {
                naive_threshold_backward(x, dy, N, t, K, g, gt, bpda);
                naive_threshold_backward(x, d2, N, t, K, d2, NULL, bpda);
            } else if (kind == 2) {
                ddtrelu_backward(x, dy, N, t, K, g, gt, bpda);
                ddtrelu_backward(x, d2, N, t, K, d2, NULL, bpda);
            } else {
                pwl_backward(x, dy, N, t, v, K, g, gt, gv, bpda);
                pwl_backward(x, d2, N, t, v, K, d2, NULL, NULL, bpda);
            }
            assert_memory_equal(d2, g, sizeof d2);
        }
        assert_memory_equal(dx, dy, sizeof dx);
        assert_true(max_diff(dx0, dy, N) > 0.1);     /* STE cuts some */
        int k = kind == 0 ? 2 : K;
        assert_memory_equal(dt, dt0, sizeof(double) * k);
        if (kind == 3)
            assert_memory_equal(dv, dv0, sizeof dv);
    }
    /* a constant DTReLU (hi <= lo) passes the gradient under BPDA only */
    double lo_g, hi_g;
    dtrelu_backward(x, dy, N, 0.5, 0.2, dx, &lo_g, &hi_g, 1);
    assert_memory_equal(dx, dy, sizeof dx);
    dtrelu_backward(x, dy, N, 0.5, 0.2, dx, &lo_g, &hi_g, 0);
    assert_true(max_abs(dx, N) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpda_is_the_identity_twin),
        cmocka_unit_test(test_bpda_fused_equals_lone),
        cmocka_unit_test(test_bpda_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
