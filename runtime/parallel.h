/* parallel.h - when a kernel's loop is worth sharing between threads, and
 * how a team cuts it.
 *
 * Starting a parallel region costs microseconds, and much more when the
 * machine is busy and a team member has to wait for a core, so loops over
 * less data than this run on the calling thread.  The choice depends on the
 * shape alone, never on timing. */
#ifndef ADVCC_PARALLEL_H
#define ADVCC_PARALLEL_H

/* A combined `parallel for simd` takes these as `if (parallel: ...)`: a bare
 * `if` binds its simd part too, and a loop too short to share ran scalar. */
#define PAR_MIN_ELEMS (1L << 15)   /* reals touched by an elementwise loop */
#define PAR_MIN_MACS (1L << 18)    /* multiply-adds of a product */

#include <omp.h>

/* The calling OpenMP thread's share [*first, *end) of count items, in
 * order: the team's threads take even pieces, thread 0 the first. */
static inline void thread_share(long count, long *first, long *end)
{
    const long t = omp_get_thread_num(), nt = omp_get_num_threads();
    *first = count * t / nt;
    *end = count * (t + 1) / nt;
}

#endif
