/* kind_sigmoid.c - the logistic sigmoid, `sigmoid`: 1 / (1 + exp(-x))
 * (docs/METHODS.md 1), PyTorch's nn.Sigmoid.  It is written by
 * runtime/activation.c's kernels alone and in a linear group's epilogue,
 * and by runtime/conv_group.h in a conv group's, like ReLU; its backward
 * reads its output, y (1 - y) (a conv group's epilogue has the input z at
 * hand and takes the sigmoid of it again). */
#include "kind.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec sigmoid_params[] = {
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static void sigmoid_call(FILE *out, const emit_plan *p, const ir_node *n, int backward, int ind,
                      const char *x, long count, const char *y)
{
    (void)p;
    (void)n;
    if (backward)
        L(ind, "sigmoid_backward(%s, dout, (long)B * %ld, %s);", x, count, y);
    else
        L(ind, "sigmoid_forward(%s, (long)B * %ld, %s);", x, count, y);
}

static void sigmoid_fused(FILE *out, const emit_plan *p, const emit_group *g, int ind)
{
    (void)p;
    (void)g;
    L(ind, ".act = CONV_ACT_SIGMOID,");
}

/* A lone sigmoid; its backward reads the output. */
static void sigmoid_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    kind_lone_act(out, p, g, sigmoid_call);
}

static int sigmoid_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    (void)n;
    (void)q;
    snprintf(buf, len, "nn.Sigmoid()");
    return 0;
}

static void sigmoid_describe(const ir_node *n, char *buf, size_t len)
{
    (void)n;
    snprintf(buf, len, "sigmoid");
}

const layer_kind kind_sigmoid = {
    .name = "sigmoid",
    .op = IR_SIGMOID,
    .prefix = "sigmoid",
    .params = sigmoid_params,
    .n_params = sizeof sigmoid_params / sizeof sigmoid_params[0],
    .usage = "sigmoid",
    .flags = KIND_ACT,
    .runtime = "ADVCC_LAYER_SIGMOID",
    .out_layout = -1,
    .group = sigmoid_group,
    .call = sigmoid_call,
    .fused = sigmoid_fused,
    .torch = sigmoid_torch,
    .section = "activations",
    .describe = sigmoid_describe,
};
