/* json.h - reading the JSON the model binaries write (train.json, the
 * --json of eval, attack and certify, `MODEL info --json`) with Jansson.
 * Numbers go into the results file as the text of the number Jansson
 * read: integers in decimal, reals in the shortest form that reads back
 * as the same double ("0.612300" becomes "0.6123"). */
#ifndef ADVCC_STUDY_JSON_H
#define ADVCC_STUDY_JSON_H

#include <stddef.h>
#include <jansson.h>

/* The top-level object of a file or text (name is used in messages):
 * a new reference, or NULL with err filled ("NAME:LINE:COL: message"). */
json_t *jobj_read(const char *path, char *err, size_t errlen);
json_t *jobj_parse(const char *text, const char *name, char *err, size_t errlen);

/* A value as text: a string as itself, a number as above, true/false;
 * NULL for null, a missing member, an array or an object.  malloc'ed. */
char *jvalue_text(const json_t *v);
/* jvalue_text of obj's member key (obj may be NULL). */
char *jobj_text(const json_t *obj, const char *key);
/* 1 when obj's member key is the string s. */
int jobj_is(const json_t *obj, const char *key, const char *s);

#endif
