/* fuse.c - group IR nodes into the kernels the emitter writes.
 *
 * A node whose kind absorbs others (kind.h: a convolution takes a following
 * BatchNorm, activation and pool, a linear layer a following activation)
 * leads a group that takes them, in that order, so that the epilogue runs
 * in one pass over its output (and its backward in two).  Everything else
 * is a group of its own: the appendix activations, which call their
 * runtime kernels, and noise. */
#include "fuse.h"

#include "kind.h"

void fuse_model(ir_model *m)
{
    static const unsigned order[] = {KIND_BN, KIND_ACT, KIND_POOL};
    int g = 0;
    for (int i = 0; i < m->n_nodes; g++) {
        ir_node *n = &m->nodes[i];
        const unsigned absorbs = kind_of(n->op)->absorbs;
        n->group = g;
        i++;
        for (int r = 0; r < 3; r++)
            if ((absorbs & order[r]) && i < m->n_nodes &&
                (kind_of(m->nodes[i].op)->flags & order[r]))
                m->nodes[i++].group = g;
    }
    m->n_groups = g;
}
