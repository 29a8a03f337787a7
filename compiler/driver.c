/* driver.c - one compiler run, and writing its output atomically. */
#include "driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "describe_json.h"
#include "diag.h"
#include "emit.h"
#include "frontend.h"
#include "mkdirs.h"
#include "shape.h"

/* A file being written: its temporary name and its final one. */
typedef struct pending {
    char *tmp, *final;
} pending;

typedef struct output {
    const char *dir;
    pending *files;
    int n, cap;
    mode_t mode;
    char *made;         /* the outermost directory this run created, or NULL */
} output;

static char *path_join(const char *dir, const char *name, const char *suffix)
{
    size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    snprintf(p, n, "%.*s/%s%s", (int)dl, dir, name, suffix);
    return p;
}

/* mkdir -p (mkdirs.h); *made: the first directory it had to create, so
 * that a failed run can take away what it made. */
static int make_dirs(const char *dir, char **made)
{
    char *failed = NULL;
    if (mkdirs(dir, made, &failed) == 0)
        return 0;
    if (errno == ENOTDIR && failed && !strcmp(failed, dir))
        diag_fatal("'%s' is not a directory", dir);
    else
        diag_fatal("cannot create directory '%s': %s", failed ? failed : dir,
                   strerror(errno));
    free(failed);
    return -1;
}

/* Opens a temporary file beside DIR/name; NULL after reporting. */
static FILE *output_open(output *o, const char *name)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 8;
        o->files = realloc(o->files, sizeof *o->files * (size_t)o->cap);
        if (!o->files)
            abort();
    }
    pending *f = &o->files[o->n];
    f->final = path_join(o->dir, name, "");
    f->tmp = path_join(o->dir, ".", name);
    f->tmp = realloc(f->tmp, strlen(f->tmp) + 8);
    if (!f->tmp)
        abort();
    strcat(f->tmp, ".XXXXXX");
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        diag_fatal("cannot create a file in '%s': %s", o->dir, strerror(errno));
        free(f->tmp);
        free(f->final);
        return NULL;
    }
    o->n++;
    fchmod(fd, o->mode);
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        diag_fatal("cannot write '%s': %s", f->tmp, strerror(errno));
        close(fd);
    }
    return fp;
}

/* Closes the file output_open gave last; failed: its writer failed. */
static int output_close(output *o, FILE *fp, int failed)
{
    int e = 0;
    if (fflush(fp) != 0 || ferror(fp)) {
        failed = 1;
        e = errno;
    }
    if (fclose(fp) != 0 && !e) {
        failed = 1;
        e = errno;
    }
    if (failed)
        diag_fatal("cannot write '%s': %s", o->files[o->n - 1].final,
                   e ? strerror(e) : "write error");
    return failed ? -1 : 0;
}

/* After a failed run: the directories it made go too (those left empty;
 * from the deepest up to the one it made first). */
static void output_unmake(output *o)
{
    if (!o->made)
        return;
    char *p = strdup(o->dir);
    if (!p)
        abort();
    size_t keep = strlen(o->made);
    for (;;) {
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
            p[--n] = '\0';
        if (n < keep || rmdir(p) != 0 || n == keep)
            break;
        char *slash = strrchr(p, '/');
        if (!slash || slash == p)
            break;
        *slash = '\0';
    }
    free(p);
}

static void output_finish(output *o, int commit)
{
    for (int i = 0; i < o->n; i++) {
        if (commit && rename(o->files[i].tmp, o->files[i].final) != 0) {
            diag_fatal("cannot rename '%s' to '%s': %s", o->files[i].tmp,
                       o->files[i].final, strerror(errno));
            commit = 0;
        }
        if (!commit)
            unlink(o->files[i].tmp);
        free(o->files[i].tmp);
        free(o->files[i].final);
    }
    free(o->files);
    o->files = NULL;
    o->n = o->cap = 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* DIR/<model>.c (with the description embedded), DIR/<model>.h,
 * DIR/<model>.json (describe_json.h) and DIR/<model>.py with torch, for
 * every model, then DIR/models.mk. */
static int write_models(output *o, ir_program *p, int torch)
{
    char name[80];
    for (int i = 0; i < p->n_models; i++) {
        ir_model *m = &p->models[i];
        char *json = describe_json(m);
        snprintf(name, sizeof name, "%s.c", m->name);
        FILE *fp = output_open(o, name);
        if (!fp || output_close(o, fp, emit_model_c(m, fp) != 0 ||
                                describe_json_emit_c(m, json, fp) != 0) != 0) {
            free(json);
            return -1;
        }
        snprintf(name, sizeof name, "%s.json", m->name);
        fp = output_open(o, name);
        int failed = fp ? fputs(json, fp) < 0 : 1;
        free(json);
        if (!fp || output_close(o, fp, failed) != 0)
            return -1;
        snprintf(name, sizeof name, "%s.h", m->name);
        fp = output_open(o, name);
        if (!fp || output_close(o, fp, emit_model_h(m, fp) != 0) != 0)
            return -1;
        if (torch) {
            snprintf(name, sizeof name, "%s.py", m->name);
            fp = output_open(o, name);
            if (!fp || output_close(o, fp, emit_model_torch(m, fp) != 0) != 0)
                return -1;
        }
    }
    const char **names = calloc((size_t)p->n_models + 1, sizeof *names);
    if (!names)
        abort();
    for (int i = 0; i < p->n_models; i++)
        names[i] = p->models[i].name;
    qsort(names, (size_t)p->n_models, sizeof *names, compare_names);
    FILE *fp = output_open(o, "models.mk");
    int failed = 0;
    if (fp) {
        fputs("# Written by advcc: the models it emitted here.\nMODELS :=", fp);
        for (int i = 0; i < p->n_models; i++)
            fprintf(fp, " %s", names[i]);
        fputc('\n', fp);
        failed = output_close(o, fp, 0) != 0;
    }
    free(names);
    return fp && !failed ? 0 : -1;
}

/* Files that define no model at all (only patches and macros, or nothing)
 * give nothing to compile: each is named, and the run fails. */
static int check_some_model(const advcc_options *o, const ir_program *p)
{
    if (p->n_models > 0)
        return 0;
    for (int i = 0; i < o->n_files; i++) {
        ir_loc file = { o->files[i], 0, 0, NULL };
        diag_error(file, "no model defined; nothing to compile");
    }
    return -1;
}

int advcc_run(const advcc_options *o)
{
    FILE *out = o->out ? o->out : stdout;
    frontend fe;
    frontend_init(&fe);
    int rc = frontend_compile(&fe, o->files, o->n_files) == 0 ? 0 : 1;
    if (rc == 0 && check_some_model(o, &fe.program) != 0)
        rc = 1;
    if (rc == 0 && o->shapes)
        for (int i = 0; i < fe.program.n_models; i++)
            shape_print(out, &fe.program.models[i]);
    if (rc == 0 && o->out_dir) {
        output w = { o->out_dir, NULL, 0, 0, 0, NULL };
        mode_t mask = umask(0);
        umask(mask);
        w.mode = 0666 & ~mask;
        int ok = make_dirs(o->out_dir, &w.made) == 0 && write_models(&w, &fe.program, o->torch) == 0;
        output_finish(&w, ok);
        if (!ok)
            output_unmake(&w);
        free(w.made);
        rc = ok && diag_count() == 0 ? 0 : 1;
        if (rc == 0 && !o->quiet)
            fprintf(out, "advcc: %d model%s written to %s\n", fe.program.n_models,
                    fe.program.n_models == 1 ? "" : "s", o->out_dir);
    }
    frontend_free(&fe);
    return rc;
}
