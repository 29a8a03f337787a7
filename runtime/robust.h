/* robust.h - clean and robust accuracy of a model over a data set, in
 * chunks of ctx->batch_cap images (docs/METHODS.md 2).
 *
 * Every image is attacked.  An image counts as robust when the model
 * classifies it and its attacked version correctly: a misclassified clean
 * image is its own adversarial example (perturbation 0).  So, by counting,
 *   clean_acc = clean_correct / n,  robust_acc = robust_correct / n,
 *   attack_success = (clean_correct - robust_correct) / clean_correct,
 * and robust_acc = clean_acc * (1 - attack_success) holds exactly;
 * adv_acc, the plain accuracy on the attacked images, is reported besides.
 *
 * Attacked images can be saved to a .npy [n][c][h][w] float32, and images
 * from such a file evaluated instead of attacking (transfer).  judge > 1
 * repeats the clean and adversarial predictions with fresh noise (for
 * randomised models); counts are then over n * judge predictions.
 * Predictions run in ADVCC_EVAL mode; the attack in cfg->attack->mode.
 * The attack's gradient crosses activation quantisers and thresholds as
 * cfg->grad says (infer.h; docs/METHODS.md 11): with INFER_GRAD_BOTH every
 * batch is attacked twice, straight through and under BPDA, and an image
 * keeps the BPDA attack's output when only that one is misclassified (one
 * prediction each).
 * The result is a function of the rng seeds and the thread count. */
#ifndef ADVCC_ROBUST_H
#define ADVCC_ROBUST_H

#include <stddef.h>
#include "dataset.h"
#include "pgd.h"

/* More than this share of input-gradient entries exactly zero suggests
 * gradient masking. */
#define ROBUST_ZERO_WARN 0.5

typedef struct robust_cfg {
    const pgd_cfg *attack;  /* NULL: clean accuracy only; a targeted attack
                               aims each image at class (label + 1) mod
                               classes */
    int limit;              /* the first `limit` images; <= 0: all */
    int judge;              /* predictions per image, >= 1 */
    const char *save_adv;   /* write the attacked images here, or NULL */
    const char *adv_file;   /* evaluate these images instead of attacking */
    int grad;               /* enum infer_grad */
    void (*progress)(void *arg, int done, int total);
    void *progress_arg;
} robust_cfg;

typedef struct robust_result {
    int n;                  /* images evaluated */
    long long total;        /* predictions per kind: n * judge */
    long long clean_correct, adv_correct, robust_correct;
    double clean_acc, robust_acc, attack_success, adv_acc;
    pgd_stats grad;
    double grad_zero_share;
    int grad_warning;       /* zero share above ROBUST_ZERO_WARN, or any
                               gradient entry not finite */
    long long bpda_broken;  /* INFER_GRAD_BOTH: images whose output came from
                               the BPDA attack, the other left them right */
} robust_result;

/* 0, or -1 with a message in err (bad configuration, an adv file of the
 * wrong shape, a write that failed, out of memory). */
int robust_evaluate(advcc_ctx *ctx, const advcc_dataset *d,
                    const robust_cfg *cfg, advcc_rng *rng, robust_result *out,
                    char *err, size_t errlen);

#endif
