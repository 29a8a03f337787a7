/* dataset.c - finding a dataset by name, trimming it, and turning its bytes
 * into the [0,1] reals a model reads.  The format readers are cifar10.c and
 * idx.c. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "errorf.h"
#include "dataset.h"
#include "parallel.h"

#define CIFAR10_DEFAULT_DIR "data/cifar-10-batches-bin"
#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* An environment variable that is set counts, and a bad one is an error:
 * falling back silently would train on data the user did not name. */
static const char *env_dir(const char *var, const char *fallback, char *err,
                           size_t errlen)
{
    const char *v = getenv(var);
    if (v && !*v) {
        errorf(err, errlen, "%s is set but empty: name the data directory, or "
                      "unset it to read %s", var, fallback);
        return NULL;
    }
    return v ? v : fallback;
}

/* dir/stem.gz if it exists, else dir/stem (as gunzip leaves it). */
static void idx_path(char *path, size_t len, const char *dir, const char *stem)
{
    snprintf(path, len, "%s/%s.gz", dir, stem);
    if (access(path, F_OK) != 0) {
        char plain[4096];
        snprintf(plain, sizeof plain, "%s/%s", dir, stem);
        if (access(plain, F_OK) == 0)
            snprintf(path, len, "%s", plain);
    }
}

int dataset_load(const char *name, int train, advcc_dataset *out, char *err,
                 size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strcmp(name, "cifar10") == 0) {
        const char *dir = env_dir("CIFAR10_DIR", CIFAR10_DEFAULT_DIR, err, errlen);
        if (!dir)
            return -1;
        return dataset_load_cifar10(dir, train, out, err, errlen);
    }
    if (strcmp(name, "fashion-mnist") == 0) {
        const char *dir = env_dir("FASHION_MNIST_DIR", FASHION_DEFAULT_DIR, err, errlen);
        if (!dir)
            return -1;
        const char *set = train ? "train" : "t10k";
        char images[4096], labels[4096], stem[64];
        snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", set);
        idx_path(images, sizeof images, dir, stem);
        snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", set);
        idx_path(labels, sizeof labels, dir, stem);
        if (dataset_load_idx(images, labels, out, err, errlen) != 0) {
            if (err && errlen &&
                (access(images, F_OK) != 0 || access(labels, F_OK) != 0)) {
                size_t used = strlen(err);
                if (used + 1 < errlen)
                    errorf(err + used, errlen - used,
                                  " (set FASHION_MNIST_DIR to the directory "
                                  "of the *-ubyte.gz files)");
            }
            return -1;
        }
        snprintf(out->name, sizeof out->name, "fashion-mnist");
        return 0;
    }
    errorf(err, errlen,
                  "unknown dataset '%s' (known: cifar10, fashion-mnist)", name);
    return -1;
}

void dataset_limit(advcc_dataset *d, int n)
{
    if (n > 0 && n < d->n)
        d->n = n;
}

void dataset_batch(const advcc_dataset *d, const int *idx, int n, real_t *x,
                   int *y)
{
    /* byte / 255 divided exactly as torchvision's ToTensor does, in a loop
     * that vectorises (a table of the 256 quotients kept it scalar, a load
     * a byte) */
    size_t chw = (size_t)d->c * d->h * d->w;
#pragma omp parallel for schedule(static) if ((long)n * (long)chw >= PAR_MIN_ELEMS)
    for (int i = 0; i < n; i++) {
        assert(idx[i] >= 0 && idx[i] < d->n);
        const uint8_t *src = d->pixels + (size_t)idx[i] * chw;
        real_t *dst = x + (size_t)i * chw;
#pragma omp simd
        for (size_t j = 0; j < chw; j++)
            dst[j] = (real_t)src[j] / (real_t)255;
        y[i] = d->labels[idx[i]];
    }
}

void dataset_free(advcc_dataset *d)
{
    free(d->pixels);
    free(d->labels);
    d->pixels = NULL;
    d->labels = NULL;
    d->n = 0;
}
