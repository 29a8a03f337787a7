/* cellrun.h - running one cell from start to end: the unit of work of the
 * local runner and of a Slurm array task (`advcc-study run-cell`).
 *
 * The rules that make interrupted grids safe to resume:
 *   - a cell runs only under its lock, which the model binaries inherit,
 *     so two runners never run one cell and the lock outlives no process;
 *   - a cell with a result.csv is finished and never runs again;
 *   - any other cell starts from an empty directory (what a killed attempt
 *     left is removed), except that a training that finished with the
 *     command line the grid gives now (train.done) is kept, and with it
 *     the strong evaluation's per-image records, which the attack resumes;
 *   - result.csv is written last, atomically. */
#ifndef ADVCC_STUDY_CELLRUN_H
#define ADVCC_STUDY_CELLRUN_H

#include "cells.h"

enum cell_run_status {
    CELL_RUN_FINISHED = 0,  /* done, diverged, or finished before */
    CELL_RUN_FAILED = 1,    /* error.txt says why; it runs again next time */
    CELL_RUN_BUSY = 75      /* another process holds the lock */
};

/* verbose: say on stderr what is run. */
int cell_run(const grid *g, const cell *c, int verbose);

#endif
