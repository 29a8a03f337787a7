/* autoattack.h - APGD-CE, APGD-DLR, APGD-T, FAB-T and Square alone or as an
 * ensemble (AutoAttack, Croce & Hein 2020; docs/METHODS.md 9) over a data
 * set, with a per-image record of what broke each image.
 *
 * An image is attacked only while it is robust: classified right clean and
 * by every earlier attack's output, so the ensemble's robust accuracy is
 * the worst case per image.  An attack's output counts as broken when the
 * model misclassifies it on any of `judge` predictions (fresh noise draws
 * for a randomised model; 1 otherwise).  Clean accuracy is one prediction.
 *
 * Versions: standard = APGD-CE, APGD-T (DLR, the top `targets` classes of
 * the clean output, one run each), FAB-T (the same targets, one run each,
 * `iters` and `restarts` as APGD's), Square; rand = APGD-CE and APGD-DLR
 * with EOT over `eot` draws, judged on 10 draws.  quick shortens every
 * attack.
 *
 * An entry of cfg->attacks with AA_BPDA set is a gradient attack run with
 * ctx->bpda on, the identity in place of every activation quantiser and
 * threshold (docs/METHODS.md 11); its name ends in "/bpda".  aa_set_grad
 * marks them. */
#ifndef ADVCC_AUTOATTACK_H
#define ADVCC_AUTOATTACK_H

#include <stddef.h>
#include "apgd.h"
#include "dataset.h"
#include "fab.h"
#include "square.h"

enum aa_attack { AA_APGD_CE = 0, AA_APGD_DLR, AA_APGD_T, AA_SQUARE, AA_FAB_T,
                 AA_KINDS };
enum aa_version { AA_STANDARD = 0, AA_RAND };
#define AA_MAX_ATTACKS 8
#define AA_BPDA 0x100

typedef struct aa_cfg {
    int norm;               /* ADVCC_LINF or ADVCC_L2 */
    double eps;
    int attacks[AA_MAX_ATTACKS], n_attacks;
    int iters, restarts, eot, targets;  /* APGD; FAB-T: all but eot */
    int queries;                        /* Square */
    double p_init;
    int judge;              /* predictions per judged output, >= 1 */
    int mode;               /* ADVCC_EVAL or ADVCC_TRAIN_FROZEN */
    int limit;              /* the first `limit` images; <= 0: all */
    void (*progress)(void *arg, int attack, int done, int total);
    void *progress_arg;
    /* called after each batch with the records so far (a checkpoint) */
    int (*checkpoint)(void *arg, int n);
    void *checkpoint_arg;
} aa_cfg;

typedef struct aa_image {
    int label, clean_ok;
    int broken_by;          /* index into cfg->attacks, or -1 */
    int at;                 /* iteration (APGD, FAB-T) or query (Square) */
    double margin;          /* z_y - max_{j!=y} z_j of the last output */
    double pert;            /* its perturbation's norm (cfg->norm) */
    int done;               /* attacks finished on this image */
    int wrong;              /* judging predictions of the last output that
                               misclassified it */
} aa_image;

typedef struct aa_result {
    int n, clean_correct;
    int robust_after[AA_MAX_ATTACKS];   /* robust images after attack i */
    double seconds[AA_MAX_ATTACKS];
    long long grads, queries;           /* gradients (image x draw), Square
                                           queries */
    long long grad_rows, grad_zero_rows;    /* input gradients (image x
                                           step) and those exactly zero */
} aa_result;

const char *aa_attack_name(int kind);
/* -1 for an unknown name; "apgd-ce", "apgd-dlr", "apgd-t", "square",
 * "fab-t". */
int aa_attack_by_name(const char *name);
/* The ensemble of a version, and the settings of the reference's version
 * (quick: 20 iterations, 3 targets, 500 queries, 5 EOT draws). */
void aa_set_version(aa_cfg *cfg, int version, int quick);
/* One attack, the reference settings (quick: shortened). */
void aa_set_single(aa_cfg *cfg, int kind, int quick);
/* The gradient attacks of cfg (all but Square) under grad (enum
 * infer_grad): INFER_GRAD_BPDA flags each with AA_BPDA, INFER_GRAD_BOTH
 * follows each by its BPDA twin, which runs on the images the
 * straight-through one left robust.  0, or -1 when they would not fit. */
int aa_set_grad(aa_cfg *cfg, int grad);
int aa_check_cfg(const aa_cfg *cfg, int classes, char *err, size_t errlen);
/* 1 when the model draws noise in its forward pass. */
int aa_model_random(advcc_ctx *ctx);

/* Evaluates the first n images of d; img[n] must be given (n = limit or
 * d->n).  Images with img[i].done == n_attacks (e.g. read back from a CSV)
 * are not attacked again; done < n_attacks restarts that image's next
 * attack.  0, or -1 with a message in err. */
int aa_evaluate(advcc_ctx *ctx, const advcc_dataset *d, const aa_cfg *cfg,
                advcc_rng *rng, aa_image *img, aa_result *out, char *err,
                size_t errlen);

#endif
