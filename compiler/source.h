/* source.h - spec files: reading them, their lines (for locations and
 * error messages), and `include`: resolving a path against the including
 * file's directory, reading each file once however it is reached, and
 * refusing include cycles.  A source set owns every file it read. */
#ifndef ADVCC_SOURCE_H
#define ADVCC_SOURCE_H

#include <stddef.h>
#include <sys/types.h>
#include "arena.h"

struct ast_def;

typedef struct source_file {
    const char *path;           /* as given, or joined to the includer's dir */
    const char *text;           /* the contents, NUL-terminated */
    size_t len;
    const char **lines;         /* lines[i] is line i + 1, without newline */
    int n_lines;
    dev_t dev;                  /* identity: a file reached by two paths */
    ino_t ino;                  /*   is read once; 0/0 for text in memory */
    int index;                  /* in its source set */
    int on_command_line;        /* its models are emitted */
    int loading;                /* its includes are being read */
    int parsed;                 /* source_parse_all reached it */
    struct ast_def *defs;       /* the parsed definitions, in order */
    struct source_file **includes;
    int n_includes;
} source_file;

typedef struct source_set {
    arena *arena;
    source_file **files;        /* in the order they were read */
    int n_files, cap;
} source_set;

void source_set_init(source_set *s, arena *a);
void source_set_free(source_set *s);

/* Reads a file named on the command line (once, however many paths name
 * it).  Errors are reported through diag; returns NULL when the file cannot
 * be read. */
source_file *source_load(source_set *s, const char *path);
/* The same for spec text held in memory; its includes are resolved
 * against the directory of `name`. */
source_file *source_load_text(source_set *s, const char *name, const char *text);

/* Parses every file loaded and, depth first, reads and parses what each
 * includes (relative to the including file), refusing include cycles. */
void source_parse_all(source_set *s);

/* Adds text held in memory as a file without parsing it (for tests of the
 * lexer and parser). */
source_file *source_add_text(source_set *s, const char *name, const char *text);

/* FNV-1a (64 bits) of the text of f and, depth first, of every file it
 * includes: the spec's hash in a model's provenance. */
unsigned long long source_hash(const source_file *f);

/* Line `line` (from 1) of f, or "" past the end. */
const char *source_line(const source_file *f, int line);

#endif
