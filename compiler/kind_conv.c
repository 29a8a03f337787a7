/* kind_conv.c - the convolution, `conv OUT K [stride=1] [pad=0|N|same|valid]
 * [bias=1|0]`: its parameters and lowering, its shape (an image in, a
 * kernel no larger than the padded input), its weight and bias, and its
 * group: conv (im2col + sgemm in the runtime) with its bias, then
 * BatchNorm, activation (the activation's own fragments, kind.h) and pool
 * written inline as one pass over the convolution's output; the backward
 * mirrors it in two passes (activation and pool, then BatchNorm) before the
 * weight and input gradients' sgemms.  A quantised weight is rounded into
 * the arena first and both sgemms use the rounded copy (emit_quant.c). */
#include "kind.h"

#include <jansson.h>

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec conv_params[] = {
    { "out", PT_INT, 1, 1, 1, 1 << 20, 0, NULL },
    { "k", PT_INT, 2, 1, 1, 1 << 12, 0, NULL },
    { "stride", PT_INT, 0, 0, 1, 1 << 12, 0, NULL },
    { "pad", PT_PAD, 0, 0, 0, 1 << 12, 0, NULL },
    { "bias", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static int conv_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    (void)loc;
    n->out_c = (int)kind_arg_num(k, v, "out", 1);
    n->out_features = n->out_c;
    n->k = (int)kind_arg_num(k, v, "k", 1);
    n->stride = (int)kind_arg_num(k, v, "stride", 1);
    n->bias = (int)kind_arg_num(k, v, "bias", 1);
    const param_val *pad = kind_arg(k, v, "pad");
    if (pad->given && pad->num == PARAM_SAME) {
        if (n->k % 2 == 0) {
            diag_error(pad->loc, "pad=same needs an odd kernel size, got %d", n->k);
            return -1;
        }
        n->pad = (n->k - 1) / 2;
    } else {
        n->pad = pad->given ? (int)pad->num : 0;
    }
    return 0;
}

static int conv_shape(const ir_model *m, const ir_node *n, const ir_node *prev, ir_shape *out)
{
    (void)m;
    const ir_shape in = n->in;
    if (kind_need_image(n, prev) != 0)
        return -1;
    if (n->k > in.h + 2 * n->pad || n->k > in.w + 2 * n->pad) {
        diag_error(n->loc, "kernel %dx%d is larger than its %sinput %dx%d",
                   n->k, n->k, n->pad ? "padded " : "", in.h + 2 * n->pad, in.w + 2 * n->pad);
        return -1;
    }
    long long h = kind_window_out(in.h, n->k, n->stride, n->pad);
    long long w = kind_window_out(in.w, n->k, n->stride, n->pad);
    if (h <= 0 || w <= 0) {
        diag_error(n->loc, "conv output would be %lldx%lld", h, w);
        return -1;
    }
    out->c = n->out_c;
    out->h = (int)h;
    out->w = (int)w;
    return 0;
}

static long long conv_count(const ir_node *n, long long *state)
{
    (void)state;
    return (long long)n->out_c * n->in.c * n->k * n->k + (n->bias ? n->out_c : 0);
}

static void conv_tensors(emit_plan *p, const ir_node *n)
{
    emit_add_tensor(p, n, "weight", "ADVCC_WEIGHT", 4, n->out_c, n->in.c, n->k, n->k);
    if (n->bias)
        emit_add_tensor(p, n, "bias", "ADVCC_BIAS", 1, n->out_c, 0, 0, 0);
}

/* Whole feature maps: the power iteration works on the true operator
 * (docs/METHODS.md 5, Algorithm 4). */
static void conv_spectral_state(emit_plan *p, const ir_node *n, const char *u, const char *v)
{
    emit_add_tensor(p, n, u, "ADVCC_STATE", 3, n->out.c, n->out.h, n->out.w, 0);
    emit_add_tensor(p, n, v, "ADVCC_STATE", 3, n->in.c, n->in.h, n->in.w, 0);
}

/* The output before the epilogue, im2col, the quantised weight, the fused
 * activation's per-channel sums. */
static void conv_plan(emit_plan *p, emit_group *g, const ir_node *n, plan_state *st)
{
    long ysz = (long)n->out.c * n->out.h * n->out.w;
    long c = (long)n->in.c * n->k * n->k * n->out.h * n->out.w;
    if (c > st->col)
        st->col = c;
    if (g->bn || g->act || g->pool) {
        g->y_slot = st->per;
        st->per += ysz;
    }
    if (ysz > st->dy)
        st->dy = ysz;
    if (ysz > st->grad)
        st->grad = ysz;
    p->flops += 2LL * n->out_c * n->in.c * n->k * n->k * n->out.h * n->out.w;
    emit_wquant_plan(p, g, &st->fixed);
    if (g->act && kind_of(g->act->op)->fused_fix) {
        g->act_fix = st->fixed;
        st->fixed += (long)kind_of(g->act->op)->fused_fix * n->out_c;
    }
    emit_plan_cnhw_input(g, &st->per);
}

static int conv_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    snprintf(buf, len, "%s(%d, %d, %d, stride=%d, padding=%d, bias=%s%s)",
             q[0] ? "QuantConv2d" : "nn.Conv2d", n->in.c, n->out_c, n->k, n->stride, n->pad,
             n->bias ? "True" : "False", q);
    return 0;
}

/* The descriptor of the group's BatchNorm (runtime/epilogue.h). */
static void emit_bn_descriptor(FILE *out, const emit_plan *p, const ir_node *bn,
                               long hw)
{
    emit_cite(out, 0, bn);
    L(0, "static const bn_epilogue %s_epilogue = {", bn->name);
    L(1, ".channels = %d,", bn->in.c);
    L(1, ".plane = %ld,", hw);
    L(1, ".gamma = %s,", emit_tensor_of(p, bn, "weight")->sym);
    L(1, ".beta = %s,", emit_tensor_of(p, bn, "bias")->sym);
    L(1, ".running_mean = %s,", emit_tensor_of(p, bn, "running_mean")->sym);
    L(1, ".running_var = %s,", emit_tensor_of(p, bn, "running_var")->sym);
    L(0, "};");
    L(0, "%s", "");
}

/* BatchNorm batch statistics (training modes) or running ones (eval). */
static void emit_bn_stats(FILE *out, const ir_node *bn)
{
    emit_cite(out, 1, bn);
    L(1, "bn_epilogue_stats(&%s_epilogue, c->params, y, B, mode != ADVCC_EVAL, "
         "mode == ADVCC_TRAIN, mean, invstd);", bn->name);
}

/* The per-channel scale s and shift t of BatchNorm's affine map y*s + t. */
static void emit_bn_affine(FILE *out, const ir_node *bn, int ind)
{
    if (!bn)
        return;
    L(ind, "const real_t s = bn_epilogue_scale(&%s_epilogue, c->params, invstd, ch);", bn->name);
    L(ind, "const real_t t = bn_epilogue_shift(&%s_epilogue, c->params, mean, s, ch);", bn->name);
}

/* The parallel clause of a loop over the channels of the group's output. */
static void emit_channel_loop(FILE *out, const ir_node *n)
{
    L(1, "#pragma omp parallel for schedule(static) if ((long)B * %ld >= PAR_MIN_ELEMS)",
      (long)n->out_c * n->out.h * n->out.w);
    L(1, "for (int ch = 0; ch < %d; ch++) {", n->out_c);
}

/* z = BatchNorm(y) then the activation, for the element at index expr. */
static void emit_z(FILE *out, const emit_plan *p, const emit_group *g, int ind,
                   const char *at)
{
    if (g->bn)
        L(ind, "real_t z = yp[%s] * s + t;", at);
    else
        L(ind, "real_t z = yp[%s];", at);
    if (g->act)
        kind_of(g->act->op)->fused(out, p, g, KIND_FWD_APPLY, ind, NULL);
}

static void emit_forward(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *b = emit_tensor_of(p, n, "bias");
    const int epilogue = g->bn || g->act || g->pool;
    const long hw = (long)n->out.h * n->out.w;
    char w[64];
    emit_weight_expr(p, g, w, sizeof w);

    L(0, "static void g%d_forward(advcc_ctx *c, const real_t *x, int B, int mode)", g->index);
    L(0, "{");
    if (!g->bn)
        L(1, "(void)mode;");
    L(1, "real_t *y = ACT(c, %ld); /* %s output, %dx%dx%d an image */", epilogue ? g->y_slot : g->out_slot,
      n->name, n->out.c, n->out.h, n->out.w);
    emit_cite(out, 1, n);
    emit_wquant_forward(out, p, g, 1);
    L(1, "conv_forward(x, %d, B, %d, %d, %s, %s%s, %d, %d, %d, %d, %d, %d, ACT(c, COL_SLOT), y);",
      n->in.c, n->in.h, n->in.w, w, b ? "c->params + " : "NULL",
      b ? b->sym : "", n->out_c, n->k, n->stride, n->pad, n->out.h, n->out.w);
    if (!epilogue) {
        L(0, "}");
        return;
    }
    {
        const ir_shape o = p->m->nodes[g->last].out;
        L(1, "real_t *o = ACT(c, %ld); /* the group's output, %dx%dx%d an image */", g->out_slot,
          o.c, o.h, o.w);
    }
    if (g->bn) {
        L(1, "real_t *mean = FIX(c, %ld), *invstd = mean + %d; /* kept for backward */", g->bn_fix, n->out_c);
        emit_bn_stats(out, g->bn);
    }
    if (g->act) {
        emit_cite(out, 1, g->act);
        kind_of(g->act->op)->fused(out, p, g, KIND_FWD_SETUP, 1, NULL);
    }
    if (g->pool)
        emit_cite(out, 1, g->pool);
    if (g->pool && g->pool->op == IR_MAXPOOL)
        L(1, "int *am = (int *)ACT(c, %ld);", g->argmax_slot);
    emit_channel_loop(out, n);
    emit_bn_affine(out, g->bn, 2);
    L(2, "for (int img = 0; img < B; img++) {");
    L(3, "const size_t plane = (size_t)ch * B + img;");
    L(3, "const real_t *yp = y + plane * %ld;", hw);
    if (g->pool) {
        const ir_node *pl = g->pool;
        const long ohw = (long)pl->out.h * pl->out.w;
        const int max = pl->op == IR_MAXPOOL;
        L(3, "real_t *op = o + plane * %ld;", ohw);
        if (max)
            L(3, "int *ap = am + plane * %ld;", ohw);
        L(3, "for (int i = 0; i < %d; i++)", pl->out.h);
        L(4, "for (int j = 0; j < %d; j++) {", pl->out.w);
        L(5, max ? "real_t acc = -INFINITY;" : "real_t acc = 0;");
        if (max)
            L(5, "int arg = 0;");
        L(5, "for (int di = 0; di < %d; di++)", pl->k);
        L(6, "for (int dj = 0; dj < %d; dj++) {", pl->k);
        L(7, "const int at = (i * %d + di) * %d + j * %d + dj;", pl->stride, n->out.w, pl->stride);
        emit_z(out, p, g, 7, "at");
        if (max) {
            L(7, "if (z > acc) {");
            L(8, "acc = z;");
            L(8, "arg = at;");
            L(7, "}");
        } else {
            L(7, "acc += z;");
        }
        L(6, "}");
        if (max) {
            L(5, "op[i * %d + j] = acc;", pl->out.w);
            L(5, "ap[i * %d + j] = arg;", pl->out.w);
        } else {
            L(5, "op[i * %d + j] = acc * (real_t)%.17g;", pl->out.w, 1.0 / (pl->k * pl->k));
        }
        L(4, "}");
    } else {
        L(3, "real_t *op = o + plane * %ld;", hw);
        L(3, "for (int i = 0; i < %ld; i++) {", hw);
        emit_z(out, p, g, 4, "i");
        L(4, "op[i] = z;");
        L(3, "}");
    }
    L(2, "}");
    L(1, "}");
    L(0, "}");
}

/* d = dL/dz of the element at index at, masked by the activation. */
static void emit_dz(FILE *out, const emit_plan *p, const emit_group *g, int ind,
                    const char *at, const char *grad)
{
    if (g->act) {
        if (g->bn)
            L(ind, "const real_t z = yp[%s] * s + t;", at);
        else
            L(ind, "const real_t z = yp[%s];", at);
        kind_of(g->act->op)->fused(out, p, g, KIND_BWD_GRAD, ind, grad);
    } else {
        L(ind, "const real_t d = %s;", grad);
    }
}

static void emit_backward(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *w = emit_tensor_of(p, n, "weight");
    const emit_tensor *b = emit_tensor_of(p, n, "bias");
    const int epilogue = g->bn || g->act || g->pool;
    const layer_kind *act = g->act ? kind_of(g->act->op) : NULL;
    const long hw = (long)n->out.h * n->out.w;
    char wexpr[64];
    emit_weight_expr(p, g, wexpr, sizeof wexpr);

    L(0, "static void g%d_backward(advcc_ctx *c, const real_t *x, const real_t *dout, real_t *dx, int B, int mode, int want_params)", g->index);
    L(0, "{");
    if (!g->bn)
        L(1, "(void)mode;");
    if (epilogue) {
        if (g->bn || g->act)
            L(1, "const real_t *y = ACT(c, %ld);", g->y_slot);
        L(1, "real_t *dy = ACT(c, DY_SLOT);");
        if (g->bn)
            L(1, "const real_t *mean = FIX(c, %ld), *invstd = mean + %d;", g->bn_fix, n->out_c);
        const ir_node *pl = g->pool;
        const int overlap = pl && pl->stride < pl->k;
        if (pl && pl->op == IR_MAXPOOL)
            L(1, "const int *am = (const int *)ACT(c, %ld);", g->argmax_slot);
        if (act)
            act->fused(out, p, g, KIND_BWD_SETUP, 1, NULL);
        L(1, "/* through the pool and activation, then BatchNorm */");
        emit_channel_loop(out, n);
        emit_bn_affine(out, g->act ? g->bn : NULL, 2);
        if (act)
            act->fused(out, p, g, KIND_BWD_CHANNEL, 2, NULL);
        L(2, "for (int img = 0; img < B; img++) {");
        L(3, "const size_t plane = (size_t)ch * B + img;");
        if (g->act)
            L(3, "const real_t *yp = y + plane * %ld;", hw);
        L(3, "real_t *dp = dy + plane * %ld;", hw);
        if (pl) {
            const long ohw = (long)pl->out.h * pl->out.w;
            const int covers = pl->out.h * pl->stride == n->out.h &&
                               pl->out.w * pl->stride == n->out.w &&
                               pl->k == pl->stride;
            L(3, "const real_t *gp = dout + plane * %ld;", ohw);
            if (pl->op == IR_MAXPOOL || !covers)
                L(3, "memset(dp, 0, sizeof(real_t) * %ld);", hw);
            if (pl->op == IR_MAXPOOL) {
                L(3, "const int *ap = am + plane * %ld;", ohw);
                L(3, "for (int i = 0; i < %ld; i++) {", ohw);
                L(4, "const int at = ap[i];");
                emit_dz(out, p, g, 4, "at", "gp[i]");
                L(4, "dp[at] %s d;", overlap ? "+=" : "=");
                L(3, "}");
            } else {
                L(3, "for (int i = 0; i < %d; i++)", pl->out.h);
                L(4, "for (int j = 0; j < %d; j++) {", pl->out.w);
                L(5, "const real_t g = gp[i * %d + j] * (real_t)%.17g;", pl->out.w, 1.0 / (pl->k * pl->k));
                L(5, "for (int di = 0; di < %d; di++)", pl->k);
                L(6, "for (int dj = 0; dj < %d; dj++) {", pl->k);
                L(7, "const int at = (i * %d + di) * %d + j * %d + dj;", pl->stride, n->out.w, pl->stride);
                emit_dz(out, p, g, 7, "at", "g");
                L(7, "dp[at] %s d;", overlap ? "+=" : "=");
                L(6, "}");
                L(4, "}");
            }
        } else {
            L(3, "const real_t *gp = dout + plane * %ld;", hw);
            L(3, "for (int i = 0; i < %ld; i++) {", hw);
            emit_dz(out, p, g, 4, "i", "gp[i]");
            L(4, "dp[i] = d;");
            L(3, "}");
        }
        L(2, "}");
        if (act)
            act->fused(out, p, g, KIND_BWD_CHANNEL_END, 2, NULL);
        if (g->bn) {
            emit_cite(out, 2, g->bn);
            L(2, "bn_epilogue_backward(&%s_epilogue, c->params, want_params ? c->grads : NULL, "
                 "y, dy, B, mode != ADVCC_EVAL, mean, invstd, ch);", g->bn->name);
        }
        L(1, "}");
        if (act)
            act->fused(out, p, g, KIND_BWD_END, 1, NULL);
    } else {
        L(1, "const real_t *dy = dout;");
    }
    emit_cite(out, 1, n);
    emit_wquant_recall(out, g, 1);
    L(1, g->wq_fix >= 0 ? "if (want_params) {" : "if (want_params)");
    L(2, "conv_backward_params(x, dy, %d, B, %d, %d, %d, %d, %d, %d, %d, %d, ACT(c, COL_SLOT), c->grads + %s, %s%s);",
      n->in.c, n->in.h, n->in.w, n->out_c, n->k, n->stride, n->pad,
      n->out.h, n->out.w, w->sym, b ? "c->grads + " : "NULL", b ? b->sym : "");
    if (g->wq_fix >= 0) {
        emit_wquant_backward(out, p, g, 2);
        L(1, "}");
    }
    L(1, "if (dx)");
    L(2, "conv_backward_input(dy, %s, %d, B, %d, %d, %d, %d, %d, %d, %d, %d, ACT(c, COL_SLOT), dx);",
      wexpr, n->in.c, n->in.h, n->in.w, n->out_c, n->k, n->stride, n->pad,
      n->out.h, n->out.w);
    L(0, "}");
}

static void conv_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    if (g->bn)
        emit_bn_descriptor(out, p, g->bn, (long)g->main->out.h * g->main->out.w);
    emit_forward(out, p, g);
    L(0, "%s", "");
    emit_backward(out, p, g);
}

static void conv_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "out_channels", json_integer(n->out_c));
    json_object_set_new(o, "k", json_integer(n->k));
    json_object_set_new(o, "stride", json_integer(n->stride));
    json_object_set_new(o, "pad", json_integer(n->pad));
    json_object_set_new(o, "bias", json_boolean(n->bias));
    json_object_set_new(o, "weight_bits", json_integer(n->wquant.bits));
}

const layer_kind kind_conv = {
    .name = "conv",
    .op = IR_CONV,
    .prefix = "conv",
    .params = conv_params,
    .n_params = sizeof conv_params / sizeof conv_params[0],
    .usage = "conv OUT K [stride=1] [pad=0|N|same|valid] [bias=1|0]",
    .flags = KIND_WEIGHTED | KIND_LAYOUT | KIND_FEATURES,
    .absorbs = KIND_BN | KIND_ACT | KIND_POOL,
    .runtime = "ADVCC_LAYER_CONV",
    .lower = conv_lower,
    .shape = conv_shape,
    .count = conv_count,
    .tensors = conv_tensors,
    .spectral_state = conv_spectral_state,
    .cnhw_input = kind_cnhw_always,
    .out_layout = -1,
    .plan = conv_plan,
    .init = emit_init_uniform,
    .group = conv_group,
    .torch = conv_torch,
    .settings = conv_settings,
};
