/* compare.h - every model against the baseline under one evaluation (the
 * grid's PGD or the strong one): for each eps and metric a one-sided
 * paired t-test on the runs that share a seed, in the direction of
 * improvement (higher accuracy, lower attack success), and Holm's
 * correction over all the tests of the table. */
#ifndef ADVCC_STUDY_COMPARE_H
#define ADVCC_STUDY_COMPARE_H

#include "runs.h"
#include "stats.h"

typedef struct comparison {
    int model;          /* into runs.models */
    double eps;
    int metric;         /* enum metric */
    ttest t;            /* x: the model, y: the baseline */
    double holm;        /* Holm-adjusted p, NaN without a test */
    double p_two;       /* two-sided p, NaN without a test */
} comparison;

typedef struct comparisons {
    comparison *c;
    int n, tests;       /* rows, and rows with a p-value */
    int baseline;       /* into runs.models, -1 when absent */
    int eval;           /* enum evaluation */
} comparisons;

void compare_all(const runs *rs, const char *baseline, const double *eps,
                 int neps, int eval, comparisons *out);
void comparisons_free(comparisons *cs);
const comparison *compare_find(const comparisons *cs, int model, double eps,
                               int metric);

#endif
