/* test_numparse.c - the one strict reader of numbers typed by people
 * (runtime/numparse.c): decimal only, finite, in range, and a reason for
 * every refusal. */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "numparse.h"

static void expect_bad(const char *s, unsigned flags, double lo, double hi, const char *why)
{
    char buf[128] = "";
    double v = -7;
    if (num_parse(s, flags, lo, hi, &v, buf, sizeof buf) != -1)
        fail_msg("'%s' accepted as %g", s, v);
    if (strcmp(buf, why))
        fail_msg("'%s': got \"%s\", want \"%s\"", s, buf, why);
    assert_true(v == -7);
}

static void test_accepts(void **state)
{
    (void)state;
    static const struct { const char *s; double v; } ok[] = {
        {"0", 0}, {"-3", -3}, {"+2", 2}, {"0.5", 0.5}, {".25", 0.25}, {"1.", 1},
        {"1e-4", 1e-4}, {"2E3", 2000}, {"8/255", 8.0 / 255}, {"-0", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v;
        char why[64];
        if (num_parse(ok[i].s, NUM_RATIO, -DBL_MAX, DBL_MAX, &v, why, sizeof why) != 0)
            fail_msg("'%s' refused: %s", ok[i].s, why);
        assert_true(v == ok[i].v);
    }
    long n;
    assert_int_equal(num_parse_long("2147483647", 0, 2147483647L, &n, NULL, 0), 0);
    assert_int_equal(n, 2147483647L);
    assert_int_equal(num_parse_long("-12", -20, 0, &n, NULL, 0), 0);
    assert_int_equal(n, -12);
}

static void test_refuses(void **state)
{
    (void)state;
    const char *dec = "is not a decimal number";
    const char *bad[] = {"inf", "-inf", "nan", "NaN", "infinity", "0x10", "0X1p3", " 1",
                         "1 ", "1e", "e5", ".", "-", "1,5", "1..2", "1e+", "--1", "1/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i], NUM_RATIO, -DBL_MAX, DBL_MAX, dec);
    expect_bad("", 0, 0, 1, "is empty, not a number");
    expect_bad("1e999", 0, -DBL_MAX, DBL_MAX, "is out of range");
    expect_bad("-1e400", 0, -DBL_MAX, DBL_MAX, "is out of range");
    expect_bad("1/0", NUM_RATIO, -DBL_MAX, DBL_MAX, "divides by zero");
    expect_bad("8/255", 0, 0, 1, dec);
    expect_bad("2.5", NUM_INT, 0, 10, "is not a whole number");
    expect_bad("0", NUM_LO_OPEN, 0, 1e6, "must be greater than 0 and at most 1e+06");
    expect_bad("2", 0, 0, 1, "must be between 0 and 1");
    expect_bad("-1", 0, 0, DBL_MAX, "must be at least 0");
    expect_bad("-1", NUM_LO_OPEN, 0, DBL_MAX, "must be greater than 0");
    expect_bad("5", 0, -DBL_MAX, 1, "must be at most 1");

    char why[96];
    long n = -7;
    assert_int_equal(num_parse_long("99999999999999999999", 0, 10, &n, why, sizeof why), -1);
    assert_string_equal(why, "must be between 0 and 10");
    assert_int_equal(num_parse_long("1e3", 0, 10000, &n, why, sizeof why), -1);
    assert_string_equal(why, "is not a whole number");
    assert_int_equal(num_parse_long("0x10", 0, 100, &n, why, sizeof why), -1);
    assert_string_equal(why, "is not a decimal number");
    assert_int_equal(num_parse_long("", 0, 100, &n, why, sizeof why), -1);
    assert_int_equal(num_parse_long("-", 0, 100, &n, why, sizeof why), -1);
    assert_int_equal(num_parse_long("2147483648", 0, 2147483647L, &n, why, sizeof why), -1);
    assert_string_equal(why, "must be between 0 and 2147483647");
    assert_int_equal(n, -7);
}

/* A long input is read in time linear in its length. */
static void test_long(void **state)
{
    (void)state;
    size_t len = 1 << 20;
    char *s = malloc(len + 1);
    memset(s, '1', len);
    s[len] = 0;
    double v;
    char why[64];
    assert_int_equal(num_parse(s, 0, -DBL_MAX, DBL_MAX, &v, why, sizeof why), -1);
    assert_string_equal(why, "is out of range");
    s[0] = '0';
    s[1] = '.';
    assert_int_equal(num_parse(s, 0, -DBL_MAX, DBL_MAX, &v, why, sizeof why), 0);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_refuses),
        cmocka_unit_test(test_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
