/* fuzz_state.c — a saved sequence state (`minimax chat`'s /load, mm_seq_state_load) for a small model's
 * context; a state that loads is restored into a sequence and one more token is decoded on top of it. */
// fuzz-options: -max_len=65536
#include "fuzz.h"
#include "minimax.h"

static mm_model *model;
static mm_context *ctx;
static char path[512];

static void load(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/golden/a_small_mixed", fuzz_shared());
    model = mm_model_load(dir, NULL);
    ctx = model ? mm_context_new(model, &(mm_context_params){.n_ctx = 64, .n_seq_max = 1}) : NULL;
    if (!ctx) {
        fprintf(stderr, "fuzz: %s\n", mm_last_error());
        exit(2);
    }
}

static void fuzz_init(void) {
    load();
    snprintf(path, sizeof path, "%s/in.state", fuzz_tmpdir());
}

/* States of the golden model after 0, 1 and 5 prompt tokens, as `chat`'s /save writes them. */
static void fuzz_seeds(const char *shared, const char *dir) {
    (void)shared;
    load();
    const int lens[3] = {0, 1, 5};
    for (int i = 0; i < 3; i++) {
        mm_seq_reset(ctx, 0);
        if (lens[i]) {
            int32_t ids[5] = {5, 6, 7, 8, 9};
            float *lg = mm_xmalloc(sizeof(float) * (size_t)mm_model_config(model)->vocab_size);
            int32_t seq[5] = {0};
            mm_batch b = {.n_tokens = lens[i], .token = ids, .seq = seq};
            if (mm_decode(ctx, &b, lg) < 0) exit(2);
            free(lg);
        }
        mm_seq_state *st = mm_seq_snapshot(ctx, 0);
        char f[700];
        snprintf(f, sizeof f, "%s/s%d.state", fuzz_tmpdir(), i);
        if (!st || mm_seq_state_save(st, f) < 0) exit(2);
        mm_seq_state_free(st);
        fuzz_seed_path(f, dir, i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(path, data, size);
    mm_seq_state *st = mm_seq_state_load(ctx, path);
    if (!st) return 0;
    mm_seq_reset(ctx, 0);
    if (mm_seq_restore(ctx, 0, st) == 0 && mm_seq_len(ctx, 0) < 64) {
        int32_t id = 3, seq = 0;
        float *lg = mm_xmalloc(sizeof(float) * (size_t)mm_model_config(model)->vocab_size);
        mm_batch b = {.n_tokens = 1, .token = &id, .seq = &seq};
        if (mm_decode(ctx, &b, lg) != 1) abort();   /* a restored state decodes */
        free(lg);
    }
    mm_seq_state_free(st);
    return 0;
}
