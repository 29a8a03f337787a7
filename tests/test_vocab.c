/* test_vocab.c - the shared name tables (runtime/vocab.h): every name
 * maps to its enum value and back, the spec's choice strings are the same
 * names in the same order, and an unknown name or value is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "vocab.h"

typedef struct table {
    const char *what;
    const char *(*name)(int);
    int (*by_name)(const char *);
    const char *choices;    /* ADVCC_CHOICES of the list */
    int n;                  /* how many names the enum has */
} table;

static const table tables[] = {
    { "init", advcc_init_name, advcc_init_by_name, ADVCC_CHOICES(ADVCC_INIT_NAMES), 3 },
    { "clip", advcc_clip_name, advcc_clip_by_name, ADVCC_CHOICES(ADVCC_CLIP_NAMES), 2 },
    { "norm", advcc_norm_name, advcc_norm_by_name, ADVCC_CHOICES(ADVCC_NORM_NAMES), 2 },
    { "method", advcc_method_name, advcc_method_by_name, ADVCC_CHOICES(ADVCC_METHOD_NAMES), 5 },
    { "loss", advcc_loss_name, advcc_loss_by_name, ADVCC_CHOICES(ADVCC_LOSS_NAMES), 3 },
    { "aa_version", advcc_aa_version_name, advcc_aa_version_by_name,
      ADVCC_CHOICES(ADVCC_AA_VERSION_NAMES), 3 },
};

/* name -> value -> name for every value, and the names joined by '|' are
 * the spec's choices. */
static void test_round_trip(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        const table *tb = &tables[t];
        char joined[256] = "";
        for (int v = 0; v < tb->n; v++) {
            const char *s = tb->name(v);
            if (!s)
                fail_msg("%s: no name for %d", tb->what, v);
            if (tb->by_name(s) != v)
                fail_msg("%s: '%s' gives %d, not %d", tb->what, s, tb->by_name(s), v);
            snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s",
                     v ? "|" : "", s);
        }
        assert_string_equal(joined, tb->choices);
        assert_null(tb->name(tb->n));
        assert_null(tb->name(-1));
    }
}

static void test_unknown(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        const table *tb = &tables[t];
        assert_int_equal(tb->by_name("nonsense"), -1);
        assert_int_equal(tb->by_name(""), -1);
        assert_int_equal(tb->by_name(NULL), -1);
        /* names are matched whole and by case */
        char upper[32], longer[40];
        snprintf(upper, sizeof upper, "%s", tb->name(0));
        upper[0] = (char)(upper[0] - 'a' + 'A');
        snprintf(longer, sizeof longer, "%sx", tb->name(0));
        assert_int_equal(tb->by_name(upper), -1);
        assert_int_equal(tb->by_name(longer), -1);
    }
}

/* The enums the generated code and the CLI store are the tables' order. */
static void test_enum_values(void **state)
{
    (void)state;
    assert_int_equal(advcc_init_by_name("gaussian"), ADVCC_INIT_GAUSSIAN);
    assert_int_equal(advcc_init_by_name("uniform"), ADVCC_INIT_UNIFORM);
    assert_int_equal(advcc_norm_by_name("l2"), ADVCC_L2);
    assert_int_equal(advcc_clip_by_name("normalized"), ADVCC_CLIP_NORMALIZED);
    assert_int_equal(advcc_method_by_name("fab"), ADVCC_ATTACK_FAB);
    assert_int_equal(advcc_method_by_name("autoattack"), ADVCC_ATTACK_AUTOATTACK);
    assert_string_equal(ADVCC_VERSION, "advcc " ADVCC_VERSION_NUMBER);
    assert_int_equal(ADVCC_EXIT_DIVERGED, 3);
    assert_int_equal(ADVCC_EXIT_SANITY, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_enum_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
