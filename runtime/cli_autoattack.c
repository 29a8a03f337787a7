/* cli_autoattack.c - `MODEL attack --attack apgd-ce|apgd-dlr|apgd-t|fab-t|
 * square|autoattack`: robust accuracy under APGD, FAB-T, Square or their
 * ensemble
 * (runtime/autoattack.h), with a JSON summary and a per-image CSV that is
 * rewritten atomically after every batch, so that --resume continues an
 * evaluation that was stopped. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "atomic_file.h"
#include "autoattack.h"
#include "checkpoint.h"
#include "cli.h"
#include "cli_attack.h"
#include "context.h"
#include "masking.h"
#include "progress.h"

static void aa_usage(const advcc_model *m, FILE *fp)
{
    fprintf(fp,
            "usage: %s attack --attack NAME --checkpoint FILE [options]\n"
            "\n"
            "Robust accuracy on the test split under Auto-PGD, FAB-T, Square or\n"
            "AutoAttack (docs/METHODS.md 9).  Each attack of an ensemble runs only on\n"
            "the images still robust; an image is robust when classified right clean\n"
            "and by every attack's output (on each of --judge predictions).\n"
            "\n"
            "options:\n"
            "  --checkpoint FILE  parameters written by `%s train` (required)\n"
            "  --attack NAME      apgd-ce, apgd-dlr, apgd-t (targeted DLR, one run per\n"
            "                     target), fab-t (targeted minimum-norm FAB, one run per\n"
            "                     target; broken when the smallest perturbation found\n"
            "                     is within eps), square, or autoattack (an ensemble);\n"
            "                     pgd and none: see `%s attack --help`\n"
            "  --version NAME     autoattack's ensemble: standard (apgd-ce, apgd-t,\n"
            "                     fab-t, square) or rand (apgd-ce, apgd-dlr with EOT,\n"
            "                     judged on 10 draws) [rand for a model with noise\n"
            "                     layers, else standard]\n"
            "  --quick            shorter attacks: 20 iterations, 3 targets, 500\n"
            "                     queries, rand: EOT 5, 5 judging draws\n"
            "  --eps X            budget in pixel units, e.g. 8/255 [the spec's, %.4g]\n"
            "  --norm NAME        linf or l2 [the spec's, %s]\n"
            "  --iters N          APGD and FAB-T iterations [100]\n"
            "  --restarts N       APGD and FAB-T restarts [1]\n"
            "  --targets K        apgd-t, fab-t: the K most likely other classes [9]\n"
            "  --eot M            APGD gradient averaged over M noise draws [1; rand 20]\n"
            "  --queries N        square: queries per image [5000]\n"
            "  --p-init X         square: initial square-size fraction [0.8]\n"
            "  --judge R          predictions per attacked image; broken if any is wrong\n"
            "                     [1; rand 10]\n"
            "  --no-sanity        autoattack: skip the gradient-masking checks it ends\n"
            "                     with (Square's gain, zero gradients, 10 noise draws,\n"
            "                     twice APGD-CE's iterations on the first 100 images;\n"
            "                     docs/METHODS.md 11)\n"
            "  --bn MODE          BatchNorm in the attack's passes: eval or batch [eval]\n"
            "  --seed N           seed of the attacks' random draws and of noise [0]\n"
            "  --limit N          the first N test images only [all]\n"
            "  --dataset NAME     cifar10 or fashion-mnist [%s]\n"
            "  --threads N        threads [all cores]\n"
            "  --batch N          images per pass [100]\n"
            "  --json FILE        write the summary as one JSON object (atomically)\n"
            "  --csv FILE         per-image records, rewritten atomically after each\n"
            "                     batch: index, label, clean_correct, broken_by, at\n"
            "                     (iteration, over all targets, or query), margin,\n"
            "                     perturbation, done\n"
            "  --resume           continue from --csv FILE when it exists (written with\n"
            "                     the same attack settings); finished images are kept\n"
            "  --quiet            no progress line\n"
            "  --help             this text\n"
            "\n"
            "Without --attack, the attack the spec's attack statement names (apgd,\n"
            "square, fab or autoattack) runs with its settings.\n",
            m->name, m->name, m->name, m->attack.eps,
            advcc_norm_name(m->attack.norm), cli_default_dataset(m));
    fprintf(fp, "\nQuantised and threshold activations (docs/METHODS.md 11); under both, each\n"
                "gradient attack runs again under BPDA on the images it left robust, named\n"
                "NAME/bpda:\n");
    cli_grad_usage(fp, infer_bpda_layers(m) ? "autoattack both, the others ste" : "ste");
}

typedef struct aa_run {
    const advcc_model *m;
    const aa_cfg *cfg;
    aa_image *img;
    const char *csv;
    char signature[512];
    progress bar;
    char note[96];
} aa_run;

static void show_progress(void *arg, int attack, int done, int total)
{
    aa_run *r = arg;
    r->bar.total = total;
    snprintf(r->note, sizeof r->note, "%s (%d/%d)",
             aa_attack_name(r->cfg->attacks[attack]), attack + 1,
             r->cfg->n_attacks);
    progress_update(&r->bar, done, r->note);
}

static int write_csv(void *arg, int n)
{
    aa_run *r = arg;
    if (!r->csv)
        return 0;
    atomic_file af;
    if (atomic_open(&af, r->csv) != 0)
        return -1;
    fprintf(af.fp, "# %s\n", r->signature);
    fprintf(af.fp, "index,label,clean_correct,broken_by,at,margin,perturbation,done\n");
    for (int i = 0; i < n; i++) {
        const aa_image *im = &r->img[i];
        if (im->done < 0)
            continue;
        fprintf(af.fp, "%d,%d,%d,%s,%d,%.9g,%.9g,%d\n", i, im->label,
                im->clean_ok,
                im->broken_by >= 0 ? aa_attack_name(r->cfg->attacks[im->broken_by])
                                   : im->clean_ok ? "none" : "clean",
                im->at, im->margin, im->pert, im->done);
    }
    return atomic_commit(&af);
}

/* Reads the records of an earlier run; 0 (also when the file is missing),
 * or -1 with a message. */
static int read_csv(aa_run *r, int n, char *err, size_t errlen)
{
    FILE *fp = fopen(r->csv, "r");
    if (!fp) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", r->csv, strerror(errno));
        return -1;
    }
    char line[1024];
    int ok = fgets(line, sizeof line, fp) != NULL;
    line[strcspn(line, "\n")] = 0;
    if (!ok || strncmp(line, "# ", 2) || strcmp(line + 2, r->signature)) {
        snprintf(err, errlen, "%s was written by a different attack (%s); "
                 "remove it or change --csv", r->csv, ok ? line : "empty");
        fclose(fp);
        return -1;
    }
    if (!fgets(line, sizeof line, fp)) {
        fclose(fp);
        return 0;
    }
    int rows = 0;
    while (fgets(line, sizeof line, fp)) {
        int idx, label, clean, at, done;
        char by[32];
        double margin, pert;
        if (sscanf(line, "%d,%d,%d,%31[^,],%d,%lf,%lf,%d", &idx, &label,
                   &clean, by, &at, &margin, &pert, &done) != 8 || idx < 0 ||
            idx >= n || done < 0 || done > r->cfg->n_attacks) {
            snprintf(err, errlen, "%s: row %d is not a record of this run",
                     r->csv, rows + 1);
            fclose(fp);
            return -1;
        }
        aa_image *im = &r->img[idx];
        im->label = label;
        im->clean_ok = clean;
        im->broken_by = -1;
        for (int a = 0; a < r->cfg->n_attacks; a++)
            if (!strcmp(by, aa_attack_name(r->cfg->attacks[a])))
                im->broken_by = a;
        im->at = at;
        im->margin = margin;
        im->pert = pert;
        im->done = done;
        rows++;
    }
    fclose(fp);
    return 0;
}

/* k of n images, 0 when there are none. */
static double share(int k, int n)
{
    return n ? (double)k / n : 0.0;
}

static int write_json(const char *path, const advcc_model *m, long seed,
                      const aa_cfg *cfg, const char *name, int version, int grad,
                      const aa_result *r, const masking_report *sanity, double wall,
                      const char *ckpt)
{
    json_t *o = cli_json_head(m, seed);
    o = jw_merge(o, json_pack("{s:s}", "attack", name));
    if (!strcmp(name, "autoattack"))
        o = jw_merge(o, json_pack("{s:s}", "ensemble",
                                  version == AA_RAND ? "rand" : "standard"));
    json_t *attacks = json_array();
    for (int a = 0; a < cfg->n_attacks; a++)
        if (json_array_append_new(attacks, json_pack("{s:s, s:o, s:o}",
                                      "name", aa_attack_name(cfg->attacks[a]),
                                      "robust_acc", jw_fixed(share(r->robust_after[a], r->n), 6),
                                      "seconds", jw_fixed(r->seconds[a], 3)))) {
            json_decref(attacks);
            attacks = NULL;
            break;
        }
    o = jw_merge(o, json_pack("{s:s, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o}",
                              "norm", advcc_norm_name(cfg->norm), "eps", jw_sig(cfg->eps, 9),
                              "eps_255", jw_sig(cfg->eps * 255, 6), "iters", cfg->iters,
                              "restarts", cfg->restarts, "eot", cfg->eot,
                              "targets", cfg->targets, "queries", cfg->queries,
                              "judge", cfg->judge, "n", r->n,
                              "clean_acc", jw_fixed(share(r->clean_correct, r->n), 6),
                              "attacks", attacks));
    o = jw_merge(o, json_pack("{s:o, s:I, s:I, s:s}", "robust_acc",
                              jw_fixed(share(r->robust_after[cfg->n_attacks - 1], r->n), 6),
                              "gradients", (json_int_t)r->grads,
                              "square_queries", (json_int_t)r->queries,
                              "grad", infer_grad_name(grad)));
    if (sanity)
        o = jw_merge(o, json_pack("{s:o}", "sanity", masking_json(sanity)));
    return cli_json_write(o, path, m, wall, ckpt);
}

int cli_autoattack(const advcc_model *m, int argc, char **argv)
{
    enum {
        O_CKPT = 256, O_ATTACK, O_VERSION, O_QUICK, O_EPS, O_NORM, O_ITERS,
        O_RESTARTS, O_TARGETS, O_EOT, O_QUERIES, O_PINIT, O_JUDGE, O_BN,
        O_SEED, O_LIMIT, O_DATASET, O_THREADS, O_BATCH, O_JSON, O_CSV,
        O_RESUME, O_QUIET, O_HELP, O_GRAD, O_NO_SANITY
    };
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, O_CKPT},
        {"attack", required_argument, 0, O_ATTACK},
        {"version", required_argument, 0, O_VERSION},
        {"quick", no_argument, 0, O_QUICK},
        {"eps", required_argument, 0, O_EPS},
        {"norm", required_argument, 0, O_NORM},
        {"iters", required_argument, 0, O_ITERS},
        {"restarts", required_argument, 0, O_RESTARTS},
        {"targets", required_argument, 0, O_TARGETS},
        {"eot", required_argument, 0, O_EOT},
        {"queries", required_argument, 0, O_QUERIES},
        {"p-init", required_argument, 0, O_PINIT},
        {"judge", required_argument, 0, O_JUDGE},
        {"bn", required_argument, 0, O_BN},
        {"seed", required_argument, 0, O_SEED},
        {"limit", required_argument, 0, O_LIMIT},
        {"dataset", required_argument, 0, O_DATASET},
        {"threads", required_argument, 0, O_THREADS},
        {"batch", required_argument, 0, O_BATCH},
        {"json", required_argument, 0, O_JSON},
        {"csv", required_argument, 0, O_CSV},
        {"resume", no_argument, 0, O_RESUME},
        {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, O_HELP},
        {"grad", required_argument, 0, O_GRAD},
        {"no-sanity", no_argument, 0, O_NO_SANITY},
        {0, 0, 0, 0},
    };
    const char *ckpt = NULL, *dataset = cli_default_dataset(m), *json = NULL;
    const char *csv = NULL, *name = NULL;
    long seed = 0, limit = 0, threads = 0, batch = 100;
    long iters = -1, restarts = -1, targets = -1, eot = -1, queries = -1, judge = -1;
    double eps = -1, p_init = -1;
    int version = -1, quick = 0, norm = ADVCC_LINF, mode = ADVCC_EVAL;
    int resume = 0, quiet = 0, c, li = -1, norm_given = 0, grad = -1, sanity = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case O_CKPT: ckpt = optarg; break;
        case O_ATTACK:
            name = optarg;
            bad = strcmp(name, "autoattack") && aa_attack_by_name(name) < 0;
            break;
        case O_VERSION:
            if (!strcmp(optarg, "standard")) version = AA_STANDARD;
            else if (!strcmp(optarg, "rand")) version = AA_RAND;
            else bad = 1;
            break;
        case O_QUICK: quick = 1; break;
        case O_EPS: bad = cli_number(optarg, 0, 64, 0, &eps); break;
        case O_NORM:
            norm_given = 1;
            norm = advcc_norm_by_name(optarg);
            bad = norm < 0;
            break;
        case O_ITERS: bad = cli_int(optarg, 0, 100000, &iters); break;
        case O_RESTARTS: bad = cli_int(optarg, 1, 1000, &restarts); break;
        case O_TARGETS: bad = cli_int(optarg, 1, 1000, &targets); break;
        case O_EOT: bad = cli_int(optarg, 1, 10000, &eot); break;
        case O_QUERIES: bad = cli_int(optarg, 1, 10000000, &queries); break;
        case O_PINIT: bad = cli_number(optarg, 0, 1, NUM_LO_OPEN, &p_init); break;
        case O_JUDGE: bad = cli_int(optarg, 1, 1000, &judge); break;
        case O_BN:
            if (!strcmp(optarg, "eval")) mode = ADVCC_EVAL;
            else if (!strcmp(optarg, "batch")) mode = ADVCC_TRAIN_FROZEN;
            else bad = 1;
            break;
        case O_SEED: bad = cli_int(optarg, 0, 0x7fffffffL, &seed); break;
        case O_LIMIT: bad = cli_int(optarg, 1, 0x7fffffffL, &limit); break;
        case O_DATASET: dataset = optarg; break;
        case O_THREADS: bad = cli_int(optarg, 1, 1024, &threads); break;
        case O_BATCH: bad = cli_int(optarg, 1, 100000, &batch); break;
        case O_JSON: json = optarg; break;
        case O_CSV: csv = optarg; break;
        case O_RESUME: resume = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: aa_usage(m, stdout); return 0;
        case O_GRAD: bad = (grad = infer_grad_by_name(optarg)) < 0; break;
        case O_NO_SANITY: sanity = 0; break;
        default: aa_usage(m, stderr); return 2;
        }
        if (bad) {
            cli_bad_value(m->name, "attack", li >= 0 ? opts[li].name : "?", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", m->name, argv[optind]);
        return 2;
    }
    const advcc_attack_cfg *spec = &m->attack;
    int from_spec = spec->method != ADVCC_ATTACK_PGD;
    if (!name && from_spec) {
        static const char *const losses[] = {"apgd-ce", "apgd-dlr", "apgd-t"};
        name = spec->method == ADVCC_ATTACK_APGD ? losses[spec->loss % 3]
               : spec->method == ADVCC_ATTACK_SQUARE ? "square"
               : spec->method == ADVCC_ATTACK_FAB ? "fab-t" : "autoattack";
    }
    if (!name) {
        fprintf(stderr, "%s: --attack NAME is required (see --help)\n", m->name);
        return 2;
    }
    if (!ckpt) {
        fprintf(stderr, "%s: --checkpoint FILE is required (see --help)\n", m->name);
        return 2;
    }
    if (resume && !csv) {
        fprintf(stderr, "%s: --resume needs --csv FILE\n", m->name);
        return 2;
    }
    if (version >= 0 && strcmp(name, "autoattack")) {
        fprintf(stderr, "%s: --version applies to --attack autoattack only\n", m->name);
        return 2;
    }
    const int ensemble = !strcmp(name, "autoattack");
    if (grad < 0)
        grad = cli_grad_default(m, ensemble);
    if (cli_grad_check(m, "attack", grad) != 0)
        return 2;
    char err[4608];
    if (ctx_check_memory(m, (int)batch, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --batch: %s\n", m->name, err);
        return 1;
    }
    ctx_set_threads((int)threads);
    advcc_dataset test = {0};
    if (cli_load_data(m, dataset, 0, (int)limit, &test) != 0)
        return 1;
    int rc = 1;
    aa_image *img = NULL;
    advcc_ctx *ctx = ctx_create(m, (int)batch, (uint64_t)seed);
    if (!ctx) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        goto done;
    }
    if (checkpoint_load(ckpt, m, ctx->params, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }

    /* Defaults: the reference's settings, then the spec's attack statement
     * (its eps and norm always; the rest when it names one of these
     * attacks), then --quick, then the options given. */
    if (from_spec && spec->quick)
        quick = 1;
    if (from_spec && version < 0 && spec->version > 0 && !strcmp(name, "autoattack"))
        version = spec->version == 2 ? AA_RAND : AA_STANDARD;
    if (!norm_given)
        norm = spec->norm;
    aa_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    if (!strcmp(name, "autoattack")) {
        if (version < 0)
            version = aa_model_random(ctx) ? AA_RAND : AA_STANDARD;
        aa_set_version(&cfg, version, quick);
    } else {
        aa_set_single(&cfg, aa_attack_by_name(name), quick);
    }
    if (from_spec && !quick) {
        cfg.iters = spec->iters;
        cfg.targets = spec->targets;
        cfg.queries = spec->queries;
        if (spec->method == ADVCC_ATTACK_APGD || spec->method == ADVCC_ATTACK_FAB)
            cfg.restarts = spec->restarts;
        if (spec->method == ADVCC_ATTACK_APGD)
            cfg.eot = spec->eot;
    }
    cfg.norm = norm;
    cfg.eps = eps >= 0 ? eps : spec->norm == norm ? spec->eps
              : norm == ADVCC_LINF ? 8.0 / 255 : 0.5;
    cfg.mode = mode;
    if (iters >= 0) cfg.iters = (int)iters;
    if (restarts >= 0) cfg.restarts = (int)restarts;
    if (targets >= 0) cfg.targets = (int)targets;
    if (eot >= 0) cfg.eot = (int)eot;
    if (queries >= 0) cfg.queries = (int)queries;
    if (judge >= 0) cfg.judge = (int)judge;
    if (p_init > 0) cfg.p_init = p_init;
    if (aa_set_grad(&cfg, grad) != 0)
        snprintf(err, sizeof err, "the attacks with their BPDA twins are more than %d",
                 AA_MAX_ATTACKS);
    else if (aa_check_cfg(&cfg, m->classes, err, sizeof err) == 0)
        err[0] = 0;
    if (err[0]) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        rc = 2;
        goto done;
    }
    int n = test.n;
    img = calloc((size_t)n, sizeof(aa_image));
    if (!img) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        goto done;
    }
    for (int i = 0; i < n; i++)
        img[i].done = -1;
    aa_run run = {.m = m, .cfg = &cfg, .img = img, .csv = csv};
    {
        int len = snprintf(run.signature, sizeof run.signature,
                           "advcc %s attack %s norm %s eps %.9g iters %d restarts %d "
                           "eot %d targets %d queries %d p_init %.6g judge %d bn %s "
                           "seed %ld n %d:",
                           m->name, name, advcc_norm_name(norm), cfg.eps,
                           cfg.iters, cfg.restarts, cfg.eot, cfg.targets, cfg.queries,
                           cfg.p_init, cfg.judge, mode == ADVCC_EVAL ? "eval" : "batch",
                           seed, n);
        for (int a = 0; a < cfg.n_attacks && len < (int)sizeof run.signature - 16; a++)
            len += snprintf(run.signature + len, sizeof run.signature - len, " %s",
                            aa_attack_name(cfg.attacks[a]));
    }
    if (resume && read_csv(&run, n, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    cfg.limit = n;
    cfg.progress = show_progress;
    cfg.progress_arg = &run;
    cfg.checkpoint = csv ? write_csv : NULL;
    cfg.checkpoint_arg = &run;
    progress_start(&run.bar, "attack", "img", n, quiet);
    aa_result r;
    advcc_rng arng, root;
    rng_seed(&root, (uint64_t)seed);
    rng_split(&root, RNG_STREAM_ATTACK, &arng);
    double t0 = progress_now();
    if (aa_evaluate(ctx, &test, &cfg, &arng, img, &r, err, sizeof err) != 0) {
        progress_end(&run.bar);
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    double wall = progress_now() - t0;
    progress_end(&run.bar);
    printf("%s: clean accuracy %.2f%% (%d images)\n", m->name,
           100.0 * r.clean_correct / r.n, r.n);
    printf("%s: %s%s%s %s eps %.4g (%.3g/255)\n", m->name, name,
           !strcmp(name, "autoattack") ? " " : "",
           !strcmp(name, "autoattack") ? (version == AA_RAND ? "rand" : "standard") : "",
           norm == ADVCC_L2 ? "L2" : "Linf", cfg.eps, cfg.eps * 255);
    for (int a = 0; a < cfg.n_attacks; a++)
        printf("%s:   after %-12s robust accuracy %.2f%%  (%.1f s)\n", m->name,
               aa_attack_name(cfg.attacks[a]), 100.0 * r.robust_after[a] / r.n,
               r.seconds[a]);
    printf("%s: robust accuracy %.2f%%, %.1f s\n", m->name,
           100.0 * r.robust_after[cfg.n_attacks - 1] / r.n, wall);
    masking_report checks;
    if (ensemble && sanity) {
        /* the checks the ensemble's records answer cheaply (docs/METHODS.md 11) */
        int s = masking_summary(ctx, &test, &cfg, img, &r, 10, 100, (uint64_t)seed, &checks,
                                err, sizeof err);
        if (s < 0) {
            fprintf(stderr, "%s: sanity checks: %s\n", m->name, err);
            goto done;
        }
        printf("%s: gradient-masking checks (run `%s sanity` for all of them):\n", m->name,
               m->name);
        masking_print(stdout, &checks);
    }
    if (json && write_json(json, m, seed, &cfg, name, version, grad, &r,
                           ensemble && sanity ? &checks : NULL, wall, ckpt) != 0) {
        fprintf(stderr, "%s: %s: %s\n", m->name, json, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(img);
    ctx_free(ctx);
    dataset_free(&test);
    return rc;
}
