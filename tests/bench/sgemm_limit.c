/* sgemm_limit.c - the machine's matrix-multiply limit: GFLOP/s of square
 * single-precision products through OpenBLAS's cblas_sgemm at a given
 * thread count, the yardstick `make bench` divides the models' achieved
 * GFLOP/s by (tests/bench/bench_procs.py runs it once a round).
 *
 *   sgemm_limit N THREADS SECONDS
 *
 * Prints one JSON object: {"n":N,"threads":T,"reps":R,"seconds":S,
 * "gflops":G}, G = R * 2 N^3 / S / 1e9 over R products timed together
 * after one untimed product (caches warm, threads awake), R chosen so the
 * timed part takes about SECONDS. */
#include <cblas.h>
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

void openblas_set_num_threads(int num_threads);

static int positive(const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long n, threads;
    double seconds = argc == 4 ? strtod(argv[3], NULL) : 0;
    if (argc != 4 || positive(argv[1], &n) != 0 || n > 16384 ||
        positive(argv[2], &threads) != 0 || threads > 1024 || !(seconds > 0)) {
        fprintf(stderr, "usage: sgemm_limit N THREADS SECONDS (N <= 16384, "
                        "SECONDS > 0)\n");
        return 2;
    }
    omp_set_num_threads((int)threads);
    openblas_set_num_threads((int)threads);
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b),
          *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "sgemm_limit: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)((long)(i * 7 % 13) - 6) / 13.0f;
        b[i] = (float)((long)(i * 5 % 11) - 5) / 11.0f;
        c[i] = 0.0f;
    }
    int in = (int)n;
    double t0 = omp_get_wtime();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, in, in, in, 1.0f, a,
                in, b, in, 0.0f, c, in);
    double once = omp_get_wtime() - t0;
    long reps = once > 0 ? (long)(seconds / once + 0.5) : 1;
    if (reps < 1)
        reps = 1;
    t0 = omp_get_wtime();
    for (long r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, in, in, in, 1.0f,
                    a, in, b, in, 0.0f, c, in);
    double t = omp_get_wtime() - t0;
    double flop = 2.0 * (double)n * (double)n * (double)n * (double)reps;
    json_t *o = json_pack("{s:I, s:I, s:I, s:f, s:f, s:s}", "n", (json_int_t)n,
                          "threads", (json_int_t)threads, "reps", (json_int_t)reps,
                          "seconds", t, "gflops", flop / t / 1e9, "core",
                          openblas_get_corename());
    if (!o || json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
        fprintf(stderr, "sgemm_limit: cannot write the result\n");
        return 1;
    }
    json_decref(o);
    putchar('\n');
    free(a);
    free(b);
    free(c);
    return 0;
}
