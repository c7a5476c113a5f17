/* fuzz_st_index.c — model.safetensors.index.json of a sharded checkpoint: the fuzzed index points into a
 * directory that holds two real shards (model-00001-of-00002.safetensors, model-00002-of-00002...). */
// fuzz-options: -max_len=16384
#include "fuzz.h"
#include "formats/mm_safetensors.h"
#include "formats/mm_weights.h"

static char dir_[512], index_path[600];

/* Two shards of three small tensors each, and their index. */
static void write_shards(const char *d) {
    mkdir(d, 0755);
    mm_st_writer *w = mm_st_writer_new(d, 64);
    const char *names[] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "a", "b", "c"};
    for (int i = 0; i < 6; i++) mm_st_writer_add(w, names[i], MM_F32, 2, (const int64_t[]){2, 4});
    uint8_t zeros[256] = {0};
    if (mm_st_writer_begin(w) < 0 || mm_st_writer_write(w, zeros, (size_t)mm_st_writer_total_bytes(w)) < 0 ||
        mm_st_writer_finish(w) < 0 || mm_st_writer_n_files(w) < 2) {
        fprintf(stderr, "fuzz: shards: %s\n", mm_last_error());
        exit(2);
    }
    mm_st_writer_free(w);
}

static void fuzz_init(void) {
    snprintf(dir_, sizeof dir_, "%s/ckpt", fuzz_tmpdir());
    write_shards(dir_);
    snprintf(index_path, sizeof index_path, "%s/model.safetensors.index.json", dir_);
}

static void fuzz_seeds(const char *shared, const char *dir) {
    char d[600];
    snprintf(d, sizeof d, "%s/seedckpt", fuzz_tmpdir());
    write_shards(d);
    char f[700];
    snprintf(f, sizeof f, "%s/model.safetensors.index.json", d);
    fuzz_seed_path(f, dir, 0);
    fuzz_seed_file(shared, "golden/f_remote_dialect/model.safetensors.index.json", dir, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(index_path, data, size);
    mm_weights *w = mm_weights_open(dir_);
    if (!w) return 0;
    for (int i = 0; i < mm_weights_count(w); i++) {
        const mm_tensor *t = mm_weights_at(w, i);
        if (!mm_weights_find(w, t->name) || !mm_weights_file_of(w, t->name)) abort();
    }
    mm_weights_close(w);
    return 0;
}
