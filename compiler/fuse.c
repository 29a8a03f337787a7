/* fuse.c - group IR nodes into the kernels the emitter writes.
 *
 * A node whose kind absorbs others (kind.h: a convolution takes a following
 * BatchNorm, activation and pool, a linear layer a following activation)
 * leads a group that takes them, in that order, so that the epilogue runs
 * in one pass over its output (and its backward in two).  Everything else
 * is a group of its own: the appendix activations, which call their
 * runtime kernels, and noise. */
#include "fuse.h"

#include <stdlib.h>

#include "kind.h"

void fuse_model(ir_model *m)
{
    free(m->groups);
    m->groups = calloc((size_t)m->n_nodes + 1, sizeof *m->groups);
    if (!m->groups)
        abort();
    m->n_groups = 0;
    for (int i = 0; i < m->n_nodes;) {
        ir_group *g = &m->groups[m->n_groups++];
        const unsigned absorbs = kind_of(m->nodes[i].op)->absorbs;
        g->first = i++;
        g->bn = g->act = g->pool = -1;
        if ((absorbs & KIND_BN) && i < m->n_nodes && (kind_of(m->nodes[i].op)->flags & KIND_BN))
            g->bn = i++;
        if ((absorbs & KIND_ACT) && i < m->n_nodes && (kind_of(m->nodes[i].op)->flags & KIND_ACT))
            g->act = i++;
        if ((absorbs & KIND_POOL) && i < m->n_nodes && (kind_of(m->nodes[i].op)->flags & KIND_POOL))
            g->pool = i++;
        g->last = i - 1;
    }
}
