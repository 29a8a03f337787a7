/* describe_json.c - the model description as JSON (describe_json.h),
 * made from the IR alone. */
#include "describe_json.h"
#include "kind.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"
#include "vocab.h"

static json_t *must(json_t *v)
{
    if (!v)
        abort();    /* Jansson fails only when memory does */
    return v;
}

static void set(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, must(v)) != 0)
        abort();
}

static void push(json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, must(v)) != 0)
        abort();
}

/* A budget in 1/255, rounded to 1e-9 so that 8/255 reads 8. */
static json_t *in_255(double x)
{
    return json_real(round(x * 255 * 1e9) / 1e9);
}

static json_t *shape_json(ir_shape s)
{
    json_t *a = must(json_array());
    push(a, json_integer(s.c));
    push(a, json_integer(s.h));
    push(a, json_integer(s.w));
    return a;
}

static json_t *attack_json(const ir_attack *a)
{
    json_t *o = must(json_object());
    set(o, "method", json_string(advcc_method_name(a->method)));
    set(o, "norm", json_string(advcc_norm_name(a->norm)));
    set(o, "eps", json_real(a->eps));
    set(o, "eps_255", in_255(a->eps));
    set(o, "alpha", json_real(a->alpha));
    set(o, "alpha_255", in_255(a->alpha));
    set(o, "steps", json_integer(a->steps));
    set(o, "restarts", json_integer(a->restarts));
    set(o, "init", json_string(advcc_init_name(a->init)));
    set(o, "eot", json_integer(a->eot));
    set(o, "clip", json_string(advcc_clip_name(a->clip)));
    set(o, "present", json_boolean(a->present));
    switch (a->method) {
    case ADVCC_ATTACK_APGD:
        set(o, "loss", json_string(advcc_loss_name(a->loss)));
        set(o, "iters", json_integer(a->iters));
        set(o, "targets", json_integer(a->targets));
        break;
    case ADVCC_ATTACK_FAB:
        set(o, "iters", json_integer(a->iters));
        set(o, "targets", json_integer(a->targets));
        break;
    case ADVCC_ATTACK_SQUARE:
        set(o, "queries", json_integer(a->queries));
        break;
    case ADVCC_ATTACK_AUTOATTACK:
        set(o, "version", json_string(advcc_aa_version_name(a->version)));
        set(o, "quick", json_integer(a->quick));
        break;
    default:
        break;
    }
    return o;
}

/* "baseline + adv + reg": base "baseline", patches ["adv", "reg"]. */
static void set_made_of(json_t *o, const ir_model *m)
{
    json_t *patches = must(json_array());
    const char *p = m->patches[0] ? m->patches : m->name;
    size_t n = strcspn(p, " +");
    set(o, "base", json_stringn(p, n));
    for (p += n; *p;) {
        p += strspn(p, " +");
        n = strcspn(p, " +");
        if (n)
            push(patches, json_stringn(p, n));
        p += n;
    }
    set(o, "patches", patches);
}

static json_t *reals_json(const double *v, int n)
{
    json_t *a = must(json_array());
    for (int i = 0; i < n; i++)
        push(a, json_real(v[i]));
    return a;
}

/* The recipe: optimiser, schedule (its own keys only) and augmentation. */
static json_t *train_json(const ir_train *t)
{
    json_t *o = must(json_object());
    set(o, "optimizer", json_string(advcc_optimizer_name(t->optimizer)));
    set(o, "lr", json_real(t->lr));
    if (t->optimizer == ADVCC_OPT_SGD) {
        set(o, "momentum", json_real(t->momentum));
        set(o, "nesterov", json_boolean(t->nesterov));
    } else {
        set(o, "beta1", json_real(t->beta1));
        set(o, "beta2", json_real(t->beta2));
        set(o, "eps", json_real(t->eps));
    }
    set(o, "weight_decay", json_real(t->weight_decay));
    set(o, "batch", json_integer(t->batch));
    set(o, "epochs", json_integer(t->epochs));
    set(o, "adversarial", json_boolean(t->adversarial));
    const ir_schedule *s = &t->schedule;
    json_t *sch = must(json_object());
    set(sch, "kind", json_string(advcc_schedule_name(s->kind)));
    set(sch, "warmup", json_integer(s->warmup));
    if (s->kind == ADVCC_SCHED_MULTISTEP) {
        set(sch, "milestones", reals_json(s->at, s->n));
        set(sch, "gamma", json_real(s->gamma));
    } else if (s->kind == ADVCC_SCHED_COSINE) {
        set(sch, "min_lr", json_real(s->min_lr));
    } else if (s->kind == ADVCC_SCHED_ONECYCLE) {
        set(sch, "pct", json_real(s->pct));
        set(sch, "div", json_real(s->div));
        set(sch, "final_div", json_real(s->final_div));
    } else if (s->kind == ADVCC_SCHED_PIECEWISE) {
        set(sch, "knots", reals_json(s->at, s->n));
        set(sch, "factors", reals_json(s->factor, s->n));
    }
    set(o, "schedule", sch);
    json_t *aug = must(json_object());
    set(aug, "crop", json_integer(t->crop));
    set(aug, "flip", json_boolean(t->flip));
    set(o, "augment", aug);
    return o;
}

/* The name of node i, or "input" for the model's input (-1). */
static json_t *source_json(const ir_model *m, int i)
{
    return json_string(i >= 0 ? m->nodes[i].name : "input");
}

static json_t *layer_json(const ir_model *m, const ir_node *nd)
{
    json_t *o = must(json_object());
    long long state;
    set(o, "name", json_string(nd->name));
    set(o, "kind", json_string(ir_op_name(nd->op)));
    set(o, "src", source_json(m, nd->src));
    if (nd->op == IR_ADD)
        set(o, "src2", source_json(m, nd->src2));
    set(o, "in", shape_json(nd->in));
    set(o, "out", shape_json(nd->out));
    set(o, "parameters", json_integer(shape_node_params(nd, &state)));
    const layer_kind *k = kind_of(nd->op);
    if (k->settings)
        k->settings(nd, o);
    return o;
}

static json_t *defences_json(const ir_model *m, json_t **noise, json_t **regs)
{
    static const char *const ranges[] = { "minmax", "fixed", "channel" };
    json_t *quant = must(json_array());
    *noise = must(json_array());
    for (int i = 0; i < m->n_nodes; i++) {
        const ir_node *nd = &m->nodes[i];
        if ((kind_of(nd->op)->flags & KIND_WEIGHTED) && nd->wquant.bits > 0) {
            json_t *q = must(json_object());
            set(q, "layer", json_string(nd->name));
            set(q, "bits", json_integer(nd->wquant.bits));
            set(q, "range", json_string(ranges[nd->wquant.range]));
            if (nd->wquant.range == IR_QRANGE_FIXED) {
                set(q, "lo", json_real(nd->wquant.lo));
                set(q, "hi", json_real(nd->wquant.hi));
            }
            push(quant, q);
        }
        if (nd->op == IR_NOISE) {
            json_t *z = must(json_object());
            set(z, "layer", json_string(nd->name));
            set(z, "sigma", json_real(nd->sigma));
            push(*noise, z);
        }
    }
    *regs = must(json_array());
    for (int i = 0; i < m->n_regs; i++) {
        const ir_reg *r = &m->regs[i];
        json_t *o = must(json_object());
        set(o, "layer", json_string(m->nodes[r->node].name));
        set(o, "kind", json_string(r->kind == IR_REG_ORTHO ? "orthogonal" : "spectral"));
        set(o, "weight", json_real(r->weight));
        if (r->kind == IR_REG_ORTHO) {
            set(o, "form", json_integer(r->form));
        } else {
            set(o, "iters", json_integer(r->iters));
            set(o, "persistent", json_boolean(r->persistent));
        }
        push(*regs, o);
    }
    return quant;
}

char *describe_json(const ir_model *m)
{
    json_t *o = must(json_object());
    set(o, "format", json_string(DESCRIBE_JSON_FORMAT));
    set(o, "format_version", json_integer(DESCRIBE_JSON_VERSION));
    set(o, "name", json_string(m->name));
    set(o, "source", json_string(m->source ? m->source : "?"));
    set(o, "spec_fnv1a64", json_sprintf("fnv1a64:%s", m->spec_hash));
    set(o, "version", json_string(ADVCC_VERSION));
    set_made_of(o, m);
    set(o, "adversarial", json_boolean(m->train.adversarial));
    json_t *in = must(json_object());
    set(in, "c", json_integer(m->input.c));
    set(in, "h", json_integer(m->input.h));
    set(in, "w", json_integer(m->input.w));
    set(o, "input", in);
    set(o, "classes", json_integer(m->classes));
    set(o, "dataset", json_string(advcc_default_dataset(m->input.c, m->input.h,
                                                        m->input.w)));
    set(o, "train", train_json(&m->train));
    set(o, "attack", attack_json(&m->attack));
    set(o, "train_attack", m->train.adversarial ? attack_json(&m->train_attack)
                                                : json_null());
    json_t *ens = must(json_object());
    set(ens, "passes", json_integer(m->ensemble > 1 ? m->ensemble : 1));
    set(ens, "average", json_string(m->ensemble_probs ? "probabilities" : "logits"));
    set(o, "ensemble", ens);
    json_t *noise, *regs;
    set(o, "quantize", defences_json(m, &noise, &regs));
    set(o, "noise", noise);
    set(o, "regularize", regs);
    long long state;
    set(o, "parameters", json_integer(shape_model_params(m, &state)));
    set(o, "state", json_integer(state));
    json_t *layers = must(json_array());
    for (int i = 0; i < m->n_nodes; i++)
        push(layers, layer_json(m, &m->nodes[i]));
    set(o, "layers", layers);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!text)
        abort();
    size_t n = strlen(text);
    char *out = malloc(n + 2);
    if (!out)
        abort();
    memcpy(out, text, n);
    out[n] = '\n';
    out[n + 1] = '\0';
    free(text);
    return out;
}

int describe_json_emit_c(const ir_model *m, const char *text, FILE *out)
{
    /* Compact, in string pieces broken after a comma, so that the data
     * takes a few dozen lines at the end of the model's file. */
    json_t *o = json_loads(text, 0, NULL);
    char *compact = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!compact)
        return -1;
    fprintf(out, "\n/* The model's description (compiler/describe_json.h), as "
            "`%s info --json`\n * prints it; advcc wrote it indented in %s.json. */\n"
            "const char advcc_model_%s_json[] =\n", m->name, m->name, m->name);
    int col = 0;
    for (const char *p = compact; *p; p++) {
        if (col == 0)
            fputs("    \"", out);
        if (*p == '"' || *p == '\\')
            fputc('\\', out), col++;
        fputc(*p, out);
        col++;
        if ((*p == ',' && col >= 64) || !p[1]) {
            fputs(p[1] ? "\"\n" : "\\n\"\n", out);
            col = 0;
        }
    }
    free(compact);
    fputs("    ;\n", out);
    return ferror(out) ? -1 : 0;
}
