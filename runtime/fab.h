/* fab.h - FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein,
 * ICML 2020; docs/METHODS.md 9), L-infinity or L2, on any model through
 * infer.h: a search for the smallest perturbation that makes the model
 * prefer a target class t to the label y.
 *
 * Each step linearises f = z_t - z_y (infer.h, INFER_DIFF_T) at the current
 * point x_k, g = grad f(x_k), which gives the plane
 *   H = { z : f(x_k) + g . (z - x_k) = 0 },
 * projects both x_k and the original image x onto H within the pixel box
 * [0, 1] (fab_project: moves delta_k and delta_0), and goes to
 *   x_{k+1} = clip((x_k + eta delta_k)(1 - a) + (x + eta delta_0) a),
 *   a = min(|delta_k| / (|delta_k| + |delta_0|), alpha_max)
 * (norms of the attack's own kind, each at least 1e-8): eta > 1 steps a
 * little past the plane, and a biases the step towards x, more so the
 * closer x is to the plane.  When the model misclassifies x_{k+1} (judged
 * on one prediction), the point is kept if it is the closest to x found so
 * far, and the search steps back towards x: x_{k+1} = x + beta (x_{k+1} - x).
 * The first run starts at x itself; each further restart at a random point
 * at distance eps/2 (uniform direction scaled to L-inf or L2 norm eps/2),
 * clipped to the box.
 *
 * An image counts as broken when the closest misclassified point found has
 * norm <= eps; eps plays no other part.  Defaults are the reference's:
 * 100 iterations, 1 restart, alpha_max 0.1, eta 1.05, beta 0.9. */
#ifndef ADVCC_FAB_H
#define ADVCC_FAB_H

#include "infer.h"
#include "rng.h"

typedef struct fab_cfg {
    int norm;               /* ADVCC_LINF or ADVCC_L2 */
    double eps;             /* the budget: success, and the random starts */
    int iters;              /* >= 0 */
    int restarts;           /* >= 1; the first starts at x */
    double alpha_max;       /* (0, 1] */
    double eta;             /* >= 1 */
    double beta;            /* (0, 1) */
    int mode;               /* ADVCC_EVAL or ADVCC_TRAIN_FROZEN */
} fab_cfg;

/* One coordinate of the plane search: where its move stops growing with the
 * radius (key), how fast the distance to the plane falls while it grows
 * (slope), and by how much once it stops (gain). */
typedef struct fab_break {
    double key, slope, gain;
} fab_break;

typedef struct fab_ws {
    infer_ws *inf;
    int cap, in_size;
    real_t *xk, *grad, *best, *logits;  /* one block, owned by xk */
    double *f, *best_norm;              /* one block with the next, by f */
    double *t, *w, *d_k, *d_0;          /* one image, in double */
    fab_break *brk;
} fab_ws;

void fab_defaults(fab_cfg *cfg, int norm, double eps);
/* 0, or -1 with the reason in err. */
int fab_check_cfg(const fab_cfg *cfg, char *err, size_t errlen);

/* The point of { z : w . z = b } within [0, 1]^d closest to t (which must be
 * in the box) in the L-inf or L2 norm: writes delta = z - t and returns 1.
 * When the plane misses the box, writes the move to the box's point that
 * comes closest to it (every coordinate with w_i != 0 pushed to the bound
 * that moves w . z towards b) and returns 0.  Coordinates with w_i = 0
 * (|w_i| <= 1e-150) do not move.  Expected time O(d); scratch holds d
 * entries. */
int fab_project(int norm, const double *t, const double *w, double b, int d,
                fab_break *scratch, double *delta);

/* 0, or -1 when out of memory.  inf must outlive w. */
int fab_init(fab_ws *w, infer_ws *inf);
void fab_free(fab_ws *w);

/* Attacks x[n] (n <= the batch cap) towards targets t (t[b] != y[b]).
 * Writes, per image, xadv: the closest misclassified point found when its
 * norm is <= eps, else x itself; hit_iter: the iteration that first found a
 * misclassified point within eps (0: x itself is misclassified; restarts
 * count on, r iters + k), or -1; and into best_norm when not NULL the norm
 * of the closest misclassified point found (INFINITY when none).  Adds the
 * gradient computations to *grads when not NULL.  0, or -1 when cfg is
 * invalid. */
int fab_attack(fab_ws *w, const fab_cfg *cfg, const real_t *x, const int *y,
               const int *t, int n, advcc_rng *rng, real_t *xadv,
               int *hit_iter, double *best_norm, long long *grads);

#endif
