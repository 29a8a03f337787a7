/* threshold_act.h - activations with several learnable thresholds, the
 * variants the report compares with DTReLU (its appendix, Figs. 11-12).
 * They serve the comparison in examples/activations; models use DTReLU.
 *
 * Each takes k >= 2 thresholds t[0] <= t[1] <= ... <= t[k-1] (k at most
 * THRESHOLD_MAX); after an update the caller restores the order with
 * thresholds_sort().  "cell j" is [t[j], t[j+1]), the interval between two
 * neighbouring thresholds.  Backward functions overwrite dx (may be NULL, may
 * alias dy) and the threshold gradients dt[k] (and dv[k]; NULL to skip);
 * with bpda nonzero dx = dy, the identity in place of the activation
 * (BPDA, docs/METHODS.md 11), and dt, dv are as without it.
 *
 * Naive dynamic threshold (naive_threshold_*): the output of cell j is its
 * left threshold,
 *     y = t[0]   for x < t[0]
 *     y = t[j]   for t[j] <= x < t[j+1]
 *     y = t[k-1] for x >= t[k-1],
 *     dy/dx = 1 on [t[0], t[k-1]] (straight through), else 0,
 *     dL/dt[j] = sum of dy over cell j (above t[j] only; t[0] also takes
 *                x < t[0], t[k-1] takes x >= t[k-1]).
 * Each threshold hears from one side only: on a loss that wants larger
 * outputs inside a cell it climbs towards the next threshold, the
 * thresholds pile up and the function collapses towards two values.
 *
 * DDTReLU (ddtrelu_*): every x goes to its nearest threshold (clipped at
 * the ends), so threshold t[j] collects the elements of both neighbouring
 * cells, from the midpoint m[j-1] = (t[j-1] + t[j]) / 2 up to
 * m[j] = (t[j] + t[j+1]) / 2:
 *     y = t[0]   for x < m[0]
 *     y = t[j]   for m[j-1] <= x < m[j]
 *     y = t[k-1] for x >= m[k-2],
 *     dy/dx = 1 on [t[0], t[k-1]], else 0,
 *     dL/dt[j] = sum of dy over the elements sent to t[j].
 * Pulled from both sides, each threshold settles where its elements'
 * gradients balance (for a squared error, at their mean: Lloyd's rule), so
 * the thresholds stay spread.
 *
 * Piecewise linear (pwl_*): knots t[j] with learnable values v[j],
 * continuous, no rounding; exact gradients:
 *     y = v[0] for x < t[0], v[k-1] for x >= t[k-1], and in cell j
 *     y = v[j] + w (v[j+1] - v[j]),  w = (x - t[j]) / (t[j+1] - t[j]);
 *     dy/dx = (v[j+1] - v[j]) / (t[j+1] - t[j]) in cell j, else 0;
 *     dy/dv[j] = 1 - w, dy/dv[j+1] = w (v[0], v[k-1] also take the ends);
 *     dy/dt[j] = (v[j+1] - v[j]) (w - 1) / (t[j+1] - t[j]),
 *     dy/dt[j+1] = -(v[j+1] - v[j]) w / (t[j+1] - t[j]).
 *
 * Cells are found by binary search, so each pass costs O(n log k).  Sums
 * accumulate in double. */
#ifndef ADVCC_THRESHOLD_ACT_H
#define ADVCC_THRESHOLD_ACT_H

#include "real.h"

#define THRESHOLD_MAX 256

void naive_threshold_forward(const real_t *x, long n, const real_t *t, int k,
                             real_t *y);
void naive_threshold_backward(const real_t *x, const real_t *dy, long n,
                              const real_t *t, int k, real_t *dx, real_t *dt,
                              int bpda);

void ddtrelu_forward(const real_t *x, long n, const real_t *t, int k,
                     real_t *y);
void ddtrelu_backward(const real_t *x, const real_t *dy, long n,
                      const real_t *t, int k, real_t *dx, real_t *dt,
                      int bpda);

void pwl_forward(const real_t *x, long n, const real_t *t, const real_t *v,
                 int k, real_t *y);
void pwl_backward(const real_t *x, const real_t *dy, long n, const real_t *t,
                  const real_t *v, int k, real_t *dx, real_t *dt, real_t *dv,
                  int bpda);

/* Sorts t[k] ascending, carrying v[k] along when v is not NULL. */
void thresholds_sort(real_t *t, real_t *v, int k);

#endif
