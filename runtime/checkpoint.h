/* checkpoint.h - a model's parameter buffer as a safetensors file, one
 * tensor per advcc_tensor with its name and shape, float32, written
 * atomically; PyTorch users load it with safetensors.torch.load_file or a
 * twenty-line reader.  The metadata records the model name. */
#ifndef ADVCC_CHECKPOINT_H
#define ADVCC_CHECKPOINT_H

#include <stddef.h>
#include "model.h"

int checkpoint_save(const char *path, const advcc_model *m,
                    const real_t *params, char *err, size_t errlen);
/* Every tensor of m must be in the file with its shape; 0 or -1. */
int checkpoint_load(const char *path, const advcc_model *m, real_t *params,
                    char *err, size_t errlen);

#endif
