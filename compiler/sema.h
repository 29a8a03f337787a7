/* sema.h - the meaning of the parsed files: which definitions each file
 * sees (its own and those of what it includes), duplicate names, macro
 * expansion, model composition (`model x = base + patch + ...`), layer
 * names, and the checks of shape.c.  The result is the IR of every model
 * defined in a file named on the command line. */
#ifndef ADVCC_SEMA_H
#define ADVCC_SEMA_H

#include "ir.h"
#include "source.h"

/* Fills `out` (models in the order their files were read and they were
 * written) and returns 0, or returns -1 after reporting every error it
 * found, with `out` empty. */
int sema_program(source_set *src, ir_program *out);

#endif
