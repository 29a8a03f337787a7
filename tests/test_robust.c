/* test_robust.c - dataset-level evaluation: the counting identities, the
 * attack redone by hand chunk by chunk, saved images read back and
 * evaluated again, shape errors, the gradient-masking warning, and the
 * sanity checks on a model that passes them and one that masks. */
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
#include <sys/stat.h>
#include "npy.h"
#include "robust.h"
#include "sanity.h"
#include "tinymodel.h"

#define K TINY_CLASSES
#define NIMG 50
#define CAP 16

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/advcc_robust_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* A model and its context; weights scaled so that small budgets matter. */
typedef struct fixture {
    tiny_model t;
    advcc_rng noise;
    advcc_ctx c;
} fixture;

static void fixture_make(fixture *f, int kind, int act, double sigma,
                         int ensemble, int cap, double scale)
{
    tiny_make(&f->t, kind, act, sigma, ensemble, 0);
    rng_seed(&f->noise, 77);
    tiny_ctx_make(&f->c, &f->t, cap, sigma > 0 ? &f->noise : NULL, 5);
    for (size_t i = 0; i < f->t.m.n_params; i++)
        f->c.params[i] *= (real_t)scale;
}

/* NIMG random images; the label is the model's prediction for a share
 * `agree` of them and random otherwise. */
static void make_dataset(advcc_dataset *d, fixture *f, double agree,
                         uint64_t seed)
{
    assert_int_equal(tiny_dataset(d, &f->c, NIMG, agree, seed), 0);
}

static pgd_cfg attack_cfg(double eps, int init)
{
    pgd_cfg c;
    memset(&c, 0, sizeof c);
    c.norm = ADVCC_LINF;
    c.eps = eps;
    c.alpha = eps / 4;
    c.steps = 4;
    c.restarts = 1;
    c.eot = 1;
    c.init = init;
    c.clip = ADVCC_CLIP_PIXEL;
    c.mode = ADVCC_EVAL;
    return c;
}

static void check_identity(const robust_result *res)
{
    assert_true(res->robust_correct <= res->clean_correct);
    assert_true(res->robust_correct <= res->adv_correct);
    assert_float_equal(res->clean_acc, (double)res->clean_correct / res->total,
                       1e-15);
    assert_float_equal(res->robust_acc,
                       res->clean_acc * (1 - res->attack_success), 1e-12);
    assert_float_equal(res->attack_success,
                       (double)(res->clean_correct - res->robust_correct) /
                           res->clean_correct,
                       1e-15);
}

/* Counts against the attack redone by hand, chunk by chunk. */
static void test_counts_match_manual_attack(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, CAP, 3.0);
    advcc_dataset d;
    make_dataset(&d, &f, 0.8, 1);
    pgd_cfg atk = attack_cfg(8 / 255.0, ADVCC_INIT_GAUSSIAN);
    robust_cfg rc = {0};
    rc.attack = &atk;
    advcc_rng r;
    rng_seed(&r, 2);
    robust_result res;
    char err[256];
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err, sizeof err),
                     0);
    assert_int_equal(res.n, NIMG);
    assert_int_equal(res.total, NIMG);
    check_identity(&res);
    /* a case where the attack works on some images and not on others */
    assert_true(res.attack_success > 0 && res.attack_success < 1);
    assert_true(res.clean_correct < NIMG);
    assert_int_equal(res.grad.grad_entries, 4LL * NIMG * TINY_IN);
    assert_false(res.grad_warning);

    infer_ws inf;
    pgd_ws pgd;
    assert_int_equal(infer_init(&inf, &f.c), 0);
    assert_int_equal(pgd_init(&pgd, &inf), 0);
    rng_seed(&r, 2);
    long long clean = 0, robust = 0, adv_ok = 0;
    for (int s = 0; s < NIMG; s += CAP) {
        int n = NIMG - s < CAP ? NIMG - s : CAP, idx[CAP], y[CAP];
        real_t x[CAP * TINY_IN], xa[CAP * TINY_IN], lc[CAP * K], la[CAP * K];
        for (int i = 0; i < n; i++)
            idx[i] = s + i;
        dataset_batch(&d, idx, n, x, y);
        assert_int_equal(pgd_attack(&pgd, &atk, x, y, n, &r, xa, NULL), 0);
        infer_logits(&inf, x, n, ADVCC_EVAL, lc);
        infer_logits(&inf, xa, n, ADVCC_EVAL, la);
        for (int i = 0; i < n; i++) {
            int pc, pa;
            infer_row_loss(lc + i * K, 0, K, &pc);
            infer_row_loss(la + i * K, 0, K, &pa);
            clean += pc == y[i];
            adv_ok += pa == y[i];
            robust += pc == y[i] && pa == y[i];
        }
    }
    assert_int_equal(res.clean_correct, clean);
    assert_int_equal(res.adv_correct, adv_ok);
    assert_int_equal(res.robust_correct, robust);
    pgd_free(&pgd);
    infer_free(&inf);
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

/* Saved images read back equal; evaluating them again (transfer) gives the
 * same counts; the same seed gives the same file. */
static void test_save_and_transfer(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, CAP, 3.0);
    advcc_dataset d;
    make_dataset(&d, &f, 0.8, 3);
    pgd_cfg atk = attack_cfg(8 / 255.0, ADVCC_INIT_UNIFORM);
    char path[128], path2[128], err[256];
    tmp_path(path, sizeof path, "adv.npy");
    tmp_path(path2, sizeof path2, "adv2.npy");
    robust_cfg rc = {0};
    rc.attack = &atk;
    rc.save_adv = path;
    advcc_rng r;
    rng_seed(&r, 4);
    robust_result res, res2, tr;
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err, sizeof err),
                     0);

    real_t *adv;
    int ndim, shape[8];
    assert_int_equal(npy_read(path, &adv, &ndim, shape, err, sizeof err), 0);
    assert_int_equal(ndim, 4);
    assert_int_equal(shape[0], NIMG);
    assert_int_equal(shape[1], TINY_C);
    assert_int_equal(shape[2], TINY_H);
    assert_int_equal(shape[3], TINY_W);
    /* the attack again, by hand */
    infer_ws inf;
    pgd_ws pgd;
    assert_int_equal(infer_init(&inf, &f.c), 0);
    assert_int_equal(pgd_init(&pgd, &inf), 0);
    rng_seed(&r, 4);
    int moved = 0;
    for (int s = 0; s < NIMG; s += CAP) {
        int n = NIMG - s < CAP ? NIMG - s : CAP, idx[CAP], y[CAP];
        real_t x[CAP * TINY_IN], xa[CAP * TINY_IN];
        for (int i = 0; i < n; i++)
            idx[i] = s + i;
        dataset_batch(&d, idx, n, x, y);
        pgd_attack(&pgd, &atk, x, y, n, &r, xa, NULL);
        assert_memory_equal(adv + (size_t)s * TINY_IN, xa,
                            sizeof(real_t) * n * TINY_IN);
        for (int i = 0; i < n * TINY_IN; i++)
            moved += xa[i] != x[i];
    }
    assert_true(moved > 0);
    pgd_free(&pgd);
    infer_free(&inf);
    free(adv);

    /* transfer: the same images, no attack */
    robust_cfg tc = {0};
    tc.adv_file = path;
    assert_int_equal(robust_evaluate(&f.c, &d, &tc, &r, &tr, err, sizeof err),
                     0);
    assert_int_equal(tr.clean_correct, res.clean_correct);
    assert_int_equal(tr.adv_correct, res.adv_correct);
    assert_int_equal(tr.robust_correct, res.robust_correct);
    assert_float_equal(tr.robust_acc, res.robust_acc, 0);
    assert_int_equal(tr.grad.grad_entries, 0);

    /* determinism: same seed, same counts, same bytes */
    rc.save_adv = path2;
    rng_seed(&r, 4);
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res2, err, sizeof err),
                     0);
    assert_int_equal(res2.robust_correct, res.robust_correct);
    FILE *a = fopen(path, "rb"), *b = fopen(path2, "rb");
    assert_non_null(a);
    assert_non_null(b);
    int ca, cb;
    do {
        ca = fgetc(a);
        cb = fgetc(b);
        assert_int_equal(ca, cb);
    } while (ca != EOF);
    fclose(a);
    fclose(b);

    /* a file for another subset is refused, naming the shapes */
    tc.limit = 30;
    int rcode = robust_evaluate(&f.c, &d, &tc, &r, &tr, err, sizeof err);
    assert_int_equal(rcode, -1);
    assert_non_null(strstr(err, "does not match"));
    assert_non_null(strstr(err, "(50, 3, 4, 4)"));
    assert_non_null(strstr(err, "(30, 3, 4, 4)"));
    /* a missing file names itself */
    tmp_path(path2, sizeof path2, "missing.npy");
    tc.adv_file = path2;
    tc.limit = 0;
    assert_int_equal(robust_evaluate(&f.c, &d, &tc, &r, &tr, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "missing.npy"));
    /* pixels must be finite and in [0, 1]; a directory says it is one */
    {
        real_t *bad = calloc((size_t)50 * TINY_IN, sizeof *bad);
        int bshape[4] = {50, 3, 4, 4};
        const double vals[] = {NAN, INFINITY, 1e30, -0.5};
        for (int k = 0; k < 4; k++) {
            bad[7] = (real_t)vals[k];
            assert_int_equal(npy_write(path2, bad, 4, bshape, err, sizeof err), 0);
            assert_int_equal(robust_evaluate(&f.c, &d, &tc, &r, &tr, err, sizeof err), -1);
            assert_non_null(strstr(err, "element 7 (image 1)"));
            assert_non_null(strstr(err, "not a pixel value in [0, 1]"));
        }
        free(bad);
        remove(path2);
        assert_int_equal(mkdir(path2, 0700), 0);
        assert_int_equal(robust_evaluate(&f.c, &d, &tc, &r, &tr, err, sizeof err), -1);
        assert_non_null(strstr(err, "is a directory"));
        rmdir(path2);
    }
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

/* An image counts as robust only when its clean version is right too: a
 * transfer file whose images the model gets right raises adv_acc, not
 * robust_acc. */
static void test_robust_needs_clean_correct(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, CAP, 3.0);
    advcc_dataset d;
    make_dataset(&d, &f, 0.5, 19);
    infer_ws inf;
    assert_int_equal(infer_init(&inf, &f.c), 0);
    static real_t x[NIMG * TINY_IN], adv[NIMG * TINY_IN];
    int y[NIMG], idx[NIMG], pred[NIMG];
    for (int i = 0; i < NIMG; i++)
        idx[i] = i;
    dataset_batch(&d, idx, NIMG, x, y);
    for (int s = 0; s < NIMG; s += CAP) {
        int n = NIMG - s < CAP ? NIMG - s : CAP;
        real_t logits[CAP * K];
        infer_logits(&inf, x + s * TINY_IN, n, ADVCC_EVAL, logits);
        for (int i = 0; i < n; i++)
            infer_row_loss(logits + i * K, 0, K, &pred[s + i]);
    }
    /* Image i's "adversarial" version: an image the model labels y[i]. */
    int fixed = 0;
    for (int i = 0; i < NIMG; i++) {
        int j = i;
        for (int k = 0; k < NIMG && pred[j] != y[i]; k++)
            j = k;
        memcpy(adv + i * TINY_IN, x + j * TINY_IN, sizeof(real_t) * TINY_IN);
        fixed += pred[i] != y[i] && pred[j] == y[i];
    }
    assert_true(fixed > 0);
    char path[128], err[256];
    tmp_path(path, sizeof path, "right.npy");
    int shape[4] = {NIMG, TINY_C, TINY_H, TINY_W};
    assert_int_equal(npy_write(path, adv, 4, shape, err, sizeof err), 0);
    robust_cfg tc = {0};
    tc.adv_file = path;
    advcc_rng r;
    rng_seed(&r, 20);
    robust_result res;
    assert_int_equal(robust_evaluate(&f.c, &d, &tc, &r, &res, err, sizeof err),
                     0);
    assert_int_equal(res.adv_correct, res.clean_correct + fixed);
    assert_int_equal(res.robust_correct, res.clean_correct);
    assert_float_equal(res.attack_success, 0, 0);
    check_identity(&res);
    infer_free(&inf);
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

/* No attack, or eps 0 without a start: robust = clean, success 0. */
static void test_clean_and_eps_zero(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, TINY_RELU, 0, 1, CAP, 2.0);
    advcc_dataset d;
    make_dataset(&d, &f, 0.7, 5);
    robust_cfg rc = {0};
    advcc_rng r;
    rng_seed(&r, 6);
    robust_result res;
    char err[256];
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err, sizeof err),
                     0);
    assert_true(res.clean_correct > 0 && res.clean_correct < NIMG);
    assert_int_equal(res.robust_correct, res.clean_correct);
    assert_float_equal(res.attack_success, 0, 0);
    long long clean = res.clean_correct;

    pgd_cfg atk = attack_cfg(0, ADVCC_INIT_GAUSSIAN);
    atk.alpha = 2 / 255.0;
    rc.attack = &atk;
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err, sizeof err),
                     0);
    assert_int_equal(res.clean_correct, clean);
    assert_int_equal(res.robust_correct, clean);
    check_identity(&res);

    /* limit */
    rc.limit = 20;
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err, sizeof err),
                     0);
    assert_int_equal(res.n, 20);
    /* saving without an attack is refused */
    char path[128];
    tmp_path(path, sizeof path, "none.npy");
    robust_cfg bad = {0};
    bad.save_adv = path;
    assert_int_equal(robust_evaluate(&f.c, &d, &bad, &r, &res, err, sizeof err),
                     -1);
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

/* Chunking does not change a deterministic attack's counts. */
static void test_chunk_size_independent(void **state)
{
    (void)state;
    long long counts[2][3];
    const int caps[2] = {7, NIMG};
    for (int k = 0; k < 2; k++) {
        fixture f;
        fixture_make(&f, TINY_MLP, TINY_TANH, 0, 1, caps[k], 3.0);
        advcc_dataset d;
        make_dataset(&d, &f, 0.8, 7);
        pgd_cfg atk = attack_cfg(8 / 255.0, ADVCC_INIT_NONE);
        robust_cfg rc = {0};
        rc.attack = &atk;
        advcc_rng r;
        rng_seed(&r, 8);
        robust_result res;
        char err[256];
        assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err,
                                         sizeof err), 0);
        counts[k][0] = res.clean_correct;
        counts[k][1] = res.adv_correct;
        counts[k][2] = res.robust_correct;
        dataset_free(&d);
        tiny_ctx_free(&f.c);
    }
    assert_memory_equal(counts[0], counts[1], sizeof counts[0]);
}

/* Masked gradients raise the warning; a NaN one too. */
static void test_gradient_warning(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, CAP, 1.0);
    advcc_dataset d;
    make_dataset(&d, &f, 0.5, 9);
    for (size_t i = 0; i < f.t.t[1].size; i++)
        f.c.params[f.t.t[1].offset + i] = -100;     /* every ReLU dead */
    pgd_cfg atk = attack_cfg(8 / 255.0, ADVCC_INIT_NONE);
    robust_cfg rc = {0};
    rc.attack = &atk;
    advcc_rng r;
    rng_seed(&r, 10);
    robust_result res;
    char err[256];
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err, sizeof err),
                     0);
    assert_true(res.grad_warning);
    assert_float_equal(res.grad_zero_share, 1.0, 0);
    assert_int_equal(res.robust_correct, res.clean_correct);
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

/* A randomised model judged three times: counts over 3n predictions and
 * the identity still exact. */
static void test_judge_randomised(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_TANH, 0.3, 3, CAP, 3.0);
    advcc_dataset d;
    make_dataset(&d, &f, 0.8, 11);
    pgd_cfg atk = attack_cfg(8 / 255.0, ADVCC_INIT_GAUSSIAN);
    atk.eot = 2;
    robust_cfg rc = {0};
    rc.attack = &atk;
    rc.judge = 3;
    advcc_rng r;
    rng_seed(&r, 12);
    robust_result res;
    char err[256];
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err, sizeof err),
                     0);
    assert_int_equal(res.n, NIMG);
    assert_int_equal(res.total, 3 * NIMG);
    check_identity(&res);
    assert_true(res.attack_success > 0);
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

/* Images of another shape are refused. */
static void test_dataset_shape_mismatch(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, TINY_RELU, 0, 1, CAP, 1.0);
    advcc_dataset d;
    make_dataset(&d, &f, 0.5, 13);
    d.c = 1;
    robust_cfg rc = {0};
    advcc_rng r;
    rng_seed(&r, 14);
    robust_result res;
    char err[256];
    assert_int_equal(robust_evaluate(&f.c, &d, &rc, &r, &res, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "1x4x4"));
    assert_non_null(strstr(err, "3x4x4"));
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

/* A linear model with sharp weights passes every check. */
static void test_sanity_passes(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, TINY_RELU, 0, 1, CAP, 5.0);
    advcc_dataset d;
    make_dataset(&d, &f, 1.0, 15);
    pgd_cfg base = attack_cfg(8 / 255.0, ADVCC_INIT_GAUSSIAN);
    base.alpha = 2 / 255.0;
    sanity_report rep;
    char err[256];
    int rc = sanity_run(&f.c, &d, &base, 0, 16, stdout, &rep, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(rep.failed, 0);
    assert_float_equal(rep.clean_acc, 1.0, 0);
    assert_float_equal(rep.eps_acc[0], 1.0, 0);
    assert_true(rep.eps_acc[3] < 1.0);
    assert_true(rep.eps_acc[SANITY_N_EPS - 1] <= SANITY_LARGE_MAX);
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

/* Dead ReLUs: the attack cannot move anything, accuracy at 64/255 stays
 * up, and the large-eps check says so. */
static void test_sanity_flags_masking(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, CAP, 1.0);
    for (size_t i = 0; i < f.t.t[1].size; i++)
        f.c.params[f.t.t[1].offset + i] = -100;
    advcc_dataset d;
    make_dataset(&d, &f, 1.0, 17);
    pgd_cfg base = attack_cfg(8 / 255.0, ADVCC_INIT_NONE);
    sanity_report rep;
    char err[256];
    int rc = sanity_run(&f.c, &d, &base, 0, 18, NULL, &rep, err, sizeof err);
    assert_int_equal(rc, 1);
    assert_true(rep.failed & SANITY_EPS_LARGE);
    assert_false(rep.failed & SANITY_EPS_MONOTONE);
    assert_non_null(strstr(rep.why, "64/255"));
    dataset_free(&d);
    tiny_ctx_free(&f.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_match_manual_attack),
        cmocka_unit_test(test_save_and_transfer),
        cmocka_unit_test(test_robust_needs_clean_correct),
        cmocka_unit_test(test_clean_and_eps_zero),
        cmocka_unit_test(test_chunk_size_independent),
        cmocka_unit_test(test_gradient_warning),
        cmocka_unit_test(test_judge_randomised),
        cmocka_unit_test(test_dataset_shape_mismatch),
        cmocka_unit_test(test_sanity_passes),
        cmocka_unit_test(test_sanity_flags_masking),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
