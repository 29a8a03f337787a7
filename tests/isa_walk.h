/* isa_walk.h - a walk over the instruction sets the CPU has, for tests
 * that hold a kernel to the same bits under each (conv_direct.h).
 * Include after <cmocka.h>.
 *
 *     for (int k = 0; isa_next(&k);)
 *         ... runs under conv_direct_isa(), each set in turn ...
 */
#ifndef ADVCC_TESTS_ISA_WALK_H
#define ADVCC_TESTS_ISA_WALK_H

#include "conv_direct.h"

/* Sets the next instruction set the CPU has (the baseline first, which
 * every CPU has) and returns 1; once all have run, puts back the one in
 * use before the walk and returns 0.  *k starts at 0. */
static int isa_next(int *k)
{
    static const enum conv_isa isas[] = {CONV_ISA_NONE, CONV_ISA_AVX2, CONV_ISA_AVX512};
    static enum conv_isa was;
    if (*k == 0)
        was = conv_direct_isa();
    while (*k < (int)(sizeof isas / sizeof isas[0]))
        if (conv_direct_set_isa(isas[(*k)++]) == 0)
            return 1;
    assert_int_equal(conv_direct_set_isa(was), 0);
    return 0;
}

#endif
