/* test_checkpoint.c - safetensors checkpoints of a small hand-written model
 * descriptor: the exact layout, round trips, a reader in plain Python and
 * NumPy agreeing with us, every mismatch the loader must refuse (naming the
 * file and the tensor), and atomic writes: a failed save leaves the old file
 * or no file, and no temporary. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>
#include <valgrind/valgrind.h>
#include "atomic_file.h"
#include "checkpoint.h"
#include "cli.h"
#include "rng.h"
#include "scratch.h"

static char errbuf[1024];

/* conv(3->4, 3x3) with bias, a BatchNorm statistic, a linear layer and a
 * scalar threshold: every kind of tensor and a 0-d one. */
static const advcc_tensor tiny_tensors[] = {
    {"conv1.weight", 0, 108, 4, {4, 3, 3, 3}, ADVCC_WEIGHT},
    {"conv1.bias", 108, 4, 1, {4}, ADVCC_BIAS},
    {"bn1.running_mean", 112, 4, 1, {4}, ADVCC_STATE},
    {"fc.weight", 116, 640, 2, {10, 64}, ADVCC_WEIGHT},
    {"act.hi", 756, 1, 0, {0}, ADVCC_THRESHOLD},
};
enum { TINY_PARAMS = 757, TINY_TENSORS = 5 };

static advcc_model tiny_model(const advcc_tensor *t, int n, size_t n_params)
{
    advcc_model m;
    memset(&m, 0, sizeof m);
    m.name = "tiny";
    m.tensors = t;
    m.n_tensors = n;
    m.n_params = n_params;
    return m;
}

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

/* Values float32 holds exactly, so round trips compare with == whatever
 * real_t is. */
static void fill_params(real_t *p, size_t n, uint64_t seed)
{
    advcc_rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (real_t)(float)rng_normal(&r);
}

static void save_tiny(const char *path, real_t *p)
{
    advcc_model m = tiny_model(tiny_tensors, TINY_TENSORS, TINY_PARAMS);
    fill_params(p, TINY_PARAMS, 1);
    assert_int_equal(checkpoint_save(path, &m, p, errbuf, sizeof errbuf), 0);
}

static void test_layout(void **state)
{
    char path[4096];
    real_t p[TINY_PARAMS];
    scratch_path(path, sizeof path, *state, "tiny.safetensors");
    save_tiny(path, p);
    size_t len;
    unsigned char *f = file_read(path, &len);
    assert_non_null(f);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | f[i];
    assert_int_equal(n % 8, 0);
    assert_int_equal(len, 8 + n + 4 * TINY_PARAMS);
    const char *want =
        "{\"__metadata__\":{\"model\":\"tiny\",\"format\":\"advcc\","
        "\"advcc_version\":\"" ADVCC_VERSION "\"},"
        "\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[4,3,3,3],"
        "\"data_offsets\":[0,432]},"
        "\"conv1.bias\":{\"dtype\":\"F32\",\"shape\":[4],"
        "\"data_offsets\":[432,448]},"
        "\"bn1.running_mean\":{\"dtype\":\"F32\",\"shape\":[4],"
        "\"data_offsets\":[448,464]},"
        "\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[10,64],"
        "\"data_offsets\":[464,3024]},"
        "\"act.hi\":{\"dtype\":\"F32\",\"shape\":[],"
        "\"data_offsets\":[3024,3028]}}";
    assert_true(strlen(want) <= n);
    assert_memory_equal(f + 8, want, strlen(want));
    for (size_t i = 8 + strlen(want); i < 8 + n; i++)
        assert_int_equal(f[i], ' ');
    /* fc.weight[0] as little-endian float32 at data offset 464. */
    float v = (float)p[116];
    uint32_t u;
    memcpy(&u, &v, 4);
    const unsigned char *d = f + 8 + n + 464;
    assert_int_equal(d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24, u);
    free(f);
}

static void test_round_trip(void **state)
{
    char path[4096];
    real_t p[TINY_PARAMS], q[TINY_PARAMS];
    scratch_path(path, sizeof path, *state, "tiny.safetensors");
    save_tiny(path, p);
    for (int i = 0; i < TINY_PARAMS; i++)
        q[i] = NAN;
    advcc_model m = tiny_model(tiny_tensors, TINY_TENSORS, TINY_PARAMS);
    assert_int_equal(checkpoint_load(path, &m, q, errbuf, sizeof errbuf), 0);
    for (int i = 0; i < TINY_PARAMS; i++)
        assert_true(q[i] == p[i]);
    assert_int_equal(scratch_count(*state, ".tmp."), 0);

    /* Saving again replaces the file. */
    fill_params(p, TINY_PARAMS, 2);
    assert_int_equal(checkpoint_save(path, &m, p, errbuf, sizeof errbuf), 0);
    assert_int_equal(checkpoint_load(path, &m, q, errbuf, sizeof errbuf), 0);
    assert_true(q[0] == p[0] && q[756] == p[756]);
}

/* The reader in tests/oracle, run from the source tree, sees what we wrote. */
static void check_oracle(const char *path, const real_t *p, const char *flag)
{
    char cmd[8192], line[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 tests/oracle/read_checkpoint.py %s %s", path,
             flag);
    FILE *out = popen(cmd, "r");
    assert_non_null(out);
    assert_non_null(fgets(line, sizeof line, out));
    assert_string_equal(line, "model tiny\n");
    const char *shapes[] = {"[4,3,3,3]", "[4]", "[4]", "[10,64]", "[]"};
    for (int i = 0; i < TINY_TENSORS; i++) {
        const advcc_tensor *t = &tiny_tensors[i];
        char name[128], shape[64], first[64], last[64], sum[64];
        assert_non_null(fgets(line, sizeof line, out));
        assert_int_equal(sscanf(line, "%127s %63s %63s %63s %63s", name, shape,
                                first, last, sum), 5);
        assert_string_equal(name, t->name);
        assert_string_equal(shape, shapes[i]);
        const real_t *v = p + t->offset;
        double want_sum = 0;
        for (size_t k = 0; k < t->size; k++)
            want_sum += (float)v[k];
        assert_true(strtod(first, NULL) == (double)(float)v[0]);
        assert_true(strtod(last, NULL) == (double)(float)v[t->size - 1]);
        assert_true(fabs(strtod(sum, NULL) - want_sum) <= 1e-9 * (1 + fabs(want_sum)));
    }
    assert_null(fgets(line, sizeof line, out));
    assert_int_equal(pclose(out), 0);
}

static void test_python_reader(void **state)
{
    if (!python_has("numpy") ||
        access("tests/oracle/read_checkpoint.py", R_OK) != 0) {
        print_message("skipped: needs /usr/bin/python3 with numpy, run from "
                      "the source tree\n");
        skip();
    }
    char path[4096];
    real_t p[TINY_PARAMS];
    scratch_path(path, sizeof path, *state, "tiny.safetensors");
    save_tiny(path, p);
    check_oracle(path, p, "");
    if (python_has("torch"))
        check_oracle(path, p, "--torch");
}

/* Loads into a model differing from the file; params must stay untouched. */
static void expect_load_error(const char *path, const advcc_model *m,
                              const char *want1, const char *want2)
{
    real_t q[TINY_PARAMS + 16];
    for (size_t i = 0; i < TINY_PARAMS + 16; i++)
        q[i] = -7;
    assert_int_equal(checkpoint_load(path, m, q, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, path);
    assert_contains(errbuf, want1);
    assert_contains(errbuf, want2);
    for (size_t i = 0; i < TINY_PARAMS + 16; i++)
        assert_true(q[i] == -7);
}

static void test_model_mismatch(void **state)
{
    char path[4096];
    real_t p[TINY_PARAMS];
    scratch_path(path, sizeof path, *state, "tiny.safetensors");
    save_tiny(path, p);
    advcc_tensor t[TINY_TENSORS + 1];
    memcpy(t, tiny_tensors, sizeof tiny_tensors);

    /* Same size, other shape. */
    t[3].shape[0] = 64;
    t[3].shape[1] = 10;
    advcc_model m = tiny_model(t, TINY_TENSORS, TINY_PARAMS);
    expect_load_error(path, &m, "tensor 'fc.weight' has shape [10,64]",
                      "expects [64,10]");
    memcpy(t, tiny_tensors, sizeof tiny_tensors);

    /* The model has a tensor the file lacks. */
    t[5] = (advcc_tensor){"fc.bias", 757, 10, 1, {10}, ADVCC_BIAS};
    m = tiny_model(t, TINY_TENSORS + 1, TINY_PARAMS + 10);
    expect_load_error(path, &m, "tensor 'fc.bias'", "missing");

    /* The file has a tensor the model lacks. */
    m = tiny_model(t, TINY_TENSORS - 1, TINY_PARAMS - 1);
    expect_load_error(path, &m, "tensor 'act.hi'", "not a tensor of model");

    /* A descriptor whose size disagrees with its shape is refused. */
    t[1].size = 5;
    m = tiny_model(t, TINY_TENSORS, TINY_PARAMS);
    assert_int_equal(checkpoint_save(path, &m, p, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "tensor 'conv1.bias'");
}

static void truncate_copy(const char *from, const char *to, size_t keep)
{
    size_t len;
    unsigned char *f = file_read(from, &len);
    assert_non_null(f);
    assert_true(keep <= len);
    assert_int_equal(file_write(to, f, keep), 0);
    free(f);
}

static void test_truncated(void **state)
{
    char path[4096], cut[4096];
    real_t p[TINY_PARAMS];
    scratch_path(path, sizeof path, *state, "tiny.safetensors");
    scratch_path(cut, sizeof cut, *state, "cut.safetensors");
    save_tiny(path, p);
    advcc_model m = tiny_model(tiny_tensors, TINY_TENSORS, TINY_PARAMS);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    size_t len = (size_t)st.st_size;

    truncate_copy(path, cut, len - 100);    /* into fc.weight's data */
    expect_load_error(cut, &m, "tensor 'fc.weight' ends at data offset 3024",
                      "truncated");
    truncate_copy(path, cut, len - 1);      /* the last byte */
    expect_load_error(cut, &m, "tensor 'act.hi'", "truncated");
    truncate_copy(path, cut, 100);          /* inside the header */
    expect_load_error(cut, &m, "offset 0: header length", "past the end");
    truncate_copy(path, cut, 5);
    expect_load_error(cut, &m, "offset 0", "no header length");
    scratch_path(cut, sizeof cut, *state, "absent.safetensors");
    expect_load_error(cut, &m, "cannot open", "No such file");
}

/* A file with the given JSON header (space-padded) and data_len zero bytes
 * of data. */
static void write_raw(const char *path, const char *json, size_t data_len)
{
    size_t n = (strlen(json) + 7) / 8 * 8;
    size_t total = 8 + n + data_len;
    unsigned char *b = calloc(total, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memset(b + 8, ' ', n);
    memcpy(b + 8, json, strlen(json));
    assert_int_equal(file_write(path, b, total), 0);
    free(b);
}

/* A header and its data, as another writer (PyTorch) may lay them out. */
static void write_file(const char *path, const char *json, const void *data, size_t data_len)
{
    size_t n = (strlen(json) + 7) / 8 * 8;
    unsigned char *b = calloc(8 + n + data_len, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memset(b + 8, ' ', n);
    memcpy(b + 8, json, strlen(json));
    memcpy(b + 8 + n, data, data_len);
    assert_int_equal(file_write(path, b, 8 + n + data_len), 0);
    free(b);
}

/* What PyTorch writes for the same network loads: names in another order,
 * F64 and F16 converted, num_batches_tracked (I64) and advcc's own
 * training-only tensors skipped; training-only tensors stay out of a
 * checkpoint and keep their values when absent; other names are an error
 * that lists both sides. */
static void test_pytorch_files(void **state)
{
    char path[4096];
    scratch_path(path, sizeof path, *state, "pt.safetensors");
    static const char *const train_only[] = {"w.sn_u", NULL};
    advcc_tensor t[2] = {{"w", 0, 2, 1, {2}, ADVCC_WEIGHT},
                         {"w.sn_u", 2, 1, 1, {1}, ADVCC_STATE}};
    advcc_model m = tiny_model(t, 2, 3);
    m.train_only = train_only;
    real_t q[3] = {0, 0, 7};

    unsigned char data[32] = {0};
    double d = -1.5;
    memcpy(data, &d, 8);                    /* w[0] = -1.5 as F64 */
    d = 0.25;
    memcpy(data + 8, &d, 8);                /* w[1] */
    data[16] = 3;                           /* bn.num_batches_tracked = 3 */
    write_file(path, "{\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],"
               "\"data_offsets\":[16,24]},\"w\":{\"dtype\":\"F64\",\"shape\":[2],"
               "\"data_offsets\":[0,16]},\"__metadata__\":{\"format\":\"pt\"}}", data, 24);
    assert_int_equal(checkpoint_load(path, &m, q, errbuf, sizeof errbuf), 0);
    assert_true(q[0] == (real_t)-1.5 && q[1] == (real_t)0.25 && q[2] == 7);

    uint16_t h[2] = {0xc000, 0x3555};       /* -2 and 0.333251953125 as F16 */
    write_file(path, "{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
               "\"conv9.sn2_v\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", h, 4);
    assert_int_equal(checkpoint_load(path, &m, q, errbuf, sizeof errbuf), 0);
    assert_true(q[0] == -2 && q[1] == (real_t)0.333251953125);

    /* Saved: w only; the training state has both. */
    q[2] = 5;
    assert_int_equal(checkpoint_save(path, &m, q, errbuf, sizeof errbuf), 0);
    size_t len;
    char *f = (char *)file_read(path, &len);
    assert_non_null(f);
    assert_null(strstr(f + 8, "sn_u"));
    free(f);
    assert_int_equal(checkpoint_save_all(path, &m, q, errbuf, sizeof errbuf), 0);
    q[2] = 0;
    assert_int_equal(checkpoint_load_all(path, &m, q, errbuf, sizeof errbuf), 0);
    assert_true(q[2] == 5);

    write_file(path, "{\"features.0.weight\":{\"dtype\":\"F32\",\"shape\":[2],"
               "\"data_offsets\":[0,8]}}", data, 8);
    assert_int_equal(checkpoint_load(path, &m, q, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "tensor 'w' of model tiny is missing");
    assert_contains(errbuf, "model tiny expects: w [2]");
    assert_contains(errbuf, "the file has: features.0.weight F32 [2]");
}

static void test_bad_header(void **state)
{
    char path[4096];
    scratch_path(path, sizeof path, *state, "raw.safetensors");
    advcc_tensor t1[1] = {{"w", 0, 4, 2, {2, 2}, ADVCC_WEIGHT}};
    advcc_model m = tiny_model(t1, 1, 4);
    real_t q[4];

    /* Written by hand, with whitespace and keys in another order: loads. */
    write_raw(path, "{ \"w\" : { \"shape\" : [2, 2], \"data_offsets\": [0, 16],"
              " \"dtype\": \"F32\" }, \"__metadata__\": {\"x\": \"a\\\"b\"} }",
              16);
    assert_int_equal(checkpoint_load(path, &m, q, errbuf, sizeof errbuf), 0);
    assert_true(q[0] == 0 && q[3] == 0);

    struct {
        const char *json;
        const char *want1, *want2;
    } cases[] = {
        {"{\"w\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
         "tensor 'w' has dtype I32", "expected F32"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}",
         "tensor 'w' has data_offsets [0,12]", "not 16 bytes"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}",
         "tensor 'w' ends at data offset 32", "past the end"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,0]}}",
         "tensor 'w'", "data_offsets [16,0]"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2]}}",
         "bad safetensors header", "tensor 'w' lacks \"data_offsets\""},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],"
         "\"extra\":1}}", "bad safetensors header", "unknown key \"extra\" in tensor 'w'"},
        {"{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", "offset 35",
         "duplicate object key near '\"dtype\"'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
         "\"w\":{}}", "offset 68", "duplicate object key near '\"w\"'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}",
         "tensor 'w' has shape [2,-2]", "not a list of at most 8 unsigned integers"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2.0],\"data_offsets\":[0,16]}}",
         "tensor 'w' has shape [2,2.0]", "unsigned integers"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[02,2],\"data_offsets\":[0,16]}}",
         "offset 38", "invalid token near '0'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0]}}",
         "tensor 'w' has data_offsets [0]", "not [begin,end]"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":"
         "[0,99999999999999999999]}}", "offset 80", "too big integer"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}} x",
         "offset 67", "end of file expected near 'x'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}",
         "offset", "'}' expected near end of file"},
        {"{\"w\" {}}", "offset 14", "':' expected near '{'"},
        {"{\"w\\q\":{}}", "offset 13", "invalid escape"},
        {"{\"w\":{\"dtype\":\"F3", "offset", "premature end of input"},
        {"{\"w\":{\"dtype\":\"F\xff\"}}", "offset", "unable to decode byte 0xff"},
        {"[1]", "offset 8", "an array, not an object"},
        {"  \"w\"", "offset 13", "'[' or '{' expected"},
        {"{\"w\":[1]}", "bad safetensors header", "tensor 'w' is [1], not an object"},
        {"{\"w\":{\"dtype\":7,\"shape\":[2,2],\"data_offsets\":[0,16]}}",
         "bad safetensors header", "tensor 'w' has dtype 7, not a string"},
        {"{\"__metadata__\":{\"model\":1}}", "bad safetensors header",
         "__metadata__ \"model\" is 1, not a string"},
        {"{\"__metadata__\":[]}", "bad safetensors header", "__metadata__ is [], not an object"},
        {"{}", "tensor 'w' of model tiny", "missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(path, cases[i].json, 16);
        q[0] = -7;
        if (checkpoint_load(path, &m, q, errbuf, sizeof errbuf) != -1)
            fail_msg("case %zu loaded: %s", i, cases[i].json);
        assert_true(q[0] == -7);
        assert_contains(errbuf, path);
        assert_contains(errbuf, cases[i].want1);
        assert_contains(errbuf, cases[i].want2);
    }
}

/* Hostile files: bytes after the data, values that are not finite, a
 * directory, a header nested 100,000 deep, and a header of 80,000 keys,
 * which is refused in linear time. */
static void test_hostile(void **state)
{
    char path[4096];
    real_t p[TINY_PARAMS];
    scratch_path(path, sizeof path, *state, "tiny.safetensors");
    save_tiny(path, p);
    advcc_model m = tiny_model(tiny_tensors, TINY_TENSORS, TINY_PARAMS);
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    assert_int_equal(fwrite("0123456789abcdef", 1, 16, fp), 16);
    fclose(fp);
    expect_load_error(path, &m, "16 bytes after the last tensor's data", "offset");

    scratch_path(path, sizeof path, *state, "raw.safetensors");
    advcc_tensor t1[1] = {{"w", 0, 4, 2, {2, 2}, ADVCC_WEIGHT}};
    advcc_model m1 = tiny_model(t1, 1, 4);
    static const struct { uint32_t bits; const char *what; } bad[] = {
        {0x7fc00000u, "element 2 is NaN"}, {0x7f800000u, "element 2 is infinite"},
        {0xff800000u, "element 2 is infinite"}, {0xffffffffu, "element 2 is NaN"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_raw(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
        fp = fopen(path, "r+b");
        assert_non_null(fp);
        assert_int_equal(fseek(fp, -8, SEEK_END), 0);
        unsigned char le[4] = {(unsigned char)bad[i].bits, (unsigned char)(bad[i].bits >> 8),
                               (unsigned char)(bad[i].bits >> 16), (unsigned char)(bad[i].bits >> 24)};
        assert_int_equal(fwrite(le, 1, 4, fp), 4);
        fclose(fp);
        expect_load_error(path, &m1, "tensor 'w'", bad[i].what);
    }

    scratch_path(path, sizeof path, *state, "adir");
    assert_int_equal(mkdir(path, 0777), 0);
    expect_load_error(path, &m1, path, "is a directory");

    enum { DEEP = 100000 };
    char *deep = malloc(2 * DEEP + 1);
    assert_non_null(deep);
    memset(deep, '[', DEEP);
    memset(deep + DEEP, ']', DEEP);
    deep[2 * DEEP] = 0;
    scratch_path(path, sizeof path, *state, "deep.safetensors");
    write_raw(path, deep, 16);
    free(deep);
    expect_load_error(path, &m1, "offset", "maximum parsing depth reached");

    /* 80,000 distinct keys then a repeated one: found without a quadratic scan */
    enum { KEYS = 80000 };
    size_t cap = (size_t)KEYS * 80 + 256, len = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    json[len++] = '{';
    for (int k = 0; k < KEYS; k++)
        len += (size_t)snprintf(json + len, cap - len,
                                "\"t%d\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},", k);
    len += (size_t)snprintf(json + len, cap - len,
                            "\"t7\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}");
    scratch_path(path, sizeof path, *state, "many.safetensors");
    write_raw(path, json, 16);
    free(json);
    /* this thread's CPU time, which other processes do not inflate; about
     * half a second natively, and memcheck runs the parse some twenty times
     * slower, where a quadratic scan would still take hours */
    struct timespec t0, t9;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    expect_load_error(path, &m1, "duplicate object key near '\"t7\"'", "offset");
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t9);
    double s = (double)(t9.tv_sec - t0.tv_sec) + 1e-9 * (double)(t9.tv_nsec - t0.tv_nsec);
    if (s > (RUNNING_ON_VALGRIND ? 60 : 5))
        fail_msg("80,000 keys took %.1f s of CPU", s);
}

static void test_atomic_file(void **state)
{
    const char *dir = *state;
    char path[4096];
    scratch_path(path, sizeof path, dir, "f.txt");
    atomic_file af;
    assert_int_equal(atomic_open(&af, path), 0);
    fputs("new", af.fp);
    assert_int_equal(access(path, F_OK), -1);          /* not there yet */
    assert_int_equal(scratch_count(dir, ".tmp."), 1);
    assert_int_equal(atomic_commit(&af), 0);
    size_t len;
    unsigned char *f = file_read(path, &len);
    assert_non_null(f);
    assert_string_equal((char *)f, "new");
    free(f);

    assert_int_equal(atomic_open(&af, path), 0);
    fputs("discarded", af.fp);
    atomic_abort(&af);
    f = file_read(path, &len);
    assert_string_equal((char *)f, "new");
    free(f);
    assert_int_equal(scratch_count(dir, ".tmp."), 0);

    scratch_path(path, sizeof path, dir, "missing/f.txt");
    assert_int_equal(atomic_open(&af, path), -1);
    assert_int_equal(errno, ENOENT);
}

/* A save that fails midway - here the file-size limit, as a full disk
 * would - keeps the previous checkpoint and leaves no temporary; a save
 * where there was none leaves nothing. */
static void test_atomic_save(void **state)
{
    const char *dir = *state;
    enum { BIG = 100000 };
    static const advcc_tensor big_tensors[] = {
        {"w", 0, BIG, 1, {BIG}, ADVCC_WEIGHT},
    };
    advcc_model m = tiny_model(big_tensors, 1, BIG);
    real_t *p = malloc(BIG * sizeof *p), *q = malloc(BIG * sizeof *q);
    char path[4096], fresh[4096];
    scratch_path(path, sizeof path, dir, "big.safetensors");
    scratch_path(fresh, sizeof fresh, dir, "fresh.safetensors");
    fill_params(p, BIG, 3);
    assert_int_equal(checkpoint_save(path, &m, p, errbuf, sizeof errbuf), 0);

    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 64 * 1024;     /* well under the 400 KB file */
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    fill_params(q, BIG, 4);
    int save_over = checkpoint_save(path, &m, q, errbuf, sizeof errbuf);
    char over_err[1024];
    snprintf(over_err, sizeof over_err, "%s", errbuf);
    int save_fresh = checkpoint_save(fresh, &m, q, errbuf, sizeof errbuf);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(save_over, -1);
    assert_contains(over_err, "big.safetensors: cannot write");
    assert_int_equal(save_fresh, -1);
    assert_contains(errbuf, "fresh.safetensors: cannot write");
    assert_int_equal(access(fresh, F_OK), -1);
    assert_int_equal(scratch_count(dir, ".tmp."), 0);
    assert_int_equal(checkpoint_load(path, &m, q, errbuf, sizeof errbuf), 0);
    assert_memory_equal(p, q, BIG * sizeof *p);        /* the old contents */

    /* The rename fails when the target is a directory. */
    char sub[4096];
    scratch_path(sub, sizeof sub, dir, "adir");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(checkpoint_save(sub, &m, p, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "adir: cannot write");
    assert_int_equal(scratch_count(dir, ".tmp."), 0);

    /* No directory to write in at all. */
    scratch_path(sub, sizeof sub, dir, "none/x.safetensors");
    assert_int_equal(checkpoint_save(sub, &m, p, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "x.safetensors: cannot create");
    free(p);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_python_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pytorch_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
