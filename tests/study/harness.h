/* harness.h - what the study's end-to-end tests share: a scratch
 * directory with the fake model binary installed under every model's
 * name, a grid file in it, advcc-study run as a child process, and the
 * results file read back without its volatile columns (host, times). */
#ifndef ADVCC_STUDY_TEST_HARNESS_H
#define ADVCC_STUDY_TEST_HARNESS_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "csv.h"
#include "fsutil.h"
#include "text.h"

#ifndef STUDY_BUILD
#define STUDY_BUILD "build"
#endif
#define STUDY_EXE STUDY_BUILD "/bin/advcc-study"
#define FAKE_EXE STUDY_BUILD "/tests/study/fake_model"

typedef struct scratch {
    char dir[64];
    char *bin, *grid, *log;
} scratch;

static inline void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ ms / 1000, ms % 1000 * 1000000L }, NULL);
}

/* A scratch directory with bin/<model> -> the fake binary for each model
 * and a grid file grid.grid holding text (bin and out lines added). */
static inline scratch *scratch_new(const char *const *models, const char *text)
{
    scratch *s = xcalloc(1, sizeof *s);
    strcpy(s->dir, "/tmp/advcc-study-test-XXXXXX");
    if (!mkdtemp(s->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    s->bin = path_join(s->dir, "bin");
    mkdir(s->bin, 0777);
    char fake[PATH_MAX];
    if (!realpath(FAKE_EXE, fake)) {
        fprintf(stderr, "%s: %s (build it with make check-study)\n", FAKE_EXE,
                strerror(errno));
        exit(1);
    }
    for (int i = 0; models[i]; i++) {
        char *link = path_join(s->bin, models[i]);
        if (symlink(fake, link) != 0) {
            perror(link);
            exit(1);
        }
        free(link);
    }
    s->grid = path_join(s->dir, "grid.grid");
    s->log = path_join(s->dir, "study.log");
    FILE *f = fopen(s->grid, "w");
    fprintf(f, "%sbin %s\nout %s/out\n", text, s->bin, s->dir);
    fclose(f);
    return s;
}

static inline void scratch_free(scratch *s)
{
    if (getenv("STUDY_TEST_KEEP"))
        fprintf(stderr, "kept %s\n", s->dir);
    else {
        dir_clear(s->dir, NULL);
        rmdir(s->dir);
    }
    free(s->bin);
    free(s->grid);
    free(s->log);
    free(s);
}

/* Starts advcc-study with the NULL-terminated arguments; output appended
 * to the scratch log. */
static inline pid_t study_spawn(scratch *s, const char *arg, ...)
{
    strvec argv = { 0 };
    strvec_push(&argv, STUDY_EXE);
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a; a = va_arg(ap, const char *))
        strvec_push(&argv, a);
    va_end(ap);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *log = fopen(s->log, "a");
        if (log) {
            dup2(fileno(log), STDOUT_FILENO);
            dup2(fileno(log), STDERR_FILENO);
        }
        execv(argv.v[0], argv.v);
        _exit(127);
    }
    strvec_free(&argv);
    return pid;
}

static inline int wait_exit(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define study_run(s, ...) wait_exit(study_spawn((s), __VA_ARGS__, (char *)NULL))

/* The results file without the columns that differ between identical
 * runs (host, wall times); NULL when it does not exist. */
static inline char *results_projection(const char *out_dir)
{
    char *path = path_join(out_dir, "results.csv");
    csv_table t;
    char err[512];
    int rc = csv_read(path, &t, err, sizeof err);
    free(path);
    if (rc != 0)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (int i = -1; i < t.nrow; i++) {
        char **row = i < 0 ? t.head : t.rows[i];
        int first = 1;
        for (int j = 0; j < t.ncol; j++) {
            if (!strcmp(t.head[j], "host") || !strcmp(t.head[j], "train_s") ||
                !strcmp(t.head[j], "attack_s"))
                continue;
            fprintf(f, "%s%s", first ? "" : ",", row[j]);
            first = 0;
        }
        fputc('\n', f);
    }
    fclose(f);
    csv_free(&t);
    return buf;
}

/* Lines of text that contain needle (exact: that equal it). */
static inline int count_lines_how(const char *text, const char *needle, int exact)
{
    int n = 0;
    for (const char *p = text; p && *p; ) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char *line = xstrndup(p, len);
        n += exact ? !strcmp(line, needle) : strstr(line, needle) != NULL;
        free(line);
        p += len + (eol != NULL);
    }
    return n;
}
#define count_lines(text, needle) count_lines_how((text), (needle), 0)
#define count_exact(text, line) count_lines_how((text), (line), 1)

#endif
