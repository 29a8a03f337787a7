/* activations.c - the four learnable-threshold activations side by side,
 * as in the report's appendix (Figs. 11 and 12):
 *
 *   naive     naive dynamic threshold  (threshold_act.h)
 *   pwl       piecewise linear         (threshold_act.h)
 *   dtrelu    DTReLU, learnable bounds (dtrelu.h; the one models use)
 *   ddtrelu   DDTReLU                  (threshold_act.h)
 *
 * Part 1 trains each activation's thresholds alone, by SGD, to imitate ReLU
 * on a data distribution (loss mean (f(x) - relu(x))^2, x ~ N(MU, SD^2)),
 * and writes the trained output curves, the data histogram, the thresholds
 * along training and the loss.  Part 2 times one forward plus backward pass
 * of each against the number of elements.
 *
 * usage: activations OUTDIR [MAX_N]
 * writes OUTDIR/{curves,hist,thresholds,loss,timing}.dat and a summary on
 * stdout; plot.gp turns the files into PNGs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dtrelu.h"
#include "rng.h"
#include "threshold_act.h"

#define MU 1.0              /* the data: N(MU, SD^2) */
#define SD 1.5
#define BITS 3              /* 8 levels: 8 thresholds for the others */
#define K (1 << BITS)
#define LO 0.0              /* every threshold starts spread over [LO, HI] */
#define HI 6.0
#define BATCH 1000
#define STEPS 3000
#define LR 0.5
#define RECORD 20           /* thresholds written every RECORD steps */

enum { NAIVE, PWL, DTRELU, DDTRELU, N_ACT };
static const char *const act_name[N_ACT] = {"naive", "pwl", "dtrelu",
                                            "ddtrelu"};

/* One activation's learnable parameters: thresholds t (DTReLU: t[0] = a,
 * t[1] = b) and, for pwl, the values v at the knots. */
typedef struct act {
    int kind;
    float t[THRESHOLD_MAX], v[THRESHOLD_MAX];
    int k;                  /* number of thresholds */
    int bits;               /* DTReLU's grid */
} act;

static void act_init(act *a, int kind, int bits)
{
    a->kind = kind;
    a->bits = bits;
    a->k = kind == DTRELU ? 2 : 1 << bits;
    for (int j = 0; j < a->k; j++) {
        a->t[j] = (float)(LO + (HI - LO) * j / (a->k - 1));
        a->v[j] = a->t[j];          /* pwl starts as the identity on [LO, HI] */
    }
}

static void act_forward(const act *a, const float *x, long n, float *y)
{
    switch (a->kind) {
    case NAIVE:
        naive_threshold_forward(x, n, a->t, a->k, y);
        break;
    case PWL:
        pwl_forward(x, n, a->t, a->v, a->k, y);
        break;
    case DTRELU:
        dtrelu_forward(x, n, a->t[0], a->t[1], a->bits, y);
        break;
    default:
        ddtrelu_forward(x, n, a->t, a->k, y);
        break;
    }
}

static void act_backward(const act *a, const float *x, const float *dy,
                         long n, float *dx, float *dt, float *dv)
{
    switch (a->kind) {
    case NAIVE:
        naive_threshold_backward(x, dy, n, a->t, a->k, dx, dt, 0);
        break;
    case PWL:
        pwl_backward(x, dy, n, a->t, a->v, a->k, dx, dt, dv, 0);
        break;
    case DTRELU:
        dtrelu_backward(x, dy, n, a->t[0], a->t[1], dx, &dt[0], &dt[1], 0);
        break;
    default:
        ddtrelu_backward(x, dy, n, a->t, a->k, dx, dt, 0);
        break;
    }
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "activations: cannot write %s: %s\n", path,
                strerror(errno));
        exit(1);
    }
    return f;
}

static void close_out(FILE *f)
{
    if (fclose(f) != 0) {
        fprintf(stderr, "activations: write failed: %s\n", strerror(errno));
        exit(1);
    }
}

static void draw(advcc_rng *r, float *x, long n)
{
    for (long i = 0; i < n; i++)
        x[i] = (float)(MU + SD * rng_normal(r));
}

/* Squared error to ReLU and its gradient dy (of the mean). */
static double relu_loss(const float *x, const float *y, long n, float *dy)
{
    double s = 0;
    for (long i = 0; i < n; i++) {
        double e = y[i] - (x[i] > 0 ? x[i] : 0);
        s += e * e;
        dy[i] = (float)(2 * e / n);
    }
    return s / n;
}

static int float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* How many output levels are really in use: exp of the entropy of the
 * distribution of the values y (n of them; y is reordered). */
static double levels_used(float *y, long n)
{
    qsort(y, n, sizeof *y, float_cmp);
    double h = 0;
    for (long i = 0, j; i < n; i = j) {
        for (j = i; j < n && y[j] == y[i]; j++)
            ;
        double p = (double)(j - i) / n;
        h -= p * log(p);
    }
    return exp(h);
}

static void part_curves(const char *dir)
{
    static float x[BATCH], y[BATCH], dy[BATCH];
    float dt[THRESHOLD_MAX], dv[THRESHOLD_MAX];
    act acts[N_ACT];
    advcc_rng rng;
    rng_seed(&rng, 2024);

    FILE *ft = open_out(dir, "thresholds.dat"), *fl = open_out(dir, "loss.dat");
    fprintf(ft, "# step, then naive t[0..%d], ddtrelu t[0..%d], dtrelu a b\n",
            K - 1, K - 1);
    fprintf(fl, "# step naive pwl dtrelu ddtrelu (mean over %d steps)\n",
            RECORD);
    for (int a = 0; a < N_ACT; a++)
        act_init(&acts[a], a, BITS);

    double running[N_ACT] = {0};
    for (int step = 0; step <= STEPS; step++) {
        if (step % RECORD == 0) {
            fprintf(ft, "%d", step);
            for (int j = 0; j < K; j++)
                fprintf(ft, " %.5f", acts[NAIVE].t[j]);
            for (int j = 0; j < K; j++)
                fprintf(ft, " %.5f", acts[DDTRELU].t[j]);
            fprintf(ft, " %.5f %.5f\n", acts[DTRELU].t[0], acts[DTRELU].t[1]);
            if (step > 0) {
                fprintf(fl, "%d", step);
                for (int a = 0; a < N_ACT; a++) {
                    fprintf(fl, " %.6f", running[a] / RECORD);
                    running[a] = 0;
                }
                fprintf(fl, "\n");
            }
        }
        if (step == STEPS)
            break;
        /* every activation sees the same batch */
        draw(&rng, x, BATCH);
        for (int a = 0; a < N_ACT; a++) {
            act *p = &acts[a];
            act_forward(p, x, BATCH, y);
            running[a] += relu_loss(x, y, BATCH, dy);
            act_backward(p, x, dy, BATCH, NULL, dt, dv);
            for (int j = 0; j < p->k; j++) {
                p->t[j] -= (float)LR * dt[j];
                if (p->kind == PWL)
                    p->v[j] -= (float)LR * dv[j];
            }
            if (p->kind != DTRELU)
                thresholds_sort(p->t, p->kind == PWL ? p->v : NULL, p->k);
        }
    }
    close_out(ft);
    close_out(fl);

    /* the trained curves on a fine grid of inputs */
    enum { GRID = 1201 };
    static float gx[GRID], gy[N_ACT][GRID];
    for (int i = 0; i < GRID; i++)
        gx[i] = (float)(-3 + 12.0 * i / (GRID - 1));
    for (int a = 0; a < N_ACT; a++)
        act_forward(&acts[a], gx, GRID, gy[a]);
    FILE *fc = open_out(dir, "curves.dat");
    fprintf(fc, "# x relu naive pwl dtrelu ddtrelu\n");
    for (int i = 0; i < GRID; i++) {
        fprintf(fc, "%.4f %.4f", gx[i], gx[i] > 0 ? gx[i] : 0);
        for (int a = 0; a < N_ACT; a++)
            fprintf(fc, " %.5f", gy[a][i]);
        fprintf(fc, "\n");
    }
    close_out(fc);

    /* the data distribution, as a density, and the final scores */
    enum { TEST = 200000, BINS = 120 };
    static float tx[TEST], ty[TEST], tdy[TEST];
    draw(&rng, tx, TEST);
    double hist[BINS] = {0}, width = 12.0 / BINS;
    for (long i = 0; i < TEST; i++) {
        int b = (int)floor((tx[i] + 3) / width);
        if (b >= 0 && b < BINS)
            hist[b]++;
    }
    FILE *fh = open_out(dir, "hist.dat");
    fprintf(fh, "# bin centre, density of x ~ N(%g, %g^2)\n", MU, SD);
    for (int b = 0; b < BINS; b++)
        fprintf(fh, "%.4f %.6f\n", -3 + (b + 0.5) * width,
                hist[b] / (TEST * width));
    close_out(fh);

    printf("Part 1: thresholds trained %d steps (batch %d, lr %g) to imitate "
           "ReLU on x ~ N(%g, %g^2)\n", STEPS, BATCH, LR, MU, SD);
    printf("  %-8s %10s %12s  thresholds\n", "", "test loss", "levels used");
    for (int a = 0; a < N_ACT; a++) {
        act_forward(&acts[a], tx, TEST, ty);
        double loss = relu_loss(tx, ty, TEST, tdy);
        printf("  %-8s %10.5f ", act_name[a], loss);
        if (a == PWL)
            printf("%12s ", "continuous");
        else
            printf("%12.2f ", levels_used(ty, TEST));
        for (int j = 0; j < acts[a].k; j++)
            printf(" %.2f", acts[a].t[j]);
        printf("\n");
    }
}

/* CPU seconds of this thread: the kernels run on one thread, and its CPU
 * time leaves out the time other processes hold the core. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds for one forward plus backward over n elements: the best of at
 * least five repetitions, repeated until 0.5 s have been spent (the best,
 * since other work on the machine only ever adds time). */
static double time_pass(const act *a, const float *x, float *y, float *dy,
                        float *dx, long n)
{
    float dt[THRESHOLD_MAX], dv[THRESHOLD_MAX];
    double best = INFINITY, start = now();
    int reps = 0;
    do {
        double t0 = now();
        act_forward(a, x, n, y);
        for (long i = 0; i < n; i++)
            dy[i] = y[i] * 1e-3f;
        act_backward(a, x, dy, n, dx, dt, dv);
        double t = now() - t0;
        best = t < best ? t : best;
        reps++;
    } while (reps < 5 || now() - start < 0.5);
    return best;
}

static void part_timing(const char *dir, long max_n)
{
    float *x = malloc(max_n * sizeof *x), *y = malloc(max_n * sizeof *y);
    float *dy = malloc(max_n * sizeof *dy), *dx = malloc(max_n * sizeof *dx);
    if (!x || !y || !dy || !dx) {
        fprintf(stderr, "activations: out of memory for %ld elements\n",
                max_n);
        exit(1);
    }
    advcc_rng rng;
    rng_seed(&rng, 7);
    draw(&rng, x, max_n);
    const int bit_widths[2] = {3, 8};
    FILE *f = open_out(dir, "timing.dat");
    fprintf(f, "# n, seconds for forward+backward: naive pwl dtrelu ddtrelu "
               "at 3 bits, then the same at 8 bits\n");
    printf("\nPart 2: one forward + backward pass, milliseconds "
           "(3 bits | 8 bits)\n");
    printf("  %9s", "n");
    for (int a = 0; a < N_ACT; a++)
        printf(" %8s", act_name[a]);
    printf("  |");
    for (int a = 0; a < N_ACT; a++)
        printf(" %8s", act_name[a]);
    printf("\n");
    for (double e = 3; e <= log10((double)max_n) + 1e-9; e += 0.5) {
        long n = lround(pow(10, e));
        fprintf(f, "%ld", n);
        printf("  %9ld", n);
        for (int b = 0; b < 2; b++) {
            for (int kind = 0; kind < N_ACT; kind++) {
                act a;
                act_init(&a, kind, bit_widths[b]);
                double t = time_pass(&a, x, y, dy, dx, n);
                fprintf(f, " %.6e", t);
                printf(" %8.3f", t * 1e3);
            }
            printf(b == 0 ? "  |" : "\n");
        }
        fprintf(f, "\n");
    }
    close_out(f);
    free(x);
    free(y);
    free(dy);
    free(dx);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: activations OUTDIR [MAX_N]\n");
        return 2;
    }
    long max_n = argc == 3 ? atol(argv[2]) : 10000000;
    if (max_n < 1000) {
        fprintf(stderr, "activations: MAX_N must be at least 1000\n");
        return 2;
    }
    part_curves(argv[1]);
    part_timing(argv[1], max_n);
    return 0;
}
