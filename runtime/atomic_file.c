/* atomic_file.c - write "<path>.tmp.<pid>" beside the target, then fsync
 * and rename(2) over it.  rename within one directory is atomic on POSIX
 * file systems, so readers see the old file or the new one, never a torn
 * one, and a crash leaves at worst a stray temporary. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "atomic_file.h"

static void atomic_release(atomic_file *af)
{
    free(af->path);
    free(af->tmp);
    af->fp = NULL;
    af->path = NULL;
    af->tmp = NULL;
}

int atomic_open(atomic_file *af, const char *path)
{
    af->fp = NULL;
    af->path = strdup(path);
    size_t len = strlen(path) + 32;
    af->tmp = malloc(len);
    if (!af->path || !af->tmp) {
        atomic_release(af);
        errno = ENOMEM;
        return -1;
    }
    snprintf(af->tmp, len, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        atomic_release(af);
        errno = e;
        return -1;
    }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        atomic_release(af);
        errno = e;
        return -1;
    }
    return 0;
}

/* Makes the rename itself durable; failure here is not fatal to the data,
 * which is already whole under its final name. */
static void sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int atomic_commit(atomic_file *af)
{
    if (!af->fp) {
        errno = EINVAL;
        return -1;
    }
    int failed = fflush(af->fp) != 0 || ferror(af->fp);
    int e = errno;
    if (!failed && fsync(fileno(af->fp)) != 0) {
        failed = 1;
        e = errno;
    }
    if (fclose(af->fp) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    af->fp = NULL;
    if (!failed && rename(af->tmp, af->path) != 0) {
        failed = 1;
        e = errno;
    }
    if (failed) {
        unlink(af->tmp);
        atomic_release(af);
        errno = e ? e : EIO;
        return -1;
    }
    sync_parent_dir(af->path);
    atomic_release(af);
    return 0;
}

void atomic_abort(atomic_file *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
    }
    if (af->tmp)
        unlink(af->tmp);
    atomic_release(af);
}
