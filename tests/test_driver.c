/* test_driver.c - one compiler run end to end: the files it writes for the
 * models of the files named, models.mk, and that a spec with an error, or
 * files that define no model, write nothing and leave no temporary file
 * behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diag.h"
#include "driver.h"
#include "scratch.h"

static FILE *quiet;
static char specs[1024];

static int setup(void **state)
{
    (void)state;
    const char *d = getenv("SPECS_DIR");
    snprintf(specs, sizeof specs, "%s", d ? d : "specs");
    quiet = tmpfile();
    return quiet ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fclose(quiet);
    return 0;
}

static int run(char **files, int n, const char *out_dir, int shapes)
{
    diag_reset(quiet);
    advcc_options o = { files, n, out_dir, shapes, 1, quiet, 0 };
    return advcc_run(&o);
}

static char *read_text(const char *dir, const char *name)
{
    char path[2048];
    size_t len;
    unsigned char *data = file_read(scratch_path(path, sizeof path, dir, name), &len);
    if (!data)
        return NULL;
    char *text = realloc(data, len + 1);
    text[len] = '\0';
    return text;
}

static void test_writes_models_of_named_files(void **state)
{
    (void)state;
    char *dir = scratch_make();
    assert_non_null(dir);
    char out[2048], adv[1100], base[1100];
    snprintf(out, sizeof out, "%s/gen/nested", dir);
    snprintf(adv, sizeof adv, "%s/adv.net", specs);
    snprintf(base, sizeof base, "%s/baseline.net", specs);
    char *files[] = { adv, base };
    assert_int_equal(run(files, 2, out, 0), 0);
    /* adv.net includes patches.net, which defines no model. */
    assert_int_equal(scratch_count(out, ""), 2 + 7);
    const char *names[] = { "adv.c", "adv.h", "baseline.c", "baseline.h", "adv.json",
                            "baseline.json" };
    for (int i = 0; i < 6; i++) {
        char *text = read_text(out, names[i]);
        assert_non_null(text);
        assert_true(strlen(text) > 0);
        free(text);
    }
    /* the description (compiler/describe_json.h), also in the C */
    char *json = read_text(out, "adv.json");
    assert_non_null(strstr(json, "\"base\": \"baseline\",\n  \"patches\": [\n    \"adv\"\n  ],\n"
                                 "  \"adversarial\": true,"));
    assert_non_null(strstr(json, "\"dataset\": \"cifar10\""));
    free(json);
    json = read_text(out, "baseline.json");
    assert_non_null(strstr(json, "\"base\": \"baseline\",\n  \"patches\": [],"));
    assert_non_null(strstr(json, "\"train_attack\": null"));
    free(json);
    char *c = read_text(out, "adv.c");
    assert_non_null(strstr(c, "const char advcc_model_adv_json[] =\n    \"{\\\"format\\\":"));
    free(c);
    char *mk = read_text(out, "models.mk");
    assert_non_null(mk);
    assert_non_null(strstr(mk, "\nMODELS := adv baseline\n"));
    free(mk);
    assert_int_equal(scratch_count(out, ".XXXXXX"), 0);

    /* A spec with an error leaves everything as it was. */
    char bad[2048];
    scratch_path(bad, sizeof bad, dir, "bad.net");
    const char *text = "include \"other/baseline.net\"\nmodel baseline2 = baseline + nothing\n";
    assert_int_equal(file_write(bad, text, strlen(text)), 0);
    char *before = read_text(out, "baseline.c");
    char *files2[] = { base, bad };
    assert_int_equal(run(files2, 2, out, 0), 1);
    assert_int_equal(scratch_count(out, ""), 2 + 7);
    char *after = read_text(out, "baseline.c");
    assert_string_equal(before, after);
    free(before);
    free(after);
    scratch_remove(dir);
}

static void test_shapes_alone_writes_nothing(void **state)
{
    (void)state;
    char *dir = scratch_make();
    assert_non_null(dir);
    char base[1100];
    snprintf(base, sizeof base, "%s/baseline.net", specs);
    char *files[] = { base };
    assert_int_equal(run(files, 1, NULL, 1), 0);
    assert_int_equal(scratch_count(dir, ""), 2);
    /* The table went to the output stream. */
    fflush(quiet);
    assert_true(ftell(quiet) > 0);
    scratch_remove(dir);
}

static void test_unwritable_output(void **state)
{
    (void)state;
    char base[1100];
    snprintf(base, sizeof base, "%s/baseline.net", specs);
    char *files[] = { base };
    assert_int_equal(run(files, 1, "/proc/advcc-cannot-be-here", 0), 1);
    assert_true(diag_count() > 0);
}

/* Files that define no model (only patches, or nothing at all) are an
 * error that names them, and nothing is written; beside a file that does
 * define one (make names patches.net with every other spec) they are fine. */
static void test_no_model_is_nothing_to_compile(void **state)
{
    (void)state;
    char *dir = scratch_make();
    assert_non_null(dir);
    char patches[1100], base[1100], empty[2048], out[2048], printed[4096];
    snprintf(patches, sizeof patches, "%s/patches.net", specs);
    snprintf(base, sizeof base, "%s/baseline.net", specs);
    scratch_path(empty, sizeof empty, dir, "empty.net");
    assert_int_equal(file_write(empty, "", 0), 0);
    scratch_path(out, sizeof out, dir, "gen");

    FILE *err = tmpfile();
    assert_non_null(err);
    diag_reset(err);
    char *files[] = { patches, empty };
    advcc_options o = { files, 2, out, 0, 0, err, 0 };
    assert_int_equal(advcc_run(&o), 1);
    assert_int_equal(diag_count(), 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(diag_get(i)->file, files[i]);
        assert_int_equal(diag_get(i)->line, 0);
        assert_string_equal(diag_get(i)->message, "no model defined; nothing to compile");
    }
    rewind(err);
    size_t n = fread(printed, 1, sizeof printed - 1, err);
    printed[n] = '\0';
    fclose(err);
    char want[2200];
    snprintf(want, sizeof want, "%s: error: no model defined; nothing to compile\n", patches);
    assert_contains(printed, want);
    assert_null(strstr(printed, "written to"));
    /* Not even the output directory was made; the scratch one holds only
     * empty.net. */
    struct stat sb;
    assert_int_not_equal(stat(out, &sb), 0);
    assert_int_equal(scratch_count(dir, ""), 2 + 1);

    /* --shapes alone has nothing to show either. */
    char *one[] = { empty };
    assert_int_equal(run(one, 1, NULL, 1), 1);
    assert_int_equal(diag_count(), 1);

    /* Named beside a file that defines a model, patches.net is fine. */
    char *both[] = { base, patches };
    assert_int_equal(run(both, 2, out, 0), 0);
    char *mk = read_text(out, "models.mk");
    assert_non_null(mk);
    assert_non_null(strstr(mk, "\nMODELS := baseline\n"));
    free(mk);
    scratch_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_models_of_named_files),
        cmocka_unit_test(test_shapes_alone_writes_nothing),
        cmocka_unit_test(test_unwritable_output),
        cmocka_unit_test(test_no_model_is_nothing_to_compile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
