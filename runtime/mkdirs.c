/* mkdirs.c - mkdir -p. */
#include "mkdirs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mkdirs(const char *path, char **made, char **failed)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    int rc = 0;
    for (char *s = p + 1; ; s++) {
        int end = *s == '\0';
        if (*s == '/' || end) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) == 0) {
                if (made && !*made)
                    *made = strdup(p);
            } else if (errno != EEXIST) {
                rc = -1;
                break;
            }
            *s = c;
        }
        if (end)
            break;
    }
    if (rc == 0) {
        struct stat st;
        if (stat(path, &st) != 0)
            rc = -1;
        else if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            rc = -1;
        }
    }
    int e = errno;
    if (rc != 0 && failed)
        *failed = p;
    else
        free(p);
    errno = e;
    return rc;
}
