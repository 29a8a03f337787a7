/* augment.h - the training images' augmentation (`augment crop=P flip=1`,
 * docs/METHODS.md 1): each image is padded with P zero pixels on every
 * side and cropped back to its size at a random offset (top and left
 * uniform in 0..2P, as torchvision's RandomCrop(padding=P)), then mirrored
 * left to right with probability 1/2 (RandomHorizontalFlip).  Every image
 * draws from a stream of its own, split from the epoch's stream by the
 * image's index in the dataset, so that what it becomes depends on the
 * seed, the epoch and the image alone: not on its batch, nor on the
 * number of threads.  Test images and attacks never pass through it. */
#ifndef ADVCC_AUGMENT_H
#define ADVCC_AUGMENT_H

#include "real.h"
#include "rng.h"

typedef struct augment_draw {
    int top, left;          /* in 0..2P */
    int flip;
} augment_draw;

/* Image idx's draw from the epoch's stream. */
augment_draw augment_draw_for(const advcc_rng *epoch, int idx, int crop, int flip);
/* One image [c][h][w], its pixels moved as d says into out (not in). */
void augment_image(const real_t *in, real_t *out, int c, int h, int w, int crop,
                   augment_draw d);
/* The n images x[i] (NCHW) of dataset images idx[i], in place.  0, or -1
 * out of memory. */
int augment_batch(real_t *x, int n, int c, int h, int w, const int *idx, int crop,
                  int flip, const advcc_rng *epoch);

#endif
