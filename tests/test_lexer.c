/* test_lexer.c - the tokens of spec text: keywords, numbers, dimensions,
 * strings, where newlines end statements, locations, and lexical errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "diag.h"
#include "source.h"
#include "parser.h"
#include "lexer.h"

enum { MAX_TOKENS = 64 };

typedef struct lexed {
    int n;
    int tok[MAX_TOKENS];
    YYSTYPE val[MAX_TOKENS];
    YYLTYPE loc[MAX_TOKENS];
    arena arena;
    source_set sources;
} lexed;

/* Tokenizes `text`; the values stay valid until lexed_free. */
static void lex(lexed *x, const char *text)
{
    memset(x, 0, sizeof *x);
    arena_init(&x->arena);
    source_set_init(&x->sources, &x->arena);
    source_file *f = source_add_text(&x->sources, "t.net", text);
    struct lex_state ls;
    memset(&ls, 0, sizeof ls);
    ls.file = f;
    ls.arena = &x->arena;
    ls.line = ls.col = 1;
    yyscan_t sc;
    assert_int_equal(yylex_init_extra(&ls, &sc), 0);
    YY_BUFFER_STATE b = yy_scan_bytes(f->text, (int)f->len, sc);
    for (;;) {
        YYSTYPE v;
        YYLTYPE l;
        int t = yylex(&v, &l, sc);
        if (t == 0)
            break;
        assert_true(x->n < MAX_TOKENS);
        x->tok[x->n] = t;
        x->val[x->n] = v;
        x->loc[x->n] = l;
        x->n++;
    }
    yy_delete_buffer(b, sc);
    yylex_destroy(sc);
}

static void lexed_free(lexed *x)
{
    source_set_free(&x->sources);
    arena_free(&x->arena);
}

static void expect_tokens(const lexed *x, const int *want, int n)
{
    for (int i = 0; i < n && i < x->n; i++)
        if (x->tok[i] != want[i])
            fail_msg("token %d is %d, expected %d", i, x->tok[i], want[i]);
    assert_int_equal(x->n, n);
}

static FILE *devnull;

static int setup(void **state)
{
    (void)state;
    devnull = fopen("/dev/null", "w");
    diag_reset(devnull);
    return devnull ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fclose(devnull);
    return 0;
}

static void test_keywords_and_names(void **state)
{
    (void)state;
    lexed x;
    lex(&x, "model modelx include macro patch input classes train attack ensemble "
            "replace with quantize regularize insert before after augment _x9");
    int want[] = { KW_MODEL, IDENT, KW_INCLUDE, KW_MACRO, KW_PATCH, KW_INPUT, KW_CLASSES,
                   KW_TRAIN, KW_ATTACK, KW_ENSEMBLE, KW_REPLACE, KW_WITH, KW_QUANTIZE,
                   KW_REGULARIZE, KW_INSERT, KW_BEFORE, KW_AFTER, KW_AUGMENT, IDENT };
    expect_tokens(&x, want, (int)(sizeof want / sizeof want[0]));
    assert_string_equal(x.val[1].str, "modelx");
    assert_string_equal(x.val[18].str, "_x9");
    lexed_free(&x);
}

static void test_numbers(void **state)
{
    (void)state;
    lexed x;
    lex(&x, "8 0.5 1e-4 .25 2. 3E+2 8/255");
    int want[] = { NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, '/', NUMBER };
    expect_tokens(&x, want, 9);
    double v[] = { 8, 0.5, 1e-4, 0.25, 2, 300, 8, 0, 255 };
    for (int i = 0; i < 9; i++)
        if (x.tok[i] == NUMBER)
            assert_true(fabs(x.val[i].num - v[i]) < 1e-15);
    lexed_free(&x);
}

static void test_dimensions(void **state)
{
    (void)state;
    lexed x;
    lex(&x, "3x32x32 1x28x28 3x xy");
    int want[] = { DIMS, DIMS, NUMBER, IDENT, IDENT };
    expect_tokens(&x, want, 5);
    assert_string_equal(x.val[0].str, "3x32x32");
    assert_string_equal(x.val[1].str, "1x28x28");
    assert_string_equal(x.val[3].str, "x");
    lexed_free(&x);
}

static void test_arrow_and_operators(void **state)
{
    (void)state;
    lexed x;
    lex(&x, "a->b - c*(d)/e+f=g,h;{}");
    int want[] = { IDENT, ARROW, IDENT, '-', IDENT, '*', '(', IDENT, ')', '/', IDENT, '+',
                   IDENT, '=', IDENT, ',', IDENT, ';', '{', '}' };
    expect_tokens(&x, want, (int)(sizeof want / sizeof want[0]));
    lexed_free(&x);
}

static void test_newlines_end_statements(void **state)
{
    (void)state;
    lexed x;
    /* Blank lines collapse into one end of line. */
    lex(&x, "a\n\n\nb\n");
    int want1[] = { IDENT, NEWLINE, IDENT, NEWLINE };
    expect_tokens(&x, want1, 4);
    lexed_free(&x);
    /* A line goes on after '->', ',', '=' and operators, and inside (). */
    lex(&x, "a ->\n b\n(1,\n 2\n)\nc =\n 1 +\n 2");
    int want2[] = { IDENT, ARROW, IDENT, NEWLINE, '(', NUMBER, ',', NUMBER, ')', NEWLINE,
                    IDENT, '=', NUMBER, '+', NUMBER };
    expect_tokens(&x, want2, (int)(sizeof want2 / sizeof want2[0]));
    lexed_free(&x);
}

static void test_comments_and_strings(void **state)
{
    (void)state;
    lexed x;
    lex(&x, "a # a comment -> b \"c\"\ninclude \"dir/x.net\" # more\r\nb");
    int want[] = { IDENT, NEWLINE, KW_INCLUDE, STRING, NEWLINE, IDENT };
    expect_tokens(&x, want, 6);
    assert_string_equal(x.val[3].str, "dir/x.net");
    lexed_free(&x);
}

static void test_locations(void **state)
{
    (void)state;
    lexed x;
    lex(&x, "model m {\n  conv 32 5\n\tx\n}");
    /* model m { NL conv 32 5 NL x NL } */
    assert_int_equal(x.n, 11);
    assert_int_equal(x.loc[0].first_line, 1);
    assert_int_equal(x.loc[0].first_column, 1);
    assert_int_equal(x.loc[2].first_column, 9);
    assert_int_equal(x.loc[4].first_line, 2);
    assert_int_equal(x.loc[4].first_column, 3);
    assert_int_equal(x.loc[6].first_column, 11);
    assert_int_equal(x.loc[8].first_line, 3);
    assert_int_equal(x.loc[8].first_column, 2);    /* a tab is one column */
    assert_int_equal(x.loc[10].first_line, 4);
    lexed_free(&x);
}

static void test_lexical_errors(void **state)
{
    (void)state;
    lexed x;
    diag_reset(devnull);
    lex(&x, "a @ b\n\"open\nc 1e999 \x01");
    /* Stray characters are skipped; an unterminated string is still a
     * string; a number too large is still a number. */
    int want[] = { IDENT, IDENT, NEWLINE, STRING, NEWLINE, IDENT, NUMBER };
    expect_tokens(&x, want, 7);
    assert_string_equal(x.val[3].str, "open");
    assert_int_equal(diag_count(), 4);
    assert_string_equal(diag_get(0)->message, "unexpected character '@'");
    assert_int_equal(diag_get(0)->col, 3);
    assert_string_equal(diag_get(1)->message, "unterminated string");
    assert_int_equal(diag_get(1)->line, 2);
    assert_string_equal(diag_get(2)->message, "number '1e999' is out of range");
    assert_string_equal(diag_get(3)->message, "unexpected byte 0x01");
    lexed_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords_and_names),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_dimensions),
        cmocka_unit_test(test_arrow_and_operators),
        cmocka_unit_test(test_newlines_end_statements),
        cmocka_unit_test(test_comments_and_strings),
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_lexical_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
