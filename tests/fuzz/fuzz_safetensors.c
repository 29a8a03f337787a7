/* fuzz_safetensors.c - the checkpoint loader on an arbitrary file, against
 * a small model descriptor with every kind of tensor. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "checkpoint.h"
#include "fuzz_util.h"

static const advcc_tensor tensors[] = {
    {"conv1.weight", 0, 108, 4, {4, 3, 3, 3}, ADVCC_WEIGHT},
    {"conv1.bias", 108, 4, 1, {4}, ADVCC_BIAS},
    {"bn1.running_mean", 112, 4, 1, {4}, ADVCC_STATE},
    {"fc.weight", 116, 640, 2, {10, 64}, ADVCC_WEIGHT},
    {"act.hi", 756, 1, 0, {0}, ADVCC_THRESHOLD},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static advcc_model m;
    static real_t params[757];
    m.name = "tiny";
    m.tensors = tensors;
    m.n_tensors = 5;
    m.n_params = 757;
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    checkpoint_load(path, &m, params, err, sizeof err);
    close(fd);
    return 0;
}
