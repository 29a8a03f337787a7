/* cli_attack.c - parsing the attack options. */
#include <string.h>
#include "cli.h"
#include "cli_attack.h"

enum {
    OPT_EPS = 256, OPT_ALPHA, OPT_STEPS, OPT_RESTARTS, OPT_INIT, OPT_EOT,
    OPT_NORM, OPT_CLIP, OPT_LABELS, OPT_BN, OPT_TARGETED
};

static const struct option attack_opts[] = {
    {"eps", required_argument, 0, OPT_EPS},
    {"alpha", required_argument, 0, OPT_ALPHA},
    {"steps", required_argument, 0, OPT_STEPS},
    {"restarts", required_argument, 0, OPT_RESTARTS},
    {"init", required_argument, 0, OPT_INIT},
    {"eot", required_argument, 0, OPT_EOT},
    {"norm", required_argument, 0, OPT_NORM},
    {"clip", required_argument, 0, OPT_CLIP},
    {"labels", required_argument, 0, OPT_LABELS},
    {"bn", required_argument, 0, OPT_BN},
    {"targeted", no_argument, 0, OPT_TARGETED},
};

void cli_attack_options(struct option *opts, const struct option *own, int n)
{
    int k = (int)(sizeof attack_opts / sizeof attack_opts[0]);
    if (n + k > CLI_MAX_OPTIONS - 1)
        k = CLI_MAX_OPTIONS - 1 - n;
    memcpy(opts, own, sizeof(struct option) * (size_t)n);
    memcpy(opts + n, attack_opts, sizeof(struct option) * (size_t)k);
    memset(&opts[n + k], 0, sizeof opts[n + k]);
}

void cli_attack_defaults(const advcc_model *m, const advcc_attack_cfg *a,
                         pgd_cfg *cfg)
{
    pgd_cfg_from_attack(cfg, a);
    cfg->mean = m->norm_mean;
    cfg->std = m->norm_std;
}

/* The value by_name gives ARG; 1 for an unknown name. */
static int pick_named(const char *arg, int (*by_name)(const char *), int *out)
{
    int v = by_name(arg);
    if (v < 0)
        return 1;
    *out = v;
    return 0;
}

static int pick(const char *arg, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(arg, names[i])) {
            *out = i;
            return 0;
        }
    return 1;
}

static const char *const label_names[] = {"true", "pred"};
static const char *const bn_names[] = {"eval", "batch"};

int cli_attack_option(int code, const char *arg, pgd_cfg *cfg)
{
    long v;
    int k;
    switch (code) {
    /* pixel units; the bound leaves room for an L2 budget over a whole
     * image, pgd_check_cfg holds an Linf one to 1 */
    case OPT_EPS: return cli_number(arg, 0, 64, 0, &cfg->eps);
    case OPT_ALPHA: return cli_number(arg, 0, 64, 0, &cfg->alpha);
    case OPT_STEPS:
        if (cli_int(arg, 0, 100000, &v)) return 1;
        cfg->steps = (int)v;
        return 0;
    case OPT_RESTARTS:
        if (cli_int(arg, 1, 10000, &v)) return 1;
        cfg->restarts = (int)v;
        return 0;
    case OPT_EOT:
        if (cli_int(arg, 1, 10000, &v)) return 1;
        cfg->eot = (int)v;
        return 0;
    case OPT_INIT: return pick_named(arg, advcc_init_by_name, &cfg->init);
    case OPT_NORM: return pick_named(arg, advcc_norm_by_name, &cfg->norm);
    case OPT_CLIP: return pick_named(arg, advcc_clip_by_name, &cfg->clip);
    case OPT_LABELS: return pick(arg, label_names, 2, &cfg->labels);
    case OPT_TARGETED:
        cfg->targeted = 1;
        return 0;
    case OPT_BN:
        if (pick(arg, bn_names, 2, &k)) return 1;
        cfg->mode = k ? ADVCC_TRAIN_FROZEN : ADVCC_EVAL;
        return 0;
    default: return 1;
    }
}

int cli_attack_record(const pgd_cfg *cfg, json_t *rec)
{
#define NAME(code) attack_opts[(code) - OPT_EPS].name
    int bad = cli_record_number(rec, NAME(OPT_EPS), cfg->eps);
    bad |= cli_record_number(rec, NAME(OPT_ALPHA), cfg->alpha);
    bad |= cli_record_number(rec, NAME(OPT_STEPS), cfg->steps);
    bad |= cli_record_number(rec, NAME(OPT_RESTARTS), cfg->restarts);
    bad |= cli_record_text(rec, NAME(OPT_INIT), advcc_init_name(cfg->init));
    bad |= cli_record_number(rec, NAME(OPT_EOT), cfg->eot);
    bad |= cli_record_text(rec, NAME(OPT_NORM), advcc_norm_name(cfg->norm));
    bad |= cli_record_text(rec, NAME(OPT_CLIP), advcc_clip_name(cfg->clip));
    bad |= cli_record_text(rec, NAME(OPT_LABELS), label_names[cfg->labels != 0]);
    bad |= cli_record_text(rec, NAME(OPT_BN), bn_names[cfg->mode != ADVCC_EVAL]);
    bad |= cli_record_number(rec, NAME(OPT_TARGETED), cfg->targeted);
#undef NAME
    return bad ? -1 : 0;
}

void cli_attack_usage(FILE *fp, const advcc_attack_cfg *a, int training)
{
    fprintf(fp,
            "  --eps X            budget in pixel units, e.g. 8/255 [%.4g = %.3g/255]\n"
            "  --alpha X          step size [%.4g = %.3g/255]\n"
            "  --steps N          iterations [%d]\n"
            "  --restarts N       attempts; the worst case per image is kept [%d]\n"
            "  --init NAME        random start: gaussian, uniform or none [%s];\n"
            "                     gaussian adds eps x N(0,1) to each pixel (sigma =\n"
            "                     eps; l2: eps/sqrt(pixels)), uniform draws from the\n"
            "                     ball, and the start is projected into it\n"
            "  --eot M            input gradient averaged over M noise draws [%d]\n"
            "  --norm NAME        linf or l2 [%s]\n"
            "  --clip NAME        pixel ([0,1]) or normalized ([-2,2] after\n"
            "                     normalisation, the report's choice) [%s]\n"
            "  --labels NAME      attack the true labels or the model's predictions [true]\n"
            "  --targeted         aim each image at the next class (label + 1 mod\n"
            "                     classes) instead of away from its own\n"
            "  --bn MODE          BatchNorm during the attack: eval (running\n"
            "                     statistics) or batch (batch statistics, running\n"
            "                     statistics untouched) [%s]\n",
            a->eps, a->eps * 255, a->alpha, a->alpha * 255, a->steps, a->restarts,
            advcc_init_name(a->init), a->eot, advcc_norm_name(a->norm),
            advcc_clip_name(a->clip), training ? "batch" : "eval");
}

int cli_grad_default(const advcc_model *m, int strong)
{
    return strong && infer_bpda_layers(m) > 0 ? INFER_GRAD_BOTH : INFER_GRAD_STE;
}

int cli_grad_check(const advcc_model *m, const char *cmd, int grad)
{
    if (grad == INFER_GRAD_STE || infer_bpda_layers(m) > 0)
        return 0;
    fprintf(stderr,
            "%s %s: --grad %s: model %s has no activation quantiser or threshold "
            "(dtrelu, pwlinear, naivedt, ddtrelu) for BPDA to replace; its input "
            "gradient is already exact (--grad ste)\n",
            m->name, cmd, infer_grad_name(grad), m->name);
    return -1;
}

void cli_grad_usage(FILE *fp, const char *dflt)
{
    fprintf(fp,
            "  --grad MODE        the gradient through activation quantisers and\n"
            "                     thresholds: ste (straight through), bpda (the\n"
            "                     identity) or both (the attack under each; an image is\n"
            "                     broken if either breaks it); bpda and both need such\n"
            "                     a layer [%s]\n", dflt);
}
