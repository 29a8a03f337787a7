/* train_state.h - what a training run saves at the end of every epoch so
 * that, killed at any point, it resumes from its last finished epoch and
 * ends bit for bit where an uninterrupted run would: the parameters, the
 * momentum (Adam's first moment), Adam's second moment, and the number of
 * epochs done (Adam's step count is that times the steps per epoch).  Files
 * live in one directory: epoch-K.params.safetensors,
 * epoch-K.momentum.safetensors, epoch-K.second.safetensors (Adam) and `epoch`,
 * which names K and is written last, so it never points at a partial
 * state.  settings.json, written before the first epoch, records the
 * settings that determine the run's result, so that a resumed run can
 * refuse settings other than those of the run it continues. */
#ifndef ADVCC_TRAIN_STATE_H
#define ADVCC_TRAIN_STATE_H

#include <stddef.h>
#include <jansson.h>
#include "model.h"

/* second: Adam's second moment, or NULL (SGD). */
int train_state_save(const char *dir, int epoch, const advcc_model *m,
                     const real_t *params, const real_t *velocity,
                     const real_t *second, char *err, size_t errlen);
/* 1 and *epoch set when a state was loaded, 0 when there is none, -1 on
 * error (err filled). */
int train_state_load(const char *dir, const advcc_model *m, real_t *params,
                     real_t *velocity, real_t *second, int *epoch, char *err,
                     size_t errlen);
/* Writes settings (a JSON object, kept by the caller) to dir/settings.json
 * atomically, creating dir.  0 or -1 (err filled). */
int train_state_save_settings(const char *dir, json_t *settings, char *err,
                              size_t errlen);
/* 1 with *settings set (the caller releases it), 0 when dir has no
 * settings.json (a state saved before they were recorded), -1 on error
 * (err filled). */
int train_state_load_settings(const char *dir, json_t **settings, char *err,
                              size_t errlen);
/* Moves the last epoch's parameters (every tensor, training-only ones
 * included) and momentum to params_to and momentum_to: what a finished run
 * keeps of its training state.  0 or -1 (err filled). */
int train_state_keep(const char *dir, const char *params_to,
                     const char *momentum_to, char *err, size_t errlen);
/* Removes the state files and the directory. */
void train_state_clear(const char *dir);

#endif
