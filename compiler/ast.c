/* ast.c - constructors and list helpers for the syntax tree. */
#include "ast.h"
#include "diag.h"

struct ast_link {
    struct ast_link *next;
};

void *ast_list_reverse(void *head)
{
    struct ast_link *prev = NULL, *p = head;
    while (p) {
        struct ast_link *next = p->next;
        p->next = prev;
        prev = p;
        p = next;
    }
    return prev;
}

int ast_list_length(const void *head)
{
    int n = 0;
    for (const struct ast_link *p = head; p; p = p->next)
        n++;
    return n;
}

const char *ast_def_kind_name(ast_def_kind k)
{
    switch (k) {
    case DEF_INCLUDE: return "include";
    case DEF_MACRO: return "macro";
    case DEF_MODEL: return "model";
    case DEF_COMPOSE: return "model";
    case DEF_PATCH: return "patch";
    }
    return "?";
}

const char *ast_stmt_kind_name(ast_stmt_kind k)
{
    static const char *const names[] = {
        "input", "layer", "train", "attack", "ensemble",
        "replace", "quantize", "regularize", "insert",
    };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

ast_expr *ast_expr_new(arena *a, ast_expr_kind kind, ir_loc loc)
{
    ast_expr *e = arena_alloc(a, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    return e;
}

ast_expr *ast_expr_binary(arena *a, ast_expr_kind kind, ir_loc loc,
                          ast_expr *lhs, ast_expr *rhs)
{
    ast_expr *e = ast_expr_new(a, kind, loc);
    e->lhs = lhs;
    e->rhs = rhs;
    int dl = lhs ? lhs->depth : 0, dr = rhs ? rhs->depth : 0;
    e->depth = 1 + (dl > dr ? dl : dr);
    if (e->depth == AST_EXPR_MAX_DEPTH + 1)
        diag_error(loc, "expression too long: more than %d operators deep",
                   AST_EXPR_MAX_DEPTH);
    return e;
}

ast_arg *ast_arg_new(arena *a, const char *key, ast_expr *value, ir_loc loc)
{
    ast_arg *g = arena_alloc(a, sizeof *g);
    g->key = key;
    g->value = value;
    g->loc = loc;
    return g;
}

ast_layer *ast_layer_new(arena *a, const char *kind, ir_loc loc)
{
    ast_layer *l = arena_alloc(a, sizeof *l);
    l->kind = kind;
    l->loc = loc;
    return l;
}

ast_name *ast_name_new(arena *a, const char *name, ir_loc loc)
{
    ast_name *n = arena_alloc(a, sizeof *n);
    n->name = name;
    n->loc = loc;
    return n;
}

ast_stmt *ast_stmt_new(arena *a, ast_stmt_kind kind, ir_loc loc)
{
    ast_stmt *s = arena_alloc(a, sizeof *s);
    s->kind = kind;
    s->loc = loc;
    return s;
}

ast_def *ast_def_new(arena *a, ast_def_kind kind, ir_loc loc)
{
    ast_def *d = arena_alloc(a, sizeof *d);
    d->kind = kind;
    d->loc = loc;
    return d;
}
