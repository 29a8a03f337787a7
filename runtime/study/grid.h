/* grid.h - the grid file: which models, seeds and attack budgets a study
 * runs, with which training and attack settings, where the binaries are
 * and where the results go.  One setting a line, `key value...`, `#`
 * comments:
 *
 *   models       baseline adv quant          the binaries build/bin/<model>
 *   seeds        0-9                         lists and ranges
 *   eps          4 8 12 16                   attack budgets, in 1/255
 *   train_limit 0    test_limit 0            (0: the whole set)
 *   threads 1   jobs 2
 *   epochs 10   dataset cifar10              override the spec's
 *   alpha 2   steps 4   restarts 1           override the spec's PGD
 *   init gaussian   eot 1                      for the evaluation
 *   batch N   lr X                           override the spec's recipe
 *   bin build/bin    out out/seed            relative to the working dir
 *   train_args MODEL|* ARGS...   eval_args MODEL|* ARGS...
 *   sbatch --time=08:00:00   throttle 4      for `submit`
 *   loss_eps 8   feature_index 0             for the report
 *   certify 1                                 also `MODEL certify` each cell:
 *                                             certified accuracy at 36, 72,
 *                                             108/255 and L in the results
 *   strong auto   strong_limit 1000           also AutoAttack (off, auto,
 *   strong_eps 8  strong_quick 0              standard, rand) on the first
 *                                             strong_limit test images (0:
 *                                             test_limit) at strong_eps
 *                                             (default: every eps), the
 *                                             study's strong evaluation
 *   baseline cert_base                        the model the report tests
 *                                             the others against (baseline)
 *
 * The spec is the one source of a model's facts: which models train
 * adversarially (one cell per seed and eps, trained at that eps), the
 * data set, the epochs and the evaluation's PGD come from each model's
 * description (model_desc.h, read by grid_describe); a setting the grid
 * writes overrides the spec's for every model, one it does not write
 * is not passed to the binaries at all.
 *
 * Errors are `file:line: error: message`. */
#ifndef ADVCC_STUDY_GRID_H
#define ADVCC_STUDY_GRID_H

#include <stddef.h>
#include "model_desc.h"
#include "text.h"

/* `strong`: which AutoAttack ensemble the strong evaluation runs
 * (docs/METHODS.md 9); auto leaves the choice to the binary: rand for a
 * model with noise layers, standard otherwise. */
enum grid_strong { GRID_STRONG_OFF, GRID_STRONG_AUTO, GRID_STRONG_STANDARD,
                   GRID_STRONG_RAND };
extern const char *const grid_strong_names[];   /* "off", "auto", ... */

typedef struct grid_args {
    char *model;        /* a model name, or "*" for all */
    int eval;           /* 0: train arguments, 1: eval arguments */
    strvec argv;
} grid_args;

typedef struct grid {
    char *path;         /* the grid file as given */
    char *name;         /* `name`, or the file's base name without .grid */
    strvec models;
    model_desc *desc;            /* per model, NULL until grid_describe */
    unsigned char *adversarial;  /* per model, from desc */
    int *seeds, nseeds;
    double *eps;                 /* in 1/255 */
    int neps;
    int train_limit, test_limit, threads, jobs;
    /* Overrides of the spec's settings, each "unset" unless written: */
    int epochs;                  /* 0 */
    int batch;                   /* 0 */
    char *lr;                    /* NULL */
    char *dataset;               /* NULL */
    double alpha;                /* in 1/255; 0 */
    int steps;                   /* -1 */
    int restarts, eot;           /* 0 */
    char *init;                  /* NULL */
    char *bin, *out;
    grid_args *args;
    int nargs;
    strvec sbatch;
    int throttle;                /* 0: no limit on running array tasks */
    double loss_eps;             /* adversarial cells shown in the loss figure */
    int feature_index;
    int certify;                 /* run `MODEL certify` in every cell */
    int strong;                  /* enum grid_strong */
    int strong_limit;            /* test images; 0: test_limit's */
    double *strong_eps;          /* in 1/255, a subset of eps */
    int nstrong_eps;
    int strong_quick;            /* --quick */
    char *baseline;              /* NULL: report's default, "baseline" */
} grid;

/* 0, or -1 with err filled.  Relative bin and out stay relative. */
int grid_load(grid *g, const char *path, char *err, size_t errlen);
/* The same from text (name is the file name used in messages). */
int grid_parse(grid *g, const char *text, const char *name,
               char *err, size_t errlen);
void grid_free(grid *g);

int grid_model_index(const grid *g, const char *model);
/* Extra arguments for model's train (eval 0) or eval (eval 1) commands,
 * appended to argv in grid order. */
void grid_append_args(const grid *g, const char *model, int eval, strvec *argv);

/* The settings a model's cells run with: the grid's overrides, else its
 * description's (else, before grid_describe, 10 epochs, cifar10 and
 * PGD alpha 2/255, 4 steps, 1 restart, gaussian, eot 1). */
typedef struct model_settings {
    int epochs;
    const char *dataset;
    double alpha;                /* in 1/255 */
    int steps, restarts, eot;
    const char *init;
} model_settings;
void grid_model_settings(const grid *g, int model, model_settings *s);

/* Images a training run of model and an evaluation see (limits applied). */
int grid_train_images(const grid *g, int model);
int grid_test_images(const grid *g);

/* 1 when the strong evaluation runs at eps (in 1/255). */
int grid_strong_at(const grid *g, double eps);
/* The --limit of the strong evaluation, 0 for the whole test set. */
int grid_strong_limit(const grid *g);

#endif
