/* kind_dtrelu.c - DTReLU, `dtrelu [bits=8] [lo=0] [hi=6]`, the
 * learnable-threshold quantised activation (docs/METHODS.md 4):
 * y = q_N(clip(x, lo, hi)) with learnable scalars lo and hi.  It is written
 * as fragments a fused conv loop takes in place of ReLU (the arithmetic of
 * runtime/dtrelu.c, element by element), and as calls of that kernel alone
 * and in a linear group.  Every backward reads c->bpda: when set, the input
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

/* In a conv group: the bounds (and for the forward the grid, for the
 * backward c->bpda) before the loops, z rounded in the loop, and in the
 * backward d = dL/dz (grad itself under BPDA) with the bound gradients'
 * sums per channel (below lo, above hi) in act_fix, added up at the end. */
static void dtrelu_fused(FILE *out, const emit_plan *p, const emit_group *g, kind_stage stage,
                         int ind, const char *grad)
{
    const ir_node *act = g->act;
    const int ch = g->main->out_c;
    switch (stage) {
    case KIND_BWD_SETUP:
        emit_cite(out, ind, act);
        /* fall through */
    case KIND_FWD_SETUP:
        L(ind, "const real_t lo = c->params[%s], hi = c->params[%s];",
          emit_tensor_of(p, act, "lo")->sym, emit_tensor_of(p, act, "hi")->sym);
        L(ind, "const int qok = hi > lo; /* else every output is hi (dtrelu.h) */");
        if (stage == KIND_FWD_SETUP) {
            L(ind, "const real_t qs = quant_step(lo, hi, %d), qtop = quant_top(%d);",
              act->abits, act->abits);
            break;
        }
        L(ind, "const int bpda = c->bpda; /* dx = dy: the identity's gradient */");
        L(ind, "real_t *bound_sums = FIX(c, %ld); /* per channel: below lo, above hi */",
          g->act_fix);
        break;
    case KIND_FWD_APPLY:
        L(ind, "z = qok ? quant_value(z, lo, qs, qtop) : hi; /* clip, then round */");
        break;
    case KIND_BWD_CHANNEL:
        L(ind, "double below = 0, above = 0;");
        break;
    case KIND_BWD_GRAD:
        L(ind, "const real_t d = bpda || (qok && z >= lo && z <= hi) ? %s : 0;", grad);
        L(ind, "below += qok && z < lo ? %s : 0;", grad);
        L(ind, "above += !qok || z > hi ? %s : 0;", grad);
        break;
    case KIND_BWD_CHANNEL_END:
        L(ind, "bound_sums[ch] = (real_t)below;");
        L(ind, "bound_sums[%d + ch] = (real_t)above;", ch);
        break;
    case KIND_BWD_END:
        L(ind, "if (want_params) {");
        L(ind + 1, "double below = 0, above = 0;");
        L(ind + 1, "for (int ch = 0; ch < %d; ch++) {", ch);
        L(ind + 2, "below += bound_sums[ch];");
        L(ind + 2, "above += bound_sums[%d + ch];", ch);
        L(ind + 1, "}");
        L(ind + 1, "c->grads[%s] = (real_t)below;", emit_tensor_of(p, act, "lo")->sym);
        L(ind + 1, "c->grads[%s] = (real_t)above;", emit_tensor_of(p, act, "hi")->sym);
        L(ind, "}");
        break;
    }
}

static void dtrelu_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    char y[48];
    snprintf(y, sizeof y, "ACT(c, %ld)", g->out_slot);
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
