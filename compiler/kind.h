/* kind.h - the layer kinds (conv, batchnorm, relu, ...) and the contract
 * each one keeps.  Everything about one kind lives in one file,
 * compiler/kind_<name>.c (the pools share kind_pool.c, the appendix
 * activations kind_threshold.c), which defines `const layer_kind
 * kind_<name>`: how it is written and checked, how a written layer lowers
 * into an ir_node, its shape rule, its parameters (count, tensors, initial
 * values), its arena needs, the C it emits forward and backward (alone, and
 * as a member of a fused conv or linear group), its PyTorch twin and its
 * description.  IR_OPS in ir.h lists the kinds; kind_of(op) is how the rest
 * of the compiler (layer, shape, fuse, emit_plan, emit, emit_torch,
 * describe) reaches them, and none of it names an op.
 *
 * A hook left NULL means the kind has nothing there: no parameters, an
 * elementwise shape, no arena of its own, no part in a fused group. */
#ifndef ADVCC_KIND_H
#define ADVCC_KIND_H

#include <stdio.h>
#include "emit_internal.h"
#include "ir.h"
#include "params.h"

/* What a kind is, for the generic passes. */
enum {
    KIND_WEIGHTED = 1 << 0,     /* a weight matrix that quantize and regularize
                                   act on (conv, linear) */
    KIND_ACT = 1 << 1,          /* an activation a conv or linear group absorbs */
    KIND_BN = 1 << 2,           /* a BatchNorm a conv group absorbs */
    KIND_POOL = 1 << 3,         /* a pool a conv group absorbs */
    KIND_LAYOUT = 1 << 4,       /* reads or changes the images' layout:
                                   normalize must come before it */
    KIND_FEATURES = 1 << 5,     /* the first group it leads is the feature
                                   map `MODEL features` dumps */
    KIND_KEEPS_INPUT = 1 << 6,  /* as a linear group's activation, its
                                   backward reads its input, not its output */
    KIND_INPUT_NORM = 1 << 7,   /* as the first layer, the model's input
                                   normalisation (model.h norm_mean) */
    KIND_GRAD_IDENTITY = 1 << 8,    /* its input gradient is its output
                                   gradient (noise): alone in its group, it
                                   hands the buffer down (emit_group
                                   grad_pass) instead of copying it */
};

/* The arena being laid out (emit_plan.c): per-image and fixed reals so far,
 * and the largest im2col, gradient and dy scratch any group needs. */
typedef struct plan_state {
    long per, fixed, col, grad, dy;
} plan_state;

/* Every arena slot, fixed tensor and parameter tensor (of this many reals
 * or more) starts on a multiple of this many reals (64 bytes: a cache line,
 * an AVX-512 vector), so that batch_cap times a slot's offset does too
 * whatever the batch: the seed CNN's scratch slots, 10 reals off, had every
 * vector load of a batch of 100 straddle two lines.  The parameter
 * buffer's gaps stay zero. */
#define PLAN_ALIGN 16
long plan_round(long n);
/* n reals at *at, rounded up to PLAN_ALIGN; *at moves past them. */
long plan_take(long *at, long n);

struct json_t;                  /* Jansson's value (describe_json.c) */
typedef struct layer_kind layer_kind;
struct layer_kind {
    const char *name;           /* as written: "conv" */
    ir_op op;
    const char *prefix;         /* default names: conv1, conv2, ... */
    const param_spec *params;
    int n_params;
    const param_spec *insert_param; /* also taken by `insert ... before`
                                       (noise first=), or NULL */
    const char *usage;          /* one line for --help */
    unsigned flags;             /* KIND_* */
    unsigned absorbs;           /* as a group's first node: the KIND_BN,
                                   KIND_ACT, KIND_POOL that may follow it
                                   into its group, in that order (fuse.c) */
    const char *runtime;        /* its ADVCC_LAYER_* (runtime/model.h) */
    const char *headers;        /* runtime headers its code includes,
                                   space-separated, or NULL */

    /* Lowering: the node's fields from the bound parameters v (k->params
     * order); the name is set.  0, or -1 after reporting at loc or at a
     * value's own location. */
    int (*lower)(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc);
    /* Shape: *out starts as n->in; 0, or -1 after reporting.  prev is the
     * node n reads (n->src), or NULL: the model's input. */
    int (*shape)(const ir_model *m, const ir_node *n, const ir_node *prev,
                 ir_shape *out);
    /* Trained parameters; *state (0 on entry) gets untrained state. */
    long long (*count)(const ir_node *n, long long *state);
    /* Its tensors, in checkpoint order (emit_add_tensor). */
    void (*tensors)(emit_plan *p, const ir_node *n);
    /* KIND_WEIGHTED: the tensors u (output side) and v (input side) of a
     * spectral penalty's power iteration on it, named by the suffixes. */
    void (*spectral_state)(emit_plan *p, const ir_node *n, const char *u, const char *v);
    /* Arena: NCHW input the kind wants as CNHW (1), and the layout it
     * gives (LAYOUT_*, or -1: its input's). */
    int (*cnhw_input)(const ir_node *n);
    int out_layout;
    /* Its slots and scratch, for each node n of group g (the first node
     * first); emit_plan_cnhw_input converts an NCHW input. */
    void (*plan)(emit_plan *p, emit_group *g, const ir_node *n, plan_state *st);
    /* Statements of model_init filling its parameters from p. */
    void (*init)(FILE *out, const emit_plan *p, const ir_node *n);
    /* The forward and backward functions of a group it leads. */
    void (*group)(FILE *out, const emit_plan *p, const emit_group *g);

    /* Activations (KIND_ACT).  A call of its kernel over count values of x
     * into y (forward) or, with dout, into the input gradient y (backward),
     * at indent ind: a linear group's epilogue and a lone group. */
    void (*call)(FILE *out, const emit_plan *p, const ir_node *n, int backward,
                 int ind, const char *x, long count, const char *y);
    /* A kind below whose group an ensemble's passes share the backward
     * (model.h backward_top): bottom 0, the line returning the gradient at
     * its first node's output once the group's backward ran with dx NULL
     * (grad: the group's dout); bottom 1, the statement writing the input
     * gradient dx from such a gradient grad.  NULL: passes do not share. */
    void (*share_backward)(FILE *out, const emit_group *g, int bottom, const char *grad,
                           const char *dx);
    /* Its members of a conv group's descriptor (runtime/conv_group.h),
     * g->act being it: .act and the parameters that kind reads. */
    void (*fused)(FILE *out, const emit_plan *p, const emit_group *g, int ind);
    int fused_fix;              /* fixed reals per output channel it keeps
                                   in a conv group (emit_group.act_fix) */

    /* PyTorch: the constructor of its module (quant: the keyword arguments
     * of a quantised weight, "" when none).  0, or -1: none. */
    int (*torch)(const ir_node *n, const char *quant, char *buf, size_t len);
    /* Description (describe.c): the section it is listed in
     * ("activations", "noise") and its text after the layer's name. */
    const char *section;
    void (*describe)(const ir_node *n, char *buf, size_t len);
    /* Its settings as members of o, the layer's object in the model's
     * JSON description (describe_json.c), or NULL: none. */
    void (*settings)(const ir_node *n, struct json_t *o);
};

/* The kind of op (never NULL for a valid op). */
const layer_kind *kind_of(ir_op op);
int layer_kind_count(void);
const layer_kind *layer_kind_at(int i);
const layer_kind *layer_kind_find(const char *name);

/* The value of parameter key in v, or dflt when not given; the value. */
double kind_arg_num(const layer_kind *k, const param_val *v, const char *key, double dflt);
const param_val *kind_arg(const layer_kind *k, const param_val *v, const char *key);

/* Shared by the kinds. */
/* kind_relu.c: the forward and backward of a lone activation (KIND_ACT,
 * not KIND_KEEPS_INPUT) by its kernel call, whose backward reads the
 * output. */
typedef void (*kind_act_call)(FILE *out, const emit_plan *p, const ir_node *n, int backward,
                              int ind, const char *x, long count, const char *y);
void kind_lone_act(FILE *out, const emit_plan *p, const emit_group *g, kind_act_call call);
/* kind_pool.c: n needs an image input (conv, pools); 0, or -1 after
 * reporting.  The output side of a window k, stride s, padding p over n. */
int kind_need_image(const ir_node *n, const ir_node *prev);
long long kind_window_out(long long n, int k, int s, int p);
/* kind_dtrelu.c: bits, lo and hi of the learnable-threshold activations,
 * checked (lo < hi). */
int kind_threshold_bounds(const layer_kind *k, const param_val *v, ir_node *n, ir_loc loc);
/* emit_plan.c: a kind that always wants CNHW input. */
int kind_cnhw_always(const ir_node *n);

#endif
