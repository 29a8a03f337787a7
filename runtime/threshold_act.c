/* threshold_act.c - the multi-threshold activations; see threshold_act.h. */
#include <assert.h>
#include "threshold_act.h"

/* The cell of x: the largest j with t[j] <= x, or -1 below t[0]. */
static int cell_of(const real_t *t, int k, real_t x)
{
    if (x < t[0])
        return -1;
    int lo = 0, hi = k - 1;             /* t[lo] <= x; the answer is in [lo, hi] */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (t[mid] <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* The nearest threshold of x: how many midpoints m[0..k-2] are <= x. */
static int nearest_of(const real_t *t, int k, real_t x)
{
    int lo = 0, hi = k - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if ((t[mid] + t[mid + 1]) * (real_t)0.5 <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sums_store(const double *acc, int k, real_t *out)
{
    if (out)
        for (int j = 0; j < k; j++)
            out[j] = (real_t)acc[j];
}

void naive_threshold_forward(const real_t *x, long n, const real_t *t, int k,
                             real_t *y)
{
    assert(k >= 2 && k <= THRESHOLD_MAX);
    for (long i = 0; i < n; i++) {
        int j = cell_of(t, k, x[i]);
        y[i] = t[j < 0 ? 0 : j];
    }
}

void naive_threshold_backward(const real_t *x, const real_t *dy, long n,
                              const real_t *t, int k, real_t *dx, real_t *dt,
                              int bpda)
{
    assert(k >= 2 && k <= THRESHOLD_MAX);
    double acc[THRESHOLD_MAX] = {0};
    for (long i = 0; i < n; i++) {
        real_t g = dy[i];
        int j = cell_of(t, k, x[i]);
        acc[j < 0 ? 0 : j] += g;
        if (dx)
            dx[i] = bpda || (x[i] >= t[0] && x[i] <= t[k - 1]) ? g : 0;
    }
    sums_store(acc, k, dt);
}

void ddtrelu_forward(const real_t *x, long n, const real_t *t, int k,
                     real_t *y)
{
    assert(k >= 2 && k <= THRESHOLD_MAX);
    for (long i = 0; i < n; i++)
        y[i] = t[nearest_of(t, k, x[i])];
}

void ddtrelu_backward(const real_t *x, const real_t *dy, long n,
                      const real_t *t, int k, real_t *dx, real_t *dt,
                      int bpda)
{
    assert(k >= 2 && k <= THRESHOLD_MAX);
    double acc[THRESHOLD_MAX] = {0};
    for (long i = 0; i < n; i++) {
        real_t g = dy[i];
        acc[nearest_of(t, k, x[i])] += g;
        if (dx)
            dx[i] = bpda || (x[i] >= t[0] && x[i] <= t[k - 1]) ? g : 0;
    }
    sums_store(acc, k, dt);
}

void pwl_forward(const real_t *x, long n, const real_t *t, const real_t *v,
                 int k, real_t *y)
{
    assert(k >= 2 && k <= THRESHOLD_MAX);
    for (long i = 0; i < n; i++) {
        int j = cell_of(t, k, x[i]);
        if (j < 0)
            y[i] = v[0];
        else if (j == k - 1)
            y[i] = v[k - 1];
        else {
            real_t w = (x[i] - t[j]) / (t[j + 1] - t[j]);
            y[i] = v[j] + w * (v[j + 1] - v[j]);
        }
    }
}

void pwl_backward(const real_t *x, const real_t *dy, long n, const real_t *t,
                  const real_t *v, int k, real_t *dx, real_t *dt, real_t *dv,
                  int bpda)
{
    assert(k >= 2 && k <= THRESHOLD_MAX);
    double at[THRESHOLD_MAX] = {0}, av[THRESHOLD_MAX] = {0};
    for (long i = 0; i < n; i++) {
        real_t g = dy[i];
        int j = cell_of(t, k, x[i]);
        if (j < 0 || j == k - 1) {      /* flat ends: only the end value */
            av[j < 0 ? 0 : k - 1] += g;
            if (dx)
                dx[i] = bpda ? g : 0;
            continue;
        }
        double d = t[j + 1] - t[j];     /* > 0: x lies in [t[j], t[j+1]) */
        double rise = v[j + 1] - v[j];
        double w = (x[i] - t[j]) / d;
        av[j] += g * (1 - w);
        av[j + 1] += g * w;
        at[j] += g * rise * (w - 1) / d;
        at[j + 1] -= g * rise * w / d;
        if (dx)
            dx[i] = bpda ? g : (real_t)(g * rise / d);
    }
    sums_store(at, k, dt);
    sums_store(av, k, dv);
}

void thresholds_sort(real_t *t, real_t *v, int k)
{
    for (int i = 1; i < k; i++)         /* insertion: k is small, t nearly sorted */
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            real_t s = t[j];
            t[j] = t[j - 1];
            t[j - 1] = s;
            if (v) {
                s = v[j];
                v[j] = v[j - 1];
                v[j - 1] = s;
            }
        }
}
