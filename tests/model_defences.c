/* model_defences.c - the nine models of the experiment (docs/METHODS.md 7), as
 * compiled in float from specs/, carry the defences their names promise:
 *
 *   quant    fake-quantised conv and linear weights (a weight nudged by less
 *            than its grid step's distance to a rounding boundary changes
 *            no logit, where it does change the float model's) and five
 *            DTReLUs with learnable bounds starting at [0, 6];
 *   reg      twelve regulariser terms (orthogonal form 4 and spectral norm
 *            on six layers), the orthogonal ones inside the band docs/METHODS.md
 *            5 derives for form 4, with power-iteration state;
 *   adv      adversarial training in the recipe;
 *   rse      noise before each conv block, drawn in training and
 *            inference, and 5 passes averaged over logits, which share
 *            the input gradient below the first convolution;
 *
 * and none of the others. */
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
#include "infer.h"
#include "kernels.h"
#include "model.h"
#include "rng.h"

extern const advcc_model advcc_model_baseline, advcc_model_adv,
    advcc_model_quant, advcc_model_reg, advcc_model_quant_adv,
    advcc_model_quant_reg, advcc_model_adv_reg, advcc_model_quant_adv_reg,
    advcc_model_rse;

typedef struct expect {
    const advcc_model *m;
    int quant, reg, adv, rse;
} expect;

static const expect nine[9] = {
    {&advcc_model_baseline, 0, 0, 0, 0},
    {&advcc_model_adv, 0, 0, 1, 0},
    {&advcc_model_quant, 1, 0, 0, 0},
    {&advcc_model_reg, 0, 1, 0, 0},
    {&advcc_model_quant_adv, 1, 0, 1, 0},
    {&advcc_model_quant_reg, 1, 1, 0, 0},
    {&advcc_model_adv_reg, 0, 1, 1, 0},
    {&advcc_model_quant_adv_reg, 1, 1, 1, 0},
    {&advcc_model_rse, 0, 0, 0, 1},
};

static const char *const layers[6] = {"conv1", "conv2", "conv3", "fc1", "fc2", "fc3"};

static const advcc_tensor *tensor_named(const advcc_model *m, const char *name)
{
    for (int t = 0; t < m->n_tensors; t++)
        if (strcmp(m->tensors[t].name, name) == 0)
            return &m->tensors[t];
    return NULL;
}

static int count_kind(const advcc_model *m, int kind)
{
    int n = 0;
    for (int t = 0; t < m->n_tensors; t++)
        n += m->tensors[t].kind == kind;
    return n;
}

static void test_descriptors(void **s)
{
    (void)s;
    for (int k = 0; k < 9; k++) {
        const expect *e = &nine[k];
        const advcc_model *m = e->m;
        advcc_ctx *c = ctx_create(m, 1, 1);
        assert_non_null(c);
        /* 24 tensors of the seed CNN, DTReLU bounds, power-iteration vectors */
        assert_int_equal(m->n_tensors, 24 + 10 * e->quant + 12 * e->reg);
        assert_int_equal(count_kind(m, ADVCC_THRESHOLD), 10 * e->quant);
        assert_int_equal(count_kind(m, ADVCC_STATE), 6 + 12 * e->reg);
        for (int i = 1; i <= 5 && e->quant; i++) {
            char lo[32], hi[32];
            snprintf(lo, sizeof lo, "dtrelu%d.lo", i);
            snprintf(hi, sizeof hi, "dtrelu%d.hi", i);
            assert_non_null(tensor_named(m, lo));
            assert_non_null(tensor_named(m, hi));
            assert_true(c->params[tensor_named(m, lo)->offset] == 0);
            assert_true(c->params[tensor_named(m, hi)->offset] == 6);
        }
        assert_int_equal(m->train.adversarial, e->adv);
        assert_int_equal(m->ensemble, e->rse ? 5 : 1);
        assert_int_equal(m->ensemble_probs, 0);
        if (!e->reg) {
            assert_null(m->regularize);
            assert_int_equal(m->n_reg_terms, 0);
        } else {
            assert_non_null(m->regularize);
            assert_int_equal(m->n_reg_terms, 12);
            for (int i = 0; i < 6; i++) {
                char name[32];
                snprintf(name, sizeof name, "ortho_%s", layers[i]);
                assert_string_equal(m->reg_term_names[i], name);
                snprintf(name, sizeof name, "spectral_%s", layers[i]);
                assert_string_equal(m->reg_term_names[6 + i], name);
                snprintf(name, sizeof name, "%s.sn_u", layers[i]);
                assert_non_null(tensor_named(m, name));
                snprintf(name, sizeof name, "%s.sn_v", layers[i]);
                assert_non_null(tensor_named(m, name));
            }
        }
        ctx_free(c);
    }
}

/* n values uniform in [0, 1) from seed: a batch of images, malloc'd. */
static real_t *uniform_images(size_t n, uint64_t seed)
{
    real_t *x = malloc(sizeof(real_t) * n);
    assert_non_null(x);
    advcc_rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (real_t)rng_uniform(&r);
    return x;
}

/* Moves every weight of w that sits within a tenth of a step of its point
 * on the 8-bit min/max grid by `by` (< 0.4) steps, except at the ends,
 * where the minimum or maximum (the grid's bounds) would move; returns how
 * many moved. */
static long nudge_grid_points(real_t *w, long n, double by)
{
    real_t lo = w[0], hi = w[0];
    for (long i = 1; i < n; i++) {
        lo = w[i] < lo ? w[i] : lo;
        hi = w[i] > hi ? w[i] : hi;
    }
    double step = ((double)hi - lo) / 255;
    long moved = 0;
    for (long i = 0; i < n; i++) {
        double v = (w[i] - lo) / step;
        if (round(v) >= 1 && round(v) < 254 && fabs(v - round(v)) < 0.1) {
            w[i] = (real_t)(w[i] + by * step);
            moved++;
        }
    }
    return moved;
}

static void test_behaviour(void **s)
{
    (void)s;
    enum { B = 2 };
    for (int k = 0; k < 9; k++) {
        const expect *e = &nine[k];
        const advcc_model *m = e->m;
        const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
        advcc_ctx *c = ctx_create(m, B, 7);
        real_t *x = uniform_images(img * B, 11), *dx = malloc(sizeof(real_t) * img * B);
        real_t l0[B * 10], l1[B * 10], dl[B * 10];
        int y[B] = {3, 8};

        /* noise: drawn in both modes, one draw per element of each conv
         * block's input; none without it */
        for (int mode = 0; mode < 2; mode++) {
            advcc_rng start = *c->rng, after = start;
            m->forward(c, x, B, mode, l0);
            /* one noise call a conv block: the generator moves on once each */
            for (int k = 0; k < (e->rse ? 3 : 0); k++)
                rng_u64(&after);
            assert_true(rng_equal(&after, c->rng));
            m->forward(c, x, B, mode, l1);
            if (e->rse)
                assert_memory_not_equal(l0, l1, sizeof l0);
            else
                assert_memory_equal(l0, l1, sizeof l0);
            *c->rng = start;
            m->forward(c, x, B, mode, l1);
            assert_memory_equal(l0, l1, sizeof l0);
        }

        /* quantised weights: nudges within the grid cells change nothing */
        for (int i = 0; i < 6; i++) {
            char name[32];
            snprintf(name, sizeof name, "%s.weight", layers[i]);
            const advcc_tensor *T = tensor_named(m, name);
            real_t *w = c->params + T->offset;
            real_t *keep = malloc(sizeof(real_t) * T->size);
            memcpy(keep, w, sizeof(real_t) * T->size);
            advcc_rng start = *c->rng;
            m->forward(c, x, B, ADVCC_EVAL, l0);
            assert_true(nudge_grid_points(w, (long)T->size, 0.2) > 0);
            *c->rng = start;
            m->forward(c, x, B, ADVCC_EVAL, l1);
            memcpy(w, keep, sizeof(real_t) * T->size);
            free(keep);
            if (e->quant)
                assert_memory_equal(l0, l1, sizeof l0);
            else
                assert_memory_not_equal(l0, l1, sizeof l0);
        }

        /* a training step's gradients are finite; the regularisers add
         * theirs to the weights only */
        m->forward(c, x, B, ADVCC_TRAIN, l0);
        softmax_xent(l0, y, B, m->classes, dl, NULL);
        m->backward(c, dl, 1, dx);
        real_t *g0 = malloc(sizeof(real_t) * m->n_params);
        for (size_t i = 0; i < m->n_params; i++)
            assert_true(isfinite(c->grads[i]));
        memcpy(g0, c->grads, sizeof(real_t) * m->n_params);
        if (e->reg) {
            double terms[12], sum = 0;
            double total = m->regularize(c, 1, terms);
            for (int i = 0; i < 12; i++) {
                assert_true(isfinite(terms[i]) && terms[i] > 0);
                sum += terms[i];
            }
            assert_true(fabs(total - sum) <= 1e-12 * sum);
            /* form 4 (weight 1e-4) lies between sqrt(n + 1 - 2 sqrt(r))
             * and sqrt(n - 1), n the columns, r <= min(rows, n) the rank */
            for (int i = 0; i < 6; i++) {
                char name[32];
                snprintf(name, sizeof name, "%s.weight", layers[i]);
                const advcc_tensor *T = tensor_named(m, name);
                double rows = T->shape[0], n = (double)T->size / rows;
                double p = terms[i] / 1e-4, rank = fmin(rows, n);
                assert_true(p >= sqrt(n + 1 - 2 * sqrt(rank)) * (1 - 1e-4));
                assert_true(p <= sqrt(n - 1) * (1 + 1e-4));
            }
            for (int t = 0; t < m->n_tensors; t++) {
                const advcc_tensor *T = &m->tensors[t];
                int moved = memcmp(g0 + T->offset, c->grads + T->offset,
                                   sizeof(real_t) * T->size) != 0;
                assert_int_equal(moved, T->kind == ADVCC_WEIGHT);
            }
        }
        free(g0);
        free(x);
        free(dx);
        ctx_free(c);
    }
}

/* rse's five passes in arenas of their own give the input gradient that
 * replaying them gives, bit for bit, with running and with batch
 * statistics: every pass keeps what its backward needs in its arena. */
static void test_rse_kept_passes(void **s)
{
    (void)s;
    enum { B = 3 };
    const advcc_model *m = &advcc_model_rse;
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    int modes[2] = {ADVCC_EVAL, ADVCC_TRAIN_FROZEN};
    for (int k = 0; k < 2; k++) {
        advcc_ctx *c = ctx_create(m, B, 7);
        assert_non_null(c);
        real_t *x = uniform_images(img * B, 12);
        real_t *dk = malloc(sizeof(real_t) * img * B), *dr = malloc(sizeof(real_t) * img * B);
        assert_true(dk && dr);
        int y[B] = {3, 8, 1};
        infer_ws kept, replayed;
        assert_int_equal(infer_init(&kept, c), 0);
        assert_int_equal(infer_init(&replayed, c), 0);
        assert_non_null(kept.arenas);
        infer_replay_passes(&replayed);
        advcc_rng start = *c->rng;
        double a = infer_loss_grad(&kept, x, y, B, modes[k], 1, 0, dk, NULL);
        advcc_rng end = *c->rng;
        *c->rng = start;
        double b = infer_loss_grad(&replayed, x, y, B, modes[k], 1, 0, dr, NULL);
        assert_true(rng_equal(&end, c->rng));
        assert_true(a == b);
        assert_memory_equal(dk, dr, sizeof(real_t) * img * B);
        infer_free(&kept);
        infer_free(&replayed);
        free(x);
        free(dk);
        free(dr);
        ctx_free(c);
    }
}

/* rse's passes share the input gradient below conv1 (model.h
 * backward_top): from one draw and from the mean of two (eot), it is the
 * gradient of the whole backward of every pass, summed, up to rounding;
 * only rse and no undefended model has the split. */
static void test_rse_shared_backward(void **s)
{
    (void)s;
    enum { B = 3 };
    const advcc_model *m = &advcc_model_rse;
    assert_non_null(m->backward_top);
    assert_non_null(m->backward_bottom);
    assert_int_equal(m->top_size, 32 * 32 * 32);
    assert_null(advcc_model_baseline.backward_top);
    advcc_model whole = *m;         /* the same model without the split */
    whole.backward_top = NULL;
    whole.backward_bottom = NULL;
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    real_t *x = uniform_images(img * B, 21);
    real_t *ds = malloc(sizeof(real_t) * img * B), *dw = malloc(sizeof(real_t) * img * B);
    assert_true(ds && dw);
    int y[B] = {3, 8, 1};
    for (int eot = 1; eot <= 2; eot++) {
        advcc_ctx *cs = ctx_create(m, B, 7), *cw = ctx_create(&whole, B, 7);
        assert_true(cs && cw);
        memcpy(cw->params, cs->params, sizeof(real_t) * m->n_params);
        *cw->rng = *cs->rng;
        infer_ws shared, per_pass;
        assert_int_equal(infer_init(&shared, cs), 0);
        assert_int_equal(infer_init(&per_pass, cw), 0);
        assert_non_null(shared.dy_sum);
        assert_null(per_pass.dy_sum);
        double a = infer_loss_grad(&shared, x, y, B, ADVCC_EVAL, eot, 0, ds, NULL);
        double b = infer_loss_grad(&per_pass, x, y, B, ADVCC_EVAL, eot, 0, dw, NULL);
        assert_true(a == b);        /* the same draws, the same forward */
        double dmax = 0, emax = 0;
        for (size_t i = 0; i < img * B; i++) {
            dmax = fmax(dmax, fabs((double)dw[i]));
            emax = fmax(emax, fabs((double)ds[i] - dw[i]));
        }
        assert_true(dmax > 0);
        assert_true(emax <= 1e-5 * dmax);
        infer_free(&shared);
        infer_free(&per_pass);
        ctx_free(cs);
        ctx_free(cw);
    }
    free(x);
    free(ds);
    free(dw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptors),
        cmocka_unit_test(test_behaviour),
        cmocka_unit_test(test_rse_kept_passes),
        cmocka_unit_test(test_rse_shared_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
