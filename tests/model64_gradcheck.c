/* model64_gradcheck.c - finite-difference checks, in double precision, of
 * the generated forward and backward passes: every parameter tensor and the
 * input gradient, in training mode (batch statistics) and in evaluation
 * mode (running statistics), for the seed CNN and for small models that
 * use every layer kind and fused-group shape (tests/specs/layers.net). */
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

extern const advcc_model advcc_model_baseline, advcc_model_gc_maxpool,
    advcc_model_gc_plain, advcc_model_gc_mlp, advcc_model_gc_bnconv;

typedef struct fixture {
    const advcc_model *m;
    advcc_ctx *c;
    int batch;
    real_t *x, *logits, *dlogits, *dx;
    int *y;
} fixture;

static fixture *fixture_new(const advcc_model *m, int batch, uint64_t seed)
{
    fixture *f = calloc(1, sizeof *f);
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    f->m = m;
    f->batch = batch;
    f->c = ctx_create(m, batch, seed);
    f->x = malloc(sizeof(real_t) * img * batch);
    f->dx = malloc(sizeof(real_t) * img * batch);
    f->logits = malloc(sizeof(real_t) * m->classes * batch);
    f->dlogits = malloc(sizeof(real_t) * m->classes * batch);
    f->y = malloc(sizeof(int) * batch);
    assert_non_null(f->c);
    advcc_rng r;
    rng_seed(&r, seed + 77);
    for (size_t i = 0; i < img * batch; i++)
        f->x[i] = rng_uniform(&r);
    for (int i = 0; i < batch; i++)
        f->y[i] = (int)rng_below(&r, (uint32_t)m->classes);
    /* Non-trivial running statistics, so that eval mode differs. */
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        if (strstr(T->name, "running_var"))
            for (size_t i = 0; i < T->size; i++)
                f->c->params[T->offset + i] = 0.5 + rng_uniform(&r);
        if (strstr(T->name, "running_mean"))
            for (size_t i = 0; i < T->size; i++)
                f->c->params[T->offset + i] = 0.2 * (rng_uniform(&r) - 0.5);
        if (T->kind == ADVCC_BN_SCALE || T->kind == ADVCC_BN_SHIFT)
            for (size_t i = 0; i < T->size; i++)
                f->c->params[T->offset + i] += 0.3 * (rng_uniform(&r) - 0.5);
    }
    return f;
}

static void fixture_free(fixture *f)
{
    ctx_free(f->c);
    free(f->x);
    free(f->dx);
    free(f->logits);
    free(f->dlogits);
    free(f->y);
    free(f);
}

static double loss_at(fixture *f, int mode)
{
    f->m->forward(f->c, f->x, f->batch, mode, f->logits);
    return softmax_xent(f->logits, f->y, f->batch, f->m->classes, NULL, NULL);
}

static int close_enough(double analytic, double numeric)
{
    double scale = fmax(1e-3, fmax(fabs(analytic), fabs(numeric)));
    return fabs(analytic - numeric) <= 2e-5 * scale;
}

/* Central difference of the loss in *v.  A ReLU or max-pool kink within h
 * of the point spoils one estimate; when the first disagrees, a step 100
 * times smaller decides (a kink cannot stay within it by chance). */
static void check_entry(fixture *f, int mode, real_t *v, const char *what,
                        long i, double analytic)
{
    double h = 1e-6, numeric = 0;
    for (int attempt = 0; attempt < 2; attempt++, h /= 100) {
        real_t keep = *v;
        *v = keep + h;
        double lp = loss_at(f, mode);
        *v = keep - h;
        double lm = loss_at(f, mode);
        *v = keep;
        numeric = (lp - lm) / (2 * h);
        if (close_enough(analytic, numeric))
            return;
    }
    fail_msg("%s[%ld]: analytic %.10g, finite difference %.10g", what, i,
             analytic, numeric);
}

/* Checks every trained tensor at up to `per` entries, and the input. */
static void gradcheck(const advcc_model *m, int mode, int batch, int per)
{
    fixture *f = fixture_new(m, batch, 1234);
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    loss_at(f, mode);
    softmax_xent(f->logits, f->y, batch, m->classes, f->dlogits, NULL);
    m->backward(f->c, f->dlogits, 1, f->dx);
    real_t *grads = malloc(sizeof(real_t) * m->n_params);
    memcpy(grads, f->c->grads, sizeof(real_t) * m->n_params);
    advcc_rng r;
    rng_seed(&r, 99);
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        if (T->kind == ADVCC_STATE)
            continue;
        for (int k = 0; k < per; k++) {
            size_t i = T->offset + rng_below(&r, (uint32_t)T->size);
            check_entry(f, mode, &f->c->params[i], T->name, (long)(i - T->offset), grads[i]);
        }
    }
    for (int k = 0; k < 3 * per; k++) {
        size_t i = rng_below(&r, (uint32_t)(img * batch));
        check_entry(f, mode, &f->x[i], "input", (long)i, f->dx[i]);
    }
    /* The input-only backward gives the same input gradient and leaves the
     * parameter gradients alone. */
    real_t *dx2 = malloc(sizeof(real_t) * img * batch);
    loss_at(f, mode);
    memset(f->c->grads, 0, sizeof(real_t) * m->n_params);
    m->backward(f->c, f->dlogits, 0, dx2);
    for (size_t i = 0; i < img * batch; i++)
        assert_true(dx2[i] == f->dx[i]);
    for (size_t i = 0; i < m->n_params; i++)
        assert_true(f->c->grads[i] == 0);
    /* And the parameters-only backward gives the same parameter gradients. */
    loss_at(f, mode);
    m->backward(f->c, f->dlogits, 1, NULL);
    for (size_t i = 0; i < m->n_params; i++)
        assert_true(f->c->grads[i] == grads[i]);
    free(dx2);
    free(grads);
    fixture_free(f);
}

#define GRADCHECK(model, batch, per)                                        \
    static void test_##model##_train(void **s)                             \
    {                                                                      \
        (void)s;                                                           \
        gradcheck(&advcc_model_##model, ADVCC_TRAIN_FROZEN, batch, per);   \
    }                                                                      \
    static void test_##model##_eval(void **s)                              \
    {                                                                      \
        (void)s;                                                           \
        gradcheck(&advcc_model_##model, ADVCC_EVAL, batch, per);           \
    }

GRADCHECK(gc_maxpool, 3, 12)
GRADCHECK(gc_plain, 3, 12)
GRADCHECK(gc_mlp, 2, 12)
GRADCHECK(gc_bnconv, 3, 12)
GRADCHECK(baseline, 2, 6)

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
        cmocka_unit_test(test_gc_mlp_train),     cmocka_unit_test(test_gc_mlp_eval),
        cmocka_unit_test(test_gc_bnconv_train),  cmocka_unit_test(test_gc_bnconv_eval),
        cmocka_unit_test(test_baseline_train),   cmocka_unit_test(test_baseline_eval),
        cmocka_unit_test(test_running_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
