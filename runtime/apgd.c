/* apgd.c - Auto-PGD: momentum steps with a step size halved at checkpoints
 * when the loss stalls, restarting from the best point. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apgd.h"

void apgd_defaults(apgd_cfg *cfg, int norm, double eps)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->norm = norm;
    cfg->eps = eps;
    cfg->iters = 100;
    cfg->restarts = 1;
    cfg->eot = 1;
    cfg->loss = INFER_CE;
    cfg->rho = 0.75;
    cfg->momentum = 0.75;
    cfg->mode = ADVCC_EVAL;
}

const char *apgd_check_common(int norm, double eps, int iters, int restarts,
                              int mode)
{
    if (norm != ADVCC_LINF && norm != ADVCC_L2)
        return "unknown norm";
    if (!(eps >= 0) || !isfinite(eps))
        return "eps must be a finite number >= 0";
    if (norm == ADVCC_LINF && eps > 1)
        return "eps of an Linf attack must be at most 1 (pixels are in [0, 1])";
    if (iters < 0)
        return "iterations must be >= 0";
    if (restarts < 1)
        return "restarts must be >= 1";
    if (mode == ADVCC_TRAIN)
        return "attack passes must not update BatchNorm running statistics";
    return NULL;
}

int apgd_check_cfg(const apgd_cfg *cfg, int classes, char *err, size_t errlen)
{
    const char *why = apgd_check_common(cfg->norm, cfg->eps, cfg->iters,
                                        cfg->restarts, cfg->mode);
    if (!why) {
        if (cfg->eot < 1)
            why = "eot must be >= 1";
        else if (cfg->loss != INFER_CE && cfg->loss != INFER_DLR &&
                 cfg->loss != INFER_DLR_T)
            why = "unknown loss";
        else if (cfg->loss == INFER_DLR && classes < 3)
            why = "the DLR loss needs at least 3 classes";
        else if (cfg->loss == INFER_DLR_T && classes < 4)
            why = "the targeted DLR loss needs at least 4 classes";
        else if (!(cfg->rho > 0 && cfg->rho <= 1))
            why = "rho must be in (0, 1]";
        else if (!(cfg->momentum > 0 && cfg->momentum <= 1))
            why = "momentum must be in (0, 1]";
    }
    if (why) {
        if (err && errlen)
            snprintf(err, errlen, "apgd: %s", why);
        return -1;
    }
    return 0;
}

int apgd_checkpoints(int n_iter, int *w, int cap)
{
    /* p in hundredths: exact, so that ceil never sees 41.000000001 */
    long prev = 0, p = 22, last = 0;
    int count = 0;
    while (p <= 100) {
        long wj = (p * n_iter + 99) / 100;
        if (wj > last) {    /* small n_iter: equal checkpoints merge */
            if (count < cap)
                w[count] = (int)wj;
            count++;
            last = wj;
        }
        long step = p - prev - 3;
        if (step < 6)
            step = 6;
        prev = p;
        p += step;
    }
    return count;
}

int apgd_top_targets(const real_t *row, int classes, int y, int k, int *out)
{
    int count = 0;
    if (k > classes - 1)
        k = classes - 1;
    while (count < k) {
        int best = -1;
        for (int j = 0; j < classes; j++) {
            if (j == y)
                continue;
            int taken = 0;
            for (int i = 0; i < count; i++)
                taken |= out[i] == j;
            if (!taken && (best < 0 || row[j] > row[best]))
                best = j;
        }
        out[count++] = best;
    }
    return count;
}

int apgd_init(apgd_ws *w, infer_ws *inf)
{
    memset(w, 0, sizeof *w);
    w->inf = inf;
    w->cap = inf->cap;
    w->in_size = inf->in_size;
    size_t in_n = (size_t)w->cap * w->in_size;
    w->xk = malloc(sizeof(real_t) * in_n);
    w->xprev = malloc(sizeof(real_t) * in_n);
    w->z = malloc(sizeof(real_t) * in_n);
    w->grad = malloc(sizeof(real_t) * in_n);
    w->xbest = malloc(sizeof(real_t) * in_n);
    w->gbest = malloc(sizeof(real_t) * in_n);
    w->logits = malloc(sizeof(real_t) * (size_t)w->cap * inf->classes);
    w->f = malloc(sizeof(double) * w->cap);
    w->fprev = malloc(sizeof(double) * w->cap);
    w->fbest = malloc(sizeof(double) * w->cap);
    w->fbest_last = malloc(sizeof(double) * w->cap);
    w->eta = malloc(sizeof(double) * w->cap);
    w->succ = malloc(sizeof(int) * w->cap);
    w->reduced_last = malloc(sizeof(int) * w->cap);
    w->hit = malloc(sizeof(int) * w->cap);
    w->pos = malloc(sizeof(int) * w->cap);
    w->ys = malloc(sizeof(int) * w->cap);
    w->ts = malloc(sizeof(int) * w->cap);
    w->xs = malloc(sizeof(real_t) * in_n);
    w->fout = malloc(sizeof(double) * w->cap);
    if (!w->xk || !w->xprev || !w->z || !w->grad || !w->xbest || !w->gbest ||
        !w->logits || !w->f || !w->fprev || !w->fbest || !w->fbest_last ||
        !w->eta || !w->succ || !w->reduced_last || !w->hit || !w->pos ||
        !w->ys || !w->ts || !w->xs || !w->fout) {
        apgd_free(w);
        return -1;
    }
    return 0;
}

void apgd_free(apgd_ws *w)
{
    free(w->xk);
    free(w->xprev);
    free(w->z);
    free(w->grad);
    free(w->xbest);
    free(w->gbest);
    free(w->logits);
    free(w->f);
    free(w->fprev);
    free(w->fbest);
    free(w->fbest_last);
    free(w->eta);
    free(w->succ);
    free(w->reduced_last);
    free(w->hit);
    free(w->pos);
    free(w->ys);
    free(w->ts);
    free(w->xs);
    free(w->fout);
    memset(w, 0, sizeof *w);
}

static real_t clamp(real_t v, real_t lo, real_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void apgd_project(int norm, double eps, const real_t *x, real_t *v, int d)
{
    if (norm == ADVCC_LINF) {
        real_t e = (real_t)eps;
        for (int i = 0; i < d; i++) {
            real_t lo = x[i] - e, hi = x[i] + e;
            v[i] = clamp(clamp(v[i], lo, hi), 0, 1);
        }
        return;
    }
    double sq = 0.0;
    for (int i = 0; i < d; i++)
        sq += ((double)v[i] - x[i]) * ((double)v[i] - x[i]);
    double norm2 = sqrt(sq);
    if (norm2 > eps) {
        double s = eps / norm2;
        for (int i = 0; i < d; i++)
            v[i] = (real_t)(x[i] + s * ((double)v[i] - x[i]));
    }
    for (int i = 0; i < d; i++)
        v[i] = clamp(v[i], 0, 1);
}

double apgd_distance(int norm, const real_t *x, const real_t *v, int d)
{
    double r = 0.0;
    for (int i = 0; i < d; i++) {
        double e = fabs((double)v[i] - x[i]);
        if (norm == ADVCC_LINF)
            r = e > r ? e : r;
        else
            r += e * e;
    }
    return norm == ADVCC_LINF ? r : sqrt(r);
}

/* x0: uniform in the Linf ball, or x + eps u with u a uniform direction. */
static void start_point(const apgd_cfg *cfg, const real_t *x, int d,
                        advcc_rng *rng, real_t *v)
{
    memcpy(v, x, sizeof(real_t) * d);
    if (cfg->eps == 0)
        return;
    if (cfg->norm == ADVCC_LINF) {
        for (int i = 0; i < d; i++)
            v[i] += (real_t)(cfg->eps * (2.0 * rng_uniform(rng) - 1.0));
    } else {
        double sq = 0.0;
        for (int i = 0; i < d; i++) {
            double g = rng_normal(rng);
            v[i] = (real_t)g;
            sq += g * g;
        }
        double s = sq > 0 ? cfg->eps / sqrt(sq) : 0.0;
        for (int i = 0; i < d; i++)
            v[i] = (real_t)(x[i] + s * v[i]);
    }
    apgd_project(cfg->norm, cfg->eps, x, v, d);
}

/* z = P(xk + eta s(g)): sign steps, or the gradient over its L2 norm;
 * entries that are not finite count as 0. */
static void grad_step(const apgd_cfg *cfg, const real_t *x, const real_t *xk,
                      const real_t *g, double eta, int d, real_t *z)
{
    if (cfg->norm == ADVCC_LINF) {
        real_t e = (real_t)eta;
        for (int i = 0; i < d; i++)
            z[i] = xk[i] + (g[i] > 0 ? e : g[i] < 0 ? -e : 0);
    } else {
        double sq = 0.0;
        for (int i = 0; i < d; i++)
            if (isfinite(g[i]))
                sq += (double)g[i] * g[i];
        double s = sq > 0 && isfinite(sq) ? eta / sqrt(sq) : 0.0;
        for (int i = 0; i < d; i++)
            z[i] = (real_t)(xk[i] + (isfinite(g[i]) ? s * g[i] : 0.0));
    }
    apgd_project(cfg->norm, cfg->eps, x, z, d);
}

/* Moves the state of position a to position k < a. */
static void move_image(apgd_ws *w, int a, int k)
{
    size_t d = (size_t)w->in_size, bytes = sizeof(real_t) * d;
    real_t *rows[] = {w->xk, w->xprev, w->grad, w->xbest, w->gbest, w->xs};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        memcpy(rows[r] + k * d, rows[r] + a * d, bytes);
    double *vals[] = {w->f, w->fprev, w->fbest, w->fbest_last, w->eta};
    for (size_t r = 0; r < sizeof vals / sizeof vals[0]; r++)
        vals[r][k] = vals[r][a];
    int *ints[] = {w->succ, w->reduced_last, w->pos, w->ys, w->ts};
    for (size_t r = 0; r < sizeof ints / sizeof ints[0]; r++)
        ints[r][k] = ints[r][a];
}

/* Drops the misclassified images from positions 0..m-1, keeping the
 * others' order; returns how many remain. */
static int drop_hit(apgd_ws *w, int m)
{
    int k = 0;
    for (int a = 0; a < m; a++) {
        if (w->hit[a])
            continue;
        if (a != k)
            move_image(w, a, k);
        w->hit[k++] = 0;
    }
    return k;
}

/* One run from a fresh start on the images with hit_iter < 0. */
static void single_run(apgd_ws *w, const apgd_cfg *cfg, const real_t *x,
                       const int *y, const int *t, int n, advcc_rng *rng,
                       real_t *xadv, int *hit_iter, long long *grads)
{
    infer_ws *inf = w->inf;
    int d = w->in_size, C = inf->classes;
    size_t bytes = sizeof(real_t) * d;
    int W[APGD_MAX_CHECKPOINTS];
    int nw = apgd_checkpoints(cfg->iters, W, APGD_MAX_CHECKPOINTS);
    if (nw > APGD_MAX_CHECKPOINTS)
        nw = APGD_MAX_CHECKPOINTS;

    /* In evaluation mode images are independent and the misclassified
     * leave the batch; with batch statistics (ADVCC_TRAIN_FROZEN) each
     * image's normalisation depends on the others, so all stay. */
    int drop = cfg->mode == ADVCC_EVAL;
    int m = 0;
    for (int b = 0; b < n; b++) {
        if (drop && hit_iter[b] >= 0)
            continue;
        w->pos[m] = b;
        memcpy(w->xs + (size_t)m * d, x + (size_t)b * d, bytes);
        w->ys[m] = y[b];
        w->ts[m] = t ? t[b] : 0;
        w->hit[m] = hit_iter[b] >= 0;
        m++;
    }
    if (m == 0)
        return;
    const int *ts = t ? w->ts : NULL;
    for (int a = 0; a < m; a++)
        start_point(cfg, w->xs + (size_t)a * d, d, rng, w->xk + (size_t)a * d);
    infer_loss_grad_kind(inf, w->xk, w->ys, ts, m, cfg->mode, cfg->eot, cfg->loss,
                         w->grad, w->f, w->logits);
    if (grads)
        *grads += (long long)m * cfg->eot;
    for (int a = 0; a < m; a++) {
        if (!w->hit[a] &&
            infer_misclassified(w->logits + (size_t)a * C, C, w->ys[a])) {
            w->hit[a] = 1;
            hit_iter[w->pos[a]] = 0;
            memcpy(xadv + (size_t)w->pos[a] * d, w->xk + (size_t)a * d, bytes);
        }
        w->fbest[a] = w->fprev[a] = w->fbest_last[a] = w->f[a];
        w->eta[a] = 2.0 * cfg->eps;
        w->succ[a] = 0;
        w->reduced_last[a] = 1;     /* condition 2 waits for w_2 */
    }
    memcpy(w->xbest, w->xk, bytes * m);
    memcpy(w->gbest, w->grad, bytes * m);
    memcpy(w->xprev, w->xk, bytes * m);
    if (drop)
        m = drop_hit(w, m);

    int j = 0, last_w = 0;
    for (int k = 0; k < cfg->iters && m > 0; k++) {
        double a = k == 0 ? 1.0 : cfg->momentum;
        for (int b = 0; b < m; b++) {
            size_t o = (size_t)b * d;
            grad_step(cfg, w->xs + o, w->xk + o, w->grad + o, w->eta[b], d,
                      w->z + o);
            for (int i = 0; i < d; i++) {
                real_t xi = w->xk[o + i];
                real_t nx = (real_t)(xi + a * (w->z[o + i] - xi) +
                                     (1.0 - a) * (xi - w->xprev[o + i]));
                w->xprev[o + i] = xi;
                w->xk[o + i] = nx;
            }
            apgd_project(cfg->norm, cfg->eps, w->xs + o, w->xk + o, d);
        }
        infer_loss_grad_kind(inf, w->xk, w->ys, ts, m, cfg->mode, cfg->eot,
                             cfg->loss, w->grad, w->f, w->logits);
        if (grads)
            *grads += (long long)m * cfg->eot;
        int step = k + 1;
        int check = j < nw && step == W[j];
        for (int b = 0; b < m; b++) {
            size_t o = (size_t)b * d;
            if (w->hit[b])
                continue;
            if (infer_misclassified(w->logits + (size_t)b * C, C, w->ys[b])) {
                hit_iter[w->pos[b]] = step;
                w->hit[b] = 1;
                memcpy(xadv + (size_t)w->pos[b] * d, w->xk + o, bytes);
                continue;
            }
            if (w->f[b] > w->fprev[b])
                w->succ[b]++;
            w->fprev[b] = w->f[b];
            if (w->f[b] > w->fbest[b]) {
                w->fbest[b] = w->f[b];
                memcpy(w->xbest + o, w->xk + o, bytes);
                memcpy(w->gbest + o, w->grad + o, bytes);
            }
            if (!check)
                continue;
            int cond1 = w->succ[b] < cfg->rho * (W[j] - last_w);
            int cond2 = !w->reduced_last[b] &&
                        !(w->fbest[b] > w->fbest_last[b]);
            int halve = cond1 || cond2;
            w->reduced_last[b] = halve;
            w->fbest_last[b] = w->fbest[b];
            w->succ[b] = 0;
            if (halve) {
                w->eta[b] /= 2.0;
                /* restart from the best point, without momentum */
                memcpy(w->xk + o, w->xbest + o, bytes);
                memcpy(w->xprev + o, w->xbest + o, bytes);
                memcpy(w->grad + o, w->gbest + o, bytes);
                w->fprev[b] = w->fbest[b];
            }
        }
        if (check) {
            last_w = W[j];
            j++;
        }
        if (drop)
            m = drop_hit(w, m);
    }
    for (int a = 0; a < m; a++) {
        if (w->hit[a])
            continue;
        memcpy(xadv + (size_t)w->pos[a] * d, w->xbest + (size_t)a * d, bytes);
        w->fout[w->pos[a]] = w->fbest[a];
    }
}

int apgd_attack(apgd_ws *w, const apgd_cfg *cfg, const real_t *x,
                const int *y, const int *t, int n, advcc_rng *rng,
                real_t *xadv, int *hit_iter, long long *grads)
{
    if (apgd_check_cfg(cfg, w->inf->classes, NULL, 0) != 0)
        return -1;
    if (cfg->loss == INFER_DLR_T && !t)
        return -1;
    assert(n >= 1 && n <= w->cap);
    for (int b = 0; b < n; b++)
        hit_iter[b] = -1;
    /* Each restart runs on the images not yet misclassified; those keep
     * their first misclassified point, the others the restart with the
     * highest loss. */
    int d = w->in_size;
    real_t *keep = NULL;
    double *keep_f = NULL;
    if (cfg->restarts > 1) {
        keep = malloc(sizeof(real_t) * (size_t)n * d);
        keep_f = malloc(sizeof(double) * n);
        if (!keep || !keep_f) {
            free(keep);
            free(keep_f);
            return -1;
        }
    }
    for (int r = 0; r < cfg->restarts; r++) {
        single_run(w, cfg, x, y, t, n, rng, xadv, hit_iter, grads);
        int all = 1;
        for (int b = 0; b < n; b++) {
            size_t o = (size_t)b * d;
            if (keep && hit_iter[b] < 0) {
                if (r == 0 || w->fout[b] > keep_f[b]) {
                    keep_f[b] = w->fout[b];
                    memcpy(keep + o, xadv + o, sizeof(real_t) * d);
                } else {
                    memcpy(xadv + o, keep + o, sizeof(real_t) * d);
                }
            }
            all &= hit_iter[b] >= 0;
        }
        if (all)
            break;
    }
    free(keep);
    free(keep_f);
    return 0;
}
