/* cli_sanity.c - `MODEL sanity`: the gradient-masking checks of a strong
 * evaluation on a trained checkpoint (runtime/masking.h), or with --attack
 * pgd the checks of the PGD attack (runtime/sanity.h); says which check
 * warns or fails. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "checkpoint.h"
#include "cli.h"
#include "cli_attack.h"
#include "context.h"
#include "masking.h"
#include "progress.h"
#include "sanity.h"

static void sanity_usage(const advcc_model *m, FILE *fp)
{
    fprintf(fp,
            "usage: %s sanity --checkpoint FILE [options]\n"
            "\n"
            "Checks that an evaluation is not fooled by gradient masking (Carlini et al.\n"
            "2019; docs/METHODS.md 11).  A white-box attack runs on the first --limit\n"
            "test images: APGD-CE (--attack apgd) or AutoAttack's gradient attacks\n"
            "(--attack autoattack: APGD-CE, APGD-T and FAB-T; for a model that draws\n"
            "noise APGD-CE and APGD-DLR with EOT over 20 draws, judged on 10), each also\n"
            "under BPDA where the model has activation quantisers or thresholds (--grad).\n"
            "Then each check prints PASS or WARNING with its figure:\n"
            "  a. eps doubled (up to 255/255, L2 the whole box) until no image is robust\n"
            "  b. twice the iterations change robust accuracy by < 0.5 points\n"
            "  c. Square breaks <= 0.5 points of the images left robust\n"
            "  d. random points on the ball's surface (--noise-draws per image) break\n"
            "     fewer than half the images the attack breaks\n"
            "  e. the undefended twin's images (--transfer-from) break no more images\n"
            "  f. noise frozen to one draw: attack success no lower (by 0.5 points) than\n"
            "     EOT's on fresh draws (models that draw noise)\n"
            "  g. at most 5%% of the input gradients computed are exactly zero\n"
            "--attack pgd runs the older checks of the PGD attack instead: robust\n"
            "accuracy falls as eps grows (0 to 64/255) and is near 0 at 64/255, and does\n"
            "not rise with more steps (4 -> 16) or restarts (1 -> 3).\n"
            "Exit status 0 when every check passes, 4 when one warns or fails (named on\n"
            "stderr), 1 on errors, 2 on usage.\n"
            "\n"
            "options:\n"
            "  --checkpoint FILE  parameters written by `%s train` (required)\n"
            "  --attack NAME      apgd, autoattack or pgd [apgd]\n"
            "  --limit N          test images used [200; pgd 1000]\n"
            "  --seed N           seed of the attacks and of noise [0]\n"
            "  --threads N        threads [all cores]\n"
            "  --batch N          images per pass [100]\n"
            "  --dataset NAME     cifar10 or fashion-mnist [%s]\n"
            "  --quick            shorter checks: APGD 20 iterations, 3 targets, EOT 5 and\n"
            "                     5 judging draws, Square 500 queries, 20 noise draws\n"
            "  --iters N          APGD iterations [100]\n"
            "  --judge R          predictions per attacked image, broken if any is wrong\n"
            "                     [1; 10 for a model that draws noise, --quick 5]\n"
            "  --queries N        Square's queries per image (c) [5000]\n"
            "  --noise-draws K    random points per image (d) [100]\n"
            "  --transfer-from F  (e) the undefended twin's adversarial images, .npy\n"
            "                     from `TWIN attack --limit N --save-adv F` on the same\n"
            "                     images at no larger eps\n"
            "  --json FILE        write the checks as one JSON object (atomically)\n",
            m->name, m->name, cli_default_dataset(m));
    cli_grad_usage(fp, infer_grad_name(cli_grad_default(m, 1)));
    fprintf(fp, "the attack options (--eps, --norm, --restarts, --eot and --bn apply to\n"
                "every attack; the others to --attack pgd only):\n");
    cli_attack_usage(fp, &m->attack, 0);
    fprintf(fp, "  --help             this text\n");
}

static int run_pgd_checks(advcc_ctx *ctx, const advcc_dataset *test, const pgd_cfg *cfg,
                          int limit, long seed)
{
    const advcc_model *m = ctx->model;
    char err[4608];
    sanity_report rep;
    int r = sanity_run(ctx, test, cfg, limit, (uint64_t)seed, stdout, &rep, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        return 1;
    }
    if (r > 0) {
        fprintf(stderr, "%s sanity: FAILED: %s\n", m->name, rep.why);
        return ADVCC_EXIT_SANITY;
    }
    printf("%s sanity: every check passed\n", m->name);
    return 0;
}

static int write_json(const char *path, const advcc_model *m, long seed, const char *name,
                      const masking_cfg *mc, const masking_report *rep, double wall,
                      const char *ckpt)
{
    const aa_cfg *a = &mc->attack;
    json_t *attacks = json_array();
    for (int i = 0; i < a->n_attacks; i++)
        if (json_array_append_new(attacks, json_string(aa_attack_name(a->attacks[i])))) {
            json_decref(attacks);
            attacks = NULL;
            break;
        }
    json_t *o = cli_json_head(m, seed);
    o = jw_merge(o, json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:o}",
                              "command", "sanity", "attack", name, "attacks", attacks,
                              "grad", infer_grad_name(mc->grad), "norm",
                              advcc_norm_name(a->norm), "eps", jw_sig(a->eps, 9),
                              "eps_255", jw_sig(a->eps * 255, 6), "iters", a->iters,
                              "eot", a->eot, "judge", a->judge, "queries", mc->queries,
                              "noise_draws", mc->draws, "transfer_from",
                              mc->transfer ? jw_str(mc->transfer) : json_null()));
    double n = rep->n ? rep->n : 1;
    o = jw_merge(o, json_pack("{s:i, s:o, s:o, s:o}", "n", rep->n,
                              "clean_acc", jw_fixed(rep->clean_correct / n, 6),
                              "robust_acc", jw_fixed(rep->robust / n, 6),
                              "checks", masking_json(rep)));
    return cli_json_write(o, path, m, wall, ckpt);
}

int cli_sanity(const advcc_model *m, int argc, char **argv)
{
    enum {
        O_CKPT = 'c', O_LIMIT = 'n', O_SEED = 's', O_THREADS = 't', O_DATASET = 'd',
        O_HELP = 'h', O_ATTACK = 'a', O_QUICK = 'k', O_ITERS = 'i', O_JUDGE = 'J',
        O_QUERIES = 'Q', O_DRAWS = 'D', O_TRANSFER = 'T', O_JSON = 'j', O_GRAD = 'g',
        O_BATCH = 'b'
    };
    static const struct option base_opts[] = {
        {"checkpoint", required_argument, 0, O_CKPT},
        {"limit", required_argument, 0, O_LIMIT},
        {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS},
        {"dataset", required_argument, 0, O_DATASET},
        {"help", no_argument, 0, O_HELP},
        {"attack", required_argument, 0, O_ATTACK},
        {"quick", no_argument, 0, O_QUICK},
        {"iters", required_argument, 0, O_ITERS},
        {"judge", required_argument, 0, O_JUDGE},
        {"queries", required_argument, 0, O_QUERIES},
        {"noise-draws", required_argument, 0, O_DRAWS},
        {"transfer-from", required_argument, 0, O_TRANSFER},
        {"json", required_argument, 0, O_JSON},
        {"grad", required_argument, 0, O_GRAD},
        {"batch", required_argument, 0, O_BATCH},
    };
    struct option opts[CLI_MAX_OPTIONS];
    cli_attack_options(opts, base_opts, (int)(sizeof base_opts / sizeof base_opts[0]));
    const char *ckpt = NULL, *dataset = cli_default_dataset(m), *name = "apgd";
    const char *transfer = NULL, *json = NULL;
    long limit = -1, seed = 0, threads = 0, iters = -1, judge = -1, queries = -1;
    long draws = -1, batch = 100;
    int c, li = -1, quick = 0, grad = -1;
    pgd_cfg cfg;
    cli_attack_defaults(m, &m->attack, &cfg);
    cfg.eot = 0;            /* not given: each attack's own default */
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case O_CKPT: ckpt = optarg; break;
        case O_LIMIT: bad = cli_int(optarg, 1, 0x7fffffffL, &limit); break;
        case O_SEED: bad = cli_int(optarg, 0, 0x7fffffffL, &seed); break;
        case O_THREADS: bad = cli_int(optarg, 1, 1024, &threads); break;
        case O_DATASET: dataset = optarg; break;
        case O_ATTACK:
            name = optarg;
            bad = strcmp(name, "apgd") && strcmp(name, "autoattack") && strcmp(name, "pgd");
            break;
        case O_QUICK: quick = 1; break;
        case O_ITERS: bad = cli_int(optarg, 0, 100000, &iters); break;
        case O_JUDGE: bad = cli_int(optarg, 1, 1000, &judge); break;
        case O_QUERIES: bad = cli_int(optarg, 1, 10000000, &queries); break;
        case O_DRAWS: bad = cli_int(optarg, 1, 1000000, &draws); break;
        case O_TRANSFER: transfer = optarg; break;
        case O_JSON: json = optarg; break;
        case O_GRAD: bad = (grad = infer_grad_by_name(optarg)) < 0; break;
        case O_BATCH: bad = cli_int(optarg, 1, 100000, &batch); break;
        case O_HELP: sanity_usage(m, stdout); return 0;
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
    const int pgd = !strcmp(name, "pgd");
    int eot_given = cfg.eot > 0;
    if (!eot_given)
        cfg.eot = m->attack.eot > 0 ? m->attack.eot : 1;
    if (pgd && (quick || iters >= 0 || judge >= 0 || queries >= 0 || draws >= 0 || transfer ||
                json || grad >= 0)) {
        fprintf(stderr, "%s sanity: --quick, --iters, --judge, --queries, --noise-draws, "
                        "--transfer-from, --json and --grad belong to the masking checks "
                        "(--attack apgd or autoattack), not to --attack pgd\n", m->name);
        return 2;
    }
    char err[4608];
    if (pgd_check_cfg(&cfg, m->in_c, err, sizeof err) != 0) {
        fprintf(stderr, "%s sanity: %s\n", m->name, err);
        return 2;
    }
    if (grad < 0)
        grad = cli_grad_default(m, 1);
    if (cli_grad_check(m, "sanity", grad) != 0)
        return 2;
    if (limit < 0)
        limit = pgd ? 1000 : 200;
    if (ctx_check_memory(m, (int)batch, err, sizeof err) != 0) {
        fprintf(stderr, "%s sanity: --batch: %s\n", m->name, err);
        return 1;
    }
    ctx_set_threads((int)threads);
    advcc_dataset test = {0};
    if (cli_load_data(m, dataset, 0, (int)limit, &test) != 0)
        return 1;
    int rc = 1;
    advcc_ctx *ctx = ctx_create(m, (int)batch, (uint64_t)seed);
    if (!ctx || checkpoint_load(ckpt, m, ctx->params, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, ctx ? err : "out of memory");
        goto done;
    }
    if (pgd) {
        rc = run_pgd_checks(ctx, &test, &cfg, (int)limit, seed);
        goto done;
    }

    /* The white-box attack: the version's gradient attacks (APGD-CE alone
     * for --attack apgd), its settings, then the options given. */
    masking_cfg mc;
    memset(&mc, 0, sizeof mc);
    aa_cfg *a = &mc.attack;
    mc.random = aa_model_random(ctx);
    aa_set_version(a, mc.random ? AA_RAND : AA_STANDARD, quick);
    int kept = 0;
    for (int i = 0; i < a->n_attacks; i++)
        if (a->attacks[i] != AA_SQUARE)
            a->attacks[kept++] = a->attacks[i];
    a->n_attacks = strcmp(name, "apgd") ? kept : 1;     /* APGD-CE comes first */
    a->norm = cfg.norm;
    a->eps = cfg.eps;
    a->mode = cfg.mode;
    a->restarts = cfg.restarts;
    a->limit = (int)limit;
    if (eot_given) a->eot = cfg.eot;
    if (iters >= 0) a->iters = (int)iters;
    if (judge >= 0) a->judge = (int)judge;
    mc.grad = grad;
    mc.queries = queries >= 0 ? (int)queries : quick ? 500 : 5000;
    mc.draws = draws >= 0 ? (int)draws : quick ? 20 : 100;
    mc.transfer = transfer;
    mc.seed = (uint64_t)seed;
    int fits = aa_set_grad(a, grad) == 0;
    if (!fits)
        snprintf(err, sizeof err, "the attacks with their BPDA twins are more than %d",
                 AA_MAX_ATTACKS);
    if (!fits || aa_check_cfg(a, m->classes, err, sizeof err) != 0) {
        fprintf(stderr, "%s sanity: %s\n", m->name, err);
        rc = 2;
        goto done;
    }
    masking_report rep;
    double t0 = progress_now();
    int r = masking_run(ctx, &test, &mc, stdout, &rep, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "%s sanity: %s\n", m->name, err);
        goto done;
    }
    if (json && write_json(json, m, seed, name, &mc, &rep, progress_now() - t0, ckpt) != 0) {
        fprintf(stderr, "%s: %s: %s\n", m->name, json, strerror(errno));
        goto done;
    }
    if (r > 0) {
        fprintf(stderr, "%s sanity: WARNING:", m->name);
        for (int k = 0; k < MASKING_CHECKS; k++)
            if (rep.item[k].verdict == MASKING_WARNING)
                fprintf(stderr, " %s", masking_check_name(k));
        fprintf(stderr, " (%d of %d checks)\n", masking_warnings(&rep), MASKING_CHECKS);
        rc = ADVCC_EXIT_SANITY;
    } else {
        printf("%s sanity: every check that ran passed\n", m->name);
        rc = 0;
    }
done:
    ctx_free(ctx);
    dataset_free(&test);
    return rc;
}
