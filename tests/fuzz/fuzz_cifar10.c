/* fuzz_cifar10.c - the CIFAR-10 batch loader on an arbitrary test_batch.bin.
 * Inputs are small, so most runs exercise the size and directory checks;
 * the seed corpus holds a whole batch's worth of structure in its header. */
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
    /* a full batch when the input asks for one (first byte 0xff): the
     * input then fills the records cyclically, so labels and their checks
     * are reached */
    size_t want = 10000u * 3073u, n = size;
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    if (size > 1 && data[0] == 0xff) {
        for (size_t done = 0; done < want;) {
            size_t k = size - 1 < want - done ? size - 1 : want - done;
            fwrite(data + 1, 1, k, fp);
            done += k;
        }
    } else {
        fwrite(data, 1, n, fp);
    }
    fclose(fp);
    advcc_dataset d;
    char err[512];
    if (dataset_load_cifar10(dir, 0, &d, err, sizeof err) == 0)
        dataset_free(&d);
    return 0;
}
