/* kind_pool.c - the pools, `avgpool K [stride=K]` and `maxpool K
 * [stride=K]`, without padding: their shape, the arena of a max pool's
 * argmax, and their group alone (runtime/pool.c's kernels); a pool right
 * after a convolution is written inline in the conv group's epilogue
 * (kind_conv.c).  Also what the windowed kinds share: an image input and
 * the output side of a window. */
#include "kind.h"

#include <jansson.h>

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec pool_params[] = {
    { "k", PT_INT, 1, 1, 1, 1 << 12, 0, NULL },
    { "stride", PT_INT, 0, 0, 1, 1 << 12, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

int kind_need_image(const ir_node *n, const ir_node *prev)
{
    if (!n->in.flat)
        return 0;
    diag_error(n->loc, "%s needs an image, but its input is a flat vector of %d%s%s%s",
               kind_of(n->op)->name, n->in.c, prev ? " (from " : "", prev ? prev->name : "",
               prev ? ")" : "");
    return -1;
}

long long kind_window_out(long long n, int k, int s, int p)
{
    return (n + 2LL * p - k) / s + 1;
}

static int pool_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    (void)loc;
    n->kh = n->kw = (int)kind_arg_num(k, v, "k", 1);
    n->stride_h = n->stride_w = (int)kind_arg_num(k, v, "stride", n->kh);
    return 0;
}

static int pool_shape(const ir_model *m, const ir_node *n, const ir_node *prev, ir_shape *out)
{
    (void)m;
    const ir_shape in = n->in;
    if (kind_need_image(n, prev) != 0)
        return -1;
    if (n->kh > in.h || n->kw > in.w) {
        diag_error(n->loc, "pool window %dx%d is larger than its input %dx%d",
                   n->kh, n->kw, in.h, in.w);
        return -1;
    }
    long long h = kind_window_out(in.h, n->kh, n->stride_h, 0);
    long long w = kind_window_out(in.w, n->kw, n->stride_w, 0);
    if (h <= 0 || w <= 0) {
        diag_error(n->loc, "%s output would be %lldx%lld", kind_of(n->op)->name, h, w);
        return -1;
    }
    out->h = (int)h;
    out->w = (int)w;
    return 0;
}

/* Alone, an NCHW input converted; a max pool's argmax offsets (ints). */
static void pool_plan(emit_plan *p, emit_group *g, const ir_node *n, plan_state *st)
{
    (void)p;
    if (n == g->main)
        emit_plan_cnhw_input(g, &st->per);
    if (n->op == IR_MAXPOOL) {
        g->argmax_slot = plan_take(&st->per, (long)n->out.c * n->out.h * n->out.w);
    }
}

static void pool_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    (void)p;
    const ir_node *n = g->main;
    const int max = n->op == IR_MAXPOOL;
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    if (max)
        L(1, "maxpool_forward(x, %d * B, %d, %d, %d, %d, %d, %d, ACT(c, %s), (int *)ACT(c, %s));",
          n->in.c, n->in.h, n->in.w, n->kh, n->stride_h, n->out.h, n->out.w,
          g->out_sym, g->argmax_sym);
    else
        L(1, "avgpool_forward(x, %d * B, %d, %d, %d, %d, %d, %d, ACT(c, %s));",
          n->in.c, n->in.h, n->in.w, n->kh, n->stride_h, n->out.h, n->out.w,
          g->out_sym);
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
        L(1, "maxpool_backward(dout, (const int *)ACT(c, %s), %d * B, %d, %d, %d, %d, dx);",
          g->argmax_sym, n->in.c, n->in.h, n->in.w, n->out.h, n->out.w);
    else
        L(1, "avgpool_backward(dout, %d * B, %d, %d, %d, %d, %d, %d, dx);",
          n->in.c, n->in.h, n->in.w, n->kh, n->stride_h, n->out.h, n->out.w);
    L(0, "}");
}

static int pool_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    (void)q;
    snprintf(buf, len, "nn.%s(%d, stride=%d)", n->op == IR_MAXPOOL ? "MaxPool2d" : "AvgPool2d",
             n->kh, n->stride_h);
    return 0;
}

static void pool_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "k", json_integer(n->kh));
    json_object_set_new(o, "stride", json_integer(n->stride_h));
}

/* The two differ in their names alone. */
#define POOL_KIND(kname, kop, layer)                                            \
    {                                                                           \
        .name = kname,                                                          \
        .op = kop,                                                              \
        .prefix = "pool",                                                       \
        .params = pool_params,                                                  \
        .n_params = sizeof pool_params / sizeof pool_params[0],                 \
        .usage = kname " K [stride=K]",                                         \
        .flags = KIND_POOL | KIND_LAYOUT,                                       \
        .runtime = layer,                                                       \
        .lower = pool_lower,                                                    \
        .shape = pool_shape,                                                    \
        .cnhw_input = kind_cnhw_always,                                         \
        .out_layout = -1,                                                       \
        .plan = pool_plan,                                                      \
        .group = pool_group,                                                    \
        .torch = pool_torch,                                                    \
        .settings = pool_settings,                                              \
    }

const layer_kind kind_avgpool = POOL_KIND("avgpool", IR_AVGPOOL, "ADVCC_LAYER_AVGPOOL");
const layer_kind kind_maxpool = POOL_KIND("maxpool", IR_MAXPOOL, "ADVCC_LAYER_MAXPOOL");
