/* augment.c - random crop with zero padding and horizontal flip. */
#include <stdlib.h>
#include <string.h>
#include "augment.h"

augment_draw augment_draw_for(const advcc_rng *epoch, int idx, int crop, int flip)
{
    advcc_rng r;
    rng_split(epoch, (uint64_t)idx, &r);
    augment_draw d = {crop, crop, 0};
    if (crop > 0) {
        d.top = (int)rng_below(&r, (uint32_t)(2 * crop + 1));
        d.left = (int)rng_below(&r, (uint32_t)(2 * crop + 1));
    }
    if (flip)
        d.flip = (int)rng_below(&r, 2);
    return d;
}

void augment_image(const real_t *in, real_t *out, int c, int h, int w, int crop,
                   augment_draw d)
{
    /* out[i][j] = padded[i + top][j' + left] = in[i + top - P][j' + left - P],
     * where j' = j, or w - 1 - j when mirrored. */
    const int dy = d.top - crop, dx = d.left - crop;
    for (int k = 0; k < c; k++)
        for (int i = 0; i < h; i++) {
            real_t *o = out + ((size_t)k * h + i) * w;
            const int si = i + dy;
            if (si < 0 || si >= h) {
                memset(o, 0, sizeof *o * (size_t)w);
                continue;
            }
            const real_t *row = in + ((size_t)k * h + si) * w;
            for (int j = 0; j < w; j++) {
                int sj = (d.flip ? w - 1 - j : j) + dx;
                o[j] = sj >= 0 && sj < w ? row[sj] : 0;
            }
        }
}

int augment_batch(real_t *x, int n, int c, int h, int w, const int *idx, int crop,
                  int flip, const advcc_rng *epoch)
{
    const size_t img = (size_t)c * h * w;
    real_t *tmp = malloc(sizeof *tmp * img * (size_t)(n > 0 ? n : 1));
    if (!tmp)
        return -1;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < n; b++)
        augment_image(x + (size_t)b * img, tmp + (size_t)b * img, c, h, w, crop,
                      augment_draw_for(epoch, idx[b], crop, flip));
    memcpy(x, tmp, sizeof *tmp * img * (size_t)n);
    free(tmp);
    return 0;
}
