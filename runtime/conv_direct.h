/* conv_direct.h - a stride-1 convolution computed directly, forward and
 * to its input: each piece of an output row (or, on rows one vector wide,
 * two rows), for a few output channels at once, is summed over the taps
 * in vector registers, with no column matrix and no library product.  With
 * AVX-512, on the seed CNN's first layer (rows of 32) the forward runs 2.5x
 * faster than im2col and sgemm; on its second (rows of 16) the forward
 * 1.6x and the input gradient 1.3x; with AVX2 the first layer's forward
 * 1.25x.
 *
 * The instruction set is chosen at run time: the best the CPU has, or the
 * one ADVCC_ISA names (avx512, avx2, or none).  Other CPUs, the double
 * build, other shapes (a stride, rows that do not suit the vector block,
 * output channels not a multiple of the channel block) are not taken: the
 * caller unfolds and multiplies (conv.c).  Each output is added up tap by
 * tap in the same order whatever the instruction set and the thread count,
 * so they give the same bits. */
#ifndef ADVCC_CONV_DIRECT_H
#define ADVCC_CONV_DIRECT_H

#include "kernels.h"

enum conv_isa { CONV_ISA_NONE = 0, CONV_ISA_AVX2, CONV_ISA_AVX512 };

/* Whether conv_direct_forward takes this shape (with the instruction set
 * in use). */
int conv_direct_fits(const conv_shape *s);

/* Images [b0, b1) and output channels [o0, o1) (multiples of
 * conv_direct_block) of a CNHW batch of `batch` into y (bias may be NULL);
 * scratch holds conv_direct_scratch reals: one image's zero-padded planes.
 * Starts no threads. */
void conv_direct_forward(const conv_shape *s, const real_t *x, int batch, int b0, int b1,
                         int o0, int o1, const real_t *weight, const real_t *bias,
                         real_t *scratch, real_t *y);
long conv_direct_scratch(const conv_shape *s);
/* The output channels one block of the kernel covers for s (0: it does
 * not fit). */
int conv_direct_block(const conv_shape *s);

/* The input gradient the same way, as the forward of the transposed
 * convolution (the output gradient convolved with the flipped kernel):
 * whether it takes s, and images [b0, b1), channels [o0, o1) (multiples
 * of conv_direct_input_block) of dx from dy; scratch holds
 * conv_direct_input_scratch reals, never more than one image's columns of
 * s (in_c kh kw out_h out_w reals). */
int conv_direct_fits_input(const conv_shape *s);
void conv_direct_backward_input(const conv_shape *s, const real_t *dy, int batch, int b0,
                                int b1, int o0, int o1, const real_t *weight, real_t *scratch,
                                real_t *dx);
long conv_direct_input_scratch(const conv_shape *s);
int conv_direct_input_block(const conv_shape *s);

/* The weight gradient the same way, with AVX-512 on rows of 32 values and
 * more and kernels up to 5 wide (the seed CNN's first layer: 1.37x as fast
 * as im2col and sgemm): each thread sums its images [b0, b1) into vector
 * partials (conv_direct_params_part, in its scratch of
 * conv_direct_params_scratch reals), then the partials of `parts` threads,
 * their scratches stride reals apart from the first's, are added up lane by
 * lane in thread order for weights [w0, w1) (conv_direct_params_sum). */
int conv_direct_fits_params(const conv_shape *s);
long conv_direct_params_scratch(const conv_shape *s);
void conv_direct_params_part(const conv_shape *s, const real_t *x, const real_t *dy, int batch,
                             int b0, int b1, real_t *scratch);
void conv_direct_params_sum(const conv_shape *s, const real_t *scratch, long stride, int parts,
                            long w0, long w1, real_t *dw);

/* The instruction set in use, and a way to set it (tests, ADVCC_ISA): one
 * the CPU lacks is refused (returns -1). */
enum conv_isa conv_direct_isa(void);
int conv_direct_set_isa(enum conv_isa isa);

/* Other kernels built for each instruction set from one always-inline
 * body: ISA_DISPATCH(name, body, (params), (args)) defines
 * `static void name params`, which calls body(args, isa) compiled for the
 * instruction set conv_direct_isa() names (AVX-512 or AVX2, each with
 * fused multiply-adds, or the baseline).  No multiply and add is
 * contracted into a fused one, so a body gives the same bits in each
 * build unless it asks for one itself; isa, a constant in each build,
 * tells it whether they are there.  ISA_KERNEL is the attribute of one
 * such build (winograd.c's transforms). */
#if defined(__x86_64__) && !defined(ADVCC_DOUBLE)
#define ISA_KERNEL(isa) __attribute__((target(isa), optimize("fp-contract=off"), noinline))
#define ISA_DISPATCH(name, body, PARAMS, ARGS)                           \
    ISA_KERNEL("avx2,fma") static void name##_avx2 PARAMS                \
    {                                                                    \
        body ISA_ARGS_AVX2 ARGS;                                         \
    }                                                                    \
    ISA_KERNEL("avx512f,fma") static void name##_avx512 PARAMS           \
    {                                                                    \
        body ISA_ARGS_AVX512 ARGS;                                       \
    }                                                                    \
    __attribute__((optimize("fp-contract=off"))) static void name PARAMS \
    {                                                                    \
        switch (conv_direct_isa()) {                                     \
        case CONV_ISA_AVX512:                                            \
            name##_avx512 ARGS;                                          \
            return;                                                      \
        case CONV_ISA_AVX2:                                              \
            name##_avx2 ARGS;                                            \
            return;                                                      \
        default:                                                         \
            body ISA_ARGS_NONE ARGS;                                     \
        }                                                                \
    }
#else
#define ISA_DISPATCH(name, body, PARAMS, ARGS) \
    static void name PARAMS                    \
    {                                          \
        body ISA_ARGS_NONE ARGS;               \
    }
#endif
#define ISA_ARGS_AVX512(...) (__VA_ARGS__, CONV_ISA_AVX512)
#define ISA_ARGS_AVX2(...) (__VA_ARGS__, CONV_ISA_AVX2)
#define ISA_ARGS_NONE(...) (__VA_ARGS__, CONV_ISA_NONE)

#endif
