/* infer.h - a model's prediction and the input gradient of its loss, as an
 * attacker sees them.
 *
 * A randomised model (RSE: noise layers, model->ensemble passes averaged)
 * predicts with the average of its passes: the mean of the logits, or, when
 * model->ensemble_probs, the log of the mean softmax probabilities (so that
 * argmax and cross-entropy read it like logits).  The input gradient goes
 * through that average: each pass's backward replays the pass, with the rng
 * state it started from, so the same noise is drawn again.  With eot = m > 1
 * the gradient is the mean over m independent draws of the whole average
 * (Expectation over Transformation, Athalye et al. 2018).
 *
 * A model whose forward pass draws nothing from ctx->rng is detected on the
 * first pass and run once: its passes and draws would all be equal.
 *
 * Losses are per-image cross-entropies; gradients are those of their sum, so
 * an image's gradient does not depend on what else is in the batch (except
 * through batch-statistics BatchNorm).  Use ADVCC_EVAL or ADVCC_TRAIN_FROZEN:
 * a replayed ADVCC_TRAIN pass would update running statistics again.
 *
 * infer_ws owns every scratch buffer; nothing is allocated per call. */
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
    real_t *dx_pass;        /* [cap][in_size] */
    double *lse;            /* [passes][cap]: log-sum-exp of each pass's row */
    advcc_rng *states;      /* [passes]: ctx->rng before each pass */
} infer_ws;

/* 0, or -1 when out of memory.  ctx must outlive w. */
int infer_init(infer_ws *w, advcc_ctx *ctx);
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

/* Cross-entropy of one row of combined output against label y; the
 * predicted class into *pred when not NULL. */
double infer_row_loss(const real_t *row, int y, int classes, int *pred);

#endif
