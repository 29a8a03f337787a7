/* describe.c - a model's description as key/value text: what a checkpoint
 * records in its metadata (runtime/checkpoint.c), what `MODEL info` and
 * `advcc --shapes` print, and what the PyTorch module states.  Derived from
 * the IR alone. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "describe.h"
#include "kind.h"
#include "vocab.h"

static void add(describe_kv *kv, const char *fmt, ...)
{
    size_t k = strlen(kv->value);
    if (k + 1 >= sizeof kv->value)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kv->value + k, sizeof kv->value - k, fmt, ap);
    va_end(ap);
}

static describe_kv *next(describe_kv *kv, int *n, const char *key)
{
    describe_kv *e = &kv[(*n)++];
    e->key = key;
    e->value[0] = 0;
    return e;
}

static const char *range_text(const ir_quant *q, char *buf, size_t len)
{
    if (q->range == IR_QRANGE_FIXED)
        snprintf(buf, len, "fixed [%g, %g]", q->lo, q->hi);
    else
        snprintf(buf, len, "%s", q->range == IR_QRANGE_CHANNEL ? "channel" : "minmax");
    return buf;
}

/* The layers whose kind is listed under e's key: name and text each. */
static void section(const ir_model *m, describe_kv *e)
{
    char text[256];
    for (int i = 0; i < m->n_nodes; i++) {
        const ir_node *nd = &m->nodes[i];
        const layer_kind *k = kind_of(nd->op);
        if (!k->section || strcmp(k->section, e->key) != 0)
            continue;
        k->describe(nd, text, sizeof text);
        add(e, "%s%s %s", e->value[0] ? ", " : "", nd->name, text);
    }
    if (!e->value[0])
        add(e, "none");
}

void describe_attack(const ir_attack *a, char *buf, size_t len)
{
    snprintf(buf, len, "pgd %s eps=%.9g alpha=%.9g steps=%d restarts=%d init=%s eot=%d clip=%s%s",
             advcc_norm_name(a->norm), a->eps, a->alpha, a->steps, a->restarts,
             advcc_init_name(a->init), a->eot, advcc_clip_name(a->clip),
             a->present ? "" : " (defaults)");
}

void describe_train(const ir_train *t, char *buf, size_t len)
{
    describe_kv e = {0};
    const ir_schedule *s = &t->schedule;
    if (t->optimizer == ADVCC_OPT_SGD)
        add(&e, "sgd lr=%g momentum=%g%s", t->lr, t->momentum, t->nesterov ? " nesterov=1" : "");
    else
        add(&e, "%s lr=%g beta1=%g beta2=%g eps=%g", advcc_optimizer_name(t->optimizer), t->lr,
            t->beta1, t->beta2, t->eps);
    add(&e, " weight_decay=%g batch=%d epochs=%d%s", t->weight_decay, t->batch, t->epochs,
        t->adversarial ? " adversarial" : "");
    if (s->kind != ADVCC_SCHED_CONSTANT)
        add(&e, " schedule=%s", advcc_schedule_name(s->kind));
    if (s->kind == ADVCC_SCHED_MULTISTEP || s->kind == ADVCC_SCHED_PIECEWISE) {
        add(&e, s->kind == ADVCC_SCHED_MULTISTEP ? " milestones=(" : " knots=(");
        for (int i = 0; i < s->n; i++)
            add(&e, "%s%g", i ? ", " : "", s->at[i]);
        add(&e, ")");
    }
    if (s->kind == ADVCC_SCHED_MULTISTEP)
        add(&e, " gamma=%g", s->gamma);
    else if (s->kind == ADVCC_SCHED_COSINE)
        add(&e, " min_lr=%g", s->min_lr);
    else if (s->kind == ADVCC_SCHED_ONECYCLE)
        add(&e, " pct=%g div=%g final_div=%g", s->pct, s->div, s->final_div);
    else if (s->kind == ADVCC_SCHED_PIECEWISE) {
        add(&e, " factors=(");
        for (int i = 0; i < s->n; i++)
            add(&e, "%s%g", i ? ", " : "", s->factor[i]);
        add(&e, ")");
    }
    if (s->warmup)
        add(&e, " warmup=%d", s->warmup);
    if (t->crop || t->flip)
        add(&e, " augment crop=%d flip=%d", t->crop, t->flip);
    snprintf(buf, len, "%s", e.value);
}

int describe_model(const ir_model *m, describe_kv *kv)
{
    int n = 0;
    describe_kv *e;
    char buf[64];

    e = next(kv, &n, "spec");
    add(e, "%s", m->source ? m->source : "?");
    e = next(kv, &n, "spec_fnv1a64");
    add(e, "%s", m->spec_hash);
    e = next(kv, &n, "made_of");
    add(e, "%s", m->patches[0] ? m->patches : m->name);

    e = next(kv, &n, "quantize");
    for (int i = 0; i < m->n_nodes; i++) {
        const ir_node *nd = &m->nodes[i];
        if ((kind_of(nd->op)->flags & KIND_WEIGHTED) && nd->wquant.bits > 0)
            add(e, "%s%s %d-bit %s", e->value[0] ? ", " : "", nd->name, nd->wquant.bits,
                range_text(&nd->wquant, buf, sizeof buf));
    }
    if (!e->value[0])
        add(e, "none");

    section(m, next(kv, &n, "activations"));
    section(m, next(kv, &n, "noise"));
    e = next(kv, &n, "ensemble");
    if (m->ensemble > 1)
        add(e, "%d passes averaging %s", m->ensemble, m->ensemble_probs ? "probabilities" : "logits");
    else
        add(e, "1");

    e = next(kv, &n, "regularize");
    for (int i = 0; i < m->n_regs; i++) {
        const ir_reg *r = &m->regs[i];
        const char *layer = m->nodes[r->node].name;
        if (r->kind == IR_REG_ORTHO)
            add(e, "%s%s orthogonal form=%d weight=%g", e->value[0] ? ", " : "", layer,
                r->form, r->weight);
        else
            add(e, "%s%s spectral weight=%g iters=%d persistent=%d", e->value[0] ? ", " : "",
                layer, r->weight, r->iters, r->persistent);
    }
    if (!e->value[0])
        add(e, "none");

    e = next(kv, &n, "train");
    describe_train(&m->train, e->value, sizeof e->value);
    e = next(kv, &n, "attack");
    describe_attack(&m->attack, e->value, sizeof e->value);
    if (m->train.adversarial) {
        e = next(kv, &n, "train_attack");
        describe_attack(&m->train_attack, e->value, sizeof e->value);
    }
    return n;
}
