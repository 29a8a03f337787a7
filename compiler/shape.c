/* shape.c - shape inference and parameter counts: the walk over a model
 * and the checks every layer shares; each kind's own rule and count are in
 * its file (kind.h). */
#include "shape.h"

#include <string.h>

#include "describe.h"
#include "diag.h"
#include "kind.h"

const char *shape_text(ir_shape s, char *buf, size_t size)
{
    if (s.flat)
        snprintf(buf, size, "%d", s.c);
    else
        snprintf(buf, size, "%dx%dx%d", s.c, s.h, s.w);
    return buf;
}

static int shape_node(const ir_model *m, ir_node *n, const ir_node *prev)
{
    ir_shape out = n->in;
    char buf[64];
    const layer_kind *k = kind_of(n->op);
    if (k->shape && k->shape(m, n, prev, &out) != 0)
        return -1;
    long long elems = (long long)out.c * out.h * out.w;
    if (elems > SHAPE_MAX_ELEMS) {
        diag_error(n->loc, "%s output %s has %lld values per image, more than %d",
                   k->name, shape_text(out, buf, sizeof buf), elems, SHAPE_MAX_ELEMS);
        return -1;
    }
    n->out = out;
    return 0;
}

int shape_model(ir_model *m)
{
    ir_shape cur = m->input;
    long long elems = (long long)cur.c * cur.h * cur.w;
    if (elems > SHAPE_MAX_ELEMS) {
        diag_error(m->loc, "input of model '%s' has %lld values per image, more than %d",
                   m->name, elems, SHAPE_MAX_ELEMS);
        return -1;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        ir_node *n = &m->nodes[i];
        const ir_node *src = n->src >= 0 ? &m->nodes[n->src] : NULL;
        n->in = src ? src->out : m->input;
        if (shape_node(m, n, src) != 0)
            return -1;
        cur = n->out;
    }
    if (m->n_nodes == 0)
        return 0;
    const ir_node *last = &m->nodes[m->n_nodes - 1];
    char buf[64];
    if (!cur.flat) {
        diag_error(last->loc, "model '%s' ends with the image %s; it must end with %d class scores",
                   m->name, shape_text(cur, buf, sizeof buf), m->classes);
        return -1;
    }
    if (cur.c != m->classes) {
        diag_error(last->loc, "last layer '%s' gives %d features but model '%s' has %d classes",
                   last->name, cur.c, m->name, m->classes);
        return -1;
    }
    long long state;
    long long params = shape_model_params(m, &state);
    if (params + state > SHAPE_MAX_PARAMS) {
        diag_error(m->loc, "model '%s' has %lld parameters, more than %lld",
                   m->name, params + state, SHAPE_MAX_PARAMS);
        return -1;
    }
    return 0;
}

long long shape_node_params(const ir_node *n, long long *state)
{
    *state = 0;
    const layer_kind *k = kind_of(n->op);
    return k->count ? k->count(n, state) : 0;
}

long long shape_model_params(const ir_model *m, long long *state)
{
    long long total = 0, st;
    *state = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        total += shape_node_params(&m->nodes[i], &st);
        *state += st;
    }
    return total;
}

static const char *loc_text(ir_loc loc, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%d:%d", loc.file ? loc.file : "?", loc.line, loc.col);
    return buf;
}

void shape_print(FILE *out, const ir_model *m)
{
    char sbuf[64], lbuf[320];
    fprintf(out, "model %s  (%s)  input %s, %d classes\n", m->name,
            loc_text(m->loc, lbuf, sizeof lbuf), shape_text(m->input, sbuf, sizeof sbuf),
            m->classes);
    fprintf(out, "  %-12s %-10s %-12s %10s  %s\n", "layer", "kind", "output", "params", "spec");
    for (int i = 0; i < m->n_nodes; i++) {
        const ir_node *n = &m->nodes[i];
        long long state;
        long long p = shape_node_params(n, &state);
        snprintf(sbuf, sizeof sbuf, "%dx%dx%d", n->out.c, n->out.h, n->out.w);
        fprintf(out, "  %-12s %-10s %-12s %10lld  %s", n->name, kind_of(n->op)->name,
                sbuf, p, loc_text(n->loc, lbuf, sizeof lbuf));
        /* what a residual block's layers read, where it is not the layer above */
        const char *src = n->src >= 0 ? m->nodes[n->src].name : "input";
        if (n->op == IR_ADD)
            fprintf(out, "  (%s + %s)", src, n->src2 >= 0 ? m->nodes[n->src2].name : "input");
        else if (n->src != i - 1)
            fprintf(out, "  (reads %s)", src);
        fputc('\n', out);
    }
    long long state;
    long long total = shape_model_params(m, &state);
    fprintf(out, "  %-12s %-10s %-12s %10lld  trained", "total", "", "", total);
    if (total >= 100000)
        fprintf(out, " (%.2fM)", total / 1e6);
    if (state)
        fprintf(out, ", plus %lld running statistics", state);
    fputc('\n', out);
    /* The defences, when there are any (compiler/describe.h). */
    describe_kv kv[DESCRIBE_MAX];
    int n = describe_model(m, kv);
    for (int i = 0; i < n; i++) {
        const char *k = kv[i].key;
        if ((!strcmp(k, "quantize") || !strcmp(k, "noise") || !strcmp(k, "regularize")) &&
            strcmp(kv[i].value, "none") != 0)
            fprintf(out, "  %-12s %s\n", k, kv[i].value);
        if (!strcmp(k, "ensemble") && strcmp(kv[i].value, "1") != 0)
            fprintf(out, "  %-12s %s\n", k, kv[i].value);
    }
}
