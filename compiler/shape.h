/* shape.h - shape inference: the per-image shape every node takes and
 * gives, checked against what each layer needs (an image for conv and
 * pools, a flat vector for linear, a kernel no larger than its padded
 * input, class scores at the end), and the parameter count of a model. */
#ifndef ADVCC_SHAPE_H
#define ADVCC_SHAPE_H

#include <stdio.h>
#include "ir.h"

/* Limits that keep every size in an int with room to spare. */
enum { SHAPE_MAX_ELEMS = 1 << 27 };     /* activations per image, per layer */
#define SHAPE_MAX_PARAMS (1LL << 31)

/* Sets in and out of every node; 0, or -1 after reporting the first
 * error (later shapes would follow from a wrong one). */
int shape_model(ir_model *m);

/* Trained parameters of a node; *state gets its untrained state (BatchNorm
 * running mean and variance).  conv: out*in*k*k + bias; batchnorm: 2c + 2c
 * running; linear: out*in + bias; dtrelu, pwlinear: 2 bounds; naivedt,
 * ddtrelu: one threshold per level. */
long long shape_node_params(const ir_node *n, long long *state);
long long shape_model_params(const ir_model *m, long long *state);

/* "3x32x32", or "2048" for a flat vector. */
const char *shape_text(ir_shape s, char *buf, size_t size);
/* The table of --shapes: per layer its name, kind, output CxHxW,
 * parameters and spec location, then the totals. */
void shape_print(FILE *out, const ir_model *m);

#endif
