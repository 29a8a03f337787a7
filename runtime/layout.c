/* layout.c - the flatten between convolutional (CNHW) and fully connected
 * ([batch][features]) layers.  Features of an image are ordered channel
 * first, then pixel, as PyTorch's flatten of NCHW orders them. */
#include <string.h>
#include "kernels.h"
#include "parallel.h"

/* x [c][batch][hw] -> y [batch][c*hw] */
void cnhw_to_rows(const real_t *x, int c, int batch, int hw, real_t *y)
{
#pragma omp parallel for collapse(2) schedule(static) \
    if ((long)c * batch * hw >= PAR_MIN_ELEMS)
    for (int b = 0; b < batch; b++)
        for (int ch = 0; ch < c; ch++)
            memcpy(y + ((long)b * c + ch) * hw, x + ((long)ch * batch + b) * hw,
                   sizeof *y * hw);
}

/* x [batch][c*hw] -> y [c][batch][hw] */
void rows_to_cnhw(const real_t *x, int c, int batch, int hw, real_t *y)
{
#pragma omp parallel for collapse(2) schedule(static) \
    if ((long)c * batch * hw >= PAR_MIN_ELEMS)
    for (int ch = 0; ch < c; ch++)
        for (int b = 0; b < batch; b++)
            memcpy(y + ((long)ch * batch + b) * hw, x + ((long)b * c + ch) * hw,
                   sizeof *y * hw);
}
