/* errorf.c - formatting into an error buffer (errorf.h). */
#include "errorf.h"

#include <stdarg.h>
#include <stdio.h>

void errorf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
