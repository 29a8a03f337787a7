/* emit_act.c - the learnable-threshold activations (docs/METHODS.md 4).
 *
 * DTReLU, y = q_N(clip(x, lo, hi)) with learnable scalars lo and hi, is
 * written as fragments a fused conv loop takes in place of ReLU (the
 * arithmetic of runtime/dtrelu.c, element by element), and as a lone group
 * calling that kernel.  The appendix variants (naive dynamic threshold,
 * DDTReLU, piecewise linear) are lone groups calling threshold_act.h.
 * Every backward reads c->bpda: when set, the input gradient passes each
 * of these activations unchanged (BPDA, docs/METHODS.md 11). */
#include "emit_internal.h"

#define L(...) emit_line(out, __VA_ARGS__)

void emit_dtrelu_setup(FILE *out, const emit_plan *p, const ir_node *act,
                       int ind, int forward)
{
    const emit_tensor *lo = emit_tensor_of(p, act, "lo");
    const emit_tensor *hi = emit_tensor_of(p, act, "hi");
    L(ind, "const real_t lo = c->params[%s], hi = c->params[%s];", lo->sym, hi->sym);
    L(ind, "const int qok = hi > lo; /* else every output is hi (dtrelu.h) */");
    if (forward)
        L(ind, "const real_t qs = quant_step(lo, hi, %d), qtop = quant_top(%d);",
          act->abits, act->abits);
    else
        L(ind, "const int bpda = c->bpda; /* dx = dy: the identity's gradient */");
}

void emit_dtrelu_apply(FILE *out, int ind)
{
    L(ind, "z = qok ? quant_value(z, lo, qs, qtop) : hi; /* clip, then round */");
}

void emit_dtrelu_grad(FILE *out, int ind, const char *grad)
{
    L(ind, "const real_t d = bpda || (qok && z >= lo && z <= hi) ? %s : 0;", grad);
    L(ind, "below += qok && z < lo ? %s : 0;", grad);
    L(ind, "above += !qok || z > hi ? %s : 0;", grad);
}

void emit_threshold_init(FILE *out, const emit_plan *p, const ir_node *n)
{
    char r1[32], r2[32];
    if (n->op == IR_DTRELU) {
        L(1, "/* %s's learnable bounds, as the spec sets them */", n->name);
        L(1, "p[%s] = (real_t)%s;", emit_tensor_of(p, n, "lo")->sym, emit_real(n->lo, r1, sizeof r1));
        L(1, "p[%s] = (real_t)%s;", emit_tensor_of(p, n, "hi")->sym, emit_real(n->hi, r1, sizeof r1));
        return;
    }
    const emit_tensor *t = emit_tensor_of(p, n, "thresholds");
    const emit_tensor *v = emit_tensor_of(p, n, "values");
    const int k = n->levels;
    L(1, "/* %s's thresholds spread evenly over [lo, hi]%s */", n->name,
      v ? "; its values make it the identity there" : "");
    L(1, "for (int j = 0; j < %d; j++) {", k);
    L(2, "p[%s + j] = (real_t)(%s + %s * j / %d);", t->sym, emit_real(n->lo, r1, sizeof r1),
      emit_real(n->hi - n->lo, r2, sizeof r2), k > 1 ? k - 1 : 1);
    if (v)
        L(2, "p[%s + j] = p[%s + j];", v->sym, t->sym);
    L(1, "}");
}


static void emit_dtrelu(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *lo = emit_tensor_of(p, n, "lo");
    const emit_tensor *hi = emit_tensor_of(p, n, "hi");
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    L(1, "dtrelu_forward(x, (long)B * %ld, c->params[%s], c->params[%s], %d, ACT(c, %ld));",
      g->out_size, lo->sym, hi->sym, n->abits, g->out_slot);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "mode");
    emit_cite(out, 1, n);
    L(1, "dtrelu_backward(x, dout, (long)B * %ld, c->params[%s], c->params[%s], dx,", g->out_size,
      lo->sym, hi->sym);
    L(2, "want_params ? c->grads + %s : NULL, want_params ? c->grads + %s : NULL, c->bpda);",
      lo->sym, hi->sym);
    L(0, "}");
}

/* Naive dynamic threshold, DDTReLU, piecewise linear: the thresholds are
 * put back in order before each use, since an update may swap two. */
static void emit_multi(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *t = emit_tensor_of(p, n, "thresholds");
    const emit_tensor *v = emit_tensor_of(p, n, "values");
    const char *kind = n->op == IR_NAIVEDT ? "naive_threshold" : n->op == IR_DDTRELU ? "ddtrelu" : "pwl";
    const int k = n->levels;
    if (k < 2) {
        L(0, "#error \"advcc: %s levels=%d: the kernels take at least 2 thresholds\"", n->name, k);
        return;
    }
    L(0, "_Static_assert(%d <= THRESHOLD_MAX, \"%s: more thresholds than threshold_act.h takes\");",
      k, n->name);
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    L(1, "real_t *t = c->params + %s;", t->sym);
    if (v) {
        L(1, "real_t *v = c->params + %s;", v->sym);
        L(1, "thresholds_sort(t, v, %d);", k);
        L(1, "pwl_forward(x, (long)B * %ld, t, v, %d, ACT(c, %ld));", g->out_size, k, g->out_slot);
    } else {
        L(1, "thresholds_sort(t, NULL, %d);", k);
        L(1, "%s_forward(x, (long)B * %ld, t, %d, ACT(c, %ld));", kind, g->out_size, k, g->out_slot);
    }
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "mode");
    emit_cite(out, 1, n);
    if (v)
        L(1, "pwl_backward(x, dout, (long)B * %ld, c->params + %s, c->params + %s, %d, dx,",
          g->out_size, t->sym, v->sym, k);
    else
        L(1, "%s_backward(x, dout, (long)B * %ld, c->params + %s, %d, dx,", kind, g->out_size,
          t->sym, k);
    if (v)
        L(2, "want_params ? c->grads + %s : NULL, want_params ? c->grads + %s : NULL, c->bpda);",
          t->sym, v->sym);
    else
        L(2, "want_params ? c->grads + %s : NULL, c->bpda);", t->sym);
    L(0, "}");
}

void emit_group_threshold(FILE *out, const emit_plan *p, const emit_group *g)
{
    if (g->main->op == IR_DTRELU)
        emit_dtrelu(out, p, g);
    else
        emit_multi(out, p, g);
}
