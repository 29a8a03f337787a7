/* model_gradcheck.h - finite-difference checks of a generated model in
 * double precision, shared by the model64_* tests: a fixture (a context,
 * random images and labels, non-trivial BatchNorm), a tensor by name, the
 * largest difference and entry of arrays, the loss of one forward pass
 * with the noise replayed, and `gradcheck`, which compares sampled
 * entries of every trained tensor and of the input gradient with central
 * differences, then checks that the input-only and parameters-only
 * backward passes agree with the full one.  Include after <cmocka.h>,
 * context.h, kernels.h, model.h and rng.h; compile with -DADVCC_DOUBLE. */
#ifndef ADVCC_TESTS_MODEL_GRADCHECK_H
#define ADVCC_TESTS_MODEL_GRADCHECK_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(real_t) == sizeof(double), "compile with -DADVCC_DOUBLE");

typedef struct fixture {
    const advcc_model *m;
    advcc_ctx *c;
    int batch;
    double *x, *logits, *dlogits, *dx;
    int *y;
    advcc_rng rng0;         /* the noise stream each pass restarts from */
} fixture;

static inline fixture *fixture_new(const advcc_model *m, int batch, uint64_t seed)
{
    fixture *f = calloc(1, sizeof *f);
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    assert_non_null(f);
    f->m = m;
    f->batch = batch;
    f->c = ctx_create(m, batch, seed);
    assert_non_null(f->c);
    f->x = malloc(sizeof(double) * img * batch);
    f->dx = malloc(sizeof(double) * img * batch);
    f->logits = malloc(sizeof(double) * m->classes * batch);
    f->dlogits = malloc(sizeof(double) * m->classes * batch);
    f->y = malloc(sizeof(int) * batch);
    advcc_rng r;
    rng_seed(&r, seed + 77);
    for (size_t i = 0; i < img * batch; i++)
        f->x[i] = rng_uniform(&r);
    for (int i = 0; i < batch; i++)
        f->y[i] = (int)rng_below(&r, (uint32_t)m->classes);
    /* Non-trivial BatchNorm, so that the modes differ. */
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        double *p = f->c->params + T->offset;
        for (size_t i = 0; i < T->size; i++) {
            if (strstr(T->name, "running_var"))
                p[i] = 0.5 + rng_uniform(&r);
            else if (strstr(T->name, "running_mean"))
                p[i] = 0.2 * (rng_uniform(&r) - 0.5);
            else if (T->kind == ADVCC_BN_SCALE || T->kind == ADVCC_BN_SHIFT)
                p[i] += 0.3 * (rng_uniform(&r) - 0.5);
        }
    }
    f->rng0 = *f->c->rng;
    return f;
}

static inline void fixture_free(fixture *f)
{
    ctx_free(f->c);
    free(f->x);
    free(f->dx);
    free(f->logits);
    free(f->dlogits);
    free(f->y);
    free(f);
}

/* The tensor of m named name, or NULL. */
static inline const advcc_tensor *tensor_named(const advcc_model *m, const char *name)
{
    for (int t = 0; t < m->n_tensors; t++)
        if (strcmp(m->tensors[t].name, name) == 0)
            return &m->tensors[t];
    return NULL;
}

static inline double max_diff(const double *a, const double *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs(a[i] - b[i]));
    return d;
}

static inline double max_abs(const double *a, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs(a[i]));
    return d;
}

/* The loss of one forward pass, the noise replayed from rng0. */
static inline double loss_at(fixture *f, int mode)
{
    *f->c->rng = f->rng0;
    f->m->forward(f->c, f->x, f->batch, mode, f->logits);
    return softmax_xent(f->logits, f->y, f->batch, f->m->classes, NULL, NULL);
}

/* Forward, then backward of the mean cross-entropy into c->grads and dx. */
static inline double forward_backward(fixture *f, int mode)
{
    double loss = loss_at(f, mode);
    softmax_xent(f->logits, f->y, f->batch, f->m->classes, f->dlogits, NULL);
    f->m->backward(f->c, f->dlogits, 1, f->dx);
    return loss;
}

static inline int close_enough(double analytic, double numeric)
{
    double scale = fmax(1e-3, fmax(fabs(analytic), fabs(numeric)));
    return fabs(analytic - numeric) <= 2e-5 * scale;
}

/* A kink within h spoils one estimate; a step 100 times smaller decides. */
static inline void check_entry(fixture *f, int mode, double *v, const char *what,
                        long i, double analytic)
{
    double h = 1e-6, numeric = 0;
    for (int attempt = 0; attempt < 2; attempt++, h /= 100) {
        double keep = *v;
        *v = keep + h;
        double lp = loss_at(f, mode);
        *v = keep - h;
        double lm = loss_at(f, mode);
        *v = keep;
        numeric = (lp - lm) / (2 * h);
        if (close_enough(analytic, numeric))
            return;
    }
    fail_msg("%s %s[%ld]: analytic %.10g, finite difference %.10g",
             f->m->name, what, i, analytic, numeric);
}

/* Checks up to `per` entries of every trained tensor whose kind is not in
 * `skip` (a mask of 1 << kind), and the input; then that the input-only and
 * parameters-only backward passes give the same gradients. */
static inline void gradcheck(const advcc_model *m, int mode, int batch, int per,
                      unsigned skip)
{
    fixture *f = fixture_new(m, batch, 1234);
    const size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    forward_backward(f, mode);
    double *grads = malloc(sizeof(double) * m->n_params);
    memcpy(grads, f->c->grads, sizeof(double) * m->n_params);
    advcc_rng r;
    rng_seed(&r, 99);
    int checked = 0;
    for (int t = 0; t < m->n_tensors; t++) {
        const advcc_tensor *T = &m->tensors[t];
        if (T->kind == ADVCC_STATE || (skip & (1u << T->kind)))
            continue;
        for (int k = 0; k < per; k++, checked++) {
            size_t i = T->offset + rng_below(&r, (uint32_t)T->size);
            check_entry(f, mode, &f->c->params[i], T->name,
                        (long)(i - T->offset), grads[i]);
        }
    }
    assert_true(checked > 0);
    for (int k = 0; k < 3 * per; k++) {
        size_t i = rng_below(&r, (uint32_t)(img * batch));
        check_entry(f, mode, &f->x[i], "input", (long)i, f->dx[i]);
    }
    double *dx2 = malloc(sizeof(double) * img * batch);
    loss_at(f, mode);
    memset(f->c->grads, 0, sizeof(double) * m->n_params);
    m->backward(f->c, f->dlogits, 0, dx2);
    assert_memory_equal(dx2, f->dx, sizeof(double) * img * batch);
    for (size_t i = 0; i < m->n_params; i++)
        assert_true(f->c->grads[i] == 0);
    loss_at(f, mode);
    m->backward(f->c, f->dlogits, 1, NULL);
    assert_memory_equal(f->c->grads, grads, sizeof(double) * m->n_params);
    free(dx2);
    free(grads);
    fixture_free(f);
}

#endif
