/* bench_api.c - a small C interface to one generated model, built into a
 * shared library (with the runtime) so that tests/bench/bench.py can time it
 * through ctypes in the same process as PyTorch, interleaving the two.
 *
 * Built once per model with -DADVCC_MODEL=advcc_model_<name>.  Every timed
 * call runs `iters` repetitions on the batch set by bench_set_batch and
 * returns the last loss, so the caller's timer sees no per-step overhead.
 */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "context.h"
#include "infer.h"
#include "kernels.h"
#include "model.h"
#include "pgd.h"
#include "rng.h"
#include "sgd.h"

#ifndef ADVCC_MODEL
#error "compile with -DADVCC_MODEL=advcc_model_<name>"
#endif
extern const advcc_model ADVCC_MODEL;

typedef struct bench {
    advcc_ctx *ctx;
    advcc_rng attack_rng;
    sgd_state sgd;
    infer_ws inf;
    pgd_ws pgd;
    pgd_cfg attack;         /* evaluation attack, ADVCC_EVAL */
    pgd_cfg train_attack;   /* adversarial training, ADVCC_TRAIN_FROZEN */
    int have_inf, have_pgd;
    int batch;
    real_t *x, *xadv, *logits, *dlogits;
    int *y;
    double *terms;          /* regulariser terms, when the model has one */
} bench;

/* Descriptor facts the benchmark reports. */
const char *bench_model_name(void) { return ADVCC_MODEL.name; }
int bench_in_c(void) { return ADVCC_MODEL.in_c; }
int bench_in_h(void) { return ADVCC_MODEL.in_h; }
int bench_in_w(void) { return ADVCC_MODEL.in_w; }
int bench_classes(void) { return ADVCC_MODEL.classes; }
long long bench_flops_forward(void) { return ADVCC_MODEL.flops_forward; }
int bench_real_bytes(void) { return (int)sizeof(real_t); }

void bench_train_cfg(double *lr, double *momentum, double *weight_decay)
{
    *lr = ADVCC_MODEL.train.lr;
    *momentum = ADVCC_MODEL.train.momentum;
    *weight_decay = ADVCC_MODEL.train.weight_decay;
}

void bench_set_threads(int threads)
{
    ctx_set_threads(threads);
}

/* The spec's evaluation attack, or the report's PGD-4 at 8/255 when the
 * spec names none. */
static void attack_defaults(pgd_cfg *cfg, const advcc_attack_cfg *a)
{
    if (a->present) {
        pgd_cfg_from_attack(cfg, a);
        return;
    }
    advcc_attack_cfg d = {.present = 1, .eps = 8.0 / 255, .alpha = 2.0 / 255,
                          .steps = 4, .restarts = 1, .eot = 1,
                          .init = ADVCC_INIT_GAUSSIAN, .clip = ADVCC_CLIP_PIXEL,
                          .norm = ADVCC_LINF};
    pgd_cfg_from_attack(cfg, &d);
}

/* The attacks the benchmark times, for the PyTorch side to repeat:
 * which = 0 the evaluation attack, 1 the training attack. */
void bench_attack_cfg(const bench *b, int which, double *eps, double *alpha,
                      int *steps, int *init, int *norm, int *clip)
{
    const pgd_cfg *c = which ? &b->train_attack : &b->attack;
    *eps = c->eps;
    *alpha = c->alpha;
    *steps = c->steps;
    *init = c->init;
    *norm = c->norm;
    *clip = c->clip;
}

void bench_destroy(bench *b)
{
    if (!b)
        return;
    if (b->have_pgd)
        pgd_free(&b->pgd);
    if (b->have_inf)
        infer_free(&b->inf);
    sgd_free(&b->sgd);
    ctx_free(b->ctx);
    free(b->terms);
    free(b->x);
    free(b->xadv);
    free(b->logits);
    free(b->dlogits);
    free(b->y);
    free(b);
}

/* Parameters and noise stream of `MODEL train --seed N`; SGD with the
 * spec's recipe. */
bench *bench_create(int batch, unsigned long long seed)
{
    const advcc_model *m = &ADVCC_MODEL;
    bench *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    advcc_rng root;
    rng_seed(&root, seed);
    rng_split(&root, 4, &b->attack_rng);
    size_t in = (size_t)batch * m->in_c * m->in_h * m->in_w;
    b->batch = batch;
    b->ctx = ctx_create(m, batch, seed);
    b->x = calloc(in, sizeof(real_t));
    b->xadv = calloc(in, sizeof(real_t));
    b->logits = calloc((size_t)batch * m->classes, sizeof(real_t));
    b->dlogits = calloc((size_t)batch * m->classes, sizeof(real_t));
    b->y = calloc((size_t)batch, sizeof(int));
    b->terms = calloc((size_t)m->n_reg_terms + 1, sizeof(double));
    if (!b->ctx || !b->x || !b->xadv || !b->logits || !b->dlogits || !b->y ||
        !b->terms ||
        sgd_init(&b->sgd, m, m->train.lr, m->train.momentum,
                 m->train.weight_decay) != 0) {
        bench_destroy(b);
        return NULL;
    }
    b->have_inf = infer_init(&b->inf, b->ctx) == 0;
    b->have_pgd = b->have_inf && pgd_init(&b->pgd, &b->inf) == 0;
    if (!b->have_pgd) {
        bench_destroy(b);
        return NULL;
    }
    attack_defaults(&b->attack, &m->attack);
    attack_defaults(&b->train_attack, m->train_attack.present ? &m->train_attack
                                                              : &m->attack);
    b->train_attack.mode = ADVCC_TRAIN_FROZEN;
    return b;
}

/* x: batch NCHW float32 images in [0,1]; y: batch labels. */
void bench_set_batch(bench *b, const float *x, const int *y)
{
    const advcc_model *m = b->ctx->model;
    size_t n = (size_t)b->batch * m->in_c * m->in_h * m->in_w;
    for (size_t i = 0; i < n; i++)
        b->x[i] = (real_t)x[i];
    memcpy(b->y, y, sizeof(int) * (size_t)b->batch);
}

/* The parameters as a checkpoint, for the PyTorch side to load. */
int bench_save(const bench *b, const char *path, char *err, size_t errlen)
{
    return checkpoint_save(path, b->ctx->model, b->ctx->params, err, errlen);
}

/* One training step on images x, as train.c takes it: forward (batch
 * statistics), loss, backward, regulariser, SGD update. */
static double train_step(bench *b, const real_t *x)
{
    advcc_ctx *c = b->ctx;
    const advcc_model *m = c->model;
    m->forward(c, x, b->batch, ADVCC_TRAIN, b->logits);
    double loss = softmax_xent(b->logits, b->y, b->batch, m->classes,
                               b->dlogits, NULL);
    m->backward(c, b->dlogits, 1, NULL);
    if (m->regularize)
        loss += m->regularize(c, 1, b->terms);
    sgd_step(&b->sgd, m, c->params, c->grads);
    return loss;
}

double bench_train(bench *b, int iters)
{
    double loss = 0.0;
    for (int i = 0; i < iters; i++)
        loss = train_step(b, b->x);
    return loss;
}

/* Evaluation forward passes (running statistics); returns the loss. */
double bench_eval(bench *b, int iters)
{
    const advcc_model *m = b->ctx->model;
    for (int i = 0; i < iters; i++)
        m->forward(b->ctx, b->x, b->batch, ADVCC_EVAL, b->logits);
    return softmax_xent(b->logits, b->y, b->batch, m->classes, NULL, NULL);
}

/* PGD attacks of the batch with the evaluation attack (steps forward and
 * input-only backward passes each); 0, or -1 on a bad configuration. */
double bench_pgd(bench *b, int iters)
{
    for (int i = 0; i < iters; i++)
        if (pgd_attack(&b->pgd, &b->attack, b->x, b->y, b->batch,
                       &b->attack_rng, b->xadv, NULL) != 0)
            return -1.0;
    return 0.0;
}

/* Adversarial training steps (docs/METHODS.md 3): the training attack with batch
 * statistics and frozen running statistics, then a training step on its
 * images. */
double bench_adv_train(bench *b, int iters)
{
    double loss = 0.0;
    for (int i = 0; i < iters; i++) {
        if (pgd_attack(&b->pgd, &b->train_attack, b->x, b->y, b->batch,
                       &b->attack_rng, b->xadv, NULL) != 0)
            return -1.0;
        loss = train_step(b, b->xadv);
    }
    return loss;
}

/* Seconds of `reps` n x n x n products through cblas_sgemm: the machine's
 * matrix-multiply limit, for the achieved share of the generated step. */
double bench_sgemm(int n, int reps)
{
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof *a), *bm = malloc(nn * sizeof *bm),
          *c = malloc(nn * sizeof *c);
    if (!a || !bm || !c) {
        free(a);
        free(bm);
        free(c);
        return -1.0;
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)((i * 7 % 13) - 6) / 13.0f;
        bm[i] = (float)((i * 5 % 11) - 5) / 11.0f;
        c[i] = 0.0f;
    }
    /* One product to warm caches and wake the threads. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n,
                bm, n, 0.0f, c, n);
    double t0 = omp_get_wtime();
    for (int r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f,
                    a, n, bm, n, 0.0f, c, n);
    double t = omp_get_wtime() - t0;
    free(a);
    free(bm);
    free(c);
    return t;
}
