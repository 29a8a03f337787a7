/* context.h - creating and freeing a model instance (advcc_ctx): its
 * parameter, gradient and arena buffers, sized for a batch capacity, and the
 * random stream its noise layers draw from. */
#ifndef ADVCC_CONTEXT_H
#define ADVCC_CONTEXT_H

#include <stdint.h>
#include "model.h"

/* NULL when memory runs out. Parameters are initialised from seed. */
advcc_ctx *ctx_create(const advcc_model *m, int batch_cap, uint64_t seed);
void ctx_free(advcc_ctx *c);
/* Sets OpenMP's and OpenBLAS's thread counts (n <= 0: leave as is). */
void ctx_set_threads(int n);

#endif
