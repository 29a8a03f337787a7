/* emit_quant.c - a conv or linear layer's fake-quantised weight (docs/METHODS.md
 * 4, Algorithm 2).  The forward rounds the float master weight onto its
 * N-bit grid into a fixed arena slot, and both gemms of the layer use that
 * copy; the weight gradient, computed against the copy, reaches the master
 * weight through the saturating straight-through estimator.  Biases stay
 * float. */
#include "kind.h"

#define L(...) emit_line(out, __VA_ARGS__)

/* Outputs of the layer: rows of its weight matrix (conv sets out_features
 * to its channels). */
static int weight_rows(const ir_node *n)
{
    return n->out_features;
}

static long weight_size(const emit_plan *p, const ir_node *n)
{
    return emit_tensor_of(p, n, "weight")->size;
}

const char *emit_wquant_text(const ir_node *n, char *buf, size_t len)
{
    const ir_quant *q = &n->wquant;
    if (!(kind_of(n->op)->flags & KIND_WEIGHTED) || q->bits <= 0)
        snprintf(buf, len, "%s", "");
    else if (q->range == IR_QRANGE_FIXED)
        snprintf(buf, len, "%d-bit weights on the grid of [%g, %g]", q->bits,
                 q->lo, q->hi);
    else if (q->range == IR_QRANGE_CHANNEL)
        snprintf(buf, len, "%d-bit weights, bounds each output's min and max",
                 q->bits);
    else
        snprintf(buf, len, "%d-bit weights, bounds the tensor's min and max",
                 q->bits);
    return buf;
}

void emit_wquant_plan(const emit_plan *p, emit_group *g, long *fixed)
{
    const ir_node *n = g->main;
    if (n->wquant.bits <= 0)
        return;
    const long rows = weight_rows(n);
    g->wq_fix = plan_take(fixed, weight_size(p, n));
    g->wq_range_fix = plan_take(fixed, n->wquant.range == IR_QRANGE_CHANNEL ? 2 * rows : 2);
}

void emit_wquant_forward(FILE *out, const emit_plan *p, const emit_group *g,
                         int ind)
{
    const ir_node *n = g->main;
    const ir_quant *q = &n->wquant;
    if (g->wq_fix < 0)
        return;
    const emit_tensor *w = emit_tensor_of(p, n, "weight");
    const long size = weight_size(p, n);
    const int rows = weight_rows(n);
    char text[96], r[32];
    emit_cite_loc(out, ind, "quantize", q->loc);
    L(ind, "/* %s: %s; the copy stays for backward */", n->name,
      emit_wquant_text(n, text, sizeof text));
    L(ind, "real_t *wq = FIX(c, %s), *wq_lo = FIX(c, %s), *wq_hi = wq_lo + %d;",
      g->wq_sym, g->wq_range_sym, q->range == IR_QRANGE_CHANNEL ? rows : 1);
    switch (q->range) {
    case IR_QRANGE_FIXED:
        L(ind, "*wq_lo = (real_t)%s;", emit_real(q->lo, r, sizeof r));
        L(ind, "*wq_hi = (real_t)%s;", emit_real(q->hi, r, sizeof r));
        L(ind, "quant_forward(c->params + %s, %ld, %d, *wq_lo, *wq_hi, wq);", w->sym,
          size, q->bits);
        break;
    case IR_QRANGE_CHANNEL:
        L(ind, "quant_forward_rows(c->params + %s, %d, %ld, %d, wq_lo, wq_hi, wq);", w->sym,
          rows, size / rows, q->bits);
        break;
    default:
        L(ind, "quant_forward_minmax(c->params + %s, %ld, %d, wq_lo, wq_hi, wq);", w->sym,
          size, q->bits);
        break;
    }
}

void emit_wquant_recall(FILE *out, const emit_group *g, int ind)
{
    if (g->wq_fix >= 0)
        L(ind, "const real_t *wq = FIX(c, %s); /* %s's weight as the forward quantised it */",
          g->wq_sym, g->main->name);
}

void emit_weight_expr(const emit_plan *p, const emit_group *g, char *buf,
                      size_t len)
{
    if (g->wq_fix >= 0)
        snprintf(buf, len, "wq");
    else
        snprintf(buf, len, "c->params + %s", emit_tensor_of(p, g->main, "weight")->sym);
}

void emit_wquant_backward(FILE *out, const emit_plan *p, const emit_group *g,
                          int ind)
{
    const ir_node *n = g->main;
    if (g->wq_fix < 0)
        return;
    if (n->wquant.range != IR_QRANGE_FIXED) {
        L(ind, "/* straight through: min/max bounds hold every weight, so the");
        L(ind, " * gradient wrt the quantised copy is the master weight's */");
        return;
    }
    const emit_tensor *w = emit_tensor_of(p, n, "weight");
    char lo[32], hi[32];
    L(ind, "/* straight through, saturating: no gradient where the master weight");
    L(ind, " * lies outside the grid's bounds */");
    L(ind, "quant_backward(c->params + %s, c->grads + %s, %ld, (real_t)%s, (real_t)%s, c->grads + %s);",
      w->sym, w->sym, weight_size(p, n), emit_real(n->wquant.lo, lo, sizeof lo),
      emit_real(n->wquant.hi, hi, sizeof hi), w->sym);
}
