/* test_heads.c — final hidden states (mm_decode_ex), embeddings and transformers' task heads.
 *
 * The independent reference: a golden case's reference logits are lm_head · h_t with lm_head [512, 64] of full
 * column rank, so the reference model's final hidden states h_t are recovered from its logits by least squares
 * (normal equations in double), without the engine. Head checkpoints are the golden model with its lm_head
 * replaced by a random `score` / `qa_outputs`; each head's output must equal W · h_t (+ b) computed from the
 * recovered states, with transformers' pooling (the last non-pad token), per token, and start/end. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "minimax.h"
#include "formats/mm_gguf.h"
#include "formats/mm_mkmodel.h"
#include "formats/mm_safetensors.h"
#include "mm_test.h"

static char GOLD[512];
enum { V = 512, H = 64 };

static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *x = malloc(sizeof(float) * n);
    if (!f || fread(x, sizeof(float), n, f) != n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return x;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {   /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1.0p-52 - 1.0);
}

/* ---------------------------------------------------------------- recovering the reference's hidden states */
/* h[T, H] from logits[T, V] = h · Wᵀ with W [V, H]: (WᵀW) h = Wᵀ l, Cholesky in double. */
static void recover_hidden(const float *W, const float *logits, int T, double *h) {
    static double A[H][H], L[H][H];
    for (int i = 0; i < H; i++)
        for (int j = 0; j < H; j++) {
            double s = 0;
            for (int v = 0; v < V; v++) s += (double)W[v * H + i] * W[v * H + j];
            A[i][j] = s;
        }
    for (int i = 0; i < H; i++)
        for (int j = 0; j <= i; j++) {
            double s = A[i][j];
            for (int k = 0; k < j; k++) s -= L[i][k] * L[j][k];
            L[i][j] = i == j ? sqrt(s) : s / L[j][j];
        }
    for (int t = 0; t < T; t++) {
        double b[H], y[H];
        for (int i = 0; i < H; i++) {
            double s = 0;
            for (int v = 0; v < V; v++) s += (double)W[v * H + i] * logits[(size_t)t * V + v];
            b[i] = s;
        }
        for (int i = 0; i < H; i++) {
            double s = b[i];
            for (int k = 0; k < i; k++) s -= L[i][k] * y[k];
            y[i] = s / L[i][i];
        }
        for (int i = H; i-- > 0;) {
            double s = y[i];
            for (int k = i + 1; k < H; k++) s -= L[k][i] * h[(size_t)t * H + k];
            h[(size_t)t * H + i] = s / L[i][i];
        }
    }
}

/* ---------------------------------------------------------------- head checkpoints from the golden model */
typedef struct {
    const char *name;
    int64_t shape[2];
    int ndim;
    const float *data;
} extra_t;

/* dir: the golden tensors but lm_head.weight (unless keep_lm), plus extra[]; config.json with `arch` and the
 * given id2label / pad_token_id (cfg_edit may change more). */
static void write_ckpt(const char *dir, const char *arch, int n_labels, int pad, const extra_t *extra, int n_extra,
                       void (*cfg_edit)(json_t *)) {
    mkdir(dir, 0755);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", GOLD);
    mm_st_file *in = mm_st_open(path);
    mm_st_writer *w = mm_st_writer_new(dir, 0);
    int ok = in && w;
    for (int i = 0; ok && i < mm_st_count(in); i++) {
        const mm_tensor *t = mm_st_at(in, i);
        if (strcmp(t->name, "lm_head.weight")) ok = !mm_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape);
    }
    for (int i = 0; ok && i < n_extra; i++) ok = !mm_st_writer_add(w, extra[i].name, MM_F32, extra[i].ndim, extra[i].shape);
    ok = ok && !mm_st_writer_begin(w);
    for (int i = 0; ok && i < mm_st_count(in); i++) {
        const mm_tensor *t = mm_st_at(in, i);
        if (strcmp(t->name, "lm_head.weight")) ok = !mm_st_writer_write(w, t->data, t->nbytes);
    }
    for (int i = 0; ok && i < n_extra; i++) {
        size_t n = (size_t)extra[i].shape[0] * (size_t)(extra[i].ndim == 2 ? extra[i].shape[1] : 1);
        ok = !mm_st_writer_write(w, extra[i].data, n * sizeof(float));
    }
    ok = ok && !mm_st_writer_finish(w);
    mm_st_writer_free(w);
    mm_st_close(in);
    snprintf(path, sizeof path, "%s/config.json", GOLD);
    json_t *cfg = json_load_file(path, 0, NULL);
    json_object_set_new(cfg, "architectures", json_pack("[s]", arch));
    if (n_labels > 0) {
        json_t *i2l = json_object();
        for (int i = 0; i < n_labels; i++) {
            char k[16], v[32];
            snprintf(k, sizeof k, "%d", i);
            snprintf(v, sizeof v, "class-%c", 'A' + i);
            json_object_set_new(i2l, k, json_string(v));
        }
        json_object_set_new(cfg, "id2label", i2l);
    }
    if (pad >= 0) json_object_set_new(cfg, "pad_token_id", json_integer(pad));
    if (cfg_edit) cfg_edit(cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    ok = ok && !json_dump_file(cfg, path, JSON_INDENT(2));
    json_decref(cfg);
    if (!ok) {
        fprintf(stderr, "writing %s failed: %s\n", dir, mm_last_error());
        exit(2);
    }
}

/* max |a - W·h (+ b)| over rows: out[T, N] against W [N, H], h [T, H] (double) */
static double head_diff(const float *out, const float *W, const float *b, const double *h, int T, int N) {
    double m = 0;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < N; k++) {
            double s = b ? b[k] : 0;
            for (int i = 0; i < H; i++) s += (double)W[k * H + i] * h[(size_t)t * H + i];
            double d = fabs(s - out[(size_t)t * N + k]);
            if (!(d <= m)) m = d;
        }
    return m;
}

static void cfg_remote(json_t *c) { json_object_set_new(c, "model_type", json_string("minimax_text_01")); }
static void cfg_bad_labels(json_t *c) { json_object_set_new(c, "id2label", json_pack("{s:s, s:s}", "0", "a", "5", "b")); }

int main(void) {
    snprintf(GOLD, sizeof GOLD, "%s/golden/a_small_mixed", mmt_shared());
    const char *tmp = mmt_tmpdir();
    char path[1024];

    /* the golden prompt of 19 tokens and its reference logits */
    snprintf(path, sizeof path, "%s/manifest.json", GOLD);
    json_t *man = json_load_file(path, 0, NULL);
    json_t *pr = json_array_get(json_object_get(man, "prompts"), 3);
    const int T = (int)json_integer_value(json_object_get(pr, "length"));
    int32_t ids[64];
    for (int i = 0; i < T; i++) ids[i] = (int32_t)json_integer_value(json_array_get(json_object_get(pr, "input_ids"), (size_t)i));
    snprintf(path, sizeof path, "%s/%s", GOLD, json_string_value(json_object_get(json_object_get(pr, "logits"), "file")));
    float *gl = read_f32(path, (size_t)T * V);
    json_decref(man);

    mm_model *lm = mm_model_load(GOLD, NULL);
    CHECK(lm && mm_model_head_size(lm) == 0 && mm_model_config(lm)->arch == MM_ARCH_CAUSAL_LM, "golden loads as a causal LM");
    if (!lm) return mmt_done();
    /* lm_head from the file, independent of the engine's copy */
    snprintf(path, sizeof path, "%s/model.safetensors", GOLD);
    mm_st_file *st = mm_st_open(path);
    const mm_tensor *wt = mm_st_find(st, "lm_head.weight");
    float *W = malloc(sizeof(float) * V * H);
    memcpy(W, wt->data, sizeof(float) * V * H);
    mm_st_close(st);
    double *href = malloc(sizeof(double) * (size_t)T * H);
    recover_hidden(W, gl, T, href);
    double fit = 0;   /* how well the recovered states reproduce the logits */
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) {
            double s = 0;
            for (int i = 0; i < H; i++) s += W[v * H + i] * href[(size_t)t * H + i];
            fit = fmax(fit, fabs(s - gl[(size_t)t * V + v]));
        }
    CHECK(fit < 1e-4, "recovered hidden states reproduce the golden logits (max %.3g)", fit);

    /* ---- mm_decode_ex: hidden states of every token, logits unchanged */
    {
        mm_context *c = mm_context_new(lm, &(mm_context_params){.n_ctx = 256, .n_seq_max = 2, .n_ubatch = 8});
        int32_t seq[64] = {0};
        int8_t all[64];
        memset(all, 1, sizeof all);
        float *lg0 = malloc(sizeof(float) * (size_t)T * V), *lg1 = malloc(sizeof(float) * (size_t)T * V);
        float *hid = malloc(sizeof(float) * (size_t)T * H);
        mm_batch b = {.n_tokens = T, .token = ids, .seq = seq, .logits = all};
        CHECK(mm_decode(c, &b, lg0) == T, "logits of every token");
        mm_seq_reset(c, 0);
        b.hidden = all;
        CHECK(mm_decode_ex(c, &b, lg1, hid) == T, "logits and hidden states of every token (chunks of 8)");
        CHECK(!memcmp(lg0, lg1, sizeof(float) * (size_t)T * V), "asking for hidden states leaves the logits bit-identical");
        double dh = 0;
        for (int i = 0; i < T * H; i++) dh = fmax(dh, fabs(hid[i] - href[i]));
        CHECK(dh < 1e-3, "hidden states = the reference's (recovered from its logits): max |diff| %.3g", dh);
        printf("hidden states vs the reference's recovered ones: max |diff| %.3g (recovery residual %.3g)\n", dh, fit);
        CHECK(mmt_maxdiff(lg1, gl, (size_t)T * V) < 1e-3, "logits = golden");
        /* hidden states only, of two tokens: no logits computed, 0 returned */
        mm_seq_reset(c, 0);
        int8_t two[64] = {0};
        two[3] = two[T - 1] = 1;
        b.logits = NULL;
        b.hidden = two;
        float h2[2 * H];
        CHECK(mm_decode_ex(c, &b, NULL, h2) == 0, "hidden states only: no logits rows");
        CHECK(!memcmp(h2, hid + 3 * H, sizeof(float) * H) && !memcmp(h2 + H, hid + (size_t)(T - 1) * H, sizeof(float) * H),
              "the requested rows, in batch order, equal the all-rows run");
        /* embeddings */
        float e[H];
        double ref[H], norm = 0;
        CHECK(mm_embed(c, 1, ids, T, MM_POOL_LAST, e) == 0, "embed last: %s", mm_last_error());
        for (int i = 0; i < H; i++) norm += href[(size_t)(T - 1) * H + i] * href[(size_t)(T - 1) * H + i];
        double de = 0, en = 0;
        for (int i = 0; i < H; i++) {
            de = fmax(de, fabs(e[i] - href[(size_t)(T - 1) * H + i] / sqrt(norm)));
            en += (double)e[i] * e[i];
        }
        CHECK(de < 1e-4 && fabs(en - 1) < 1e-5, "last-token embedding = normalised reference state (%.3g, |e|² %.7f)", de, en);
        CHECK(mm_embed(c, 1, ids, T, MM_POOL_MEAN, e) == 0, "embed mean");
        norm = 0;
        for (int i = 0; i < H; i++) {
            ref[i] = 0;
            for (int t = 0; t < T; t++) ref[i] += href[(size_t)t * H + i] / T;
            norm += ref[i] * ref[i];
        }
        de = 0;
        for (int i = 0; i < H; i++) de = fmax(de, fabs(e[i] - ref[i] / sqrt(norm)));
        CHECK(de < 1e-4, "mean-pooled embedding = normalised mean of the reference states (%.3g)", de);
        CHECK(mm_seq_len(c, 1) == 0, "embedding leaves its sequence empty");
        CHECK(mm_model_head_forward(lm, hid, 1, lg0) < 0 && strstr(mm_last_error(), "causal LM"), "a causal LM has no task head");
        CHECK(mm_classify(c, 0, ids, T, lg0) < 0, "mm_classify on a causal LM fails");
        free(lg0);
        free(lg1);
        free(hid);
        mm_context_free(c);
    }

    /* ---- the three heads */
    enum { NL = 5 };
    float ws[NL * H], bs[NL], wq[2 * H], bq[2];
    for (int i = 0; i < NL * H; i++) ws[i] = frand();
    for (int i = 0; i < NL; i++) bs[i] = frand();
    for (int i = 0; i < 2 * H; i++) wq[i] = frand();
    bq[0] = frand();
    bq[1] = frand();
    char dseq[600], dtok[600], dqa[600];
    snprintf(dseq, sizeof dseq, "%s/seqcls", tmp);
    snprintf(dtok, sizeof dtok, "%s/tokcls", tmp);
    snprintf(dqa, sizeof dqa, "%s/qa", tmp);
    write_ckpt(dseq, "MiniMaxForSequenceClassification", NL, 0, (extra_t[]){{"score.weight", {NL, H}, 2, ws}}, 1, NULL);
    write_ckpt(dtok, "MiniMaxForTokenClassification", NL, -1,
               (extra_t[]){{"score.weight", {NL, H}, 2, ws}, {"score.bias", {NL}, 1, bs}}, 2, NULL);
    write_ckpt(dqa, "MiniMaxForQuestionAnswering", 0, -1, (extra_t[]){{"qa_outputs.weight", {2, H}, 2, wq}, {"qa_outputs.bias", {2}, 1, bq}},
               2, NULL);
    {
        mm_model *m = mm_model_load(dseq, NULL);
        CHECK(m && mm_model_config(m)->arch == MM_ARCH_SEQ_CLS && mm_model_head_size(m) == NL, "sequence classifier loads: %s",
              m ? "" : mm_last_error());
        if (m) {
            const mm_config *cfg = mm_model_config(m);
            CHECK(cfg->pad_token_id == 0 && !strcmp(mm_model_label(m, 2), "class-C") && !mm_model_label(m, NL), "id2label and pad");
            mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 256, .n_seq_max = 1});
            int32_t padded[64];
            memcpy(padded, ids, sizeof(int32_t) * (size_t)T);
            padded[T] = padded[T + 1] = padded[T + 2] = 0;   /* right padding with pad id 0 */
            float out[NL], out2[NL];
            CHECK(mm_classify(c, 0, padded, T + 3, out) == 0, "classify: %s", mm_last_error());
            double d = head_diff(out, ws, NULL, href + (size_t)(T - 1) * H, 1, NL);
            CHECK(d < 1e-3, "score on the last non-pad token = W · h_ref[T-1] (max |diff| %.3g)", d);
            printf("sequence classification: max |diff| %.3g\n", d);
            CHECK(mm_classify(c, 0, ids, T, out2) == 0 && !memcmp(out, out2, sizeof out), "right padding changes nothing");
            float *lg = malloc(sizeof(float) * V);
            int32_t s0 = 0;
            mm_batch b = {.n_tokens = 1, .token = ids, .seq = &s0};
            CHECK(mm_decode(c, &b, lg) < 0 && strstr(mm_last_error(), "no lm_head"), "no logits from a head checkpoint: %s", mm_last_error());
            free(lg);
            int32_t p1[] = {5, 0, 7, 0, 0}, p2[] = {0, 0, 0}, p3[] = {3, 4};
            CHECK(mm_seq_cls_index(cfg, p1, 5) == 2 && mm_seq_cls_index(cfg, p2, 3) == 0 && mm_seq_cls_index(cfg, p3, 2) == 1,
                  "rightmost non-pad token; 0 when all are pad");
            mm_config nopad = *cfg;
            nopad.pad_token_id = -1;
            CHECK(mm_seq_cls_index(&nopad, p1, 5) == 4, "no pad token: the last token");
            mm_context_free(c);
        }
        mm_model_free(m);
    }
    {
        mm_model *m = mm_model_load(dtok, NULL);
        CHECK(m && mm_model_head_size(m) == NL && mm_model_config(m)->pad_token_id == -1, "token classifier loads: %s", m ? "" : mm_last_error());
        if (m) {
            mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 256, .n_seq_max = 1});
            float *out = malloc(sizeof(float) * (size_t)T * NL);
            CHECK(mm_classify(c, 0, ids, T, out) == 0, "classify tokens");
            double d = head_diff(out, ws, bs, href, T, NL);
            CHECK(d < 1e-3, "a label row per token = W · h_ref[t] + b (max |diff| %.3g)", d);
            printf("token classification: max |diff| %.3g\n", d);
            free(out);
            mm_context_free(c);
        }
        mm_model_free(m);
    }
    {
        mm_model *m = mm_model_load(dqa, NULL);
        CHECK(m && mm_model_head_size(m) == 2 && !mm_model_label(m, 0), "question answering loads: %s", m ? "" : mm_last_error());
        if (m) {
            mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 256, .n_seq_max = 1});
            float *out = malloc(sizeof(float) * (size_t)T * 2), st[64], en[64];
            CHECK(mm_classify(c, 0, ids, T, out) == 0, "qa logits");
            double d = head_diff(out, wq, bq, href, T, 2);
            CHECK(d < 1e-3, "start/end logits = qa_outputs · h_ref[t] + b (max |diff| %.3g)", d);
            printf("question answering: max |diff| %.3g\n", d);
            for (int t = 0; t < T; t++) st[t] = out[2 * t], en[t] = out[2 * t + 1];
            for (int lo = 0; lo < 6; lo += 5)
                for (int maxl = 1; maxl <= 8; maxl += 7) {
                    int a, b, ba = -1, bb = -1;
                    double p = mm_qa_best_span(st, en, lo, T, maxl, &a, &b), best = -1e300;
                    for (int i = lo; i < T; i++)
                        for (int j = i; j < T && j - i < maxl; j++)
                            if ((double)st[i] + en[j] > best) best = (double)st[i] + en[j], ba = i, bb = j;
                    double zs = 0, ze = 0;
                    for (int t = lo; t < T; t++) zs += exp(st[t]), ze += exp(en[t]);
                    CHECK(a == ba && b == bb && fabs(p - exp(st[a]) / zs * exp(en[b]) / ze) < 1e-6,
                          "best span [%d, %d] (brute force [%d, %d]), from %d, at most %d tokens", a, b, ba, bb, lo, maxl);
                }
            free(out);
            mm_context_free(c);
        }
        mm_model_free(m);
    }

    /* ---- scores */
    {
        mm_config c = {.problem_type = MM_PROBLEM_AUTO};
        float x[3] = {1, 2, 3}, y[1] = {0}, z[2] = {1, -1};
        mm_head_scores(&c, x, 3);
        CHECK(fabs(x[0] + x[1] + x[2] - 1) < 1e-6 && x[2] > x[1] && x[1] > x[0], "softmax");
        mm_head_scores(&c, y, 1);
        CHECK(fabs(y[0] - 0.5) < 1e-7, "one label: sigmoid");
        c.problem_type = MM_PROBLEM_MULTI_LABEL;
        mm_head_scores(&c, z, 2);
        CHECK(fabs(z[0] - 1 / (1 + exp(-1.0))) < 1e-6 && fabs(z[0] + z[1] - 1) < 1e-6, "multi-label: sigmoid each");
        c.problem_type = MM_PROBLEM_REGRESSION;
        float r[2] = {3.5f, -2};
        mm_head_scores(&c, r, 2);
        CHECK(r[0] == 3.5f && r[1] == -2, "regression: the logits");
    }

    /* ---- what is refused */
    {
        char d[600];
        snprintf(d, sizeof d, "%s/bad1", tmp);
        write_ckpt(d, "MiniMaxForSequenceClassification", NL, 0, (extra_t[]){{"score.weight", {NL, H}, 2, ws}, {"score.bias", {NL}, 1, bs}}, 2, NULL);
        mm_model *m = mm_model_load(d, NULL);
        CHECK(!m && strstr(mm_last_error(), "score.bias") && strstr(mm_last_error(), "no bias"), "a sequence classifier with a bias: %s", mm_last_error());
        snprintf(d, sizeof d, "%s/bad2", tmp);
        write_ckpt(d, "MiniMaxForTokenClassification", NL, 0, (extra_t[]){{"score.weight", {NL, H}, 2, ws}}, 1, NULL);
        CHECK(!(m = mm_model_load(d, NULL)) && strstr(mm_last_error(), "score.bias") && strstr(mm_last_error(), "missing"),
              "a token classifier without its bias: %s", mm_last_error());
        snprintf(d, sizeof d, "%s/bad3", tmp);
        write_ckpt(d, "MiniMaxForSequenceClassification", 3, 0, (extra_t[]){{"score.weight", {NL, H}, 2, ws}}, 1, NULL);
        CHECK(!(m = mm_model_load(d, NULL)) && strstr(mm_last_error(), "score.weight") && strstr(mm_last_error(), "shape"),
              "score rows != labels: %s", mm_last_error());
        snprintf(d, sizeof d, "%s/bad4", tmp);
        write_ckpt(d, "MiniMaxForMaskedLM", 0, -1, NULL, 0, NULL);
        CHECK(!(m = mm_model_load(d, NULL)) && strstr(mm_last_error(), "MiniMaxForMaskedLM") && strstr(mm_last_error(), "not a MiniMax"),
              "an unknown architecture: %s", mm_last_error());
        snprintf(d, sizeof d, "%s/bad5", tmp);
        write_ckpt(d, "MiniMaxForSequenceClassification", NL, 0, (extra_t[]){{"score.weight", {NL, H}, 2, ws}}, 1, cfg_remote);
        CHECK(!(m = mm_model_load(d, NULL)) && strstr(mm_last_error(), "contradicts"), "a head with the remote dialect: %s", mm_last_error());
        snprintf(d, sizeof d, "%s/bad6", tmp);
        write_ckpt(d, "MiniMaxForSequenceClassification", NL, 0, (extra_t[]){{"score.weight", {NL, H}, 2, ws}}, 1, cfg_bad_labels);
        CHECK(!(m = mm_model_load(d, NULL)) && strstr(mm_last_error(), "id2label"), "id2label with a gap: %s", mm_last_error());
        mm_config hc = *mm_model_config(lm);
        hc.arch = MM_ARCH_QA;
        CHECK(mm_gguf_check_config(&hc) < 0 && strstr(mm_last_error(), "GGUF"), "no GGUF form for a task head");
    }

    /* ---- mkmodel writes head checkpoints that load */
    {
        mm_mkmodel_params p;
        mm_mkmodel_preset(&p, "tiny");
        p.vocab_size = 300, p.hidden_size = 32, p.n_heads = 4, p.n_kv_heads = 2, p.head_dim = 8, p.rotary_dim = 4;
        p.intermediate_size = 16, p.n_experts = 2, p.top_k = 1, p.dtype = MM_F32, p.shard_bytes = 0;
        mm_mkmodel_parse_layer_types(&p, "LS");
        p.arch = MM_ARCH_TOKEN_CLS;
        p.labels = "O,B-PER,I-PER";
        p.pad_token_id = 7;
        char d[600];
        snprintf(d, sizeof d, "%s/mk", tmp);
        CHECK(mm_mkmodel_write(d, &p, NULL) < 0 && strstr(mm_last_error(), "hf dialect"), "mkmodel: a head needs the hf dialect");
        p.dialect = MM_DIALECT_HF;
        CHECK(mm_mkmodel_write(d, &p, NULL) == 0, "mkmodel token-cls: %s", mm_last_error());
        mm_model *m = mm_model_load(d, NULL);
        CHECK(m && mm_model_head_size(m) == 3 && !strcmp(mm_model_label(m, 1), "B-PER") && mm_model_config(m)->pad_token_id == 7,
              "the mkmodel head checkpoint loads with its labels: %s", m ? "" : mm_last_error());
        if (m) {
            mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 64, .n_seq_max = 1});
            int32_t x[4] = {5, 9, 11, 200};
            float out[12];
            CHECK(mm_classify(c, 0, x, 4, out) == 0 && isfinite(out[11]), "it classifies");
            mm_context_free(c);
        }
        mm_model_free(m);
    }

    mm_model_free(lm);
    free(W);
    free(href);
    free(gl);
    return mmt_done();
}
