/* layer.h - the layer kinds a spec may name (conv, batchnorm, relu, ...),
 * each with its IR op, the prefix of its default names and the parameters
 * it accepts; and the lowering of one written layer into an ir_node. */
#ifndef ADVCC_LAYER_H
#define ADVCC_LAYER_H

#include "ast.h"
#include "eval.h"
#include "ir.h"
#include "params.h"

typedef struct layer_kind {
    const char *name;           /* as written: "conv" */
    ir_op op;
    const char *prefix;         /* default names: conv1, conv2, ... */
    const param_spec *params;
    int n_params;
    const char *usage;          /* one line for --help */
} layer_kind;

int layer_kind_count(void);
const layer_kind *layer_kind_at(int i);
const layer_kind *layer_kind_find(const char *name);
const layer_kind *layer_kind_of(ir_op op);

/* A layer of a model being built. */
typedef struct layer {
    ir_node node;
    int named;                  /* name= given; else a default name */
    int uid;                    /* identity, kept while layers move */
} layer;

/* Lowers `l` (not a macro call) with the macro parameters in `env`.  With
 * `first` non-NULL, noise also accepts first= (insert ... before), stored
 * there, NAN when absent.  Returns 0, or -1 after reporting. */
int layer_lower(const ast_layer *l, const macro_env *env, layer *out, double *first);

#endif
