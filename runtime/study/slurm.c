/* slurm.c - sbatch scripts and their submission. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cells.h"
#include "child.h"
#include "fsutil.h"
#include "mkdirs.h"
#include "proc.h"
#include "slurm.h"

char *slurm_array_spec(const int *idx, int n)
{
    size_t cap = 64, len = 0;
    char *s = xmalloc(cap);
    s[0] = '\0';
    for (int i = 0; i < n; ) {
        int j = i;
        while (j + 1 < n && idx[j + 1] == idx[j] + 1)
            j++;
        char part[48];
        if (j > i)
            snprintf(part, sizeof part, "%s%d-%d", len ? "," : "", idx[i], idx[j]);
        else
            snprintf(part, sizeof part, "%s%d", len ? "," : "", idx[i]);
        size_t k = strlen(part);
        if (len + k + 1 > cap) {
            cap = 2 * (len + k + 1);
            s = xrealloc(s, cap);
        }
        memcpy(s + len, part, k + 1);
        len += k;
        i = j + 1;
    }
    return s;
}

/* A word for sh, in single quotes. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

typedef struct paths {
    char *self, *grid, *bin, *out, *dir;
} paths;

static void put_command(FILE *f, const paths *p, const char *command)
{
    fputs("exec ", f);
    put_quoted(f, p->self);
    fprintf(f, " %s --bin ", command);
    put_quoted(f, p->bin);
    fputs(" --out ", f);
    put_quoted(f, p->out);
    fputc(' ', f);
    put_quoted(f, p->grid);
}

static int write_script(const char *path, const grid *g, const paths *p,
                        const char *array, int report)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "#!/bin/sh\n");
    if (report) {
        fprintf(f, "#SBATCH --job-name=advcc-%s-report\n", g->name);
        fprintf(f, "#SBATCH --cpus-per-task=1\n");
        fprintf(f, "#SBATCH --output=%s/report-%%j.out\n", p->dir);
    } else {
        fprintf(f, "#SBATCH --job-name=advcc-%s\n", g->name);
        if (g->throttle > 0)
            fprintf(f, "#SBATCH --array=%s%%%d\n", array, g->throttle);
        else
            fprintf(f, "#SBATCH --array=%s\n", array);
        fprintf(f, "#SBATCH --cpus-per-task=%d\n", g->threads);
        fprintf(f, "#SBATCH --output=%s/cell-%%A_%%a.out\n", p->dir);
        fprintf(f, "#SBATCH --requeue\n");
    }
    for (int i = 0; i < g->sbatch.n; i++)
        fprintf(f, "#SBATCH %s\n", g->sbatch.v[i]);
    fprintf(f, "# %s of grid %s; written by advcc-study submit\n",
            report ? "the report" : "one task per cell", p->grid);
    if (report) {
        put_command(f, p, "report");
        fputc('\n', f);
    } else {
        put_command(f, p, "run-cell");
        fputs(" \"$SLURM_ARRAY_TASK_ID\"\n", f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return -1;
    return 0;
}

/* Runs sbatch with args; its first line of output (the job id with
 * --parsable) into id.  Returns the exit code, or -1. */
static int run_sbatch(const slurm_opts *o, strvec *argv, char *id, size_t idlen)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    /* sbatch reads no pipe end of ours: both are close-on-exec */
    fcntl(fd[0], F_SETFD, FD_CLOEXEC);
    fcntl(fd[1], F_SETFD, FD_CLOEXEC);
    child_opts co = { o->sbatch, NULL, fd[1], -1, 0, "advcc-study" };
    pid_t pid = child_start(argv->v, &co);
    close(fd[1]);
    if (pid < 0) {
        close(fd[0]);
        return -1;
    }
    size_t n = 0;
    ssize_t got;
    char buf[256];
    while ((got = read(fd[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++)
            if (n + 1 < idlen)
                id[n++] = buf[i];
    close(fd[0]);
    id[n] = '\0';
    id[strcspn(id, ";\n")] = '\0';  /* "123;cluster" */
    return child_exit_code(child_wait(pid));
}

static char *self_path(void)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return xstrdup("advcc-study");
    buf[n] = '\0';
    return xstrdup(buf);
}

int slurm_submit(const grid *g, const slurm_opts *o)
{
    int rc = 1;
    paths p = { 0 };
    if (mkdirs(g->out, NULL, NULL) != 0) {
        fprintf(stderr, "advcc-study: %s: %s\n", g->out, strerror(errno));
        return 1;
    }
    p.self = self_path();
    p.grid = path_absolute(g->path);
    p.bin = path_absolute(g->bin);
    p.out = path_absolute(g->out);
    p.dir = path_join(p.out, "slurm");
    char *cells_script = path_join(p.dir, "cells.sbatch");
    char *report_script = path_join(p.dir, "report.sbatch");
    char *array = NULL;
    int n;
    cell *cells = cells_build(g, &n);
    int *todo = xmalloc((size_t)n * sizeof *todo), ntodo = 0;
    for (int i = 0; i < n; i++) {
        int s = cell_state(g, &cells[i], NULL);
        if (s != CELL_DONE && s != CELL_DIVERGED)
            todo[ntodo++] = i;
    }
    if (mkdirs(p.dir, NULL, NULL) != 0) {
        fprintf(stderr, "advcc-study: %s: %s\n", p.dir, strerror(errno));
        goto out;
    }
    array = slurm_array_spec(todo, ntodo);
    if ((ntodo && write_script(cells_script, g, &p, array, 0) != 0) ||
        write_script(report_script, g, &p, NULL, 1) != 0) {
        fprintf(stderr, "advcc-study: %s: %s\n", p.dir, strerror(errno));
        goto out;
    }
    printf("%d of %d cells to run; scripts in %s\n", ntodo, n, p.dir);
    if (o->dry_run) {
        rc = 0;
        goto out;
    }
    char array_id[128] = "";
    if (ntodo) {
        strvec argv = { 0 };
        strvec_push(&argv, "sbatch");
        strvec_push(&argv, "--parsable");
        strvec_push(&argv, cells_script);
        int code = run_sbatch(o, &argv, array_id, sizeof array_id);
        strvec_free(&argv);
        if (code != 0 || !array_id[0]) {
            fprintf(stderr, "advcc-study: sbatch %s failed\n", cells_script);
            goto out;
        }
        printf("array job %s: cells %s\n", array_id, array);
    }
    strvec argv = { 0 };
    strvec_push(&argv, "sbatch");
    strvec_push(&argv, "--parsable");
    if (array_id[0])
        strvec_pushf(&argv, "--dependency=afterany:%s", array_id);
    if (o->wait)
        strvec_push(&argv, "--wait");
    strvec_push(&argv, report_script);
    char report_id[128] = "";
    fflush(stdout);
    int code = run_sbatch(o, &argv, report_id, sizeof report_id);
    strvec_free(&argv);
    if (code != 0) {
        fprintf(stderr, "advcc-study: sbatch %s: %s\n", report_script,
                report_id[0] ? "the report job failed" : "failed");
        goto out;
    }
    printf("report job %s%s\n", report_id, o->wait ? ": finished" : "");
    rc = 0;
out:
    free(array);
    free(todo);
    free(cells);
    free(cells_script);
    free(report_script);
    free(p.self);
    free(p.grid);
    free(p.bin);
    free(p.out);
    free(p.dir);
    return rc;
}
