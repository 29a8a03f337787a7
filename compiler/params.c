/* params.c - binding and checking the arguments of a layer or statement. */
#include "params.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

int params_index(const param_spec *specs, int n_specs, const char *key)
{
    for (int i = 0; i < n_specs; i++)
        if (strcmp(specs[i].key, key) == 0)
            return i;
    return -1;
}

/* "out, k, stride, pad, bias, name" */
static void params_list(const param_spec *specs, int n_specs, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n_specs && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", specs[i].key);
}

static int params_positional_count(const param_spec *specs, int n_specs)
{
    int n = 0;
    for (int i = 0; i < n_specs; i++)
        if (specs[i].position > n)
            n = specs[i].position;
    return n;
}

/* Is `w` one of the '|'-separated words? Its index, or -1. */
static int params_word_index(const char *words, const char *w)
{
    size_t len = strlen(w);
    int index = 0;
    for (const char *p = words; *p; index++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, w, n) == 0)
            return index;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

static void params_words_text(const char *words, char *buf, size_t size)
{
    size_t j = 0;
    for (const char *p = words; *p && j + 3 < size; p++) {
        if (*p == '|') {
            buf[j++] = ',';
            buf[j++] = ' ';
        } else {
            buf[j++] = *p;
        }
    }
    buf[j] = '\0';
}

static int params_check_range(const char *owner, const param_spec *s, const value *v)
{
    double x = v->num;
    int low = s->lo_open ? x <= s->lo : x < s->lo;
    if (!low && x <= s->hi)
        return 0;
    /* A bound worth stating is a small one; the others only keep sizes sane. */
    if (s->hi <= 65536)
        diag_error(v->loc, "%s of %s must be between %g and %g, got %.15g", s->key, owner,
                   s->lo, s->hi, x);
    else if (low)
        diag_error(v->loc, "%s of %s must be %s %g, got %.15g", s->key, owner,
                   s->lo_open ? ">" : ">=", s->lo, x);
    else
        diag_error(v->loc, "%s of %s must be at most %.0f, got %.15g", s->key, owner, s->hi, x);
    return -1;
}

/* An integer (PT_INT, PT_PAIR, PT_PAD) or 0/1 (PT_BOOL) in the spec's range. */
static int params_check_int(const char *owner, const param_spec *s, const value *v)
{
    char got[96];
    value_describe(v, got, sizeof got);
    if (v->kind != VAL_NUM || v->num != floor(v->num)) {
        diag_error(v->loc, "%s of %s must be %s, got %s", s->key, owner,
                   s->type == PT_BOOL ? "0 or 1" : "an integer", got);
        return -1;
    }
    if (s->type == PT_BOOL) {
        if (v->num == 0 || v->num == 1)
            return 0;
        diag_error(v->loc, "%s of %s must be 0 or 1, got %s", s->key, owner, got);
        return -1;
    }
    if (params_check_range(owner, s, v) != 0)
        return -1;
    if (fabs(v->num) > 2e9) {   /* whatever the spec's bound, an int holds it */
        diag_error(v->loc, "%s of %s must be at most 2000000000, got %s", s->key, owner, got);
        return -1;
    }
    return 0;
}

/* PT_PAIR, PT_PAD: an integer, both sides, or a pair (height, width). */
static int params_store_pair(const char *owner, const param_spec *s, const value *v,
                             param_val *out)
{
    if (v->kind == VAL_TUPLE && v->n != 2) {
        diag_error(v->loc, "%s of %s takes one integer or a pair (height, width), got a list "
                   "of %d number%s", s->key, owner, v->n, v->n == 1 ? "" : "s");
        return -1;
    }
    out->n = v->kind == VAL_TUPLE ? 2 : 1;
    for (int i = 0; i < 2; i++) {
        value item = *v;
        if (v->kind == VAL_TUPLE) {
            item.kind = VAL_NUM;
            item.num = v->items[i];
            item.loc = v->item_loc[i];
        }
        if (params_check_int(owner, s, &item) != 0)
            return -1;
        out->items[i] = item.num;
    }
    out->num = out->items[0];
    return 0;
}

/* Checks one value against its spec and stores it. */
static int params_store(const char *owner, const param_spec *s, const value *v, param_val *out)
{
    char got[96], words[160];
    value_describe(v, got, sizeof got);
    out->loc = v->loc;
    switch (s->type) {
    case PT_PAD:
        if (v->kind == VAL_WORD && strcmp(v->str, "same") == 0) {
            out->num = PARAM_SAME;
            out->word = v->str;
            return 0;
        }
        if (v->kind == VAL_WORD && strcmp(v->str, "valid") == 0) {
            out->num = 0;           /* no padding: the spelling of pad=0 */
            out->n = 1;
            out->word = v->str;
            return 0;
        }
        if (v->kind != VAL_NUM && v->kind != VAL_TUPLE) {
            diag_error(v->loc, "%s of %s must be an integer, a pair (height, width), 'same' or "
                       "'valid', got %s", s->key, owner, got);
            return -1;
        }
        return params_store_pair(owner, s, v, out);
    case PT_PAIR:
        if (v->kind != VAL_NUM && v->kind != VAL_TUPLE) {
            diag_error(v->loc, "%s of %s must be an integer or a pair (height, width) of "
                       "integers, got %s", s->key, owner, got);
            return -1;
        }
        return params_store_pair(owner, s, v, out);
    case PT_INT:
    case PT_BOOL:
        if (params_check_int(owner, s, v) != 0)
            return -1;
        out->num = v->num;
        return 0;
    case PT_NUM:
        if (v->kind != VAL_NUM) {
            diag_error(v->loc, "%s of %s must be a number, got %s", s->key, owner, got);
            return -1;
        }
        out->num = v->num;
        return params_check_range(owner, s, v);
    case PT_WORD: {
        int i = v->kind == VAL_WORD ? params_word_index(s->words, v->str) : -1;
        if (i < 0) {
            params_words_text(s->words, words, sizeof words);
            diag_error(v->loc, "%s of %s must be one of %s; got %s", s->key, owner, words, got);
            return -1;
        }
        out->num = i;
        out->word = v->str;
        return 0;
    }
    case PT_LIST:
        if (v->kind == VAL_NUM) {
            out->n = 1;
            out->items[0] = v->num;
        } else if (v->kind == VAL_TUPLE) {
            out->n = v->n;
            memcpy(out->items, v->items, sizeof v->items);
        } else {
            diag_error(v->loc, "%s of %s must be a number or a list such as (0.5, 0.5), got %s",
                       s->key, owner, got);
            return -1;
        }
        for (int i = 0; i < out->n; i++) {
            value item = *v;
            item.kind = VAL_NUM;
            item.num = out->items[i];
            if (params_check_range(owner, s, &item) != 0)
                return -1;
        }
        return 0;
    case PT_NAME:
        if (v->kind != VAL_WORD) {
            diag_error(v->loc, "%s of %s must be a name, got %s", s->key, owner, got);
            return -1;
        }
        out->word = v->str;
        return 0;
    }
    return -1;
}

int params_bind(const char *owner, ir_loc owner_loc,
                const param_spec *specs, int n_specs,
                const ast_arg *args, const macro_env *env, param_val *out)
{
    int errors = 0, position = 0;
    int n_positional = params_positional_count(specs, n_specs);
    memset(out, 0, sizeof *out * (size_t)n_specs);
    for (const ast_arg *a = args; a; a = a->next) {
        int i = -1;
        if (a->key) {
            i = params_index(specs, n_specs, a->key);
            if (i < 0) {
                char list[256];
                params_list(specs, n_specs, list, sizeof list);
                if (n_specs)
                    diag_error(a->loc, "unknown parameter '%s' for %s (it takes %s)",
                               a->key, owner, list);
                else
                    diag_error(a->loc, "unknown parameter '%s' for %s (it takes none)",
                               a->key, owner);
                errors++;
                continue;
            }
        } else {
            position++;
            for (int j = 0; j < n_specs; j++)
                if (specs[j].position == position)
                    i = j;
            if (i < 0) {
                if (n_positional == 0)
                    diag_error(a->loc, "%s takes no positional arguments", owner);
                else
                    diag_error(a->loc, "too many arguments for %s "
                               "(it takes %d before its key=value parameters)",
                               owner, n_positional);
                errors++;
                continue;
            }
        }
        if (out[i].given) {
            diag_error(a->loc, "parameter '%s' of %s given twice", specs[i].key, owner);
            errors++;
            continue;
        }
        value v;
        if (eval_expr(a->value, env, &v) != 0 || params_store(owner, &specs[i], &v, &out[i]) != 0) {
            errors++;
            continue;
        }
        out[i].given = 1;
    }
    for (int i = 0; i < n_specs; i++) {
        if (!specs[i].required || out[i].given)
            continue;
        /* A value that failed its check was reported already. */
        int reported = 0;
        for (const ast_arg *a = args; a; a = a->next)
            reported |= a->key && strcmp(a->key, specs[i].key) == 0;
        if (specs[i].position && position >= specs[i].position)
            reported = 1;
        if (reported)
            continue;
        diag_error(owner_loc, "missing required parameter '%s' for %s", specs[i].key, owner);
        errors++;
    }
    return errors ? -1 : 0;
}
