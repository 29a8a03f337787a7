/* results.h - the tidy results file of a grid, OUT/results.csv: one row
 * per (model, seed, eps), rebuilt from the finished cells' result.csv
 * files in cell order and replaced atomically, so that it never holds a
 * cell twice or half a cell, however often runs are interrupted. */
#ifndef ADVCC_STUDY_RESULTS_H
#define ADVCC_STUDY_RESULTS_H

#include <stdio.h>
#include "cells.h"
#include "csv.h"

/* The columns, in file order. */
#define RESULT_COLUMNS(X) \
    X(model) X(seed) X(eps_255) X(status) X(clean_acc) X(robust_acc) \
    X(attack_success) X(train_eps_255) X(attack) X(alpha_255) X(steps) \
    X(restarts) X(init) X(eot) X(n) X(epochs) X(train_limit) X(test_limit) \
    X(dataset) X(threads) X(train_steps) X(final_loss) X(train_clean_acc) \
    X(diverged_step) X(train_s) X(attack_s) X(host) X(version) X(cell) \
    X(cert_acc_36) X(cert_acc_72) X(cert_acc_108) X(lipschitz)

enum result_column {
#define RESULT_ENUM(name) RC_##name,
    RESULT_COLUMNS(RESULT_ENUM)
#undef RESULT_ENUM
    RC_COUNT
};

extern const char *const result_column_names[RC_COUNT];

/* A row under construction: RC_COUNT owned strings (NULL prints empty). */
typedef struct result_row {
    char *f[RC_COUNT];
} result_row;

void result_row_set(result_row *r, int column, const char *value);
void result_row_free(result_row *r);

void results_put_header(FILE *f);
void results_put_row(FILE *f, const result_row *r);

char *results_path(const grid *g);

/* Rewrites OUT/results.csv from the cells' files, under OUT/results.lock
 * so that concurrent runners and array tasks take turns.  Returns the
 * number of rows, or -1 with err filled. */
int results_rebuild(const grid *g, const cell *cells, int ncells,
                    char *err, size_t errlen);

/* Reads a results file and checks its columns: 0, or -1 with err. */
int results_read(const char *path, csv_table *t, char *err, size_t errlen);

#endif
