/* test_infer.c - ensemble-averaged prediction and its input gradient:
 * averages against passes run by hand, gradients against finite
 * differences under a replayed noise draw, EOT against separate draws. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infer.h"
#include "tinymodel.h"

#define K TINY_CLASSES
#define N 5

static void random_images(real_t *x, int n, uint64_t seed)
{
    advcc_rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n * TINY_IN; i++)
        x[i] = (real_t)rng_uniform(&r);
}

static void random_labels(int *y, int n, uint64_t seed)
{
    advcc_rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        y[i] = (int)rng_below(&r, K);
}

/* A tiny model (tiny_make's arguments), its noise stream seeded with
 * noise_seed and its context, parameters from param_seed. */
static void noisy_tiny(tiny_model *t, advcc_rng *noise, advcc_ctx *c, int kind, int act,
                       double sigma, int ensemble, int probs, uint64_t noise_seed,
                       uint64_t param_seed)
{
    tiny_make(t, kind, act, sigma, ensemble, probs);
    rng_seed(noise, noise_seed);
    tiny_ctx_make(c, t, N, noise, param_seed);
}

/* A noiseless model with ensemble 3 is run once: same logits as one
 * forward, no rng drawn, gradient equal to one backward's. */
static void test_deterministic_runs_once(void **state)
{
    (void)state;
    tiny_model t;
    advcc_rng noise;
    advcc_ctx c;
    noisy_tiny(&t, &noise, &c, TINY_MLP, TINY_RELU, 0.0, 3, 0, 5, 1);
    infer_ws w;
    assert_int_equal(infer_init(&w, &c), 0);
    real_t x[N * TINY_IN], ref[N * K], out[N * K];
    int y[N];
    random_images(x, N, 2);
    random_labels(y, N, 3);
    advcc_rng before = noise;
    infer_logits(&w, x, N, ADVCC_EVAL, out);
    assert_true(rng_equal(&before, &noise));
    assert_int_equal(w.random, 0);
    t.m.forward(&c, x, N, ADVCC_EVAL, ref);
    assert_memory_equal(out, ref, sizeof out);

    /* gradient of the summed loss: one backward of softmax - onehot */
    real_t dl[N * K], dx_ref[N * TINY_IN], dx[N * TINY_IN];
    for (int b = 0; b < N; b++) {
        double mx = ref[b * K], s = 0;
        for (int j = 1; j < K; j++)
            mx = fmax(mx, ref[b * K + j]);
        for (int j = 0; j < K; j++)
            s += exp(ref[b * K + j] - mx);
        for (int j = 0; j < K; j++)
            dl[b * K + j] = (real_t)(exp(ref[b * K + j] - mx) / s - (j == y[b]));
    }
    t.m.backward(&c, dl, 0, dx_ref);
    infer_loss_grad(&w, x, y, N, ADVCC_EVAL, 4, 0, dx, NULL);
    for (int i = 0; i < N * TINY_IN; i++)
        assert_float_equal(dx[i], dx_ref[i], 1e-6);
    infer_free(&w);
    tiny_ctx_free(&c);
}

/* The combined output against passes run by hand from the same noise. */
static void check_average(int probs)
{
    tiny_model t;
    advcc_rng noise;
    advcc_ctx c;
    noisy_tiny(&t, &noise, &c, TINY_MLP, TINY_TANH, 0.3, 3, probs, 11, 12);
    infer_ws w;
    assert_int_equal(infer_init(&w, &c), 0);
    real_t x[N * TINY_IN], pass[3][N * K], out[N * K];
    random_images(x, N, 13);
    advcc_rng start = noise;
    for (int k = 0; k < 3; k++)
        t.m.forward(&c, x, N, ADVCC_EVAL, pass[k]);
    advcc_rng end = noise;
    noise = start;
    infer_logits(&w, x, N, ADVCC_EVAL, out);
    assert_true(rng_equal(&end, &noise));
    assert_int_equal(w.random, 1);
    int differ = 0;
    for (int b = 0; b < N; b++)
        for (int j = 0; j < K; j++) {
            double want;
            if (!probs) {
                want = (pass[0][b * K + j] + pass[1][b * K + j] +
                        (double)pass[2][b * K + j]) / 3;
            } else {
                double pbar = 0;
                for (int k = 0; k < 3; k++) {
                    double s = 0;
                    for (int i = 0; i < K; i++)
                        s += exp(pass[k][b * K + i]);
                    pbar += exp(pass[k][b * K + j]) / s / 3;
                }
                want = log(pbar);
            }
            assert_float_equal(out[b * K + j], want, 1e-5);
            differ += pass[0][b * K + j] != pass[1][b * K + j];
        }
    assert_true(differ > 0);    /* the passes really were noisy */
    infer_free(&w);
    tiny_ctx_free(&c);
}

static void test_average_logits(void **state)
{
    (void)state;
    check_average(0);
}

static void test_average_probs(void **state)
{
    (void)state;
    check_average(1);
}

/* Summed loss of the combined output, with the noise replayed from start. */
static double replay_loss(infer_ws *w, advcc_rng *noise,
                          const advcc_rng *start, const real_t *x,
                          const int *y, int n)
{
    real_t out[N * K];
    *noise = *start;
    infer_logits(w, x, n, ADVCC_EVAL, out);
    double s = 0;
    for (int b = 0; b < n; b++)
        s += infer_row_loss(out + b * K, y[b], K, NULL);
    return s;
}

/* The gradient through the n-pass average against central differences
 * of the averaged loss under one fixed noise draw. */
static void check_fd(int kind, int act, double sigma, int ensemble, int probs)
{
    tiny_model t;
    advcc_rng noise;
    advcc_ctx c;
    noisy_tiny(&t, &noise, &c, kind, act, sigma, ensemble, probs, 21, 22);
    infer_ws w;
    assert_int_equal(infer_init(&w, &c), 0);
    real_t x[N * TINY_IN], dx[N * TINY_IN], dxt[N * TINY_IN];
    int y[N];
    random_images(x, N, 23);
    random_labels(y, N, 24);
    advcc_rng start = noise;
    double loss = infer_loss_grad(&w, x, y, N, ADVCC_EVAL, 1, 0, dx, NULL);
    advcc_rng after = noise;
    assert_float_equal(loss * N, replay_loss(&w, &noise, &start, x, y, N),
                       1e-4);
    /* The replays leave the stream where the forward passes left it. */
    assert_true(rng_equal(&after, &noise));

    const double h = 1e-2;
    double worst = 0, gmax = 0;
    for (int i = 0; i < N * TINY_IN; i++) {
        real_t keep = x[i];
        x[i] = keep + (real_t)h;
        double up = replay_loss(&w, &noise, &start, x, y, N);
        x[i] = keep - (real_t)h;
        double down = replay_loss(&w, &noise, &start, x, y, N);
        x[i] = keep;
        double fd = (up - down) / (2 * h);
        worst = fmax(worst, fabs(fd - dx[i]));
        gmax = fmax(gmax, fabs(dx[i]));
    }
    assert_true(gmax > 1e-3);
    if (worst > 1e-3 * gmax)
        fail_msg("gradient off by %g (largest entry %g)", worst, gmax);

    /* targeted: the same gradient, negated */
    noise = start;
    infer_loss_grad(&w, x, y, N, ADVCC_EVAL, 1, 1, dxt, NULL);
    for (int i = 0; i < N * TINY_IN; i++)
        assert_float_equal(dxt[i], -dx[i], 1e-7);
    infer_free(&w);
    tiny_ctx_free(&c);
}

static void test_grad_linear(void **state)
{
    (void)state;
    check_fd(TINY_LINEAR, TINY_RELU, 0.0, 1, 0);
}

static void test_grad_ensemble_logits(void **state)
{
    (void)state;
    check_fd(TINY_MLP, TINY_TANH, 1.0, 3, 0);
}

static void test_grad_ensemble_probs(void **state)
{
    (void)state;
    check_fd(TINY_MLP, TINY_TANH, 1.0, 3, 1);
}

static void test_grad_noisy_single_pass(void **state)
{
    (void)state;
    check_fd(TINY_LINEAR, TINY_RELU, 0.2, 1, 0);
}

/* eot = m: the mean of the gradients of m consecutive draws, and the same
 * noise consumed. */
static void test_eot_averages_draws(void **state)
{
    (void)state;
    for (int probs = 0; probs < 2; probs++) {
        tiny_model t;
        advcc_rng noise;
        advcc_ctx c;
        noisy_tiny(&t, &noise, &c, TINY_MLP, TINY_TANH, 0.3, 2, probs, 31, 32);
        infer_ws w;
        assert_int_equal(infer_init(&w, &c), 0);
        real_t x[N * TINY_IN], g[N * TINY_IN], sum[N * TINY_IN] = {0};
        real_t eot[N * TINY_IN], first[N * K], out[N * K];
        int y[N];
        random_images(x, N, 33);
        random_labels(y, N, 34);
        advcc_rng start = noise;
        const int m = 4;
        double losses = 0;
        for (int d = 0; d < m; d++) {
            losses += infer_loss_grad(&w, x, y, N, ADVCC_EVAL, 1, 0, g,
                                      d == 0 ? first : NULL);
            for (int i = 0; i < N * TINY_IN; i++)
                sum[i] += g[i];
        }
        advcc_rng end = noise;
        noise = start;
        double loss = infer_loss_grad(&w, x, y, N, ADVCC_EVAL, m, 0, eot, out);
        assert_true(rng_equal(&end, &noise));
        assert_float_equal(loss, losses / m, 1e-6);
        assert_memory_equal(out, first, sizeof out);
        int differ = 0;
        for (int i = 0; i < N * TINY_IN; i++) {
            assert_float_equal(eot[i], sum[i] / m, 1e-6);
            differ += fabs(g[i] - eot[i]) > 1e-5;
        }
        assert_true(differ > 0);    /* the draws were not all the same */
        infer_free(&w);
        tiny_ctx_free(&c);
    }
}

/* Passes in arenas of their own give what replayed passes give, bit for
 * bit: losses, gradients (CE and DLR, one draw and three), outputs, and the
 * stream left behind; each call leaves the context's arena in place. */
static void test_kept_passes_equal_replayed(void **state)
{
    (void)state;
    for (int probs = 0; probs < 2; probs++)
        for (int kind = INFER_CE; kind <= INFER_DLR; kind++)
            for (int eot = 1; eot <= 3; eot += 2) {
                tiny_model t;
                advcc_rng noise;
                advcc_ctx c;
                noisy_tiny(&t, &noise, &c, TINY_MLP, TINY_TANH, 0.4, 3, probs, 51, 52);
                real_t *own = c.arena;
                infer_ws kept, replayed;
                assert_int_equal(infer_init(&kept, &c), 0);
                assert_int_equal(infer_init(&replayed, &c), 0);
                assert_non_null(kept.arenas);
                infer_replay_passes(&replayed);
                assert_null(replayed.arenas);
                real_t x[N * TINY_IN], dk[N * TINY_IN], dr[N * TINY_IN];
                real_t ok[N * K], orp[N * K];
                double lk[N], lr[N];
                int y[N];
                random_images(x, N, 53);
                random_labels(y, N, 54);
                advcc_rng start = noise;
                double a = infer_loss_grad_kind(&kept, x, y, NULL, N, ADVCC_EVAL, eot,
                                                kind, dk, lk, ok);
                advcc_rng end = noise;
                assert_ptr_equal(c.arena, own);
                noise = start;
                double b = infer_loss_grad_kind(&replayed, x, y, NULL, N, ADVCC_EVAL,
                                                eot, kind, dr, lr, orp);
                assert_true(rng_equal(&end, &noise));
                assert_ptr_equal(c.arena, own);
                assert_true(a == b);
                assert_memory_equal(lk, lr, sizeof lk);
                assert_memory_equal(ok, orp, sizeof ok);
                assert_memory_equal(dk, dr, sizeof dk);
                infer_free(&kept);
                infer_free(&replayed);
                tiny_ctx_free(&c);
            }
}

/* An image's gradient does not depend on the rest of the batch. */
static void test_grad_per_image(void **state)
{
    (void)state;
    tiny_model t;
    tiny_make(&t, TINY_MLP, TINY_RELU, 0.0, 1, 0);
    advcc_ctx c;
    tiny_ctx_make(&c, &t, N, NULL, 41);
    infer_ws w;
    assert_int_equal(infer_init(&w, &c), 0);
    real_t x[N * TINY_IN], dx[N * TINY_IN], one[TINY_IN];
    int y[N];
    random_images(x, N, 42);
    random_labels(y, N, 43);
    infer_loss_grad(&w, x, y, N, ADVCC_EVAL, 1, 0, dx, NULL);
    for (int b = 0; b < N; b++) {
        infer_loss_grad(&w, x + b * TINY_IN, y + b, 1, ADVCC_EVAL, 1, 0, one,
                        NULL);
        for (int i = 0; i < TINY_IN; i++)
            assert_float_equal(one[i], dx[b * TINY_IN + i], 1e-6);
    }
    infer_free(&w);
    tiny_ctx_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_runs_once),
        cmocka_unit_test(test_average_logits),
        cmocka_unit_test(test_average_probs),
        cmocka_unit_test(test_grad_linear),
        cmocka_unit_test(test_grad_noisy_single_pass),
        cmocka_unit_test(test_grad_ensemble_logits),
        cmocka_unit_test(test_grad_ensemble_probs),
        cmocka_unit_test(test_eot_averages_draws),
        cmocka_unit_test(test_grad_per_image),
        cmocka_unit_test(test_kept_passes_equal_replayed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
