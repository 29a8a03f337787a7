/* json_write.h - result files as JSON through Jansson: numbers at the
 * precision they carry, strings whatever their bytes, one compact object
 * and a newline per file, written atomically. */
#ifndef ADVCC_JSON_WRITE_H
#define ADVCC_JSON_WRITE_H

#include <jansson.h>

/* x rounded to digits significant digits, as %.<digits>g prints it: an
 * integer when that is whole, null when x is not finite.  NULL when out of
 * memory, like every constructor here. */
json_t *jw_sig(double x, int digits);
/* x rounded to decimals places, as %.<decimals>f prints it; null when x is
 * not finite. */
json_t *jw_fixed(double x, int decimals);
/* s as a JSON string, "" for NULL; a byte of text that is not UTF-8
 * becomes '?'. */
json_t *jw_str(const char *s);
/* Moves more's keys, in their order, to the end of o and releases more;
 * o, or NULL (both released) when either is NULL or memory runs out.
 * Chains: o = jw_merge(o, json_pack(...)). */
json_t *jw_merge(json_t *o, json_t *more);
/* Writes o to path atomically and releases it; 0, or -1 with errno set
 * (ENOMEM when o is NULL). */
int jw_write(const char *path, json_t *o);

#endif
