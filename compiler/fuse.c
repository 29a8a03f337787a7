/* fuse.c - group IR nodes into the kernels the emitter writes.
 *
 * A convolution absorbs a following BatchNorm, activation (ReLU or DTReLU)
 * and pool, and a linear layer a following activation, so that the
 * epilogue runs in one pass over the convolution's output (and its
 * backward in two).  Everything else is a group of its own: the appendix
 * activations, which call their runtime kernels, and noise. */
#include "fuse.h"

static int is_activation(ir_op op)
{
    return op == IR_RELU || op == IR_DTRELU;
}

static int is_pool(ir_op op)
{
    return op == IR_AVGPOOL || op == IR_MAXPOOL;
}

void fuse_model(ir_model *m)
{
    int g = 0;
    for (int i = 0; i < m->n_nodes; g++) {
        ir_node *n = &m->nodes[i];
        n->group = g;
        i++;
        if (n->op == IR_CONV) {
            if (i < m->n_nodes && m->nodes[i].op == IR_BATCHNORM)
                m->nodes[i++].group = g;
            if (i < m->n_nodes && is_activation(m->nodes[i].op))
                m->nodes[i++].group = g;
            if (i < m->n_nodes && is_pool(m->nodes[i].op))
                m->nodes[i++].group = g;
        } else if (n->op == IR_LINEAR) {
            if (i < m->n_nodes && is_activation(m->nodes[i].op))
                m->nodes[i++].group = g;
        }
    }
    m->n_groups = g;
}
