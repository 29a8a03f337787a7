/* json.c - Jansson, with the number-as-text rule of json.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "text.h"

static json_t *object_or_error(json_t *v, const json_error_t *e, const char *name,
                               char *err, size_t errlen)
{
    if (!v) {
        snprintf(err, errlen, "%s:%d:%d: %s", name, e->line, e->column, e->text);
        return NULL;
    }
    if (!json_is_object(v)) {
        snprintf(err, errlen, "%s: not a JSON object", name);
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *jobj_read(const char *path, char *err, size_t errlen)
{
    json_error_t e;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    return object_or_error(v, &e, path, err, errlen);
}

json_t *jobj_parse(const char *text, const char *name, char *err, size_t errlen)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    return object_or_error(v, &e, name, err, errlen);
}

char *jvalue_text(const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        return xstrndup(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL: {
        double x = json_real_value(v);
        for (int digits = 1; digits < 17; digits++) {
            char *s = xasprintf("%.*g", digits, x);
            if (strtod(s, NULL) == x)
                return s;
            free(s);
        }
        return xasprintf("%.17g", x);
    }
    case JSON_TRUE:
        return xstrdup("true");
    case JSON_FALSE:
        return xstrdup("false");
    default:
        return NULL;
    }
}

char *jobj_text(const json_t *obj, const char *key)
{
    return obj ? jvalue_text(json_object_get(obj, key)) : NULL;
}

int jobj_is(const json_t *obj, const char *key, const char *s)
{
    const char *v = obj ? json_string_value(json_object_get(obj, key)) : NULL;
    return v && !strcmp(v, s);
}
