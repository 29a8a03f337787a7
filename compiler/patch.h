/* patch.h - the statements that edit a model: replace, quantize,
 * regularize, insert (and train, attack, ensemble, which merge settings).
 * They make up patches (`model adv_quant = baseline + adv + quant`) and may
 * also close a model's own body.  Their TARGETS are layer kinds or layer
 * names; a statement applies to the layers of the kinds the model has, and
 * it is an error when a name matches no layer or the targets together match
 * none. */
#ifndef ADVCC_PATCH_H
#define ADVCC_PATCH_H

#include "ast.h"
#include "build.h"

/* Is `st` a statement a patch may hold? */
int patch_stmt_allowed(const ast_stmt *st);
/* Applies `st` to `b`; 0, or -1 after reporting. */
int patch_apply(build *b, const ast_stmt *st);

#endif
