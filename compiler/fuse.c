/* fuse.c - group IR nodes into the kernels the emitter writes.
 *
 * A node whose kind absorbs others (kind.h: a convolution takes a following
 * BatchNorm, activation and pool, a linear layer a following activation)
 * leads a group that takes them, in that order, so that the epilogue runs
 * in one pass over its output (and its backward in two).  Everything else
 * is a group of its own: the appendix activations, which call their
 * runtime kernels, and noise.  A node another node reads besides the next
 * (a residual block's input) ends its group, so that its output is kept. */
#include "fuse.h"

#include <stdlib.h>

#include "kind.h"

/* Can node i join the group that node i - 1 ends as its `role` (a KIND_
 * flag)?  Only when it reads node i - 1, which nothing else reads: a
 * group keeps only its last node's output. */
static int absorbable(const ir_model *m, const int *readers, int i, unsigned role)
{
    return i < m->n_nodes && (kind_of(m->nodes[i].op)->flags & role) &&
           m->nodes[i].src == i - 1 && readers[i - 1] == 1;
}

void fuse_model(ir_model *m)
{
    free(m->groups);
    m->groups = calloc((size_t)m->n_nodes + 1, sizeof *m->groups);
    int *readers = calloc((size_t)m->n_nodes + 1, sizeof *readers);
    if (!m->groups || !readers)
        abort();
    for (int i = 0; i < m->n_nodes; i++) {
        if (m->nodes[i].src >= 0)
            readers[m->nodes[i].src]++;
        if (m->nodes[i].op == IR_ADD && m->nodes[i].src2 >= 0)
            readers[m->nodes[i].src2]++;
    }
    m->n_groups = 0;
    for (int i = 0; i < m->n_nodes;) {
        ir_group *g = &m->groups[m->n_groups++];
        const unsigned absorbs = kind_of(m->nodes[i].op)->absorbs;
        g->first = i++;
        g->bn = g->act = g->pool = -1;
        if ((absorbs & KIND_BN) && absorbable(m, readers, i, KIND_BN))
            g->bn = i++;
        if ((absorbs & KIND_ACT) && absorbable(m, readers, i, KIND_ACT))
            g->act = i++;
        if ((absorbs & KIND_POOL) && absorbable(m, readers, i, KIND_POOL))
            g->pool = i++;
        g->last = i - 1;
    }
    free(readers);
}
