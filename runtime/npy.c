/* npy.c - the NumPy .npy format: the magic "\x93NUMPY", a version, the
 * header length, a Python dict literal {'descr': ..., 'fortran_order': ...,
 * 'shape': (...), } padded with spaces and a newline so that the data start
 * at a multiple of 64 bytes, then the array in C order.
 *
 * The writer emits version 1.0 '<f4'.  The reader takes versions 1.0 to 3.0,
 * '<f4' or '<f8', C order, and nothing else; every complaint names the file
 * and the byte offset. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "errorf.h"
#include "atomic_file.h"
#include "npy.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_DIMS 8
#define NPY_ALIGN 64

/* ---- writing ---- */

int npy_write(const char *path, const real_t *data, int ndim,
              const int *shape, char *err, size_t errlen)
{
    if (ndim < 0 || ndim > NPY_MAX_DIMS) {
        errorf(err, errlen, "%s: cannot write %d dimensions (at most %d)",
                  path, ndim, NPY_MAX_DIMS);
        return -1;
    }
    size_t count = 1;
    char dict[512];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            errorf(err, errlen, "%s: dimension %d is negative (%d)", path,
                      i, shape[i]);
            return -1;
        }
        count *= (size_t)shape[i];
        len += snprintf(dict + len, sizeof dict - len, "%d%s", shape[i],
                        ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    }
    len += snprintf(dict + len, sizeof dict - len, "), }");

    /* magic(6) + version(2) + length(2) + dict + spaces + '\n' */
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    unsigned char head[640];
    size_t hlen = padded - 10;
    memcpy(head, NPY_MAGIC, 6);
    head[6] = 1;
    head[7] = 0;
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', padded - 10 - (size_t)len - 1);
    head[padded - 1] = '\n';

    atomic_file af;
    if (atomic_open(&af, path) != 0) {
        errorf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    fwrite(head, 1, padded, af.fp);
    /* Little-endian float32 whatever the host and real_t. */
    unsigned char buf[4096];
    size_t fill = 0;
    for (size_t i = 0; i < count; i++) {
        float f = (float)data[i];
        uint32_t u;
        memcpy(&u, &f, 4);
        buf[fill++] = (unsigned char)u;
        buf[fill++] = (unsigned char)(u >> 8);
        buf[fill++] = (unsigned char)(u >> 16);
        buf[fill++] = (unsigned char)(u >> 24);
        if (fill == sizeof buf) {
            fwrite(buf, 1, fill, af.fp);
            fill = 0;
        }
    }
    fwrite(buf, 1, fill, af.fp);
    if (atomic_commit(&af) != 0) {
        errorf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- reading ---- */

/* A cursor over the header dict; pos counts from the start of the file so
 * errors can say where. */
typedef struct npy_header {
    const char *s;
    size_t len, pos, base;
    const char *path;
    char *err;
    size_t errlen;
} npy_header;

static int header_fail(npy_header *h, const char *what)
{
    errorf(h->err, h->errlen, "%s: offset %zu: bad .npy header: %s",
              h->path, h->base + h->pos, what);
    return -1;
}

static void skip_space(npy_header *h)
{
    while (h->pos < h->len && (h->s[h->pos] == ' ' || h->s[h->pos] == '\t'))
        h->pos++;
}

static int expect_char(npy_header *h, char c)
{
    char msg[32];
    skip_space(h);
    if (h->pos < h->len && h->s[h->pos] == c) {
        h->pos++;
        return 0;
    }
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return header_fail(h, msg);
}

static int peek_char(npy_header *h, char c)
{
    skip_space(h);
    return h->pos < h->len && h->s[h->pos] == c;
}

/* A quoted Python string without escapes, into out. */
static int parse_string(npy_header *h, char *out, size_t outlen)
{
    skip_space(h);
    if (h->pos >= h->len || (h->s[h->pos] != '\'' && h->s[h->pos] != '"'))
        return header_fail(h, "expected a quoted string");
    char q = h->s[h->pos++];
    size_t n = 0;
    while (h->pos < h->len && h->s[h->pos] != q) {
        if (h->s[h->pos] == '\\' || n + 1 >= outlen)
            return header_fail(h, "unsupported string");
        out[n++] = h->s[h->pos++];
    }
    if (h->pos >= h->len)
        return header_fail(h, "unterminated string");
    h->pos++;
    out[n] = 0;
    return 0;
}

static int parse_word(npy_header *h, const char *word)
{
    size_t n = strlen(word);
    skip_space(h);
    if (h->pos + n <= h->len && memcmp(h->s + h->pos, word, n) == 0) {
        h->pos += n;
        return 1;
    }
    return 0;
}

/* (d0, d1, ...) with an optional trailing comma; () is a scalar. */
static int parse_shape(npy_header *h, int *ndim, long long *dims)
{
    if (expect_char(h, '('))
        return -1;
    *ndim = 0;
    while (!peek_char(h, ')')) {
        skip_space(h);
        if (h->pos >= h->len || h->s[h->pos] < '0' || h->s[h->pos] > '9')
            return header_fail(h, "expected a non-negative dimension");
        long long v = 0;
        while (h->pos < h->len && h->s[h->pos] >= '0' && h->s[h->pos] <= '9') {
            v = v * 10 + (h->s[h->pos++] - '0');
            if (v > INT32_MAX)
                return header_fail(h, "dimension too large");
        }
        if (h->pos < h->len && h->s[h->pos] == 'L')    /* Python 2 longs */
            h->pos++;
        if (*ndim == NPY_MAX_DIMS)
            return header_fail(h, "more than 8 dimensions");
        dims[(*ndim)++] = v;
        if (peek_char(h, ','))
            h->pos++;
        else if (!peek_char(h, ')'))
            return header_fail(h, "expected ',' or ')' in shape");
    }
    h->pos++;
    return 0;
}

static int parse_dict(npy_header *h, int *itemsize, int *ndim,
                      long long *dims)
{
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (expect_char(h, '{'))
        return -1;
    while (!peek_char(h, '}')) {
        char key[32], val[32];
        size_t at = h->pos;
        if (parse_string(h, key, sizeof key) || expect_char(h, ':'))
            return -1;
        if (strcmp(key, "descr") == 0 && !have_descr) {
            size_t vat = h->pos;
            if (parse_string(h, val, sizeof val))
                return -1;
            if (strcmp(val, "<f4") == 0)
                *itemsize = 4;
            else if (strcmp(val, "<f8") == 0)
                *itemsize = 8;
            else {
                h->pos = vat;
                skip_space(h);
                return header_fail(h, "dtype is not '<f4' or '<f8'");
            }
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (parse_word(h, "True")) {
                h->pos -= 4;
                return header_fail(h, "Fortran order is not supported");
            }
            if (!parse_word(h, "False"))
                return header_fail(h, "expected False");
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (parse_shape(h, ndim, dims))
                return -1;
            have_shape = 1;
        } else {
            h->pos = at;
            skip_space(h);
            return header_fail(h, "unknown or repeated key");
        }
        if (peek_char(h, ','))
            h->pos++;
        else if (!peek_char(h, '}'))
            return header_fail(h, "expected ',' or '}'");
    }
    h->pos++;
    if (!have_descr || !have_order || !have_shape)
        return header_fail(h, !have_descr ? "no 'descr'"
                              : !have_order ? "no 'fortran_order'"
                                            : "no 'shape'");
    skip_space(h);
    if (h->pos < h->len && h->s[h->pos] == '\n')
        h->pos++;
    if (h->pos != h->len)
        return header_fail(h, "unexpected text after the dict");
    return 0;
}

static real_t load_le(const unsigned char *p, int itemsize)
{
    if (itemsize == 4) {
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &u, 4);
        return (real_t)f;
    }
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | p[i];
    double d;
    memcpy(&d, &u, 8);
    return (real_t)d;
}

int npy_read(const char *path, real_t **data, int *ndim, int *shape,
             char *err, size_t errlen)
{
    *data = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *head = NULL;
    unsigned char *raw = NULL;
    real_t *out = NULL;
    struct stat st;
    unsigned char pre[12];
    if (fstat(fileno(fp), &st) != 0) {
        errorf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        errorf(err, errlen, "%s: is a directory, not a .npy file", path);
        goto fail;
    }
    size_t got = fread(pre, 1, 10, fp);
    if (got < 8 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        errorf(err, errlen, "%s: offset 0: not a .npy file (bad magic)",
                  path);
        goto fail;
    }
    int major = pre[6];
    size_t base, hlen;
    if (major == 1) {
        if (got < 10)
            goto truncated_head;
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        base = 10;
    } else if (major == 2 || major == 3) {
        if (got < 10 || fread(pre + 10, 1, 2, fp) != 2)
            goto truncated_head;
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
               (size_t)pre[11] << 24;
        base = 12;
    } else {
        errorf(err, errlen, "%s: offset 6: unsupported .npy version %d.%d",
                  path, pre[6], pre[7]);
        goto fail;
    }
    if ((uint64_t)base + hlen > (uint64_t)st.st_size) {
        errorf(err, errlen,
                  "%s: offset %zu: header of %zu bytes runs past the end of "
                  "the file (%lld bytes)", path, base, hlen,
                  (long long)st.st_size);
        goto fail;
    }
    head = malloc(hlen + 1);
    if (!head || fread(head, 1, hlen, fp) != hlen) {
        errorf(err, errlen, "%s: offset %zu: cannot read header", path,
                  base);
        goto fail;
    }
    head[hlen] = 0;

    npy_header h = {head, hlen, 0, base, path, err, errlen};
    int itemsize = 0, nd = 0;
    long long dims[NPY_MAX_DIMS];
    if (parse_dict(&h, &itemsize, &nd, dims))
        goto fail;

    uint64_t count = 1;
    for (int i = 0; i < nd; i++) {
        count *= (uint64_t)dims[i];
        if (count > ((uint64_t)1 << 40)) {
            errorf(err, errlen, "%s: offset %zu: array too large", path,
                      base);
            goto fail;
        }
    }
    uint64_t bytes = count * (uint64_t)itemsize;
    uint64_t start = base + hlen;
    uint64_t have = (uint64_t)st.st_size - start;
    if (have < bytes) {
        errorf(err, errlen,
                  "%s: offset %llu: truncated: the shape needs %llu data "
                  "bytes, the file has %llu", path,
                  (unsigned long long)st.st_size, (unsigned long long)bytes,
                  (unsigned long long)have);
        goto fail;
    }
    if (have > bytes) {
        errorf(err, errlen, "%s: offset %llu: %llu unexpected bytes after "
                  "the data", path, (unsigned long long)(start + bytes),
                  (unsigned long long)(have - bytes));
        goto fail;
    }
    raw = malloc(bytes ? bytes : 1);
    out = malloc(count ? count * sizeof *out : sizeof *out);
    if (!raw || !out) {
        errorf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (fread(raw, 1, bytes, fp) != bytes) {
        errorf(err, errlen, "%s: offset %llu: read error", path,
                  (unsigned long long)start);
        goto fail;
    }
    for (uint64_t i = 0; i < count; i++)
        out[i] = load_le(raw + i * itemsize, itemsize);
    for (int i = 0; i < nd; i++)
        shape[i] = (int)dims[i];
    *ndim = nd;
    *data = out;
    free(raw);
    free(head);
    fclose(fp);
    return 0;

truncated_head:
    errorf(err, errlen, "%s: offset %zu: truncated header", path, got);
fail:
    free(out);
    free(raw);
    free(head);
    fclose(fp);
    return -1;
}
