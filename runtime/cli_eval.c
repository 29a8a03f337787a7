/* cli_eval.c - `MODEL eval` and `MODEL attack`: clean accuracy of a
 * checkpoint, and with an attack robust accuracy and attack success
 * (docs/METHODS.md 2), printed and optionally written as one JSON object. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "checkpoint.h"
#include "cli.h"
#include "cli_attack.h"
#include "context.h"
#include "progress.h"
#include "robust.h"

static void eval_usage(const advcc_model *m, FILE *fp, int attack)
{
    fprintf(fp,
            "usage: %s %s --checkpoint FILE [options]\n"
            "\n"
            "Clean accuracy of a checkpoint on the test split%s.\n"
            "\n"
            "options:\n"
            "  --checkpoint FILE  parameters written by `%s train` (required)\n"
            "  --attack NAME      pgd or none [%s]; apgd-ce, apgd-dlr, apgd-t, fab-t,\n"
            "                     square and autoattack have their own options (see\n"
            "                     `--attack autoattack --help`)\n",
            m->name, attack ? "attack" : "eval",
            attack ? ", and its robust accuracy under PGD" : "; with --attack pgd, under attack too",
            m->name, attack ? "pgd" : "none");
    cli_attack_usage(fp, &m->attack, 0);
    cli_grad_usage(fp, infer_grad_name(cli_grad_default(m, 0)));
    fprintf(fp,
            "  --seed N           seed of the attack's random start and of noise [0]\n"
            "  --limit N          the first N test images only [all]\n"
            "  --dataset NAME     cifar10 or fashion-mnist [%s]\n"
            "  --threads N        threads [all cores]\n"
            "  --batch N          images per pass [100]\n"
            "  --judge N          predictions per image for randomised models [1]\n"
            "  --json FILE        write the result as one JSON object (atomically),\n"
            "                     with its provenance: command line, spec hash, version\n"
            "  --save-adv FILE    write the attacked images as .npy [n][c][h][w] float32\n"
            "  --save-logits FILE write the clean outputs (evaluation mode) as .npy\n"
            "                     [n][classes] float32\n"
            "  --adv-file FILE    evaluate these images (.npy, e.g. crafted on another\n"
            "                     model: a transfer attack) instead of attacking\n"
            "  --quiet            no progress line\n"
            "  --help             this text\n"
            "\n"
            "robust accuracy counts images classified right both clean and attacked;\n"
            "attack success is the share of clean-correct images the attack turns\n"
            "wrong, so robust = clean x (1 - success); adv accuracy is plain accuracy\n"
            "on the attacked images.  BatchNorm layers use their running statistics\n"
            "(eps 1e-5, momentum 0.1 in training, PyTorch's rules) unless --bn batch.\n",
            cli_default_dataset(m));
}

static void show_progress(void *arg, int done, int total)
{
    progress *p = arg;
    p->total = total;
    progress_update(p, done, NULL);
}

static int write_json(const char *path, const advcc_model *m, long seed,
                      const pgd_cfg *cfg, int grad, const char *adv_file,
                      const robust_result *r, double wall, const char *ckpt)
{
    json_t *o = cli_json_head(m, seed);
    if (adv_file) {
        o = jw_merge(o, json_pack("{s:s, s:o}", "attack", "transfer", "adv_file",
                                  jw_str(adv_file)));
    } else if (cfg) {
        o = jw_merge(o, json_pack("{s:s, s:s, s:o, s:o, s:o, s:i, s:i, s:s, s:i, s:b, s:s, s:s}",
                                  "attack", "pgd", "norm", advcc_norm_name(cfg->norm),
                                  "eps", jw_sig(cfg->eps, 9), "eps_255",
                                  jw_sig(cfg->eps * 255, 6), "alpha", jw_sig(cfg->alpha, 9),
                                  "steps", cfg->steps, "restarts", cfg->restarts,
                                  "init", advcc_init_name(cfg->init), "eot", cfg->eot,
                                  "targeted", cfg->targeted,
                                  "bn", cfg->mode == ADVCC_EVAL ? "eval" : "batch",
                                  "grad", infer_grad_name(grad)));
        if (grad == INFER_GRAD_BOTH)
            o = jw_merge(o, json_pack("{s:I}", "bpda_broken", (json_int_t)r->bpda_broken));
    } else {
        o = jw_merge(o, json_pack("{s:n}", "attack"));
    }
    o = jw_merge(o, json_pack("{s:i, s:o}", "n", r->n, "clean_acc", jw_fixed(r->clean_acc, 6)));
    if (cfg)
        o = jw_merge(o, json_pack("{s:o, s:o, s:o, s:o}",
                                  "robust_acc", jw_fixed(r->robust_acc, 6),
                                  "attack_success", jw_fixed(r->attack_success, 6),
                                  "adv_acc", jw_fixed(r->adv_acc, 6),
                                  "grad_zero_share", jw_fixed(r->grad_zero_share, 6)));
    return cli_json_write(o, path, m, wall, ckpt);
}

int cli_eval(const advcc_model *m, int argc, char **argv, int attack)
{
    static const struct option base_opts[] = {
        {"checkpoint", required_argument, 0, 'c'},
        {"attack", required_argument, 0, 'a'},
        {"seed", required_argument, 0, 's'},
        {"limit", required_argument, 0, 'n'},
        {"dataset", required_argument, 0, 'd'},
        {"threads", required_argument, 0, 't'},
        {"batch", required_argument, 0, 'b'},
        {"judge", required_argument, 0, 'J'},
        {"json", required_argument, 0, 'j'},
        {"save-adv", required_argument, 0, 'S'},
        {"adv-file", required_argument, 0, 'A'},
        {"save-logits", required_argument, 0, 'G'},
        {"grad", required_argument, 0, 'g'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
    };
    /* APGD, Square and AutoAttack have their own options; `attack` runs
     * them by default when the spec's attack statement names one */
    int named = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = !strcmp(argv[i], "--attack") && i + 1 < argc ? argv[i + 1]
                        : !strncmp(argv[i], "--attack=", 9) ? argv[i] + 9 : NULL;
        if (v && strcmp(v, "pgd") && strcmp(v, "none"))
            return cli_autoattack(m, argc, argv);
        named |= v != NULL;
    }
    if (attack && !named && m->attack.method != ADVCC_ATTACK_PGD)
        return cli_autoattack(m, argc, argv);
    struct option opts[CLI_MAX_OPTIONS];
    cli_attack_options(opts, base_opts, (int)(sizeof base_opts / sizeof base_opts[0]));

    const char *ckpt = NULL, *dataset = cli_default_dataset(m), *json = NULL;
    const char *save_adv = NULL, *adv_file = NULL, *save_logits = NULL;
    long seed = 0, limit = 0, threads = 0, batch = 100, judge = 1;
    int quiet = 0, c, li = -1, grad = INFER_GRAD_STE;
    pgd_cfg cfg;
    cli_attack_defaults(m, &m->attack, &cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'a':
            if (!strcmp(optarg, "pgd")) attack = 1;
            else if (!strcmp(optarg, "none")) attack = 0;
            else bad = 1;
            break;
        case 's': bad = cli_int(optarg, 0, 0x7fffffffL, &seed); break;
        case 'n': bad = cli_int(optarg, 1, 0x7fffffffL, &limit); break;
        case 'd': dataset = optarg; break;
        case 't': bad = cli_int(optarg, 1, 1024, &threads); break;
        case 'b': bad = cli_int(optarg, 1, 100000, &batch); break;
        case 'J': bad = cli_int(optarg, 1, 1000, &judge); break;
        case 'j': json = optarg; break;
        case 'S': save_adv = optarg; break;
        case 'A': adv_file = optarg; attack = 1; break;
        case 'G': save_logits = optarg; break;
        case 'g': bad = (grad = infer_grad_by_name(optarg)) < 0; break;
        case 'q': quiet = 1; break;
        case 'h': eval_usage(m, stdout, attack); return 0;
        case '?': eval_usage(m, stderr, attack); return 2;
        default: bad = cli_attack_option(c, optarg, &cfg); break;
        }
        if (bad) {
            cli_bad_value(m->name, attack ? "attack" : "eval",
                          li >= 0 ? opts[li].name : "?", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", m->name, argv[optind]);
        return 2;
    }
    if (!ckpt) {
        fprintf(stderr, "%s: --checkpoint FILE is required (see --help)\n", m->name);
        return 2;
    }
    char err[4608];
    /* checked whether or not an attack runs: a bad value is never ignored */
    if (pgd_check_cfg(&cfg, m->in_c, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        return 2;
    }
    if (cli_grad_check(m, attack ? "attack" : "eval", grad) != 0)
        return 2;
    if (ctx_check_memory(m, (int)batch, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --batch: %s\n", m->name, err);
        return 1;
    }
    ctx_set_threads((int)threads);
    advcc_dataset test = {0};
    if (cli_load_data(m, dataset, 0, (int)limit, &test) != 0)
        return 1;
    int rc = 1;
    advcc_ctx *ctx = ctx_create(m, (int)batch, (uint64_t)seed);
    if (!ctx) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        goto done;
    }
    if (checkpoint_load(ckpt, m, ctx->params, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    if (save_logits && cli_save_logits(ctx, &test, save_logits, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --save-logits: %s\n", m->name, err);
        goto done;
    }
    progress bar;
    progress_start(&bar, attack ? "attack" : "eval", "img", test.n, quiet);
    robust_cfg rc_cfg = {
        .attack = attack ? &cfg : NULL, .judge = (int)judge,
        .save_adv = save_adv, .adv_file = adv_file, .grad = grad,
        .progress = show_progress, .progress_arg = &bar,
    };
    robust_result r;
    advcc_rng arng, root;
    rng_seed(&root, (uint64_t)seed);
    rng_split(&root, RNG_STREAM_EVAL, &arng);
    double t0 = progress_now();
    if (robust_evaluate(ctx, &test, &rc_cfg, &arng, &r, err, sizeof err) != 0) {
        progress_end(&bar);
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    double wall = progress_now() - t0;
    progress_end(&bar);
    printf("%s: clean accuracy %.2f%% (%d images)\n", m->name, 100 * r.clean_acc, r.n);
    if (attack) {
        if (adv_file)
            printf("%s: transfer images from %s\n", m->name, adv_file);
        else
            printf("%s: PGD %s eps %.4g (%.3g/255) alpha %.4g steps %d restarts %d%s%s\n",
                   m->name, cfg.norm == ADVCC_L2 ? "L2" : "Linf", cfg.eps, cfg.eps * 255,
                   cfg.alpha, cfg.steps, cfg.restarts, grad ? " grad " : "",
                   grad ? infer_grad_name(grad) : "");
        if (!adv_file && grad == INFER_GRAD_BOTH)
            printf("%s: BPDA broke %lld images the straight-through attack left right\n",
                   m->name, r.bpda_broken);
        printf("%s: robust accuracy %.2f%%, attack success %.2f%%, adv accuracy %.2f%%, %.1f s\n",
               m->name, 100 * r.robust_acc, 100 * r.attack_success, 100 * r.adv_acc, wall);
        if (r.grad_warning)
            fprintf(stderr,
                    "%s: warning: %.1f%% of input-gradient entries were zero%s; the attack may be "
                    "blind (gradient masking) and robust accuracy overstated\n",
                    m->name, 100 * r.grad_zero_share,
                    r.grad.grad_nonfinite ? " and some were not finite" : "");
    }
    if (json && write_json(json, m, seed, attack ? &cfg : NULL, grad, adv_file, &r, wall, ckpt) != 0) {
        fprintf(stderr, "%s: %s: %s\n", m->name, json, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    ctx_free(ctx);
    dataset_free(&test);
    return rc;
}
