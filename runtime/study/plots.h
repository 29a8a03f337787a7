/* plots.h - the study's figures through gnuplot, each as PNG and SVG in
 * the report directory, each drawn from the results file (and the cells'
 * train_loss.csv) alone; the data and script behind every figure are
 * kept beside it (NAME.dat, NAME.gp) so it can be restyled by hand.
 *
 *   loss        training loss against step, every model, mean over seeds
 *               with a band of one standard deviation
 *   accuracy-epsE  clean and robust accuracy and attack success per model
 *               at one eps, mean and standard deviation over seeds, with
 *               the significance marks against the baseline
 *   success     attack success against eps, mean and standard deviation
 *   strong      robust accuracy under the grid's PGD beside the strong
 *               evaluation (AutoAttack) per model and eps, mean and
 *               standard deviation over the seeds that have both, with
 *               the gap written above each pair
 *   features    first-layer feature maps of one test image per model
 *               (needs `MODEL features`; optional)
 *
 * Every function returns 0 when the figure was drawn, else -1 with the
 * reason in why. */
#ifndef ADVCC_STUDY_PLOTS_H
#define ADVCC_STUDY_PLOTS_H

#include <stddef.h>
#include "compare.h"
#include "grid.h"
#include "runs.h"

int plot_loss(const runs *rs, double loss_eps, const char *dir,
              char *why, size_t whylen);
int plot_accuracy(const runs *rs, const comparisons *cs, double eps,
                  const char *dir, char *why, size_t whylen);
int plot_success(const runs *rs, const double *eps, int neps,
                 const char *dir, char *why, size_t whylen);
/* pgd names the PGD attack in the legend ("PGD-4"). */
int plot_strong(const runs *rs, const double *eps, int neps, const char *pgd,
                const char *dir, char *why, size_t whylen);
/* Runs bin/<model> features for each model's first seed; *missing gets a
 * malloc'ed list of the models it could not draw (NULL if none). */
int plot_features(const runs *rs, const grid *g, const char *dir,
                  char **missing, char *why, size_t whylen);

/* The mean of a curve over steps, for comparing how fast models learn. */
double curve_mean(const double *v, int n);

#endif
