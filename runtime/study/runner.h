/* runner.h - the local runner: the unfinished cells of a grid, each a
 * process of its own, N at a time, with a progress line on a terminal
 * (cells done/total, running, failed, time left) and silence in logs
 * except for failures and a closing summary.  The results file is rebuilt
 * after every cell.  What makes it safe to kill and rerun is in
 * cellrun.h. */
#ifndef ADVCC_STUDY_RUNNER_H
#define ADVCC_STUDY_RUNNER_H

#include "grid.h"

typedef struct runner_opts {
    int jobs;           /* cells at a time; 0: the grid's, else cores/threads */
    int verbose;        /* say what each cell runs */
    int progress;       /* 1 on, 0 off, -1 when stderr is a terminal */
} runner_opts;

/* 0 when every cell is finished (done or diverged), 1 otherwise. */
int runner_run(const grid *g, const runner_opts *o);

/* Prints what is done, running, failed and pending; verbose lists every
 * cell.  Returns 0. */
int runner_status(const grid *g, int verbose);

#endif
