/* fsutil.c - directories, whole files and locks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atomic_file.h"
#include "fsutil.h"
#include "text.h"

char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    if (n == 0)
        return xstrdup(name);
    return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

int path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

char *path_absolute(const char *path)
{
    char buf[PATH_MAX];
    if (realpath(path, buf))
        return xstrdup(buf);
    if (path[0] == '/')
        return xstrdup(path);
    if (!getcwd(buf, sizeof buf))
        return xstrdup(path);
    return path_join(buf, path);
}

static int remove_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        if (dir_clear(path, NULL) != 0)
            return -1;
        return rmdir(path);
    }
    return unlink(path);
}

int dir_clear_except(const char *dir, int (*keep)(const char *name, void *arg),
                     void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (keep && keep(e->d_name, arg))
            continue;
        char *p = path_join(dir, e->d_name);
        if (remove_path(p) != 0)
            rc = -1;
        free(p);
    }
    closedir(d);
    return rc;
}

static int is_named(const char *name, void *keep)
{
    return keep && !strcmp(name, keep);
}

int dir_clear(const char *dir, const char *keep)
{
    return dir_clear_except(dir, is_named, (void *)keep);
}

void dir_remove_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t n = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, n) == 0) {
            char *p = path_join(dir, e->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
}

char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int file_write_atomic(const char *path, const char *data, size_t len)
{
    atomic_file af;
    if (atomic_open(&af, path) != 0)
        return -1;
    if (fwrite(data, 1, len, af.fp) != len) {
        int e = errno;
        atomic_abort(&af);
        errno = e ? e : EIO;
        return -1;
    }
    return atomic_commit(&af);
}

int lock_take(const char *path, int wait, int cloexec)
{
    int fd = open(path, O_RDWR | O_CREAT | (cloexec ? O_CLOEXEC : 0), 0666);
    if (fd < 0)
        return -1;
    int rc;
    do
        rc = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int lock_held(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int held = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        held = errno == EWOULDBLOCK;
    close(fd);
    return held;
}
