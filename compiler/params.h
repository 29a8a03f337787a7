/* params.h - the arguments of a layer or statement, checked against a table
 * of what it accepts: `conv 32 5 pad=same` against conv's parameters out,
 * k, stride, pad, bias and name.  Reports unknown, repeated and missing
 * parameters, values of the wrong type and values out of range. */
#ifndef ADVCC_PARAMS_H
#define ADVCC_PARAMS_H

#include "ast.h"
#include "eval.h"

typedef enum param_type {
    PT_NUM,     /* a number */
    PT_INT,     /* an integer */
    PT_BOOL,    /* 0 or 1 */
    PT_WORD,    /* one of `words` */
    PT_PAD,     /* an integer, a pair (height, width) of integers, `same`
                   (num = PARAM_SAME) or `valid` (num = 0) */
    PT_PAIR,    /* an integer or a pair (height, width) of integers */
    PT_LIST,    /* a number or a parenthesised list of numbers */
    PT_NAME     /* a name, such as a layer's */
} param_type;

#define PARAM_SAME (-1.0)
#define PARAM_NOLIMIT 1e300

typedef struct param_spec {
    const char *key;
    param_type type;
    int position;       /* may also be given as the n-th positional argument */
    int required;
    double lo, hi;      /* allowed range (inclusive) of numbers */
    int lo_open;        /* lo itself is not allowed: lr > 0 */
    const char *words;  /* PT_WORD: the accepted words, "a|b|c" */
} param_spec;

typedef struct param_val {
    int given;
    double num;         /* numbers; PT_WORD: the index of the word */
    const char *word;   /* PT_WORD, PT_NAME */
    int n;              /* PT_LIST; PT_PAIR, PT_PAD: 2 when a pair was
                           written, else 1 */
    double items[VALUE_MAX_ITEMS];  /* PT_PAIR, PT_PAD: height, width (a
                                       single number is both) */
    ir_loc loc;         /* of the value */
} param_val;

/* Binds `args` to `specs`, filling out[i] for specs[i].  `owner` names the
 * layer or statement in messages ("conv", "attack pgd").  Returns 0, or -1
 * after reporting every error found. */
int params_bind(const char *owner, ir_loc owner_loc,
                const param_spec *specs, int n_specs,
                const ast_arg *args, const macro_env *env, param_val *out);

/* The index of `key` in specs (it must be there). */
int params_index(const param_spec *specs, int n_specs, const char *key);

#endif
