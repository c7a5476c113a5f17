/* test_safetensors.c — the safetensors reader on every golden checkpoint, the streaming writer (single file and
 * sharded), and a catalogue of malformed files that must each fail with a clear message and no crash. */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "formats/mm_safetensors.h"
#include "mm_test.h"
#include "formats/mm_weights.h"

static char *path_in(const char *dir, const char *name) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    if (snprintf(p, 1024, "%s/%s", dir, name) >= 1024) abort();
    return p;
}

/* ------------------------------------------------------------------ golden checkpoints */
static void check_golden_case(const char *dir, const char *cname) {
    json_error_t jerr;
    json_t *cfg = json_load_file(path_in(dir, "config.json"), 0, &jerr);
    CHECK(cfg != NULL, "%s: config.json: %s", cname, jerr.text);
    if (!cfg) return;
    int L = (int)json_integer_value(json_object_get(cfg, "num_hidden_layers"));
    int H = (int)json_integer_value(json_object_get(cfg, "hidden_size"));
    int V = (int)json_integer_value(json_object_get(cfg, "vocab_size"));
    int NH = (int)json_integer_value(json_object_get(cfg, "num_attention_heads"));
    int NKV = (int)json_integer_value(json_object_get(cfg, "num_key_value_heads"));
    int D = (int)json_integer_value(json_object_get(cfg, "head_dim"));
    int I = (int)json_integer_value(json_object_get(cfg, "intermediate_size"));
    int E = (int)json_integer_value(json_object_get(cfg, "num_local_experts"));
    json_t *types = json_object_get(cfg, "attn_type_list");
    json_t *ltypes = json_object_get(cfg, "layer_types");
    int is_remote = types != NULL;

    mm_weights *w = mm_weights_open(dir);
    CHECK(w != NULL, "%s: %s", cname, mm_last_error());
    if (!w) {
        json_decref(cfg);
        return;
    }
    int expect = 3 + L * (3 + 3 * E) + L * 4;  /* both attention kinds have 4 tensors */
    CHECK(mm_weights_count(w) == expect, "%s: %d tensors, expected %d", cname, mm_weights_count(w), expect);
    int want_dtype = strstr(cname, "f_remote") ? MM_BF16 : MM_F32;
    int bad_dtype = 0;
    size_t total = 0;
    for (int i = 0; i < mm_weights_count(w); i++) {
        const mm_tensor *t = mm_weights_at(w, i);
        if ((int)t->dtype != want_dtype) bad_dtype++;
        total += t->nbytes;
        CHECK(mm_weights_find(w, t->name) == t, "%s: find(%s) is not the same tensor", cname, t->name);
    }
    CHECK(bad_dtype == 0, "%s: %d tensors with a dtype other than %s", cname, bad_dtype, mm_dtype_name((mm_dtype)want_dtype));

    struct { const char *name; int ndim; int64_t s0, s1; } shp[] = {
        {"model.embed_tokens.weight", 2, V, H},
        {"lm_head.weight", 2, V, H},
        {"model.norm.weight", 1, H, 0},
        {"model.layers.0.input_layernorm.weight", 1, H, 0},
        {"model.layers.0.block_sparse_moe.gate.weight", 2, E, H},
        {"model.layers.0.block_sparse_moe.experts.0.w1.weight", 2, I, H},
        {"model.layers.0.block_sparse_moe.experts.0.w3.weight", 2, I, H},
        {"model.layers.0.block_sparse_moe.experts.0.w2.weight", 2, H, I},
    };
    for (size_t k = 0; k < sizeof shp / sizeof shp[0]; k++) {
        const mm_tensor *t = mm_weights_find(w, shp[k].name);
        CHECK(t != NULL, "%s: %s missing", cname, shp[k].name);
        if (!t) continue;
        CHECK(t->ndim == shp[k].ndim && t->shape[0] == shp[k].s0 && (t->ndim < 2 || t->shape[1] == shp[k].s1),
              "%s: %s has shape [%lld, %lld] ndim %d", cname, shp[k].name, (long long)t->shape[0], (long long)t->shape[1], t->ndim);
        CHECK(mm_weights_file_of(w, shp[k].name) != NULL, "%s: no file for %s", cname, shp[k].name);
    }
    for (int l = 0; l < L; l++) {
        int soft = is_remote ? (int)json_integer_value(json_array_get(types, (size_t)l))
                             : !strcmp(json_string_value(json_array_get(ltypes, (size_t)l)), "full_attention");
        char name[256];
        if (soft) {
            snprintf(name, sizeof name, "model.layers.%d.self_attn.k_proj.weight", l);
            const mm_tensor *t = mm_weights_find(w, name);
            CHECK(t && t->ndim == 2 && t->shape[0] == NKV * D && t->shape[1] == H, "%s: %s", cname, name);
            snprintf(name, sizeof name, "model.layers.%d.self_attn.o_proj.weight", l);
            t = mm_weights_find(w, name);
            CHECK(t && t->ndim == 2 && t->shape[0] == H && t->shape[1] == NH * D, "%s: %s", cname, name);
        } else {
            snprintf(name, sizeof name, "model.layers.%d.self_attn.qkv_proj.weight", l);
            const mm_tensor *t = mm_weights_find(w, name);
            CHECK(t && t->ndim == 2 && t->shape[0] == 3 * NH * D && t->shape[1] == H, "%s: %s", cname, name);
            snprintf(name, sizeof name, "model.layers.%d.self_attn.norm.weight", l);
            t = mm_weights_find(w, name);
            CHECK(t && t->ndim == 1 && t->shape[0] == NH * D, "%s: %s", cname, name);
        }
    }
    CHECK(mm_weights_find(w, "model.layers.0.nonexistent.weight") == NULL, "%s: found a nonexistent tensor", cname);
    /* Norm weights are N(1, 0.2^2): a sane spot check that the data pointer really points at the values. */
    const mm_tensor *nw = mm_weights_find(w, "model.norm.weight");
    if (nw) {
        double mean = 0;
        for (int64_t i = 0; i < nw->shape[0]; i++) mean += mm_tensor_get_f32(nw, i);
        mean /= (double)nw->shape[0];
        CHECK(mean > 0.8 && mean < 1.2, "%s: model.norm.weight mean %g, expected about 1", cname, mean);
    }
    if (strstr(cname, "f_remote")) {
        CHECK(mm_weights_n_files(w) == 2, "%s: %d shard files", cname, mm_weights_n_files(w));
        json_t *idx = json_load_file(path_in(dir, "model.safetensors.index.json"), 0, &jerr);
        json_int_t ts = json_integer_value(json_object_get(json_object_get(idx, "metadata"), "total_size"));
        CHECK((size_t)ts == total, "%s: index total_size %lld, tensors hold %zu bytes", cname, (long long)ts, total);
        json_decref(idx);
        /* The index file itself also opens the checkpoint. */
        mm_weights *w2 = mm_weights_open(path_in(dir, "model.safetensors.index.json"));
        CHECK(w2 && mm_weights_count(w2) == expect, "%s: open via index path: %s", cname, w2 ? "count" : mm_last_error());
        mm_weights_close(w2);
    }
    mm_weights_close(w);
    json_decref(cfg);
}

static void test_golden(void) {
    char gdir[512];
    snprintf(gdir, sizeof gdir, "%s/golden", mmt_shared());
    DIR *d = opendir(gdir);
    CHECK(d != NULL, "cannot open %s", gdir);
    if (!d) return;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char dir[1024];
        if (snprintf(dir, sizeof dir, "%s/%s", gdir, de->d_name) >= (int)sizeof dir) continue;
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        check_golden_case(dir, de->d_name);
        n++;
    }
    closedir(d);
    CHECK(n >= 7, "only %d golden cases found in %s", n, gdir);
    /* A single shard file opens on its own too. */
    mm_st_file *f = mm_st_open(path_in(gdir, "f_remote_dialect/model-00001-of-00002.safetensors"));
    CHECK(f && mm_st_count(f) > 0, "single shard: %s", f ? "" : mm_last_error());
    if (f) CHECK(mm_st_metadata(f, "format") && !strcmp(mm_st_metadata(f, "format"), "pt"), "metadata format");
    mm_st_close(f);
}

/* ------------------------------------------------------------------ writer round trip */
typedef struct {
    const char *name;
    mm_dtype dt;
    int ndim;
    int64_t shape[4];
} spec_t;

static const spec_t specs[] = {
    {"a.weight", MM_F32, 2, {7, 5}},
    {"b.bf16", MM_BF16, 2, {3, 5}},       /* 30 bytes: the next tensor starts misaligned for F32 */
    {"c.f32_after_odd", MM_F32, 1, {9}},
    {"d.empty", MM_F16, 2, {0, 4}},
    {"e.scalar", MM_F32, 0, {0}},
    {"f.f16", MM_F16, 3, {2, 3, 4}},
    {"g.big", MM_BF16, 4, {2, 2, 8, 16}},
};
#define NSPEC ((int)(sizeof specs / sizeof specs[0]))

static size_t spec_bytes(const spec_t *s) {
    size_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= (size_t)s->shape[d];
    return n * (s->dt == MM_F32 ? 4 : 2);
}
static uint8_t spec_byte(int t, size_t i) { return (uint8_t)(i * 31 + (size_t)t * 7 + 1); }

static int write_specs(const char *dir, uint64_t shard_bytes, size_t chunk) {
    mm_st_writer *w = mm_st_writer_new(dir, shard_bytes);
    int rc = 0;
    for (int t = 0; t < NSPEC && !rc; t++) rc = mm_st_writer_add(w, specs[t].name, specs[t].dt, specs[t].ndim, specs[t].shape);
    if (!rc) rc = mm_st_writer_begin(w);
    uint8_t buf[64];
    for (int t = 0; t < NSPEC && !rc; t++) {
        size_t n = spec_bytes(&specs[t]);
        for (size_t i = 0; i < n && !rc; i += chunk) {
            size_t k = n - i < chunk ? n - i : chunk;
            for (size_t j = 0; j < k; j++) buf[j] = spec_byte(t, i + j);
            rc = mm_st_writer_write(w, buf, k);
        }
    }
    if (!rc) rc = mm_st_writer_finish(w);
    int nf = rc ? -1 : mm_st_writer_n_files(w);
    mm_st_writer_free(w);
    return nf;
}

static void check_specs(mm_weights *w, const char *what) {
    CHECK(mm_weights_count(w) == NSPEC, "%s: %d tensors", what, mm_weights_count(w));
    for (int t = 0; t < NSPEC; t++) {
        const mm_tensor *x = mm_weights_find(w, specs[t].name);
        CHECK(x != NULL, "%s: %s missing", what, specs[t].name);
        if (!x) continue;
        int same = (int)x->dtype == (int)specs[t].dt && x->ndim == specs[t].ndim && x->nbytes == spec_bytes(&specs[t]);
        for (int d = 0; d < x->ndim; d++) same &= x->shape[d] == specs[t].shape[d];
        CHECK(same, "%s: %s dtype/shape/size differ", what, specs[t].name);
        int eq = 1;
        for (size_t i = 0; i < x->nbytes && same; i++) eq &= ((const uint8_t *)x->data)[i] == spec_byte(t, i);
        CHECK(eq, "%s: %s bytes differ", what, specs[t].name);
        size_t esz = x->dtype == MM_F32 ? 4 : 2;
        CHECK((uintptr_t)x->data % esz == 0, "%s: %s data pointer is misaligned", what, specs[t].name);
    }
}

static void test_writer(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/w1", mmt_tmpdir());
    mkdir(dir, 0755);
    int nf = write_specs(dir, 0, 7);
    CHECK(nf == 1, "single write: %s", mm_last_error());
    mm_weights *w = mm_weights_open(dir);
    CHECK(w != NULL, "reopen single: %s", mm_last_error());
    if (w) check_specs(w, "single");
    mm_weights_close(w);
    /* Header length is a multiple of 8. */
    FILE *fp = fopen(path_in(dir, "model.safetensors"), "rb");
    uint64_t hl = 0;
    if (fp) {
        uint8_t le[8];
        if (fread(le, 1, 8, fp) == 8)
            for (int i = 7; i >= 0; i--) hl = hl << 8 | le[i];
        fclose(fp);
    }
    CHECK(hl > 0 && hl % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)hl);

    snprintf(dir, sizeof dir, "%s/w2", mmt_tmpdir());
    mkdir(dir, 0755);
    nf = write_specs(dir, 100, 13);
    CHECK(nf >= 3, "sharded write: %d files: %s", nf, mm_last_error());
    CHECK(access(path_in(dir, "model.safetensors.index.json"), F_OK) == 0, "no index written");
    char shard[64];
    snprintf(shard, sizeof shard, "model-00001-of-%05d.safetensors", nf);
    CHECK(access(path_in(dir, shard), F_OK) == 0, "no %s", shard);
    w = mm_weights_open(dir);
    CHECK(w != NULL, "reopen sharded: %s", mm_last_error());
    if (w) {
        check_specs(w, "sharded");
        CHECK(mm_weights_n_files(w) == nf, "sharded: %d files opened, %d written", mm_weights_n_files(w), nf);
    }
    mm_weights_close(w);

    /* Misuse of the writer: too few / too many bytes. */
    snprintf(dir, sizeof dir, "%s/w3", mmt_tmpdir());
    mkdir(dir, 0755);
    mm_st_writer *sw = mm_st_writer_new(dir, 0);
    int64_t shp[2] = {2, 2};
    CHECK(mm_st_writer_add(sw, "x", MM_F32, 2, shp) == 0, "add");
    CHECK(mm_st_writer_add(sw, "x", MM_F32, 2, shp) != 0 && strstr(mm_last_error(), "twice"), "duplicate add: %s", mm_last_error());
    CHECK(mm_st_writer_add(sw, "q", MM_Q4_K, 2, shp) != 0, "quantized dtype accepted");
    CHECK(mm_st_writer_begin(sw) == 0, "begin: %s", mm_last_error());
    float v[4] = {1, 2, 3, 4};
    CHECK(mm_st_writer_write(sw, v, 8) == 0, "write");
    CHECK(mm_st_writer_finish(sw) != 0 && strstr(mm_last_error(), "incomplete"), "short finish: %s", mm_last_error());
    mm_st_writer_free(sw);
    sw = mm_st_writer_new(dir, 0);
    mm_st_writer_add(sw, "x", MM_F32, 2, shp);
    mm_st_writer_begin(sw);
    float v5[5] = {0};
    CHECK(mm_st_writer_write(sw, v5, sizeof v5) != 0 && strstr(mm_last_error(), "past the last"), "overlong: %s", mm_last_error());
    mm_st_writer_free(sw);
    CHECK(mm_disk_free(dir) > 0, "disk free: %s", mm_last_error());
    /* A checkpoint larger than any disk is refused before a byte is written. */
    sw = mm_st_writer_new(dir, 0);
    int64_t huge[2] = {(int64_t)1 << 23, (int64_t)1 << 23};   /* 2^46 BF16 elements: 140 TB */
    CHECK(mm_st_writer_add(sw, "huge", MM_BF16, 2, huge) == 0, "add huge");
    CHECK(mm_st_writer_begin(sw) != 0 && strstr(mm_last_error(), "not enough disk space"), "huge: %s", mm_last_error());
    mm_st_writer_free(sw);
}

/* ------------------------------------------------------------------ malformed inputs */
/* Writes a file: u64 header length (hlen_override if >= 0, else the real one), the header, data_bytes bytes. */
static const char *write_raw(const char *name, const char *header, int64_t hlen_override, size_t data_bytes) {
    const char *p = path_in(mmt_tmpdir(), name);
    FILE *fp = fopen(p, "wb");
    if (!fp) return p;
    uint64_t hl = hlen_override >= 0 ? (uint64_t)hlen_override : strlen(header);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(hl >> (8 * i));
    fwrite(le, 1, 8, fp);
    fwrite(header, 1, strlen(header), fp);
    for (size_t i = 0; i < data_bytes; i++) fputc((int)(i & 0xff), fp);
    fclose(fp);
    return p;
}

static void expect_bad(const char *what, const char *path, const char *needle) {
    mm_st_file *f = mm_st_open(path);
    CHECK(f == NULL, "%s: accepted", what);
    if (getenv("MMT_VERBOSE")) fprintf(stderr, "%-28s -> %s\n", what, mm_last_error());
    CHECK(strstr(mm_last_error(), needle) != NULL, "%s: error '%s' does not mention '%s'", what, mm_last_error(), needle);
    mm_st_close(f);
    mm_weights *w = mm_weights_open(path);   /* the checkpoint-level entry point must fail the same way */
    CHECK(w == NULL, "%s: weights accepted", what);
    mm_weights_close(w);
}

static void test_bad(void) {
    const char *p = path_in(mmt_tmpdir(), "short.safetensors");
    FILE *fp = fopen(p, "wb");
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    expect_bad("truncated file", p, "too short");
    expect_bad("missing file", path_in(mmt_tmpdir(), "nope.safetensors"), "nope.safetensors");

    const char *ok = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    p = write_raw("good.safetensors", ok, -1, 16);
    mm_st_file *f = mm_st_open(p);
    CHECK(f && mm_st_count(f) == 1, "control file rejected: %s", mm_last_error());
    mm_st_close(f);

    expect_bad("header length past EOF", write_raw("hlen.safetensors", ok, 1000000, 16), "past the end");
    expect_bad("absurd header length", write_raw("hlen2.safetensors", ok, (int64_t)1 << 62, 16), "past the end");
    expect_bad("truncated data", write_raw("trunc.safetensors", ok, -1, 10), "past the end");
    expect_bad("header not JSON", write_raw("notjson.safetensors", "{\"t\": [1, 2", -1, 16), "not valid JSON");
    expect_bad("header not an object", write_raw("arr.safetensors", "[1,2,3]", -1, 16), "not an object");
    expect_bad("offsets out of bounds",
               write_raw("oob.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}", -1, 16),
               "past the end");
    expect_bad("begin > end",
               write_raw("rev.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", -1, 16),
               "begin <= end");
    expect_bad("negative offset",
               write_raw("negoff.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", -1, 16),
               "begin <= end");
    expect_bad("overlap",
               write_raw("overlap.safetensors",
                         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                         -1, 16),
               "overlap");
    expect_bad("size != dtype x shape",
               write_raw("size.safetensors", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", -1, 16),
               "needs 8");
    expect_bad("unknown dtype",
               write_raw("dtype.safetensors", "{\"t\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", -1, 16),
               "unsupported dtype I8 for tensor t in");
    expect_bad("missing dtype", write_raw("nodtype.safetensors", "{\"t\":{\"shape\":[4],\"data_offsets\":[0,16]}}", -1, 16),
               "dtype");
    expect_bad("negative dim",
               write_raw("negdim.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", -1, 16),
               "negative");
    expect_bad("too many dims",
               write_raw("dims.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,4],\"data_offsets\":[0,16]}}", -1, 16),
               "dimensions");
    expect_bad("non-integer dim",
               write_raw("fdim.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4.5],\"data_offsets\":[0,16]}}", -1, 16),
               "not an integer");
    expect_bad("huge dims",
               write_raw("huge.safetensors",
                         "{\"t\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,16]}}", -1, 16),
               "large");
    expect_bad("bad data_offsets",
               write_raw("offs.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", -1, 16),
               "data_offsets");
    expect_bad("duplicate keys",
               write_raw("dup.safetensors",
                         "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                         -1, 16),
               "duplicate");
    expect_bad("metadata not strings",
               write_raw("meta.safetensors", "{\"__metadata__\":{\"format\":1}}", -1, 0), "__metadata__");
    expect_bad("entry not an object", write_raw("entry.safetensors", "{\"t\":5}", -1, 0), "not an object");
    expect_bad("unknown field",
               write_raw("field.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", -1, 4),
               "unknown header field");
}

/* ------------------------------------------------------------------ malformed indexes */
static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

static void expect_bad_dir(const char *what, const char *dir, const char *needle) {
    mm_weights *w = mm_weights_open(dir);
    CHECK(w == NULL, "%s: accepted", what);
    if (getenv("MMT_VERBOSE")) fprintf(stderr, "%-28s -> %s\n", what, mm_last_error());
    CHECK(strstr(mm_last_error(), needle) != NULL, "%s: error '%s' does not mention '%s'", what, mm_last_error(), needle);
    mm_weights_close(w);
}

static void test_bad_index(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/idx", mmt_tmpdir());
    mkdir(dir, 0755);
    const char *a = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const char *b = "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/idx/s1.safetensors", mmt_tmpdir());
    rename(write_raw("s1.tmp", a, -1, 8), tmp);
    snprintf(tmp, sizeof tmp, "%s/idx/s2.safetensors", mmt_tmpdir());
    rename(write_raw("s2.tmp", b, -1, 16), tmp);
    const char *ix = path_in(dir, "model.safetensors.index.json");

    expect_bad_dir("empty dir", mmt_tmpdir(), "no model.safetensors");
    write_text(ix, "{\"metadata\":{},\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"missing.safetensors\"}}");
    expect_bad_dir("missing shard", dir, "missing.safetensors");
    write_text(ix, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"zz\":\"s1.safetensors\"}}");
    expect_bad_dir("tensor missing from its shard", dir, "'zz' is listed in the index but missing");
    write_text(ix, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
    expect_bad_dir("same tensor in two shards", dir, "stored twice");
    write_text(ix, "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}");
    expect_bad_dir("shard escapes (..)", dir, "not a plain file name");
    write_text(ix, "{\"weight_map\":{\"a\":\"/etc/passwd\"}}");
    expect_bad_dir("shard escapes (/)", dir, "not a plain file name");
    write_text(ix, "{\"weight_map\":{\"a\":\"..\"}}");
    expect_bad_dir("shard is ..", dir, "not a plain file name");
    write_text(ix, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s1.safetensors\"}}");
    expect_bad_dir("duplicate index keys", dir, "duplicate");
    write_text(ix, "{\"weight_map\": [");
    expect_bad_dir("index not JSON", dir, "model.safetensors.index.json");
    write_text(ix, "{\"metadata\":{}}");
    expect_bad_dir("no weight_map", dir, "weight_map");
    write_text(ix, "{\"weight_map\":{\"a\":3}}");
    expect_bad_dir("weight_map value not a string", dir, "not a file name");

    /* A valid index over s1 alone. */
    write_text(ix, "{\"weight_map\":{\"a\":\"s1.safetensors\"}}");
    mm_weights *w = mm_weights_open(dir);
    CHECK(w && mm_weights_count(w) == 1 && mm_weights_find(w, "a"), "valid index: %s", w ? "" : mm_last_error());
    if (w) CHECK(strstr(mm_weights_file_of(w, "a"), "s1.safetensors") != NULL, "file_of");
    mm_weights_close(w);
    /* Both tensors exist, but each in the other shard than the index says. */
    snprintf(tmp, sizeof tmp, "%s/idx/s3.safetensors", mmt_tmpdir());
    rename(write_raw("s3.tmp", "{\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8), tmp);
    write_text(ix, "{\"weight_map\":{\"a\":\"s3.safetensors\",\"y\":\"s1.safetensors\"}}");
    expect_bad_dir("tensor in another shard", dir, "is listed in shard");
}

int main(void) {
    test_golden();
    test_writer();
    test_bad();
    test_bad_index();
    return mmt_done();
}
