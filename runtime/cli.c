/* cli.c - command dispatch and the helpers the commands share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "numparse.h"

static void usage(const advcc_model *m, FILE *fp)
{
    fprintf(fp,
            "usage: %s COMMAND [options]\n"
            "\n"
            "The model `%s` (from %s), compiled by advcc.\n"
            "\n"
            "commands:\n"
            "  train    train with the spec's recipe, evaluate, write a checkpoint\n"
            "  eval     clean accuracy of a checkpoint; with --attack pgd, robust accuracy\n"
            "  attack   the same as eval --attack pgd; also --attack apgd-ce, apgd-dlr,\n"
            "           apgd-t, fab-t, square or autoattack\n"
            "  sanity   the gradient-masking checks of a strong evaluation (PASS or\n"
            "           WARNING each); --attack pgd: the checks of the PGD attack\n"
            "  features the first convolution block's output for one test image (.npy)\n"
            "  certify  certified L2 radii and accuracy from a sound Lipschitz bound\n"
            "  info     layers, parameter count and the spec's defaults\n"
            "\n"
            "`%s COMMAND --help` describes each command's options.\n"
            "\n"
            "environment:\n"
            "  CIFAR10_DIR  the cifar-10-batches-bin directory [./data/cifar-10-batches-bin]\n"
            "  ADVCC_ISA    the vector instructions of advcc's own convolution kernels:\n"
            "               avx512, avx2 or none [the best this CPU has]\n"
            "  OPENBLAS_CORETYPE, OMP_WAIT_POLICY  read by OpenBLAS and OpenMP as usual\n"
            "%s\n",
            m->name, m->name, m->source, m->name, ADVCC_VERSION);
}

static int cmd_argc;
static char **cmd_argv;

int cli_main(const advcc_model *m, int argc, char **argv)
{
    cmd_argc = argc;
    cmd_argv = argv;
    if (argc < 2) {
        usage(m, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(m, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("%s\n", ADVCC_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "train"))
        return cli_train(m, argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return cli_eval(m, argc - 1, argv + 1, 0);
    if (!strcmp(cmd, "attack"))
        return cli_eval(m, argc - 1, argv + 1, 1);
    if (!strcmp(cmd, "sanity"))
        return cli_sanity(m, argc - 1, argv + 1);
    if (!strcmp(cmd, "features"))
        return cli_features(m, argc - 1, argv + 1);
    if (!strcmp(cmd, "certify"))
        return cli_certify(m, argc - 1, argv + 1);
    if (!strcmp(cmd, "info"))
        return cli_info(m, argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n", m->name, cmd);
    usage(m, stderr);
    return 2;
}

static char cli_why_buf[128];

const char *cli_why(void)
{
    return cli_why_buf;
}

void cli_why_set(const char *why)
{
    snprintf(cli_why_buf, sizeof cli_why_buf, "%s", why);
}

int cli_number(const char *s, double lo, double hi, unsigned flags, double *out)
{
    return num_parse(s, flags | NUM_RATIO, lo, hi, out, cli_why_buf, sizeof cli_why_buf);
}

int cli_int(const char *s, long lo, long hi, long *out)
{
    return num_parse_long(s, lo, hi, out, cli_why_buf, sizeof cli_why_buf);
}

const char *cli_model_json;

const char *cli_default_dataset(const advcc_model *m)
{
    return advcc_default_dataset(m->in_c, m->in_h, m->in_w);
}

int cli_load_data(const advcc_model *m, const char *name, int train, int limit,
                  advcc_dataset *d)
{
    char err[512];
    if (dataset_load(name, train, d, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        return -1;
    }
    if (d->c != m->in_c || d->h != m->in_h || d->w != m->in_w) {
        fprintf(stderr, "%s: the %s images are %dx%dx%d but the model takes %dx%dx%d\n",
                m->name, name, d->c, d->h, d->w, m->in_c, m->in_h, m->in_w);
        dataset_free(d);
        return -1;
    }
    if (d->classes > m->classes) {
        fprintf(stderr, "%s: %s has %d classes but the model has %d\n", m->name,
                name, d->classes, m->classes);
        dataset_free(d);
        return -1;
    }
    dataset_limit(d, limit);
    return 0;
}

void cli_bad_value(const char *prog, const char *cmd, const char *opt, const char *value)
{
    fprintf(stderr, "%s %s: --%s '%s' %s\n", prog, cmd, opt, value,
            cli_why_buf[0] ? cli_why_buf : "is not one of the accepted values");
    cli_why_buf[0] = 0;
}

/* Appends s to buf, single-quoted when the shell would split or expand it. */
static void put_word(char *buf, size_t len, size_t *at, const char *s)
{
    int plain = *s != 0;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789-_./=:,+%@", *p))
            plain = 0;
    int n;
    if (plain)
        n = snprintf(buf + *at, len - *at, "%s%s", *at ? " " : "", s);
    else {
        n = snprintf(buf + *at, len - *at, "%s'", *at ? " " : "");
        for (const char *p = s; n >= 0 && *at + (size_t)n < len && *p; p++) {
            int k = *p == '\'' ? snprintf(buf + *at + n, len - *at - n, "'\\''")
                               : snprintf(buf + *at + n, len - *at - n, "%c", *p);
            n += k;
        }
        if (n >= 0 && *at + (size_t)n < len)
            n += snprintf(buf + *at + n, len - *at - n, "'");
    }
    if (n < 0 || *at + (size_t)n >= len)
        *at = len - 1;
    else
        *at += (size_t)n;
}

void cli_provenance(const advcc_model *m, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < cmd_argc && at + 1 < len; i++)
        put_word(buf, len, &at, cmd_argv[i]);
    if (at + 1 < len)
        snprintf(buf + at, len - at, "%s# model %s from %s, spec %s; %s",
                 at ? " " : "", m->name, m->source ? m->source : "?",
                 m->spec_hash ? m->spec_hash : "unknown", ADVCC_VERSION);
}

json_t *cli_json_provenance(const advcc_model *m)
{
    char buf[8192];
    cli_provenance(m, buf, sizeof buf);
    return jw_str(buf);
}

json_t *cli_json_head(const advcc_model *m, long seed)
{
    return json_pack("{s:o, s:I}", "model", jw_str(m->name), "seed", (json_int_t)seed);
}

int cli_json_write(json_t *o, const char *path, const advcc_model *m, double wall,
                   const char *ckpt)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    o = jw_merge(o, json_pack("{s:o, s:o, s:s, s:o, s:o}", "wall_s", jw_fixed(wall, 3),
                              "host", jw_str(host), "version", ADVCC_VERSION,
                              "checkpoint", jw_str(ckpt), "provenance",
                              cli_json_provenance(m)));
    return jw_write(path, o);
}

void cli_exact_text(double x, char *buf, size_t len)
{
    if (x > -1e15 && x < 1e15 && (double)(long long)x == x) {
        snprintf(buf, len, "%lld", (long long)x);   /* 100000, not 1e+05 */
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

int cli_record_text(json_t *rec, const char *option, const char *value)
{
    return json_object_set_new(rec, option, jw_str(value));
}

int cli_record_number(json_t *rec, const char *option, double x)
{
    char text[32];
    cli_exact_text(x, text, sizeof text);
    return cli_record_text(rec, option, text);
}
