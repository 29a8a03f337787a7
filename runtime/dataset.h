/* dataset.h - labelled image sets held as bytes, read from CIFAR-10's binary
 * batches or from IDX files (gzip or not, through zlib).  Loaders validate
 * sizes, headers and labels and report the file and byte offset of what is
 * wrong. */
#ifndef ADVCC_DATASET_H
#define ADVCC_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "real.h"

typedef struct advcc_dataset {
    int n, c, h, w, classes;
    uint8_t *pixels;        /* n * c*h*w bytes, NCHW */
    uint8_t *labels;        /* n bytes */
    char name[64];          /* "cifar10", "fashion-mnist" */
} advcc_dataset;

/* Return 0 on success; on failure -1 with a message "file: offset N: ..."
 * in err. */
int dataset_load_cifar10(const char *dir, int train, advcc_dataset *out,
                         char *err, size_t errlen);
int dataset_load_idx(const char *images, const char *labels,
                     advcc_dataset *out, char *err, size_t errlen);
/* Finds a dataset by name ("cifar10" or "fashion-mnist") in its usual place:
 * $CIFAR10_DIR, then ./data/cifar-10-batches-bin; $FASHION_MNIST_DIR, then
 * /usr/share/datasets/fashion-mnist. */
int dataset_load(const char *name, int train, advcc_dataset *out, char *err,
                 size_t errlen);
/* Keep only the first n images (n <= 0 or n >= size keeps all). */
void dataset_limit(advcc_dataset *d, int n);
/* Gather images idx[0..n) as reals in [0,1] (NCHW) and their labels. */
void dataset_batch(const advcc_dataset *d, const int *idx, int n, real_t *x,
                   int *y);
void dataset_free(advcc_dataset *d);

#endif
