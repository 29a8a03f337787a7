/* patch.c - editing a model's layers, regularisers and settings. */
#include "patch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "params.h"

#define NOLIM PARAM_NOLIMIT
#define N(a) ((int)(sizeof a / sizeof a[0]))

int patch_stmt_allowed(const ast_stmt *st)
{
    return st->kind != ST_INPUT && st->kind != ST_CHAIN;
}

/* Marks in hit[] the layers one target matches: every layer of a kind, or
 * the layer of that name.  Returns how many. */
static int target_match(const build *b, const ast_name *t, unsigned char *hit)
{
    const layer_kind *k = layer_kind_find(t->name);
    int n = 0;
    for (int i = 0; i < b->n_layers; i++) {
        const ir_node *node = &b->layers[i].node;
        if (k ? node->op == k->op : strcmp(node->name, t->name) == 0) {
            hit[i] = 1;
            n++;
        }
    }
    return n;
}

/* The layers the targets match, in hit[] (n_layers entries, caller frees).
 * A layer kind the model lacks is passed over, so one patch serves models
 * of different make (`quantize conv, linear` on an MLP); NULL after
 * reporting a layer name that matches nothing, targets that together match
 * no layer, or a matched layer that is not conv or linear when
 * `weights_only`. */
static unsigned char *targets_match(const build *b, const ast_stmt *st, const char *what,
                                    int weights_only)
{
    unsigned char *hit = calloc((size_t)b->n_layers + 1, 1);
    unsigned char *one = calloc((size_t)b->n_layers + 1, 1);
    if (!hit || !one)
        abort();
    int errors = 0, matched = 0;
    char kinds[256] = "";
    for (const ast_name *t = st->targets; t && !b->check_only; t = t->next) {
        memset(one, 0, (size_t)b->n_layers + 1);
        int n = target_match(b, t, one);
        matched += n;
        if (n == 0 && !layer_kind_find(t->name)) {
            diag_error(t->loc, "'%s' matches no layer of model '%s'", t->name, b->name);
            errors++;
            continue;
        }
        if (n == 0) {
            size_t len = strlen(kinds);
            snprintf(kinds + len, sizeof kinds - len, "%s%s", len ? " or " : "", t->name);
        }
        for (int i = 0; i < b->n_layers; i++) {
            if (!one[i])
                continue;
            ir_op op = b->layers[i].node.op;
            if (weights_only && !(kind_of(op)->flags & KIND_WEIGHTED)) {
                diag_error(t->loc, "%s applies to conv and linear layers; '%s' is %s %s layer",
                           what, b->layers[i].node.name,
                           strchr("aeiou", kind_of(op)->name[0]) ? "an" : "a", kind_of(op)->name);
                errors++;
                break;
            }
            hit[i] = 1;
        }
    }
    if (!errors && !matched && st->targets && !b->check_only) {
        diag_error(st->targets->loc, "'%s' matches no layer of model '%s': it has no %s layer",
                   st->targets->name, b->name, kinds);
        errors++;
    }
    free(one);
    if (errors) {
        free(hit);
        return NULL;
    }
    return hit;
}

/* The layer a replace or insert puts in. */
static int patch_layer(const ast_stmt *st, const char *what, layer *out, double *first)
{
    if (st->layers->is_call || st->layers->is_residual) {
        diag_error(st->layers->loc, "%s takes a layer, not a %s", what,
                   st->layers->is_call ? "macro call" : "residual block");
        return -1;
    }
    return layer_lower(st->layers, NULL, out, first);
}

/* Layer i is a residual block's add, which a replace or an insert before
 * cannot take (1, after reporting), or not (0). */
static int joins(const build *b, int i, const ast_stmt *st, const char *what)
{
    if (b->layers[i].node.op != IR_ADD)
        return 0;
    const ast_name *t = st->targets;    /* the target that matched it */
    while (t->next && strcmp(t->name, "add") != 0 && strcmp(t->name, b->layers[i].node.name) != 0)
        t = t->next;
    diag_error(t->loc, "%s cannot take '%s': it is the sum of a residual block "
               "(put the layer in the block)", what, b->layers[i].node.name);
    return 1;
}

static int patch_replace(build *b, const ast_stmt *st)
{
    layer with;
    if (patch_layer(st, "replace", &with, NULL) != 0)
        return -1;
    unsigned char *hit = targets_match(b, st, "replace", 0);
    if (!hit)
        return -1;
    int err = 0;
    for (int i = 0; i < b->n_layers && !err; i++)
        if (hit[i]) {
            err = joins(b, i, st, "replace");
            if (err)
                break;
            layer *l = &b->layers[i];
            int uid = b->next_uid++, src = l->src, old = l->uid;
            *l = with;
            l->uid = uid;
            l->src = src;
            build_redirect(b, old, uid, i);
        }
    free(hit);
    return err ? -1 : 0;
}

static int patch_insert(build *b, const ast_stmt *st)
{
    layer add;
    double first;
    if (patch_layer(st, "insert", &add, &first) != 0)
        return -1;
    unsigned char *hit = targets_match(b, st, "insert", 0);
    if (!hit)
        return -1;
    int n = b->n_layers, err = 0;
    /* Walk the original layers from the last, so indices stay valid; the
     * lowest insertion is the first one, which takes sigma=first. */
    int lowest = -1;
    for (int i = 0; i < n; i++)
        if (hit[i] && lowest < 0)
            lowest = i;
    for (int i = n - 1; i >= 0 && !err; i--) {
        if (!hit[i])
            continue;
        if ((err = !st->after && joins(b, i, st, "insert ... before")) != 0)
            break;
        layer l = add;
        if (i == lowest && !isnan(first))
            l.node.sigma = first;
        /* before: it reads what the target read, and the target it;
         * after: it reads the target, and what read the target reads it */
        int at = st->after ? i + 1 : i, target = b->layers[i].uid;
        l.src = st->after ? target : b->layers[i].src;
        err = build_insert(b, at, &l) != 0;
        if (err)
            break;
        int uid = b->layers[at].uid;
        if (st->after)
            build_redirect(b, target, uid, at);
        else
            b->layers[i + 1].src = uid;
    }
    free(hit);
    return err ? -1 : 0;
}

static int patch_quantize(build *b, const ast_stmt *st)
{
    static const param_spec specs[] = {
        { "bits", PT_INT, 0, 0, 2, 16, 0, NULL },
        { "range", PT_WORD, 0, 0, 0, 0, 0, "minmax|fixed|channel" },
        { "lo", PT_NUM, 0, 0, -NOLIM, NOLIM, 0, NULL },
        { "hi", PT_NUM, 0, 0, -NOLIM, NOLIM, 0, NULL },
    };
    param_val v[N(specs)];
    if (params_bind("quantize", st->loc, specs, N(specs), st->args, NULL, v) != 0)
        return -1;
    ir_quant q = { v[0].given ? (int)v[0].num : 8,
                   v[1].given ? (ir_qrange)(int)v[1].num : IR_QRANGE_MINMAX, 0, 0, st->loc };
    if (q.range == IR_QRANGE_FIXED) {
        if (!v[2].given || !v[3].given) {
            diag_error(st->loc, "quantize range=fixed needs lo= and hi=");
            return -1;
        }
        q.lo = v[2].num;
        q.hi = v[3].num;
        if (!(q.lo < q.hi)) {
            diag_error(v[3].loc, "quantize needs lo < hi, got lo=%g hi=%g", q.lo, q.hi);
            return -1;
        }
    } else if (v[2].given || v[3].given) {
        diag_error(v[2].given ? v[2].loc : v[3].loc, "lo= and hi= need range=fixed");
        return -1;
    }
    unsigned char *hit = targets_match(b, st, "quantize", 1);
    if (!hit)
        return -1;
    for (int i = 0; i < b->n_layers; i++)
        if (hit[i])
            b->layers[i].node.wquant = q;
    free(hit);
    return 0;
}

static int patch_regularize(build *b, const ast_stmt *st)
{
    static const param_spec ortho[] = {
        { "weight", PT_NUM, 0, 1, 0, NOLIM, 0, NULL },
        { "form", PT_INT, 0, 0, 1, 4, 0, NULL },
    };
    static const param_spec spectral[] = {
        { "weight", PT_NUM, 0, 1, 0, NOLIM, 0, NULL },
        { "iters", PT_INT, 0, 0, 1, 1000, 0, NULL },
        { "persistent", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    };
    ir_reg r;
    memset(&r, 0, sizeof r);
    r.loc = st->loc;
    param_val v[3];
    if (strcmp(st->word, "orthogonal") == 0) {
        if (params_bind("regularize orthogonal", st->loc, ortho, N(ortho), st->args, NULL, v) != 0)
            return -1;
        r.kind = IR_REG_ORTHO;
        r.weight = v[0].num;
        r.form = v[1].given ? (int)v[1].num : 4;
    } else if (strcmp(st->word, "spectral") == 0) {
        if (params_bind("regularize spectral", st->loc, spectral, N(spectral), st->args,
                        NULL, v) != 0)
            return -1;
        r.kind = IR_REG_SPECTRAL;
        r.weight = v[0].num;
        r.iters = v[1].given ? (int)v[1].num : 1;
        r.persistent = v[2].given ? (int)v[2].num : 1;
    } else {
        diag_error(st->word_loc, "unknown regulariser '%s' (expected orthogonal or spectral)",
                   st->word);
        return -1;
    }
    unsigned char *hit = targets_match(b, st, "regularize", 1);
    if (!hit)
        return -1;
    int err = 0;
    for (int i = 0; i < b->n_layers && !err; i++)
        if (hit[i])
            err = build_add_reg(b, &r, b->layers[i].uid) != 0;
    free(hit);
    return err ? -1 : 0;
}

int patch_apply(build *b, const ast_stmt *st)
{
    int rc = -1;
    switch (st->kind) {
    case ST_TRAIN: rc = settings_train(st, &b->set); break;
    case ST_ATTACK: rc = settings_attack(st, &b->set); break;
    case ST_ENSEMBLE: rc = settings_ensemble(st, &b->set); break;
    case ST_AUGMENT: rc = settings_augment(st, &b->set); break;
    case ST_REPLACE: rc = patch_replace(b, st); break;
    case ST_QUANTIZE: rc = patch_quantize(b, st); break;
    case ST_REGULARIZE: rc = patch_regularize(b, st); break;
    case ST_INSERT: rc = patch_insert(b, st); break;
    case ST_INPUT:
    case ST_CHAIN:
        if (st->kind == ST_INPUT)
            diag_error(st->loc, "a patch cannot hold an input statement");
        else
            diag_error(st->loc, "a patch cannot add layers by a chain; use insert or replace");
        return -1;
    }
    build_name_layers(b);
    return rc;
}
