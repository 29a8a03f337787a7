/* fuzz_npy.c - the .npy reader on an arbitrary file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "fuzz_util.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    real_t *out = NULL;
    int ndim, shape[8];
    if (npy_read(path, &out, &ndim, shape, err, sizeof err) == 0)
        free(out);
    close(fd);
    return 0;
}
