/* layer.c - the table of layer kinds and the lowering of one layer. */
#include "layer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

#define NOLIM PARAM_NOLIMIT
#define NAME_PARAM { "name", PT_NAME, 0, 0, 0, 0, 0, NULL }

static const param_spec normalize_params[] = {
    { "mean", PT_LIST, 0, 1, -NOLIM, NOLIM, 0, NULL },
    { "std", PT_LIST, 0, 1, 0, NOLIM, 1, NULL },
    NAME_PARAM,
};
static const param_spec conv_params[] = {
    { "out", PT_INT, 1, 1, 1, 1 << 20, 0, NULL },
    { "k", PT_INT, 2, 1, 1, 1 << 12, 0, NULL },
    { "stride", PT_INT, 0, 0, 1, 1 << 12, 0, NULL },
    { "pad", PT_PAD, 0, 0, 0, 1 << 12, 0, NULL },
    { "bias", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    NAME_PARAM,
};
static const param_spec plain_params[] = {
    NAME_PARAM,
};
static const param_spec pool_params[] = {
    { "k", PT_INT, 1, 1, 1, 1 << 12, 0, NULL },
    { "stride", PT_INT, 0, 0, 1, 1 << 12, 0, NULL },
    NAME_PARAM,
};
static const param_spec linear_params[] = {
    { "out", PT_INT, 1, 1, 1, 1 << 24, 0, NULL },
    { "bias", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    NAME_PARAM,
};
static const param_spec noise_params[] = {
    { "sigma", PT_NUM, 0, 1, 0, NOLIM, 0, NULL },
    NAME_PARAM,
    { "first", PT_NUM, 0, 0, 0, NOLIM, 0, NULL },   /* insert only: see below */
};
static const param_spec dtrelu_params[] = {
    { "bits", PT_INT, 0, 0, 2, 16, 0, NULL },
    { "lo", PT_NUM, 0, 0, -NOLIM, NOLIM, 0, NULL },
    { "hi", PT_NUM, 0, 0, -NOLIM, NOLIM, 0, NULL },
    NAME_PARAM,
};
/* The threshold kernels' limit (THRESHOLD_MAX of runtime/threshold_act.h;
 * the generated code asserts the two agree). */
#define LEVELS_MAX 256
static const param_spec piecewise_params[] = {
    { "bits", PT_INT, 0, 0, 2, 16, 0, NULL },
    { "lo", PT_NUM, 0, 0, -NOLIM, NOLIM, 0, NULL },
    { "hi", PT_NUM, 0, 0, -NOLIM, NOLIM, 0, NULL },
    { "levels", PT_INT, 0, 0, 2, LEVELS_MAX, 0, NULL },
    NAME_PARAM,
};

#define N(a) ((int)(sizeof a / sizeof a[0]))

static const layer_kind layer_kinds[] = {
    { "normalize", IR_NORMALIZE, "norm", normalize_params, N(normalize_params),
      "normalize mean=(M,...) std=(S,...)   one value per input channel" },
    { "conv", IR_CONV, "conv", conv_params, N(conv_params),
      "conv OUT K [stride=1] [pad=0|N|same] [bias=1|0]" },
    { "batchnorm", IR_BATCHNORM, "bn", plain_params, N(plain_params), "batchnorm" },
    { "relu", IR_RELU, "relu", plain_params, N(plain_params), "relu" },
    { "avgpool", IR_AVGPOOL, "pool", pool_params, N(pool_params), "avgpool K [stride=K]" },
    { "maxpool", IR_MAXPOOL, "pool", pool_params, N(pool_params), "maxpool K [stride=K]" },
    { "flatten", IR_FLATTEN, "flatten", plain_params, N(plain_params), "flatten" },
    { "linear", IR_LINEAR, "fc", linear_params, N(linear_params), "linear OUT [bias=1|0]" },
    { "noise", IR_NOISE, "noise", noise_params, N(noise_params) - 1,
      "noise sigma=S   (insert noise sigma=S first=F before conv)" },
    { "dtrelu", IR_DTRELU, "dtrelu", dtrelu_params, N(dtrelu_params),
      "dtrelu [bits=8] [lo=0] [hi=6]" },
    { "pwlinear", IR_PWLINEAR, "pwlinear", piecewise_params, N(piecewise_params),
      "pwlinear [bits=8] [lo=0] [hi=6] [levels=2^bits-1, at most 256]" },
    { "naivedt", IR_NAIVEDT, "naivedt", piecewise_params, N(piecewise_params),
      "naivedt [bits=8] [lo=0] [hi=6] [levels=2^bits-1, at most 256]" },
    { "ddtrelu", IR_DDTRELU, "ddtrelu", piecewise_params, N(piecewise_params),
      "ddtrelu [bits=8] [lo=0] [hi=6] [levels=2^bits-1, at most 256]" },
};

int layer_kind_count(void)
{
    return N(layer_kinds);
}

const layer_kind *layer_kind_at(int i)
{
    return i >= 0 && i < N(layer_kinds) ? &layer_kinds[i] : NULL;
}

const layer_kind *layer_kind_find(const char *name)
{
    for (int i = 0; i < N(layer_kinds); i++)
        if (strcmp(layer_kinds[i].name, name) == 0)
            return &layer_kinds[i];
    return NULL;
}

const layer_kind *layer_kind_of(ir_op op)
{
    for (int i = 0; i < N(layer_kinds); i++)
        if (layer_kinds[i].op == op)
            return &layer_kinds[i];
    return NULL;
}

/* The value of parameter `key`, or `dflt` when it was not given. */
static double arg_num(const layer_kind *k, const param_val *v, const char *key, double dflt)
{
    int i = params_index(k->params, k->n_params, key);
    return i >= 0 && v[i].given ? v[i].num : dflt;
}

static const param_val *arg_val(const layer_kind *k, const param_val *v, const char *key)
{
    int i = params_index(k->params, k->n_params, key);
    return i >= 0 ? &v[i] : NULL;
}

/* Bounds of the learnable activations: lo < hi. */
static int layer_check_bounds(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc)
{
    n->abits = (int)arg_num(k, v, "bits", 8);
    n->lo = arg_num(k, v, "lo", 0);
    n->hi = arg_num(k, v, "hi", 6);
    if (!(n->lo < n->hi)) {
        const param_val *hi = arg_val(k, v, "hi");
        diag_error(hi && hi->given ? hi->loc : loc,
                   "%s needs lo < hi, got lo=%g hi=%g", k->name, n->lo, n->hi);
        return -1;
    }
    return 0;
}

int layer_lower(const ast_layer *l, const macro_env *env, layer *out, double *first)
{
    memset(out, 0, sizeof *out);
    const layer_kind *k = layer_kind_find(l->kind);
    if (!k) {
        diag_error(l->loc, "unknown layer '%s' (neither a layer kind nor a macro)", l->kind);
        return -1;
    }
    param_spec specs[8];
    int n_specs = k->n_params;
    memcpy(specs, k->params, sizeof *specs * (size_t)n_specs);
    if (first && k->op == IR_NOISE)
        specs[n_specs++] = noise_params[N(noise_params) - 1];
    param_val v[8];
    if (params_bind(k->name, l->loc, specs, n_specs, l->args, env, v) != 0)
        return -1;

    ir_node *n = &out->node;
    n->op = k->op;
    n->loc = l->loc;
    n->group = -1;
    n->bias = 1;
    const param_val *name = arg_val(k, v, "name");
    if (name && name->given) {
        if (strlen(name->word) >= sizeof n->name) {
            diag_error(name->loc, "layer name '%.40s...' is too long (at most %d characters)",
                       name->word, (int)sizeof n->name - 1);
            return -1;
        }
        snprintf(n->name, sizeof n->name, "%s", name->word);
        out->named = 1;
    }
    switch (k->op) {
    case IR_NORMALIZE: {
        const param_val *mean = arg_val(k, v, "mean"), *std = arg_val(k, v, "std");
        if (mean->n != std->n) {
            diag_error(std->loc, "normalize has %d mean values but %d std values",
                       mean->n, std->n);
            return -1;
        }
        for (int i = 0; i < mean->n; i++) {
            n->mean[i] = mean->items[i];
            n->std[i] = std->items[i];
        }
        /* std > 0 for every value written and 0 past them: shape.c counts
         * the values there and checks them against the input's channels. */
        break;
    }
    case IR_CONV: {
        n->out_c = (int)arg_num(k, v, "out", 1);
        n->out_features = n->out_c;
        n->k = (int)arg_num(k, v, "k", 1);
        n->stride = (int)arg_num(k, v, "stride", 1);
        n->bias = (int)arg_num(k, v, "bias", 1);
        const param_val *pad = arg_val(k, v, "pad");
        if (pad->given && pad->num == PARAM_SAME) {
            if (n->k % 2 == 0) {
                diag_error(pad->loc, "pad=same needs an odd kernel size, got %d", n->k);
                return -1;
            }
            n->pad = (n->k - 1) / 2;
        } else {
            n->pad = pad->given ? (int)pad->num : 0;
        }
        break;
    }
    case IR_AVGPOOL:
    case IR_MAXPOOL:
        n->k = (int)arg_num(k, v, "k", 1);
        n->stride = (int)arg_num(k, v, "stride", n->k);
        break;
    case IR_LINEAR:
        n->out_features = (int)arg_num(k, v, "out", 1);
        n->bias = (int)arg_num(k, v, "bias", 1);
        break;
    case IR_NOISE:
        n->sigma = arg_num(k, v, "sigma", 0);
        if (first) {
            const param_val *f = &v[n_specs - 1];
            *first = f->given ? f->num : NAN;
        }
        break;
    case IR_DTRELU:
        if (layer_check_bounds(k, v, n, l->loc) != 0)
            return -1;
        break;
    case IR_PWLINEAR:
    case IR_NAIVEDT:
    case IR_DDTRELU:
        if (layer_check_bounds(k, v, n, l->loc) != 0)
            return -1;
        n->levels = (int)arg_num(k, v, "levels", (1 << n->abits) - 1);
        if (n->levels > LEVELS_MAX) {
            const param_val *b = arg_val(k, v, "bits");
            diag_error(b && b->given ? b->loc : l->loc,
                       "%s bits=%d gives %d levels (2^bits-1), more than the %d the kernels take; "
                       "give levels=N", k->name, n->abits, n->levels, LEVELS_MAX);
            return -1;
        }
        break;
    default:
        break;
    }
    if (first && k->op != IR_NOISE)
        *first = NAN;
    return 0;
}
