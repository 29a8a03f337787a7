/* driver.h - what one run of advcc does: compile the spec files named,
 * print the --shapes table, and write DIR/<model>.c, DIR/<model>.h (and
 * with --torch DIR/<model>.py) for each model defined in those files plus
 * DIR/models.mk.  Output is all or
 * nothing: every file is written to a temporary name and renamed only
 * when every model compiled and every write succeeded. */
#ifndef ADVCC_DRIVER_H
#define ADVCC_DRIVER_H

#include <stdio.h>

typedef struct advcc_options {
    char *const *files;
    int n_files;
    const char *out_dir;    /* NULL: write nothing */
    int shapes;             /* print each model's layers and parameters */
    int quiet;              /* no summary line */
    FILE *out;              /* for the table and the summary; NULL: stdout */
    int torch;              /* also DIR/<model>.py, a PyTorch module */
} advcc_options;

/* 0 on success; 1 when a spec has errors, when no file named defines a
 * model (nothing to compile: nothing is written), or when the output cannot
 * be written (reported to stderr, or where diag_reset() pointed). */
int advcc_run(const advcc_options *o);

#endif
