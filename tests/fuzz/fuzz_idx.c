/* fuzz_idx.c - the IDX loader (plain or gzip) on an arbitrary images file
 * and labels file: the input is split at its first two bytes' offset. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t split = ((size_t)data[0] << 8 | data[1]);
    data += 2;
    size -= 2;
    if (split > size)
        split = size;
    char im[64], lb[64];
    int fi = fuzz_file(data, split, im, sizeof im);
    int fl = fuzz_file(data + split, size - split, lb, sizeof lb);
    if (fi >= 0 && fl >= 0) {
        advcc_dataset d;
        char err[512];
        if (dataset_load_idx(im, lb, &d, err, sizeof err) == 0)
            dataset_free(&d);
    }
    if (fi >= 0)
        close(fi);
    if (fl >= 0)
        close(fl);
    return 0;
}
