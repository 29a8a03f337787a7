/* parser.y - the grammar of spec files (pure Bison, with locations).
 *
 *   file    := def { sep def }                       sep := newline | ';'
 *   def     := include "path"
 *            | macro NAME [( [NAME {, NAME}] )] block
 *            | model NAME block | model NAME = NAME { + NAME }
 *            | patch NAME block
 *   block   := '{' stmt { sep stmt } '}'
 *   stmt    := input DIMS classes expr | layer { -> layer }
 *            | train NAME args | attack NAME args | ensemble args
 *            | augment args
 *            | replace targets with layer | quantize targets args
 *            | regularize targets NAME args
 *            | insert layer (before | after) targets
 *   layer   := NAME args | NAME ( [expr {, expr}] )   (a macro call)
 *            | residual block [shortcut block]         (chains only)
 *   args    := { arg [tuple] }
 *   arg     := pexpr | NAME = value
 *   value   := expr | "string" | tuple
 *   tuple   := ( expr , expr {, expr} )
 *
 * A positional argument (pexpr) may not begin with '(' or '-': `block(1)`
 * is a macro call and `conv 3 -1` would be ambiguous.  A tuple may follow
 * an argument (`conv 64 (1, 3)`), never the layer's name.  Every statement may
 * be empty.  After a syntax error the parser skips to the end of the line
 * and goes on, so one run reports several errors; the `error` rules sit in
 * both the item and the list, so that skipping never drops the statements
 * parsed before the error. */
%define api.pure full
%locations
%define parse.error custom
%define parse.lac full
%param {yyscan_t scanner}
/* On the token `error` only: an empty item or the list may take it; the
 * shift (the item) is the intended choice. */
%expect 4

%code requires {
#include "arena.h"
#include "ast.h"
#include "source.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

enum { LEX_MAX_BRACES = 64 };

/* What the lexer and the parser share for one file. */
struct lex_state {
    source_file *file;
    arena *arena;
    int line, col;          /* of the next character */
    int paren;              /* open parentheses */
    int last, prev;         /* the last two tokens */
    char text[48];          /* the last token's spelling, for messages */
    int bad, bad_next;      /* the lexer reported the last (next) token */
    int braces;             /* open braces, and where they opened */
    ir_loc brace_loc[LEX_MAX_BRACES];
    ast_def *defs;          /* the result */
};
}

%union {
    double num;
    const char *str;
    ast_expr *expr;
    ast_arg *arg;
    ast_layer *layer;
    ast_name *name;
    ast_stmt *stmt;
    ast_def *def;
}

%code {
#include <string.h>

#include "diag.h"
#include "lexer.h"
#include "parse.h"

#define PS (yyget_extra(scanner))
#define AR (PS->arena)
#define LOC(l) parse_loc(PS, &(l))

static ir_loc parse_loc(const struct lex_state *ls, const YYLTYPE *l)
{
    ir_loc loc = { ls->file->path, l->first_line, l->first_column,
                   source_line(ls->file, l->first_line) };
    return loc;
}

static void yyerror(const YYLTYPE *loc, yyscan_t scanner, const char *msg);

/* Prepends `item` (which may be NULL) to a list built backwards; every
 * node type begins with its `next` link. */
static void *prepend(void *list, void *item)
{
    if (!item)
        return list;
    *(void **)item = list;
    return item;
}
#define PREPEND(list, item) prepend((list), (item))
}

%token <str> IDENT "name" STRING "string" DIMS "dimensions"
%token <num> NUMBER "number"
%token ARROW "'->'" NEWLINE "end of line"
%token KW_INCLUDE "'include'" KW_MACRO "'macro'" KW_MODEL "'model'"
%token KW_PATCH "'patch'" KW_INPUT "'input'" KW_CLASSES "'classes'"
%token KW_TRAIN "'train'" KW_ATTACK "'attack'" KW_ENSEMBLE "'ensemble'"
%token KW_AUGMENT "'augment'"
%token KW_REPLACE "'replace'" KW_WITH "'with'" KW_QUANTIZE "'quantize'"
%token KW_REGULARIZE "'regularize'" KW_INSERT "'insert'"
%token KW_BEFORE "'before'" KW_AFTER "'after'"
%token KW_RESIDUAL "'residual'" KW_SHORTCUT "'shortcut'"

%type <def> defs def_opt def
%type <stmt> block stmts stmt_opt stmt
%type <layer> chain layer
%type <arg> args arg
%type <expr> value tuple exprs exprs_opt expr term factor pexpr pterm pfactor
%type <name> names names_opt parts

%%

file
    : defs                      { PS->defs = ast_list_reverse($1); }
    ;
defs
    : def_opt                   { $$ = $1; }
    | defs sep def_opt          { $$ = PREPEND($1, $3); }
    | defs error                { $$ = $1; }
    ;
sep : NEWLINE | ';' ;
def_opt
    : %empty                    { $$ = NULL; }
    | def
    | error                     { $$ = NULL; }
    ;
def
    : KW_INCLUDE STRING {
        $$ = ast_def_new(AR, DEF_INCLUDE, LOC(@1));
        $$->name = $2;
        $$->name_loc = LOC(@2);
      }
    | KW_MACRO IDENT '(' names_opt ')' block {
        $$ = ast_def_new(AR, DEF_MACRO, LOC(@1));
        $$->name = $2;
        $$->name_loc = LOC(@2);
        $$->params = $4;
        $$->body = $6;
      }
    | KW_MACRO IDENT block {
        $$ = ast_def_new(AR, DEF_MACRO, LOC(@1));
        $$->name = $2;
        $$->name_loc = LOC(@2);
        $$->body = $3;
      }
    | KW_MODEL IDENT block {
        $$ = ast_def_new(AR, DEF_MODEL, LOC(@1));
        $$->name = $2;
        $$->name_loc = LOC(@2);
        $$->body = $3;
      }
    | KW_MODEL IDENT '=' IDENT parts {
        $$ = ast_def_new(AR, DEF_COMPOSE, LOC(@1));
        $$->name = $2;
        $$->name_loc = LOC(@2);
        ast_name *base = ast_name_new(AR, $4, LOC(@4));
        base->next = ast_list_reverse($5);
        $$->parts = base;
      }
    | KW_PATCH IDENT block {
        $$ = ast_def_new(AR, DEF_PATCH, LOC(@1));
        $$->name = $2;
        $$->name_loc = LOC(@2);
        $$->body = $3;
      }
    ;
parts
    : %empty                    { $$ = NULL; }
    | parts '+' IDENT           { $$ = PREPEND($1, ast_name_new(AR, $3, LOC(@3))); }
    ;
block
    : '{' stmts '}'             { $$ = ast_list_reverse($2); }
    ;
stmts
    : stmt_opt                  { $$ = $1; }
    | stmts sep stmt_opt        { $$ = PREPEND($1, $3); }
    | stmts error               { $$ = $1; }
    ;
stmt_opt
    : %empty                    { $$ = NULL; }
    | stmt
    | error                     { $$ = NULL; }
    ;
stmt
    : KW_INPUT DIMS KW_CLASSES expr {
        $$ = ast_stmt_new(AR, ST_INPUT, LOC(@1));
        $$->word = $2;
        $$->word_loc = LOC(@2);
        $$->value = $4;
      }
    | chain {
        $$ = ast_stmt_new(AR, ST_CHAIN, LOC(@1));
        $$->layers = ast_list_reverse($1);
      }
    | KW_TRAIN IDENT args {
        $$ = ast_stmt_new(AR, ST_TRAIN, LOC(@1));
        $$->word = $2;
        $$->word_loc = LOC(@2);
        $$->args = ast_list_reverse($3);
      }
    | KW_ATTACK IDENT args {
        $$ = ast_stmt_new(AR, ST_ATTACK, LOC(@1));
        $$->word = $2;
        $$->word_loc = LOC(@2);
        $$->args = ast_list_reverse($3);
      }
    | KW_ENSEMBLE args {
        $$ = ast_stmt_new(AR, ST_ENSEMBLE, LOC(@1));
        $$->args = ast_list_reverse($2);
      }
    | KW_AUGMENT args {
        $$ = ast_stmt_new(AR, ST_AUGMENT, LOC(@1));
        $$->args = ast_list_reverse($2);
      }
    | KW_REPLACE names KW_WITH layer {
        $$ = ast_stmt_new(AR, ST_REPLACE, LOC(@1));
        $$->targets = ast_list_reverse($2);
        $$->layers = $4;
      }
    | KW_QUANTIZE names args {
        $$ = ast_stmt_new(AR, ST_QUANTIZE, LOC(@1));
        $$->targets = ast_list_reverse($2);
        $$->args = ast_list_reverse($3);
      }
    | KW_REGULARIZE names IDENT args {
        $$ = ast_stmt_new(AR, ST_REGULARIZE, LOC(@1));
        $$->targets = ast_list_reverse($2);
        $$->word = $3;
        $$->word_loc = LOC(@3);
        $$->args = ast_list_reverse($4);
      }
    | KW_INSERT layer KW_BEFORE names {
        $$ = ast_stmt_new(AR, ST_INSERT, LOC(@1));
        $$->layers = $2;
        $$->targets = ast_list_reverse($4);
      }
    | KW_INSERT layer KW_AFTER names {
        $$ = ast_stmt_new(AR, ST_INSERT, LOC(@1));
        $$->layers = $2;
        $$->targets = ast_list_reverse($4);
        $$->after = 1;
      }
    ;
chain
    : layer                     { $$ = $1; }
    | chain ARROW layer         { $$ = PREPEND($1, $3); }
    ;
layer
    : IDENT args {
        $$ = ast_layer_new(AR, $1, LOC(@1));
        $$->args = ast_list_reverse($2);
      }
    | IDENT '(' exprs_opt ')' {
        $$ = ast_layer_new(AR, $1, LOC(@1));
        $$->is_call = 1;
        $$->call_args = $3;
      }
    | KW_RESIDUAL block {
        $$ = ast_layer_new(AR, "residual", LOC(@1));
        $$->is_residual = 1;
        $$->main_path = $2;
      }
    | KW_RESIDUAL block KW_SHORTCUT block {
        $$ = ast_layer_new(AR, "residual", LOC(@1));
        $$->is_residual = 1;
        $$->main_path = $2;
        $$->shortcut = $4;
        $$->shortcut_loc = LOC(@3);
      }
    ;
args
    : %empty                    { $$ = NULL; }
    | args arg                  { $$ = PREPEND($1, $2); }
    | args arg tuple {
        $$ = PREPEND(PREPEND($1, $2), ast_arg_new(AR, NULL, $3, LOC(@3)));
      }
    ;
arg
    : pexpr                     { $$ = ast_arg_new(AR, NULL, $1, LOC(@1)); }
    | IDENT '=' value           { $$ = ast_arg_new(AR, $1, $3, LOC(@1)); }
    ;
value
    : expr
    | STRING {
        $$ = ast_expr_new(AR, EX_STR, LOC(@1));
        $$->str = $1;
      }
    | tuple
    ;
tuple
    : '(' expr ',' exprs ')' {
        $$ = ast_expr_new(AR, EX_TUPLE, LOC(@1));
        $2->next = ast_list_reverse($4);
        $$->lhs = $2;
      }
    ;
names_opt
    : %empty                    { $$ = NULL; }
    | names                     { $$ = ast_list_reverse($1); }
    ;
names
    : IDENT                     { $$ = ast_name_new(AR, $1, LOC(@1)); }
    | names ',' IDENT           { $$ = PREPEND($1, ast_name_new(AR, $3, LOC(@3))); }
    ;
exprs_opt
    : %empty                    { $$ = NULL; }
    | exprs                     { $$ = ast_list_reverse($1); }
    ;
exprs
    : expr                      { $$ = $1; }
    | exprs ',' expr            { $$ = PREPEND($1, $3); }
    ;
expr
    : expr '+' term             { $$ = ast_expr_binary(AR, EX_ADD, LOC(@2), $1, $3); }
    | expr '-' term             { $$ = ast_expr_binary(AR, EX_SUB, LOC(@2), $1, $3); }
    | term
    ;
term
    : term '*' factor           { $$ = ast_expr_binary(AR, EX_MUL, LOC(@2), $1, $3); }
    | term '/' factor           { $$ = ast_expr_binary(AR, EX_DIV, LOC(@2), $1, $3); }
    | factor
    ;
factor
    : pfactor
    | '(' expr ')'              { $$ = $2; }
    | '-' factor                { $$ = ast_expr_binary(AR, EX_NEG, LOC(@1), $2, NULL); }
    | '+' factor                { $$ = $2; }
    ;
pexpr
    : pexpr '+' term            { $$ = ast_expr_binary(AR, EX_ADD, LOC(@2), $1, $3); }
    | pexpr '-' term            { $$ = ast_expr_binary(AR, EX_SUB, LOC(@2), $1, $3); }
    | pterm
    ;
pterm
    : pterm '*' factor          { $$ = ast_expr_binary(AR, EX_MUL, LOC(@2), $1, $3); }
    | pterm '/' factor          { $$ = ast_expr_binary(AR, EX_DIV, LOC(@2), $1, $3); }
    | pfactor
    ;
pfactor
    : NUMBER {
        $$ = ast_expr_new(AR, EX_NUM, LOC(@1));
        $$->num = $1;
      }
    | IDENT {
        $$ = ast_expr_new(AR, EX_NAME, LOC(@1));
        $$->str = $1;
      }
    ;

%%

/* How a token is named in a message: its text where it has one. */
static const char *parse_token_desc(yysymbol_kind_t k, const struct lex_state *ls,
                                    char *buf, size_t size)
{
    switch (k) {
    case YYSYMBOL_YYEOF: return "end of file";
    case YYSYMBOL_NEWLINE: return "end of line";
    case YYSYMBOL_YYUNDEF: return "invalid token";
    default: break;
    }
    if (ls->text[0]) {
        snprintf(buf, size, "'%s'", ls->text);
        return buf;
    }
    return yysymbol_name(k);
}

/* How an expected token is named: by what belongs there. */
static const char *parse_expected_desc(yysymbol_kind_t k, const struct lex_state *ls)
{
    switch (k) {
    case YYSYMBOL_IDENT:
        return ls->prev == ARROW ? "a layer" : "a name";
    case YYSYMBOL_KW_RESIDUAL: return "a layer";   /* a block is one */
    case YYSYMBOL_NUMBER: return "a number";
    case YYSYMBOL_STRING: return "a string";
    case YYSYMBOL_DIMS: return "dimensions such as 3x32x32";
    default: return yysymbol_name(k);
    }
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner)
{
    struct lex_state *ls = PS;
    yysymbol_kind_t tok = yypcontext_token(ctx);
    const YYLTYPE *where = yypcontext_location(ctx);
    enum { MAX_EXPECTED = 6 };
    yysymbol_kind_t expected[MAX_EXPECTED];
    int n = yypcontext_expected_tokens(ctx, expected, MAX_EXPECTED);

    if (ls->bad)
        return 0;       /* the lexer has said what is wrong with this token */
    if (tok == YYSYMBOL_YYEOF && ls->braces > 0) {
        int i = ls->braces <= LEX_MAX_BRACES ? ls->braces - 1 : LEX_MAX_BRACES - 1;
        diag_error(ls->brace_loc[i], "unterminated block: this '{' has no matching '}'");
        return 0;
    }
    char buf[96], msg[400];
    int len = snprintf(msg, sizeof msg, "unexpected %s",
                       parse_token_desc(tok, ls, buf, sizeof buf));
    /* Name what belongs there, not every token that could: ';' goes with
     * end of line, and where a number may start, "a number" covers names,
     * signs and '('; operators that could continue an expression are
     * seldom what is missing. */
    int number = 0, others = 0;
    for (int i = 0; i < n; i++) {
        number |= expected[i] == YYSYMBOL_NUMBER;
        others |= expected[i] != '+' && expected[i] != '-' && expected[i] != '*'
                  && expected[i] != '/';
    }
    const char *names[MAX_EXPECTED];
    int m = 0;
    for (int i = 0; i < n; i++) {
        const char *sym = yysymbol_name(expected[i]);
        if (expected[i] == YYSYMBOL_YYerror || expected[i] == YYSYMBOL_YYUNDEF
            || strcmp(sym, "';'") == 0)
            continue;
        int op = strlen(sym) == 3 && strchr("+-*/", sym[1]);
        if (op && others)
            continue;
        if (number && (expected[i] == YYSYMBOL_IDENT || strcmp(sym, "'('") == 0 || op))
            continue;
        const char *d = parse_expected_desc(expected[i], ls);
        int dup = 0;
        for (int j = 0; j < m; j++)
            dup |= strcmp(names[j], d) == 0;
        if (!dup)
            names[m++] = d;
    }
    if (n > 0 && m <= 4)
        for (int i = 0; i < m && len > 0 && (size_t)len < sizeof msg; i++)
            len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%s",
                            i == 0 ? ", expected " : i == m - 1 ? " or " : ", ",
                            names[i]);
    diag_error(LOC(*where), "%s", msg);
    return 0;
}

static void yyerror(const YYLTYPE *loc, yyscan_t scanner, const char *msg)
{
    if (strstr(msg, "memory exhausted"))
        diag_error(LOC(*loc), "nesting too deep");
    else
        diag_error(LOC(*loc), "%s", msg);
}

ast_def *parse_source(source_file *f, arena *a)
{
    struct lex_state ls;
    memset(&ls, 0, sizeof ls);
    ls.file = f;
    ls.arena = a;
    ls.line = 1;
    ls.col = 1;
    yyscan_t scanner;
    if (yylex_init_extra(&ls, &scanner) != 0) {
        diag_fatal("cannot start the lexer for %s", f->path);
        return NULL;
    }
    YY_BUFFER_STATE buf = yy_scan_bytes(f->text, (int)f->len, scanner);
    yyparse(scanner);
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    for (ast_def *d = ls.defs; d; d = d->next)
        d->file = f;
    return ls.defs;
}
