/* fuzz_util.h - shared by the libFuzzer targets: the input as a file the
 * loaders can open by name (a memfd, named through /proc/self/fd). */
#ifndef ADVCC_FUZZ_UTIL_H
#define ADVCC_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Writes data into a fresh memfd and puts its /proc path in path; returns
 * the descriptor (close it when done), or -1. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t len)
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, len, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
