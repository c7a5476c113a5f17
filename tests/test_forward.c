/* test_forward.c — the forward pass's contracts beyond the golden numbers:
 * bad batches are refused before any state changes (token id ≥ vocab, bad sequence id, split runs,
 * context overflow); the fused expert layout and the remote config dialect compute the same model;
 * checkpoints with a missing or mis-shaped tensor are clear errors; bad state files are refused. */
#include <sys/stat.h>
#include <unistd.h>
#include "mm_test.h"
#include "formats/mm_safetensors.h"
#include "formats/mm_weights.h"
#include "minimax.h"

static char golden_a[1024];

/* Copies golden a's tensors into dir, optionally fusing the experts and dropping one tensor, and writes
 * the given config.json text. */
static int write_variant(const char *dir, const char *config, int fuse, const char *drop) {
    mkdir(dir, 0755);
    char p[2048];
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fputs(config, f);
    fclose(f);
    mm_weights *w = mm_weights_open(golden_a);
    if (!w) return -1;
    mm_st_writer *wr = mm_st_writer_new(dir, 0);
    const int L = 4, E = 4, I = 128, H = 64;
    for (int i = 0; i < mm_weights_count(w); i++) {
        const mm_tensor *t = mm_weights_at(w, i);
        if ((drop && !strcmp(t->name, drop)) || (fuse && strstr(t->name, ".experts."))) continue;
        char name[256];
        snprintf(name, sizeof name, "%s", t->name);
        char *g = strstr(name, "block_sparse_moe.gate.weight");
        if (fuse && g) {
            snprintf(name, sizeof name, "%.*smlp.gate.weight", (int)(g - name), t->name);
        }
        mm_st_writer_add(wr, name, t->dtype, t->ndim, t->shape);
    }
    if (fuse)
        for (int l = 0; l < L; l++) {
            char n1[128], n2[128];
            snprintf(n1, sizeof n1, "model.layers.%d.mlp.experts.gate_up_proj", l);
            snprintf(n2, sizeof n2, "model.layers.%d.mlp.experts.down_proj", l);
            mm_st_writer_add(wr, n1, MM_F32, 3, (int64_t[]){E, 2 * I, H});
            mm_st_writer_add(wr, n2, MM_F32, 3, (int64_t[]){E, H, I});
        }
    int rc = mm_st_writer_begin(wr);
    for (int i = 0; rc == 0 && i < mm_weights_count(w); i++) {
        const mm_tensor *t = mm_weights_at(w, i);
        if ((drop && !strcmp(t->name, drop)) || (fuse && strstr(t->name, ".experts."))) continue;
        rc = mm_st_writer_write(wr, t->data, t->nbytes);
    }
    for (int l = 0; fuse && rc == 0 && l < L; l++) {
        char n[160];
        for (int e = 0; e < E && rc == 0; e++)
            for (int k = 0; k < 2 && rc == 0; k++) { /* w1 rows then w3 rows, per expert */
                snprintf(n, sizeof n, "model.layers.%d.block_sparse_moe.experts.%d.%s.weight", l, e, k ? "w3" : "w1");
                const mm_tensor *t = mm_weights_find(w, n);
                rc = t ? mm_st_writer_write(wr, t->data, t->nbytes) : -1;
            }
        for (int e = 0; e < E && rc == 0; e++) {
            snprintf(n, sizeof n, "model.layers.%d.block_sparse_moe.experts.%d.w2.weight", l, e);
            const mm_tensor *t = mm_weights_find(w, n);
            rc = t ? mm_st_writer_write(wr, t->data, t->nbytes) : -1;
        }
    }
    if (rc == 0) rc = mm_st_writer_finish(wr);
    mm_st_writer_free(wr);
    mm_weights_close(w);
    return rc;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

static int logits_of(const char *dir, const int32_t *ids, int n, float *out) {
    mm_model *m = mm_model_load(dir, NULL);
    if (!m) return -1;
    mm_context *c = mm_context_new(m, NULL);
    int32_t seq[64] = {0};
    int8_t want[64];
    memset(want, 1, sizeof want);
    mm_batch b = {.n_tokens = n, .token = ids, .seq = seq, .logits = want};
    int r = mm_decode(c, &b, out);
    mm_context_free(c);
    mm_model_free(m);
    return r;
}

int main(void) {
    snprintf(golden_a, sizeof golden_a, "%s/golden/a_small_mixed", mmt_shared());
    mm_model *m = mm_model_load(golden_a, NULL);
    CHECK(m != NULL, "load golden a: %s", mm_last_error());
    if (!m) return mmt_done();
    const int V = mm_model_config(m)->vocab_size;
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 16, .n_seq_max = 2});
    float *lg = malloc(sizeof(float) * 64 * (size_t)V), *ref = malloc(sizeof(float) * 64 * (size_t)V);
    const int32_t ids[8] = {5, 17, 300, 42, 7, 99, 311, 3};
    int32_t seq[16] = {0};

    /* A clean run for reference; the per-op timings count it. */
    mm_batch ok = {.n_tokens = 4, .token = ids, .seq = seq};
    CHECK(mm_decode(c, &ok, ref) == 1, "plain decode: %s", mm_last_error());
    mm_timings tm;
    mm_context_timings(c, &tm);
    CHECK(tm.tokens == 4 && tm.forwards == 1 && tm.lightning > 0 && tm.softmax > 0 && tm.moe > 0 && tm.head > 0,
          "timings: tokens %lld forwards %lld", (long long)tm.tokens, (long long)tm.forwards);
    mm_context_reset_timings(c);
    mm_context_timings(c, &tm);
    CHECK(tm.tokens == 0 && tm.moe == 0, "timings reset");
    mm_seq_reset(c, 0);

    /* Each bad batch fails with a message and leaves every sequence untouched. */
    const int32_t bad_tok[2] = {5, 512}, neg_tok[1] = {-1};
    mm_batch b1 = {.n_tokens = 2, .token = bad_tok, .seq = seq};
    CHECK(mm_decode(c, &b1, lg) < 0 && strstr(mm_last_error(), "out of range"), "token id = vocab: %s", mm_last_error());
    mm_batch b2 = {.n_tokens = 1, .token = neg_tok, .seq = seq};
    CHECK(mm_decode(c, &b2, lg) < 0 && strstr(mm_last_error(), "token id -1"), "negative id: %s", mm_last_error());
    const int32_t bad_seq[2] = {0, 2};
    mm_batch b3 = {.n_tokens = 2, .token = ids, .seq = bad_seq};
    CHECK(mm_decode(c, &b3, lg) < 0 && strstr(mm_last_error(), "sequence id 2"), "seq id: %s", mm_last_error());
    const int32_t split[3] = {0, 1, 0};
    mm_batch b4 = {.n_tokens = 3, .token = ids, .seq = split};
    CHECK(mm_decode(c, &b4, lg) < 0 && strstr(mm_last_error(), "contiguous"), "split run: %s", mm_last_error());
    int32_t long_ids[17], long_seq[17] = {0};
    for (int i = 0; i < 17; i++) long_ids[i] = 10 + i;
    mm_batch b5 = {.n_tokens = 17, .token = long_ids, .seq = long_seq};
    CHECK(mm_decode(c, &b5, lg) < 0 && strstr(mm_last_error(), "context size 16"), "overflow: %s", mm_last_error());
    mm_batch b6 = {.n_tokens = 0, .token = ids, .seq = seq};
    CHECK(mm_decode(c, &b6, lg) < 0, "empty batch accepted");
    CHECK(mm_seq_len(c, 0) == 0 && mm_seq_len(c, 1) == 0, "a failed decode advanced a sequence");
    /* overflow by decode after a full prompt */
    mm_batch b7 = {.n_tokens = 16, .token = long_ids, .seq = long_seq};
    CHECK(mm_decode(c, &b7, lg) == 1, "16 tokens fit exactly: %s", mm_last_error());
    mm_batch b8 = {.n_tokens = 1, .token = ids, .seq = seq};
    CHECK(mm_decode(c, &b8, lg) < 0 && mm_seq_len(c, 0) == 16, "decode past n_ctx: %s", mm_last_error());
    mm_seq_reset(c, 0);
    CHECK(mm_decode(c, &ok, lg) == 1 && !memcmp(lg, ref, sizeof(float) * (size_t)V), "state changed by failed calls");

    /* Bad state files. */
    char sp[1024];
    snprintf(sp, sizeof sp, "%s/bad.state", mmt_tmpdir());
    FILE *f = fopen(sp, "wb");
    fputs("not a state", f);
    fclose(f);
    CHECK(mm_seq_state_load(c, sp) == NULL && strstr(mm_last_error(), "not a minimax"), "garbage state: %s", mm_last_error());
    mm_seq_state *st = mm_seq_snapshot(c, 0);
    CHECK(st && mm_seq_state_save(st, sp) == 0, "save");
    CHECK(truncate(sp, 100) == 0, "truncate");
    CHECK(mm_seq_state_load(c, sp) == NULL && strstr(mm_last_error(), "truncated"), "truncated state: %s", mm_last_error());
    mm_seq_state_free(st);
    mm_context *cb = mm_context_new(m, &(mm_context_params){.n_ctx = 16, .kv_bf16 = 1});
    st = mm_seq_snapshot(c, 0);
    CHECK(mm_seq_restore(cb, 0, st) < 0 && strstr(mm_last_error(), "KV type"), "kv type mismatch: %s", mm_last_error());
    mm_seq_state_free(st);
    mm_context_free(cb);

    /* bf16 KV cache: close to f32 (bf16 rounding of K and V only). */
    cb = mm_context_new(m, &(mm_context_params){.n_ctx = 16, .kv_bf16 = 1});
    mm_decode(cb, &ok, lg);
    double d = 0;
    for (int i = 0; i < V; i++) d = fmax(d, fabs(lg[i] - ref[i]));
    CHECK(d > 0 && d < 0.1, "bf16 KV cache: max diff %g", d);
    mm_context_free(cb);

    /* Quantized KV caches (llama.cpp's blocks, head rows padded to a whole block): close to f32; a state of each
     * type saves, loads and restores to the same continuation; a state of another type is refused. */
    static const int kvt[][2] = {{MM_KV_F16, MM_KV_F16}, {MM_KV_Q8_0, MM_KV_Q8_0}, {MM_KV_Q4_0, MM_KV_Q4_0}, {MM_KV_Q8_0, MM_KV_F16}};
    static const double kvtol[] = {0.002, 0.02, 0.25, 0.02}; /* × max|logit|: this random model's logits are large */
    float *lg2 = malloc(sizeof(float) * (size_t)V);
    const int32_t next = 5, zero = 0;
    mm_batch one = {.n_tokens = 1, .token = &next, .seq = &zero};
    for (int t = 0; t < 4; t++) {
        mm_context_params kp = {.n_ctx = 16, .type_k = kvt[t][0], .type_v = kvt[t][1]};
        cb = mm_context_new(m, &kp);
        CHECK(cb && mm_decode(cb, &ok, lg) == 1, "KV %s/%s decode: %s", mm_kv_type_name(kvt[t][0]), mm_kv_type_name(kvt[t][1]),
              mm_last_error());
        d = 0;
        double span = 0;
        for (int i = 0; i < V; i++) d = fmax(d, fabs(lg[i] - ref[i])), span = fmax(span, fabs(ref[i]));
        printf("KV %s/%s: max|dlogit| %.3g (max|logit| %.3g)\n", mm_kv_type_name(kvt[t][0]), mm_kv_type_name(kvt[t][1]), d, span);
        CHECK(d > 0 && d < kvtol[t] * span, "KV %s/%s: max diff %g from f32", mm_kv_type_name(kvt[t][0]), mm_kv_type_name(kvt[t][1]), d);
        st = mm_seq_snapshot(cb, 0);
        CHECK(st && mm_seq_state_save(st, sp) == 0, "save %s state", mm_kv_type_name(kvt[t][0]));
        mm_seq_state_free(st);
        mm_context *c2 = mm_context_new(m, &kp);
        st = mm_seq_state_load(c2, sp);
        CHECK(st && mm_seq_restore(c2, 0, st) == 0, "load %s state: %s", mm_kv_type_name(kvt[t][0]), mm_last_error());
        mm_seq_state_free(st);
        CHECK(mm_decode(cb, &one, lg) == 1 && mm_decode(c2, &one, lg2) == 1 && !memcmp(lg, lg2, sizeof(float) * (size_t)V),
              "KV %s/%s: a restored state continues differently", mm_kv_type_name(kvt[t][0]), mm_kv_type_name(kvt[t][1]));
        mm_context *cf = mm_context_new(m, &(mm_context_params){.n_ctx = 16});
        CHECK(mm_seq_state_load(cf, sp) == NULL && strstr(mm_last_error(), "-ctk"), "state of another KV type: %s", mm_last_error());
        mm_context_free(cf), mm_context_free(c2), mm_context_free(cb);
    }
    free(lg2);
    CHECK(mm_context_new(m, &(mm_context_params){.type_k = 5}) == NULL && strstr(mm_last_error(), "KV cache type"), "Q4_K KV: %s",
          mm_last_error());
    CHECK(mm_context_new(m, &(mm_context_params){.type_v = -1}) == NULL, "KV type -1 accepted");
    mm_context_free(c);

    /* The fused expert layout computes the same model, bit for bit. */
    char cfgp[1100], dir[1100];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", golden_a);
    char *cfg = read_text(cfgp);
    float *base = malloc(sizeof(float) * 8 * (size_t)V);
    CHECK(logits_of(golden_a, ids, 8, base) == 8, "golden a logits");
    snprintf(dir, sizeof dir, "%s/fused", mmt_tmpdir());
    CHECK(write_variant(dir, cfg, 1, NULL) == 0, "write fused variant: %s", mm_last_error());
    CHECK(logits_of(dir, ids, 8, lg) == 8, "fused load: %s", mm_last_error());
    CHECK(!memcmp(lg, base, sizeof(float) * 8 * (size_t)V), "fused layout gives different logits");

    /* The remote dialect with the same numbers computes the same model. */
    const char *remote = "{\"model_type\":\"minimax_text_01\",\"architectures\":[\"MiniMaxText01ForCausalLM\"],"
                         "\"vocab_size\":512,\"hidden_size\":64,\"num_hidden_layers\":4,\"num_attention_heads\":4,"
                         "\"num_key_value_heads\":2,\"head_dim\":16,\"rotary_dim\":16,\"intermediate_size\":128,"
                         "\"num_local_experts\":4,\"num_experts_per_tok\":2,\"attn_type_list\":[0,1,0,1],\"postnorm\":true,"
                         "\"rope_theta\":10000.0,\"rms_norm_eps\":1e-05,\"max_position_embeddings\":4096}";
    snprintf(dir, sizeof dir, "%s/remote", mmt_tmpdir());
    CHECK(write_variant(dir, remote, 0, NULL) == 0, "write remote variant");
    CHECK(logits_of(dir, ids, 8, lg) == 8, "remote load: %s", mm_last_error());
    d = 0;
    for (int i = 0; i < 8 * V; i++) d = fmax(d, fabs(lg[i] - base[i]));
    CHECK(d < 1e-4, "remote dialect differs by %g", d);

    /* A missing tensor and a shape mismatch name the tensor. */
    snprintf(dir, sizeof dir, "%s/missing", mmt_tmpdir());
    write_variant(dir, cfg, 0, "model.layers.2.self_attn.out_proj.weight");
    mm_model *bad = mm_model_load(dir, NULL);
    CHECK(!bad && strstr(mm_last_error(), "model.layers.2.self_attn.out_proj.weight") && strstr(mm_last_error(), "missing"),
          "missing tensor: %s", mm_last_error());
    mm_model_free(bad);
    snprintf(dir, sizeof dir, "%s/shape", mmt_tmpdir());
    char *cfg2 = strdup(cfg);
    char *vp = strstr(cfg2, "\"intermediate_size\": 128");
    CHECK(vp != NULL, "config text layout");
    if (vp) memcpy(vp, "\"intermediate_size\": 256", 24);
    write_variant(dir, cfg2, 0, NULL);
    bad = mm_model_load(dir, NULL);
    CHECK(!bad && strstr(mm_last_error(), "shape") && strstr(mm_last_error(), "expected"), "shape mismatch: %s", mm_last_error());
    mm_model_free(bad);
    snprintf(dir, sizeof dir, "%s/nonexistent", mmt_tmpdir());
    bad = mm_model_load(dir, NULL);
    CHECK(!bad && strstr(mm_last_error(), "config.json"), "missing dir: %s", mm_last_error());

    free(cfg), free(cfg2), free(base), free(lg), free(ref);
    mm_model_free(m);
    return mmt_done();
}
