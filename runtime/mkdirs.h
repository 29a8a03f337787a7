/* mkdirs.h - mkdir -p, the one copy: the compiler's output directory, a
 * training run's --out, the study's cells and reports. */
#ifndef ADVCC_MKDIRS_H
#define ADVCC_MKDIRS_H

/* Makes path and every missing parent (mode 0777 less the umask).  0 when
 * path is a directory at the end; -1 with errno set otherwise (ENOTDIR
 * when path or a parent is something else), *failed (when not NULL) then
 * naming the directory that could not be made (malloc'd; the caller frees
 * it).  made, when not NULL, receives the outermost directory this call
 * created (malloc'd), or stays NULL: a failed run can take away what it
 * made. */
int mkdirs(const char *path, char **made, char **failed);

#endif
