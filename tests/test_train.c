/* test_train.c — the trainer end to end: a checkpoint it trained loads in the engine with the logits of its own
 * forward (within 1e-5); a short run on a fixed tiny corpus lowers the held-out loss to at least 3 nats below the
 * uniform ln V, bit-identically on another thread count; a run interrupted and resumed ends with the same weights, moments and loss
 * as an uninterrupted one; the schedule and clipping do what they say. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include "mm_test.h"
#include "train/mm_train.h"
#include "text/mm_tokenizer.h"
#include "base/mm_common.h"

/* The trained checkpoint in dir (F32) in the engine: its logits over 300 tokens (across the lightning block of 256)
 * against the trainer's own forward on the weights read back. */
static void test_engine_logits(const char *dir, const mm_tdims *d) {
    mm_tlayout lo;
    CHECK(mm_tlayout_init(&lo, d) == 0, "%s", mm_last_error());
    float *p = malloc(sizeof(float) * lo.n_params);
    CHECK(mm_tcheckpoint_read(dir, &lo, p) == 0, "read back: %s", mm_last_error());
    const int T = 300, V = d->V;
    int32_t *tok = malloc(sizeof(int32_t) * T), *seq = calloc(T, sizeof(int32_t));
    int8_t *want = malloc(T);
    for (int i = 0; i < T; i++) tok[i] = (i * 37 + 11) % 280, want[i] = 1; /* ordinary (non-special) ids */
    mm_tacts_f32 *a = mm_tacts_new_f32(&lo, 1, T);
    float *ref = malloc(sizeof(float) * (size_t)T * V), *got = malloc(sizeof(float) * (size_t)T * V);
    mm_tmodel_fwd_f32(&lo, p, a, tok, NULL, ref);
    mm_model *m = mm_model_load(dir, NULL);
    CHECK(m != NULL, "engine load: %s", mm_last_error());
    if (m) {
        mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = T});
        mm_batch b = {.n_tokens = T, .token = tok, .seq = seq, .logits = want};
        CHECK(mm_decode(c, &b, got) == T, "decode: %s", mm_last_error());
        double diff = mmt_maxdiff(ref, got, (size_t)T * V), scale = 0;
        for (int i = 0; i < T * V; i++) scale = fmax(scale, fabs(ref[i]));
        CHECK(diff <= 1e-5 && scale > 1, "engine logits vs trainer forward: max |diff| %.3g (logits up to %.3g)", diff, scale);
        printf("trained checkpoint: engine vs trainer logits over %d positions: max |diff| %.3g (logits up to %.2f)\n", T,
               diff, scale);
        mm_context_free(c);
        mm_model_free(m);
    }
    mm_tacts_free_f32(a);
    free(p), free(tok), free(seq), free(want), free(ref), free(got);
    mm_tlayout_free(&lo);
}

/* A fixed corpus: sentences from small word lists, a pure function of the seed. */
static char *corpus(uint64_t seed, int n_sent) {
    static const char *subj[] = {"The cat", "A dog", "The old man", "My sister", "The bird", "A child"};
    static const char *verb[] = {"sees", "likes", "finds", "keeps", "wants", "loses"};
    static const char *obj[] = {"a red ball.", "the green hat.", "some bread.", "the little box.", "a blue cup."};
    char *s = malloc((size_t)n_sent * 64 + 1), *q = s;
    for (int i = 0; i < n_sent; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const unsigned r = (unsigned)(seed >> 33);
        q += sprintf(q, "%s %s %s%s", subj[r % 6], verb[(r / 6) % 6], obj[(r / 36) % 5], i % 4 == 3 ? "\n" : " ");
    }
    return s;
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) same = 0;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void test_training(void) {
    const char *tmp = mmt_tmpdir();
    char trainf[512], heldf[512], tokf[512], d1[512], d2[512], d3[512], f1[600], f2[600], f3[600];
    snprintf(trainf, sizeof trainf, "%s/train.txt", tmp);
    snprintf(heldf, sizeof heldf, "%s/held.txt", tmp);
    snprintf(tokf, sizeof tokf, "%s/tokenizer.json", tmp);
    char *tr = corpus(1, 3000), *he = corpus(2, 300);
    CHECK(write_text(trainf, tr) == 0 && write_text(heldf, he) == 0, "write corpus");
    mm_bpe_params bp = {.vocab_size = 320, .min_freq = 2};
    CHECK(mm_bpe_train(tr, strlen(tr), &bp, tokf) == 0, "bpe: %s", mm_last_error());
    free(tr), free(he);

    mm_train_params p;
    mm_train_defaults(&p);
    mm_tdims_preset(&p.dims, "tiny", 320);
    p.train_file = trainf, p.heldout_file = heldf, p.tokenizer = tokf;
    p.n_seq = 4, p.seq_len = 48, p.steps = 30, p.lr = 1e-2, p.lr_min = 1e-3, p.eval_every = 30, p.eval_windows = 4;
    p.save_every = 1000, p.niah_frac = 0.25;
    snprintf(d1, sizeof d1, "%s/run1", tmp);
    snprintf(d2, sizeof d2, "%s/run2", tmp);
    snprintf(d3, sizeof d3, "%s/run3", tmp);
    mm_train_result r1, r2, r3;
    p.out_dir = d1;
    CHECK(mm_train_run(&p, &r1) == 0, "train: %s", mm_last_error());
    const double lnv = log(320.0);
    CHECK(r1.heldout_loss < lnv - 3.0, "held-out loss %.4f is not 3 nats below ln V = %.4f after %lld steps",
          r1.heldout_loss, lnv, (long long)r1.step);
    printf("tiny run: held-out loss %.4f after %lld steps (ln V = %.4f)\n", r1.heldout_loss, (long long)r1.step, lnv);
    snprintf(f1, sizeof f1, "%s/model.safetensors", d1);
    test_engine_logits(d1, &p.dims);
    /* interrupted after 13 steps, then resumed: the same weights and moments as the run straight through */
    p.out_dir = d3;
    p.run_steps = 13;
    CHECK(mm_train_run(&p, &r3) == 0 && r3.step == 13, "first part: %s", mm_last_error());
    /* the same 13 steps on two threads: the work splits never depend on the thread count */
    p.out_dir = d2;
    mm_set_threads(2);
    CHECK(mm_train_run(&p, &r2) == 0 && r2.step == 13, "on two threads: %s", mm_last_error());
    mm_set_threads(1);
    snprintf(f2, sizeof f2, "%s/model.safetensors", d2);
    snprintf(f3, sizeof f3, "%s/model.safetensors", d3);
    CHECK(same_file(f2, f3) && r2.train_loss == r3.train_loss, "1 and 2 threads trained different weights");
    p.out_dir = d3;
    p.run_steps = 0;
    p.resume = 1;
    CHECK(mm_train_run(&p, &r3) == 0 && r3.step == 30, "resume: %s (step %lld)", mm_last_error(), (long long)r3.step);
    CHECK(r3.heldout_loss == r1.heldout_loss, "resumed run: held-out loss %.17g vs %.17g", r3.heldout_loss, r1.heldout_loss);
    CHECK(same_file(f1, f3), "an interrupted and resumed run ends with other weights than an uninterrupted one");
    snprintf(f1, sizeof f1, "%s/optimizer/model.safetensors", d1);
    snprintf(f3, sizeof f3, "%s/optimizer/model.safetensors", d3);
    CHECK(same_file(f1, f3), "resumed optimizer state differs");
    /* a missing checkpoint to resume is a clear error */
    snprintf(d3, sizeof d3, "%s/none", tmp);
    p.out_dir = d3;
    CHECK(mm_train_run(&p, &r3) < 0 && strstr(mm_last_error(), "trainer_state.json"), "resume without state: %s", mm_last_error());
}

static void test_schedule_and_clip(void) {
    mm_wsd s = {.lr = 1.0, .lr_min = 0.1, .warmup = 10, .steps = 100, .decay_frac = 0.2};
    CHECK(fabs(mm_wsd_lr(&s, 0) - 0.1) < 1e-12 && fabs(mm_wsd_lr(&s, 9) - 1.0) < 1e-12, "warmup");
    CHECK(mm_wsd_lr(&s, 50) == 1.0 && mm_wsd_lr(&s, 79) == 1.0, "stable phase");
    CHECK(fabs(mm_wsd_lr(&s, 89) - 0.55) < 1e-12 && fabs(mm_wsd_lr(&s, 99) - 0.1) < 1e-12, "decay: %g %g",
          mm_wsd_lr(&s, 89), mm_wsd_lr(&s, 99));
    float g[3] = {3, 4, 0};
    double n = mm_clip_grad(g, 3, 1.0);
    CHECK(fabs(n - 5) < 1e-6 && fabs(g[0] - 0.6f) < 1e-6 && fabs(g[1] - 0.8f) < 1e-6, "clip: norm %g -> %g %g", n, g[0], g[1]);
    /* AdamW's first step moves every parameter by lr (sign of the gradient) plus the decay */
    float p[2] = {1, 1}, gr[2] = {0.5f, -2}, m[2] = {0}, v[2] = {0};
    uint8_t dec[2] = {0, 1};
    mm_adamw_step(&(mm_adamw){0.9, 0.95, 1e-8, 0.1}, p, gr, m, v, dec, 2, 0.01, 1);
    CHECK(fabs(p[0] - 0.99f) < 1e-6 && fabs(p[1] - (1 + 0.01f - 0.001f)) < 1e-6, "adamw: %g %g", p[0], p[1]);
}

int main(void) {
    mm_set_threads(1); /* tiny shapes: threads would only add synchronisation */
    test_schedule_and_clip();
    test_training();
    return mmt_done();
}
