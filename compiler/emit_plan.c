/* emit_plan.c - lay a fused model out in memory: its parameter tensors in
 * one buffer, and its activations and scratch in one arena whose size is
 * linear in the batch capacity; each kind says what tensors and slots it
 * needs (kind.h).  Also the line writer the emitter uses. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kind.h"

void emit_line(FILE *out, int indent, const char *fmt, ...)
{
    va_list ap;
    for (int i = 0; i < indent; i++)
        fputs("    ", out);
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
}

const char *emit_real(double v, char *buf, size_t len)
{
    int digits = 6;
    do
        snprintf(buf, len, "%.*g", digits, v);
    while (strtod(buf, NULL) != v && ++digits <= 17);
    /* a floating literal, so that C never divides it as an integer */
    if (!strpbrk(buf, ".e") && strlen(buf) + 3 <= len)
        strcat(buf, ".0");
    return buf;
}

const char *emit_reals(const double *v, int n, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k < len; i++) {
        char r[32];
        k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", emit_real(v[i], r, sizeof r));
    }
    return buf;
}

/* The spec text at loc, from its first non-blank, made safe for a C
 * comment; call: only the macro call that starts at loc's column. */
static void cite_text(ir_loc loc, int call, char *buf, size_t size)
{
    const char *text = loc.text ? loc.text : "";
    if (call && loc.col >= 1 && (size_t)loc.col <= strlen(text))
        text += loc.col - 1;
    while (*text == ' ' || *text == '\t')
        text++;
    size_t end = strlen(text);
    if (call) {
        const char *paren = strchr(text, '(');
        const char *arrow = strstr(text, "->");
        if (paren && (!arrow || paren < arrow)) {
            const char *close = strchr(paren, ')');
            end = close ? (size_t)(close - text) + 1 : end;
        } else if (arrow) {
            end = (size_t)(arrow - text);
        }
        while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\t'))
            end--;
    }
    /* The spec line goes into a C comment: keep it from closing one. */
    size_t j = 0;
    for (size_t i = 0; i < end && j + 2 < size; i++) {
        if (text[i] == '*' && text[i + 1] == '/') {
            buf[j++] = '*';
            buf[j++] = ' ';
            continue;
        }
        buf[j++] = text[i];
    }
    buf[j] = 0;
}

void emit_cite_loc(FILE *out, int indent, const char *what, ir_loc loc)
{
    char buf[200];
    cite_text(loc, 0, buf, sizeof buf);
    emit_line(out, indent, "/* %s, %s:%d:%d: %s */", what,
              loc.file ? loc.file : "?", loc.line, loc.col, buf);
}

void emit_group_head(FILE *out, const emit_group *g, int backward,
                     const char *unused)
{
    if (backward)
        emit_line(out, 0, "static void g%d_backward(advcc_ctx *c, const real_t *x, const real_t *dout, "
                          "real_t *dx, int B, int mode, int want_params)", g->index);
    else
        emit_line(out, 0, "static void g%d_forward(advcc_ctx *c, const real_t *x, int B, int mode)",
                  g->index);
    emit_line(out, 0, "{");
    while (unused && *unused) {
        size_t n = strcspn(unused, " ");
        if (n)
            emit_line(out, 1, "(void)%.*s;", (int)n, unused);
        unused += n + (unused[n] == ' ');
    }
}

/* A layer a macro made cites the call, then the macro's line (its file
 * named only when it is another): "file:11:19: block(64, 5) -> :5:3: conv ...". */
void emit_cite(FILE *out, int indent, const ir_node *n)
{
    if (!n->call.file) {
        emit_cite_loc(out, indent, n->name, n->loc);
        return;
    }
    char call[120], body[200];
    cite_text(n->call, 1, call, sizeof call);
    cite_text(n->loc, 0, body, sizeof body);
    const char *file = n->loc.file && strcmp(n->loc.file, n->call.file) != 0 ? n->loc.file : "";
    emit_line(out, indent, "/* %s, %s:%d:%d: %s -> %s:%d:%d: %s */", n->name, n->call.file,
              n->call.line, n->call.col, call, file, n->loc.line, n->loc.col, body);
}

static long shape_size(ir_shape s)
{
    return (long)s.c * s.h * s.w;
}

void emit_add_tensor(emit_plan *p, const ir_node *n, const char *suffix,
                     const char *kind, int ndim, int d0, int d1, int d2, int d3)
{
    emit_tensor *t = &p->tensors[p->n_tensors++];
    int dims[4] = {d0, d1, d2, d3};
    snprintf(t->name, sizeof t->name, "%s.%s", n->name, suffix);
    snprintf(t->sym, sizeof t->sym, "P_%s_%s", n->name, suffix);
    t->ndim = ndim;
    t->size = 1;
    for (int i = 0; i < 4; i++) {
        t->shape[i] = i < ndim ? dims[i] : 0;
        if (i < ndim)
            t->size *= dims[i];
    }
    t->kind = kind;
    /* a tensor of a vector or more on 64 bytes, as the arena's slots:
     * quant_reg's DTReLU bounds, two reals each, had left its first linear
     * weight 24 bytes off, under the penalties' products and the optimiser
     * step; scalars and short vectors stay packed */
    if (t->size >= PLAN_ALIGN) {
        t->offset = plan_take(&p->n_params, t->size);
    } else {
        t->offset = p->n_params;
        p->n_params += t->size;
    }
}

const char *emit_c_string(const char *s, char *buf, size_t len)
{
    size_t j = 0;
    buf[j++] = '"';
    for (; *s && j + 6 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[j++] = '\\';
            buf[j++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            j += (size_t)snprintf(buf + j, len - j, "\\%03o", c);
        } else {
            buf[j++] = (char)c;
        }
    }
    buf[j++] = '"';
    buf[j] = 0;
    return buf;
}

const emit_tensor *emit_tensor_of(const emit_plan *p, const ir_node *n,
                                  const char *suffix)
{
    char name[48];
    snprintf(name, sizeof name, "%s.%s", n->name, suffix);
    for (int i = 0; i < p->n_tensors; i++)
        if (strcmp(p->tensors[i].name, name) == 0)
            return &p->tensors[i];
    return NULL;
}

/* The power-iteration vectors of each spectral penalty on node i, after
 * the node's own tensors, shaped by its kind: u on the output side, v on
 * the input side. */
static void plan_spectral_state(emit_plan *p, int node)
{
    const ir_model *m = p->m;
    const ir_node *n = &m->nodes[node];
    for (int r = 0; r < m->n_regs; r++) {
        if (m->regs[r].kind != IR_REG_SPECTRAL || m->regs[r].node != node)
            continue;
        char u[24], v[24];
        emit_spectral_suffix(m, r, u, v, sizeof u);
        kind_of(n->op)->spectral_state(p, n, u, v);
        /* training state: not in the model's checkpoint */
        p->tensors[p->n_tensors - 1].train_only = 1;
        p->tensors[p->n_tensors - 2].train_only = 1;
    }
}

static void plan_tensors(emit_plan *p)
{
    const ir_model *m = p->m;
    for (int i = 0; i < m->n_nodes; i++) {
        const ir_node *n = &m->nodes[i];
        if (kind_of(n->op)->tensors)
            kind_of(n->op)->tensors(p, n);
        plan_spectral_state(p, i);
    }
}

int kind_cnhw_always(const ir_node *n)
{
    (void)n;
    return 1;
}

long plan_round(long n)
{
    return (n + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

long plan_take(long *at, long n)
{
    const long start = plan_round(*at);
    *at = start + n;
    return start;
}

void emit_plan_cnhw_input(emit_group *g, long *per)
{
    if (g->in_layout == LAYOUT_CNHW)
        return;
    g->cv_slot = plan_take(per, g->in_size);
    g->cvg_slot = plan_take(per, g->in_size);
}

void emit_init_uniform(FILE *out, const emit_plan *p, const ir_node *n)
{
    const emit_tensor *w = emit_tensor_of(p, n, "weight");
    const emit_tensor *b = emit_tensor_of(p, n, "bias");
    long fan_in = w->size / w->shape[0];
    emit_line(out, 1, "uniform_fill(p + %s, %ld, %.17g, rng);", w->sym, w->size,
              1.0 / sqrt((double)fan_in));
    if (b)
        emit_line(out, 1, "uniform_fill(p + %s, %ld, %.17g, rng);", b->sym, b->size,
                  1.0 / sqrt((double)fan_in));
}

/* sym: "<prefix><node>_<what>" when the slot is there, else "". */
static void slot_name(char *sym, long slot, const char *prefix, const ir_node *n,
                      const char *what)
{
    if (slot >= 0)
        snprintf(sym, 48, "%s%s_%s", prefix, n->name, what);
    else
        sym[0] = '\0';
}

/* Each slot is named by the layer whose values it holds: the group's
 * output by its last layer (S_pool2_out), the output of its first before
 * the fused epilogue by that one (S_conv2_out). */
static void name_slots(emit_group *g, const ir_node *last, const char *in_sym)
{
    const ir_node *n = g->main;
    snprintf(g->in_sym, sizeof g->in_sym, "%s", in_sym);
    slot_name(g->out_sym, g->out_slot, "S_", last, "out");
    slot_name(g->y_sym, g->y_slot, "S_", n, n == last ? "y" : "out");
    slot_name(g->argmax_sym, g->argmax_slot, "S_", g->pool ? g->pool : n, "argmax");
    slot_name(g->cv_sym, g->cv_slot, "S_", n, "in_cnhw");
    slot_name(g->in2_cv_sym, g->in2_cv_slot, "S_", n, "shortcut");
    slot_name(g->cvg_sym, g->cvg_slot, "S_", n, "din_cnhw");
    slot_name(g->tx_sym, g->tx_slot, "S_", n, "xt");
    slot_name(g->bn_sym, g->bn_fix, "F_", g->bn ? g->bn : n, "stats");
    slot_name(g->wq_sym, g->wq_fix, "F_", n, "wq");
    slot_name(g->wq_range_sym, g->wq_range_fix, "F_", n, "wq_range");
    slot_name(g->act_sym, g->act_fix, "F_", g->act ? g->act : n, "bound_sums");
}

/* A free gradient buffer (busy has n_groups + 2 entries: no more are ever
 * held at once), now busy. */
static int grad_take(emit_plan *p, unsigned char *busy)
{
    int k = 0;
    while (busy[k])
        k++;
    busy[k] = 1;
    if (k >= p->n_grads)
        p->n_grads = k + 1;
    return k;
}

/* The backward's buffers (emit_group's dout_buf ...), last group first: a
 * group's output gradient lives from its last reader's backward to its
 * own; the first reader to run writes it, the others add to it.  For a
 * chain this is the two buffers in turn.  A gradient-identity group (noise)
 * that is its input's first reader passes its buffer on as its input's. */
static void plan_backward(emit_plan *p)
{
    unsigned char *busy = calloc((size_t)p->n_groups + 2, 1);
    int *buf = malloc(sizeof *buf * ((size_t)p->n_groups + 1));
    if (!buf || !busy)
        abort();
    for (int i = 0; i < p->n_groups; i++)
        buf[i] = -1;
    int dx_written = 0;
    for (int i = p->n_groups - 1; i >= 0; i--) {
        emit_group *g = &p->groups[i];
        int *dst = g->src >= 0 ? &buf[g->src] : NULL;
        int scratch = -1;
        g->dout_buf = buf[i];
        g->in_into = -2;
        g->grad_pass = (kind_of(g->main->op)->flags & KIND_GRAD_IDENTITY) &&
                       g->first == g->last && dst && *dst < 0 && buf[i] >= 0;
        if (g->grad_pass) {
            g->in_buf = *dst = buf[i];  /* stays busy: now the input's */
            continue;
        } else if (dst && *dst < 0) {
            g->in_buf = *dst = grad_take(p, busy);
        } else if (!dst && !dx_written) {
            g->in_buf = -1;
        } else {
            g->in_buf = scratch = grad_take(p, busy);
            g->in_into = dst ? *dst : -1;
        }
        dx_written |= !dst;
        if (g->main->op == IR_ADD) {
            int *dst2 = g->src2 >= 0 ? &buf[g->src2] : NULL;
            g->in2_add = dst2 ? *dst2 >= 0 : dx_written;
            if (dst2 && *dst2 < 0)
                *dst2 = grad_take(p, busy);
            g->in2_buf = dst2 ? *dst2 : -1;
            dx_written |= !dst2;
        }
        if (scratch >= 0)
            busy[scratch] = 0;
        if (buf[i] >= 0)
            busy[buf[i]] = 0;
    }
    free(buf);
    free(busy);
}

int emit_plan_build(const ir_model *m, emit_plan *p)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    p->tensors = calloc((size_t)m->n_nodes * 4 + (size_t)m->n_regs * 2 + 1,
                        sizeof *p->tensors);
    p->groups = calloc((size_t)m->n_groups + 1, sizeof *p->groups);
    if (!p->tensors || !p->groups) {
        emit_plan_free(p);
        return -1;
    }
    plan_tensors(p);

    plan_state st = {0, 0, 0, shape_size(m->input), 0};
    /* the group whose output each node's is (its last node's) */
    int *group_of = malloc(sizeof *group_of * ((size_t)m->n_nodes + 1));
    if (!group_of) {
        emit_plan_free(p);
        return -1;
    }
    for (int gi = 0; gi < m->n_groups; gi++)
        for (int j = m->groups[gi].first; j <= m->groups[gi].last; j++)
            group_of[j] = gi;
    for (int gi = 0; gi < m->n_groups; gi++) {
        const ir_group *fg = &m->groups[gi];
        emit_group *g = &p->groups[p->n_groups];
        const ir_node *n = &m->nodes[fg->first];
        memset(g, 0, sizeof *g);
        g->index = p->n_groups++;
        g->first = fg->first;
        g->last = fg->last;
        g->main = n;
        g->bn = fg->bn >= 0 ? &m->nodes[fg->bn] : NULL;
        g->act = fg->act >= 0 ? &m->nodes[fg->act] : NULL;
        g->pool = fg->pool >= 0 ? &m->nodes[fg->pool] : NULL;
        const ir_node *last = &m->nodes[g->last];
        const layer_kind *k = kind_of(n->op);
        g->in_size = shape_size(n->in);
        g->out_size = shape_size(last->out);
        g->src = n->src >= 0 ? group_of[n->src] : -1;
        g->src2 = n->op == IR_ADD && n->src2 >= 0 ? group_of[n->src2] : -1;
        const emit_group *src = g->src >= 0 ? &p->groups[g->src] : NULL;
        const emit_group *src2 = g->src2 >= 0 ? &p->groups[g->src2] : NULL;
        g->in_slot = src ? src->out_slot : -1;
        g->in2_slot = src2 ? src2->out_slot : -1;
        g->in2_cv_slot = -1;
        g->y_slot = g->argmax_slot = g->bn_fix = g->cv_slot = g->cvg_slot = -1;
        g->wq_fix = g->wq_range_fix = g->act_fix = g->tx_slot = -1;
        int layout = src ? src->out_layout : LAYOUT_NCHW;
        g->in_layout = layout;
        g->in2_layout = src2 ? src2->out_layout : LAYOUT_NCHW;
        if (k->cnhw_input && k->cnhw_input(n))
            layout = LAYOUT_CNHW;
        else if (k->out_layout >= 0)
            layout = k->out_layout;
        g->out_layout = layout;

        g->out_slot = plan_take(&st.per, g->out_size);
        for (int j = g->first; j <= g->last; j++) {
            const layer_kind *kj = kind_of(m->nodes[j].op);
            if (kj->plan)
                kj->plan(p, g, &m->nodes[j], &st);
        }
        name_slots(g, last, src ? src->out_sym : "");
        snprintf(g->in2_sym, sizeof g->in2_sym, "%s", src2 ? src2->out_sym : "");
        if (g->in_size > st.grad)
            st.grad = g->in_size;
        if (g->out_size > st.grad)
            st.grad = g->out_size;
    }
    free(group_of);
    long per = plan_round(st.per);
    p->col_slot = per;
    per += plan_round(st.col);
    plan_backward(p);
    p->grad_slot = calloc((size_t)p->n_grads + 1, sizeof *p->grad_slot);
    if (!p->grad_slot) {
        emit_plan_free(p);
        return -1;
    }
    for (int i = 0; i < p->n_grads; i++) {
        p->grad_slot[i] = per;
        per += plan_round(st.grad);
    }
    p->dy_slot = per;
    per += plan_round(st.dy);
    p->per_image = per;
    p->fixed = plan_round(st.fixed);
    return 0;
}

void emit_plan_free(emit_plan *p)
{
    free(p->tensors);
    free(p->groups);
    free(p->grad_slot);
    p->tensors = NULL;
    p->groups = NULL;
    p->grad_slot = NULL;
}
