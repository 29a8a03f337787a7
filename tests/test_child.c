/* test_child.c - running another program (runtime/child.c): the exit
 * status comes back, stdout goes where it is sent, the working directory
 * is the one asked for, and a program that is not there exits 127. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "child.h"

static void test_exit_status(void **state)
{
    (void)state;
    char *ok[] = { "sh", "-c", "exit 0", NULL };
    char *five[] = { "sh", "-c", "exit 5", NULL };
    assert_int_equal(child_exit_code(child_run(ok, NULL)), 0);
    assert_int_equal(child_exit_code(child_run(five, NULL)), 5);
    char *killed[] = { "sh", "-c", "kill -9 $$", NULL };
    int st = child_run(killed, NULL);
    assert_true(st >= 0 && WIFSIGNALED(st));
    assert_int_equal(child_exit_code(st), -1);
}

/* stdout into a file, stderr left alone; the child runs in dir. */
static void test_redirect_and_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/advcc-child-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[64];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    char *argv[] = { "sh", "-c", "echo hello; pwd", NULL };
    child_opts o = { NULL, dir, fd, -1, 0, NULL };
    assert_int_equal(child_exit_code(child_run(argv, &o)), 0);
    close(fd);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[256], want[128];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "hello\n");
    assert_non_null(fgets(line, sizeof line, f));
    char *real = realpath(dir, NULL);
    snprintf(want, sizeof want, "%s\n", real);
    assert_string_equal(line, want);
    fclose(f);
    free(real);
    unlink(out);
    rmdir(dir);
}

/* A missing program exits 127 and says so when asked to; a missing
 * directory 126. */
static void test_missing(void **state)
{
    (void)state;
    char log[] = "/tmp/advcc-child-log-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    char *argv[] = { "/nonexistent/advcc-no-such-program", NULL };
    child_opts o = { NULL, NULL, -1, fd, 0, "advcc-test" };
    assert_int_equal(child_exit_code(child_run(argv, &o)), 127);
    char *bare[] = { "advcc-no-such-program-either", NULL };
    assert_int_equal(child_exit_code(child_run(bare, NULL)), 127);
    char *ok[] = { "true", NULL };
    child_opts nodir = { NULL, "/nonexistent/dir", -1, -1, 0, NULL };
    assert_int_equal(child_exit_code(child_run(ok, &nodir)), 126);
    char buf[256] = "";
    assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
    close(fd);
    unlink(log);
    assert_non_null(strstr(buf, "advcc-test: cannot run /nonexistent/advcc-no-such-program: "));
    /* file overrides argv[0]: argv[0] is what the program sees */
    char *named[] = { "whatever", "-c", "exit 7", NULL };
    child_opts sh = { "sh", NULL, -1, -1, 0, NULL };
    assert_int_equal(child_exit_code(child_run(named, &sh)), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_redirect_and_dir),
        cmocka_unit_test(test_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
