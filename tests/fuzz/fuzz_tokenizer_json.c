/* fuzz_tokenizer_json.c — a tokenizer.json through the loader (vocab, merges, added tokens, normalizer and
 * pre-tokenizer pipeline), and a tokenizer that loads is then used to encode and decode. */
// fuzz-options: -max_len=65536
#include "fuzz.h"
#include "text/mm_tokenizer.h"

static char path[512];

static void fuzz_init(void) { snprintf(path, sizeof path, "%s/tokenizer.json", fuzz_tmpdir()); }

/* Small tokenizers (the real one is 10 MB: too big to mutate usefully) in both merge forms and two
 * pre-tokenizer pipelines, and the real tokenizer_config.json (not a tokenizer: an error path). */
static void fuzz_seeds(const char *shared, const char *dir) {
    for (int v = 0; v < 2; v++) {
        char f[600];
        snprintf(f, sizeof f, "%s/t%d.json", fuzz_tmpdir(), v);
        fuzz_small_tokenizer_json(f, v);
        fuzz_seed_path(f, dir, v);
    }
    fuzz_seed_file(shared, "tokenizer/tokenizer_config.json", dir, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(path, data, size);
    mm_tokenizer *t = mm_tokenizer_load(path);
    if (!t) return 0;
    static const char text[] = "the cat  sat\n<end_of_sentence>\xc3\xa9 e\xcc\x81 <w> x";
    int32_t *ids = NULL;
    int n = mm_tokenizer_encode(t, text, sizeof text - 1, 1, &ids);
    if (n < 0) abort();   /* valid UTF-8 always encodes */
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= mm_tokenizer_n_ids(t)) abort();
    free(mm_tokenizer_decode(t, ids, (size_t)n, 1));
    free(ids);
    mm_tokenizer_free(t);
    return 0;
}
