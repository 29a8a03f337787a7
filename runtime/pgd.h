/* pgd.h - projected gradient descent on the cross-entropy (docs/METHODS.md 2;
 * Madry et al. 2017), on any model, through infer.h.
 *
 * L-infinity (the report's attack): x0 = x + xi, xi ~ N(0, eps^2), uniform in
 * [-eps, eps] or none; x_i = x_{i-1} + alpha * sign(g); each point is put back
 * in the allowed box (pixels [0,1], or with clip = normalized the pixels whose
 * normalised value lies in [-2,2]: [mean - 2 std, mean + 2 std] per channel)
 * and then in the eps ball around x.  When x is inside the box this is the
 * projection onto their intersection; otherwise the ball wins.
 * L2: steps alpha * g / ||g||_2 per image, projection onto the ball of
 * radius eps; the gaussian start is eps * N(0, I) / sqrt(d) (norm about eps),
 * the uniform start uniform in the ball.
 * Targeted: y are targets and the attack lowers their loss.
 *
 * Restarts keep, per image, the attempt with the highest loss (lowest when
 * targeted), except that the first attempt that fools the model (reaches the
 * target) is kept over any that does not.  Once every image is fooled the
 * remaining attempts are skipped.
 *
 * pgd_ws owns every buffer of an attack of up to ctx->batch_cap images. */
#ifndef ADVCC_PGD_H
#define ADVCC_PGD_H

#include "infer.h"
#include "rng.h"

enum pgd_labels {
    PGD_LABELS_TRUE = 0,    /* attack the labels given */
    PGD_LABELS_PRED         /* attack the model's clean predictions */
};

typedef struct pgd_cfg {
    int norm;               /* enum advcc_norm */
    double eps, alpha;      /* pixel units; L2: of the whole image */
    int steps;              /* >= 0 */
    int restarts;           /* attempts, >= 1 */
    int eot;                /* gradient draws per step, >= 1 */
    int init;               /* enum advcc_init */
    int clip;               /* enum advcc_clip */
    const double *mean, *std;   /* per channel, for ADVCC_CLIP_NORMALIZED */
    int targeted;
    int labels;             /* enum pgd_labels; untargeted only */
    int mode;               /* ADVCC_EVAL; ADVCC_TRAIN_FROZEN in training */
} pgd_cfg;

/* Gradient health, summed over steps: callers warn of gradient masking
 * when many entries are exactly zero, or of any that is not finite. */
typedef struct pgd_stats {
    long long grad_entries, grad_zero, grad_nonfinite;
    long long attempts;     /* restarts actually run, summed over calls */
} pgd_stats;

typedef struct pgd_ws {
    infer_ws *inf;
    int cap, in_size;
    real_t *cur, *grad, *logits;
    real_t *box_lo, *box_hi;    /* [in_c] */
    double *best_loss;
    int *best_hit, *labels;
    double *normals;            /* a gaussian start's draws */
} pgd_ws;

/* A cfg from the spec's attack, in ADVCC_EVAL mode, true labels. */
void pgd_cfg_from_attack(pgd_cfg *cfg, const advcc_attack_cfg *a);
/* 0, or -1 with the reason in err. */
int pgd_check_cfg(const pgd_cfg *cfg, int channels, char *err, size_t errlen);

/* 0, or -1 when out of memory.  inf must outlive w. */
int pgd_init(pgd_ws *w, infer_ws *inf);
void pgd_free(pgd_ws *w);

/* Attacks images x[n] (n <= batch cap) with labels y; writes xadv (may not
 * alias x).  Initial points draw from rng; noise layers draw from the
 * model's ctx->rng.  Adds to *st when not NULL.  0, or -1 when cfg is
 * invalid. */
int pgd_attack(pgd_ws *w, const pgd_cfg *cfg, const real_t *x, const int *y,
               int n, advcc_rng *rng, real_t *xadv, pgd_stats *st);

#endif
