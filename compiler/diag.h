/* diag.h - error reporting for spec files.  Every error is printed as
 *     file:line:col: error: message
 * followed by the source line and a caret under the column, as gcc does.
 * The module counts errors (a spec with any error produces no output),
 * prints an error reported twice at the same place only once (a patch
 * applied to several models fails the same way each time), and keeps the
 * errors so that tests can look at them. */
#ifndef ADVCC_DIAG_H
#define ADVCC_DIAG_H

#include <stdio.h>
#include "ir.h"

#if defined(__GNUC__)
#define DIAG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DIAG_PRINTF(f, a)
#endif

typedef struct diag_record {
    char file[256];
    int line, col;          /* 0 for an error without a location */
    char message[512];
} diag_record;

/* Forget all errors; print further ones to `stream` (NULL: stderr). */
void diag_reset(FILE *stream);
void diag_error(ir_loc loc, const char *fmt, ...) DIAG_PRINTF(2, 3);
/* A note that adds a location to the error before it. */
void diag_note(ir_loc loc, const char *fmt, ...) DIAG_PRINTF(2, 3);
/* An error with no place in a spec: "advcc: error: message". */
void diag_fatal(const char *fmt, ...) DIAG_PRINTF(1, 2);
int diag_count(void);
/* The errors kept so far (at most the first 64). */
int diag_kept(void);
const diag_record *diag_get(int i);

#endif
