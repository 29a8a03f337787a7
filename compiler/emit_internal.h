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
} emit_tensor;

/* A fused group: a run of nodes the emitter writes as one kernel. */
typedef struct emit_group {
    int index;
    int first, last;        /* node indices, inclusive */
    const ir_node *main;    /* first node */
    const ir_node *bn, *act, *pool;     /* absorbed nodes, or NULL */
    int in_layout, out_layout;
    long in_slot;           /* per-image arena offset of the input, -1: model input */
    long out_slot;          /* per-image arena offset of the output */
    long y_slot;            /* conv groups with an epilogue: pre-epilogue output */
    long argmax_slot;       /* max pools: argmax offsets (ints) */
    long bn_fix;            /* fixed arena offset of BatchNorm mean, invstd */
    long cv_slot, cvg_slot; /* spatial kernels fed NCHW images: the input
                               converted to CNHW, and its gradient; -1: none */
    long in_size, out_size; /* per image */
} emit_group;

typedef struct emit_plan {
    const ir_model *m;
    emit_group *groups;
    int n_groups;
    emit_tensor *tensors;
    int n_tensors;
    long n_params;
    long per_image;         /* arena reals per image of batch capacity */
    long fixed;             /* arena reals independent of the batch */
    long col_slot;          /* im2col scratch, per image */
    long grad_slot[2];      /* backward ping-pong, per image */
    long dy_slot;           /* conv epilogue backward scratch, per image */
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
/* A comment citing the spec line a node came from. */
void emit_cite(FILE *out, int indent, const ir_node *n);

void emit_params(FILE *out, const emit_plan *p);
void emit_group_conv(FILE *out, const emit_plan *p, const emit_group *g);
void emit_group_linear(FILE *out, const emit_plan *p, const emit_group *g);
void emit_group_other(FILE *out, const emit_plan *p, const emit_group *g);

#endif
