/* idx.c - IDX files (MNIST, Fashion-MNIST): a big-endian magic 0x00000803
 * (unsigned bytes, 3 dimensions: count, rows, columns) for images or
 * 0x00000801 (1 dimension: count) for labels, then the bytes.  Read through
 * zlib's gz* functions, which pass plain files through unchanged, so .gz and
 * unpacked files both work.  Offsets in messages count uncompressed bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "errorf.h"
#include "dataset.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_MAX_SIDE 4096
#define IDX_CLASSES 10

typedef struct idx_file {
    gzFile gz;
    const char *path;
    long long pos;          /* uncompressed bytes read so far */
    long long size;         /* of the file on disk */
} idx_file;

/* The most bytes deflate can expand one compressed byte into is 1032. */
#define IDX_MAX_RATIO 1032

static int idx_open(idx_file *f, const char *path, char *err, size_t errlen)
{
    f->path = path;
    f->pos = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        errorf(err, errlen, "%s: is a directory, not an IDX file", path);
        return -1;
    }
    f->size = (long long)st.st_size;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz) {
        errorf(err, errlen, "%s: cannot open: %s", path,
                  errno ? strerror(errno) : "out of memory");
        return -1;
    }
    gzbuffer(f->gz, 1 << 18);
    return 0;
}

/* zlib's message for the last error, without the "path: " it prefixes. */
static const char *zlib_reason(idx_file *f, int *zerr)
{
    const char *msg = gzerror(f->gz, zerr);
    size_t n = strlen(f->path);
    if (strncmp(msg, f->path, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
        msg += n + 2;
    return *zerr == Z_ERRNO ? strerror(errno) : msg;
}

/* The reason a read came up short: zlib's complaint when it has one. */
static void short_read_error(idx_file *f, const char *what, size_t want,
                             size_t got, char *err, size_t errlen)
{
    int zerr = Z_OK;
    const char *msg = zlib_reason(f, &zerr);
    long long at = f->pos + (long long)got;
    if (zerr == Z_BUF_ERROR)
        errorf(err, errlen,
                  "%s: offset %lld (uncompressed): truncated gzip stream in "
                  "%s (zlib: %s)",
                  f->path, at, what, msg);
    else if (zerr != Z_OK)
        errorf(err, errlen, "%s: offset %lld (uncompressed, about): "
                  "corrupt gzip data in %s (zlib: %s)", f->path, at, what,
                  msg);
    else
        errorf(err, errlen,
                  "%s: offset %lld: truncated: %s needs %zu bytes, the file "
                  "ends after %zu", f->path, at, what, want, got);
}

static int idx_read(idx_file *f, void *buf, size_t want, const char *what,
                    char *err, size_t errlen)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < want) {
        /* Modest reads, so an error is placed within 64 KiB. */
        size_t chunk = want - got > (1u << 16) ? (1u << 16) : want - got;
        int r = gzread(f->gz, p + got, (unsigned)chunk);
        if (r <= 0) {
            short_read_error(f, what, want, got, err, errlen);
            return -1;
        }
        got += (size_t)r;
    }
    f->pos += (long long)want;
    return 0;
}

/* Nothing may follow the data; reading past it also makes zlib check the
 * gzip trailer's CRC, which catches corruption that still inflates. */
static int idx_expect_end(idx_file *f, char *err, size_t errlen)
{
    unsigned char extra;
    int r = gzread(f->gz, &extra, 1);
    if (r == 1) {
        errorf(err, errlen, "%s: offset %lld: unexpected data after the "
                  "last item", f->path, f->pos);
        return -1;
    }
    int zerr = Z_OK;
    const char *msg = zlib_reason(f, &zerr);
    if (r < 0 || zerr != Z_OK) {
        errorf(err, errlen, "%s: offset %lld (uncompressed): corrupt "
                  "gzip data at the end of the stream (zlib: %s)", f->path,
                  f->pos, msg);
        return -1;
    }
    return 0;
}

/* zlib's gzread skips whatever follows a gzip stream that is not another
 * gzip header; this pass finds where the first stream ends and refuses
 * any bytes after it. */
static int idx_gzip_end(idx_file *f, char *err, size_t errlen)
{
    if (gzdirect(f->gz))
        return 0;
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        errorf(err, errlen, "%s: cannot open: %s", f->path, strerror(errno));
        return -1;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        fclose(fp);
        errorf(err, errlen, "%s: out of memory", f->path);
        return -1;
    }
    static unsigned char in[1 << 16], out[1 << 16];
    long long read_in = 0;
    int r = Z_OK;
    while (r != Z_STREAM_END) {
        if (zs.avail_in == 0) {
            size_t got = fread(in, 1, sizeof in, fp);
            if (got == 0)
                break;
            read_in += (long long)got;
            zs.next_in = in;
            zs.avail_in = (uInt)got;
        }
        zs.next_out = out;
        zs.avail_out = sizeof out;
        r = inflate(&zs, Z_NO_FLUSH);
        if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
            break;
    }
    long long end = read_in - (long long)zs.avail_in;
    inflateEnd(&zs);
    fclose(fp);
    if (r != Z_STREAM_END) {
        errorf(err, errlen, "%s: offset %lld (compressed): corrupt or truncated "
                  "gzip stream", f->path, end);
        return -1;
    }
    if (end != f->size) {
        errorf(err, errlen, "%s: offset %lld (compressed): %lld bytes after the "
                  "end of the gzip stream", f->path, end, f->size - end);
        return -1;
    }
    return 0;
}

/* Before allocating for `bytes` of items: can the file hold them?  A plain
 * file must have exactly the header and the items; a gzip file cannot
 * expand past deflate's ratio. */
static int idx_check_size(idx_file *f, long long header, long long bytes,
                          const char *what, char *err, size_t errlen)
{
    if (gzdirect(f->gz)) {
        if (f->size - header < bytes) {
            errorf(err, errlen, "%s: offset %lld: truncated: the header promises "
                      "%lld bytes of the %s, the file ends after %lld", f->path,
                      f->size, bytes, what, f->size - header);
            return -1;
        }
        return 0;
    }
    if ((double)bytes > (double)f->size * IDX_MAX_RATIO) {
        errorf(err, errlen, "%s: offset 4: the header promises %lld bytes of the %s, "
                  "more than a gzip file of %lld bytes can hold", f->path, bytes,
                  what, f->size);
        return -1;
    }
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Reads the magic and dims; ndim is 3 for images, 1 for labels. */
static int idx_header(idx_file *f, uint32_t magic, int ndim, uint32_t *dims,
                      char *err, size_t errlen)
{
    unsigned char b[16];
    if (idx_read(f, b, 4 + 4 * (size_t)ndim, "the header", err, errlen))
        return -1;
    uint32_t m = be32(b);
    if (m != magic) {
        errorf(err, errlen,
                  "%s: offset 0: bad magic 0x%08x, expected 0x%08x (%s)",
                  f->path, m, magic,
                  magic == IDX_IMAGES_MAGIC ? "an IDX file of images"
                                            : "an IDX file of labels");
        return -1;
    }
    for (int i = 0; i < ndim; i++)
        dims[i] = be32(b + 4 + 4 * i);
    return 0;
}

int dataset_load_idx(const char *images, const char *labels,
                     advcc_dataset *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    idx_file fi = {0}, fl = {0};
    uint32_t di[3], dl[1];
    if (idx_open(&fi, images, err, errlen) ||
        idx_header(&fi, IDX_IMAGES_MAGIC, 3, di, err, errlen))
        goto fail;
    if (di[0] == 0 || di[0] > INT32_MAX) {
        errorf(err, errlen, "%s: offset 4: bad image count %u", images,
                  di[0]);
        goto fail;
    }
    for (int i = 1; i < 3; i++) {
        if (di[i] == 0 || di[i] > IDX_MAX_SIDE) {
            errorf(err, errlen, "%s: offset %d: bad image %s %u", images,
                      4 + 4 * i, i == 1 ? "height" : "width", di[i]);
            goto fail;
        }
    }
    if (idx_open(&fl, labels, err, errlen) ||
        idx_header(&fl, IDX_LABELS_MAGIC, 1, dl, err, errlen))
        goto fail;
    if (dl[0] != di[0]) {
        errorf(err, errlen, "%s: offset 4: %u labels, but %s has %u images",
                  labels, dl[0], images, di[0]);
        goto fail;
    }

    size_t n = di[0], pixels = (size_t)di[1] * di[2];
    if (idx_check_size(&fi, 16, (long long)(n * pixels), "images", err, errlen) ||
        idx_check_size(&fl, 8, (long long)n, "labels", err, errlen))
        goto fail;
    out->pixels = malloc(n * pixels);
    out->labels = malloc(n);
    if (!out->pixels || !out->labels) {
        errorf(err, errlen, "%s: out of memory for %zu images", images, n);
        goto fail;
    }
    if (idx_read(&fi, out->pixels, n * pixels, "the images", err, errlen) ||
        idx_expect_end(&fi, err, errlen) ||
        idx_read(&fl, out->labels, n, "the labels", err, errlen) ||
        idx_expect_end(&fl, err, errlen) || idx_gzip_end(&fi, err, errlen) ||
        idx_gzip_end(&fl, err, errlen))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (out->labels[i] >= IDX_CLASSES) {
            errorf(err, errlen,
                      "%s: offset %zu: label %u of item %zu is not in 0..9",
                      labels, 8 + i, out->labels[i], i + 1);
            goto fail;
        }
    }
    gzclose(fi.gz);
    gzclose(fl.gz);
    out->n = (int)n;
    out->c = 1;
    out->h = (int)di[1];
    out->w = (int)di[2];
    out->classes = IDX_CLASSES;
    snprintf(out->name, sizeof out->name, "idx");
    return 0;

fail:
    if (fi.gz)
        gzclose(fi.gz);
    if (fl.gz)
        gzclose(fl.gz);
    dataset_free(out);
    return -1;
}
