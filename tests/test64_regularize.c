/* test64_regularize.c - the four orthogonality penalties in double
 * precision: values against the definitions computed here with both Gram
 * matrices formed in full, gradients against central differences on wide,
 * tall, square and conv-shaped weights, accumulation with a scale, the zero
 * corners, and the band form 4 is confined to (from orthonormal rows to
 * rank one); and regularize_run, a model's terms run together, against the
 * same terms called one by one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <omp.h>

#include "orthogonal.h"
#include "regularize.h"
#include "rng.h"
#include "spectral.h"
#include "fdiff.h"

#define FD_STEP 1e-6
#define FD_TOL 1e-6
#define FD_POINTS 200     /* entries checked of a larger weight */
#define FD_STEP_LARGE 1e-4  /* its penalty ~20 moves little per entry */

/* The penalty by its definition: ||G - I|| over the full Gram matrix. */
static double penalty_direct(const double *w, int rows, int cols, int form)
{
    int side = form == ORTH_ROWS ? rows : cols;
    double *g = alloc((long)side * side), na = 0, s = 0;
    for (int i = 0; i < side; i++)
        for (int j = 0; j < side; j++) {
            double e = 0;
            if (form == ORTH_ROWS)
                for (int l = 0; l < cols; l++)
                    e += w[i * cols + l] * w[j * cols + l];
            else
                for (int l = 0; l < rows; l++)
                    e += w[l * cols + i] * w[l * cols + j];
            g[i * side + j] = e;
            na += e * e;
        }
    na = sqrt(na);
    for (int i = 0; i < side; i++)
        for (int j = 0; j < side; j++) {
            double e = g[i * side + j];
            if (form == ORTH_NORMALIZED)
                e /= na;
            if (i == j)
                e = form == ORTH_OFFDIAG ? 0 : e - 1;
            s += e * e;
        }
    free(g);
    return sqrt(s);
}

typedef struct orth_op {
    int rows, cols, form;
    double *w, *scratch;
} orth_op;

static double orth_loss(void *p)
{
    orth_op *o = p;
    return orthogonal_penalty(o->w, o->rows, o->cols, o->form, 0, NULL,
                              o->scratch);
}

/* The last two are wide enough for orthogonal.c to form W W^T by blocks
 * (halves of 32 and 40 rows, 48 and 48). */
static const int shapes[][2] = {{3, 7}, {9, 4}, {5, 5}, {8, 27}, {1, 6},
                                {6, 1}, {16, 12}, {72, 420}, {96, 300}};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])

static void test_values_and_gradients(void **state)
{
    (void)state;
    const int threads = omp_get_max_threads();
    for (int sh = 0; sh < N_SHAPES; sh++)
        for (int form = ORTH_COLS; form <= ORTH_NORMALIZED; form++) {
            orth_op o = {shapes[sh][0], shapes[sh][1], form, NULL, NULL};
            long n = (long)o.rows * o.cols;
            /* entries of order 1 / sqrt(cols): the Gram's of order 1,
             * so the differences' rounding stays below FD_TOL */
            const double range = fmin(0.8, 4 / sqrt(o.cols));
            o.w = random_vec(n, -range, range);
            o.scratch = alloc((long)orthogonal_scratch(o.rows, o.cols));
            double want = penalty_direct(o.w, o.rows, o.cols, form);
            double got = orth_loss(&o);
            if (!(fabs(got - want) <= 1e-12 * fmax(1, want)))
                fail_msg("%dx%d form %d: value %.17g, definition %.17g",
                         o.rows, o.cols, form, got, want);
            /* gradient, added with a scale onto what dw held */
            double *dw = random_vec(n, -1, 1), *dw0 = alloc(n);
            memcpy(dw0, dw, n * sizeof *dw);
            double scale = 0.7;
            double p = orthogonal_penalty(o.w, o.rows, o.cols, form, scale, dw,
                                          o.scratch);
            assert_true(p == got);
            for (long i = 0; i < n; i++)
                dw[i] = (dw[i] - dw0[i]) / scale;
            char what[64];
            snprintf(what, sizeof what, "%dx%d form %d", o.rows, o.cols, form);
            if (form == ORTH_NORMALIZED && (o.rows == 1 || o.cols == 1))
                assert_true(max_abs(dw, n) < 1e-12);    /* constant: rank 1 */
            else if (p > 1e-3)
                assert_fd(what, fd_error_at(orth_loss, &o, o.w, dw, n,
                                            n > FD_POINTS ? FD_STEP_LARGE : FD_STEP, FD_POINTS),
                          FD_TOL);
            /* the Gram's pieces are the same at any thread count */
            omp_set_num_threads(1);
            double one = orth_loss(&o);
            omp_set_num_threads(2);
            if (one != got)
                fail_msg("%s: %.17g at 1 thread, %.17g at 2", what, one, got);
            omp_set_num_threads(threads);
            free(o.w);
            free(o.scratch);
            free(dw);
            free(dw0);
        }
}

/* Rows of a random orthogonal basis (Gram-Schmidt), rows <= cols. */
static double *orthonormal_rows(int rows, int cols)
{
    double *w = random_vec((long)rows * cols, -1, 1);
    for (int i = 0; i < rows; i++) {
        double *r = w + (long)i * cols;
        for (int pass = 0; pass < 2; pass++)
            for (int j = 0; j < i; j++) {
                double d = dot(r, w + (long)j * cols, cols);
                for (int l = 0; l < cols; l++)
                    r[l] -= d * w[(long)j * cols + l];
            }
        double len = sqrt(dot(r, r, cols));
        for (int l = 0; l < cols; l++)
            r[l] /= len;
    }
    return w;
}

static void test_orthonormal_and_band(void **state)
{
    (void)state;
    int rows = 6, cols = 15;
    long n = (long)rows * cols;
    double *scratch = alloc((long)orthogonal_scratch(rows, cols));
    double *w = orthonormal_rows(rows, cols);
    assert_true(orthogonal_penalty(w, rows, cols, ORTH_ROWS, 0, NULL,
                                   scratch) < 1e-12);
    assert_true(orthogonal_penalty(w, rows, cols, ORTH_OFFDIAG, 0, NULL,
                                   scratch) > 0.1);   /* W^T W is a projection */
    assert_true(fabs(orthogonal_penalty(w, rows, cols, ORTH_COLS, 0, NULL,
                                        scratch) -
                     sqrt(cols - rows)) < 1e-12);
    /* form 4's band: sqrt(n + 1 - 2 sqrt(r)) at orthonormal rows ... */
    double lo = sqrt(cols + 1 - 2 * sqrt(rows)), hi = sqrt(cols - 1.0);
    assert_true(fabs(orthogonal_penalty(w, rows, cols, ORTH_NORMALIZED, 0,
                                        NULL, scratch) - lo) < 1e-12);
    /* ... and it does not see scale: P(3W) = P(W), <dP/dW, W> = 0 */
    double *dw = alloc(n);
    for (long i = 0; i < n; i++)
        w[i] *= 3;
    orthogonal_penalty(w, rows, cols, ORTH_NORMALIZED, 1, dw, scratch);
    assert_true(fabs(dot(dw, w, n)) < 1e-10);
    /* ... to sqrt(n - 1) at rank one */
    double *a = random_vec(rows, -1, 1), *b = random_vec(cols, -1, 1);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            w[i * cols + j] = a[i] * b[j];
    assert_true(fabs(orthogonal_penalty(w, rows, cols, ORTH_NORMALIZED, 0,
                                        NULL, scratch) - hi) < 1e-12);
    /* a random weight lies inside */
    for (long i = 0; i < n; i++)
        w[i] = 2 * rng_uniform(&rng) - 1;
    double p = orthogonal_penalty(w, rows, cols, ORTH_NORMALIZED, 0, NULL,
                                  scratch);
    assert_true(p > lo && p < hi);
    free(a);
    free(b);
    free(w);
    free(dw);
    free(scratch);
}

static void test_zero_corners(void **state)
{
    (void)state;
    int rows = 4, cols = 9;
    long n = (long)rows * cols;
    double *scratch = alloc((long)orthogonal_scratch(rows, cols));
    double *w = alloc(n), *dw = random_vec(n, -1, 1), *dw0 = alloc(n);
    memcpy(dw0, dw, n * sizeof *dw);
    /* W = 0: form 4 takes A / ||A|| as 0; the others are exact */
    assert_true(orthogonal_penalty(w, rows, cols, ORTH_NORMALIZED, 1, dw,
                                   scratch) == sqrt(cols));
    assert_true(orthogonal_penalty(w, rows, cols, ORTH_COLS, 1, dw,
                                   scratch) == sqrt(cols));
    assert_true(orthogonal_penalty(w, rows, cols, ORTH_ROWS, 1, dw,
                                   scratch) == sqrt(rows));
    assert_true(orthogonal_penalty(w, rows, cols, ORTH_OFFDIAG, 1, dw,
                                   scratch) == 0);
    assert_memory_equal(dw, dw0, n * sizeof *dw);
    /* W = [I 0]: the penalty of the rows is exactly 0, its gradient 0 */
    for (int i = 0; i < rows; i++)
        w[i * cols + i] = 1;
    assert_true(orthogonal_penalty(w, rows, cols, ORTH_ROWS, 1, dw,
                                   scratch) == 0);
    assert_memory_equal(dw, dw0, n * sizeof *dw);
    free(w);
    free(dw);
    free(dw0);
    free(scratch);
}

/* One column (conv N 1 on one channel, linear from one feature): A = W^T W
 * is 1 x 1, so A / ||A|| = I and form 4 is exactly 0, as is form 3 (no
 * off-diagonal); neither may add to dw.  Rounding used to leave form 4 at
 * ~1e-16 and divide rounding noise by it: a gradient of order 1/||w||
 * (found by the spec fuzzer, tests/specgen/found/fz_20_203). */
static void test_one_column(void **state)
{
    (void)state;
    int rows = 4, cols = 1;
    double *scratch = alloc((long)orthogonal_scratch(rows, cols));
    double *dw = random_vec(rows, -1, 1), *dw0 = alloc(rows);
    memcpy(dw0, dw, rows * sizeof *dw);
    for (int k = 0; k < 50; k++) {
        double *w = random_vec(rows, -1, 1);
        assert_true(orthogonal_penalty(w, rows, cols, ORTH_NORMALIZED, 1, dw,
                                       scratch) == 0);
        assert_true(orthogonal_penalty(w, rows, cols, ORTH_OFFDIAG, 1, dw,
                                       scratch) == 0);
        assert_memory_equal(dw, dw0, rows * sizeof *dw);
        free(w);
    }
    free(dw);
    free(dw0);
    free(scratch);
}

/* regularize_run against the terms called one by one, in the list's order:
 * a large weight's (above REG_SHARED_FLOPS) that does not split (form 3)
 * on the team, as it runs them; a large weight's that splits (its Gram's
 * pieces, the power iterations and the gradient's columns single-threaded,
 * side by side with the small weights) and the small weights' on one
 * thread.
 * The same values, gradients and power-iteration vectors to the bit, at
 * every thread count; with grads NULL the same values and no gradient;
 * its scratch within regularize_scratch's count. */
static void test_run_as_listed(void **state)
{
    (void)state;
    /* small weights large enough that their products and the convolution
     * would open parallel regions of their own (gram_rows' blocks, conv.c's
     * images), as the seed CNN's do inside the team */
    static const conv_shape conv = {.in_c = 16, .in_h = 12, .in_w = 12, .out_c = 32, .kh = 3,
                                    .kw = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1,
                                    .pad_w = 1, .out_h = 12, .out_w = 12};
    static const conv_shape tiny = {.in_c = 4, .in_h = 10, .in_w = 10, .out_c = 8, .kh = 3,
                                    .kw = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1,
                                    .pad_w = 1, .out_h = 10, .out_w = 10};
    enum { W1 = 0, W2 = W1 + 128 * 576, W3 = W2 + 32 * 144, W4 = W3 + 16 * 30,
           U1 = W4 + 256 * 1024, V1 = U1 + 128, U2 = V1 + 576, V2 = U2 + 32 * 144,
           U4 = V2 + 16 * 144, V4 = U4 + 256, W5 = V4 + 1024, W6 = W5 + 64 * 300,
           W7 = W6 + 64 * 300, U7 = W7 + 40 * 60, V7 = U7 + 40, W8 = V7 + 60, U8 = W8 + 8 * 36,
           V8 = U8 + 800, W9 = V8 + 400, PARAMS = W9 + 200 * 700 };
    const reg_term t[] = {
        {.kind = REG_ORTHOGONAL, .weight = W1, .rows = 128, .cols = 576, .form = 4,
         .scale = 1e-2},
        {.kind = REG_SPECTRAL_CONV, .weight = W2, .rows = 32, .cols = 144, .conv = &conv,
         .u = U2, .v = V2, .iters = 2, .scale = 1e-3},
        {.kind = REG_ORTHOGONAL, .weight = W4, .rows = 256, .cols = 1024, .form = 4,
         .scale = 1e-4},
        {.kind = REG_SPECTRAL_LINEAR, .weight = W1, .rows = 128, .cols = 576, .u = U1, .v = V1,
         .iters = 1, .scale = 1e-3},
        {.kind = REG_ORTHOGONAL, .weight = W3, .rows = 16, .cols = 30, .form = 3, .scale = 0.5},
        {.kind = REG_ORTHOGONAL, .weight = W2, .rows = 32, .cols = 144, .form = 1, .scale = 0.1},
        {.kind = REG_SPECTRAL_LINEAR, .weight = W4, .rows = 256, .cols = 1024, .u = U4,
         .v = V4, .iters = 1, .restart = 1, .scale = 1e-3},
        /* two of one cost, so that they run at the same time */
        {.kind = REG_ORTHOGONAL, .weight = W5, .rows = 64, .cols = 300, .form = 4, .scale = 1},
        {.kind = REG_ORTHOGONAL, .weight = W6, .rows = 64, .cols = 300, .form = 2, .scale = 1},
        /* and small ones, quick enough to overlap in time on few cores */
        {.kind = REG_ORTHOGONAL, .weight = W7, .rows = 40, .cols = 60, .form = 4, .scale = 1e-2},
        {.kind = REG_SPECTRAL_CONV, .weight = W8, .rows = 8, .cols = 36, .conv = &tiny,
         .u = U8, .v = V8, .iters = 2, .scale = 1e-3},
        {.kind = REG_SPECTRAL_LINEAR, .weight = W7, .rows = 40, .cols = 60, .u = U7, .v = V7,
         .iters = 1, .scale = 1e-3},
        {.kind = REG_ORTHOGONAL, .weight = W8, .rows = 8, .cols = 36, .form = 1, .scale = 0.1},
        /* large, but form 3 does not split */
        {.kind = REG_ORTHOGONAL, .weight = W9, .rows = 200, .cols = 700, .form = 3,
         .scale = 1e-3},
    };
    enum { N = sizeof t / sizeof t[0], GUARD = 64 };
    double *p0 = random_vec(PARAMS, -0.2, 0.2), *g0 = random_vec(PARAMS, -1, 1);
    const size_t room = regularize_scratch(t, N);
    const int saved = omp_get_max_threads();
    for (int threads = 1; threads <= 3; threads++) {
        double *p = alloc(PARAMS), *g = alloc(PARAMS), *rp = alloc(PARAMS), *rg = alloc(PARAMS);
        double *scratch = alloc((long)room + GUARD), terms[N], rterms[N];
        memcpy(p, p0, sizeof(double) * PARAMS);
        memcpy(rp, p0, sizeof(double) * PARAMS);
        memcpy(g, g0, sizeof(double) * PARAMS);
        memcpy(rg, g0, sizeof(double) * PARAMS);
        for (int i = 0; i < GUARD; i++)
            scratch[room + i] = 1234.5;
        omp_set_num_threads(threads);
        const double sum = regularize_run(t, N, p, g, terms, scratch);
        for (int i = 0; i < GUARD; i++)
            assert_true(scratch[room + i] == 1234.5);

        double rsum = 0;
        for (int i = 0; i < N; i++) {
            omp_set_num_threads(t[i].weight == W9 ? threads : 1);
            double *dw = rg + t[i].weight, *w = rp + t[i].weight;
            double v;
            if (t[i].kind == REG_ORTHOGONAL)
                v = orthogonal_penalty(w, t[i].rows, t[i].cols, t[i].form, t[i].scale, dw,
                                       scratch);
            else if (t[i].kind == REG_SPECTRAL_LINEAR)
                v = spectral_linear(w, t[i].rows, t[i].cols, rp + t[i].u, rp + t[i].v,
                                    t[i].iters, t[i].restart, t[i].scale, dw);
            else
                v = spectral_conv(w, t[i].conv, rp + t[i].u, rp + t[i].v, t[i].iters,
                                  t[i].restart, t[i].scale, dw, scratch);
            rterms[i] = t[i].scale * v;
            assert_true(rterms[i] > 0);
        }
        for (int i = 0; i < N; i++) {
            if (terms[i] != rterms[i])
                fail_msg("%d threads: term %d is %.17g, called alone %.17g", threads, i,
                         terms[i], rterms[i]);
            rsum += rterms[i];
        }
        assert_true(sum == rsum);
        assert_memory_equal(g, rg, sizeof(double) * PARAMS);
        assert_memory_equal(p, rp, sizeof(double) * PARAMS);

        /* no gradient asked: the same values, grads untouched */
        memcpy(p, p0, sizeof(double) * PARAMS);
        omp_set_num_threads(threads);
        double again[N];
        regularize_run(t, N, p, NULL, again, scratch);
        assert_memory_equal(again, terms, sizeof terms);
        free(p);
        free(g);
        free(rp);
        free(rg);
        free(scratch);
    }
    /* the small weights of one cost and the quick ones alone, side by side
     * on 2 and 3 threads (the first two start together): each in a room of
     * its own, all within regularize_scratch's count, the values those of
     * the whole list's run */
    const reg_term small[] = {t[7], t[8], t[4], t[9], t[10], t[11], t[12]};
    const int from[] = {7, 8, 4, 9, 10, 11, 12};
    enum { SMALL = sizeof small / sizeof small[0] };
    const size_t small_room = regularize_scratch(small, SMALL);
    double *scratch = alloc((long)small_room + GUARD), *p = alloc(PARAMS), *g = alloc(PARAMS);
    double terms[SMALL], all[N];
    memcpy(p, p0, sizeof(double) * PARAMS);
    double *whole = alloc((long)room);
    omp_set_num_threads(1);
    regularize_run(t, N, p, NULL, all, whole);
    free(whole);
    for (int rep = 0; rep < 10; rep++) {
        memcpy(p, p0, sizeof(double) * PARAMS);
        for (int i = 0; i < GUARD; i++)
            scratch[small_room + i] = 1234.5;
        omp_set_num_threads(2 + rep % 2);
        regularize_run(small, SMALL, p, NULL, terms, scratch);
        for (int i = 0; i < GUARD; i++)
            assert_true(scratch[small_room + i] == 1234.5);
        for (int i = 0; i < SMALL; i++)
            if (terms[i] != all[from[i]])
                fail_msg("small weights at once: term %d is %.17g, in the whole run %.17g",
                         from[i], terms[i], all[from[i]]);
    }
    free(scratch);
    free(p);
    free(g);
    omp_set_num_threads(saved);
    free(p0);
    free(g0);
}

static int setup(void **state)
{
    (void)state;
    rng_seed(&rng, 31337);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_gradients),
        cmocka_unit_test(test_orthonormal_and_band),
        cmocka_unit_test(test_zero_corners),
        cmocka_unit_test(test_one_column),
        cmocka_unit_test(test_run_as_listed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
