/* kind_relu.c - ReLU, `relu`: max(x, 0), by runtime/activation.c's kernels
 * alone and in a linear group's epilogue, and by runtime/conv_group.h in a
 * conv group's.  Its backward reads its output (positive exactly where its
 * input is). */
#include "kind.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec relu_params[] = {
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static void relu_call(FILE *out, const emit_plan *p, const ir_node *n, int backward,
                      int ind, const char *x, long count, const char *y)
{
    (void)p;
    (void)n;
    if (backward)
        L(ind, "relu_backward(%s, dout, (long)B * %ld, %s);", x, count, y);
    else
        L(ind, "relu_forward(%s, (long)B * %ld, %s);", x, count, y);
}

static void relu_fused(FILE *out, const emit_plan *p, const emit_group *g, int ind)
{
    (void)p;
    (void)g;
    L(ind, ".act = CONV_ACT_RELU,");
}

/* A lone ReLU; its backward reads the output. */
static void relu_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    kind_lone_act(out, p, g, relu_call);
}

/* A lone activation whose backward reads its output. */
void kind_lone_act(FILE *out, const emit_plan *p, const emit_group *g, kind_act_call call)
{
    char y[64];
    snprintf(y, sizeof y, "ACT(c, %s)", g->out_sym);
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, g->main);
    call(out, p, g->main, 0, 1, "x", g->out_size, y);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "x mode want_params");
    L(1, "if (dx)");
    call(out, p, g->main, 1, 2, y, g->out_size, "dx");
    L(0, "}");
}

static int relu_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    (void)n;
    (void)q;
    snprintf(buf, len, "nn.ReLU()");
    return 0;
}

static void relu_describe(const ir_node *n, char *buf, size_t len)
{
    (void)n;
    snprintf(buf, len, "relu");
}

const layer_kind kind_relu = {
    .name = "relu",
    .op = IR_RELU,
    .prefix = "relu",
    .params = relu_params,
    .n_params = sizeof relu_params / sizeof relu_params[0],
    .usage = "relu",
    .flags = KIND_ACT,
    .runtime = "ADVCC_LAYER_RELU",
    .out_layout = -1,
    .group = relu_group,
    .call = relu_call,
    .fused = relu_fused,
    .torch = relu_torch,
    .section = "activations",
    .describe = relu_describe,
};
