/* context.c - model instances: one allocation per buffer (parameters and
 * gradients 64-byte aligned), made once; nothing is allocated inside a
 * step. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/mman.h>
#include <omp.h>
#include "context.h"
#include "rng.h"

/* OpenBLAS's own setter; declared here to avoid depending on which cblas.h
 * variant is installed. */
void openblas_set_num_threads(int num_threads);

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

/* Parameters, gradients and arenas are anonymous mappings of their own,
 * the size in the first ARENA_HEAD bytes and the reals 64-byte aligned
 * after them.  Fresh pages are zero and cost memory only where the model
 * writes: im2col's slot, sized for the whole batch, is written a few images
 * at a time (conv.c), and memset would make the seed CNN's training 40%
 * larger in memory.  The pages are advised huge (2 MB): a pass reads and
 * writes its slots across thousands of 4 KB pages, and their TLB misses
 * and first-touch faults cost the seed CNN's attack 5% of its time, its
 * training step 3% and RSE's attack 9% (alternated pairs, 2 threads), for
 * 8% more resident memory.  The advice is a hint: without it all works the
 * same. */
#define ARENA_HEAD 64

static real_t *map_reals(size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(real_t);
#ifdef __SANITIZE_ADDRESS__
    /* under ASan, heap memory: its redzones catch a slot written past a
     * buffer's end, which a mapping's page would not */
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0)
        return NULL;
    return memset(p, 0, bytes);
#else
    bytes += ARENA_HEAD;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    memcpy(p, &bytes, sizeof bytes);
    return (real_t *)((char *)p + ARENA_HEAD);
#endif
}

static void unmap_reals(real_t *a)
{
#ifdef __SANITIZE_ADDRESS__
    free(a);
#else
    if (!a)
        return;
    char *p = (char *)a - ARENA_HEAD;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    munmap(p, bytes);
#endif
}

size_t ctx_pass_reals(const advcc_model *m, int batch_cap)
{
    return m->keep_size ? m->keep_size(batch_cap) : m->arena_size(batch_cap);
}

real_t *ctx_alloc_arena(const advcc_model *m, int batch_cap)
{
    return map_reals(ctx_pass_reals(m, batch_cap));
}

void ctx_free_arena(real_t *arena)
{
    unmap_reals(arena);
}

advcc_ctx *ctx_create(const advcc_model *m, int batch_cap, uint64_t seed)
{
    advcc_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->model = m;
    c->batch_cap = batch_cap;
    c->params = map_reals(m->n_params);
    c->grads = map_reals(m->n_params);
    c->arena = map_reals(m->arena_size(batch_cap));
    c->rng = malloc(sizeof *c->rng);
    if (!c->params || !c->grads || !c->arena || !c->rng) {
        ctx_free(c);
        return NULL;
    }
    advcc_rng root, init;
    rng_seed(&root, seed);
    rng_split(&root, RNG_STREAM_INIT, &init);
    rng_split(&root, RNG_STREAM_CONTEXT, c->rng);
    if (m->keep_size)
        c->scratch = c->arena + m->keep_size(batch_cap);
    m->init(c->params, &init);
    return c;
}

void ctx_free(advcc_ctx *c)
{
    if (!c)
        return;
    unmap_reals(c->params);
    unmap_reals(c->grads);
    unmap_reals(c->arena);
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
