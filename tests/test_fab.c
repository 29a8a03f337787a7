/* test_fab.c - FAB-T (runtime/fab.h): its projections onto a plane within
 * the box against exact answers found another way and against random
 * feasible points; box, budget and eps 0 on tiny models; the exact
 * minimum-norm perturbation of a linear model; and the standard ensemble
 * with FAB-T never weaker than any of its members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "attack_fixture.h"

#define MAXD 40

static double vnorm(int norm, const double *v, int d)
{
    double r = 0;
    for (int i = 0; i < d; i++)
        r = norm == ADVCC_LINF ? fmax(r, fabs(v[i])) : r + v[i] * v[i];
    return norm == ADVCC_LINF ? r : sqrt(r);
}

static double dot(const double *a, const double *b, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

/* The L2 projection by brute force over active sets (d <= 6): each
 * coordinate held at 0, at 1 or free; the free ones solve the plane
 * equation by the shortest move, t_F + lambda w_F.  The best candidate
 * inside the box is the projection.  Returns its distance, or -1. */
static double l2_brute(const double *t, const double *w, double b, int d)
{
    int combos = 1;
    for (int i = 0; i < d; i++)
        combos *= 3;
    double best = -1;
    for (int c = 0; c < combos; c++) {
        double z[MAXD], rhs = b, wf2 = 0, wft = 0;
        int code = c;
        for (int i = 0; i < d; i++, code /= 3) {
            int s = code % 3;
            z[i] = s == 0 ? t[i] : s == 1 ? 0.0 : 1.0;
            if (s) {
                rhs -= w[i] * z[i];
            } else {
                wf2 += w[i] * w[i];
                wft += w[i] * t[i];
            }
        }
        double lambda = 0;
        if (wf2 > 0)
            lambda = (rhs - wft) / wf2;
        else if (fabs(rhs - wft) > 1e-12)
            continue;
        int inside = 1;
        double sq = 0;
        code = c;
        for (int i = 0; i < d; i++, code /= 3) {
            if (code % 3 == 0)
                z[i] = t[i] + lambda * w[i];
            inside &= z[i] >= -1e-12 && z[i] <= 1 + 1e-12;
            sq += (z[i] - t[i]) * (z[i] - t[i]);
        }
        if (inside && (best < 0 || sqrt(sq) < best))
            best = sqrt(sq);
    }
    return best;
}

/* The L-inf projection's radius by bisection: within radius r of t and the
 * box, w . z ranges over an interval; the radius is the smallest r whose
 * interval holds b. */
static double linf_bisect(const double *t, const double *w, double b, int d)
{
    double lo = 0, hi = 1;
    for (int it = 0; it < 200; it++) {
        double r = 0.5 * (lo + hi), mn = 0, mx = 0;
        for (int i = 0; i < d; i++) {
            double a = fmax(0, t[i] - r), c = fmin(1, t[i] + r);
            mn += fmin(w[i] * a, w[i] * c);
            mx += fmax(w[i] * a, w[i] * c);
        }
        if (mn <= b && b <= mx)
            hi = r;
        else
            lo = r;
    }
    return hi;
}

/* A point of the plane inside the box, on the segment from u to a box
 * corner on the other side of the plane (the plane must meet the box). */
static void feasible_point(const double *u, const double *w, double b, int d,
                           double *z)
{
    double fu = dot(w, u, d) - b, v[MAXD];
    for (int i = 0; i < d; i++)     /* the corner furthest across */
        v[i] = (fu > 0) == (w[i] > 0) ? 0.0 : 1.0;
    double fv = dot(w, v, d) - b;
    double s = fu == fv ? 0 : fu / (fu - fv);
    for (int i = 0; i < d; i++)
        z[i] = u[i] + s * (v[i] - u[i]);
}

/* Projections of random points onto random planes (some missing the box,
 * some through t itself) in both norms. */
static void test_projection(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 7);
    fab_break scratch[MAXD];
    int checked_brute = 0, infeasible = 0;
    for (int trial = 0; trial < 3000; trial++) {
        int norm = trial % 2 ? ADVCC_L2 : ADVCC_LINF;
        int d = trial % 5 == 4 ? MAXD : 1 + (int)rng_below(&r, 6);
        double t[MAXD], w[MAXD], z0[MAXD], delta[MAXD], z[MAXD];
        double lo = 0, hi = 0, wsum = 0;
        for (int i = 0; i < d; i++) {
            double u = rng_uniform(&r);
            t[i] = u < 0.1 ? 0 : u > 0.9 ? 1 : rng_uniform(&r);
            w[i] = rng_uniform(&r) < 0.1 ? 0 : rng_normal(&r);
            lo += fmin(w[i], 0);
            hi += fmax(w[i], 0);
            wsum += fabs(w[i]);
            z0[i] = rng_uniform(&r);
        }
        int kind = (int)rng_below(&r, 8);
        double b = kind == 0 ? dot(w, t, d)                     /* through t */
                   : kind == 1 ? hi + 0.01 + rng_uniform(&r)     /* misses */
                   : kind == 2 ? lo - 0.01 - rng_uniform(&r)
                               : dot(w, z0, d);
        int feasible = lo <= b && b <= hi;
        int got = fab_project(norm, t, w, b, d, scratch, delta);
        assert_int_equal(got, feasible);
        for (int i = 0; i < d; i++) {
            z[i] = t[i] + delta[i];
            assert_true(z[i] >= -1e-12 && z[i] <= 1 + 1e-12);
            if (w[i] == 0)
                assert_true(delta[i] == 0);
        }
        double tol = 1e-9 * (1 + wsum);
        if (!feasible) {
            /* the box's point closest to the plane: the bound of w . z on
             * b's side */
            infeasible++;
            assert_true(fabs(dot(w, z, d) - (b > hi ? hi : lo)) <= tol);
            continue;
        }
        assert_true(fabs(dot(w, z, d) - b) <= tol);
        double got_norm = vnorm(norm, delta, d);
        if (kind == 0)
            assert_true(got_norm <= 1e-12);
        if (norm == ADVCC_LINF) {
            assert_true(fabs(got_norm - linf_bisect(t, w, b, d)) <= 1e-9);
        } else if (d <= 6) {
            double want = l2_brute(t, w, b, d);
            assert_true(want >= 0);
            assert_true(fabs(got_norm - want) <= 1e-9 * (1 + want));
            checked_brute++;
        }
        /* no feasible point is closer: from random points of the box and
         * from points near the answer */
        for (int s = 0; s < 200; s++) {
            double u[MAXD], p[MAXD], m[MAXD];
            for (int i = 0; i < d; i++) {
                u[i] = s % 2 ? rng_uniform(&r)
                             : fmin(fmax(z[i] + 0.05 * rng_normal(&r), 0), 1);
            }
            feasible_point(u, w, b, d, p);
            for (int i = 0; i < d; i++)
                m[i] = p[i] - t[i];
            assert_true(fabs(dot(w, p, d) - b) <= tol);
            assert_true(got_norm <= vnorm(norm, m, d) + 1e-12);
        }
    }
    assert_true(checked_brute > 200 && infeasible > 200);
}

/* The targets: the most likely class other than the label. */
static void top_targets(fixture *f, const real_t *x, const int *y, int n,
                        int *t)
{
    real_t lg[CAP * K];
    infer_logits(&f->inf, x, n, ADVCC_EVAL, lg);
    for (int b = 0; b < n; b++)
        apgd_top_targets(lg + b * K, K, y[b], 1, &t[b]);
}

/* Box and budget for every image FAB-T calls broken, which the model then
 * misclassifies; the others returned untouched; eps 0 breaks nothing. */
static void test_box_budget_eps0(void **state)
{
    (void)state;
    const double eps_list[] = {0, 2 / 255.0, 8 / 255.0, 0.1, 0.3};
    advcc_rng r;
    rng_seed(&r, 13);
    int broken = 0, robust = 0;
    for (int trial = 0; trial < 4; trial++) {
        int noisy = trial == 3;
        fixture f;
        fixture_make(&f, trial % 2 ? TINY_MLP : TINY_LINEAR, noisy ? 0.2 : 0,
                     noisy ? 2 : 1, noisy, 500 + trial);
        real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
        int y[CAP], t[CAP], hit[CAP];
        double best[CAP];
        random_images(x, CAP, &r);
        predicted_labels(&f, x, CAP, y);
        top_targets(&f, x, y, CAP, t);
        for (int e = 0; e < 5; e++)
            for (int norm = 0; norm < 2; norm++) {
                fab_cfg cfg;
                double eps = eps_list[e] * (norm == ADVCC_L2 ? 4 : 1);
                fab_defaults(&cfg, norm, eps);
                cfg.iters = 25;
                cfg.restarts = 2;
                long long grads = 0;
                assert_int_equal(fab_attack(&f.fab, &cfg, x, y, t, CAP, &r, adv,
                                            hit, best, &grads), 0);
                assert_int_equal(grads, 2LL * 25 * CAP);
                check_budget(x, adv, CAP, norm, cfg.eps);
                for (int b = 0; b < CAP; b++) {
                    const real_t *xb = x + b * TINY_IN, *ab = adv + b * TINY_IN;
                    assert_true(hit[b] <= 50);
                    if (hit[b] < 0) {
                        assert_true(!(best[b] <= cfg.eps));
                        assert_memory_equal(ab, xb, sizeof(real_t) * TINY_IN);
                        robust++;
                        continue;
                    }
                    broken++;
                    /* eps 0: only x itself, which a noisy draw may get wrong */
                    assert_true(cfg.eps > 0 || (noisy && hit[b] == 0));
                    assert_true(best[b] <= cfg.eps);
                    assert_true(apgd_distance(norm, xb, ab, TINY_IN) ==
                                best[b]);
                    if (!noisy)
                        assert_int_equal(count_wrong(&f, ab, &y[b], 1), 1);
                }
            }
        fixture_free(&f);
    }
    print_message("fab-t broke %d, left %d\n", broken, robust);
    assert_true(broken > 0 && robust > 0);
}

/* A linear model whose classes 2 and 3 never win: the smallest
 * perturbation that makes the target t beat the label y is
 * (z_y - z_t) / ||w_y - w_t|| (L2; the L1 norm of w_y - w_t for L-inf),
 * along w_t - w_y, when the box does not cut that path.  FAB-T finds it
 * within 1%. */
static void test_linear_exact(void **state)
{
    (void)state;
    advcc_rng r;
    rng_seed(&r, 19);
    int checked[2] = {0, 0};
    for (int trial = 0; trial < 12; trial++) {
        fixture f;
        fixture_make(&f, TINY_LINEAR, 0, 1, 0, 600 + trial);
        real_t *W = f.c.params, *bias = f.c.params + K * TINY_IN;
        for (int i = 0; i < K * TINY_IN; i++)
            W[i] = (real_t)(0.5 * rng_normal(&r));
        bias[0] = (real_t)rng_normal(&r);
        bias[1] = (real_t)rng_normal(&r);
        bias[2] = bias[3] = -1000;
        real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
        int y[CAP], t[CAP], hit[CAP];
        double best[CAP], want[CAP];
        int usable[CAP];
        for (int i = 0; i < CAP * TINY_IN; i++)
            x[i] = (real_t)(0.35 + 0.3 * rng_uniform(&r));
        predicted_labels(&f, x, CAP, y);
        int norm = trial % 2 ? ADVCC_L2 : ADVCC_LINF;
        for (int b = 0; b < CAP; b++) {
            const real_t *xb = x + b * TINY_IN;
            assert_true(y[b] < 2);
            t[b] = 1 - y[b];
            double m = (double)bias[y[b]] - bias[t[b]], l1 = 0, l2 = 0;
            double v[TINY_IN];
            for (int i = 0; i < TINY_IN; i++) {
                v[i] = (double)W[t[b] * TINY_IN + i] - W[y[b] * TINY_IN + i];
                m -= v[i] * xb[i];
                l1 += fabs(v[i]);
                l2 += v[i] * v[i];
            }
            l2 = sqrt(l2);
            want[b] = norm == ADVCC_L2 ? m / l2 : m / l1;
            /* the path x + s dir, s up to 1.05 times the answer, in the box */
            usable[b] = 1;
            for (int i = 0; i < TINY_IN; i++) {
                double dir = norm == ADVCC_L2 ? v[i] / l2
                                              : (v[i] > 0) - (v[i] < 0);
                double p = xb[i] + 1.1 * want[b] * dir;
                usable[b] &= p >= 0 && p <= 1;
            }
        }
        fab_cfg cfg;
        fab_defaults(&cfg, norm, norm == ADVCC_L2 ? 10 : 1);
        assert_int_equal(fab_attack(&f.fab, &cfg, x, y, t, CAP, &r, adv, hit,
                                    best, NULL), 0);
        for (int b = 0; b < CAP; b++) {
            if (!usable[b])
                continue;
            checked[norm]++;
            if (!(best[b] >= want[b] * (1 - 1e-4) && best[b] <= want[b] * 1.01))
                print_message("norm %d image %d: found %g, exact %g\n", norm, b,
                              best[b], want[b]);
            assert_true(best[b] >= want[b] * (1 - 1e-4));
            assert_true(best[b] <= want[b] * 1.01);
            assert_true(hit[b] >= 1);
        }
        fixture_free(&f);
    }
    print_message("exact: %d L-inf, %d L2 images\n", checked[0], checked[1]);
    assert_true(checked[0] >= 10 && checked[1] >= 10);
}

/* The standard ensemble is APGD-CE, APGD-T, FAB-T, Square; with FAB-T in
 * it, it is never weaker than any member alone, and every image FAB-T
 * breaks alone (deterministic: one run from x per target) it breaks too. */
static void test_ensemble(void **state)
{
    (void)state;
    aa_cfg c;
    memset(&c, 0, sizeof c);
    aa_set_version(&c, AA_STANDARD, 0);
    assert_int_equal(c.n_attacks, 4);
    assert_int_equal(c.attacks[0], AA_APGD_CE);
    assert_int_equal(c.attacks[1], AA_APGD_T);
    assert_int_equal(c.attacks[2], AA_FAB_T);
    assert_int_equal(c.attacks[3], AA_SQUARE);
    advcc_rng r;
    rng_seed(&r, 41);
    int fab_broke = 0;
    for (int trial = 0; trial < 4; trial++) {
        int norm = trial % 2 ? ADVCC_L2 : ADVCC_LINF;
        double eps = norm == ADVCC_L2 ? 0.25 : 0.05;
        fixture f;
        fixture_make(&f, TINY_MLP, 0, 1, 0, 700 + trial);
        advcc_dataset d;
        int n = 40;
        make_dataset(&f, n, &r, &d);
        aa_image all[40], one[40];
        aa_result res_all, res_one;
        int robust = run_aa(&f, &d, c.attacks, 4, norm, eps, all, &res_all);
        for (int i = 1; i < 4; i++)
            assert_true(res_all.robust_after[i] <= res_all.robust_after[i - 1]);
        for (int a = 0; a < 4; a++) {
            int alone = run_aa(&f, &d, &c.attacks[a], 1, norm, eps, one,
                               &res_one);
            assert_true(robust <= alone);
            if (c.attacks[a] != AA_FAB_T)
                continue;
            for (int i = 0; i < n; i++) {
                if (one[i].broken_by < 0)
                    continue;
                fab_broke++;
                assert_true(all[i].broken_by >= 0);
                assert_true(one[i].pert <= eps);
                assert_true(one[i].margin <= 0);
                assert_true(one[i].at >= 0 && one[i].at <= 3 * 20);
            }
        }
        for (int i = 0; i < n; i++)
            if (all[i].broken_by == 2) {
                assert_true(all[i].pert <= eps);
                assert_true(all[i].margin <= 0);
            }
        dataset_free(&d);
        fixture_free(&f);
    }
    assert_true(fab_broke > 0);
}

static void test_cfg(void **state)
{
    (void)state;
    fab_cfg f;
    fab_defaults(&f, ADVCC_LINF, 8 / 255.0);
    assert_int_equal(f.iters, 100);
    assert_int_equal(f.restarts, 1);
    assert_true(f.alpha_max == 0.1 && f.eta == 1.05 && f.beta == 0.9);
    assert_int_equal(fab_check_cfg(&f, NULL, 0), 0);
    f.beta = 1;
    assert_int_equal(fab_check_cfg(&f, NULL, 0), -1);
    f.beta = 0.9;
    f.eta = 0.5;
    assert_int_equal(fab_check_cfg(&f, NULL, 0), -1);
    f.eta = 1.05;
    f.eps = 2;
    assert_int_equal(fab_check_cfg(&f, NULL, 0), -1);
    f.norm = ADVCC_L2;
    assert_int_equal(fab_check_cfg(&f, NULL, 0), 0);
    assert_int_equal(aa_attack_by_name("fab-t"), AA_FAB_T);
    assert_string_equal(aa_attack_name(AA_FAB_T), "fab-t");
    aa_cfg c;
    memset(&c, 0, sizeof c);
    aa_set_single(&c, AA_FAB_T, 1);
    assert_int_equal(c.iters, 20);
    assert_int_equal(c.targets, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projection),
        cmocka_unit_test(test_box_budget_eps0),
        cmocka_unit_test(test_linear_exact),
        cmocka_unit_test(test_ensemble),
        cmocka_unit_test(test_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
