/* shape.c - shape inference and parameter counts. */
#include "shape.h"

#include <string.h>

#include "describe.h"
#include "diag.h"
#include "layer.h"

const char *shape_text(ir_shape s, char *buf, size_t size)
{
    if (s.flat)
        snprintf(buf, size, "%d", s.c);
    else
        snprintf(buf, size, "%dx%dx%d", s.c, s.h, s.w);
    return buf;
}

/* Output side of a window of size k, stride s, padding p over n. */
static long long window_out(long long n, int k, int s, int p)
{
    return (n + 2LL * p - k) / s + 1;
}

static int shape_node(const ir_model *m, ir_node *n, const ir_node *prev)
{
    ir_shape in = n->in;
    ir_shape out = in;
    char buf[64];
    const char *kind = layer_kind_of(n->op)->name;
    int image = !in.flat;

    switch (n->op) {
    case IR_CONV:
    case IR_AVGPOOL:
    case IR_MAXPOOL: {
        if (!image) {
            diag_error(n->loc, "%s needs an image, but its input is a flat vector of %d%s%s%s",
                       kind, in.c, prev ? " (from " : "", prev ? prev->name : "", prev ? ")" : "");
            return -1;
        }
        int pad = n->op == IR_CONV ? n->pad : 0;
        if (n->k > in.h + 2 * pad || n->k > in.w + 2 * pad) {
            if (n->op == IR_CONV)
                diag_error(n->loc, "kernel %dx%d is larger than its %sinput %dx%d",
                           n->k, n->k, pad ? "padded " : "", in.h + 2 * pad, in.w + 2 * pad);
            else
                diag_error(n->loc, "pool window %dx%d is larger than its input %dx%d",
                           n->k, n->k, in.h, in.w);
            return -1;
        }
        long long h = window_out(in.h, n->k, n->stride, pad);
        long long w = window_out(in.w, n->k, n->stride, pad);
        if (h <= 0 || w <= 0) {
            diag_error(n->loc, "%s output would be %lldx%lld", kind, h, w);
            return -1;
        }
        out.c = n->op == IR_CONV ? n->out_c : in.c;
        out.h = (int)h;
        out.w = (int)w;
        break;
    }
    case IR_NORMALIZE: {
        /* It reads the input images as they come (NCHW): every layer that
         * changes their layout (to channel-major, or to flat rows) must
         * follow it. */
        for (long i = n - m->nodes - 1; i >= 0; i--) {
            const ir_node *p = &m->nodes[i];
            if (p->op == IR_CONV || p->op == IR_BATCHNORM || p->op == IR_AVGPOOL ||
                p->op == IR_MAXPOOL || p->op == IR_FLATTEN || p->op == IR_LINEAR ||
                p->op == IR_NORMALIZE) {
                diag_error(n->loc, "normalize works on the input images and must come before "
                           "every %s layer, but it follows '%s'",
                           layer_kind_of(p->op)->name, p->name);
                return -1;
            }
        }
        int count = 0;
        while (count < (int)(sizeof n->std / sizeof n->std[0]) && n->std[count] > 0)
            count++;
        if (count != in.c) {
            diag_error(n->loc, "normalize has %d value%s per statistic "
                       "but its input has %d channel%s", count, count == 1 ? "" : "s", in.c, in.c == 1 ? "" : "s");
            return -1;
        }
        break;
    }
    case IR_FLATTEN:
        if (!image) {
            diag_error(n->loc, "flatten of an input that is already flat");
            return -1;
        }
        out.c = in.c * in.h * in.w;     /* bounded by SHAPE_MAX_ELEMS */
        out.h = out.w = 1;
        out.flat = 1;
        break;
    case IR_LINEAR:
        if (image) {
            diag_error(n->loc, "linear needs a flat input, but its input is the image %s; "
                       "put flatten before it", shape_text(in, buf, sizeof buf));
            return -1;
        }
        out.c = n->out_features;
        break;
    default:        /* elementwise: batchnorm, activations, noise */
        break;
    }
    long long elems = (long long)out.c * out.h * out.w;
    if (elems > SHAPE_MAX_ELEMS) {
        diag_error(n->loc, "%s output %s has %lld values per image, more than %d",
                   kind, shape_text(out, buf, sizeof buf), elems, SHAPE_MAX_ELEMS);
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
        n->in = cur;
        if (shape_node(m, n, i ? &m->nodes[i - 1] : NULL) != 0)
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
    switch (n->op) {
    case IR_CONV:
        return (long long)n->out_c * n->in.c * n->k * n->k + (n->bias ? n->out_c : 0);
    case IR_LINEAR:
        return (long long)n->out_features * n->in.c + (n->bias ? n->out_features : 0);
    case IR_BATCHNORM:
        *state = 2LL * n->in.c;
        return 2LL * n->in.c;
    case IR_DTRELU:
        return 2;
    case IR_PWLINEAR:   /* thresholds and values */
        return 2LL * n->levels;
    case IR_NAIVEDT:
    case IR_DDTRELU:
        return n->levels;
    default:
        return 0;
    }
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
        fprintf(out, "  %-12s %-10s %-12s %10lld  %s\n", n->name, layer_kind_of(n->op)->name,
                sbuf, p, loc_text(n->loc, lbuf, sizeof lbuf));
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
