/* test_shape.c - shape inference and parameter counts: the seed CNN's
 * numbers worked out by hand, window arithmetic with stride and padding,
 * each shape error, and the --shapes table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "emit_internal.h"
#include "frontend.h"
#include "kind.h"
#include "shape.h"

static FILE *messages;

static int setup(void **state)
{
    (void)state;
    messages = tmpfile();
    return messages ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fclose(messages);
    return 0;
}

static int compile(frontend *fe, const char *text)
{
    diag_reset(messages);
    frontend_init(fe);
    return frontend_compile_text(fe, "mem.net", text);
}

static void test_seed_cnn_parameters(void **state)
{
    (void)state;
    const char *dir = getenv("SPECS_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/baseline.net", dir ? dir : "specs");
    char *files[] = { path };
    diag_reset(messages);
    frontend fe;
    frontend_init(&fe);
    assert_int_equal(frontend_compile(&fe, files, 1), 0);
    const ir_model *m = &fe.program.models[0];
    /* By hand: conv1 3*32*25+32, conv2 32*64*25+64, conv3 64*128*9+128,
     * fc1 2048*256+256, fc2 256*128+128, fc3 128*10+10, batchnorm 2c
     * trained and 2c running for c = 32, 64, 128. */
    long long convs = 3 * 32 * 25 + 32 + 32 * 64 * 25 + 64 + 64 * 128 * 9 + 128;
    long long fcs = 2048 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10;
    long long bn = 2 * (32 + 64 + 128);
    long long state_count;
    assert_int_equal(shape_model_params(m, &state_count), convs + fcs + bn);
    assert_int_equal(convs + fcs, 686282);
    assert_int_equal(state_count, bn);
    const int c[] = { 3, 32, 32, 32, 16, 64, 64, 64, 8, 128, 128, 128, 4 };
    for (int i = 0; i < 13; i++) {
        const ir_node *n = &m->nodes[i];
        assert_int_equal(n->out.c, c[i] == 3 ? 3 : n->op == IR_AVGPOOL ? n->in.c : n->out.c);
        assert_int_equal(n->out.h, n->out.w);
        assert_int_equal(n->out.flat, 0);
    }
    assert_int_equal(m->nodes[4].out.h, 16);
    assert_int_equal(m->nodes[8].out.h, 8);
    assert_int_equal(m->nodes[12].out.h, 4);
    assert_int_equal(m->nodes[13].out.c, 2048);
    assert_int_equal(m->nodes[13].out.flat, 1);
    assert_int_equal(m->nodes[14].in.c, 2048);
    assert_int_equal(m->nodes[18].out.c, 10);
    long long st;
    assert_int_equal(shape_node_params(&m->nodes[2], &st), 64);
    assert_int_equal(st, 64);
    frontend_free(&fe);
}

static void test_windows(void **state)
{
    (void)state;
    frontend fe;
    assert_int_equal(compile(&fe,
        "model m {\n"
        "  input 3x32x30 classes 7\n"
        "  conv 8 3 stride=2 pad=1 bias=0\n"      /* 8x16x15 */
        "  maxpool 3 stride=2\n"                  /* 8x7x7 */
        "  conv 5 4\n"                            /* 5x4x4 */
        "  avgpool 2 stride=1 -> dtrelu -> naivedt levels=7 -> batchnorm\n"  /* 5x3x3 */
        "  flatten -> linear 7 bias=0\n"
        "}\n"), 0);
    const ir_model *m = &fe.program.models[0];
    const int want[][3] = { { 8, 16, 15 }, { 8, 7, 7 }, { 5, 4, 4 }, { 5, 3, 3 } };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(m->nodes[i].out.c, want[i][0]);
        assert_int_equal(m->nodes[i].out.h, want[i][1]);
        assert_int_equal(m->nodes[i].out.w, want[i][2]);
    }
    long long st;
    assert_int_equal(shape_node_params(&m->nodes[0], &st), 8 * 3 * 9);
    assert_int_equal(shape_node_params(&m->nodes[2], &st), 5 * 8 * 16 + 5);
    assert_int_equal(shape_node_params(&m->nodes[4], &st), 2);
    assert_int_equal(shape_node_params(&m->nodes[5], &st), 7);
    assert_int_equal(shape_node_params(&m->nodes[6], &st), 10);
    assert_int_equal(st, 10);
    assert_int_equal(m->nodes[7].out.c, 45);
    assert_int_equal(shape_node_params(&m->nodes[8], &st), 45 * 7);
    frontend_free(&fe);
}

/* Every offset of the plan a multiple of PLAN_ALIGN (kind.h): the arena's
 * slots, fixed tensors, the scratch's start and the fixed part's length,
 * and each parameter tensor of PLAN_ALIGN reals or more. */
static void expect_aligned(const char *file, const char *model, const char *what, long at)
{
    if (at >= 0 && at % PLAN_ALIGN != 0)
        fail_msg("%s, model %s: %s at %ld, not a multiple of %d", file, model, what, at,
                 PLAN_ALIGN);
}

static void expect_plan_aligned(const char *file, const char *model, const emit_plan *p)
{
    expect_aligned(file, model, "COL_SLOT", p->col_slot);
    expect_aligned(file, model, "DY_SLOT", p->dy_slot);
    expect_aligned(file, model, "ARENA_FIXED", p->fixed);
    for (int i = 0; i < p->n_grads; i++)
        expect_aligned(file, model, "a GRAD slot", p->grad_slot[i]);
    for (int i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].size >= PLAN_ALIGN)
            expect_aligned(file, model, p->tensors[i].name, p->tensors[i].offset);
    for (int gi = 0; gi < p->n_groups; gi++) {
        const emit_group *g = &p->groups[gi];
        expect_aligned(file, model, "an output slot", g->out_slot);
        expect_aligned(file, model, "a y slot", g->y_slot);
        expect_aligned(file, model, "an argmax slot", g->argmax_slot);
        expect_aligned(file, model, "a cv slot", g->cv_slot);
        expect_aligned(file, model, "a cvg slot", g->cvg_slot);
        expect_aligned(file, model, "a tx slot", g->tx_slot);
        expect_aligned(file, model, "an add's converted shortcut", g->in2_cv_slot);
        expect_aligned(file, model, "BatchNorm's statistics", g->bn_fix);
        expect_aligned(file, model, "a quantised weight", g->wq_fix);
        expect_aligned(file, model, "a quantised weight's range", g->wq_range_fix);
        expect_aligned(file, model, "an activation's sums", g->act_fix);
    }
}

/* The count --shapes prints is the count the emitter lays out: for every
 * model of a spec file, the trained tensors of the plan (all but running
 * statistics and power-iteration vectors) add up to shape_model_params. */
static void expect_counts_agree(const char *name)
{
    const char *dir = getenv("TEST_SPECS_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/specs", name);
    char *files[] = { path };
    diag_reset(messages);
    frontend fe;
    frontend_init(&fe);
    assert_int_equal(frontend_compile(&fe, files, 1), 0);
    assert_true(fe.program.n_models > 0);
    for (int i = 0; i < fe.program.n_models; i++) {
        const ir_model *m = &fe.program.models[i];
        emit_plan p;
        assert_int_equal(emit_plan_build(m, &p), 0);
        long long trained = 0, st;
        for (int t = 0; t < p.n_tensors; t++)
            if (strcmp(p.tensors[t].kind, "ADVCC_STATE") != 0)
                trained += p.tensors[t].size;
        if (trained != shape_model_params(m, &st))
            fail_msg("%s, model %s: plan has %lld trained, shape counts %lld", name, m->name,
                     trained, shape_model_params(m, &st));
        expect_plan_aligned(name, m->name, &p);
        emit_plan_free(&p);
    }
    frontend_free(&fe);
}

static void test_counts_match_plan(void **state)
{
    (void)state;
    expect_counts_agree("layers.net");
    expect_counts_agree("defences.net");
}

/* Each spec body fails shape inference with a message containing want. */
static void expect_shape_error(const char *layers, const char *want, int line)
{
    char text[1024];
    snprintf(text, sizeof text, "model m {\n  input 3x8x8 classes 4\n%s}\n", layers);
    frontend fe;
    assert_int_equal(compile(&fe, text), -1);
    const diag_record *r = diag_get(0);
    assert_non_null(r);
    if (!strstr(r->message, want))
        fail_msg("\"%s\" does not contain \"%s\"", r->message, want);
    assert_int_equal(r->line, line);
    assert_int_equal(diag_count(), 1);
    frontend_free(&fe);
}

static void test_shape_errors(void **state)
{
    (void)state;
    expect_shape_error("  conv 4 9\n  flatten -> linear 4\n",
                       "kernel 9x9 is larger than its input 8x8", 3);
    expect_shape_error("  conv 4 11 pad=1\n  flatten -> linear 4\n",
                       "larger than its padded input 10x10", 3);
    expect_shape_error("  avgpool 4 -> maxpool 3\n  flatten -> linear 4\n",
                       "pool window 3x3 is larger than its input 2x2", 3);
    expect_shape_error("  flatten\n  conv 4 3\n  linear 4\n",
                       "conv needs an image", 4);
    expect_shape_error("  flatten -> maxpool 2\n  linear 4\n",
                       "maxpool needs an image", 3);
    expect_shape_error("  conv 4 3\n  linear 4\n", "linear needs a flat input", 4);
    expect_shape_error("  flatten -> linear 5\n", "gives 5 features but model 'm' has 4 classes", 3);
    expect_shape_error("  conv 4 3\n", "ends with the image 4x6x6", 3);
    expect_shape_error("  normalize mean=(0, 0) std=(1, 1)\n  flatten -> linear 4\n",
                       "normalize has 2 values per statistic but its input has 3 channels", 3);
    expect_shape_error("  conv 1000000 1 pad=2\n  flatten -> linear 4\n",
                       "values per image", 3);
    expect_shape_error("  flatten -> linear 1000000 -> linear 1000000 -> linear 4\n",
                       "parameters, more than", 1);
}

static void test_table(void **state)
{
    (void)state;
    frontend fe;
    assert_int_equal(compile(&fe,
        "model tiny {\n  input 1x4x4 classes 2\n  conv 2 3 -> batchnorm\n"
        "  flatten -> linear 2\n}\n"), 0);
    FILE *out = tmpfile();
    assert_non_null(out);
    shape_print(out, &fe.program.models[0]);
    rewind(out);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = '\0';
    fclose(out);
    assert_non_null(strstr(text, "model tiny  (mem.net:1:1)  input 1x4x4, 2 classes"));
    assert_non_null(strstr(text, "conv1        conv       2x2x2                20  mem.net:3:3"));
    assert_non_null(strstr(text, "bn1          batchnorm  2x2x2                 4  mem.net:3:15"));
    assert_non_null(strstr(text, "fc1          linear     2x1x1                18  mem.net:4:14"));
    assert_non_null(strstr(text, "total                                        42  trained, plus 4 running statistics"));
    frontend_free(&fe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_cnn_parameters),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_counts_match_plan),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
