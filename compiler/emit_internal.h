/* emit_internal.h - what the parts of the C writer share: the arena plan of
 * a model (where every activation, scratch buffer and parameter lives) and
 * a line writer.  The plan is derived from the IR alone. */
#ifndef ADVCC_EMIT_INTERNAL_H
#define ADVCC_EMIT_INTERNAL_H

#include <stdio.h>
#include "ir.h"

/* Activation layouts between groups (see runtime/kernels.h). */
enum emit_layout { LAYOUT_NCHW, LAYOUT_CNHW, LAYOUT_ROWS };

/* One parameter tensor of a node. */
typedef struct emit_tensor {
    char name[48];          /* "conv1.weight" */
    char sym[48];           /* "P_conv1_weight": its offset constant */
    long offset, size;
    int ndim, shape[4];
    const char *kind;       /* "ADVCC_WEIGHT", ... */
    int train_only;         /* training state (power-iteration vectors) */
} emit_tensor;

/* A fused group: a run of nodes the emitter writes as one kernel. */
typedef struct emit_group {
    int index;
    int first, last;        /* node indices, inclusive */
    const ir_node *main;    /* first node */
    const ir_node *bn, *act, *pool;     /* absorbed nodes, or NULL */
    int in_layout, out_layout;
    int in2_layout;         /* an add's shortcut's */
    long in_slot;           /* per-image arena offset of the input, -1: model input */
    long in2_slot;          /* an add's shortcut: the same for its end */
    long in2_cv_slot;       /* its shortcut's end converted to the main
                               path's layout (CNHW or not); -1: none */
    int src, src2;          /* the groups whose outputs those are; -1: the
                               model's input (src2: no second input) */
    long out_slot;          /* per-image arena offset of the output */
    long y_slot;            /* conv groups with an epilogue: pre-epilogue output */
    long argmax_slot;       /* max pools: argmax offsets (ints) */
    long bn_fix;            /* fixed arena offset of BatchNorm mean, invstd */
    long cv_slot, cvg_slot; /* spatial kernels fed NCHW images: the input
                               converted to CNHW, and its gradient; -1: none */
    long tx_slot;           /* BatchNorm of flat rows: its input transposed to
                               [features][batch], kept for backward (y_slot
                               holds the transposed output); -1: none */
    long wq_fix, wq_range_fix;  /* quantised weights: fixed arena offsets of
                               the fake-quantised copy and of its bounds
                               (lo then hi, one pair or one per row); -1: none */
    long act_fix;           /* conv groups with DTReLU: per-channel sums of
                               the bound gradients (below, then above) */
    long in_size, out_size; /* per image */
    /* Its part in model_backward, whose buffers grad[] hold the gradients
     * of group outputs until their groups read them: its output's is in
     * grad[dout_buf] (-1: the logits'); its kernel writes its input's into
     * grad[in_buf] (-1: the caller's dx), and when another reader of that
     * input wrote there first, that is scratch added into grad[in_into]
     * (-1: dx; -2: no adding).  An add hands the same gradient to its
     * shortcut's end: copied into grad[in2_buf] (-1: dx), or added when
     * in2_add.  grad_pass: a KIND_GRAD_IDENTITY group whose input gradient
     * is grad[dout_buf] itself (in_buf == dout_buf), so no backward is
     * emitted for it. */
    int dout_buf, in_buf, in_into, in2_buf, in2_add, grad_pass;
    /* The names of its slots in the arena's enums (S_ per image, F_ fixed),
     * "" where the slot above is -1: in_sym is the input's, "" for the
     * model's input. */
    char in_sym[48], in2_sym[48], in2_cv_sym[48], out_sym[48], y_sym[48], argmax_sym[48], cv_sym[48],
         cvg_sym[48], tx_sym[48], bn_sym[48], wq_sym[48], wq_range_sym[48],
         act_sym[48];
} emit_group;

typedef struct emit_plan {
    const ir_model *m;
    emit_group *groups;
    int n_groups;
    emit_tensor *tensors;
    int n_tensors;
    long n_params;          /* the parameter buffer's reals, gaps included */
    long per_image;         /* arena reals per image of batch capacity */
    long fixed;             /* arena reals independent of the batch */
    long col_slot;          /* im2col scratch, per image */
    long *grad_slot;        /* model_backward's grad[], per image: two for
                               a chain, more where residual blocks hold
                               gradients for later */
    int n_grads;
    long dy_slot;           /* conv epilogue backward scratch, per image */
    /* The regularisers' scratch follows the fixed part; its size is asked of
     * the runtime (orthogonal_scratch, spectral_conv_scratch) at run time. */
    long long flops;
} emit_plan;

int emit_plan_build(const ir_model *m, emit_plan *p);
void emit_plan_free(emit_plan *p);
/* The tensor of node n with the given suffix ("weight"), or NULL. */
const emit_tensor *emit_tensor_of(const emit_plan *p, const ir_node *n,
                                  const char *suffix);

/* printf to out, prefixed by 4*indent spaces, newline appended. */
void emit_line(FILE *out, int indent, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* v as the shortest floating literal that reads back as the same double. */
const char *emit_real(double v, char *buf, size_t len);
/* v[0..n) as emit_real literals separated by ", " ("30.0, 60.0"). */
const char *emit_reals(const double *v, int n, char *buf, size_t len);
/* The opening of group g's forward or backward function, then a (void)
 * cast for each space-separated parameter name in unused. */
void emit_group_head(FILE *out, const emit_group *g, int backward,
                     const char *unused);
/* A comment citing the spec line a node came from. */
void emit_cite(FILE *out, int indent, const ir_node *n);
/* The same for any spec location, headed by what. */
void emit_cite_loc(FILE *out, int indent, const char *what, ir_loc loc);

/* A tensor of node n, after the tensors so far (kinds' tensors hooks). */
void emit_add_tensor(emit_plan *p, const ir_node *n, const char *suffix,
                     const char *kind, int ndim, int d0, int d1, int d2, int d3);
/* In a kind's plan hook for the first node of g: a spatial kernel fed
 * NCHW images converts them to CNHW first, into slots of its own. */
void emit_plan_cnhw_input(emit_group *g, long *per);
/* model_init's statements giving a weighted node's weight and bias
 * PyTorch's default: uniform in +-1/sqrt(fan_in). */
void emit_init_uniform(FILE *out, const emit_plan *p, const ir_node *n);

/* s as a C string literal (quotes included) into buf; control bytes as
 * octal escapes, so it is a Python string literal too. */
const char *emit_c_string(const char *s, char *buf, size_t len);

/* emit_quant.c: a conv or linear group's fake-quantised weight. */
/* Its fixed arena slots: the quantised copy and its bounds (nothing when
 * the layer is not quantised). */
void emit_wquant_plan(const emit_plan *p, emit_group *g, long *fixed);
/* The forward's quantisation of the weight into its arena slot (nothing
 * when the layer is not quantised). */
void emit_wquant_forward(FILE *out, const emit_plan *p, const emit_group *g,
                         int indent);
/* In a backward: names the forward's quantised copy wq (nothing when the
 * layer is not quantised). */
void emit_wquant_recall(FILE *out, const emit_group *g, int indent);
/* The expression of the weight the gemms use: the quantised copy wq or the
 * parameters. */
void emit_weight_expr(const emit_plan *p, const emit_group *g, char *buf,
                      size_t len);
/* After the weight gradient: the straight-through estimator's mask. */
void emit_wquant_backward(FILE *out, const emit_plan *p, const emit_group *g,
                          int indent);
/* A one-line description of a node's weight quantiser, "" when none. */
const char *emit_wquant_text(const ir_node *n, char *buf, size_t len);

/* emit_regularize.c: the table of terms, the scratch-size function
 * model_arena_size adds, the term names and model_regularize, or nothing. */
void emit_regularize(FILE *out, const emit_plan *p);
/* The suffixes of the power-iteration state tensors of the spectral
 * penalty regs[i] ("sn_u", "sn_v": tensors "conv1.sn_u", "conv1.sn_v"). */
void emit_spectral_suffix(const ir_model *m, int i, char *u, char *v,
                          size_t len);
/* The name of term i in the training log: "ortho_conv1", "spectral_fc2". */
void emit_reg_term_name(const ir_model *m, int i, char *buf, size_t len);

#endif
