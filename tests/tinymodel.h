/* tinymodel.h - small hand-written models behind the advcc_model descriptor,
 * for the tests of the attack side (infer, pgd, robust, sanity).
 *
 * Input 3x4x4 (48 values), TINY_CLASSES classes.  Three shapes:
 *   TINY_LINEAR   linear softmax model: logits = W x + b
 *   TINY_MLP      x -> W1 x + b1 -> relu or tanh -> W2 h + b2, TINY_HIDDEN
 *                 hidden units
 *   sigma > 0     either of them after input noise x + N(0, sigma^2) drawn
 *                 from ctx->rng in every mode (a miniature RSE); with
 *                 ensemble > 1 passes averaged (logits or probabilities).
 * Plain loops: these models check the attack code, not the kernels. */
#ifndef ADVCC_TINYMODEL_H
#define ADVCC_TINYMODEL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "infer.h"
#include "model.h"
#include "rng.h"

#define TINY_C 3
#define TINY_H 4
#define TINY_W 4
#define TINY_IN (TINY_C * TINY_H * TINY_W)
#define TINY_CLASSES 4
#define TINY_HIDDEN 12

enum { TINY_LINEAR = 0, TINY_MLP };
enum { TINY_RELU = 0, TINY_TANH };

typedef struct tiny_model {
    advcc_model m;      /* first: ctx->model points at the whole struct */
    int hidden, act;    /* hidden units (0: linear) */
    double sigma;
    advcc_tensor t[4];
} tiny_model;

static inline const tiny_model *tiny_of(const advcc_ctx *c)
{
    return (const tiny_model *)c->model;
}

/* Arena: noisy input, pre-activation, activation, scratch. */
static inline size_t tiny_arena_size(int batch)
{
    return (size_t)batch * (TINY_IN + 3 * TINY_HIDDEN);
}

/* PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight and
 * the bias of a layer; returns the offset past them. */
static inline size_t tiny_init_dense(real_t *params, size_t offset, int in,
                                     int out, advcc_rng *rng)
{
    double bound = 1.0 / sqrt((double)in);
    size_t n = (size_t)out * in + out;
    for (size_t j = 0; j < n; j++)
        params[offset + j] = (real_t)(bound * (2.0 * rng_uniform(rng) - 1.0));
    return offset + n;
}

static inline void tiny_init_linear(real_t *params, advcc_rng *rng)
{
    tiny_init_dense(params, 0, TINY_IN, TINY_CLASSES, rng);
}

static inline void tiny_init_mlp(real_t *params, advcc_rng *rng)
{
    size_t o = tiny_init_dense(params, 0, TINY_IN, TINY_HIDDEN, rng);
    tiny_init_dense(params, o, TINY_HIDDEN, TINY_CLASSES, rng);
}

/* y[b][o] = sum_i w[o][i] x[b][i] + bias[o] */
static inline void tiny_dense(const real_t *x, int batch, int in,
                              const real_t *w, const real_t *bias, int out,
                              real_t *y)
{
    for (int b = 0; b < batch; b++)
        for (int o = 0; o < out; o++) {
            double s = bias[o];
            for (int i = 0; i < in; i++)
                s += (double)w[(size_t)o * in + i] * x[(size_t)b * in + i];
            y[(size_t)b * out + o] = (real_t)s;
        }
}

/* dx = dy W, dw = dy^T x, db = sum dy (the last two when not NULL). */
static inline void tiny_dense_back(const real_t *x, const real_t *dy,
                                   int batch, int in, const real_t *w, int out,
                                   real_t *dx, real_t *dw, real_t *db)
{
    if (dx)
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < in; i++) {
                double s = 0.0;
                for (int o = 0; o < out; o++)
                    s += (double)dy[(size_t)b * out + o] * w[(size_t)o * in + i];
                dx[(size_t)b * in + i] = (real_t)s;
            }
    if (dw)
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                double s = 0.0;
                for (int b = 0; b < batch; b++)
                    s += (double)dy[(size_t)b * out + o] * x[(size_t)b * in + i];
                dw[(size_t)o * in + i] = (real_t)s;
            }
            double s = 0.0;
            for (int b = 0; b < batch; b++)
                s += dy[(size_t)b * out + o];
            db[o] = (real_t)s;
        }
}

static inline void tiny_forward(advcc_ctx *c, const real_t *x, int batch,
                                int mode, real_t *logits)
{
    const tiny_model *t = tiny_of(c);
    const real_t *p = c->params;
    int H = t->hidden, K = TINY_CLASSES;
    real_t *xin = c->arena;
    real_t *pre = xin + (size_t)batch * TINY_IN;
    real_t *act = pre + (size_t)batch * TINY_HIDDEN;
    for (long i = 0; i < (long)batch * TINY_IN; i++)
        xin[i] = t->sigma > 0 ? (real_t)(x[i] + t->sigma * rng_normal(c->rng))
                              : x[i];
    if (H == 0) {
        tiny_dense(xin, batch, TINY_IN, p + t->t[0].offset, p + t->t[1].offset,
                   K, logits);
    } else {
        tiny_dense(xin, batch, TINY_IN, p + t->t[0].offset, p + t->t[1].offset,
                   H, pre);
        for (long i = 0; i < (long)batch * H; i++)
            act[i] = t->act == TINY_TANH ? (real_t)tanh(pre[i])
                                         : pre[i] > 0 ? pre[i] : 0;
        tiny_dense(act, batch, H, p + t->t[2].offset, p + t->t[3].offset, K,
                   logits);
    }
    c->batch = batch;
    c->mode = mode;
}

static inline void tiny_backward(advcc_ctx *c, const real_t *dlogits,
                                 int want_params, real_t *dx)
{
    const tiny_model *t = tiny_of(c);
    const real_t *p = c->params;
    int H = t->hidden, K = TINY_CLASSES, batch = c->batch;
    real_t *xin = c->arena;
    real_t *pre = xin + (size_t)batch * TINY_IN;
    real_t *act = pre + (size_t)batch * TINY_HIDDEN;
    real_t *dact = act + (size_t)batch * TINY_HIDDEN;
    real_t *g = c->grads;
    if (H == 0) {
        tiny_dense_back(xin, dlogits, batch, TINY_IN, p + t->t[0].offset, K, dx,
                        want_params ? g + t->t[0].offset : NULL,
                        g + t->t[1].offset);
        return;
    }
    tiny_dense_back(act, dlogits, batch, H, p + t->t[2].offset, K, dact,
                    want_params ? g + t->t[2].offset : NULL, g + t->t[3].offset);
    for (long i = 0; i < (long)batch * H; i++)
        dact[i] = t->act == TINY_TANH ? dact[i] * (1 - act[i] * act[i])
                                      : pre[i] > 0 ? dact[i] : 0;
    tiny_dense_back(xin, dact, batch, TINY_IN, p + t->t[0].offset, H, dx,
                    want_params ? g + t->t[0].offset : NULL,
                    g + t->t[1].offset);
}

static inline void tiny_tensor(advcc_tensor *ts, const char *name,
                               size_t offset, int rows, int cols, int kind)
{
    ts->name = name;
    ts->offset = offset;
    ts->size = (size_t)rows * (cols ? cols : 1);
    ts->ndim = cols ? 2 : 1;
    ts->shape[0] = rows;
    ts->shape[1] = cols;
    ts->shape[2] = ts->shape[3] = 0;
    ts->kind = kind;
}

/* kind TINY_LINEAR or TINY_MLP; act TINY_RELU or TINY_TANH. */
static inline void tiny_make(tiny_model *t, int kind, int act, double sigma,
                             int ensemble, int ensemble_probs)
{
    int hidden = kind == TINY_MLP ? TINY_HIDDEN : 0;
    memset(t, 0, sizeof *t);
    t->hidden = hidden;
    t->act = act;
    t->sigma = sigma;
    int K = TINY_CLASSES;
    if (hidden == 0) {
        tiny_tensor(&t->t[0], "fc.weight", 0, K, TINY_IN, ADVCC_WEIGHT);
        tiny_tensor(&t->t[1], "fc.bias", (size_t)K * TINY_IN, K, 0, ADVCC_BIAS);
        t->m.n_tensors = 2;
        t->m.n_params = (size_t)K * TINY_IN + K;
        t->m.flops_forward = 2LL * K * TINY_IN;
    } else {
        size_t o = 0;
        tiny_tensor(&t->t[0], "fc1.weight", o, hidden, TINY_IN, ADVCC_WEIGHT);
        o += (size_t)hidden * TINY_IN;
        tiny_tensor(&t->t[1], "fc1.bias", o, hidden, 0, ADVCC_BIAS);
        o += hidden;
        tiny_tensor(&t->t[2], "fc2.weight", o, K, hidden, ADVCC_WEIGHT);
        o += (size_t)K * hidden;
        tiny_tensor(&t->t[3], "fc2.bias", o, K, 0, ADVCC_BIAS);
        o += K;
        t->m.n_tensors = 4;
        t->m.n_params = o;
        t->m.flops_forward = 2LL * (hidden * TINY_IN + K * hidden);
    }
    t->m.name = hidden ? (sigma > 0 ? "tiny_noisy_mlp" : "tiny_mlp")
                       : (sigma > 0 ? "tiny_noisy_linear" : "tiny_linear");
    t->m.source = "tests/tinymodel.h";
    t->m.in_c = TINY_C;
    t->m.in_h = TINY_H;
    t->m.in_w = TINY_W;
    t->m.classes = K;
    t->m.tensors = t->t;
    t->m.arena_size = tiny_arena_size;
    t->m.init = hidden ? tiny_init_mlp : tiny_init_linear;
    t->m.forward = tiny_forward;
    t->m.backward = tiny_backward;
    t->m.regularize = NULL;
    t->m.train = (advcc_train_cfg){.lr = 0.01, .momentum = 0.9, .batch = 16, .epochs = 1};
    t->m.attack = (advcc_attack_cfg){.present = 1, .eps = 8 / 255.0,
                                     .alpha = 2 / 255.0, .steps = 4,
                                     .restarts = 1, .eot = 1,
                                     .init = ADVCC_INIT_GAUSSIAN,
                                     .clip = ADVCC_CLIP_PIXEL,
                                     .norm = ADVCC_LINF};
    t->m.train_attack = t->m.attack;
    t->m.ensemble = ensemble > 1 ? ensemble : 1;
    t->m.ensemble_probs = ensemble_probs;
}

/* A context with batch capacity cap, parameters drawn from seed, noise
 * from *noise (may be NULL for a noiseless model). */
static inline void tiny_ctx_make(advcc_ctx *c, const tiny_model *t, int cap,
                                 advcc_rng *noise, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->model = &t->m;
    c->params = calloc(t->m.n_params, sizeof(real_t));
    c->grads = calloc(t->m.n_params, sizeof(real_t));
    c->arena = calloc(tiny_arena_size(cap), sizeof(real_t));
    c->scratch = NULL;     /* no keep_size: nothing shared */
    c->batch_cap = cap;
    c->rng = noise;
    advcc_rng r;
    rng_seed(&r, seed);
    t->m.init(c->params, &r);
}

static inline void tiny_ctx_free(advcc_ctx *c)
{
    free(c->params);
    free(c->grads);
    free(c->arena);
    memset(c, 0, sizeof *c);
}

/* n random images of the tiny models' shape (every byte uniform from r),
 * labels 0.  0, or -1 when out of memory. */
static inline int tiny_images(advcc_dataset *d, int n, advcc_rng *r)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = TINY_C;
    d->h = TINY_H;
    d->w = TINY_W;
    d->classes = TINY_CLASSES;
    strcpy(d->name, "synthetic");
    d->pixels = malloc((size_t)n * TINY_IN);
    d->labels = calloc((size_t)n, 1);
    if (!d->pixels || !d->labels)
        return -1;
    for (int i = 0; i < n * TINY_IN; i++)
        d->pixels[i] = (uint8_t)rng_below(r, 256);
    return 0;
}

/* n random images for the model of c, labelled with the model's prediction
 * for a share `agree` of them and at random otherwise.  0, or -1 when out
 * of memory. */
static inline int tiny_dataset(advcc_dataset *d, advcc_ctx *c, int n, double agree,
                               uint64_t seed)
{
    const int K = c->model->classes;
    advcc_rng r;
    rng_seed(&r, seed);
    infer_ws inf;
    if (tiny_images(d, n, &r) != 0 || infer_init(&inf, c) != 0)
        return -1;
    real_t x[TINY_IN], logits[TINY_CLASSES];
    for (int i = 0; i < n; i++) {
        int y, idx = i, pred;
        d->labels[i] = 0;
        dataset_batch(d, &idx, 1, x, &y);
        infer_logits(&inf, x, 1, ADVCC_EVAL, logits);
        infer_row_loss(logits, 0, K, &pred);
        d->labels[i] = (uint8_t)(rng_uniform(&r) < agree ? (uint32_t)pred
                                                         : rng_below(&r, (uint32_t)K));
    }
    infer_free(&inf);
    return 0;
}

#endif
