/* gemm.c - the one matrix product every convolution and linear layer runs
 * through: row-major, OpenBLAS, single or double precision by real_t.
 *
 * The rest of the runtime runs on OpenMP's threads, and so do products: one
 * big enough to share is cut here into one slab of rows or columns of C per
 * OpenMP thread, each slab a single-threaded OpenBLAS call.  Slabs never
 * split the sum over k: every element of C is added up by one call, so a
 * given thread count always gives the same bits (another count cuts other
 * slabs, for which BLAS may choose other kernels).  OpenBLAS built on
 * OpenMP runs single-threaded inside a parallel region by itself; the
 * pthreads build is told to, or its own pool would spin against OpenMP's
 * for the cores. */
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include "kernels.h"
#include "parallel.h"

/* Slab edges fall on multiples of this, so BLAS kernels keep full tiles. */
#define GEMM_SLAB_ALIGN 16

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void)
{
    /* Not for the OpenMP build: there it would set OpenMP's thread count. */
    if (openblas_get_parallel() == 1)
        openblas_set_num_threads(1);
}

static void blas_gemm(int trans_a, int trans_b, int m, int n, int k,
                      real_t alpha, const real_t *a, int lda, const real_t *b,
                      int ldb, real_t beta, real_t *c, int ldc)
{
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
#ifdef ADVCC_DOUBLE
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta,
                c, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta,
                c, ldc);
#endif
}

/* The start of slab t of parts over [0, len). */
static int slab_start(int t, int parts, int len)
{
    long at = (long)len * t / parts;
    at -= at % GEMM_SLAB_ALIGN;
    return t == parts ? len : (int)at;
}

void gemm(int trans_a, int trans_b, int m, int n, int k, real_t alpha,
          const real_t *a, int lda, const real_t *b, int ldb, real_t beta,
          real_t *c, int ldc)
{
    pthread_once(&blas_once, blas_single_thread);
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    int len = n >= m ? n : m;
    if (threads > len / GEMM_SLAB_ALIGN)
        threads = len / GEMM_SLAB_ALIGN;
    if (threads < 2 || (double)m * n * k < PAR_MIN_MACS) {
        blas_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                  ldc);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int parts = omp_get_num_threads(), t = omp_get_thread_num();
        int lo = slab_start(t, parts, len), hi = slab_start(t + 1, parts, len);
        if (hi > lo) {
            if (n >= m)     /* columns lo..hi of C and of op(B) */
                blas_gemm(trans_a, trans_b, m, hi - lo, k, alpha, a, lda,
                          trans_b ? b + (long)lo * ldb : b + lo, ldb, beta,
                          c + lo, ldc);
            else            /* rows lo..hi of C and of op(A) */
                blas_gemm(trans_a, trans_b, hi - lo, n, k, alpha,
                          trans_a ? a + lo : a + (long)lo * lda, lda, b, ldb,
                          beta, c + (long)lo * ldc, ldc);
        }
    }
}

void gram_lower(int n, int k, const real_t *a, int lda, real_t *c, int ldc)
{
    pthread_once(&blas_once, blas_single_thread);
#ifdef ADVCC_DOUBLE
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, n, k, 1, a, lda, 0, c, ldc);
#else
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, n, k, 1, a, lda, 0, c, ldc);
#endif
}
