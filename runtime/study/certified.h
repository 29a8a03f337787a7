/* certified.h - the report's section on certified L2 robustness (grid
 * `certify 1`, docs/METHODS.md 10): per model the certified accuracy at
 * 36, 72 and 108/255 and the Lipschitz bound over seeds, and whether each
 * model raises certified accuracy over the baseline (one-sided paired
 * t-tests on the seeds both have, Holm's correction over the section's
 * tests), the question the spectral regulariser is judged by. */
#ifndef ADVCC_STUDY_CERTIFIED_H
#define ADVCC_STUDY_CERTIFIED_H

#include <stdio.h>
#include "runs.h"

/* Writes the section to f; nothing when no run has certified accuracy.
 * level: the significance level of the verdicts. */
void report_certified(FILE *f, const runs *rs, const char *baseline, double level);

#endif
