/* test_pgd.c - PGD: the budget is never left, a step is the analytic one,
 * restarts keep each image's worst case, targeted and L2 variants do what
 * they say, gradient health is counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "pgd.h"
#include "tinymodel.h"

#define K TINY_CLASSES
#define CAP 8

typedef struct fixture {
    tiny_model t;
    advcc_rng noise;
    advcc_ctx c;
    infer_ws inf;
    pgd_ws pgd;
} fixture;

static void fixture_make(fixture *f, int kind, int act, double sigma,
                         int ensemble, uint64_t seed)
{
    tiny_make(&f->t, kind, act, sigma, ensemble, 0);
    rng_seed(&f->noise, seed + 1000);
    tiny_ctx_make(&f->c, &f->t, CAP, sigma > 0 ? &f->noise : NULL, seed);
    assert_int_equal(infer_init(&f->inf, &f->c), 0);
    assert_int_equal(pgd_init(&f->pgd, &f->inf), 0);
}

static void fixture_free(fixture *f)
{
    pgd_free(&f->pgd);
    infer_free(&f->inf);
    tiny_ctx_free(&f->c);
}

/* Images with some pixels exactly 0 and 1, where clipping binds. */
static void random_images(real_t *x, int n, advcc_rng *r)
{
    for (int i = 0; i < n * TINY_IN; i++) {
        double u = rng_uniform(r);
        x[i] = u < 0.1 ? 0 : u > 0.9 ? 1 : (real_t)rng_uniform(r);
    }
}

static void random_labels(int *y, int n, advcc_rng *r)
{
    for (int i = 0; i < n; i++)
        y[i] = (int)rng_below(r, K);
}

static pgd_cfg base_cfg(int norm, double eps, double alpha, int steps,
                        int restarts, int init)
{
    pgd_cfg c;
    memset(&c, 0, sizeof c);
    c.norm = norm;
    c.eps = eps;
    c.alpha = alpha;
    c.steps = steps;
    c.restarts = restarts;
    c.eot = 1;
    c.init = init;
    c.clip = ADVCC_CLIP_PIXEL;
    c.labels = PGD_LABELS_TRUE;
    c.mode = ADVCC_EVAL;
    return c;
}

static double l2_dist(const real_t *a, const real_t *b)
{
    double s = 0;
    for (int i = 0; i < TINY_IN; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

/* Property: over models, budgets, starts, step sizes and norms, the result
 * stays in the eps ball and in [0,1]. */
static void test_stays_in_ball(void **state)
{
    (void)state;
    const double eps_list[] = {0, 1 / 255.0, 8 / 255.0, 0.5, 1};
    const int inits[] = {ADVCC_INIT_NONE, ADVCC_INIT_GAUSSIAN,
                         ADVCC_INIT_UNIFORM};
    advcc_rng r;
    rng_seed(&r, 1);
    real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
    int y[CAP];
    long checked = 0, moved = 0;
    for (int trial = 0; trial < 6; trial++) {
        fixture f;
        fixture_make(&f, trial % 2 ? TINY_MLP : TINY_LINEAR,
                     trial % 3 ? TINY_RELU : TINY_TANH, trial == 5 ? 0.3 : 0,
                     trial == 5 ? 2 : 1, 100 + trial);
        random_images(x, CAP, &r);
        random_labels(y, CAP, &r);
        for (int e = 0; e < 5; e++)
            for (int i = 0; i < 3; i++)
                for (int norm = 0; norm < 2; norm++) {
                    double eps = eps_list[e];
                    double alpha = norm == ADVCC_LINF ? 0.3 * eps + 1 / 255.0
                                                      : 0.5 * eps + 0.05;
                    pgd_cfg cfg = base_cfg(norm, eps, alpha, 3, 2, inits[i]);
                    cfg.labels = trial % 2 ? PGD_LABELS_PRED : PGD_LABELS_TRUE;
                    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r,
                                                adv, NULL), 0);
                    for (int b = 0; b < CAP; b++) {
                        const real_t *xb = x + b * TINY_IN;
                        const real_t *ab = adv + b * TINY_IN;
                        for (int j = 0; j < TINY_IN; j++) {
                            assert_true(ab[j] >= 0 && ab[j] <= 1);
                            if (norm == ADVCC_LINF)
                                assert_true(fabs(ab[j] - xb[j]) <= eps + 1e-6);
                            moved += ab[j] != xb[j];
                        }
                        if (norm == ADVCC_L2)
                            assert_true(l2_dist(ab, xb) <= eps * (1 + 1e-6) + 1e-6);
                        checked++;
                    }
                }
        fixture_free(&f);
    }
    assert_true(checked == 6 * 5 * 3 * 2 * CAP);
    assert_true(moved > 0);
}

/* With clip=normalized the box is [mean - 2 std, mean + 2 std]; images
 * inside it stay inside, and every image stays in its ball. */
static void test_normalized_clip(void **state)
{
    (void)state;
    const double mean[3] = {0.4914, 0.4822, 0.4465};
    const double std[3] = {0.2470, 0.2435, 0.2616};
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, 7);
    advcc_rng r;
    rng_seed(&r, 8);
    real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
    int y[CAP];
    random_images(x, CAP, &r);  /* some pixels (1.0) lie outside the box */
    random_labels(y, CAP, &r);
    for (int norm = 0; norm < 2; norm++) {
        double eps = norm == ADVCC_LINF ? 8 / 255.0 : 0.5;
        pgd_cfg cfg = base_cfg(norm, eps, eps / 2, 5, 1, ADVCC_INIT_UNIFORM);
        cfg.clip = ADVCC_CLIP_NORMALIZED;
        cfg.mean = mean;
        cfg.std = std;
        assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, NULL), 0);
        for (int b = 0; b < CAP; b++) {
            const real_t *xb = x + b * TINY_IN, *ab = adv + b * TINY_IN;
            int inside = 1;
            for (int j = 0; j < TINY_IN; j++) {
                int ch = j / (TINY_H * TINY_W);
                double lo = mean[ch] - 2 * std[ch], hi = mean[ch] + 2 * std[ch];
                if (norm == ADVCC_LINF) {
                    assert_true(fabs(ab[j] - xb[j]) <= eps + 1e-6);
                    /* the box holds whenever the ball meets it */
                    if (xb[j] >= lo - eps && xb[j] <= hi + eps)
                        assert_true(ab[j] >= lo - 1e-6 && ab[j] <= hi + 1e-6);
                }
                inside &= xb[j] >= lo && xb[j] <= hi;
            }
            if (norm == ADVCC_L2) {
                assert_true(l2_dist(ab, xb) <= eps * (1 + 1e-6) + 1e-6);
                if (inside)
                    for (int j = 0; j < TINY_IN; j++) {
                        int ch = j / (TINY_H * TINY_W);
                        assert_true(ab[j] >= mean[ch] - 2 * std[ch] - 1e-6);
                        assert_true(ab[j] <= mean[ch] + 2 * std[ch] + 1e-6);
                    }
            }
        }
    }
    /* missing mean/std is refused */
    pgd_cfg bad = base_cfg(ADVCC_LINF, 0.1, 0.01, 1, 1, ADVCC_INIT_NONE);
    bad.clip = ADVCC_CLIP_NORMALIZED;
    char err[128];
    assert_int_equal(pgd_check_cfg(&bad, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "mean"));
    assert_int_equal(pgd_attack(&f.pgd, &bad, x, y, CAP, &r, adv, NULL), -1);
    fixture_free(&f);
}

/* steps = 0 and no random start: the input itself, bit for bit. */
static void test_zero_steps_identity(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, 3);
    advcc_rng r;
    rng_seed(&r, 4);
    real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
    int y[CAP];
    random_images(x, CAP, &r);
    random_labels(y, CAP, &r);
    for (int norm = 0; norm < 2; norm++)
        for (int restarts = 1; restarts <= 3; restarts += 2) {
            pgd_cfg cfg = base_cfg(norm, 8 / 255.0, 2 / 255.0, 0, restarts,
                                   ADVCC_INIT_NONE);
            memset(adv, 0x7f, sizeof adv);
            assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, NULL),
                             0);
            assert_memory_equal(adv, x, sizeof x);
        }
    fixture_free(&f);
}

/* Starting points: gaussian N(0, eps^2) clipped to the ball (about a third
 * of the entries land on its faces), uniform in [-eps, eps] (none do, mean
 * |xi| eps/2); L2 gaussian of norm about eps, spread around it. */
static void test_start_distributions(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, TINY_RELU, 0, 1, 23);
    advcc_rng r;
    rng_seed(&r, 24);
    real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
    int y[CAP];
    for (int i = 0; i < CAP * TINY_IN; i++)
        x[i] = (real_t)(0.4 + 0.2 * rng_uniform(&r));
    random_labels(y, CAP, &r);
    const double eps = 0.1;
    pgd_cfg cfg = base_cfg(ADVCC_LINF, eps, 0, 0, 1, ADVCC_INIT_GAUSSIAN);
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, NULL), 0);
    int faces = 0;
    for (int i = 0; i < CAP * TINY_IN; i++)
        faces += fabs(fabs(adv[i] - x[i]) - eps) < 1e-6;
    double share = (double)faces / (CAP * TINY_IN);
    assert_true(share > 0.22 && share < 0.42);

    cfg.init = ADVCC_INIT_UNIFORM;
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, NULL), 0);
    double mean_abs = 0;
    for (int i = 0; i < CAP * TINY_IN; i++)
        mean_abs += fabs(adv[i] - x[i]) / (CAP * TINY_IN);
    assert_true(mean_abs > 0.4 * eps && mean_abs < 0.6 * eps);

    cfg = base_cfg(ADVCC_L2, 0.5, 0, 0, 1, ADVCC_INIT_GAUSSIAN);
    double lo = INFINITY, sum = 0;
    for (int rep = 0; rep < 4; rep++) {
        assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, NULL), 0);
        for (int b = 0; b < CAP; b++) {
            double d = l2_dist(adv + b * TINY_IN, x + b * TINY_IN);
            lo = fmin(lo, d);
            sum += d / (4 * CAP);
        }
    }
    assert_true(lo < 0.95 * cfg.eps);
    assert_true(sum > 0.8 * cfg.eps && sum <= cfg.eps);
    fixture_free(&f);
}

/* The analytic input gradient of the linear softmax model for one image:
 * W^T (softmax(W x + b) - onehot(y)). */
static void linear_grad(const advcc_ctx *c, const real_t *x, int y, double *g)
{
    const real_t *w = c->params, *bias = c->params + K * TINY_IN;
    double z[K], p[K], mx = -INFINITY, s = 0;
    for (int k = 0; k < K; k++) {
        z[k] = bias[k];
        for (int i = 0; i < TINY_IN; i++)
            z[k] += (double)w[k * TINY_IN + i] * x[i];
        mx = fmax(mx, z[k]);
    }
    for (int k = 0; k < K; k++)
        s += p[k] = exp(z[k] - mx);
    for (int i = 0; i < TINY_IN; i++) {
        g[i] = 0;
        for (int k = 0; k < K; k++)
            g[i] += w[k * TINY_IN + i] * (p[k] / s - (k == y));
    }
}

/* One step, no start, a budget that does not bind: x + alpha sign(g); the
 * L2 step x + alpha g / ||g||. */
static void test_one_step_is_analytic(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_LINEAR, TINY_RELU, 0, 1, 9);
    advcc_rng r;
    rng_seed(&r, 10);
    real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
    int y[CAP];
    for (int i = 0; i < CAP * TINY_IN; i++)
        x[i] = (real_t)(0.3 + 0.4 * rng_uniform(&r));
    random_labels(y, CAP, &r);
    const double alpha = 0.05;
    pgd_cfg cfg = base_cfg(ADVCC_LINF, 1.0, alpha, 1, 1, ADVCC_INIT_NONE);
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, NULL), 0);
    int compared = 0;
    for (int b = 0; b < CAP; b++) {
        double g[TINY_IN];
        linear_grad(&f.c, x + b * TINY_IN, y[b], g);
        for (int i = 0; i < TINY_IN; i++) {
            if (fabs(g[i]) < 1e-6)
                continue;   /* sign not determined in float */
            real_t want = x[b * TINY_IN + i] +
                          (g[i] > 0 ? (real_t)alpha : -(real_t)alpha);
            assert_float_equal(adv[b * TINY_IN + i], want, 1e-7);
            compared++;
        }
    }
    assert_true(compared > CAP * TINY_IN * 9 / 10);

    cfg = base_cfg(ADVCC_L2, 10.0, alpha, 1, 1, ADVCC_INIT_NONE);
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, NULL), 0);
    for (int b = 0; b < CAP; b++) {
        double g[TINY_IN], norm = 0;
        linear_grad(&f.c, x + b * TINY_IN, y[b], g);
        for (int i = 0; i < TINY_IN; i++)
            norm += g[i] * g[i];
        norm = sqrt(norm);
        for (int i = 0; i < TINY_IN; i++)
            assert_float_equal(adv[b * TINY_IN + i],
                               x[b * TINY_IN + i] + alpha * g[i] / norm, 1e-6);
        assert_float_equal(l2_dist(adv + b * TINY_IN, x + b * TINY_IN), alpha,
                           1e-5);
    }
    fixture_free(&f);
}

/* Per-image loss and success of the (deterministic) model at x. */
static void judge(fixture *f, const real_t *x, const int *y, int n,
                  int targeted, double *loss, int *hit)
{
    real_t logits[CAP * K];
    infer_logits(&f->inf, x, n, ADVCC_EVAL, logits);
    for (int b = 0; b < n; b++) {
        int pred;
        loss[b] = infer_row_loss(logits + b * K, y[b], K, &pred);
        hit[b] = targeted ? pred == y[b] : pred != y[b];
    }
}

/* restarts = R against R single attempts from the same stream: each image
 * gets the first attempt that fools the model, else its highest-loss one
 * (lowest, targeted). */
static void check_restarts(int targeted)
{
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, 12);
    advcc_rng r;
    rng_seed(&r, 13);
    real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
    int y[CAP];
    random_images(x, CAP, &r);
    random_labels(y, CAP, &r);
    enum { R = 5 };
    real_t cand[R][CAP * TINY_IN];
    double loss[R][CAP];
    int hit[R][CAP];
    /* A budget where attempts end in different places and only some
     * images fall. */
    pgd_cfg one = base_cfg(ADVCC_LINF, 0.15, 0.01, 1, 1, ADVCC_INIT_UNIFORM);
    one.targeted = targeted;
    pgd_cfg many = one;
    many.restarts = R;
    advcc_rng start;
    rng_seed(&start, 14);
    r = start;
    pgd_stats st = {0};
    assert_int_equal(pgd_attack(&f.pgd, &many, x, y, CAP, &r, adv, &st), 0);
    r = start;
    for (int a = 0; a < R; a++) {
        assert_int_equal(pgd_attack(&f.pgd, &one, x, y, CAP, &r, cand[a], NULL),
                         0);
        judge(&f, cand[a], y, CAP, targeted, loss[a], hit[a]);
    }
    int chosen_count[R] = {0}, some_hit = 0, some_missed = 0;
    for (int b = 0; b < CAP; b++) {
        int best = 0;
        for (int a = 1; a < R; a++) {
            if (hit[best][b])
                break;
            int better = targeted ? loss[a][b] < loss[best][b]
                                  : loss[a][b] > loss[best][b];
            if (hit[a][b] || better)
                best = a;
        }
        assert_memory_equal(adv + b * TINY_IN, cand[best] + b * TINY_IN,
                            sizeof(real_t) * TINY_IN);
        chosen_count[best]++;
        some_hit |= hit[best][b];
        some_missed |= !hit[best][b];
        if (!hit[best][b])
            for (int a = 0; a < R; a++)
                assert_true(targeted ? loss[best][b] <= loss[a][b]
                                     : loss[best][b] >= loss[a][b]);
    }
    /* The case really tells per-image from per-batch choices. */
    int attempts_used = 0;
    for (int a = 0; a < R; a++)
        attempts_used += chosen_count[a] > 0;
    assert_true(attempts_used >= 2);
    assert_true(some_missed);
    (void)some_hit;
    assert_true(st.attempts >= 1 && st.attempts <= R);
    fixture_free(&f);
}

static void test_restarts_keep_worst_case(void **state)
{
    (void)state;
    check_restarts(0);
}

static void test_restarts_targeted(void **state)
{
    (void)state;
    check_restarts(1);
}

/* Targeted PGD lowers the target's loss; untargeted raises the true one. */
static void test_targeted_and_untargeted_direction(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_TANH, 0, 1, 15);
    advcc_rng r;
    rng_seed(&r, 16);
    real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
    int y[CAP], target[CAP];
    random_images(x, CAP, &r);
    random_labels(y, CAP, &r);
    for (int b = 0; b < CAP; b++)
        target[b] = (y[b] + 1) % K;
    double before[CAP], after[CAP];
    int hit[CAP];
    for (int targeted = 0; targeted < 2; targeted++) {
        const int *lab = targeted ? target : y;
        pgd_cfg cfg = base_cfg(ADVCC_LINF, 16 / 255.0, 2 / 255.0, 10, 1,
                               ADVCC_INIT_NONE);
        cfg.targeted = targeted;
        judge(&f, x, lab, CAP, targeted, before, hit);
        assert_int_equal(pgd_attack(&f.pgd, &cfg, x, lab, CAP, &r, adv, NULL),
                         0);
        judge(&f, adv, lab, CAP, targeted, after, hit);
        for (int b = 0; b < CAP; b++)
            if (targeted)
                assert_true(after[b] < before[b]);
            else
                assert_true(after[b] > before[b]);
    }
    fixture_free(&f);
}

/* labels = predictions: the same attack as on the predicted labels. */
static void test_labels_from_predictions(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, 17);
    advcc_rng r, start;
    rng_seed(&r, 18);
    real_t x[CAP * TINY_IN], a1[CAP * TINY_IN], a2[CAP * TINY_IN];
    real_t logits[CAP * K];
    int y[CAP], pred[CAP];
    random_images(x, CAP, &r);
    random_labels(y, CAP, &r);
    infer_logits(&f.inf, x, CAP, ADVCC_EVAL, logits);
    int differ = 0;
    for (int b = 0; b < CAP; b++) {
        infer_row_loss(logits + b * K, 0, K, &pred[b]);
        differ += pred[b] != y[b];
    }
    assert_true(differ > 0);
    pgd_cfg cfg = base_cfg(ADVCC_LINF, 8 / 255.0, 2 / 255.0, 3, 1,
                           ADVCC_INIT_GAUSSIAN);
    cfg.labels = PGD_LABELS_PRED;
    rng_seed(&start, 19);
    r = start;
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, a1, NULL), 0);
    cfg.labels = PGD_LABELS_TRUE;
    r = start;
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, pred, CAP, &r, a2, NULL), 0);
    assert_memory_equal(a1, a2, sizeof a1);
    r = start;
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, a2, NULL), 0);
    assert_true(memcmp(a1, a2, sizeof a1) != 0);
    fixture_free(&f);
}

/* Zero and non-finite input-gradient entries are counted; pixels with a
 * non-finite gradient do not move. */
static void test_gradient_health(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_RELU, 0, 1, 20);
    advcc_rng r;
    rng_seed(&r, 21);
    real_t x[CAP * TINY_IN], adv[CAP * TINY_IN];
    int y[CAP];
    random_images(x, CAP, &r);
    random_labels(y, CAP, &r);
    pgd_cfg cfg = base_cfg(ADVCC_LINF, 8 / 255.0, 2 / 255.0, 3, 1,
                           ADVCC_INIT_NONE);
    pgd_stats st = {0};
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, &st), 0);
    assert_int_equal(st.grad_entries, 3 * CAP * TINY_IN);
    assert_true(st.grad_zero < st.grad_entries / 2);
    assert_int_equal(st.grad_nonfinite, 0);

    /* Dead ReLUs: the input gradient is zero everywhere; nothing moves. */
    const advcc_tensor *b1 = &f.t.t[1];
    for (size_t i = 0; i < b1->size; i++)
        f.c.params[b1->offset + i] = -100;
    memset(&st, 0, sizeof st);
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, &st), 0);
    assert_int_equal(st.grad_zero, st.grad_entries);
    assert_memory_equal(adv, x, sizeof x);
    fixture_free(&f);

    /* A NaN weight: the gradient entries of its input are NaN. */
    fixture_make(&f, TINY_LINEAR, TINY_RELU, 0, 1, 22);
    f.c.params[5] = NAN;    /* class 0, input 5 */
    memset(&st, 0, sizeof st);
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, adv, &st), 0);
    assert_true(st.grad_nonfinite >= CAP);
    for (int b = 0; b < CAP; b++)
        assert_true(adv[b * TINY_IN + 5] == x[b * TINY_IN + 5]);
    fixture_free(&f);
}

/* The spec's attack turns into a cfg, and bad settings are refused. */
static void test_cfg(void **state)
{
    (void)state;
    advcc_attack_cfg a = {.present = 1, .eps = 8 / 255.0, .alpha = 2 / 255.0,
                          .steps = 4, .init = ADVCC_INIT_GAUSSIAN,
                          .clip = ADVCC_CLIP_PIXEL, .norm = ADVCC_LINF};
    pgd_cfg c;
    pgd_cfg_from_attack(&c, &a);
    assert_float_equal(c.eps, 8 / 255.0, 0);
    assert_int_equal(c.steps, 4);
    assert_int_equal(c.restarts, 1);
    assert_int_equal(c.eot, 1);
    assert_int_equal(c.mode, ADVCC_EVAL);
    char err[128];
    assert_int_equal(pgd_check_cfg(&c, 3, err, sizeof err), 0);
    pgd_cfg bad = c;
    bad.eps = -1;
    assert_int_equal(pgd_check_cfg(&bad, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "eps"));
    bad = c;
    bad.mode = ADVCC_TRAIN;
    assert_int_equal(pgd_check_cfg(&bad, 3, err, sizeof err), -1);
    bad = c;
    bad.restarts = 0;
    assert_int_equal(pgd_check_cfg(&bad, 3, err, sizeof err), -1);
}

/* A randomised model: EOT and the ensemble run, the budget holds, and the
 * same streams give the same images. */
static void test_randomised_model(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, TINY_MLP, TINY_TANH, 0.2, 3, 30);
    advcc_rng r, start, nstart = f.noise;
    rng_seed(&r, 31);
    real_t x[CAP * TINY_IN], a1[CAP * TINY_IN], a2[CAP * TINY_IN];
    int y[CAP];
    random_images(x, CAP, &r);
    random_labels(y, CAP, &r);
    start = r;
    pgd_cfg cfg = base_cfg(ADVCC_LINF, 8 / 255.0, 2 / 255.0, 4, 2,
                           ADVCC_INIT_GAUSSIAN);
    cfg.eot = 3;
    cfg.mode = ADVCC_TRAIN_FROZEN;
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, a1, NULL), 0);
    r = start;
    f.noise = nstart;
    assert_int_equal(pgd_attack(&f.pgd, &cfg, x, y, CAP, &r, a2, NULL), 0);
    assert_memory_equal(a1, a2, sizeof a1);
    for (int i = 0; i < CAP * TINY_IN; i++)
        assert_true(fabs(a1[i] - x[i]) <= cfg.eps + 1e-6);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stays_in_ball),
        cmocka_unit_test(test_normalized_clip),
        cmocka_unit_test(test_zero_steps_identity),
        cmocka_unit_test(test_start_distributions),
        cmocka_unit_test(test_one_step_is_analytic),
        cmocka_unit_test(test_restarts_keep_worst_case),
        cmocka_unit_test(test_restarts_targeted),
        cmocka_unit_test(test_targeted_and_untargeted_direction),
        cmocka_unit_test(test_labels_from_predictions),
        cmocka_unit_test(test_gradient_health),
        cmocka_unit_test(test_cfg),
        cmocka_unit_test(test_randomised_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
