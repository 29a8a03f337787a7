/* emit.c - write one model as C: the arena and parameter layout, each fused
 * group's forward and backward (written by the kind that leads it, kind.h),
 * and the descriptor of runtime/model.h that ties them together. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "emit.h"
#include "describe.h"
#include "kind.h"
#include "emit_internal.h"
#include "vocab.h"

#define L(...) emit_line(out, __VA_ARGS__)

static const char *init_name(int init)
{
    return init == 1 ? "ADVCC_INIT_GAUSSIAN" : init == 2 ? "ADVCC_INIT_UNIFORM"
                                                         : "ADVCC_INIT_NONE";
}

static void emit_attack_cfg(FILE *out, const char *field, const ir_attack *a)
{
    char eps[32], alpha[32];
    L(1, ".%s = {", field);
    L(2, ".present = %d, .eps = %s, .alpha = %s,", a->present, emit_real(a->eps, eps, sizeof eps),
      emit_real(a->alpha, alpha, sizeof alpha));
    L(2, ".steps = %d, .restarts = %d, .eot = %d,", a->steps, a->restarts, a->eot);
    L(2, ".init = %s, .clip = %s, .norm = %s,", init_name(a->init),
      a->clip ? "ADVCC_CLIP_NORMALIZED" : "ADVCC_CLIP_PIXEL",
      a->norm ? "ADVCC_L2" : "ADVCC_LINF");
    if (a->method)
        L(2, ".method = %d, .loss = %d, .iters = %d, .targets = %d, .queries = %d, "
             ".version = %d, .quick = %d,", a->method, a->loss, a->iters, a->targets,
          a->queries, a->version, a->quick);
    L(1, "},");
}

/* Adds the space-separated header names in list to the set h (n of them). */
static void add_headers(const char **h, int *n, int max, const char *list)
{
    while (list && *list) {
        size_t len = strcspn(list, " ");
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++)
            seen = strcspn(h[i], " ") == len && strncmp(h[i], list, len) == 0;
        if (!seen && len && *n < max)
            h[(*n)++] = list;
        list += len + (list[len] == ' ');
    }
}

static int header_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strcspn(x, " "), ly = strcspn(y, " ");
    int c = strncmp(x, y, lx < ly ? lx : ly);
    return c ? c : (lx > ly) - (lx < ly);
}

/* The recipe's optimiser, schedule and augmentation, each only when it is
 * not the default (SGD, constant, none: all zero in the descriptor). */
static void emit_recipe(FILE *out, const ir_train *t)
{
    static const char *const optimizers[] = {"ADVCC_OPT_SGD", "ADVCC_OPT_ADAM", "ADVCC_OPT_ADAMW"};
    static const char *const kinds[] = {"ADVCC_SCHED_CONSTANT", "ADVCC_SCHED_MULTISTEP",
                                        "ADVCC_SCHED_COSINE", "ADVCC_SCHED_ONECYCLE",
                                        "ADVCC_SCHED_PIECEWISE"};
    const ir_schedule *s = &t->schedule;
    char a[32], b[32], c[32], list[IR_SCHEDULE_POINTS * 34];
    if (t->optimizer != ADVCC_OPT_SGD)
        L(2, ".optimizer = %s, .beta1 = %s, .beta2 = %s, .eps = %s,", optimizers[t->optimizer],
          emit_real(t->beta1, a, sizeof a), emit_real(t->beta2, b, sizeof b),
          emit_real(t->eps, c, sizeof c));
    if (t->nesterov)
        L(2, ".nesterov = 1,");
    if (s->kind != ADVCC_SCHED_CONSTANT || s->warmup) {
        L(2, ".schedule = {");
        L(3, ".kind = %s, .warmup = %d,", kinds[s->kind], s->warmup);
        if (s->n > 0) {
            emit_reals(s->at, s->n, list, sizeof list);
            L(3, ".n = %d, .at = {%s},", s->n, list);
        }
        if (s->kind == ADVCC_SCHED_PIECEWISE) {
            emit_reals(s->factor, s->n, list, sizeof list);
            L(3, ".factor = {%s},", list);
        }
        if (s->kind == ADVCC_SCHED_MULTISTEP)
            L(3, ".gamma = %s,", emit_real(s->gamma, a, sizeof a));
        if (s->kind == ADVCC_SCHED_COSINE)
            L(3, ".min_lr = %s,", emit_real(s->min_lr, a, sizeof a));
        if (s->kind == ADVCC_SCHED_ONECYCLE)
            L(3, ".pct = %s, .div = %s, .final_div = %s,", emit_real(s->pct, a, sizeof a),
              emit_real(s->div, b, sizeof b), emit_real(s->final_div, c, sizeof c));
        L(2, "},");
    }
    if (t->crop || t->flip)
        L(2, ".crop = %d, .flip = %d,", t->crop, t->flip);
}

/* The runtime headers of the defences the model uses, in name order: its
 * kinds' own, quant.h for quantised weights, the regularisers'. */
static void emit_defence_includes(FILE *out, const ir_model *m)
{
    enum { MAX = 32 };
    const char *h[MAX];
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const ir_node *nd = &m->nodes[i];
        const layer_kind *k = kind_of(nd->op);
        add_headers(h, &n, MAX, k->headers);
        if ((k->flags & KIND_WEIGHTED) && nd->wquant.bits > 0)
            add_headers(h, &n, MAX, "quant.h");
    }
    if (m->n_regs > 0)
        add_headers(h, &n, MAX, "regularize.h");
    qsort(h, (size_t)n, sizeof *h, header_cmp);
    for (int i = 0; i < n; i++)
        L(0, "#include <%.*s>", (int)strcspn(h[i], " "), h[i]);
}

/* One named slot of the arena: its offset and its group. */
typedef struct arena_slot {
    const char *sym;
    long offset;
    int group;
} arena_slot;

static int slot_cmp(const void *a, const void *b)
{
    const arena_slot *x = a, *y = b;
    if (x->offset != y->offset)
        return (x->offset > y->offset) - (x->offset < y->offset);
    return (x->group > y->group) - (x->group < y->group);
}

/* The named slots of the groups, per image (fixed 0) or fixed, in offset
 * order, into s; their number. */
static int arena_slots(const emit_plan *p, int fixed, arena_slot *s)
{
    int n = 0;
    for (int i = 0; i < p->n_groups; i++) {
        const emit_group *g = &p->groups[i];
        const char *per[] = {g->out_sym, g->y_sym, g->argmax_sym, g->cv_sym, g->cvg_sym, g->tx_sym,
                             g->in2_cv_sym};
        const long per_at[] = {g->out_slot, g->y_slot, g->argmax_slot, g->cv_slot, g->cvg_slot,
                               g->tx_slot, g->in2_cv_slot};
        const char *fix[] = {g->bn_sym, g->wq_sym, g->wq_range_sym, g->act_sym};
        const long fix_at[] = {g->bn_fix, g->wq_fix, g->wq_range_fix, g->act_fix};
        const int count = fixed ? 4 : 7;
        for (int j = 0; j < count; j++) {
            const char *sym = fixed ? fix[j] : per[j];
            if (sym[0])
                s[n++] = (arena_slot){sym, fixed ? fix_at[j] : per_at[j], i};
        }
    }
    qsort(s, (size_t)n, sizeof *s, slot_cmp);
    return n;
}

/* The arena's layout as enums: S_ slots per image, scaled by the batch
 * capacity (ACT), and F_ slots of the fixed part after them (FIX). */
static void emit_arena_enums(FILE *out, const emit_plan *p)
{
    arena_slot *s = calloc((size_t)p->n_groups * 7 + 1, sizeof *s);
    if (!s)
        abort();
    L(0, "/* The arena: per-image slots (scaled by the batch capacity), then a");
    L(0, " * fixed part.  Group outputs stay until backward reads them; the");
    L(0, " * scratch slots from COL_SLOT on are shared by the groups, and live");
    L(0, " * after the fixed part, where c->scratch points: an ensemble's passes,");
    L(0, " * each in an arena of its own, share them too (model_keep_size). */");
    L(0, "enum {");
    int n = arena_slots(p, 0, s);
    for (int i = 0; i < n; i++)
        L(1, "%s = %ld,", s[i].sym, s[i].offset);
    L(1, "COL_SLOT = %ld, /* im2col */", p->col_slot);
    for (int i = 0; i < p->n_grads; i++)
        L(1, "GRAD%d_SLOT = %ld,%s", i, p->grad_slot[i],
          i == 0 ? " /* the backward's gradients (model_backward's grad[]) */" : "");
    L(1, "DY_SLOT = %ld, /* a fused epilogue's gradient */", p->dy_slot);
    L(1, "ARENA_PER_IMAGE = %ld", p->per_image);
    L(0, "};");
    n = arena_slots(p, 1, s);
    L(0, "/* The fixed part, from batch_cap * COL_SLOT on. */");
    L(0, "enum {");
    for (int i = 0; i < n; i++)
        L(1, "%s = %ld,", s[i].sym, s[i].offset);
    L(1, "ARENA_FIXED = %ld", p->fixed);
    L(0, "};");
    free(s);
}

static void emit_prologue(FILE *out, const emit_plan *p)
{
    const ir_model *m = p->m;
    L(0, "/* %s.c - the model `%s`, generated by advcc from %s.", m->name, m->name, m->source);
    L(0, " * Do not edit: change the spec and run advcc again.");
    L(0, " *");
    long values = 0;
    for (int i = 0; i < p->n_tensors; i++)
        values += p->tensors[i].size;
    L(0, " * Input %dx%dx%d, %d classes, %ld parameters, %.1f MFLOP a forward pass.",
      m->input.c, m->input.h, m->input.w, m->classes, values, p->flops / 1e6);
    L(0, " * Layers (fused groups):");
    for (int i = 0; i < p->n_groups; i++) {
        const emit_group *g = &p->groups[i];
        char names[160];
        int k = 0;
        for (int j = g->first; j <= g->last; j++)
            k += snprintf(names + k, sizeof names - (size_t)k, "%s%s", j > g->first ? " + " : "",
                          m->nodes[j].name);
        const ir_shape o = m->nodes[g->last].out;
        L(0, " *   g%-2d %-40s -> %dx%dx%d", i, names, o.c, o.h, o.w);
    }
    L(0, " */");
    L(0, "#include <math.h>");
    L(0, "#include <string.h>");
    L(0, "/* The runtime's headers come from the include path, never from beside");
    L(0, " * this file, where a model named like one of them (quant) has its own. */");
    L(0, "#include <kernels.h>");
    L(0, "#include <model.h>");
    L(0, "#include <rng.h>");
    emit_defence_includes(out, m);
    L(0, "#include \"%s.h\"", m->name);
    L(0, "%s", "");
    L(0, "/* The parameter buffer: offsets of each tensor, in reals. */");
    L(0, "enum {");
    for (int i = 0; i < p->n_tensors; i++)
        L(1, "%s = %ld,", p->tensors[i].sym, p->tensors[i].offset);
    L(1, "N_PARAMS = %ld", p->n_params);
    L(0, "};");
    L(0, "%s", "");
    emit_arena_enums(out, p);
    L(0, "#define ACT(c, slot) ((slot) < COL_SLOT ? (c)->arena + (size_t)(c)->batch_cap * (slot) \\");
    L(0, "                     : (c)->scratch + (size_t)(c)->batch_cap * ((slot) - COL_SLOT))");
    L(0, "#define FIX(c, off) ((c)->arena + (size_t)(c)->batch_cap * COL_SLOT + (off))");
    L(0, "%s", "");
}

static void emit_tensor_table(FILE *out, const emit_plan *p)
{
    const ir_model *m = p->m;
    L(0, "static const advcc_tensor %s_tensors[%d] = {", m->name, p->n_tensors ? p->n_tensors : 1);
    for (int i = 0; i < p->n_tensors; i++) {
        const emit_tensor *t = &p->tensors[i];
        L(1, "{\"%s\", %s, %ld, %d, {%d, %d, %d, %d}, %s},", t->name, t->sym,
          t->size, t->ndim, t->shape[0], t->shape[1], t->shape[2],
          t->shape[3], t->kind);
    }
    L(0, "};");
    L(0, "%s", "");
    int any = 0;
    for (int i = 0; i < p->n_tensors; i++)
        any |= p->tensors[i].train_only;
    if (!any)
        return;
    L(0, "/* Training state, not the model: kept out of checkpoints (model.h). */");
    L(0, "static const char *const train_only_tensors[] = {");
    for (int i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].train_only)
            L(1, "\"%s\",", p->tensors[i].name);
    L(1, "NULL");
    L(0, "};");
    L(0, "%s", "");
}

static int tensor_index(const emit_plan *p, const ir_node *n, const char *suffix)
{
    const emit_tensor *t = emit_tensor_of(p, n, suffix);
    return t ? (int)(t - p->tensors) : -1;
}

/* The layer list of model.h: one row per node. */
static void emit_layer_table(FILE *out, const emit_plan *p)
{
    const ir_model *m = p->m;
    L(0, "/* The layers: name, kind, input and output c h w, kh kw, stride h w, pad h w,");
    L(0, " * tensor indices (weight bias running_mean running_var), weight bits. */");
    L(0, "static const advcc_layer %s_layers[%d] = {", m->name, m->n_nodes ? m->n_nodes : 1);
    for (int i = 0; i < m->n_nodes; i++) {
        /* the window's sizes are 0 in the kinds without one */
        const ir_node *n = &m->nodes[i];
        const layer_kind *k = kind_of(n->op);
        int weighted = (k->flags & KIND_WEIGHTED) != 0;
        L(1, "{\"%s\", %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d},",
          n->name, k->runtime, n->in.c, n->in.h, n->in.w, n->out.c, n->out.h,
          n->out.w, n->kh, n->kw, n->stride_h, n->stride_w, n->pad_h, n->pad_w,
          tensor_index(p, n, "weight"), tensor_index(p, n, "bias"),
          tensor_index(p, n, "running_mean"), tensor_index(p, n, "running_var"),
          weighted ? n->wquant.bits : 0);
    }
    L(0, "};");
    L(0, "%s", "");
}

/* PyTorch's defaults: conv and linear weights and biases uniform in
 * +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)); BatchNorm 1, 0, 0, 1.
 * Learnable activation bounds start where the spec puts them, and the
 * spectral penalty's power-iteration vectors at ones. */
static void emit_init(FILE *out, const emit_plan *p)
{
    const ir_model *m = p->m;
    L(0, "static void uniform_fill(real_t *v, long n, double bound, advcc_rng *rng)");
    L(0, "{");
    L(1, "for (long i = 0; i < n; i++)");
    L(2, "v[i] = (real_t)((2.0 * rng_uniform(rng) - 1.0) * bound);");
    L(0, "}");
    L(0, "%s", "");
    L(0, "static void model_init(real_t *p, advcc_rng *rng)");
    L(0, "{");
    L(1, "(void)uniform_fill;");
    L(1, "(void)p;      /* a model of relu, pool and flatten alone has nothing to fill */");
    L(1, "(void)rng;");
    for (int i = 0; i < m->n_nodes; i++) {
        const ir_node *n = &m->nodes[i];
        if (kind_of(n->op)->init)
            kind_of(n->op)->init(out, p, n);
    }
    for (int i = 0; i < m->n_regs; i++) {
        if (m->regs[i].kind != IR_REG_SPECTRAL)
            continue;
        const ir_node *n = &m->nodes[m->regs[i].node];
        char us[24], vs[24], term[64];
        emit_spectral_suffix(m, i, us, vs, sizeof us);
        emit_reg_term_name(m, i, term, sizeof term);
        const emit_tensor *u = emit_tensor_of(p, n, us), *v = emit_tensor_of(p, n, vs);
        L(1, "/* %s's power iteration starts from ones */", term);
        L(1, "for (int i = 0; i < %ld; i++)", u->size);
        L(2, "p[%s + i] = 1;", u->sym);
        L(1, "for (int i = 0; i < %ld; i++)", v->size);
        L(2, "p[%s + i] = 1;", v->sym);
    }
    L(0, "}");
    L(0, "%s", "");
}

/* The group's input in the layout its kernel wants. */
static void input_expr(const emit_group *g, char *buf, size_t len)
{
    if (g->cv_slot >= 0)
        snprintf(buf, len, "ACT(c, %s)", g->cv_sym);
    else if (g->in_slot < 0)
        snprintf(buf, len, "c->input");
    else
        snprintf(buf, len, "ACT(c, %s)", g->in_sym);
}

static void grad_expr(int buf, char *out, size_t len)
{
    if (buf < 0)
        snprintf(out, len, "dx");
    else
        snprintf(out, len, "grad[%d]", buf);
}

/* An add's gradient dst handed to its shortcut's end: copied or added,
 * in the shortcut's layout. */
static void emit_shortcut_gradient(FILE *out, const emit_group *g, const char *dst, int dx_in)
{
    char to[32], conv[160] = "";
    grad_expr(g->in2_buf, to, sizeof to);
    const int ind = dx_in || g->in2_buf < 0 ? 2 : 1;
    if (g->in2_cv_slot >= 0)
        snprintf(conv, sizeof conv, "%s(%s, %d, B, %d, %s);",
                 g->in_layout == LAYOUT_CNHW ? "cnhw_to_rows" : "rows_to_cnhw", dst,
                 g->main->in.c, g->main->in.h * g->main->in.w,
                 g->in2_add ? "ACT(c, DY_SLOT)" : to);
    if (ind == 2)
        L(1, "if (dx) {");
    if (conv[0])
        L(ind, "%s /* the shortcut's end, in its layout */", conv);
    if (g->in2_add)
        L(ind, "residual_accumulate(%s, %s, (long)B * %ld); /* the shortcut's end */", to,
          conv[0] ? "ACT(c, DY_SLOT)" : dst, g->in_size);
    else if (!conv[0])
        L(ind, "memcpy(%s, %s, sizeof(real_t) * B * %ld); /* the shortcut's end */", to, dst,
          g->in_size);
    if (ind == 2)
        L(1, "}");
}

/* model_backward's lines for group g: its backward into the buffer chosen
 * for its input gradient (through the CNHW copy when it converted its
 * input), the adding of that into a gradient another reader wrote, and an
 * add's hand-over to its shortcut.  only_dx: nothing below has parameters,
 * so input gradients are wanted only when the caller asks for dx. */
static void emit_group_backward_call(FILE *out, const emit_group *g,
                                     int only_dx)
{
    char in[64], dout[32], dst[32], into[32], din[64];
    if (g->grad_pass) {
        L(1, "/* g%d (%s): its input's gradient is its output's, grad[%d] */", g->index,
          g->main->name, g->dout_buf);
        return;
    }
    input_expr(g, in, sizeof in);
    if (g->dout_buf >= 0)
        snprintf(dout, sizeof dout, "grad[%d]", g->dout_buf);
    else
        snprintf(dout, sizeof dout, "dlogits");
    grad_expr(g->in_buf, dst, sizeof dst);
    if (g->cv_slot >= 0)
        snprintf(din, sizeof din, "ACT(c, %s)", g->cvg_sym);
    else
        snprintf(din, sizeof din, "%s", dst);
    const int plain = g->in_buf < 0 && g->cv_slot < 0;   /* dx itself, NULL or not */
    if (only_dx && !plain)
        L(1, "g%d_backward(c, %s, %s, dx ? %s : NULL, B, mode, want_params);", g->index, in,
          dout, din);
    else
        L(1, "g%d_backward(c, %s, %s, %s, B, mode, want_params);", g->index, in, dout, din);
    /* a line that reads or writes dx, or what a NULL dx left unwritten,
     * runs only when the caller gave dx */
    const int dx_in = only_dx || g->in_buf < 0;
    if (g->cv_slot >= 0) {
        if (dx_in)
            L(1, "if (dx)");
        L(dx_in ? 2 : 1, "cnhw_to_rows(ACT(c, %s), %d, B, %d, %s);", g->cvg_sym, g->main->in.c,
          g->main->in.h * g->main->in.w, dst);
    }
    if (g->in_into >= -1) {
        grad_expr(g->in_into, into, sizeof into);
        if (dx_in || g->in_into < 0)
            L(1, "if (dx)");
        L(dx_in || g->in_into < 0 ? 2 : 1, "residual_accumulate(%s, %s, (long)B * %ld); "
          "/* read twice: both gradients */", into, dst, g->in_size);
    }
    if (g->main->op == IR_ADD)
        emit_shortcut_gradient(out, g, dst, dx_in);
}

/* The first group with parameters in any of its nodes (an add's fused
 * DTReLU has its bounds); n_groups when none has. */
static int first_param_group(const emit_plan *p)
{
    for (int i = 0; i < p->n_groups; i++)
        for (int j = p->groups[i].first; j <= p->groups[i].last; j++)
            if (kind_of(p->m->nodes[j].op)->count)
                return i;
    return p->n_groups;
}

/* The group below which an ensemble's passes share the backward
 * (model.h backward_top): the first with parameters, of a kind that can
 * share, reading its input as it is, with nothing below it but the input
 * normalisation and gradient-identity layers (noise).  -1: none, or the
 * model has one pass. */
static int shared_backward_group(const emit_plan *p)
{
    const int s = first_param_group(p);
    if (p->m->ensemble <= 1 || s >= p->n_groups)
        return -1;
    const emit_group *g = &p->groups[s];
    if (!kind_of(g->main->op)->share_backward || g->cv_slot >= 0 || g->in_into != -2 ||
        g->dout_buf < 0)
        return -1;
    for (int i = 0; i < s; i++) {
        const emit_group *b = &p->groups[i];
        if (b->first != b->last || b->in_into != -2 ||
            !(kind_of(b->main->op)->flags & (KIND_INPUT_NORM | KIND_GRAD_IDENTITY)))
            return -1;
    }
    return s;
}

/* The grad[] buffers of a backward function, and the locals its calls
 * read. */
static void emit_backward_locals(FILE *out, const emit_plan *p)
{
    L(1, "const int B = c->batch, mode = c->mode;");
    if (p->n_grads > 0) {
        size_t len = (size_t)p->n_grads * 32;
        char *list = malloc(len);
        if (!list)
            abort();
        size_t k = 0;
        for (int i = 0; i < p->n_grads; i++)
            k += (size_t)snprintf(list + k, len - k, "%sACT(c, GRAD%d_SLOT)", i ? ", " : "", i);
        L(1, "real_t *grad[%d] = {%s};", p->n_grads, list);
        free(list);
    }
}

/* model_backward_top and model_backward_bottom around group s
 * (shared_backward_group): the first runs the groups above s and s's own
 * backward without dx, and returns the gradient at s's output; the second
 * computes s's input gradient from a sum of those and runs the groups
 * below. */
static void emit_shared_backward(FILE *out, const emit_plan *p, int s)
{
    const emit_group *g = &p->groups[s];
    const layer_kind *k = kind_of(g->main->op);
    char in[64], dout[32], din[32];
    L(0, "/* An ensemble's passes share the input gradient below %s (model.h):", g->main->name);
    L(0, " * each pass's backward down to its output gradient, then the rest once. */");
    L(0, "static const real_t *model_backward_top(advcc_ctx *c, const real_t *dlogits)");
    L(0, "{");
    emit_backward_locals(out, p);
    L(1, "const int want_params = 0;");
    for (int i = p->n_groups - 1; i > s; i--)
        emit_group_backward_call(out, &p->groups[i], 0);
    input_expr(g, in, sizeof in);
    snprintf(dout, sizeof dout, "grad[%d]", g->dout_buf);
    L(1, "g%d_backward(c, %s, %s, NULL, B, mode, want_params);", s, in, dout);
    k->share_backward(out, g, 0, dout, NULL);
    L(0, "}");
    L(0, "%s", "");
    L(0, "static void model_backward_bottom(advcc_ctx *c, const real_t *dy, real_t *dx)");
    L(0, "{");
    emit_backward_locals(out, p);
    L(1, "const int want_params = 0;");
    L(1, "(void)mode; /* the layers below need not read them */");
    L(1, "(void)want_params;");
    if (p->n_grads > 0)
        L(1, "(void)grad;");
    grad_expr(g->in_buf, din, sizeof din);
    k->share_backward(out, g, 1, "dy", din);
    for (int i = s - 1; i >= 0; i--)
        emit_group_backward_call(out, &p->groups[i], 1);
    L(0, "}");
    L(0, "%s", "");
}

static void emit_entry_points(FILE *out, const emit_plan *p)
{
    const ir_model *m = p->m;
    const emit_group *lastg = &p->groups[p->n_groups - 1];
    char in[64];

    L(0, "static size_t model_keep_size(int batch)");
    L(0, "{");
    if (m->n_regs > 0)
        L(1, "return (size_t)batch * COL_SLOT + ARENA_FIXED + reg_scratch_size();");
    else
        L(1, "return (size_t)batch * COL_SLOT + ARENA_FIXED;");
    L(0, "}");
    L(0, "%s", "");
    L(0, "static size_t model_arena_size(int batch)");
    L(0, "{");
    L(1, "return model_keep_size(batch) + (size_t)batch * (ARENA_PER_IMAGE - COL_SLOT);");
    L(0, "}");
    L(0, "%s", "");
    L(0, "static void model_forward(advcc_ctx *c, const real_t *x, int B, int mode, real_t *logits)");
    L(0, "{");
    L(1, "c->input = x;");
    L(1, "c->batch = B;");
    L(1, "c->mode = mode;");
    for (int i = 0; i < p->n_groups; i++) {
        const emit_group *g = &p->groups[i];
        if (g->cv_slot >= 0) {
            char src[64];
            if (g->in_slot < 0)
                snprintf(src, sizeof src, "x");
            else
                snprintf(src, sizeof src, "ACT(c, %s)", g->in_sym);
            L(1, "rows_to_cnhw(%s, %d, B, %d, ACT(c, %s));", src, g->main->in.c,
              g->main->in.h * g->main->in.w, g->cv_sym);
        }
        input_expr(g, in, sizeof in);
        L(1, "g%d_forward(c, %s, B, mode);", i, in);
    }
    L(1, "memcpy(logits, ACT(c, %s), sizeof(real_t) * B * %d);", lastg->out_sym, m->classes);
    L(0, "}");
    L(0, "%s", "");

    /* Backward, last group first, through the buffers emit_plan.c chose;
     * input gradients are computed only where something below needs them. */
    const int first_param = first_param_group(p);
    L(0, "static void model_backward(advcc_ctx *c, const real_t *dlogits, int want_params, real_t *dx)");
    L(0, "{");
    emit_backward_locals(out, p);
    for (int i = p->n_groups - 1; i >= 0; i--)
        emit_group_backward_call(out, &p->groups[i], i <= first_param);
    L(0, "}");
    L(0, "%s", "");
    const int s = shared_backward_group(p);
    if (s >= 0)
        emit_shared_backward(out, p, s);
}

/* The input normalisation, for attacks that clip in normalised units. */
static const ir_node *input_normalize(const ir_model *m)
{
    return m->n_nodes > 0 && (kind_of(m->nodes[0].op)->flags & KIND_INPUT_NORM) ? &m->nodes[0] : NULL;
}

static void emit_norm_arrays(FILE *out, const ir_model *m)
{
    const ir_node *n = input_normalize(m);
    if (!n)
        return;
    char mean[512], std[512];
    int a = 0, b = 0;
    for (int i = 0; i < n->in.c; i++) {
        a += snprintf(mean + a, sizeof mean - (size_t)a, "%s%.9g", i ? ", " : "", n->mean[i]);
        b += snprintf(std + b, sizeof std - (size_t)b, "%s%.9g", i ? ", " : "", n->std[i]);
    }
    L(0, "static const double input_mean[%d] = {%s};", n->in.c, mean);
    L(0, "static const double input_std[%d] = {%s};", n->in.c, std);
    L(0, "%s", "");
}

static void emit_descriptor(FILE *out, const emit_plan *p)
{
    const ir_model *m = p->m;
    const int norm = input_normalize(m) != NULL;
    emit_norm_arrays(out, m);
    describe_kv kv[DESCRIBE_MAX];
    int nkv = describe_model(m, kv);
    char key[64], val[2200];
    L(0, "/* What the model is: every checkpoint records it (compiler/describe.h). */");
    L(0, "static const char *const model_description[] = {");
    for (int i = 0; i < nkv; i++)
        L(1, "%s, %s,", emit_c_string(kv[i].key, key, sizeof key),
          emit_c_string(kv[i].value, val, sizeof val));
    L(1, "NULL");
    L(0, "};");
    L(0, "%s", "");
    L(0, "const advcc_model advcc_model_%s = {", m->name);
    L(1, ".name = \"%s\",", m->name);
    L(1, ".source = \"%s\",", m->source);
    L(1, ".spec_hash = \"fnv1a64:%s\",", m->spec_hash);
    L(1, ".in_c = %d, .in_h = %d, .in_w = %d, .classes = %d,", m->input.c, m->input.h, m->input.w, m->classes);
    L(1, ".n_params = N_PARAMS,");
    L(1, ".n_tensors = %d,", p->n_tensors);
    L(1, ".tensors = %s_tensors,", m->name);
    L(1, ".flops_forward = %lldLL,", p->flops);
    L(1, ".arena_size = model_arena_size,");
    L(1, ".keep_size = model_keep_size,");
    L(1, ".init = model_init,");
    L(1, ".forward = model_forward,");
    L(1, ".backward = model_backward,");
    const int shared = shared_backward_group(p);
    if (shared >= 0) {
        L(1, ".backward_top = model_backward_top,");
        L(1, ".backward_bottom = model_backward_bottom,");
        const ir_shape o = p->groups[shared].main->out;
        L(1, ".top_size = %ld,", (long)o.c * o.h * o.w);
    }
    if (m->n_regs > 0) {
        L(1, ".regularize = model_regularize,");
        L(1, ".n_reg_terms = %d,", m->n_regs);
        L(1, ".reg_term_names = reg_term_names,");
    } else {
        L(1, ".regularize = NULL,");
    }
    char lr[32], mom[32], wd[32];
    L(1, ".train = {");
    L(2, ".lr = %s, .momentum = %s, .weight_decay = %s,", emit_real(m->train.lr, lr, sizeof lr),
      emit_real(m->train.momentum, mom, sizeof mom), emit_real(m->train.weight_decay, wd, sizeof wd));
    L(2, ".batch = %d, .epochs = %d, .adversarial = %d,", m->train.batch, m->train.epochs, m->train.adversarial);
    emit_recipe(out, &m->train);
    L(1, "},");
    emit_attack_cfg(out, "attack", &m->attack);
    emit_attack_cfg(out, "train_attack", &m->train_attack);
    for (int i = 0; i < p->n_groups; i++) {
        const emit_group *g = &p->groups[i];
        if (kind_of(g->main->op)->flags & KIND_FEATURES) {
            const ir_shape o = m->nodes[g->last].out;
            L(1, ".feature_slot = %s, .feature_c = %d, .feature_h = %d, .feature_w = %d,",
              g->out_sym, o.c, o.h, o.w);
            break;
        }
    }
    L(1, ".norm_mean = %s,", norm ? "input_mean" : "NULL");
    L(1, ".norm_std = %s,", norm ? "input_std" : "NULL");
    L(1, ".ensemble = %d,", m->ensemble > 0 ? m->ensemble : 1);
    L(1, ".ensemble_probs = %d,", m->ensemble_probs);
    L(1, ".description = model_description,");
    int any = 0;
    for (int i = 0; i < p->n_tensors; i++)
        any |= p->tensors[i].train_only;
    L(1, ".train_only = %s,", any ? "train_only_tensors" : "NULL");
    L(1, ".n_layers = %d,", m->n_nodes);
    L(1, ".layers = %s_layers,", m->name);
    L(0, "};");
}

int emit_model_c(const ir_model *m, FILE *out)
{
    emit_plan p;
    if (emit_plan_build(m, &p) != 0)
        return -1;
    emit_prologue(out, &p);
    emit_tensor_table(out, &p);
    emit_layer_table(out, &p);
    emit_init(out, &p);
    for (int i = 0; i < p.n_groups; i++) {
        const emit_group *g = &p.groups[i];
        char names[160];
        int k = 0;
        for (int j = g->first; j <= g->last; j++)
            k += snprintf(names + k, sizeof names - (size_t)k, "%s%s", j > g->first ? " + " : "",
                          m->nodes[j].name);
        L(0, "/* ---- g%d: %s ---- */", i, names);
        const layer_kind *kind = kind_of(g->main->op);
        if (kind->group)
            kind->group(out, &p, g);
        else
            L(0, "#error \"advcc: no code for %s yet\"", kind->name);
        L(0, "%s", "");
    }
    emit_regularize(out, &p);
    emit_entry_points(out, &p);
    emit_descriptor(out, &p);
    emit_plan_free(&p);
    return ferror(out) ? -1 : 0;
}

int emit_model_h(const ir_model *m, FILE *out)
{
    L(0, "/* %s.h - the model `%s`, generated by advcc from %s.  Do not edit. */", m->name, m->name, m->source);
    L(0, "#ifndef ADVCC_MODEL_%s_H", m->name);
    L(0, "#define ADVCC_MODEL_%s_H", m->name);
    L(0, "%s", "");
    L(0, "#include \"model.h\"");
    L(0, "%s", "");
    L(0, "extern const advcc_model advcc_model_%s;", m->name);
    L(0, "%s", "");
    L(0, "#endif");
    return ferror(out) ? -1 : 0;
}
