/* stats.h - the statistics of the study (GSL): a one-sided paired t-test
 * (Student 1908), its two-sided 95% confidence interval, significance
 * marks, and Holm's step-down correction for many comparisons. */
#ifndef ADVCC_STUDY_STATS_H
#define ADVCC_STUDY_STATS_H

#include <stdio.h>

enum ttest_alternative {
    TTEST_GREATER,      /* H1: mean(x - y) > 0 */
    TTEST_LESS          /* H1: mean(x - y) < 0 */
};

typedef struct ttest {
    int n;              /* pairs */
    double mean_x, mean_y;
    double mean_d, sd_d;        /* differences x - y; sd with n - 1 */
    double t, df, p;            /* p one-sided in the test's direction */
    double ci_lo, ci_hi;        /* 95% two-sided interval of mean_d */
    const char *note;   /* NULL when t and p exist; else why not */
} ttest;

/* On pairs (x[i], y[i]).  With fewer than two pairs or zero variance of
 * the differences, t, p and the interval are NaN and note says why. */
void ttest_paired(const double *x, const double *y, int n, int alternative,
                  ttest *r);

/* Holm-adjusted p-values of p[0..m); NaN entries stay NaN and do not count
 * towards m. */
void holm_adjust(const double *p, double *adjusted, int m);

/* p as the report prints it: 4 decimals, below 1e-4 in e-notation, NaN as
 * "n/a". */
void p_print(FILE *f, double p);

/* "***" p < 0.01, "**" p < 0.05, "*" p < 0.1, "" otherwise or NaN. */
const char *p_marks(double p);

/* Mean and sample standard deviation (n - 1; NaN when n < 2). */
void mean_sd(const double *x, int n, double *mean, double *sd);
/* "mean ± sd" with 4 decimals, or "mean" alone when sd is NaN. */
void mean_sd_print(FILE *f, const double *x, int n);

#endif
