/* mm_gguf.c — GGUF v2/v3 reader (mmap, fully validated) and streaming writer; see mm_gguf.h. The MiniMax-01
 * mapping lives in mm_gguf_minimax.c, checkpoint conversion in mm_quantize.c. */
#include "formats/mm_gguf.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "kernels/mm_kernels.h"
#include "kernels/mm_quant.h"
#include "formats/mm_safetensors.h"
#include "text/mm_tokenizer.h"
#include "formats/mm_weights.h"

#define MM_GGUF_MAGIC "GGUF"
#define MM_GGUF_MAX_NAME 64          /* GGML_MAX_NAME: names are stored in 64-byte fields, NUL included */
#define MM_GGUF_MAX_COUNT (1u << 26) /* sanity bound on tensor / KV counts */

/* ---------------------------------------------------------------- GGML types */
static const struct {
    uint32_t id;
    const char *name;
    int dtype;   /* mm_dtype or -1 */
} mm_gguf_types[] = {
    {0, "F32", MM_F32},    {1, "F16", MM_F16},    {2, "Q4_0", MM_Q4_0}, {3, "Q4_1", MM_Q4_1},    {6, "Q5_0", MM_Q5_0},
    {7, "Q5_1", MM_Q5_1},       {8, "Q8_0", MM_Q8_0},  {9, "Q8_1", -1},      {10, "Q2_K", MM_Q2_K},   {11, "Q3_K", MM_Q3_K},
    {12, "Q4_K", MM_Q4_K}, {13, "Q5_K", MM_Q5_K},      {14, "Q6_K", MM_Q6_K}, {15, "Q8_K", -1},  {16, "IQ2_XXS", MM_IQ2_XXS},
    {17, "IQ2_XS", MM_IQ2_XS},    {18, "IQ3_XXS", MM_IQ3_XXS},   {19, "IQ1_S", MM_IQ1_S},    {20, "IQ4_NL", MM_IQ4_NL}, {21, "IQ3_S", MM_IQ3_S},
    {22, "IQ2_S", MM_IQ2_S},     {23, "IQ4_XS", MM_IQ4_XS},    {24, "I8", -1},       {25, "I16", -1},    {26, "I32", -1},
    {27, "I64", -1},       {28, "F64", -1},       {29, "IQ1_M", MM_IQ1_M},    {30, "BF16", MM_BF16}, {34, "TQ1_0", -1},
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
                mm_set_error("%s: tensor \"%s\" has GGML type %s (%u), which this engine does not support (it reads "
                             "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K and the IQ1..IQ4 types)", path, name, tn,
                             type);
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
        if (!rb || __builtin_mul_overflow(rows, rb, &nb)) {   /* rb 0: a row's bytes overflow */
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
        if (d > 0 && __builtin_mul_overflow(rows, t.ne[d], &rows)) {
            mm_set_error("%s: tensor \"%s\": the element count overflows", w->path, name);
            free(t.name);
            return -1;
        }
    }
    size_t rb = mm_row_bytes(dtype, (int64_t)t.ne[0]);
    if (!rb || __builtin_mul_overflow(rows, (uint64_t)rb, &t.nbytes)) {
        mm_set_error("%s: tensor \"%s\": %s rows of %llu elements are not whole blocks, or the byte size overflows", w->path, name,
                     mm_dtype_name(dtype), (unsigned long long)t.ne[0]);
        free(t.name);
        return -1;
    }
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

