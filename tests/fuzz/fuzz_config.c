/* fuzz_config.c — config.json text (either dialect) through mm_config_parse. */
// fuzz-options: -max_len=8192
#include "fuzz.h"
#include "minimax.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *shared, const char *dir) {
    const char *cases[] = {"a_small_mixed", "b_long_blocks", "c_deepnorm_alpha_beta", "d_batch_left_padding",
                           "e_partial_rotary_original", "f_remote_dialect", "g_prenorm_lastlinear_alibi"};
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "golden/%s/config.json", cases[i]);
        fuzz_seed_file(shared, rel, dir, i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = mm_xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    mm_config cfg;
    if (mm_config_parse(&cfg, text, "fuzz/config.json") == 0) {
        /* a config that parses is consistent: the layer counts add up */
        if (cfg.n_layers < 1 || cfg.n_layers > MM_MAX_LAYERS || cfg.n_lightning + cfg.n_softmax != cfg.n_layers) abort();
    }
    free(text);
    return 0;
}
