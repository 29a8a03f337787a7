/* json_write.c - result files as JSON through Jansson (json_write.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atomic_file.h"
#include "json_write.h"

/* Values are rounded to the digits they carry first, and at most 15
 * significant digits (DBL_DIG) print any such decimal back as it is:
 * 0.8123, not 0.81230000000000002. */
#define JW_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/* The value text (from printf) denotes; a whole one as an integer. */
static json_t *rounded(const char *text, int whole)
{
    double v = strtod(text, NULL);
    if (whole && fabs(v) < 9007199254740992.0)     /* 2^53 */
        return json_integer((json_int_t)v);
    return json_real(v);
}

json_t *jw_sig(double x, int digits)
{
    char text[64];
    if (!isfinite(x))
        return json_null();
    snprintf(text, sizeof text, "%.*g", digits, x);
    return rounded(text, !strpbrk(text, ".e"));
}

json_t *jw_fixed(double x, int decimals)
{
    char text[400];
    if (!isfinite(x))
        return json_null();
    snprintf(text, sizeof text, "%.*f", decimals, x);
    return rounded(text, 0);
}

json_t *jw_str(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j || !s)
        return j;
    char *t = strdup(s);
    if (!t)
        return NULL;
    for (char *p = t; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(t);
    free(t);
    return j;
}

json_t *jw_merge(json_t *o, json_t *more)
{
    if (!o || !more || json_object_update(o, more) != 0) {
        json_decref(o);
        json_decref(more);
        return NULL;
    }
    json_decref(more);
    return o;
}

int jw_write(const char *path, json_t *o)
{
    atomic_file af;
    if (!o) {
        errno = ENOMEM;
        return -1;
    }
    if (atomic_open(&af, path) != 0) {
        int e = errno;
        json_decref(o);
        errno = e;
        return -1;
    }
    errno = 0;
    int bad = json_dumpf(o, af.fp, JW_FLAGS) != 0 || fputc('\n', af.fp) == EOF;
    int e = errno ? errno : EIO;
    json_decref(o);
    if (bad) {
        atomic_abort(&af);
        errno = e;
        return -1;
    }
    return atomic_commit(&af);
}
