/* slurm.h - a grid as a Slurm job array: one array task per unfinished
 * cell (`advcc-study run-cell GRID INDEX`, which obeys the same resume
 * rules as the local runner, so requeued or cancelled tasks are safe),
 * and a job that depends on the array (afterany) and runs `report`.
 * The scripts are written to OUT/slurm/ and can be read or resubmitted
 * by hand. */
#ifndef ADVCC_STUDY_SLURM_H
#define ADVCC_STUDY_SLURM_H

#include "grid.h"

typedef struct slurm_opts {
    int dry_run;        /* write the scripts, submit nothing */
    int wait;           /* sbatch --wait on the report job */
    const char *sbatch; /* the sbatch command; NULL: "sbatch" */
} slurm_opts;

/* "0-3,5,7-9": the ranges of a sorted index list. */
char *slurm_array_spec(const int *idx, int n);

/* 0 on success (with --wait: the report job's success), 1 otherwise. */
int slurm_submit(const grid *g, const slurm_opts *o);

#endif
