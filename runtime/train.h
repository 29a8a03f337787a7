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

typedef struct train_opts {
    int epochs, batch;
    double lr, momentum, weight_decay;
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
    double seconds;
    int resumed_epochs;         /* epochs taken from state_dir */
} train_result;

/* Trains c->params in place.  Every epoch draws its shuffle, its attack
 * starts and its noise from streams of its own (split from o->seed by the
 * epoch number), so a run resumed at an epoch boundary is bit-identical to
 * one that was never interrupted.  Returns 0 (also when the loss diverged: see
 * r->diverged), or -1 with err filled. */
int train_model(advcc_ctx *c, const advcc_dataset *d, const train_opts *o,
                train_result *r, char *err, size_t errlen);

#endif
