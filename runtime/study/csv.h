/* csv.h - RFC 4180 tables: the tidy results file, the cells' result files
 * and the binaries' train_loss.csv.  A table is a header and rows of
 * strings; errors name the file and line. */
#ifndef ADVCC_STUDY_CSV_H
#define ADVCC_STUDY_CSV_H

#include <stddef.h>
#include <stdio.h>

typedef struct csv_table {
    char **head;
    int ncol;
    char ***rows;   /* rows[i][j], ncol fields each */
    int nrow;
} csv_table;

/* 0, or -1 with err filled ("file:line: ..."). */
int csv_parse(const char *text, const char *name, csv_table *t,
              char *err, size_t errlen);
int csv_read(const char *path, csv_table *t, char *err, size_t errlen);
void csv_free(csv_table *t);
/* Column index of name, or -1. */
int csv_column(const csv_table *t, const char *name);

/* Writes one field, quoted when it holds a comma, quote or line break. */
void csv_put(FILE *f, const char *field);

#endif
