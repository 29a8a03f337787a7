/* report.h - the report page of a grid: OUT/report/report.md with what is
 * missing, the means over seeds, the paired tests against the baseline
 * (with Holm's correction), the figures (plots.h), and each finding of the
 * seed report (docs/METHODS.md section 7) stated as confirmed, refuted or not
 * confirmed, with the p-values that decide it; where the results have a
 * strong evaluation (AutoAttack), its robust accuracy beside PGD's, its
 * tests, and the findings judged under both.  Also OUT/report/stats.csv,
 * the test table for machines (each row naming its evaluation). */
#ifndef ADVCC_STUDY_REPORT_H
#define ADVCC_STUDY_REPORT_H

#include "grid.h"

typedef struct report_opts {
    const char *results;    /* NULL: OUT/results.csv */
    const char *dir;        /* NULL: OUT/report */
    const char *baseline;   /* NULL: "baseline" */
    int features;           /* try `MODEL features` for the feature maps */
    int figures;            /* run gnuplot at all */
    const char *command;    /* the command line that asked for the report */
    const char *version;    /* advcc-study's */
} report_opts;

/* 0, or 1 with a message on stderr (the results file unreadable). */
int report_build(const grid *g, const report_opts *o);

#endif
