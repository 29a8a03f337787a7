/* model_dropout.c - dropout as a generated model runs it (the float
 * build; tests/specs/dropout.net's dropout_probe, whose logits are the
 * output of `linear 400 -> dropout p=0.3`, and in evaluation mode the
 * linear layer's, the dropout's input): in training mode the share of zeros is near
 * p and every kept value is its input times 1 / (1 - p), and the backward
 * passes the gradient through the same mask; in evaluation and frozen
 * training mode (attacks) it is the identity and draws nothing; in
 * training it draws exactly one normal per element, so a pass replayed from
 * the same generator state repeats its mask.  The seed is fixed, so the
 * bound on the share (5 standard errors) cannot flake. */
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
#include "model.h"
#include "rng.h"

extern const advcc_model advcc_model_dropout_probe;

#define B 50
#define P 0.3

typedef struct probe {
    const advcc_model *m;
    advcc_ctx *c;
    long n;
    real_t *x, *z, *y, *dy;     /* images, dropout's input, its output */
} probe;

static void probe_init(probe *t)
{
    t->m = &advcc_model_dropout_probe;
    t->c = ctx_create(t->m, B, 3);
    assert_non_null(t->c);
    t->n = (long)B * t->m->classes;
    assert_int_equal(t->n, (long)B * t->m->in_c * t->m->in_h * t->m->in_w);
    t->x = malloc(sizeof(real_t) * t->n);
    t->y = malloc(sizeof(real_t) * t->n);
    t->z = malloc(sizeof(real_t) * t->n);
    t->dy = malloc(sizeof(real_t) * t->n);
    assert_true(t->x && t->z && t->y && t->dy);
    advcc_rng r;
    rng_seed(&r, 17);
    for (long i = 0; i < t->n; i++) {
        t->x[i] = (real_t)rng_uniform(&r);
        t->dy[i] = (real_t)(rng_uniform(&r) - 0.5);
    }
    advcc_rng before = *t->c->rng;
    t->m->forward(t->c, t->x, B, ADVCC_EVAL, t->z);
    assert_true(rng_equal(&before, t->c->rng));
    for (long i = 0; i < t->n; i++)
        assert_true(t->z[i] != 0);
}

static void probe_free(probe *t)
{
    ctx_free(t->c);
    free(t->x);
    free(t->z);
    free(t->y);
    free(t->dy);
}

static void test_share_and_scale(void **s)
{
    (void)s;
    probe t;
    probe_init(&t);
    /* the gradient reaching the dropout, through the same mask: the
     * linear layer's input gradient is a sum over dropout's kept outputs,
     * so the mask is checked through the gradient of fc1's bias, which
     * is dropout's input gradient summed over the batch */
    t.m->forward(t.c, t.x, B, ADVCC_TRAIN, t.y);
    t.m->backward(t.c, t.dy, 1, NULL);
    const double scale = 1 / (1 - P);
    const int C = t.m->classes;
    const advcc_tensor *bias = NULL;
    for (int k = 0; k < t.m->n_tensors; k++)
        if (strcmp(t.m->tensors[k].name, "fc1.bias") == 0)
            bias = &t.m->tensors[k];
    assert_non_null(bias);
    long zeros = 0;
    for (int j = 0; j < C; j++) {
        double want = 0;
        for (int b = 0; b < B; b++) {
            const long i = (long)b * C + j;
            if (t.y[i] == 0) {
                zeros++;
                continue;
            }
            if (fabs(t.y[i] - t.z[i] * scale) > 1e-6 * fabs(t.z[i]) * scale)
                fail_msg("element %ld kept as %.9g, input %.9g times 1/(1-p) is %.9g", i,
                         (double)t.y[i], (double)t.z[i], t.z[i] * scale);
            want += t.dy[i] * scale;
        }
        const double got = t.c->grads[bias->offset + j];
        if (fabs(got - want) > 1e-5 * (1 + fabs(want)))
            fail_msg("fc1.bias[%d] gradient %.9g, the kept outputs' gradients sum to %.9g", j,
                     got, want);
    }
    const double share = (double)zeros / t.n, se = sqrt(P * (1 - P) / t.n);
    if (fabs(share - P) > 5 * se)
        fail_msg("%.4f of the elements zeroed, p = %.2f (5 standard errors: %.4f)", share, P,
                 5 * se);
    probe_free(&t);
}

static void test_identity_outside_training(void **s)
{
    (void)s;
    probe t;
    probe_init(&t);
    const int modes[2] = {ADVCC_EVAL, ADVCC_TRAIN_FROZEN};
    for (int k = 0; k < 2; k++) {
        advcc_rng before = *t.c->rng;
        t.m->forward(t.c, t.x, B, modes[k], t.y);
        assert_true(rng_equal(&before, t.c->rng));
        assert_memory_equal(t.y, t.z, sizeof(real_t) * t.n);
    }
    probe_free(&t);
}

static void test_replay(void **s)
{
    (void)s;
    probe t;
    probe_init(&t);
    advcc_rng before = *t.c->rng;
    t.m->forward(t.c, t.x, B, ADVCC_TRAIN, t.y);
    /* one call over the batch (noise.h) */
    advcc_rng r = before;
    rng_u64(&r);
    assert_true(rng_equal(&r, t.c->rng));
    /* the next pass draws another mask; the same state, the same one */
    real_t *y2 = malloc(sizeof(real_t) * t.n);
    assert_non_null(y2);
    t.m->forward(t.c, t.x, B, ADVCC_TRAIN, y2);
    assert_memory_not_equal(y2, t.y, sizeof(real_t) * t.n);
    *t.c->rng = before;
    t.m->forward(t.c, t.x, B, ADVCC_TRAIN, y2);
    assert_memory_equal(y2, t.y, sizeof(real_t) * t.n);
    free(y2);
    probe_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_and_scale),
        cmocka_unit_test(test_identity_outside_training),
        cmocka_unit_test(test_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
