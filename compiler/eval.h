/* eval.h - values of expressions in a spec.  Numbers are evaluated in
 * double; a name is either a macro parameter (replaced by the argument the
 * macro was called with) or a word such as `same` or `gaussian`. */
#ifndef ADVCC_EVAL_H
#define ADVCC_EVAL_H

#include "ast.h"
#include "ir.h"

enum { VALUE_MAX_ITEMS = 16 };

typedef enum value_kind { VAL_NUM, VAL_WORD, VAL_STR, VAL_TUPLE } value_kind;

typedef struct value {
    value_kind kind;
    double num;                     /* VAL_NUM */
    const char *str;                /* VAL_WORD, VAL_STR */
    int n;                          /* VAL_TUPLE */
    double items[VALUE_MAX_ITEMS];
    ir_loc item_loc[VALUE_MAX_ITEMS];   /* where each item was written */
    ir_loc loc;                     /* where the value was written */
} value;

/* A macro's parameters bound to the arguments of one call. */
typedef struct macro_env {
    const ast_name *names;
    const value *values;
} macro_env;

/* 0, or -1 after reporting the error. */
int eval_expr(const ast_expr *e, const macro_env *env, value *out);
/* "3", "word 'same'", "a list of 3 numbers", for messages. */
const char *value_describe(const value *v, char *buf, size_t size);

#endif
