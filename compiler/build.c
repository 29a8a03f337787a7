/* build.c - a model under construction. */
#include "build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

static void *build_grow(void *p, int *cap, size_t elem)
{
    int n = *cap ? 2 * *cap : 16;
    void *q = realloc(p, elem * (size_t)n);
    if (!q) {
        fputs("advcc: out of memory\n", stderr);
        abort();
    }
    *cap = n;
    return q;
}

void build_init(build *b, const char *name, const char *source, ir_loc loc)
{
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    b->source = source;
    b->loc = loc;
    settings_init(&b->set, loc);
    b->next_uid = 1;
}

void build_free(build *b)
{
    free(b->layers);
    free(b->regs);
    b->layers = NULL;
    b->regs = NULL;
    b->n_layers = b->n_regs = b->cap_layers = b->cap_regs = 0;
}

void build_copy_body(build *dst, const build *src)
{
    dst->has_input = src->has_input;
    dst->input = src->input;
    dst->classes = src->classes;
    dst->set = src->set;
    dst->next_uid = src->next_uid;
    dst->n_layers = dst->n_regs = 0;
    for (int i = 0; i < src->n_layers; i++) {
        if (dst->n_layers == dst->cap_layers)
            dst->layers = build_grow(dst->layers, &dst->cap_layers, sizeof *dst->layers);
        dst->layers[dst->n_layers++] = src->layers[i];
    }
    for (int i = 0; i < src->n_regs; i++) {
        if (dst->n_regs == dst->cap_regs)
            dst->regs = build_grow(dst->regs, &dst->cap_regs, sizeof *dst->regs);
        dst->regs[dst->n_regs++] = src->regs[i];
    }
}

int build_insert(build *b, int at, const layer *l)
{
    if (b->n_layers >= BUILD_MAX_LAYERS) {
        diag_error(l->node.loc, "model '%s' has more than %d layers", b->name, BUILD_MAX_LAYERS);
        return -1;
    }
    if (b->n_layers == b->cap_layers)
        b->layers = build_grow(b->layers, &b->cap_layers, sizeof *b->layers);
    memmove(&b->layers[at + 1], &b->layers[at], sizeof *b->layers * (size_t)(b->n_layers - at));
    b->layers[at] = *l;
    b->layers[at].uid = b->next_uid++;
    b->n_layers++;
    return 0;
}

int build_add_reg(build *b, const ir_reg *r, int uid)
{
    if (b->n_regs >= BUILD_MAX_REGS) {
        diag_error(r->loc, "model '%s' has more than %d regularisers", b->name, BUILD_MAX_REGS);
        return -1;
    }
    if (b->n_regs == b->cap_regs)
        b->regs = build_grow(b->regs, &b->cap_regs, sizeof *b->regs);
    b->regs[b->n_regs].reg = *r;
    b->regs[b->n_regs].uid = uid;
    b->n_regs++;
    return 0;
}

int build_find(const build *b, int uid)
{
    for (int i = 0; i < b->n_layers; i++)
        if (b->layers[i].uid == uid)
            return i;
    return -1;
}

void build_redirect(build *b, int from, int to, int except)
{
    for (int i = 0; i < b->n_layers; i++) {
        if (i == except)
            continue;
        if (b->layers[i].src == from)
            b->layers[i].src = to;
        if (b->layers[i].src2 == from)
            b->layers[i].src2 = to;
    }
}

/* The n-th layer of a prefix is <prefix>n whatever else is named, so
 * naming one layer never renames another. */
void build_name_layers(build *b)
{
    enum { MAX_KINDS = 64 };
    int count[MAX_KINDS] = {0};
    for (int i = 0; i < b->n_layers; i++) {
        layer *l = &b->layers[i];
        const layer_kind *k = kind_of(l->node.op);
        int slot = 0;       /* kinds that share a prefix share a count */
        while (strcmp(layer_kind_at(slot)->prefix, k->prefix) != 0)
            slot++;
        count[slot]++;
        if (!l->named)
            snprintf(l->node.name, sizeof l->node.name, "%s%d", k->prefix, count[slot]);
    }
}

int build_check_names(const build *b)
{
    int errors = 0;
    for (int i = 1; i < b->n_layers; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(b->layers[i].node.name, b->layers[j].node.name) == 0) {
                const layer *l = b->layers[i].named ? &b->layers[i] : &b->layers[j];
                diag_error(l->node.loc, "duplicate layer name '%s' in model '%s'",
                           l->node.name, b->name);
                errors++;
                break;
            }
    return errors ? -1 : 0;
}

int build_lower(const build *b, ir_model *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", b->name);
    m->source = b->source;
    m->loc = b->loc;
    m->input = b->input;
    m->classes = b->classes;
    settings_apply(&b->set, m);
    m->nodes = calloc((size_t)b->n_layers + 1, sizeof *m->nodes);
    m->regs = calloc((size_t)b->n_regs + 1, sizeof *m->regs);
    if (!m->nodes || !m->regs) {
        fputs("advcc: out of memory\n", stderr);
        abort();
    }
    for (int i = 0; i < b->n_layers; i++) {
        const layer *l = &b->layers[i];
        m->nodes[i] = l->node;
        m->nodes[i].src = l->src ? build_find(b, l->src) : -1;
        m->nodes[i].src2 = l->src2 > 0 ? build_find(b, l->src2) : -1;
    }
    m->n_nodes = b->n_layers;
    int errors = 0;
    for (int i = 0; i < b->n_regs; i++) {
        int at = -1;
        for (int j = 0; j < b->n_layers; j++)
            if (b->layers[j].uid == b->regs[i].uid)
                at = j;
        if (at < 0) {
            diag_error(b->regs[i].reg.loc,
                       "a layer regularised here was replaced by a later patch");
            errors++;
            continue;
        }
        m->regs[m->n_regs] = b->regs[i].reg;
        m->regs[m->n_regs].node = at;
        m->n_regs++;
    }
    return errors ? -1 : 0;
}
