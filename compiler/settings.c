/* settings.c - train, attack, ensemble and input statements. */
#include "settings.h"

#include "numparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "params.h"
#include "vocab.h"

#define NOLIM PARAM_NOLIMIT
#define N(a) ((int)(sizeof a / sizeof a[0]))

void settings_init(settings *s, ir_loc loc)
{
    memset(s, 0, sizeof *s);
    s->train.lr = 0.001;
    s->train.momentum = 0.9;
    s->train.weight_decay = 0;
    s->train.batch = 100;
    s->train.epochs = 10;
    s->train.beta1 = ADVCC_DEFAULT_BETA1;
    s->train.beta2 = ADVCC_DEFAULT_BETA2;
    s->train.eps = ADVCC_DEFAULT_ADAM_EPS;
    s->train.schedule.gamma = ADVCC_DEFAULT_GAMMA;
    s->train.schedule.pct = ADVCC_DEFAULT_PCT;
    s->train.schedule.div = ADVCC_DEFAULT_DIV;
    s->train.schedule.final_div = ADVCC_DEFAULT_FINAL_DIV;
    s->train.loc = loc;
    s->attack.eps = 8.0 / 255;
    s->attack.alpha = 2.0 / 255;
    s->attack.steps = 4;
    s->attack.restarts = 1;
    s->attack.eot = 1;
    s->attack.init = 1;
    s->attack.iters = 100;
    s->attack.targets = 9;
    s->attack.queries = 5000;
    s->attack.loc = loc;
    s->ensemble = 1;
}

/* The attack keys, shared by `attack pgd` and `train adversarial`; the
 * order is that of the ATTACK_ bits. */
enum { A_EPS, A_ALPHA, A_STEPS, A_INIT, A_RESTARTS, A_EOT, A_CLIP, A_NORM, A_COUNT };
static const param_spec attack_params[] = {
    { "eps", PT_NUM, 0, 0, 0, NOLIM, 0, NULL },
    { "alpha", PT_NUM, 0, 0, 0, NOLIM, 0, NULL },
    { "steps", PT_INT, 0, 0, 0, 1 << 20, 0, NULL },
    { "init", PT_WORD, 0, 0, 0, 0, 0, ADVCC_CHOICES(ADVCC_INIT_NAMES) },
    { "restarts", PT_INT, 0, 0, 1, 1 << 20, 0, NULL },
    { "eot", PT_INT, 0, 0, 1, 1 << 20, 0, NULL },
    { "clip", PT_WORD, 0, 0, 0, 0, 0, ADVCC_CHOICES(ADVCC_CLIP_NAMES) },
    { "norm", PT_WORD, 0, 0, 0, 0, 0, ADVCC_CHOICES(ADVCC_NORM_NAMES) },
    { "strict", PT_BOOL, 0, 0, 0, 1, 0, NULL },
};
/* The train keys: lr, SGD's, Adam's, those every method takes, then the
 * schedule's. */
enum { T_LR, T_MOMENTUM, T_NESTEROV, T_BETA1, T_BETA2, T_EPS, T_WD, T_BATCH, T_EPOCHS,
       T_ADV, T_SCHEDULE, T_WARMUP, T_MILESTONES, T_GAMMA, T_MIN_LR, T_PCT, T_DIV,
       T_FINAL_DIV, T_KNOTS, T_FACTORS, T_COUNT };
static const param_spec train_params[T_COUNT] = {
    { "lr", PT_NUM, 0, 0, 0, NOLIM, 1, NULL },
    { "momentum", PT_NUM, 0, 0, 0, 1, 0, NULL },
    { "nesterov", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    { "beta1", PT_NUM, 0, 0, 0, 1, 0, NULL },
    { "beta2", PT_NUM, 0, 0, 0, 1, 0, NULL },
    { "eps", PT_NUM, 0, 0, 0, NOLIM, 1, NULL },
    { "weight_decay", PT_NUM, 0, 0, 0, NOLIM, 0, NULL },
    { "batch", PT_INT, 0, 0, 1, 1 << 20, 0, NULL },
    { "epochs", PT_INT, 0, 0, 0, 1 << 20, 0, NULL },
    { "adversarial", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    { "schedule", PT_WORD, 0, 0, 0, 0, 0, ADVCC_CHOICES(ADVCC_SCHEDULE_NAMES) },
    { "warmup", PT_INT, 0, 0, 0, 1 << 20, 0, NULL },
    { "milestones", PT_LIST, 0, 0, 1, 1 << 20, 0, NULL },
    { "gamma", PT_NUM, 0, 0, 0, NOLIM, 1, NULL },
    { "min_lr", PT_NUM, 0, 0, 0, NOLIM, 0, NULL },
    { "pct", PT_NUM, 0, 0, 0, 1, 1, NULL },
    { "div", PT_NUM, 0, 0, 0, NOLIM, 1, NULL },
    { "final_div", PT_NUM, 0, 0, 0, NOLIM, 1, NULL },
    { "knots", PT_LIST, 0, 0, 0, 1 << 20, 0, NULL },
    { "factors", PT_LIST, 0, 0, 0, NOLIM, 0, NULL },
};

/* Does `train WORD` take key k?  SGD's keys are SGD's, Adam's Adam's;
 * `train adversarial` keeps the optimiser set before it and leaves Adam's
 * eps to its attack. */
static int train_takes(int k, int optimizer, int adversarial)
{
    if (k == T_MOMENTUM || k == T_NESTEROV)
        return optimizer == ADVCC_OPT_SGD;
    if (k == T_BETA1 || k == T_BETA2 || k == T_EPS)
        return optimizer != ADVCC_OPT_SGD && !(k == T_EPS && adversarial);
    return 1;
}

/* Copies the given attack keys v[0..A_COUNT) into a; returns their bits. */
static unsigned attack_merge(const param_val *v, ir_attack *a)
{
    unsigned set = 0;
    for (int i = 0; i < A_COUNT; i++)
        if (v[i].given)
            set |= 1u << i;
    if (v[A_EPS].given) a->eps = v[A_EPS].num;
    if (v[A_ALPHA].given) a->alpha = v[A_ALPHA].num;
    if (v[A_STEPS].given) a->steps = (int)v[A_STEPS].num;
    if (v[A_INIT].given) a->init = (int)v[A_INIT].num;  /* enum advcc_init */
    if (v[A_RESTARTS].given) a->restarts = (int)v[A_RESTARTS].num;
    if (v[A_EOT].given) a->eot = (int)v[A_EOT].num;
    if (v[A_CLIP].given) a->clip = (int)v[A_CLIP].num;
    if (v[A_NORM].given) a->norm = (int)v[A_NORM].num;
    return set;
}

/* A list key's values into at[] (at most IR_SCHEDULE_POINTS, increasing;
 * integers when whole is set).  0, or -1 after reporting. */
static int schedule_points(const char *owner, const char *key, const param_val *v,
                           int whole, int increasing, double *at)
{
    if (v->n > IR_SCHEDULE_POINTS) {
        diag_error(v->loc, "%s of %s takes at most %d values, got %d", key, owner,
                   IR_SCHEDULE_POINTS, v->n);
        return -1;
    }
    for (int i = 0; i < v->n; i++) {
        if (whole && v->items[i] != floor(v->items[i])) {
            diag_error(v->loc, "%s of %s must be whole epochs, got %g", key, owner, v->items[i]);
            return -1;
        }
        if (increasing && i > 0 && v->items[i] <= v->items[i - 1]) {
            diag_error(v->loc, "%s of %s must increase, got %g after %g", key, owner,
                       v->items[i], v->items[i - 1]);
            return -1;
        }
        at[i] = v->items[i];
    }
    return 0;
}

static int train_merge(const char *owner, const param_val *v, ir_train *t)
{
    ir_schedule *s = &t->schedule;
    if (v[T_LR].given) t->lr = v[T_LR].num;
    if (v[T_MOMENTUM].given) t->momentum = v[T_MOMENTUM].num;
    if (v[T_NESTEROV].given) t->nesterov = (int)v[T_NESTEROV].num;
    if (v[T_BETA1].given) t->beta1 = v[T_BETA1].num;
    if (v[T_BETA2].given) t->beta2 = v[T_BETA2].num;
    if (v[T_EPS].given) t->eps = v[T_EPS].num;
    if (v[T_WD].given) t->weight_decay = v[T_WD].num;
    if (v[T_BATCH].given) t->batch = (int)v[T_BATCH].num;
    if (v[T_EPOCHS].given) t->epochs = (int)v[T_EPOCHS].num;
    if (v[T_ADV].given) t->adversarial = (int)v[T_ADV].num;
    if (v[T_SCHEDULE].given && (int)v[T_SCHEDULE].num != s->kind) {
        s->kind = (int)v[T_SCHEDULE].num;   /* a new schedule's own keys start over */
        s->n = 0;
    }
    if (v[T_WARMUP].given) s->warmup = (int)v[T_WARMUP].num;
    if (v[T_GAMMA].given) s->gamma = v[T_GAMMA].num;
    if (v[T_MIN_LR].given) s->min_lr = v[T_MIN_LR].num;
    if (v[T_PCT].given) s->pct = v[T_PCT].num;
    if (v[T_DIV].given) s->div = v[T_DIV].num;
    if (v[T_FINAL_DIV].given) s->final_div = v[T_FINAL_DIV].num;
    /* Each schedule's keys belong to it alone. */
    static const struct { int key, kind; } own[] = {
        {T_MILESTONES, ADVCC_SCHED_MULTISTEP}, {T_GAMMA, ADVCC_SCHED_MULTISTEP},
        {T_MIN_LR, ADVCC_SCHED_COSINE}, {T_PCT, ADVCC_SCHED_ONECYCLE},
        {T_DIV, ADVCC_SCHED_ONECYCLE}, {T_FINAL_DIV, ADVCC_SCHED_ONECYCLE},
        {T_KNOTS, ADVCC_SCHED_PIECEWISE}, {T_FACTORS, ADVCC_SCHED_PIECEWISE},
    };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (v[own[i].key].given && s->kind != own[i].kind) {
            diag_error(v[own[i].key].loc, "%s of %s belongs to schedule=%s, not schedule=%s",
                       train_params[own[i].key].key, owner, advcc_schedule_name(own[i].kind),
                       advcc_schedule_name(s->kind));
            return -1;
        }
    if (v[T_MILESTONES].given) {
        if (schedule_points(owner, "milestones", &v[T_MILESTONES], 1, 1, s->at) != 0)
            return -1;
        s->n = v[T_MILESTONES].n;
    }
    if (v[T_KNOTS].given || v[T_FACTORS].given) {
        if (!v[T_KNOTS].given || !v[T_FACTORS].given ||
            v[T_KNOTS].n != v[T_FACTORS].n) {
            const param_val *w = v[T_KNOTS].given ? &v[T_KNOTS] : &v[T_FACTORS];
            diag_error(w->loc, "knots and factors of %s go together, as many of each", owner);
            return -1;
        }
        if (schedule_points(owner, "knots", &v[T_KNOTS], 0, 1, s->at) != 0 ||
            schedule_points(owner, "factors", &v[T_FACTORS], 0, 0, s->factor) != 0)
            return -1;
        s->n = v[T_KNOTS].n;
    }
    return 0;
}

/* What the merged recipe still lacks or contradicts. */
static int train_check(const ast_stmt *st, const ir_train *t)
{
    const ir_schedule *s = &t->schedule;
    if (t->optimizer == ADVCC_OPT_SGD && t->nesterov && t->momentum == 0) {
        diag_error(st->loc, "nesterov=1 needs a momentum above 0 (as PyTorch's SGD)");
        return -1;
    }
    if (s->kind == ADVCC_SCHED_MULTISTEP && s->n == 0) {
        diag_error(st->loc, "schedule=multistep needs milestones, such as milestones=(30, 60)");
        return -1;
    }
    if (s->kind == ADVCC_SCHED_PIECEWISE && s->n == 0) {
        diag_error(st->loc, "schedule=piecewise needs knots and factors, such as "
                   "knots=(0, 2, 5) factors=(0, 1, 0)");
        return -1;
    }
    return 0;
}

static void settings_train_attack(const settings *s, ir_attack *t);

/* With strict=1 a step larger than the budget is a mistake, not a choice. */
static int attack_check_strict(const settings *s, const ast_stmt *st, const ir_attack *a)
{
    if (s->strict && a->alpha > a->eps) {
        diag_error(st->loc, "alpha (%g) is larger than eps (%g), which strict=1 forbids",
                   a->alpha, a->eps);
        return -1;
    }
    return 0;
}

int settings_train(const ast_stmt *st, settings *s)
{
    int adversarial = strcmp(st->word, "adversarial") == 0;
    int optimizer = adversarial ? s->train.optimizer : advcc_optimizer_by_name(st->word);
    if (optimizer < 0) {
        diag_error(st->word_loc, "unknown training method '%s' (expected sgd, adam, adamw "
                   "or adversarial)", st->word);
        return -1;
    }
    int keys[T_COUNT], n = 0;
    for (int k = 0; k < T_COUNT; k++)
        if (train_takes(k, optimizer, adversarial))
            keys[n++] = k;
    const int n_train = n;
    param_spec specs[T_COUNT + A_COUNT];
    for (int i = 0; i < n_train; i++)
        specs[i] = train_params[keys[i]];
    if (adversarial) {
        memcpy(specs + n, attack_params, sizeof *specs * A_COUNT);
        n += A_COUNT;
    }
    char owner[32];
    snprintf(owner, sizeof owner, "train %s", st->word);
    param_val got[T_COUNT + A_COUNT], v[T_COUNT];
    if (params_bind(owner, st->loc, specs, n, st->args, NULL, got) != 0)
        return -1;
    memset(v, 0, sizeof v);
    for (int i = 0; i < n_train; i++)
        v[keys[i]] = got[i];
    s->train.optimizer = optimizer;
    if (train_merge(owner, v, &s->train) != 0 || train_check(st, &s->train) != 0)
        return -1;
    s->train.loc = st->loc;
    if (adversarial) {
        const param_val *av = got + n_train;
        s->train.adversarial = 1;
        s->adv_set |= attack_merge(av, &s->adv);
        ir_attack a;
        settings_train_attack(s, &a);
        return attack_check_strict(s, st, &a);
    }
    return 0;
}

/* `attack apgd|square|autoattack|fab`: the keys of each; eps, norm and
 * restarts are the PGD attack's too. */
enum { R_EPS, R_NORM, R_ITERS, R_RESTARTS, R_EOT, R_LOSS, R_TARGETS, R_QUERIES,
       R_VERSION, R_QUICK, R_COUNT };
static const param_spec robust_params[R_COUNT] = {
    { "eps", PT_NUM, 0, 0, 0, NOLIM, 0, NULL },
    { "norm", PT_WORD, 0, 0, 0, 0, 0, ADVCC_CHOICES(ADVCC_NORM_NAMES) },
    { "iters", PT_INT, 0, 0, 0, 1 << 20, 0, NULL },
    { "restarts", PT_INT, 0, 0, 1, 1 << 20, 0, NULL },
    { "eot", PT_INT, 0, 0, 1, 1 << 20, 0, NULL },
    { "loss", PT_WORD, 0, 0, 0, 0, 0, ADVCC_CHOICES(ADVCC_LOSS_NAMES) },
    { "targets", PT_INT, 0, 0, 1, 1 << 20, 0, NULL },
    { "queries", PT_INT, 0, 0, 1, 1 << 24, 0, NULL },
    { "version", PT_WORD, 0, 0, 0, 0, 0, ADVCC_CHOICES(ADVCC_AA_VERSION_NAMES) },
    { "quick", PT_BOOL, 0, 0, 0, 1, 0, NULL },
};

static int settings_robust_attack(const ast_stmt *st, settings *s, int method)
{
    static const int keys[5][R_COUNT + 1] = {
        {0},
        {R_EPS, R_NORM, R_ITERS, R_RESTARTS, R_EOT, R_LOSS, R_TARGETS, -1},
        {R_EPS, R_NORM, R_QUERIES, -1},
        {R_EPS, R_NORM, R_VERSION, R_QUICK, -1},
        {R_EPS, R_NORM, R_ITERS, R_RESTARTS, R_TARGETS, -1},
    };
    static const char *const names[5] = {"", "attack apgd", "attack square",
                                         "attack autoattack", "attack fab"};
    param_spec specs[R_COUNT];
    memset(specs, 0, sizeof specs);
    int n = 0;
    for (; keys[method][n] >= 0; n++)
        specs[n] = robust_params[keys[method][n]];
    param_val v[R_COUNT], r[R_COUNT];
    if (params_bind(names[method], st->loc, specs, n, st->args, NULL, v) != 0)
        return -1;
    memset(r, 0, sizeof r);
    for (int i = 0; i < n; i++)
        r[keys[method][i]] = v[i];
    ir_attack *a = &s->attack;
    if (r[R_EPS].given) a->eps = r[R_EPS].num;
    if (r[R_NORM].given) a->norm = (int)r[R_NORM].num;
    if (r[R_ITERS].given) a->iters = (int)r[R_ITERS].num;
    if (r[R_RESTARTS].given) a->restarts = (int)r[R_RESTARTS].num;
    if (r[R_EOT].given) a->eot = (int)r[R_EOT].num;
    if (r[R_LOSS].given) a->loss = (int)r[R_LOSS].num;
    if (r[R_TARGETS].given) a->targets = (int)r[R_TARGETS].num;
    if (r[R_QUERIES].given) a->queries = (int)r[R_QUERIES].num;
    if (r[R_VERSION].given) a->version = (int)r[R_VERSION].num;
    if (r[R_QUICK].given) a->quick = (int)r[R_QUICK].num;
    a->method = method;
    a->present = 1;
    a->loc = st->loc;
    return 0;
}

int settings_attack(const ast_stmt *st, settings *s)
{
    int method = advcc_method_by_name(st->word);
    if (method < 0) {
        diag_error(st->word_loc,
                   "unknown attack '%s' (expected pgd, apgd, square, fab or autoattack)",
                   st->word);
        return -1;
    }
    if (method > 0)
        return settings_robust_attack(st, s, method);
    param_val v[N(attack_params)];
    if (params_bind("attack pgd", st->loc, attack_params, N(attack_params),
                    st->args, NULL, v) != 0)
        return -1;
    attack_merge(v, &s->attack);
    s->attack.method = 0;
    if (v[A_COUNT].given)
        s->strict = (int)v[A_COUNT].num;
    s->attack.present = 1;
    s->attack.loc = st->loc;
    return attack_check_strict(s, st, &s->attack);
}

int settings_augment(const ast_stmt *st, settings *s)
{
    static const param_spec specs[] = {
        { "crop", PT_INT, 0, 0, 0, 1 << 10, 0, NULL },
        { "flip", PT_BOOL, 0, 0, 0, 1, 0, NULL },
    };
    param_val v[N(specs)];
    if (params_bind("augment", st->loc, specs, N(specs), st->args, NULL, v) != 0)
        return -1;
    if (v[0].given)
        s->train.crop = (int)v[0].num;
    if (v[1].given)
        s->train.flip = (int)v[1].num;
    return 0;
}

int settings_ensemble(const ast_stmt *st, settings *s)
{
    static const param_spec specs[] = {
        { "n", PT_INT, 1, 1, 1, 1000, 0, NULL },
        { "average", PT_WORD, 0, 0, 0, 0, 0, "logits|probs" },
    };
    param_val v[N(specs)];
    if (params_bind("ensemble", st->loc, specs, N(specs), st->args, NULL, v) != 0)
        return -1;
    s->ensemble = (int)v[0].num;
    if (v[1].given)
        s->ensemble_probs = (int)v[1].num;
    return 0;
}

/* "3x32x32" */
int settings_input(const ast_stmt *st, ir_shape *input, int *classes)
{
    long dims[3];
    int n = 0;
    const char *p = st->word;
    while (*p) {
        char piece[32], why[64];
        const char *end = p;
        while (*end >= '0' && *end <= '9')
            end++;
        snprintf(piece, sizeof piece, "%.*s", (int)(end - p < 31 ? end - p : 31), p);
        long d = 0;
        if (n == 3 || end == p || num_parse_long(piece, 1, 65536, &d, why, sizeof why) != 0) {
            diag_error(st->word_loc, n == 3 ? "input has more than 3 dimensions (CxHxW)"
                                            : "input dimensions must be between 1 and 65536");
            return -1;
        }
        dims[n++] = d;
        p = *end == 'x' ? end + 1 : end;
    }
    if (n != 3) {
        diag_error(st->word_loc, "input needs 3 dimensions, CxHxW, such as 3x32x32");
        return -1;
    }
    static const param_spec spec = { "classes", PT_INT, 1, 1, 2, 1 << 20, 0, NULL };
    ast_arg arg = { NULL, NULL, st->value, st->value->loc };
    param_val v;
    if (params_bind("input", st->loc, &spec, 1, &arg, NULL, &v) != 0)
        return -1;
    input->c = (int)dims[0];
    input->h = (int)dims[1];
    input->w = (int)dims[2];
    input->flat = 0;
    *classes = (int)v.num;
    return 0;
}

/* Adversarial training's attack: the evaluation attack, with the keys
 * `train adversarial` gave over it. */
static void settings_train_attack(const settings *s, ir_attack *t)
{
    *t = s->attack;
    t->method = 0;          /* training attacks with PGD */
    if (s->adv_set & 1u << A_EPS) t->eps = s->adv.eps;
    if (s->adv_set & 1u << A_ALPHA) t->alpha = s->adv.alpha;
    if (s->adv_set & 1u << A_STEPS) t->steps = s->adv.steps;
    if (s->adv_set & 1u << A_INIT) t->init = s->adv.init;
    if (s->adv_set & 1u << A_RESTARTS) t->restarts = s->adv.restarts;
    if (s->adv_set & 1u << A_EOT) t->eot = s->adv.eot;
    if (s->adv_set & 1u << A_CLIP) t->clip = s->adv.clip;
    if (s->adv_set & 1u << A_NORM) t->norm = s->adv.norm;
    if (s->adv_set) {
        t->present = 1;
        t->loc = s->train.loc;
    }
}

void settings_apply(const settings *s, ir_model *m)
{
    m->train = s->train;
    m->attack = s->attack;
    settings_train_attack(s, &m->train_attack);
    m->ensemble = s->ensemble;
    m->ensemble_probs = s->ensemble_probs;
}
