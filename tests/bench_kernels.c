/* bench_kernels.c - time every kernel of the seed CNN's training step at
 * batch 100, to see where a step goes and that convolutions are dominated
 * by their products.  Not a test; build and run by hand, linking the BLAS
 * the Makefile links (BLAS_LIBS: OpenBLAS built on OpenMP when installed):
 *
 *   make BUILD=build build/lib/libadvcc.a
 *   cc -O2 -fopenmp -Iruntime tests/bench_kernels.c build/lib/libadvcc.a \
 *      /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 \
 *      -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp -lm \
 *      -o build/bench_kernels && build/bench_kernels [reps]
 *
 * Each line is the best of reps runs (wall clock); on a busy machine the
 * numbers mean little. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels.h"

static int reps = 10;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static real_t *randr(long n)
{
    real_t *p = malloc(sizeof *p * (size_t)n);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        exit(1);
    }
    for (long i = 0; i < n; i++)
        p[i] = (real_t)rand() / RAND_MAX - (real_t)0.5;
    return p;
}

/* Best time of reps runs of stmt, in milliseconds, printed with label. */
#define BENCH(label, flops, stmt)                                              \
    do {                                                                       \
        double best_ = 1e30;                                                   \
        stmt;                                                                  \
        for (int r_ = 0; r_ < reps; r_++) {                                    \
            double t0_ = now();                                                \
            stmt;                                                              \
            double dt_ = now() - t0_;                                          \
            best_ = dt_ < best_ ? dt_ : best_;                                 \
        }                                                                      \
        total += best_;                                                        \
        if ((flops) > 0)                                                       \
            printf("  %-24s %8.3f ms %7.1f GFLOP/s\n", label, best_ * 1e3,     \
                   (flops) / best_ * 1e-9);                                    \
        else                                                                   \
            printf("  %-24s %8.3f ms\n", label, best_ * 1e3);                  \
    } while (0)

/* One Conv-BN-ReLU-AvgPool(2) block, forward and backward. */
static double block(int ci, int co, int hw, int k, int batch)
{
    const int pad = k / 2, ho = hw, wo = hw, kk = ci * k * k;
    const long nx = (long)ci * batch * hw * hw, ny = (long)co * batch * ho * wo;
    const long n = ny / co, np = ny / 4;
    const double flops = 2.0 * co * kk * n;
    real_t *x = randr(nx), *w = randr((long)co * kk), *col = randr(kk * n);
    real_t *y = randr(ny), *z = randr(ny), *p = randr(np), *dp = randr(np);
    real_t *dz = randr(ny), *dx = randr(nx), *dw = randr((long)co * kk);
    real_t *g = randr(co), *b = randr(co), *rm = randr(co), *rv = randr(co);
    real_t *mean = randr(co), *invstd = randr(co), *dg = randr(co);
    real_t *db = randr(co);
    double total = 0;
    for (int i = 0; i < co; i++)
        rv[i] = 1;
    printf("conv %d->%d %dx%d k%d, batch %d: %.2f GFLOP a pass\n", ci, co, hw,
           hw, k, batch, flops * 1e-9);
    BENCH("im2col (whole batch)", 0,
          im2col(x, ci, batch, hw, hw, k, 1, pad, ho, wo, col));
    BENCH("gemm alone", flops,
          gemm(0, 0, co, (int)n, kk, 1, w, kk, col, (int)n, 0, y, (int)n));
    total = 0;
    BENCH("conv_forward", flops,
          conv_forward(x, ci, batch, hw, hw, w, NULL, co, k, 1, pad, ho, wo,
                       col, y));
    BENCH("batchnorm_forward_train", 0,
          batchnorm_forward_train(y, co, (int)n, g, b, rm, rv, 0, mean, invstd,
                                  z));
    BENCH("relu_forward", 0, relu_forward(z, ny, z));
    BENCH("avgpool_forward", 0,
          avgpool_forward(z, co * batch, ho, wo, 2, 2, ho / 2, wo / 2, p));
    BENCH("avgpool_backward", 0,
          avgpool_backward(dp, co * batch, ho, wo, 2, 2, ho / 2, wo / 2, dz));
    BENCH("relu_backward", 0, relu_backward(z, dz, ny, dz));
    BENCH("batchnorm_backward_train", 0,
          batchnorm_backward_train(y, dz, co, (int)n, g, mean, invstd, dz, dg,
                                   db));
    BENCH("conv_backward_params", flops,
          conv_backward_params(x, dz, ci, batch, hw, hw, co, k, 1, pad, ho, wo,
                               col, dw, db));
    BENCH("conv_backward_input", flops,
          conv_backward_input(dz, w, ci, batch, hw, hw, co, k, 1, pad, ho, wo,
                              col, dx));
    printf("  %-24s %8.3f ms\n", "block total", total * 1e3);
    free(x), free(w), free(col), free(y), free(z), free(p), free(dp), free(dz);
    free(dx), free(dw), free(g), free(b), free(rm), free(rv), free(mean);
    free(invstd), free(dg), free(db);
    return total;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        reps = atoi(argv[1]);
    printf("%d threads, %s\n", omp_get_max_threads(), REAL_DTYPE);
    double t = block(3, 32, 32, 5, 100) + block(32, 64, 16, 5, 100) +
               block(64, 128, 8, 3, 100);
    printf("three blocks, forward and backward: %.1f ms a step\n", t * 1e3);
    return 0;
}
