/* mm_safetensors.c — validating mmap reader and streaming sharded writer of .safetensors files. */
#include "formats/mm_safetensors.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MM_ST_MAX_HEADER (100u << 20)   /* same limit as the reference implementation */
#define MM_ST_MAX_DIMS 4

/* ================================================================ reader */
struct mm_st_file {
    char *path;
    const uint8_t *map;   /* whole file, PROT_READ */
    size_t map_bytes;
    const uint8_t *data;  /* first byte after the header */
    size_t data_bytes;
    int n;
    mm_tensor *t;         /* [n], header order */
    char **names;         /* [n], owned */
    void **copies;        /* [n], aligned copies of tensors whose data is misaligned in the file, else NULL */
    int n_meta;
    char **meta;          /* [2*n_meta] key, value pairs */
};

static size_t mm_st_dtype_size(mm_dtype t) { return mm_dtype_block_bytes(t); }

/* The dtypes a safetensors file may name and we accept. */
static int mm_st_parse_dtype(const char *s) {
    if (!strcmp(s, "F32")) return MM_F32;
    if (!strcmp(s, "F16")) return MM_F16;
    if (!strcmp(s, "BF16")) return MM_BF16;
    return -1;
}

void mm_st_close(mm_st_file *f) {
    if (!f) return;
    mm_unmap_file(f->map, f->map_bytes);
    for (int i = 0; i < f->n; i++) {
        free(f->names ? f->names[i] : NULL);
        free(f->copies ? f->copies[i] : NULL);
    }
    for (int i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->meta);
    free(f->names);
    free(f->copies);
    free(f->t);
    free(f->path);
    free(f);
}

typedef struct { uint64_t begin, end; int idx; } mm_st_span;
static int mm_st_span_cmp(const void *a, const void *b) {
    const mm_st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Parses one tensor entry of the header into f->t[i]; 0 or -1 with an error. */
static int mm_st_parse_entry(mm_st_file *f, int i, const char *name, json_t *v, uint64_t *begin, uint64_t *end) {
    const char *path = f->path;
    if (!json_is_object(v)) {
        mm_set_error("%s: tensor '%s': header entry is not an object", path, name);
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets")) {
            mm_set_error("%s: tensor '%s': unknown header field '%s'", path, name, key);
            return -1;
        }
    }
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"), *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd)) {
        mm_set_error("%s: tensor '%s': missing or non-string 'dtype'", path, name);
        return -1;
    }
    int dt = mm_st_parse_dtype(json_string_value(jd));
    if (dt < 0) {
        mm_set_error("unsupported dtype %s for tensor %s in %s (supported: F32, F16, BF16)", json_string_value(jd), name, path);
        return -1;
    }
    if (!json_is_array(js)) {
        mm_set_error("%s: tensor '%s': missing or non-array 'shape'", path, name);
        return -1;
    }
    size_t nd = json_array_size(js);
    if (nd > MM_ST_MAX_DIMS) {
        mm_set_error("%s: tensor '%s': %zu dimensions, at most %d supported", path, name, nd, MM_ST_MAX_DIMS);
        return -1;
    }
    mm_tensor *t = &f->t[i];
    t->name = name;
    t->dtype = (mm_dtype)dt;
    t->ndim = (int)nd;
    uint64_t nelem = 1;
    for (size_t d = 0; d < nd; d++) {
        json_t *x = json_array_get(js, d);
        if (!json_is_integer(x)) {
            mm_set_error("%s: tensor '%s': shape[%zu] is not an integer", path, name, d);
            return -1;
        }
        json_int_t s = json_integer_value(x);
        if (s < 0) {
            mm_set_error("%s: tensor '%s': shape[%zu] = %lld is negative", path, name, d, (long long)s);
            return -1;
        }
        if (s > ((json_int_t)1 << 40) || __builtin_mul_overflow(nelem, (uint64_t)s, &nelem) || nelem > ((uint64_t)1 << 56)) {
            mm_set_error("%s: tensor '%s': shape[%zu] = %lld makes the tensor absurdly large", path, name, d, (long long)s);
            return -1;
        }
        t->shape[d] = (int64_t)s;
    }
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1))) {
        mm_set_error("%s: tensor '%s': 'data_offsets' must be an array [begin, end] of two integers", path, name);
        return -1;
    }
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b) {
        mm_set_error("%s: tensor '%s': data_offsets [%lld, %lld] are not 0 <= begin <= end", path, name, (long long)b, (long long)e);
        return -1;
    }
    if ((uint64_t)e > f->data_bytes) {
        mm_set_error("%s: tensor '%s': data_offsets [%lld, %lld] run past the end of the data (%zu bytes; file truncated?)",
                     path, name, (long long)b, (long long)e, f->data_bytes);
        return -1;
    }
    uint64_t want = nelem * mm_st_dtype_size(t->dtype);
    if ((uint64_t)(e - b) != want) {
        mm_set_error("%s: tensor '%s': data_offsets span %lld bytes but %s with %llu elements needs %llu", path, name,
                     (long long)(e - b), mm_dtype_name(t->dtype), (unsigned long long)nelem, (unsigned long long)want);
        return -1;
    }
    t->nbytes = (size_t)want;
    t->data = f->data + b;
    /* A view is only usable through a typed pointer when it is aligned to its element size; a file written
     * without header padding can break that, so such a tensor gets an aligned private copy. */
    if (((uintptr_t)t->data % mm_st_dtype_size(t->dtype)) != 0) {
        void *c = mm_xaligned(t->nbytes);
        memcpy(c, t->data, t->nbytes);
        f->copies[i] = c;
        t->data = c;
    }
    *begin = (uint64_t)b;
    *end = (uint64_t)e;
    return 0;
}

mm_st_file *mm_st_open(const char *path) {
    mm_st_file *f = mm_xcalloc(1, sizeof *f);
    f->path = mm_xstrdup(path);
    json_t *root = NULL;
    mm_st_span *spans = NULL;
    f->map = mm_map_file(path, 8, "a safetensors header", &f->map_bytes);
    if (!f->map) goto fail;
    const uint8_t *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > f->map_bytes - 8) {
        mm_set_error("%s: header length %llu runs past the end of the file (%zu bytes; truncated or not a safetensors file)",
                     path, (unsigned long long)hlen, f->map_bytes);
        goto fail;
    }
    if (hlen > MM_ST_MAX_HEADER || hlen < 2) {
        mm_set_error("%s: header length %llu is absurd (not a safetensors file?)", path, (unsigned long long)hlen);
        goto fail;
    }
    f->data = p + 8 + hlen;
    f->data_bytes = f->map_bytes - 8 - (size_t)hlen;

    json_error_t jerr;
    root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        mm_set_error("%s: header is not valid JSON: %s (header byte %d)", path, jerr.text, jerr.position);
        goto fail;
    }
    if (!json_is_object(root)) {
        mm_set_error("%s: header JSON is not an object", path);
        goto fail;
    }
    size_t cap = json_object_size(root);
    f->t = mm_xcalloc(cap ? cap : 1, sizeof *f->t);
    f->names = mm_xcalloc(cap ? cap : 1, sizeof *f->names);
    f->copies = mm_xcalloc(cap ? cap : 1, sizeof *f->copies);
    spans = mm_xcalloc(cap ? cap : 1, sizeof *spans);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(val)) {
                mm_set_error("%s: __metadata__ is not an object", path);
                goto fail;
            }
            size_t nm = json_object_size(val);
            f->meta = mm_xcalloc(2 * nm + 1, sizeof *f->meta);
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    mm_set_error("%s: __metadata__ value of '%s' is not a string", path, mk);
                    goto fail;
                }
                f->meta[2 * f->n_meta] = mm_xstrdup(mk);
                f->meta[2 * f->n_meta + 1] = mm_xstrdup(json_string_value(mv));
                f->n_meta++;
            }
            continue;
        }
        if (!*key) {
            mm_set_error("%s: a tensor has an empty name", path);
            goto fail;
        }
        int i = f->n;
        f->names[i] = mm_xstrdup(key);
        f->n++;  /* counted now so that close() frees the name even if the entry is bad */
        if (mm_st_parse_entry(f, i, f->names[i], val, &spans[i].begin, &spans[i].end) != 0) goto fail;
        spans[i].idx = i;
    }
    /* Overlaps: sort by begin; each non-empty tensor must start at or after the previous one's end. */
    qsort(spans, (size_t)f->n, sizeof *spans, mm_st_span_cmp);
    int prev = -1;
    for (int k = 0; k < f->n; k++) {
        if (spans[k].begin == spans[k].end) continue;
        if (prev >= 0 && spans[k].begin < spans[prev].end) {
            mm_set_error("%s: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap", path, f->names[spans[prev].idx],
                         (unsigned long long)spans[prev].begin, (unsigned long long)spans[prev].end, f->names[spans[k].idx],
                         (unsigned long long)spans[k].begin, (unsigned long long)spans[k].end);
            goto fail;
        }
        prev = k;
    }
    free(spans);
    json_decref(root);
    return f;
fail:
    free(spans);
    json_decref(root);
    mm_st_close(f);
    return NULL;
}

const char *mm_st_path(const mm_st_file *f) { return f->path; }
int mm_st_count(const mm_st_file *f) { return f->n; }
const mm_tensor *mm_st_at(const mm_st_file *f, int i) { return i >= 0 && i < f->n ? &f->t[i] : NULL; }
size_t mm_st_data_bytes(const mm_st_file *f) { return f->data_bytes; }
const mm_tensor *mm_st_find(const mm_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}
const char *mm_st_metadata(const mm_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

/* ================================================================ writer */
typedef struct {
    char *name;
    mm_dtype dtype;
    int ndim;
    int64_t shape[MM_ST_MAX_DIMS];
    uint64_t nbytes;
    int shard;            /* which file */
    uint64_t offset;      /* begin within its shard's data section */
} mm_st_wtensor;

struct mm_st_writer {
    char *dir;
    uint64_t shard_bytes;
    int n, cap;
    mm_st_wtensor *t;
    uint64_t total;       /* sum of tensor bytes */
    int n_files;
    char **files;         /* [n_files] file names (no directory) */
    uint64_t file_bytes;  /* headers + data of all files */
    int began, finished, failed;
    FILE *fp;             /* the shard being written */
    int cur_shard;
    int cur;              /* tensor being written */
    uint64_t cur_done;    /* bytes of tensor cur written */
    uint64_t written;
};

int64_t mm_disk_free(const char *path) {
    struct statvfs sv;
    if (statvfs(path, &sv) != 0) {
        mm_set_error("%s: statvfs failed: %s", path, strerror(errno));
        return -1;
    }
    return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}

mm_st_writer *mm_st_writer_new(const char *dir, uint64_t shard_bytes) {
    mm_st_writer *w = mm_xcalloc(1, sizeof *w);
    w->dir = mm_xstrdup(dir);
    w->shard_bytes = shard_bytes;
    w->cur_shard = -1;
    return w;
}

void mm_st_writer_free(mm_st_writer *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < w->n_files; i++) free(w->files[i]);
    free(w->files);
    free(w->t);
    free(w->dir);
    free(w);
}

uint64_t mm_st_writer_total_bytes(const mm_st_writer *w) { return w->total; }
uint64_t mm_st_writer_file_bytes(const mm_st_writer *w) { return w->file_bytes; }
uint64_t mm_st_writer_written(const mm_st_writer *w) { return w->written; }
int mm_st_writer_n_files(const mm_st_writer *w) { return w->n_files; }

int mm_st_writer_add(mm_st_writer *w, const char *name, mm_dtype dtype, int ndim, const int64_t *shape) {
    if (w->began) {
        mm_set_error("safetensors writer %s: tensor '%s' declared after writing began", w->dir, name);
        return -1;
    }
    if (dtype != MM_F32 && dtype != MM_F16 && dtype != MM_BF16) {
        mm_set_error("safetensors writer %s: tensor '%s': dtype %s cannot be stored in safetensors", w->dir, name, mm_dtype_name(dtype));
        return -1;
    }
    if (ndim < 0 || ndim > MM_ST_MAX_DIMS || !name || !*name || !strcmp(name, "__metadata__")) {
        mm_set_error("safetensors writer %s: tensor '%s': bad name or ndim %d", w->dir, name ? name : "(null)", ndim);
        return -1;
    }
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) {
            mm_set_error("safetensors writer %s: tensor '%s' declared twice", w->dir, name);
            return -1;
        }
    uint64_t nelem = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || __builtin_mul_overflow(nelem, (uint64_t)shape[d], &nelem) || nelem > ((uint64_t)1 << 56)) {
            mm_set_error("safetensors writer %s: tensor '%s': bad shape[%d] = %lld", w->dir, name, d, (long long)shape[d]);
            return -1;
        }
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->t = mm_xrealloc(w->t, sizeof *w->t * (size_t)w->cap);
    }
    mm_st_wtensor *t = &w->t[w->n++];
    memset(t, 0, sizeof *t);
    t->name = mm_xstrdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->nbytes = nelem * mm_st_dtype_size(dtype);
    w->total += t->nbytes;
    return 0;
}

/* The header JSON of shard s, space-padded so that 8 + length is a multiple of 8. Caller frees. */
static char *mm_st_header(const mm_st_writer *w, int s, size_t *len) {
    json_t *root = json_object();
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(root, "__metadata__", meta);
    for (int i = 0; i < w->n; i++) {
        const mm_st_wtensor *t = &w->t[i];
        if (t->shard != s) continue;
        json_t *e = json_object(), *shape = json_array(), *off = json_array();
        json_object_set_new(e, "dtype", json_string(mm_dtype_name(t->dtype)));
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(e, "shape", shape);
        json_array_append_new(off, json_integer((json_int_t)t->offset));
        json_array_append_new(off, json_integer((json_int_t)(t->offset + t->nbytes)));
        json_object_set_new(e, "data_offsets", off);
        json_object_set_new(root, t->name, e);
    }
    char *js = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!js) {
        fprintf(stderr, "minimax: out of memory building a safetensors header\n");
        exit(1);
    }
    size_t n = strlen(js), padded = (n + 7) / 8 * 8;
    char *out = mm_xmalloc(padded + 1);
    memcpy(out, js, n);
    memset(out + n, ' ', padded - n);
    out[padded] = 0;
    free(js);
    *len = padded;
    return out;
}

static char *mm_st_join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = mm_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

/* Opens shard s and writes its header. */
static int mm_st_open_shard(mm_st_writer *w, int s) {
    char *path = mm_st_join(w->dir, w->files[s]);
    w->fp = fopen(path, "wb");
    if (!w->fp) {
        mm_set_error("%s: cannot create: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    setvbuf(w->fp, NULL, _IOFBF, 1 << 22);
    size_t hlen;
    char *h = mm_st_header(w, s, &hlen);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(le, 1, 8, w->fp) == 8 && fwrite(h, 1, hlen, w->fp) == hlen;
    free(h);
    if (!ok) {
        mm_set_error("%s: write failed: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    w->cur_shard = s;
    return 0;
}

static int mm_st_close_shard(mm_st_writer *w) {
    if (!w->fp) return 0;
    int bad = ferror(w->fp);
    if (fclose(w->fp) != 0) bad = 1;
    w->fp = NULL;
    if (bad) {
        mm_set_error("%s/%s: write failed: %s", w->dir, w->files[w->cur_shard], strerror(errno));
        return -1;
    }
    return 0;
}

int mm_st_writer_begin(mm_st_writer *w) {
    if (w->began) {
        mm_set_error("safetensors writer %s: begin called twice", w->dir);
        return -1;
    }
    w->began = 1;
    /* Assign shards in declaration order. */
    int s = 0;
    uint64_t in_shard = 0;
    for (int i = 0; i < w->n; i++) {
        mm_st_wtensor *t = &w->t[i];
        if (w->shard_bytes && in_shard > 0 && in_shard + t->nbytes > w->shard_bytes) {
            s++;
            in_shard = 0;
        }
        t->shard = s;
        t->offset = in_shard;
        in_shard += t->nbytes;
    }
    w->n_files = s + 1;
    w->files = mm_xcalloc((size_t)w->n_files, sizeof *w->files);
    for (int k = 0; k < w->n_files; k++) {
        char buf[64];
        if (w->n_files == 1)
            snprintf(buf, sizeof buf, "model.safetensors");
        else
            snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", k + 1, w->n_files);
        w->files[k] = mm_xstrdup(buf);
    }
    /* Exact size of every file, then refuse early if the disk cannot hold them. */
    w->file_bytes = 0;
    for (int k = 0; k < w->n_files; k++) {
        size_t hlen;
        free(mm_st_header(w, k, &hlen));
        w->file_bytes += 8 + hlen;
    }
    w->file_bytes += w->total;
    uint64_t need = w->file_bytes + (w->n_files > 1 ? 128 + (uint64_t)w->n * 160 : 0);   /* + the index */
    int64_t avail = mm_disk_free(w->dir);
    if (avail < 0) return -1;
    uint64_t margin = need / 100 + (64u << 20);
    if ((uint64_t)avail < need + margin) {
        mm_set_error("%s: not enough disk space: the checkpoint needs %.2f GB (+%.2f GB margin), %.2f GB free", w->dir,
                     need / 1e9, margin / 1e9, avail / 1e9);
        return -1;
    }
    w->cur = 0;
    w->cur_done = 0;
    if (mm_st_open_shard(w, 0) != 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

int mm_st_writer_write(mm_st_writer *w, const void *data, size_t n) {
    if (!w->began || w->failed || w->finished) {
        mm_set_error("safetensors writer %s: write outside begin/finish (or after an error)", w->dir);
        return -1;
    }
    const uint8_t *p = data;
    while (n > 0) {
        while (w->cur < w->n && w->cur_done == w->t[w->cur].nbytes) {
            w->cur++;
            w->cur_done = 0;
        }
        if (w->cur >= w->n) {
            mm_set_error("safetensors writer %s: %zu bytes written past the last tensor", w->dir, n);
            w->failed = 1;
            return -1;
        }
        mm_st_wtensor *t = &w->t[w->cur];
        if (t->shard != w->cur_shard) {
            if (mm_st_close_shard(w) != 0 || mm_st_open_shard(w, t->shard) != 0) {
                w->failed = 1;
                return -1;
            }
        }
        size_t k = t->nbytes - w->cur_done < n ? (size_t)(t->nbytes - w->cur_done) : n;
        if (fwrite(p, 1, k, w->fp) != k) {
            mm_set_error("%s/%s: write failed at tensor '%s': %s", w->dir, w->files[w->cur_shard], t->name, strerror(errno));
            w->failed = 1;
            return -1;
        }
        p += k;
        n -= k;
        w->cur_done += k;
        w->written += k;
    }
    return 0;
}

int mm_st_writer_finish(mm_st_writer *w) {
    if (!w->began || w->failed || w->finished) {
        mm_set_error("safetensors writer %s: finish without a successful begin", w->dir);
        return -1;
    }
    if (w->written != w->total) {
        while (w->cur < w->n && w->cur_done == w->t[w->cur].nbytes) {
            w->cur++;
            w->cur_done = 0;
        }
        mm_set_error("safetensors writer %s: only %llu of %llu bytes written (tensor '%s' incomplete)", w->dir,
                     (unsigned long long)w->written, (unsigned long long)w->total, w->cur < w->n ? w->t[w->cur].name : "?");
        w->failed = 1;
        return -1;
    }
    /* Shards whose tensors are all empty were never opened by write(): create them now. */
    for (int s = w->cur_shard + 1; s < w->n_files; s++)
        if (mm_st_close_shard(w) != 0 || mm_st_open_shard(w, s) != 0) {
            w->failed = 1;
            return -1;
        }
    if (mm_st_close_shard(w) != 0) {
        w->failed = 1;
        return -1;
    }
    w->finished = 1;
    if (w->n_files == 1) return 0;
    json_t *root = json_object(), *meta = json_object(), *map = json_object();
    json_object_set_new(meta, "total_size", json_integer((json_int_t)w->total));
    json_object_set_new(root, "metadata", meta);
    for (int i = 0; i < w->n; i++) json_object_set_new(map, w->t[i].name, json_string(w->files[w->t[i].shard]));
    json_object_set_new(root, "weight_map", map);
    char *path = mm_st_join(w->dir, "model.safetensors.index.json");
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    struct stat st;
    if (rc != 0 || stat(path, &st) != 0) {
        mm_set_error("%s: cannot write: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    w->file_bytes += (uint64_t)st.st_size;
    free(path);
    return 0;
}
