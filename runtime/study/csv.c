/* csv.c - a reader that accepts quoted fields with doubled quotes and
 * CRLF or LF line ends, and a writer that quotes only when it must. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "csv.h"
#include "fsutil.h"
#include "text.h"

/* One record starting at *p; fields into sv; *p moves past its line end.
 * Returns 1 for a record, 0 at the end of the text, -1 on an open quote. */
static int read_record(const char **p, strvec *sv, int *line)
{
    const char *s = *p;
    if (*s == '\0')
        return 0;
    size_t cap = 64, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        n = 0;
        int quoted = 0;
        if (*s == '"') {
            quoted = 1;
            s++;
        }
        for (;;) {
            char c = *s;
            if (quoted) {
                if (c == '\0') {
                    free(buf);
                    return -1;
                }
                if (c == '"') {
                    if (s[1] == '"') {
                        s += 2;
                        c = '"';
                    } else {
                        s++;
                        quoted = 0;
                        continue;
                    }
                } else {
                    if (c == '\n')
                        (*line)++;
                    s++;
                }
            } else {
                if (c == ',' || c == '\n' || c == '\0' ||
                    (c == '\r' && s[1] == '\n'))
                    break;
                s++;
            }
            if (n + 1 >= cap) {
                cap *= 2;
                buf = xrealloc(buf, cap);
            }
            buf[n++] = c;
        }
        buf[n] = '\0';
        strvec_push(sv, buf);
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '\r')
            s++;
        if (*s == '\n')
            s++;
        break;
    }
    free(buf);
    *p = s;
    return 1;
}

int csv_parse(const char *text, const char *name, csv_table *t,
              char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    const char *p = text;
    int line = 1, cap = 0;
    strvec sv = { 0 };
    int rc = read_record(&p, &sv, &line);
    if (rc <= 0) {
        snprintf(err, errlen, "%s:1: %s", name,
                 rc == 0 ? "empty file, no header" : "unterminated quote");
        strvec_free(&sv);
        return -1;
    }
    t->head = sv.v;
    t->ncol = sv.n;
    for (;;) {
        int at = ++line;
        strvec row = { 0 };
        rc = read_record(&p, &row, &line);
        if (rc == 0)
            break;
        if (rc < 0) {
            snprintf(err, errlen, "%s:%d: unterminated quote", name, at);
            strvec_free(&row);
            csv_free(t);
            return -1;
        }
        if (row.n == 1 && row.v[0][0] == '\0') {   /* blank line */
            strvec_free(&row);
            continue;
        }
        if (row.n != t->ncol) {
            snprintf(err, errlen, "%s:%d: %d fields, the header has %d",
                     name, at, row.n, t->ncol);
            strvec_free(&row);
            csv_free(t);
            return -1;
        }
        if (t->nrow == cap) {
            cap = cap ? 2 * cap : 64;
            t->rows = xrealloc(t->rows, (size_t)cap * sizeof *t->rows);
        }
        t->rows[t->nrow++] = row.v;
    }
    return 0;
}

int csv_read(const char *path, csv_table *t, char *err, size_t errlen)
{
    char *text = file_read(path, NULL);
    if (!text) {
        memset(t, 0, sizeof *t);
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = csv_parse(text, path, t, err, errlen);
    free(text);
    return rc;
}

static void free_fields(char **v, int n)
{
    if (!v)
        return;
    for (int j = 0; j < n; j++)
        free(v[j]);
    free(v);
}

void csv_free(csv_table *t)
{
    free_fields(t->head, t->ncol);
    for (int i = 0; i < t->nrow; i++)
        free_fields(t->rows[i], t->ncol);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

int csv_column(const csv_table *t, const char *name)
{
    for (int j = 0; j < t->ncol; j++)
        if (!strcmp(t->head[j], name))
            return j;
    return -1;
}

void csv_put(FILE *f, const char *field)
{
    if (!strpbrk(field, ",\"\r\n")) {
        fputs(field, f);
        return;
    }
    fputc('"', f);
    for (const char *s = field; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
