/* cli_sanity.c - `MODEL sanity`: checks that the attack behaves like one on
 * a trained checkpoint (runtime/sanity.h) and says which check failed. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "checkpoint.h"
#include "cli.h"
#include "cli_attack.h"
#include "context.h"
#include "sanity.h"

static void sanity_usage(const advcc_model *m, FILE *fp)
{
    fprintf(fp,
            "usage: %s sanity --checkpoint FILE [options]\n"
            "\n"
            "Checks the attack on a trained model: robust accuracy must fall as eps\n"
            "grows (0 to 64/255) and be near 0 at 64/255, and must not rise with more\n"
            "steps (4 -> 16) or restarts (1 -> 3).  Exit status 0 when every check\n"
            "passes, 4 when one fails (named on stderr), 1 on errors, 2 on usage.\n"
            "\n"
            "options:\n"
            "  --checkpoint FILE  parameters written by `%s train` (required)\n"
            "  --limit N          test images used [1000]\n"
            "  --seed N           attack seed [0]\n"
            "  --threads N        threads [all cores]\n"
            "  --dataset NAME     cifar10 or fashion-mnist [%s]\n",
            m->name, m->name, cli_default_dataset(m));
    cli_attack_usage(fp, &m->attack, 0);
    fprintf(fp, "  --help             this text\n");
}

int cli_sanity(const advcc_model *m, int argc, char **argv)
{
    static const struct option base_opts[] = {
        {"checkpoint", required_argument, 0, 'c'},
        {"limit", required_argument, 0, 'n'},
        {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'},
        {"dataset", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},
    };
    struct option opts[CLI_MAX_OPTIONS];
    cli_attack_options(opts, base_opts, (int)(sizeof base_opts / sizeof base_opts[0]));
    const char *ckpt = NULL, *dataset = cli_default_dataset(m);
    long limit = 1000, seed = 0, threads = 0;
    int c, li = -1;
    pgd_cfg cfg;
    cli_attack_defaults(m, &m->attack, &cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'n': bad = cli_int(optarg, 1, 0x7fffffffL, &limit); break;
        case 's': bad = cli_int(optarg, 0, 0x7fffffffL, &seed); break;
        case 't': bad = cli_int(optarg, 1, 1024, &threads); break;
        case 'd': dataset = optarg; break;
        case 'h': sanity_usage(m, stdout); return 0;
        case '?': sanity_usage(m, stderr); return 2;
        default: bad = cli_attack_option(c, optarg, &cfg); break;
        }
        if (bad) {
            cli_bad_value(m->name, "sanity", li >= 0 ? opts[li].name : "?", optarg);
            return 2;
        }
    }
    if (!ckpt || optind < argc) {
        fprintf(stderr, "%s sanity: --checkpoint FILE is required and takes no other arguments\n", m->name);
        return 2;
    }
    char err[4608];
    if (pgd_check_cfg(&cfg, m->in_c, err, sizeof err) != 0) {
        fprintf(stderr, "%s sanity: %s\n", m->name, err);
        return 2;
    }
    ctx_set_threads((int)threads);
    advcc_dataset test = {0};
    if (cli_load_data(m, dataset, 0, (int)limit, &test) != 0)
        return 1;
    int rc = 1;
    advcc_ctx *ctx = ctx_create(m, 100, (uint64_t)seed);
    if (!ctx || checkpoint_load(ckpt, m, ctx->params, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, ctx ? err : "out of memory");
        goto done;
    }
    sanity_report rep;
    int r = sanity_run(ctx, &test, &cfg, (int)limit, (uint64_t)seed, stdout, &rep, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    if (r > 0) {
        fprintf(stderr, "%s sanity: FAILED: %s\n", m->name, rep.why);
        rc = 4;
        goto done;
    }
    printf("%s sanity: every check passed\n", m->name);
    rc = 0;
done:
    ctx_free(ctx);
    dataset_free(&test);
    return rc;
}
