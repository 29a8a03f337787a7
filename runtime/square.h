/* square.h - the Square attack (Andriushchenko et al. 2020; docs/METHODS.md
 * 7), L-infinity: a random search that needs no gradient, only the model's
 * output.
 *
 * Start: every column of every channel moved by +eps or -eps (vertical
 * stripes), kept in the box [0, 1].  Each iteration draws, per image still
 * classified right, a square of side s at a random place and sets it, per
 * channel, to x + eps or x - eps (random sign, into [0, 1]); the candidate
 * replaces the current point when it lowers the margin
 * z_y - max_{j != y} z_j.  s = round(sqrt(p d / c)) (at least 1, at most the
 * image side), with p = p_init halved at iterations 10, 50, 200, 500, 1000,
 * 2000, 4000, 6000, 8000 of a 10000-query run, rescaled to the budget.
 * Queries (forward passes of one image) are counted exactly: 1 for the
 * start, then 1 per iteration for each image not yet misclassified, at most
 * `queries` in all.
 *
 * L2: windows of concentric rings of opposite sign on the two halves; each
 * step moves the perturbation's mass on two random windows into the first
 * (square.c says how), the perturbation always of norm eps (before the
 * box).  Sides s = round(sqrt(p h w)), odd, at least 3. */
#ifndef ADVCC_SQUARE_H
#define ADVCC_SQUARE_H

#include "infer.h"
#include "rng.h"

typedef struct square_cfg {
    int norm;               /* ADVCC_LINF or ADVCC_L2 */
    double eps;
    int queries;            /* per image, >= 1 */
    double p_init;          /* 0.8 */
    int mode;               /* ADVCC_EVAL */
} square_cfg;

typedef struct square_ws {
    infer_ws *inf;
    int cap, in_size;
    real_t *xbest, *cand, *xs, *logits;
    double *pat;            /* [h][w]: an L2 square's pattern */
    double *margin;
    int *idx, *ys, *live;
} square_ws;

void square_defaults(square_cfg *cfg, double eps);
int square_check_cfg(const square_cfg *cfg, char *err, size_t errlen);
/* The square-size fraction p at iteration it (0-based) of a run of n_queries. */
double square_p(double p_init, int it, int n_queries);
/* The side of the square for fraction p on c x h x w images. */
int square_side(double p, int c, int h, int w);

int square_init(square_ws *w, infer_ws *inf);
void square_free(square_ws *w);

/* Attacks x[n] with labels y; writes xadv, hit_query[n] (the query at which
 * the image was first misclassified, 1-based, or -1) and queries[n] (the
 * queries it used).  0, or -1 when cfg is invalid. */
int square_attack(square_ws *w, const square_cfg *cfg, const real_t *x,
                  const int *y, int n, advcc_rng *rng, real_t *xadv,
                  int *hit_query, long long *queries);

/* z_y - max_{j != y} z_j */
double square_margin(const real_t *row, int classes, int y);

#endif
