/* test_npy.c - .npy files: round trips, the header's exact text and 64-byte
 * alignment, float64 input, NumPy itself reading what we write and writing
 * what we read (when /usr/bin/python3 has numpy), and every malformed
 * header the reader must refuse with the file and offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include "npy.h"
#include "scratch.h"

static char errbuf[1024];

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

/* The header's declared length, checking the fixed part of the preamble. */
static size_t header_len(const unsigned char *b)
{
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    return (size_t)b[8] | (size_t)b[9] << 8;
}

static void round_trip(const char *dir, int ndim, const int *shape,
                       const char *shape_text)
{
    char path[4096];
    scratch_path(path, sizeof path, dir, "a.npy");
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    real_t *a = malloc(count * sizeof *a);
    for (size_t i = 0; i < count; i++)
        a[i] = (real_t)((double)i * 0.37 - 11.0);
    assert_int_equal(npy_write(path, a, ndim, shape, errbuf, sizeof errbuf), 0);

    size_t len;
    unsigned char *file = file_read(path, &len);
    assert_non_null(file);
    size_t hl = header_len(file);
    assert_int_equal((10 + hl) % 64, 0);
    assert_int_equal(len, 10 + hl + 4 * count);
    assert_int_equal(file[10 + hl - 1], '\n');
    char want[256];
    snprintf(want, sizeof want,
             "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
             shape_text);
    assert_memory_equal(file + 10, want, strlen(want));
    for (size_t i = 10 + strlen(want); i < 10 + hl - 1; i++)
        assert_int_equal(file[i], ' ');
    /* The first value, little-endian float32. */
    if (count) {
        float f0 = (float)a[0];
        uint32_t u;
        memcpy(&u, &f0, 4);
        const unsigned char *d = file + 10 + hl;
        assert_int_equal(d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24,
                         u);
    }
    free(file);

    real_t *b = NULL;
    int nd = -1, sh[8];
    assert_int_equal(npy_read(path, &b, &nd, sh, errbuf, sizeof errbuf), 0);
    assert_int_equal(nd, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(sh[i], shape[i]);
    for (size_t i = 0; i < count; i++)
        assert_true(b[i] == (real_t)(float)a[i]);
    free(a);
    free(b);
    assert_int_equal(scratch_count(dir, ".tmp."), 0);
}

static void test_round_trip(void **state)
{
    round_trip(*state, 1, (int[]){5}, "(5,)");
    round_trip(*state, 4, (int[]){2, 3, 4, 5}, "(2, 3, 4, 5)");
    round_trip(*state, 2, (int[]){1000, 37}, "(1000, 37)");
    round_trip(*state, 0, NULL, "()");
    round_trip(*state, 2, (int[]){0, 3}, "(0, 3)");
    /* A long shape pushes the header past one 64-byte block. */
    round_trip(*state, 8, (int[]){1, 2, 1, 2, 1, 2, 1, 2},
               "(1, 2, 1, 2, 1, 2, 1, 2)");
}

/* An .npy file assembled by hand: dict text, padded as NumPy pads it. */
static void write_npy(const char *path, int major, const char *dict,
                      const void *data, size_t len)
{
    unsigned char buf[4096];
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64;
    size_t hl = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hl - dl - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, len);
    assert_int_equal(file_write(path, buf, total + len), 0);
}

static void test_read_f8(void **state)
{
    char path[4096];
    scratch_path(path, sizeof path, *state, "d.npy");
    double v[6] = {0.5, -1.25, 3.0, 1e-3, 7.0, -0.0};
    unsigned char le[48];
    for (int i = 0; i < 6; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        for (int k = 0; k < 8; k++)
            le[8 * i + k] = (unsigned char)(u >> (8 * k));
    }
    /* Keys in another order, a version 2.0 preamble, no trailing comma. */
    write_npy(path, 2, "{'shape': (3, 2), 'fortran_order': False, "
              "'descr': '<f8'}", le, sizeof le);
    real_t *a = NULL;
    int nd, sh[8];
    assert_int_equal(npy_read(path, &a, &nd, sh, errbuf, sizeof errbuf), 0);
    assert_int_equal(nd, 2);
    assert_int_equal(sh[0], 3);
    assert_int_equal(sh[1], 2);
    for (int i = 0; i < 6; i++)
        assert_true(a[i] == (real_t)v[i]);
    free(a);
}

static void expect_read_error(const char *dir, int major, const char *dict,
                              size_t data_len, const char *want1,
                              const char *want2)
{
    char path[4096];
    scratch_path(path, sizeof path, dir, "bad.npy");
    unsigned char zeros[256] = {0};
    write_npy(path, major, dict, zeros, data_len);
    real_t *a = (real_t *)(uintptr_t)1;
    int nd, sh[8];
    assert_int_equal(npy_read(path, &a, &nd, sh, errbuf, sizeof errbuf), -1);
    assert_null(a);
    assert_contains(errbuf, path);
    assert_contains(errbuf, want1);
    assert_contains(errbuf, want2);
}

static void test_bad_headers(void **state)
{
    const char *d = *state;
    const char *good =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    expect_read_error(d, 1, "{'descr': '<i4', 'fortran_order': False, "
                      "'shape': (2,), }", 8, "offset 20", "'<f4' or '<f8'");
    expect_read_error(d, 1, "{'descr': '>f4', 'fortran_order': False, "
                      "'shape': (2,), }", 8, "offset 20", "dtype");
    expect_read_error(d, 1, "{'descr': '<f4', 'fortran_order': True, "
                      "'shape': (2,), }", 8, "offset 44", "Fortran");
    expect_read_error(d, 1, "{'descr': '<f4', 'fortran_order': False, "
                      "'shape': (-2,), }", 8, "offset 61", "non-negative");
    expect_read_error(d, 1, "{'descr': '<f4', 'fortran_order': False, }", 8,
                      "offset", "no 'shape'");
    expect_read_error(d, 1, "{'descr': '<f4', 'descr': '<f4', "
                      "'fortran_order': False, 'shape': (2,), }", 8,
                      "offset 27", "repeated");
    expect_read_error(d, 1, "{'descr': '<f4', 'fortran_order': False, "
                      "'shape': (2,), } junk", 8, "offset", "after the dict");
    expect_read_error(d, 1, "['descr', '<f4']", 8, "offset 10", "'{'");
    /* 2 floats promised after a 128-byte header, 7 bytes present:
     * truncated at the end of the file. */
    expect_read_error(d, 1, good, 7, "truncated", "offset 135");
    expect_read_error(d, 1, good, 9, "offset 136", "1 unexpected bytes");

    char path[4096];
    real_t *a;
    int nd, sh[8];
    scratch_path(path, sizeof path, d, "magic.npy");
    assert_int_equal(file_write(path, "\x93NUMPZ\x01\x00\x10\x00{}", 12), 0);
    assert_int_equal(npy_read(path, &a, &nd, sh, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "offset 0: not a .npy file");

    /* A header length running past the end of the file. */
    assert_int_equal(file_write(path, "\x93NUMPY\x01\x00\x00\x10{}", 12), 0);
    assert_int_equal(npy_read(path, &a, &nd, sh, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "offset 10: header of 4096 bytes runs past");

    assert_int_equal(file_write(path, "\x93NUMPY\x09\x00\x10\x00{}", 12), 0);
    assert_int_equal(npy_read(path, &a, &nd, sh, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "offset 6: unsupported .npy version 9.0");

    assert_int_equal(file_write(path, "\x93NUMPY\x01", 7), 0);
    assert_int_equal(npy_read(path, &a, &nd, sh, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "offset 0");

    scratch_path(path, sizeof path, d, "absent.npy");
    assert_int_equal(npy_read(path, &a, &nd, sh, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "absent.npy: cannot open");
}

static void test_write_errors(void **state)
{
    char path[4096];
    real_t x[2] = {1, 2};
    scratch_path(path, sizeof path, *state, "no/such/dir/x.npy");
    assert_int_equal(npy_write(path, x, 1, (int[]){2}, errbuf, sizeof errbuf),
                     -1);
    assert_contains(errbuf, "x.npy: cannot create");
    scratch_path(path, sizeof path, *state, "neg.npy");
    assert_int_equal(npy_write(path, x, 1, (int[]){-2}, errbuf, sizeof errbuf),
                     -1);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(scratch_count(*state, ".tmp."), 0);
}

/* NumPy reads what we write, and we read what NumPy writes. */
static void test_numpy_interop(void **state)
{
    if (!python_has("numpy")) {
        print_message("skipped: /usr/bin/python3 with numpy not found\n");
        skip();
    }
    char path[4096], cmd[8192];
    int shape[4] = {2, 3, 4, 5};
    real_t a[120];
    for (int i = 0; i < 120; i++)
        a[i] = (real_t)(i * 0.5 - 30);     /* exact in float32 */
    scratch_path(path, sizeof path, *state, "ours.npy");
    assert_int_equal(npy_write(path, a, 4, shape, errbuf, sizeof errbuf), 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as n, sys\n"
             "a = n.load(sys.argv[1])\n"
             "r = n.arange(120, dtype='f8').reshape(2, 3, 4, 5) * 0.5 - 30\n"
             "sys.exit(0 if a.dtype == n.float32 and a.shape == r.shape and "
             "(a == r).all() else 1)\" %s", path);
    assert_int_equal(system(cmd), 0);

    char theirs[4096];
    scratch_path(theirs, sizeof theirs, *state, "theirs.npy");
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as n, sys\n"
             "n.save(sys.argv[1], n.arange(24, dtype='<f8').reshape(2, 3, 4)"
             " / 8)\" %s", theirs);
    assert_int_equal(system(cmd), 0);
    real_t *b;
    int nd, sh[8];
    assert_int_equal(npy_read(theirs, &b, &nd, sh, errbuf, sizeof errbuf), 0);
    assert_int_equal(nd, 3);
    assert_int_equal(sh[2], 4);
    for (int i = 0; i < 24; i++)
        assert_true(b[i] == (real_t)(i / 8.0));
    free(b);

    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as n, sys\n"
             "n.save(sys.argv[1], n.asfortranarray(n.ones((3, 2), 'f4')))\" "
             "%s", theirs);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(npy_read(theirs, &b, &nd, sh, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "Fortran order is not supported");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_f8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numpy_interop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
