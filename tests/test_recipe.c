/* test_recipe.c - training recipes in the training loop (runtime/train.c):
 * a run with Adam, a multistep schedule with warm-up and augmentation,
 * stopped after an epoch and resumed from its saved state (Adam's moments
 * included), ends bit-identical to an uninterrupted one; and the schedules'
 * rates at known steps (runtime/schedule.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "schedule.h"
#include "tinymodel.h"
#include "train.h"
#include "train_state.h"

static void train_run(const tiny_model *t, const advcc_dataset *d, int epochs,
                      const char *state, int resume, real_t *out)
{
    advcc_ctx c;
    advcc_rng noise;
    rng_seed(&noise, 0);
    tiny_ctx_make(&c, t, 16, &noise, 1);
    train_opts o = {.epochs = epochs, .batch = 16, .lr = t->m.train.lr,
                    .momentum = t->m.train.momentum, .weight_decay = t->m.train.weight_decay,
                    .recipe = &t->m.train, .seed = 7, .quiet = 1, .state_dir = state,
                    .resume = resume};
    train_result r;
    char err[512];
    if (train_model(&c, d, &o, &r, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(r.diverged, 0);
    memcpy(out, c.params, t->m.n_params * sizeof *out);
    tiny_ctx_free(&c);
}

static void resume_case(int optimizer)
{
    tiny_model t;
    tiny_make(&t, TINY_MLP, TINY_RELU, 0, 1, 0);
    t.m.train.lr = 0.01;
    t.m.train.optimizer = optimizer;
    t.m.train.beta1 = 0.9;
    t.m.train.beta2 = 0.999;
    t.m.train.eps = 1e-8;
    t.m.train.weight_decay = 1e-3;
    t.m.train.nesterov = optimizer == ADVCC_OPT_SGD;
    t.m.train.schedule = (advcc_schedule_cfg){.kind = ADVCC_SCHED_MULTISTEP, .n = 1,
                                              .at = {2}, .gamma = 0.5, .warmup = 1};
    t.m.train.crop = 1;
    t.m.train.flip = 1;
    advcc_dataset d;
    advcc_rng r;
    rng_seed(&r, 3);
    assert_int_equal(tiny_images(&d, 64, &r), 0);
    for (int i = 0; i < 64; i++)
        d.labels[i] = (uint8_t)(i % TINY_CLASSES);
    real_t *whole = malloc(t.m.n_params * sizeof *whole);
    real_t *cut = malloc(t.m.n_params * sizeof *cut);
    char dir[] = "/tmp/advcc_recipe_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char state[64];
    snprintf(state, sizeof state, "%s/state", dir);
    train_run(&t, &d, 3, NULL, 0, whole);
    /* Two epochs (the state saved after each), then the third resumed. */
    train_run(&t, &d, 2, state, 0, cut);
    assert_memory_not_equal(whole, cut, t.m.n_params * sizeof *cut);
    train_run(&t, &d, 3, state, 1, cut);
    assert_memory_equal(whole, cut, t.m.n_params * sizeof *cut);
    train_state_clear(state);
    rmdir(dir);
    free(whole);
    free(cut);
    dataset_free(&d);
}

static void test_resume_adam(void **state)
{
    (void)state;
    resume_case(ADVCC_OPT_ADAM);
}

static void test_resume_adamw(void **state)
{
    (void)state;
    resume_case(ADVCC_OPT_ADAMW);
}

static void test_resume_nesterov(void **state)
{
    (void)state;
    resume_case(ADVCC_OPT_SGD);
}

#define NEAR(a, b) assert_true(fabs((a) - (double)(b)) <= 1e-12 * fabs((double)(b)) + 1e-15)

static void test_schedule_values(void **state)
{
    (void)state;
    advcc_schedule_cfg s = {0};
    /* constant */
    NEAR(schedule_lr(&s, 0.1, 10, 57, 10), 0.1);
    /* multistep: per epoch, each milestone reached multiplies by gamma */
    s = (advcc_schedule_cfg){.kind = ADVCC_SCHED_MULTISTEP, .n = 2, .at = {3, 6}, .gamma = 0.1};
    NEAR(schedule_lr(&s, 1, 10, 29, 10), 1);
    NEAR(schedule_lr(&s, 1, 10, 30, 10), 0.1);
    NEAR(schedule_lr(&s, 1, 10, 99, 10), 0.1 * 0.1);
    /* cosine: per epoch, from lr down towards min_lr */
    s = (advcc_schedule_cfg){.kind = ADVCC_SCHED_COSINE, .min_lr = 0.01};
    NEAR(schedule_lr(&s, 0.1, 4, 9, 10), 0.1);
    NEAR(schedule_lr(&s, 0.1, 4, 20, 10), 0.055);
    /* one-cycle over 10 steps, peak at step 2 (0.3 * 10 - 1), lr/25 at 0,
     * lr/25/1e4 at step 9 */
    s = (advcc_schedule_cfg){.kind = ADVCC_SCHED_ONECYCLE, .pct = 0.3, .div = 25,
                             .final_div = 1e4};
    NEAR(schedule_lr(&s, 1, 2, 0, 5), 0.04);
    NEAR(schedule_lr(&s, 1, 2, 1, 5), 0.52);
    NEAR(schedule_lr(&s, 1, 2, 2, 5), 1);
    NEAR(schedule_lr(&s, 1, 2, 9, 5), 4e-6);
    /* piecewise: numpy.interp at the fractional epoch, flat beyond */
    s = (advcc_schedule_cfg){.kind = ADVCC_SCHED_PIECEWISE, .n = 3, .at = {0, 2, 5},
                             .factor = {0, 1, 0}};
    NEAR(schedule_lr(&s, 0.2, 5, 5, 10), 0.05);
    NEAR(schedule_lr(&s, 0.2, 5, 35, 10), 0.2 * 0.5);
    NEAR(schedule_lr(&s, 0.2, 5, 60, 10), 0);
    /* warm-up: (s + 1) / (W P) over the first W epochs, on top */
    s = (advcc_schedule_cfg){.warmup = 2};
    NEAR(schedule_lr(&s, 0.1, 10, 0, 10), 0.1 / 20);
    NEAR(schedule_lr(&s, 0.1, 10, 9, 10), 0.05);
    NEAR(schedule_lr(&s, 0.1, 10, 20, 10), 0.1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_adam),
        cmocka_unit_test(test_resume_adamw),
        cmocka_unit_test(test_resume_nesterov),
        cmocka_unit_test(test_schedule_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
