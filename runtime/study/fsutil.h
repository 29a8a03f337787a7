/* fsutil.h - the file-system chores of the study tool: directories made
 * and emptied, whole files read, small files written atomically (through
 * runtime/atomic_file.h), and exclusive advisory locks that die with the
 * process holding them. */
#ifndef ADVCC_STUDY_FSUTIL_H
#define ADVCC_STUDY_FSUTIL_H

#include <stddef.h>

char *path_join(const char *dir, const char *name);
int path_exists(const char *path);
/* Absolute form of a path that need not exist yet (its parent must). */
char *path_absolute(const char *path);

/* mkdir -p: mkdirs (runtime/mkdirs.h). */
/* Removes everything inside dir except the entry named keep (may be
 * NULL); sub-directories go too.  0, or -1 with errno set. */
int dir_clear(const char *dir, const char *keep);
/* The same, keeping the entries for which keep(name, arg) is true. */
int dir_clear_except(const char *dir, int (*keep)(const char *name, void *arg),
                     void *arg);
/* Removes the files of dir whose names start with prefix. */
void dir_remove_prefixed(const char *dir, const char *prefix);

/* The whole file, NUL-terminated; NULL with errno set on failure. */
char *file_read(const char *path, size_t *len);
/* Writes data under path atomically; 0, or -1 with errno set. */
int file_write_atomic(const char *path, const char *data, size_t len);

/* Opens (creating) path and takes an exclusive flock on it.  Returns the
 * descriptor, -1 with errno EWOULDBLOCK when another process holds it
 * (and wait is 0), or -1 with another errno.  The lock ends when the
 * last process sharing the descriptor exits, even by SIGKILL.  cloexec 0
 * lets children inherit it, so a child that outlives us keeps it. */
int lock_take(const char *path, int wait, int cloexec);
/* 1 when some process holds the lock on path, 0 when none (or no file). */
int lock_held(const char *path);

#endif
