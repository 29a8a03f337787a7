/* cifar10.c - CIFAR-10's binary batches: data_batch_1.bin ... data_batch_5.bin
 * (training) and test_batch.bin, each exactly 10000 records of one label
 * byte and 3072 pixel bytes (the red, green and blue 32x32 planes, rows top
 * to bottom).  A record's pixels are already in CHW order, so a loaded image
 * is a straight copy. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "errorf.h"
#include "dataset.h"

enum {
    CIFAR_PIXELS = 3 * 32 * 32,
    CIFAR_RECORD = 1 + CIFAR_PIXELS,
    CIFAR_PER_FILE = 10000,
    CIFAR_CLASSES = 10
};

/* Reads one batch file whole into buf (CIFAR_PER_FILE records) after
 * checking its size; then checks each label. */
static int read_batch(const char *path, unsigned char *buf, char *err,
                      size_t errlen)
{
    const long long want = (long long)CIFAR_RECORD * CIFAR_PER_FILE;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        errorf(err, errlen,
                    "%s: cannot open: %s (set CIFAR10_DIR to the "
                    "cifar-10-batches-bin directory, or run 'make data')",
                    path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        errorf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        fclose(fp);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        errorf(err, errlen, "%s: is a directory, not a CIFAR-10 batch file", path);
        fclose(fp);
        return -1;
    }
    long long size = (long long)st.st_size;
    if (size < want) {
        long long whole = size / CIFAR_RECORD;
        errorf(err, errlen,
                    "%s: offset %lld: truncated: %s record %lld of %d "
                    "(the file has %lld bytes, expected %lld)",
                    path, whole * CIFAR_RECORD,
                    size % CIFAR_RECORD ? "incomplete" : "missing",
                    whole + 1, CIFAR_PER_FILE, size, want);
        fclose(fp);
        return -1;
    }
    if (size > want) {
        errorf(err, errlen,
                    "%s: offset %lld: %lld unexpected bytes after %d records "
                    "(expected %lld bytes)",
                    path, want, size - want, CIFAR_PER_FILE, want);
        fclose(fp);
        return -1;
    }
    size_t got = fread(buf, 1, (size_t)want, fp);
    int read_failed = ferror(fp);
    fclose(fp);
    if (got != (size_t)want) {
        errorf(err, errlen, "%s: offset %zu: %s", path, got,
                    read_failed ? "read error" : "file shrank while reading");
        return -1;
    }
    for (int i = 0; i < CIFAR_PER_FILE; i++) {
        unsigned label = buf[(size_t)i * CIFAR_RECORD];
        if (label >= CIFAR_CLASSES) {
            errorf(err, errlen,
                        "%s: offset %lld: label %u of record %d is not in "
                        "0..9", path, (long long)i * CIFAR_RECORD, label,
                        i + 1);
            return -1;
        }
    }
    return 0;
}

int dataset_load_cifar10(const char *dir, int train, advcc_dataset *out,
                         char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int files = train ? 5 : 1;
    int n = files * CIFAR_PER_FILE;
    unsigned char *buf = malloc((size_t)CIFAR_RECORD * CIFAR_PER_FILE);
    out->pixels = malloc((size_t)n * CIFAR_PIXELS);
    out->labels = malloc((size_t)n);
    if (!buf || !out->pixels || !out->labels) {
        errorf(err, errlen, "%s: out of memory for %d images", dir, n);
        goto fail;
    }
    for (int f = 0; f < files; f++) {
        char path[4096];
        if (train)
            snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, f + 1);
        else
            snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        if (read_batch(path, buf, err, errlen) != 0)
            goto fail;
        for (int i = 0; i < CIFAR_PER_FILE; i++) {
            const unsigned char *rec = buf + (size_t)i * CIFAR_RECORD;
            size_t k = (size_t)f * CIFAR_PER_FILE + (size_t)i;
            out->labels[k] = rec[0];
            memcpy(out->pixels + k * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        }
    }
    free(buf);
    out->n = n;
    out->c = 3;
    out->h = 32;
    out->w = 32;
    out->classes = CIFAR_CLASSES;
    snprintf(out->name, sizeof out->name, "cifar10");
    return 0;

fail:
    free(buf);
    dataset_free(out);
    return -1;
}
