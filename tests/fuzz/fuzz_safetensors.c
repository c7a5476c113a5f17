/* fuzz_safetensors.c — one .safetensors file through the validating reader (header JSON, dtypes, shapes,
 * offsets, overlaps), then every tensor view it accepts is read end to end. */
// fuzz-options: -max_len=65536
#include "fuzz.h"
#include "formats/mm_safetensors.h"

static char path[512];

static void fuzz_init(void) { snprintf(path, sizeof path, "%s/in.safetensors", fuzz_tmpdir()); }

/* Small valid files from the writer (each dtype, shapes with a zero dimension, metadata-free), and the
 * golden checkpoint's header with its data section cut short. */
static void fuzz_seeds(const char *shared, const char *dir) {
    int n = 0;
    const mm_dtype dts[3] = {MM_F32, MM_BF16, MM_F16};
    for (int v = 0; v < 3; v++) {
        char wdir[600], f[700];
        snprintf(wdir, sizeof wdir, "%s/w%d", fuzz_tmpdir(), v);
        mkdir(wdir, 0755);
        mm_st_writer *w = mm_st_writer_new(wdir, 0);
        mm_st_writer_add(w, "model.embed_tokens.weight", dts[v], 2, (const int64_t[]){4, 3});
        mm_st_writer_add(w, "model.layers.0.input_layernorm.weight", MM_F32, 1, (const int64_t[]){3});
        mm_st_writer_add(w, "model.layers.0.block_sparse_moe.gate.weight", dts[(v + 1) % 3], 2, (const int64_t[]){2, v ? 3 : 0});
        uint8_t zeros[64] = {0};
        if (mm_st_writer_begin(w) < 0 || mm_st_writer_write(w, zeros, (size_t)mm_st_writer_total_bytes(w)) < 0 ||
            mm_st_writer_finish(w) < 0) {
            fprintf(stderr, "fuzz: seed writer: %s\n", mm_last_error());
            exit(2);
        }
        mm_st_writer_free(w);
        snprintf(f, sizeof f, "%s/model.safetensors", wdir);
        fuzz_seed_path(f, dir, n++);
    }
    char f[1024];
    snprintf(f, sizeof f, "%s/golden/a_small_mixed/model.safetensors", shared);
    size_t len;
    char *b = fuzz_read(f, &len);
    if (!b || len < 8) exit(2);
    uint64_t hl;
    memcpy(&hl, b, 8);
    size_t keep = 8 + hl + 512 < len ? 8 + hl + 512 : len;
    fuzz_seed(dir, n++, b, keep);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(path, data, size);
    mm_st_file *f = mm_st_open(path);
    if (!f) return 0;
    for (int i = 0; i < mm_st_count(f); i++) {
        const mm_tensor *t = mm_st_at(f, i);
        if (mm_st_find(f, t->name) == NULL) abort();
        fuzz_touch(t->data, t->nbytes);   /* every accepted byte is inside the mapping */
    }
    (void)mm_st_metadata(f, "format");
    mm_st_close(f);
    return 0;
}
