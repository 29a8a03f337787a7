/* emit_other.c - groups of one node that call a runtime kernel as they are:
 * normalize, flatten, a lone activation, pool or BatchNorm (over CNHW
 * channels, or over the features of flat rows), noise.  (Lone
 * learnable-threshold activations are in emit_act.c.) */
#include "emit_internal.h"

#define L(...) emit_line(out, __VA_ARGS__)


static void emit_normalize(FILE *out, const emit_group *g)
{
    const ir_node *n = g->main;
    const long hw = (long)n->in.h * n->in.w;
    char buf[512];
    int k = 0;
    for (int i = 0; i < n->in.c; i++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%.9g", i ? ", " : "", n->mean[i]);
    L(0, "static const real_t %s_mean[%d] = {%s};", n->name, n->in.c, buf);
    k = 0;
    for (int i = 0; i < n->in.c; i++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%.9g", i ? ", " : "", n->std[i]);
    L(0, "static const real_t %s_std[%d] = {%s};", n->name, n->in.c, buf);
    L(0, "%s", "");
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    L(1, "normalize_forward(x, B, %d, %ld, %s_mean, %s_std, ACT(c, %ld));",
      n->in.c, hw, n->name, n->name, g->out_slot);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "c x mode want_params");
    L(1, "if (dx)");
    L(2, "normalize_backward(dout, B, %d, %ld, %s_std, dx);", n->in.c, hw, n->name);
    L(0, "}");
}

static void emit_flatten(FILE *out, const emit_group *g)
{
    const ir_node *n = g->main;
    const long hw = (long)n->in.h * n->in.w;
    const long size = (long)n->in.c * hw;
    const int cnhw = g->in_layout == LAYOUT_CNHW;
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    if (cnhw)
        L(1, "cnhw_to_rows(x, %d, B, %ld, ACT(c, %ld));", n->in.c, hw, g->out_slot);
    else
        L(1, "memcpy(ACT(c, %ld), x, sizeof(real_t) * B * %ld);", g->out_slot, size);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "c x mode want_params");
    L(1, "if (!dx)");
    L(2, "return;");
    if (cnhw)
        L(1, "rows_to_cnhw(dout, %d, B, %ld, dx);", n->in.c, hw);
    else
        L(1, "memcpy(dx, dout, sizeof(real_t) * B * %ld);", size);
    L(0, "}");
}

static void emit_relu(FILE *out, const emit_group *g)
{
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, g->main);
    L(1, "relu_forward(x, (long)B * %ld, ACT(c, %ld));", g->out_size, g->out_slot);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "x mode want_params");
    L(1, "if (dx)");
    L(2, "relu_backward(ACT(c, %ld), dout, (long)B * %ld, dx);", g->out_slot, g->out_size);
    L(0, "}");
}

static void emit_pool(FILE *out, const emit_group *g)
{
    const ir_node *n = g->main;
    const int max = n->op == IR_MAXPOOL;
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    if (max)
        L(1, "maxpool_forward(x, %d * B, %d, %d, %d, %d, %d, %d, ACT(c, %ld), (int *)ACT(c, %ld));",
          n->in.c, n->in.h, n->in.w, n->k, n->stride, n->out.h, n->out.w,
          g->out_slot, g->argmax_slot);
    else
        L(1, "avgpool_forward(x, %d * B, %d, %d, %d, %d, %d, %d, ACT(c, %ld));",
          n->in.c, n->in.h, n->in.w, n->k, n->stride, n->out.h, n->out.w,
          g->out_slot);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "");
    if (!max)
        L(1, "(void)c;");
    L(1, "(void)x;");
    L(1, "(void)mode;");
    L(1, "(void)want_params;");
    L(1, "if (!dx)");
    L(2, "return;");
    if (max)
        L(1, "maxpool_backward(dout, (const int *)ACT(c, %ld), %d * B, %d, %d, %d, %d, dx);",
          g->argmax_slot, n->in.c, n->in.h, n->in.w, n->out.h, n->out.w);
    else
        L(1, "avgpool_backward(dout, %d * B, %d, %d, %d, %d, %d, %d, dx);",
          n->in.c, n->in.h, n->in.w, n->k, n->stride, n->out.h, n->out.w);
    L(0, "}");
}

/* BatchNorm of a flat input (BatchNorm1d): per-feature statistics over the
 * batch.  The activations are rows [B][features]; the kernels want each
 * feature's B values contiguous, so the group transposes its input into
 * tx_slot (kept for backward), normalises into y_slot and transposes back
 * into its output, and the backward does the same with the gradient. */
static void emit_batchnorm_flat(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const int f = n->in.c;
    const emit_tensor *gm = emit_tensor_of(p, n, "weight");
    const emit_tensor *bt = emit_tensor_of(p, n, "bias");
    const emit_tensor *rm = emit_tensor_of(p, n, "running_mean");
    const emit_tensor *rv = emit_tensor_of(p, n, "running_var");
    emit_group_head(out, g, 0, "");
    emit_cite(out, 1, n);
    L(1, "/* over the %d features of rows [B][%d], transposed to [%d][B] and back */", f, f, f);
    L(1, "real_t *xt = ACT(c, %ld), *yt = ACT(c, %ld);", g->tx_slot, g->y_slot);
    L(1, "real_t *mean = FIX(c, %ld), *invstd = mean + %d;", g->bn_fix, f);
    L(1, "rows_to_cnhw(x, %d, B, 1, xt);", f);
    L(1, "if (mode == ADVCC_EVAL)");
    L(2, "batchnorm_forward_eval(xt, %d, B, c->params + %s, c->params + %s, c->params + %s, c->params + %s, yt);",
      f, gm->sym, bt->sym, rm->sym, rv->sym);
    L(1, "else");
    L(2, "batchnorm_forward_train(xt, %d, B, c->params + %s, c->params + %s, c->params + %s, c->params + %s, mode == ADVCC_TRAIN, mean, invstd, yt);",
      f, gm->sym, bt->sym, rm->sym, rv->sym);
    L(1, "cnhw_to_rows(yt, %d, B, 1, ACT(c, %ld));", f, g->out_slot);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "x");
    emit_cite(out, 1, n);
    L(1, "/* the gradient transposed to [%d][B], through the kernel in place, and back */", f);
    L(1, "const real_t *xt = ACT(c, %ld);", g->tx_slot);
    L(1, "const real_t *mean = FIX(c, %ld), *invstd = mean + %d;", g->bn_fix, f);
    L(1, "real_t *dyt = ACT(c, DY_SLOT);");
    L(1, "if (mode == ADVCC_EVAL && !dx && !want_params)");
    L(2, "return;");
    L(1, "rows_to_cnhw(dout, %d, B, 1, dyt);", f);
    L(1, "if (mode == ADVCC_EVAL) {");
    L(2, "if (want_params)");
    L(3, "batchnorm_backward_eval_params(xt, dyt, %d, B, c->params + %s, c->params + %s, c->grads + %s, c->grads + %s);",
      f, rm->sym, rv->sym, gm->sym, bt->sym);
    L(2, "batchnorm_backward_eval(dyt, %d, B, c->params + %s, c->params + %s, dyt);",
      f, gm->sym, rv->sym);
    L(1, "} else {");
    L(2, "batchnorm_backward_train(xt, dyt, %d, B, c->params + %s, mean, invstd, dyt, want_params ? c->grads + %s : NULL, want_params ? c->grads + %s : NULL);",
      f, gm->sym, gm->sym, bt->sym);
    L(1, "}");
    L(1, "if (dx)");
    L(2, "cnhw_to_rows(dyt, %d, B, 1, dx);", f);
    L(0, "}");
}

static void emit_batchnorm(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const long hw = (long)n->in.h * n->in.w;
    const emit_tensor *gm = emit_tensor_of(p, n, "weight");
    const emit_tensor *bt = emit_tensor_of(p, n, "bias");
    const emit_tensor *rm = emit_tensor_of(p, n, "running_mean");
    const emit_tensor *rv = emit_tensor_of(p, n, "running_var");
    if (n->in.flat) {
        emit_batchnorm_flat(out, p, g);
        return;
    }
    emit_group_head(out, g, 0, "");
    emit_cite(out, 1, n);
    L(1, "real_t *mean = FIX(c, %ld), *invstd = mean + %d;", g->bn_fix, n->in.c);
    L(1, "if (mode == ADVCC_EVAL)");
    L(2, "batchnorm_forward_eval(x, %d, B * %ld, c->params + %s, c->params + %s, c->params + %s, c->params + %s, ACT(c, %ld));",
      n->in.c, hw, gm->sym, bt->sym, rm->sym, rv->sym, g->out_slot);
    L(1, "else");
    L(2, "batchnorm_forward_train(x, %d, B * %ld, c->params + %s, c->params + %s, c->params + %s, c->params + %s, mode == ADVCC_TRAIN, mean, invstd, ACT(c, %ld));",
      n->in.c, hw, gm->sym, bt->sym, rm->sym, rv->sym, g->out_slot);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "");
    L(1, "const real_t *mean = FIX(c, %ld), *invstd = mean + %d;", g->bn_fix, n->in.c);
    L(1, "real_t *dx_ = dx ? dx : ACT(c, DY_SLOT);");
    L(1, "if (mode == ADVCC_EVAL) {");
    L(2, "if (want_params)");
    L(3, "batchnorm_backward_eval_params(x, dout, %d, B * %ld, c->params + %s, c->params + %s, c->grads + %s, c->grads + %s);",
      n->in.c, hw, rm->sym, rv->sym, gm->sym, bt->sym);
    L(2, "if (dx)");
    L(3, "batchnorm_backward_eval(dout, %d, B * %ld, c->params + %s, c->params + %s, dx);",
      n->in.c, hw, gm->sym, rv->sym);
    L(2, "return;");
    L(1, "}");
    L(1, "batchnorm_backward_train(x, dout, %d, B * %ld, c->params + %s, mean, invstd, dx_, want_params ? c->grads + %s : NULL, want_params ? c->grads + %s : NULL);",
      n->in.c, hw, gm->sym, gm->sym, bt->sym);
    L(0, "}");
}

static void emit_noise(FILE *out, const emit_group *g)
{
    const ir_node *n = g->main;
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    L(1, "/* in training and inference alike; exactly B * %ld draws, in order,", g->out_size);
    L(1, " * so that a replay from the same rng state repeats the pass */");
    L(1, "real_t *o = ACT(c, %ld);", g->out_slot);
    L(1, "memcpy(o, x, sizeof(real_t) * B * %ld);", g->out_size);
    char r[32];
    L(1, "noise_add(o, (long)B * %ld, (real_t)%s, c->rng);", g->out_size,
      emit_real(n->sigma, r, sizeof r));
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "c x mode want_params");
    L(1, "if (dx)");
    L(2, "memcpy(dx, dout, sizeof(real_t) * B * %ld);", g->out_size);
    L(0, "}");
}

void emit_group_other(FILE *out, const emit_plan *p, const emit_group *g)
{
    switch (g->main->op) {
    case IR_NORMALIZE:
        emit_normalize(out, g);
        break;
    case IR_FLATTEN:
        emit_flatten(out, g);
        break;
    case IR_RELU:
        emit_relu(out, g);
        break;
    case IR_AVGPOOL:
    case IR_MAXPOOL:
        emit_pool(out, g);
        break;
    case IR_BATCHNORM:
        emit_batchnorm(out, p, g);
        break;
    case IR_NOISE:
        emit_noise(out, g);
        break;
    case IR_DTRELU:
    case IR_PWLINEAR:
    case IR_NAIVEDT:
    case IR_DDTRELU:
        emit_group_threshold(out, p, g);
        break;
    default:
        L(0, "#error \"advcc: no code for %s yet\"", ir_op_name(g->main->op));
        break;
    }
}
