/* train.h - the training driver: epochs of shuffled mini-batches, SGD,
 * optional adversarial batches, the per-step loss log, divergence
 * detection and a progress line. */
#ifndef ADVCC_TRAIN_H
#define ADVCC_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "dataset.h"
#include "model.h"

/* Replaces a batch by its adversarial images (adversarial training),
 * drawing its random starts from rng. */
typedef int (*train_perturb_fn)(void *arg, advcc_ctx *c, const real_t *x,
                                const int *y, int n, struct advcc_rng *rng,
                                real_t *xadv);

/* A data or regulariser loss above this is taken as divergence (a model at
 * chance on 10 classes has a loss of 2.3). */
#define TRAIN_LOSS_LIMIT 1e4
#define TRAIN_LOSS_LIMIT_TEXT "1e4"

typedef struct train_opts {
    int epochs, batch;
    double lr, momentum, weight_decay;
    /* The rest of the recipe: optimiser, schedule (of lr above) and
     * augmentation; NULL: SGD, constant lr, none. */
    const advcc_train_cfg *recipe;
    uint64_t seed;
    int quiet;
    train_perturb_fn perturb;   /* NULL: plain training */
    void *perturb_arg;
    const char *loss_csv;       /* NULL: no loss log */
    const char *state_dir;      /* epoch checkpoints (train_state.h), or NULL */
    int resume;                 /* continue from state_dir's last epoch */
} train_opts;

typedef struct train_result {
    long steps;
    double final_loss;          /* mean data loss of the last epoch */
    int diverged;
    long diverged_step;
    const char *diverged_why;   /* "loss not finite", ... */
    double seconds;
    int resumed_epochs;         /* epochs taken from state_dir */
} train_result;

/* Trains c->params in place.  Every epoch draws its shuffle, its attack
 * starts, its noise and its augmentation from streams of its own (split from o->seed by the
 * epoch number), so a run resumed at an epoch boundary is bit-identical to
 * one that was never interrupted.  Training diverged (r->diverged) when a
 * loss is not finite or above TRAIN_LOSS_LIMIT, or when a parameter is not
 * finite at the end of an epoch.  o->resume with no saved state in
 * o->state_dir is an error.  Returns 0 (also when training diverged), or -1
 * with err filled. */
int train_model(advcc_ctx *c, const advcc_dataset *d, const train_opts *o,
                train_result *r, char *err, size_t errlen);

#endif
