/* test_apgd.c - APGD, Square and the AutoAttack ensemble on tiny models:
 * the paper's checkpoints, targets, losses and their gradients, box and
 * ball, eps 0, exact query counts, the ensemble's worst case, and APGD
 * against fixed-step PGD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "attack_fixture.h"
#include "pgd.h"

/* The paper's schedule for N_iter = 100, and its shape for others. */
static void test_checkpoints(void **state)
{
    (void)state;
    int w[APGD_MAX_CHECKPOINTS];
    const int want[] = {22, 41, 57, 70, 80, 87, 93, 99};
    assert_int_equal(apgd_checkpoints(100, w, APGD_MAX_CHECKPOINTS), 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(w[i], want[i]);
    /* p_j by the formula in doubles, ceil(p_j N) with a rounding guard */
    for (int n = 1; n <= 1000; n += 37) {
        int got = apgd_checkpoints(n, w, APGD_MAX_CHECKPOINTS);
        double prev = 0, p = 0.22;
        int count = 0, last = 0;
        while (p <= 1 + 1e-9) {
            int wj = (int)ceil(p * n - 1e-9);
            if (wj > last) {
                assert_true(count < got);
                assert_int_equal(w[count], wj);
                count++;
                last = wj;
            }
            double step = fmax(p - prev - 0.03, 0.06);
            prev = p;
            p += step;
        }
        assert_int_equal(count, got);
        for (int i = 1; i < got; i++)
            assert_true(w[i] > w[i - 1] && w[i] <= n);
    }
    assert_int_equal(apgd_checkpoints(0, w, APGD_MAX_CHECKPOINTS), 0);
}

static void test_targets(void **state)
{
    (void)state;
    const real_t row[6] = {0.5f, 3.0f, -1.0f, 2.0f, 2.5f, 0.1f};
    int t[6];
    assert_int_equal(apgd_top_targets(row, 6, 1, 9, t), 5);
    const int want[] = {4, 3, 0, 5, 2};
    for (int i = 0; i < 5; i++)
        assert_int_equal(t[i], want[i]);
    /* label not the top class: still excluded, the top class first */
    assert_int_equal(apgd_top_targets(row, 6, 3, 2, t), 2);
    assert_int_equal(t[0], 1);
    assert_int_equal(t[1], 4);
}

/* DLR values by hand, and every loss gradient against central differences
 * of the row loss. */
static void test_losses(void **state)
{
    (void)state;
    const real_t row[5] = {1.0f, 4.0f, 2.0f, 3.0f, -1.0f};
    /* y = 2: -(2 - 4) / (4 - 2) = 1; y = 1: -(4 - 3) / 2 = -0.5 */
    assert_true(fabs(infer_row_loss_kind(row, 5, INFER_DLR, 2, 0, NULL) - 1.0) < 1e-9);
    assert_true(fabs(infer_row_loss_kind(row, 5, INFER_DLR, 1, 0, NULL) + 0.5) < 1e-9);
    /* targeted y = 1, t = 0: -(4 - 1) / (4 - (2 + 1) / 2) = -1.2 */
    assert_true(fabs(infer_row_loss_kind(row, 5, INFER_DLR_T, 1, 0, NULL) + 1.2) < 1e-9);
    /* FAB-T's z_t - z_y, y = 1, t = 0: 1 - 4 */
    assert_true(fabs(infer_row_loss_kind(row, 5, INFER_DIFF_T, 1, 0, NULL) + 3.0) < 1e-9);
    advcc_rng r;
    rng_seed(&r, 3);
    for (int trial = 0; trial < 50; trial++) {
        real_t z[6], g[6], zp[6];
        for (int j = 0; j < 6; j++)
            z[j] = (real_t)(3 * rng_normal(&r));
        int kind = trial % 4, y = (int)rng_below(&r, 6), t = (y + 1 + (int)rng_below(&r, 5)) % 6;
        infer_row_loss_kind(z, 6, kind, y, t, g);
        for (int j = 0; j < 6; j++) {
            double h = 1e-3;
            memcpy(zp, z, sizeof z);
            zp[j] = (real_t)(z[j] + h);
            double up = infer_row_loss_kind(zp, 6, kind, y, t, NULL);
            zp[j] = (real_t)(z[j] - h);
            double dn = infer_row_loss_kind(zp, 6, kind, y, t, NULL);
            assert_true(fabs((up - dn) / (2 * h) - g[j]) < 2e-2 * (1 + fabs(g[j])));
        }
    }
}

/* The input gradient of DLR through an ensemble of noisy passes averaging
 * probabilities, against central differences with the noise replayed. */
static void test_input_gradient(void **state)
{
    (void)state;
    for (int probs = 0; probs < 2; probs++)
        for (int kind = INFER_CE; kind <= INFER_DIFF_T; kind++) {
            fixture f;
            fixture_make(&f, TINY_MLP, 0.2, 3, probs, 40 + kind);
            advcc_rng r;
            rng_seed(&r, 5);
            real_t x[2 * TINY_IN], dx[2 * TINY_IN];
            int y[2] = {1, 2}, t[2] = {3, 0};
            random_images(x, 2, &r);
            advcc_rng saved = f.noise;
            double loss[2];
            infer_loss_grad_kind(&f.inf, x, y, t, 2, ADVCC_EVAL, 1, kind, dx, loss, NULL);
            for (int i = 0; i < 2 * TINY_IN; i += 7) {
                double h = 1e-3, l[2], v[2];
                real_t keep = x[i];
                for (int s = 0; s < 2; s++) {
                    x[i] = (real_t)(keep + (s ? -h : h));
                    f.noise = saved;
                    infer_loss_grad_kind(&f.inf, x, y, t, 2, ADVCC_EVAL, 1, kind,
                                         dx + 0 * TINY_IN, l, NULL);
                    v[s] = l[i / TINY_IN];
                }
                x[i] = keep;
                f.noise = saved;
                infer_loss_grad_kind(&f.inf, x, y, t, 2, ADVCC_EVAL, 1, kind, dx, loss, NULL);
                double fd = (v[0] - v[1]) / (2 * h);
                if (fabs(fd - dx[i]) > 2e-2 * (0.05 + fabs(fd)))
                    print_message("probs %d kind %d x[%d]: %g by differences, %g\n",
                                  probs, kind, i, fd, (double)dx[i]);
                assert_true(fabs(fd - dx[i]) <= 2e-2 * (0.05 + fabs(fd)));
            }
            fixture_free(&f);
        }
}


/* Every attack, norm and loss keeps box and ball; eps 0 changes nothing. */
static void test_box_ball_eps0(void **state)
{
    (void)state;
    const double eps_list[] = {0, 2 / 255.0, 8 / 255.0, 0.3, 1};
    advcc_rng r;
    rng_seed(&r, 11);
    for (int trial = 0; trial < 4; trial++) {
        fixture f;
        fixture_make(&f, trial % 2 ? TINY_MLP : TINY_LINEAR, trial == 3 ? 0.2 : 0,
                     trial == 3 ? 2 : 1, trial == 3, 60 + trial);
        real_t x[CAP * TINY_IN], adv[CAP * TINY_IN], lg[CAP * K];
        int y[CAP], t[CAP], hit[CAP];
        long long q[CAP];
        random_images(x, CAP, &r);
        predicted_labels(&f, x, CAP, y);
        infer_logits(&f.inf, x, CAP, ADVCC_EVAL, lg);
        for (int b = 0; b < CAP; b++)
            apgd_top_targets(lg + b * K, K, y[b], 1, &t[b]);
        for (int e = 0; e < 5; e++)
            for (int norm = 0; norm < 2; norm++) {
                double eps = eps_list[e];
                for (int loss = INFER_CE; loss <= INFER_DLR_T; loss++) {
                    apgd_cfg cfg;
                    apgd_defaults(&cfg, norm, eps);
                    cfg.iters = 15;
                    cfg.loss = loss;
                    cfg.restarts = 1 + (loss == INFER_DLR);
                    cfg.eot = trial == 3 ? 2 : 1;
                    assert_int_equal(apgd_attack(&f.apgd, &cfg, x, y, t, CAP, &r,
                                                 adv, hit, NULL), 0);
                    check_budget(x, adv, CAP, norm, eps);
                    if (eps == 0) {
                        assert_memory_equal(adv, x, sizeof adv);
                        for (int b = 0; b < CAP; b++)
                            assert_true(hit[b] < 0 || trial == 3);
                    }
                }
                if (trial != 3) {
                    square_cfg s;
                    square_defaults(&s, eps);
                    s.norm = norm;
                    s.queries = 60;
                    assert_int_equal(square_attack(&f.sq, &s, x, y, CAP, &r, adv,
                                                   hit, q), 0);
                    check_budget(x, adv, CAP, norm, eps);
                    if (eps == 0)
                        assert_memory_equal(adv, x, sizeof adv);
                }
            }
        fixture_free(&f);
    }
}

/* Square: queries per image counted exactly (the model sees exactly their
 * sum), at most the budget, the full budget for every image not broken,
 * the broken ones stop at the query that broke them. */
static void test_square_queries(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 17);
    int broken = 0, robust = 0;
    for (int trial = 0; trial < 6; trial++) {
        fixture f;
        fixture_make(&f, TINY_MLP, 0, 1, 0, 80 + trial);
        real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
        int y[CAP], hit[CAP];
        long long q[CAP];
        random_images(x, CAP, &r);
        predicted_labels(&f, x, CAP, y);
        square_cfg s;
        square_defaults(&s, trial < 3 ? 4 / 255.0 : 16 / 255.0);
        if (trial % 2) {
            s.norm = ADVCC_L2;
            s.eps *= 8;
        }
        s.queries = 100 + 37 * trial;
        forwarded = 0;
        assert_int_equal(square_attack(&f.sq, &s, x, y, CAP, &r, adv, hit, q), 0);
        long long sum = 0;
        for (int b = 0; b < CAP; b++) {
            sum += q[b];
            assert_true(q[b] >= 1 && q[b] <= s.queries);
            if (hit[b] < 0) {
                assert_int_equal(q[b], s.queries);
                robust++;
            } else {
                assert_int_equal(q[b], hit[b]);
                broken++;
            }
        }
        assert_int_equal(forwarded, sum);
        /* what square_attack reports broken is misclassified */
        int wrong = count_wrong(&f, adv, y, CAP);
        int hits = 0;
        for (int b = 0; b < CAP; b++)
            hits += hit[b] >= 0;
        assert_int_equal(wrong, hits);
        fixture_free(&f);
    }
    assert_true(broken > 0 && robust > 0);
    /* the schedule: p_init until 10/10000 of the run, then halvings */
    assert_true(square_p(0.8, 10, 10000) == 0.8);
    assert_true(square_p(0.8, 11, 10000) == 0.4);
    assert_true(square_p(0.8, 250, 5000) == 0.1);  /* 500 of 10000 */
    assert_true(square_p(0.8, 9999, 10000) == 0.8 / 512);
    assert_int_equal(square_side(0.8, 3, 32, 32), 29);
}

/* On tiny MLPs APGD-CE with 100 iterations breaks at least as many images
 * as PGD with 100 fixed steps of eps/4 from a random start. */
static void test_apgd_vs_pgd(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 23);
    int apgd_wrong = 0, pgd_wrong = 0;
    for (int trial = 0; trial < 10; trial++) {
        fixture f;
        fixture_make(&f, TINY_MLP, 0, 1, 0, 200 + trial);
        pgd_ws pgd;
        assert_int_equal(pgd_init(&pgd, &f.inf), 0);
        real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
        int y[CAP], hit[CAP];
        random_images(x, CAP, &r);
        predicted_labels(&f, x, CAP, y);
        double eps = 0.06;
        apgd_cfg a;
        apgd_defaults(&a, ADVCC_LINF, eps);
        assert_int_equal(apgd_attack(&f.apgd, &a, x, y, NULL, CAP, &r, adv, hit, NULL), 0);
        apgd_wrong += count_wrong(&f, adv, y, CAP);
        pgd_cfg p;
        memset(&p, 0, sizeof p);
        p.norm = ADVCC_LINF;
        p.eps = eps;
        p.alpha = eps / 4;
        p.steps = 100;
        p.restarts = 1;
        p.eot = 1;
        p.init = ADVCC_INIT_UNIFORM;
        p.clip = ADVCC_CLIP_PIXEL;
        p.mode = ADVCC_EVAL;
        assert_int_equal(pgd_attack(&pgd, &p, x, y, CAP, &r, adv, NULL), 0);
        pgd_wrong += count_wrong(&f, adv, y, CAP);
        pgd_free(&pgd);
        fixture_free(&f);
    }
    print_message("apgd-ce broke %d, pgd %d of %d\n", apgd_wrong, pgd_wrong, 10 * CAP);
    assert_true(apgd_wrong >= pgd_wrong);
    assert_true(apgd_wrong > 0 && apgd_wrong < 10 * CAP);
}


/* An image leaves APGD's batch at its first misclassified point: in
 * evaluation mode it costs one gradient pass per iteration until then
 * (counted exactly), and what the others get does not depend on it (the
 * same batch with another first image gives them the same bytes).  With
 * batch statistics every image stays for the whole run. */
static void test_apgd_drops_broken(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 29);
    int early = 0;
    for (int trial = 0; trial < 6; trial++) {
        fixture f;
        fixture_make(&f, trial % 2 ? TINY_MLP : TINY_LINEAR, 0, 1, 0, 300 + trial);
        real_t x[CAP * TINY_IN], x2[CAP * TINY_IN];
        real_t adv[CAP * TINY_IN], adv2[CAP * TINY_IN];
        int y[CAP], y2[CAP], hit[CAP], hit2[CAP];
        random_images(x, CAP, &r);
        predicted_labels(&f, x, CAP, y);
        memcpy(x2, x, sizeof x);
        random_images(x2, 1, &r);
        predicted_labels(&f, x2, CAP, y2);
        apgd_cfg cfg;
        apgd_defaults(&cfg, ADVCC_LINF, 0.05);
        cfg.iters = 30;
        long long grads = 0, grads2 = 0;
        advcc_rng r1, r2;
        rng_split(&r, (uint64_t)trial, &r1);
        r2 = r1;
        assert_int_equal(apgd_attack(&f.apgd, &cfg, x, y, NULL, CAP, &r1, adv, hit, &grads), 0);
        assert_int_equal(apgd_attack(&f.apgd, &cfg, x2, y2, NULL, CAP, &r2, adv2, hit2, &grads2), 0);
        long long want = 0;
        for (int b = 0; b < CAP; b++) {
            want += hit[b] >= 0 ? hit[b] + 1 : cfg.iters + 1;
            early += hit[b] >= 0 && hit[b] < cfg.iters;
        }
        assert_int_equal(grads, want);
        assert_memory_equal(adv + TINY_IN, adv2 + TINY_IN, sizeof(real_t) * (CAP - 1) * TINY_IN);
        assert_memory_equal(hit + 1, hit2 + 1, sizeof(int) * (CAP - 1));

        cfg.mode = ADVCC_TRAIN_FROZEN;
        grads = 0;
        assert_int_equal(apgd_attack(&f.apgd, &cfg, x, y, NULL, CAP, &r1, adv, hit, &grads), 0);
        assert_int_equal(grads, (long long)CAP * (cfg.iters + 1));
        fixture_free(&f);
    }
    assert_true(early > 0);     /* the drop was exercised */
}

/* The ensemble's robust accuracy is never above any one attack's, falls
 * (weakly) attack by attack, and its per-image records agree with it. */
static void test_ensemble_worst_case(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 31);
    for (int trial = 0; trial < 3; trial++) {
        fixture f;
        fixture_make(&f, TINY_MLP, 0, 1, 0, 300 + trial);
        advcc_dataset d;
        int n = 40;
        make_dataset(&f, n, &r, &d);
        aa_image img[40];
        aa_result all, one;
        const int ens[3] = {AA_APGD_CE, AA_APGD_T, AA_SQUARE};
        int robust = run_aa(&f, &d, ens, 3, ADVCC_LINF, 0.05, img, &all);
        for (int i = 1; i < 3; i++)
            assert_true(all.robust_after[i] <= all.robust_after[i - 1]);
        assert_true(all.robust_after[0] <= all.clean_correct);
        int count = 0;
        for (int i = 0; i < n; i++) {
            count += img[i].clean_ok && img[i].broken_by < 0;
            if (img[i].broken_by >= 0) {
                assert_true(img[i].margin <= 0);
                assert_true(img[i].pert <= 0.05 + 1e-6);
            }
            assert_int_equal(img[i].done, 3);
        }
        assert_int_equal(count, robust);
        for (int a = 0; a < 3; a++) {
            aa_image single[40];
            int alone = run_aa(&f, &d, &ens[a], 1, ADVCC_LINF, 0.05, single,
                               &one);
            assert_int_equal(one.clean_correct, all.clean_correct);
            assert_true(robust <= alone);
        }
        dataset_free(&d);
        fixture_free(&f);
    }
}

/* A randomised model: the rand version judges on several draws, and an
 * image it calls robust is right on each of them. */
static void test_rand_version(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 37);
    fixture f;
    fixture_make(&f, TINY_MLP, 0.1, 2, 0, 400);
    assert_true(aa_model_random(&f.c));
    advcc_dataset d;
    make_dataset(&f, 24, &r, &d);
    aa_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    aa_set_version(&cfg, AA_RAND, 1);
    assert_int_equal(cfg.n_attacks, 2);
    assert_int_equal(cfg.attacks[1], AA_APGD_DLR);
    cfg.norm = ADVCC_LINF;
    cfg.eps = 0.04;
    aa_image img[24];
    for (int i = 0; i < 24; i++)
        img[i].done = -1;
    aa_result res;
    char err[256];
    assert_int_equal(aa_evaluate(&f.c, &d, &cfg, &r, img, &res, err, sizeof err), 0);
    assert_true(res.robust_after[1] <= res.robust_after[0]);
    assert_true(res.grads > 0);
    dataset_free(&d);
    fixture_free(&f);
}

static void test_cfg(void **state)
{
    (void)state;
    apgd_cfg a;
    apgd_defaults(&a, ADVCC_LINF, 8 / 255.0);
    assert_int_equal(a.iters, 100);
    assert_int_equal(a.restarts, 1);
    assert_int_equal(apgd_check_cfg(&a, 10, NULL, 0), 0);
    a.loss = INFER_DLR_T;
    assert_int_equal(apgd_check_cfg(&a, 3, NULL, 0), -1);
    a.loss = INFER_CE;
    a.eps = 2;
    assert_int_equal(apgd_check_cfg(&a, 10, NULL, 0), -1);
    aa_cfg c;
    memset(&c, 0, sizeof c);
    aa_set_single(&c, AA_SQUARE, 0);
    assert_int_equal(c.queries, 5000);
    c.eps = 0.1;
    c.norm = ADVCC_L2;
    assert_int_equal(aa_check_cfg(&c, 10, NULL, 0), 0);
    c.norm = 7;
    assert_int_equal(aa_check_cfg(&c, 10, NULL, 0), -1);
    c.norm = ADVCC_LINF;
    c.eps = 1.5;
    assert_int_equal(aa_check_cfg(&c, 10, NULL, 0), -1);
    assert_int_equal(aa_attack_by_name("apgd-t"), AA_APGD_T);
    assert_int_equal(aa_attack_by_name("fab"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_input_gradient),
        cmocka_unit_test(test_box_ball_eps0),
        cmocka_unit_test(test_square_queries),
        cmocka_unit_test(test_apgd_vs_pgd),
        cmocka_unit_test(test_apgd_drops_broken),
        cmocka_unit_test(test_ensemble_worst_case),
        cmocka_unit_test(test_rand_version),
        cmocka_unit_test(test_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
