/* checkpoint.h - a model's parameter buffer as a safetensors file, one
 * tensor per advcc_tensor with its name and shape, float32, written
 * atomically; PyTorch users load it with safetensors.torch.load_file, a
 * twenty-line reader or the module `advcc --torch` writes.  The metadata
 * records the model's name and description (model.h) and advcc's version.
 * A checkpoint holds the model only: training-only tensors (train_only)
 * are in the training state, written with the _all variants. */
#ifndef ADVCC_CHECKPOINT_H
#define ADVCC_CHECKPOINT_H

#include <stddef.h>
#include "model.h"

#include <stdio.h>

int checkpoint_save(const char *path, const advcc_model *m,
                    const real_t *params, char *err, size_t errlen);
/* Every tensor of m (training-only ones may be absent: they keep their
 * values) must be in the file with its shape, as F32, F64, F16 or BF16;
 * the file may also hold num_batches_tracked and training-only tensors,
 * skipped.  Any other name is an error listing both sides' names and
 * shapes.  0 or -1. */
int checkpoint_load(const char *path, const advcc_model *m, real_t *params,
                    char *err, size_t errlen);
/* The training state's files: every tensor, training-only ones included. */
int checkpoint_save_all(const char *path, const advcc_model *m,
                        const real_t *params, char *err, size_t errlen);
int checkpoint_load_all(const char *path, const advcc_model *m, real_t *params,
                        char *err, size_t errlen);
/* 1 when t is training state, not part of the model (model.h). */
int checkpoint_train_only(const advcc_model *m, const advcc_tensor *t);
/* Prints a checkpoint's metadata and size (any safetensors file). */
int checkpoint_print_info(const char *path, FILE *out, char *err, size_t errlen);

#endif
