/* kind_gap.c - global average pooling, `gap`: each channel of an image
 * averaged over all its h x w positions, into a flat vector of c features
 * (docs/METHODS.md 1), PyTorch's nn.AdaptiveAvgPool2d(1) then a flatten.
 * A layer of its own rather than `avgpool K` with K the input's side: it
 * takes no window, works on any h x w, and flattens, so it reads in any
 * layout and writes rows.  Its backward spreads each feature's gradient
 * evenly over the channel's positions. */
#include "kind.h"

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec gap_params[] = {
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static int gap_shape(const ir_model *m, const ir_node *n, const ir_node *prev, ir_shape *out)
{
    (void)m;
    if (kind_need_image(n, prev) != 0)
        return -1;
    out->h = out->w = 1;
    out->flat = 1;
    return 0;
}

/* The loops over images and channels, and the plane of (img, ch) in the
 * input's layout. */
static void gap_loops(FILE *out, const emit_group *g)
{
    const ir_node *n = g->main;
    L(1, "for (int img = 0; img < B; img++)");
    L(2, "for (int ch = 0; ch < %d; ch++) {", n->in.c);
    if (g->in_layout == LAYOUT_CNHW)
        L(3, "const size_t plane = (size_t)ch * B + img;");
    else
        L(3, "const size_t plane = (size_t)img * %d + ch;", n->in.c);
}

static void gap_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    (void)p;
    const ir_node *n = g->main;
    const long hw = (long)n->in.h * n->in.w;
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    L(1, "real_t *y = ACT(c, %s);", g->out_sym);
    gap_loops(out, g);
    L(3, "const real_t *xp = x + plane * %ld;", hw);
    L(3, "double s = 0;");
    L(3, "for (int i = 0; i < %ld; i++)", hw);
    L(4, "s += xp[i];");
    L(3, "y[(size_t)img * %d + ch] = (real_t)(s / %ld);", n->in.c, hw);
    L(2, "}");
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "c x mode want_params");
    L(1, "if (!dx)");
    L(2, "return;");
    gap_loops(out, g);
    L(3, "real_t *dxp = dx + plane * %ld;", hw);
    L(3, "const real_t d = dout[(size_t)img * %d + ch] / %ld;", n->in.c, hw);
    L(3, "for (int i = 0; i < %ld; i++)", hw);
    L(4, "dxp[i] = d;");
    L(2, "}");
    L(0, "}");
}

static int gap_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    (void)n;
    (void)q;
    snprintf(buf, len, "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())");
    return 0;
}

const layer_kind kind_gap = {
    .name = "gap",
    .op = IR_GAP,
    .prefix = "gap",
    .params = gap_params,
    .n_params = sizeof gap_params / sizeof gap_params[0],
    .usage = "gap",
    .flags = KIND_LAYOUT,
    .runtime = "ADVCC_LAYER_GAP",
    .shape = gap_shape,
    .out_layout = LAYOUT_ROWS,
    .group = gap_group,
    .torch = gap_torch,
};
