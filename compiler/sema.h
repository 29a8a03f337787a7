/* sema.h - the meaning of the parsed files: which definitions each file
 * sees (its own and those of what it includes), duplicate names, macro
 * expansion, model composition (`model x = base + patch + ...`) and layer
 * names, in the stages frontend.c calls in turn; the result is the IR of
 * every model. */
#ifndef ADVCC_SEMA_H
#define ADVCC_SEMA_H

#include "ir.h"
#include "source.h"

typedef struct sema sema;

sema *sema_new(source_set *src);
void sema_free(sema *S);
/* Which definitions each file sees (its own and those of what it
 * includes), each definition checked on its own (macros, patches), and
 * duplicate names. */
void sema_resolve(sema *S);
/* Each model's layers and settings: macros expanded, a composition's base
 * copied and its patches applied, layers named. */
void sema_expand_models(sema *S);
/* Every model's IR, in the order their files were read and they were
 * written, into `all` (ir_model's base, emitted and failed set). */
void sema_lower(sema *S, ir_program *all);

#endif
