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
#include "model_gradcheck.h"

extern const advcc_model advcc_model_baseline, advcc_model_gc_maxpool,
    advcc_model_gc_plain, advcc_model_gc_mlp, advcc_model_gc_bnconv;

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
