/* kind_threshold.c - the appendix's activations with learnable
 * thresholds (docs/METHODS.md 4): `pwlinear`, piecewise linear with
 * learnable knots and values; `naivedt`, the naive dynamic threshold; and
 * `ddtrelu`, each `[bits=8] [lo=0] [hi=6] [levels=2^bits-1, at most 256]`.
 * Each is a lone group calling its kernels in runtime/threshold_act.c;
 * every backward reads c->bpda (BPDA, docs/METHODS.md 11). */
#include "kind.h"

#include <jansson.h>

#include "diag.h"

#define L(...) emit_line(out, __VA_ARGS__)

/* The threshold kernels' limit (THRESHOLD_MAX of runtime/threshold_act.h;
 * the generated code asserts the two agree). */
#define LEVELS_MAX 256
static const param_spec threshold_params[] = {
    { "bits", PT_INT, 0, 0, 2, 16, 0, NULL },
    { "lo", PT_NUM, 0, 0, -PARAM_NOLIMIT, PARAM_NOLIMIT, 0, NULL },
    { "hi", PT_NUM, 0, 0, -PARAM_NOLIMIT, PARAM_NOLIMIT, 0, NULL },
    { "levels", PT_INT, 0, 0, 2, LEVELS_MAX, 0, NULL },
    { "name", PT_NAME, 0, 0, 0, 0, 0, NULL },
};

/* Each kind's names in the runtime and in the PyTorch module. */
typedef struct threshold_names {
    const char *kernel, *torch;
} threshold_names;

static const threshold_names *names_of(const ir_node *n)
{
    static const threshold_names pwl = {"pwl", "PWLinear"}, naive = {"naive_threshold", "NaiveDT"},
                                 ddt = {"ddtrelu", "DDTReLU"};
    return n->op == IR_NAIVEDT ? &naive : n->op == IR_DDTRELU ? &ddt : &pwl;
}

static int threshold_lower(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    if (kind_threshold_bounds(k, v, n, loc) != 0)
        return -1;
    n->levels = (int)kind_arg_num(k, v, "levels", (1 << n->abits) - 1);
    if (n->levels > LEVELS_MAX) {
        const param_val *b = kind_arg(k, v, "bits");
        diag_error(b && b->given ? b->loc : loc,
                   "%s bits=%d gives %d levels (2^bits-1), more than the %d the kernels take; "
                   "give levels=N", k->name, n->abits, n->levels, LEVELS_MAX);
        return -1;
    }
    return 0;
}

/* pwlinear: thresholds and values; the others: thresholds. */
static long long threshold_count(const ir_node *n, long long *state)
{
    (void)state;
    return n->op == IR_PWLINEAR ? 2LL * n->levels : n->levels;
}

static void threshold_tensors(emit_plan *p, const ir_node *n)
{
    emit_add_tensor(p, n, "thresholds", "ADVCC_THRESHOLD", 1, n->levels, 0, 0, 0);
    if (n->op == IR_PWLINEAR)
        emit_add_tensor(p, n, "values", "ADVCC_THRESHOLD", 1, n->levels, 0, 0, 0);
}

static void threshold_init(FILE *out, const emit_plan *p, const ir_node *n)
{
    char r1[32], r2[32];
    const emit_tensor *t = emit_tensor_of(p, n, "thresholds");
    const emit_tensor *v = emit_tensor_of(p, n, "values");
    const int k = n->levels;
    L(1, "/* %s's thresholds spread evenly over [lo, hi]%s */", n->name,
      v ? "; its values make it the identity there" : "");
    L(1, "for (int j = 0; j < %d; j++) {", k);
    L(2, "p[%s + j] = (real_t)(%s + %s * j / %d);", t->sym, emit_real(n->lo, r1, sizeof r1),
      emit_real(n->hi - n->lo, r2, sizeof r2), k > 1 ? k - 1 : 1);
    if (v)
        L(2, "p[%s + j] = p[%s + j];", v->sym, t->sym);
    L(1, "}");
}

/* Naive dynamic threshold, DDTReLU, piecewise linear: the thresholds are
 * put back in order before each use, since an update may swap two. */
static void threshold_group(FILE *out, const emit_plan *p, const emit_group *g)
{
    const ir_node *n = g->main;
    const emit_tensor *t = emit_tensor_of(p, n, "thresholds");
    const emit_tensor *v = emit_tensor_of(p, n, "values");
    const char *kind = names_of(n)->kernel;
    const int k = n->levels;
    if (k < 2) {
        L(0, "#error \"advcc: %s levels=%d: the kernels take at least 2 thresholds\"", n->name, k);
        return;
    }
    L(0, "_Static_assert(%d <= THRESHOLD_MAX, \"%s: more thresholds than threshold_act.h takes\");",
      k, n->name);
    emit_group_head(out, g, 0, "mode");
    emit_cite(out, 1, n);
    L(1, "real_t *t = c->params + %s;", t->sym);
    if (v) {
        L(1, "real_t *v = c->params + %s;", v->sym);
        L(1, "thresholds_sort(t, v, %d);", k);
        L(1, "pwl_forward(x, (long)B * %ld, t, v, %d, ACT(c, %s));", g->out_size, k, g->out_sym);
    } else {
        L(1, "thresholds_sort(t, NULL, %d);", k);
        L(1, "%s_forward(x, (long)B * %ld, t, %d, ACT(c, %s));", kind, g->out_size, k, g->out_sym);
    }
    L(0, "}");
    L(0, "%s", "");
    emit_group_head(out, g, 1, "mode");
    emit_cite(out, 1, n);
    if (v)
        L(1, "pwl_backward(x, dout, (long)B * %ld, c->params + %s, c->params + %s, %d, dx,",
          g->out_size, t->sym, v->sym, k);
    else
        L(1, "%s_backward(x, dout, (long)B * %ld, c->params + %s, %d, dx,", kind, g->out_size,
          t->sym, k);
    if (v)
        L(2, "want_params ? c->grads + %s : NULL, want_params ? c->grads + %s : NULL, c->bpda);",
          t->sym, v->sym);
    else
        L(2, "want_params ? c->grads + %s : NULL, c->bpda);", t->sym);
    L(0, "}");
}

static int threshold_torch(const ir_node *n, const char *q, char *buf, size_t len)
{
    char a[32], b[32];
    (void)q;
    snprintf(buf, len, "%s(%d, %s, %s)", names_of(n)->torch, n->levels,
             emit_real(n->lo, a, sizeof a), emit_real(n->hi, b, sizeof b));
    return 0;
}

static void threshold_describe(const ir_node *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s levels=%d [%g, %g]", ir_op_name(n->op), n->levels, n->lo, n->hi);
}

static void threshold_settings(const ir_node *n, json_t *o)
{
    json_object_set_new(o, "levels", json_integer(n->levels));
    json_object_set_new(o, "lo", json_real(n->lo));
    json_object_set_new(o, "hi", json_real(n->hi));
}

/* The three differ in their names alone. */
#define THRESHOLD_KIND(kname, kop, layer)                                       \
    {                                                                           \
        .name = kname,                                                          \
        .op = kop,                                                              \
        .prefix = kname,                                                        \
        .params = threshold_params,                                             \
        .n_params = sizeof threshold_params / sizeof threshold_params[0],       \
        .usage = kname " [bits=8] [lo=0] [hi=6] [levels=2^bits-1, at most 256]", \
        .runtime = layer,                                                       \
        .headers = "threshold_act.h",                                           \
        .lower = threshold_lower,                                               \
        .count = threshold_count,                                               \
        .tensors = threshold_tensors,                                           \
        .out_layout = -1,                                                       \
        .init = threshold_init,                                                 \
        .group = threshold_group,                                               \
        .torch = threshold_torch,                                               \
        .section = "activations",                                               \
        .describe = threshold_describe,                                         \
        .settings = threshold_settings,                                         \
    }

const layer_kind kind_pwlinear = THRESHOLD_KIND("pwlinear", IR_PWLINEAR, "ADVCC_LAYER_PWLINEAR");
const layer_kind kind_naivedt = THRESHOLD_KIND("naivedt", IR_NAIVEDT, "ADVCC_LAYER_NAIVEDT");
const layer_kind kind_ddtrelu = THRESHOLD_KIND("ddtrelu", IR_DDTRELU, "ADVCC_LAYER_DDTRELU");
