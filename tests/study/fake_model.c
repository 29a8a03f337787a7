/* fake_model.c - a stand-in for the model binaries (build/bin/<model>)
 * that obeys their command line (train, eval/attack, features, info) and
 * writes the same files, atomically, with numbers that depend only on the
 * model's name, the seed and the eps: fast, deterministic, and able to
 * misbehave on request, for the tests of the study tool.
 *
 * Installed under each model's name (a symlink); the name is argv[0]'s
 * base name.  Environment:
 *   FAKE_STEP_MS=N      sleep per training step (default 0)
 *   FAKE_EVAL_MS=N      sleep per evaluation (default 0)
 *   FAKE_DIVERGE=LIST   model or model:seed, comma separated: the training
 *                       loss becomes NaN at step 3 (ADVCC_EXIT_DIVERGED; with
 *                       FAKE_DIVERGE_SILENT=1 without saying so on stderr)
 *   FAKE_DIE=M:S:STAGE  model M, seed S kills itself with SIGKILL halfway
 *                       through STAGE (train, eval or strong: `attack
 *                       --attack autoattack`, after writing the per-image
 *                       records of the first half), leaving a temporary
 *                       file; with FAKE_DIE_ONCE=FILE only if FILE does not
 *                       exist yet (it is created first)
 *   FAKE_FEATURES=0     no `features` command (as older binaries)
 *   FAKE_AA_ATTACKS=L   the attacks of the autoattack ensemble, comma
 *                       separated (default: standard apgd-ce,apgd-t,square;
 *                       rand apgd-ce,apgd-dlr; rand for models named *rse*)
 *   FAKE_LOG=FILE       append "model command seed eps" for every call
 *                       (autoattack: command "strong", or "strong-resumed"
 *                       when --resume found records)
 *   FAKE_ARGV=FILE      append every command line, one a line
 *
 * `info --json` prints the model's description: the file <argv[0]>.json
 * when there is one (a test's spec), else one made from the name, whose
 * '_'-separated parts adv, quant, reg and rse are its patches on the base
 * made of the other parts (or baseline).  Its patches decide the numbers
 * (adv: more robust) and its train.epochs and attack PGD settings are the
 * defaults of train and eval, as a spec's are a real binary's. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "atomic_file.h"
#include "npy.h"
#include "vocab.h"

static const char *model = "fake";
static json_t *desc;        /* the description */

typedef struct opts {
    int seed, threads, epochs, limit, test_limit, batch, steps, restarts, eot;
    int index, quick, resume;
    double eps, alpha;
    const char *out, *checkpoint, *json, *init, *dataset, *attack, *version, *csv;
} opts;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* a uniform number in [0,1) from the model, seed and the other keys */
static double uniform(int seed, double eps, uint64_t tag)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *s = model; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = mix(h ^ mix((uint64_t)seed) ^ mix((uint64_t)(eps * 1e6) + 7) ^ mix(tag + 99));
    return (double)(h >> 11) / 9007199254740992.0;
}

/* 1 when the model's patches include part */
static int has(const char *part)
{
    json_t *patches = json_object_get(desc, "patches");
    for (size_t i = 0; i < json_array_size(patches); i++) {
        const char *p = json_string_value(json_array_get(patches, i));
        if (p && !strcmp(p, part))
            return 1;
    }
    return 0;
}

/* The description: <argv0>.json, else one made from the name. */
static json_t *describe(const char *argv0)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.json", argv0);
    if (access(path, R_OK) == 0) {
        json_error_t e;
        json_t *d = json_load_file(path, 0, &e);
        if (!d) {
            fprintf(stderr, "%s: %s:%d: %s\n", model, path, e.line, e.text);
            exit(1);
        }
        return d;
    }
    static const char *const known[] = { "adv", "quant", "reg", "rse", NULL };
    json_t *patches = json_array();
    char base[128] = "", *copy = strdup(model), *save = NULL;
    for (char *w = strtok_r(copy, "_", &save); w; w = strtok_r(NULL, "_", &save)) {
        int patch = 0;
        for (int i = 0; known[i]; i++)
            patch |= !strcmp(w, known[i]);
        if (patch)
            json_array_append_new(patches, json_string(w));
        else
            snprintf(base + strlen(base), sizeof base - strlen(base), "%s%s",
                     *base ? "_" : "", w);
    }
    free(copy);
    int adv = 0, quant = 0, reg = 0, rse = 0;
    for (size_t i = 0; i < json_array_size(patches); i++) {
        const char *p = json_string_value(json_array_get(patches, i));
        adv |= !strcmp(p, "adv");
        quant |= !strcmp(p, "quant");
        reg |= !strcmp(p, "reg");
        rse |= !strcmp(p, "rse");
    }
    json_t *d = json_pack("{s:s, s:i, s:s, s:s, s:o, s:b, s:s, s:{s:i, s:b}, "
                          "s:{s:s, s:f, s:i, s:i, s:s, s:i}, s:{s:i}}",
                          "format", "advcc-model-description", "format_version", 1,
                          "name", model, "base", *base ? base : "baseline",
                          "patches", patches, "adversarial", adv, "dataset", "cifar10",
                          "train", "epochs", 10, "adversarial", adv,
                          "attack", "method", "pgd", "alpha_255", 2.0, "steps", 4,
                          "restarts", 1, "init", "gaussian", "eot", 1,
                          "ensemble", "passes", rse ? 5 : 1);
    json_t *q = json_array(), *z = json_array(), *r = json_array();
    if (quant)
        json_array_append_new(q, json_pack("{s:s, s:i}", "layer", "conv1", "bits", 8));
    if (rse)
        json_array_append_new(z, json_pack("{s:s, s:f}", "layer", "noise1", "sigma", 0.1));
    if (reg)
        json_array_append_new(r, json_pack("{s:s, s:s}", "layer", "conv1", "kind", "orthogonal"));
    json_object_set_new(d, "quantize", q);
    json_object_set_new(d, "noise", z);
    json_object_set_new(d, "regularize", r);
    return d;
}

static void sleep_ms(const char *var)
{
    const char *v = getenv(var);
    long ms = v ? atol(v) : 0;
    if (ms > 0)
        nanosleep(&(struct timespec){ ms / 1000, ms % 1000 * 1000000L }, NULL);
}

static void log_call(const char *command, const opts *o)
{
    const char *path = getenv("FAKE_LOG");
    if (!path)
        return;
    char line[256];
    int n = snprintf(line, sizeof line, "%s %s %d %g\n", model, command,
                     o->seed, o->eps * 255);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) != n)
            perror("FAKE_LOG");
        close(fd);
    }
}

/* FAKE_ARGV=FILE: the command line, appended as one line */
static void log_argv(int argc, char **argv)
{
    const char *path = getenv("FAKE_ARGV");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    for (int i = 0; i < argc; i++)
        fprintf(f, "%s%s", i ? " " : "", i ? argv[i] : model);
    fputc('\n', f);
    fclose(f);
}

static int listed(const char *var, int seed)
{
    const char *v = getenv(var);
    if (!v)
        return 0;
    char *copy = strdup(v), *save = NULL;
    int hit = 0;
    for (char *w = strtok_r(copy, ",", &save); w && !hit;
         w = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(w, ':');
        if (colon)
            *colon = '\0';
        hit = !strcmp(w, model) && (!colon || atoi(colon + 1) == seed);
    }
    free(copy);
    return hit;
}

/* FAKE_DIE=model:seed:stage, once per FAKE_DIE_ONCE file */
static void maybe_die(const char *stage, int seed, const char *tmp_dir)
{
    const char *v = getenv("FAKE_DIE");
    if (!v)
        return;
    char m[64], s[64];
    int sd;
    if (sscanf(v, "%63[^:]:%d:%63s", m, &sd, s) != 3)
        return;
    if (strcmp(m, model) || sd != seed || strcmp(s, stage))
        return;
    const char *once = getenv("FAKE_DIE_ONCE");
    if (once) {
        int fd = open(once, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0)
            return;     /* died before */
        close(fd);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/partial.tmp.%ld", tmp_dir, (long)getpid());
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("half", f);
        fclose(f);
    }
    raise(SIGKILL);
}

static int write_text(const char *path, const char *text)
{
    atomic_file af;
    if (atomic_open(&af, path) != 0 || fputs(text, af.fp) < 0) {
        fprintf(stderr, "%s: %s: %s\n", model, path, strerror(errno));
        return -1;
    }
    return atomic_commit(&af);
}

/* o as one compact line of JSON in path; o is released. */
static int write_json(const char *path, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text) {
        fprintf(stderr, "%s: %s: out of memory\n", model, path);
        return -1;
    }
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return -1;
    }
    memcpy(line + n, "\n", 2);
    int rc = write_text(path, line);
    free(line);
    return rc;
}

static char *join(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int cmd_train(const opts *o)
{
    log_call("train", o);
    int images = o->limit > 0 ? o->limit : 500;
    int steps = o->epochs * ((images + o->batch - 1) / o->batch);
    int per_epoch = steps / o->epochs;
    int diverge = listed("FAKE_DIVERGE", o->seed) ? 3 : 0;
    double tau = has("reg") ? 8.0 : 4.0;
    atomic_file af;
    if (atomic_open(&af, join(o->out, "train_loss.csv")) != 0) {
        fprintf(stderr, "%s: %s: %s\n", model, o->out, strerror(errno));
        return 1;
    }
    fprintf(af.fp, "step,epoch,loss\n");
    double loss = 0;
    int step;
    for (step = 1; step <= steps; step++) {
        sleep_ms("FAKE_STEP_MS");
        if (step == steps / 2 + 1)
            maybe_die("train", o->seed, o->out);
        loss = 0.6 + 1.7 * exp(-step / tau) +
               0.05 * (uniform(o->seed, o->eps, (uint64_t)step) - 0.5);
        if (step == diverge)
            loss = NAN;
        fprintf(af.fp, "%d,%d,%.6f\n", step, (step - 1) / per_epoch + 1, loss);
        if (isnan(loss))
            break;
    }
    atomic_commit(&af);
    if (diverge && diverge <= steps) {
        write_json(join(o->out, "train.json"),
                   json_pack("{s:s, s:i, s:i, s:i, s:i, s:n, s:n, s:f, s:s, s:i, s:s}",
                             "model", model, "seed", o->seed, "epochs", o->epochs,
                             "limit", o->limit, "steps", diverge, "final_loss",
                             "clean_acc", "train_s", 0.01, "status", "diverged",
                             "diverged_step", diverge, "version", "fake 1.0"));
        if (!getenv("FAKE_DIVERGE_SILENT"))
            fprintf(stderr, "%s: training diverged at step %d (loss nan)\n", model,
                    diverge);
        return ADVCC_EXIT_DIVERGED;
    }
    char ck[256];
    snprintf(ck, sizeof ck, "fake %s %d %.10g\n", model, o->seed, o->eps * 255);
    if (write_text(join(o->out, "checkpoint.safetensors"), ck) != 0)
        return 1;
    double clean = 0.6 + (has("adv") ? 0.03 : 0) + 0.02 * uniform(o->seed, 0, 1);
    char provenance[256];
    snprintf(provenance, sizeof provenance, "fake %s train # fake 1.0", model);
    if (write_json(join(o->out, "train.json"),
                   json_pack("{s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:s, s:n, s:s, s:s}",
                             "model", model, "seed", o->seed, "epochs", o->epochs,
                             "limit", o->limit, "steps", steps, "final_loss", loss,
                             "clean_acc", clean, "train_s", 0.01, "status", "ok",
                             "diverged_step", "version", "fake 1.0",
                             "provenance", provenance)) != 0)
        return 1;
    if (!getenv("FAKE_QUIET_TRAIN"))
        printf("%s: trained %d steps, clean accuracy %.4f\n", model, steps, clean);
    return 0;
}

/* The seed and training eps a fake checkpoint records; 0, or -1. */
static int read_checkpoint(const opts *o, int *seed, double *train_eps)
{
    char text[256] = "", name[64];
    FILE *f = o->checkpoint ? fopen(o->checkpoint, "r") : NULL;
    int ok = f && fgets(text, sizeof text, f) &&
             sscanf(text, "fake %63s %d %lf", name, seed, train_eps) == 3;
    if (f)
        fclose(f);
    if (!ok)
        fprintf(stderr, "%s: %s: not a checkpoint\n", model,
                o->checkpoint ? o->checkpoint : "(none)");
    return ok ? 0 : -1;
}

/* The directory of a file, for maybe_die's temporary. */
static const char *dir_of(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash)
        return ".";
    *slash = '\0';
    return buf;
}

/* trained at train_eps: the same numbers as in train, from the seed */
static double clean_acc(int seed)
{
    return 0.6 + (has("adv") ? 0.03 : 0) + 0.02 * uniform(seed, 0, 1);
}

/* PGD's attack success on a checkpoint of (seed, train_eps) at eps */
static double pgd_success(int seed, double train_eps, double eps255)
{
    double success = (0.2 + 0.04 * eps255) *
                     (has("adv") ? 0.4 : has("rse") ? 0.5 : 1.0) +
                     0.03 * uniform(seed, eps255 / 255 + train_eps, 2);
    if (has("quant"))
        success += 0.002;
    return success > 0.99 ? 0.99 : success;
}

/* `attack --attack autoattack`: each image correct clean or not and then
 * broken by one attack of the ensemble or none, from its index alone, so
 * that a resumed run ends with the numbers of an uninterrupted one.  The
 * ensemble leaves 60% of what PGD leaves (rse: 20%, its noise fooled PGD).
 * Records: "index,broken_by" under a line naming the settings. */
static int cmd_strong(const opts *o)
{
    int seed;
    double train_eps;
    if (read_checkpoint(o, &seed, &train_eps) != 0)
        return 1;
    const char *version = o->version ? o->version : has("rse") ? "rand" : "standard";
    const char *list = getenv("FAKE_AA_ATTACKS");
    if (!list)
        list = !strcmp(version, "rand") ? "apgd-ce,apgd-dlr" : "apgd-ce,apgd-t,square";
    char attacks[8][32];
    int na = 0;
    for (const char *p = list; *p && na < 8; na++) {
        size_t len = strcspn(p, ",");
        snprintf(attacks[na], sizeof attacks[na], "%.*s", (int)len, p);
        p += len + (p[len] == ',');
    }
    int n = o->limit > 0 ? o->limit : 1000;
    double eps255 = o->eps * 255;
    char signature[256];
    snprintf(signature, sizeof signature, "# fake %s autoattack %s quick %d eps %.10g n %d seed %d %s",
             model, version, o->quick, eps255, n, o->seed, list);
    int *by = malloc((size_t)n * sizeof *by);     /* -2: not done yet */
    for (int i = 0; i < n; i++)
        by[i] = -2;
    int resumed = 0;
    FILE *f = o->resume && o->csv ? fopen(o->csv, "r") : NULL;
    if (f) {
        char line[512];
        if (!fgets(line, sizeof line, f) || strncmp(line, signature, strlen(signature))) {
            fprintf(stderr, "%s: %s was written by a different attack\n", model, o->csv);
            fclose(f);
            free(by);
            return 1;
        }
        int i, b;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "%d,%d", &i, &b) == 2 && i >= 0 && i < n) {
                by[i] = b;
                resumed++;
            }
        fclose(f);
    }
    log_call(resumed ? "strong-resumed" : "strong", o);
    double clean = clean_acc(seed);
    double survive = (1 - pgd_success(seed, train_eps, eps255)) * (has("rse") ? 0.2 : 0.6);
    char dir[4096];
    for (int i = 0; i < n; i++) {
        if (by[i] != -2)
            continue;
        if (uniform(seed, 0, 1000 + (uint64_t)i) >= clean)
            by[i] = -1;         /* wrong clean */
        else {
            double u = uniform(seed, eps255 / 255 + train_eps, 5000 + (uint64_t)i);
            by[i] = u < survive ? na : (int)((u - survive) / (1 - survive) * na);
        }
        if (o->csv && i == n / 2) {
            atomic_file af;
            if (atomic_open(&af, o->csv) == 0) {
                fprintf(af.fp, "%s\n", signature);
                for (int k = 0; k <= i; k++)
                    if (by[k] != -2)
                        fprintf(af.fp, "%d,%d\n", k, by[k]);
                atomic_commit(&af);
            }
            maybe_die("strong", seed, dir_of(o->csv, dir, sizeof dir));
        }
    }
    int correct = 0, left[8] = { 0 };
    for (int i = 0; i < n; i++) {
        correct += by[i] >= 0;
        for (int a = 0; a < na; a++)
            left[a] += by[i] > a;
    }
    free(by);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    json_t *runs = json_array();
    for (int a = 0; a < na; a++)
        json_array_append_new(runs, json_pack("{s:s, s:f, s:f}", "name", attacks[a],
                                              "robust_acc", (double)left[a] / n,
                                              "seconds", 0.01));
    json_t *result = json_pack("{s:s, s:i, s:s, s:s, s:f, s:f, s:i, s:f, s:o, s:f, "
                               "s:{s:[i, i], s:b}, s:f, s:s, s:s}",
                               "model", model, "seed", o->seed, "attack", "autoattack",
                               "ensemble", version, "eps", o->eps, "eps_255", eps255,
                               "n", n, "clean_acc", (double)correct / n, "attacks", runs,
                               "robust_acc", (double)left[na - 1] / n,
                               "sanity", "checked", 1, 2, "ok", 1, "wall_s", 0.02,
                               "host", host, "version", "fake 1.0");
    printf("robust accuracy %.4f\n", (double)left[na - 1] / n);
    if (!o->json) {
        json_decref(result);
        return 0;
    }
    return write_json(o->json, result) != 0 ? 1 : 0;
}

static int cmd_eval(const opts *o)
{
    if (o->attack && !strcmp(o->attack, "autoattack"))
        return cmd_strong(o);
    log_call("eval", o);
    int seed;
    double train_eps;
    if (read_checkpoint(o, &seed, &train_eps) != 0)
        return 1;
    sleep_ms("FAKE_EVAL_MS");
    char dir[4096];
    if (o->json)
        maybe_die("eval", seed, dir_of(o->json, dir, sizeof dir));
    int n = o->limit > 0 ? o->limit : 1000;
    double eps255 = o->eps * 255;
    double clean = clean_acc(seed);
    int correct = (int)lround(clean * n);
    double success = pgd_success(seed, train_eps, eps255);
    int robust = (int)lround(correct * (1 - success));
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    json_t *result = json_pack("{s:s, s:i, s:f, s:f, s:f, s:i, s:i, s:s, s:i, s:i, s:f, "
                               "s:f, s:f, s:f, s:s, s:s, s:s}",
                               "model", model, "seed", o->seed, "eps", o->eps,
                               "eps_255", eps255, "alpha", o->alpha, "steps", o->steps,
                               "restarts", o->restarts, "init", o->init, "eot", o->eot,
                               "n", n, "clean_acc", (double)correct / n,
                               "robust_acc", (double)robust / n, "attack_success",
                               correct ? 1.0 - (double)robust / correct : 0.0,
                               "wall_s", 0.01, "host", host, "version", "fake 1.0",
                               "checkpoint", o->checkpoint);
    printf("clean accuracy %.4f, robust accuracy %.4f\n", (double)correct / n,
           (double)robust / n);
    if (!o->json) {
        json_decref(result);
        return 0;
    }
    return write_json(o->json, result) != 0 ? 1 : 0;
}

static int cmd_features(const opts *o)
{
    const char *v = getenv("FAKE_FEATURES");
    if (v && !strcmp(v, "0")) {
        fprintf(stderr, "%s: unknown command 'features'\n", model);
        return ADVCC_EXIT_USAGE;
    }
    log_call("features", o);
    if (!o->out || !o->checkpoint || access(o->checkpoint, R_OK) != 0) {
        fprintf(stderr, "%s: features needs --checkpoint and --out\n", model);
        return ADVCC_EXIT_USAGE;
    }
    enum { C = 8, H = 16, W = 16 };
    static float x[C * H * W];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                x[(c * H + i) * W + j] = (float)sin(0.3 * (c + 1) * i + 0.2 * j +
                                                    o->index + strlen(model));
    int shape[3] = { C, H, W };
    char err[256];
    if (npy_write(o->out, x, 3, shape, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", model, err);
        return 1;
    }
    return 0;
}

/* "8/255", "0.03" */
static double budget(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end == '/')
        v /= strtod(end + 1, NULL);
    return v;
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    model = base ? base + 1 : argv[0];
    desc = describe(argv[0]);
    log_argv(argc, argv);
    if (argc < 2) {
        fprintf(stderr, "usage: %s train|eval|attack|features|info ...\n", model);
        return ADVCC_EXIT_USAGE;
    }
    const char *command = argv[1];
    if (!strcmp(command, "info")) {
        if (argc == 3 && !strcmp(argv[2], "--json")) {
            if (getenv("FAKE_NO_DESCRIPTION")) {
                fprintf(stderr, "%s info: unexpected argument '--json'\n", model);
                return ADVCC_EXIT_USAGE;
            }
            char *text = json_dumps(desc, JSON_INDENT(2));
            puts(text);
            free(text);
            return 0;
        }
        printf("model %s (fake)\n", model);
        return 0;
    }
    /* the spec's settings are the defaults */
    json_t *train = json_object_get(desc, "train"), *attack = json_object_get(desc, "attack");
    opts o = { .seed = 0, .threads = 1,
               .epochs = (int)json_integer_value(json_object_get(train, "epochs")),
               .batch = 100,
               .steps = (int)json_integer_value(json_object_get(attack, "steps")),
               .restarts = (int)json_integer_value(json_object_get(attack, "restarts")),
               .eot = (int)json_integer_value(json_object_get(attack, "eot")),
               .eps = 8.0 / 255,
               .alpha = json_number_value(json_object_get(attack, "alpha_255")) / 255,
               .init = json_string_value(json_object_get(attack, "init")),
               .dataset = json_string_value(json_object_get(desc, "dataset")) };
    static const struct option lo[] = {
        { "seed", 1, 0, 's' }, { "threads", 1, 0, 't' }, { "epochs", 1, 0, 'e' },
        { "limit", 1, 0, 'l' }, { "test-limit", 1, 0, 'L' }, { "batch", 1, 0, 'b' },
        { "lr", 1, 0, 'r' }, { "dataset", 1, 0, 'd' }, { "out", 1, 0, 'o' },
        { "quiet", 0, 0, 'q' }, { "eps", 1, 0, 'E' }, { "alpha", 1, 0, 'a' },
        { "steps", 1, 0, 'S' }, { "restarts", 1, 0, 'R' }, { "init", 1, 0, 'i' },
        { "eot", 1, 0, 'T' }, { "checkpoint", 1, 0, 'c' }, { "attack", 1, 0, 'A' },
        { "json", 1, 0, 'j' }, { "index", 1, 0, 'I' }, { "help", 0, 0, 'h' },
        { "version", 1, 0, 'V' }, { "quick", 0, 0, 'Q' }, { "csv", 1, 0, 'C' },
        { "resume", 0, 0, 'U' }, { 0, 0, 0, 0 }
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", lo, NULL)) != -1) {
        switch (c) {
        case 's': o.seed = atoi(optarg); break;
        case 't': o.threads = atoi(optarg); break;
        case 'e': o.epochs = atoi(optarg); break;
        case 'l': o.limit = atoi(optarg); break;
        case 'L': o.test_limit = atoi(optarg); break;
        case 'b': o.batch = atoi(optarg); break;
        case 'd': o.dataset = optarg; break;
        case 'o': o.out = optarg; break;
        case 'E': o.eps = budget(optarg); break;
        case 'a': o.alpha = budget(optarg); break;
        case 'S': o.steps = atoi(optarg); break;
        case 'R': o.restarts = atoi(optarg); break;
        case 'i': o.init = optarg; break;
        case 'T': o.eot = atoi(optarg); break;
        case 'c': o.checkpoint = optarg; break;
        case 'j': o.json = optarg; break;
        case 'I': o.index = atoi(optarg); break;
        case 'h': printf("usage: %s %s [options]\n", model, command); return 0;
        case 'A': o.attack = optarg; break;
        case 'V': o.version = optarg; break;
        case 'Q': o.quick = 1; break;
        case 'C': o.csv = optarg; break;
        case 'U': o.resume = 1; break;
        case 'q': case 'r': break;
        default: return ADVCC_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "%s: unexpected argument\n", model);
        return ADVCC_EXIT_USAGE;
    }
    if (!strcmp(command, "train")) {
        if (!o.out || o.epochs < 1 || o.batch < 1) {
            fprintf(stderr, "%s: train needs --out\n", model);
            return ADVCC_EXIT_USAGE;
        }
        return cmd_train(&o);
    }
    if (!strcmp(command, "eval") || !strcmp(command, "attack"))
        return cmd_eval(&o);
    if (!strcmp(command, "features"))
        return cmd_features(&o);
    fprintf(stderr, "%s: unknown command '%s'\n", model, command);
    return ADVCC_EXIT_USAGE;
}
