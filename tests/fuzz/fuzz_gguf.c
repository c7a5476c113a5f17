/* fuzz_gguf.c — a GGUF file through everything that reads one: the container (KVs, tensor infos, data
 * offsets), the minimax-01 config, the embedded tokenizer (then used), the weight table, and the model
 * binder (mm_model_load of the file). Seeds are tiny models converted the way `minimax quantize` does. */
// fuzz-options: -max_len=131072
#include <jansson.h>

#include "fuzz.h"
#include "formats/mm_gguf.h"
#include "formats/mm_weights.h"
#include "text/mm_tokenizer.h"
#include "tools/mm_quantize.h"

static char path[512];

static void fuzz_init(void) { snprintf(path, sizeof path, "%s/in.gguf", fuzz_tmpdir()); }

/* A tiny checkpoint with a small tokenizer.json that has MiniMax's real pre-tokenizer and normalizer
 * (converters accept only a pre-tokenizer llama.cpp knows), converted to GGUF at two file types. */
static void fuzz_seeds(const char *shared, const char *dir) {
    char mdir[600], tpath[700], real[1024];
    snprintf(mdir, sizeof mdir, "%s/m", fuzz_tmpdir());
    fuzz_tiny_model(mdir, 272, MM_BF16);
    snprintf(tpath, sizeof tpath, "%s/tokenizer.json", mdir);
    fuzz_small_tokenizer_json(tpath, 0);
    snprintf(real, sizeof real, "%s/tokenizer/tokenizer.json", shared);
    json_t *r = json_load_file(real, 0, NULL), *t = json_load_file(tpath, 0, NULL);
    if (!r || !t) exit(2);
    json_object_set(t, "pre_tokenizer", json_object_get(r, "pre_tokenizer"));
    json_object_set(t, "normalizer", json_object_get(r, "normalizer"));
    if (json_dump_file(t, tpath, JSON_COMPACT)) exit(2);
    json_decref(r);
    json_decref(t);
    const char *types[] = {"q8_0", "bf16"};
    for (int i = 0; i < 2; i++) {
        char out[700];
        snprintf(out, sizeof out, "%s/m-%s.gguf", fuzz_tmpdir(), types[i]);
        mm_gguf_convert_params cp = {.ftype = (mm_gguf_ftype)mm_gguf_ftype_from_name(types[i]), .force = 1, .no_tokenizer = i == 1};
        if (mm_gguf_convert(mdir, out, &cp, NULL) < 0) {
            fprintf(stderr, "fuzz: convert: %s\n", mm_last_error());
            exit(2);
        }
        fuzz_seed_path(out, dir, i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(path, data, size);
    mm_gguf *g = mm_gguf_open(path);
    if (!g) return 0;
    for (int i = 0; i < mm_gguf_n_kv(g); i++) {
        const char *k = mm_gguf_kv_key(g, i);
        if (mm_gguf_find_kv(g, k) < 0) abort();
    }
    for (int i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        fuzz_touch(t->data, t->nbytes);
    }
    mm_config cfg;
    (void)mm_gguf_read_config(g, &cfg);
    mm_gguf_close(g);
    struct mm_tokenizer *tok = mm_tokenizer_load_gguf(path);
    if (tok) {
        int32_t *ids = NULL;
        int n = mm_tokenizer_encode(tok, "the cat<end_of_sentence> x", 26, 1, &ids);
        if (n > 0) free(mm_tokenizer_decode(tok, ids, (size_t)n, 0));
        free(ids);
        mm_tokenizer_free(tok);
    }
    struct mm_weights *w = NULL;
    if (mm_gguf_load_model(path, &cfg, &w) == 0) mm_weights_close(w);
    mm_model *m = mm_model_load(path, NULL);
    mm_model_free(m);
    return 0;
}
