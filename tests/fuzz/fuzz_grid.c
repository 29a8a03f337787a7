/* fuzz_grid.c - advcc-study's grid reader on an arbitrary file. */
#include <stdint.h>
#include <stdio.h>
#include "fuzz_util.h"
#include "grid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    grid g;
    if (grid_load(&g, path, err, sizeof err) == 0)
        grid_free(&g);
    close(fd);
    return 0;
}
