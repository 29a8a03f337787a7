/* scratch.h - what file-handling tests share: a scratch directory under
 * $TMPDIR (or /tmp) removed with its contents afterwards, whole-file reads
 * and writes, and an assertion that an error message says what it should.
 * Include after <cmocka.h>. */
#ifndef ADVCC_TESTS_SCRATCH_H
#define ADVCC_TESTS_SCRATCH_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fails the test, showing the message, unless msg contains want. */
#define assert_contains(msg, want)                                          \
    do {                                                                    \
        const char *m_ = (msg), *w_ = (want);                               \
        if (!strstr(m_, w_))                                                \
            fail_msg("message \"%s\" does not contain \"%s\"", m_, w_);     \
    } while (0)

static inline char *scratch_make(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/advcc-test-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl))
        return NULL;
    return strdup(tmpl);
}

/* buf = dir/name; returns buf for use in calls. */
static inline char *scratch_path(char *buf, size_t len, const char *dir,
                                 const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
    return buf;
}

static inline int scratch_unlink(const char *path, const struct stat *st,
                                 int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void scratch_remove(char *dir)
{
    if (dir)
        nftw(dir, scratch_unlink, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Entries of dir whose names contain part (e.g. ".tmp."). */
static inline int scratch_count(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static inline int file_write(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t put = fwrite(data, 1, len, fp);
    return fclose(fp) == 0 && put == len ? 0 : -1;
}

/* The whole file, malloc'ed, with a NUL after it; *len gets its size. */
static inline unsigned char *file_read(const char *path, size_t *len)
{
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)size, fp) == (size_t)size) {
        buf[size] = 0;
        *len = (size_t)size;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    return buf;
}

/* Whether /usr/bin/python3 runs and imports module (e.g. "numpy"). */
static inline int python_has(const char *module)
{
    char cmd[256];
    if (access("/usr/bin/python3", X_OK) != 0)
        return 0;
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import %s' >/dev/null 2>&1", module);
    return system(cmd) == 0;
}

#endif
