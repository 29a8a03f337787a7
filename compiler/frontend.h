/* frontend.h - the whole front end in one call: read spec files (with
 * their includes), parse, check and lower them to IR.  A front end owns
 * the sources, the syntax trees and the IR; the IR's locations point into
 * the sources, so they live and die together. */
#ifndef ADVCC_FRONTEND_H
#define ADVCC_FRONTEND_H

#include "arena.h"
#include "ir.h"
#include "source.h"

typedef struct frontend {
    arena arena;
    source_set sources;
    ir_program program;     /* the models of the files named */
} frontend;

void frontend_init(frontend *fe);
void frontend_free(frontend *fe);
/* 0 with fe->program filled, or -1 after reporting errors through diag
 * (fe->program then empty).  Errors are counted from diag_reset(). */
int frontend_compile(frontend *fe, char *const *paths, int n_paths);
/* The same for one spec held in memory, named `name`. */
int frontend_compile_text(frontend *fe, const char *name, const char *text);

#endif
