/* errorf.h - the one formatter of the "char *err, size_t errlen" buffers
 * through which the runtime's readers and writers say what went wrong. */
#ifndef ADVCC_ERRORF_H
#define ADVCC_ERRORF_H

#include <stddef.h>

/* printf into err (up to errlen bytes, always terminated); nothing when
 * err is NULL or errlen 0. */
void errorf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
