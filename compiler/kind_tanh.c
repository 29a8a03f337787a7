/* kind_tanh.c - the hyperbolic tangent, `tanh` (docs/METHODS.md 1),
 * PyTorch's nn.Tanh.  It is written by runtime/activation.c's kernels
 * alone and in a linear group's epilogue, and by runtime/conv_group.h in a
 * conv group's, like ReLU; its backward reads its output, 1 - y^2 (a conv
 * group's epilogue has the input z at hand and takes tanh of it again). */
#include "kind.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec tanh_params[] = {
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static void tanh_call(FILE *out, const emit_plan *p, const ir_node *n, int backward, int ind,
                      const char *x, long count, const char *y)
{
    (void)p;
    (void)n;
    if (backward)
        L(ind, "tanh_backward(%s, dout, (long)B * %ld, %s);", x, count, y);
    else
        L(ind, "tanh_forward(%s, (long)B * %ld, %s);", x, count, y);
}

static void tanh_fused(FILE *out, const emit_plan *p, const emit_group *g, int ind)
{
    (void)p;
    (void)g;
    L(ind, ".act = CONV_ACT_TANH,");
}

/* A lone tanh; its backward reads the output. */
static void tanh_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    kind_lone_act(out, p, g, tanh_call);
}

static int tanh_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    (void)n;
    (void)q;
    snprintf(buf, len, "nn.Tanh()");
    return 0;
}

static void tanh_describe(const ir_node *n, char *buf, size_t len)
{
    (void)n;
    snprintf(buf, len, "tanh");
}

const layer_kind kind_tanh = {
    .name = "tanh",
    .op = IR_TANH,
    .prefix = "tanh",
    .params = tanh_params,
    .n_params = sizeof tanh_params / sizeof tanh_params[0],
    .usage = "tanh",
    .flags = KIND_ACT,
    .runtime = "ADVCC_LAYER_TANH",
    .out_layout = -1,
    .group = tanh_group,
    .call = tanh_call,
    .fused = tanh_fused,
    .torch = tanh_torch,
    .section = "activations",
    .describe = tanh_describe,
};
