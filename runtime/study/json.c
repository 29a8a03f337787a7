/* json.c - a small recursive-descent reader for RFC 8259 text whose top
 * level is an object.  Only that object's members are stored. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fsutil.h"
#include "json.h"
#include "text.h"

typedef struct reader {
    const char *s, *p, *name;
    char *err;
    size_t errlen;
} reader;

static int fail(reader *r, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->err && r->errlen)
        snprintf(r->err, r->errlen, "%s: byte %ld: %s", r->name,
                 (long)(r->p - r->s), msg);
    return -1;
}

static void skip_space(reader *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static void put_utf8(char **out, unsigned cp)
{
    char *o = *out;
    if (cp < 0x80)
        *o++ = (char)cp;
    else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    *out = o;
}

static int hex4(reader *r, unsigned *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->p++;
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else { r->p--; return fail(r, "bad \\u escape"); }
        *cp = *cp << 4 | d;
    }
    return 0;
}

/* At the opening quote; *out gets the decoded string (NULL: just skip). */
static int read_string(reader *r, char **out)
{
    r->p++;
    /* decoded text is never longer than its source */
    const char *end = r->p;
    while (*end && *end != '"')
        end += (*end == '\\' && end[1]) ? 2 : 1;
    char *buf = xmalloc((size_t)(end - r->p) + 1), *o = buf;
    for (;;) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"')
            break;
        if (c == '\0') {
            free(buf);
            return fail(r, "unterminated string");
        }
        if (c < 0x20) {
            free(buf);
            return fail(r, "control character in string");
        }
        r->p++;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        char e = *r->p++;
        unsigned cp;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (hex4(r, &cp) != 0) {
                free(buf);
                return -1;
            }
            if (cp >= 0xD800 && cp < 0xDC00 && r->p[0] == '\\' && r->p[1] == 'u') {
                unsigned lo;
                r->p += 2;
                if (hex4(r, &lo) != 0) {
                    free(buf);
                    return -1;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&o, cp);
            break;
        default:
            r->p--;
            free(buf);
            return fail(r, "bad escape '\\%c'", e);
        }
    }
    r->p++;
    *o = '\0';
    if (out)
        *out = buf;
    else
        free(buf);
    return 0;
}

static int read_number(reader *r)
{
    const char *q = r->p;
    if (*q == '-')
        q++;
    if (*q < '0' || *q > '9')
        return fail(r, "bad number");
    while (*q >= '0' && *q <= '9')
        q++;
    if (*q == '.') {
        q++;
        if (*q < '0' || *q > '9')
            return fail(r, "bad number");
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (*q < '0' || *q > '9')
            return fail(r, "bad number");
        while (*q >= '0' && *q <= '9')
            q++;
    }
    r->p = q;
    return 0;
}

static int read_value(reader *r, int depth, int *type);

static int read_container(reader *r, int depth, char close)
{
    if (depth > 64)
        return fail(r, "nested too deeply");
    r->p++;
    skip_space(r);
    if (*r->p == close) {
        r->p++;
        return 0;
    }
    for (;;) {
        skip_space(r);
        int type;
        if (close == '}') {
            if (*r->p != '"')
                return fail(r, "expected a member name");
            if (read_string(r, NULL) != 0)
                return -1;
            skip_space(r);
            if (*r->p != ':')
                return fail(r, "expected ':'");
            r->p++;
            skip_space(r);
        }
        if (read_value(r, depth + 1, &type) != 0)
            return -1;
        skip_space(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == close) {
            r->p++;
            return 0;
        }
        return fail(r, "expected ',' or '%c'", close);
    }
}

static int read_value(reader *r, int depth, int *type)
{
    switch (*r->p) {
    case '"':
        *type = JSON_STRING;
        return read_string(r, NULL);
    case '{':
        *type = JSON_NESTED;
        return read_container(r, depth, '}');
    case '[':
        *type = JSON_NESTED;
        return read_container(r, depth, ']');
    case 't':
        *type = JSON_BOOL;
        if (strncmp(r->p, "true", 4)) break;
        r->p += 4;
        return 0;
    case 'f':
        *type = JSON_BOOL;
        if (strncmp(r->p, "false", 5)) break;
        r->p += 5;
        return 0;
    case 'n':
        *type = JSON_NULL;
        if (strncmp(r->p, "null", 4)) break;
        r->p += 4;
        return 0;
    default:
        *type = JSON_NUMBER;
        return read_number(r);
    }
    return fail(r, "unexpected character '%c'", *r->p);
}

int json_parse(const char *text, const char *name, json_object *obj,
               char *err, size_t errlen)
{
    reader r = { text, text, name, err, errlen };
    obj->m = NULL;
    obj->n = 0;
    int cap = 0;
    skip_space(&r);
    if (*r.p != '{')
        return fail(&r, "expected '{'");
    r.p++;
    skip_space(&r);
    if (*r.p == '}') {
        r.p++;
        goto tail;
    }
    for (;;) {
        skip_space(&r);
        if (*r.p != '"') {
            fail(&r, "expected a member name");
            goto bad;
        }
        char *key;
        if (read_string(&r, &key) != 0)
            goto bad;
        skip_space(&r);
        if (*r.p != ':') {
            fail(&r, "expected ':' after \"%s\"", key);
            free(key);
            goto bad;
        }
        r.p++;
        skip_space(&r);
        const char *start = r.p;
        int type;
        char *text_value = NULL;
        int rc = *r.p == '"' ? (type = JSON_STRING, read_string(&r, &text_value))
                             : read_value(&r, 1, &type);
        if (rc != 0) {
            free(key);
            goto bad;
        }
        if (!text_value)
            text_value = xstrndup(start, (size_t)(r.p - start));
        if (obj->n == cap) {
            cap = cap ? 2 * cap : 16;
            obj->m = xrealloc(obj->m, (size_t)cap * sizeof *obj->m);
        }
        obj->m[obj->n++] = (json_member){ key, text_value, type };
        skip_space(&r);
        if (*r.p == ',') {
            r.p++;
            continue;
        }
        if (*r.p == '}') {
            r.p++;
            break;
        }
        fail(&r, "expected ',' or '}'");
        goto bad;
    }
tail:
    skip_space(&r);
    if (*r.p != '\0') {
        fail(&r, "text after the object");
        goto bad;
    }
    return 0;
bad:
    json_free(obj);
    return -1;
}

int json_parse_objects(const char *array, const char *name, json_object **items,
                       int *n, char *err, size_t errlen)
{
    reader r = { array, array, name, err, errlen };
    *items = NULL;
    *n = 0;
    skip_space(&r);
    if (*r.p != '[')
        return fail(&r, "expected '['");
    r.p++;
    skip_space(&r);
    if (*r.p == ']')
        return 0;
    for (;;) {
        skip_space(&r);
        const char *start = r.p;
        int type;
        if (*r.p != '{') {
            fail(&r, "expected an object");
            goto bad;
        }
        if (read_value(&r, 1, &type) != 0)
            goto bad;
        char *text = xstrndup(start, (size_t)(r.p - start));
        *items = xrealloc(*items, (size_t)(*n + 1) * sizeof **items);
        int rc = json_parse(text, name, &(*items)[*n], err, errlen);
        free(text);
        if (rc != 0)
            goto bad;
        (*n)++;
        skip_space(&r);
        if (*r.p == ',') {
            r.p++;
            continue;
        }
        if (*r.p == ']')
            return 0;
        fail(&r, "expected ',' or ']'");
        goto bad;
    }
bad:
    for (int i = 0; i < *n; i++)
        json_free(&(*items)[i]);
    free(*items);
    *items = NULL;
    *n = 0;
    return -1;
}

int json_read_file(const char *path, json_object *obj, char *err, size_t errlen)
{
    char *text = file_read(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = json_parse(text, path, obj, err, errlen);
    free(text);
    return rc;
}

void json_free(json_object *obj)
{
    for (int i = 0; i < obj->n; i++) {
        free(obj->m[i].key);
        free(obj->m[i].text);
    }
    free(obj->m);
    obj->m = NULL;
    obj->n = 0;
}

const char *json_get(const json_object *obj, const char *key)
{
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->m[i].key, key))
            return obj->m[i].type == JSON_NULL ? NULL : obj->m[i].text;
    return NULL;
}

int json_get_number(const json_object *obj, const char *key, double *x)
{
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->m[i].key, key)) {
            if (obj->m[i].type != JSON_NUMBER)
                return -1;
            *x = strtod(obj->m[i].text, NULL);
            return 0;
        }
    return -1;
}
