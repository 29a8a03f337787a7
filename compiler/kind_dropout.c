/* kind_dropout.c - dropout, `dropout [p=0.5]`: in a training pass each
 * element is zeroed with probability p and the others scaled by
 * 1 / (1 - p) (inverted dropout, docs/METHODS.md 1); in evaluation, in
 * attacks and in adversarial training's attack passes (any mode but
 * ADVCC_TRAIN) it is the identity and draws nothing.  PyTorch's
 * nn.Dropout(p).  The masks come from the context's generator through
 * runtime/dropout.c, as normals against the p-quantile `cut` (see
 * dropout.h), and are kept in the arena for the backward.  A layer of its
 * own: no group absorbs it. */
#include "kind.h"

#include <jansson.h>

#include <math.h>

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec dropout_params[] = {
    { "p", PT_NUM, 0, 0, -PARAM_NOLIMIT, PARAM_NOLIMIT, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static int dropout_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    const param_val *p = kind_arg(k, v, "p");
    n->drop = p->given ? p->num : 0.5;
    if (!(n->drop >= 0 && n->drop < 1)) {
        diag_error(p->given ? p->loc : loc, "dropout needs p in [0, 1), got %g", n->drop);
        return -1;
    }
    return 0;
}

/* z with P(N(0, 1) < z) = p, 0 < p < 1, by bisection to the last bit. */
static double normal_quantile(double p)
{
    double lo = -40, hi = 40;
    for (;;) {
        const double mid = lo + (hi - lo) / 2;
        if (mid <= lo || mid >= hi)
            return hi;
        if (0.5 * erfc(-mid / 1.4142135623730951) < p)
            lo = mid;
        else
            hi = mid;
    }
}

/* The mask, one real per element, kept for the backward. */
static void dropout_plan(emit_plan *p, emit_group *g, const ir_node *n, plan_state *st)
{
    (void)p;
    if (n->drop > 0) {
        g->y_slot = plan_take(&st->per, g->in_size);
    }
}

static void dropout_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    (void)p;
    const ir_node *n = g->main;
    const long size = g->out_size;
    emit_group_head(out, g, 0, n->drop > 0 ? NULL : "mode");
    emit_cite(out, 1, n);
    L(1, "real_t *o = ACT(c, %ld);", g->out_slot);
    if (n->drop > 0) {
        char cut[32], scale[32];
        emit_real(normal_quantile(n->drop), cut, sizeof cut);
        emit_real(1 / (1 - n->drop), scale, sizeof scale);
        L(1, "/* in training passes only; one call over the batch (noise.h), so that");
        L(1, " * a replay from the same rng state repeats the masks */");
        L(1, "if (mode == ADVCC_TRAIN)");
        L(2, "dropout_forward(x, (long)B * %ld, (real_t)%s, (real_t)%s, c->rng, ACT(c, %ld), o);",
          size, cut, scale, g->y_slot);
        L(1, "else");
        L(2, "memcpy(o, x, sizeof(real_t) * B * %ld);", size);
    } else {
        L(1, "memcpy(o, x, sizeof(real_t) * B * %ld); /* p = 0 */", size);
    }
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, n->drop > 0 ? "x want_params" : "c x mode want_params");
    L(1, "if (!dx)");
    L(2, "return;");
    if (n->drop > 0) {
        L(1, "if (mode == ADVCC_TRAIN)");
        L(2, "dropout_backward(ACT(c, %ld), dout, (long)B * %ld, dx);", g->y_slot, size);
        L(1, "else");
        L(2, "memcpy(dx, dout, sizeof(real_t) * B * %ld);", size);
    } else {
        L(1, "memcpy(dx, dout, sizeof(real_t) * B * %ld);", size);
    }
    L(0, "}");
}

static int dropout_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    char a[32], b[32];
    (void)q;
    snprintf(buf, len, "Dropout(%s, %s)", emit_real(n->drop, a, sizeof a),
             n->drop > 0 ? emit_real(normal_quantile(n->drop), b, sizeof b) : "None");
    return 0;
}

static void dropout_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "p", json_real(n->drop));
}

const layer_kind kind_dropout = {
    .name = "dropout",
    .op = IR_DROPOUT,
    .prefix = "dropout",
    .params = dropout_params,
    .n_params = sizeof dropout_params / sizeof dropout_params[0],
    .usage = "dropout [p=0.5]   (training passes only)",
    .runtime = "ADVCC_LAYER_DROPOUT",
    .headers = "dropout.h",
    .lower = dropout_lower,
    .out_layout = -1,
    .plan = dropout_plan,
    .group = dropout_group,
    .torch = dropout_torch,
    .settings = dropout_settings,
};
