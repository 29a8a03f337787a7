/* emit.h - the C writer.  From one fused ir_model it writes
 * generated/<model>.c (forward, backward, initialisation, parameter table,
 * descriptor) and generated/<model>.h (the descriptor's declaration).  It
 * reads only the IR. */
#ifndef ADVCC_EMIT_H
#define ADVCC_EMIT_H

#include <stdio.h>
#include "ir.h"

/* Returns 0, or -1 when a stream write fails. */
int emit_model_c(const ir_model *m, FILE *out);
int emit_model_h(const ir_model *m, FILE *out);
/* generated/<model>.py: the model as a PyTorch module (emit_torch.c). */
int emit_model_torch(const ir_model *m, FILE *out);

#endif
