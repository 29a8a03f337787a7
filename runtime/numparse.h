/* numparse.h - the one strict reader of numbers typed by people: command-line
 * options of the model binaries and advcc-study, grid files and spec
 * literals.  A number is decimal: an optional sign, digits with an optional
 * fraction, an optional exponent (`0.5`, `-3`, `1e-4`); with NUM_RATIO also
 * `a/b` (`8/255`).  Hex, `inf`, `nan`, spaces, an empty string and values
 * beyond double's range are refused, and so is a value outside [lo, hi]. */
#ifndef ADVCC_NUMPARSE_H
#define ADVCC_NUMPARSE_H

#include <stddef.h>

enum {
    NUM_INT     = 1,    /* a whole number */
    NUM_RATIO   = 2,    /* `a/b` allowed */
    NUM_LO_OPEN = 4,    /* lo itself is excluded (x > lo) */
};

/* 0 with *out set, or -1 with why set to a phrase that follows the quoted
 * text, such as "is not a decimal number" or "must be between 0 and 1". */
int num_parse(const char *s, unsigned flags, double lo, double hi, double *out,
              char *why, size_t why_size);
/* A whole number in [lo, hi], no fraction or exponent. */
int num_parse_long(const char *s, long lo, long hi, long *out, char *why,
                   size_t why_size);
/* Where the decimal syntax of num_parse ends in s (s itself when it does
 * not start with a number): for readers that scan numbers out of text. */
const char *num_scan(const char *s);

#endif
