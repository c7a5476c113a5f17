/* mm_gguf.c — GGUF reader (mmap, fully validated), streaming writer, and the MiniMax-01 mapping (config
 * KVs, tensor names, tokenizer) between llama.cpp's `minimax-01` files and this engine; see mm_gguf.h. */
#include "mm_gguf.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "mm_kernels.h"
#include "mm_model.h"
#include "mm_quant.h"
#include "mm_safetensors.h"
#include "mm_tokenizer.h"
#include "mm_weights.h"

#define MM_GGUF_MAGIC "GGUF"
#define MM_GGUF_MAX_NAME 64          /* GGML_MAX_NAME: names are stored in 64-byte fields, NUL included */
#define MM_GGUF_MAX_COUNT (1u << 26) /* sanity bound on tensor / KV counts */

/* ---------------------------------------------------------------- GGML types */
static const struct {
    uint32_t id;
    const char *name;
    int dtype;   /* mm_dtype or -1 */
} mm_gguf_types[] = {
    {0, "F32", MM_F32},    {1, "F16", MM_F16},    {2, "Q4_0", MM_Q4_0}, {3, "Q4_1", -1},    {6, "Q5_0", -1},
    {7, "Q5_1", -1},       {8, "Q8_0", MM_Q8_0},  {9, "Q8_1", -1},      {10, "Q2_K", -1},   {11, "Q3_K", -1},
    {12, "Q4_K", MM_Q4_K}, {13, "Q5_K", -1},      {14, "Q6_K", MM_Q6_K}, {15, "Q8_K", -1},  {16, "IQ2_XXS", -1},
    {17, "IQ2_XS", -1},    {18, "IQ3_XXS", -1},   {19, "IQ1_S", -1},    {20, "IQ4_NL", -1}, {21, "IQ3_S", -1},
    {22, "IQ2_S", -1},     {23, "IQ4_XS", -1},    {24, "I8", -1},       {25, "I16", -1},    {26, "I32", -1},
    {27, "I64", -1},       {28, "F64", -1},       {29, "IQ1_M", -1},    {30, "BF16", MM_BF16}, {34, "TQ1_0", -1},
    {35, "TQ2_0", -1},     {39, "MXFP4", -1},
};
#define MM_GGUF_NTYPES_KNOWN (sizeof mm_gguf_types / sizeof mm_gguf_types[0])

int mm_gguf_type_of(mm_dtype t) {
    for (size_t i = 0; i < MM_GGUF_NTYPES_KNOWN; i++)
        if (mm_gguf_types[i].dtype == (int)t) return (int)mm_gguf_types[i].id;
    return -1;
}
int mm_gguf_dtype_of(uint32_t id) {
    for (size_t i = 0; i < MM_GGUF_NTYPES_KNOWN; i++)
        if (mm_gguf_types[i].id == id) return mm_gguf_types[i].dtype;
    return -1;
}
const char *mm_gguf_type_name(uint32_t id) {
    for (size_t i = 0; i < MM_GGUF_NTYPES_KNOWN; i++)
        if (mm_gguf_types[i].id == id) return mm_gguf_types[i].name;
    return NULL;
}

static const char *const mm_gguf_vt_names[MM_GGUF_NTYPES] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                                             "bool", "string", "array", "u64", "i64", "f64"};
static size_t mm_gguf_vt_size(int t) {
    switch (t) {
    case MM_GGUF_U8: case MM_GGUF_I8: case MM_GGUF_BOOL: return 1;
    case MM_GGUF_U16: case MM_GGUF_I16: return 2;
    case MM_GGUF_U32: case MM_GGUF_I32: case MM_GGUF_F32: return 4;
    case MM_GGUF_U64: case MM_GGUF_I64: case MM_GGUF_F64: return 8;
    default: return 0;
    }
}

static uint32_t rd_u32le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd_u64le(const uint8_t *p) { return (uint64_t)rd_u32le(p) | (uint64_t)rd_u32le(p + 4) << 32; }

/* ================================================================ reader */
typedef struct {
    char *key;             /* NUL-terminated copy */
    int type;              /* MM_GGUF_* */
    size_t rec_off, rec_len;  /* the whole record (key .. end of value) in the file, for verbatim copies */
    size_t val_off;        /* first byte of the value (scalars), of the elements (arrays) */
    int arr_type;          /* arrays */
    uint64_t arr_n;
    char *str;             /* STRING: NUL-terminated copy; string ARRAY: arena of NUL-terminated copies */
    uint64_t *str_off;     /* string ARRAY: [arr_n + 1] offsets into str */
} mm_gguf_kv;

struct mm_gguf {
    char *path;
    const uint8_t *map;
    size_t size;
    uint32_t version, alignment;
    uint64_t data_off;
    int n_kv;
    mm_gguf_kv *kv;
    int n_t;
    mm_tensor *t;
    uint64_t *t_off;
    char *names;           /* arena of tensor names */
};

typedef struct {
    const mm_gguf *g;
    size_t pos;
} mm_gcur;

static int cur_need(mm_gcur *c, uint64_t n, const char *what) {
    if (n > c->g->size - c->pos) {
        mm_set_error("%s: truncated: %s at byte %zu needs %llu bytes, the file has %zu left", c->g->path, what, c->pos,
                     (unsigned long long)n, c->g->size - c->pos);
        return -1;
    }
    return 0;
}
static int cur_u32(mm_gcur *c, uint32_t *v, const char *what) {
    if (cur_need(c, 4, what)) return -1;
    *v = rd_u32le(c->g->map + c->pos);
    c->pos += 4;
    return 0;
}
static int cur_u64(mm_gcur *c, uint64_t *v, const char *what) {
    if (cur_need(c, 8, what)) return -1;
    *v = rd_u64le(c->g->map + c->pos);
    c->pos += 8;
    return 0;
}
/* A string: u64 length + bytes. *s points into the map (not NUL-terminated). */
static int cur_str(mm_gcur *c, const uint8_t **s, uint64_t *len, const char *what) {
    size_t at = c->pos;
    if (cur_u64(c, len, what)) return -1;
    if (*len > c->g->size - c->pos) {
        mm_set_error("%s: %s at byte %zu has length %llu, past the end of the file (%zu bytes left)", c->g->path, what, at,
                     (unsigned long long)*len, c->g->size - c->pos);
        return -1;
    }
    *s = c->g->map + c->pos;
    c->pos += (size_t)*len;
    return 0;
}

static char *dup_n(const uint8_t *s, size_t n) {
    char *d = mm_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void mm_gguf_close(mm_gguf *g) {
    if (!g) return;
    mm_unmap_file(g->map, g->size);
    for (int i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
        free(g->kv[i].str_off);
    }
    free(g->kv);
    free(g->t);
    free(g->t_off);
    free(g->names);
    free(g->path);
    free(g);
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int parse_kv(mm_gcur *c, mm_gguf_kv *kv, int idx) {
    const mm_gguf *g = c->g;
    char what[96];
    snprintf(what, sizeof what, "the key of KV %d", idx);
    kv->rec_off = c->pos;
    const uint8_t *ks;
    uint64_t kl;
    if (cur_str(c, &ks, &kl, what)) return -1;
    if (kl == 0 || memchr(ks, 0, (size_t)kl)) {
        mm_set_error("%s: KV %d at byte %zu: the key is empty or contains a NUL byte", g->path, idx, kv->rec_off);
        return -1;
    }
    kv->key = dup_n(ks, (size_t)kl);
    uint32_t t;
    snprintf(what, sizeof what, "the value type of \"%.40s\"", kv->key);
    if (cur_u32(c, &t, what)) return -1;
    if (t >= MM_GGUF_NTYPES) {
        mm_set_error("%s: KV \"%s\": unknown value type %u (GGUF knows 0..12)", g->path, kv->key, t);
        return -1;
    }
    kv->type = (int)t;
    kv->val_off = c->pos;
    snprintf(what, sizeof what, "the value of \"%.40s\"", kv->key);
    if (t == MM_GGUF_STRING) {
        const uint8_t *s;
        uint64_t l;
        if (cur_str(c, &s, &l, what)) return -1;
        kv->str = dup_n(s, (size_t)l);
    } else if (t == MM_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (cur_u32(c, &et, what) || cur_u64(c, &n, what)) return -1;
        if (et >= MM_GGUF_NTYPES || et == MM_GGUF_ARRAY) {
            mm_set_error("%s: KV \"%s\": array element type %u is %s", g->path, kv->key, et,
                         et == MM_GGUF_ARRAY ? "an array (nested arrays are not supported)" : "unknown");
            return -1;
        }
        kv->arr_type = (int)et;
        kv->arr_n = n;
        kv->val_off = c->pos;
        if (et == MM_GGUF_STRING) {
            if (n > (g->size - c->pos) / 8) {
                mm_set_error("%s: KV \"%s\": %llu strings cannot fit in the %zu bytes left", g->path, kv->key,
                             (unsigned long long)n, g->size - c->pos);
                return -1;
            }
            /* first pass: validate lengths and size the arena */
            size_t start = c->pos;
            uint64_t total = 0;
            for (uint64_t i = 0; i < n; i++) {
                const uint8_t *s;
                uint64_t l;
                char w2[120];
                snprintf(w2, sizeof w2, "string %llu of array \"%.40s\"", (unsigned long long)i, kv->key);
                if (cur_str(c, &s, &l, w2)) return -1;
                total += l + 1;
            }
            kv->str = mm_xmalloc((size_t)total + 1);
            kv->str_off = mm_xmalloc(sizeof(uint64_t) * (size_t)(n + 1));
            size_t p = start;
            uint64_t o = 0;
            for (uint64_t i = 0; i < n; i++) {
                uint64_t l = rd_u64le(g->map + p);
                p += 8;
                kv->str_off[i] = o;
                memcpy(kv->str + o, g->map + p, (size_t)l);
                kv->str[o + l] = 0;
                o += l + 1;
                p += (size_t)l;
            }
            kv->str_off[n] = o;
        } else {
            size_t es = mm_gguf_vt_size((int)et);
            if (n > (g->size - c->pos) / es) {
                mm_set_error("%s: KV \"%s\": array of %llu %s elements runs past the end of the file (%zu bytes left)",
                             g->path, kv->key, (unsigned long long)n, mm_gguf_vt_names[et], g->size - c->pos);
                return -1;
            }
            c->pos += (size_t)(n * es);
        }
    } else {
        if (cur_need(c, mm_gguf_vt_size((int)t), what)) return -1;
        c->pos += mm_gguf_vt_size((int)t);
    }
    kv->rec_len = c->pos - kv->rec_off;
    return 0;
}

typedef struct { uint64_t off, end; int i; } mm_gspan;
static int cmp_span(const void *a, const void *b) {
    const mm_gspan *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off ? 1 : 0;
}

mm_gguf *mm_gguf_open(const char *path) {
    mm_gguf *g = mm_xcalloc(1, sizeof *g);
    g->path = mm_xstrdup(path);
    g->map = mm_map_file(path, 24, "a GGUF header", &g->size);
    if (!g->map) goto fail;
    if (memcmp(g->map, MM_GGUF_MAGIC, 4)) {
        mm_set_error("%s: not a GGUF file (magic bytes %02x %02x %02x %02x, expected \"GGUF\")", path, g->map[0], g->map[1],
                     g->map[2], g->map[3]);
        goto fail;
    }
    mm_gcur c = {g, 4};
    uint64_t n_t, n_kv;
    cur_u32(&c, &g->version, "version");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version)
            mm_set_error("%s: GGUF version field 0x%08x looks big-endian; only little-endian files are supported", path,
                         g->version);
        else
            mm_set_error("%s: unsupported GGUF version %u (this reader handles 2 and 3)", path, g->version);
        goto fail;
    }
    cur_u64(&c, &n_t, "tensor count");
    cur_u64(&c, &n_kv, "KV count");
    /* each KV needs >= 14 bytes (key length, 1-byte key, type, 1-byte value); each tensor info >= 33 */
    if (n_kv > MM_GGUF_MAX_COUNT || n_kv > (g->size - c.pos) / 14) {
        mm_set_error("%s: KV count %llu is impossible for a file of %zu bytes", path, (unsigned long long)n_kv, g->size);
        goto fail;
    }
    if (n_t > MM_GGUF_MAX_COUNT || n_t > (g->size - c.pos) / 33) {
        mm_set_error("%s: tensor count %llu is impossible for a file of %zu bytes", path, (unsigned long long)n_t, g->size);
        goto fail;
    }
    g->kv = mm_xcalloc((size_t)(n_kv ? n_kv : 1), sizeof *g->kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = (int)i + 1;
        if (parse_kv(&c, &g->kv[i], (int)i)) goto fail;
    }
    if (g->n_kv > 1) {
        char **keys = mm_xmalloc(sizeof(char *) * (size_t)g->n_kv);
        for (int i = 0; i < g->n_kv; i++) keys[i] = g->kv[i].key;
        qsort(keys, (size_t)g->n_kv, sizeof *keys, cmp_str_ptr);
        for (int i = 1; i < g->n_kv; i++)
            if (!strcmp(keys[i], keys[i - 1])) {
                mm_set_error("%s: KV \"%s\" appears twice", path, keys[i]);
                free(keys);
                goto fail;
            }
        free(keys);
    }
    g->alignment = MM_GGUF_DEFAULT_ALIGNMENT;
    int ai = mm_gguf_find_kv(g, "general.alignment");
    if (ai >= 0) {
        if (g->kv[ai].type != MM_GGUF_U32) {
            mm_set_error("%s: general.alignment must be a u32, not %s", path, mm_gguf_vt_names[g->kv[ai].type]);
            goto fail;
        }
        g->alignment = rd_u32le(g->map + g->kv[ai].val_off);
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1))) {
            mm_set_error("%s: general.alignment %u is not a power of two", path, g->alignment);
            goto fail;
        }
    }

    /* tensor infos */
    g->n_t = (int)n_t;
    g->t = mm_xcalloc((size_t)(n_t ? n_t : 1), sizeof *g->t);
    g->t_off = mm_xcalloc((size_t)(n_t ? n_t : 1), sizeof *g->t_off);
    g->names = mm_xmalloc((size_t)(n_t ? n_t : 1) * MM_GGUF_MAX_NAME);
    for (uint64_t i = 0; i < n_t; i++) {
        char what[64];
        snprintf(what, sizeof what, "the name of tensor %llu", (unsigned long long)i);
        const uint8_t *ns;
        uint64_t nl;
        size_t at = c.pos;
        if (cur_str(&c, &ns, &nl, what)) goto fail;
        if (nl == 0 || nl >= MM_GGUF_MAX_NAME || memchr(ns, 0, (size_t)nl)) {
            mm_set_error("%s: tensor %llu at byte %zu: name of %llu bytes is empty, contains NUL or is longer than %d", path,
                         (unsigned long long)i, at, (unsigned long long)nl, MM_GGUF_MAX_NAME - 1);
            goto fail;
        }
        char *name = g->names + i * MM_GGUF_MAX_NAME;
        memcpy(name, ns, (size_t)nl);
        name[nl] = 0;
        mm_tensor *t = &g->t[i];
        t->name = name;
        uint32_t nd, type;
        uint64_t ne[4] = {1, 1, 1, 1}, off;
        snprintf(what, sizeof what, "the dims of tensor \"%.40s\"", name);
        if (cur_u32(&c, &nd, what)) goto fail;
        if (nd < 1 || nd > 4) {
            mm_set_error("%s: tensor \"%s\": %u dimensions (1 to 4 are allowed)", path, name, nd);
            goto fail;
        }
        int64_t nelem = 1;
        for (uint32_t d = 0; d < nd; d++) {
            if (cur_u64(&c, &ne[d], what)) goto fail;
            if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX || __builtin_mul_overflow(nelem, (int64_t)ne[d], &nelem)) {
                mm_set_error("%s: tensor \"%s\": dimension %u = %llu is zero or makes the element count overflow", path,
                             name, d, (unsigned long long)ne[d]);
                goto fail;
            }
        }
        snprintf(what, sizeof what, "the type of tensor \"%.40s\"", name);
        if (cur_u32(&c, &type, what)) goto fail;
        int dt = mm_gguf_dtype_of(type);
        if (dt < 0) {
            const char *tn = mm_gguf_type_name(type);
            if (tn)
                mm_set_error("%s: tensor \"%s\" has GGML type %s (%u), which this engine does not support (F32, F16, BF16, "
                             "Q8_0, Q4_0, Q4_K, Q6_K)", path, name, tn, type);
            else
                mm_set_error("%s: tensor \"%s\" has unknown GGML type %u", path, name, type);
            goto fail;
        }
        snprintf(what, sizeof what, "the offset of tensor \"%.40s\"", name);
        if (cur_u64(&c, &off, what)) goto fail;
        t->dtype = (mm_dtype)dt;
        t->ndim = (int)nd;
        for (uint32_t d = 0; d < nd; d++) t->shape[d] = (int64_t)ne[nd - 1 - d];
        int blk = mm_dtype_block(t->dtype);
        if ((int64_t)ne[0] % blk) {
            mm_set_error("%s: tensor \"%s\": row length %llu is not a multiple of the %s block (%d)", path, name,
                         (unsigned long long)ne[0], mm_dtype_name(t->dtype), blk);
            goto fail;
        }
        uint64_t rows = (uint64_t)nelem / ne[0], rb = (uint64_t)mm_row_bytes(t->dtype, (int64_t)ne[0]), nb;
        if (__builtin_mul_overflow(rows, rb, &nb)) {
            mm_set_error("%s: tensor \"%s\": byte size overflows", path, name);
            goto fail;
        }
        if (off % g->alignment) {
            mm_set_error("%s: tensor \"%s\": offset %llu is not a multiple of the alignment %u", path, name,
                         (unsigned long long)off, g->alignment);
            goto fail;
        }
        t->nbytes = (size_t)nb;
        g->t_off[i] = off;
    }
    g->data_off = ((uint64_t)c.pos + g->alignment - 1) / g->alignment * g->alignment;
    uint64_t data_bytes = g->data_off <= g->size ? g->size - g->data_off : 0;
    if (n_t && g->data_off > g->size) {
        mm_set_error("%s: truncated: the data section would start at byte %llu, past the end (%zu bytes)", path,
                     (unsigned long long)g->data_off, g->size);
        goto fail;
    }
    for (int i = 0; i < g->n_t; i++) {
        mm_tensor *t = &g->t[i];
        if (g->t_off[i] > data_bytes || t->nbytes > data_bytes - g->t_off[i]) {
            mm_set_error("%s: tensor \"%s\": bytes [%llu, %llu) of the data section are past its end (%llu bytes; the "
                         "file is truncated or the offset is wrong)", path, t->name, (unsigned long long)g->t_off[i],
                         (unsigned long long)(g->t_off[i] + t->nbytes), (unsigned long long)data_bytes);
            goto fail;
        }
        t->data = g->map + g->data_off + g->t_off[i];
    }
    if (g->n_t > 1) {
        mm_gspan *sp = mm_xmalloc(sizeof *sp * (size_t)g->n_t);
        char **nm = mm_xmalloc(sizeof(char *) * (size_t)g->n_t);
        for (int i = 0; i < g->n_t; i++) {
            sp[i] = (mm_gspan){g->t_off[i], g->t_off[i] + g->t[i].nbytes, i};
            nm[i] = (char *)g->t[i].name;
        }
        qsort(sp, (size_t)g->n_t, sizeof *sp, cmp_span);
        qsort(nm, (size_t)g->n_t, sizeof *nm, cmp_str_ptr);
        int bad = 0;
        for (int i = 1; i < g->n_t && !bad; i++) {
            if (sp[i].off < sp[i - 1].end) {
                mm_set_error("%s: tensors \"%s\" [%llu, %llu) and \"%s\" [%llu, %llu) overlap in the data section", path,
                             g->t[sp[i - 1].i].name, (unsigned long long)sp[i - 1].off, (unsigned long long)sp[i - 1].end,
                             g->t[sp[i].i].name, (unsigned long long)sp[i].off, (unsigned long long)sp[i].end);
                bad = 1;
            } else if (!strcmp(nm[i], nm[i - 1])) {
                mm_set_error("%s: tensor \"%s\" appears twice", path, nm[i]);
                bad = 1;
            }
        }
        free(sp);
        free(nm);
        if (bad) goto fail;
    }
    return g;
fail:
    mm_gguf_close(g);
    return NULL;
}

const char *mm_gguf_path(const mm_gguf *g) { return g->path; }
uint32_t mm_gguf_version(const mm_gguf *g) { return g->version; }
uint32_t mm_gguf_alignment(const mm_gguf *g) { return g->alignment; }
uint64_t mm_gguf_data_offset(const mm_gguf *g) { return g->data_off; }
int mm_gguf_n_kv(const mm_gguf *g) { return g->n_kv; }
const char *mm_gguf_kv_key(const mm_gguf *g, int i) { return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL; }
int mm_gguf_kv_type(const mm_gguf *g, int i) { return i >= 0 && i < g->n_kv ? g->kv[i].type : -1; }
int mm_gguf_find_kv(const mm_gguf *g, const char *key) {
    for (int i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return i;
    return -1;
}
int mm_gguf_n_tensors(const mm_gguf *g) { return g->n_t; }
const mm_tensor *mm_gguf_tensor(const mm_gguf *g, int i) { return i >= 0 && i < g->n_t ? &g->t[i] : NULL; }
uint64_t mm_gguf_tensor_offset(const mm_gguf *g, int i) { return i >= 0 && i < g->n_t ? g->t_off[i] : 0; }
const mm_tensor *mm_gguf_find_tensor(const mm_gguf *g, const char *name) {
    for (int i = 0; i < g->n_t; i++)
        if (!strcmp(g->t[i].name, name)) return &g->t[i];
    return NULL;
}

/* A scalar of integer type t at p as int64 (u64 above INT64_MAX saturates; the caller range-checks). */
static int scalar_int(int t, const uint8_t *p, int64_t *v) {
    switch (t) {
    case MM_GGUF_U8: case MM_GGUF_BOOL: *v = p[0]; return 0;
    case MM_GGUF_I8: *v = (int8_t)p[0]; return 0;
    case MM_GGUF_U16: *v = (uint16_t)(p[0] | p[1] << 8); return 0;
    case MM_GGUF_I16: *v = (int16_t)(uint16_t)(p[0] | p[1] << 8); return 0;
    case MM_GGUF_U32: *v = rd_u32le(p); return 0;
    case MM_GGUF_I32: *v = (int32_t)rd_u32le(p); return 0;
    case MM_GGUF_U64: { uint64_t u = rd_u64le(p); *v = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u; return 0; }
    case MM_GGUF_I64: *v = (int64_t)rd_u64le(p); return 0;
    default: return -1;
    }
}

int mm_gguf_get_i64(const mm_gguf *g, const char *key, int64_t *out) {
    int i = mm_gguf_find_kv(g, key);
    if (i < 0) return 0;
    if (g->kv[i].type == MM_GGUF_BOOL || scalar_int(g->kv[i].type, g->map + g->kv[i].val_off, out)) {
        mm_set_error("%s: KV \"%s\" must be an integer, not %s", g->path, key, mm_gguf_vt_names[g->kv[i].type]);
        return -1;
    }
    return 1;
}
int mm_gguf_get_u32(const mm_gguf *g, const char *key, uint32_t *out) {
    int64_t v;
    int r = mm_gguf_get_i64(g, key, &v);
    if (r <= 0) return r;
    if (v < 0 || v > (int64_t)UINT32_MAX) {
        mm_set_error("%s: KV \"%s\" = %lld is out of range for a u32", g->path, key, (long long)v);
        return -1;
    }
    *out = (uint32_t)v;
    return 1;
}
int mm_gguf_get_f64(const mm_gguf *g, const char *key, double *out) {
    int i = mm_gguf_find_kv(g, key);
    if (i < 0) return 0;
    const uint8_t *p = g->map + g->kv[i].val_off;
    if (g->kv[i].type == MM_GGUF_F32) {
        uint32_t u = rd_u32le(p);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
    } else if (g->kv[i].type == MM_GGUF_F64) {
        uint64_t u = rd_u64le(p);
        memcpy(out, &u, 8);
    } else {
        mm_set_error("%s: KV \"%s\" must be a float, not %s", g->path, key, mm_gguf_vt_names[g->kv[i].type]);
        return -1;
    }
    if (*out != *out) {
        mm_set_error("%s: KV \"%s\" is NaN", g->path, key);
        return -1;
    }
    return 1;
}
int mm_gguf_get_bool(const mm_gguf *g, const char *key, int *out) {
    int i = mm_gguf_find_kv(g, key);
    if (i < 0) return 0;
    if (g->kv[i].type != MM_GGUF_BOOL) {
        mm_set_error("%s: KV \"%s\" must be a bool, not %s", g->path, key, mm_gguf_vt_names[g->kv[i].type]);
        return -1;
    }
    *out = g->map[g->kv[i].val_off] != 0;
    return 1;
}
int mm_gguf_get_str(const mm_gguf *g, const char *key, const char **out) {
    int i = mm_gguf_find_kv(g, key);
    if (i < 0) return 0;
    if (g->kv[i].type != MM_GGUF_STRING) {
        mm_set_error("%s: KV \"%s\" must be a string, not %s", g->path, key, mm_gguf_vt_names[g->kv[i].type]);
        return -1;
    }
    *out = g->kv[i].str;
    return 1;
}
int mm_gguf_get_arr(const mm_gguf *g, const char *key, int *type, uint64_t *n, const void **data) {
    int i = mm_gguf_find_kv(g, key);
    if (i < 0) return 0;
    if (g->kv[i].type != MM_GGUF_ARRAY) {
        mm_set_error("%s: KV \"%s\" must be an array, not %s", g->path, key, mm_gguf_vt_names[g->kv[i].type]);
        return -1;
    }
    *type = g->kv[i].arr_type;
    *n = g->kv[i].arr_n;
    if (data) *data = g->map + g->kv[i].val_off;
    return 1;
}
const char *mm_gguf_arr_str(const mm_gguf *g, const char *key, uint64_t i, size_t *len) {
    int k = mm_gguf_find_kv(g, key);
    if (k < 0 || g->kv[k].type != MM_GGUF_ARRAY || g->kv[k].arr_type != MM_GGUF_STRING || i >= g->kv[k].arr_n) return NULL;
    if (len) *len = (size_t)(g->kv[k].str_off[i + 1] - g->kv[k].str_off[i] - 1);
    return g->kv[k].str + g->kv[k].str_off[i];
}
int64_t mm_gguf_arr_int(const mm_gguf *g, const char *key, uint64_t i) {
    int k = mm_gguf_find_kv(g, key);
    if (k < 0 || g->kv[k].type != MM_GGUF_ARRAY || i >= g->kv[k].arr_n) return 0;
    int t = g->kv[k].arr_type;
    int64_t v = 0;
    size_t es = mm_gguf_vt_size(t);
    if (!es || scalar_int(t, g->map + g->kv[k].val_off + i * es, &v)) return 0;
    return v;
}

/* ================================================================ writer */
typedef struct {
    char *name;
    uint32_t type;
    int ndim;
    uint64_t ne[4];
    uint64_t off, nbytes;
} mm_gw_tensor;

struct mm_gguf_writer {
    char *path, *tmp;
    FILE *f;
    uint8_t *kv;          /* serialized KV records */
    size_t kv_len, kv_cap;
    int n_kv;
    char **keys;
    int n_t;
    mm_gw_tensor *t;
    uint64_t data_end;    /* aligned end of the data section (relative) */
    uint64_t infos_len;
    int began, finished, failed;
    int cur;              /* tensor being written */
    uint64_t cur_done, written;
};

static void wbuf(mm_gguf_writer *w, const void *p, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        w->kv_cap = (w->kv_len + n) * 2 + 256;
        w->kv = mm_xrealloc(w->kv, w->kv_cap);
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}
static void wle32(mm_gguf_writer *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wbuf(w, b, 4);
}
static void wle64(mm_gguf_writer *w, uint64_t v) {
    wle32(w, (uint32_t)v);
    wle32(w, (uint32_t)(v >> 32));
}
static void wstr(mm_gguf_writer *w, const char *s, size_t n) {
    wle64(w, n);
    wbuf(w, s, n);
}

mm_gguf_writer *mm_gguf_writer_new(const char *path) {
    mm_gguf_writer *w = mm_xcalloc(1, sizeof *w);
    w->path = mm_xstrdup(path);
    size_t n = strlen(path) + 8;
    w->tmp = mm_xmalloc(n);
    snprintf(w->tmp, n, "%s.tmp", path);
    return w;
}

int mm_gguf_writer_has_kv(const mm_gguf_writer *w, const char *key) {
    for (int i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return 1;
    return 0;
}

/* Starts a KV record: checks the key, writes it and the type. */
static int kv_begin(mm_gguf_writer *w, const char *key, uint32_t type) {
    if (w->began) {
        mm_set_error("%s: KV \"%s\" added after the header was written", w->path, key);
        return -1;
    }
    if (!key || !*key) {
        mm_set_error("%s: empty KV key", w->path);
        return -1;
    }
    if (mm_gguf_writer_has_kv(w, key)) {
        mm_set_error("%s: KV \"%s\" set twice", w->path, key);
        return -1;
    }
    w->keys = mm_xrealloc(w->keys, sizeof(char *) * (size_t)(w->n_kv + 1));
    w->keys[w->n_kv++] = mm_xstrdup(key);
    wstr(w, key, strlen(key));
    wle32(w, type);
    return 0;
}
int mm_gguf_w_u32(mm_gguf_writer *w, const char *key, uint32_t v) {
    if (kv_begin(w, key, MM_GGUF_U32)) return -1;
    wle32(w, v);
    return 0;
}
int mm_gguf_w_i32(mm_gguf_writer *w, const char *key, int32_t v) {
    if (kv_begin(w, key, MM_GGUF_I32)) return -1;
    wle32(w, (uint32_t)v);
    return 0;
}
int mm_gguf_w_u64(mm_gguf_writer *w, const char *key, uint64_t v) {
    if (kv_begin(w, key, MM_GGUF_U64)) return -1;
    wle64(w, v);
    return 0;
}
int mm_gguf_w_f32(mm_gguf_writer *w, const char *key, float v) {
    if (kv_begin(w, key, MM_GGUF_F32)) return -1;
    uint32_t u;
    memcpy(&u, &v, 4);
    wle32(w, u);
    return 0;
}
int mm_gguf_w_bool(mm_gguf_writer *w, const char *key, int v) {
    if (kv_begin(w, key, MM_GGUF_BOOL)) return -1;
    uint8_t b = v ? 1 : 0;
    wbuf(w, &b, 1);
    return 0;
}
int mm_gguf_w_str(mm_gguf_writer *w, const char *key, const char *v) {
    if (kv_begin(w, key, MM_GGUF_STRING)) return -1;
    wstr(w, v, strlen(v));
    return 0;
}
int mm_gguf_w_arr(mm_gguf_writer *w, const char *key, int et, uint64_t n, const void *packed) {
    size_t es = mm_gguf_vt_size(et);
    if (!es) {
        mm_set_error("%s: KV \"%s\": element type %d is not a scalar", w->path, key, et);
        return -1;
    }
    if (kv_begin(w, key, MM_GGUF_ARRAY)) return -1;
    wle32(w, (uint32_t)et);
    wle64(w, n);
    wbuf(w, packed, (size_t)(n * es)); /* packed is already little-endian (x86/ARM hosts) */
    return 0;
}
int mm_gguf_w_arr_str(mm_gguf_writer *w, const char *key, uint64_t n, const char *const *v) {
    if (kv_begin(w, key, MM_GGUF_ARRAY)) return -1;
    wle32(w, MM_GGUF_STRING);
    wle64(w, n);
    for (uint64_t i = 0; i < n; i++) wstr(w, v[i], strlen(v[i]));
    return 0;
}
int mm_gguf_w_copy_kv(mm_gguf_writer *w, const mm_gguf *g, int i) {
    if (i < 0 || i >= g->n_kv) return -1;
    if (w->began || mm_gguf_writer_has_kv(w, g->kv[i].key)) {
        mm_set_error("%s: KV \"%s\" set twice or after the header", w->path, g->kv[i].key);
        return -1;
    }
    w->keys = mm_xrealloc(w->keys, sizeof(char *) * (size_t)(w->n_kv + 1));
    w->keys[w->n_kv++] = mm_xstrdup(g->kv[i].key);
    wbuf(w, g->map + g->kv[i].rec_off, g->kv[i].rec_len);
    return 0;
}

int mm_gguf_writer_add(mm_gguf_writer *w, const char *name, mm_dtype dtype, int ndim, const int64_t *shape) {
    if (w->began) {
        mm_set_error("%s: tensor \"%s\" added after the header was written", w->path, name);
        return -1;
    }
    size_t nl = strlen(name);
    if (nl == 0 || nl >= MM_GGUF_MAX_NAME) {
        mm_set_error("%s: tensor name \"%s\" is empty or longer than %d bytes", w->path, name, MM_GGUF_MAX_NAME - 1);
        return -1;
    }
    if (ndim < 1 || ndim > 4) {
        mm_set_error("%s: tensor \"%s\": %d dimensions", w->path, name, ndim);
        return -1;
    }
    for (int i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) {
            mm_set_error("%s: tensor \"%s\" added twice", w->path, name);
            return -1;
        }
    int gt = mm_gguf_type_of(dtype);
    if (gt < 0) {
        mm_set_error("%s: tensor \"%s\": dtype %d has no GGML type", w->path, name, (int)dtype);
        return -1;
    }
    mm_gw_tensor t = {.name = mm_xstrdup(name), .type = (uint32_t)gt, .ndim = ndim};
    uint64_t rows = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1) {
            mm_set_error("%s: tensor \"%s\": dimension %d is %lld", w->path, name, d, (long long)shape[d]);
            free(t.name);
            return -1;
        }
        t.ne[d] = (uint64_t)shape[ndim - 1 - d];
        if (d > 0) rows *= t.ne[d];
    }
    size_t rb = mm_row_bytes(dtype, (int64_t)t.ne[0]);
    if (!rb) {
        mm_set_error("%s: tensor \"%s\": %s rows of %llu elements are not whole blocks", w->path, name, mm_dtype_name(dtype),
                     (unsigned long long)t.ne[0]);
        free(t.name);
        return -1;
    }
    t.nbytes = rows * rb;
    t.off = w->data_end;
    w->data_end = (t.off + t.nbytes + MM_GGUF_DEFAULT_ALIGNMENT - 1) / MM_GGUF_DEFAULT_ALIGNMENT * MM_GGUF_DEFAULT_ALIGNMENT;
    w->infos_len += 8 + nl + 4 + 8 * (uint64_t)ndim + 4 + 8;
    w->t = mm_xrealloc(w->t, sizeof *w->t * (size_t)(w->n_t + 1));
    w->t[w->n_t++] = t;
    return 0;
}

static uint64_t header_bytes(const mm_gguf_writer *w) {
    uint64_t h = 24 + w->kv_len + w->infos_len;
    return (h + MM_GGUF_DEFAULT_ALIGNMENT - 1) / MM_GGUF_DEFAULT_ALIGNMENT * MM_GGUF_DEFAULT_ALIGNMENT;
}
uint64_t mm_gguf_writer_file_bytes(const mm_gguf_writer *w) { return header_bytes(w) + w->data_end; }
uint64_t mm_gguf_writer_data_bytes(const mm_gguf_writer *w) {
    uint64_t s = 0;
    for (int i = 0; i < w->n_t; i++) s += w->t[i].nbytes;
    return s;
}
uint64_t mm_gguf_writer_written(const mm_gguf_writer *w) { return w->written; }

static int wfile(mm_gguf_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n) {
        mm_set_error("%s: write failed: %s", w->tmp, strerror(errno));
        w->failed = 1;
        return -1;
    }
    return 0;
}
static int wpad(mm_gguf_writer *w, uint64_t n) {
    static const uint8_t zero[MM_GGUF_DEFAULT_ALIGNMENT];
    return wfile(w, zero, (size_t)n);
}

int mm_gguf_writer_begin(mm_gguf_writer *w) {
    if (w->began) {
        mm_set_error("%s: header already written", w->path);
        return -1;
    }
    uint64_t need = mm_gguf_writer_file_bytes(w);
    char *dir = mm_xstrdup(w->path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    else strcpy(dir, ".");
    int64_t avail = mm_disk_free(dir);
    free(dir);
    if (avail < 0) return -1;
    uint64_t margin = need / 100 + (16u << 20);
    if ((uint64_t)avail < need + margin) {
        mm_set_error("%s: not enough disk space: the file needs %.2f GB (+%.2f GB margin), %.2f GB free", w->path, need / 1e9,
                     margin / 1e9, avail / 1e9);
        return -1;
    }
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        mm_set_error("%s: cannot create: %s", w->tmp, strerror(errno));
        return -1;
    }
    w->began = 1;
    /* header */
    mm_gguf_writer hdr = {0};
    wbuf(&hdr, MM_GGUF_MAGIC, 4);
    wle32(&hdr, 3);
    wle64(&hdr, (uint64_t)w->n_t);
    wle64(&hdr, (uint64_t)w->n_kv);
    for (int i = 0; i < w->n_t; i++) {
        const mm_gw_tensor *t = &w->t[i];
        wstr(&hdr, t->name, strlen(t->name));
        wle32(&hdr, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) wle64(&hdr, t->ne[d]);
        wle32(&hdr, t->type);
        wle64(&hdr, t->off);
    }
    int rc = wfile(w, hdr.kv, 24) || wfile(w, w->kv, w->kv_len) || wfile(w, hdr.kv + 24, hdr.kv_len - 24) ||
             wpad(w, header_bytes(w) - (24 + w->kv_len + w->infos_len));
    free(hdr.kv);
    if (rc) return -1;
    w->cur = 0;
    w->cur_done = 0;
    return 0;
}

int mm_gguf_writer_write(mm_gguf_writer *w, const void *data, size_t n) {
    if (!w->began || w->failed || w->finished) {
        mm_set_error("%s: write outside begin/finish or after an error", w->path);
        return -1;
    }
    const uint8_t *p = data;
    while (n > 0) {
        while (w->cur < w->n_t && w->cur_done == w->t[w->cur].nbytes) { /* skip to the next unfinished tensor */
            w->cur++;
            w->cur_done = 0;
        }
        if (w->cur >= w->n_t) {
            mm_set_error("%s: %zu bytes more than the declared tensors hold", w->path, n);
            w->failed = 1;
            return -1;
        }
        mm_gw_tensor *t = &w->t[w->cur];
        uint64_t k = t->nbytes - w->cur_done;
        if (k > n) k = n;
        if (wfile(w, p, (size_t)k)) return -1;
        w->cur_done += k;
        w->written += k;
        p += k;
        n -= (size_t)k;
        if (w->cur_done == t->nbytes) {
            uint64_t end = t->off + t->nbytes;
            uint64_t pad = (MM_GGUF_DEFAULT_ALIGNMENT - end % MM_GGUF_DEFAULT_ALIGNMENT) % MM_GGUF_DEFAULT_ALIGNMENT;
            if (wpad(w, pad)) return -1;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return 0;
}

int mm_gguf_writer_finish(mm_gguf_writer *w) {
    if (!w->began || w->failed) {
        mm_set_error("%s: finish without a successful begin", w->path);
        return -1;
    }
    if (w->written != mm_gguf_writer_data_bytes(w)) {
        mm_set_error("%s: only %llu of %llu tensor bytes were written", w->path, (unsigned long long)w->written,
                     (unsigned long long)mm_gguf_writer_data_bytes(w));
        w->failed = 1;
        return -1;
    }
    int rc = fflush(w->f);
    if (fclose(w->f) != 0 || rc != 0) {
        w->f = NULL;
        w->failed = 1;
        mm_set_error("%s: closing failed: %s", w->tmp, strerror(errno));
        return -1;
    }
    w->f = NULL;
    if (rename(w->tmp, w->path) != 0) {
        w->failed = 1;
        mm_set_error("%s: cannot rename %s to it: %s", w->path, w->tmp, strerror(errno));
        return -1;
    }
    w->finished = 1;
    return 0;
}

void mm_gguf_writer_free(mm_gguf_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->began && !w->finished) unlink(w->tmp);
    for (int i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv);
    free(w->path);
    free(w->tmp);
    free(w);
}

int mm_gguf_is_file(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    size_t n = strlen(path);
    if (n >= 5 && !strcasecmp(path + n - 5, ".gguf")) return 1;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4] = {0};
    size_t got = fread(m, 1, 4, f);
    fclose(f);
    return got == 4 && !memcmp(m, MM_GGUF_MAGIC, 4);
}

/* ================================================================ MiniMax-01 <-> llama.cpp minimax-01 */
#define ARCH "minimax-01"

int mm_gguf_check_config(const mm_config *c) {
    if (!c->postnorm) {
        mm_set_error("postnorm is false (the residual is the raw layer input): llama.cpp's minimax-01 graph always adds the "
                     "normalised input, and GGUF has no key to say otherwise");
        return -1;
    }
    if (c->alpha_lin != c->alpha_full || c->alpha_lin != c->alpha_mlp) {
        mm_set_error("the residual factors α differ (linear %g, full %g, mlp %g): minimax-01 GGUF stores one "
                     "residual_scale for all of them", c->alpha_lin, c->alpha_full, c->alpha_mlp);
        return -1;
    }
    if (c->beta_lin != 1.0 || c->beta_full != 1.0 || c->beta_mlp != 1.0) {
        mm_set_error("a residual factor β is not 1 (linear %g, full %g, mlp %g): llama.cpp's minimax-01 graph has no β",
                     c->beta_lin, c->beta_full, c->beta_mlp);
        return -1;
    }
    if (c->n_lightning && (c->n_heads & (c->n_heads - 1))) {
        mm_set_error("%d heads is not a power of two: the reference interleaves ALiBi slopes for such head counts, "
                     "llama.cpp's minimax-01 graph uses the power-of-two formula for every count", c->n_heads);
        return -1;
    }
    if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads) {
        mm_set_error("%d heads is not a multiple of %d KV heads", c->n_heads, c->n_kv_heads);
        return -1;
    }
    return 0;
}

#define WTRY(x)                  \
    do {                         \
        if ((x) < 0) return -1;  \
    } while (0)

int mm_gguf_write_config(mm_gguf_writer *w, const mm_config *c) {
    if (mm_gguf_check_config(c) < 0) return -1;
    WTRY(mm_gguf_w_str(w, "general.architecture", ARCH));
    WTRY(mm_gguf_w_u32(w, ARCH ".vocab_size", (uint32_t)c->vocab_size));
    WTRY(mm_gguf_w_u32(w, ARCH ".context_length", (uint32_t)c->max_position_embeddings));
    WTRY(mm_gguf_w_u32(w, ARCH ".embedding_length", (uint32_t)c->hidden_size));
    WTRY(mm_gguf_w_u32(w, ARCH ".block_count", (uint32_t)c->n_layers));
    WTRY(mm_gguf_w_u32(w, ARCH ".feed_forward_length", (uint32_t)c->intermediate_size));
    WTRY(mm_gguf_w_u32(w, ARCH ".attention.head_count", (uint32_t)c->n_heads));
    WTRY(mm_gguf_w_u32(w, ARCH ".attention.head_count_kv", (uint32_t)c->n_kv_heads));
    WTRY(mm_gguf_w_u32(w, ARCH ".attention.key_length", (uint32_t)c->head_dim));
    WTRY(mm_gguf_w_u32(w, ARCH ".attention.value_length", (uint32_t)c->head_dim));
    WTRY(mm_gguf_w_u32(w, ARCH ".rope.dimension_count", (uint32_t)c->rotary_dim));
    WTRY(mm_gguf_w_f32(w, ARCH ".rope.freq_base", (float)c->rope_theta));
    WTRY(mm_gguf_w_f32(w, ARCH ".attention.layer_norm_rms_epsilon", (float)c->rms_norm_eps));
    WTRY(mm_gguf_w_u32(w, ARCH ".expert_count", (uint32_t)c->n_experts));
    WTRY(mm_gguf_w_u32(w, ARCH ".expert_used_count", (uint32_t)c->n_experts_per_tok));
    WTRY(mm_gguf_w_f32(w, ARCH ".residual_scale", (float)c->alpha_mlp));
    uint8_t rec[MM_MAX_LAYERS];
    for (int i = 0; i < c->n_layers; i++) rec[i] = c->layer_type[i] == MM_LAYER_LIGHTNING;
    WTRY(mm_gguf_w_arr(w, ARCH ".attention.recurrent_layers", MM_GGUF_BOOL, (uint64_t)c->n_layers, rec));
    return 0;
}

/* A required / optional u32 KV into *out within [lo, hi]. */
static int kv_u32(const mm_gguf *g, const char *key, int required, long lo, long hi, int *out) {
    uint32_t v;
    int r = mm_gguf_get_u32(g, key, &v);
    if (r < 0) return -1;
    if (r == 0) {
        if (!required) return 0;
        mm_set_error("%s: KV \"%s\" is missing", mm_gguf_path(g), key);
        return -1;
    }
    if ((long)v < lo || (long)v > hi) {
        mm_set_error("%s: KV \"%s\" = %u is out of range [%ld, %ld]", mm_gguf_path(g), key, v, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 1;
}

#define RTRY(x)                  \
    do {                         \
        if ((x) < 0) return -1;  \
    } while (0)

int mm_gguf_read_config(const mm_gguf *g, mm_config *c) {
    const char *path = mm_gguf_path(g);
    const char *arch = NULL;
    RTRY(mm_gguf_get_str(g, "general.architecture", &arch));
    if (!arch) {
        mm_set_error("%s: general.architecture is missing", path);
        return -1;
    }
    if (strcmp(arch, ARCH)) {
        mm_set_error("%s: general.architecture is \"%s\"; this engine runs \"" ARCH "\" (MiniMax-Text-01 / M1)", path, arch);
        return -1;
    }
    memset(c, 0, sizeof *c);
    snprintf(c->model_type, sizeof c->model_type, "minimax_text_01");
    c->dialect = MM_DIALECT_REMOTE; /* the remote code's semantics: remote slopes, partial rotary, postnorm honoured */
    const long BIG = 1L << 30;
    RTRY(kv_u32(g, ARCH ".block_count", 1, 1, MM_MAX_LAYERS, &c->n_layers));
    RTRY(kv_u32(g, ARCH ".embedding_length", 1, 1, 1 << 20, &c->hidden_size));
    RTRY(kv_u32(g, ARCH ".feed_forward_length", 1, 1, 1 << 22, &c->intermediate_size));
    RTRY(kv_u32(g, ARCH ".attention.head_count", 1, 1, 4096, &c->n_heads));
    c->n_kv_heads = c->n_heads;
    RTRY(kv_u32(g, ARCH ".attention.head_count_kv", 0, 1, 4096, &c->n_kv_heads));
    RTRY(kv_u32(g, ARCH ".expert_count", 1, 1, 4096, &c->n_experts));
    RTRY(kv_u32(g, ARCH ".expert_used_count", 1, 1, 4096, &c->n_experts_per_tok));
    c->max_position_embeddings = 4096;
    RTRY(kv_u32(g, ARCH ".context_length", 0, 1, 0x7fffffffL, &c->max_position_embeddings));
    c->head_dim = c->hidden_size / c->n_heads;
    RTRY(kv_u32(g, ARCH ".attention.key_length", 0, 1, 1 << 16, &c->head_dim));
    int vlen = c->head_dim;
    RTRY(kv_u32(g, ARCH ".attention.value_length", 0, 1, 1 << 16, &vlen));
    if (vlen != c->head_dim) {
        mm_set_error("%s: attention.value_length %d differs from key_length %d", path, vlen, c->head_dim);
        return -1;
    }
    c->rotary_dim = c->head_dim;
    RTRY(kv_u32(g, ARCH ".rope.dimension_count", 0, 0, 1 << 16, &c->rotary_dim));
    c->rope_theta = 10000.0;
    RTRY(mm_gguf_get_f64(g, ARCH ".rope.freq_base", &c->rope_theta));
    int r = mm_gguf_get_f64(g, ARCH ".attention.layer_norm_rms_epsilon", &c->rms_norm_eps);
    RTRY(r);
    if (r == 0) {
        mm_set_error("%s: KV \"" ARCH ".attention.layer_norm_rms_epsilon\" is missing", path);
        return -1;
    }
    double alpha = 1.0;
    r = mm_gguf_get_f64(g, ARCH ".residual_scale", &alpha);
    RTRY(r);
    if (r == 0) {
        mm_set_error("%s: KV \"" ARCH ".residual_scale\" is missing (llama.cpp requires it)", path);
        return -1;
    }
    if (!(c->rope_theta > 0) || !(c->rms_norm_eps > 0) || !(alpha > 0) || alpha > 1e6) {
        mm_set_error("%s: rope.freq_base %g, layer_norm_rms_epsilon %g and residual_scale %g must be positive and finite",
                     path, c->rope_theta, c->rms_norm_eps, alpha);
        return -1;
    }
    c->postnorm = 1;
    c->alpha_lin = c->alpha_full = c->alpha_mlp = alpha;
    c->beta_lin = c->beta_full = c->beta_mlp = 1.0;
    c->block_size = 256;
    /* layer pattern */
    int at;
    uint64_t n;
    r = mm_gguf_get_arr(g, ARCH ".attention.recurrent_layers", &at, &n, NULL);
    if (r < 0) {
        /* llama.cpp's get_key_or_arr also takes one scalar for every layer */
        int one;
        int rb = mm_gguf_get_bool(g, ARCH ".attention.recurrent_layers", &one);
        RTRY(rb);
        for (int i = 0; i < c->n_layers; i++) c->layer_type[i] = one ? MM_LAYER_LIGHTNING : MM_LAYER_SOFTMAX;
    } else if (r == 1) {
        if (n != (uint64_t)c->n_layers || at == MM_GGUF_STRING || at == MM_GGUF_F32 || at == MM_GGUF_F64) {
            mm_set_error("%s: attention.recurrent_layers must hold %d bools (one per layer), has %llu of type %d", path,
                         c->n_layers, (unsigned long long)n, at);
            return -1;
        }
        for (int i = 0; i < c->n_layers; i++) {
            int64_t v = mm_gguf_arr_int(g, ARCH ".attention.recurrent_layers", (uint64_t)i);
            if (v != 0 && v != 1) {
                mm_set_error("%s: attention.recurrent_layers[%d] = %lld is not 0/1", path, i, (long long)v);
                return -1;
            }
            c->layer_type[i] = v ? MM_LAYER_LIGHTNING : MM_LAYER_SOFTMAX;
        }
    } else {
        int interval = 8;
        RTRY(kv_u32(g, ARCH ".full_attention_interval", 0, 1, MM_MAX_LAYERS, &interval));
        for (int i = 0; i < c->n_layers; i++)
            c->layer_type[i] = (i + 1) % interval ? MM_LAYER_LIGHTNING : MM_LAYER_SOFTMAX;
    }
    for (int i = 0; i < c->n_layers; i++) {
        if (c->layer_type[i] == MM_LAYER_SOFTMAX) c->n_softmax++;
        else c->n_lightning++;
    }
    /* vocab: the embedding's rows (vocab_size, when present, must agree) */
    const mm_tensor *emb = mm_gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->ndim != 2) {
        mm_set_error("%s: tensor token_embd.weight is missing or not 2-D", path);
        return -1;
    }
    if (emb->shape[0] > BIG) {
        mm_set_error("%s: token_embd.weight has %lld rows", path, (long long)emb->shape[0]);
        return -1;
    }
    c->vocab_size = (int)emb->shape[0];
    int vs = c->vocab_size;
    RTRY(kv_u32(g, ARCH ".vocab_size", 0, 1, BIG, &vs));
    if (vs != c->vocab_size) {
        mm_set_error("%s: vocab_size %d but token_embd.weight has %d rows", path, vs, c->vocab_size);
        return -1;
    }
    c->tie_word_embeddings = mm_gguf_find_tensor(g, "output.weight") == NULL;
    /* consistency, as for config.json */
    if (c->n_heads % c->n_kv_heads) {
        mm_set_error("%s: head_count %d is not a multiple of head_count_kv %d", path, c->n_heads, c->n_kv_heads);
        return -1;
    }
    if (c->rotary_dim % 2 || c->rotary_dim > c->head_dim) {
        mm_set_error("%s: rope.dimension_count %d must be even and at most key_length %d", path, c->rotary_dim, c->head_dim);
        return -1;
    }
    if (c->n_experts_per_tok > c->n_experts) {
        mm_set_error("%s: expert_used_count %d exceeds expert_count %d", path, c->n_experts_per_tok, c->n_experts);
        return -1;
    }
    if (c->n_layers == 1 && c->n_lightning) {
        mm_set_error("%s: a 1-layer model with a lightning layer has no defined slope factor (1 - l/(L-1))", path);
        return -1;
    }
    if (mm_gguf_check_config(c) < 0) {
        mm_error_prefix("%s", path);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- tensor names */
typedef struct {
    mm_gguf *g;
    char *names;   /* arena: [n] × 96 */
} mm_gguf_owner;

static void owner_free(void *p) {
    mm_gguf_owner *o = p;
    if (!o) return;
    mm_gguf_close(o->g);
    free(o->names);
    free(o);
}

/* GGUF name -> Hugging Face name (out[96]); -1 if the name is not a minimax-01 tensor. */
static int map_name(const char *gn, const mm_config *c, char *out) {
    static const struct { const char *g, *hf; } top[] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(gn, top[i].g)) {
            snprintf(out, 96, "%s", top[i].hf);
            return 0;
        }
    int layer, used = 0;
    if (sscanf(gn, "blk.%d.%n", &layer, &used) != 1 || used == 0 || layer < 0 || layer >= c->n_layers) return -1;
    const char *rest = gn + used;
    int lin = c->layer_type[layer] == MM_LAYER_LIGHTNING;
    static const struct { const char *g, *hf; int only; } per[] = {  /* only: 0 both, 1 lightning, 2 softmax */
        {"attn_norm.weight", "input_layernorm.weight", 0},
        {"ffn_norm.weight", "post_attention_layernorm.weight", 0},
        {"attn_qkv.weight", "self_attn.qkv_proj.weight", 1},
        {"attn_gate.weight", "self_attn.output_gate.weight", 1},
        {"attn_norm_2.weight", "self_attn.norm.weight", 1},
        {"attn_q.weight", "self_attn.q_proj.weight", 2},
        {"attn_k.weight", "self_attn.k_proj.weight", 2},
        {"attn_v.weight", "self_attn.v_proj.weight", 2},
        {"ffn_gate_inp.weight", "block_sparse_moe.gate.weight", 0},
        {"ffn_gate_exps.weight", "mlp.experts.gate_proj", 0},
        {"ffn_up_exps.weight", "mlp.experts.up_proj", 0},
        {"ffn_down_exps.weight", "mlp.experts.down_proj", 0},
    };
    if (!strcmp(rest, "attn_output.weight")) {
        snprintf(out, 96, "model.layers.%d.self_attn.%s", layer, lin ? "out_proj.weight" : "o_proj.weight");
        return 0;
    }
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++)
        if (!strcmp(rest, per[i].g)) {
            if ((per[i].only == 1 && !lin) || (per[i].only == 2 && lin)) return -1;
            snprintf(out, 96, "model.layers.%d.%s", layer, per[i].hf);
            return 0;
        }
    return -1;
}

int mm_gguf_load_model(const char *path, mm_config *cfg, struct mm_weights **wout) {
    *wout = NULL;
    mm_gguf *g = mm_gguf_open(path);
    if (!g) return -1;
    if (mm_gguf_read_config(g, cfg) < 0) {
        mm_gguf_close(g);
        return -1;
    }
    int n = mm_gguf_n_tensors(g);
    mm_gguf_owner *o = mm_xcalloc(1, sizeof *o);
    o->g = g;
    o->names = mm_xmalloc((size_t)(n ? n : 1) * 96);
    mm_tensor *ts = mm_xcalloc((size_t)(n ? n : 1), sizeof *ts);
    for (int i = 0; i < n; i++) {
        ts[i] = *mm_gguf_tensor(g, i);
        char *nm = o->names + (size_t)i * 96;
        if (map_name(ts[i].name, cfg, nm) < 0) {
            mm_set_error("%s: tensor \"%s\" is not part of a minimax-01 model with this layer layout", path, ts[i].name);
            free(ts);
            owner_free(o);
            return -1;
        }
        ts[i].name = nm;
    }
    *wout = mm_weights_from_tensors(n, ts, path, o, owner_free);
    free(ts);
    return *wout ? 0 : -1;
}

/* ---------------------------------------------------------------- tokenizer */
/* The GPT-4o (o200k) split that MiniMax-Text-01's tokenizer.json uses (../shared/tokenizer/README.md); llama.cpp
 * runs the same expression for pre types "gpt-4o" and "minimax-m2". */
static const char MM_O200K_REGEX[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static int jflag(json_t *o, const char *k, int def) {
    json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* The llama.cpp pre type equivalent to tokenizer.json's normalizer + pre_tokenizer, or NULL. */
static const char *json_pre_type(json_t *root) {
    json_t *norm = json_object_get(root, "normalizer");
    const char *nt = json_string_value(json_object_get(norm, "type"));
    int nfc = nt && !strcmp(nt, "NFC");
    if (norm && !json_is_null(norm) && !nfc) return NULL;
    json_t *pt = json_object_get(root, "pre_tokenizer");
    const char *ptt = json_string_value(json_object_get(pt, "type"));
    if (!ptt) return NULL;
    if (!strcmp(ptt, "ByteLevel")) {
        if (nfc || jflag(pt, "add_prefix_space", 0) || !jflag(pt, "use_regex", 1)) return NULL;
        return "gpt2";
    }
    if (strcmp(ptt, "Sequence")) return NULL;
    json_t *steps = json_object_get(pt, "pretokenizers");
    if (json_array_size(steps) != 2) return NULL;
    json_t *sp = json_array_get(steps, 0), *bl = json_array_get(steps, 1);
    const char *st = json_string_value(json_object_get(sp, "type")), *bt = json_string_value(json_object_get(bl, "type"));
    if (!st || !bt || strcmp(st, "Split") || strcmp(bt, "ByteLevel")) return NULL;
    const char *re = json_string_value(json_object_get(json_object_get(sp, "pattern"), "Regex"));
    const char *beh = json_string_value(json_object_get(sp, "behavior"));
    int inv = jflag(sp, "invert", 0);
    int tiles = beh && ((!strcmp(beh, "Removed") && inv) || (!strcmp(beh, "Isolated") && !inv));
    if (!re || strcmp(re, MM_O200K_REGEX) || !tiles || jflag(bl, "add_prefix_space", 0) || jflag(bl, "use_regex", 1))
        return NULL;
    return nfc ? "minimax-m2" : "gpt-4o";
}

/* A tokenizer_config.json special-token entry: a string or {"content": ...}. */
static const char *tok_cfg_str(json_t *cfg, const char *key) {
    json_t *v = json_object_get(cfg, key);
    if (json_is_string(v)) return json_string_value(v);
    return json_string_value(json_object_get(v, "content"));
}

int mm_gguf_write_tokenizer_json(mm_gguf_writer *w, const char *tpath, int n_vocab_min) {
    char file[4096], cfgfile[4096];
    struct stat st;
    if (stat(tpath, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(file, sizeof file, "%s/tokenizer.json", tpath);
    else snprintf(file, sizeof file, "%s", tpath);
    snprintf(cfgfile, sizeof cfgfile, "%s", file);
    char *slash = strrchr(cfgfile, '/');
    snprintf(slash ? slash + 1 : cfgfile, sizeof cfgfile - (size_t)(slash ? slash + 1 - cfgfile : 0), "tokenizer_config.json");
    json_error_t jerr;
    json_t *root = json_load_file(file, 0, &jerr);
    if (!root) {
        mm_set_error("%s: cannot read tokenizer: %s (line %d)", file, jerr.text, jerr.line);
        return -1;
    }
    json_t *tcfg = json_load_file(cfgfile, 0, &jerr); /* optional */
    int rc = -1;
    char **tokens = NULL, **merges = NULL;
    int32_t *types = NULL;
    int64_t n = 0;
    size_t nm = 0;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab"), *jm = json_object_get(model, "merges");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if ((mtype && strcmp(mtype, "BPE")) || !json_is_object(vocab) || !json_is_array(jm)) {
        mm_set_error("%s: not a BPE tokenizer with model.vocab and model.merges", file);
        goto out;
    }
    const char *pre = json_pre_type(root);
    if (!pre) {
        mm_set_error("%s: the normalizer / pre_tokenizer has no llama.cpp equivalent (supported: MiniMax's NFC + GPT-4o "
                     "split, the GPT-4o split, GPT-2 ByteLevel)", file);
        goto out;
    }
    const char *key;
    json_t *val;
    json_t *added = json_object_get(root, "added_tokens");
    n = n_vocab_min > 0 ? n_vocab_min : 0;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id > 100000000) {
            mm_set_error("%s: model.vocab[\"%s\"] is not an id in [0, 1e8]", file, key);
            goto out;
        }
        if (id + 1 > n) n = id + 1;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_int_t id = json_integer_value(json_object_get(json_array_get(added, i), "id"));
        if (id < 0 || id > 100000000 || !json_string_value(json_object_get(json_array_get(added, i), "content"))) {
            mm_set_error("%s: added_tokens[%zu] needs an id in [0, 1e8] and a content string", file, i);
            goto out;
        }
        if (id + 1 > n) n = id + 1;
    }
    tokens = mm_xcalloc((size_t)n, sizeof *tokens);
    types = mm_xcalloc((size_t)n, sizeof *types);
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        tokens[id] = mm_xstrdup(key);
        types[id] = TT_NORMAL;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        free(tokens[id]);
        tokens[id] = mm_xstrdup(json_string_value(json_object_get(a, "content")));
        types[id] = jflag(a, "special", 0) ? TT_CONTROL : TT_USER_DEFINED;
    }
    for (int64_t i = 0; i < n; i++)
        if (!tokens[i]) {
            char b[32];
            snprintf(b, sizeof b, "[PAD%lld]", (long long)i);
            tokens[i] = mm_xstrdup(b);
            types[i] = TT_UNUSED;
        }
    nm = json_array_size(jm);
    merges = mm_xcalloc(nm ? nm : 1, sizeof *merges);
    for (size_t i = 0; i < nm; i++) {
        json_t *m = json_array_get(jm, i);
        if (json_is_string(m)) {
            merges[i] = mm_xstrdup(json_string_value(m));
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            const char *a = json_string_value(json_array_get(m, 0)), *b = json_string_value(json_array_get(m, 1));
            merges[i] = mm_xmalloc(strlen(a) + strlen(b) + 2);
            sprintf(merges[i], "%s %s", a, b);
        } else {
            mm_set_error("%s: model.merges[%zu] is neither \"a b\" nor [a, b]", file, i);
            goto out;
        }
    }
    if (mm_gguf_w_str(w, "tokenizer.ggml.model", "gpt2") || mm_gguf_w_str(w, "tokenizer.ggml.pre", pre) ||
        mm_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (uint64_t)n, (const char *const *)tokens) ||
        mm_gguf_w_arr(w, "tokenizer.ggml.token_type", MM_GGUF_I32, (uint64_t)n, types) ||
        mm_gguf_w_arr_str(w, "tokenizer.ggml.merges", (uint64_t)nm, (const char *const *)merges))
        goto out;
    /* special ids from tokenizer_config.json (looked up among the tokens) */
    static const struct { const char *cfg, *key; } sp[] = {{"bos_token", "tokenizer.ggml.bos_token_id"},
                                                           {"eos_token", "tokenizer.ggml.eos_token_id"},
                                                           {"unk_token", "tokenizer.ggml.unknown_token_id"},
                                                           {"pad_token", "tokenizer.ggml.padding_token_id"}};
    for (size_t k = 0; tcfg && k < sizeof sp / sizeof sp[0]; k++) {
        const char *s = tok_cfg_str(tcfg, sp[k].cfg);
        if (!s) continue;
        for (int64_t i = 0; i < n; i++)
            if (types[i] != TT_UNUSED && !strcmp(tokens[i], s)) {
                if (mm_gguf_w_u32(w, sp[k].key, (uint32_t)i)) goto out;
                break;
            }
    }
    const json_t *pp = json_object_get(root, "post_processor");
    if (mm_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 0) || mm_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 0))
        goto out;
    (void)pp; /* tokenizer.json's post_processor adds nothing for MiniMax (null); BOS is never added */
    const char *tmpl = tcfg ? json_string_value(json_object_get(tcfg, "chat_template")) : NULL;
    if (tmpl && mm_gguf_w_str(w, "tokenizer.chat_template", tmpl)) goto out;
    rc = 0;
out:
    for (int64_t i = 0; tokens && i < n; i++) free(tokens[i]);
    for (size_t i = 0; merges && i < nm; i++) free(merges[i]);
    free(tokens);
    free(types);
    free(merges);
    json_decref(root);
    if (tcfg) json_decref(tcfg);
    return rc;
}

mm_tokenizer *mm_tokenizer_load_gguf(const char *path) {
    mm_gguf *g = mm_gguf_open(path);
    if (!g) return NULL;
    mm_tokenizer *t = NULL;
    const char *model = NULL, *pre = NULL;
    const char **vocab = NULL, **ml = NULL, **mr = NULL;
    char *mbuf = NULL;
    mm_tok_added *added = NULL;
    if (mm_gguf_get_str(g, "tokenizer.ggml.model", &model) < 0 || mm_gguf_get_str(g, "tokenizer.ggml.pre", &pre) < 0) goto out;
    if (!model) {
        mm_set_error("%s: no tokenizer in this GGUF (tokenizer.ggml.model is missing)", path);
        goto out;
    }
    if (strcmp(model, "gpt2")) {
        mm_set_error("%s: tokenizer.ggml.model \"%s\" is not supported (only gpt2, byte-level BPE)", path, model);
        goto out;
    }
    mm_tok_pretok steps[2];
    int nsteps, nfc;
    if (!pre || !strcmp(pre, "default") || !strcmp(pre, "gpt2")) {
        steps[0] = (mm_tok_pretok){.type = MM_PRETOK_BYTELEVEL, .use_regex = 1};
        nsteps = 1;
        nfc = 0;
    } else if (!strcmp(pre, "minimax-m2") || !strcmp(pre, "minimax-01") || !strcmp(pre, "gpt-4o")) {
        steps[0] = (mm_tok_pretok){.type = MM_PRETOK_SPLIT, .regex = MM_O200K_REGEX, .behavior = MM_SPLIT_REMOVED, .invert = 1};
        steps[1] = (mm_tok_pretok){.type = MM_PRETOK_BYTELEVEL, .use_regex = 0};
        nsteps = 2;
        nfc = strcmp(pre, "gpt-4o") != 0; /* MiniMax's tokenizer.json normalizes with NFC; o200k itself does not */
    } else {
        mm_set_error("%s: tokenizer.ggml.pre \"%s\" is not supported (minimax-m2, gpt-4o, gpt2, default)", path, pre);
        goto out;
    }
    int at;
    uint64_t n, nm, ntt = 0;
    if (mm_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &n, NULL) != 1 || at != MM_GGUF_STRING || n == 0 ||
        n > 100000000) {
        if (!*mm_last_error() || strstr(mm_last_error(), "tokens") == NULL)
            mm_set_error("%s: tokenizer.ggml.tokens must be a non-empty string array", path);
        goto out;
    }
    int tt_type = -1;
    int r = mm_gguf_get_arr(g, "tokenizer.ggml.token_type", &tt_type, &ntt, NULL);
    if (r < 0) goto out;
    if (r == 1 && (ntt != n || tt_type == MM_GGUF_STRING || tt_type == MM_GGUF_F32 || tt_type == MM_GGUF_F64)) {
        mm_set_error("%s: tokenizer.ggml.token_type must hold %llu integers", path, (unsigned long long)n);
        goto out;
    }
    if (mm_gguf_get_arr(g, "tokenizer.ggml.merges", &at, &nm, NULL) != 1 || at != MM_GGUF_STRING || nm > 100000000) {
        mm_set_error("%s: tokenizer.ggml.merges must be a string array", path);
        goto out;
    }
    vocab = mm_xcalloc((size_t)n, sizeof *vocab);
    added = mm_xcalloc((size_t)n, sizeof *added);
    int n_added = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = mm_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &len);
        int64_t ty = r == 1 ? mm_gguf_arr_int(g, "tokenizer.ggml.token_type", i) : TT_NORMAL;
        if (strlen(s) != len) {
            mm_set_error("%s: token %llu contains a NUL byte", path, (unsigned long long)i);
            goto out;
        }
        if (ty == TT_CONTROL || ty == TT_USER_DEFINED) {
            if (!len) continue;
            int sp = ty == TT_CONTROL;
            added[n_added++] = (mm_tok_added){s, (int32_t)i, sp, !sp, 0, 0, 0};
        } else if (ty != TT_UNUSED) {
            vocab[i] = s;
        }
    }
    ml = mm_xcalloc((size_t)(nm ? nm : 1), sizeof *ml);
    mr = mm_xcalloc((size_t)(nm ? nm : 1), sizeof *mr);
    size_t total = 0;
    for (uint64_t i = 0; i < nm; i++) {
        size_t len;
        mm_gguf_arr_str(g, "tokenizer.ggml.merges", i, &len);
        total += len + 1;
    }
    mbuf = mm_xmalloc(total + 1);
    size_t o = 0;
    for (uint64_t i = 0; i < nm; i++) {
        size_t len;
        const char *s = mm_gguf_arr_str(g, "tokenizer.ggml.merges", i, &len);
        const char *spc = memchr(s, ' ', len);
        if (!spc || spc == s || spc == s + len - 1 || memchr(spc + 1, ' ', len - (size_t)(spc + 1 - s))) {
            mm_set_error("%s: tokenizer.ggml.merges[%llu] = \"%s\" is not \"left right\"", path, (unsigned long long)i, s);
            goto out;
        }
        memcpy(mbuf + o, s, len + 1);
        mbuf[o + (size_t)(spc - s)] = 0;
        ml[i] = mbuf + o;
        mr[i] = mbuf + o + (size_t)(spc - s) + 1;
        o += len + 1;
    }
    mm_tok_parts p = {.n_vocab = (int32_t)n, .vocab = vocab, .n_merges = (int32_t)nm, .merge_left = ml,
                      .merge_right = mr, .n_added = n_added, .added = added, .nfc = nfc, .n_pretok = nsteps,
                      .pretok = steps, .source = path};
    t = mm_tokenizer_from_parts(&p);
out:
    free(vocab);
    free(added);
    free(ml);
    free(mr);
    free(mbuf);
    mm_gguf_close(g);
    return t;
}

/* ---------------------------------------------------------------- conversion */
static const struct {
    const char *name;
    mm_dtype base;
    uint32_t llama;
} mm_ftypes[MM_FT_COUNT] = {
    [MM_FT_F32] = {"f32", MM_F32, 0},     [MM_FT_F16] = {"f16", MM_F16, 1},     [MM_FT_BF16] = {"bf16", MM_BF16, 32},
    [MM_FT_Q8_0] = {"q8_0", MM_Q8_0, 7},  [MM_FT_Q4_0] = {"q4_0", MM_Q4_0, 2},  [MM_FT_Q4_K] = {"q4_k", MM_Q4_K, 14},
    [MM_FT_Q6_K] = {"q6_k", MM_Q6_K, 18}, [MM_FT_Q4_K_M] = {"q4_k_m", MM_Q4_K, 15},
};

int mm_gguf_ftype_from_name(const char *name) {
    for (int i = 0; i < MM_FT_COUNT; i++)
        if (!strcasecmp(name, mm_ftypes[i].name)) return i;
    return -1;
}
const char *mm_gguf_ftype_name(mm_gguf_ftype f) { return (unsigned)f < MM_FT_COUNT ? mm_ftypes[f].name : "?"; }
uint32_t mm_gguf_ftype_llama_id(mm_gguf_ftype f) { return (unsigned)f < MM_FT_COUNT ? mm_ftypes[f].llama : 0; }

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}
/* llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between. */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

mm_dtype mm_gguf_tensor_type(mm_gguf_ftype f, const char *name, int ndim, int64_t row_len, int layer, int n_layers,
                             int i_v, int n_v, int tied) {
    if (ndim < 2 || ends_with(name, "ffn_gate_inp.weight")) return MM_F32; /* norms, router */
    mm_dtype t = mm_ftypes[f].base;
    int quantized = t != MM_F32 && t != MM_F16 && t != MM_BF16;
    if (quantized) {
        int is_output = !strcmp(name, "output.weight") || (tied && !strcmp(name, "token_embd.weight"));
        if (is_output) {
            if (t != MM_Q8_0) t = MM_Q6_K;
        } else if (f == MM_FT_Q4_K_M) {
            if (ends_with(name, ".attn_v.weight") && use_more_bits(i_v, n_v)) t = MM_Q6_K;
            else if (strstr(name, ".ffn_down") && use_more_bits(layer, n_layers)) t = MM_Q6_K;
            else if (ends_with(name, ".attn_qkv.weight")) t = MM_Q6_K;
        }
    }
    if (row_len % mm_dtype_block(t)) t = MM_Q8_0;  /* a K-quant that does not fit */
    if (row_len % mm_dtype_block(t)) t = MM_F16;   /* not even 32-blocks */
    return t;
}

typedef struct {
    char name[64];
    mm_dtype type;
    int ndim;
    int64_t shape[3];      /* PyTorch order */
    const float *f32;      /* 1-D f32 source */
    const mm_tensor *mats; /* 2-D sources stacked along the first dim */
    int n_mats;
} mm_plan;

typedef struct {
    mm_plan *p;
    int n, cap;
} mm_plans;

static mm_plan *plan_add(mm_plans *ps, const char *name) {
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        ps->p = mm_xrealloc(ps->p, sizeof *ps->p * (size_t)ps->cap);
    }
    mm_plan *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    return p;
}
static void plan_vec(mm_plans *ps, const char *name, const float *v, int64_t n) {
    mm_plan *p = plan_add(ps, name);
    p->ndim = 1;
    p->shape[0] = n;
    p->f32 = v;
}
static void plan_mat(mm_plans *ps, const char *name, const mm_tensor *t, int n_mats) {
    mm_plan *p = plan_add(ps, name);
    p->mats = t;
    p->n_mats = n_mats;
    if (n_mats == 1 && t->ndim == 2) {
        p->ndim = 2;
        p->shape[0] = t->shape[0];
        p->shape[1] = t->shape[1];
    } else {
        p->ndim = 3;
        p->shape[0] = n_mats;
        p->shape[1] = t->shape[0];
        p->shape[2] = t->shape[1];
    }
}

static void progress_line(const mm_plan *p, uint64_t done, uint64_t total, double t0) {
    double el = mm_time() - t0;
    fprintf(stderr, "\rquantize: %5.1f%%  %7.1f / %.1f MB  %5.0fs  %-32s", total ? 100.0 * done / total : 100.0, done / 1e6,
            total / 1e6, el, p ? p->name : "done");
    fflush(stderr);
}

int mm_gguf_convert(const char *in, const char *out, const mm_gguf_convert_params *pp, mm_gguf_convert_result *res) {
    double t0 = mm_time();
    mm_gguf_convert_result rdummy;
    if (!res) res = &rdummy;
    memset(res, 0, sizeof *res);
    if ((unsigned)pp->ftype >= MM_FT_COUNT) {
        mm_set_error("unknown file type %d", (int)pp->ftype);
        return -1;
    }
    struct stat si, so;
    if (stat(out, &so) == 0) {
        if (stat(in, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
            mm_set_error("%s: the output is the input", out);
            return -1;
        }
        if (S_ISDIR(so.st_mode)) {
            mm_set_error("%s: is a directory (the output is one .gguf file)", out);
            return -1;
        }
        if (!pp->force) {
            mm_set_error("%s: exists (pass --force to overwrite it)", out);
            return -1;
        }
    }
    mm_model *m = mm_model_load(in, NULL);
    if (!m) return -1;
    const mm_config *c = &m->cfg;
    int rc = -1;
    mm_plans ps = {0};
    mm_gguf_writer *w = mm_gguf_writer_new(out);
    mm_gguf *gin = NULL;
    float *fbuf = NULL;
    void *qbuf = NULL;
    if (mm_gguf_check_config(c) < 0) {
        mm_error_prefix("%s cannot be written as a llama.cpp minimax-01 GGUF", in);
        goto done;
    }
    /* KVs */
    const char *base = strrchr(in, '/');
    char name[256];
    snprintf(name, sizeof name, "%s", base && base[1] ? base + 1 : in);
    if (ends_with(name, ".gguf")) name[strlen(name) - 5] = 0;
    if (mm_gguf_write_config(w, c) || mm_gguf_w_str(w, "general.name", name) ||
        mm_gguf_w_u32(w, "general.file_type", mm_ftypes[pp->ftype].llama) ||
        mm_gguf_w_u32(w, "general.quantization_version", 2))
        goto done;
    if (!pp->no_tokenizer) {
        char tj[4096];
        struct stat st;
        if (pp->tokenizer) {
            if (mm_gguf_write_tokenizer_json(w, pp->tokenizer, c->vocab_size)) goto done;
            res->has_tokenizer = 1;
        } else if (mm_gguf_is_file(in)) {
            if (!(gin = mm_gguf_open(in))) goto done;
            for (int i = 0; i < mm_gguf_n_kv(gin); i++)
                if (!strncmp(mm_gguf_kv_key(gin, i), "tokenizer.", 10)) {
                    if (mm_gguf_w_copy_kv(w, gin, i)) goto done;
                    res->has_tokenizer = 1;
                }
        } else if (snprintf(tj, sizeof tj, "%s/tokenizer.json", in) > 0 && stat(tj, &st) == 0) {
            if (mm_gguf_write_tokenizer_json(w, tj, c->vocab_size)) {
                mm_error_prefix("embedding the tokenizer (pass --no-tokenizer to write the GGUF without it)");
                goto done;
            }
            res->has_tokenizer = 1;
        }
    }
    /* tensors, in llama.cpp's naming */
    const int64_t H = c->hidden_size;
    plan_mat(&ps, "token_embd.weight", &m->embed, 1);
    plan_vec(&ps, "output_norm.weight", m->final_norm, H);
    if (!c->tie_word_embeddings) plan_mat(&ps, "output.weight", &m->lm_head, 1);
    int n_v = c->n_softmax, i_v = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const mm_layer *ly = &m->layers[l];
        char nm[64];
#define NM(suf) (snprintf(nm, sizeof nm, "blk.%d." suf, l), nm)
        plan_vec(&ps, NM("attn_norm.weight"), ly->in_norm, H);
        if (ly->type == MM_LAYER_LIGHTNING) {
            plan_mat(&ps, NM("attn_qkv.weight"), &ly->qkv, 1);
            plan_mat(&ps, NM("attn_gate.weight"), &ly->out_gate, 1);
            plan_vec(&ps, NM("attn_norm_2.weight"), ly->attn_norm, (int64_t)c->n_heads * c->head_dim);
            plan_mat(&ps, NM("attn_output.weight"), &ly->out_proj, 1);
        } else {
            plan_mat(&ps, NM("attn_q.weight"), &ly->wq, 1);
            plan_mat(&ps, NM("attn_k.weight"), &ly->wk, 1);
            plan_mat(&ps, NM("attn_v.weight"), &ly->wv, 1);
            plan_mat(&ps, NM("attn_output.weight"), &ly->wo, 1);
        }
        plan_vec(&ps, NM("ffn_norm.weight"), ly->post_norm, H);
        plan_mat(&ps, NM("ffn_gate_inp.weight"), &ly->router, 1);
        plan_mat(&ps, NM("ffn_gate_exps.weight"), ly->w1, c->n_experts);
        plan_mat(&ps, NM("ffn_down_exps.weight"), ly->w2, c->n_experts);
        plan_mat(&ps, NM("ffn_up_exps.weight"), ly->w3, c->n_experts);
#undef NM
        int first = ps.n;
        while (first > 0 && !strncmp(ps.p[first - 1].name, "blk.", 4) && atoi(ps.p[first - 1].name + 4) == l) first--;
        for (int k = first; k < ps.n; k++) {
            mm_plan *p = &ps.p[k];
            p->type = mm_gguf_tensor_type(pp->ftype, p->name, p->ndim, p->shape[p->ndim - 1], l, c->n_layers, i_v, n_v,
                                          c->tie_word_embeddings);
            if (ends_with(p->name, ".attn_v.weight")) i_v++;
        }
    }
    for (int k = 0; k < ps.n; k++) /* the non-layer tensors */
        if (strncmp(ps.p[k].name, "blk.", 4))
            ps.p[k].type = mm_gguf_tensor_type(pp->ftype, ps.p[k].name, ps.p[k].ndim, ps.p[k].shape[ps.p[k].ndim - 1], 0,
                                               c->n_layers, 0, n_v, c->tie_word_embeddings);
    int64_t max_cols = 1;
    for (int k = 0; k < ps.n; k++) {
        mm_plan *p = &ps.p[k];
        if (mm_gguf_writer_add(w, p->name, p->type, p->ndim, p->shape)) goto done;
        res->n_by_type[p->type]++;
        int64_t ne = 1;
        for (int d = 0; d < p->ndim; d++) ne *= p->shape[d];
        res->n_params += ne;
        if (p->shape[p->ndim - 1] > max_cols) max_cols = p->shape[p->ndim - 1];
    }
    res->n_tensors = ps.n;
    if (mm_gguf_writer_begin(w)) goto done;
    /* data: rows converted to f32, then to the target type, a few MB at a time */
    const int64_t chunk_elems = (int64_t)4 << 20;
    int64_t buf_elems = chunk_elems > max_cols ? chunk_elems : max_cols; /* a chunk is <= chunk_elems or one row */
    fbuf = mm_xmalloc(sizeof(float) * (size_t)buf_elems);
    qbuf = mm_xmalloc(sizeof(float) * (size_t)buf_elems + 4096);
    uint64_t total = mm_gguf_writer_data_bytes(w);
    double last = 0;
    for (int k = 0; k < ps.n; k++) {
        mm_plan *p = &ps.p[k];
        int64_t cols = p->shape[p->ndim - 1];
        if (p->ndim == 1) {
            size_t nb = mm_quantize_rows(p->type, p->f32, qbuf, 1, cols);
            if (!nb || mm_gguf_writer_write(w, qbuf, nb)) goto done;
            continue;
        }
        int64_t rows_per = chunk_elems / cols > 0 ? chunk_elems / cols : 1;
        for (int e = 0; e < p->n_mats; e++) {
            const mm_tensor *t = &p->mats[e];
            int64_t R = t->ndim == 2 ? t->shape[0] : 1;
            for (int64_t r0 = 0; r0 < R; r0 += rows_per) {
                int64_t nr = R - r0 < rows_per ? R - r0 : rows_per;
#pragma omp parallel for schedule(static) if (nr * cols > (1 << 16))
                for (int64_t r = 0; r < nr; r++) mm_tensor_row_f32(t, r0 + r, fbuf + (size_t)(r * cols));
                size_t nb = mm_quantize_rows(p->type, fbuf, qbuf, nr, cols);
                if (!nb || mm_gguf_writer_write(w, qbuf, nb)) goto done;
                if (pp->progress && mm_time() - last > 0.1) {
                    last = mm_time();
                    progress_line(p, mm_gguf_writer_written(w), total, t0);
                }
            }
        }
    }
    if (mm_gguf_writer_finish(w)) goto done;
    if (pp->progress) {
        progress_line(NULL, total, total, t0);
        fputc('\n', stderr);
    }
    res->file_bytes = mm_gguf_writer_file_bytes(w);
    res->seconds = mm_time() - t0;
    rc = 0;
done:
    if (rc && pp->progress) fputc('\n', stderr);
    free(fbuf);
    free(qbuf);
    free(ps.p);
    mm_gguf_writer_free(w);
    mm_gguf_close(gin);
    mm_model_free(m);
    return rc;
}
