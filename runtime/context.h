/* context.h - creating and freeing a model instance (advcc_ctx): its
 * parameter, gradient and arena buffers, sized for a batch capacity, and the
 * random stream its noise layers draw from. */
#ifndef ADVCC_CONTEXT_H
#define ADVCC_CONTEXT_H

#include <stdint.h>
#include "model.h"

/* NULL when memory runs out. Parameters are initialised from seed. */
/* Bytes of the buffers ctx_create(m, batch_cap) allocates. */
double ctx_bytes(const advcc_model *m, int batch_cap);
/* 0 when ctx_create(m, batch_cap) fits in this machine's memory; else -1
 * with err saying how much it would need, "a 152.3 GB workspace ...". */
int ctx_check_memory(const advcc_model *m, int batch_cap, char *err, size_t errlen);
advcc_ctx *ctx_create(const advcc_model *m, int batch_cap, uint64_t seed);
/* The reals of a pass's own arena: the part of a context's that a pass
 * keeps, m->keep_size(batch_cap) (arena_size without it). */
size_t ctx_pass_reals(const advcc_model *m, int batch_cap);
/* An arena for a pass of its own (infer.h), ctx_pass_reals(m, batch_cap)
 * reals, its scratch the context's; zeroed, resident only where written,
 * on huge pages where the system gives them; NULL when memory runs out.
 * Freed with ctx_free_arena (NULL: nothing). */
real_t *ctx_alloc_arena(const advcc_model *m, int batch_cap);
void ctx_free_arena(real_t *arena);
void ctx_free(advcc_ctx *c);
/* Sets OpenMP's and OpenBLAS's thread counts (n <= 0: leave as is). */
void ctx_set_threads(int n);

#endif
