/* attack_fixture.h - what the tests of the attack side share: a tiny model
 * (tinymodel.h) with its context and the attack workspaces, random images,
 * the model's own labels, a data set of them, the budget check and one
 * AutoAttack run.  Include after cmocka.h. */
#ifndef ADVCC_ATTACK_FIXTURE_H
#define ADVCC_ATTACK_FIXTURE_H

#include "apgd.h"
#include "autoattack.h"
#include "fab.h"
#include "square.h"
#include "tinymodel.h"

#define K TINY_CLASSES
#define CAP 8

typedef struct fixture {
    tiny_model t;
    advcc_rng noise;
    advcc_ctx c;
    infer_ws inf;
    apgd_ws apgd;
    fab_ws fab;
    square_ws sq;
} fixture;

static long long forwarded;     /* images through the counting model */

static inline void counting_forward(advcc_ctx *c, const real_t *x, int batch,
                                    int mode, real_t *logits)
{
    forwarded += batch;
    tiny_forward(c, x, batch, mode, logits);
}

static inline void fixture_make(fixture *f, int kind, double sigma,
                                int ensemble, int probs, uint64_t seed)
{
    tiny_make(&f->t, kind, TINY_RELU, sigma, ensemble, probs);
    f->t.m.forward = counting_forward;
    rng_seed(&f->noise, seed + 1000);
    tiny_ctx_make(&f->c, &f->t, CAP, sigma > 0 ? &f->noise : NULL, seed);
    /* sharper logits than PyTorch's init, so that attacks have work */
    for (size_t i = 0; i < f->t.m.n_params; i++)
        f->c.params[i] *= 4;
    assert_int_equal(infer_init(&f->inf, &f->c), 0);
    assert_int_equal(apgd_init(&f->apgd, &f->inf), 0);
    assert_int_equal(fab_init(&f->fab, &f->inf), 0);
    assert_int_equal(square_init(&f->sq, &f->inf), 0);
}

static inline void fixture_free(fixture *f)
{
    square_free(&f->sq);
    fab_free(&f->fab);
    apgd_free(&f->apgd);
    infer_free(&f->inf);
    tiny_ctx_free(&f->c);
}

static inline void random_images(real_t *x, int n, advcc_rng *r)
{
    for (int i = 0; i < n * TINY_IN; i++) {
        double u = rng_uniform(r);
        x[i] = u < 0.1 ? 0 : u > 0.9 ? 1 : (real_t)rng_uniform(r);
    }
}

/* The model's own predictions as labels: every image starts correct. */
static inline void predicted_labels(fixture *f, const real_t *x, int n,
                                    int *y)
{
    real_t lg[CAP * K];
    infer_logits(&f->inf, x, n, ADVCC_EVAL, lg);
    for (int b = 0; b < n; b++) {
        y[b] = 0;
        for (int j = 1; j < K; j++)
            if (lg[b * K + j] > lg[b * K + y[b]])
                y[b] = j;
    }
}

static inline int count_wrong(fixture *f, const real_t *x, const int *y,
                              int n)
{
    real_t lg[CAP * K];
    infer_logits(&f->inf, x, n, ADVCC_EVAL, lg);
    int wrong = 0;
    for (int b = 0; b < n; b++) {
        int p = 0;
        for (int j = 1; j < K; j++)
            if (lg[b * K + j] > lg[b * K + p])
                p = j;
        wrong += p != y[b];
    }
    return wrong;
}

static inline void check_budget(const real_t *x, const real_t *adv, int n,
                                int norm, double eps)
{
    for (int b = 0; b < n; b++) {
        double sq = 0;
        for (int j = 0; j < TINY_IN; j++) {
            real_t a = adv[b * TINY_IN + j], o = x[b * TINY_IN + j];
            assert_true(a >= 0 && a <= 1);
            if (norm == ADVCC_LINF)
                assert_true(fabs((double)a - o) <= eps + 1e-6);
            sq += ((double)a - o) * ((double)a - o);
        }
        if (norm == ADVCC_L2)
            assert_true(sqrt(sq) <= eps * (1 + 1e-6) + 1e-6);
    }
}

/* A data set of n random images labelled by the model. */
static inline void make_dataset(fixture *f, int n, advcc_rng *r,
                                advcc_dataset *d)
{
    assert_int_equal(tiny_images(d, n, r), 0);
    for (int s = 0; s < n; s += CAP) {
        int idx[CAP], y[CAP], b = n - s < CAP ? n - s : CAP;
        real_t x[CAP * TINY_IN];
        for (int i = 0; i < b; i++)
            idx[i] = s + i;
        dataset_batch(d, idx, b, x, y);
        predicted_labels(f, x, b, y);
        /* a few clean mistakes too */
        for (int i = 0; i < b; i++)
            d->labels[s + i] = (uint8_t)((s + i) % 11 == 0 ? (y[i] + 1) % K : y[i]);
    }
}

/* The attacks[na] in turn on d (quick lengths, 3 targets, 200 queries);
 * returns the images left robust. */
static inline int run_aa(fixture *f, advcc_dataset *d, const int *attacks,
                         int na, int norm, double eps, aa_image *img,
                         aa_result *res)
{
    aa_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    aa_set_version(&cfg, AA_STANDARD, 1);
    for (int i = 0; i < na; i++)
        cfg.attacks[i] = attacks[i];
    cfg.n_attacks = na;
    cfg.norm = norm;
    cfg.eps = eps;
    cfg.targets = 3;
    cfg.queries = 200;
    for (int i = 0; i < d->n; i++)
        img[i].done = -1;
    advcc_rng r;
    rng_seed(&r, 99);
    char err[256];
    int rc = aa_evaluate(&f->c, d, &cfg, &r, img, res, err, sizeof err);
    assert_int_equal(rc, 0);
    return res->robust_after[na - 1];
}

#endif
