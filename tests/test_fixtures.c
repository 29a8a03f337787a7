/* test_fixtures.c - every malformed spec in tests/fixtures/bad (or
 * $FIXTURES_DIR) must fail with the error its first line announces,
 *     # expect: LINE:COL: error: SUBSTRING
 * at that line and column of that file, and must write nothing; every spec
 * in tests/fixtures/good (or $GOOD_FIXTURES_DIR) must compile cleanly.
 * Subdirectories (inc/: files the fixtures include) are not fixtures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "driver.h"
#include "frontend.h"

typedef struct fixture {
    char path[1024];
    int line, col;
    char substring[512];
} fixture;

static int is_fixture(const char *dir, const char *name, char *path, size_t size)
{
    size_t n = strlen(name);
    if (n < 5 || strcmp(name + n - 4, ".net") != 0)
        return 0;
    snprintf(path, size, "%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* The first line: "# expect: LINE:COL: error: SUBSTRING". */
static void read_expectation(fixture *f)
{
    FILE *fp = fopen(f->path, "r");
    assert_non_null(fp);
    char line[1024] = "";
    if (!fgets(line, sizeof line, fp))
        line[0] = '\0';
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    int used = 0;
    if (sscanf(line, "# expect: %d:%d: error: %n", &f->line, &f->col, &used) != 2 || used == 0)
        fail_msg("%s: first line is not '# expect: LINE:COL: error: SUBSTRING'", f->path);
    snprintf(f->substring, sizeof f->substring, "%s", line + used);
    assert_true(f->substring[0] != '\0');
}

static void test_bad_fixture(void **state)
{
    fixture *f = *state;
    read_expectation(f);

    char out_dir[] = "/tmp/advcc-fixture-XXXXXX";
    assert_non_null(mkdtemp(out_dir));
    FILE *messages = tmpfile();
    assert_non_null(messages);
    diag_reset(messages);
    char *files[] = { f->path };
    advcc_options o = { files, 1, out_dir, 0, 1, messages, 0 };
    int rc = advcc_run(&o);

    int found = 0;
    for (int i = 0; i < diag_kept(); i++) {
        const diag_record *r = diag_get(i);
        if (strcmp(r->file, f->path) == 0 && r->line == f->line && r->col == f->col &&
            strstr(r->message, f->substring))
            found = 1;
    }
    if (!found) {
        const diag_record *r = diag_get(0);
        fail_msg("%s: expected %d:%d: error: %s\n  got %d error(s), the first: %s:%d:%d: %s",
                 f->path, f->line, f->col, f->substring, diag_count(),
                 r ? r->file : "-", r ? r->line : 0, r ? r->col : 0, r ? r->message : "-");
    }
    assert_int_equal(rc, 1);
    /* The message went out as file:line:col: error: ..., with a caret. */
    rewind(messages);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, messages);
    text[n] = '\0';
    char head[1200];
    snprintf(head, sizeof head, "%s:%d:%d: error: ", f->path, f->line, f->col);
    assert_non_null(strstr(text, head));
    assert_non_null(strchr(text, '^'));
    fclose(messages);
    /* Nothing written, not even a temporary file. */
    assert_int_equal(count_entries(out_dir), 0);
    rmdir(out_dir);
}

static void test_good_fixture(void **state)
{
    fixture *f = *state;
    FILE *messages = tmpfile();
    assert_non_null(messages);
    diag_reset(messages);
    frontend fe;
    frontend_init(&fe);
    char *files[] = { f->path };
    int rc = frontend_compile(&fe, files, 1);
    if (rc != 0) {
        const diag_record *r = diag_get(0);
        fail_msg("%s does not compile: %s:%d:%d: %s", f->path, r ? r->file : "-",
                 r ? r->line : 0, r ? r->col : 0, r ? r->message : "-");
    }
    assert_true(fe.program.n_models > 0);
    frontend_free(&fe);
    fclose(messages);
}

/* One test case per fixture file of `dir`. */
static int collect(const char *dir, CMUnitTestFunction fn, struct CMUnitTest **tests,
                   int *n, int *cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "test_fixtures: cannot open %s\n", dir);
        return -1;
    }
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d))) {
        fixture *f = calloc(1, sizeof *f);
        if (!f || !is_fixture(dir, e->d_name, f->path, sizeof f->path)) {
            free(f);
            continue;
        }
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 64;
            *tests = realloc(*tests, sizeof **tests * (size_t)*cap);
        }
        struct CMUnitTest t = { f->path, fn, NULL, NULL, f };
        (*tests)[(*n)++] = t;
        found++;
    }
    closedir(d);
    return found;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct CMUnitTest *)a)->name, ((const struct CMUnitTest *)b)->name);
}

int main(void)
{
    const char *bad = getenv("FIXTURES_DIR");
    const char *good = getenv("GOOD_FIXTURES_DIR");
    struct CMUnitTest *tests = NULL;
    int n = 0, cap = 0;
    int n_bad = collect(bad ? bad : "tests/fixtures/bad", test_bad_fixture, &tests, &n, &cap);
    int n_good = collect(good ? good : "tests/fixtures/good", test_good_fixture, &tests, &n, &cap);
    if (n_bad < 0 || n_good < 0 || n == 0)
        return 1;
    qsort(tests, (size_t)n, sizeof *tests, by_name);
    int failed = _cmocka_run_group_tests("fixtures", tests, (size_t)n, NULL, NULL);
    for (int i = 0; i < n; i++)
        free((void *)tests[i].initial_state);
    free(tests);
    return failed;
}
