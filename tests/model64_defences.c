/* model64_defences.c - the defences as the emitter lowers them
 * (tests/specs/defences.net), checked in double precision, in training
 * (batch statistics) and evaluation modes:
 *
 *   - finite differences of every ordinary gradient: the float networks,
 *     the quantised network's biases, BatchNorm and input (its weights are
 *     fixed points of the quantiser), the piecewise-linear activation's
 *     knots, networks with noise (the rng replayed before every pass);
 *   - the straight-through gradients, which finite differences cannot see:
 *     a quantised network must give the logits, input gradient and
 *     parameter gradients of its float twin evaluated at the quantised
 *     weights (computed here by Algorithm 2), the weight gradient masked
 *     where the master weight lies outside fixed bounds; DTReLU fused into
 *     conv and linear loops must agree with the runtime's kernel called
 *     alone, including its bound gradients and the degenerate hi <= lo;
 *     the lone activations are checked against their kernels by a
 *     reference written here;
 *   - noise: its values against a replay of the rng, the number of draws
 *     (one per element before each conv);
 *   - the regularisers: each term against an independent computation
 *     (orthogonal forms from the Gram matrix; spectral norms from the SVD
 *     of the dense operator, for a convolution the true one), persistent
 *     power iteration against restarted iteration, and their gradients
 *     against finite differences of model_regularize's value. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lapacke.h>
#include "context.h"
#include "dtrelu.h"
#include "kernels.h"
#include "model.h"
#include "noise.h"
#include "rng.h"
#include "spectral.h"
#include "threshold_act.h"
#include "model_gradcheck.h"
#include "dense_operator.h"

extern const advcc_model advcc_model_df_net, advcc_model_df_lone,
    advcc_model_df_quant, advcc_model_df_relu, advcc_model_df_qrelu,
    advcc_model_df_act_dtrelu, advcc_model_df_act_pwl,
    advcc_model_df_act_naive, advcc_model_df_act_ddt, advcc_model_df_noise,
    advcc_model_df_noise1, advcc_model_df_reg;

static const int modes[2] = {ADVCC_TRAIN_FROZEN, ADVCC_EVAL};

/* ---- fixtures ---- */

static double *param(fixture *f, const char *name)
{
    const advcc_tensor *T = tensor_named(f->m, name);
    if (!T)
        fail_msg("%s has no tensor %s", f->m->name, name);
    return f->c->params + T->offset;
}

/* Copies every tensor of `from` into the tensor of the same name of `to`. */
static void copy_params(fixture *to, const fixture *from)
{
    for (int t = 0; t < from->m->n_tensors; t++) {
        const advcc_tensor *T = &from->m->tensors[t];
        const advcc_tensor *U = tensor_named(to->m, T->name);
        assert_non_null(U);
        assert_int_equal(T->size, U->size);
        memcpy(to->c->params + U->offset, from->c->params + T->offset,
               sizeof(double) * T->size);
    }
}

#define assert_close(what, a, b, n, tol)                                   \
    do {                                                                   \
        double d_ = max_diff((a), (b), (n));                               \
        if (!(d_ <= (tol)))                                                \
            fail_msg("%s: differs by %.3g", (what), d_);                   \
    } while (0)

#define SKIP_WEIGHTS (1u << ADVCC_WEIGHT)

#define GRADCHECK(model, batch, per, skip)                                  \
    static void test_fd_##model(void **s)                                   \
    {                                                                       \
        (void)s;                                                            \
        for (int k = 0; k < 2; k++)                                         \
            gradcheck(&advcc_model_##model, modes[k], batch, per, skip);    \
    }

GRADCHECK(df_relu, 3, 10, 0)
GRADCHECK(df_qrelu, 3, 10, SKIP_WEIGHTS)
GRADCHECK(df_act_pwl, 3, 10, 0)
GRADCHECK(df_noise, 3, 10, 0)
GRADCHECK(df_noise1, 3, 6, 0)
GRADCHECK(df_reg, 2, 10, 0)

/* ---- weight quantisation: the straight-through estimator ---- */

typedef struct wquant {
    const char *tensor;
    int bits;
    int range;              /* 0 min/max, 1 fixed, 2 per output row */
    double lo, hi;
} wquant;

/* Algorithm 2, written out: s = (b - a) / (2^N - 1),
 * q = s * round((clip(x, a, b) - a) / s) + a, ties away from zero. */
static void fake_quant(const double *w, long n, int bits, double a, double b,
                       double *q)
{
    double s = (b - a) / (double)((1L << bits) - 1);
    for (long i = 0; i < n; i++)
        q[i] = s * round((fmin(fmax(w[i], a), b) - a) / s) + a;
}

static void minmax(const double *w, long n, double *a, double *b)
{
    *a = *b = w[0];
    for (long i = 1; i < n; i++) {
        *a = fmin(*a, w[i]);
        *b = fmax(*b, w[i]);
    }
}

/* The quantised weight of master w; mask[i] = 1 where the gradient passes. */
static void quantise(const wquant *q, const advcc_tensor *T, const double *w,
                     double *out, double *mask)
{
    long n = (long)T->size, rows = T->shape[0], cols = n / rows;
    for (long r = 0; r < (q->range == 2 ? rows : 1); r++) {
        long off = q->range == 2 ? r * cols : 0, len = q->range == 2 ? cols : n;
        double a = q->lo, b = q->hi;
        if (q->range != 1)
            minmax(w + off, len, &a, &b);
        fake_quant(w + off, len, q->bits, a, b, out + off);
        for (long i = off; i < off + len; i++)
            mask[i] = w[i] >= a && w[i] <= b;
    }
}

/* The quantised model against its float twin at the quantised weights. */
static void check_ste(const advcc_model *qm, const advcc_model *fm,
                      const wquant *wq, int n_wq, int mode)
{
    fixture *q = fixture_new(qm, 3, 4321), *fl = fixture_new(fm, 3, 4321);
    /* Fixed bounds: push some master weights outside, where the gradient
     * must stop. */
    int outside = 0;
    for (int k = 0; k < n_wq; k++) {
        if (wq[k].range != 1)
            continue;
        double *w = param(q, wq[k].tensor);
        long n = (long)tensor_named(qm, wq[k].tensor)->size;
        for (long i = 0; i < n; i += 7, outside++)
            w[i] = (i % 2 ? wq[k].hi : wq[k].lo) * 1.7;
    }
    copy_params(fl, q);
    double *mask = calloc(fm->n_params, sizeof(double));
    for (size_t i = 0; i < fm->n_params; i++)
        mask[i] = 1;
    long changed = 0;
    for (int k = 0; k < n_wq; k++) {
        const advcc_tensor *T = tensor_named(fm, wq[k].tensor);
        double *w = param(fl, wq[k].tensor);
        double *qw = malloc(sizeof(double) * T->size);
        quantise(&wq[k], T, param(q, wq[k].tensor), qw, mask + T->offset);
        for (size_t i = 0; i < T->size; i++)
            changed += qw[i] != w[i];
        memcpy(w, qw, sizeof(double) * T->size);
        free(qw);
    }
    assert_true(changed > 0);    /* the grid is coarse enough to matter */

    double *master = malloc(sizeof(double) * qm->n_params);
    memcpy(master, q->c->params, sizeof(double) * qm->n_params);
    forward_backward(q, mode);
    forward_backward(fl, mode);
    const size_t img = (size_t)qm->in_c * qm->in_h * qm->in_w;
    assert_close("logits", q->logits, fl->logits, 3 * (size_t)qm->classes, 1e-12);
    assert_close("input gradient", q->dx, fl->dx, img * 3, 1e-12);
    /* the master weights are never overwritten */
    for (int t = 0; t < qm->n_tensors; t++)
        if (qm->tensors[t].kind != ADVCC_STATE)
            assert_memory_equal(master + qm->tensors[t].offset,
                                q->c->params + qm->tensors[t].offset,
                                sizeof(double) * qm->tensors[t].size);
    long stopped = 0;
    for (int t = 0; t < qm->n_tensors; t++) {
        const advcc_tensor *T = &qm->tensors[t];
        const advcc_tensor *U = tensor_named(fm, T->name);
        const double *gq = q->c->grads + T->offset, *gf = fl->c->grads + U->offset;
        if (T->kind == ADVCC_STATE)
            continue;
        for (size_t i = 0; i < T->size; i++) {
            double want = gf[i] * mask[U->offset + i];
            stopped += mask[U->offset + i] == 0 && gf[i] != 0;
            if (!(fabs(gq[i] - want) <= 1e-12))
                fail_msg("%s %s[%zu] (mode %d): gradient %.12g, want %.12g",
                         qm->name, T->name, i, mode, gq[i], want);
        }
    }
    assert_true(outside == 0 || stopped > 0);
    free(master);
    free(mask);
    fixture_free(q);
    fixture_free(fl);
}

static void test_ste_quant(void **s)
{
    (void)s;
    static const wquant wq[] = {
        {"conv1.weight", 8, 0, 0, 0},
        {"conv2.weight", 4, 2, 0, 0},
        {"fc1.weight", 4, 1, -0.3, 0.3},
        {"fc2.weight", 8, 0, 0, 0},
    };
    for (int k = 0; k < 2; k++)
        check_ste(&advcc_model_df_quant, &advcc_model_df_net, wq, 4, modes[k]);
}

static void test_ste_qrelu(void **s)
{
    (void)s;
    static const wquant wq[] = {
        {"conv1.weight", 4, 0, 0, 0},
        {"conv2.weight", 4, 0, 0, 0},
        {"fc1.weight", 4, 0, 0, 0},
        {"fc2.weight", 4, 0, 0, 0},
    };
    for (int k = 0; k < 2; k++)
        check_ste(&advcc_model_df_qrelu, &advcc_model_df_relu, wq, 4, modes[k]);
}

/* ---- DTReLU fused against DTReLU alone ---- */

/* The three DTReLUs' bounds lo[k], hi[k]; hi <= lo makes a layer constant,
 * so that its lo and every layer below hear nothing. */
static void check_fused(int mode, const double *lo, const double *hi)
{
    fixture *a = fixture_new(&advcc_model_df_net, 3, 55);
    fixture *b = fixture_new(&advcc_model_df_lone, 3, 55);
    char name[2][32];
    for (int k = 0; k < 3; k++) {
        snprintf(name[0], sizeof name[0], "dtrelu%d.lo", k + 1);
        snprintf(name[1], sizeof name[1], "dtrelu%d.hi", k + 1);
        *param(a, name[0]) = lo[k];
        *param(a, name[1]) = hi[k];
    }
    copy_params(b, a);
    forward_backward(a, mode);
    forward_backward(b, mode);
    const advcc_model *m = a->m;
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    assert_close("logits", a->logits, b->logits, 3 * (size_t)m->classes, 1e-12);
    assert_close("input gradient", a->dx, b->dx, img * 3, 1e-12);
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        const advcc_tensor *U = tensor_named(b->m, T->name);
        if (T->kind == ADVCC_STATE)
            continue;
        double scale = fmax(1, max_abs(a->c->grads + T->offset, T->size));
        double d = max_diff(a->c->grads + T->offset, b->c->grads + U->offset, T->size);
        if (!(d <= 1e-12 * scale))
            fail_msg("%s (mode %d): fused and lone differ by %.3g", T->name, mode, d);
    }
    /* a constant layer blocks its lo and all below; with none, every bound
     * hears from the loss */
    int all_normal = 1;
    for (int k = 0; k < 3; k++)
        all_normal &= hi[k] > lo[k];
    for (int k = 0; k < 3; k++)
        for (int side = 0; side < 2; side++) {
            int blocked = side == 0 && hi[k] <= lo[k];
            for (int above = k + 1; above < 3; above++)
                blocked |= hi[above] <= lo[above];
            snprintf(name[side], sizeof name[side], "dtrelu%d.%s", k + 1, side ? "hi" : "lo");
            double g = a->c->grads[tensor_named(m, name[side])->offset];
            if (blocked ? g != 0 : all_normal && g == 0)
                fail_msg("%s (mode %d): gradient %g", name[side], mode, g);
        }
    fixture_free(a);
    fixture_free(b);
}

static void test_dtrelu_fused(void **s)
{
    (void)s;
    const double lo[3] = {-0.1, -0.03, -0.05}, hi[3] = {0.15, 0.04, 0.08};
    for (int k = 0; k < 2; k++) {
        check_fused(modes[k], lo, hi);
        for (int flat = 0; flat < 3; flat++) {  /* one layer with hi <= lo */
            double l[3], h[3];
            memcpy(l, lo, sizeof l);
            memcpy(h, hi, sizeof h);
            l[flat] = 0.3;
            h[flat] = flat == 1 ? 0.3 : -0.2;
            check_fused(modes[k], l, h);
        }
    }
}

/* ---- lone activations against their kernels ---- */

/* x -> fc1 -> act -> fc2, recomputed here with the runtime's kernels. */
static void check_activation(const advcc_model *m, int kind, int mode)
{
    fixture *f = fixture_new(m, 4, 31);
    const int B = 4, in = m->in_c * m->in_h * m->in_w, h = 8, out = m->classes;
    const advcc_tensor *th = tensor_named(m, kind == 0 ? "dtrelu1.lo" : kind == 1 ? "pwlinear1.thresholds" : kind == 2 ? "naivedt1.thresholds" : "ddtrelu1.thresholds");
    assert_non_null(th);
    assert_int_equal(th->kind, ADVCC_THRESHOLD);
    double *t = f->c->params + th->offset;
    const int k = kind == 0 ? 2 : (int)th->size;
    double *v = kind == 1 ? param(f, "pwlinear1.values") : NULL;
    /* initial thresholds: the spec's bounds, evenly spread between */
    double lo = kind == 0 ? -0.4 : kind == 1 ? -0.6 : -0.5;
    double hi = kind == 0 ? 0.5 : kind == 1 ? 0.6 : 0.5;
    for (int j = 0; j < k; j++) {
        assert_true(fabs(t[j] - (lo + (hi - lo) * j / (k - 1))) < 1e-15);
        if (v)
            assert_true(v[j] == t[j]);
    }
    if (v)
        for (int j = 0; j < k; j++)
            v[j] = t[j] * t[j] - 0.1 * j;   /* a shape to learn from */
    if (kind >= 1) {
        /* an update that swapped two thresholds: forward reorders them */
        double keep = t[1];
        t[1] = t[2];
        t[2] = keep;
    }
    forward_backward(f, mode);
    for (int j = 1; j < k && kind >= 1; j++)
        assert_true(t[j - 1] <= t[j]);

    const double *w1 = param(f, "fc1.weight"), *b1 = param(f, "fc1.bias");
    const double *w2 = param(f, "fc2.weight"), *b2 = param(f, "fc2.bias");
    double z[4 * 8], a[4 * 8], logits[4 * 3], da[4 * 8], dz[4 * 8], dt[8] = {0}, dv[8] = {0};
    for (int i = 0; i < B; i++)
        for (int o = 0; o < h; o++) {
            double s = b1[o];
            for (int j = 0; j < in; j++)
                s += w1[o * in + j] * f->x[i * in + j];
            z[i * h + o] = s;
        }
    if (kind == 0)
        dtrelu_forward(z, B * h, t[0], t[1], 3, a);
    else if (kind == 1)
        pwl_forward(z, B * h, t, v, k, a);
    else if (kind == 2)
        naive_threshold_forward(z, B * h, t, k, a);
    else
        ddtrelu_forward(z, B * h, t, k, a);
    for (int i = 0; i < B; i++)
        for (int o = 0; o < out; o++) {
            double s = b2[o];
            for (int j = 0; j < h; j++)
                s += w2[o * h + j] * a[i * h + j];
            logits[i * out + o] = s;
        }
    assert_close("logits", logits, f->logits, (size_t)B * out, 1e-13);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < h; j++) {
            double s = 0;
            for (int o = 0; o < out; o++)
                s += w2[o * h + j] * f->dlogits[i * out + o];
            da[i * h + j] = s;
        }
    if (kind == 0)
        dtrelu_backward(z, da, B * h, t[0], t[1], dz, &dt[0], &dt[1], 0);
    else if (kind == 1)
        pwl_backward(z, da, B * h, t, v, k, dz, dt, dv, 0);
    else if (kind == 2)
        naive_threshold_backward(z, da, B * h, t, k, dz, dt, 0);
    else
        ddtrelu_backward(z, da, B * h, t, k, dz, dt, 0);
    assert_close("threshold gradient", dt, f->c->grads + th->offset, (size_t)k, 1e-13);
    assert_true(max_abs(dt, k) > 0);
    if (v)
        assert_close("value gradient", dv, f->c->grads + tensor_named(m, "pwlinear1.values")->offset,
                     (size_t)k, 1e-13);
    double dx[4 * 9];
    for (int i = 0; i < B; i++)
        for (int j = 0; j < in; j++) {
            double s = 0;
            for (int o = 0; o < h; o++)
                s += w1[o * in + j] * dz[i * h + o];
            dx[i * in + j] = s;
        }
    assert_close("input gradient", dx, f->dx, (size_t)B * in, 1e-13);
    fixture_free(f);
}

static void test_lone_activations(void **s)
{
    (void)s;
    const advcc_model *m[4] = {&advcc_model_df_act_dtrelu, &advcc_model_df_act_pwl,
                               &advcc_model_df_act_naive, &advcc_model_df_act_ddt};
    for (int kind = 0; kind < 4; kind++)
        for (int k = 0; k < 2; k++)
            check_activation(m[kind], kind, modes[k]);
}

/* ---- noise ---- */

/* logits = W (x + 0.5 xi) + b with xi replayed from the same stream. */
static void test_noise_values(void **s)
{
    (void)s;
    const advcc_model *m = &advcc_model_df_noise1;
    for (int k = 0; k < 2; k++) {
        fixture *f = fixture_new(m, 3, 8);
        advcc_rng r = *f->c->rng;
        forward_backward(f, modes[k]);
        const double *w = param(f, "fc1.weight"), *b = param(f, "fc1.bias");
        double xn[3 * 6], want[3 * 2], dx[3 * 6], z[3 * 6];
        noise_draws(&r, 3 * 6, z);
        for (int i = 0; i < 3 * 6; i++)
            xn[i] = f->x[i] + 0.5 * z[i];
        assert_true(rng_equal(&r, f->c->rng));   /* one call over the batch */
        for (int i = 0; i < 3; i++)
            for (int o = 0; o < 2; o++) {
                want[i * 2 + o] = b[o];
                for (int j = 0; j < 6; j++)
                    want[i * 2 + o] += w[o * 6 + j] * xn[i * 6 + j];
            }
        assert_close("noisy logits", want, f->logits, 6, 1e-14);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 6; j++)
                dx[i * 6 + j] = w[j] * f->dlogits[i * 2] + w[6 + j] * f->dlogits[i * 2 + 1];
        assert_close("input gradient", dx, f->dx, 18, 1e-14);
        fixture_free(f);
    }
}

/* Noise before each conv: one call over each conv's input, in both modes;
 * the same stream repeats a pass, another changes it. */
static void test_noise_before_convs(void **s)
{
    (void)s;
    const advcc_model *m = &advcc_model_df_noise;
    assert_int_equal(m->ensemble, 3);
    assert_int_equal(m->ensemble_probs, 1);
    for (int k = 0; k < 2; k++) {
        fixture *f = fixture_new(m, 2, 9);
        double l1[6], l2[6], l3[6];
        advcc_rng r = *f->c->rng;
        m->forward(f->c, f->x, 2, modes[k], l1);
        rng_u64(&r);    /* one noise call before each conv */
        rng_u64(&r);
        assert_true(rng_equal(&r, f->c->rng));
        m->forward(f->c, f->x, 2, modes[k], l2);
        *f->c->rng = f->rng0;
        m->forward(f->c, f->x, 2, modes[k], l3);
        assert_memory_equal(l1, l3, sizeof l1);
        assert_true(max_diff(l1, l2, 6) > 1e-6);
        fixture_free(f);
    }
}

/* ---- regularisers ---- */

#define N_TERMS 9
static const char *const term_names[N_TERMS] = {
    "ortho_conv1", "ortho_conv2", "ortho_fc1", "ortho_fc2",
    "spectral_conv1", "spectral_conv2", "spectral_fc1", "spectral_fc2",
    "spectral_conv2_2",
};

/* The orthogonal penalty of W [rows][cols], straight from its definition. */
static double ortho_reference(const double *w, int rows, int cols, int form)
{
    double *a = calloc((size_t)cols * cols, sizeof(double));
    double *g = calloc((size_t)rows * rows, sizeof(double));
    for (int i = 0; i < cols; i++)
        for (int j = 0; j < cols; j++)
            for (int r = 0; r < rows; r++)
                a[i * cols + j] += w[r * cols + i] * w[r * cols + j];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < rows; j++)
            for (int c = 0; c < cols; c++)
                g[i * rows + j] += w[i * cols + c] * w[j * cols + c];
    double na = 0, p = 0;
    for (int i = 0; i < cols * cols; i++)
        na += a[i] * a[i];
    na = sqrt(na);
    const double *m = form == 2 ? g : a;
    const int n = form == 2 ? rows : cols;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double e = m[i * n + j];
            if (form == 4)
                e /= na;
            if (i == j)
                e = form == 3 ? 0 : e - 1;
            p += e * e;
        }
    free(a);
    free(g);
    return sqrt(p);
}

/* The true spectral norm of a convolution (no bias). */
static double conv_operator_norm(const double *wt, const conv_shape *cs)
{
    int rows = cs->out_c * cs->out_h * cs->out_w, cols = cs->in_c * cs->in_h * cs->in_w;
    double *m = malloc(sizeof(double) * (size_t)rows * cols);
    assert_non_null(m);
    conv_dense(wt, cs, m);
    double s = sigma_max(m, rows, cols);
    free(m);
    return s;
}

static void test_reg_descriptor(void **s)
{
    (void)s;
    const advcc_model *m = &advcc_model_df_reg;
    assert_non_null(m->regularize);
    assert_int_equal(m->n_reg_terms, N_TERMS);
    for (int i = 0; i < N_TERMS; i++)
        assert_string_equal(m->reg_term_names[i], term_names[i]);
    /* the power-iteration vectors: state, whole feature maps for a conv */
    static const struct { const char *name; int ndim, shape[3]; } sn[] = {
        {"conv1.sn_u", 3, {3, 7, 7}}, {"conv1.sn_v", 3, {2, 7, 7}},
        {"conv2.sn_u", 3, {4, 3, 3}}, {"conv2.sn_v", 3, {3, 7, 7}},
        {"conv2.sn2_u", 3, {4, 3, 3}}, {"conv2.sn2_v", 3, {3, 7, 7}},
        {"fc1.sn_u", 1, {6}}, {"fc1.sn_v", 1, {36}},
        {"fc2.sn_u", 1, {3}}, {"fc2.sn_v", 1, {6}},
    };
    advcc_ctx *c = ctx_create(m, 1, 3);
    int states = 0;
    for (int t = 0; t < m->n_tensors; t++)
        states += m->tensors[t].kind == ADVCC_STATE;
    assert_int_equal(states, (int)(sizeof sn / sizeof sn[0]));
    for (size_t i = 0; i < sizeof sn / sizeof sn[0]; i++) {
        const advcc_tensor *T = tensor_named(m, sn[i].name);
        assert_non_null(T);
        assert_int_equal(T->kind, ADVCC_STATE);
        assert_int_equal(T->ndim, sn[i].ndim);
        for (int d = 0; d < sn[i].ndim; d++)
            assert_int_equal(T->shape[d], sn[i].shape[d]);
        for (size_t j = 0; j < T->size; j++)
            assert_true(c->params[T->offset + j] == 1);
    }
    ctx_free(c);
    /* models without regularisers have none */
    assert_null(advcc_model_df_net.regularize);
    assert_int_equal(advcc_model_df_net.n_reg_terms, 0);
}

static double reg_value(advcc_ctx *c, double *terms)
{
    return c->model->regularize(c, 0, terms);
}

static void expect_term(const double *terms, int i, double want, double tol)
{
    if (!(fabs(terms[i] - want) <= tol * want))
        fail_msg("%s: %.15g, want %.15g", term_names[i], terms[i], want);
}

static void test_reg_values(void **s)
{
    (void)s;
    const advcc_model *m = &advcc_model_df_reg;
    advcc_ctx *c = ctx_create(m, 1, 17);
    double terms[N_TERMS];
    const double *w1 = c->params + tensor_named(m, "conv1.weight")->offset;
    const double *w2 = c->params + tensor_named(m, "conv2.weight")->offset;
    const double *f1 = c->params + tensor_named(m, "fc1.weight")->offset;
    const double *f2 = c->params + tensor_named(m, "fc2.weight")->offset;
    const conv_shape s1 = conv_shape_square(2, 7, 7, 3, 3, 1, 1);
    const conv_shape s2 = conv_shape_square(3, 7, 7, 4, 3, 2, 0);
    const double conv1_svd = conv_operator_norm(w1, &s1);
    const double conv2_svd = conv_operator_norm(w2, &s2);
    const double fc1_svd = sigma_max(f1, 6, 36), fc2_svd = sigma_max(f2, 3, 6);
    /* the flattened kernel's norm is not the operator's: the test can tell */
    assert_true(fabs(sigma_max(w1, 3, 18) - conv1_svd) > 1e-3 * conv1_svd);

    for (int j = 1; j <= 3; j++) {
        double total = reg_value(c, terms), sum = 0;
        for (int i = 0; i < N_TERMS; i++)
            sum += terms[i];
        assert_true(fabs(total - sum) <= 1e-15 * fabs(sum));
        expect_term(terms, 0, 0.3 * ortho_reference(w1, 3, 18, 4), 1e-12);
        expect_term(terms, 1, 0.2 * ortho_reference(w2, 4, 27, 1), 1e-12);
        expect_term(terms, 2, 0.1 * ortho_reference(f1, 6, 36, 2), 1e-12);
        expect_term(terms, 3, 0.5 * ortho_reference(f2, 3, 6, 3), 1e-12);
        /* persistent: each call continues the last one's iteration, so
         * after j calls it has done 8j iterations (2j for fc2) from ones */
        expect_term(terms, 4, 0.7 * spectral_norm_conv(w1, &s1, 8 * j), 1e-13);
        expect_term(terms, 5, 0.7 * spectral_norm_conv(w2, &s2, 8 * j), 1e-13);
        expect_term(terms, 7, 0.4 * spectral_norm_flat(f2, 3, 6, 2 * j), 1e-13);
        /* restarted: the same converged value at every call */
        expect_term(terms, 6, 0.6 * fc1_svd, 1e-11);
        expect_term(terms, 8, 0.1 * conv2_svd, 1e-9);
    }
    for (int j = 0; j < 400; j++)
        reg_value(c, terms);
    expect_term(terms, 4, 0.7 * conv1_svd, 1e-11);
    expect_term(terms, 5, 0.7 * conv2_svd, 1e-11);
    expect_term(terms, 7, 0.4 * fc2_svd, 1e-11);
    ctx_free(c);
}

typedef struct reg_op {
    advcc_ctx *c;
    double *state;          /* the state tensors, restored before each call */
    int leave_out;          /* a term whose value is not part of the loss */
} reg_op;

static void restore_state(reg_op *r)
{
    const advcc_model *m = r->c->model;
    for (int t = 0; t < m->n_tensors; t++)
        if (m->tensors[t].kind == ADVCC_STATE)
            memcpy(r->c->params + m->tensors[t].offset, r->state + m->tensors[t].offset,
                   sizeof(double) * m->tensors[t].size);
}

static double reg_loss(reg_op *r)
{
    double terms[N_TERMS];
    restore_state(r);
    return reg_value(r->c, terms) - terms[r->leave_out];
}

/* scale * d<u, conv(v, W)>/dW added into dw, written out: W [co][ci][k][k],
 * v [ci][h][w], u [co][ho][wo]. */
static void conv_uv_grad(const double *u, const double *v, int co, int ci, int k, int h,
                         int w, int stride, int pad, double scale, double *dw)
{
    int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
    for (int o = 0; o < co; o++)
        for (int i = 0; i < ci; i++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    double sum = 0;
                    for (int oy = 0; oy < ho; oy++)
                        for (int ox = 0; ox < wo; ox++) {
                            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                sum += u[(o * ho + oy) * wo + ox] * v[(i * h + iy) * w + ix];
                        }
                    dw[((o * ci + i) * k + ky) * k + kx] += scale * sum;
                }
}

/* The weights' gradients against central differences of the value, where
 * d sigma / dW = u v^T is the derivative: persistent power iterations run
 * to convergence first.  The restarted conv2 term (its top singular values
 * lie within 1%, too close for its iterations to converge) is checked
 * instead against u v^T from the vectors it leaves.  Gradients are added
 * onto what c->grads held; other tensors stay untouched. */
static void test_reg_gradients(void **s)
{
    (void)s;
    const advcc_model *m = &advcc_model_df_reg;
    advcc_ctx *c = ctx_create(m, 1, 23);
    double terms[N_TERMS];
    for (int j = 0; j < 400; j++)
        reg_value(c, terms);
    reg_op r = {c, malloc(sizeof(double) * m->n_params), 8};
    memcpy(r.state, c->params, sizeof(double) * m->n_params);
    double *g0 = malloc(sizeof(double) * m->n_params);
    advcc_rng rr;
    rng_seed(&rr, 5);
    for (size_t i = 0; i < m->n_params; i++)
        g0[i] = c->grads[i] = rng_uniform(&rr) - 0.5;
    /* without want_grad nothing moves */
    reg_value(c, terms);
    assert_memory_equal(c->grads, g0, sizeof(double) * m->n_params);
    restore_state(&r);
    m->regularize(c, 1, terms);
    /* take the restarted term's u v^T out of conv2's gradient */
    const advcc_tensor *w2 = tensor_named(m, "conv2.weight");
    conv_uv_grad(c->params + tensor_named(m, "conv2.sn2_u")->offset,
                 c->params + tensor_named(m, "conv2.sn2_v")->offset, 4, 3, 3, 7, 7, 2, 0, -0.1,
                 c->grads + w2->offset);
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        double *g = c->grads + T->offset;
        if (T->kind != ADVCC_WEIGHT) {
            assert_memory_equal(g, g0 + T->offset, sizeof(double) * T->size);
            continue;
        }
        double scale = 0, worst = 0;
        for (size_t i = 0; i < T->size; i++)
            scale = fmax(scale, fabs(g[i] - g0[T->offset + i]));
        assert_true(scale > 0);
        for (size_t k = 0; k < 24; k++) {
            size_t i = rng_below(&rr, (uint32_t)T->size);
            double *p = c->params + T->offset + i, keep = *p, h = 1e-6;
            *p = keep + h;
            double up = reg_loss(&r);
            *p = keep - h;
            double down = reg_loss(&r);
            *p = keep;
            double fd = (up - down) / (2 * h), an = g[i] - g0[T->offset + i];
            worst = fmax(worst, fabs(fd - an) / scale);
        }
        if (!(worst < 1e-7))
            fail_msg("%s: regulariser gradient off by %.3g (relative)", T->name, worst);
    }
    free(g0);
    free(r.state);
    ctx_free(c);
}

int main(void)
{
    ctx_set_threads(1);     /* tiny models: threads only wait on each other */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_df_relu),
        cmocka_unit_test(test_fd_df_qrelu),
        cmocka_unit_test(test_fd_df_act_pwl),
        cmocka_unit_test(test_fd_df_noise),
        cmocka_unit_test(test_fd_df_noise1),
        cmocka_unit_test(test_fd_df_reg),
        cmocka_unit_test(test_ste_quant),
        cmocka_unit_test(test_ste_qrelu),
        cmocka_unit_test(test_dtrelu_fused),
        cmocka_unit_test(test_lone_activations),
        cmocka_unit_test(test_noise_values),
        cmocka_unit_test(test_noise_before_convs),
        cmocka_unit_test(test_reg_descriptor),
        cmocka_unit_test(test_reg_values),
        cmocka_unit_test(test_reg_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
