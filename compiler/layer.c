/* layer.c - the lowering of one layer: what every kind shares (finding the
 * kind, binding its parameters, the name= parameter); the rest is the
 * kind's own (kind.h). */
#include "layer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

int layer_lower(const ast_layer *l, const macro_env *env, layer *out, double *first)
{
    memset(out, 0, sizeof *out);
    const layer_kind *k = layer_kind_find(l->kind);
    if (k && k->op == IR_ADD) {
        diag_error(l->loc, "'add' is not written as a layer: a residual block makes it "
                   "(residual { MAIN } shortcut { SHORTCUT })");
        return -1;
    }
    if (!k) {
        diag_error(l->loc, "unknown layer '%s' (neither a layer kind nor a macro)", l->kind);
        return -1;
    }
    param_spec specs[8];
    int n_specs = k->n_params;
    memcpy(specs, k->params, sizeof *specs * (size_t)n_specs);
    if (first && k->insert_param)
        specs[n_specs++] = *k->insert_param;
    param_val v[8];
    if (params_bind(k->name, l->loc, specs, n_specs, l->args, env, v) != 0)
        return -1;

    out->src2 = -1;
    ir_node *n = &out->node;
    n->op = k->op;
    n->loc = l->loc;
    n->bias = 1;
    const param_val *name = kind_arg(k, v, "name");
    if (name && name->given) {
        if (strlen(name->word) >= sizeof n->name) {
            diag_error(name->loc, "layer name '%.40s...' is too long (at most %d characters)",
                       name->word, (int)sizeof n->name - 1);
            return -1;
        }
        snprintf(n->name, sizeof n->name, "%s", name->word);
        out->named = 1;
    }
    if (k->lower && k->lower(k, v, n, l->loc) != 0)
        return -1;
    if (first) {
        const param_val *f = &v[n_specs - 1];
        *first = k->insert_param && f->given ? f->num : NAN;
    }
    return 0;
}
