/* kind_leakyrelu.c - leaky ReLU, `leakyrelu [slope=0.01]`: x > 0 ? x :
 * slope * x (docs/METHODS.md 1), PyTorch's nn.LeakyReLU with its default
 * slope.  It is written by runtime/activation.c's kernels alone and in a
 * linear group's epilogue, and by runtime/conv_group.h in a conv group's,
 * like ReLU; its backward reads its input, so that any finite slope (zero,
 * negative, above one) has the right gradient. */
#include "kind.h"

#include <jansson.h>

#include <math.h>

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec leakyrelu_params[] = {
    { "slope", PT_NUM, 0, 0, -PARAM_NOLIMIT, PARAM_NOLIMIT, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static int leakyrelu_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    const param_val *slope = kind_arg(k, v, "slope");
    n->slope = slope->given ? slope->num : 0.01;
    if (!isfinite(n->slope)) {
        diag_error(slope->given ? slope->loc : loc, "leakyrelu needs a finite slope, got %g",
                   n->slope);
        return -1;
    }
    return 0;
}

static void leakyrelu_call(FILE *out, const emit_plan *p, const ir_node *n, int backward,
                           int ind, const char *x, long count, const char *y)
{
    char s[32];
    (void)p;
    emit_real(n->slope, s, sizeof s);
    if (backward)
        L(ind, "leakyrelu_backward(%s, dout, (long)B * %ld, (real_t)%s, %s);", x, count, s, y);
    else
        L(ind, "leakyrelu_forward(%s, (long)B * %ld, (real_t)%s, %s);", x, count, s, y);
}

static void leakyrelu_fused(FILE *out, const emit_plan *p, const emit_group *g, int ind)
{
    char s[32];
    (void)p;
    L(ind, ".act = CONV_ACT_LEAKYRELU, .slope = (real_t)%s,", emit_real(g->act->slope, s, sizeof s));
}

/* A lone leaky ReLU; its backward reads the input x. */
static void leakyrelu_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    char y[64];
    snprintf(y, sizeof y, "ACT(c, %s)", g->out_sym);
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, g->main);
    leakyrelu_call(out, p, g->main, 0, 1, "x", g->out_size, y);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "c mode want_params");
    emit_cite(out, 1, g->main);
    L(1, "if (dx)");
    leakyrelu_call(out, p, g->main, 1, 2, "x", g->out_size, "dx");
    L(0, "}");
}

static int leakyrelu_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    char s[32];
    (void)q;
    snprintf(buf, len, "nn.LeakyReLU(%s)", emit_real(n->slope, s, sizeof s));
    return 0;
}

static void leakyrelu_describe(const ir_node *n, char *buf, size_t len)
{
    snprintf(buf, len, "leakyrelu slope=%g", n->slope);
}

static void leakyrelu_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "slope", json_real(n->slope));
}

const layer_kind kind_leakyrelu = {
    .name = "leakyrelu",
    .op = IR_LEAKYRELU,
    .prefix = "leakyrelu",
    .params = leakyrelu_params,
    .n_params = sizeof leakyrelu_params / sizeof leakyrelu_params[0],
    .usage = "leakyrelu [slope=0.01]",
    .flags = KIND_ACT | KIND_KEEPS_INPUT,
    .runtime = "ADVCC_LAYER_LEAKYRELU",
    .lower = leakyrelu_lower,
    .out_layout = -1,
    .group = leakyrelu_group,
    .call = leakyrelu_call,
    .fused = leakyrelu_fused,
    .torch = leakyrelu_torch,
    .section = "activations",
    .describe = leakyrelu_describe,
    .settings = leakyrelu_settings,
};
