/* results.c - rows, the header, and the rebuild of the tidy file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "atomic_file.h"
#include "fsutil.h"
#include "results.h"

const char *const result_column_names[RC_COUNT] = {
#define RESULT_NAME(name) #name,
    RESULT_COLUMNS(RESULT_NAME)
#undef RESULT_NAME
};

void result_row_set(result_row *r, int column, const char *value)
{
    free(r->f[column]);
    r->f[column] = value ? xstrdup(value) : NULL;
}

void result_row_free(result_row *r)
{
    for (int j = 0; j < RC_COUNT; j++) {
        free(r->f[j]);
        r->f[j] = NULL;
    }
}

void results_put_header(FILE *f)
{
    for (int j = 0; j < RC_COUNT; j++)
        fprintf(f, "%s%s", j ? "," : "", result_column_names[j]);
    fputc('\n', f);
}

void results_put_row(FILE *f, const result_row *r)
{
    for (int j = 0; j < RC_COUNT; j++) {
        if (j)
            fputc(',', f);
        csv_put(f, r->f[j] ? r->f[j] : "");
    }
    fputc('\n', f);
}

char *results_path(const grid *g)
{
    return path_join(g->out, "results.csv");
}

static int header_matches(const csv_table *t)
{
    if (t->ncol != RC_COUNT)
        return 0;
    for (int j = 0; j < RC_COUNT; j++)
        if (strcmp(t->head[j], result_column_names[j]))
            return 0;
    return 1;
}

int results_rebuild(const grid *g, const cell *cells, int ncells,
                    char *err, size_t errlen)
{
    if (mkdir_p(g->out) != 0) {
        snprintf(err, errlen, "%s: %s", g->out, strerror(errno));
        return -1;
    }
    char *lock_path = path_join(g->out, "results.lock");
    int lock = lock_take(lock_path, 1, 1);
    free(lock_path);
    if (lock < 0) {
        snprintf(err, errlen, "%s/results.lock: %s", g->out, strerror(errno));
        return -1;
    }
    /* whoever holds the lock may sweep temporaries of killed writers */
    dir_remove_prefixed(g->out, "results.csv.tmp.");
    char *path = results_path(g);
    atomic_file af;
    int rows = -1;
    if (atomic_open(&af, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    results_put_header(af.fp);
    rows = 0;
    for (int i = 0; i < ncells; i++) {
        char *file = cell_file(g, &cells[i], CELL_RESULT);
        csv_table t;
        char msg[512];
        if (!path_exists(file)) {
            free(file);
            continue;
        }
        int ok = csv_read(file, &t, msg, sizeof msg) == 0;
        if (ok && !header_matches(&t)) {
            snprintf(msg, sizeof msg, "%s: columns differ from this "
                     "version's results file", file);
            csv_free(&t);
            ok = 0;
        }
        if (!ok) {
            snprintf(err, errlen, "%s", msg);
            free(file);
            atomic_abort(&af);
            rows = -1;
            goto out;
        }
        for (int r = 0; r < t.nrow; r++) {
            for (int j = 0; j < RC_COUNT; j++) {
                if (j)
                    fputc(',', af.fp);
                csv_put(af.fp, t.rows[r][j]);
            }
            fputc('\n', af.fp);
            rows++;
        }
        csv_free(&t);
        free(file);
    }
    if (atomic_commit(&af) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rows = -1;
    }
out:
    free(path);
    close(lock);
    return rows;
}

int results_read(const char *path, csv_table *t, char *err, size_t errlen)
{
    if (csv_read(path, t, err, errlen) != 0)
        return -1;
    static const int needed[] = { RC_model, RC_seed, RC_eps_255, RC_status,
                                  RC_clean_acc, RC_robust_acc,
                                  RC_attack_success };
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (csv_column(t, result_column_names[needed[i]]) < 0) {
            snprintf(err, errlen, "%s:1: no column '%s'", path,
                     result_column_names[needed[i]]);
            csv_free(t);
            return -1;
        }
    return 0;
}
