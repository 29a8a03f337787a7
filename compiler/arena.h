/* arena.h - a bump allocator for the front end.  The syntax tree, the
 * spelling of every name and every source file's text live in one arena and
 * are released together, so no stage has to free what it builds. */
#ifndef ADVCC_ARENA_H
#define ADVCC_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;
typedef struct arena {
    arena_block *blocks;
} arena;

void arena_init(arena *a);
void arena_free(arena *a);
/* Zeroed memory aligned for any type; aborts when memory runs out. */
void *arena_alloc(arena *a, size_t size);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_strdup(arena *a, const char *s);

#endif
