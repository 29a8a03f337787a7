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
 * float32 whatever real_t is.  The header is written and read with
 * Jansson; the loader refuses repeated keys, then checks exactly this shape
 * (objects, strings, unsigned integers and arrays of them) and every tensor
 * before it writes a single parameter, and names the file and the header
 * offset (JSON syntax) or the tensor and key in every complaint.  It also reads what PyTorch
 * writes for the same network: tensors in any order, F64, F16 and BF16
 * converted, BatchNorm's num_batches_tracked (and advcc's training-only
 * tensors, from older checkpoints or models with a regulariser) skipped. */
#include <errno.h>
#include <jansson.h>
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

/* The header: the metadata, then every stored tensor in the descriptor's
 * order with its offsets in the data; NULL when a name is not UTF-8 or
 * memory runs out. */
static json_t *header_json(const advcc_model *m, int all)
{
    json_t *h = json_object();
    json_t *meta = json_pack("{s:s, s:s, s:s}", "model", m->name, "format", "advcc",
                             "advcc_version", ADVCC_VERSION);
    /* json_object_set_new frees the value when it fails, h NULL included */
    if (json_object_set_new(h, "__metadata__", meta) ||
        (all && json_object_set_new(meta, "contents", json_string("training state"))))
        goto fail;
    for (const char *const *d = m->description; d && d[0] && d[1]; d += 2)
        if (json_object_set_new(meta, d[0], json_string(d[1])))
            goto fail;
    size_t begin = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const advcc_tensor *t = &m->tensors[i];
        if (!stored(m, t, all))
            continue;
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            if (json_array_append_new(shape, json_integer(t->shape[d]))) {
                json_decref(shape);
                goto fail;
            }
        size_t end = begin + 4 * t->size;
        if (json_object_set_new(h, t->name,
                                json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape",
                                          shape, "data_offsets", (json_int_t)begin,
                                          (json_int_t)end)))
            goto fail;
        begin = end;
    }
    return h;
fail:
    json_decref(h);
    return NULL;
}

static int save(const char *path, const advcc_model *m, const real_t *params,
                int all, char *err, size_t errlen)
{
    if (check_model(m, err, errlen))
        return -1;
    json_t *hj = header_json(m, all);
    char *h = hj ? json_dumps(hj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(hj);
    if (!h) {
        errorf(err, errlen, "%s: cannot encode the header (a name that is not "
                 "UTF-8, or out of memory)", path);
        return -1;
    }
    /* Spaces pad the header so that the data start on an 8-byte boundary. */
    size_t len = strlen(h), padded = (len + 7) / 8 * 8;

    atomic_file af;
    if (atomic_open(&af, path) != 0) {
        free(h);
        errorf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, af.fp);
    fwrite(h, 1, len, af.fp);
    for (; len < padded; len++)
        fputc(' ', af.fp);
    free(h);
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

/* ---- reading: the header through Jansson, then its shape checked ---- */

typedef struct st_entry {
    const char *name;       /* a key of st_header.root */
    char dtype[8];
    int ndim;
    uint64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;
    int used;
} st_entry;

typedef struct st_header {
    json_t *root;           /* the header object */
    json_t *meta;           /* its __metadata__, or NULL */
    json_t *index;          /* tensor name -> its index in entries */
    st_entry *entries;
    int n;
} st_header;

/* The entry named name, or NULL. */
static st_entry *find_entry(const st_header *h, const char *name)
{
    json_t *k = json_object_get(h->index, name);
    return k ? &h->entries[json_integer_value(k)] : NULL;
}

static void header_free(st_header *h)
{
    json_decref(h->root);
    json_decref(h->index);
    free(h->entries);
}

/* A header that is JSON but not a safetensors header: the complaint names
 * the tensor and the key, and quotes the value. */
static int bad_header(const char *path, char *err, size_t errlen, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    errorf(err, errlen, "%s: bad safetensors header: %s", path, what);
    return -1;
}

/* v as compact JSON, cut short with "..." to fit buf. */
static const char *quote_value(const json_t *v, char *buf, size_t len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && strlen(s) >= len)
        snprintf(buf, len, "%.*s...", (int)len - 4, s);
    else
        snprintf(buf, len, "%s", s ? s : "a value");
    free(s);
    return buf;
}

/* v as an array of at most max unsigned integers into a and *n; -1 when
 * it is not one. */
static int uint_array(const json_t *v, uint64_t *a, int max, int *n)
{
    size_t i;
    json_t *x;
    if (!json_is_array(v) || json_array_size(v) > (size_t)max)
        return -1;
    json_array_foreach(v, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return -1;
        a[i] = (uint64_t)json_integer_value(x);
    }
    *n = (int)json_array_size(v);
    return 0;
}

/* {"model":"...","format":"..."}: any string-valued keys are accepted. */
static int check_metadata(const char *path, const json_t *meta, char *err, size_t errlen)
{
    char q[80];
    const char *key;
    json_t *v;
    if (!json_is_object(meta))
        return bad_header(path, err, errlen, "__metadata__ is %s, not an object",
                          quote_value(meta, q, sizeof q));
    json_object_foreach((json_t *)meta, key, v)
        if (!json_is_string(v))
            return bad_header(path, err, errlen, "__metadata__ \"%s\" is %s, not a string",
                              key, quote_value(v, q, sizeof q));
    return 0;
}

/* {"dtype":"F32","shape":[...],"data_offsets":[begin,end]}, nothing else. */
static int read_tensor(const char *path, const char *name, const json_t *v, st_entry *e,
                       char *err, size_t errlen)
{
    char q[80];
    const char *key;
    json_t *x;
    e->name = name;
    if (!json_is_object(v))
        return bad_header(path, err, errlen, "tensor '%s' is %s, not an object", name,
                          quote_value(v, q, sizeof q));
    json_object_foreach((json_t *)v, key, x)
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return bad_header(path, err, errlen, "unknown key \"%s\" in tensor '%s'", key,
                              name);
    json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offsets = json_object_get(v, "data_offsets");
    if (!dtype || !shape || !offsets)
        return bad_header(path, err, errlen, "tensor '%s' lacks \"%s\"", name,
                          !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dtype))
        return bad_header(path, err, errlen, "tensor '%s' has dtype %s, not a string",
                          name, quote_value(dtype, q, sizeof q));
    /* Longer names are cut short, and are not F32 either way. */
    snprintf(e->dtype, sizeof e->dtype, "%s", json_string_value(dtype));
    if (uint_array(shape, e->shape, ST_MAX_DIMS, &e->ndim))
        return bad_header(path, err, errlen, "tensor '%s' has shape %s, not a list of at "
                          "most %d unsigned integers", name, quote_value(shape, q, sizeof q),
                          ST_MAX_DIMS);
    uint64_t off[2];
    int n;
    if (uint_array(offsets, off, 2, &n) || n != 2)
        return bad_header(path, err, errlen, "tensor '%s' has data_offsets %s, not "
                          "[begin,end]", name, quote_value(offsets, q, sizeof q));
    e->begin = off[0];
    e->end = off[1];
    return 0;
}

/* The header object's entries, each checked, into h. */
static int read_entries(const char *path, st_header *h, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    h->index = json_object();
    h->entries = calloc(json_object_size(h->root) + 1, sizeof *h->entries);
    if (!h->index || !h->entries) {
        errorf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    json_object_foreach(h->root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if (check_metadata(path, v, err, errlen))
                return -1;
            h->meta = v;
            continue;
        }
        if (read_tensor(path, key, v, &h->entries[h->n], err, errlen))
            return -1;
        if (json_object_set_new(h->index, key, json_integer(h->n))) {
            errorf(err, errlen, "%s: out of memory", path);
            return -1;
        }
        h->n++;
    }
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
                          const st_header *p, int all)
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

/* Opens path into *fpp (NULL when it cannot) and reads its header into
 * h; the data section's size into *data_len and the header length into
 * *hlen.  Leaves *fpp at the data; the caller closes it and frees h. */
static int read_header(const char *path, FILE **fpp, st_header *h, uint64_t *hlen,
                       uint64_t *data_len, char *err, size_t errlen)
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
    char *text = malloc(n ? n : 1);
    if (!text || fread(text, 1, n, fp) != n) {
        free(text);
        errorf(err, errlen, "%s: offset 8: cannot read the header", path);
        return -1;
    }
    /* Repeated keys are refused: a second "w" would otherwise stand for
     * the first unseen. */
    json_error_t je;
    h->root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    size_t lead = 0;
    while (lead < n && strchr(" \t\r\n", text[lead]) && text[lead])
        lead++;
    free(text);
    /* +8: offsets count from the start of the file, not of the JSON. */
    if (!h->root) {
        errorf(err, errlen, "%s: offset %llu: bad safetensors header: %s", path,
                 (unsigned long long)(8 + (uint64_t)je.position), je.text);
        return -1;
    }
    if (!json_is_object(h->root)) {
        errorf(err, errlen, "%s: offset %zu: bad safetensors header: an array, not "
                 "an object", path, 8 + lead);
        return -1;
    }
    if (read_entries(path, h, err, errlen))
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
    st_header p = {0};
    unsigned char *data = NULL;
    int rc = -1;
    uint64_t n = 0, data_len = 0;
    if (read_header(path, &fp, &p, &n, &data_len, err, errlen))
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
    header_free(&p);
    free(data);
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
    st_header p = {0};
    uint64_t n = 0, data_len = 0;
    int rc = read_header(path, &fp, &p, &n, &data_len, err, errlen);
    if (rc == 0) {
        const char *key;
        json_t *v;
        fprintf(out, "checkpoint %s\n", path);
        json_object_foreach(p.meta, key, v)
            fprintf(out, "  %-14s %s\n", key, json_string_value(v));
        if (!json_object_size(p.meta))
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
    header_free(&p);
    if (fp)
        fclose(fp);
    return rc;
}
