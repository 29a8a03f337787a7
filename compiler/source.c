/* source.c - reading spec files and following their includes. */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ast.h"
#include "diag.h"
#include "parse.h"

enum {
    SOURCE_MAX_BYTES = 16 << 20,    /* a spec is a page, not a data set */
    SOURCE_MAX_DEPTH = 64           /* includes within includes */
};

void source_set_init(source_set *s, arena *a)
{
    memset(s, 0, sizeof *s);
    s->arena = a;
}

void source_set_free(source_set *s)
{
    free(s->files);
    memset(s, 0, sizeof *s);
}

const char *source_line(const source_file *f, int line)
{
    if (!f || line < 1 || line > f->n_lines)
        return "";
    return f->lines[line - 1];
}

/* A NUL-terminated copy of the text split into lines ('\n', or "\r\n"). */
static void source_split_lines(source_file *f, arena *a)
{
    int n = 1;
    for (size_t i = 0; i < f->len; i++)
        n += f->text[i] == '\n';
    char *copy = arena_strndup(a, f->text, f->len);
    f->lines = arena_alloc(a, sizeof *f->lines * (size_t)n);
    f->n_lines = n;
    char *p = copy;
    for (int i = 0; i < n; i++) {
        f->lines[i] = p;
        char *nl = memchr(p, '\n', f->len - (size_t)(p - copy));
        char *end = nl ? nl : copy + f->len;
        if (end > p && end[-1] == '\r')
            end[-1] = '\0';
        *end = '\0';
        p = end + 1;
    }
}

static source_file *source_add(source_set *s, const char *path, char *text, size_t len)
{
    if (s->n_files == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        source_file **files = realloc(s->files, sizeof *files * (size_t)cap);
        if (!files) {
            fputs("advcc: out of memory\n", stderr);
            abort();
        }
        s->files = files;
        s->cap = cap;
    }
    source_file *f = arena_alloc(s->arena, sizeof *f);
    f->path = arena_strdup(s->arena, path);
    f->text = text;
    f->len = len;
    source_split_lines(f, s->arena);
    f->index = s->n_files;
    s->files[s->n_files++] = f;
    return f;
}

static source_file *source_find(const source_set *s, dev_t dev, ino_t ino)
{
    for (int i = 0; i < s->n_files; i++)
        if ((s->files[i]->dev || s->files[i]->ino) &&
            s->files[i]->dev == dev && s->files[i]->ino == ino)
            return s->files[i];
    return NULL;
}

/* Reads a whole file into the arena; on failure returns NULL with a reason. */
static char *source_read(source_set *s, const char *path, size_t *len, const char **why)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        *why = strerror(errno);
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= SOURCE_MAX_BYTES) {
                *why = "file too large for a spec (over 16 MiB)";
                free(buf);
                fclose(fp);
                return NULL;
            }
            cap = cap ? 2 * cap : 4096;
            char *more = realloc(buf, cap);
            if (!more) {
                *why = "out of memory";
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = more;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(fp);
    int saved = errno;
    fclose(fp);
    if (failed) {
        *why = strerror(saved);
        free(buf);
        return NULL;
    }
    char *text = arena_strndup(s->arena, buf ? buf : "", n);
    free(buf);
    *len = n;
    return text;
}

/* The files being read, outermost first: the path an include cycle takes. */
typedef struct include_stack {
    source_file *file[SOURCE_MAX_DEPTH + 1];
    const ast_def *inc[SOURCE_MAX_DEPTH + 1];   /* the include file[i] is reading */
    int depth;
} include_stack;

static void source_parse(source_set *s, source_file *f, include_stack *st);

/* `include "name"`, relative to the including file's directory. */
static void source_include(source_set *s, source_file *from, ast_def *inc, include_stack *st)
{
    const char *name = inc->name;
    if (name[0] == '\0') {
        diag_error(inc->name_loc, "empty file name in include");
        return;
    }
    char *path;
    const char *slash = strrchr(from->path, '/');
    if (name[0] == '/' || !slash) {
        path = arena_strdup(s->arena, name);
    } else {
        size_t dir = (size_t)(slash - from->path) + 1;
        path = arena_alloc(s->arena, dir + strlen(name) + 1);
        memcpy(path, from->path, dir);
        strcpy(path + dir, name);
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        diag_error(inc->name_loc, "cannot include '%s': %s", path, strerror(errno));
        return;
    }
    if (!S_ISREG(sb.st_mode)) {
        diag_error(inc->name_loc, "cannot include '%s': not a regular file", path);
        return;
    }
    source_file *f = source_find(s, sb.st_dev, sb.st_ino);
    if (f && f->loading) {
        /* Reported where the cycle begins: the include, in the file that
         * comes round again, that leads into it. */
        char chain[512];
        size_t len = 0;
        int start = 0;
        while (start < st->depth - 1 && st->file[start] != f)
            start++;
        for (int i = start; i < st->depth && len < sizeof chain; i++)
            len += (size_t)snprintf(chain + len, sizeof chain - len, "%s -> ",
                                    st->file[i]->path);
        if (len < sizeof chain)
            snprintf(chain + len, sizeof chain - len, "%s", f->path);
        const ast_def *first = start < st->depth - 1 ? st->inc[start] : inc;
        diag_error(first->name_loc, "include cycle: %s", chain);
        if (first != inc)
            diag_note(inc->name_loc, "the cycle closes here");
        return;
    }
    if (f && !f->parsed) {      /* named on the command line, not yet parsed */
        st->inc[st->depth - 1] = inc;
        source_parse(s, f, st);
    }
    if (!f) {
        if (st->depth >= SOURCE_MAX_DEPTH) {
            diag_error(inc->name_loc, "includes nested more than %d deep", SOURCE_MAX_DEPTH);
            return;
        }
        size_t len;
        const char *why;
        char *text = source_read(s, path, &len, &why);
        if (!text) {
            diag_error(inc->name_loc, "cannot include '%s': %s", path, why);
            return;
        }
        f = source_add(s, path, text, len);
        f->dev = sb.st_dev;
        f->ino = sb.st_ino;
        st->inc[st->depth - 1] = inc;
        source_parse(s, f, st);
    }
    inc->included = f;
    source_file **more = arena_alloc(s->arena, sizeof *more * (size_t)(from->n_includes + 1));
    if (from->n_includes)
        memcpy(more, from->includes, sizeof *more * (size_t)from->n_includes);
    more[from->n_includes++] = f;
    from->includes = more;
}

static void source_parse(source_set *s, source_file *f, include_stack *st)
{
    f->loading = 1;
    f->parsed = 1;
    st->file[st->depth++] = f;
    f->defs = parse_source(f, s->arena);
    for (ast_def *d = f->defs; d; d = d->next)
        if (d->kind == DEF_INCLUDE)
            source_include(s, f, d, st);
    st->depth--;
    f->loading = 0;
}

source_file *source_load(source_set *s, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        diag_fatal("cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        diag_fatal("cannot read '%s': not a regular file", path);
        return NULL;
    }
    source_file *f = source_find(s, sb.st_dev, sb.st_ino);
    if (!f) {
        size_t len;
        const char *why;
        char *text = source_read(s, path, &len, &why);
        if (!text) {
            diag_fatal("cannot read '%s': %s", path, why);
            return NULL;
        }
        f = source_add(s, path, text, len);
        f->dev = sb.st_dev;
        f->ino = sb.st_ino;
    }
    f->on_command_line = 1;
    return f;
}

source_file *source_add_text(source_set *s, const char *name, const char *text)
{
    size_t len = strlen(text);
    return source_add(s, name, arena_strndup(s->arena, text, len), len);
}

source_file *source_load_text(source_set *s, const char *name, const char *text)
{
    source_file *f = source_add_text(s, name, text);
    f->on_command_line = 1;
    return f;
}

void source_parse_all(source_set *s)
{
    /* files read as includes are appended while this runs; they are
     * parsed where they are included */
    for (int i = 0; i < s->n_files; i++)
        if (s->files[i]->on_command_line && !s->files[i]->parsed) {
            include_stack st = { .depth = 0 };
            source_parse(s, s->files[i], &st);
        }
}

static unsigned long long fnv1a(unsigned long long h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static unsigned long long hash_into(unsigned long long h, const source_file *f)
{
    h = fnv1a(h, f->text, f->len);
    for (int i = 0; i < f->n_includes; i++)
        if (f->includes[i])
            h = hash_into(h, f->includes[i]);
    return h;
}

unsigned long long source_hash(const source_file *f)
{
    return f && f->text ? hash_into(0xcbf29ce484222325ULL, f) : 0;
}
