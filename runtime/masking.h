/* masking.h - the gradient-masking checks (Carlini et al. 2019, "On
 * evaluating adversarial robustness"; docs/METHODS.md 11).  Each measures
 * one figure against a threshold and says PASS or WARNING:
 *
 *  a. eps sweep      the white-box attack at eps, 2 eps, 4 eps, ... up to
 *                    the whole box (Linf 1, L2 sqrt(d)) leaves no image
 *                    robust; each budget attacks only the images the last
 *                    one left robust (a point inside a ball is inside every
 *                    larger one);
 *  b. iterations     twice the iterations move robust accuracy by less than
 *                    MASKING_POINTS points;
 *  c. square         Square breaks at most MASKING_POINTS points of the
 *                    images the gradient attacks left robust;
 *  d. noise          the best of `draws` random points on the ball's surface
 *                    (a corner of the Linf cube, a point of the L2 sphere)
 *                    breaks fewer than MASKING_NOISE_SHARE times the images
 *                    the attack breaks;
 *  e. transfer       images crafted on the undefended twin (its `attack
 *                    --save-adv`) break no more images than the white-box
 *                    attack;
 *  f. frozen noise   a randomised model attacked with its noise frozen to
 *                    one draw, and judged on that draw, is broken no less
 *                    often (less MASKING_POINTS points of attack success)
 *                    than by the EOT attack on a fresh draw (the share of
 *                    its judging draws that misclassify);
 *  g. zero gradients at most MASKING_ZERO_MAX of the input gradients the
 *                    attack computed (image x step) are zero in every entry.
 *
 * An image is broken when classified right clean and wrong after the
 * attack (on any of the judging predictions, autoattack.h).  The white-box
 * attack is an aa_cfg: the gradient attacks with their BPDA twins
 * (aa_set_grad).  masking_verdict_* decide from the figures alone;
 * masking_run measures every check (`MODEL sanity`), masking_summary the
 * cheap ones from an AutoAttack run's own records. */
#ifndef ADVCC_MASKING_H
#define ADVCC_MASKING_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "autoattack.h"

#define MASKING_POINTS 0.5          /* percentage points */
#define MASKING_NOISE_SHARE 0.5
#define MASKING_ZERO_MAX 0.05

enum masking_check {
    MASKING_EPS = 0, MASKING_ITERS, MASKING_SQUARE, MASKING_NOISE,
    MASKING_TRANSFER, MASKING_FROZEN, MASKING_ZERO, MASKING_CHECKS
};
enum masking_verdict { MASKING_NOT_RUN = 0, MASKING_PASS, MASKING_WARNING };

typedef struct masking_item {
    int verdict;            /* enum masking_verdict */
    double figure;          /* the number the threshold judges */
    char detail[240];       /* the figures in words, or why not run */
} masking_item;

typedef struct masking_report {
    masking_item item[MASKING_CHECKS];
    int n, clean_correct, robust;   /* the white-box attack's images */
} masking_report;

typedef struct masking_cfg {
    aa_cfg attack;          /* the white-box attack, gradient attacks only;
                               its limit is the images checked */
    int grad;               /* enum infer_grad its entries were set for */
    int random;             /* the model draws noise: check f runs */
    int queries;            /* Square's budget (c) */
    int draws;              /* random points per image (d) */
    const char *transfer;   /* .npy of the twin's images (e), or NULL */
    uint64_t seed;
} masking_cfg;

/* "eps-sweep", "iterations", "square", "noise", "transfer", "frozen-noise",
 * "zero-gradients"; and the check in words. */
const char *masking_check_name(int check);
const char *masking_check_text(int check);
const char *masking_verdict_name(int verdict);

/* The verdicts, from the figures (n images, counts of images).  eps: the
 * largest budget attacked, robust: images left robust there. */
void masking_verdict_eps(masking_item *it, double eps, int norm, int robust, int n);
void masking_verdict_iters(masking_item *it, int iters, int robust, int robust2, int n);
void masking_verdict_square(masking_item *it, int broken, int n);
void masking_verdict_noise(masking_item *it, int draws, int noise_broken, int attack_broken);
void masking_verdict_transfer(masking_item *it, int transfer_broken, int attack_broken, int n);
/* Attack success per draw: frozen_broken of frozen_correct images on the
 * frozen draw; the EOT attack's eot_broken (the sum over images of the
 * share of their judging draws that misclassify them) of eot_correct. */
void masking_verdict_frozen(masking_item *it, int frozen_broken, int frozen_correct,
                            double eot_broken, int eot_correct);
void masking_verdict_zero(masking_item *it, long long rows, long long zero_rows);

/* Images of img[n] broken (clean right, then broken by an attack) and
 * robust. */
int masking_broken(const aa_image *img, int n);
int masking_robust(const aa_image *img, int n);

/* Every check on the first cfg->attack.limit images of d (<= 0: all),
 * printing each row to out (may be NULL) as it is decided.  0 when none
 * warns, 1 when one does, -1 on an error (err; a transfer file that does
 * not match the images says so with its name). */
int masking_run(advcc_ctx *ctx, const advcc_dataset *d, const masking_cfg *cfg,
                FILE *out, masking_report *rep, char *err, size_t errlen);

/* The checks an AutoAttack run answers cheaply, from its records img[n]
 * and res under cfg: c (images a Square entry broke), g (its gradients), d
 * with `draws` points per image, b on the first `subset` images (the
 * leading APGD-CE entries at twice their iterations against their own
 * records).  The others are left MASKING_NOT_RUN.  0, 1 or -1 as
 * masking_run. */
int masking_summary(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg,
                    const aa_image *img, const aa_result *res, int draws,
                    int subset, uint64_t seed, masking_report *rep, char *err,
                    size_t errlen);

/* One row, and the table of every check that ran. */
void masking_print_row(FILE *out, const masking_report *rep, int check);
void masking_print(FILE *out, const masking_report *rep);
/* The report as one JSON object: per check its verdict, figure (null when
 * not finite) and detail, and the count of warnings; NULL when out of
 * memory. */
json_t *masking_json(const masking_report *rep);
/* Checks that warn. */
int masking_warnings(const masking_report *rep);

#endif
