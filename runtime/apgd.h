/* apgd.h - Auto-PGD (Croce & Hein 2020; docs/METHODS.md 9) on any model,
 * through infer.h: PGD without a step size to tune.
 *
 * From x0 (uniform in the Linf ball, or a random direction of length eps for
 * L2) the attack takes N_iter momentum steps
 *   z       = P(x_k + eta * s(grad f(x_k)))
 *   x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1}))
 * with s the sign (Linf) or the gradient over its L2 norm, alpha = 0.75
 * (1 at the first step), P the projection onto the eps ball and the pixel
 * box [0, 1].  eta starts at 2 eps and is halved, per image, at a
 * checkpoint w_j (apgd_checkpoints) when
 *   1. fewer than rho (w_j - w_{j-1}) steps since w_{j-1} raised the loss
 *      over the one before, or
 *   2. eta was not halved at w_{j-1} and the best loss has not grown since;
 * on halving the image restarts from its best point.  The loss f is CE, DLR
 * or targeted DLR (infer.h), the gradient averaged over eot draws of the
 * model's noise.  Per image the first point found misclassified (judged on
 * the gradient pass's first draw) is kept, else the highest-loss point.
 * Since nothing can change a kept point, an image leaves the batch as soon
 * as it is misclassified (in evaluation mode, where images are independent):
 * the passes go to the images still robust.
 * Restarts run again only for images not yet misclassified. */
#ifndef ADVCC_APGD_H
#define ADVCC_APGD_H

#include "infer.h"
#include "rng.h"

#define APGD_MAX_CHECKPOINTS 64

typedef struct apgd_cfg {
    int norm;               /* ADVCC_LINF or ADVCC_L2 */
    double eps;             /* pixel units; L2: of the whole image */
    int iters;              /* N_iter >= 0 */
    int restarts;           /* >= 1 */
    int eot;                /* gradient draws per step, >= 1 */
    int loss;               /* INFER_CE, INFER_DLR or INFER_DLR_T */
    double rho;             /* 0.75 */
    double momentum;        /* alpha, 0.75 */
    int mode;               /* ADVCC_EVAL or ADVCC_TRAIN_FROZEN */
} apgd_cfg;

typedef struct apgd_ws {
    infer_ws *inf;
    int cap, in_size;
    real_t *xk, *xprev, *z, *grad, *xbest, *gbest, *logits;
    double *f, *fprev, *fbest, *fbest_last, *eta;
    int *succ, *reduced_last, *hit;
    /* The images still attacked sit at positions 0..m-1 of the arrays
     * above: pos[] is each one's index in the caller's batch, xs, ys, ts
     * its clean image, label and target there. */
    int *pos, *ys, *ts;
    real_t *xs;
    double *fout;           /* best loss of the last run, by caller's index */
} apgd_ws;

/* The paper's defaults: 100 iterations, 1 restart, CE, rho = momentum =
 * 0.75, no EOT. */
void apgd_defaults(apgd_cfg *cfg, int norm, double eps);
/* What the iterative attacks of the eps ball (APGD, FAB-T) check alike: a
 * known norm, eps finite and >= 0 (at most 1 for L-inf: pixels are in
 * [0, 1]), iterations >= 0, restarts >= 1, and passes that leave BatchNorm's
 * running statistics alone.  NULL, or what is wrong. */
const char *apgd_check_common(int norm, double eps, int iters, int restarts,
                              int mode);
/* 0, or -1 with the reason in err. */
int apgd_check_cfg(const apgd_cfg *cfg, int classes, char *err, size_t errlen);

/* The checkpoints w_1 < w_2 < ... <= n_iter, w_j = ceil(p_j n_iter), with
 * p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)
 * (the p_j are taken in exact hundredths).  Writes at most cap of them,
 * returns how many there are (w_0 = 0 not included). */
int apgd_checkpoints(int n_iter, int *w, int cap);

/* The k classes other than y with the largest entries of row, largest
 * first; returns how many (min(k, classes - 1)). */
int apgd_top_targets(const real_t *row, int classes, int y, int k, int *out);

/* v (one image of d values) onto the eps ball around x (Linf or L2) and
 * the box [0, 1]: the L2 ball first, then the box, which keeps the point in
 * the ball when x is in the box. */
void apgd_project(int norm, double eps, const real_t *x, real_t *v, int d);
/* ||v - x|| (L-inf or L2) over one image of d values, in double: the
 * perturbation's norm as every attack's budget check and record see it. */
double apgd_distance(int norm, const real_t *x, const real_t *v, int d);

/* 0, or -1 when out of memory.  inf must outlive w. */
int apgd_init(apgd_ws *w, infer_ws *inf);
void apgd_free(apgd_ws *w);

/* Attacks x[n] (n <= the batch cap) with labels y (and targets t for
 * INFER_DLR_T); writes xadv and, per image, hit_iter: the step (0 = the
 * start point, 1..iters) at which the model first misclassified it, or -1.
 * Adds the gradient computations (image x draw) to *grads when not NULL.
 * 0, or -1 when cfg is invalid. */
int apgd_attack(apgd_ws *w, const apgd_cfg *cfg, const real_t *x,
                const int *y, const int *t, int n, advcc_rng *rng,
                real_t *xadv, int *hit_iter, long long *grads);

#endif
