/* train.h - the training driver: epochs of shuffled mini-batches, SGD,
 * optional adversarial batches, the per-step loss log, divergence
 * detection and a progress line. */
#ifndef ADVCC_TRAIN_H
#define ADVCC_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "dataset.h"
#include "model.h"

/* Replaces a batch by its adversarial images (adversarial training). */
typedef int (*train_perturb_fn)(void *arg, advcc_ctx *c, const real_t *x,
                                const int *y, int n, real_t *xadv);

typedef struct train_opts {
    int epochs, batch;
    double lr, momentum, weight_decay;
    uint64_t seed;
    int quiet;
    train_perturb_fn perturb;   /* NULL: plain training */
    void *perturb_arg;
    const char *loss_csv;       /* NULL: no loss log */
} train_opts;

typedef struct train_result {
    long steps;
    double final_loss;          /* mean data loss of the last epoch */
    int diverged;
    long diverged_step;
    double seconds;
} train_result;

/* Trains c->params in place.  Returns 0 (also when the loss diverged: see
 * r->diverged), or -1 with err filled. */
int train_model(advcc_ctx *c, const advcc_dataset *d, const train_opts *o,
                train_result *r, char *err, size_t errlen);

#endif
