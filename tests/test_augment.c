/* test_augment.c - the training images' augmentation (runtime/augment.h):
 * a crop and a flip move a known image's pixels exactly as the draw says;
 * the same seed gives the same batch at one and two threads, other epochs
 * and other seeds other batches; every offset and both mirror states are
 * drawn; and training with augmentation leaves the dataset and the
 * evaluation of test images untouched while it changes what is learned. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "augment.h"
#include "robust.h"
#include "tinymodel.h"
#include "train.h"

enum { C = 2, H = 4, W = 5, IMG = C * H * W };

static void image(real_t *x)
{
    for (int i = 0; i < IMG; i++)
        x[i] = (real_t)(i + 1);
}

static real_t at(const real_t *x, int k, int i, int j)
{
    return i < 0 || i >= H || j < 0 || j >= W ? 0 : x[(k * H + i) * W + j];
}

/* Every draw of padding 2: out[k][i][j] = in[k][i + top - 2][j' + left - 2],
 * j' = j or W - 1 - j, zero outside the image. */
static void test_shift_and_mirror(void **state)
{
    (void)state;
    real_t in[IMG], out[IMG];
    image(in);
    for (int top = 0; top <= 4; top++)
        for (int left = 0; left <= 4; left++)
            for (int flip = 0; flip <= 1; flip++) {
                augment_draw d = {top, left, flip};
                augment_image(in, out, C, H, W, 2, d);
                for (int k = 0; k < C; k++)
                    for (int i = 0; i < H; i++)
                        for (int j = 0; j < W; j++) {
                            int sj = (flip ? W - 1 - j : j) + left - 2;
                            assert_true(out[(k * H + i) * W + j] == at(in, k, i + top - 2, sj));
                        }
            }
    /* The centre draw without a flip is the identity; with one, a mirror. */
    augment_image(in, out, C, H, W, 2, (augment_draw){2, 2, 0});
    assert_memory_equal(in, out, sizeof in);
    augment_image(in, out, C, H, W, 2, (augment_draw){2, 2, 1});
    assert_true(out[0] == in[W - 1] && out[W - 1] == in[0]);
    /* One row down, one column left: row 0 is zero, pixel (1, 1) is (0, 0). */
    augment_image(in, out, C, H, W, 2, (augment_draw){1, 3, 0});
    for (int j = 0; j < W; j++)
        assert_true(out[j] == 0);
    assert_true(out[W + 0] == in[1] && out[W + W - 1] == 0);
}

static void batch(real_t *x, int n, uint64_t seed, int epoch, int threads)
{
    advcc_rng root, e;
    rng_seed(&root, seed);
    rng_split(&root, rng_epoch_label(RNG_EPOCH_AUGMENT, epoch), &e);
    int idx[64];
    for (int b = 0; b < n; b++) {
        image(x + (size_t)b * IMG);
        idx[b] = 1000 + 7 * b;
    }
    omp_set_num_threads(threads);
    assert_int_equal(augment_batch(x, n, C, H, W, idx, 2, 1, &e), 0);
}

static void test_reproducible(void **state)
{
    (void)state;
    enum { N = 64 };
    static real_t a[N * IMG], b[N * IMG], c[N * IMG], d[N * IMG];
    batch(a, N, 5, 0, 1);
    batch(b, N, 5, 0, 2);
    assert_memory_equal(a, b, sizeof a);
    batch(c, N, 5, 1, 2);
    batch(d, N, 6, 0, 2);
    assert_memory_not_equal(a, c, sizeof a);
    assert_memory_not_equal(a, d, sizeof a);
    /* An image's draw is its own: the same index in another batch, at
     * another position, moves the same way. */
    advcc_rng root, e;
    rng_seed(&root, 5);
    rng_split(&root, rng_epoch_label(RNG_EPOCH_AUGMENT, 0), &e);
    real_t one[IMG];
    image(one);
    int idx = 1000 + 7 * 9;
    assert_int_equal(augment_batch(one, 1, C, H, W, &idx, 2, 1, &e), 0);
    assert_memory_equal(one, a + 9 * IMG, sizeof one);
}

/* Over many images every offset 0..2P and both mirror states come up. */
static void test_draws_cover(void **state)
{
    (void)state;
    advcc_rng e;
    rng_seed(&e, 3);
    int seen[9][9][2] = {{{0}}};
    for (int i = 0; i < 20000; i++) {
        augment_draw d = augment_draw_for(&e, i, 4, 1);
        assert_true(d.top >= 0 && d.top <= 8 && d.left >= 0 && d.left <= 8);
        seen[d.top][d.left][d.flip]++;
    }
    for (int t = 0; t < 9; t++)
        for (int l = 0; l < 9; l++)
            for (int f = 0; f < 2; f++)
                assert_true(seen[t][l][f] > 0);
    /* Without a flip nothing is mirrored; without a crop nothing moves. */
    augment_draw d = augment_draw_for(&e, 1, 0, 0);
    assert_true(d.top == 0 && d.left == 0 && d.flip == 0);
}

/* Training with `augment crop=1 flip=1` on a tiny model: the dataset's
 * bytes stay as they were, the parameters differ from training without
 * augmentation, and the evaluation of the test images (clean accuracy and
 * robust evaluation) is the same for the same parameters whatever the
 * recipe says: test images are never augmented. */
static void test_training_only(void **state)
{
    (void)state;
    tiny_model plain, aug;
    tiny_make(&plain, TINY_MLP, TINY_RELU, 0, 1, 0);
    tiny_make(&aug, TINY_MLP, TINY_RELU, 0, 1, 0);
    aug.m.train.crop = 1;
    aug.m.train.flip = 1;
    advcc_ctx c1, c2;
    advcc_rng n1, n2;       /* the contexts' streams, which training splits */
    rng_seed(&n1, 0);
    rng_seed(&n2, 0);
    tiny_ctx_make(&c1, &plain, 16, &n1, 1);
    tiny_ctx_make(&c2, &aug, 16, &n2, 1);
    advcc_dataset train, test;
    advcc_rng r;
    rng_seed(&r, 2);
    assert_int_equal(tiny_images(&train, 64, &r), 0);
    assert_int_equal(tiny_images(&test, 32, &r), 0);
    for (int i = 0; i < 64; i++)
        train.labels[i] = (uint8_t)(i % TINY_CLASSES);
    uint8_t *before = malloc((size_t)64 * TINY_IN);
    memcpy(before, train.pixels, (size_t)64 * TINY_IN);
    train_opts o = {.epochs = 2, .batch = 16, .lr = 0.05, .momentum = 0.9, .seed = 4, .quiet = 1};
    train_result res;
    char err[256];
    o.recipe = &plain.m.train;
    assert_int_equal(train_model(&c1, &train, &o, &res, err, sizeof err), 0);
    o.recipe = &aug.m.train;
    assert_int_equal(train_model(&c2, &train, &o, &res, err, sizeof err), 0);
    assert_memory_equal(before, train.pixels, (size_t)64 * TINY_IN);
    assert_memory_not_equal(c1.params, c2.params, plain.m.n_params * sizeof(real_t));

    /* The same parameters under both recipes evaluate alike. */
    memcpy(c1.params, c2.params, plain.m.n_params * sizeof(real_t));
    robust_cfg cfg = {.judge = 1};
    robust_result e1, e2;
    advcc_rng r1, r2;
    rng_seed(&r1, 9);
    rng_seed(&r2, 9);
    assert_int_equal(robust_evaluate(&c1, &test, &cfg, &r1, &e1, err, sizeof err), 0);
    assert_int_equal(robust_evaluate(&c2, &test, &cfg, &r2, &e2, err, sizeof err), 0);
    assert_true(e1.clean_acc == e2.clean_acc);
    free(before);
    dataset_free(&train);
    dataset_free(&test);
    tiny_ctx_free(&c1);
    tiny_ctx_free(&c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shift_and_mirror),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_draws_cover),
        cmocka_unit_test(test_training_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
