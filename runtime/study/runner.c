/* runner.c - a fork-per-cell scheduler with a progress line. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "child.h"
#include "duration.h"
#include "mkdirs.h"
#include "cellrun.h"
#include "cells.h"
#include "fsutil.h"
#include "proc.h"
#include "results.h"
#include "runner.h"

typedef struct slot {
    pid_t pid;          /* 0: free */
    int cell;
} slot;

typedef struct tally {
    int total, done, diverged, failed, busy, running;
    double start, cost_done, cost_left, cost_running;
} tally;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_draw(const tally *t)
{
    double elapsed = now() - t->start;
    char spent[32], left[48];
    format_duration(spent, sizeof spent, elapsed);
    if (t->cost_done > 0) {
        /* work still to do at the rate this run has kept so far; a running
         * cell counts as half done */
        double rest = t->cost_left + 0.5 * t->cost_running;
        char d[32];
        format_duration(d, sizeof d, rest * elapsed / t->cost_done);
        snprintf(left, sizeof left, "~%s left", d);
    } else
        snprintf(left, sizeof left, "time left unknown");
    fprintf(stderr, "\r\033[K%d/%d cells done, %d running, %d failed, %s "
            "elapsed, %s", t->done + t->diverged, t->total, t->running,
            t->failed + t->diverged, spent, left);
    fflush(stderr);
}

static void rebuild(const grid *g, const cell *cells, int n)
{
    char err[512];
    if (results_rebuild(g, cells, n, err, sizeof err) < 0)
        fprintf(stderr, "\nadvcc-study: %s\n", err);
}

static pid_t launch(const grid *g, const cell *c, int verbose)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (child_tie_to_parent(parent) != 0)
        _exit(CELL_RUN_FAILED);
    _exit(cell_run(g, c, verbose));
}

int runner_run(const grid *g, const runner_opts *o)
{
    int n;
    cell *cells = cells_build(g, &n);
    int jobs = o->jobs > 0 ? o->jobs : g->jobs;
    if (jobs <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = cores > g->threads ? (int)(cores / g->threads) : 1;
    }
    int progress = o->progress >= 0 ? o->progress : isatty(STDERR_FILENO);
    if (mkdirs(g->out, NULL, NULL) != 0) {
        fprintf(stderr, "advcc-study: %s: %s\n", g->out, strerror(errno));
        free(cells);
        return 1;
    }

    tally t = { .total = n, .start = now() };
    int *todo = xmalloc((size_t)n * sizeof *todo), ntodo = 0, stale = 0;
    for (int i = 0; i < n; i++) {
        int s = cell_state(g, &cells[i], NULL);
        if (s == CELL_DONE || s == CELL_DIVERGED) {
            char *differ = cell_settings_differ(g, &cells[i]);
            if (differ && stale++ == 0) {
                char *dir = cell_dir(g, &cells[i]);
                fprintf(stderr, "advcc-study: warning: %s was finished with "
                        "other settings (%s); finished cells are never "
                        "rerun: remove them, or use another 'out'\n", dir,
                        differ);
                free(dir);
            }
            free(differ);
        }
        if (s == CELL_DONE)
            t.done++;
        else if (s == CELL_DIVERGED)
            t.diverged++;
        else {
            todo[ntodo++] = i;
            t.cost_left += cell_cost(g, &cells[i]);
        }
    }
    if (stale > 1)
        fprintf(stderr, "advcc-study: warning: %d finished cells in all have "
                "settings other than the grid's\n", stale);
    slot *slots = xcalloc((size_t)jobs, sizeof *slots);
    int next = 0;
    double last_draw = 0;
    for (;;) {
        for (int s = 0; s < jobs && next < ntodo; s++) {
            if (slots[s].pid)
                continue;
            const cell *c = &cells[todo[next]];
            pid_t pid = launch(g, c, o->verbose);
            if (pid < 0) {
                fprintf(stderr, "advcc-study: fork: %s\n", strerror(errno));
                break;
            }
            slots[s] = (slot){ pid, todo[next++] };
            double cost = cell_cost(g, c);
            t.cost_left -= cost;
            t.cost_running += cost;
            t.running++;
        }
        if (t.running == 0)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno != EINTR)
            break;
        if (pid <= 0) {
            if (progress && now() - last_draw >= 1.0) {
                progress_draw(&t);
                last_draw = now();
            }
            nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
            continue;
        }
        int s = 0;
        while (s < jobs && slots[s].pid != pid)
            s++;
        if (s == jobs)
            continue;
        const cell *c = &cells[slots[s].cell];
        slots[s].pid = 0;
        t.running--;
        double cost = cell_cost(g, c);
        t.cost_running -= cost;
        char *detail = NULL;
        int state = cell_state(g, c, &detail);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (code == CELL_RUN_BUSY)
            t.busy++;
        else if (state == CELL_DONE) {
            t.done++;
            t.cost_done += cost;
        } else if (state == CELL_DIVERGED) {
            t.diverged++;
            t.cost_done += cost;
        } else {
            t.failed++;
            t.cost_done += cost;
        }
        if (code != CELL_RUN_BUSY && state != CELL_DONE) {
            char *name = cell_name(g, c);
            char *why = detail ? NULL : proc_describe(status);
            fprintf(stderr, "%sadvcc-study: cell %d (%s): %s: %s\n",
                    progress ? "\r\033[K" : "", c->index, name,
                    state == CELL_DIVERGED ? "diverged" : "failed",
                    detail ? detail : why);
            free(why);
            free(name);
        }
        free(detail);
        rebuild(g, cells, n);
        if (progress) {
            progress_draw(&t);
            last_draw = now();
        }
    }
    rebuild(g, cells, n);
    if (progress)
        fputs("\r\033[K", stderr);
    char spent[32];
    format_duration(spent, sizeof spent, now() - t.start);
    char *results = results_path(g);
    fprintf(stderr, "advcc-study: %s: %d cells: %d done, %d diverged, %d "
            "failed, %d running elsewhere (%s); results in %s\n", g->name,
            n, t.done, t.diverged, t.failed, t.busy, spent, results);
    free(results);
    int rc = t.done + t.diverged == n ? 0 : 1;
    free(slots);
    free(todo);
    free(cells);
    return rc;
}

int runner_status(const grid *g, int verbose)
{
    int n;
    cell *cells = cells_build(g, &n);
    int count[5] = { 0 };
    for (int i = 0; i < n; i++) {
        char *detail;
        int s = cell_state(g, &cells[i], &detail);
        count[s]++;
        if (verbose || (s != CELL_DONE && s != CELL_PENDING)) {
            char *name = cell_name(g, &cells[i]);
            printf("%4d  %-30s %-8s %s\n", cells[i].index, name,
                   cell_state_names[s], detail ? detail : "");
            free(name);
        }
        free(detail);
    }
    printf("%s: %d cells: %d done, %d running, %d failed (%d diverged, %d "
           "errors), %d pending\n", g->name, n, count[CELL_DONE],
           count[CELL_RUNNING], count[CELL_DIVERGED] + count[CELL_FAILED],
           count[CELL_DIVERGED], count[CELL_FAILED], count[CELL_PENDING]);
    free(cells);
    return 0;
}
