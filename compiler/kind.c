/* kind.c - the table of layer kinds, indexed by ir_op (IR_OPS in ir.h
 * lists them, each defined in its compiler/kind_*.c), and what the kinds'
 * lowering shares: reading bound parameters. */
#include "kind.h"

#include <string.h>

#define IR_OP_DECLARE(op, name) extern const layer_kind kind_##name;
IR_OPS(IR_OP_DECLARE)
#undef IR_OP_DECLARE

static const layer_kind *const kinds[IR_OP_COUNT] = {
#define IR_OP_ENTRY(op, name) [op] = &kind_##name,
    IR_OPS(IR_OP_ENTRY)
#undef IR_OP_ENTRY
};

const layer_kind *kind_of(ir_op op)
{
    return (unsigned)op < IR_OP_COUNT ? kinds[op] : NULL;
}

int layer_kind_count(void)
{
    return IR_OP_COUNT;
}

const layer_kind *layer_kind_at(int i)
{
    return i >= 0 && i < IR_OP_COUNT ? kinds[i] : NULL;
}

const layer_kind *layer_kind_find(const char *name)
{
    for (int i = 0; i < IR_OP_COUNT; i++)
        if (strcmp(kinds[i]->name, name) == 0)
            return kinds[i];
    return NULL;
}

const param_val *kind_arg(const layer_kind *k, const param_val *v, const char *key)
{
    int i = params_index(k->params, k->n_params, key);
    return i >= 0 ? &v[i] : NULL;
}

double kind_arg_num(const layer_kind *k, const param_val *v, const char *key, double dflt)
{
    const param_val *a = kind_arg(k, v, key);
    return a && a->given ? a->num : dflt;
}
