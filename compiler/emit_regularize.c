/* emit_regularize.c - the regularisers of docs/METHODS.md 5 as a table of
 * terms, one per (kind, layer) of the IR, and model_regularize, which has
 * the runtime run them (regularize.h) on the float master weights, their
 * gradients added into the parameter gradients.  The scratch the terms
 * need lies after the arena's fixed part; its size is asked of the
 * runtime. */
#include "emit_internal.h"

#define L(...) emit_line(out, __VA_ARGS__)

/* How many regs before i have the same kind and layer. */
static int reg_repeat(const ir_model *m, int i)
{
    int k = 0;
    for (int j = 0; j < i; j++)
        k += m->regs[j].kind == m->regs[i].kind && m->regs[j].node == m->regs[i].node;
    return k;
}

void emit_spectral_suffix(const ir_model *m, int i, char *u, char *v,
                          size_t len)
{
    int k = reg_repeat(m, i);
    if (k == 0) {
        snprintf(u, len, "sn_u");
        snprintf(v, len, "sn_v");
    } else {
        snprintf(u, len, "sn%d_u", k + 1);
        snprintf(v, len, "sn%d_v", k + 1);
    }
}

void emit_reg_term_name(const ir_model *m, int i, char *buf, size_t len)
{
    const ir_reg *r = &m->regs[i];
    const char *kind = r->kind == IR_REG_ORTHO ? "ortho" : "spectral";
    int k = reg_repeat(m, i);
    if (k == 0)
        snprintf(buf, len, "%s_%s", kind, m->nodes[r->node].name);
    else
        snprintf(buf, len, "%s_%s_%d", kind, m->nodes[r->node].name, k + 1);
}

/* The weight as a matrix [rows][cols]: a conv weight is [co][ci*kh*kw]. */
static void weight_matrix(const ir_node *n, int *rows, int *cols)
{
    if (n->op == IR_CONV) {
        *rows = n->out_c;
        *cols = n->in.c * n->kh * n->kw;
    } else {
        *rows = n->out_features;
        *cols = n->in.c * n->in.h * n->in.w;
    }
}

/* The index of the conv group node leads: its descriptor g<index>.conv is
 * the convolution's shape (runtime/conv_group.h). */
static int conv_group_index(const emit_plan *p, int node)
{
    for (int i = 0; i < p->n_groups; i++)
        if (p->groups[i].first == node)
            return p->groups[i].index;
    return -1;
}

void emit_regularize(FILE *out, const emit_plan *p)
{
    const ir_model *m = p->m;
    if (m->n_regs == 0)
        return;
    L(0, "/* The regularisers (docs/METHODS.md 5), on the float master weights,");
    L(0, " * for regularize_run (regularize.h). */");
    L(0, "static const reg_term reg_terms[%d] = {", m->n_regs);
    for (int i = 0; i < m->n_regs; i++) {
        const ir_reg *r = &m->regs[i];
        const ir_node *n = &m->nodes[r->node];
        const emit_tensor *w = emit_tensor_of(p, n, "weight");
        char name[64], wt[32];
        int rows, cols;
        emit_reg_term_name(m, i, name, sizeof name);
        weight_matrix(n, &rows, &cols);
        emit_real(r->weight, wt, sizeof wt);
        emit_cite_loc(out, 1, name, r->loc);
        if (r->kind == IR_REG_ORTHO) {
            L(1, "/* form %d on %s as [%d][%d] */", r->form, w->name, rows, cols);
            L(1, "{.kind = REG_ORTHOGONAL, .weight = %s, .rows = %d, .cols = %d, .form = %d,",
              w->sym, rows, cols, r->form);
            L(2, ".scale = %s},", wt);
            continue;
        }
        char us[24], vs[24];
        emit_spectral_suffix(m, i, us, vs, sizeof us);
        const emit_tensor *u = emit_tensor_of(p, n, us), *v = emit_tensor_of(p, n, vs);
        const char *how = r->persistent ? "continuing from the last step's u, v"
                                        : "restarting from ones";
        if (n->op == IR_CONV) {
            const int g = conv_group_index(p, r->node);
            L(1, "/* sigma of %s's operator (g%d.conv) on %dx%dx%d inputs, %d power", n->name,
              g, n->in.c, n->in.h, n->in.w, r->iters);
            L(1, " * iteration%s %s */", r->iters == 1 ? "" : "s", how);
            L(1, "{.kind = REG_SPECTRAL_CONV, .weight = %s, .rows = %d, .cols = %d,", w->sym,
              rows, cols);
            L(2, ".conv = &g%d.conv, .u = %s, .v = %s, .iters = %d, .restart = %d, .scale = %s},",
              g, u->sym, v->sym, r->iters, !r->persistent, wt);
        } else {
            L(1, "/* sigma of %s as [%d][%d], %d power iteration%s %s */", w->name, rows, cols,
              r->iters, r->iters == 1 ? "" : "s", how);
            L(1, "{.kind = REG_SPECTRAL_LINEAR, .weight = %s, .rows = %d, .cols = %d,", w->sym,
              rows, cols);
            L(2, ".u = %s, .v = %s, .iters = %d, .restart = %d, .scale = %s},", u->sym, v->sym,
              r->iters, !r->persistent, wt);
        }
    }
    L(0, "};");
    L(0, "%s", "");
    L(0, "/* The regularisers' scratch, after the arena's fixed part. */");
    L(0, "static size_t reg_scratch_size(void)");
    L(0, "{");
    L(1, "return regularize_scratch(reg_terms, %d);", m->n_regs);
    L(0, "}");
    L(0, "%s", "");
    L(0, "/* terms[i] = weight_i * P_i, their sum returned; with want_grad each");
    L(0, " * weight_i * dP_i/dW is added into c->grads. */");
    L(0, "static const char *const reg_term_names[%d] = {", m->n_regs);
    for (int i = 0; i < m->n_regs; i++) {
        char name[64];
        emit_reg_term_name(m, i, name, sizeof name);
        L(1, "\"%s\",", name);
    }
    L(0, "};");
    L(0, "%s", "");
    L(0, "static double model_regularize(advcc_ctx *c, int want_grad, double *terms)");
    L(0, "{");
    L(1, "return regularize_run(reg_terms, %d, c->params, want_grad ? c->grads : NULL, terms,",
      m->n_regs);
    L(2, "FIX(c, ARENA_FIXED));");
    L(0, "}");
    L(0, "%s", "");
}
