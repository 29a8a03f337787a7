/* ast.h - the syntax tree of a spec file, as the parser builds it: what was
 * written, with where it was written, and nothing resolved.  Every node
 * lives in the front end's arena.  Lists are linked through `next`, which
 * is each node's first member. */
#ifndef ADVCC_AST_H
#define ADVCC_AST_H

#include "arena.h"
#include "ir.h"

typedef enum ast_expr_kind {
    EX_NUM,         /* num */
    EX_NAME,        /* str: a macro parameter or a word such as `same` */
    EX_STR,         /* str: "text" */
    EX_NEG,         /* -lhs */
    EX_ADD, EX_SUB, EX_MUL, EX_DIV,
    EX_TUPLE        /* (a, b, ...): items in lhs */
} ast_expr_kind;

typedef struct ast_expr {
    struct ast_expr *next;      /* in a tuple or a macro call's arguments */
    ast_expr_kind kind;
    ir_loc loc;                 /* binary operators: the operator */
    double num;
    const char *str;
    struct ast_expr *lhs, *rhs;
    int depth;                  /* operators on the longest path to a leaf */
} ast_expr;

/* The deepest expression tree accepted: a longer chain of operators (`2+0+0
 * ...`) is an error at the operator that crosses it, so that evaluation,
 * which recurses, never meets one. */
enum { AST_EXPR_MAX_DEPTH = 256 };

/* `value` (positional, key == NULL) or `key=value`. */
typedef struct ast_arg {
    struct ast_arg *next;
    const char *key;
    ast_expr *value;
    ir_loc loc;
} ast_arg;

struct ast_stmt;

/* `kind args...`, a macro call `name(args)`, or a residual block
 * `residual { MAIN } [shortcut { SHORTCUT }]` (kind "residual"): its output
 * is MAIN's plus SHORTCUT's (the block's input when there is none), both
 * fed the block's input; their lines are chains, one after the other. */
typedef struct ast_layer {
    struct ast_layer *next;     /* in a chain */
    const char *kind;
    ir_loc loc;
    ast_arg *args;
    int is_call;
    ast_expr *call_args;
    int is_residual;
    struct ast_stmt *main_path, *shortcut;
    ir_loc shortcut_loc;        /* the keyword `shortcut` (file NULL: none) */
} ast_layer;

typedef struct ast_name {
    struct ast_name *next;
    const char *name;
    ir_loc loc;
} ast_name;

typedef enum ast_stmt_kind {
    ST_INPUT,       /* input DIMS classes N: word = dims, value = N */
    ST_CHAIN,       /* layer -> layer ...: layers */
    ST_TRAIN,       /* train WORD args */
    ST_ATTACK,      /* attack WORD args */
    ST_ENSEMBLE,    /* ensemble args */
    ST_AUGMENT,     /* augment args */
    ST_REPLACE,     /* replace TARGETS with LAYER */
    ST_QUANTIZE,    /* quantize TARGETS args */
    ST_REGULARIZE,  /* regularize TARGETS WORD args */
    ST_INSERT       /* insert LAYER before|after TARGETS */
} ast_stmt_kind;

typedef struct ast_stmt {
    struct ast_stmt *next;
    ast_stmt_kind kind;
    ir_loc loc;                 /* the statement's first token */
    const char *word;
    ir_loc word_loc;
    ast_expr *value;
    ast_layer *layers;
    ast_name *targets;
    int after;                  /* insert ... after */
    ast_arg *args;
} ast_stmt;

typedef enum ast_def_kind {
    DEF_INCLUDE,    /* include "name": name */
    DEF_MACRO,      /* macro name(params) { body } */
    DEF_MODEL,      /* model name { body } */
    DEF_COMPOSE,    /* model name = parts: base + patch + ... */
    DEF_PATCH       /* patch name { body } */
} ast_def_kind;

struct source_file;

typedef struct ast_def {
    struct ast_def *next;
    ast_def_kind kind;
    ir_loc loc;                 /* the keyword */
    const char *name;
    ir_loc name_loc;
    ast_name *params;
    ast_stmt *body;
    ast_name *parts;
    struct source_file *file;   /* where it was written */
    struct source_file *included;   /* DEF_INCLUDE, once read */
    int index;                  /* models: sema's number for it */
} ast_def;

const char *ast_def_kind_name(ast_def_kind k);
const char *ast_stmt_kind_name(ast_stmt_kind k);

/* Reverses a list linked through the first member (the parser builds
 * lists backwards). */
void *ast_list_reverse(void *head);
int ast_list_length(const void *head);

ast_expr *ast_expr_new(arena *a, ast_expr_kind kind, ir_loc loc);
ast_expr *ast_expr_binary(arena *a, ast_expr_kind kind, ir_loc loc,
                          ast_expr *lhs, ast_expr *rhs);
ast_arg *ast_arg_new(arena *a, const char *key, ast_expr *value, ir_loc loc);
ast_layer *ast_layer_new(arena *a, const char *kind, ir_loc loc);
ast_name *ast_name_new(arena *a, const char *name, ir_loc loc);
ast_stmt *ast_stmt_new(arena *a, ast_stmt_kind kind, ir_loc loc);
ast_def *ast_def_new(arena *a, ast_def_kind kind, ir_loc loc);

#endif
