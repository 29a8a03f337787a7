/* infer.h - a model's prediction and the input gradient of its loss, as an
 * attacker sees them.
 *
 * A randomised model (RSE: noise layers, model->ensemble passes averaged)
 * predicts with the average of its passes: the mean of the logits, or, when
 * model->ensemble_probs, the log of the mean softmax probabilities (so that
 * argmax and cross-entropy read it like logits).  The input gradient goes
 * through that average: each pass runs in an arena of its own (the
 * context's for the first), so that its backward finds what it drew (a
 * prediction's passes, which no backward follows, all run in the
 * context's, its memory warm: RSE's attack 0.5% faster); the
 * arena's scratch, which no pass keeps, is the context's for every pass
 * (model.h keep_size: RSE's attack at batch 100 holds 4 x 40 MB less); when
 * those arenas would take more than INFER_KEEP_BYTES, each pass's backward
 * replays it instead, from the rng state it started from, so the same noise
 * is drawn again (the same gradient, bit for bit).  A model with a split
 * (model.h backward_top) runs each pass's backward down to it, sums the
 * passes' gradients there (last pass first) and runs the rest once.  With
 * eot = m > 1
 * the gradient is the mean over m independent draws of the whole average
 * (Expectation over Transformation, Athalye et al. 2018).
 *
 * A model whose forward pass draws nothing from ctx->rng is detected on the
 * first pass and run once: its passes and draws would all be equal.  With
 * w->freeze set, every call starts ctx->rng from *w->freeze, so the model
 * is one fixed draw of itself (the frozen-noise check, docs/METHODS.md 11).
 *
 * Every input gradient computed is counted, and so are those exactly zero
 * in every entry (a sign of gradient masking, docs/METHODS.md 11).
 *
 * Losses are per-image cross-entropies; gradients are those of their sum, so
 * an image's gradient does not depend on what else is in the batch (except
 * through batch-statistics BatchNorm).  Use ADVCC_EVAL or ADVCC_TRAIN_FROZEN:
 * a replayed ADVCC_TRAIN pass would update running statistics again.
 *
 * Passes run whole, each layer's work shared by the threads.  (One shard
 * of the batch per thread, each a whole pass in an arena of its own, was
 * measured on the seed CNN's attack: the same wall time, 0.99x; the
 * threads already keep the same pace layer by layer.)
 *
 * infer_ws owns every scratch buffer; nothing is allocated per call.  Each
 * call leaves ctx->arena pointing where it found it. */
#ifndef ADVCC_INFER_H
#define ADVCC_INFER_H

#include "model.h"
#include "rng.h"

typedef struct infer_ws {
    advcc_ctx *ctx;
    int passes;             /* max(1, model->ensemble) */
    int in_size, classes, cap;
    int random;             /* the last forward drew from ctx->rng */
    real_t *pass_out;       /* [passes][cap][classes]: each pass's logits */
    real_t *out;            /* [cap][classes]: the combined output */
    real_t *replay_out;     /* [cap][classes]: logits of a replayed pass */
    real_t *dlogits;        /* [cap][classes] */
    real_t *gout;           /* [cap][classes]: d loss / d combined output */
    real_t *dx_pass;        /* [cap][in_size] */
    double *lse;            /* [passes][cap]: log-sum-exp of each pass's row */
    advcc_rng *states;      /* [passes]: ctx->rng before each pass */
    real_t *dy_sum;         /* [cap][model->top_size]: the passes' summed
                               gradient at the split (NULL: no split) */
    real_t **arenas;        /* [passes - 1]: the arenas of passes 1, 2, ...;
                               NULL: passes are replayed */
    const advcc_rng *freeze;    /* not NULL: the noise of every call */
    long long grad_rows;        /* input gradients computed, image x call */
    long long grad_zero_rows;   /* of them, exactly zero in every entry */
} infer_ws;

/* How an attack's gradient crosses the model's activation quantisers and
 * thresholds (docs/METHODS.md 11): their straight-through (or exact)
 * derivative, the identity (BPDA: ctx->bpda), or both, the attack run under
 * each and an image counted broken when either breaks it. */
enum infer_grad { INFER_GRAD_STE = 0, INFER_GRAD_BPDA, INFER_GRAD_BOTH };
/* "ste", "bpda", "both"; infer_grad_by_name: -1 for another name. */
const char *infer_grad_name(int grad);
int infer_grad_by_name(const char *name);
/* The layers of m that BPDA replaces by the identity: dtrelu, pwlinear,
 * naivedt and ddtrelu (0 for a model without a layer list). */
int infer_bpda_layers(const advcc_model *m);

/* The most the arenas of an ensemble's passes may add to a context. */
#define INFER_KEEP_BYTES (1024.0 * 1024 * 1024)

/* 0, or -1 when out of memory.  ctx must outlive w. */
int infer_init(infer_ws *w, advcc_ctx *ctx);
/* Frees the passes' own arenas: from now on each backward replays its pass
 * (what infer_init chooses when they would not fit). */
void infer_replay_passes(infer_ws *w);
void infer_free(infer_ws *w);

/* logits[n][classes] of images x (NCHW), n <= ctx->batch_cap. */
void infer_logits(infer_ws *w, const real_t *x, int n, int mode,
                  real_t *logits);

/* Cross-entropy of the combined output against y, and its input gradient
 * dx[n][in] (averaged over eot >= 1 draws).  targeted: dx is the negated
 * gradient, the direction that lowers the loss of the target labels y, so an
 * attack always steps along +dx.  Writes the first draw's combined output
 * into logits_out when not NULL.  Returns the mean loss over images and
 * draws. */
double infer_loss_grad(infer_ws *w, const real_t *x, const int *y, int n,
                       int mode, int eot, int targeted, real_t *dx,
                       real_t *logits_out);

/* Losses of infer_loss_grad_kind (docs/METHODS.md 9), on the combined
 * output z of an image with label y (target t):
 *   INFER_CE     cross-entropy, as infer_loss_grad;
 *   INFER_DLR    -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3 + 1e-12), with
 *                z_pi1 >= z_pi2 >= ... the sorted output (3+ classes);
 *   INFER_DLR_T  -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)
 *                (4+ classes);
 *   INFER_DIFF_T z_t - z_y, the target's output over the label's: FAB-T
 *                linearises it (fab.h); positive once t beats y.
 * Each is to be increased by the attack. */
enum infer_loss { INFER_CE = 0, INFER_DLR, INFER_DLR_T, INFER_DIFF_T };

/* One row's loss, and into g (when not NULL) its gradient in the row. */
double infer_row_loss_kind(const real_t *row, int classes, int kind, int y,
                           int t, real_t *g);

/* Per-image losses loss[n] (the mean over the eot draws) and the input
 * gradient dx[n][in] of their sum, averaged over eot >= 1 draws, for the
 * loss kind; t: the targets of INFER_DLR_T (else may be NULL).  Writes the
 * first draw's combined output into logits_out when not NULL.  Returns the
 * mean loss. */
double infer_loss_grad_kind(infer_ws *w, const real_t *x, const int *y,
                            const int *t, int n, int mode, int eot, int kind,
                            real_t *dx, double *loss, real_t *logits_out);

/* 1 when the largest entry of row (the first of equal ones) is not y. */
int infer_misclassified(const real_t *row, int classes, int y);

/* Cross-entropy of one row of combined output against label y; the
 * predicted class into *pred when not NULL. */
double infer_row_loss(const real_t *row, int y, int classes, int *pred);

#endif
