/* cli_train.c - `MODEL train`: train with the spec's recipe (overridable
 * from the command line, cli_recipe.h), evaluate on the test set, write the checkpoint,
 * the per-step loss and a summary, each atomically. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "mkdirs.h"
#include "checkpoint.h"
#include "cli.h"
#include "context.h"
#include "cli_attack.h"
#include "cli_recipe.h"
#include "pgd.h"
#include "robust.h"
#include "schedule.h"
#include "train.h"
#include "train_state.h"

/* The spec's optimiser, schedule and augmentation, as the spec says them. */
static void recipe_text(const advcc_train_cfg *t, char *buf, size_t len)
{
    const advcc_schedule_cfg *s = &t->schedule;
    size_t k = 0;
#define ADD(...) (k += (size_t)snprintf(buf + k, k < len ? len - k : 0, __VA_ARGS__))
    ADD("%s", advcc_optimizer_name(t->optimizer));
    if (t->optimizer == ADVCC_OPT_SGD)
        ADD(" momentum=%g%s", t->momentum, t->nesterov ? " nesterov=1" : "");
    else
        ADD(" beta1=%g beta2=%g eps=%g", t->beta1, t->beta2, t->eps);
    ADD(" weight_decay=%g, schedule=%s", t->weight_decay, advcc_schedule_name(s->kind));
    if (s->kind == ADVCC_SCHED_MULTISTEP || s->kind == ADVCC_SCHED_PIECEWISE)
        for (int i = 0; i < s->n; i++)
            ADD("%s%g", i ? ", " : s->kind == ADVCC_SCHED_MULTISTEP ? " at epochs " : " knots ",
                s->at[i]);
    if (s->warmup)
        ADD(" warmup=%d", s->warmup);
    if (t->crop || t->flip)
        ADD(", augment crop=%d flip=%d", t->crop, t->flip);
    else
        ADD(", no augmentation");
#undef ADD
}

static void train_usage(const advcc_model *m, FILE *fp)
{
    char recipe[512];
    recipe_text(&m->train, recipe, sizeof recipe);
    fprintf(fp,
            "usage: %s train [options]\n"
            "\n"
            "Trains the model with its spec's recipe on the training split, then\n"
            "evaluates clean accuracy on the test split.  Writes into --out:\n"
            "  checkpoint.safetensors  parameters (safetensors, PyTorch-style names)\n"
            "  train_loss.csv          step,epoch,loss per step\n"
            "  train_state.safetensors, train_momentum.safetensors\n"
            "                          with a spectral penalty: the training state,\n"
            "                          every tensor (its power-iteration vectors\n"
            "                          included) and the momentum\n"
            "  train.json              a summary of the run\n"
            "\n"
            "options (spec defaults in brackets):\n"
            "  --seed N          seed of initialisation, shuffling, augmentation and\n"
            "                    noise [0]\n"
            "  --threads N       threads for OpenMP and OpenBLAS [all cores]\n"
            "  --epochs N        epochs [%d]\n"
            "  --batch N         batch size [%d]\n"
            "  --lr X            learning rate (the schedule's base) [%g]\n"
            "  --momentum X      momentum (SGD) [%g]\n"
            "  --weight-decay X  weight decay [%g]\n"
            "  --limit N         train on the first N training images only [all]\n"
            "  --test-limit N    evaluate on the first N test images only [all]\n"
            "  --dataset NAME    cifar10 or fashion-mnist [%s]\n"
            "  --out DIR         output directory [out/%s-seed<N>]\n"
            "  --quiet           no progress or per-epoch lines\n"
            "  --resume          continue from the last finished epoch saved in\n"
            "                    DIR/state (every epoch is saved there while training;\n"
            "                    the result is bit-identical to an uninterrupted run\n"
            "                    with the same seed and thread count).  Refused (exit 2,\n"
            "                    naming each difference) when the model, its spec or\n"
            "                    a setting differs from the saved run's: --seed,\n"
            "                    --batch, --lr, --momentum, --weight-decay, --limit,\n"
            "                    --dataset, the recipe, the training attack.  --epochs\n"
            "                    may grow, unless the schedule is cosine or onecycle,\n"
            "                    which spread over them; --threads changes the last\n"
            "                    bits only.  Without --resume a run starts over and\n"
            "                    discards DIR/state\n"
            "\n"
            "recipe (the spec's train and augment statements, docs/METHODS.md 1):\n"
            "  %s\n"
            "A scheduled learning rate is shown on each epoch's line; train.json has\n"
            "every epoch's (lr_by_epoch) and the recipe the run used (recipe).\n"
            "These options override the recipe:\n",
            m->name, m->train.epochs, m->train.batch, m->train.lr,
            m->train.momentum, m->train.weight_decay, cli_default_dataset(m),
            m->name, recipe);
    cli_recipe_usage(fp, &m->train);
    fprintf(fp,
            "\n"
            "adversarial training (%s): every batch is replaced by its PGD images;\n"
            "these options override the spec's training attack:\n",
            m->train.adversarial ? "this model" : "not this model's recipe");
    cli_attack_usage(fp, &m->train_attack, 1);
    fprintf(fp,
            "  --help            this text\n"
            "\n"
            "BatchNorm (PyTorch's rules): eps 1e-5; training normalises by the\n"
            "biased batch variance and moves the running mean and the unbiased\n"
            "variance by momentum 0.1 towards the batch's; evaluation uses the\n"
            "running statistics.  train.json records the command line, the spec's\n"
            "hash and the version (`provenance`).\n"
            "CIFAR-10 is read from $CIFAR10_DIR, else ./data/cifar-10-batches-bin.\n"
            "Exit status: 0 done, 1 error, 2 usage, 3 the loss diverged (NaN/Inf).\n");
}

/* Adversarial training's batch replacement: PGD with BatchNorm on batch
 * statistics and its running statistics untouched (docs/METHODS.md 3). */
typedef struct adv_state {
    pgd_cfg cfg;
    infer_ws inf;
    pgd_ws pgd;
} adv_state;

static int perturb_batch(void *arg, advcc_ctx *c, const real_t *x, const int *y,
                         int n, advcc_rng *rng, real_t *xadv)
{
    adv_state *a = arg;
    (void)c;
    return pgd_attack(&a->pgd, &a->cfg, x, y, n, rng, xadv, NULL);
}

/* The recipe a run used, as train.json records it. */
static json_t *recipe_json(const advcc_train_cfg *t, double lr, double momentum, double wd)
{
    const advcc_schedule_cfg *s = &t->schedule;
    json_t *o = json_pack("{s:s, s:o, s:o, s:s, s:i, s:i, s:i}",
                          "optimizer", advcc_optimizer_name(t->optimizer),
                          "lr", jw_sig(lr, 9), "weight_decay", jw_sig(wd, 9),
                          "schedule", advcc_schedule_name(s->kind), "warmup", s->warmup,
                          "crop", t->crop, "flip", t->flip);
    if (!o)
        return NULL;
    if (t->optimizer == ADVCC_OPT_SGD) {
        json_object_set_new(o, "momentum", jw_sig(momentum, 9));
        json_object_set_new(o, "nesterov", json_integer(t->nesterov));
    } else {
        json_object_set_new(o, "beta1", jw_sig(t->beta1, 9));
        json_object_set_new(o, "beta2", jw_sig(t->beta2, 9));
        json_object_set_new(o, "eps", jw_sig(t->eps, 9));
    }
    return o;
}

static int write_summary(const char *path, const advcc_model *m, const advcc_train_cfg *recipe,
                         long seed, int epochs, long limit, const train_result *r,
                         double acc, int test_n, double lr, double momentum, double wd,
                         long per_epoch, char *err, size_t errlen)
{
    int d = r->diverged;
    /* The learning rate of each epoch's last step. */
    json_t *lrs = json_array();
    for (int e = 0; e < epochs && lrs; e++)
        json_array_append_new(lrs, jw_sig(schedule_lr(&recipe->schedule, lr, epochs,
                                                      (e + 1) * per_epoch - 1, per_epoch), 9));
    /* train_s: this process's training; a resumed run's earlier epochs
     * (resumed_epochs) took their time in the processes before. */
    json_t *o = json_pack("{s:o, s:I, s:i, s:I, s:I, s:o, s:o, s:i, s:o, s:i, s:s, s:o, s:o, s:o, s:s, s:o}",
                          "model", jw_str(m->name), "seed", (json_int_t)seed,
                          "epochs", epochs, "limit", (json_int_t)limit,
                          "steps", (json_int_t)r->steps,
                          "final_loss", d ? json_null() : jw_sig(r->final_loss, 9),
                          "clean_acc", d ? json_null() : jw_fixed(acc, 6),
                          "test_n", d ? 0 : test_n, "train_s", jw_fixed(r->seconds, 3),
                          "resumed_epochs", r->resumed_epochs,
                          "status", d ? "diverged" : "ok",
                          "diverged_step", d ? json_integer(r->diverged_step) : json_null(),
                          "lr_by_epoch", lrs,
                          "recipe", recipe_json(recipe, lr, momentum, wd),
                          "version", ADVCC_VERSION, "provenance", cli_json_provenance(m));
    if (jw_write(path, o) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The settings that determine a run's result, for --resume to compare:
 * the model, its spec, and each option by name but --threads (the last
 * bits only) and --epochs, which may grow unless the schedule spreads over
 * them; the training attack's only when the model trains on it. */
static json_t *settings_record(const advcc_model *m, long seed, long epochs, long batch,
                               double lr, double momentum, double wd, long limit,
                               const char *dataset, const cli_recipe *recipe,
                               const pgd_cfg *attack)
{
    json_t *opts = json_object();
    json_t *rec = json_pack("{s:o, s:o, s:o}", "model", jw_str(m->name), "spec",
                            jw_str(m->spec_hash ? m->spec_hash : "unknown"), "options", opts);
    if (!rec)
        return NULL;
    const int kind = recipe->cfg.schedule.kind;
    int bad = cli_record_number(opts, "seed", (double)seed);
    if (kind == ADVCC_SCHED_COSINE || kind == ADVCC_SCHED_ONECYCLE)
        bad |= cli_record_number(opts, "epochs", (double)epochs);
    bad |= cli_record_number(opts, "batch", (double)batch);
    bad |= cli_record_number(opts, "lr", lr);
    bad |= cli_record_number(opts, "weight-decay", wd);
    bad |= cli_recipe_record(recipe, momentum, opts);
    if (limit > 0)
        bad |= cli_record_number(opts, "limit", (double)limit);
    else
        bad |= cli_record_text(opts, "limit", "all");
    bad |= cli_record_text(opts, "dataset", dataset);
    if (m->train.adversarial)
        bad |= cli_attack_record(attack, opts);
    if (bad) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

/* Appends to buf, from *at, a setting that differs: "used NAME SAVED, this
 * one NOW" the first, "; NAME SAVED vs NOW" the others. */
static void put_difference(char *buf, size_t len, size_t *at, int option, const char *key,
                           const json_t *saved, const json_t *now)
{
    const char *a = json_is_string(saved) ? json_string_value(saved) : "?";
    const char *b = json_is_string(now) ? json_string_value(now) : "?";
    if (*at < len)
        *at += (size_t)snprintf(buf + *at, len - *at,
                                *at ? "; %s%s %s vs %s" : "used %s%s %s, this one %s",
                                option ? "--" : "", key, a, b);
}

/* Each setting whose value differs between the records saved and now, into
 * buf from *at; those under "options" are named --NAME.  A setting only one
 * record has (a key of one optimiser or schedule) follows from one that
 * differs, which is named instead. */
static void settings_differences(const json_t *saved, const json_t *now, int options,
                                 char *buf, size_t len, size_t *at)
{
    const char *key;
    json_t *a;
    json_object_foreach((json_t *)saved, key, a) {
        json_t *b = json_object_get(now, key);
        if (json_is_object(a) && json_is_object(b))
            settings_differences(a, b, 1, buf, len, at);
        else if (b && !json_equal(a, b))
            put_difference(buf, len, at, options, key, a, b);
    }
}

/* --resume continues only the run that state was saved by: 0 when its
 * record of settings is now's (or it has none, from before settings were
 * recorded), else the exit status, with the differences said. */
static int resume_check(const advcc_model *m, const char *state, const json_t *now)
{
    char err[4608];
    json_t *saved = NULL;
    int got = train_state_load_settings(state, &saved, err, sizeof err);
    if (got < 0) {
        fprintf(stderr, "%s train: --resume: %s\n", m->name, err);
        return ADVCC_EXIT_ERROR;
    }
    if (got == 0) {
        fprintf(stderr, "%s train: --resume: warning: %s has no record of its run's settings "
                "(saved by an older version); resuming without comparing them\n", m->name, state);
        return 0;
    }
    char diff[4096];
    size_t at = 0;
    settings_differences(saved, now, 0, diff, sizeof diff, &at);
    json_decref(saved);
    if (at == 0)
        return 0;
    fprintf(stderr, "%s train: --resume: the saved run (%s) %s: start over without --resume, "
            "or resume with the same settings\n", m->name, state, diff);
    return ADVCC_EXIT_USAGE;
}

int cli_train(const advcc_model *m, int argc, char **argv)
{
    static const struct option base_opts[] = {
        {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'},
        {"epochs", required_argument, 0, 'e'},
        {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'},
        {"momentum", required_argument, 0, 'm'},
        {"weight-decay", required_argument, 0, 'w'},
        {"limit", required_argument, 0, 'n'},
        {"test-limit", required_argument, 0, 'N'},
        {"dataset", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},
        {"resume", no_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},
    };
    struct option own[CLI_MAX_OPTIONS], opts[CLI_MAX_OPTIONS];
    int n_own = (int)(sizeof base_opts / sizeof base_opts[0]);
    memcpy(own, base_opts, sizeof base_opts);
    n_own = cli_recipe_options(own, n_own);
    cli_attack_options(opts, own, n_own);
    cli_recipe recipe;
    cli_recipe_init(&recipe, &m->train);
    adv_state adv;
    memset(&adv, 0, sizeof adv);
    cli_attack_defaults(m, &m->train_attack, &adv.cfg);
    adv.cfg.mode = ADVCC_TRAIN_FROZEN;
    long seed = 0, threads = 0, epochs = m->train.epochs, batch = m->train.batch;
    long limit = 0, test_limit = 0;
    double lr = m->train.lr, momentum = m->train.momentum, wd = m->train.weight_decay;
    const char *dataset = cli_default_dataset(m), *out = NULL;
    int quiet = 0, resume = 0, c, li = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q", opts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 's': bad = cli_int(optarg, 0, 0x7fffffffL, &seed); break;
        case 't': bad = cli_int(optarg, 1, 1024, &threads); break;
        case 'e': bad = cli_int(optarg, 1, 100000, &epochs); break;
        case 'b': bad = cli_int(optarg, 1, 100000, &batch); break;
        case 'l': bad = cli_number(optarg, 0, 1e6, NUM_LO_OPEN, &lr); break;
        case 'm': bad = cli_number(optarg, 0, 1, 0, &momentum); break;
        case 'w': bad = cli_number(optarg, 0, 1, 0, &wd); break;
        case 'n': bad = cli_int(optarg, 1, 0x7fffffffL, &limit); break;
        case 'N': bad = cli_int(optarg, 1, 0x7fffffffL, &test_limit); break;
        case 'd': dataset = optarg; break;
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
        case 'r': resume = 1; break;
        case 'h': train_usage(m, stdout); return 0;
        case '?': train_usage(m, stderr); return 2;
        default:
            bad = cli_recipe_option(c, optarg, &recipe);
            if (bad < 0)
                bad = cli_attack_option(c, optarg, &adv.cfg);
            break;
        }
        if (bad) {
            cli_bad_value(m->name, "train", li >= 0 ? opts[li].name : "?", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s train: unexpected argument '%s'\n", m->name, argv[optind]);
        return 2;
    }
    char err[4608], path[4096];
    if (cli_recipe_check(&recipe, momentum, err, sizeof err) != 0) {
        fprintf(stderr, "%s train: %s\n", m->name, err);
        return 2;
    }
    if (pgd_check_cfg(&adv.cfg, m->in_c, err, sizeof err) != 0) {
        fprintf(stderr, "%s train: %s\n", m->name, err);
        return 2;
    }
    char outbuf[512];
    if (!out) {
        snprintf(outbuf, sizeof outbuf, "out/%s-seed%ld", m->name, seed);
        out = outbuf;
    }
    if (resume) {
        struct stat st;
        snprintf(path, sizeof path, "%s/state/epoch", out);
        if (stat(path, &st) != 0) {
            fprintf(stderr, "%s train: --resume: %s/state: no saved state to resume from "
                    "(drop --resume to start over)\n", m->name, out);
            return 1;
        }
    }
    if (ctx_check_memory(m, (int)batch, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --batch: %s\n", m->name, err);
        return 1;
    }
    ctx_set_threads((int)threads);

    advcc_dataset train = {0}, test = {0};
    if (cli_load_data(m, dataset, 1, (int)limit, &train) != 0)
        return 1;
    if (cli_load_data(m, dataset, 0, (int)test_limit, &test) != 0) {
        dataset_free(&train);
        return 1;
    }
    if (mkdirs(out, NULL, NULL) != 0) {
        fprintf(stderr, "%s: cannot create %s: %s\n", m->name, out, strerror(errno));
        dataset_free(&train);
        dataset_free(&test);
        return 1;
    }
    int rc = 1, adv_ready = 0;
    advcc_ctx *ctx = NULL;
    char state[4096];
    snprintf(state, sizeof state, "%s/state", out);
    json_t *settings = settings_record(m, seed, epochs, batch, lr, momentum, wd, limit, dataset,
                                       &recipe, &adv.cfg);
    if (!settings) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        goto done;
    }
    if (resume && (rc = resume_check(m, state, settings)) != 0)
        goto done;
    rc = 1;
    /* A run started over leaves nothing of an earlier one to resume. */
    if (!resume)
        train_state_clear(state);
    if (train_state_save_settings(state, settings, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    if (!quiet)
        fprintf(stderr, "%s: training on %d %s images, %ld epochs, batch %ld, lr %g, seed %ld\n",
                m->name, train.n, dataset, epochs, batch, lr, seed);

    ctx = ctx_create(m, (int)batch, (uint64_t)seed);
    if (!ctx) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        goto done;
    }
    if (m->train.adversarial) {
        if (infer_init(&adv.inf, ctx) != 0 || pgd_init(&adv.pgd, &adv.inf) != 0) {
            fprintf(stderr, "%s: out of memory\n", m->name);
            goto done;
        }
        adv_ready = 1;
        if (!quiet)
            fprintf(stderr, "%s: adversarial training, PGD eps %.4g (%.3g/255) alpha %.4g steps %d\n",
                    m->name, adv.cfg.eps, adv.cfg.eps * 255, adv.cfg.alpha, adv.cfg.steps);
    }
    train_opts o = {
        .epochs = (int)epochs, .batch = (int)batch, .lr = lr,
        .momentum = momentum, .weight_decay = wd, .recipe = &recipe.cfg,
        .seed = (uint64_t)seed,
        .quiet = quiet,
        .perturb = m->train.adversarial ? perturb_batch : NULL,
        .perturb_arg = &adv,
    };
    snprintf(path, sizeof path, "%s/train_loss.csv", out);
    o.loss_csv = path;
    o.state_dir = state;
    o.resume = resume;
    train_result r;
    if (train_model(ctx, &train, &o, &r, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    double acc = 0;
    if (r.diverged) {
        fprintf(stderr, "%s: training diverged at step %ld (%s)\n",
                m->name, r.diverged_step, r.diverged_why);
    } else {
        robust_cfg ecfg = {.judge = 1};
        robust_result er;
        advcc_rng erng, root;
        rng_seed(&root, (uint64_t)seed);
        rng_split(&root, RNG_STREAM_ATTACK, &erng);
        if (robust_evaluate(ctx, &test, &ecfg, &erng, &er, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", m->name, err);
            goto done;
        }
        acc = er.clean_acc;
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", out);
        if (checkpoint_save(path, m, ctx->params, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", m->name, err);
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/train.json", out);
    if (write_summary(path, m, &recipe.cfg, seed, (int)epochs, limit, &r, acc, test.n, lr,
                      momentum, wd, (train.n + batch - 1) / batch, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", m->name, err);
        goto done;
    }
    if (r.diverged) {
        rc = ADVCC_EXIT_DIVERGED;
        goto done;
    }
    /* Training-only tensors (power-iteration vectors) are not part of the
     * model: they stay with the training state, kept with the momentum. */
    if (m->train_only && m->train_only[0]) {
        char mom[4096];
        snprintf(path, sizeof path, "%s/train_state.safetensors", out);
        snprintf(mom, sizeof mom, "%s/train_momentum.safetensors", out);
        if (train_state_keep(state, path, mom, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", m->name, err);
            goto done;
        }
    }
    train_state_clear(state);
    printf("%s: test accuracy %.2f%% (%d images), %ld steps in %.1f s, final loss %.4f\n",
           m->name, 100 * acc, test.n, r.steps, r.seconds, r.final_loss);
    printf("%s: wrote %s/checkpoint.safetensors\n", m->name, out);
    rc = 0;
done:
    json_decref(settings);
    if (adv_ready) {
        pgd_free(&adv.pgd);
        infer_free(&adv.inf);
    }
    ctx_free(ctx);
    dataset_free(&train);
    dataset_free(&test);
    return rc;
}
