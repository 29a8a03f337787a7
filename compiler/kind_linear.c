/* kind_linear.c - the fully connected layer, `linear OUT [bias=1|0]`:
 * its parameters and lowering, its shape (a flat input), its weight and
 * bias, and its group: sgemm with bias in the runtime, the activation's
 * kernel over the output (on the kept pre-activation when its backward
 * needs that, KIND_KEEPS_INPUT), and the backward's mask, weight and input
 * gradients.  A quantised weight is rounded into the arena first and both
 * sgemms use the rounded copy (emit_quant.c). */
#include "kind.h"

#include <jansson.h>

#include "diag.h"
#include "shape.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec linear_params[] = {
    { "out", PT_INT, 1, 1, 1, 1 << 24, 0, NULL },
    { "bias", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static int linear_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    (void)loc;
    n->out_features = (int)kind_arg_num(k, v, "out", 1);
    n->bias = (int)kind_arg_num(k, v, "bias", 1);
    return 0;
}

static int linear_shape(const ir_model *m, const ir_node *n, const ir_node *prev, ir_shape *out)
{
    (void)m;
    (void)prev;
    char buf[64];
    if (!n->in.flat) {
        diag_error(n->loc, "linear needs a flat input, but its input is the image %s; "
                   "put flatten before it", shape_text(n->in, buf, sizeof buf));
        return -1;
    }
    out->c = n->out_features;
    return 0;
}

static long long linear_count(const ir_node *n, long long *state)
{
    (void)state;
    return (long long)n->out_features * n->in.c + (n->bias ? n->out_features : 0);
}

static void linear_tensors(emit_plan *p, const ir_node *n)
{
    emit_add_tensor(p, n, "weight", "ADVCC_WEIGHT", 2, n->out_features,
                    n->in.c * n->in.h * n->in.w, 0, 0);
    if (n->bias)
        emit_add_tensor(p, n, "bias", "ADVCC_BIAS", 1, n->out_features, 0, 0, 0);
}

static void linear_spectral_state(emit_plan *p, const ir_node *n, const char *u, const char *v)
{
    emit_add_tensor(p, n, u, "ADVCC_STATE", 1, n->out_features, 0, 0, 0);
    emit_add_tensor(p, n, v, "ADVCC_STATE", 1, n->in.c * n->in.h * n->in.w, 0, 0, 0);
}

/* The pre-activation when the activation's backward reads it, the
 * quantised weight. */
static void linear_plan(emit_plan *p, emit_group *g, const ir_node *n, plan_state *st)
{
    p->flops += 2LL * n->in.c * n->in.h * n->in.w * n->out_features;
    if (g->act && (kind_of(g->act->op)->flags & KIND_KEEPS_INPUT)) {
        g->y_slot = plan_take(&st->per, n->out_features);
    }
    emit_wquant_plan(p, g, &st->fixed);
    if (n->out_features > st->dy)
        st->dy = n->out_features;
}

static int linear_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    snprintf(buf, len, "%s(%d, %d, bias=%s%s)", q[0] ? "QuantLinear" : "nn.Linear",
             n->in.c * n->in.h * n->in.w, n->out_features, n->bias ? "True" : "False", q);
    return 0;
}

static void linear_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *w = emit_tensor_of(p, n, "weight");
    const emit_tensor *b = emit_tensor_of(p, n, "bias");
    const long in = (long)n->in.c * n->in.h * n->in.w;
    const layer_kind *act = g->act ? kind_of(g->act->op) : NULL;
    const int keep = act && (act->flags & KIND_KEEPS_INPUT);
    char slot[64];
    char wexpr[64];
    emit_weight_expr(p, g, wexpr, sizeof wexpr);

    L(0, "static void g%d_forward(advcc_ctx *c, const real_t *x, int B, int mode)", g->index);
    L(0, "{");
    L(1, "(void)mode;");
    L(1, "real_t *o = ACT(c, %s);", g->out_sym);
    if (keep)
        L(1, "real_t *y = ACT(c, %s); /* kept for the activation's backward */",
          g->y_sym);
    emit_cite(out, 1, n);
    emit_wquant_forward(out, p, g, 1);
    L(1, "linear_forward(x, B, %ld, %s, %s%s, %d, %s);", in, wexpr,
      b ? "c->params + " : "NULL", b ? b->sym : "", n->out_features, keep ? "y" : "o");
    if (act) {
        emit_cite(out, 1, g->act);
        act->call(out, p, g->act, 0, 1, keep ? "y" : "o", n->out_features, "o");
    }
    L(0, "}");
    L(0, "%s", "");

    L(0, "static void g%d_backward(advcc_ctx *c, const real_t *x, const real_t *dout, real_t *dx, int B, int mode, int want_params)", g->index);
    L(0, "{");
    L(1, "(void)mode;");
    if (act) {
        emit_cite(out, 1, g->act);
        L(1, "real_t *dz = ACT(c, DY_SLOT);");
        snprintf(slot, sizeof slot, "ACT(c, %s)", keep ? g->y_sym : g->out_sym);
        act->call(out, p, g->act, 1, 1, slot, n->out_features, "dz");
    } else {
        L(1, "const real_t *dz = dout;");
    }
    emit_cite(out, 1, n);
    emit_wquant_recall(out, g, 1);
    L(1, g->wq_fix >= 0 ? "if (want_params) {" : "if (want_params)");
    L(2, "linear_backward_params(x, dz, B, %ld, %d, c->grads + %s, %s%s);", in,
      n->out_features, w->sym, b ? "c->grads + " : "NULL", b ? b->sym : "");
    if (g->wq_fix >= 0) {
        emit_wquant_backward(out, p, g, 2);
        L(1, "}");
    }
    L(1, "if (dx)");
    L(2, "linear_backward_input(dz, %s, B, %ld, %d, dx);", wexpr, in, n->out_features);
    L(0, "}");
}

static void linear_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "out_features", json_integer(n->out_features));
    json_object_set_new(o, "bias", json_boolean(n->bias));
    json_object_set_new(o, "weight_bits", json_integer(n->wquant.bits));
}

const layer_kind kind_linear = {
    .name = "linear",
    .op = IR_LINEAR,
    .prefix = "fc",
    .params = linear_params,
    .n_params = sizeof linear_params / sizeof linear_params[0],
    .usage = "linear OUT [bias=1|0]",
    .flags = KIND_WEIGHTED | KIND_LAYOUT,
    .absorbs = KIND_ACT,
    .runtime = "ADVCC_LAYER_LINEAR",
    .lower = linear_lower,
    .shape = linear_shape,
    .count = linear_count,
    .tensors = linear_tensors,
    .spectral_state = linear_spectral_state,
    .out_layout = LAYOUT_ROWS,
    .plan = linear_plan,
    .init = emit_init_uniform,
    .group = linear_group,
    .torch = linear_torch,
    .settings = linear_settings,
};
