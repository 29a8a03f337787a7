/* test_parser.c - the syntax tree the grammar builds, syntax errors and
 * their messages, recovery after an error, and inputs meant to break it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "parse.h"
#include "source.h"

typedef struct parsed {
    arena arena;
    source_set sources;
    ast_def *defs;
} parsed;

static FILE *messages;

static ast_def *parse(parsed *p, const char *text)
{
    arena_init(&p->arena);
    source_set_init(&p->sources, &p->arena);
    source_file *f = source_add_text(&p->sources, "t.net", text);
    diag_reset(messages);
    p->defs = parse_source(f, &p->arena);
    return p->defs;
}

static void parsed_free(parsed *p)
{
    source_set_free(&p->sources);
    arena_free(&p->arena);
}

/* Everything diag printed since the last parse. */
static const char *printed(void)
{
    static char buf[8192];
    fflush(messages);
    long n = ftell(messages);
    rewind(messages);
    size_t got = fread(buf, 1, sizeof buf - 1, messages);
    buf[got] = '\0';
    (void)n;
    return buf;
}

static int setup(void **state)
{
    (void)state;
    messages = tmpfile();
    return messages ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fclose(messages);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    fclose(messages);
    messages = tmpfile();
    return messages ? 0 : -1;
}

static void test_definitions(void **state)
{
    (void)state;
    parsed p;
    ast_def *d = parse(&p,
        "# a comment\n"
        "include \"patches.net\"\n"
        "macro block(c, k) {\n"
        "  conv c k pad=same -> batchnorm -> relu -> avgpool 2\n"
        "}\n"
        "model base {\n"
        "  input 3x32x32 classes 10\n"
        "  block(32, 5) -> block(64, 5)\n"
        "  flatten\n"
        "  linear 10\n"
        "}\n"
        "model adv_quant = base + adv + quant\n"
        "patch p { train adversarial }\n");
    assert_int_equal(diag_count(), 0);
    assert_int_equal(ast_list_length(d), 5);
    assert_int_equal(d->kind, DEF_INCLUDE);
    assert_string_equal(d->name, "patches.net");
    assert_int_equal(d->loc.line, 2);

    d = d->next;
    assert_int_equal(d->kind, DEF_MACRO);
    assert_string_equal(d->name, "block");
    assert_int_equal(ast_list_length(d->params), 2);
    assert_string_equal(d->params->name, "c");
    assert_string_equal(d->params->next->name, "k");
    assert_int_equal(ast_list_length(d->body), 1);
    ast_layer *l = d->body->layers;
    assert_int_equal(ast_list_length(l), 4);
    assert_string_equal(l->kind, "conv");
    assert_int_equal(l->loc.line, 4);
    assert_int_equal(l->loc.col, 3);
    assert_string_equal(l->loc.text, "  conv c k pad=same -> batchnorm -> relu -> avgpool 2");
    assert_string_equal(l->next->next->next->kind, "avgpool");

    d = d->next;
    assert_int_equal(d->kind, DEF_MODEL);
    assert_string_equal(d->name, "base");
    ast_stmt *s = d->body;
    assert_int_equal(ast_list_length(s), 4);
    assert_int_equal(s->kind, ST_INPUT);
    assert_string_equal(s->word, "3x32x32");
    assert_int_equal(s->value->kind, EX_NUM);
    assert_true(s->value->num == 10);
    s = s->next;
    assert_int_equal(s->kind, ST_CHAIN);
    assert_int_equal(ast_list_length(s->layers), 2);
    assert_true(s->layers->is_call);
    assert_int_equal(ast_list_length(s->layers->call_args), 2);
    assert_true(s->layers->call_args->next->num == 5);

    d = d->next;
    assert_int_equal(d->kind, DEF_COMPOSE);
    assert_string_equal(d->name, "adv_quant");
    assert_int_equal(ast_list_length(d->parts), 3);
    assert_string_equal(d->parts->name, "base");
    assert_string_equal(d->parts->next->next->name, "quant");

    d = d->next;
    assert_int_equal(d->kind, DEF_PATCH);
    assert_int_equal(d->body->kind, ST_TRAIN);
    assert_string_equal(d->body->word, "adversarial");
    parsed_free(&p);
}

static void test_arguments(void **state)
{
    (void)state;
    parsed p;
    ast_def *d = parse(&p, "model m { conv c k pad=same name=x; normalize mean=(1, 2, 3) std=0.5 }");
    assert_int_equal(diag_count(), 0);
    ast_layer *l = d->body->layers;
    ast_arg *a = l->args;
    assert_int_equal(ast_list_length(a), 4);
    assert_null(a->key);
    assert_int_equal(a->value->kind, EX_NAME);
    assert_string_equal(a->value->str, "c");
    assert_null(a->next->key);
    assert_string_equal(a->next->next->key, "pad");
    assert_string_equal(a->next->next->value->str, "same");
    assert_string_equal(a->next->next->next->key, "name");
    l = d->body->next->layers;
    a = l->args;
    assert_int_equal(a->value->kind, EX_TUPLE);
    assert_int_equal(ast_list_length(a->value->lhs), 3);
    assert_true(a->value->lhs->next->next->num == 3);
    assert_int_equal(a->next->value->kind, EX_NUM);
    parsed_free(&p);
}

/* A tuple may follow a positional argument: `conv 64 (1, 3)` takes the
 * pair as its second; right after the layer's name it is a macro call. */
static void test_positional_tuples(void **state)
{
    (void)state;
    parsed p;
    ast_def *d = parse(&p, "macro s(c, k) { conv c (k, 1) pad=same -> conv 2*c (1, k+1) "
                           "stride=(1, 2) }");
    assert_int_equal(diag_count(), 0);
    ast_layer *l = d->body->layers;
    ast_arg *a = l->args;
    assert_int_equal(ast_list_length(a), 3);
    assert_null(a->next->key);
    assert_int_equal(a->next->value->kind, EX_TUPLE);
    assert_int_equal(a->next->value->loc.col, 24);
    assert_int_equal(ast_list_length(a->next->value->lhs), 2);
    assert_string_equal(a->next->value->lhs->str, "k");
    a = l->next->args;
    assert_int_equal(a->value->kind, EX_MUL);
    assert_int_equal(a->next->value->kind, EX_TUPLE);
    assert_int_equal(a->next->value->lhs->next->kind, EX_ADD);
    assert_string_equal(a->next->next->key, "stride");
    assert_int_equal(a->next->next->value->kind, EX_TUPLE);
    parsed_free(&p);

    d = parse(&p, "model m { conv (1, 3) }");
    assert_int_equal(diag_count(), 0);
    assert_true(d->body->layers->is_call);
    assert_int_equal(ast_list_length(d->body->layers->call_args), 2);
    parsed_free(&p);

    /* a tuple of one is a parenthesised number, not a positional */
    parse(&p, "model m { conv 4 (3) }");
    assert_int_equal(diag_count(), 1);
    parsed_free(&p);
}

static void test_expressions(void **state)
{
    (void)state;
    parsed p;
    ast_def *d = parse(&p, "model m { attack pgd eps=8/255 alpha=1+2*3 steps=-(1-2) restarts=2*c+1 }");
    assert_int_equal(diag_count(), 0);
    ast_arg *a = d->body->args;
    assert_int_equal(a->value->kind, EX_DIV);
    assert_true(a->value->lhs->num == 8 && a->value->rhs->num == 255);
    a = a->next;    /* 1 + (2 * 3) */
    assert_int_equal(a->value->kind, EX_ADD);
    assert_int_equal(a->value->rhs->kind, EX_MUL);
    a = a->next;    /* -(1 - 2) */
    assert_int_equal(a->value->kind, EX_NEG);
    assert_int_equal(a->value->lhs->kind, EX_SUB);
    a = a->next;    /* (2 * c) + 1 */
    assert_int_equal(a->value->kind, EX_ADD);
    assert_int_equal(a->value->lhs->kind, EX_MUL);
    assert_string_equal(a->value->lhs->rhs->str, "c");
    /* Positional arguments are expressions too; `conv 2*c 3` has two. */
    parsed_free(&p);
    d = parse(&p, "macro b(c) { conv 2*c 3 }");
    assert_int_equal(diag_count(), 0);
    a = d->body->layers->args;
    assert_int_equal(ast_list_length(a), 2);
    assert_int_equal(a->value->kind, EX_MUL);
    parsed_free(&p);
}

static void test_patch_statements(void **state)
{
    (void)state;
    parsed p;
    ast_def *d = parse(&p,
        "patch p {\n"
        "  replace relu, conv2 with dtrelu bits=8\n"
        "  quantize conv, linear bits=4 range=fixed lo=-1 hi=1\n"
        "  regularize conv orthogonal form=4 weight=1e-4\n"
        "  insert noise sigma=0.1 first=0.2 before conv\n"
        "  insert relu after fc1\n"
        "  ensemble 5 average=probs\n"
        "}\n");
    assert_int_equal(diag_count(), 0);
    ast_stmt *s = d->body;
    assert_int_equal(s->kind, ST_REPLACE);
    assert_int_equal(ast_list_length(s->targets), 2);
    assert_string_equal(s->targets->next->name, "conv2");
    assert_string_equal(s->layers->kind, "dtrelu");
    s = s->next;
    assert_int_equal(s->kind, ST_QUANTIZE);
    assert_int_equal(ast_list_length(s->targets), 2);
    assert_int_equal(ast_list_length(s->args), 4);
    s = s->next;
    assert_int_equal(s->kind, ST_REGULARIZE);
    assert_string_equal(s->word, "orthogonal");
    assert_int_equal(ast_list_length(s->targets), 1);
    s = s->next;
    assert_int_equal(s->kind, ST_INSERT);
    assert_false(s->after);
    assert_string_equal(s->layers->kind, "noise");
    assert_int_equal(ast_list_length(s->layers->args), 2);
    assert_string_equal(s->targets->name, "conv");
    s = s->next;
    assert_true(s->after);
    s = s->next;
    assert_int_equal(s->kind, ST_ENSEMBLE);
    assert_int_equal(ast_list_length(s->args), 2);
    parsed_free(&p);
}

static void test_error_message_and_caret(void **state)
{
    (void)state;
    parsed p;
    parse(&p, "model m {\n  input 3x32x32 classes 10\n\tconv 3 3 -> -> relu\n}\n");
    assert_int_equal(diag_count(), 1);
    const diag_record *r = diag_get(0);
    assert_int_equal(r->line, 3);
    assert_int_equal(r->col, 14);
    assert_string_equal(r->message, "unexpected '->', expected a layer");
    /* The line as written, and a caret under column 14 (the tab kept). */
    assert_string_equal(printed(),
        "t.net:3:14: error: unexpected '->', expected a layer\n"
        "  \tconv 3 3 -> -> relu\n"
        "  \t            ^\n");
    parsed_free(&p);
}

static void test_recovery_reports_several_errors(void **state)
{
    (void)state;
    parsed p;
    ast_def *d = parse(&p,
        "model m {\n"
        "  input 3x32x32 10\n"          /* missing 'classes' */
        "  conv 3 3 -> -> relu\n"       /* two arrows */
        "  linear 10\n"
        "}\n"
        "model = x\n"                   /* no name */
        "model n { input 1x2x2 classes 2; flatten; linear 2 }\n");
    assert_int_equal(diag_count(), 3);
    assert_int_equal(diag_get(0)->line, 2);
    assert_string_equal(diag_get(0)->message, "unexpected '10', expected 'classes'");
    assert_int_equal(diag_get(1)->line, 3);
    assert_int_equal(diag_get(2)->line, 6);
    /* The good statements and definitions around the errors survive. */
    assert_int_equal(ast_list_length(d), 2);
    assert_int_equal(ast_list_length(d->body), 1);
    assert_string_equal(d->body->layers->kind, "linear");
    assert_string_equal(d->next->name, "n");
    parsed_free(&p);
}

static void test_unterminated_block(void **state)
{
    (void)state;
    parsed p;
    parse(&p, "macro b(c) { relu }\nmodel m {\n  input 3x3x3 classes 2\n  flatten\n");
    assert_int_equal(diag_count(), 1);
    assert_int_equal(diag_get(0)->line, 2);
    assert_int_equal(diag_get(0)->col, 9);
    assert_string_equal(diag_get(0)->message, "unterminated block: this '{' has no matching '}'");
    parsed_free(&p);
}

static void test_empty_and_blank_files(void **state)
{
    (void)state;
    parsed p;
    assert_null(parse(&p, ""));
    assert_int_equal(diag_count(), 0);
    parsed_free(&p);
    assert_null(parse(&p, "\n\n# only a comment\n;;\n"));
    assert_int_equal(diag_count(), 0);
    parsed_free(&p);
}

/* Inputs that must give errors, never a crash. */
static void test_hostile_inputs(void **state)
{
    (void)state;
    parsed p;
    enum { DEEP = 100000 };
    char *text = malloc(3 * DEEP + 64);
    assert_non_null(text);
    /* Parentheses nested far deeper than the parser's stack. */
    char *q = text + sprintf(text, "model m { attack pgd eps=");
    for (int i = 0; i < DEEP; i++)
        *q++ = '(';
    strcpy(q, "1 }");
    parse(&p, text);
    assert_true(diag_count() >= 1);
    assert_non_null(strstr(diag_get(0)->message, "nesting too deep"));
    parsed_free(&p);
    /* A very long name, and a long chain. */
    memset(text, 'a', 2 * DEEP);
    strcpy(text + 2 * DEEP, " x");
    parse(&p, text);
    assert_int_equal(diag_count(), 1);
    parsed_free(&p);
    q = text + sprintf(text, "model m {");
    for (int i = 0; i < DEEP / 4; i++)
        q += sprintf(q, "r->");
    strcpy(q, "r }");
    parse(&p, text);
    assert_int_equal(diag_count(), 0);
    assert_int_equal(ast_list_length(p.defs->body->layers), DEEP / 4 + 1);
    parsed_free(&p);
    /* Every prefix of a good spec: errors at worst. */
    const char *spec =
        "macro block(c, k) { conv c k pad=same -> batchnorm -> relu -> avgpool 2 }\n"
        "model baseline {\n input 3x32x32 classes 10\n"
        " normalize mean=(0.4914, 0.4822, 0.4465) std=(0.2470, 0.2435, 0.2616)\n"
        " block(32, 5) -> block(64, 5)\n flatten\n linear 10\n"
        " attack pgd eps=8/255 alpha=2/255 \"x\"\n}\nmodel a = baseline + adv\n";
    size_t len = strlen(spec);
    for (size_t n = 0; n <= len; n++) {
        memcpy(text, spec, n);
        text[n] = '\0';
        parse(&p, text);
        parsed_free(&p);
    }
    /* Random bytes. */
    srand(7);
    for (int round = 0; round < 200; round++) {
        int n = rand() % 400;
        for (int i = 0; i < n; i++) {
            int c = rand() % 256;
            text[i] = (char)(c ? c : ' ');
        }
        text[n] = '\0';
        parse(&p, text);
        parsed_free(&p);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_definitions, reset),
        cmocka_unit_test_setup(test_arguments, reset),
        cmocka_unit_test_setup(test_positional_tuples, reset),
        cmocka_unit_test_setup(test_expressions, reset),
        cmocka_unit_test_setup(test_patch_statements, reset),
        cmocka_unit_test_setup(test_error_message_and_caret, reset),
        cmocka_unit_test_setup(test_recovery_reports_several_errors, reset),
        cmocka_unit_test_setup(test_unterminated_block, reset),
        cmocka_unit_test_setup(test_empty_and_blank_files, reset),
        cmocka_unit_test_setup(test_hostile_inputs, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
