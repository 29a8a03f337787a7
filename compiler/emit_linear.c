/* emit_linear.c - a fully connected group: sgemm with bias in the runtime,
 * the activation inline over the output, and the backward's mask, weight
 * and input gradients. */
#include "emit_internal.h"

#define L(...) emit_line(out, __VA_ARGS__)

void emit_group_linear(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *w = emit_tensor_of(p, n, "weight");
    const emit_tensor *b = emit_tensor_of(p, n, "bias");
    const long in = (long)n->in.c * n->in.h * n->in.w;
    const int relu = g->act && g->act->op == IR_RELU;

    L(0, "static void g%d_forward(advcc_ctx *c, const real_t *x, int B, int mode)", g->index);
    L(0, "{");
    L(1, "(void)mode;");
    L(1, "real_t *o = ACT(c, %ld);", g->out_slot);
    emit_cite(out, 1, n);
    L(1, "linear_forward(x, B, %ld, c->params + %s, %s%s, %d, o);", in, w->sym,
      b ? "c->params + " : "NULL", b ? b->sym : "", n->out_features);
    if (relu) {
        emit_cite(out, 1, g->act);
        L(1, "relu_forward(o, (long)B * %d, o);", n->out_features);
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
    } else {
        L(1, "const real_t *dz = dout;");
    }
    emit_cite(out, 1, n);
    L(1, "if (want_params)");
    L(2, "linear_backward_params(x, dz, B, %ld, %d, c->grads + %s, %s%s);", in,
      n->out_features, w->sym, b ? "c->grads + " : "NULL", b ? b->sym : "");
    L(1, "if (dx)");
    L(2, "linear_backward_input(dz, c->params + %s, B, %ld, %d, dx);", w->sym, in,
      n->out_features);
    L(0, "}");
}
