/* ir.h - the graph IR: the one contract between the compiler's front end
 * (parser, sema, shape) and its back end (fuse, emit*).  The emitter reads
 * nothing else.
 *
 * A model is a graph of nodes in an order where every node comes after the
 * nodes it reads (src, and an add's src2): a chain, with residual blocks'
 * shortcuts and adds (residual { ... } shortcut { ... }).  Each node has its
 * resolved parameters and its
 * inferred per-image input and output shapes, plus the model-wide settings
 * (training, attack, regularisers, ensemble).  Every node remembers the spec
 * location it came from, so the generated C can cite it.
 */
#ifndef ADVCC_IR_H
#define ADVCC_IR_H

typedef struct ir_loc {
    const char *file;       /* as given to the compiler */
    int line, col;
    const char *text;       /* the source line, without newline */
} ir_loc;

/* Per-image shape: c x h x w; a feature vector is c x 1 x 1 with flat set. */
typedef struct ir_shape {
    int c, h, w;
    int flat;
} ir_shape;

/* The layer kinds, in the order --help lists them: X(op, name) for each,
 * its code in compiler/kind_*.c as `const layer_kind kind_<name>` (kind.h).
 * A new kind is a line here and its file. */
#define IR_OPS(X)                                                           \
    X(IR_NORMALIZE, normalize)  /* (x - mean[c]) / std[c] */                \
    X(IR_CONV, conv)                                                        \
    X(IR_BATCHNORM, batchnorm)                                              \
    X(IR_RELU, relu)                                                        \
    X(IR_AVGPOOL, avgpool)                                                  \
    X(IR_MAXPOOL, maxpool)                                                  \
    X(IR_FLATTEN, flatten)                                                  \
    X(IR_LINEAR, linear)                                                    \
    X(IR_NOISE, noise)  /* RSE: x + N(0, sigma^2), training and inference */ \
    X(IR_DTRELU, dtrelu)  /* learnable-threshold quantised activation */    \
    X(IR_PWLINEAR, pwlinear)  /* appendix activations */                    \
    X(IR_NAIVEDT, naivedt)                                                  \
    X(IR_DDTRELU, ddtrelu)                                                  \
    X(IR_LEAKYRELU, leakyrelu)  /* x > 0 ? x : slope * x */                 \
    X(IR_TANH, tanh)                                                        \
    X(IR_SIGMOID, sigmoid)  /* 1 / (1 + exp(-x)) */                         \
    X(IR_GAP, gap)  /* global average pool: c x h x w -> c, flat */       \
    X(IR_DROPOUT, dropout)  /* training only: x * mask / (1 - p) */       \
    X(IR_ADD, add)  /* a residual block's output: main + shortcut */

typedef enum ir_op {
#define IR_OP_ENUM(op, name) op,
    IR_OPS(IR_OP_ENUM)
#undef IR_OP_ENUM
    IR_OP_COUNT
} ir_op;

/* Fake quantiser of a weight tensor (docs/METHODS.md 4). bits == 0: none. */
typedef enum { IR_QRANGE_MINMAX = 0, IR_QRANGE_FIXED, IR_QRANGE_CHANNEL } ir_qrange;
typedef struct ir_quant {
    int bits;
    ir_qrange range;
    double lo, hi;          /* IR_QRANGE_FIXED */
    ir_loc loc;             /* the quantize statement */
} ir_quant;

typedef struct ir_node {
    ir_op op;
    char name[32];          /* unique in the model: "conv1", "bn2", "fc3" */
    ir_loc loc;
    ir_loc call;            /* a layer of a macro's body: the outermost call
                               that expanded it (file NULL: none) */
    ir_shape in, out;
    int src;                /* the node whose output it reads; -1: the
                               model's input */
    int src2;               /* IR_ADD: the shortcut's end (or the block's
                               input, -1 the model's); -1 otherwise */

    /* IR_CONV */
    int out_c;
    /* IR_CONV, IR_AVGPOOL, IR_MAXPOOL: the window, kh x kw, its stride and
     * zero padding along the height and the width (pools: square, no
     * padding, the stride defaulting to k) */
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
    /* IR_CONV, IR_LINEAR */
    int out_features;
    int bias;               /* 1: has a bias (default) */
    ir_quant wquant;
    /* IR_NORMALIZE: one value per input channel */
    double mean[16], std[16];
    /* IR_NOISE */
    double sigma;
    /* IR_DTRELU and the appendix activations */
    int abits;
    double lo, hi;          /* initial bounds */
    int levels;             /* piecewise activations: number of thresholds */
    /* IR_LEAKYRELU */
    double slope;
    /* IR_DROPOUT: the share of elements zeroed in training */
    double drop;
} ir_node;

/* A fused group (fuse.c): a run of nodes the emitter writes as one kernel,
 * led by its first node, with the role of each node it absorbed. */
typedef struct ir_group {
    int first, last;        /* node indices, inclusive */
    int bn, act, pool;      /* the absorbed BatchNorm, activation and pool
                               nodes; -1: none */
} ir_group;

/* Regularisers (docs/METHODS.md 5), one entry per (kind, layer). */
typedef enum { IR_REG_ORTHO = 0, IR_REG_SPECTRAL } ir_reg_kind;
typedef struct ir_reg {
    ir_reg_kind kind;
    int node;               /* index of the conv or linear node */
    double weight;
    int form;               /* ortho: 1..4, docs/METHODS.md 5 */
    int iters;              /* spectral: power iterations per step */
    int persistent;         /* spectral: keep u, v across steps */
    ir_loc loc;
} ir_reg;

/* The learning-rate schedule (runtime/schedule.h): kind 0 is constant. */
#define IR_SCHEDULE_POINTS 8
typedef struct ir_schedule {
    int kind;               /* enum advcc_schedule (vocab.h) */
    int n;                  /* multistep: milestones; piecewise: knots */
    double at[IR_SCHEDULE_POINTS], factor[IR_SCHEDULE_POINTS];
    double gamma, min_lr, pct, div, final_div;
    int warmup;             /* epochs of linear warm-up */
} ir_schedule;

typedef struct ir_train {
    double lr, momentum, weight_decay;
    int batch, epochs;
    int adversarial;
    int optimizer;          /* enum advcc_optimizer (vocab.h): 0 SGD */
    int nesterov;
    double beta1, beta2, eps;   /* Adam, AdamW */
    ir_schedule schedule;
    int crop, flip;         /* `augment crop=P flip=1` */
    ir_loc loc;
} ir_train;

typedef struct ir_attack {
    int present;
    double eps, alpha;
    int steps, restarts, eot;
    int init;               /* 0 none, 1 gaussian, 2 uniform (model.h) */
    int clip;               /* 0 pixel, 1 normalized */
    int norm;               /* 0 linf, 1 l2 */
    /* `attack apgd|square|autoattack|fab` (docs/METHODS.md 9); pgd uses none */
    int method;             /* 0 pgd, 1 apgd, 2 square, 3 autoattack, 4 fab */
    int loss;               /* apgd: 0 ce, 1 dlr, 2 targeted (DLR) */
    int iters, targets;     /* apgd, fab */
    int queries;            /* square */
    int version;            /* autoattack: 0 by the model, 1 standard, 2 rand */
    int quick;              /* autoattack: the shortened attacks */
    ir_loc loc;
} ir_attack;

typedef struct ir_model {
    char name[64];
    const char *source;     /* the spec file that defined the model */
    char spec_hash[20];     /* FNV-1a 64 of that file's text and of every file
                               it includes, as 16 hex digits (checkpoints
                               record it) */
    char patches[160];      /* "baseline + adv + reg" for a composition, the
                               model's own name otherwise */
    ir_loc loc;
    ir_shape input;
    int classes;
    ir_node *nodes;
    int n_nodes;
    ir_reg *regs;
    int n_regs;
    ir_train train;
    ir_attack attack;       /* evaluation attack */
    ir_attack train_attack; /* adversarial training's attack (defaults to attack) */
    int ensemble;           /* >= 1 */
    int ensemble_probs;
    ir_group *groups;       /* set by fuse.c */
    int n_groups;
    /* The front end's bookkeeping between its stages (frontend.c). */
    int base;               /* a composition: its base's index; -1 */
    int emitted;            /* defined in a file named on the command line */
    int failed;             /* a stage reported an error in it (or its base) */
} ir_model;

typedef struct ir_program {
    ir_model *models;
    int n_models;
} ir_program;

const char *ir_op_name(ir_op op);
void ir_program_free(ir_program *p);

#endif
