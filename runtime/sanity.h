/* sanity.h - checks that the attack behaves like an attack on a trained
 * model (Carlini et al. 2019, "On evaluating adversarial robustness"):
 *  - robust accuracy at eps 0, 2, 4, 8, 16, 32, 64 /255 never rises by more
 *    than SANITY_TOL from one eps to the next, and is at most
 *    SANITY_LARGE_MAX at 64/255 (alpha = max(base alpha, 2.5 eps / steps),
 *    so that every budget can be reached);
 *  - at the base eps, 16 steps do not beat 4 steps at holding accuracy up,
 *    nor 3 restarts 1 restart, by more than SANITY_TOL.
 * Every run starts from the same attack seed and the same noise stream, so
 * runs differ only in the setting compared. */
#ifndef ADVCC_SANITY_H
#define ADVCC_SANITY_H

#include <stdint.h>
#include <stdio.h>
#include "dataset.h"
#include "pgd.h"

#define SANITY_N_EPS 7
#define SANITY_TOL 0.01
#define SANITY_LARGE_MAX 0.05

enum sanity_check {
    SANITY_EPS_MONOTONE = 1,
    SANITY_EPS_LARGE = 2,
    SANITY_STEPS = 4,
    SANITY_RESTARTS = 8
};

typedef struct sanity_report {
    int n;
    double clean_acc;
    double eps_255[SANITY_N_EPS], eps_acc[SANITY_N_EPS];
    double steps_acc[2];        /* 4 and 16 steps */
    double restarts_acc[2];     /* 1 and 3 restarts */
    int failed;                 /* enum sanity_check bits */
    char why[512];              /* the failures in words */
} sanity_report;

/* Runs the checks on the first `limit` images of d (<= 0: all) with base's
 * norm, init, clip, eot and mode; prints the table to out when not NULL.
 * 0 when every check passes, 1 when one fails, -1 on error (err). */
int sanity_run(advcc_ctx *ctx, const advcc_dataset *d, const pgd_cfg *base,
               int limit, uint64_t seed, FILE *out, sanity_report *rep,
               char *err, size_t errlen);

#endif
