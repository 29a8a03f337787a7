/* fuse.h - groups consecutive IR nodes into the kernels the emitter writes:
 * conv [+ batchnorm] [+ activation] [+ pool], linear [+ activation]; every
 * other node is a group of its own.  Sets m->groups, with each absorbed
 * node's role, and m->n_groups. */
#ifndef ADVCC_FUSE_H
#define ADVCC_FUSE_H

#include "ir.h"

void fuse_model(ir_model *m);

#endif
