/* kind_batchnorm.c - `batchnorm`: BatchNorm over the channels of an image
 * (CNHW) or the features of flat rows (BatchNorm1d), with batch statistics
 * in training and running ones in evaluation (eps 1e-5, momentum 0.1),
 * by runtime/batchnorm.c's kernels.  A BatchNorm right after a convolution
 * is written inline in the conv group's epilogue (kind_conv.c). */
#include "kind.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec batchnorm_params[] = {
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static long long batchnorm_count(const ir_node *n, long long *state)
{
    *state = 2LL * n->in.c;
    return 2LL * n->in.c;
}

static void batchnorm_tensors(emit_plan *p, const ir_node *n)
{
    emit_add_tensor(p, n, "weight", "ADVCC_BN_SCALE", 1, n->in.c, 0, 0, 0);
    emit_add_tensor(p, n, "bias", "ADVCC_BN_SHIFT", 1, n->in.c, 0, 0, 0);
    emit_add_tensor(p, n, "running_mean", "ADVCC_STATE", 1, n->in.c, 0, 0, 0);
    emit_add_tensor(p, n, "running_var", "ADVCC_STATE", 1, n->in.c, 0, 0, 0);
}

/* Kernels over CNHW channels; flat rows are transposed inside the group. */
static int batchnorm_cnhw(const ir_node *n)
{
    return !n->in.flat;
}

/* Its statistics (mean, invstd) for backward; alone: over flat rows, the
 * transposed input and output. */
static void batchnorm_plan(emit_plan *p, emit_group *g, const ir_node *n, plan_state *st)
{
    (void)p;
    if (n == g->main) {
        if (batchnorm_cnhw(n))
            emit_plan_cnhw_input(g, &st->per);
        else {
            g->tx_slot = plan_take(&st->per, g->in_size);
            g->y_slot = plan_take(&st->per, g->in_size);
        }
        if (g->in_size > st->dy)
            st->dy = g->in_size;
    }
    g->bn_fix = plan_take(&st->fixed, 2L * n->in.c);
}

static void batchnorm_init(FILE *out, const emit_plan *p, const ir_node *n)
{
    L(1, "for (int i = 0; i < %d; i++) {", n->in.c);
    L(2, "p[%s + i] = 1;", emit_tensor_of(p, n, "weight")->sym);
    L(2, "p[%s + i] = 0;", emit_tensor_of(p, n, "bias")->sym);
    L(2, "p[%s + i] = 0;", emit_tensor_of(p, n, "running_mean")->sym);
    L(2, "p[%s + i] = 1;", emit_tensor_of(p, n, "running_var")->sym);
    L(1, "}");
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
    L(1, "real_t *xt = ACT(c, %s), *yt = ACT(c, %s);", g->tx_sym, g->y_sym);
    L(1, "real_t *mean = FIX(c, %s), *invstd = mean + %d;", g->bn_sym, f);
    L(1, "rows_to_cnhw(x, %d, B, 1, xt);", f);
    L(1, "if (mode == ADVCC_EVAL)");
    L(2, "batchnorm_forward_eval(xt, %d, B, c->params + %s, c->params + %s, c->params + %s, c->params + %s, yt);",
      f, gm->sym, bt->sym, rm->sym, rv->sym);
    L(1, "else");
    L(2, "batchnorm_forward_train(xt, %d, B, c->params + %s, c->params + %s, c->params + %s, c->params + %s, mode == ADVCC_TRAIN, mean, invstd, yt);",
      f, gm->sym, bt->sym, rm->sym, rv->sym);
    L(1, "cnhw_to_rows(yt, %d, B, 1, ACT(c, %s));", f, g->out_sym);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "x");
    emit_cite(out, 1, n);
    L(1, "/* the gradient transposed to [%d][B], through the kernel in place, and back */", f);
    L(1, "const real_t *xt = ACT(c, %s);", g->tx_sym);
    L(1, "const real_t *mean = FIX(c, %s), *invstd = mean + %d;", g->bn_sym, f);
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

static void batchnorm_group(FILE *out, const emit_plan *p, const emit_group *g)
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
    L(1, "real_t *mean = FIX(c, %s), *invstd = mean + %d;", g->bn_sym, n->in.c);
    L(1, "if (mode == ADVCC_EVAL)");
    L(2, "batchnorm_forward_eval(x, %d, B * %ld, c->params + %s, c->params + %s, c->params + %s, c->params + %s, ACT(c, %s));",
      n->in.c, hw, gm->sym, bt->sym, rm->sym, rv->sym, g->out_sym);
    L(1, "else");
    L(2, "batchnorm_forward_train(x, %d, B * %ld, c->params + %s, c->params + %s, c->params + %s, c->params + %s, mode == ADVCC_TRAIN, mean, invstd, ACT(c, %s));",
      n->in.c, hw, gm->sym, bt->sym, rm->sym, rv->sym, g->out_sym);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "");
    L(1, "const real_t *mean = FIX(c, %s), *invstd = mean + %d;", g->bn_sym, n->in.c);
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

static int batchnorm_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    (void)q;
    snprintf(buf, len, "nn.BatchNorm%dd(%d, eps=1e-5, momentum=0.1)", n->in.flat ? 1 : 2, n->in.c);
    return 0;
}

const layer_kind kind_batchnorm = {
    .name = "batchnorm",
    .op = IR_BATCHNORM,
    .prefix = "bn",
    .params = batchnorm_params,
    .n_params = sizeof batchnorm_params / sizeof batchnorm_params[0],
    .usage = "batchnorm",
    .flags = KIND_BN | KIND_LAYOUT,
    .runtime = "ADVCC_LAYER_BATCHNORM",
    .count = batchnorm_count,
    .tensors = batchnorm_tensors,
    .cnhw_input = batchnorm_cnhw,
    .out_layout = -1,
    .plan = batchnorm_plan,
    .init = batchnorm_init,
    .group = batchnorm_group,
    .torch = batchnorm_torch,
};
