/* dump_model.c - one training step and PGD attacks of a generated model,
 * written to disk for the PyTorch reference check (tests/oracle/oracle.py).
 *
 * Built once per model with -DADVCC_MODEL=advcc_model_<name>.  From a seed it
 * initialises the parameters, takes a small fixed batch (the first test
 * images of the model's dataset, or random pixels), and writes into DIR:
 *
 *   init.safetensors      the parameters the step starts from (those of
 *                         `MODEL train --seed N`, then the --fill options:
 *                         e.g. DTReLU bounds that clip on both sides)
 *   x.npy, labels.npy     the batch (labels as float32)
 *   logits.npy            forward in training mode (batch statistics)
 *   grads.safetensors     parameter gradients of the mean cross-entropy
 *   dx.npy                its input gradient
 *   after.safetensors     the parameters after that forward: running
 *                         statistics updated, everything else unchanged
 *   frozen_logits.npy     forward in frozen-training mode afterwards
 *   frozen.safetensors    the parameters after it (nothing may move)
 *   eval_logits.npy       forward in evaluation mode (running statistics)
 *   eval_dx.npy           the attack's input-only backward after it
 *   sgd1.safetensors, sgd2.safetensors, ...
 *                         from init, parameters after each of --steps (2)
 *                         optimiser steps of the model's recipe on the same
 *                         batch (the second one exercises momentum), at the
 *                         learning rate its schedule gives step k - 1 with
 *                         --steps-per-epoch (1) steps an epoch
 *   sgd<k>_grads.safetensors, sgd<k>_velocity.safetensors,
 *   sgd<k>_second.safetensors
 *                         step k's gradient (regulariser included) and the
 *                         velocity (Adam's first moment) after it, and
 *                         Adam's second moment: with sgd<k-1> (init for
 *                         k = 1) the whole state step k starts from and
 *                         ends in, so that each step is checked from the
 *                         runtime's own state
 *   pgd.safetensors       from init, the parameters after two more
 *                         training forwards on the batch: running
 *                         statistics moved, so that evaluation mode is not
 *                         the identity; the attacks below run on these
 *   pgd_dx.npy            infer_loss_grad at x in evaluation mode: the
 *                         input gradient of the summed cross-entropy
 *   pgd_<name>.npy        pgd_attack's images in evaluation mode, true
 *                         labels, L-infinity, no random start, for each
 *                         attack of pgd_runs[]
 *   pgd_<name>_path.npy   [steps][batch][c][h][w]: its iterates, iterate s
 *                         the same attack stopped after s steps (the last
 *                         one is pgd_<name>.npy)
 *   meta.json             model, seed, data source, losses, the
 *                         optimiser's settings and each step's learning
 *                         rate, PGD settings, and the kind of every tensor
 *
 * A model with a regulariser (model->regularize) also writes, after the
 * training step's backward, what train.c does next:
 *
 *   reg_grads.safetensors  the step's gradient: grads plus the
 *                          regulariser's, added by regularize()
 *   reg_after.safetensors  the parameters after it (the power iteration's
 *                          u, v moved, nothing else)
 *   reg_only.safetensors   the regulariser's gradient alone: regularize()
 *                          again from the same u, v on zeroed gradients
 *
 * and its value and terms into meta.json ("reg"); every SGD step then runs
 * regularize() between the backward and the update, as training does.
 *
 * A model whose forward passes draw noise (RSE) writes the standard normal
 * draws of each pass, in the order drawn: noise_train.npy (the training
 * step), noise_frozen.npy, noise_eval.npy, noise_sgd1.npy, noise_sgd2.npy,
 * and noise_pgd.npy: those of the model->ensemble passes of pgd_dx.npy.
 * Its attacks are neither run nor written.
 *
 * Built with -DADVCC_DOUBLE (real_t = double, the double runtime), the
 * dumper rounds the initial parameters and the images to float32 first, so
 * that init.safetensors and x.npy hold exactly what the run starts from,
 * and writes every output in double ("F64" tensors, '<f8' arrays).  The
 * quantised models are checked that way: their forward rounds activations
 * to a grid, and float32 arithmetic puts a few of them on the other side of
 * a rounding tie from a float64 reference; each such flip moves the output
 * by a whole grid step and every later layer with it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "context.h"
#include "dataset.h"
#include "kernels.h"
#include "model.h"
#include "noise.h"
#include "npy.h"
#include "pgd.h"
#include "rng.h"
#include "schedule.h"
#include "sgd.h"

#ifndef ADVCC_MODEL
#error "compile with -DADVCC_MODEL=advcc_model_<name>"
#endif
extern const advcc_model ADVCC_MODEL;

static const char *progname = "dump_model";

/* The attacks dumped: the report's (8/255, 4 steps) and a longer one at
 * twice the budget, where more pixels come back from the ball's faces. */
static const struct pgd_run {
    const char *name;
    double eps;
    int steps;
} pgd_runs[] = {
    {"eps8", 8.0 / 255, 4},
    {"eps16", 16.0 / 255, 10},
};
#define PGD_ALPHA (2.0 / 255)
#define N_PGD_RUNS ((int)(sizeof pgd_runs / sizeof pgd_runs[0]))

#define MAX_FILLS 16

typedef struct options {
    unsigned long long seed;
    int batch;
    const char *data;   /* auto, random, cifar10, fashion-mnist */
    const char *out;
    double lr, momentum, weight_decay;
    int steps;          /* optimiser steps dumped */
    long per_epoch;     /* steps an epoch, for the schedule */
    int n_fills;        /* --fill SUFFIX=VALUE, in order */
    const char *fill_suffix[MAX_FILLS];
    double fill_value[MAX_FILLS];
} options;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: %s --out DIR [--seed N] [--batch N] [--data auto|random|cifar10|fashion-mnist]\n"
        "          [--lr X] [--momentum X] [--weight-decay X] [--fill SUFFIX=X]...\n"
        "          [--steps N] [--steps-per-epoch N]\n"
        "Runs one training step and PGD attacks of model %s and writes their\n"
        "inputs, outputs and gradients into DIR for tests/oracle/oracle.py.\n"
        "  --data auto   CIFAR-10 test images when $CIFAR10_DIR is set and the\n"
        "                model takes 3x32x32 images, Fashion-MNIST for 1x28x28,\n"
        "                otherwise random pixels.\n"
        "  --fill S=X    start every tensor whose name ends in S at X (e.g.\n"
        "                .hi=1 for the DTReLU bounds); in order, at most %d.\n",
        progname, ADVCC_MODEL.name, MAX_FILLS);
}

/* Applies the --fill options to the parameters; the number of tensors
 * filled, or -1 when an option matched none. */
static int apply_fills(const options *o, real_t *params)
{
    const advcc_model *m = &ADVCC_MODEL;
    int total = 0;
    for (int k = 0; k < o->n_fills; k++) {
        size_t ls = strlen(o->fill_suffix[k]);
        int hits = 0;
        for (int i = 0; i < m->n_tensors; i++) {
            const advcc_tensor *t = &m->tensors[i];
            size_t ln = strlen(t->name);
            if (ln < ls || strcmp(t->name + ln - ls, o->fill_suffix[k]) != 0)
                continue;
            for (size_t j = 0; j < t->size; j++)
                params[t->offset + j] = (real_t)o->fill_value[k];
            hits++;
        }
        if (!hits) {
            fprintf(stderr, "%s: --fill: model %s has no tensor ending in '%s'\n",
                    progname, m->name, o->fill_suffix[k]);
            return -1;
        }
        total += hits;
    }
    return total;
}

static int fail(const char *what, const char *err)
{
    fprintf(stderr, "%s: %s: %s\n", progname, what, err);
    return -1;
}

#ifdef ADVCC_DOUBLE
/* The product's writers store float32; a double run is written at its own
 * width by these two.  Little-endian hosts only (as the readers assume). */
static int write_f64(FILE *f, const double *a, size_t n)
{
    return fwrite(a, sizeof *a, n, f) == n ? 0 : -1;
}

static int save_npy64(const char *path, const double *a, int ndim,
                      const int *shape)
{
    char dict[256];
    size_t count = 1;
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<f8', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++) {
        count *= (size_t)shape[i];
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%d%s",
                        shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    size_t hlen = ((size_t)len + 11 + 63) / 64 * 64 - 10;  /* 64-byte data */
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, sizeof pre, f);
    fprintf(f, "%s%*s\n", dict, (int)(hlen - (size_t)len - 1), "");
    int rc = write_f64(f, a, count);
    return fclose(f) != 0 || rc ? -1 : 0;
}

static int save_params64(const char *path, const advcc_model *m,
                         const double *p)
{
    json_t *hdr = json_pack("{s:{s:s}}", "__metadata__", "model", m->name);
    size_t at = 0;
    for (int i = 0; i < m->n_tensors && hdr; i++) {
        const advcc_tensor *t = &m->tensors[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        size_t bytes = t->size * sizeof *p;
        json_object_set_new(hdr, t->name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F64", "shape", shape,
                                      "data_offsets", (json_int_t)at, (json_int_t)(at + bytes)));
        at += bytes;
    }
    char *text = hdr ? json_dumps(hdr, JSON_COMPACT) : NULL;
    json_decref(hdr);
    if (!text)
        return -1;
    /* the data starts 8-aligned after the 8-byte length */
    size_t len = strlen(text);
    char *h = realloc(text, len + 8);
    if (!h) {
        free(text);
        return -1;
    }
    while ((8 + len) % 8)
        h[len++] = ' ';
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        unsigned char n8[8];
        for (int k = 0; k < 8; k++)
            n8[k] = (unsigned char)((uint64_t)len >> (8 * k));
        rc = fwrite(n8, 1, 8, f) == 8 && fwrite(h, 1, len, f) == len ? 0 : -1;
        for (int i = 0; i < m->n_tensors && rc == 0; i++)
            rc = write_f64(f, p + m->tensors[i].offset, m->tensors[i].size);
        if (fclose(f) != 0)
            rc = -1;
    }
    free(h);
    return rc;
}
#endif

static int write_params(const char *dir, const char *file, const real_t *p)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
#ifdef ADVCC_DOUBLE
    (void)err;
    if (save_params64(path, &ADVCC_MODEL, p) != 0)
        return fail(path, strerror(errno));
#else
    /* every tensor, training-only ones included */
    if (checkpoint_save_all(path, &ADVCC_MODEL, p, err, sizeof err) != 0)
        return fail(path, err);
#endif
    return 0;
}

static int write_array(const char *dir, const char *file, const real_t *a,
                       int ndim, const int *shape)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
#ifdef ADVCC_DOUBLE
    (void)err;
    if (save_npy64(path, a, ndim, shape) != 0)
        return fail(path, strerror(errno));
#else
    if (npy_write(path, a, ndim, shape, err, sizeof err) != 0)
        return fail(path, err);
#endif
    return 0;
}

/* Rounds a to float32 values (a no-op in the float build). */
static void round_to_float(real_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (real_t)(float)a[i];
}

/* ---- noise: what a forward pass drew (noise.h's record) ---- */

static noise_record draws;

/* Starts the record of a pass's draws. */
static void noise_begin(void)
{
    draws.n = draws.lost = 0;
    noise_log = &draws;
}

/* Writes the draws recorded since noise_begin into noise_<tag>.npy, when
 * there were any; -1 on a write error or when they did not fit. */
static int note_noise(const options *o, const char *tag)
{
    noise_log = NULL;
    if (draws.lost) {
        fprintf(stderr, "%s: %s: %ld noise draws past the record's %ld\n", progname, tag,
                draws.lost, draws.cap);
        return -1;
    }
    if (draws.n == 0)
        return 0;
    char file[64];
    snprintf(file, sizeof file, "noise_%s.npy", tag);
    int len = (int)draws.n;
    return write_array(o->out, file, draws.z, 1, &len);
}

/* A forward pass, its noise noted under tag. */
static int forward_noted(const options *o, advcc_ctx *c, const real_t *x,
                         int batch, int mode, real_t *logits, const char *tag)
{
    noise_begin();
    c->model->forward(c, x, batch, mode, logits);
    return note_noise(o, tag);
}

/* Fills x and y with the first `batch` images of the model's dataset, or
 * with random pixels and labels; returns the name of the source used. */
static const char *load_batch(const options *o, advcc_rng *rng, real_t *x,
                              int *y)
{
    const advcc_model *m = &ADVCC_MODEL;
    const char *want = o->data;
    if (strcmp(want, "auto") == 0) {
        if (m->in_c == 3 && m->in_h == 32 && m->in_w == 32 && getenv("CIFAR10_DIR"))
            want = "cifar10";
        else if (m->in_c == 1 && m->in_h == 28 && m->in_w == 28)
            want = "fashion-mnist";
        else
            want = "random";
    }
    if (strcmp(want, "random") != 0) {
        advcc_dataset d;
        char err[512];
        if (dataset_load(want, 0, &d, err, sizeof err) != 0) {
            if (strcmp(o->data, "auto") != 0) {
                fail(want, err);
                return NULL;
            }
            want = "random";    /* auto: fall back quietly */
        } else {
            if (d.c != m->in_c || d.h != m->in_h || d.w != m->in_w ||
                d.n < o->batch) {
                fprintf(stderr, "%s: %s images are %dx%dx%d (%d of them); model %s takes %dx%dx%d\n",
                        progname, want, d.c, d.h, d.w, d.n, m->name,
                        m->in_c, m->in_h, m->in_w);
                dataset_free(&d);
                return NULL;
            }
            int *idx = malloc(sizeof *idx * (size_t)o->batch);
            if (!idx) {
                dataset_free(&d);
                return NULL;
            }
            for (int i = 0; i < o->batch; i++)
                idx[i] = i;
            dataset_batch(&d, idx, o->batch, x, y);
            free(idx);
            dataset_free(&d);
            return want;
        }
    }
    size_t n = (size_t)o->batch * m->in_c * m->in_h * m->in_w;
    for (size_t i = 0; i < n; i++)
        x[i] = (real_t)rng_uniform(rng);
    for (int i = 0; i < o->batch; i++)
        y[i] = (int)rng_below(rng, (uint32_t)m->classes);
    return "random";
}

static const char *kind_name(int kind)
{
    static const char *names[] = {"weight", "bias", "bn_scale", "bn_shift",
                                  "threshold", "state"};
    return kind >= 0 && kind <= ADVCC_STATE ? names[kind] : "unknown";
}

/* The step every check starts from: forward in training mode (its noise
 * noted under tag), the mean cross-entropy, and the full backward.  0, or
 * -1 on a write error. */
static int train_pass(const options *o, advcc_ctx *c, const real_t *x,
                      const int *y, int batch, real_t *logits,
                      real_t *dlogits, real_t *dx, const char *tag,
                      double *loss)
{
    const advcc_model *m = c->model;
    if (forward_noted(o, c, x, batch, ADVCC_TRAIN, logits, tag) != 0)
        return -1;
    *loss = softmax_xent(logits, y, batch, m->classes, dlogits, NULL);
    m->backward(c, dlogits, 1, dx);
    return 0;
}

/* The regulariser's terms by name. */
static json_t *json_terms(const advcc_model *m, const double *terms)
{
    json_t *o = json_object();
    for (int i = 0; i < m->n_reg_terms; i++)
        json_object_set_new(o, m->reg_term_names[i], json_real(terms[i]));
    return o;
}

static json_t *reals(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

/* Sets key of o to v, which it takes; a NULL v (out of memory) leaves o
 * without the key, and the reader fails on it. */
static void set(json_t *o, const char *key, json_t *v)
{
    json_object_set_new(o, key, v);
}

/* From init, two training forwards (they move the running statistics),
 * then the evaluation-mode input gradient and the attacks of pgd_runs[],
 * each with the path it took.  Writes the loss at x into *loss. */
static int dump_pgd(const options *o, advcc_ctx *c, const real_t *init,
                    const real_t *x, const int *y, real_t *logits,
                    real_t *dx, double *loss)
{
    const advcc_model *m = c->model;
    int batch = o->batch;
    int xshape[4] = {batch, m->in_c, m->in_h, m->in_w};
    size_t n_in = (size_t)batch * m->in_c * m->in_h * m->in_w;
    int max_steps = 1;
    for (int k = 0; k < N_PGD_RUNS; k++)
        if (pgd_runs[k].steps > max_steps)
            max_steps = pgd_runs[k].steps;
    infer_ws inf = {0};
    pgd_ws pw = {0};
    real_t *path = malloc(sizeof *path * (size_t)max_steps * n_in);
    int rc = -1;
    if (!path || infer_init(&inf, c) != 0 || pgd_init(&pw, &inf) != 0) {
        fprintf(stderr, "%s: out of memory\n", progname);
        goto done;
    }

    memcpy(c->params, init, m->n_params * sizeof *init);
    for (int i = 0; i < 2; i++)
        m->forward(c, x, batch, ADVCC_TRAIN, logits);
    if (write_params(o->out, "pgd.safetensors", c->params))
        goto done;
    /* A randomised model's passes (model->ensemble of them, each replayed
     * for its backward) draw afresh only the first time. */
    noise_begin();
    *loss = infer_loss_grad(&inf, x, y, batch, ADVCC_EVAL, 1, 0, dx, NULL);
    if (note_noise(o, "pgd") ||
        write_array(o->out, "pgd_dx.npy", dx, 4, xshape))
        goto done;
    /* A randomised model's attacks are not replayed by the check: not
     * written. */
    for (int k = 0; k < N_PGD_RUNS && !inf.random; k++) {
        const struct pgd_run *run = &pgd_runs[k];
        /* Iterate s is the attack stopped after s steps: without a random
         * start every attack retraces the same path. */
        for (int s = 1; s <= run->steps; s++) {
            pgd_cfg cfg = {.norm = ADVCC_LINF, .eps = run->eps,
                           .alpha = PGD_ALPHA, .steps = s, .restarts = 1,
                           .eot = 1, .init = ADVCC_INIT_NONE,
                           .clip = ADVCC_CLIP_PIXEL,
                           .labels = PGD_LABELS_TRUE, .mode = ADVCC_EVAL};
            advcc_rng rng;  /* no random start: nothing draws from it */
            rng_seed(&rng, o->seed);
            char err[256] = "pgd_attack refused the attack";
            if (pgd_check_cfg(&cfg, m->in_c, err, sizeof err) != 0 ||
                pgd_attack(&pw, &cfg, x, y, batch, &rng,
                           path + (size_t)(s - 1) * n_in, NULL) != 0) {
                fail(run->name, err);
                goto done;
            }
        }
        char file[64];
        int pshape[5] = {run->steps, batch, m->in_c, m->in_h, m->in_w};
        snprintf(file, sizeof file, "pgd_%s.npy", run->name);
        if (write_array(o->out, file, path + (size_t)(run->steps - 1) * n_in,
                        4, xshape))
            goto done;
        snprintf(file, sizeof file, "pgd_%s_path.npy", run->name);
        if (write_array(o->out, file, path, 5, pshape))
            goto done;
    }
    rc = 0;
done:
    pgd_free(&pw);
    infer_free(&inf);
    free(path);
    return rc;
}

static int run(const options *o)
{
    const advcc_model *m = &ADVCC_MODEL;
    int rc = -1;
    int batch = o->batch;
    size_t n_in = (size_t)batch * m->in_c * m->in_h * m->in_w;
    size_t n_out = (size_t)batch * m->classes;
    size_t n_params = m->n_params;
    int n_terms = m->regularize ? m->n_reg_terms : 0;

    /* The parameters and noise stream of `MODEL train --seed N`. */
    advcc_ctx *c = ctx_create(m, batch, o->seed);
    advcc_rng root, data_rng;
    rng_seed(&root, o->seed);
    rng_split(&root, 7, &data_rng);

    real_t *init = malloc(n_params * sizeof *init);
    real_t *snap = malloc(n_params * sizeof *snap);
    real_t *x = calloc(n_in, sizeof *x);
    real_t *dx = calloc(n_in, sizeof *dx);
    real_t *logits = calloc(n_out, sizeof *logits);
    real_t *dlogits = calloc(n_out, sizeof *dlogits);
    real_t *ylabels = calloc((size_t)batch, sizeof *ylabels);
    int *y = calloc((size_t)batch, sizeof *y);
    /* terms: the step's, its repeat's, and each optimiser step's */
    double *terms = calloc((size_t)((2 + o->steps) * n_terms + 1), sizeof *terms);
    double *sgd_loss = calloc((size_t)o->steps, sizeof *sgd_loss);
    double *sgd_reg = calloc((size_t)o->steps, sizeof *sgd_reg);
    double *sgd_lr = calloc((size_t)o->steps, sizeof *sgd_lr);
    sgd_state sgd = {0};
    FILE *f = NULL;
    if (!c || !init || !snap || !x || !dx || !logits || !dlogits || !ylabels ||
        !y || !terms || !sgd_loss || !sgd_reg || !sgd_lr) {
        fprintf(stderr, "%s: out of memory\n", progname);
        goto done;
    }

    if (apply_fills(o, c->params) < 0)
        goto done;
    round_to_float(c->params, n_params);
    memcpy(init, c->params, n_params * sizeof *init);
    const char *source = load_batch(o, &data_rng, x, y);
    if (!source)
        goto done;
    round_to_float(x, n_in);
    for (int i = 0; i < batch; i++)
        ylabels[i] = (real_t)y[i];

    int xshape[4] = {batch, m->in_c, m->in_h, m->in_w};
    int lshape[2] = {batch, m->classes};
    if (write_params(o->out, "init.safetensors", init) ||
        write_array(o->out, "x.npy", x, 4, xshape) ||
        write_array(o->out, "labels.npy", ylabels, 1, &batch))
        goto done;

    /* Training forward and full backward. */
    double loss;
    if (train_pass(o, c, x, y, batch, logits, dlogits, dx, "train", &loss) ||
        write_array(o->out, "logits.npy", logits, 2, lshape) ||
        write_params(o->out, "grads.safetensors", c->grads) ||
        write_array(o->out, "dx.npy", dx, 4, xshape) ||
        write_params(o->out, "after.safetensors", c->params))
        goto done;

    /* The regulariser on top of that backward, as train.c runs it; then
     * once more from the same u, v on zeroed gradients, for its gradient
     * alone.  The parameters go back to `after` for what follows. */
    double reg = 0, reg_again = 0;
    if (m->regularize) {
        memcpy(snap, c->params, n_params * sizeof *snap);
        reg = m->regularize(c, 1, terms);
        if (write_params(o->out, "reg_grads.safetensors", c->grads) ||
            write_params(o->out, "reg_after.safetensors", c->params))
            goto done;
        memcpy(c->params, snap, n_params * sizeof *snap);
        memset(c->grads, 0, n_params * sizeof *c->grads);
        reg_again = m->regularize(c, 1, terms + n_terms);
        if (write_params(o->out, "reg_only.safetensors", c->grads))
            goto done;
        memcpy(c->params, snap, n_params * sizeof *snap);
    }

    /* Frozen training mode: batch statistics, running statistics untouched. */
    if (forward_noted(o, c, x, batch, ADVCC_TRAIN_FROZEN, logits, "frozen") ||
        write_array(o->out, "frozen_logits.npy", logits, 2, lshape) ||
        write_params(o->out, "frozen.safetensors", c->params))
        goto done;

    /* Evaluation mode and the attack's input-only backward. */
    if (forward_noted(o, c, x, batch, ADVCC_EVAL, logits, "eval"))
        goto done;
    double eval_loss = softmax_xent(logits, y, batch, m->classes, dlogits, NULL);
    m->backward(c, dlogits, 0, dx);
    if (write_array(o->out, "eval_logits.npy", logits, 2, lshape) ||
        write_array(o->out, "eval_dx.npy", dx, 4, xshape))
        goto done;

    /* Optimiser steps from init on the same batch, each as a training step:
     * backward, regulariser, update at the schedule's learning rate. */
    if (sgd_init_recipe(&sgd, m, &m->train, o->lr, o->momentum, o->weight_decay) != 0) {
        fprintf(stderr, "%s: out of memory\n", progname);
        goto done;
    }
    memcpy(c->params, init, n_params * sizeof *init);
    for (int step = 0; step < o->steps; step++) {
        char file[64];
        snprintf(file, sizeof file, "sgd%d", step + 1);
        if (train_pass(o, c, x, y, batch, logits, dlogits, NULL, file, &sgd_loss[step]))
            goto done;
        if (m->regularize)
            sgd_reg[step] = m->regularize(c, 1, terms + (2 + step) * n_terms);
        snprintf(file, sizeof file, "sgd%d_grads.safetensors", step + 1);
        if (write_params(o->out, file, c->grads))
            goto done;
        sgd.lr = sgd_lr[step] = schedule_lr(&m->train.schedule, o->lr, m->train.epochs, step,
                                             o->per_epoch);
        sgd_step(&sgd, m, c->params, c->grads);
        snprintf(file, sizeof file, "sgd%d_velocity.safetensors", step + 1);
        if (write_params(o->out, file, sgd.velocity))
            goto done;
        snprintf(file, sizeof file, "sgd%d_second.safetensors", step + 1);
        if (sgd.second && write_params(o->out, file, sgd.second))
            goto done;
        snprintf(file, sizeof file, "sgd%d.safetensors", step + 1);
        if (write_params(o->out, file, c->params))
            goto done;
    }

    double pgd_loss;
    if (dump_pgd(o, c, init, x, y, logits, dx, &pgd_loss) != 0)
        goto done;

    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", o->out);
    const advcc_train_cfg *t = &m->train;
    const advcc_schedule_cfg *sc = &t->schedule;
    json_t *meta = json_pack("{s:s, s:I, s:i, s:s, s:[i, i, i], s:i, s:I, s:f, s:f}",
                             "model", m->name, "seed", (json_int_t)o->seed, "batch", batch,
                             "data", source, "in", m->in_c, m->in_h, m->in_w,
                             "classes", m->classes, "real_bytes", (json_int_t)sizeof(real_t),
                             "loss", loss, "eval_loss", eval_loss);
    json_t *sched = json_pack("{s:s, s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:I}",
                              "kind", advcc_schedule_name(sc->kind),
                              "at", reals(sc->at, sc->n), "factor", reals(sc->factor, sc->n),
                              "gamma", sc->gamma, "min_lr", sc->min_lr, "pct", sc->pct,
                              "div", sc->div, "final_div", sc->final_div,
                              "warmup", sc->warmup, "epochs", t->epochs,
                              "steps_per_epoch", (json_int_t)o->per_epoch);
    set(meta, "sgd", json_pack("{s:f, s:f, s:f, s:s, s:i, s:f, s:f, s:f, s:o, s:i, s:o, s:o}",
                               "lr", o->lr, "momentum", o->momentum,
                               "weight_decay", o->weight_decay,
                               "optimizer", advcc_optimizer_name(t->optimizer),
                               "nesterov", t->nesterov, "beta1", t->beta1, "beta2", t->beta2,
                               "eps", t->eps, "schedule", sched, "steps", o->steps,
                               "lrs", reals(sgd_lr, o->steps),
                               "losses", reals(sgd_loss, o->steps)));
    if (m->regularize) {
        json_t *sgd_terms = json_array();
        for (int k = 0; k < o->steps; k++)
            json_array_append_new(sgd_terms, json_terms(m, terms + (2 + k) * n_terms));
        set(meta, "reg", json_pack("{s:f, s:o, s:f, s:o, s:o, s:o}", "total", reg,
                                   "terms", json_terms(m, terms), "again", reg_again,
                                   "again_terms", json_terms(m, terms + n_terms),
                                   "sgd", reals(sgd_reg, o->steps), "sgd_terms", sgd_terms));
    }
    set(meta, "ensemble", json_integer(m->ensemble));
    set(meta, "ensemble_probs", json_integer(m->ensemble_probs));
    json_t *fills = json_array();
    for (int k = 0; k < o->n_fills; k++)
        json_array_append_new(fills, json_pack("[s, f]", o->fill_suffix[k], o->fill_value[k]));
    set(meta, "fills", fills);
    json_t *runs = json_array();
    for (int k = 0; k < N_PGD_RUNS; k++)
        json_array_append_new(runs, json_pack("{s:s, s:f, s:i}", "name", pgd_runs[k].name,
                                              "eps", pgd_runs[k].eps, "steps", pgd_runs[k].steps));
    set(meta, "pgd", json_pack("{s:f, s:f, s:o}", "loss", pgd_loss, "alpha", PGD_ALPHA,
                               "runs", runs));
    json_t *tensors = json_array();
    for (int i = 0; i < m->n_tensors; i++)
        json_array_append_new(tensors, json_pack("{s:s, s:s}", "name", m->tensors[i].name,
                                                 "kind", kind_name(m->tensors[i].kind)));
    set(meta, "tensors", tensors);
    int bad = !meta || json_dump_file(meta, path, JSON_INDENT(1)) != 0;
    json_decref(meta);
    if (bad) {
        fprintf(stderr, "%s: %s: cannot write\n", progname, path);
        goto done;
    }
    f = NULL;
    rc = 0;
done:
    if (f)
        fclose(f);
    sgd_free(&sgd);
    ctx_free(c);
    free(init);
    free(snap);
    free(x);
    free(dx);
    free(logits);
    free(dlogits);
    free(ylabels);
    free(y);
    free(terms);
    free(sgd_loss);
    free(sgd_reg);
    free(sgd_lr);
    return rc;
}

static int parse_real(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno || end == s || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
    const advcc_model *m = &ADVCC_MODEL;
    options o = {.seed = 1, .batch = 8, .data = "auto", .out = NULL,
                 .lr = m->train.lr, .momentum = m->train.momentum,
                 .weight_decay = m->train.weight_decay, .steps = 2, .per_epoch = 1};
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},
        {"batch", required_argument, NULL, 'b'},
        {"data", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"lr", required_argument, NULL, 'l'},
        {"momentum", required_argument, NULL, 'm'},
        {"weight-decay", required_argument, NULL, 'w'},
        {"fill", required_argument, NULL, 'f'},
        {"steps", required_argument, NULL, 'S'},
        {"steps-per-epoch", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    if (argc > 0)
        progname = argv[0];
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 's':
            errno = 0;
            o.seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end) {
                fprintf(stderr, "%s: --seed: not a number: %s\n", progname, optarg);
                return 2;
            }
            break;
        case 'b':
            o.batch = atoi(optarg);
            if (o.batch < 2 || o.batch > 10000) {
                fprintf(stderr, "%s: --batch must be in [2, 10000]\n", progname);
                return 2;
            }
            break;
        case 'd':
            o.data = optarg;
            break;
        case 'S':
        case 'P': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < (ch == 'S' ? 2 : 1) || v > 1000) {
                fprintf(stderr, "%s: --%s must be in [%d, 1000]\n", progname,
                        ch == 'S' ? "steps" : "steps-per-epoch", ch == 'S' ? 2 : 1);
                return 2;
            }
            if (ch == 'S')
                o.steps = (int)v;
            else
                o.per_epoch = v;
            break;
        }
        case 'o':
            o.out = optarg;
            break;
        case 'l':
        case 'm':
        case 'w': {
            double *v = ch == 'l' ? &o.lr : ch == 'm' ? &o.momentum : &o.weight_decay;
            if (parse_real(optarg, v) != 0) {
                fprintf(stderr, "%s: not a number: %s\n", progname, optarg);
                return 2;
            }
            break;
        }
        case 'f': {
            char *eq = strrchr(optarg, '=');
            if (!eq || eq == optarg || o.n_fills == MAX_FILLS ||
                parse_real(eq + 1, &o.fill_value[o.n_fills]) != 0) {
                fprintf(stderr, "%s: --fill wants SUFFIX=NUMBER (at most %d): %s\n",
                        progname, MAX_FILLS, optarg);
                return 2;
            }
            *eq = '\0';
            o.fill_suffix[o.n_fills++] = optarg;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!o.out || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (mkdir(o.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: %s: %s\n", progname, o.out, strerror(errno));
        return 1;
    }
    /* Every noise layer draws once per activation of each pass: room for
     * 64 draws per input pixel and pass (the specs' RSE draws 5), untouched
     * until written. */
    draws.cap = 64L * (m->ensemble > 1 ? m->ensemble : 1) * o.batch * m->in_c * m->in_h *
                m->in_w;
    draws.z = malloc(sizeof(real_t) * (size_t)draws.cap);
    if (!draws.z) {
        fprintf(stderr, "%s: out of memory\n", progname);
        return 1;
    }
    int rc = run(&o) == 0 ? 0 : 1;
    free(draws.z);
    return rc;
}
