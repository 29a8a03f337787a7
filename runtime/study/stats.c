/* stats.c - the paired t-test on the differences d = x - y:
 *   t = mean(d) / (sd(d) / sqrt(n)),  df = n - 1,
 *   p = Q_t(t) for "greater", Q_t(-t) for "less" (upper tail of Student's t),
 *   95% interval mean(d) -+ Q_t^-1(0.025) sd(d) / sqrt(n). */
#include <math.h>
#include <stdlib.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include "stats.h"
#include "text.h"

void mean_sd(const double *x, int n, double *mean, double *sd)
{
    *mean = n > 0 ? gsl_stats_mean(x, 1, (size_t)n) : NAN;
    *sd = n > 1 ? gsl_stats_sd_m(x, 1, (size_t)n, *mean) : NAN;
}

void ttest_paired(const double *x, const double *y, int n, int alternative,
                  ttest *r)
{
    r->n = n;
    r->t = r->df = r->p = r->ci_lo = r->ci_hi = NAN;
    r->note = NULL;
    double sd_x;
    mean_sd(x, n, &r->mean_x, &sd_x);
    mean_sd(y, n, &r->mean_y, &sd_x);
    double *d = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    double scale = 0;
    for (int i = 0; i < n; i++) {
        d[i] = x[i] - y[i];
        scale = fmax(scale, fmax(fabs(x[i]), fabs(y[i])));
    }
    mean_sd(d, n, &r->mean_d, &r->sd_d);
    free(d);
    if (n < 2) {
        r->note = n == 1 ? "one paired seed only: no test"
                         : "no paired seeds: no test";
        return;
    }
    /* differences equal to rounding: a t-statistic would be noise/noise */
    if (!(r->sd_d > 1e-12 * (scale > 0 ? scale : 1))) {
        r->note = r->mean_d == 0 ? "identical in every pair: no test"
                                 : "the same difference in every pair (zero "
                                   "variance): no test";
        return;
    }
    double se = r->sd_d / sqrt((double)n);
    r->df = n - 1;
    r->t = r->mean_d / se;
    r->p = gsl_cdf_tdist_Q(alternative == TTEST_GREATER ? r->t : -r->t, r->df);
    double q = gsl_cdf_tdist_Qinv(0.025, r->df);
    r->ci_lo = r->mean_d - q * se;
    r->ci_hi = r->mean_d + q * se;
}

typedef struct ranked {
    double p;
    int i;
} ranked;

static int by_p(const void *a, const void *b)
{
    double pa = ((const ranked *)a)->p, pb = ((const ranked *)b)->p;
    if (pa != pb)
        return pa < pb ? -1 : 1;
    return ((const ranked *)a)->i - ((const ranked *)b)->i;
}

void holm_adjust(const double *p, double *adjusted, int m)
{
    ranked *r = xmalloc((size_t)(m > 0 ? m : 1) * sizeof *r);
    int k = 0;
    for (int i = 0; i < m; i++) {
        adjusted[i] = NAN;
        if (!isnan(p[i]))
            r[k++] = (ranked){ p[i], i };
    }
    qsort(r, (size_t)k, sizeof *r, by_p);
    double running = 0;
    for (int j = 0; j < k; j++) {
        double a = fmin(1.0, (double)(k - j) * r[j].p);
        running = fmax(running, a);   /* adjusted values never decrease */
        adjusted[r[j].i] = running;
    }
    free(r);
}

void mean_sd_print(FILE *f, const double *x, int n)
{
    double mean, sd;
    mean_sd(x, n, &mean, &sd);
    if (isnan(sd))
        fprintf(f, "%.4f", mean);
    else
        fprintf(f, "%.4f ± %.4f", mean, sd);
}

void p_print(FILE *f, double p)
{
    if (isnan(p))
        fputs("n/a", f);
    else if (p < 1e-4)
        fprintf(f, "%.1e", p);
    else
        fprintf(f, "%.4f", p);
}

const char *p_marks(double p)
{
    if (isnan(p))
        return "";
    return p < 0.01 ? "***" : p < 0.05 ? "**" : p < 0.1 ? "*" : "";
}
