/* atomic_file.h - files that appear whole or not at all: write to a
 * temporary file beside the target, fsync, rename over the target. */
#ifndef ADVCC_ATOMIC_FILE_H
#define ADVCC_ATOMIC_FILE_H

#include <stdio.h>

typedef struct atomic_file {
    FILE *fp;
    char *path;
    char *tmp;
} atomic_file;

/* Returns 0 and an open af->fp, or -1 with errno set. */
int atomic_open(atomic_file *af, const char *path);
/* Flush, fsync and rename; returns 0, or -1 (the temporary is removed). */
int atomic_commit(atomic_file *af);
/* Drop the temporary file. */
void atomic_abort(atomic_file *af);

#endif
