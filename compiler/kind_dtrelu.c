/* kind_dtrelu.c - DTReLU, `dtrelu [bits=8] [lo=0] [hi=6]`, the
 * learnable-threshold quantised activation (docs/METHODS.md 4):
 * y = q_N(clip(x, lo, hi)) with learnable scalars lo and hi.  In a conv
 * group runtime/conv_group.h applies it in place of ReLU (the arithmetic of
 * runtime/dtrelu.c, element by element); alone and in a linear group it is
 * a call of that kernel.  Every backward reads c->bpda: when set, the input
 * gradient passes the activation unchanged (BPDA, docs/METHODS.md 11).
 * Also the bounds every learnable-threshold activation takes. */
#include "kind.h"

#include <jansson.h>

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec dtrelu_params[] = {
    { "bits", PT_INT, 0, 0, 2, 16, 0, NULL },
    { "lo", PT_NUM, 0, 0, -PARAM_NOLIMIT, PARAM_NOLIMIT, 0, NULL },
    { "hi", PT_NUM, 0, 0, -PARAM_NOLIMIT, PARAM_NOLIMIT, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

int kind_threshold_bounds(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    n->abits = (int)kind_arg_num(k, v, "bits", 8);
    n->lo = kind_arg_num(k, v, "lo", 0);
    n->hi = kind_arg_num(k, v, "hi", 6);
    if (!(n->lo < n->hi)) {
        const param_val *hi = kind_arg(k, v, "hi");
        diag_error(hi && hi->given ? hi->loc : loc,
                   "%s needs lo < hi, got lo=%g hi=%g", k->name, n->lo, n->hi);
        return -1;
    }
    return 0;
}

static long long dtrelu_count(const ir_node *n, long long *state)
{
    (void)n;
    (void)state;
    return 2;
}

static void dtrelu_tensors(emit_plan *p, const ir_node *n)
{
    emit_add_tensor(p, n, "lo", "ADVCC_THRESHOLD", 1, 1, 0, 0, 0);
    emit_add_tensor(p, n, "hi", "ADVCC_THRESHOLD", 1, 1, 0, 0, 0);
}

static void dtrelu_init(FILE *out, const emit_plan *p, const ir_node *n)
{
    char r[32];
    L(1, "/* %s's learnable bounds, as the spec sets them */", n->name);
    L(1, "p[%s] = (real_t)%s;", emit_tensor_of(p, n, "lo")->sym, emit_real(n->lo, r, sizeof r));
    L(1, "p[%s] = (real_t)%s;", emit_tensor_of(p, n, "hi")->sym, emit_real(n->hi, r, sizeof r));
}

static void dtrelu_call(FILE *out, const emit_plan *p, const ir_node *n, int backward,
                        int ind, const char *x, long count, const char *y)
{
    const emit_tensor *lo = emit_tensor_of(p, n, "lo");
    const emit_tensor *hi = emit_tensor_of(p, n, "hi");
    if (!backward) {
        L(ind, "dtrelu_forward(%s, (long)B * %ld, c->params[%s], c->params[%s], %d, %s);",
          x, count, lo->sym, hi->sym, n->abits, y);
        return;
    }
    L(ind, "dtrelu_backward(%s, dout, (long)B * %ld, c->params[%s], c->params[%s], %s,", x,
      count, lo->sym, hi->sym, y);
    L(ind + 1, "want_params ? c->grads + %s : NULL, want_params ? c->grads + %s : NULL, c->bpda);",
      lo->sym, hi->sym);
}

/* In a conv group: its bounds and bits; the group's arena keeps the bound
 * gradients' sums per channel (below lo, above hi) in act_fix. */
static void dtrelu_fused(FILE *out, const emit_plan *p, const emit_group *g, int ind)
{
    const ir_node *act = g->act;
    L(ind, ".act = CONV_ACT_DTRELU, .lo = %s, .hi = %s, .bits = %d,",
      emit_tensor_of(p, act, "lo")->sym, emit_tensor_of(p, act, "hi")->sym, act->abits);
    L(ind, ".bound_sums = %s,", g->act_sym);
}

static void dtrelu_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    char y[64];
    snprintf(y, sizeof y, "ACT(c, %s)", g->out_sym);
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, g->main);
    dtrelu_call(out, p, g->main, 0, 1, "x", g->out_size, y);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "mode");
    emit_cite(out, 1, g->main);
    dtrelu_call(out, p, g->main, 1, 1, "x", g->out_size, "dx");
    L(0, "}");
}

static int dtrelu_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    char a[32], b[32];
    (void)q;
    snprintf(buf, len, "DTReLU(%d, %s, %s)", n->abits, emit_real(n->lo, a, sizeof a),
             emit_real(n->hi, b, sizeof b));
    return 0;
}

static void dtrelu_describe(const ir_node *n, char *buf, size_t len)
{
    snprintf(buf, len, "dtrelu %d-bit [%g, %g]", n->abits, n->lo, n->hi);
}

static void dtrelu_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "bits", json_integer(n->abits));
    json_object_set_new(o, "lo", json_real(n->lo));
    json_object_set_new(o, "hi", json_real(n->hi));
}

const layer_kind kind_dtrelu = {
    .name = "dtrelu",
    .op = IR_DTRELU,
    .prefix = "dtrelu",
    .params = dtrelu_params,
    .n_params = sizeof dtrelu_params / sizeof dtrelu_params[0],
    .usage = "dtrelu [bits=8] [lo=0] [hi=6]",
    .flags = KIND_ACT | KIND_KEEPS_INPUT,
    .runtime = "ADVCC_LAYER_DTRELU",
    /* a fused DTReLU rounds on quant.h's grid */
    .headers = "dtrelu.h quant.h",
    .lower = kind_threshold_bounds,
    .count = dtrelu_count,
    .tensors = dtrelu_tensors,
    .out_layout = -1,
    .init = dtrelu_init,
    .group = dtrelu_group,
    .call = dtrelu_call,
    .fused = dtrelu_fused,
    .fused_fix = 2,
    .torch = dtrelu_torch,
    .section = "activations",
    .describe = dtrelu_describe,
    .settings = dtrelu_settings,
};
