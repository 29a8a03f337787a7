/* test_sema.c - what the front end makes of good specs: the IR of the
 * study's models, patch composition, settings merged over settings,
 * macros, layer names, includes and which definitions a file sees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diag.h"
#include "vocab.h"
#include "frontend.h"
#include "scratch.h"

static FILE *messages;
static char specs_dir[1024];

static int setup(void **state)
{
    (void)state;
    messages = fopen("/dev/null", "w");
    const char *d = getenv("SPECS_DIR");
    snprintf(specs_dir, sizeof specs_dir, "%s", d ? d : "specs");
    return messages ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fclose(messages);
    return 0;
}

static int compile_text(frontend *fe, const char *text)
{
    diag_reset(messages);
    frontend_init(fe);
    return frontend_compile_text(fe, "mem.net", text);
}

/* The spec text with every "SPECS/" replaced by the specs directory. */
static int compile_with_specs(frontend *fe, const char *text)
{
    char buf[8192];
    size_t j = 0;
    for (const char *p = text; *p && j + 1100 < sizeof buf; ) {
        if (strncmp(p, "SPECS/", 6) == 0) {
            j += (size_t)snprintf(buf + j, sizeof buf - j, "%s/", specs_dir);
            p += 6;
        } else {
            buf[j++] = *p++;
        }
    }
    buf[j] = '\0';
    return compile_text(fe, buf);
}

static const ir_model *model(const frontend *fe, const char *name)
{
    for (int i = 0; i < fe->program.n_models; i++)
        if (strcmp(fe->program.models[i].name, name) == 0)
            return &fe->program.models[i];
    fail_msg("no model %s", name);
    return NULL;
}

static int node_index(const ir_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return i;
    return -1;
}

static const ir_node *node(const ir_model *m, const char *name)
{
    int i = node_index(m, name);
    if (i < 0)
        fail_msg("model %s has no layer %s", m->name, name);
    return &m->nodes[i];
}

static void expect_error(int rc, const char *substring)
{
    assert_int_equal(rc, -1);
    for (int i = 0; i < diag_kept(); i++)
        if (strstr(diag_get(i)->message, substring))
            return;
    fail_msg("no error contains \"%s\" (first: %s)", substring,
             diag_kept() ? diag_get(0)->message : "none");
}

/* A node's window: kernel kh x kw, strides sh, sw and padding ph, pw. */
static void expect_window(const ir_node *n, int kh, int kw, int sh, int sw, int ph, int pw)
{
    if (n->kh != kh || n->kw != kw || n->stride_h != sh || n->stride_w != sw ||
        n->pad_h != ph || n->pad_w != pw)
        fail_msg("%s: kernel %dx%d stride %d,%d pad %d,%d; expected %dx%d %d,%d %d,%d", n->name,
                 n->kh, n->kw, n->stride_h, n->stride_w, n->pad_h, n->pad_w, kh, kw, sh, sw,
                 ph, pw);
}

static void test_baseline_ir(void **state)
{
    (void)state;
    char paths[2][1100];
    snprintf(paths[0], sizeof paths[0], "%s/adv.net", specs_dir);
    snprintf(paths[1], sizeof paths[1], "%s/baseline.net", specs_dir);
    char *files[] = { paths[0], paths[1] };
    diag_reset(messages);
    frontend fe;
    frontend_init(&fe);
    assert_int_equal(frontend_compile(&fe, files, 2), 0);
    /* adv.net's own model, then baseline.net's; patches.net (only
     * included) adds none. */
    assert_int_equal(fe.program.n_models, 2);
    assert_string_equal(fe.program.models[0].name, "adv");
    const ir_model *b = model(&fe, "baseline");
    assert_string_equal(b->source, paths[1]);
    assert_int_equal(b->loc.line, 8);
    assert_int_equal(b->input.c, 3);
    assert_int_equal(b->input.h, 32);
    assert_int_equal(b->classes, 10);
    assert_int_equal(b->n_nodes, 19);
    const char *names[] = { "norm1", "conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2",
                            "pool2", "conv3", "bn3", "relu3", "pool3", "flatten1", "fc1",
                            "relu4", "fc2", "relu5", "fc3" };
    const ir_op ops[] = { IR_NORMALIZE, IR_CONV, IR_BATCHNORM, IR_RELU, IR_AVGPOOL };
    for (int i = 0; i < 19; i++)
        assert_string_equal(b->nodes[i].name, names[i]);
    /* fused: norm1; conv1 with bn1, relu1 and pool1 (and the other two
     * convs alike); flatten1; fc1 with relu4, fc2 with relu5; fc3 */
    assert_int_equal(b->n_groups, 8);
    const ir_group *g = &b->groups[1];
    assert_int_equal(g->first, 1);
    assert_int_equal(g->last, 4);
    assert_int_equal(g->bn, 2);
    assert_int_equal(g->act, 3);
    assert_int_equal(g->pool, 4);
    g = &b->groups[5];
    assert_int_equal(g->first, 14);
    assert_int_equal(g->last, 15);
    assert_int_equal(g->bn, -1);
    assert_int_equal(g->act, 15);
    assert_int_equal(g->pool, -1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(b->nodes[i].op, ops[i]);
    const ir_node *n = node(b, "norm1");
    assert_true(fabs(n->mean[1] - 0.4822) < 1e-12 && fabs(n->std[2] - 0.2616) < 1e-12);
    n = node(b, "conv1");
    assert_int_equal(n->out_c, 32);
    expect_window(n, 5, 5, 1, 1, 2, 2);
    assert_int_equal(n->bias, 1);
    assert_int_equal(n->wquant.bits, 0);
    /* A layer from a macro cites the macro's line. */
    assert_string_equal(n->loc.file, paths[1]);
    assert_int_equal(n->loc.line, 5);
    assert_int_equal(n->loc.col, 3);
    assert_string_equal(n->loc.text, "  conv c k pad=same -> batchnorm -> relu -> avgpool 2");
    n = node(b, "conv3");
    assert_int_equal(n->out_c, 128);
    expect_window(n, 3, 3, 1, 1, 1, 1);
    n = node(b, "pool3");
    expect_window(n, 2, 2, 2, 2, 0, 0);
    assert_int_equal(node(b, "fc1")->out_features, 256);
    assert_int_equal(node(b, "fc3")->loc.line, 15);
    assert_true(fabs(b->train.lr - 0.001) < 1e-15);
    assert_true(fabs(b->train.momentum - 0.9) < 1e-15);
    assert_int_equal(b->train.batch, 100);
    assert_int_equal(b->train.epochs, 10);
    assert_int_equal(b->train.adversarial, 0);
    assert_int_equal(b->attack.present, 1);
    assert_true(fabs(b->attack.eps - 8.0 / 255) < 1e-15);
    assert_true(fabs(b->attack.alpha - 2.0 / 255) < 1e-15);
    assert_int_equal(b->attack.steps, 4);
    assert_int_equal(b->attack.init, 1);
    assert_int_equal(b->attack.loc.line, 17);
    assert_int_equal(b->ensemble, 1);
    assert_int_equal(b->n_regs, 0);

    /* adv = baseline + adv: the base's layers and locations, its own
     * source, adversarial training with the model's attack. */
    const ir_model *a = model(&fe, "adv");
    assert_string_equal(a->source, paths[0]);
    assert_int_equal(a->loc.line, 5);
    assert_int_equal(a->n_nodes, 19);
    assert_string_equal(node(a, "conv2")->loc.file, paths[1]);
    assert_int_equal(a->train.adversarial, 1);
    assert_true(a->train_attack.eps == a->attack.eps);
    assert_int_equal(a->train_attack.steps, 4);
    assert_int_equal(b->train_attack.steps, 4);
    frontend_free(&fe);
}

static void test_patches_compose(void **state)
{
    (void)state;
    frontend fe;
    assert_int_equal(compile_with_specs(&fe,
        "include \"SPECS/baseline.net\"\n"
        "include \"SPECS/patches.net\"\n"
        "model q = baseline + quant\n"
        "model r = baseline + reg\n"
        "model s = baseline + rse\n"
        "model all = baseline + adv + quant + reg + rse\n"), 0);
    assert_int_equal(fe.program.n_models, 4);

    const ir_model *q = model(&fe, "q");
    for (int i = 0; i < q->n_nodes; i++) {
        const ir_node *n = &q->nodes[i];
        assert_int_not_equal(n->op, IR_RELU);
        if (n->op == IR_CONV || n->op == IR_LINEAR) {
            assert_int_equal(n->wquant.bits, 8);
            assert_int_equal(n->wquant.range, IR_QRANGE_MINMAX);
        }
    }
    const ir_node *d = node(q, "dtrelu5");
    assert_int_equal(d->op, IR_DTRELU);
    assert_int_equal(d->abits, 8);
    assert_true(d->lo == 0 && d->hi == 6);
    assert_int_equal(node_index(q, "dtrelu1"), 3);
    assert_string_equal(d->loc.file + strlen(d->loc.file) - 11, "patches.net");

    const ir_model *r = model(&fe, "r");
    assert_int_equal(r->n_regs, 12);
    const char *weights[] = { "conv1", "conv2", "conv3", "fc1", "fc2", "fc3" };
    for (int i = 0; i < 12; i++) {
        const ir_reg *g = &r->regs[i];
        assert_string_equal(r->nodes[g->node].name, weights[i % 6]);
        assert_int_equal(g->kind, i < 6 ? IR_REG_ORTHO : IR_REG_SPECTRAL);
        if (i < 6) {
            assert_int_equal(g->form, 4);
            assert_true(fabs(g->weight - 1e-4) < 1e-18);
        } else {
            assert_int_equal(g->iters, 1);
            assert_int_equal(g->persistent, 1);
            assert_true(fabs(g->weight - 1e-3) < 1e-18);
        }
    }

    const ir_model *s = model(&fe, "s");
    assert_int_equal(s->n_nodes, 22);
    assert_int_equal(s->ensemble, 5);
    assert_int_equal(s->ensemble_probs, 0);
    int n1 = node_index(s, "noise1"), n2 = node_index(s, "noise2"), n3 = node_index(s, "noise3");
    assert_int_equal(n1 + 1, node_index(s, "conv1"));
    assert_int_equal(n2 + 1, node_index(s, "conv2"));
    assert_int_equal(n3 + 1, node_index(s, "conv3"));
    assert_true(s->nodes[n1].sigma == 0.2);
    assert_true(s->nodes[n2].sigma == 0.1 && s->nodes[n3].sigma == 0.1);

    /* Noise inserted after the regularisers were attached: they still
     * name their layers. */
    const ir_model *all = model(&fe, "all");
    assert_int_equal(all->n_nodes, 22);
    assert_int_equal(all->n_regs, 12);
    for (int i = 0; i < 12; i++)
        assert_string_equal(all->nodes[all->regs[i].node].name, weights[i % 6]);
    assert_int_equal(all->train.adversarial, 1);
    assert_int_equal(all->ensemble, 5);
    assert_int_equal(node(all, "conv1")->wquant.bits, 8);
    frontend_free(&fe);
}

static const char *small_model =
    "model m {\n"
    "  input 3x8x8 classes 4\n"
    "  conv 4 3 pad=1 -> relu -> avgpool 2\n"
    "  conv 4 3 pad=1 -> relu\n"
    "  flatten -> linear 4\n";

/* Training recipes: the optimisers' keys, a schedule's, augment; later
 * statements merge over earlier ones. */
static void test_recipes(void **state)
{
    (void)state;
    frontend fe;
    char text[2048];
    snprintf(text, sizeof text, "%s"
             "  train adam lr=1e-3 beta2=0.99 eps=1e-6 weight_decay=1e-4 epochs=30\n"
             "  train adam schedule=multistep milestones=(10, 20) gamma=0.2 warmup=2\n"
             "  augment crop=4 flip=1\n}\n"
             "model n {\n  input 3x8x8 classes 4\n  flatten -> linear 4\n"
             "  train sgd lr=0.1 momentum=0.9 nesterov=1 schedule=piecewise knots=(0, 2, 5) "
             "factors=(0, 1, 0)\n"
             "  train adversarial eps=4/255\n}\n"
             "model o {\n  input 3x8x8 classes 4\n  flatten -> linear 4\n"
             "  train adamw lr=1e-3 weight_decay=0.05 schedule=onecycle pct=0.25\n}\n",
             small_model);
    assert_int_equal(compile_text(&fe, text), 0);
    const ir_model *m = model(&fe, "m");
    assert_int_equal(m->train.optimizer, ADVCC_OPT_ADAM);
    assert_true(m->train.beta1 == 0.9 && m->train.beta2 == 0.99 && m->train.eps == 1e-6);
    assert_int_equal(m->train.schedule.kind, ADVCC_SCHED_MULTISTEP);
    assert_int_equal(m->train.schedule.n, 2);
    assert_true(m->train.schedule.at[1] == 20 && m->train.schedule.gamma == 0.2);
    assert_int_equal(m->train.schedule.warmup, 2);
    assert_int_equal(m->train.crop, 4);
    assert_int_equal(m->train.flip, 1);
    const ir_model *n = model(&fe, "n");
    assert_int_equal(n->train.optimizer, ADVCC_OPT_SGD);
    assert_int_equal(n->train.nesterov, 1);
    assert_int_equal(n->train.adversarial, 1);
    assert_true(n->train_attack.eps == 4.0 / 255);
    assert_int_equal(n->train.schedule.kind, ADVCC_SCHED_PIECEWISE);
    assert_true(n->train.schedule.n == 3 && n->train.schedule.factor[1] == 1);
    assert_int_equal(n->train.crop, 0);
    const ir_model *o = model(&fe, "o");
    assert_int_equal(o->train.optimizer, ADVCC_OPT_ADAMW);
    assert_true(o->train.schedule.pct == 0.25 && o->train.schedule.div == 25);
    frontend_free(&fe);
}

/* Each recipe mistake is reported at the key (or statement) at fault. */
static void test_recipe_errors(void **state)
{
    (void)state;
    /* at: where in the statement the error points (the statement, a key,
     * or, after "=", a value) */
    static const struct { const char *stmt, *message, *at; } cases[] = {
        {"train adam lr=0.1 momentum=0.9", "unknown parameter 'momentum' for train adam",
         "momentum"},
        {"train sgd lr=0.1 beta1=0.9", "unknown parameter 'beta1' for train sgd", "beta1"},
        {"train sgd lr=0.1 momentum=0 nesterov=1", "nesterov=1 needs a momentum above 0",
         "train"},
        {"train sgd lr=0.1 schedule=linear", "schedule of train sgd must be one of constant, "
                                             "multistep, cosine, onecycle, piecewise", "linear"},
        {"train sgd lr=0.1 milestones=(3, 6)", "milestones of train sgd belongs to "
                                              "schedule=multistep, not schedule=constant", "("},
        {"train sgd lr=0.1 schedule=multistep", "schedule=multistep needs milestones", "train"},
        {"train sgd lr=0.1 schedule=multistep milestones=(6, 3)",
         "milestones of train sgd must increase, got 3 after 6", "("},
        {"train sgd lr=0.1 schedule=multistep milestones=(2.5)",
         "milestones of train sgd must be whole epochs", "2.5"},
        {"train sgd lr=0.1 schedule=onecycle pct=1.5", "pct of train sgd must be between 0 and 1",
         "=1.5"},
        {"train sgd lr=0.1 schedule=piecewise knots=(0, 1) factors=(1, 0, 1)",
         "knots and factors of train sgd go together", "(0"},
        {"train adamw lr=0.1 beta2=2", "beta2 of train adamw must be between 0 and 1", "=2"},
        {"train adam eps=0 lr=0.1", "eps of train adam must be > 0", "=0"},
        {"train rmsprop lr=0.1", "unknown training method 'rmsprop' (expected sgd, adam, adamw "
                                "or adversarial)", "rmsprop"},
        {"augment crop=-1", "crop of augment must be between 0 and 1024", "=-1"},
        {"augment flip=2", "flip of augment must be 0 or 1", "=2"},
        {"augment crop=4 flip", "augment takes no positional arguments", "flip"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        frontend fe;
        char text[1024];
        snprintf(text, sizeof text, "%s  %s\n}\n", small_model, cases[i].stmt);
        expect_error(compile_text(&fe, text), cases[i].message);
        const diag_record *d = diag_get(0);
        const char *at = strstr(cases[i].stmt, cases[i].at);
        int col = 3 + (int)(at - cases[i].stmt) + (cases[i].at[0] == '=');
        if (d->line != 6 || d->col != col)
            fail_msg("%s: error at %d:%d, want 6:%d", cases[i].stmt, d->line, d->col, col);
        frontend_free(&fe);
    }
}

static void test_defaults(void **state)
{
    (void)state;
    frontend fe;
    char text[1024];
    snprintf(text, sizeof text, "%s}\n", small_model);
    assert_int_equal(compile_text(&fe, text), 0);
    const ir_model *m = model(&fe, "m");
    assert_true(m->train.lr == 0.001 && m->train.momentum == 0.9 && m->train.weight_decay == 0);
    assert_int_equal(m->train.batch, 100);
    assert_int_equal(m->train.epochs, 10);
    assert_int_equal(m->attack.present, 0);
    assert_true(m->attack.eps == 8.0 / 255 && m->attack.alpha == 2.0 / 255);
    assert_int_equal(m->attack.steps, 4);
    assert_int_equal(m->attack.init, 1);
    assert_int_equal(m->attack.restarts, 1);
    assert_int_equal(m->attack.eot, 1);
    assert_int_equal(m->attack.clip, 0);
    assert_int_equal(m->attack.norm, 0);
    assert_int_equal(m->train_attack.present, 0);
    assert_int_equal(m->ensemble, 1);
    frontend_free(&fe);
}

static void test_settings_merge(void **state)
{
    (void)state;
    frontend fe;
    char text[2048];
    snprintf(text, sizeof text, "%s"
        "  train sgd lr=0.01 batch=50\n"
        "  attack pgd eps=0.1 alpha=0.02 init=uniform clip=normalized norm=l2 eot=5\n"
        "}\n"
        "patch adv { train adversarial eps=0.05 steps=10 }\n"
        "patch weaker { attack pgd alpha=0.001 restarts=3 }\n"
        "patch longer { train sgd epochs=30 }\n"
        "model a = m + adv + weaker + longer\n", small_model);
    assert_int_equal(compile_text(&fe, text), 0);
    const ir_model *a = model(&fe, "a");
    /* The evaluation attack: the model's, with `weaker` over it. */
    assert_true(a->attack.eps == 0.1 && a->attack.alpha == 0.001);
    assert_int_equal(a->attack.steps, 4);
    assert_int_equal(a->attack.restarts, 3);
    assert_int_equal(a->attack.init, 2);
    assert_int_equal(a->attack.clip, 1);
    assert_int_equal(a->attack.norm, 1);
    assert_int_equal(a->attack.eot, 5);
    /* Training's attack: the evaluation attack with adv's own keys, even
     * those set before a later patch changed the rest. */
    assert_true(a->train_attack.eps == 0.05 && a->train_attack.alpha == 0.001);
    assert_int_equal(a->train_attack.steps, 10);
    assert_int_equal(a->train_attack.restarts, 3);
    assert_int_equal(a->train_attack.present, 1);
    assert_int_equal(a->train.adversarial, 1);
    assert_true(a->train.lr == 0.01);
    assert_int_equal(a->train.batch, 50);
    assert_int_equal(a->train.epochs, 30);
    /* The base is untouched. */
    const ir_model *m = model(&fe, "m");
    assert_int_equal(m->train.adversarial, 0);
    assert_int_equal(m->train.epochs, 10);
    assert_true(m->train_attack.eps == 0.1);
    frontend_free(&fe);
}

static void test_macros(void **state)
{
    (void)state;
    frontend fe;
    assert_int_equal(compile_text(&fe,
        "macro conv_bn(c, k, p) { conv c k pad=p -> batchnorm }\n"
        "macro block(c) {\n"
        "  conv_bn(c, 3, same) -> relu\n"
        "  conv_bn(2*c, 5, (5-1)/2) -> relu -> avgpool 2\n"
        "}\n"
        "macro head { flatten -> linear 10 }\n"
        "model m {\n"
        "  input 1x16x16 classes 10\n"
        "  block(4) -> block 8\n"
        "  head\n"
        "}\n"), 0);
    const ir_model *m = model(&fe, "m");
    assert_int_equal(m->n_nodes, 2 * 7 + 2);
    assert_int_equal(node(m, "conv1")->out_c, 4);
    assert_int_equal(node(m, "conv1")->pad_h, 1);
    assert_int_equal(node(m, "conv2")->out_c, 8);
    assert_int_equal(node(m, "conv2")->kh, 5);
    assert_int_equal(node(m, "conv2")->kw, 5);
    assert_int_equal(node(m, "conv2")->pad_w, 2);
    assert_int_equal(node(m, "conv3")->out_c, 8);
    assert_int_equal(node(m, "conv4")->out_c, 16);
    assert_int_equal(node(m, "conv4")->in.c, 8);
    assert_int_equal(node(m, "fc1")->in.c, 16 * 4 * 4);
    frontend_free(&fe);

    /* An argument of the wrong type is reported where it was written. */
    assert_int_equal(compile_text(&fe,
        "macro b(c) { conv c 3 }\n"
        "model m { input 1x8x8 classes 2\n  b(1.5) -> flatten -> linear 2 }\n"), -1);
    assert_int_equal(diag_get(0)->line, 3);
    assert_int_equal(diag_get(0)->col, 5);
    frontend_free(&fe);
}

/* Rectangular kernels: a pair (height, width) where a size goes, with macro
 * parameters inside it; pad=same per axis; stride and pad as pairs. */
static void test_rect_kernels(void **state)
{
    (void)state;
    frontend fe;
    assert_int_equal(compile_text(&fe,
        "macro sep(c, k) { conv c (k, 1) pad=same -> conv c (1, k) pad=same }\n"
        "model m {\n"
        "  input 3x9x12 classes 2\n"
        "  sep(4, 5)\n"
        "  conv 6 (3, 5) stride=(1, 2) pad=(1, 0) bias=0\n"
        "  conv 2 (2, 3) stride=2 pad=valid -> conv 2 3 pad=(0, 1)\n"
        "  flatten -> linear 2\n"
        "}\n"), 0);
    const ir_model *m = model(&fe, "m");
    expect_window(node(m, "conv1"), 5, 1, 1, 1, 2, 0);
    expect_window(node(m, "conv2"), 1, 5, 1, 1, 0, 2);
    expect_window(node(m, "conv3"), 3, 5, 1, 2, 1, 0);
    expect_window(node(m, "conv4"), 2, 3, 2, 2, 0, 0);
    expect_window(node(m, "conv5"), 3, 3, 1, 1, 0, 1);
    /* same keeps 9x12; then (9 + 2 - 3)/1 + 1 = 9, (12 - 5)/2 + 1 = 4 */
    assert_int_equal(node(m, "conv2")->out.h, 9);
    assert_int_equal(node(m, "conv2")->out.w, 12);
    assert_int_equal(node(m, "conv3")->out.h, 9);
    assert_int_equal(node(m, "conv3")->out.w, 4);
    assert_int_equal(node(m, "conv4")->out.h, 4);
    assert_int_equal(node(m, "conv4")->out.w, 1);
    assert_int_equal(node(m, "conv5")->out.h, 2);
    assert_int_equal(node(m, "conv5")->out.w, 1);
    frontend_free(&fe);

    /* Each error at the value, or the item, it is about. */
    static const struct {
        const char *layer, *message;
        int col;
    } bad[] = {
        { "conv 4 (1, 3, 3)", "k of conv takes one integer or a pair (height, width), got a "
          "list of 3 numbers", 10 },
        { "conv 4 (3)", "unexpected ')', expected ','", 12 },
        { "conv 4 (0, 3)", "k of conv must be between 1 and 4096, got 0", 11 },
        { "conv 4 (3, -1)", "k of conv must be between 1 and 4096, got -1", 14 },
        { "conv 4 (3, 1.5)", "k of conv must be an integer, got 1.5", 14 },
        { "conv 4 (2, 3) pad=same", "pad=same needs an odd kernel size, got 2x3", 21 },
        { "conv 4 (3, 4) pad=same", "pad=same needs an odd kernel size, got 3x4", 21 },
        { "conv 4 3 stride=(1, 0)", "stride of conv must be between 1 and 4096, got 0", 23 },
        { "conv 4 3 pad=(1, -1)", "pad of conv must be between 0 and 4096, got -1", 20 },
        { "conv 4 3 pad=(1, 2, 3)", "pad of conv takes one integer or a pair", 16 },
        { "conv 4 3 stride=same", "stride of conv must be an integer or a pair (height, width) "
          "of integers, got 'same'", 19 },
        { "conv 4 (3, 9)", "kernel 3x9 is larger than its input 6x8", 3 },
        { "conv 4 (9, 3) pad=(1, 0)", "kernel 9x3 is larger than its padded input 8x8", 3 },
        { "avgpool 2 stride=(1, 2)", "stride of avgpool must be an integer, got a list of 2 "
          "numbers", 20 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "model m {\n  input 1x6x8 classes 2\n  %s\n  flatten -> linear 2\n}\n",
                 bad[i].layer);
        expect_error(compile_text(&fe, text), bad[i].message);
        if (diag_get(0)->line != 3 || diag_get(0)->col != bad[i].col)
            fail_msg("'%s': error at %d:%d, expected 3:%d", bad[i].layer, diag_get(0)->line,
                     diag_get(0)->col, bad[i].col);
        frontend_free(&fe);
    }
}

static void test_layer_names(void **state)
{
    (void)state;
    frontend fe;
    assert_int_equal(compile_text(&fe,
        "model m {\n"
        "  input 3x16x16 classes 2\n"
        "  conv 4 3 name=stem -> maxpool 2 -> conv 4 3 -> avgpool 2 -> conv 4 1\n"
        "  flatten -> linear 2 name=head\n"
        "}\n"
        "patch p { replace conv2 with conv 8 1 name=mid\n"
        "          insert batchnorm after stem, conv3 }\n"
        "model n = m + p\n"), 0);
    const ir_model *m = model(&fe, "m");
    /* A given name does not renumber the others; pools share a count. */
    const char *want[] = { "stem", "pool1", "conv2", "pool2", "conv3", "flatten1", "head" };
    for (int i = 0; i < 7; i++)
        assert_string_equal(m->nodes[i].name, want[i]);
    const ir_model *n = model(&fe, "n");
    const char *want_n[] = { "stem", "bn1", "pool1", "mid", "pool2", "conv3", "bn2",
                             "flatten1", "head" };
    assert_int_equal(n->n_nodes, 9);
    for (int i = 0; i < 9; i++)
        assert_string_equal(n->nodes[i].name, want_n[i]);
    assert_int_equal(node(n, "mid")->out_c, 8);
    assert_int_equal(node(n, "mid")->loc.line, 6);
    frontend_free(&fe);
}

static void test_insert_and_quantize(void **state)
{
    (void)state;
    frontend fe;
    char text[2048];
    snprintf(text, sizeof text, "%s"
        "  insert noise sigma=0.1 first=0.3 after relu\n"
        "  quantize conv1 bits=4 range=fixed lo=-0.5 hi=0.5\n"
        "  quantize fc1 bits=3 range=channel\n"
        "}\n", small_model);
    assert_int_equal(compile_text(&fe, text), 0);
    const ir_model *m = model(&fe, "m");
    assert_int_equal(node_index(m, "noise1"), node_index(m, "relu1") + 1);
    assert_int_equal(node_index(m, "noise2"), node_index(m, "relu2") + 1);
    assert_true(node(m, "noise1")->sigma == 0.3 && node(m, "noise2")->sigma == 0.1);
    const ir_quant *q = &node(m, "conv1")->wquant;
    assert_int_equal(q->bits, 4);
    assert_int_equal(q->range, IR_QRANGE_FIXED);
    assert_true(q->lo == -0.5 && q->hi == 0.5);
    assert_int_equal(node(m, "conv2")->wquant.bits, 0);
    assert_int_equal(node(m, "fc1")->wquant.range, IR_QRANGE_CHANNEL);
    frontend_free(&fe);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_includes_and_scopes(void **state)
{
    (void)state;
    char *dir = scratch_make();
    assert_non_null(dir);
    char sub[2048];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    write_file(dir, "sub/blocks.net", "macro head { flatten -> linear 2 }\n"
                                      "model lib { input 1x2x2 classes 2; head }\n");
    /* Relative to the including file: sub/mid.net includes blocks.net. */
    write_file(dir, "sub/mid.net", "include \"blocks.net\"\n");
    /* blocks.net reached twice, by two paths: read once, no duplicates. */
    write_file(dir, "top.net", "include \"sub/mid.net\"\ninclude \"sub/../sub/blocks.net\"\n"
                               "model top { input 1x4x4 classes 2; head }\n");
    write_file(dir, "other.net", "model other { input 1x4x4 classes 2; head }\n");
    write_file(dir, "twin.net", "model top { input 1x4x4 classes 2; flatten; linear 2 }\n");

    char top[2048], other[2048], twin[2048];
    snprintf(top, sizeof top, "%s/top.net", dir);
    snprintf(other, sizeof other, "%s/other.net", dir);
    snprintf(twin, sizeof twin, "%s/twin.net", dir);
    frontend fe;
    char *one[] = { top, top };
    diag_reset(messages);
    frontend_init(&fe);
    assert_int_equal(frontend_compile(&fe, one, 2), 0);
    /* Only the models of files named: not lib, and top once. */
    assert_int_equal(fe.program.n_models, 1);
    assert_string_equal(fe.program.models[0].name, "top");
    assert_int_equal(fe.sources.n_files, 3);
    frontend_free(&fe);

    /* other.net includes nothing: the macro is not its to use. */
    char *two[] = { top, other };
    diag_reset(messages);
    frontend_init(&fe);
    expect_error(frontend_compile(&fe, two, 2), "unknown layer 'head'");
    assert_string_equal(diag_get(0)->file, other);
    assert_int_equal(fe.program.n_models, 0);
    frontend_free(&fe);

    /* One model name from two files named: an error. */
    char *dup[] = { top, twin };
    diag_reset(messages);
    frontend_init(&fe);
    expect_error(frontend_compile(&fe, dup, 2), "duplicate model 'top'");
    frontend_free(&fe);
    scratch_remove(dir);
}

static void test_errors_are_all_reported(void **state)
{
    (void)state;
    frontend fe;
    assert_int_equal(compile_text(&fe,
        "model a { input 1x4x4 classes 2; flatten; linear 3 }\n"
        "model b { input 1x4x4 classes 2; conv 2 9; flatten; linear 2 }\n"
        "model c { input 1x4x4 classes 2; flatten; linear 2; attack pgd eps=-1 steps=-2 }\n"),
        -1);
    assert_int_equal(diag_count(), 4);
    assert_int_equal(fe.program.n_models, 0);
    frontend_free(&fe);
}

/* `attack apgd|square|autoattack|fab`: their keys only, eps and norm
 * shared with PGD, the training attack still PGD, a later `attack pgd`
 * back to PGD. */
static void test_robust_attacks(void **state)
{
    (void)state;
    frontend fe;
    char text[2048];
    snprintf(text, sizeof text, "%s"
        "  attack apgd eps=4/255 loss=dlr iters=50 restarts=2 eot=3 targets=5\n"
        "  train adversarial steps=7\n"
        "}\n"
        "patch sq { attack square eps=0.5 norm=l2 queries=1000 }\n"
        "patch aa { attack autoattack version=rand quick=1 }\n"
        "patch back { attack pgd steps=3 }\n"
        "patch fb { attack fab eps=0.5 norm=l2 iters=50 restarts=2 targets=4 }\n"
        "model a = m\n"
        "model b = m + sq\n"
        "model c = m + aa\n"
        "model d = m + aa + back\n"
        "model e = m + fb\n", small_model);
    assert_int_equal(compile_text(&fe, text), 0);
    const ir_model *a = model(&fe, "a");
    assert_int_equal(a->attack.method, 1);
    assert_int_equal(a->attack.loss, 1);
    assert_int_equal(a->attack.iters, 50);
    assert_int_equal(a->attack.restarts, 2);
    assert_int_equal(a->attack.eot, 3);
    assert_int_equal(a->attack.targets, 5);
    assert_true(a->attack.eps == 4.0 / 255);
    assert_int_equal(a->attack.steps, 4);        /* PGD's own untouched */
    assert_int_equal(a->train_attack.method, 0);
    assert_int_equal(a->train_attack.steps, 7);
    const ir_model *b = model(&fe, "b");
    assert_int_equal(b->attack.method, 2);
    assert_int_equal(b->attack.queries, 1000);
    assert_int_equal(b->attack.norm, 1);
    assert_true(b->attack.eps == 0.5);
    const ir_model *c = model(&fe, "c");
    assert_int_equal(c->attack.method, 3);
    assert_int_equal(c->attack.version, 2);
    assert_int_equal(c->attack.quick, 1);
    assert_int_equal(model(&fe, "d")->attack.method, 0);
    assert_int_equal(model(&fe, "d")->attack.steps, 3);
    const ir_model *e = model(&fe, "e");
    assert_int_equal(e->attack.method, 4);
    assert_int_equal(e->attack.norm, 1);
    assert_true(e->attack.eps == 0.5);
    assert_int_equal(e->attack.iters, 50);
    assert_int_equal(e->attack.restarts, 2);
    assert_int_equal(e->attack.targets, 4);
    assert_int_equal(e->attack.queries, 5000);  /* untouched */
    assert_int_equal(e->train_attack.method, 0);
    frontend_free(&fe);
    /* keys of another attack, and bad words, are errors */
    const char *bad[] = {"attack square loss=ce", "attack apgd queries=5",
                         "attack autoattack iters=3", "attack apgd loss=hinge",
                         "attack apgd alpha=0.1", "attack cw eps=0.1",
                         "attack fab loss=ce", "attack fab queries=5",
                         "attack fab eot=2"};
    for (int i = 0; i < 9; i++) {
        snprintf(text, sizeof text, "%s  %s\n}\n", small_model, bad[i]);
        assert_int_equal(compile_text(&fe, text), -1);
        frontend_free(&fe);
    }
}

/* Residual blocks: what each layer reads, through patches that insert,
 * replace and quantise; their errors, each where it belongs. */
static const char *res_model =
    "macro blk(c) {\n"
    "  residual {\n"
    "    conv c 3 pad=same -> relu\n"
    "  } shortcut {\n"
    "    conv c 1\n"
    "  } -> relu\n"
    "}\n"
    "model r {\n"
    "  input 3x4x4 classes 2\n"
    "  conv 3 3 pad=same -> relu\n"
    "  residual { conv 3 3 pad=same } -> relu\n"
    "  blk(5)\n"
    "  gap -> linear 2\n";

static void test_residual(void **state)
{
    (void)state;
    frontend fe;
    char text[2048];
    snprintf(text, sizeof text, "%s}\n", res_model);
    assert_int_equal(compile_text(&fe, text), 0);
    const ir_model *m = model(&fe, "r");
    /* relu1 feeds conv2 and add1; add1 (+ relu2) feeds conv3 and conv4 */
    assert_int_equal(node(m, "conv2")->src, node_index(m, "relu1"));
    assert_int_equal(node(m, "add1")->src, node_index(m, "conv2"));
    assert_int_equal(node(m, "add1")->src2, node_index(m, "relu1"));
    assert_int_equal(node(m, "conv4")->src, node_index(m, "relu2"));
    assert_int_equal(node(m, "add2")->src, node_index(m, "relu3"));
    assert_int_equal(node(m, "add2")->src2, node_index(m, "conv4"));
    assert_int_equal(node(m, "gap1")->src, node_index(m, "relu4"));
    assert_int_equal(node(m, "add2")->out.c, 5);
    frontend_free(&fe);

    /* noise before every conv: the shortcut's reads the block's input;
     * noise after relu2: both paths read it; dtrelu for relu keeps them */
    snprintf(text, sizeof text, "%s"
             "  insert noise sigma=0.1 before conv\n"
             "  insert noise sigma=0.2 after relu2\n"
             "  replace relu with dtrelu\n"
             "  quantize conv bits=4\n"
             "}\n", res_model);
    assert_int_equal(compile_text(&fe, text), 0);
    m = model(&fe, "r");
    int after = node_index(m, "noise3");    /* before noise4 (conv3's), noise5 (conv4's) */
    assert_true(after >= 0 && node(m, "noise3")->sigma == 0.2);
    assert_int_equal(node(m, "noise3")->src, node_index(m, "dtrelu2"));
    assert_int_equal(node(m, "noise4")->src, after);
    assert_int_equal(node(m, "noise5")->src, after);
    assert_int_equal(node(m, "conv3")->src, node_index(m, "noise4"));
    assert_int_equal(node(m, "conv4")->src, node_index(m, "noise5"));
    assert_int_equal(node(m, "add1")->src2, node_index(m, "dtrelu1"));
    assert_int_equal(node(m, "conv4")->wquant.bits, 4);
    for (int i = 0; i < m->n_nodes; i++)     /* an order in which every node follows its inputs */
        assert_true(m->nodes[i].src < i && (m->nodes[i].op != IR_ADD || m->nodes[i].src2 < i));
    frontend_free(&fe);

    static const struct { const char *body, *message; int line, col; } bad[] = {
        {"  residual { conv 3 3 stride=2 pad=same } -> relu\n",
         "residual block: the main path gives 3x2x2 but the shortcut gives 3x4x4", 10, 3},
        {"  residual { } -> relu\n", "a residual block needs layers on its main path", 10, 3},
        {"  residual { relu } shortcut { }\n", "an empty shortcut: leave it out for the "
                                               "identity", 10, 21},
        {"  residual { relu\n train sgd lr=1 } -> relu\n", "a residual block holds only "
                                                           "layers, not train statements", 11, 2},
        {"  add -> relu\n", "'add' is not written as a layer", 10, 3},
        {"  residual { relu }\n  replace add with relu\n", "replace cannot take 'add1'", 11, 11},
        {"  residual { relu }\n  insert noise sigma=0.1 before add1\n",
         "insert ... before cannot take 'add1'", 11, 33},
        {"  replace relu with residual { relu }\n", "replace takes a layer, not a residual "
                                                    "block", 10, 21},
        {"  residual { relu }\n  insert noise sigma=0.1 before conv2, add1\n",
         "insert ... before cannot take 'add1'", 11, 40},
        {"  flatten\n  residual { linear 5 }\n", "the shortcut must give 5 too (a projection "
                                                  "such as shortcut { linear 5 })", 11, 3},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s%s  gap -> linear 2\n}\n",
                 "macro blk(c) {\n  relu\n}\n"
                 "model r {\n  input 3x4x4 classes 2\n  conv 3 3 pad=same\n"
                 "  conv 3 3 pad=same\n  relu\n  relu\n", bad[i].body);
        expect_error(compile_text(&fe, text), bad[i].message);
        const diag_record *d = diag_get(0);
        if (d->line != bad[i].line || d->col != bad[i].col)
            fail_msg("%s: error at %d:%d, want %d:%d", bad[i].message, d->line, d->col,
                     bad[i].line, bad[i].col);
        frontend_free(&fe);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_ir),
        cmocka_unit_test(test_patches_compose),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_settings_merge),
        cmocka_unit_test(test_robust_attacks),
        cmocka_unit_test(test_recipes),
        cmocka_unit_test(test_recipe_errors),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_rect_kernels),
        cmocka_unit_test(test_layer_names),
        cmocka_unit_test(test_insert_and_quantize),
        cmocka_unit_test(test_includes_and_scopes),
        cmocka_unit_test(test_errors_are_all_reported),
        cmocka_unit_test(test_residual),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
