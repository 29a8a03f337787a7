/* numparse.c - strict decimal numbers (see numparse.h). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "numparse.h"

static const char *digits(const char *p)
{
    while (*p >= '0' && *p <= '9')
        p++;
    return p;
}

const char *num_scan(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    const char *int_end = digits(p);
    const char *q = int_end;
    size_t nd = (size_t)(int_end - p);
    if (*q == '.') {
        const char *frac_end = digits(q + 1);
        nd += (size_t)(frac_end - (q + 1));
        q = frac_end;
    }
    if (nd == 0)
        return s;
    if (*q == 'e' || *q == 'E') {
        const char *e = q + 1;
        if (*e == '+' || *e == '-')
            e++;
        const char *e_end = digits(e);
        if (e_end > e)
            q = e_end;
    }
    return q;
}

static void say(char *why, size_t n, const char *fmt, double a, double b)
{
    if (why && n)
        snprintf(why, n, fmt, a, b);
}

/* One decimal number, all of [s, end); -1 when not one or out of range. */
static int decimal(const char *s, const char *end, double *out, char *why, size_t n)
{
    if (num_scan(s) != end || end == s) {
        say(why, n, "is not a decimal number", 0, 0);
        return -1;
    }
    char buf[128];
    size_t len = (size_t)(end - s);
    char *copy = len < sizeof buf ? buf : malloc(len + 1);
    if (!copy) {
        say(why, n, "is too long", 0, 0);
        return -1;
    }
    memcpy(copy, s, len);
    copy[len] = 0;
    errno = 0;
    double v = strtod(copy, NULL);
    if (copy != buf)
        free(copy);
    if (!isfinite(v)) {
        say(why, n, "is out of range", 0, 0);
        return -1;
    }
    *out = v;
    return 0;
}

int num_parse(const char *s, unsigned flags, double lo, double hi, double *out,
              char *why, size_t why_size)
{
    if (!s || !*s) {
        say(why, why_size, "is empty, not a number", 0, 0);
        return -1;
    }
    const char *end = s + strlen(s);
    const char *slash = (flags & NUM_RATIO) ? strchr(s, '/') : NULL;
    double v;
    if (decimal(s, slash ? slash : end, &v, why, why_size) != 0)
        return -1;
    if (slash) {
        double d;
        if (decimal(slash + 1, end, &d, why, why_size) != 0)
            return -1;
        if (d == 0) {
            say(why, why_size, "divides by zero", 0, 0);
            return -1;
        }
        v /= d;
        if (!isfinite(v)) {
            say(why, why_size, "is out of range", 0, 0);
            return -1;
        }
    }
    if ((flags & NUM_INT) && v != floor(v)) {
        say(why, why_size, "is not a whole number", 0, 0);
        return -1;
    }
    int low = (flags & NUM_LO_OPEN) ? !(v > lo) : !(v >= lo);
    if (low || !(v <= hi)) {
        if (hi >= DBL_MAX)
            say(why, why_size, (flags & NUM_LO_OPEN) ? "must be greater than %g"
                                                     : "must be at least %g", lo, 0);
        else if (lo <= -DBL_MAX)
            say(why, why_size, "must be at most %g", hi, 0);
        else if (flags & NUM_LO_OPEN)
            say(why, why_size, "must be greater than %g and at most %g", lo, hi);
        else
            say(why, why_size, "must be between %g and %g", lo, hi);
        return -1;
    }
    if (v == 0)
        v = 0;      /* no -0 */
    *out = v;
    return 0;
}

int num_parse_long(const char *s, long lo, long hi, long *out, char *why,
                   size_t why_size)
{
    if (!s || !*s) {
        say(why, why_size, "is empty, not a number", 0, 0);
        return -1;
    }
    const char *p = s + (*s == '+' || *s == '-');
    if (!*p || *digits(p)) {
        if (num_scan(s) == s + strlen(s))
            say(why, why_size, "is not a whole number", 0, 0);
        else
            say(why, why_size, "is not a decimal number", 0, 0);
        return -1;
    }
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || v < lo || v > hi) {
        if (hi == __LONG_MAX__)
            say(why, why_size, "must be at least %.0f", (double)lo, 0);
        else
            say(why, why_size, "must be between %.0f and %.0f", (double)lo, (double)hi);
        return -1;
    }
    *out = (long)v;
    return 0;
}
