/* kind_add.c - the sum that ends a residual block, `residual { MAIN }
 * [shortcut { SHORTCUT }]`: never written as a layer, made by sema.c at the
 * keyword `residual`.  It reads the main path's end (src) and the
 * shortcut's (src2: the block's input for the identity), which must have
 * the same shape; it absorbs a following activation (`... } -> relu`).
 * Its backward writes the one gradient both paths get into dx; the
 * emitter hands it to the shortcut's end too (emit.c). */
#include "kind.h"

#include "diag.h"
#include "shape.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec add_params[] = {
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static int add_shape(const ir_model *m, const ir_node *n, const ir_node *prev, ir_shape *out)
{
    (void)prev;
    (void)out;
    ir_shape s = n->src2 >= 0 ? m->nodes[n->src2].out : m->input;
    if (s.c == n->in.c && s.h == n->in.h && s.w == n->in.w && s.flat == n->in.flat)
        return 0;
    char a[64], b[64], fix[96];
    if (n->in.flat)
        snprintf(fix, sizeof fix, "shortcut { linear %d }", n->in.c);
    else
        snprintf(fix, sizeof fix, "shortcut { conv %d 1 stride=S -> batchnorm }", n->in.c);
    diag_error(n->loc, "residual block: the main path gives %s but the shortcut gives %s; "
               "the shortcut must give %s too (a projection such as %s)",
               shape_text(n->in, a, sizeof a), shape_text(s, b, sizeof b), a, fix);
    return -1;
}

/* The pre-activation when the activation's backward reads it. */
static void add_plan(emit_plan *p, emit_group *g, const ir_node *n, plan_state *st)
{
    (void)p;
    (void)n;
    if (g->act && (kind_of(g->act->op)->flags & KIND_KEEPS_INPUT)) {
        g->y_slot = plan_take(&st->per, g->out_size);
    }
    if (g->out_size > st->dy)
        st->dy = g->out_size;
    /* a shortcut from a layer that writes the other layout (the model's
     * NCHW input, a conv's CNHW output) is converted */
    if ((g->in2_layout == LAYOUT_CNHW) != (g->in_layout == LAYOUT_CNHW)) {
        g->in2_cv_slot = plan_take(&st->per, g->out_size);
    }
}

static void add_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const layer_kind *act = g->act ? kind_of(g->act->op) : NULL;
    const int keep = act && (act->flags & KIND_KEEPS_INPUT);
    char shortcut[64], slot[64];
    if (g->in2_slot >= 0)
        snprintf(shortcut, sizeof shortcut, "ACT(c, %s)", g->in2_sym);
    else
        snprintf(shortcut, sizeof shortcut, "c->input");

    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    if (g->in2_cv_slot >= 0) {
        L(1, "/* the shortcut's end, in the main path's layout */");
        L(1, "%s(%s, %d, B, %d, ACT(c, %s));",
          g->in_layout == LAYOUT_CNHW ? "rows_to_cnhw" : "cnhw_to_rows", shortcut, n->in.c,
          n->in.h * n->in.w, g->in2_cv_sym);
        snprintf(shortcut, sizeof shortcut, "ACT(c, %s)", g->in2_cv_sym);
    }
    L(1, "real_t *o = ACT(c, %s);", g->out_sym);
    if (keep)
        L(1, "real_t *y = ACT(c, %s); /* kept for the activation's backward */", g->y_sym);
    L(1, "residual_add(x, %s, (long)B * %ld, %s);", shortcut, g->out_size, keep ? "y" : "o");
    if (act) {
        emit_cite(out, 1, g->act);
        act->call(out, p, g->act, 0, 1, keep ? "y" : "o", g->out_size, "o");
    }
    L(0, "}");
    L(0, "%s", "");

    emit_group_head(out, g, 1, act ? "x mode want_params" : "c x mode want_params");
    emit_cite(out, 1, n);
    if (!act) {
        L(1, "/* both paths get the sum's gradient */");
        L(1, "if (dx)");
        L(2, "memcpy(dx, dout, sizeof(real_t) * B * %ld);", g->out_size);
        L(0, "}");
        return;
    }
    emit_cite(out, 1, g->act);
    L(1, "/* both paths get the gradient under the activation */");
    L(1, "real_t *dz = dx ? dx : ACT(c, DY_SLOT);");
    snprintf(slot, sizeof slot, "ACT(c, %s)", keep ? g->y_sym : g->out_sym);
    act->call(out, p, g->act, 1, 1, slot, g->out_size, "dz");
    L(0, "}");
}

static int add_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    (void)n;
    (void)q;
    snprintf(buf, len, "Add()");
    return 0;
}

const layer_kind kind_add = {
    .name = "add",
    .op = IR_ADD,
    .prefix = "add",
    .params = add_params,
    .n_params = sizeof add_params / sizeof add_params[0],
    .usage = "residual { MAIN } [shortcut { SHORT }]   MAIN + SHORT, else MAIN + "
             "its input: add1, ...",
    .absorbs = KIND_ACT,
    .runtime = "ADVCC_LAYER_ADD",
    .shape = add_shape,
    .out_layout = -1,
    .plan = add_plan,
    .group = add_group,
    .torch = add_torch,
};
