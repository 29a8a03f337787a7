/* parse.h - the parser's entry point (the grammar is parser.y, the tokens
 * lexer.l).  Parses one file into its list of definitions, allocated in the
 * arena; syntax errors are reported through diag and the parser goes on at
 * the next statement. */
#ifndef ADVCC_PARSE_H
#define ADVCC_PARSE_H

#include "arena.h"
#include "source.h"

struct ast_def *parse_source(source_file *f, arena *a);

#endif
