/* sema.c - definitions, scopes, macros and model composition. */
#include "sema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "ast.h"
#include "build.h"
#include "diag.h"
#include "layer.h"
#include "patch.h"
#include "source.h"

enum { MACRO_MAX_DEPTH = 64 };

/* The three name spaces: a model and a patch may share a name (the patch
 * adv and the model adv = baseline + adv). */
typedef enum def_space { SPACE_MODEL, SPACE_PATCH, SPACE_MACRO, SPACE_NONE } def_space;

typedef enum { MODEL_NEW, MODEL_BUSY, MODEL_DONE, MODEL_FAILED } model_state;

typedef struct model_entry {
    ast_def *def;
    model_state state;          /* of its expansion */
    model_state lowered;
    int base;                   /* composition: the entry of its base; -1 */
    build b;
    ir_model ir;
} model_entry;

/* A definition in the index of all definitions, sorted by space, name and
 * the order they were read, for lookups and for finding duplicates. */
typedef struct def_ref {
    const ast_def *def;
    int order;
} def_ref;

struct sema {
    source_set *src;
    def_ref *refs;
    int n_refs;
    int n_files;
    unsigned char *visible;     /* [i * n_files + j]: file i sees file j */
    model_entry *models;
    int n_models;
    const ast_def *macro_stack[MACRO_MAX_DEPTH];
    int depth;
    ir_loc outer_call;          /* while depth > 0: the call in the model */
};

static def_space def_space_of(const ast_def *d)
{
    switch (d->kind) {
    case DEF_MODEL: case DEF_COMPOSE: return SPACE_MODEL;
    case DEF_PATCH: return SPACE_PATCH;
    case DEF_MACRO: return SPACE_MACRO;
    case DEF_INCLUDE: break;
    }
    return SPACE_NONE;
}

static const char *space_name(def_space s)
{
    return s == SPACE_MODEL ? "model" : s == SPACE_PATCH ? "patch" : "macro";
}

/* A file sees itself and, transitively, what it includes. */
static void sema_visit(sema *S, int from, const source_file *f)
{
    unsigned char *row = &S->visible[(size_t)from * (size_t)S->n_files];
    if (row[f->index])
        return;
    row[f->index] = 1;
    for (int i = 0; i < f->n_includes; i++)
        sema_visit(S, from, f->includes[i]);
}

static int def_ref_compare(const void *pa, const void *pb)
{
    const def_ref *a = pa, *b = pb;
    int sa = def_space_of(a->def), sb = def_space_of(b->def);
    if (sa != sb)
        return sa - sb;
    int c = strcmp(a->def->name, b->def->name);
    if (c)
        return c;
    return a->order - b->order;
}

/* The first definition of `name` in `space` that `from` sees. */
static const ast_def *sema_lookup(const sema *S, const source_file *from, def_space space,
                                  const char *name)
{
    const unsigned char *row = &S->visible[(size_t)from->index * (size_t)S->n_files];
    int lo = 0, hi = S->n_refs;
    while (lo < hi) {           /* the first entry not before (space, name) */
        int mid = lo + (hi - lo) / 2;
        const ast_def *d = S->refs[mid].def;
        int c = (int)def_space_of(d) - (int)space;
        if (c == 0)
            c = strcmp(d->name, name);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo; i < S->n_refs; i++) {
        const ast_def *d = S->refs[i].def;
        if (def_space_of(d) != space || strcmp(d->name, name) != 0)
            break;
        if (row[d->file->index])
            return d;
    }
    return NULL;
}

/* Duplicates: two definitions of one name in one space, both seen from some
 * file, or two models emitted together. */
static int sema_conflict(const sema *S, const ast_def *a, const ast_def *b)
{
    int fa = a->file->index, fb = b->file->index;
    if (def_space_of(a) == SPACE_MODEL && a->file->on_command_line && b->file->on_command_line)
        return 1;
    for (int i = 0; i < S->n_files; i++) {
        const unsigned char *row = &S->visible[(size_t)i * (size_t)S->n_files];
        if (row[fa] && row[fb])
            return 1;
    }
    return 0;
}

static void sema_index(sema *S)
{
    int n = 0;
    for (int j = 0; j < S->n_files; j++)
        for (const ast_def *d = S->src->files[j]->defs; d; d = d->next)
            n += def_space_of(d) != SPACE_NONE;
    S->refs = calloc((size_t)n + 1, sizeof *S->refs);
    if (!S->refs)
        abort();
    for (int j = 0; j < S->n_files; j++)
        for (const ast_def *d = S->src->files[j]->defs; d; d = d->next)
            if (def_space_of(d) != SPACE_NONE) {
                S->refs[S->n_refs].def = d;
                S->refs[S->n_refs].order = S->n_refs;
                S->n_refs++;
            }
    qsort(S->refs, (size_t)S->n_refs, sizeof *S->refs, def_ref_compare);
}

static void sema_check_duplicates(sema *S)
{
    const def_ref *refs = S->refs;
    int n = S->n_refs;
    for (int i = 0; i < n; ) {
        int end = i + 1;
        while (end < n && def_space_of(refs[end].def) == def_space_of(refs[i].def) &&
               strcmp(refs[end].def->name, refs[i].def->name) == 0)
            end++;
        for (int b = i + 1; b < end; b++)
            for (int a = i; a < b; a++)
                if (sema_conflict(S, refs[a].def, refs[b].def)) {
                    const ast_def *d = refs[b].def;
                    diag_error(d->name_loc, "duplicate %s '%s'", space_name(def_space_of(d)),
                               d->name);
                    diag_note(refs[a].def->name_loc, "'%s' was first defined here", d->name);
                    break;
                }
        i = end;
    }
}

/* Checks of a definition on its own. */
/* A macro's body, or a residual block's in one: chains of layers and
 * macros this file sees, and residual blocks of the same. */
static void sema_check_body(const sema *S, const ast_def *d, const ast_stmt *body,
                            const char *what)
{
    for (const ast_stmt *st = body; st; st = st->next) {
        if (st->kind != ST_CHAIN) {
            diag_error(st->loc, "%s holds only layers, not %s statements", what,
                       ast_stmt_kind_name(st->kind));
            continue;
        }
        for (const ast_layer *l = st->layers; l; l = l->next) {
            if (l->is_residual) {
                sema_check_body(S, d, l->main_path, "a residual block");
                sema_check_body(S, d, l->shortcut, "a shortcut");
            } else if (!layer_kind_find(l->kind) &&
                       !sema_lookup(S, d->file, SPACE_MACRO, l->kind)) {
                if (l->is_call)
                    diag_error(l->loc, "undefined macro '%s'", l->kind);
                else
                    diag_error(l->loc, "unknown layer '%s' (neither a layer kind nor a macro)",
                               l->kind);
            }
        }
    }
}

static void sema_check_def(const sema *S, const ast_def *d)
{
    if (def_space_of(d) == SPACE_MODEL && strlen(d->name) >= sizeof ((ir_model *)0)->name)
        diag_error(d->name_loc, "model name '%.40s...' is too long (at most %d characters)",
                   d->name, (int)sizeof ((ir_model *)0)->name - 1);
    if (d->kind != DEF_MACRO)
        return;
    if (layer_kind_find(d->name))
        diag_error(d->name_loc, "macro '%s' has the name of a layer kind", d->name);
    for (const ast_name *p = d->params; p; p = p->next)
        for (const ast_name *q = d->params; q != p; q = q->next)
            if (strcmp(p->name, q->name) == 0) {
                diag_error(p->loc, "macro parameter '%s' named twice", p->name);
                break;
            }
    sema_check_body(S, d, d->body, "a macro body");
}

static int sema_expand(sema *S, build *b, const ast_layer *chain,
                       const macro_env *env, const source_file *from, int *tail);

/* A patch's statements checked on their own, so that a patch no model
 * uses is checked too.  The settings start where no strict=1 check can
 * fail unless the statement itself sets both eps and alpha. */
static void sema_check_patch(const ast_def *d)
{
    build b;
    build_init(&b, d->name, d->file->path, d->loc);
    b.check_only = 1;
    b.set.attack.eps = HUGE_VAL;
    b.set.attack.alpha = 0;
    for (const ast_stmt *st = d->body; st; st = st->next)
        patch_apply(&b, st);
    build_free(&b);
}

/* A macro called as a layer: its body's layers, with its parameters bound
 * to the call's arguments, reading *tail (a layer's uid, 0 the model's
 * input), which becomes the last layer's.  Returns 0, -1 after errors, -2
 * when the model grew past its limit (expansion stops). */
static int sema_call(sema *S, build *b, const ast_layer *call, const ast_def *m,
                     const macro_env *outer, int *tail)
{
    int n_params = ast_list_length(m->params);
    int n_args = call->is_call ? ast_list_length(call->call_args) : ast_list_length(call->args);
    if (!call->is_call)
        for (const ast_arg *a = call->args; a; a = a->next)
            if (a->key) {
                diag_error(a->loc, "arguments of macro '%s' are positional, not key=value",
                           m->name);
                return -1;
            }
    if (n_args != n_params) {
        diag_error(call->loc, "macro '%s' takes %d argument%s, got %d", m->name, n_params,
                   n_params == 1 ? "" : "s", n_args);
        return -1;
    }
    for (int i = 0; i < S->depth; i++)
        if (S->macro_stack[i] == m) {
            diag_error(call->loc, "recursive macro '%s' (it calls itself)", m->name);
            return -1;
        }
    if (S->depth == MACRO_MAX_DEPTH) {
        diag_error(call->loc, "macros nested more than %d deep", MACRO_MAX_DEPTH);
        return -1;
    }
    value *values = calloc((size_t)n_params + 1, sizeof *values);
    if (!values)
        abort();
    int i = 0, rc = 0;
    if (call->is_call) {
        for (const ast_expr *e = call->call_args; e; e = e->next, i++)
            if (eval_expr(e, outer, &values[i]) != 0)
                rc = -1;
    } else {
        for (const ast_arg *a = call->args; a; a = a->next, i++)
            if (eval_expr(a->value, outer, &values[i]) != 0)
                rc = -1;
    }
    int errors_before = diag_count();
    if (rc == 0) {
        macro_env inner = { m->params, values };
        if (S->depth == 0)
            S->outer_call = call->loc;
        S->macro_stack[S->depth++] = m;
        for (const ast_stmt *st = m->body; st && rc != -2; st = st->next) {
            if (st->kind != ST_CHAIN) {
                rc = -1;    /* reported by sema_check_def */
                continue;
            }
            int r = sema_expand(S, b, st->layers, &inner, m->file, tail);
            if (r != 0)
                rc = r;
        }
        S->depth--;
        /* Errors in the body are reported where the body says it; say
         * which call led there. */
        if (diag_count() > errors_before)
            diag_note(call->loc, "in macro '%s' called here", m->name);
    }
    free(values);
    return rc;
}

/* The lines of a residual block's path, one after the other from *tail. */
static int sema_path(sema *S, build *b, const ast_stmt *body, const char *what,
                     const macro_env *env, const source_file *from, int *tail)
{
    int rc = 0;
    for (const ast_stmt *st = body; st; st = st->next) {
        if (st->kind != ST_CHAIN) {
            if (S->depth == 0)      /* in a macro, sema_check_body said it */
                diag_error(st->loc, "%s holds only layers, not %s statements", what,
                           ast_stmt_kind_name(st->kind));
            rc = -1;
            continue;
        }
        int r = sema_expand(S, b, st->layers, env, from, tail);
        if (r == -2)
            return -2;
        if (r != 0)
            rc = -1;
    }
    return rc;
}

/* `residual { MAIN } [shortcut { SHORTCUT }]` after *tail: both paths read
 * it, and an add layer (cited at the keyword) sums their ends. */
static int sema_residual(sema *S, build *b, const ast_layer *l, const macro_env *env,
                         const source_file *from, int *tail)
{
    int main_end = *tail, short_end = *tail, before = b->n_layers;
    int rc = sema_path(S, b, l->main_path, "a residual block", env, from, &main_end);
    if (rc == -2)
        return -2;
    if (rc == 0 && b->n_layers == before) {
        diag_error(l->loc, "a residual block needs layers on its main path");
        rc = -1;
    }
    before = b->n_layers;
    int r = sema_path(S, b, l->shortcut, "a shortcut", env, from, &short_end);
    if (r == -2)
        return -2;
    if (r != 0)
        rc = -1;
    else if (l->shortcut_loc.file && b->n_layers == before) {
        diag_error(l->shortcut_loc, "an empty shortcut: leave it out for the identity");
        rc = -1;
    }
    if (rc != 0)
        return -1;
    layer add;
    memset(&add, 0, sizeof add);
    add.node.op = IR_ADD;
    add.node.loc = l->loc;
    add.node.bias = 1;
    add.node.src2 = -1;
    add.src = main_end;
    add.src2 = short_end;
    if (S->depth > 0)
        add.node.call = S->outer_call;
    if (build_insert(b, b->n_layers, &add) != 0)
        return -2;
    *tail = b->layers[b->n_layers - 1].uid;
    return 0;
}

/* The layers of a chain appended to b, the first reading *tail. */
static int sema_expand(sema *S, build *b, const ast_layer *chain,
                       const macro_env *env, const source_file *from, int *tail)
{
    int rc = 0;
    for (const ast_layer *l = chain; l; l = l->next) {
        const ast_def *m = NULL;
        if (!l->is_residual && (l->is_call || !layer_kind_find(l->kind)))
            m = sema_lookup(S, from, SPACE_MACRO, l->kind);
        if (l->is_call && !m) {
            if (layer_kind_find(l->kind))
                diag_error(l->loc, "'%s' is a layer kind, not a macro: write '%s ARGS'",
                           l->kind, l->kind);
            else
                diag_error(l->loc, "undefined macro '%s'", l->kind);
            rc = -1;
            continue;
        }
        if (m || l->is_residual) {     /* layers of their own */
            int r = m ? sema_call(S, b, l, m, env, tail)
                      : sema_residual(S, b, l, env, from, tail);
            if (r == -2)
                return -2;
            if (r != 0)
                rc = -1;
            continue;
        }
        layer x;
        if (layer_lower(l, env, &x, NULL) != 0) {
            rc = -1;
            continue;
        }
        if (S->depth > 0)
            x.node.call = S->outer_call;
        x.src = *tail;
        if (build_insert(b, b->n_layers, &x) != 0)
            return -2;
        *tail = b->layers[b->n_layers - 1].uid;
    }
    return rc;
}

static int stmt_edits(const ast_stmt *st)
{
    return st->kind == ST_REPLACE || st->kind == ST_QUANTIZE ||
           st->kind == ST_REGULARIZE || st->kind == ST_INSERT;
}

/* model NAME { ... }: layers and settings in order, then the statements
 * that edit layers (quantize, regularize, ...), which see every layer. */
static int sema_model_body(sema *S, model_entry *e)
{
    const ast_def *d = e->def;
    build *b = &e->b;
    int errors = 0, layer_errors = 0;
    for (const ast_stmt *st = d->body; st; st = st->next) {
        switch (st->kind) {
        case ST_INPUT:
            if (b->has_input) {
                diag_error(st->loc, "model '%s' has a second input statement", d->name);
                errors++;
            } else if (settings_input(st, &b->input, &b->classes) == 0) {
                b->has_input = 1;
            } else {
                errors++;
                b->has_input = -1;
            }
            break;
        case ST_CHAIN: {
            int tail = b->n_layers ? b->layers[b->n_layers - 1].uid : 0;
            int r = sema_expand(S, b, st->layers, NULL, d->file, &tail);
            if (r == -2)
                return -1;
            layer_errors += r != 0;
            break;
        }
        case ST_TRAIN: case ST_ATTACK: case ST_ENSEMBLE: case ST_AUGMENT:
            errors += patch_apply(b, st) != 0;
            break;
        default:
            break;
        }
    }
    build_name_layers(b);
    if (!b->has_input) {
        diag_error(d->name_loc, "model '%s' has no input statement (input CxHxW classes N)",
                   d->name);
        errors++;
    }
    if (b->n_layers == 0 && !layer_errors) {
        diag_error(d->name_loc, "model '%s' has no layers", d->name);
        errors++;
    }
    errors += layer_errors;
    if (errors)
        return -1;
    for (const ast_stmt *st = d->body; st; st = st->next)
        if (stmt_edits(st))
            errors += patch_apply(b, st) != 0;
    return errors ? -1 : 0;
}

static model_entry *sema_entry(sema *S, const ast_def *d)
{
    return &S->models[d->index];
}

/* Builds a model once, however many compositions use it.  0 when it is
 * sound; -1 otherwise (reported once). */
static int sema_build(sema *S, model_entry *e, ir_loc used_at);

/* model NAME = BASE + PATCH + ...: a copy of the base, then each patch's
 * statements in order. */
static int sema_compose(sema *S, model_entry *e)
{
    const ast_def *d = e->def;
    const ast_name *base_name = d->parts;
    const ast_def *base = sema_lookup(S, d->file, SPACE_MODEL, base_name->name);
    if (!base) {
        if (sema_lookup(S, d->file, SPACE_PATCH, base_name->name))
            diag_error(base_name->loc, "'%s' is a patch; a composition starts with a model",
                       base_name->name);
        else
            diag_error(base_name->loc, "undefined model '%s'", base_name->name);
        return -1;
    }
    model_entry *be = sema_entry(S, base);
    e->base = base->index;
    if (sema_build(S, be, base_name->loc) != 0)
        return -1;
    build_copy_body(&e->b, &be->b);
    int errors = 0;
    for (const ast_name *p = base_name->next; p; p = p->next) {
        const ast_def *patch = sema_lookup(S, d->file, SPACE_PATCH, p->name);
        if (!patch) {
            if (sema_lookup(S, d->file, SPACE_MODEL, p->name))
                diag_error(p->loc, "'%s' is a model, not a patch", p->name);
            else
                diag_error(p->loc, "undefined patch '%s'", p->name);
            errors++;
            continue;
        }
        for (const ast_stmt *st = patch->body; st; st = st->next)
            errors += patch_apply(&e->b, st) != 0;
    }
    return errors ? -1 : 0;
}

/* What a checkpoint says of the model: its spec's hash and how it is made. */
static void sema_describe(const ast_def *d, ir_model *m)
{
    snprintf(m->spec_hash, sizeof m->spec_hash, "%016llx", source_hash(d->file));
    if (d->kind == DEF_MODEL) {
        snprintf(m->patches, sizeof m->patches, "%s", d->name);
        return;
    }
    size_t k = 0;
    for (const ast_name *p = d->parts; p && k < sizeof m->patches; p = p->next)
        k += (size_t)snprintf(m->patches + k, sizeof m->patches - k, "%s%s",
                              p == d->parts ? "" : " + ", p->name);
}

/* Builds a model once, however many compositions use it.  0 when it is
 * sound; -1 otherwise (reported once). */
static int sema_build(sema *S, model_entry *e, ir_loc used_at)
{
    if (e->state == MODEL_DONE)
        return 0;
    if (e->state == MODEL_FAILED)
        return -1;
    if (e->state == MODEL_BUSY) {
        diag_error(used_at, "model '%s' is defined in terms of itself", e->def->name);
        return -1;
    }
    const ast_def *d = e->def;
    e->state = MODEL_BUSY;
    build_init(&e->b, d->name, d->file->path, d->loc);
    int rc = d->kind == DEF_MODEL ? sema_model_body(S, e) : sema_compose(S, e);
    if (rc == 0) {
        build_name_layers(&e->b);
        rc = build_check_names(&e->b);
    }
    e->state = rc == 0 ? MODEL_DONE : MODEL_FAILED;
    return rc;
}

/* A model's IR, after its base's; a model whose base failed fails
 * without a word (its base's errors are its own). */
static void sema_lower_model(sema *S, model_entry *e)
{
    if (e->lowered != MODEL_NEW)
        return;
    int rc = e->state == MODEL_DONE ? 0 : -1;
    if (rc == 0 && e->base >= 0) {
        sema_lower_model(S, &S->models[e->base]);
        rc = S->models[e->base].lowered == MODEL_DONE ? 0 : -1;
    }
    if (rc == 0)
        rc = build_lower(&e->b, &e->ir);
    if (rc == 0)
        sema_describe(e->def, &e->ir);
    e->lowered = rc == 0 ? MODEL_DONE : MODEL_FAILED;
}

void sema_free(sema *S)
{
    if (!S)
        return;
    for (int i = 0; i < S->n_models; i++) {
        build_free(&S->models[i].b);
        free(S->models[i].ir.nodes);
        free(S->models[i].ir.regs);
    }
    free(S->models);
    free(S->visible);
    free(S->refs);
    free(S);
}

sema *sema_new(source_set *src)
{
    sema *S = calloc(1, sizeof *S);
    if (!S)
        abort();
    S->src = src;
    return S;
}

void sema_resolve(sema *S)
{
    source_set *src = S->src;
    S->n_files = src->n_files;
    S->visible = calloc((size_t)S->n_files * (size_t)S->n_files + 1, 1);
    if (!S->visible)
        abort();
    for (int i = 0; i < S->n_files; i++)
        sema_visit(S, i, src->files[i]);

    for (int j = 0; j < S->n_files; j++)
        for (ast_def *d = src->files[j]->defs; d; d = d->next)
            if (def_space_of(d) == SPACE_MODEL)
                d->index = S->n_models++;
    S->models = calloc((size_t)S->n_models + 1, sizeof *S->models);
    if (!S->models)
        abort();
    sema_index(S);
    for (int j = 0; j < S->n_files; j++)
        for (ast_def *d = src->files[j]->defs; d; d = d->next) {
            if (def_space_of(d) == SPACE_MODEL) {
                S->models[d->index].def = d;
                S->models[d->index].base = -1;
            }
            sema_check_def(S, d);
            if (d->kind == DEF_PATCH)
                sema_check_patch(d);
        }
    sema_check_duplicates(S);
}

void sema_expand_models(sema *S)
{
    for (int i = 0; i < S->n_models; i++)
        sema_build(S, &S->models[i], S->models[i].def->name_loc);
}

void sema_lower(sema *S, ir_program *all)
{
    memset(all, 0, sizeof *all);
    all->models = calloc((size_t)S->n_models + 1, sizeof *all->models);
    if (!all->models)
        abort();
    for (int i = 0; i < S->n_models; i++)
        sema_lower_model(S, &S->models[i]);
    for (int i = 0; i < S->n_models; i++) {
        model_entry *e = &S->models[i];
        ir_model *m = &all->models[all->n_models++];
        *m = e->ir;
        memset(&e->ir, 0, sizeof e->ir);
        m->base = e->base;
        m->emitted = e->def->file->on_command_line;
        m->failed = e->lowered != MODEL_DONE;
    }
}
