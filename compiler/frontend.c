/* frontend.c - sources, parse, sema: from file names to IR. */
#include "frontend.h"

#include <string.h>

#include "diag.h"
#include "sema.h"

void frontend_init(frontend *fe)
{
    memset(fe, 0, sizeof *fe);
    arena_init(&fe->arena);
    source_set_init(&fe->sources, &fe->arena);
}

void frontend_free(frontend *fe)
{
    ir_program_free(&fe->program);
    source_set_free(&fe->sources);
    arena_free(&fe->arena);
}

/* Meaning is checked only on files that parsed: a syntax error leaves a
 * tree whose other errors would mislead. */
static int frontend_check(frontend *fe)
{
    if (diag_count() > 0)
        return -1;
    return sema_program(&fe->sources, &fe->program);
}

int frontend_compile(frontend *fe, char *const *paths, int n_paths)
{
    for (int i = 0; i < n_paths; i++)
        source_load(&fe->sources, paths[i]);
    return frontend_check(fe);
}

int frontend_compile_text(frontend *fe, const char *name, const char *text)
{
    source_load_text(&fe->sources, name, text);
    return frontend_check(fe);
}
