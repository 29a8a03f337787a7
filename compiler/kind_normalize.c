/* kind_normalize.c - `normalize mean=(M,...) std=(S,...)`: (x - mean[c]) /
 * std[c] over the input images, one value per channel, which must come
 * before every layer that reads or changes their layout; as the first
 * layer it is the model's input normalisation, which attacks clipping in
 * normalised units read (model.h). */
#include "kind.h"

#include <jansson.h>

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec normalize_params[] = {
    { "mean", PT_LIST, 0, 1, -PARAM_NOLIMIT, PARAM_NOLIMIT, 0, NULL },
    { "std", PT_LIST, 0, 1, 0, PARAM_NOLIMIT, 1, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

static int normalize_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    (void)loc;
    const param_val *mean = kind_arg(k, v, "mean"), *std = kind_arg(k, v, "std");
    if (mean->n != std->n) {
        diag_error(std->loc, "normalize has %d mean values but %d std values",
                   mean->n, std->n);
        return -1;
    }
    for (int i = 0; i < mean->n; i++) {
        n->mean[i] = mean->items[i];
        n->std[i] = std->items[i];
    }
    /* std > 0 for every value written and 0 past them: the shape rule
     * counts the values there and checks them against the input's
     * channels. */
    return 0;
}

static int normalize_shape(const ir_model *m, const ir_node *n, const ir_node *prev,
                           ir_shape *out)
{
    (void)prev;
    (void)out;
    /* It reads the input images as they come (NCHW): every layer that
     * changes their layout (to channel-major, or to flat rows) must
     * follow it. */
    for (long i = n - m->nodes - 1; i >= 0; i--) {
        const ir_node *p = &m->nodes[i];
        if (kind_of(p->op)->flags & KIND_LAYOUT) {
            diag_error(n->loc, "normalize works on the input images and must come before "
                       "every %s layer, but it follows '%s'",
                       kind_of(p->op)->name, p->name);
            return -1;
        }
    }
    int count = 0;
    while (count < (int)(sizeof n->std / sizeof n->std[0]) && n->std[count] > 0)
        count++;
    if (count != n->in.c) {
        diag_error(n->loc, "normalize has %d value%s per statistic "
                   "but its input has %d channel%s", count, count == 1 ? "" : "s", n->in.c,
                   n->in.c == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

static void normalize_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    (void)p;
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
    L(1, "normalize_forward(x, B, %d, %ld, %s_mean, %s_std, ACT(c, %s));",
      n->in.c, hw, n->name, n->name, g->out_sym);
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "c x mode want_params");
    L(1, "if (dx)");
    L(2, "normalize_backward(dout, B, %d, %ld, %s_std, dx);", n->in.c, hw, n->name);
    L(0, "}");
}

static int normalize_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    /* At most 16 channels (ir.h), each value under 32 characters and its
     * separator: the lists always fit. */
    char a[32], b[32], mean[16 * 34] = "", std[16 * 34] = "";
    size_t km = 0, ks = 0;
    (void)q;
    for (int c = 0; c < n->in.c && c < 16; c++) {
        const char *sep = n->in.c == 1 || c + 1 < n->in.c ? ", " : "";
        km += (size_t)snprintf(mean + km, sizeof mean - km, "%s%s",
                               emit_real(n->mean[c], a, sizeof a), sep);
        ks += (size_t)snprintf(std + ks, sizeof std - ks, "%s%s",
                               emit_real(n->std[c], b, sizeof b), sep);
    }
    snprintf(buf, len, "Normalize((%s), (%s))", mean, std);
    return 0;
}

static void normalize_settings(const ir_node *n, json_t *o)
{
    json_t *mean = json_array(), *std = json_array();
    for (int c = 0; c < n->in.c && c < 16; c++) {
        json_array_append_new(mean, json_real(n->mean[c]));
        json_array_append_new(std, json_real(n->std[c]));
    }
    json_object_set_new(o, "mean", mean);
    json_object_set_new(o, "std", std);
}

const layer_kind kind_normalize = {
    .name = "normalize",
    .op = IR_NORMALIZE,
    .prefix = "norm",
    .params = normalize_params,
    .n_params = sizeof normalize_params / sizeof normalize_params[0],
    .usage = "normalize mean=(M,...) std=(S,...)   one value per input channel",
    .flags = KIND_LAYOUT | KIND_INPUT_NORM,
    .runtime = "ADVCC_LAYER_NORMALIZE",
    .lower = normalize_lower,
    .shape = normalize_shape,
    .out_layout = LAYOUT_CNHW,
    .group = normalize_group,
    .torch = normalize_torch,
    .settings = normalize_settings,
};
