/* ir.c - names of IR ops and freeing a program.  The strings a node's
 * location points to belong to the front end, not to the IR. */
#include "ir.h"

#include <stdlib.h>

const char *ir_op_name(ir_op op)
{
    static const char *const names[IR_OP_COUNT] = {
#define IR_OP_NAME(op, name) [op] = #name,
        IR_OPS(IR_OP_NAME)
#undef IR_OP_NAME
    };
    return (unsigned)op < IR_OP_COUNT && names[op] ? names[op] : "?";
}

void ir_program_free(ir_program *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_models; i++) {
        free(p->models[i].nodes);
        free(p->models[i].regs);
        free(p->models[i].groups);
    }
    free(p->models);
    p->models = NULL;
    p->n_models = 0;
}
