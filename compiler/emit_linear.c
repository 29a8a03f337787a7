/* emit_linear.c - a fully connected group: sgemm with bias in the runtime,
 * the activation (ReLU, or DTReLU on the kept pre-activation) over the
 * output, and the backward's mask, weight and input gradients.  A
 * quantised weight is rounded into the arena first and both sgemms use the
 * rounded copy (emit_quant.c). */
#include "emit_internal.h"

#define L(...) emit_line(out, __VA_ARGS__)

void emit_group_linear(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *w = emit_tensor_of(p, n, "weight");
    const emit_tensor *b = emit_tensor_of(p, n, "bias");
    const long in = (long)n->in.c * n->in.h * n->in.w;
    const int relu = g->act && g->act->op == IR_RELU;
    const int dtrelu = g->act && g->act->op == IR_DTRELU;
    const emit_tensor *lo = dtrelu ? emit_tensor_of(p, g->act, "lo") : NULL;
    const emit_tensor *hi = dtrelu ? emit_tensor_of(p, g->act, "hi") : NULL;
    char wexpr[64];
    emit_weight_expr(p, g, wexpr, sizeof wexpr);

    L(0, "static void g%d_forward(advcc_ctx *c, const real_t *x, int B, int mode)", g->index);
    L(0, "{");
    L(1, "(void)mode;");
    L(1, "real_t *o = ACT(c, %ld);", g->out_slot);
    if (dtrelu)
        L(1, "real_t *y = ACT(c, %ld); /* %s output, kept for the activation's backward */",
          g->y_slot, n->name);
    emit_cite(out, 1, n);
    emit_wquant_forward(out, p, g, 1);
    L(1, "linear_forward(x, B, %ld, %s, %s%s, %d, %s);", in, wexpr,
      b ? "c->params + " : "NULL", b ? b->sym : "", n->out_features, dtrelu ? "y" : "o");
    if (relu) {
        emit_cite(out, 1, g->act);
        L(1, "relu_forward(o, (long)B * %d, o);", n->out_features);
    } else if (dtrelu) {
        emit_cite(out, 1, g->act);
        L(1, "dtrelu_forward(y, (long)B * %d, c->params[%s], c->params[%s], %d, o);",
          n->out_features, lo->sym, hi->sym, g->act->abits);
    }
    L(0, "}");
    L(0, "%s", "");

    L(0, "static void g%d_backward(advcc_ctx *c, const real_t *x, const real_t *dout, real_t *dx, int B, int mode, int want_params)", g->index);
    L(0, "{");
    L(1, "(void)mode;");
    if (relu) {
        emit_cite(out, 1, g->act);
        L(1, "real_t *dz = ACT(c, DY_SLOT);");
        L(1, "relu_backward(ACT(c, %ld), dout, (long)B * %d, dz);", g->out_slot, n->out_features);
    } else if (dtrelu) {
        emit_cite(out, 1, g->act);
        L(1, "real_t *dz = ACT(c, DY_SLOT);");
        L(1, "dtrelu_backward(ACT(c, %ld), dout, (long)B * %d, c->params[%s], c->params[%s], dz,",
          g->y_slot, n->out_features, lo->sym, hi->sym);
        L(2, "want_params ? c->grads + %s : NULL, want_params ? c->grads + %s : NULL, c->bpda);",
          lo->sym, hi->sym);
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
