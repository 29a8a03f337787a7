/* model64_gradcheck.c - finite-difference checks, in double precision, of
 * the generated forward and backward passes: every parameter tensor and the
 * input gradient, in training mode (batch statistics) and in evaluation
 * mode (running statistics), for the seed CNN and for small models that
 * use every layer kind and fused-group shape (tests/specs/layers.net), and
 * leaky ReLU in every place an activation goes (tests/specs/leaky.net),
 * tanh and the sigmoid likewise (tests/specs/smooth.net), global average
 * pooling after each input layout (tests/specs/gap.net),
 * dropout in each layout, in training mode with its masks replayed from
 * the generator as the noise is (tests/specs/dropout.net),
 * BatchNorm over flat features in every position (tests/specs/flat.net),
 * residual blocks of every shape (tests/specs/residual.net) and the
 * parameters of an activation a block's add takes (test_res_absorbed_params),
 * rectangular kernels, strides and paddings (tests/specs/rect.net),
 * whose semantics are checked too: an identity BatchNorm changes nothing,
 * and one on the logits gives them its batch statistics. */
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
#include "kernels.h"
#include "model.h"
#include "rng.h"
#include "model_gradcheck.h"

extern const advcc_model advcc_model_baseline, advcc_model_gc_maxpool,
    advcc_model_gc_plain, advcc_model_gc_mlp, advcc_model_gc_bnconv, advcc_model_gc_bnlone,
    advcc_model_gc_mlp_bn, advcc_model_gc_mlp_bnpost, advcc_model_gc_mlp_bnflat,
    advcc_model_gc_mlp_bnlast, advcc_model_gc_leaky, advcc_model_gc_smooth,
    advcc_model_gc_gap, advcc_model_gc_gap_bn, advcc_model_gc_gap_input,
    advcc_model_gc_dropout, advcc_model_gc_dropout_zero, advcc_model_gc_res,
    advcc_model_gc_res_input, advcc_model_gc_res_flat, advcc_model_gc_rect,
    advcc_model_gc_rect_sep, advcc_model_gc_res_dtrelu, advcc_model_gc_res_cnhw_short,
    advcc_model_gc_res_nest_input, advcc_model_gc_res_bn, advcc_model_gc_res_noise,
    advcc_model_gc_res_rse, advcc_model_gc_res_q, advcc_model_gc_res_short_input,
    advcc_model_gc_res_deep, advcc_model_gc_res_dtrelu_flat;

#define GRADCHECK(model, batch, per)                                        \
    static void test_##model##_train(void **s)                             \
    {                                                                      \
        (void)s;                                                           \
        gradcheck(&advcc_model_##model, ADVCC_TRAIN_FROZEN, batch, per, 0);   \
    }                                                                      \
    static void test_##model##_eval(void **s)                              \
    {                                                                      \
        (void)s;                                                           \
        gradcheck(&advcc_model_##model, ADVCC_EVAL, batch, per, 0);           \
    }

GRADCHECK(gc_maxpool, 3, 12)
GRADCHECK(gc_plain, 3, 12)
GRADCHECK(gc_leaky, 3, 12)
GRADCHECK(gc_smooth, 3, 12)
GRADCHECK(gc_gap, 3, 12)
GRADCHECK(gc_gap_bn, 3, 12)
GRADCHECK(gc_gap_input, 3, 12)
GRADCHECK(gc_dropout, 3, 12)
GRADCHECK(gc_dropout_zero, 3, 12)
GRADCHECK(gc_mlp, 2, 12)
GRADCHECK(gc_res, 3, 12)
GRADCHECK(gc_res_input, 3, 12)
GRADCHECK(gc_res_flat, 3, 12)
GRADCHECK(gc_rect, 3, 12)
GRADCHECK(gc_res_cnhw_short, 3, 12)
GRADCHECK(gc_res_nest_input, 3, 12)
GRADCHECK(gc_res_bn, 3, 12)
GRADCHECK(gc_res_noise, 3, 12)
GRADCHECK(gc_res_rse, 3, 12)
GRADCHECK(gc_res_short_input, 3, 12)
GRADCHECK(gc_res_deep, 3, 12)

static void test_gc_res_noise_masked(void **s)
{
    (void)s;
    gradcheck(&advcc_model_gc_res_noise, ADVCC_TRAIN, 3, 12, 0);
    gradcheck(&advcc_model_gc_res_rse, ADVCC_TRAIN, 3, 12, 0);
    gradcheck(&advcc_model_gc_res_short_input, ADVCC_TRAIN, 3, 12, 0);
}

/* Quantised weights: their straight-through gradient is no finite
 * difference; everything else is checked. */
static void test_gc_res_q(void **s)
{
    (void)s;
    gradcheck(&advcc_model_gc_res_q, ADVCC_TRAIN_FROZEN, 3, 12, 1u << ADVCC_WEIGHT);
    gradcheck(&advcc_model_gc_res_q, ADVCC_EVAL, 3, 12, 1u << ADVCC_WEIGHT);
}
GRADCHECK(gc_rect_sep, 3, 12)

/* Dropout in training mode: the masks fixed by replaying the generator
 * before every pass (loss_at). */
static void test_gc_dropout_masked(void **s)
{
    (void)s;
    gradcheck(&advcc_model_gc_dropout, ADVCC_TRAIN, 3, 12, 0);
    gradcheck(&advcc_model_gc_dropout_zero, ADVCC_TRAIN, 3, 12, 0);
}
GRADCHECK(gc_bnconv, 3, 12)
GRADCHECK(gc_bnlone, 3, 12)
GRADCHECK(baseline, 2, 6)
GRADCHECK(gc_mlp_bn, 4, 12)
GRADCHECK(gc_mlp_bnpost, 4, 12)
GRADCHECK(gc_mlp_bnflat, 4, 12)
GRADCHECK(gc_mlp_bnlast, 4, 12)

/* gc_mlp with an identity BatchNorm added (flat.net) gives gc_mlp's logits
 * and input gradient in evaluation mode, on gc_mlp's weights: a BatchNorm
 * that mixed up the batch and feature axes would not. */
static void check_identity_bn(const advcc_model *with)
{
    const advcc_model *plain = &advcc_model_gc_mlp;
    const int B = 5;
    fixture *a = fixture_new(plain, B, 7);
    fixture *b = fixture_new(with, B, 7);
    for (int t = 0; t < with->n_tensors; t++) {
        const advcc_tensor *T = &with->tensors[t];
        double *p = b->c->params + T->offset;
        const double v = strstr(T->name, ".running_var") ? 1 - 1e-5
                         : T->kind == ADVCC_BN_SCALE    ? 1
                                                        : 0;
        int found = 0;
        for (int u = 0; u < plain->n_tensors; u++)
            if (strcmp(plain->tensors[u].name, T->name) == 0) {
                assert_int_equal(plain->tensors[u].size, T->size);
                memcpy(p, a->c->params + plain->tensors[u].offset, sizeof(double) * T->size);
                found = 1;
            }
        if (!found)     /* the BatchNorm's */
            for (size_t i = 0; i < T->size; i++)
                p[i] = v;
    }
    forward_backward(a, ADVCC_EVAL);
    forward_backward(b, ADVCC_EVAL);
    for (int i = 0; i < B * plain->classes; i++)
        if (fabs(a->logits[i] - b->logits[i]) > 1e-12 * (1 + fabs(a->logits[i])))
            fail_msg("%s logit %d: %.17g, gc_mlp %.17g", with->name, i, b->logits[i],
                     a->logits[i]);
    for (int i = 0; i < B * 16; i++)
        if (fabs(a->dx[i] - b->dx[i]) > 1e-12 * (1e-3 + fabs(a->dx[i])))
            fail_msg("%s input gradient %d: %.17g, gc_mlp %.17g", with->name, i, b->dx[i],
                     a->dx[i]);
    fixture_free(a);
    fixture_free(b);
}

/* A residual block's add takes the activation after it, and with it that
 * activation's parameters: the parameters-only backward (dx NULL, as
 * training calls it) must hand the add its output gradient, not what the
 * last pass over other images left in the buffer. */
static void check_params_without_dx(const advcc_model *m)
{
    const int mode = ADVCC_TRAIN_FROZEN;
    fixture *f = fixture_new(m, 3, 1234);
    const size_t n = (size_t)m->in_c * m->in_h * m->in_w * 3;
    forward_backward(f, mode);
    double *grads = malloc(sizeof(double) * m->n_params);
    assert_non_null(grads);
    memcpy(grads, f->c->grads, sizeof(double) * m->n_params);
    for (size_t i = 0; i < n; i++)      /* other images */
        f->x[i] = 1 - f->x[i];
    forward_backward(f, mode);
    for (size_t i = 0; i < n; i++)
        f->x[i] = 1 - f->x[i];
    loss_at(f, mode);
    softmax_xent(f->logits, f->y, f->batch, m->classes, f->dlogits, NULL);
    memset(f->c->grads, 0, sizeof(double) * m->n_params);
    m->backward(f->c, f->dlogits, 1, NULL);
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        for (size_t i = T->offset; i < T->offset + T->size; i++)
            if (f->c->grads[i] != grads[i])
                fail_msg("%s[%zu]: %.17g without dx, %.17g with it", T->name, i - T->offset,
                         f->c->grads[i], grads[i]);
    }
    free(grads);
    fixture_free(f);
}

/* (DTReLU's straight-through gradient is no finite difference.) */
static void test_res_absorbed_params(void **s)
{
    (void)s;
    check_params_without_dx(&advcc_model_gc_res_dtrelu);
    check_params_without_dx(&advcc_model_gc_res_dtrelu_flat);
}

static void test_flat_bn_identity(void **s)
{
    (void)s;
    check_identity_bn(&advcc_model_gc_mlp_bn);
    check_identity_bn(&advcc_model_gc_mlp_bnpost);
    check_identity_bn(&advcc_model_gc_mlp_bnflat);
    check_identity_bn(&advcc_model_gc_mlp_bnlast);
}

/* BatchNorm1d on the logits in training mode: each class's logits over the
 * batch have mean bias[j] and biased variance weight[j]^2 var / (var +
 * eps); the running statistics move by momentum 0.1 towards the batch mean
 * and the unbiased variance of the features it normalised (recomputed from
 * the rows fc2 wrote). */
static void test_flat_bn_statistics(void **s)
{
    (void)s;
    const advcc_model *m = &advcc_model_gc_mlp_bnlast;
    const int B = 6, C = m->classes;
    fixture *f = fixture_new(m, B, 11);
    const advcc_tensor *w = NULL, *bias = NULL, *rm = NULL, *rv = NULL;
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        if (strcmp(T->name, "bn1.weight") == 0)
            w = T;
        else if (strcmp(T->name, "bn1.bias") == 0)
            bias = T;
        else if (strcmp(T->name, "bn1.running_mean") == 0)
            rm = T;
        else if (strcmp(T->name, "bn1.running_var") == 0)
            rv = T;
    }
    assert_non_null(w);
    assert_non_null(bias);
    assert_non_null(rm);
    assert_non_null(rv);
    double rm0[8], rv0[8];
    memcpy(rm0, f->c->params + rm->offset, sizeof(double) * C);
    memcpy(rv0, f->c->params + rv->offset, sizeof(double) * C);
    /* The pre-BatchNorm logits: the same pass in evaluation mode through an
     * identity BatchNorm. */
    double *p = f->c->params;
    double keep[4][8];
    const advcc_tensor *bn[4] = {w, bias, rm, rv};
    const double ident[4] = {1, 0, 0, 1 - 1e-5};
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < C; j++) {
            keep[k][j] = p[bn[k]->offset + j];
            p[bn[k]->offset + j] = ident[k];
        }
    double z[6 * 8];
    m->forward(f->c, f->x, B, ADVCC_EVAL, z);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < C; j++)
            p[bn[k]->offset + j] = keep[k][j];
    m->forward(f->c, f->x, B, ADVCC_TRAIN, f->logits);
    for (int j = 0; j < C; j++) {
        double zm = 0, zv = 0, ym = 0, yv = 0;
        for (int i = 0; i < B; i++) {
            zm += z[i * C + j] / B;
            ym += f->logits[i * C + j] / B;
        }
        for (int i = 0; i < B; i++) {
            zv += (z[i * C + j] - zm) * (z[i * C + j] - zm) / B;
            yv += (f->logits[i * C + j] - ym) * (f->logits[i * C + j] - ym) / B;
        }
        const double g = p[w->offset + j];
        assert_true(fabs(ym - p[bias->offset + j]) < 1e-12);
        assert_true(fabs(yv - g * g * zv / (zv + 1e-5)) < 1e-12);
        assert_true(fabs(p[rm->offset + j] - (0.9 * rm0[j] + 0.1 * zm)) < 1e-12);
        assert_true(fabs(p[rv->offset + j] - (0.9 * rv0[j] + 0.1 * zv * B / (B - 1))) < 1e-12);
    }
    fixture_free(f);
}

/* Training mode updates the running statistics, the frozen mode does not,
 * and both give the same logits. */
static void test_running_stats(void **s)
{
    (void)s;
    const advcc_model *m = &advcc_model_baseline;
    fixture *f = fixture_new(m, 2, 5);
    real_t *before = malloc(sizeof(real_t) * m->n_params);
    real_t *l1 = malloc(sizeof(real_t) * m->classes * 2);
    memcpy(before, f->c->params, sizeof(real_t) * m->n_params);
    m->forward(f->c, f->x, 2, ADVCC_TRAIN_FROZEN, l1);
    assert_memory_equal(before, f->c->params, sizeof(real_t) * m->n_params);
    m->forward(f->c, f->x, 2, ADVCC_TRAIN, f->logits);
    assert_memory_equal(l1, f->logits, sizeof(real_t) * m->classes * 2);
    int changed = 0;
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        if (T->kind == ADVCC_STATE)
            changed += memcmp(before + T->offset, f->c->params + T->offset,
                              sizeof(real_t) * T->size) != 0;
        else
            assert_memory_equal(before + T->offset, f->c->params + T->offset,
                                sizeof(real_t) * T->size);
    }
    assert_int_equal(changed, 6); /* 3 BatchNorms x (mean, var) */
    free(before);
    free(l1);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gc_maxpool_train), cmocka_unit_test(test_gc_maxpool_eval),
        cmocka_unit_test(test_gc_plain_train),   cmocka_unit_test(test_gc_plain_eval),
        cmocka_unit_test(test_gc_leaky_train),   cmocka_unit_test(test_gc_leaky_eval),
        cmocka_unit_test(test_gc_smooth_train),  cmocka_unit_test(test_gc_smooth_eval),
        cmocka_unit_test(test_gc_gap_train),     cmocka_unit_test(test_gc_gap_eval),
        cmocka_unit_test(test_gc_gap_bn_train),  cmocka_unit_test(test_gc_gap_bn_eval),
        cmocka_unit_test(test_gc_gap_input_train), cmocka_unit_test(test_gc_gap_input_eval),
        cmocka_unit_test(test_gc_dropout_train), cmocka_unit_test(test_gc_dropout_eval),
        cmocka_unit_test(test_gc_dropout_zero_train), cmocka_unit_test(test_gc_dropout_zero_eval),
        cmocka_unit_test(test_gc_dropout_masked),
        cmocka_unit_test(test_gc_res_train),     cmocka_unit_test(test_gc_res_eval),
        cmocka_unit_test(test_gc_res_input_train), cmocka_unit_test(test_gc_res_input_eval),
        cmocka_unit_test(test_gc_res_flat_train), cmocka_unit_test(test_gc_res_flat_eval),
        cmocka_unit_test(test_gc_res_cnhw_short_train), cmocka_unit_test(test_gc_res_cnhw_short_eval),
        cmocka_unit_test(test_gc_res_nest_input_train), cmocka_unit_test(test_gc_res_nest_input_eval),
        cmocka_unit_test(test_gc_res_bn_train), cmocka_unit_test(test_gc_res_bn_eval),
        cmocka_unit_test(test_gc_res_noise_train), cmocka_unit_test(test_gc_res_noise_eval),
        cmocka_unit_test(test_gc_res_noise_masked),
        cmocka_unit_test(test_gc_res_rse_train), cmocka_unit_test(test_gc_res_rse_eval),
        cmocka_unit_test(test_gc_res_q),
        cmocka_unit_test(test_gc_res_short_input_train), cmocka_unit_test(test_gc_res_short_input_eval),
        cmocka_unit_test(test_gc_res_deep_train), cmocka_unit_test(test_gc_res_deep_eval),
        cmocka_unit_test(test_res_absorbed_params),
        cmocka_unit_test(test_gc_mlp_train),     cmocka_unit_test(test_gc_mlp_eval),
        cmocka_unit_test(test_gc_rect_train),    cmocka_unit_test(test_gc_rect_eval),
        cmocka_unit_test(test_gc_rect_sep_train), cmocka_unit_test(test_gc_rect_sep_eval),
        cmocka_unit_test(test_gc_bnconv_train),  cmocka_unit_test(test_gc_bnconv_eval),
        cmocka_unit_test(test_gc_bnlone_train),  cmocka_unit_test(test_gc_bnlone_eval),
        cmocka_unit_test(test_baseline_train),   cmocka_unit_test(test_baseline_eval),
        cmocka_unit_test(test_running_stats),
        cmocka_unit_test(test_gc_mlp_bn_train),      cmocka_unit_test(test_gc_mlp_bn_eval),
        cmocka_unit_test(test_gc_mlp_bnpost_train),  cmocka_unit_test(test_gc_mlp_bnpost_eval),
        cmocka_unit_test(test_gc_mlp_bnflat_train),  cmocka_unit_test(test_gc_mlp_bnflat_eval),
        cmocka_unit_test(test_gc_mlp_bnlast_train),  cmocka_unit_test(test_gc_mlp_bnlast_eval),
        cmocka_unit_test(test_flat_bn_identity),
        cmocka_unit_test(test_flat_bn_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
