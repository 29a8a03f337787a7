/* orthogonal.h - the orthogonality penalties of the report's eq. (3) on a
 * weight W [rows][cols] (a conv weight [co][ci][k][k] is [co][ci*k*k]),
 * their values and exact gradients.  Frobenius norms, not squared:
 *
 *   ORTH_COLS        ||W^T W - I||                   (form 1)
 *   ORTH_ROWS        ||W W^T - I||                   (form 2)
 *   ORTH_OFFDIAG     ||W^T W o (1 - I)||             (form 3)
 *   ORTH_NORMALIZED  ||W^T W / ||W^T W|| - I||       (form 4, the report's)
 *
 * With A = W^T W and P the penalty:
 *   dP/dW = 2 (W A - W) / P                          forms 1 and 2
 *   dP/dW = 2 (W A - W diag(A)) / P                  form 3
 *   dP/dW = 2 (tr(A) / ||A||^3 W A - W / ||A||) / P  form 4
 * and where P = 0 (or W = 0 in form 4) the gradient is taken as 0; form 4
 * of a one-column W is 0 by construction and is returned as such.
 *
 * Only the Gram matrix of the shorter side is formed: W W^T and W^T W share
 * their Frobenius norm and trace (tr = ||W||^2), and W A = (W W^T) W, so a
 * [256][2048] weight costs a 256 x 256 Gram, not 2048 x 2048.  Where the
 * penalty's own Gram is the one formed, its value is summed entry by entry
 * (no cancellation); otherwise it follows from those invariants, e.g.
 * ||A - I||^2 = ||A||^2 - 2 tr(A) + cols. */
#ifndef ADVCC_ORTHOGONAL_H
#define ADVCC_ORTHOGONAL_H

#include <stddef.h>
#include "real.h"

enum orth_form {
    ORTH_COLS = 1,
    ORTH_ROWS = 2,
    ORTH_OFFDIAG = 3,
    ORTH_NORMALIZED = 4
};

/* Reals of scratch orthogonal_penalty needs for this shape. */
size_t orthogonal_scratch(int rows, int cols);

/* Returns the penalty P; when dw is not NULL adds scale * dP/dW into it. */
double orthogonal_penalty(const real_t *w, int rows, int cols, int form,
                          real_t scale, real_t *dw, real_t *scratch);

/* orthogonal_penalty's steps, for a caller that shares them among threads
 * (regularize.c): the Gram's pieces, in any order, each single-threaded
 * inside a parallel region; then orthogonal_finish, once; then the
 * gradient's columns, cut anywhere, in any order.  orthogonal_penalty is
 * these steps, the pieces side by side and the columns in one product, on
 * the team.  All but form 3 leave the gradient's one product to the
 * columns; form 3's finish makes it. */
#define ORTH_GRAM_PIECES 2      /* the most pieces a Gram comes in */
int orthogonal_gram_pieces(int rows, int cols);
/* The columns c0..c1 of W piece k reads (all of them in a one-piece Gram). */
void orthogonal_gram_piece_cols(int rows, int cols, int k, int *c0, int *c1);
void orthogonal_gram_piece(const real_t *w, int rows, int cols, int k, real_t *scratch);
/* The penalty P from the pieces' Gram in scratch.  *grad: in, whether the
 * gradient is wanted; out, whether it is not 0 and orthogonal_grad_cols
 * has it to add. */
double orthogonal_finish(const real_t *w, int rows, int cols, int form, real_t scale,
                         int *grad, real_t *scratch);
/* Columns c0..c1 of scale * dP/dW added into dw's, from orthogonal_finish's
 * scratch. */
void orthogonal_grad_cols(const real_t *w, int rows, int cols, int form, int c0, int c1,
                          const real_t *scratch, real_t *dw);

#endif
