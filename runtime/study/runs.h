/* runs.h - a results file as numbers for the statistics, figures and
 * report: one run per row (model, seed, eps and the three metrics under
 * each evaluation: the grid's PGD and, where it ran, the strong one), the
 * model names in grid order, and the training loss curves of the cells
 * (train_loss.csv beside each cell's result, found through the `cell`
 * column relative to the results file's directory). */
#ifndef ADVCC_STUDY_RUNS_H
#define ADVCC_STUDY_RUNS_H

#include "grid.h"
#include "text.h"

enum metric { METRIC_CLEAN, METRIC_ROBUST, METRIC_SUCCESS, METRIC_COUNT };
extern const char *const metric_names[METRIC_COUNT];   /* "clean acc", ... */
extern const char *const metric_columns[METRIC_COUNT]; /* "clean_acc", ... */
/* +1 when higher is better (accuracies), -1 when lower is (success) */
extern const int metric_better[METRIC_COUNT];

/* The evaluations a run's metrics come from: the grid's PGD attack, and
 * the strong evaluation (AutoAttack; its columns strong_*, NaN where it
 * did not run or the file predates it).  Its attack success is derived as
 * the binaries define it: 1 - robust / clean accuracy. */
enum evaluation { EVAL_PGD, EVAL_STRONG, EVAL_COUNT };
extern const char *const evaluation_keys[EVAL_COUNT];  /* "pgd", "strong" */

/* Certified L2 accuracy (grid `certify 1`, docs/METHODS.md 10) at these
 * radii (1/255), from the columns cert_acc_36, ...; NaN where certify did
 * not run or refused the model. */
#define CERT_RADII 3
extern const int cert_radii_255[CERT_RADII];

typedef struct run_row {
    int model;          /* into runs.models */
    int seed;
    double eps;         /* 1/255 */
    double train_eps;   /* NaN unless adversarially trained */
    int ok;             /* status "ok" (else e.g. "diverged") */
    double metric[EVAL_COUNT][METRIC_COUNT];
    int strong_n;       /* images of the strong evaluation, 0 if none */
    char *strong_ensemble;      /* "standard", "rand", or "" */
    double cert[CERT_RADII];    /* certified accuracy at cert_radii_255 */
    double lipschitz;           /* the network's bound; NaN if none */
    char *diverged_step;
    char *cell;         /* relative to dir */
} run_row;

typedef struct runs {
    strvec models;      /* the grid's models, then any others in the file */
    run_row *r;
    int n;
    char *path, *dir;   /* the results file and its directory */
} runs;

/* g may be NULL; with it the grid's models come first, in its order.
 * 0, or -1 with err filled. */
int runs_load(runs *rs, const char *path, const grid *g, char *err, size_t errlen);
void runs_free(runs *rs);

int runs_model(const runs *rs, const char *name);      /* index or -1 */
/* The ok run of (model, seed, eps), or NULL. */
const run_row *runs_find(const runs *rs, int model, int seed, double eps);
/* 1 when any ok run has certified accuracies. */
int runs_have_cert(const runs *rs);
/* 1 when r is ok and has the metrics of evaluation eval. */
int run_has(const run_row *r, int eval);
/* How many runs have the metrics of eval at eps. */
int runs_count(const runs *rs, int eval, double eps);

/* PGD beside the strong evaluation for (model, eps), over the ok runs
 * that have both: the mean and sample sd of each one's robust accuracy
 * and of their gap per run (PGD minus strong: how much PGD overstates
 * robustness).  sd is NaN below two runs. */
typedef struct robust_gap {
    int n;
    double pgd, pgd_sd, strong, strong_sd, gap, gap_sd;
} robust_gap;
int runs_robust_gap(const runs *rs, int model, double eps, robust_gap *out);

/* The `loss` column of a cell's train_loss.csv: malloc'ed values, their
 * count in *n; NULL (and *n 0) when missing or unreadable. */
double *runs_loss_curve(const runs *rs, const run_row *row, int *n);

#endif
