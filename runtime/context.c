/* context.c - model instances: one allocation per buffer (parameters and
 * gradients 64-byte aligned), made once; nothing is allocated inside a
 * step. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <omp.h>
#include "context.h"
#include "rng.h"

/* OpenBLAS's own setter; declared here to avoid depending on which cblas.h
 * variant is installed. */
void openblas_set_num_threads(int num_threads);

static real_t *alloc_reals(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(real_t)) != 0)
        return NULL;
    memset(p, 0, (n ? n : 1) * sizeof(real_t));
    return p;
}

double ctx_bytes(const advcc_model *m, int batch_cap)
{
    return ((double)m->n_params * 2 + (double)m->arena_size(batch_cap)) * sizeof(real_t);
}

int ctx_check_memory(const advcc_model *m, int batch_cap, char *err, size_t errlen)
{
    double need = ctx_bytes(m, batch_cap);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    double have = (double)pages * (double)page;
    if (need <= have)
        return 0;
    snprintf(err, errlen, "batch %d needs a %.1f GB workspace, more than this machine's "
             "%.1f GB of memory", batch_cap, need / 1e9, have / 1e9);
    return -1;
}

real_t *ctx_alloc_arena(const advcc_model *m, int batch_cap)
{
    /* calloc, not alloc_reals: a large calloc is fresh zero pages from the
     * system, which cost memory only where the model writes, and im2col's
     * slot, sized for the whole batch, is written a few images at a time
     * (conv.c).  memset would touch every page: 40% more resident memory
     * for the seed CNN's training, twice as much for RSE's kept passes.
     * Huge pages (mmap and madvise) cut RSE's attack from 93k page faults
     * to 19k, but its wall time only to 0.98x, for 21% more memory. */
    size_t n = m->arena_size(batch_cap);
    return calloc(n ? n : 1, sizeof(real_t));
}

advcc_ctx *ctx_create(const advcc_model *m, int batch_cap, uint64_t seed)
{
    advcc_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->model = m;
    c->batch_cap = batch_cap;
    c->params = alloc_reals(m->n_params);
    c->grads = alloc_reals(m->n_params);
    c->arena = ctx_alloc_arena(m, batch_cap);
    c->rng = malloc(sizeof *c->rng);
    if (!c->params || !c->grads || !c->arena || !c->rng) {
        ctx_free(c);
        return NULL;
    }
    advcc_rng root, init;
    rng_seed(&root, seed);
    rng_split(&root, RNG_STREAM_INIT, &init);
    rng_split(&root, RNG_STREAM_CONTEXT, c->rng);
    m->init(c->params, &init);
    return c;
}

void ctx_free(advcc_ctx *c)
{
    if (!c)
        return;
    free(c->params);
    free(c->grads);
    free(c->arena);
    free(c->rng);
    free(c);
}

void ctx_set_threads(int n)
{
    if (n <= 0)
        return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}
