/* text.h - memory and strings for the study tool: allocation that stops the
 * program with a message instead of returning NULL, printf into fresh
 * strings, and a growable vector of strings (argument lists, word lists).
 * Every string a function here returns is the caller's to free. */
#ifndef ADVCC_STUDY_TEXT_H
#define ADVCC_STUDY_TEXT_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct strvec {
    char **v;       /* NULL-terminated, so it can be an argv */
    int n, cap;
} strvec;

void strvec_push(strvec *sv, const char *s);        /* copies s */
void strvec_pushf(strvec *sv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void strvec_free(strvec *sv);

/* "%g" of a number without locale surprises: 8 -> "8", 0.5 -> "0.5". */
char *format_number(double x);

#endif
