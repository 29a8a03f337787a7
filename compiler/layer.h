/* layer.h - the lowering of one written layer into an ir_node: its kind
 * (kind.h) found by name, its parameters bound and checked, its name set,
 * then the kind's own lowering. */
#ifndef ADVCC_LAYER_H
#define ADVCC_LAYER_H

#include "ast.h"
#include "eval.h"
#include "ir.h"
#include "kind.h"
#include "params.h"

/* A layer of a model being built. */
typedef struct layer {
    ir_node node;
    int named;                  /* name= given; else a default name */
    int uid;                    /* identity, kept while layers move */
    int src;                    /* uid of the layer it reads; 0: the input */
    int src2;                   /* an add's second input, so coded; -1: none */
} layer;

/* Lowers `l` (not a macro call) with the macro parameters in `env`.  With
 * `first` non-NULL, a kind with an insert parameter (noise: first=) also
 * accepts it (insert ... before), stored there, NAN when absent.  Returns
 * 0, or -1 after reporting. */
int layer_lower(const ast_layer *l, const macro_env *env, layer *out, double *first);

#endif
