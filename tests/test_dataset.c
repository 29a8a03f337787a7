/* test_dataset.c - the CIFAR-10 and IDX loaders on the real data when it is
 * there ($CIFAR10_DIR; Debian's Fashion-MNIST) and on synthetic files in a
 * scratch directory: good files, and each way a file can be wrong, whose
 * message must name the file and the byte offset. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>
#include <cmocka.h>
#include "dataset.h"
#include "scratch.h"

enum { REC = 3073, PER_FILE = 10000 };
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

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

/* ---- the real data ---- */

static const char *cifar_dir_or_skip(void)
{
    const char *dir = getenv("CIFAR10_DIR");
    if (!dir || !*dir) {
        print_message("skipped: set CIFAR10_DIR to the cifar-10-batches-bin "
                      "directory to test on the real data\n");
        skip();
    }
    return dir;
}

static void count_labels(const advcc_dataset *d, int *counts)
{
    memset(counts, 0, 10 * sizeof *counts);
    for (int i = 0; i < d->n; i++) {
        assert_in_range(d->labels[i], 0, 9);
        counts[d->labels[i]]++;
    }
}

static void test_cifar10_real_test(void **state)
{
    (void)state;
    const char *dir = cifar_dir_or_skip();
    advcc_dataset d;
    int counts[10];
    assert_int_equal(dataset_load_cifar10(dir, 0, &d, errbuf, sizeof errbuf),
                     0);
    assert_int_equal(d.n, 10000);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.h, 32);
    assert_int_equal(d.w, 32);
    assert_int_equal(d.classes, 10);
    assert_string_equal(d.name, "cifar10");
    count_labels(&d, counts);
    for (int k = 0; k < 10; k++)
        assert_int_equal(counts[k], 1000);
    dataset_free(&d);
    assert_null(d.pixels);
}

/* The per-channel means every CIFAR-10 recipe normalises with; matching
 * them shows the planes are read as red, green, blue. */
static void test_cifar10_real_train(void **state)
{
    (void)state;
    cifar_dir_or_skip();    /* dataset_load reads CIFAR10_DIR itself */
    advcc_dataset d;
    int counts[10];
    assert_int_equal(dataset_load("cifar10", 1, &d, errbuf, sizeof errbuf), 0);
    assert_int_equal(d.n, 50000);
    count_labels(&d, counts);
    for (int k = 0; k < 10; k++)
        assert_int_equal(counts[k], 5000);
    const double want[3] = {0.4914, 0.4822, 0.4465};
    for (int c = 0; c < 3; c++) {
        uint64_t sum = 0;
        for (int i = 0; i < d.n; i++) {
            const uint8_t *p = d.pixels + (size_t)i * 3072 + c * 1024;
            for (int j = 0; j < 1024; j++)
                sum += p[j];
        }
        double mean = (double)sum / (255.0 * d.n * 1024);
        if (fabs(mean - want[c]) > 0.01)
            fail_msg("channel %d mean %.4f, expected %.4f", c, mean, want[c]);
    }
    dataset_free(&d);
}

static void test_fashion_real(void **state)
{
    (void)state;
    if (access(FASHION_DIR "/t10k-labels-idx1-ubyte.gz", R_OK) != 0 ||
        getenv("FASHION_MNIST_DIR")) {
        print_message("skipped: no Fashion-MNIST in " FASHION_DIR "\n");
        skip();
    }
    advcc_dataset d;
    int counts[10];
    assert_int_equal(dataset_load("fashion-mnist", 0, &d, errbuf,
                                  sizeof errbuf), 0);
    assert_int_equal(d.n, 10000);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 28);
    assert_int_equal(d.w, 28);
    assert_string_equal(d.name, "fashion-mnist");
    count_labels(&d, counts);
    for (int k = 0; k < 10; k++)
        assert_int_equal(counts[k], 1000);
    dataset_free(&d);

    assert_int_equal(dataset_load("fashion-mnist", 1, &d, errbuf,
                                  sizeof errbuf), 0);
    assert_int_equal(d.n, 60000);
    count_labels(&d, counts);
    for (int k = 0; k < 10; k++)
        assert_int_equal(counts[k], 6000);
    /* The training set's published mean pixel, 0.2860. */
    uint64_t sum = 0;
    for (size_t i = 0; i < (size_t)d.n * 784; i++)
        sum += d.pixels[i];
    double mean = (double)sum / (255.0 * d.n * 784);
    assert_true(fabs(mean - 0.2860) < 0.001);
    dataset_free(&d);
}

/* ---- synthetic CIFAR-10 batches ---- */

static int syn_label(int i) { return (i * 7 + i / 10) % 10; }
static int syn_pixel(int i, int j) { return (i * 31 + j * 7) & 255; }

/* A batch of 10000 records, then edited: keep only the first `keep` bytes
 * (0 = all), and append `extra` bytes. */
static void write_batch(const char *path, size_t keep, size_t extra,
                        int bad_record, int bad_label)
{
    size_t size = (size_t)REC * PER_FILE;
    unsigned char *b = calloc(size + extra, 1);
    for (int i = 0; i < PER_FILE; i++) {
        unsigned char *r = b + (size_t)i * REC;
        r[0] = (unsigned char)syn_label(i);
        for (int j = 0; j < 3072; j++)
            r[1 + j] = (unsigned char)syn_pixel(i, j);
    }
    if (bad_record >= 0)
        b[(size_t)bad_record * REC] = (unsigned char)bad_label;
    assert_int_equal(file_write(path, b, (keep ? keep : size) + extra), 0);
    free(b);
}

static void link_batch(const char *dir, int k)
{
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/test_batch.bin", dir);
    snprintf(to, sizeof to, "%s/data_batch_%d.bin", dir, k);
    assert_int_equal(symlink(from, to), 0);
}

static void test_cifar10_synthetic(void **state)
{
    const char *dir = *state;
    char path[4096];
    write_batch(scratch_path(path, sizeof path, dir, "test_batch.bin"), 0, 0,
                -1, 0);
    advcc_dataset d;
    assert_int_equal(dataset_load_cifar10(dir, 0, &d, errbuf, sizeof errbuf),
                     0);
    assert_int_equal(d.n, PER_FILE);
    for (int i = 0; i < PER_FILE; i += 997) {
        assert_int_equal(d.labels[i], syn_label(i));
        for (int j = 0; j < 3072; j += 101)
            assert_int_equal(d.pixels[(size_t)i * 3072 + j], syn_pixel(i, j));
    }

    /* A batch in any order, as reals in [0,1], channel planes intact. */
    int idx[3] = {9999, 0, 4321};
    real_t *x = malloc(3 * 3072 * sizeof *x);
    int y[3];
    dataset_batch(&d, idx, 3, x, y);
    for (int b = 0; b < 3; b++) {
        assert_int_equal(y[b], syn_label(idx[b]));
        for (int j = 0; j < 3072; j++)
            assert_true(x[b * 3072 + j] ==
                        (real_t)syn_pixel(idx[b], j) / (real_t)255);
    }
    free(x);

    dataset_limit(&d, 0);
    assert_int_equal(d.n, PER_FILE);
    dataset_limit(&d, PER_FILE + 1);
    assert_int_equal(d.n, PER_FILE);
    dataset_limit(&d, 123);
    assert_int_equal(d.n, 123);
    dataset_free(&d);

    /* The training set: five batches in order (here one file five times). */
    for (int k = 1; k <= 5; k++)
        link_batch(dir, k);
    assert_int_equal(dataset_load_cifar10(dir, 1, &d, errbuf, sizeof errbuf),
                     0);
    assert_int_equal(d.n, 5 * PER_FILE);
    for (int k = 0; k < 5; k++) {
        int i = 4321;
        size_t at = (size_t)k * PER_FILE + (size_t)i;
        assert_int_equal(d.labels[at], syn_label(i));
        assert_int_equal(d.pixels[at * 3072 + 2048], syn_pixel(i, 2048));
    }
    dataset_free(&d);
}

static void expect_cifar_error(const char *dir, int train, const char *want1,
                               const char *want2)
{
    advcc_dataset d;
    assert_int_equal(dataset_load_cifar10(dir, train, &d, errbuf,
                                          sizeof errbuf), -1);
    assert_null(d.pixels);
    assert_null(d.labels);
    assert_contains(errbuf, want1);
    assert_contains(errbuf, want2);
}

static void test_cifar10_bad(void **state)
{
    const char *dir = *state;
    char path[4096];
    scratch_path(path, sizeof path, dir, "test_batch.bin");

    expect_cifar_error(dir, 0, "test_batch.bin: cannot open", "CIFAR10_DIR");

    /* Cut inside record 10000: the record starts at 9999 * 3073. */
    write_batch(path, (size_t)REC * PER_FILE - 100, 0, -1, 0);
    expect_cifar_error(dir, 0, "test_batch.bin: offset 30726927: truncated",
                       "incomplete record 10000");
    write_batch(path, (size_t)REC * 5000, 0, -1, 0);
    expect_cifar_error(dir, 0, "test_batch.bin: offset 15365000: truncated",
                       "missing record 5001");
    write_batch(path, 0, 3073, -1, 0);
    expect_cifar_error(dir, 0, "offset 30730000: 3073 unexpected bytes",
                       "test_batch.bin");

    write_batch(path, 0, 0, 1234, 10);
    expect_cifar_error(dir, 0, "test_batch.bin: offset 3792082: label 10",
                       "record 1235");
    write_batch(path, 0, 0, 9999, 255);
    expect_cifar_error(dir, 0, "offset 30726927: label 255", "not in 0..9");

    /* The third training batch missing: the message names it. */
    write_batch(path, 0, 0, -1, 0);
    link_batch(dir, 1);
    link_batch(dir, 2);
    expect_cifar_error(dir, 1, "data_batch_3.bin: cannot open",
                       "CIFAR10_DIR");
}

/* dataset_load("cifar10") of the test set with CIFAR10_DIR set to dir for
 * this call alone (the caller's value is put back). */
static int load_cifar_from(const char *dir, advcc_dataset *d)
{
    const char *old = getenv("CIFAR10_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("CIFAR10_DIR", dir, 1);
    int rc = dataset_load("cifar10", 0, d, errbuf, sizeof errbuf);
    if (saved)
        setenv("CIFAR10_DIR", saved, 1);
    else
        unsetenv("CIFAR10_DIR");
    free(saved);
    return rc;
}

/* CIFAR10_DIR is used when set, and a wrong one is an error, never a quiet
 * fall back to ./data. */
static void test_dataset_load_env(void **state)
{
    const char *dir = *state;
    char path[4096], empty[4096];
    write_batch(scratch_path(path, sizeof path, dir, "test_batch.bin"), 0, 0,
                -1, 0);
    advcc_dataset d;
    int ok = load_cifar_from(dir, &d);
    int n = d.n;
    dataset_free(&d);
    scratch_path(empty, sizeof empty, dir, "empty");
    mkdir(empty, 0700);
    int bad = load_cifar_from(empty, &d);

    assert_int_equal(bad, -1);
    assert_contains(errbuf, empty);
    assert_contains(errbuf, "CIFAR10_DIR");
    assert_int_equal(ok, 0);
    assert_int_equal(n, PER_FILE);

    assert_int_equal(dataset_load("mnist", 0, &d, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "unknown dataset 'mnist'");
}

/* ---- synthetic IDX files ---- */

enum { IDX_N = 50, IDX_ROWS = 5, IDX_COLS = 4 };

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Writes bytes plain or through gzip (mode "wb6", or "wb0": stored blocks,
 * whose bytes can be corrupted without breaking the deflate stream). */
static void write_maybe_gz(const char *path, const unsigned char *b,
                           size_t len, const char *gzmode)
{
    if (!gzmode) {
        assert_int_equal(file_write(path, b, len), 0);
        return;
    }
    gzFile gz = gzopen(path, gzmode);
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, b, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static int idx_pixel(int i, int j) { return (i * 13 + j * 3) & 255; }

/* images: magic, n, rows, cols, data; labels: magic, n, data.  Edits:
 * image_magic, label_count, a bad label at bad_item, image bytes dropped. */
static void write_idx(const char *dir, const char *gzmode, uint32_t image_magic,
                      uint32_t label_count, int bad_item, size_t drop)
{
    char path[4096];
    size_t ilen = 16 + IDX_N * IDX_ROWS * IDX_COLS;
    unsigned char *im = malloc(ilen), lb[8 + IDX_N];
    be32(im, image_magic);
    be32(im + 4, IDX_N);
    be32(im + 8, IDX_ROWS);
    be32(im + 12, IDX_COLS);
    for (int i = 0; i < IDX_N; i++)
        for (int j = 0; j < IDX_ROWS * IDX_COLS; j++)
            im[16 + i * IDX_ROWS * IDX_COLS + j] = (unsigned char)idx_pixel(i, j);
    be32(lb, 0x00000801);
    be32(lb + 4, label_count);
    for (int i = 0; i < IDX_N; i++)
        lb[8 + i] = (unsigned char)(i % 10);
    if (bad_item >= 0)
        lb[8 + bad_item] = 10;
    write_maybe_gz(scratch_path(path, sizeof path, dir, "images"), im,
                   ilen - drop, gzmode);
    write_maybe_gz(scratch_path(path, sizeof path, dir, "labels"), lb,
                   sizeof lb, gzmode);
    free(im);
}

static int load_idx(const char *dir, advcc_dataset *d)
{
    char im[4096], lb[4096];
    return dataset_load_idx(scratch_path(im, sizeof im, dir, "images"),
                            scratch_path(lb, sizeof lb, dir, "labels"), d,
                            errbuf, sizeof errbuf);
}

static void test_idx_good(void **state)
{
    const char *dir = *state;
    const char *modes[2] = {"wb6", NULL};
    for (int m = 0; m < 2; m++) {
        write_idx(dir, modes[m], 0x00000803, IDX_N, -1, 0);
        advcc_dataset d;
        assert_int_equal(load_idx(dir, &d), 0);
        assert_int_equal(d.n, IDX_N);
        assert_int_equal(d.c, 1);
        assert_int_equal(d.h, IDX_ROWS);
        assert_int_equal(d.w, IDX_COLS);
        assert_int_equal(d.classes, 10);
        for (int i = 0; i < IDX_N; i++) {
            assert_int_equal(d.labels[i], i % 10);
            for (int j = 0; j < IDX_ROWS * IDX_COLS; j++)
                assert_int_equal(d.pixels[i * IDX_ROWS * IDX_COLS + j],
                                 idx_pixel(i, j));
        }
        dataset_free(&d);
    }
}

static void expect_idx_error(const char *dir, const char *file,
                             const char *want1, const char *want2)
{
    advcc_dataset d;
    char path[4096];
    assert_int_equal(load_idx(dir, &d), -1);
    assert_null(d.pixels);
    assert_contains(errbuf, scratch_path(path, sizeof path, dir, file));
    assert_contains(errbuf, want1);
    assert_contains(errbuf, want2);
}

static void test_idx_bad(void **state)
{
    const char *dir = *state;
    for (int gz = 0; gz < 2; gz++) {
        const char *mode = gz ? "wb6" : NULL;
        write_idx(dir, mode, 0x00000801, IDX_N, -1, 0);
        expect_idx_error(dir, "images", "offset 0: bad magic 0x00000801",
                         "expected 0x00000803");
        write_idx(dir, mode, 0x00000803, IDX_N - 1, -1, 0);
        expect_idx_error(dir, "labels", "offset 4: 49 labels", "50 images");
        write_idx(dir, mode, 0x00000803, IDX_N, 17, 0);
        expect_idx_error(dir, "labels", "offset 25: label 10", "item 18");
        /* 5 image bytes short: the data end at 16 + 1000 - 5. */
        write_idx(dir, mode, 0x00000803, IDX_N, -1, 5);
        expect_idx_error(dir, "images", "offset 1011: truncated",
                         "the images");
    }
    char path[4096];
    scratch_path(path, sizeof path, dir, "images");
    unsigned char head[12] = {0, 0, 8, 3, 0, 0, 0, 1};
    write_maybe_gz(path, head, sizeof head, NULL);
    expect_idx_error(dir, "images", "offset 12: truncated", "the header");

    remove(path);
    expect_idx_error(dir, "images", "cannot open", "No such file");
}

/* Damage to the compressed stream: a flipped data byte the CRC catches, a
 * bad header byte, and a stream cut short. */
static void test_idx_corrupt_gzip(void **state)
{
    const char *dir = *state;
    char path[4096];
    scratch_path(path, sizeof path, dir, "images");
    size_t len;

    write_idx(dir, "wb0", 0x00000803, IDX_N, -1, 0);
    unsigned char *f = file_read(path, &len);
    assert_non_null(f);
    f[len / 2] ^= 0x40;
    write_maybe_gz(path, f, len, NULL);
    free(f);
    expect_idx_error(dir, "images", "corrupt gzip data", "zlib: ");

    write_idx(dir, "wb6", 0x00000803, IDX_N, -1, 0);
    f = file_read(path, &len);
    assert_non_null(f);
    f[2] = 7;                           /* compression method: not deflate */
    write_maybe_gz(path, f, len, NULL);
    expect_idx_error(dir, "images", "corrupt gzip data", "zlib: ");

    f[2] = 8;
    write_maybe_gz(path, f, len / 2, NULL);
    free(f);
    expect_idx_error(dir, "images", "truncated gzip stream", "zlib: ");
}

/* Hostile data files: a header that claims 2^31-1 images (refused before
 * anything is allocated for them), bytes after a gzip stream, directories
 * where files belong, and CIFAR10_DIR set but empty. */
static void test_data_hostile(void **state)
{
    const char *dir = *state;
    char path[4096], lpath[4096];
    scratch_path(path, sizeof path, dir, "images");
    scratch_path(lpath, sizeof lpath, dir, "labels");
    for (int gz = 0; gz < 2; gz++) {
        const char *mode = gz ? "wb6" : NULL;
        unsigned char im[16 + 64] = {0}, lb[8 + 64] = {0};
        be32(im, 0x00000803);
        be32(im + 4, 0x7fffffffu);
        be32(im + 8, 28);
        be32(im + 12, 28);
        be32(lb, 0x00000801);
        be32(lb + 4, 0x7fffffffu);
        write_maybe_gz(path, im, sizeof im, mode);
        write_maybe_gz(lpath, lb, sizeof lb, mode);
        expect_idx_error(dir, "images", "the header promises", "bytes of the images");
    }

    /* 16 bytes after a whole gzip stream */
    write_idx(dir, "wb6", 0x00000803, IDX_N, -1, 0);
    size_t len;
    unsigned char *f = file_read(path, &len);
    assert_non_null(f);
    unsigned char *g = malloc(len + 16);
    memcpy(g, f, len);
    memset(g + len, 'x', 16);
    write_maybe_gz(path, g, len + 16, NULL);
    expect_idx_error(dir, "images", "16 bytes after the end of the gzip stream",
                     "(compressed)");
    free(f);
    free(g);

    /* directories */
    remove(path);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_idx_error(dir, "images", "is a directory", "not an IDX file");
    rmdir(path);
    scratch_path(path, sizeof path, dir, "test_batch.bin");
    assert_int_equal(mkdir(path, 0700), 0);
    expect_cifar_error(dir, 0, "test_batch.bin: is a directory", "not a CIFAR-10");
    rmdir(path);

    /* set but empty: an error, not ./data */
    advcc_dataset d;
    assert_int_equal(load_cifar_from("", &d), -1);
    assert_contains(errbuf, "CIFAR10_DIR is set but empty");
}

/* FASHION_MNIST_DIR with the Debian file names, .gz or not. */
static void test_fashion_env(void **state)
{
    const char *dir = *state;
    char from[4096], to[4096];
    write_idx(dir, "wb6", 0x00000803, IDX_N, -1, 0);
    rename(scratch_path(from, sizeof from, dir, "images"),
           scratch_path(to, sizeof to, dir, "t10k-images-idx3-ubyte.gz"));
    write_idx(dir, NULL, 0x00000803, IDX_N, -1, 0);
    rename(scratch_path(from, sizeof from, dir, "labels"),
           scratch_path(to, sizeof to, dir, "t10k-labels-idx1-ubyte"));
    const char *old = getenv("FASHION_MNIST_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("FASHION_MNIST_DIR", dir, 1);
    advcc_dataset d;
    int ok = dataset_load("fashion-mnist", 0, &d, errbuf, sizeof errbuf);
    int n = d.n;
    dataset_free(&d);
    int bad = dataset_load("fashion-mnist", 1, &d, errbuf, sizeof errbuf);
    if (saved)
        setenv("FASHION_MNIST_DIR", saved, 1);
    else
        unsetenv("FASHION_MNIST_DIR");
    free(saved);
    assert_int_equal(ok, 0);
    assert_int_equal(n, IDX_N);
    assert_int_equal(bad, -1);
    assert_contains(errbuf, "train-images-idx3-ubyte");
    assert_contains(errbuf, "set FASHION_MNIST_DIR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar10_real_test),
        cmocka_unit_test(test_cifar10_real_train),
        cmocka_unit_test(test_fashion_real),
        cmocka_unit_test_setup_teardown(test_cifar10_synthetic, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cifar10_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dataset_load_env, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idx_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_corrupt_gzip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_data_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fashion_env, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
