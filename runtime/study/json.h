/* json.h - reading the one-object JSON files the model binaries write
 * (train.json, eval --json): the top-level object's members, each kept as
 * its decoded string or the exact text of its number, so that numbers pass
 * into the results file digit for digit.  Nested arrays and objects are
 * accepted and kept as raw text.  Errors name the file and byte offset. */
#ifndef ADVCC_STUDY_JSON_H
#define ADVCC_STUDY_JSON_H

#include <stddef.h>

enum json_type { JSON_STRING, JSON_NUMBER, JSON_BOOL, JSON_NULL, JSON_NESTED };

typedef struct json_member {
    char *key;
    char *text;     /* decoded string, number text, "true"/"false", "null", raw */
    int type;       /* enum json_type */
} json_member;

typedef struct json_object {
    json_member *m;
    int n;
} json_object;

/* name is used in messages only.  0, or -1 with err filled. */
int json_parse(const char *text, const char *name, json_object *obj,
               char *err, size_t errlen);
int json_read_file(const char *path, json_object *obj, char *err, size_t errlen);
void json_free(json_object *obj);

/* The objects of an array of objects, given as its text (a nested
 * member's): *items gets *n of them, the caller frees each and the array.
 * 0, or -1 with err filled. */
int json_parse_objects(const char *array, const char *name, json_object **items,
                       int *n, char *err, size_t errlen);

/* The member's text, or NULL when absent or null. */
const char *json_get(const json_object *obj, const char *key);
/* 0 and *x for a number member; -1 otherwise. */
int json_get_number(const json_object *obj, const char *key, double *x);

#endif
