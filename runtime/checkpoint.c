/* checkpoint.c - parameters as a safetensors file:
 *
 *   8 bytes    N, the header length, unsigned little-endian
 *   N bytes    JSON: {"__metadata__":{"model":"NAME","format":"advcc",
 *              "advcc_version":ADVCC_VERSION,"spec":"specs/NAME.net", ...
 *              the model's description (model.h)},
 *              "conv1.weight":{"dtype":"F32","shape":[32,3,5,5],
 *              "data_offsets":[BEGIN,END]}, ...} padded with spaces so the
 *              data start on an 8-byte boundary
 *   the data   each tensor's float32 values, little-endian, C order; offsets
 *              count from the first data byte
 *
 * A checkpoint holds the model: every tensor of the descriptor but the
 * training-only ones (model.h, train_only: the spectral penalty's power-iteration
 * vectors), which only the training state (train_state.c) stores, as
 * float32 whatever real_t is.  The loader parses exactly this JSON shape
 * (objects, strings, unsigned integers and arrays of them), checks every
 * tensor before it writes a single parameter, and names the file and the
 * tensor or header offset in every complaint.  It also reads what PyTorch
 * writes for the same network: tensors in any order, F64, F16 and BF16
 * converted, BatchNorm's num_batches_tracked (and advcc's training-only
 * tensors, from older checkpoints or models with a regulariser) skipped. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "errorf.h"
#include "atomic_file.h"
#include "checkpoint.h"
#include "cli.h"
#include <math.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20)  /* the limit safetensors itself sets */

/* A descriptor is checked before it is trusted with either direction. */
static int check_model(const advcc_model *m, char *err, size_t errlen)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const advcc_tensor *t = &m->tensors[i];
        size_t numel = 1;
        if (t->ndim < 0 || t->ndim > 4) {
            errorf(err, errlen, "model %s: tensor '%s' has %d dimensions",
                     m->name, t->name, t->ndim);
            return -1;
        }
        for (int d = 0; d < t->ndim; d++)
            numel *= t->shape[d] < 0 ? 0 : (size_t)t->shape[d];
        if (numel != t->size || t->offset > m->n_params ||
            t->size > m->n_params - t->offset) {
            errorf(err, errlen,
                     "model %s: tensor '%s' has size %zu at offset %zu, which "
                     "does not match its shape or the %zu parameters",
                     m->name, t->name, t->size, t->offset, m->n_params);
            return -1;
        }
        for (int k = 0; k < i; k++) {
            if (strcmp(m->tensors[k].name, t->name) == 0) {
                errorf(err, errlen, "model %s: two tensors named '%s'",
                         m->name, t->name);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- writing ---- */

typedef struct text {
    char *s;
    size_t len, cap;
    int oom;
} text;

static void text_add(text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

/* A JSON string literal; names are identifiers in practice, but a quote or
 * a backslash must not break the header. */
static void text_add_string(text *t, const char *s)
{
    text_add(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            text_add(t, "\\%c", c);
        else if (c < 0x20)
            text_add(t, "\\u%04x", c);
        else
            text_add(t, "%c", c);
    }
    text_add(t, "\"");
}

static void put_le32(unsigned char *p, uint32_t u)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

int checkpoint_train_only(const advcc_model *m, const advcc_tensor *t)
{
    for (const char *const *n = m->train_only; n && *n; n++)
        if (!strcmp(*n, t->name))
            return 1;
    return 0;
}

static int stored(const advcc_model *m, const advcc_tensor *t, int all)
{
    return all || !checkpoint_train_only(m, t);
}

static int save(const char *path, const advcc_model *m, const real_t *params,
                int all, char *err, size_t errlen)
{
    if (check_model(m, err, errlen))
        return -1;
    text h = {malloc(256), 0, 256, 0};
    if (!h.s)
        h.oom = 1;
    else
        h.s[0] = 0;
    text_add(&h, "{\"__metadata__\":{\"model\":");
    text_add_string(&h, m->name);
    text_add(&h, ",\"format\":\"advcc\",\"advcc_version\":");
    text_add_string(&h, ADVCC_VERSION);
    if (all)
        text_add(&h, ",\"contents\":\"training state\"");
    for (const char *const *d = m->description; d && d[0] && d[1]; d += 2) {
        text_add(&h, ",");
        text_add_string(&h, d[0]);
        text_add(&h, ":");
        text_add_string(&h, d[1]);
    }
    text_add(&h, "}");
    size_t begin = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const advcc_tensor *t = &m->tensors[i];
        if (!stored(m, t, all))
            continue;
        text_add(&h, ",");
        text_add_string(&h, t->name);
        text_add(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++)
            text_add(&h, d ? ",%d" : "%d", t->shape[d]);
        text_add(&h, "],\"data_offsets\":[%zu,%zu]}", begin,
                 begin + 4 * t->size);
        begin += 4 * t->size;
    }
    text_add(&h, "}");
    while (!h.oom && h.len % 8 != 0)
        text_add(&h, " ");
    if (h.oom) {
        free(h.s);
        errorf(err, errlen, "%s: out of memory", path);
        return -1;
    }

    atomic_file af;
    if (atomic_open(&af, path) != 0) {
        free(h.s);
        errorf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    fwrite(len8, 1, 8, af.fp);
    fwrite(h.s, 1, h.len, af.fp);
    free(h.s);
    unsigned char buf[4096];
    size_t fill = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        if (!stored(m, &m->tensors[i], all))
            continue;
        const real_t *p = params + m->tensors[i].offset;
        for (size_t k = 0; k < m->tensors[i].size; k++) {
            float f = (float)p[k];
            uint32_t u;
            memcpy(&u, &f, 4);
            put_le32(buf + fill, u);
            fill += 4;
            if (fill == sizeof buf) {
                fwrite(buf, 1, fill, af.fp);
                fill = 0;
            }
        }
    }
    fwrite(buf, 1, fill, af.fp);
    if (atomic_commit(&af) != 0) {
        errorf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int checkpoint_save(const char *path, const advcc_model *m,
                    const real_t *params, char *err, size_t errlen)
{
    return save(path, m, params, 0, err, errlen);
}

int checkpoint_save_all(const char *path, const advcc_model *m,
                        const real_t *params, char *err, size_t errlen)
{
    return save(path, m, params, 1, err, errlen);
}

/* ---- reading: a strict parser for the header above ---- */

typedef struct st_entry {
    char *name;
    char dtype[8];
    int ndim;
    uint64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;
    int used;
} st_entry;

typedef struct st_parser {
    const char *s;
    size_t len, pos;
    const char *path;
    char *err;
    size_t errlen;
    st_entry *entries;
    int n, cap;
    int *slots;             /* hash set of entry indices + 1, 0 when free */
    size_t nslots;
    char **meta;            /* __metadata__: key, value, key, value... */
    int n_meta;
} st_parser;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;    /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The entry named name, or NULL; linear probing over p->slots. */
static st_entry *find_entry(const st_parser *p, const char *name)
{
    if (!p->nslots)
        return NULL;
    for (size_t i = name_hash(name) & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
        int k = p->slots[i];
        if (!k)
            return NULL;
        if (strcmp(p->entries[k - 1].name, name) == 0)
            return &p->entries[k - 1];
    }
}

/* Adds entry index k to the set, growing it to stay at most half full. */
static int index_entry(st_parser *p, int k)
{
    if (2 * (size_t)(k + 1) > p->nslots) {
        size_t n = p->nslots ? 2 * p->nslots : 64;
        int *s = calloc(n, sizeof *s);
        if (!s)
            return -1;
        for (size_t i = 0; i < p->nslots; i++) {
            int e = p->slots[i];
            if (!e)
                continue;
            size_t j = name_hash(p->entries[e - 1].name) & (n - 1);
            while (s[j])
                j = (j + 1) & (n - 1);
            s[j] = e;
        }
        free(p->slots);
        p->slots = s;
        p->nslots = n;
    }
    size_t j = name_hash(p->entries[k].name) & (p->nslots - 1);
    while (p->slots[j])
        j = (j + 1) & (p->nslots - 1);
    p->slots[j] = k + 1;
    return 0;
}

static int parse_fail(st_parser *p, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* +8: offsets count from the start of the file, not of the JSON. */
    errorf(p->err, p->errlen, "%s: offset %zu: bad safetensors header: %s",
             p->path, p->pos + 8, what);
    return -1;
}

static void skip_ws(st_parser *p)
{
    while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) &&
           p->s[p->pos])
        p->pos++;
}

static int accept(st_parser *p, char c)
{
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == c) {
        p->pos++;
        return 1;
    }
    return 0;
}

static int expect(st_parser *p, char c)
{
    if (accept(p, c))
        return 0;
    return parse_fail(p, "expected '%c'", c);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A JSON string into a malloc'ed, NUL-terminated UTF-8 copy. \u escapes
 * outside the Basic Multilingual Plane's non-surrogates are refused. */
static int parse_string(st_parser *p, char **out)
{
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return parse_fail(p, "expected a string");
    p->pos++;
    /* The copy is no longer than the string's raw text (escapes shrink);
     * sizing it by the rest of the header would make a header of many
     * keys take memory quadratic in its length. */
    size_t raw = p->pos;
    while (raw < p->len && p->s[raw] != '"')
        raw += p->s[raw] == '\\' ? 2 : 1;
    if (raw > p->len)
        raw = p->len;
    char *o = malloc(raw - p->pos + 1);
    if (!o)
        return parse_fail(p, "out of memory");
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) {
            free(o);
            return parse_fail(p, "unterminated string");
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"')
            break;
        if (c < 0x20) {
            free(o);
            return parse_fail(p, "control character in a string");
        }
        if (c != '\\') {
            o[n++] = (char)c;
            p->pos++;
            continue;
        }
        if (p->pos + 1 >= p->len) {
            free(o);
            return parse_fail(p, "unterminated string");
        }
        char e = p->s[p->pos + 1];
        const char *plain = strchr("\"\\/bfnrt", e);
        if (e && plain) {
            o[n++] = "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"];
            p->pos += 2;
            continue;
        }
        unsigned u = 0;
        int ok = e == 'u' && p->pos + 6 <= p->len;
        for (int i = 0; ok && i < 4; i++) {
            int d = hex_digit(p->s[p->pos + 2 + i]);
            ok = d >= 0;
            u = u * 16 + (unsigned)(d < 0 ? 0 : d);
        }
        if (!ok || u == 0 || (u >= 0xd800 && u <= 0xdfff)) {
            free(o);
            return parse_fail(p, "unsupported escape in a string");
        }
        if (u < 0x80) {
            o[n++] = (char)u;
        } else if (u < 0x800) {
            o[n++] = (char)(0xc0 | u >> 6);
            o[n++] = (char)(0x80 | (u & 0x3f));
        } else {
            o[n++] = (char)(0xe0 | u >> 12);
            o[n++] = (char)(0x80 | (u >> 6 & 0x3f));
            o[n++] = (char)(0x80 | (u & 0x3f));
        }
        p->pos += 6;
    }
    p->pos++;
    o[n] = 0;
    *out = o;
    return 0;
}

static int parse_uint(st_parser *p, uint64_t *v)
{
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return parse_fail(p, "expected an unsigned integer");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len &&
        p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        return parse_fail(p, "leading zero in a number");
    uint64_t x = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = (unsigned)(p->s[p->pos] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return parse_fail(p, "number too large");
        x = x * 10 + d;
        p->pos++;
    }
    *v = x;
    return 0;
}

/* [u, u, ...] with at most max items. */
static int parse_uint_array(st_parser *p, uint64_t *a, int max, int *n)
{
    *n = 0;
    if (expect(p, '['))
        return -1;
    if (accept(p, ']'))
        return 0;
    do {
        if (*n == max)
            return parse_fail(p, "more than %d numbers in an array", max);
        if (parse_uint(p, &a[(*n)++]))
            return -1;
    } while (accept(p, ','));
    return expect(p, ']');
}

/* {"model":"...","format":"..."}: any string-valued keys are accepted. */
static int parse_metadata(st_parser *p)
{
    if (expect(p, '{'))
        return -1;
    if (accept(p, '}'))
        return 0;
    do {
        char *k, *v;
        if (parse_string(p, &k))
            return -1;
        if (expect(p, ':') || parse_string(p, &v)) {
            free(k);
            return -1;
        }
        char **meta = realloc(p->meta, sizeof *meta * (size_t)(p->n_meta + 2));
        if (!meta) {
            free(k);
            free(v);
            return parse_fail(p, "out of memory");
        }
        p->meta = meta;
        p->meta[p->n_meta++] = k;
        p->meta[p->n_meta++] = v;
    } while (accept(p, ','));
    return expect(p, '}');
}

static int parse_tensor(st_parser *p, st_entry *e)
{
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    skip_ws(p);
    size_t start = p->pos;
    if (expect(p, '{'))
        return -1;
    do {
        char *key;
        size_t at = p->pos;
        if (parse_string(p, &key))
            return -1;
        int which = strcmp(key, "dtype") == 0          ? 1
                    : strcmp(key, "shape") == 0        ? 2
                    : strcmp(key, "data_offsets") == 0 ? 3
                                                       : 0;
        int *seen = which == 1 ? &have_dtype
                    : which == 2 ? &have_shape : &have_offsets;
        if (which == 0 || *seen) {
            p->pos = at;
            skip_ws(p);
            int r = parse_fail(p, "%s key \"%s\" in tensor '%s'",
                               which ? "repeated" : "unknown", key, e->name);
            free(key);
            return r;
        }
        free(key);
        *seen = 1;
        if (expect(p, ':'))
            return -1;
        if (which == 1) {
            char *dtype;
            if (parse_string(p, &dtype))
                return -1;
            /* Longer names are cut short, and are not F32 either way. */
            snprintf(e->dtype, sizeof e->dtype, "%s", dtype);
            free(dtype);
        } else if (which == 2) {
            if (parse_uint_array(p, e->shape, ST_MAX_DIMS, &e->ndim))
                return -1;
        } else {
            uint64_t off[2];
            int n;
            size_t at2 = p->pos;
            if (parse_uint_array(p, off, 2, &n))
                return -1;
            if (n != 2) {
                p->pos = at2;
                skip_ws(p);
                return parse_fail(p, "data_offsets of '%s' is not "
                                  "[begin,end]", e->name);
            }
            e->begin = off[0];
            e->end = off[1];
        }
    } while (accept(p, ','));
    if (expect(p, '}'))
        return -1;
    if (!have_dtype || !have_shape || !have_offsets) {
        p->pos = start;
        return parse_fail(p, "tensor '%s' lacks \"%s\"", e->name,
                          !have_dtype ? "dtype"
                          : !have_shape ? "shape" : "data_offsets");
    }
    return 0;
}

static int parse_header(st_parser *p)
{
    int have_metadata = 0;
    if (expect(p, '{'))
        return -1;
    if (!accept(p, '}')) {
        do {
            char *key;
            size_t at = p->pos;
            if (parse_string(p, &key))
                return -1;
            if (expect(p, ':')) {
                free(key);
                return -1;
            }
            int dup = strcmp(key, "__metadata__") == 0 ? have_metadata
                                                       : find_entry(p, key) != NULL;
            if (dup) {
                p->pos = at;
                skip_ws(p);
                int r = parse_fail(p, "key \"%s\" appears twice", key);
                free(key);
                return r;
            }
            if (strcmp(key, "__metadata__") == 0) {
                free(key);
                have_metadata = 1;
                if (parse_metadata(p))
                    return -1;
                continue;
            }
            if (p->n == p->cap) {
                int cap = p->cap ? 2 * p->cap : 16;
                st_entry *e = realloc(p->entries, (size_t)cap * sizeof *e);
                if (!e) {
                    free(key);
                    return parse_fail(p, "out of memory");
                }
                p->entries = e;
                p->cap = cap;
            }
            st_entry *e = &p->entries[p->n];
            memset(e, 0, sizeof *e);
            e->name = key;
            p->n++;     /* from here the key is freed with the entries */
            if (index_entry(p, p->n - 1) != 0)
                return parse_fail(p, "out of memory");
            if (parse_tensor(p, e))
                return -1;
        } while (accept(p, ','));
        if (expect(p, '}'))
            return -1;
    }
    skip_ws(p);
    if (p->pos != p->len)
        return parse_fail(p, "unexpected text after the header object");
    return 0;
}

static void shape_text(char *buf, size_t len, int ndim, const uint64_t *u,
                       const int *s)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, d ? ",%llu" : "%llu",
                                 u ? (unsigned long long)u[d]
                                   : (unsigned long long)s[d]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

/* Bytes per element of the floating dtypes the loader converts; 0 for
 * any other. */
static int float_size(const char *dtype)
{
    return !strcmp(dtype, "F32") ? 4 : !strcmp(dtype, "F64") ? 8
           : !strcmp(dtype, "F16") || !strcmp(dtype, "BF16") ? 2 : 0;
}

static int dtype_size(const char *dtype)
{
    int f = float_size(dtype);
    if (f)
        return f;
    if (!strcmp(dtype, "I64") || !strcmp(dtype, "U64"))
        return 8;
    if (!strcmp(dtype, "I32") || !strcmp(dtype, "U32"))
        return 4;
    if (!strcmp(dtype, "I16") || !strcmp(dtype, "U16"))
        return 2;
    if (!strcmp(dtype, "I8") || !strcmp(dtype, "U8") || !strcmp(dtype, "BOOL"))
        return 1;
    return 0;
}

/* IEEE half to float. */
static float half_to_float(unsigned h)
{
    unsigned sign = h >> 15, exp = h >> 10 & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), (int)exp - 25);
    return sign ? -v : v;
}

/* Element k of a tensor stored as dtype at src, as a float. */
static double element(const unsigned char *src, const char *dtype, size_t k)
{
    int size = float_size(dtype);
    const unsigned char *b = src + k * (size_t)size;
    uint64_t u = 0;
    for (int i = size - 1; i >= 0; i--)
        u = u << 8 | b[i];
    if (size == 8) {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    if (size == 2 && dtype[0] == 'F')
        return half_to_float((unsigned)u);
    uint32_t w = size == 2 ? (uint32_t)u << 16 : (uint32_t)u;   /* BF16, F32 */
    float f;
    memcpy(&f, &w, 4);
    return f;
}

/* The file's entry is in range of the data section (data_len bytes) and
 * holds as many bytes as its shape says; any dtype. */
static int check_extent(const char *path, const st_entry *e, uint64_t data_len,
                        char *err, size_t errlen)
{
    int size = dtype_size(e->dtype);
    uint64_t numel = 1;
    for (int d = 0; d < e->ndim; d++)
        numel *= e->shape[d];
    if (e->begin > e->end || (size && e->end - e->begin != numel * (uint64_t)size)) {
        errorf(err, errlen,
                 "%s: tensor '%s' has data_offsets [%llu,%llu], which is not "
                 "%llu bytes", path, e->name, (unsigned long long)e->begin,
                 (unsigned long long)e->end, (unsigned long long)(numel * (uint64_t)size));
        return -1;
    }
    if (e->end > data_len) {
        errorf(err, errlen,
                 "%s: tensor '%s' ends at data offset %llu, past the end of "
                 "the data (%llu bytes; the file is truncated?)", path,
                 e->name, (unsigned long long)e->end,
                 (unsigned long long)data_len);
        return -1;
    }
    return 0;
}

/* Checks one model tensor against the file's entry; data_len is the size of
 * the data section. */
static int check_entry(const char *path, const advcc_tensor *t,
                       const st_entry *e, uint64_t data_len, char *err,
                       size_t errlen)
{
    if (!float_size(e->dtype)) {
        errorf(err, errlen, "%s: tensor '%s' has dtype %s, expected F32 (or F64, "
                 "F16, BF16, converted)", path, t->name, e->dtype);
        return -1;
    }
    int same = e->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++)
        same = e->shape[d] == (uint64_t)t->shape[d];
    if (!same) {
        char have[128], want[128];
        shape_text(have, sizeof have, e->ndim, e->shape, NULL);
        shape_text(want, sizeof want, t->ndim, NULL, t->shape);
        errorf(err, errlen,
                 "%s: tensor '%s' has shape %s, the model expects %s", path,
                 t->name, have, want);
        return -1;
    }
    return check_extent(path, e, data_len, err, errlen);
}

/* Tensors a file may hold beyond the model's: PyTorch's BatchNorm counter,
 * and advcc's training-only state (power-iteration vectors "<layer>.sn_u",
 * "<layer>.sn2_v", ...) that older checkpoints and models with a
 * regulariser carry. */
static int skippable(const char *name)
{
    const char *leaf = strrchr(name, '.');
    leaf = leaf ? leaf + 1 : name;
    if (!strcmp(leaf, "num_batches_tracked"))
        return 1;
    size_t n = strlen(leaf);
    if (strncmp(leaf, "sn", 2) != 0 || n < 4 || leaf[n - 2] != '_' ||
        (leaf[n - 1] != 'u' && leaf[n - 1] != 'v'))
        return 0;
    for (size_t i = 2; i < n - 2; i++)
        if (leaf[i] < '0' || leaf[i] > '9')
            return 0;
    return 1;
}

/* After "missing" or "not in the model": both lists, names and shapes. */
static void list_mismatch(char *err, size_t errlen, const advcc_model *m,
                          const st_parser *p, int all)
{
    size_t k = strlen(err);
    char shape[128];
    k += (size_t)snprintf(err + k, k < errlen ? errlen - k : 0, "\n  model %s expects:", m->name);
    for (int i = 0; i < m->n_tensors && k < errlen; i++) {
        const advcc_tensor *t = &m->tensors[i];
        if (!stored(m, t, all))
            continue;
        shape_text(shape, sizeof shape, t->ndim, NULL, t->shape);
        k += (size_t)snprintf(err + k, errlen - k, " %s %s", t->name, shape);
    }
    if (k < errlen)
        k += (size_t)snprintf(err + k, errlen - k, "\n  the file has:%s", p->n ? "" : " nothing");
    for (int i = 0; i < p->n && k < errlen; i++) {
        shape_text(shape, sizeof shape, p->entries[i].ndim, p->entries[i].shape, NULL);
        k += (size_t)snprintf(err + k, errlen - k, " %s %s %s", p->entries[i].name,
                              p->entries[i].dtype, shape);
    }
}

static void parser_free(st_parser *p)
{
    for (int k = 0; k < p->n; k++)
        free(p->entries[k].name);
    for (int k = 0; k < p->n_meta; k++)
        free(p->meta[k]);
    free(p->meta);
    free(p->entries);
    free(p->slots);
}

/* Opens path into *fpp (NULL when it cannot) and parses its header into
 * p; the data section's size into *data_len and the header length into
 * *hlen.  Leaves *fpp at the data; the caller closes it. */
static int read_header(const char *path, FILE **fpp, st_parser *p, char **header,
                       uint64_t *hlen, uint64_t *data_len, char *err, size_t errlen)
{
    FILE *fp = *fpp = fopen(path, "rb");
    if (!fp) {
        errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    unsigned char len8[8];
    if (fstat(fileno(fp), &st) != 0) {
        errorf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        errorf(err, errlen, "%s: is a directory, not a checkpoint file", path);
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (fread(len8, 1, 8, fp) != 8) {
        errorf(err, errlen, "%s: offset 0: truncated: no header length "
                 "(the file has %llu bytes)", path, (unsigned long long)size);
        return -1;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len8[i];
    if (n > size - 8 || n > ST_MAX_HEADER) {
        errorf(err, errlen,
                 "%s: offset 0: header length %llu is past the end of the "
                 "file (%llu bytes; truncated or not a safetensors file)",
                 path, (unsigned long long)n, (unsigned long long)size);
        return -1;
    }
    *header = malloc(n + 1);
    if (!*header || fread(*header, 1, n, fp) != n) {
        errorf(err, errlen, "%s: offset 8: cannot read the header", path);
        return -1;
    }
    (*header)[n] = 0;
    p->s = *header;
    p->len = n;
    p->path = path;
    p->err = err;
    p->errlen = errlen;
    if (parse_header(p))
        return -1;
    *hlen = n;
    *data_len = size - 8 - n;
    return 0;
}

static int load(const char *path, const advcc_model *m, real_t *params, int all,
                char *err, size_t errlen)
{
    if (check_model(m, err, errlen))
        return -1;
    FILE *fp = NULL;
    st_parser p = {0};
    char *header = NULL;
    unsigned char *data = NULL;
    int rc = -1;
    uint64_t n = 0, data_len = 0;
    if (read_header(path, &fp, &p, &header, &n, &data_len, err, errlen))
        goto done;

    for (int i = 0; i < m->n_tensors; i++) {
        const advcc_tensor *t = &m->tensors[i];
        st_entry *e = find_entry(&p, t->name);
        if (!e) {
            if (!stored(m, t, all))
                continue;       /* training state: the model does without */
            errorf(err, errlen, "%s: tensor '%s' of model %s is missing", path,
                     t->name, m->name);
            list_mismatch(err, errlen, m, &p, all);
            goto done;
        }
        if (check_entry(path, t, e, data_len, err, errlen))
            goto done;
        e->used = 1;
    }
    uint64_t data_end = 0;
    for (int k = 0; k < p.n; k++) {
        if (!p.entries[k].used) {
            if (!skippable(p.entries[k].name)) {
                errorf(err, errlen, "%s: tensor '%s' is not a tensor of model "
                         "%s", path, p.entries[k].name, m->name);
                list_mismatch(err, errlen, m, &p, all);
                goto done;
            }
            if (check_extent(path, &p.entries[k], data_len, err, errlen))
                goto done;
        }
        if (p.entries[k].end > data_end)
            data_end = p.entries[k].end;
    }
    if (data_end != data_len) {
        errorf(err, errlen, "%s: offset %llu: %llu bytes after the last tensor's "
                 "data (not a file advcc wrote, or two files joined)", path,
                 (unsigned long long)(8 + n + data_end),
                 (unsigned long long)(data_len - data_end));
        goto done;
    }

    data = malloc(data_len ? data_len : 1);
    if (!data || fread(data, 1, data_len, fp) != data_len) {
        errorf(err, errlen, "%s: offset %llu: cannot read the data", path,
                 (unsigned long long)(8 + n));
        goto done;
    }
    /* Every value must be finite (as float32): a NaN or an infinity is a
     * broken run. */
    for (int i = 0; i < m->n_tensors; i++) {
        const advcc_tensor *t = &m->tensors[i];
        const st_entry *e = find_entry(&p, t->name);
        if (!e)
            continue;
        for (size_t k = 0; k < t->size; k++) {
            double v = element(data + e->begin, e->dtype, k);
            if (!isfinite((float)v)) {
                errorf(err, errlen, "%s: offset %llu: tensor '%s' element %zu is %s "
                         "(a diverged or corrupted run)", path,
                         (unsigned long long)(8 + n + e->begin +
                                              (uint64_t)float_size(e->dtype) * k),
                         t->name, k, isnan(v) ? "NaN" : "infinite");
                goto done;
            }
        }
    }
    /* Everything is checked; only now are the parameters overwritten.
     * Values pass through float32, as advcc stores them. */
    for (int i = 0; i < m->n_tensors; i++) {
        const advcc_tensor *t = &m->tensors[i];
        const st_entry *e = find_entry(&p, t->name);
        if (!e)
            continue;
        for (size_t k = 0; k < t->size; k++)
            params[t->offset + k] = (real_t)(float)element(data + e->begin, e->dtype, k);
    }
    rc = 0;

done:
    parser_free(&p);
    free(data);
    free(header);
    if (fp)
        fclose(fp);
    return rc;
}

int checkpoint_load(const char *path, const advcc_model *m, real_t *params,
                    char *err, size_t errlen)
{
    return load(path, m, params, 0, err, errlen);
}

int checkpoint_load_all(const char *path, const advcc_model *m, real_t *params,
                        char *err, size_t errlen)
{
    return load(path, m, params, 1, err, errlen);
}

int checkpoint_print_info(const char *path, FILE *out, char *err, size_t errlen)
{
    FILE *fp = NULL;
    st_parser p = {0};
    char *header = NULL;
    uint64_t n = 0, data_len = 0;
    int rc = read_header(path, &fp, &p, &header, &n, &data_len, err, errlen);
    if (rc == 0) {
        fprintf(out, "checkpoint %s\n", path);
        for (int k = 0; k + 1 < p.n_meta; k += 2)
            fprintf(out, "  %-14s %s\n", p.meta[k], p.meta[k + 1]);
        if (!p.n_meta)
            fprintf(out, "  (no metadata)\n");
        uint64_t values = 0;
        for (int k = 0; k < p.n; k++) {
            uint64_t numel = 1;
            for (int d = 0; d < p.entries[k].ndim; d++)
                numel *= p.entries[k].shape[d];
            values += numel;
        }
        fprintf(out, "  %d tensors, %llu values, %llu bytes of data\n", p.n,
                (unsigned long long)values, (unsigned long long)data_len);
    }
    parser_free(&p);
    free(header);
    if (fp)
        fclose(fp);
    return rc;
}
