/* kind_noise.c - `noise sigma=S`, random self-ensemble's noise layer
 * (docs/METHODS.md 6): x + N(0, sigma^2) in training and inference alike,
 * by runtime/noise.c; `insert noise sigma=S first=F before conv` places it
 * in a patch. */
#include "kind.h"

#include <jansson.h>

#define L(...) emit_line(out, __VA_ARGS__)

static const param_spec noise_params[] = {
    { "sigma", PT_NUM, 0, 1, 0, PARAM_NOLIMIT, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};
/* insert only (layer.h) */
static const param_spec noise_first = { "first", PT_NUM, 0, 0, 0, PARAM_NOLIMIT, 0, NULL };

static int noise_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    (void)loc;
    n->sigma = kind_arg_num(k, v, "sigma", 0);
    return 0;
}

static void noise_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    (void)p;
    const ir_node *n = g->main;
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    L(1, "/* in training and inference alike; one call over the batch (noise.h),");
    L(1, " * so that a replay from the same rng state repeats the pass */");
    char r[32];
    L(1, "noise_add(ACT(c, %s), x, (long)B * %ld, (real_t)%s, c->rng);", g->out_sym, g->out_size,
      emit_real(n->sigma, r, sizeof r));
    L(0, "}");
    if (g->grad_pass)
        return;         /* model_backward hands its gradient down */
    L(0, "%s", "");
    emit_group_head(out, g, 1, "c x mode want_params");
    L(1, "if (dx)");
    L(2, "memcpy(dx, dout, sizeof(real_t) * B * %ld);", g->out_size);
    L(0, "}");
}

static int noise_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    char a[32];
    (void)q;
    snprintf(buf, len, "Noise(%s)", emit_real(n->sigma, a, sizeof a));
    return 0;
}

static void noise_describe(const ir_node *n, char *buf, size_t len)
{
    snprintf(buf, len, "sigma=%g", n->sigma);
}

static void noise_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "sigma", json_real(n->sigma));
}

const layer_kind kind_noise = {
    .name = "noise",
    .op = IR_NOISE,
    .prefix = "noise",
    .params = noise_params,
    .n_params = sizeof noise_params / sizeof noise_params[0],
    .insert_param = &noise_first,
    .usage = "noise sigma=S   (insert noise sigma=S first=F before conv)",
    .flags = KIND_GRAD_IDENTITY,
    .runtime = "ADVCC_LAYER_NOISE",
    .headers = "noise.h",
    .lower = noise_lower,
    .out_layout = -1,
    .group = noise_group,
    .torch = noise_torch,
    .section = "noise",
    .describe = noise_describe,
    .settings = noise_settings,
};
