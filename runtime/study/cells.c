/* cells.c - cell enumeration, naming and state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cells.h"
#include "csv.h"
#include "fsutil.h"

const char *const cell_state_names[] = {
    "pending", "running", "done", "diverged", "failed"
};

cell *cells_build(const grid *g, int *n)
{
    int count = 0;
    for (int m = 0; m < g->models.n; m++)
        count += g->adversarial[m] ? g->neps : 1;
    count *= g->nseeds;
    cell *cells = xcalloc((size_t)count, sizeof *cells);
    int k = 0;
    for (int s = 0; s < g->nseeds; s++)
        for (int m = 0; m < g->models.n; m++) {
            if (!g->adversarial[m]) {
                cells[k] = (cell){ k, m, g->seeds[s], 0, 0, 0, g->neps };
                k++;
                continue;
            }
            for (int e = 0; e < g->neps; e++, k++)
                cells[k] = (cell){ k, m, g->seeds[s], 1, g->eps[e], e, 1 };
        }
    *n = count;
    return cells;
}

char *cell_name(const grid *g, const cell *c)
{
    if (!c->adversarial)
        return xasprintf("%s/seed%d", g->models.v[c->model], c->seed);
    return xasprintf("%s/seed%d-eps%.10g", g->models.v[c->model], c->seed,
                     c->train_eps);
}

char *cell_dir(const grid *g, const cell *c)
{
    char *name = cell_name(g, c);
    char *dir = xasprintf("%s/cells/%s", g->out, name);
    free(name);
    return dir;
}

char *cell_file(const grid *g, const cell *c, const char *file)
{
    char *dir = cell_dir(g, c);
    char *path = path_join(dir, file);
    free(dir);
    return path;
}

/* The first line of a small file, without its newline. */
static char *first_line(const char *path)
{
    char *text = file_read(path, NULL);
    if (!text)
        return NULL;
    text[strcspn(text, "\n")] = '\0';
    return text;
}

static int result_state(const char *path, char **detail)
{
    csv_table t;
    char err[512];
    if (csv_read(path, &t, err, sizeof err) != 0) {
        if (detail)
            *detail = xstrdup(err);
        return CELL_FAILED;
    }
    int status = csv_column(&t, "status");
    int step = csv_column(&t, "diverged_step");
    int state = CELL_DONE;
    for (int i = 0; i < t.nrow && status >= 0; i++)
        if (!strcmp(t.rows[i][status], "diverged")) {
            state = CELL_DIVERGED;
            if (detail)
                *detail = xasprintf("training diverged at step %s",
                                    step >= 0 && *t.rows[i][step] ?
                                    t.rows[i][step] : "?");
            break;
        }
    csv_free(&t);
    return state;
}

int cell_state(const grid *g, const cell *c, char **detail)
{
    char *dir = cell_dir(g, c);
    char *result = path_join(dir, CELL_RESULT);
    char *lock = path_join(dir, CELL_LOCK);
    char *error = path_join(dir, CELL_ERROR);
    int state;
    if (detail)
        *detail = NULL;
    if (path_exists(result))
        state = result_state(result, detail);
    else if (lock_held(lock)) {
        state = CELL_RUNNING;
        if (detail)
            *detail = first_line(lock);
    } else if (path_exists(error)) {
        state = CELL_FAILED;
        if (detail)
            *detail = first_line(error);
    } else
        state = CELL_PENDING;
    free(dir);
    free(result);
    free(lock);
    free(error);
    return state;
}

char *cell_settings_differ(const grid *g, const cell *c)
{
    char *path = cell_file(g, c, CELL_RESULT);
    csv_table t;
    char err[512];
    int rc = csv_read(path, &t, err, sizeof err);
    free(path);
    if (rc != 0 || t.nrow == 0) {
        if (rc == 0)
            csv_free(&t);
        return NULL;
    }
    char *want[10];
    static const char *const cols[10] = {
        "epochs", "train_limit", "test_limit", "dataset", "threads",
        "alpha_255", "steps", "restarts", "init", "eot"
    };
    model_settings ms;
    grid_model_settings(g, c->model, &ms);
    want[0] = xasprintf("%d", ms.epochs);
    want[1] = xasprintf("%d", g->train_limit);
    want[2] = xasprintf("%d", g->test_limit);
    want[3] = xstrdup(ms.dataset);
    want[4] = xasprintf("%d", g->threads);
    want[5] = format_number(ms.alpha);
    want[6] = xasprintf("%d", ms.steps);
    want[7] = xasprintf("%d", ms.restarts);
    want[8] = xstrdup(ms.init);
    want[9] = xasprintf("%d", ms.eot);
    char *differ = NULL;
    for (int k = 0; k < 10 && !differ; k++) {
        int j = csv_column(&t, cols[k]);
        /* a diverged cell never reached its attack settings */
        if (j >= 0 && *t.rows[0][j] && strcmp(t.rows[0][j], want[k]))
            differ = xasprintf("%s %s, the grid says %s", cols[k],
                               t.rows[0][j], want[k]);
    }
    /* a strong evaluation the grid asks for and the cell lacks */
    int c_eps = csv_column(&t, "eps_255"), c_status = csv_column(&t, "status");
    int c_strong = csv_column(&t, "strong_robust_acc");
    for (int i = 0; i < t.nrow && !differ && c_eps >= 0 && c_status >= 0; i++) {
        double eps = strtod(t.rows[i][c_eps], NULL);
        if (!strcmp(t.rows[i][c_status], "ok") && grid_strong_at(g, eps) &&
            (c_strong < 0 || !*t.rows[i][c_strong]))
            differ = xasprintf("no strong evaluation at eps %s, the grid says "
                               "strong %s", t.rows[i][c_eps],
                               grid_strong_names[g->strong]);
    }
    for (int k = 0; k < 10; k++)
        free(want[k]);
    csv_free(&t);
    return differ;
}

double cell_cost(const grid *g, const cell *c)
{
    /* A training step costs about three forward passes, a PGD step about
     * two (forward and input gradient), per image (docs/METHODS.md 8). */
    model_settings ms;
    grid_model_settings(g, c->model, &ms);
    double pgd = 2.0 * ms.steps * ms.restarts * ms.eot;
    double train = (double)ms.epochs * grid_train_images(g, c->model) *
                   (3.0 + (c->adversarial ? pgd : 0.0));
    double eval = (double)c->neps * grid_test_images(g) * (1.0 + pgd);
    /* AutoAttack per image, were it attacked by every member (later
     * members see only the images the earlier left, about half at first):
     * standard 2 x 100 iterations x (1 + 9 targets) + 5000 queries, rand
     * 2 x 100 x 20 EOT draws x 2 attacks; quick 20 iterations, 3 targets,
     * 500 queries, 5 draws (docs/METHODS.md 9). */
    double strong = 0;
    if (g->strong != GRID_STRONG_OFF) {
        int iters = g->strong_quick ? 20 : 100;
        double per = g->strong == GRID_STRONG_RAND
                     ? 2.0 * iters * (g->strong_quick ? 5 : 20) * 2
                     : 2.0 * iters * (1 + (g->strong_quick ? 3 : 9)) +
                       (g->strong_quick ? 500 : 5000);
        int limit = grid_strong_limit(g);
        int images = limit > 0 && limit < 10000 ? limit : 10000;
        for (int e = 0; e < c->neps; e++)
            strong += grid_strong_at(g, g->eps[c->eps_first + e]) ?
                      0.5 * images * per : 0;
    }
    return train + eval + strong;
}
