/* eval.c - evaluating expressions: arithmetic in double, names looked up
 * among the macro's parameters. */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

const char *value_describe(const value *v, char *buf, size_t size)
{
    switch (v->kind) {
    case VAL_NUM: snprintf(buf, size, "%.10g", v->num); break;
    case VAL_WORD: snprintf(buf, size, "'%.60s'", v->str); break;
    case VAL_STR: snprintf(buf, size, "the string \"%.60s\"", v->str); break;
    case VAL_TUPLE: snprintf(buf, size, "a list of %d numbers", v->n); break;
    }
    return buf;
}

static const value *env_lookup(const macro_env *env, const char *name)
{
    if (!env)
        return NULL;
    int i = 0;
    for (const ast_name *n = env->names; n; n = n->next, i++)
        if (strcmp(n->name, name) == 0)
            return &env->values[i];
    return NULL;
}

/* Where an expression begins: a binary operator's node sits at the operator. */
static ir_loc expr_start(const ast_expr *e)
{
    while (e->kind >= EX_ADD && e->kind <= EX_DIV)
        e = e->lhs;
    return e->loc;
}

/* An operand of arithmetic must be a number. */
static int eval_number(const ast_expr *e, const macro_env *env, double *out)
{
    value v;
    if (eval_expr(e, env, &v) != 0)
        return -1;
    if (v.kind != VAL_NUM) {
        char buf[96];
        if (v.kind == VAL_WORD && e->kind == EX_NAME && strcmp(v.str, e->str) == 0)
            diag_error(e->loc, "'%s' is neither a number nor a macro parameter", v.str);
        else
            diag_error(expr_start(e), "expected a number, got %s",
                       value_describe(&v, buf, sizeof buf));
        return -1;
    }
    *out = v.num;
    return 0;
}

int eval_expr(const ast_expr *e, const macro_env *env, value *out)
{
    memset(out, 0, sizeof *out);
    out->loc = e->loc;
    out->kind = VAL_NUM;
    double a, b;
    switch (e->kind) {
    case EX_NUM:
        out->num = e->num;
        return isfinite(e->num) ? 0 : -1;   /* the lexer reported it */
    case EX_NAME: {
        const value *bound = env_lookup(env, e->str);
        if (bound) {
            *out = *bound;
            return 0;
        }
        out->kind = VAL_WORD;
        out->str = e->str;
        return 0;
    }
    case EX_STR:
        out->kind = VAL_STR;
        out->str = e->str;
        return 0;
    case EX_NEG:
        if (eval_number(e->lhs, env, &a) != 0)
            return -1;
        out->num = -a;
        return 0;
    case EX_ADD: case EX_SUB: case EX_MUL: case EX_DIV:
        if (eval_number(e->lhs, env, &a) != 0 || eval_number(e->rhs, env, &b) != 0)
            return -1;
        out->loc = expr_start(e);
        if (e->kind == EX_DIV && b == 0) {
            diag_error(e->loc, "division by zero");
            return -1;
        }
        out->num = e->kind == EX_ADD ? a + b : e->kind == EX_SUB ? a - b
                 : e->kind == EX_MUL ? a * b : a / b;
        if (!isfinite(out->num)) {
            diag_error(e->loc, "the result is out of range");
            return -1;
        }
        return 0;
    case EX_TUPLE: {
        out->kind = VAL_TUPLE;
        for (const ast_expr *item = e->lhs; item; item = item->next) {
            if (out->n == VALUE_MAX_ITEMS) {
                diag_error(item->loc, "a list holds at most %d numbers", VALUE_MAX_ITEMS);
                return -1;
            }
            if (eval_number(item, env, &out->items[out->n]) != 0)
                return -1;
            out->item_loc[out->n++] = expr_start(item);
        }
        return 0;
    }
    }
    return -1;
}
