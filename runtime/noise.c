/* noise.c - additive Gaussian noise and the chunked draws behind it; see
 * noise.h. */
#include <string.h>
#include "noise.h"
#include "parallel.h"
#include "rng.h"

noise_record *noise_log;

/* Where a call's n draws go in the record, or NULL. */
static real_t *log_take(long n)
{
    noise_record *l = noise_log;
    if (!l)
        return NULL;
    if (l->n + n > l->cap) {
        l->lost += n;
        return NULL;
    }
    real_t *at = l->z + l->n;
    l->n += n;
    return at;
}

/* The state a call draws from; rng moves on for the next call. */
static advcc_rng call_begin(advcc_rng *rng)
{
    const advcc_rng base = *rng;
    rng_u64(rng);
    return base;
}

/* Chunk j of a call over n values: its stream, split from base, and its
 * length. */
static long chunk_begin(const advcc_rng *base, long n, long j, advcc_rng *r)
{
    const long at = j * NOISE_CHUNK;
    rng_split(base, (uint64_t)j, r);
    return n - at < NOISE_CHUNK ? n - at : NOISE_CHUNK;
}

/* Chunk j's draws into z, and copied into the call's place in the record
 * when log is not NULL; its length. */
static long draw_chunk(const advcc_rng *base, long n, long j, real_t *log, real_t *z)
{
    advcc_rng r;
    const long len = chunk_begin(base, n, j, &r);
    rng_normal_fill(&r, z, len);
    if (log)
        memcpy(log + j * NOISE_CHUNK, z, sizeof(real_t) * (size_t)len);
    return len;
}

void noise_add(real_t *out, const real_t *x, long n, real_t sigma, advcc_rng *rng)
{
    const advcc_rng base = call_begin(rng);
    real_t *log = log_take(n);
    const long chunks = (n + NOISE_CHUNK - 1) / NOISE_CHUNK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (long j = 0; j < chunks; j++) {
        real_t *oj = out + j * NOISE_CHUNK;
        const real_t *xj = x + j * NOISE_CHUNK;
        if (!log) {
            /* added as they are drawn: one pass, not two */
            advcc_rng r;
            const long len = chunk_begin(&base, n, j, &r);
            rng_normal_add(&r, oj, xj, sigma, len);
            continue;
        }
        real_t z[NOISE_CHUNK];
        const long len = draw_chunk(&base, n, j, log, z);
        for (long i = 0; i < len; i++)
            oj[i] = xj[i] + sigma * z[i];
    }
}

void noise_draws(advcc_rng *rng, long n, real_t *z)
{
    const advcc_rng base = call_begin(rng);
    real_t *log = log_take(n);
    const long chunks = (n + NOISE_CHUNK - 1) / NOISE_CHUNK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (long j = 0; j < chunks; j++)
        draw_chunk(&base, n, j, log, z + j * NOISE_CHUNK);
}
