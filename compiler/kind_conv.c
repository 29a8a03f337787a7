/* kind_conv.c - the convolution, `conv OUT K [stride=1] [pad=0|N|same|valid]
 * [bias=1|0]`, where K, the stride and a numeric padding are each one
 * integer or a pair (height, width): `conv 64 (1, 3) pad=same`.  Its
 * parameters and lowering, its shape (an image in, a kernel no larger than
 * the padded input), its weight and bias, and its group: a constant
 * descriptor of the convolution with the BatchNorm, activation (its kind's
 * fused hook, kind.h) and pool it absorbed, and forward and backward
 * functions that hand it to runtime/conv_group.h, where the arithmetic is.
 * A quantised weight is rounded into the arena first and both sgemms use
 * the rounded copy (emit_quant.c). */
#include "kind.h"

#include <jansson.h>

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec conv_params[] = {
    { "out", PT_INT, 1, 1, 1, 1 << 20, 0, NULL },
    { "k", PT_PAIR, 2, 1, 1, 1 << 12, 0, NULL },
    { "stride", PT_PAIR, 0, 0, 1, 1 << 12, 0, NULL },
    { "pad", PT_PAD, 0, 0, 0, 1 << 12, 0, NULL },
    { "bias", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

/* A pair of sizes: "5" when both are equal, else rect (a format of two
 * ints): "1x3" in messages, "(1, 3)" for PyTorch. */
static const char *conv_pair_text(int h, int w, const char *rect, char *buf, size_t len)
{
    if (h == w)
        snprintf(buf, len, "%d", h);
    else
        snprintf(buf, len, rect, h, w);
    return buf;
}

static int conv_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    (void)loc;
    const param_val *kk = kind_arg(k, v, "k"), *st = kind_arg(k, v, "stride");
    const param_val *pad = kind_arg(k, v, "pad");
    n->out_c = (int)kind_arg_num(k, v, "out", 1);
    n->out_features = n->out_c;
    n->kh = (int)kk->items[0];
    n->kw = (int)kk->items[1];
    n->stride_h = st->given ? (int)st->items[0] : 1;
    n->stride_w = st->given ? (int)st->items[1] : 1;
    n->bias = (int)kind_arg_num(k, v, "bias", 1);
    if (pad->given && pad->num == PARAM_SAME) {
        /* the input's size on each axis at stride 1: odd sides only */
        if (n->kh % 2 == 0 || n->kw % 2 == 0) {
            char size[32];
            diag_error(pad->loc, "pad=same needs an odd kernel size, got %s",
                       conv_pair_text(n->kh, n->kw, "%dx%d", size, sizeof size));
            return -1;
        }
        n->pad_h = (n->kh - 1) / 2;
        n->pad_w = (n->kw - 1) / 2;
    } else {
        n->pad_h = pad->given ? (int)pad->items[0] : 0;
        n->pad_w = pad->given ? (int)pad->items[1] : 0;
    }
    return 0;
}

static int conv_shape(const ir_model *m, const ir_node *n, const ir_node *prev, ir_shape *out)
{
    (void)m;
    const ir_shape in = n->in;
    if (kind_need_image(n, prev) != 0)
        return -1;
    const int ph = in.h + 2 * n->pad_h, pw = in.w + 2 * n->pad_w;
    if (n->kh > ph || n->kw > pw) {
        diag_error(n->loc, "kernel %dx%d is larger than its %sinput %dx%d", n->kh, n->kw,
                   n->pad_h || n->pad_w ? "padded " : "", ph, pw);
        return -1;
    }
    long long h = kind_window_out(in.h, n->kh, n->stride_h, n->pad_h);
    long long w = kind_window_out(in.w, n->kw, n->stride_w, n->pad_w);
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
    return (long long)n->out_c * n->in.c * n->kh * n->kw + (n->bias ? n->out_c : 0);
}

static void conv_tensors(emit_plan *p, const ir_node *n)
{
    emit_add_tensor(p, n, "weight", "ADVCC_WEIGHT", 4, n->out_c, n->in.c, n->kh, n->kw);
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
    long c = (long)n->in.c * n->kh * n->kw * n->out.h * n->out.w;
    if (c > st->col)
        st->col = c;
    if (g->bn || g->act || g->pool) {
        g->y_slot = plan_take(&st->per, ysz);
    }
    if (ysz > st->dy)
        st->dy = ysz;
    if (ysz > st->grad)
        st->grad = ysz;
    p->flops += 2LL * n->out_c * n->in.c * n->kh * n->kw * n->out.h * n->out.w;
    emit_wquant_plan(p, g, &st->fixed);
    if (g->act && kind_of(g->act->op)->fused_fix) {
        g->act_fix = plan_take(&st->fixed, (long)kind_of(g->act->op)->fused_fix * n->out_c);
    }
    emit_plan_cnhw_input(g, &st->per);
}

static int conv_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    char k[32], st[32], pad[32];
    snprintf(buf, len, "%s(%d, %d, %s, stride=%s, padding=%s, bias=%s%s)",
             q[0] ? "QuantConv2d" : "nn.Conv2d", n->in.c, n->out_c,
             conv_pair_text(n->kh, n->kw, "(%d, %d)", k, sizeof k),
             conv_pair_text(n->stride_h, n->stride_w, "(%d, %d)", st, sizeof st),
             conv_pair_text(n->pad_h, n->pad_w, "(%d, %d)", pad, sizeof pad),
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

/* The group's descriptor (runtime/conv_group.h): the convolution's shape
 * and tensors, then each fused layer's part, under the spec line it came
 * from, then where its slots are. */
static void emit_group_descriptor(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *b = emit_tensor_of(p, n, "bias");
    emit_cite(out, 0, n);
    L(0, "static const conv_group g%d = {", g->index);
    L(1, ".conv = {");
    L(2, ".in_c = %d, .in_h = %d, .in_w = %d,", n->in.c, n->in.h, n->in.w);
    L(2, ".out_c = %d, .kh = %d, .kw = %d,", n->out_c, n->kh, n->kw);
    L(2, ".stride_h = %d, .stride_w = %d, .pad_h = %d, .pad_w = %d,", n->stride_h, n->stride_w,
      n->pad_h, n->pad_w);
    L(2, ".out_h = %d, .out_w = %d,", n->out.h, n->out.w);
    L(1, "},");
    L(1, ".weight = %s, .bias = %s, .wq = %s,", emit_tensor_of(p, n, "weight")->sym,
      b ? b->sym : "-1", g->wq_sym[0] ? g->wq_sym : "-1");
    if (g->bn) {
        emit_cite(out, 1, g->bn);
        L(1, ".bn = &%s_epilogue, .stats = %s,", g->bn->name, g->bn_sym);
    }
    if (g->act) {
        emit_cite(out, 1, g->act);
        kind_of(g->act->op)->fused(out, p, g, 1);
    }
    if (g->pool) {
        const ir_node *pl = g->pool;
        emit_cite(out, 1, pl);
        L(1, ".pool = %s, .pool_k = %d, .pool_stride = %d, .pool_h = %d, .pool_w = %d,",
          pl->op == IR_MAXPOOL ? "CONV_POOL_MAX" : "CONV_POOL_AVG", pl->kh, pl->stride_h,
          pl->out.h, pl->out.w);
    }
    L(1, ".per_image = COL_SLOT, .col = COL_SLOT, .dy = DY_SLOT,");
    L(1, ".y = %s, .out = %s, .argmax = %s,", g->y_sym[0] ? g->y_sym : g->out_sym, g->out_sym,
      g->argmax_sym[0] ? g->argmax_sym : "-1");
    L(0, "};");
    L(0, "%s", "");
}

/* The forward: the weight's quantisation, the convolution, and the
 * epilogue channel by channel.  The loop over channels is here so that
 * each group's parallel region is its own (runtime/conv_group.h). */
static void emit_forward(FILE *out, const emit_plan *p, const emit_group *g)
{
    emit_group_head(out, g, 0, NULL);
    emit_wquant_forward(out, p, g, 1);
    L(1, "conv_group_conv(&g%d, c, x, B, mode);", g->index);
    if (g->bn || g->act || g->pool) {
        L(1, "#pragma omp parallel for schedule(static) if (conv_group_parallel(&g%d, B))", g->index);
        L(1, "for (int ch = 0; ch < g%d.conv.out_c; ch++)", g->index);
        L(2, "conv_group_forward_channel(&g%d, c, B, ch);", g->index);
    }
    L(0, "}");
}

static void conv_share_backward(FILE *out, const emit_group *g, int bottom, const char *grad,
                                const char *dx)
{
    if (bottom)
        L(1, "conv_group_backward_input(&g%d, c, %s, B, %s);", g->index, grad, dx);
    else
        L(1, "return conv_group_dy(&g%d, c, %s);", g->index, grad);
}

/* The backward: the epilogue channel by channel, then the convolution's
 * gradients and the weight quantiser's straight-through mask. */
static void emit_backward(FILE *out, const emit_plan *p, const emit_group *g)
{
    const int epilogue = g->bn || g->act || g->pool;
    emit_group_head(out, g, 1, epilogue ? NULL : "mode");
    if (epilogue) {
        L(1, "#pragma omp parallel for schedule(static) if (conv_group_parallel(&g%d, B))", g->index);
        L(1, "for (int ch = 0; ch < g%d.conv.out_c; ch++)", g->index);
        L(2, "conv_group_backward_channel(&g%d, c, dout, B, mode, want_params, ch);", g->index);
    }
    L(1, "conv_group_backward(&g%d, c, x, dout, dx, B, want_params);", g->index);
    if (g->wq_fix >= 0 && g->main->wquant.range == IR_QRANGE_FIXED) {
        L(1, "if (want_params) {");
        emit_wquant_backward(out, p, g, 2);
        L(1, "}");
    } else if (g->wq_fix >= 0) {
        emit_wquant_backward(out, p, g, 1);
    }
    L(0, "}");
}

static void conv_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    if (g->bn)
        emit_bn_descriptor(out, p, g->bn, (long)g->main->out.h * g->main->out.w);
    emit_group_descriptor(out, p, g);
    emit_forward(out, p, g);
    L(0, "%s", "");
    emit_backward(out, p, g);
}

/* An integer when both sides are equal, [height, width] otherwise. */
static json_t *conv_json_pair(int h, int w)
{
    return h == w ? json_integer(h) : json_pack("[ii]", h, w);
}

static void conv_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "out_channels", json_integer(n->out_c));
    json_object_set_new(o, "k", conv_json_pair(n->kh, n->kw));
    json_object_set_new(o, "stride", conv_json_pair(n->stride_h, n->stride_w));
    json_object_set_new(o, "pad", conv_json_pair(n->pad_h, n->pad_w));
    json_object_set_new(o, "bias", json_boolean(n->bias));
    json_object_set_new(o, "weight_bits", json_integer(n->wquant.bits));
}

const layer_kind kind_conv = {
    .name = "conv",
    .op = IR_CONV,
    .prefix = "conv",
    .params = conv_params,
    .n_params = sizeof conv_params / sizeof conv_params[0],
    .usage = "conv OUT K|(KH, KW) [stride=S|(SH, SW)] [pad=0|N|(PH, PW)|same|valid] [bias=1|0]",
    .flags = KIND_WEIGHTED | KIND_LAYOUT | KIND_FEATURES,
    .absorbs = KIND_BN | KIND_ACT | KIND_POOL,
    .runtime = "ADVCC_LAYER_CONV",
    .headers = "conv_group.h",
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
    .share_backward = conv_share_backward,
    .torch = conv_torch,
    .settings = conv_settings,
};
