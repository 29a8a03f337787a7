/* kind_flatten.c - `flatten`: an image into a flat vector (C*H*W
 * features), its rows in the NCHW order PyTorch's flatten gives, whatever
 * the layout it arrives in. */
#include "kind.h"

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec flatten_params[] = {
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static int flatten_shape(const ir_model *m, const ir_node *n, const ir_node *prev, ir_shape *out)
{
    (void)m;
    (void)prev;
    if (n->in.flat) {
        diag_error(n->loc, "flatten of an input that is already flat");
        return -1;
    }
    out->c = n->in.c * n->in.h * n->in.w;     /* bounded by SHAPE_MAX_ELEMS */
    out->h = out->w = 1;
    out->flat = 1;
    return 0;
}

static void flatten_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    (void)p;
    const ir_node *n = g->main;
    const long hw = (long)n->in.h * n->in.w;
    const long size = (long)n->in.c * hw;
    const int cnhw = g->in_layout == LAYOUT_CNHW;
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    if (cnhw)
        L(1, "cnhw_to_rows(x, %d, B, %ld, ACT(c, %s));", n->in.c, hw, g->out_sym);
    else
        L(1, "memcpy(ACT(c, %s), x, sizeof(real_t) * B * %ld);", g->out_sym, size);
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

static int flatten_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    (void)n;
    (void)q;
    snprintf(buf, len, "nn.Flatten()");
    return 0;
}

const layer_kind kind_flatten = {
    .name = "flatten",
    .op = IR_FLATTEN,
    .prefix = "flatten",
    .params = flatten_params,
    .n_params = sizeof flatten_params / sizeof flatten_params[0],
    .usage = "flatten",
    .flags = KIND_LAYOUT,
    .runtime = "ADVCC_LAYER_FLATTEN",
    .shape = flatten_shape,
    .out_layout = LAYOUT_ROWS,
    .group = flatten_group,
    .torch = flatten_torch,
};
