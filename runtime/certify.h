/* certify.h - certified L2 robustness from the network's Lipschitz
 * constant (docs/METHODS.md 10; Tsuzuku et al. 2018).
 *
 * L is the product over the layers, in evaluation mode, of a sound upper
 * bound of each layer's L2 operator norm (lipschitz.h), walking the model's
 * layer list (model.h):
 *   normalize       folded into the next conv or linear (input channels
 *                   scaled by 1/std), else 1 / min std
 *   conv            the true operator (padding, stride) by the Fourier
 *                   bound, or Gram iteration on the dense matrix when small
 *                   (the smaller of the two); a following BatchNorm is
 *                   folded into it (output channels scaled by
 *                   gamma / sqrt(running_var + eps))
 *   linear          Gram iteration on W (BatchNorm after it folded)
 *   batchnorm alone max |gamma| / sqrt(running_var + eps)
 *   relu, flatten   1
 *   avgpool k, s    1/k when s >= k (exact); else ceil(k/s)/k
 *                   (sqrt(||A||_1 ||A||_inf))
 *   maxpool k, s    1 when s >= k; else ceil(k/s) (an input is in at most
 *                   ceil(k/s)^2 windows)
 * A logit margin m = z_y - max_{j != y} z_j then holds within
 * m / (sqrt(2) L).  When the last layer is linear the pair bound is used
 * too: z_y - z_j is (L_before ||w_y - w_j||)-Lipschitz, so the radius is
 * min_j (z_y - z_j) / (L_before ||w_y - w_j||), never smaller.
 *
 * Refused (certify_supported): quantised activations and fake-quantised
 * weights (the network is discontinuous, no Lipschitz constant), noise
 * layers and ensembles (the prediction is random: randomized smoothing,
 * Cohen et al. 2019, is the certificate that applies).
 *
 * flattened != 0 replaces each conv's bound by sigma_max of its reshaped
 * kernel [co][ci*k*k]: NOT an operator norm, kept to show that it
 * "certifies" radii an attack breaks. */
#ifndef ADVCC_CERTIFY_H
#define ADVCC_CERTIFY_H

#include <stddef.h>
#include "model.h"

typedef struct certify_layer {
    char name[96];          /* the layers folded together: "normalize+conv1+bn1" */
    const char *method;     /* how the bound was found */
    double bound;           /* sound upper bound of the L2 norm */
    double estimate;        /* power iteration (a lower estimate); = bound where exact */
    double flat;            /* convs: the flattened kernel's norm; else = bound */
} certify_layer;

typedef struct certify_net {
    int n;
    certify_layer *layers;
    int classes;
    int flattened;          /* the radii use the flat numbers */
    double lipschitz;       /* product of the bounds (flat ones when flattened) */
    double estimate;        /* product of the estimates: not a bound */
    int pairwise;           /* the last layer is linear: pair[] is set */
    double before_last;     /* product of the bounds before it */
    double *pair;           /* [classes][classes]: ||w_i - w_j|| */
} certify_net;

typedef struct certify_opts {
    int gram_iters;         /* 0: LIP_GRAM_ITERS */
    int power_iters;        /* 0: LIP_POWER_ITERS */
    int flattened;
    long dense_max;         /* dense conv operators up to this many entries; 0: 2^18 */
} certify_opts;

/* 0 when the Lipschitz certificate applies to m, else -1 with the reason. */
int certify_supported(const advcc_model *m, char *err, size_t errlen);

/* The bounds of m with parameters params.  0, or -1 with the reason. */
int certify_bounds(const advcc_model *m, const real_t *params,
                   const certify_opts *o, certify_net *net, char *err,
                   size_t errlen);
void certify_net_free(certify_net *net);

/* One image: its logits row and label.  Writes the prediction, the margin
 * z_pred - z_runner-up (of the true class when right), and returns the
 * certified radius (0 when misclassified or tied); *global gets
 * m / (sqrt(2) L) alone when not NULL. */
double certify_radius(const certify_net *net, const real_t *logits,
                      int label, int *pred, double *margin, double *global);

#endif
