/* results.h - the tidy results file of a grid, OUT/results.csv: one row
 * per (model, seed, eps), rebuilt from the finished cells' result.csv
 * files in cell order and replaced atomically, so that it never holds a
 * cell twice or half a cell, however often runs are interrupted.
 *
 * The fixed columns come first; after them, one column per attack of the
 * strong evaluation's ensemble, strong_after_<attack> (the robust accuracy
 * after that attack, named from the binary's JSON with '-' as '_': the
 * ensembles differ by model and version, and grow).  A cell file made by
 * an older version, without some of the fixed columns, leaves them empty. */
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
    X(cert_acc_36) X(cert_acc_72) X(cert_acc_108) X(lipschitz) \
    X(strong_clean_acc) X(strong_robust_acc) X(strong_n) X(strong_seconds) \
    X(strong_ensemble) X(strong_quick)

/* The columns after the fixed ones: strong_after_<attack>. */
#define RESULT_AFTER_PREFIX "strong_after_"

enum result_column {
#define RESULT_ENUM(name) RC_##name,
    RESULT_COLUMNS(RESULT_ENUM)
#undef RESULT_ENUM
    RC_COUNT
};

extern const char *const result_column_names[RC_COUNT];

/* A row under construction: RC_COUNT owned strings (NULL prints empty),
 * and its columns after the fixed ones, by name. */
typedef struct result_row {
    char *f[RC_COUNT];
    strvec after_names, after_values;
} result_row;

void result_row_set(result_row *r, int column, const char *value);
/* The strong_after_<attack> column of attack (its name in the JSON). */
void result_row_set_after(result_row *r, const char *attack, const char *value);
void result_row_free(result_row *r);

/* The after-columns of rows[0..n), in order of first appearance. */
void results_after_columns(const result_row *rows, int n, strvec *after);
/* The header and a row: the fixed columns, then those named in after. */
void results_put_header(FILE *f, const strvec *after);
void results_put_row(FILE *f, const result_row *r, const strvec *after);

char *results_path(const grid *g);

/* Rewrites OUT/results.csv from the cells' files, under OUT/results.lock
 * so that concurrent runners and array tasks take turns.  Returns the
 * number of rows, or -1 with err filled. */
int results_rebuild(const grid *g, const cell *cells, int ncells,
                    char *err, size_t errlen);

/* Reads a results file and checks its columns: 0, or -1 with err. */
int results_read(const char *path, csv_table *t, char *err, size_t errlen);

#endif
