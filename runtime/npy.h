/* npy.h - NumPy .npy files (version 1.0, little-endian, C order) of float32
 * arrays, for adversarial images and other arrays users open in NumPy or
 * PyTorch.  Writes are atomic. */
#ifndef ADVCC_NPY_H
#define ADVCC_NPY_H

#include <stddef.h>
#include "real.h"

/* data holds prod(shape) reals, stored as float32. 0 or -1 (err filled). */
int npy_write(const char *path, const real_t *data, int ndim,
              const int *shape, char *err, size_t errlen);
/* Reads a float32 or float64 array; *data is malloc'ed; shape has room for
 * 8 dims.  0 or -1 (err names the file and offset). */
int npy_read(const char *path, real_t **data, int *ndim, int *shape,
             char *err, size_t errlen);

#endif
