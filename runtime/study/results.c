/* results.c - rows, the header, and the rebuild of the tidy file. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mkdirs.h"
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

static int find_name(const strvec *names, const char *name)
{
    for (int i = 0; i < names->n; i++)
        if (!strcmp(names->v[i], name))
            return i;
    return -1;
}

void result_row_set_after(result_row *r, const char *attack, const char *value)
{
    /* a column name of letters, digits and '_' whatever the attack's */
    char *name = xasprintf("%s%s", RESULT_AFTER_PREFIX, attack);
    for (char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p))
            *p = '_';
    int i = find_name(&r->after_names, name);
    if (i >= 0) {
        free(r->after_values.v[i]);
        r->after_values.v[i] = xstrdup(value ? value : "");
    } else {
        strvec_push(&r->after_names, name);
        strvec_push(&r->after_values, value ? value : "");
    }
    free(name);
}

void result_row_free(result_row *r)
{
    for (int j = 0; j < RC_COUNT; j++) {
        free(r->f[j]);
        r->f[j] = NULL;
    }
    strvec_free(&r->after_names);
    strvec_free(&r->after_values);
}

void results_after_columns(const result_row *rows, int n, strvec *after)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < rows[i].after_names.n; k++)
            if (find_name(after, rows[i].after_names.v[k]) < 0)
                strvec_push(after, rows[i].after_names.v[k]);
}

void results_put_header(FILE *f, const strvec *after)
{
    for (int j = 0; j < RC_COUNT; j++)
        fprintf(f, "%s%s", j ? "," : "", result_column_names[j]);
    for (int k = 0; k < after->n; k++)
        fprintf(f, ",%s", after->v[k]);
    fputc('\n', f);
}

void results_put_row(FILE *f, const result_row *r, const strvec *after)
{
    for (int j = 0; j < RC_COUNT; j++) {
        if (j)
            fputc(',', f);
        csv_put(f, r->f[j] ? r->f[j] : "");
    }
    for (int k = 0; k < after->n; k++) {
        int i = find_name(&r->after_names, after->v[k]);
        fputc(',', f);
        csv_put(f, i >= 0 ? r->after_values.v[i] : "");
    }
    fputc('\n', f);
}

char *results_path(const grid *g)
{
    return path_join(g->out, "results.csv");
}

/* The columns every results file has had: 0, or -1 with err. */
static int check_columns(const csv_table *t, const char *path, char *err,
                         size_t errlen)
{
    static const int needed[] = { RC_model, RC_seed, RC_eps_255, RC_status,
                                  RC_clean_acc, RC_robust_acc,
                                  RC_attack_success };
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (csv_column(t, result_column_names[needed[i]]) < 0) {
            snprintf(err, errlen, "%s:1: no column '%s'", path,
                     result_column_names[needed[i]]);
            return -1;
        }
    return 0;
}

/* A cell's file: its columns known (fixed or after-columns, which join
 * *after), and the needed ones there.  0, or -1 with err. */
static int read_cell_file(const char *path, csv_table *t, strvec *after,
                          char *err, size_t errlen)
{
    if (csv_read(path, t, err, errlen) != 0)
        return -1;
    if (check_columns(t, path, err, errlen) != 0)
        goto bad;
    for (int j = 0; j < t->ncol; j++) {
        const char *name = t->head[j];
        int fixed = 0;
        for (int k = 0; k < RC_COUNT && !fixed; k++)
            fixed = !strcmp(name, result_column_names[k]);
        if (fixed)
            continue;
        if (strncmp(name, RESULT_AFTER_PREFIX, strlen(RESULT_AFTER_PREFIX))) {
            snprintf(err, errlen, "%s:1: column '%s' is not one of this "
                     "version's results file", path, name);
            goto bad;
        }
        if (find_name(after, name) < 0)
            strvec_push(after, name);
    }
    return 0;
bad:
    csv_free(t);
    return -1;
}

/* The rows of t under the header of the fixed columns and after. */
static void put_table_rows(FILE *f, const csv_table *t, const strvec *after)
{
    int *col = xmalloc((size_t)(RC_COUNT + after->n) * sizeof *col);
    for (int j = 0; j < RC_COUNT; j++)
        col[j] = csv_column(t, result_column_names[j]);
    for (int k = 0; k < after->n; k++)
        col[RC_COUNT + k] = csv_column(t, after->v[k]);
    for (int r = 0; r < t->nrow; r++) {
        for (int j = 0; j < RC_COUNT + after->n; j++) {
            if (j)
                fputc(',', f);
            csv_put(f, col[j] >= 0 ? t->rows[r][col[j]] : "");
        }
        fputc('\n', f);
    }
    free(col);
}

int results_rebuild(const grid *g, const cell *cells, int ncells,
                    char *err, size_t errlen)
{
    if (mkdirs(g->out, NULL, NULL) != 0) {
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
    /* every cell's file first: the after-columns are their union */
    csv_table *tables = xcalloc((size_t)(ncells ? ncells : 1), sizeof *tables);
    strvec after = { 0 };
    int ntables = 0;
    for (int i = 0; i < ncells; i++) {
        char *file = cell_file(g, &cells[i], CELL_RESULT);
        int ok = !path_exists(file) ||
                 read_cell_file(file, &tables[ntables++], &after, err, errlen) == 0;
        free(file);
        if (!ok) {
            ntables--;
            atomic_abort(&af);
            goto free_tables;
        }
    }
    results_put_header(af.fp, &after);
    rows = 0;
    for (int i = 0; i < ntables; i++) {
        put_table_rows(af.fp, &tables[i], &after);
        rows += tables[i].nrow;
    }
    if (atomic_commit(&af) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rows = -1;
    }
free_tables:
    for (int i = 0; i < ntables; i++)
        csv_free(&tables[i]);
    free(tables);
    strvec_free(&after);
out:
    free(path);
    close(lock);
    return rows;
}

int results_read(const char *path, csv_table *t, char *err, size_t errlen)
{
    if (csv_read(path, t, err, errlen) != 0)
        return -1;
    if (check_columns(t, path, err, errlen) != 0) {
        csv_free(t);
        return -1;
    }
    return 0;
}
