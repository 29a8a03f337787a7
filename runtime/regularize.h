/* regularize.h - a model's penalties (docs/METHODS.md 5) run as one job:
 * the generated model lists its terms, regularize_run computes them
 * (orthogonal.h, spectral.h) and adds their gradients.
 *
 * The terms of one weight run one after the other, in the list's order
 * (they add into one gradient).  Small weights (their terms below
 * REG_SHARED_FLOPS) run side by side, a weight a thread, each
 * single-threaded in scratch of its own.  A large weight whose terms all
 * go in steps (orthogonal forms 1, 2, 4: the Gram's pieces, the finish,
 * the gradient's columns, orthogonal.h; spectral on a linear layer: the
 * iterations, the gradient's columns, spectral.h) is cut into
 * single-threaded jobs too: its Gram's pieces (blocks of columns), each
 * on the thread that owns the block's first column; then its power
 * iterations and the small weights share the team, dearest first; then
 * each term's finish; then its gradient by slabs of columns, a slab's
 * terms in the list's order, each slab on the thread owning its first
 * column.  A thread owns its share of the columns (parallel.h's
 * thread_share), so its Gram pieces and its slabs read the same columns
 * of the weight, and its slabs write those columns of the gradient: they
 * stay in that core's cache rather than move between cores (with the
 * Gram in blocks of rows, and pieces and slabs dealt as threads came
 * free, the seed CNN's penalties and the optimiser step after them took
 * 0.26 ms more a step at two threads).
 * Another large weight runs first, its terms on the whole team.
 * Run one at a time on the team, the small products and single-image
 * convolutions left a thread waiting, and so did the large weight's own
 * serial steps.  The bits depend on the thread count only where a step
 * runs on the whole team (gemm.c's slabs): a large weight's that does not
 * split, a lone job's, a lone slab's; not on which thread takes which job.
 * (OpenBLAS's Haswell sgemm rounds a column differently in products of
 * other widths, so the slabs are 512 columns wide whatever the thread
 * count.) */
#ifndef ADVCC_REGULARIZE_H
#define ADVCC_REGULARIZE_H

#include <stddef.h>
#include "kernels.h"
#include "real.h"

/* A weight's terms above this many FLOPs are a large weight's. */
#define REG_SHARED_FLOPS 1e8

enum reg_kind { REG_ORTHOGONAL, REG_SPECTRAL_LINEAR, REG_SPECTRAL_CONV };

typedef struct reg_term {
    enum reg_kind kind;
    long weight;                /* offset of the weight in params and grads */
    int rows, cols;             /* the weight as a matrix [rows][cols] */
    int form;                   /* REG_ORTHOGONAL: orthogonal.h's form */
    const conv_shape *conv;     /* REG_SPECTRAL_CONV: the convolution */
    long u, v;                  /* spectral: offsets of the persistent u, v */
    int iters, restart;         /* spectral: power iterations, from ones */
    double scale;               /* the term's weight in the loss */
} reg_term;

/* Reals of scratch regularize_run needs for these terms, a multiple of 16
 * (scratch from a 64-byte boundary keeps each term's room on one). */
size_t regularize_scratch(const reg_term *t, int n);

/* terms[i] = t[i].scale * P_i; when grads is not NULL, t[i].scale * dP_i/dW
 * added into grads at t[i].weight.  Returns the sum of terms[], in order. */
double regularize_run(const reg_term *t, int n, real_t *params, real_t *grads, double *terms,
                      real_t *scratch);

#endif
