/* model.h - the one contract between a generated model and the runtime.
 *
 * advcc emits, for each model of a spec, a file generated/<model>.c that
 * defines one `const advcc_model advcc_model_<name>`.  The runtime (training,
 * attacks, evaluation, checkpoints, the command line) knows models only
 * through this descriptor.
 *
 * Memory: all parameters and state (BatchNorm running statistics, learnable
 * thresholds, power-iteration vectors) live in one buffer of n_params reals,
 * described tensor by tensor; gradients live in a buffer of the same layout;
 * activations live in one arena of arena_size(batch) reals.  Nothing is
 * allocated inside a step.
 *
 * Layouts at the boundary: images are NCHW, [batch][in_c][in_h][in_w], pixels
 * in [0,1]; logits are [batch][classes].
 */
#ifndef ADVCC_MODEL_H
#define ADVCC_MODEL_H

#include <stddef.h>
#include "real.h"
#include "vocab.h"

struct advcc_rng;

/* What a tensor of the parameter buffer is for. */
enum advcc_tensor_kind {
    ADVCC_WEIGHT = 0,   /* trained, decayed */
    ADVCC_BIAS,         /* trained, decayed (as PyTorch's SGD does) */
    ADVCC_BN_SCALE,     /* trained */
    ADVCC_BN_SHIFT,     /* trained */
    ADVCC_THRESHOLD,    /* trained: learnable activation bounds */
    ADVCC_STATE         /* not trained: running statistics, power-iteration vectors */
};

typedef struct advcc_tensor {
    const char *name;   /* PyTorch-style: "conv1.weight", "bn1.running_mean" */
    size_t offset;      /* into the parameter buffer, in reals */
    size_t size;        /* in reals */
    int ndim;
    int shape[4];
    int kind;           /* enum advcc_tensor_kind */
} advcc_tensor;

/* How a forward pass treats BatchNorm and noise. */
enum advcc_mode {
    ADVCC_EVAL = 0,         /* running statistics */
    ADVCC_TRAIN = 1,        /* batch statistics, running statistics updated */
    ADVCC_TRAIN_FROZEN = 2  /* batch statistics, running statistics untouched
                               (attack passes during adversarial training) */
};

/* The learning-rate schedule (docs/METHODS.md 1); all zero: constant. */
#define ADVCC_SCHEDULE_POINTS 8
typedef struct advcc_schedule_cfg {
    int kind;               /* enum advcc_schedule */
    int n;                  /* multistep: milestones; piecewise: knots */
    double at[ADVCC_SCHEDULE_POINTS];     /* their epochs, increasing */
    double factor[ADVCC_SCHEDULE_POINTS]; /* piecewise: lr multiples at the knots */
    double gamma;           /* multistep: factor at each milestone */
    double min_lr;          /* cosine: the lr it ends at */
    double pct, div, final_div;  /* onecycle: rising share, lr / start, start / end */
    int warmup;             /* epochs of linear warm-up (per step), 0: none */
} advcc_schedule_cfg;

typedef struct advcc_train_cfg {
    double lr, momentum, weight_decay;
    int batch, epochs;
    int adversarial;        /* replace every batch by its attack images */
    int optimizer;          /* enum advcc_optimizer: 0 SGD */
    int nesterov;           /* SGD: Nesterov momentum */
    double beta1, beta2, eps;    /* Adam, AdamW */
    advcc_schedule_cfg schedule;
    int crop, flip;         /* augmentation: random crop with this zero
                               padding, random horizontal flip */
} advcc_train_cfg;

/* enum advcc_init, advcc_clip, advcc_norm, advcc_attack_method and their
 * names: vocab.h. */
typedef struct advcc_attack_cfg {
    int present;            /* the spec named an attack */
    double eps, alpha;      /* pixel units */
    int steps, restarts, eot;
    int init;               /* enum advcc_init */
    int clip;               /* enum advcc_clip */
    int norm;               /* enum advcc_norm */
    /* The spec's `attack apgd|square|fab|autoattack` (docs/METHODS.md 9): the
     * method `MODEL attack` runs without --attack; eps, norm, restarts and
     * eot above are shared with PGD. */
    int method;             /* enum advcc_attack_method */
    int loss;               /* apgd: 0 ce, 1 dlr, 2 targeted (DLR) */
    int iters, targets;     /* apgd, fab */
    int queries;            /* square */
    int version;            /* autoattack: 0 by the model, 1 standard, 2 rand */
    int quick;
} advcc_attack_cfg;

/* The layer list: each spec layer in order, with its per-image shapes, so
 * that an analysis of the network as a function (certify.h: Lipschitz
 * bounds) can walk it.  Kinds mirror the spec's layer names. */
enum advcc_layer_kind {
    ADVCC_LAYER_NORMALIZE = 0,  /* (x - norm_mean[c]) / norm_std[c] */
    ADVCC_LAYER_CONV,
    ADVCC_LAYER_BATCHNORM,      /* eval: running statistics, eps 1e-5 */
    ADVCC_LAYER_RELU,
    ADVCC_LAYER_AVGPOOL,        /* no padding */
    ADVCC_LAYER_MAXPOOL,        /* no padding */
    ADVCC_LAYER_FLATTEN,
    ADVCC_LAYER_LINEAR,
    ADVCC_LAYER_NOISE,
    ADVCC_LAYER_DTRELU,
    ADVCC_LAYER_PWLINEAR,
    ADVCC_LAYER_NAIVEDT,
    ADVCC_LAYER_DDTRELU,
    ADVCC_LAYER_LEAKYRELU,      /* slope not recorded here */
    ADVCC_LAYER_TANH,
    ADVCC_LAYER_SIGMOID,
    ADVCC_LAYER_GAP,            /* global average pool, flat output */
    ADVCC_LAYER_DROPOUT,        /* the identity outside training */
    ADVCC_LAYER_ADD             /* a residual block's sum of its two paths
                                   (which layers they are is in the model's
                                   JSON description, not here) */
};

typedef struct advcc_layer {
    const char *name;       /* "conv1", "bn2", "fc3" */
    int kind;               /* enum advcc_layer_kind */
    int in_c, in_h, in_w;   /* per image; a feature vector is c x 1 x 1 */
    int out_c, out_h, out_w;
    int kh, kw;             /* conv and pools: the window (pools: square) */
    int stride_h, stride_w; /* conv and pools */
    int pad_h, pad_w;       /* conv: zero padding */
    /* Indices into tensors[], -1 when absent: conv and linear weight and
     * bias; batchnorm weight (gamma), bias (beta), running mean and var. */
    int weight, bias, running_mean, running_var;
    int wbits;              /* fake-quantised weights: bits; 0: none */
} advcc_layer;

typedef struct advcc_model advcc_model;

/* A model instance: the buffers one forward/backward works on. */
typedef struct advcc_ctx {
    const advcc_model *model;
    real_t *params;         /* model->n_params */
    real_t *grads;          /* model->n_params, same layout */
    real_t *arena;          /* model->arena_size(batch_cap) */
    real_t *scratch;        /* arena + model->keep_size(batch_cap), or
                               NULL without keep_size */
    int batch_cap;
    const real_t *input;    /* the last forward's images: keep them alive
                               until its backward */
    int batch;              /* batch size of the last forward */
    int mode;               /* mode of the last forward */
    struct advcc_rng *rng;  /* noise layers draw from it */
    /* Nonzero: the backward passes the gradient through every activation
     * quantiser and threshold (dtrelu, pwlinear, naivedt, ddtrelu) as the
     * identity, dx = dy, instead of its straight-through or exact
     * derivative; the forward is unchanged (BPDA, docs/METHODS.md 11).
     * Attacks set it around their gradient passes; training never does. */
    int bpda;
} advcc_ctx;

struct advcc_model {
    const char *name;
    const char *source;     /* the spec file it came from */
    const char *spec_hash;  /* "fnv1a64:<16 hex>" of the spec file and its
                               includes (NULL in hand-made descriptors) */
    int in_c, in_h, in_w, classes;
    size_t n_params;
    int n_tensors;
    const advcc_tensor *tensors;
    long long flops_forward;    /* multiply-adds x 2 per image */

    /* The arena's reals, and those a pass keeps for its backward: the
     * arena's first keep_size reals; the rest, from c->scratch on, is
     * scratch no pass keeps, which an ensemble's passes share (infer.h).
     * keep_size NULL (hand-made descriptors): no shared scratch. */
    size_t (*arena_size)(int batch);
    size_t (*keep_size)(int batch);
    /* PyTorch's default initialisation, drawn from rng. */
    void (*init)(real_t *params, struct advcc_rng *rng);
    /* x: NCHW images, batch <= c->batch_cap; writes logits.  Keeps in the
     * arena what backward needs. */
    void (*forward)(advcc_ctx *c, const real_t *x, int batch, int mode,
                    real_t *logits);
    /* After forward with the same batch: from dlogits, overwrite c->grads
     * when want_params, and write the input gradient into dx when dx is not
     * NULL.  want_params == 0 with dx is the attack's input-only backward. */
    void (*backward)(advcc_ctx *c, const real_t *dlogits, int want_params,
                     real_t *dx);
    /* backward's input gradient in two parts, for a randomised model whose
     * first weighted layer is a convolution with nothing below it but the
     * input normalisation and noise: the gradient below that convolution
     * is the same linear map of its output gradient in every pass, so an
     * ensemble's passes share it (infer.h).  backward_top: after forward,
     * backward without parameters down to the convolution's output
     * gradient, [batch][top_size], which it returns (in the arena);
     * backward_bottom: the input gradient dx from such a gradient dy (any
     * buffer; a sum of passes').  NULL when the model has no such split. */
    const real_t *(*backward_top)(advcc_ctx *c, const real_t *dlogits);
    void (*backward_bottom)(advcc_ctx *c, const real_t *dy, real_t *dx);
    long top_size;
    /* Regulariser: adds its gradient into c->grads when want_grad, returns
     * its value; NULL when the model has none. terms[] gets each term. */
    double (*regularize)(advcc_ctx *c, int want_grad, double *terms);
    int n_reg_terms;
    const char *const *reg_term_names;

    advcc_train_cfg train;
    advcc_attack_cfg attack;        /* evaluation attack from the spec */
    advcc_attack_cfg train_attack;  /* attack used by adversarial training */
    const double *norm_mean, *norm_std;  /* the input normalisation per
                                    channel, NULL without one (attacks that
                                    clip normalised values need it) */
    /* The first convolution group's output, the feature maps a report
     * shows: its per-image arena slot and shape (c == 0: no convolution).
     * After a forward of one image in a context of batch_cap 1 it is at
     * arena + feature_slot, [c][h][w]. */
    long feature_slot;
    int feature_c, feature_h, feature_w;
    int ensemble;                   /* inference passes averaged (RSE); 1 otherwise */
    int n_layers;
    const advcc_layer *layers;      /* the spec's layers, in order */
    int ensemble_probs;             /* average probabilities, not logits */
    /* What the model is, as key/value pairs ("spec", "specs/quant.net",
     * "quantize", "conv1 8-bit minmax, ...", ...), NULL-terminated; every
     * checkpoint records them in its metadata (compiler/describe.h). */
    const char *const *description;
    /* Names of the tensors that are training state, not part of the model
     * (the spectral penalty's power-iteration vectors), NULL-terminated;
     * NULL: none.  Checkpoints leave them out (the training state keeps
     * them), so that two models with the same layers load each other's. */
    const char *const *train_only;
};

#endif
