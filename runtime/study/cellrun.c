/* cellrun.c - train, attack at each eps (PGD, then optionally certify and
 * the strong evaluation), write the rows. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "mkdirs.h"
#include "atomic_file.h"
#include "cellrun.h"
#include "fsutil.h"
#include "json.h"
#include "proc.h"
#include "results.h"
#include "vocab.h"

/* run_train's answer when the cell ended with a diverged training */
#define TRAIN_DIVERGED 2

typedef struct run {
    const grid *g;
    const cell *c;
    const char *model;
    char *dir, *binary;
    int log_fd, verbose;
    char *train_cmd;    /* the training's command line, as train.done holds it */
    int trained;        /* an earlier attempt's training is kept */
    model_settings ms;  /* the grid's overrides, else the spec's */
    json_t *train;      /* train.json */
} run;

static int fail(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(run *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *path = path_join(r->dir, CELL_ERROR);
    char *text = xasprintf("%s\n", msg);
    file_write_atomic(path, text, strlen(text));
    free(text);
    free(path);
    if (r->verbose)
        fprintf(stderr, "advcc-study: %s: %s\n", r->dir, msg);
    return CELL_RUN_FAILED;
}

/* --dataset when the grid overrides the spec's */
static void push_dataset(const grid *g, strvec *argv)
{
    if (g->dataset) {
        strvec_push(argv, "--dataset");
        strvec_push(argv, g->dataset);
    }
}

static void push_common(run *r, strvec *argv)
{
    const grid *g = r->g;
    strvec_push(argv, "--seed");
    strvec_pushf(argv, "%d", r->c->seed);
    strvec_push(argv, "--threads");
    strvec_pushf(argv, "%d", g->threads);
    push_dataset(g, argv);
}

/* `MODEL command --checkpoint CELL/checkpoint.safetensors [--attack
 * attack]`, the start of every command on the cell's checkpoint. */
static void push_on_checkpoint(run *r, strvec *argv, const char *command,
                               const char *attack)
{
    char *checkpoint = path_join(r->dir, "checkpoint.safetensors");
    strvec_push(argv, r->binary);
    strvec_push(argv, command);
    strvec_push(argv, "--checkpoint");
    strvec_push(argv, checkpoint);
    if (attack) {
        strvec_push(argv, "--attack");
        strvec_push(argv, attack);
    }
    free(checkpoint);
}

static int run_step(run *r, const char *what, strvec *argv, int *status)
{
    if (r->verbose) {
        fprintf(stderr, "advcc-study: %s:", what);
        for (int i = 0; i < argv->n; i++)
            fprintf(stderr, " %s", argv->v[i]);
        fputc('\n', stderr);
    }
    dprintf(r->log_fd, "### %s\n", what);
    *status = proc_run(argv->v, r->log_fd);
    return *status >= 0 && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

/* Sets column col of row to the text of obj's member key (json.h). */
static void set_from(result_row *row, int col, const json_t *obj, const char *key)
{
    char *v = jobj_text(obj, key);
    result_row_set(row, col, v);
    free(v);
}

static void fill_common(run *r, result_row *row, double eps)
{
    const grid *g = r->g;
    const cell *c = r->c;
    result_row_set(row, RC_model, r->model);
    row->f[RC_seed] = xasprintf("%d", c->seed);
    row->f[RC_eps_255] = format_number(eps);
    if (c->adversarial)
        row->f[RC_train_eps_255] = format_number(c->train_eps);
    result_row_set(row, RC_attack, "pgd");
    row->f[RC_alpha_255] = format_number(r->ms.alpha);
    row->f[RC_steps] = xasprintf("%d", r->ms.steps);
    row->f[RC_restarts] = xasprintf("%d", r->ms.restarts);
    result_row_set(row, RC_init, r->ms.init);
    row->f[RC_eot] = xasprintf("%d", r->ms.eot);
    row->f[RC_epochs] = jobj_text(r->train, "epochs");
    if (!row->f[RC_epochs])
        row->f[RC_epochs] = xasprintf("%d", r->ms.epochs);
    row->f[RC_train_limit] = xasprintf("%d", g->train_limit);
    row->f[RC_test_limit] = xasprintf("%d", g->test_limit);
    result_row_set(row, RC_dataset, r->ms.dataset);
    row->f[RC_threads] = xasprintf("%d", g->threads);
    set_from(row, RC_train_steps, r->train, "steps");
    set_from(row, RC_final_loss, r->train, "final_loss");
    set_from(row, RC_train_clean_acc, r->train, "clean_acc");
    set_from(row, RC_train_s, r->train, "train_s");
    set_from(row, RC_version, r->train, "version");
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    result_row_set(row, RC_host, host);
    char *name = cell_name(g, c);
    row->f[RC_cell] = xasprintf("cells/%s", name);
    free(name);
}

/* Takes the attack's own account of its settings over the grid's. */
static void fill_eval(result_row *row, const json_t *ev)
{
    static const struct { int col; const char *key; } keys[] = {
        { RC_clean_acc, "clean_acc" }, { RC_robust_acc, "robust_acc" },
        { RC_attack_success, "attack_success" }, { RC_steps, "steps" },
        { RC_restarts, "restarts" }, { RC_init, "init" }, { RC_eot, "eot" },
        { RC_n, "n" }, { RC_attack_s, "wall_s" }, { RC_host, "host" },
        { RC_version, "version" },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(ev, keys[i].key) &&
            !json_is_null(json_object_get(ev, keys[i].key)))
            set_from(row, keys[i].col, ev, keys[i].key);
}

static int write_rows(run *r, result_row *rows, int nrows)
{
    char *path = path_join(r->dir, CELL_RESULT);
    atomic_file af;
    int rc = atomic_open(&af, path);
    if (rc == 0) {
        strvec after = { 0 };
        results_after_columns(rows, nrows, &after);
        results_put_header(af.fp, &after);
        for (int i = 0; i < nrows; i++)
            results_put_row(af.fp, &rows[i], &after);
        strvec_free(&after);
        rc = atomic_commit(&af);
    }
    if (rc != 0)
        rc = fail(r, "%s: %s", path, strerror(errno));
    free(path);
    return rc;
}

static int run_diverged(run *r)
{
    const cell *c = r->c;
    result_row *rows = xcalloc((size_t)c->neps, sizeof *rows);
    char *step = jobj_text(r->train, "diverged_step");
    for (int e = 0; e < c->neps; e++) {
        fill_common(r, &rows[e], r->g->eps[c->eps_first + e]);
        result_row_set(&rows[e], RC_status, "diverged");
        result_row_set(&rows[e], RC_diverged_step, step);
    }
    int rc = write_rows(r, rows, c->neps);
    for (int e = 0; e < c->neps; e++)
        result_row_free(&rows[e]);
    free(rows);
    free(step);
    if (r->verbose)
        fprintf(stderr, "advcc-study: %s: training diverged\n", r->dir);
    return rc;
}

static void train_argv(run *r, strvec *argv)
{
    const grid *g = r->g;
    strvec_push(argv, r->binary);
    strvec_push(argv, "train");
    push_common(r, argv);
    if (g->epochs) {
        strvec_push(argv, "--epochs");
        strvec_pushf(argv, "%d", g->epochs);
    }
    if (g->train_limit > 0) {
        strvec_push(argv, "--limit");
        strvec_pushf(argv, "%d", g->train_limit);
    }
    if (g->test_limit > 0) {
        strvec_push(argv, "--test-limit");
        strvec_pushf(argv, "%d", g->test_limit);
    }
    if (g->batch > 0) {
        strvec_push(argv, "--batch");
        strvec_pushf(argv, "%d", g->batch);
    }
    if (g->lr) {
        strvec_push(argv, "--lr");
        strvec_push(argv, g->lr);
    }
    if (r->c->adversarial) {
        strvec_push(argv, "--eps");
        strvec_pushf(argv, "%.10g/255", r->c->train_eps);
    }
    strvec_push(argv, "--out");
    strvec_push(argv, r->dir);
    strvec_push(argv, "--quiet");
    grid_append_args(g, r->model, 0, argv);
}

/* A command line as a stamp: one argument a line. */
static char *argv_text(const strvec *argv)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (int i = 0; i < argv->n; i++)
        fprintf(f, "%s\n", argv->v[i]);
    fclose(f);
    return text;
}

/* 1 when file holds exactly text. */
static int stamp_matches(const char *path, const char *text)
{
    char *old = file_read(path, NULL);
    int same = old && !strcmp(old, text);
    free(old);
    return same;
}

/* An earlier attempt's training can stand: it finished (train.done, the
 * checkpoint, an ok train.json) with the command line this grid gives. */
static int training_done(run *r)
{
    char *stamp = path_join(r->dir, CELL_TRAINED);
    char *ckpt = path_join(r->dir, "checkpoint.safetensors");
    char *json = path_join(r->dir, "train.json");
    char err[512];
    json_t *tj = stamp_matches(stamp, r->train_cmd) && path_exists(ckpt) ?
                 jobj_read(json, err, sizeof err) : NULL;
    int done = jobj_is(tj, "status", "ok");
    json_decref(tj);
    free(stamp);
    free(ckpt);
    free(json);
    return done;
}

/* What a restart keeps of an attempt whose training finished: the lock,
 * the training's files and log, and the strong evaluation's per-image
 * records with the command lines that made them (everything else, the
 * attacks' results and temporaries, is made again). */
static int kept_after_training(const char *name, void *arg)
{
    (void)arg;
    static const char *const kept[] = {
        CELL_LOCK, CELL_TRAINED, CELL_LOG, "train.json", "train_loss.csv",
        "checkpoint.safetensors", "train_state.safetensors",
        "train_momentum.safetensors", NULL
    };
    for (int i = 0; kept[i]; i++)
        if (!strcmp(name, kept[i]))
            return 1;
    size_t len = strlen(name);
    return !strncmp(name, STRONG_PREFIX, strlen(STRONG_PREFIX)) && len > 4 &&
           (!strcmp(name + len - 4, ".csv") || !strcmp(name + len - 4, ".cmd"));
}

static int kept_lock(const char *name, void *arg)
{
    (void)arg;
    return !strcmp(name, CELL_LOCK);
}

static int run_train(run *r)
{
    if (r->trained) {
        dprintf(r->log_fd, "### train: kept from an earlier attempt (%s)\n",
                CELL_TRAINED);
        char err[512];
        char *json = path_join(r->dir, "train.json");
        r->train = jobj_read(json, err, sizeof err);
        free(json);
        return r->train ? CELL_RUN_FINISHED : fail(r, "train: %s", err);
    }
    strvec argv = { 0 };
    train_argv(r, &argv);
    int status;
    int code = run_step(r, "train", &argv, &status);
    strvec_free(&argv);

    char err[512] = "no train.json";
    char *json = path_join(r->dir, "train.json");
    if (path_exists(json))
        r->train = jobj_read(json, err, sizeof err);
    free(json);
    /* The binary says it diverged by its exit status (vocab.h); its
     * train.json says at which step. */
    if (code == ADVCC_EXIT_DIVERGED) {
        int rc = run_diverged(r);
        return rc == CELL_RUN_FINISHED ? TRAIN_DIVERGED : rc;
    }
    if (code != 0) {
        char *why = proc_describe(status);
        int rc = fail(r, "train: %s; see %s/%s", why, r->dir, CELL_LOG);
        free(why);
        return rc;
    }
    if (!r->train)
        return fail(r, "train: exit 0 but no readable train.json (%s)", err);
    if (!jobj_is(r->train, "status", "ok"))
        return fail(r, "train: exit 0 but train.json does not say \"status\":\"ok\"");
    char *stamp = path_join(r->dir, CELL_TRAINED);
    int rc = file_write_atomic(stamp, r->train_cmd, strlen(r->train_cmd));
    if (rc != 0)
        rc = fail(r, "%s: %s", stamp, strerror(errno));
    free(stamp);
    return rc;
}

static int run_eval(run *r, double eps, result_row *row)
{
    const grid *g = r->g;
    char *name = xasprintf("eval-eps%.10g.json", eps);
    char *json = path_join(r->dir, name);
    strvec argv = { 0 };
    push_on_checkpoint(r, &argv, "eval", "pgd");
    strvec_push(&argv, "--eps");
    strvec_pushf(&argv, "%.10g/255", eps);
    /* the spec's PGD, but for what the grid overrides */
    if (g->alpha > 0) {
        strvec_push(&argv, "--alpha");
        strvec_pushf(&argv, "%.10g/255", g->alpha);
    }
    if (g->steps >= 0) {
        strvec_push(&argv, "--steps");
        strvec_pushf(&argv, "%d", g->steps);
    }
    if (g->restarts) {
        strvec_push(&argv, "--restarts");
        strvec_pushf(&argv, "%d", g->restarts);
    }
    if (g->init) {
        strvec_push(&argv, "--init");
        strvec_push(&argv, g->init);
    }
    if (g->eot) {
        strvec_push(&argv, "--eot");
        strvec_pushf(&argv, "%d", g->eot);
    }
    push_common(r, &argv);
    if (g->test_limit > 0) {
        strvec_push(&argv, "--limit");
        strvec_pushf(&argv, "%d", g->test_limit);
    }
    strvec_push(&argv, "--json");
    strvec_push(&argv, json);
    grid_append_args(g, r->model, 1, &argv);
    char *what = xasprintf("eval at eps %.10g/255", eps);
    int status;
    int code = run_step(r, what, &argv, &status);
    strvec_free(&argv);
    int rc = CELL_RUN_FINISHED;
    json_t *ev = NULL;
    char err[512];
    if (code != 0) {
        char *why = proc_describe(status);
        rc = fail(r, "%s: %s; see %s/%s", what, why, r->dir, CELL_LOG);
        free(why);
    } else if (!(ev = jobj_read(json, err, sizeof err))) {
        rc = fail(r, "%s: %s", what, err);
    } else {
        fill_common(r, row, eps);
        result_row_set(row, RC_status, "ok");
        fill_eval(row, ev);
        json_decref(ev);
    }
    free(what);
    free(json);
    free(name);
    return rc;
}

/* `MODEL certify` exits ADVCC_EXIT_USAGE for a model the bound does not
 * apply to (quantised, noisy): its columns stay empty. */

/* `MODEL certify` on the cell's checkpoint (grid `certify 1`): certified
 * accuracy at 36, 72 and 108/255 and the Lipschitz bound into every row. */
static int run_certify(run *r, result_row *rows, int nrows)
{
    const grid *g = r->g;
    char *json = path_join(r->dir, "certify.json");
    strvec argv = { 0 };
    push_on_checkpoint(r, &argv, "certify", NULL);
    strvec_push(&argv, "--threads");
    strvec_pushf(&argv, "%d", g->threads);
    push_dataset(g, &argv);
    if (g->test_limit > 0) {
        strvec_push(&argv, "--limit");
        strvec_pushf(&argv, "%d", g->test_limit);
    }
    strvec_push(&argv, "--json");
    strvec_push(&argv, json);
    strvec_push(&argv, "--quiet");
    int status;
    int code = run_step(r, "certify", &argv, &status);
    strvec_free(&argv);
    int rc = CELL_RUN_FINISHED;
    json_t *cj = NULL;
    char err[512];
    if (code == ADVCC_EXIT_USAGE) {
        dprintf(r->log_fd, "### certify refused this model; its columns stay empty\n");
    } else if (code != 0) {
        char *why = proc_describe(status);
        rc = fail(r, "certify: %s; see %s/%s", why, r->dir, CELL_LOG);
        free(why);
    } else if (!(cj = jobj_read(json, err, sizeof err))) {
        rc = fail(r, "certify: %s", err);
    } else {
        static const struct { int col; const char *key; } keys[] = {
            { RC_cert_acc_36, "certified_acc_36" }, { RC_cert_acc_72, "certified_acc_72" },
            { RC_cert_acc_108, "certified_acc_108" }, { RC_lipschitz, "lipschitz" },
        };
        for (int i = 0; i < nrows; i++)
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
                set_from(&rows[i], keys[k].col, cj, keys[k].key);
        json_decref(cj);
    }
    free(json);
    return rc;
}

/* The robust accuracy after each attack of the ensemble, whichever
 * attacks the JSON lists (the ensembles differ by version and grow). */
static int fill_after(result_row *row, const json_t *ev, const char *name,
                      char *err, size_t errlen)
{
    const json_t *attacks = json_object_get(ev, "attacks");
    if (attacks && !json_is_array(attacks)) {
        snprintf(err, errlen, "%s: \"attacks\" is not an array", name);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(attacks); i++) {
        const json_t *item = json_array_get(attacks, i);
        if (!json_is_object(item)) {
            snprintf(err, errlen, "%s: attacks[%zu] is not an object", name, i);
            return -1;
        }
        char *attack = jobj_text(item, "name");
        char *acc = jobj_text(item, "robust_acc");
        if (attack && acc)
            result_row_set_after(row, attack, acc);
        free(attack);
        free(acc);
    }
    return 0;
}

/* The strong evaluation at eps (grid `strong`; docs/METHODS.md 9):
 * AutoAttack on the cell's checkpoint.  Its per-image records
 * (strong-epsE.csv) let a killed attempt continue where it stopped; the
 * command line beside them (strong-epsE.cmd) says which settings they were
 * made with, and records of other settings are dropped, not resumed. */
static int run_strong(run *r, double eps, result_row *row)
{
    const grid *g = r->g;
    char *base = xasprintf("%s/%seps%.10g", r->dir, STRONG_PREFIX, eps);
    char *json = xasprintf("%s.json", base), *csv = xasprintf("%s.csv", base);
    char *cmd = xasprintf("%s.cmd", base);
    strvec argv = { 0 };
    push_on_checkpoint(r, &argv, "attack", "autoattack");
    if (g->strong != GRID_STRONG_AUTO) {   /* auto: the binary's choice */
        strvec_push(&argv, "--version");
        strvec_push(&argv, grid_strong_names[g->strong]);
    }
    if (g->strong_quick)
        strvec_push(&argv, "--quick");
    strvec_push(&argv, "--eps");
    strvec_pushf(&argv, "%.10g/255", eps);
    push_common(r, &argv);
    if (grid_strong_limit(g) > 0) {
        strvec_push(&argv, "--limit");
        strvec_pushf(&argv, "%d", grid_strong_limit(g));
    }
    strvec_push(&argv, "--json");
    strvec_push(&argv, json);
    strvec_push(&argv, "--csv");
    strvec_push(&argv, csv);
    char *text = argv_text(&argv);
    strvec_push(&argv, "--resume");
    strvec_push(&argv, "--quiet");
    int rc = CELL_RUN_FINISHED;
    if (!stamp_matches(cmd, text) &&
        ((unlink(csv) != 0 && errno != ENOENT) ||
         file_write_atomic(cmd, text, strlen(text)) != 0))
        rc = fail(r, "%s: %s", cmd, strerror(errno));
    char *what = xasprintf("strong evaluation at eps %.10g/255", eps);
    int status;
    int code = rc == CELL_RUN_FINISHED ? run_step(r, what, &argv, &status) : 0;
    json_t *ev = NULL;
    char err[512];
    if (rc != CELL_RUN_FINISHED) {
        /* said */
    } else if (code != 0) {
        char *why = proc_describe(status);
        rc = fail(r, "%s: %s; see %s/%s", what, why, r->dir, CELL_LOG);
        free(why);
    } else if (!(ev = jobj_read(json, err, sizeof err)) ||
               fill_after(row, ev, json, err, sizeof err) != 0) {
        rc = fail(r, "%s: %s", what, err);
    } else {
        static const struct { int col; const char *key; } keys[] = {
            { RC_strong_clean_acc, "clean_acc" },
            { RC_strong_robust_acc, "robust_acc" }, { RC_strong_n, "n" },
            { RC_strong_seconds, "wall_s" }, { RC_strong_ensemble, "ensemble" },
        };
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            set_from(row, keys[k].col, ev, keys[k].key);
        result_row_set(row, RC_strong_quick, g->strong_quick ? "1" : "0");
        if (!row->f[RC_strong_robust_acc])
            rc = fail(r, "%s: %s has no robust_acc", what, json);
    }
    json_decref(ev);
    strvec_free(&argv);
    free(what);
    free(text);
    free(cmd);
    free(csv);
    free(json);
    free(base);
    return rc;
}

/* The cell's copy of its model's description, for reports made where the
 * binaries are not (model_desc.h). */
static int keep_description(run *r)
{
    const char *text = r->g->desc[r->c->model].text;
    char *path = path_join(r->dir, MODEL_DESC_FILE);
    int rc = file_write_atomic(path, text, strlen(text)) == 0 ? CELL_RUN_FINISHED
             : fail(r, "%s: %s", path, strerror(errno));
    free(path);
    return rc;
}

static int run_cell_locked(run *r)
{
    const cell *c = r->c;
    int rc = run_train(r);
    if (rc == TRAIN_DIVERGED)
        return CELL_RUN_FINISHED;
    if (rc != CELL_RUN_FINISHED)
        return rc;
    result_row *rows = xcalloc((size_t)c->neps, sizeof *rows);
    for (int e = 0; e < c->neps && rc == CELL_RUN_FINISHED; e++)
        rc = run_eval(r, r->g->eps[c->eps_first + e], &rows[e]);
    if (rc == CELL_RUN_FINISHED && r->g->certify)
        rc = run_certify(r, rows, c->neps);
    for (int e = 0; e < c->neps && rc == CELL_RUN_FINISHED; e++)
        if (grid_strong_at(r->g, r->g->eps[c->eps_first + e]))
            rc = run_strong(r, r->g->eps[c->eps_first + e], &rows[e]);
    if (rc == CELL_RUN_FINISHED)
        rc = write_rows(r, rows, c->neps);
    for (int e = 0; e < c->neps; e++)
        result_row_free(&rows[e]);
    free(rows);
    return rc;
}

int cell_run(const grid *g, const cell *c, int verbose)
{
    run r = { .g = g, .c = c, .model = g->models.v[c->model],
              .log_fd = -1, .verbose = verbose };
    grid_model_settings(g, c->model, &r.ms);
    /* Cells share cores with other cells (-j, Slurm packing a node): an
     * OpenMP thread that spins while another process holds its core slows
     * both many times over.  A value the user set is kept. */
    setenv("OMP_WAIT_POLICY", "passive", 0);
    r.dir = cell_dir(g, c);
    if (mkdirs(r.dir, NULL, NULL) != 0) {
        fprintf(stderr, "advcc-study: %s: %s\n", r.dir, strerror(errno));
        free(r.dir);
        return CELL_RUN_FAILED;
    }
    char *lock_path = path_join(r.dir, CELL_LOCK);
    /* not close-on-exec: the binaries hold the lock as long as they live */
    int lock = lock_take(lock_path, 0, 0);
    free(lock_path);
    if (lock < 0) {
        int busy = errno == EWOULDBLOCK;
        if (!busy)
            fprintf(stderr, "advcc-study: %s/%s: %s\n", r.dir, CELL_LOCK,
                    strerror(errno));
        free(r.dir);
        return busy ? CELL_RUN_BUSY : CELL_RUN_FAILED;
    }
    char *result = path_join(r.dir, CELL_RESULT);
    int finished = path_exists(result);
    free(result);
    int rc = CELL_RUN_FINISHED;
    if (!finished) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        time_t now = time(NULL);
        char since[32];
        strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", localtime(&now));
        if (ftruncate(lock, 0) == 0)
            dprintf(lock, "running on %s, pid %ld, since %s\n", host,
                    (long)getpid(), since);
        r.binary = path_join(g->bin, r.model);
        strvec argv = { 0 };
        train_argv(&r, &argv);
        r.train_cmd = argv_text(&argv);
        strvec_free(&argv);
        r.trained = training_done(&r);
        if (dir_clear_except(r.dir, r.trained ? kept_after_training : kept_lock,
                             NULL) != 0)
            rc = fail(&r, "cannot empty %s: %s", r.dir, strerror(errno));
        char *log = path_join(r.dir, CELL_LOG);
        if (rc == CELL_RUN_FINISHED && access(r.binary, X_OK) != 0)
            rc = fail(&r, "no model binary %s (build it with make, or set "
                      "'bin' in the grid)", r.binary);
        else if (rc == CELL_RUN_FINISHED &&
                 (r.log_fd = open(log, O_WRONLY | O_CREAT | O_CLOEXEC |
                                  (r.trained ? O_APPEND : O_TRUNC), 0666)) < 0)
            rc = fail(&r, "%s: %s", log, strerror(errno));
        if (rc == CELL_RUN_FINISHED && g->desc)
            rc = keep_description(&r);
        if (rc == CELL_RUN_FINISHED)
            rc = run_cell_locked(&r);
        free(log);
    }
    if (r.log_fd >= 0)
        close(r.log_fd);
    json_decref(r.train);
    free(r.train_cmd);
    free(r.binary);
    free(r.dir);
    close(lock);
    return rc;
}
