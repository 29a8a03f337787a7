/* test_json_write.c - result files through Jansson (json_write.h): numbers
 * at the precision they carry and read back as written, strings that are
 * not UTF-8, the file written whole. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "json_write.h"
#include "scratch.h"

static int setup(void **state)
{
    *state = scratch_make();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    scratch_remove(*state);
    return 0;
}

/* The file path holds exactly want and a newline. */
static void expect_file(const char *path, const char *want)
{
    size_t len;
    char *text = (char *)file_read(path, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(want) + 1);
    assert_memory_equal(text, want, len - 1);
    assert_int_equal(text[len - 1], '\n');
    free(text);
}

static void test_numbers(void **state)
{
    char path[4096];
    scratch_path(path, sizeof path, *state, "n.json");
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                          "eps", jw_sig(8 / 255.0, 9), "eps_255", jw_sig(8 / 255.0 * 255, 6),
                          "acc", jw_fixed(8123 / 10000.0, 6), "one", jw_fixed(1, 6),
                          "s", jw_fixed(12.3456, 3), "tiny", jw_sig(1e-7, 6),
                          "big", jw_sig(123456789, 9), "neg", jw_sig(-2.5, 6),
                          "nan", jw_sig(NAN, 9), "inf", jw_fixed(-INFINITY, 6));
    assert_int_equal(jw_write(path, o), 0);
    expect_file(path, "{\"eps\":0.031372549,\"eps_255\":8,\"acc\":0.8123,\"one\":1.0,"
                      "\"s\":12.346,\"tiny\":1e-7,\"big\":123456789,\"neg\":-2.5,"
                      "\"nan\":null,\"inf\":null}");

    /* read back, each is the number %g or %f printed */
    json_error_t je;
    json_t *r = json_load_file(path, 0, &je);
    assert_non_null(r);
    assert_true(json_real_value(json_object_get(r, "eps")) == strtod("0.031372549", NULL));
    assert_true(json_real_value(json_object_get(r, "acc")) == 0.8123);
    assert_int_equal(json_integer_value(json_object_get(r, "eps_255")), 8);
    json_decref(r);
}

static void test_strings(void **state)
{
    char path[4096];
    scratch_path(path, sizeof path, *state, "s.json");
    json_t *o = json_pack("{s:o, s:o, s:o}", "quote", jw_str("a\"b\\c\n"),
                          "latin1", jw_str("caf\xe9"), "none", jw_str(NULL));
    o = jw_merge(o, json_pack("{s:s}", "last", "x"));
    assert_int_equal(jw_write(path, o), 0);
    expect_file(path, "{\"quote\":\"a\\\"b\\\\c\\n\",\"latin1\":\"caf?\",\"none\":\"\","
                      "\"last\":\"x\"}");
}

/* A NULL object (what a failed json_pack gives) writes nothing. */
static void test_failures(void **state)
{
    char path[4096];
    scratch_path(path, sizeof path, *state, "f.json");
    assert_null(jw_merge(json_object(), NULL));
    assert_null(jw_merge(NULL, json_object()));
    errno = 0;
    assert_int_equal(jw_write(path, NULL), -1);
    assert_int_equal(errno, ENOMEM);
    assert_int_equal(access(path, F_OK), -1);
    scratch_path(path, sizeof path, *state, "no/such/dir.json");
    assert_int_equal(jw_write(path, json_object()), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(scratch_count(*state, ".tmp"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
