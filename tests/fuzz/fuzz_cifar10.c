/* fuzz_cifar10.c - the CIFAR-10 batch loader on an arbitrary test_batch.bin.
 * An input starting with 0xff stands for a whole batch: its other bytes,
 * then zeros up to the batch size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/dev/shm/advcc-fuzz-cifar-%d", (int)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    }
    /* a full batch when the input asks for one (first byte 0xff): the rest
     * of the input, then zeros (a sparse file) up to the batch's size, so
     * the label checks are reached quickly */
    size_t want = 10000u * 3073u;
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    if (size > 1 && data[0] == 0xff) {
        size_t n = size - 1 < want ? size - 1 : want;
        fwrite(data + 1, 1, n, fp);
        fflush(fp);
        if (ftruncate(fileno(fp), (off_t)want) != 0) {
            fclose(fp);
            return 0;
        }
    } else {
        fwrite(data, 1, size, fp);
    }
    fclose(fp);
    advcc_dataset d;
    char err[512];
    if (dataset_load_cifar10(dir, 0, &d, err, sizeof err) == 0)
        dataset_free(&d);
    return 0;
}
