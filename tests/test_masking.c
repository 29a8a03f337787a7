/* test_masking.c - the gradient-masking checks (runtime/masking.h) and the
 * BPDA plumbing of the attacks, on tiny hand-made models:
 *   - each verdict at and beside its threshold;
 *   - a sharp linear model passes every check that runs;
 *   - a model whose input gradient is zero everywhere warns of zero
 *     gradients, and the undefended twin's transfer images beat its
 *     white-box attack;
 *   - a model where noise of the ball's size breaks as much as the attack
 *     warns of noise;
 *   - a transfer file of the wrong shape or budget is refused by name;
 *   - frozen noise repeats one draw; a mildly noisy model passes the
 *     frozen-noise check;
 *   - aa_set_grad's lists, and a model whose gradient is blind unless BPDA
 *     is on: --grad both finds what ste misses, in PGD and in the ensemble;
 *   - the AutoAttack summary counts Square's images from the records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "masking.h"
#include "npy.h"
#include "robust.h"
#include "tinymodel.h"

#define NIMG 40
#define CAP 16

typedef struct fixture {
    tiny_model t;
    advcc_rng noise;
    advcc_ctx c;
    advcc_dataset d;
} fixture;

/* Input gradient zero everywhere: the attack is blind. */
static void zero_backward(advcc_ctx *c, const real_t *dlogits, int want_params, real_t *dx)
{
    (void)dlogits;
    (void)want_params;
    if (dx)
        memset(dx, 0, sizeof(real_t) * (size_t)c->batch * TINY_IN);
}

/* Blind unless BPDA is on (as a staircase is under its straight-through
 * gradient where it is flat). */
static void bpda_backward(advcc_ctx *c, const real_t *dlogits, int want_params, real_t *dx)
{
    if (c->bpda)
        tiny_backward(c, dlogits, want_params, dx);
    else
        zero_backward(c, dlogits, want_params, dx);
}

static void fixture_make(fixture *f, int kind, double sigma, double scale, double lo,
                         double hi, uint64_t seed)
{
    tiny_make(&f->t, kind, TINY_RELU, sigma, 1, 0);
    rng_seed(&f->noise, seed + 7);
    tiny_ctx_make(&f->c, &f->t, CAP, sigma > 0 ? &f->noise : NULL, seed);
    for (size_t i = 0; i < f->t.m.n_params; i++)
        f->c.params[i] *= (real_t)scale;
    if (kind == TINY_LINEAR) {
        /* rows of mean zero and no bias: a grey image says nothing, so
         * the class comes from the image's pattern and random images fall
         * in every class */
        real_t *w = f->c.params + f->t.t[0].offset, *bias = f->c.params + f->t.t[1].offset;
        for (int k = 0; k < TINY_CLASSES; k++) {
            double mean = 0;
            for (int i = 0; i < TINY_IN; i++)
                mean += w[k * TINY_IN + i] / TINY_IN;
            for (int i = 0; i < TINY_IN; i++)
                w[k * TINY_IN + i] -= (real_t)mean;
            bias[k] = 0;
        }
    }
    assert_int_equal(tiny_dataset(&f->d, &f->c, NIMG, 1.0, seed + 1), 0);
    /* pixels squeezed into [lo, hi] (bytes), so that a budget has room */
    for (int i = 0; i < NIMG * TINY_IN; i++)
        f->d.pixels[i] = (uint8_t)(lo + (hi - lo) * f->d.pixels[i] / 255.0);
    /* relabel after squeezing: every image starts right */
    infer_ws inf;
    assert_int_equal(infer_init(&inf, &f->c), 0);
    for (int i = 0; i < NIMG; i++) {
        real_t x[TINY_IN], lg[TINY_CLASSES];
        int y, pred;
        dataset_batch(&f->d, &i, 1, x, &y);
        infer_logits(&inf, x, 1, ADVCC_EVAL, lg);
        infer_row_loss(lg, 0, TINY_CLASSES, &pred);
        f->d.labels[i] = (uint8_t)pred;
    }
    infer_free(&inf);
}

static void fixture_free(fixture *f)
{
    dataset_free(&f->d);
    tiny_ctx_free(&f->c);
}

/* APGD-CE, 20 iterations, on every image. */
static masking_cfg checks_cfg(double eps)
{
    masking_cfg mc;
    memset(&mc, 0, sizeof mc);
    aa_set_single(&mc.attack, AA_APGD_CE, 0);
    mc.attack.iters = 20;
    mc.attack.norm = ADVCC_LINF;
    mc.attack.eps = eps;
    mc.attack.mode = ADVCC_EVAL;
    mc.queries = 300;
    mc.draws = 50;
    mc.seed = 3;
    return mc;
}

/* ---- verdicts ---- */

static void test_verdicts(void **state)
{
    (void)state;
    masking_item it;
    masking_verdict_eps(&it, 1.0, ADVCC_LINF, 0, 200);
    assert_int_equal(it.verdict, MASKING_PASS);
    masking_verdict_eps(&it, 1.0, ADVCC_LINF, 3, 200);
    assert_int_equal(it.verdict, MASKING_WARNING);
    assert_float_equal(it.figure, 0.015, 1e-12);
    assert_non_null(strstr(it.detail, "255/255"));

    masking_verdict_iters(&it, 100, 80, 80, 200);
    assert_int_equal(it.verdict, MASKING_PASS);
    masking_verdict_iters(&it, 100, 80, 79, 200);      /* -0.5 points: not < 0.5 */
    assert_int_equal(it.verdict, MASKING_WARNING);
    masking_verdict_iters(&it, 100, 80, 84, 1000);     /* +0.4 */
    assert_int_equal(it.verdict, MASKING_PASS);

    masking_verdict_square(&it, 1, 200);                /* 0.5 points */
    assert_int_equal(it.verdict, MASKING_PASS);
    masking_verdict_square(&it, 2, 200);
    assert_int_equal(it.verdict, MASKING_WARNING);

    masking_verdict_noise(&it, 100, 0, 0);
    assert_int_equal(it.verdict, MASKING_PASS);
    masking_verdict_noise(&it, 100, 4, 10);
    assert_int_equal(it.verdict, MASKING_PASS);
    masking_verdict_noise(&it, 100, 5, 10);
    assert_int_equal(it.verdict, MASKING_WARNING);
    masking_verdict_noise(&it, 100, 1, 0);
    assert_int_equal(it.verdict, MASKING_WARNING);
    assert_true(isinf(it.figure));

    masking_verdict_transfer(&it, 5, 5, 100);
    assert_int_equal(it.verdict, MASKING_PASS);
    masking_verdict_transfer(&it, 6, 5, 100);
    assert_int_equal(it.verdict, MASKING_WARNING);

    masking_verdict_frozen(&it, 50, 100, 50.4, 100);   /* 50% against 50.4% */
    assert_int_equal(it.verdict, MASKING_PASS);
    masking_verdict_frozen(&it, 40, 100, 50, 100);
    assert_int_equal(it.verdict, MASKING_WARNING);

    masking_verdict_zero(&it, 100, 5);
    assert_int_equal(it.verdict, MASKING_PASS);
    masking_verdict_zero(&it, 100, 6);
    assert_int_equal(it.verdict, MASKING_WARNING);

    /* the JSON has every check, an infinite figure as null */
    masking_report rep;
    memset(&rep, 0, sizeof rep);
    masking_verdict_noise(&rep.item[MASKING_NOISE], 100, 1, 0);
    json_t *j = masking_json(&rep);
    assert_int_equal(json_object_size(j), MASKING_CHECKS + 4);
    json_t *noise = json_object_get(j, "noise"), *zero = json_object_get(j, "zero_gradients");
    assert_string_equal(json_string_value(json_object_get(noise, "verdict")), "WARNING");
    assert_true(json_is_null(json_object_get(noise, "figure")));
    assert_string_equal(json_string_value(json_object_get(zero, "verdict")), "not run");
    assert_null(json_object_get(zero, "figure"));
    assert_int_equal(json_integer_value(json_object_get(j, "warnings")), 1);
    json_decref(j);
}

/* ---- whole runs ---- */

static void test_sharp_linear_passes(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, 0, 4.0, 40, 215, 11);
    masking_cfg mc = checks_cfg(8 / 255.0);
    /* AutoAttack's gradient attacks: APGD-CE alone can miss the class a
     * linear model is nearest to, and Square would rightly say so */
    mc.attack.attacks[1] = AA_APGD_T;
    mc.attack.n_attacks = 2;
    mc.attack.targets = 3;
    mc.draws = 10;
    masking_report rep;
    char err[512];
    int rc = masking_run(&f.c, &f.d, &mc, stdout, &rep, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(rep.clean_correct, NIMG);
    assert_true(rep.robust > 0 && rep.robust < NIMG);  /* the budget matters */
    for (int c = 0; c < MASKING_CHECKS; c++) {
        int expect = c == MASKING_TRANSFER || c == MASKING_FROZEN ? MASKING_NOT_RUN : MASKING_PASS;
        if (rep.item[c].verdict != expect)
            fail_msg("%s: %s", masking_check_name(c), rep.item[c].detail);
    }
    assert_non_null(strstr(rep.item[MASKING_EPS].detail, "no image robust"));
    fixture_free(&f);
}

static void test_zero_gradients_warn(void **state)
{
    (void)state;
    fixture f, twin;
    fixture_make(&f, TINY_LINEAR, 0, 4.0, 40, 215, 11);
    fixture_make(&twin, TINY_LINEAR, 0, 4.0, 40, 215, 11);
    f.t.m.backward = zero_backward;
    /* the undefended twin (same weights, true gradient): its attack's
     * images, saved as `attack --save-adv` would */
    infer_ws inf;
    apgd_ws ap;
    apgd_cfg acfg;
    apgd_defaults(&acfg, ADVCC_LINF, 8 / 255.0);
    acfg.iters = 20;
    assert_int_equal(infer_init(&inf, &twin.c), 0);
    assert_int_equal(apgd_init(&ap, &inf), 0);
    real_t *adv = malloc(sizeof(real_t) * NIMG * TINY_IN);
    advcc_rng r;
    rng_seed(&r, 9);
    for (int s = 0; s < NIMG; s += CAP) {
        int b = NIMG - s < CAP ? NIMG - s : CAP, idx[CAP], y[CAP], hit[CAP];
        real_t x[CAP * TINY_IN];
        for (int i = 0; i < b; i++)
            idx[i] = s + i;
        dataset_batch(&twin.d, idx, b, x, y);
        assert_int_equal(apgd_attack(&ap, &acfg, x, y, NULL, b, &r, adv + (size_t)s * TINY_IN,
                                     hit, NULL), 0);
    }
    apgd_free(&ap);
    infer_free(&inf);
    char path[] = "/tmp/advcc_masking_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    int shape[4] = {NIMG, TINY_C, TINY_H, TINY_W};
    char err[512];
    assert_int_equal(npy_write(path, adv, 4, shape, err, sizeof err), 0);

    masking_cfg mc = checks_cfg(8 / 255.0);
    mc.transfer = path;
    masking_report rep;
    int rc = masking_run(&f.c, &f.d, &mc, stdout, &rep, err, sizeof err);
    assert_int_equal(rc, 1);
    assert_int_equal(rep.item[MASKING_ZERO].verdict, MASKING_WARNING);
    assert_float_equal(rep.item[MASKING_ZERO].figure, 1.0, 0);
    assert_int_equal(rep.item[MASKING_TRANSFER].verdict, MASKING_WARNING);

    /* a file of other images or a larger budget is refused by name */
    shape[0] = NIMG - 1;
    assert_int_equal(npy_write(path, adv, 4, shape, err, sizeof err), 0);
    assert_int_equal(masking_run(&f.c, &f.d, &mc, NULL, &rep, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "39, 3, 4, 4"));
    shape[0] = NIMG;
    adv[5] = adv[5] > 0.5f ? 0.0f : 1.0f;
    assert_int_equal(npy_write(path, adv, 4, shape, err, sizeof err), 0);
    assert_int_equal(masking_run(&f.c, &f.d, &mc, NULL, &rep, err, sizeof err), -1);
    assert_non_null(strstr(err, "outside"));
    unlink(path);
    free(adv);
    fixture_free(&f);
    fixture_free(&twin);
}

/* Weak weights, images in the middle of the box and a large budget: any
 * corner of the ball breaks about as many images as the attack. */
static void test_noise_as_strong_warns(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, 0, 1.0, 100, 155, 12);
    masking_cfg mc = checks_cfg(0.4);
    masking_report rep;
    char err[512];
    int rc = masking_run(&f.c, &f.d, &mc, NULL, &rep, err, sizeof err);
    assert_int_equal(rc, 1);
    if (rep.item[MASKING_NOISE].verdict != MASKING_WARNING)
        fail_msg("noise: %s", rep.item[MASKING_NOISE].detail);
    assert_int_equal(rep.item[MASKING_ZERO].verdict, MASKING_PASS);
    fixture_free(&f);
}

/* ---- frozen noise ---- */

static void test_frozen_noise(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, 0.05, 4.0, 40, 215, 13);
    infer_ws inf;
    assert_int_equal(infer_init(&inf, &f.c), 0);
    real_t x[2 * TINY_IN], a[2 * TINY_CLASSES], b[2 * TINY_CLASSES];
    int y[2], idx[2] = {0, 1};
    dataset_batch(&f.d, idx, 2, x, y);
    infer_logits(&inf, x, 2, ADVCC_EVAL, a);
    infer_logits(&inf, x, 2, ADVCC_EVAL, b);
    assert_true(memcmp(a, b, sizeof a) != 0);   /* fresh draws */
    advcc_rng frozen;
    rng_seed(&frozen, 4);
    inf.freeze = &frozen;
    infer_logits(&inf, x, 2, ADVCC_EVAL, a);
    infer_logits(&inf, x, 2, ADVCC_EVAL, b);
    assert_memory_equal(a, b, sizeof a);        /* one draw */
    infer_free(&inf);

    masking_cfg mc = checks_cfg(8 / 255.0);
    mc.random = 1;
    mc.attack.eot = 5;
    mc.attack.judge = 5;
    masking_report rep;
    char err[512];
    assert_true(masking_run(&f.c, &f.d, &mc, stdout, &rep, err, sizeof err) >= 0);
    /* mild noise: the frozen draw is as easy to attack as a fresh one */
    if (rep.item[MASKING_FROZEN].verdict != MASKING_PASS)
        fail_msg("frozen: %s", rep.item[MASKING_FROZEN].detail);
    fixture_free(&f);
}

/* ---- BPDA in the attacks ---- */

/* c on every image of f, from scratch: records into img, counts into res. */
static void run_ensemble(fixture *f, aa_cfg *c, aa_image *img, aa_result *res, uint64_t seed)
{
    c->limit = NIMG;
    for (int i = 0; i < NIMG; i++)
        img[i].done = -1;
    advcc_rng r;
    rng_seed(&r, seed);
    char err[128];
    assert_int_equal(aa_evaluate(&f->c, &f->d, c, &r, img, res, err, sizeof err), 0);
}

static void test_set_grad(void **state)
{
    (void)state;
    aa_cfg c;
    memset(&c, 0, sizeof c);
    aa_set_version(&c, AA_STANDARD, 0);
    assert_int_equal(aa_set_grad(&c, INFER_GRAD_STE), 0);
    assert_int_equal(c.n_attacks, 4);
    aa_cfg both = c, bpda = c;
    assert_int_equal(aa_set_grad(&both, INFER_GRAD_BOTH), 0);
    const int want[7] = {AA_APGD_CE, AA_APGD_CE | AA_BPDA, AA_APGD_T, AA_APGD_T | AA_BPDA,
                         AA_FAB_T, AA_FAB_T | AA_BPDA, AA_SQUARE};
    assert_int_equal(both.n_attacks, 7);
    assert_memory_equal(both.attacks, want, sizeof want);
    assert_string_equal(aa_attack_name(both.attacks[1]), "apgd-ce/bpda");
    assert_string_equal(aa_attack_name(both.attacks[5]), "fab-t/bpda");
    assert_string_equal(aa_attack_name(both.attacks[6]), "square");
    assert_int_equal(aa_set_grad(&bpda, INFER_GRAD_BPDA), 0);
    assert_int_equal(bpda.n_attacks, 4);
    assert_string_equal(aa_attack_name(bpda.attacks[1]), "apgd-t/bpda");
    char err[128];
    assert_int_equal(aa_check_cfg(&both, TINY_CLASSES, err, sizeof err), 0);
    both.attacks[6] |= AA_BPDA;
    assert_int_equal(aa_check_cfg(&both, TINY_CLASSES, err, sizeof err), -1);
    assert_non_null(strstr(err, "square"));
    /* eight gradient attacks have no room for their twins */
    for (int i = 0; i < AA_MAX_ATTACKS; i++)
        c.attacks[i] = AA_APGD_CE;
    c.n_attacks = AA_MAX_ATTACKS;
    assert_int_equal(aa_set_grad(&c, INFER_GRAD_BOTH), -1);
}

/* The gradient is blind except under BPDA: ste leaves every image robust
 * (the starts are not enough at this budget), bpda and both break some,
 * both keeping every image ste broke. */
static void test_both_finds_what_ste_misses(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, 0, 4.0, 40, 215, 11);
    f.t.m.backward = bpda_backward;
    int robust[3];
    for (int g = INFER_GRAD_STE; g <= INFER_GRAD_BOTH; g++) {
        aa_cfg c;
        memset(&c, 0, sizeof c);
        aa_set_single(&c, AA_APGD_CE, 0);
        c.iters = 20;
        c.eps = 8 / 255.0;
        assert_int_equal(aa_set_grad(&c, g), 0);
        aa_image img[NIMG];
        aa_result res;
        run_ensemble(&f, &c, img, &res, 5);
        assert_int_equal(f.c.bpda, 0);
        robust[g] = res.robust_after[c.n_attacks - 1];
        if (g == INFER_GRAD_BOTH)       /* the twin broke what apgd-ce did not */
            assert_true(res.robust_after[1] < res.robust_after[0]);
    }
    assert_true(robust[INFER_GRAD_BPDA] < robust[INFER_GRAD_STE]);
    assert_true(robust[INFER_GRAD_BOTH] <= robust[INFER_GRAD_BPDA]);

    /* PGD through robust_evaluate */
    pgd_cfg p;
    memset(&p, 0, sizeof p);
    p.norm = ADVCC_LINF;
    p.eps = 8 / 255.0;
    p.alpha = 2 / 255.0;
    p.steps = 10;
    p.restarts = 1;
    p.eot = 1;
    p.init = ADVCC_INIT_NONE;
    robust_result pr[3];
    for (int g = INFER_GRAD_STE; g <= INFER_GRAD_BOTH; g++) {
        robust_cfg rc = {.attack = &p, .judge = 1, .grad = g};
        advcc_rng r;
        rng_seed(&r, 6);
        char err[128];
        assert_int_equal(robust_evaluate(&f.c, &f.d, &rc, &r, &pr[g], err, sizeof err), 0);
    }
    assert_int_equal(pr[INFER_GRAD_STE].robust_correct, NIMG);
    assert_true(pr[INFER_GRAD_BPDA].robust_correct < NIMG);
    assert_int_equal(pr[INFER_GRAD_BOTH].robust_correct, pr[INFER_GRAD_BPDA].robust_correct);
    assert_int_equal(pr[INFER_GRAD_BOTH].bpda_broken, NIMG - pr[INFER_GRAD_BOTH].robust_correct);
    fixture_free(&f);
}

/* The summary after an ensemble: Square's share from the records, zero
 * gradients from the run, b and d measured, the rest left to sanity. */
static void test_summary(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, 0, 4.0, 40, 215, 11);
    f.t.m.backward = zero_backward;     /* Square finds what APGD cannot */
    aa_cfg c;
    memset(&c, 0, sizeof c);
    aa_set_version(&c, AA_STANDARD, 1);
    c.eps = 8 / 255.0;
    c.targets = 2;
    aa_image img[NIMG];
    aa_result res;
    run_ensemble(&f, &c, img, &res, 8);
    char err[128];
    int sq = c.n_attacks - 1;
    assert_int_equal(c.attacks[sq], AA_SQUARE);
    int by_square = res.robust_after[sq - 1] - res.robust_after[sq];
    assert_true(by_square > 0);
    masking_report rep;
    int rc = masking_summary(&f.c, &f.d, &c, img, &res, 5, 10, 1, &rep, err, sizeof err);
    assert_int_equal(rc, 1);
    assert_int_equal(rep.item[MASKING_SQUARE].verdict,
                     100.0 * by_square / NIMG > MASKING_POINTS ? MASKING_WARNING : MASKING_PASS);
    assert_float_equal(rep.item[MASKING_SQUARE].figure, 100.0 * by_square / NIMG, 1e-9);
    assert_int_equal(rep.item[MASKING_ZERO].verdict, MASKING_WARNING);
    assert_int_not_equal(rep.item[MASKING_ITERS].verdict, MASKING_NOT_RUN);
    assert_non_null(strstr(rep.item[MASKING_ITERS].detail, "on 10 images"));
    assert_int_not_equal(rep.item[MASKING_NOISE].verdict, MASKING_NOT_RUN);
    assert_int_equal(rep.item[MASKING_EPS].verdict, MASKING_NOT_RUN);
    assert_int_equal(rep.item[MASKING_TRANSFER].verdict, MASKING_NOT_RUN);
    assert_int_equal(rep.item[MASKING_FROZEN].verdict, MASKING_NOT_RUN);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_sharp_linear_passes),
        cmocka_unit_test(test_zero_gradients_warn),
        cmocka_unit_test(test_noise_as_strong_warns),
        cmocka_unit_test(test_frozen_noise),
        cmocka_unit_test(test_set_grad),
        cmocka_unit_test(test_both_finds_what_ste_misses),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
