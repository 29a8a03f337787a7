/* cli_recipe.c - the training recipe's options of `train`; see
 * cli_recipe.h. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cli_recipe.h"

enum {
    OPT_FIRST = 320,
    OPT_OPTIMIZER = OPT_FIRST, OPT_SCHEDULE, OPT_NESTEROV, OPT_BETA1, OPT_BETA2,
    OPT_ADAM_EPS, OPT_WARMUP, OPT_MILESTONES, OPT_GAMMA, OPT_MIN_LR, OPT_PCT, OPT_DIV,
    OPT_FINAL_DIV, OPT_KNOTS, OPT_FACTORS, OPT_CROP, OPT_FLIP, OPT_END
};

static const struct option recipe_opts[] = {
    {"optimizer", required_argument, 0, OPT_OPTIMIZER},
    {"schedule", required_argument, 0, OPT_SCHEDULE},
    {"nesterov", required_argument, 0, OPT_NESTEROV},
    {"beta1", required_argument, 0, OPT_BETA1},
    {"beta2", required_argument, 0, OPT_BETA2},
    {"adam-eps", required_argument, 0, OPT_ADAM_EPS},   /* --eps is the attack's */
    {"warmup", required_argument, 0, OPT_WARMUP},
    {"milestones", required_argument, 0, OPT_MILESTONES},
    {"gamma", required_argument, 0, OPT_GAMMA},
    {"min-lr", required_argument, 0, OPT_MIN_LR},
    {"pct", required_argument, 0, OPT_PCT},
    {"div", required_argument, 0, OPT_DIV},
    {"final-div", required_argument, 0, OPT_FINAL_DIV},
    {"knots", required_argument, 0, OPT_KNOTS},
    {"factors", required_argument, 0, OPT_FACTORS},
    {"crop", required_argument, 0, OPT_CROP},
    {"flip", required_argument, 0, OPT_FLIP},
};
#define N_RECIPE_OPTS ((int)(sizeof recipe_opts / sizeof recipe_opts[0]))

#define OPTIMIZER_CHOICES ADVCC_OPTIMIZER_NAMES(ADVCC_NAME_STR, ", ")
#define SCHEDULE_CHOICES ADVCC_SCHEDULE_NAMES(ADVCC_NAME_STR, ", ")

int cli_recipe_options(struct option *opts, int n)
{
    memcpy(opts + n, recipe_opts, sizeof recipe_opts);
    return n + N_RECIPE_OPTS;
}

void cli_recipe_init(cli_recipe *r, const advcc_train_cfg *spec)
{
    advcc_train_cfg *t = &r->cfg;
    advcc_schedule_cfg *s = &t->schedule;
    *t = *spec;
    r->given = 0;
    r->n_factors = 0;
    /* The descriptor holds only the keys of the spec's own optimiser and
     * schedule (compiler/emit.c); the others start at their defaults. */
    if (t->optimizer == ADVCC_OPT_SGD) {
        t->beta1 = ADVCC_DEFAULT_BETA1;
        t->beta2 = ADVCC_DEFAULT_BETA2;
        t->eps = ADVCC_DEFAULT_ADAM_EPS;
    }
    if (s->kind != ADVCC_SCHED_MULTISTEP)
        s->gamma = ADVCC_DEFAULT_GAMMA;
    if (s->kind != ADVCC_SCHED_COSINE)
        s->min_lr = 0;
    if (s->kind != ADVCC_SCHED_ONECYCLE) {
        s->pct = ADVCC_DEFAULT_PCT;
        s->div = ADVCC_DEFAULT_DIV;
        s->final_div = ADVCC_DEFAULT_FINAL_DIV;
    }
}

static const char *opt_name(int code)
{
    for (int i = 0; i < N_RECIPE_OPTS; i++)
        if (recipe_opts[i].val == code)
            return recipe_opts[i].name;
    return "?";
}

static int given(const cli_recipe *r, int code)
{
    return (r->given >> (code - OPT_FIRST)) & 1;
}

/* A comma-separated list of at most ADVCC_SCHEDULE_POINTS numbers in
 * [lo, hi] into v (whole ones when whole, increasing when increasing);
 * their count, or -1 with cli_why() saying why. */
static int parse_points(const char *arg, double lo, int whole, int increasing, double *v)
{
    char buf[256];
    if (strlen(arg) >= sizeof buf) {
        cli_why_set("is too long for a list of points");
        return -1;
    }
    strcpy(buf, arg);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == ADVCC_SCHEDULE_POINTS) {
            char why[64];
            snprintf(why, sizeof why, "has more than %d values", ADVCC_SCHEDULE_POINTS);
            cli_why_set(why);
            return -1;
        }
        if (cli_number(tok, lo, 1e300, whole ? NUM_INT : 0, &v[n]) != 0)
            return -1;
        if (increasing && n > 0 && v[n] <= v[n - 1]) {
            cli_why_set("does not increase");
            return -1;
        }
        n++;
    }
    if (n == 0) {
        cli_why_set("has no values (give them as 30,60)");
        return -1;
    }
    return n;
}

/* The word of a names list: its index into *out, or 1 naming the choices. */
static int pick_word(const char *arg, int (*by_name)(const char *), const char *choices,
                     int *out)
{
    const int v = by_name(arg);
    if (v < 0) {
        char why[128];
        snprintf(why, sizeof why, "is not one of %s", choices);
        cli_why_set(why);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_recipe_option(int code, const char *arg, cli_recipe *r)
{
    if (code < OPT_FIRST || code >= OPT_END)
        return -1;
    advcc_train_cfg *t = &r->cfg;
    advcc_schedule_cfg *s = &t->schedule;
    long k;
    int n;
    r->given |= 1u << (code - OPT_FIRST);
    switch (code) {
    case OPT_OPTIMIZER:
        return pick_word(arg, advcc_optimizer_by_name, OPTIMIZER_CHOICES, &t->optimizer);
    case OPT_SCHEDULE: {
        int kind;
        if (pick_word(arg, advcc_schedule_by_name, SCHEDULE_CHOICES, &kind))
            return 1;
        if (kind != s->kind && !given(r, OPT_MILESTONES) && !given(r, OPT_KNOTS))
            s->n = 0;       /* a new schedule's own points start over */
        s->kind = kind;
        return 0;
    }
    case OPT_NESTEROV:
    case OPT_FLIP:
        if (cli_int(arg, 0, 1, &k))
            return 1;
        *(code == OPT_NESTEROV ? &t->nesterov : &t->flip) = (int)k;
        return 0;
    case OPT_BETA1: return cli_number(arg, 0, 1, 0, &t->beta1) ? 1 : 0;
    case OPT_BETA2: return cli_number(arg, 0, 1, 0, &t->beta2) ? 1 : 0;
    case OPT_ADAM_EPS: return cli_number(arg, 0, 1, NUM_LO_OPEN, &t->eps) ? 1 : 0;
    case OPT_WARMUP:
    case OPT_CROP:
        if (cli_int(arg, 0, code == OPT_CROP ? 1 << 10 : 1 << 20, &k))
            return 1;
        *(code == OPT_WARMUP ? &s->warmup : &t->crop) = (int)k;
        return 0;
    case OPT_GAMMA: return cli_number(arg, 0, 1e300, NUM_LO_OPEN, &s->gamma) ? 1 : 0;
    case OPT_MIN_LR: return cli_number(arg, 0, 1e6, 0, &s->min_lr) ? 1 : 0;
    case OPT_PCT: return cli_number(arg, 0, 1, NUM_LO_OPEN, &s->pct) ? 1 : 0;
    case OPT_DIV: return cli_number(arg, 0, 1e300, NUM_LO_OPEN, &s->div) ? 1 : 0;
    case OPT_FINAL_DIV: return cli_number(arg, 0, 1e300, NUM_LO_OPEN, &s->final_div) ? 1 : 0;
    case OPT_MILESTONES:
    case OPT_KNOTS:
        n = parse_points(arg, code == OPT_MILESTONES ? 1 : 0, code == OPT_MILESTONES, 1, s->at);
        if (n < 0)
            return 1;
        s->n = n;
        return 0;
    case OPT_FACTORS: {
        double f[ADVCC_SCHEDULE_POINTS];
        n = parse_points(arg, 0, 0, 0, f);
        if (n < 0)
            return 1;
        memcpy(s->factor, f, sizeof(double) * (size_t)n);
        r->n_factors = n;
        return 0;
    }
    default:
        return -1;
    }
}

int cli_recipe_check(const cli_recipe *r, double momentum, char *err, size_t errlen)
{
    const advcc_train_cfg *t = &r->cfg;
    const advcc_schedule_cfg *s = &t->schedule;
    const char *opt = advcc_optimizer_name(t->optimizer), *sched = advcc_schedule_name(s->kind);
    /* Each optimiser's and each schedule's keys belong to it alone: an
     * option's optimiser family (SGD, ADAM: adam and adamw) or schedule. */
    enum { ANY, SGD, ADAM };
    static const struct { int code, family, kind; } own[] = {
        {OPT_NESTEROV, SGD, -1}, {OPT_BETA1, ADAM, -1}, {OPT_BETA2, ADAM, -1},
        {OPT_ADAM_EPS, ADAM, -1},
        {OPT_MILESTONES, ANY, ADVCC_SCHED_MULTISTEP}, {OPT_GAMMA, ANY, ADVCC_SCHED_MULTISTEP},
        {OPT_MIN_LR, ANY, ADVCC_SCHED_COSINE}, {OPT_PCT, ANY, ADVCC_SCHED_ONECYCLE},
        {OPT_DIV, ANY, ADVCC_SCHED_ONECYCLE}, {OPT_FINAL_DIV, ANY, ADVCC_SCHED_ONECYCLE},
        {OPT_KNOTS, ANY, ADVCC_SCHED_PIECEWISE}, {OPT_FACTORS, ANY, ADVCC_SCHED_PIECEWISE},
    };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        if (!given(r, own[i].code))
            continue;
        if (own[i].family == SGD && t->optimizer != ADVCC_OPT_SGD) {
            snprintf(err, errlen, "--%s belongs to --optimizer sgd, not %s",
                     opt_name(own[i].code), opt);
            return -1;
        }
        if (own[i].family == ADAM && t->optimizer == ADVCC_OPT_SGD) {
            snprintf(err, errlen, "--%s belongs to --optimizer adam or adamw, not sgd",
                     opt_name(own[i].code));
            return -1;
        }
        if (own[i].kind >= 0 && own[i].kind != s->kind) {
            snprintf(err, errlen, "--%s belongs to --schedule %s, not %s",
                     opt_name(own[i].code), advcc_schedule_name(own[i].kind), sched);
            return -1;
        }
    }
    if (t->optimizer == ADVCC_OPT_SGD && t->nesterov && momentum == 0) {
        snprintf(err, errlen, "Nesterov momentum (--nesterov 1%s) needs a momentum above 0 "
                 "(--momentum), as PyTorch's SGD", given(r, OPT_NESTEROV) ? "" : " in the spec");
        return -1;
    }
    if (s->kind == ADVCC_SCHED_MULTISTEP && s->n == 0) {
        snprintf(err, errlen, "--schedule multistep needs --milestones, such as --milestones 30,60");
        return -1;
    }
    if (s->kind == ADVCC_SCHED_PIECEWISE &&
        (s->n == 0 || given(r, OPT_KNOTS) != given(r, OPT_FACTORS) ||
         (given(r, OPT_FACTORS) && r->n_factors != s->n))) {
        snprintf(err, errlen, "--schedule piecewise needs --knots and --factors together, as "
                 "many of each, such as --knots 0,2,5 --factors 0,1,0");
        return -1;
    }
    return 0;
}

/* The first n points as --milestones takes them: 30,60. */
static int record_points(json_t *rec, int code, const double *v, int n)
{
    char text[ADVCC_SCHEDULE_POINTS * 33] = "";
    size_t k = 0;
    for (int i = 0; i < n && k < sizeof text; i++) {
        char one[32];
        cli_exact_text(v[i], one, sizeof one);
        k += (size_t)snprintf(text + k, sizeof text - k, "%s%s", i ? "," : "", one);
    }
    return cli_record_text(rec, opt_name(code), text);
}

int cli_recipe_record(const cli_recipe *r, double momentum, json_t *rec)
{
    const advcc_train_cfg *t = &r->cfg;
    const advcc_schedule_cfg *s = &t->schedule;
    int bad = cli_record_text(rec, opt_name(OPT_OPTIMIZER), advcc_optimizer_name(t->optimizer));
    if (t->optimizer == ADVCC_OPT_SGD) {
        bad |= cli_record_number(rec, "momentum", momentum);
        bad |= cli_record_number(rec, opt_name(OPT_NESTEROV), t->nesterov);
    } else {
        bad |= cli_record_number(rec, opt_name(OPT_BETA1), t->beta1);
        bad |= cli_record_number(rec, opt_name(OPT_BETA2), t->beta2);
        bad |= cli_record_number(rec, opt_name(OPT_ADAM_EPS), t->eps);
    }
    bad |= cli_record_text(rec, opt_name(OPT_SCHEDULE), advcc_schedule_name(s->kind));
    switch (s->kind) {
    case ADVCC_SCHED_MULTISTEP:
        bad |= record_points(rec, OPT_MILESTONES, s->at, s->n);
        bad |= cli_record_number(rec, opt_name(OPT_GAMMA), s->gamma);
        break;
    case ADVCC_SCHED_COSINE:
        bad |= cli_record_number(rec, opt_name(OPT_MIN_LR), s->min_lr);
        break;
    case ADVCC_SCHED_ONECYCLE:
        bad |= cli_record_number(rec, opt_name(OPT_PCT), s->pct);
        bad |= cli_record_number(rec, opt_name(OPT_DIV), s->div);
        bad |= cli_record_number(rec, opt_name(OPT_FINAL_DIV), s->final_div);
        break;
    case ADVCC_SCHED_PIECEWISE:
        bad |= record_points(rec, OPT_KNOTS, s->at, s->n);
        bad |= record_points(rec, OPT_FACTORS, s->factor, s->n);
        break;
    default:
        break;
    }
    bad |= cli_record_number(rec, opt_name(OPT_WARMUP), s->warmup);
    bad |= cli_record_number(rec, opt_name(OPT_CROP), t->crop);
    bad |= cli_record_number(rec, opt_name(OPT_FLIP), t->flip);
    return bad ? -1 : 0;
}

void cli_recipe_usage(FILE *fp, const advcc_train_cfg *spec)
{
    cli_recipe r;
    cli_recipe_init(&r, spec);
    const advcc_train_cfg *t = &r.cfg;
    const advcc_schedule_cfg *s = &t->schedule;
    fprintf(fp,
            "  --optimizer NAME  " ADVCC_CHOICES(ADVCC_OPTIMIZER_NAMES) " [%s]\n"
            "  --nesterov 0|1    Nesterov momentum (sgd, momentum above 0) [%d]\n"
            "  --beta1 X, --beta2 X, --adam-eps X\n"
            "                    Adam's and AdamW's [%g, %g, %g]\n"
            "  --schedule NAME   " ADVCC_CHOICES(ADVCC_SCHEDULE_NAMES) " [%s]\n"
            "  --milestones LIST multistep: epochs, increasing, such as 30,60\n"
            "  --gamma X         multistep: factor at each milestone [%g]\n"
            "  --min-lr X        cosine: the rate it ends at [%g]\n"
            "  --pct X, --div X, --final-div X\n"
            "                    onecycle: rising share, lr / start, start / end\n"
            "                    [%g, %g, %g]\n"
            "  --knots LIST, --factors LIST\n"
            "                    piecewise: epochs, increasing, and the rate's\n"
            "                    multiples there, as many of each (0,2,5 and 0,1,0)\n"
            "  --warmup N        epochs of linear warm-up [%d]\n"
            "  --crop P          augmentation: random crop from a zero padding of P [%d]\n"
            "  --flip 0|1        augmentation: mirror half the images [%d]\n"
            "A schedule named here starts without the spec's milestones or knots.\n",
            advcc_optimizer_name(t->optimizer), t->nesterov, t->beta1, t->beta2, t->eps,
            advcc_schedule_name(s->kind), s->gamma, s->min_lr, s->pct, s->div, s->final_div,
            s->warmup, t->crop, t->flip);
}
