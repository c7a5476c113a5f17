/* test_mkmodel.c — random-weight checkpoints: tensor names/shapes/dtypes in both layouts, config.json in both
 * dialects (parsed by jansson and by mm_config_parse), values identical across layouts, dtypes, shard sizes
 * and thread counts, and the refusals (non-empty directory, bad parameters). */
#include <jansson.h>
#include <omp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "minimax.h"
#include "formats/mm_mkmodel.h"
#include "mm_test.h"
#include "formats/mm_weights.h"

static void small_params(mm_mkmodel_params *p) {
    mm_mkmodel_preset(p, "tiny");
    p->vocab_size = 97;
    p->hidden_size = 32;
    p->n_heads = 4;
    p->n_kv_heads = 2;
    p->head_dim = 12;        /* NH*D = 48 != H, like the real model */
    p->rotary_dim = 6;
    p->intermediate_size = 24;
    p->n_experts = 3;
    p->top_k = 2;
    p->seed = 1234;
    mm_mkmodel_parse_layer_types(p, "LSL");
    p->dtype = MM_F32;
    p->shard_bytes = 0;
}

static const char *subdir(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    if (snprintf(p, 512, "%s/%s", mmt_tmpdir(), name) >= 512) abort();
    return p;
}

static char *read_text(const char *dir, const char *file) {
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

static mm_weights *write_and_open(const char *name, const mm_mkmodel_params *p) {
    const char *dir = subdir(name);
    mm_mkmodel_result r;
    int rc = mm_mkmodel_write(dir, p, &r);
    CHECK(rc == 0, "%s: write failed: %s", name, mm_last_error());
    if (rc) return NULL;
    CHECK(r.n_params > 0 && r.bytes > (uint64_t)r.n_params && r.n_files >= 1, "%s: result", name);
    mm_weights *w = mm_weights_open(dir);
    CHECK(w != NULL, "%s: reopen: %s", name, mm_last_error());
    return w;
}

static int64_t nelem(const mm_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

static void expect_shape(const mm_weights *w, const char *what, const char *name, int ndim, int64_t s0, int64_t s1, int64_t s2,
                         mm_dtype dt) {
    const mm_tensor *t = mm_weights_find(w, name);
    CHECK(t != NULL, "%s: %s missing", what, name);
    if (!t) return;
    int ok = t->ndim == ndim && t->shape[0] == s0 && (ndim < 2 || t->shape[1] == s1) && (ndim < 3 || t->shape[2] == s2);
    CHECK(ok, "%s: %s has ndim %d shape [%lld, %lld, %lld]", what, name, t->ndim, (long long)t->shape[0],
          (long long)t->shape[1], (long long)t->shape[2]);
    CHECK(t->dtype == dt, "%s: %s dtype %s", what, name, mm_dtype_name(t->dtype));
}

/* Every tensor of the layout, with its shape; and nothing else. */
static void check_tensors(const mm_weights *w, const mm_mkmodel_params *p, const char *what) {
    const int64_t H = p->hidden_size, V = p->vocab_size, NH = p->n_heads, D = p->head_dim, NKV = p->n_kv_heads;
    const int64_t I = p->intermediate_size, E = p->n_experts;
    mm_dtype dt = p->dtype;
    int expect = 3;
    expect_shape(w, what, "model.embed_tokens.weight", 2, V, H, 0, dt);
    expect_shape(w, what, "lm_head.weight", 2, V, H, 0, dt);
    expect_shape(w, what, "model.norm.weight", 1, H, 0, 0, dt);
    for (int l = 0; l < p->n_layers; l++) {
        char n[256];
#define T(fmt, ...) (snprintf(n, sizeof n, "model.layers.%d." fmt, l, ##__VA_ARGS__), n)
        expect_shape(w, what, T("input_layernorm.weight"), 1, H, 0, 0, dt);
        expect_shape(w, what, T("post_attention_layernorm.weight"), 1, H, 0, 0, dt);
        expect += 2;
        if (p->layer_type[l] == MM_LAYER_LIGHTNING) {
            expect_shape(w, what, T("self_attn.qkv_proj.weight"), 2, 3 * NH * D, H, 0, dt);
            expect_shape(w, what, T("self_attn.output_gate.weight"), 2, NH * D, H, 0, dt);
            expect_shape(w, what, T("self_attn.norm.weight"), 1, NH * D, 0, 0, dt);
            expect_shape(w, what, T("self_attn.out_proj.weight"), 2, H, NH * D, 0, dt);
        } else {
            expect_shape(w, what, T("self_attn.q_proj.weight"), 2, NH * D, H, 0, dt);
            expect_shape(w, what, T("self_attn.k_proj.weight"), 2, NKV * D, H, 0, dt);
            expect_shape(w, what, T("self_attn.v_proj.weight"), 2, NKV * D, H, 0, dt);
            expect_shape(w, what, T("self_attn.o_proj.weight"), 2, H, NH * D, 0, dt);
        }
        expect += 4;
        if (p->layout == MM_LAYOUT_PER_EXPERT) {
            expect_shape(w, what, T("block_sparse_moe.gate.weight"), 2, E, H, 0, dt);
            for (int e = 0; e < E; e++) {
                expect_shape(w, what, T("block_sparse_moe.experts.%d.w1.weight", e), 2, I, H, 0, dt);
                expect_shape(w, what, T("block_sparse_moe.experts.%d.w3.weight", e), 2, I, H, 0, dt);
                expect_shape(w, what, T("block_sparse_moe.experts.%d.w2.weight", e), 2, H, I, 0, dt);
            }
            expect += 1 + 3 * (int)E;
        } else {
            expect_shape(w, what, T("mlp.gate.weight"), 2, E, H, 0, dt);
            expect_shape(w, what, T("mlp.experts.gate_up_proj"), 3, E, 2 * I, H, dt);
            expect_shape(w, what, T("mlp.experts.down_proj"), 3, E, H, I, dt);
            expect += 3;
        }
#undef T
    }
    CHECK(mm_weights_count(w) == expect, "%s: %d tensors, expected %d", what, mm_weights_count(w), expect);
}

/* Element i of tensor name in w as f32 (NaN if absent). */
static float val(const mm_weights *w, const char *name, int64_t i) {
    const mm_tensor *t = mm_weights_find(w, name);
    return t ? mm_tensor_get_f32(t, i) : NAN;
}

static void check_config(const char *dir, const mm_mkmodel_params *p, const char *what) {
    char *text = read_text(dir, "config.json");
    CHECK(text != NULL, "%s: no config.json", what);
    if (!text) return;
    json_error_t jerr;
    json_t *c = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    CHECK(c != NULL, "%s: config.json is not JSON: %s", what, jerr.text);
    double alpha = pow(2.0 * p->n_layers, 0.25);
    if (c) {
        int remote = p->dialect == MM_DIALECT_REMOTE;
        const char *mt = json_string_value(json_object_get(c, "model_type"));
        const char *arch = json_string_value(json_array_get(json_object_get(c, "architectures"), 0));
        CHECK(mt && !strcmp(mt, remote ? "minimax_text_01" : "minimax"), "%s: model_type %s", what, mt);
        CHECK(arch && !strcmp(arch, remote ? "MiniMaxText01ForCausalLM" : "MiniMaxForCausalLM"), "%s: arch %s", what, arch);
        struct { const char *k; long v; } ints[] = {
            {"hidden_size", p->hidden_size},     {"num_hidden_layers", p->n_layers},  {"num_attention_heads", p->n_heads},
            {"num_key_value_heads", p->n_kv_heads}, {"head_dim", p->head_dim},       {"rotary_dim", p->rotary_dim},
            {"intermediate_size", p->intermediate_size}, {"num_local_experts", p->n_experts},
            {"num_experts_per_tok", p->top_k},  {"vocab_size", p->vocab_size},
            {"max_position_embeddings", p->max_position_embeddings}, {"shared_intermediate_size", 0},
        };
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
            json_t *x = json_object_get(c, ints[k].k);
            CHECK(json_is_integer(x) && json_integer_value(x) == ints[k].v, "%s: %s", what, ints[k].k);
        }
        CHECK(json_is_true(json_object_get(c, "postnorm")), "%s: postnorm", what);
        CHECK(json_is_false(json_object_get(c, "tie_word_embeddings")), "%s: tie_word_embeddings", what);
        CHECK(json_number_value(json_object_get(c, "rms_norm_eps")) == 1e-5, "%s: rms_norm_eps", what);
        CHECK(json_number_value(json_object_get(c, "rope_theta")) == p->rope_theta, "%s: rope_theta", what);
        const char *a6[6], *b6[6];
        if (remote) {
            const char *a[] = {"layernorm_full_attention_alpha", "layernorm_linear_attention_alpha", "layernorm_mlp_alpha"};
            const char *b[] = {"layernorm_full_attention_beta", "layernorm_linear_attention_beta", "layernorm_mlp_beta"};
            memcpy(a6, a, sizeof a);
            memcpy(b6, b, sizeof b);
            json_t *lt = json_object_get(c, "attn_type_list");
            CHECK(json_array_size(lt) == (size_t)p->n_layers, "%s: attn_type_list length", what);
            for (int l = 0; l < p->n_layers; l++)
                CHECK(json_integer_value(json_array_get(lt, (size_t)l)) == p->layer_type[l], "%s: attn_type_list[%d]", what, l);
            CHECK(json_object_get(c, "layer_types") == NULL, "%s: remote config has layer_types", what);
        } else {
            const char *a[] = {"full_attn_alpha_factor", "linear_attn_alpha_factor", "mlp_alpha_factor"};
            const char *b[] = {"full_attn_beta_factor", "linear_attn_beta_factor", "mlp_beta_factor"};
            memcpy(a6, a, sizeof a);
            memcpy(b6, b, sizeof b);
            json_t *lt = json_object_get(c, "layer_types");
            CHECK(json_array_size(lt) == (size_t)p->n_layers, "%s: layer_types length", what);
            for (int l = 0; l < p->n_layers; l++) {
                const char *s = json_string_value(json_array_get(lt, (size_t)l));
                CHECK(s && !strcmp(s, p->layer_type[l] ? "full_attention" : "linear_attention"), "%s: layer_types[%d]", what, l);
            }
            CHECK(json_integer_value(json_object_get(c, "block_size")) == 256, "%s: block_size", what);
            CHECK(json_object_get(c, "attn_type_list") == NULL, "%s: hf config has attn_type_list", what);
        }
        for (int k = 0; k < 3; k++) {
            CHECK(json_number_value(json_object_get(c, a6[k])) == alpha, "%s: %s = %.17g, expected %.17g", what, a6[k],
                  json_number_value(json_object_get(c, a6[k])), alpha);
            CHECK(json_number_value(json_object_get(c, b6[k])) == 1.0, "%s: %s", what, b6[k]);
        }
        json_decref(c);
    }
    /* The engine's own config parser reads it back to the same model. */
    mm_config cfg;
    int rc = mm_config_parse(&cfg, text, "config.json");
    CHECK(rc == 0, "%s: mm_config_parse: %s", what, mm_last_error());
    if (rc == 0) {
        CHECK(cfg.dialect == p->dialect, "%s: dialect", what);
        CHECK(cfg.hidden_size == p->hidden_size && cfg.n_layers == p->n_layers && cfg.n_heads == p->n_heads &&
                  cfg.n_kv_heads == p->n_kv_heads && cfg.head_dim == p->head_dim && cfg.rotary_dim == p->rotary_dim &&
                  cfg.intermediate_size == p->intermediate_size && cfg.n_experts == p->n_experts &&
                  cfg.n_experts_per_tok == p->top_k && cfg.vocab_size == p->vocab_size,
              "%s: parsed dimensions differ", what);
        CHECK(cfg.postnorm == 1 && cfg.tie_word_embeddings == 0, "%s: postnorm/tie", what);
        CHECK(fabs(cfg.alpha_lin - alpha) < 1e-12 && fabs(cfg.alpha_full - alpha) < 1e-12 && fabs(cfg.alpha_mlp - alpha) < 1e-12 &&
                  cfg.beta_lin == 1 && cfg.beta_full == 1 && cfg.beta_mlp == 1,
              "%s: parsed residual factors", what);
        int same = 1;
        for (int l = 0; l < p->n_layers; l++) same &= cfg.layer_type[l] == p->layer_type[l];
        CHECK(same, "%s: parsed layer types differ", what);
        CHECK(cfg.rope_theta == p->rope_theta && cfg.rms_norm_eps == 1e-5, "%s: theta/eps", what);
    }
    free(text);
}

static void test_layouts(void) {
    mm_mkmodel_params p;
    small_params(&p);
    const int64_t H = p.hidden_size, I = p.intermediate_size;

    mm_weights *a = write_and_open("pe_f32", &p);          /* per-expert, remote, f32 */
    if (a) check_tensors(a, &p, "pe_f32");
    check_config(subdir("pe_f32"), &p, "pe_f32");

    mm_mkmodel_params pf = p;
    pf.layout = MM_LAYOUT_FUSED;
    pf.dialect = MM_DIALECT_HF;
    mm_weights *b = write_and_open("fused_f32", &pf);     /* fused, hf, f32 */
    if (b) check_tensors(b, &pf, "fused_f32");
    check_config(subdir("fused_f32"), &pf, "fused_f32");

    mm_mkmodel_params pb = p;
    pb.dtype = MM_BF16;
    pb.shard_bytes = 20000;                               /* several shards + index */
    omp_set_num_threads(1);                               /* values must not depend on the thread count */
    mm_weights *c = write_and_open("pe_bf16_sharded", &pb);
    omp_set_num_threads(omp_get_num_procs());
    if (c) {
        check_tensors(c, &pb, "pe_bf16_sharded");
        CHECK(mm_weights_n_files(c) > 2, "sharded: only %d files", mm_weights_n_files(c));
    }

    mm_mkmodel_params ph = pf;
    ph.dtype = MM_F16;
    ph.dialect = MM_DIALECT_REMOTE;
    mm_weights *d = write_and_open("fused_f16", &ph);     /* fused, remote, f16 */
    if (d) check_tensors(d, &ph, "fused_f16");
    check_config(subdir("fused_f16"), &ph, "fused_f16");

    if (!a || !b || !c || !d) goto out;
    /* Every per-expert tensor: equal to the canonical value, to the fused slices, and to the rounded bf16/f16. */
    int n_bad_value = 0, n_bad_fused = 0, n_bad_bf16 = 0, n_bad_f16 = 0, n_bad_same = 0;
    for (int i = 0; i < mm_weights_count(a); i++) {
        const mm_tensor *t = mm_weights_at(a, i);
        int64_t n = nelem(t);
        const mm_tensor *tb = mm_weights_find(c, t->name);
        for (int64_t k = 0; k < n; k++) {
            float x = mm_tensor_get_f32(t, k);
            if (x != mm_mkmodel_value(&p, t->name, k)) n_bad_value++;
            if (!tb || mm_tensor_get_f32(tb, k) != mm_bf16_to_f32(mm_f32_to_bf16(x))) n_bad_bf16++;
        }
        /* Where does this tensor live in the fused files? */
        int l, e;
        char w[4];
        char fname[256];
        if (sscanf(t->name, "model.layers.%d.block_sparse_moe.experts.%d.%2[w0-9].weight", &l, &e, w) == 3) {
            const char *which = !strcmp(w, "w2") ? "down_proj" : "gate_up_proj";
            snprintf(fname, sizeof fname, "model.layers.%d.mlp.experts.%s", l, which);
            int64_t off = !strcmp(w, "w2") ? (int64_t)e * H * I : (int64_t)e * 2 * I * H + (!strcmp(w, "w3") ? I * H : 0);
            for (int64_t k = 0; k < n; k++) {
                float x = mm_tensor_get_f32(t, k);
                if (val(b, fname, off + k) != x && n_bad_fused++ == 0)
                    fprintf(stderr, "first fused mismatch: %s[%lld] = %g vs %s[%lld] = %g\n", t->name, (long long)k, x, fname,
                            (long long)(off + k), val(b, fname, off + k));
                if (val(d, fname, off + k) != mm_f16_to_f32(mm_f32_to_f16(x))) n_bad_f16++;
            }
        } else if (sscanf(t->name, "model.layers.%d.%n", &l, &e) == 1 && !strcmp(t->name + e, "block_sparse_moe.gate.weight")) {
            snprintf(fname, sizeof fname, "model.layers.%d.mlp.gate.weight", l);
            for (int64_t k = 0; k < n; k++)
                if (val(b, fname, k) != mm_tensor_get_f32(t, k)) n_bad_fused++;
        } else {
            for (int64_t k = 0; k < n; k++) {
                float x = mm_tensor_get_f32(t, k);
                if (val(b, t->name, k) != x) n_bad_same++;
                if (val(d, t->name, k) != mm_f16_to_f32(mm_f32_to_f16(x))) n_bad_f16++;
            }
        }
    }
    CHECK(n_bad_value == 0, "%d values differ from mm_mkmodel_value", n_bad_value);
    CHECK(n_bad_fused == 0, "%d fused expert values differ from the per-expert ones", n_bad_fused);
    CHECK(n_bad_same == 0, "%d non-expert values differ between layouts", n_bad_same);
    CHECK(n_bad_bf16 == 0, "%d bf16 values are not the rounded f32 ones (or differ with 1 thread)", n_bad_bf16);
    CHECK(n_bad_f16 == 0, "%d f16 values are not the rounded f32 ones", n_bad_f16);

    /* Statistics of the init scheme. */
    struct { const char *name; double mean, sd; } st[] = {
        {"model.embed_tokens.weight", 0, 1},
        {"lm_head.weight", 0, 4 / sqrt((double)H)},
        {"model.layers.0.self_attn.qkv_proj.weight", 0, 1 / sqrt((double)H)},
        {"model.layers.0.block_sparse_moe.experts.0.w2.weight", 0, 1 / sqrt((double)I)},
        {"model.layers.0.block_sparse_moe.gate.weight", 0, 2 / sqrt((double)H)},
        {"model.layers.0.self_attn.norm.weight", 1, 0.2},
    };
    for (size_t k = 0; k < sizeof st / sizeof st[0]; k++) {
        const mm_tensor *t = mm_weights_find(a, st[k].name);
        if (!t) continue;
        double s = 0, s2 = 0;
        int64_t n = nelem(t);
        for (int64_t j = 0; j < n; j++) {
            double x = mm_tensor_get_f32(t, j);
            s += x;
            s2 += x * x;
        }
        double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
        CHECK(fabs(mean - st[k].mean) < 4 * st[k].sd / sqrt((double)n) + 1e-9 && fabs(sd / st[k].sd - 1) < 8 / sqrt((double)n) + 0.02,
              "%s: mean %g sd %g, expected %g and %g", st[k].name, mean, sd, st[k].mean, st[k].sd);
    }
    /* A different seed gives different numbers; names give independent streams. */
    mm_mkmodel_params p2 = p;
    p2.seed = 1235;
    CHECK(mm_mkmodel_value(&p2, "model.norm.weight", 0) != mm_mkmodel_value(&p, "model.norm.weight", 0), "seed ignored");
    CHECK(val(a, "model.layers.0.input_layernorm.weight", 0) != val(a, "model.layers.1.input_layernorm.weight", 0),
          "two tensors share a stream");
out:
    mm_weights_close(a);
    mm_weights_close(b);
    mm_weights_close(c);
    mm_weights_close(d);
}

static void test_refusals(void) {
    mm_mkmodel_params p;
    small_params(&p);
    const char *dir = subdir("pe_f32");   /* written above: not empty */
    CHECK(mm_mkmodel_write(dir, &p, NULL) != 0 && strstr(mm_last_error(), "not empty"), "overwrite: %s", mm_last_error());
    /* A forced overwrite replaces the checkpoint files: a stale index from a sharded write must go. */
    const char *sdir = subdir("pe_bf16_sharded");
    p.force = 1;
    CHECK(mm_mkmodel_write(sdir, &p, NULL) == 0, "forced overwrite: %s", mm_last_error());
    char ix[1024];
    snprintf(ix, sizeof ix, "%s/model.safetensors.index.json", sdir);
    CHECK(access(ix, F_OK) != 0, "stale index left behind");
    mm_weights *w = mm_weights_open(sdir);
    CHECK(w && mm_weights_find(w, "model.norm.weight") && mm_weights_find(w, "model.norm.weight")->dtype == MM_F32,
          "forced overwrite reopen: %s", w ? "" : mm_last_error());
    mm_weights_close(w);
    p.force = 0;

    struct { const char *what; void (*set)(mm_mkmodel_params *); const char *needle; } bad[] = {
        {"top-k > experts", NULL, "top-k"}, {"odd head-dim", NULL, "head-dim"}, {"rotary > head", NULL, "rotary-dim"},
        {"kv not dividing", NULL, "multiple of kv-heads"}, {"zero vocab", NULL, "vocab"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mm_mkmodel_params q;
        small_params(&q);
        switch (k) {
        case 0: q.top_k = q.n_experts + 1; break;
        case 1: q.head_dim = 11; break;
        case 2: q.rotary_dim = q.head_dim + 2; break;
        case 3: q.n_kv_heads = 3; break;
        default: q.vocab_size = 0; break;
        }
        CHECK(mm_mkmodel_validate(&q) != 0 && strstr(mm_last_error(), bad[k].needle), "%s: %s", bad[k].what, mm_last_error());
        CHECK(mm_mkmodel_write(subdir("never"), &q, NULL) != 0, "%s: written", bad[k].what);
    }
    CHECK(access(subdir("never"), F_OK) != 0, "an invalid request created its directory");
    CHECK(mm_mkmodel_parse_layer_types(&p, "LLX") != 0 && strstr(mm_last_error(), "'X'"), "layer types: %s", mm_last_error());
    CHECK(mm_mkmodel_parse_layer_types(&p, "0,0,1") == 0 && p.n_layers == 3 && p.layer_type[2] == 1, "0,0,1");
    CHECK(mm_mkmodel_preset(&p, "huge") != 0 && strstr(mm_last_error(), "huge"), "unknown preset");

    /* Presets and the default layer layout. */
    CHECK(mm_mkmodel_preset(&p, "text01") == 0, "text01");
    int soft = 0, ok = 1;
    for (int i = 0; i < p.n_layers; i++) {
        soft += p.layer_type[i];
        ok &= p.layer_type[i] == ((i + 1) % 8 == 0);
    }
    CHECK(p.n_layers == 80 && soft == 10 && ok && p.hidden_size == 6144 && p.n_heads * p.head_dim == 8192 &&
              p.rotary_dim == 64 && p.n_experts == 32 && p.intermediate_size == 9216 && p.vocab_size == 200064 &&
              p.max_position_embeddings == 10240000 && p.rope_theta == 1e7,
          "text01 preset");
    CHECK(mm_mkmodel_validate(&p) == 0, "text01 invalid: %s", mm_last_error());
    p.n_layers = 2;
    mm_mkmodel_default_layer_types(&p);
    CHECK(p.layer_type[0] == 0 && p.layer_type[1] == 1, "2 layers: L,S");
    CHECK(mm_mkmodel_preset(&p, "tiny") == 0 && mm_mkmodel_validate(&p) == 0, "tiny preset invalid");
    CHECK(p.n_layers == 8 && p.layer_type[7] == 1 && p.layer_type[6] == 0 && p.vocab_size == 200064 &&
              p.n_heads * p.head_dim != p.hidden_size && p.dtype == MM_BF16,
          "tiny preset shape");
}

/* Tensors of several row lengths, one with more rows than fit in a generation chunk: every chunk of every
 * tensor must fit the staging buffer (a 40000 x 128 embedding next to 333-wide rows once overflowed it). */
static void test_long_tensors(void) {
    mm_mkmodel_params p;
    small_params(&p);
    p.vocab_size = 40000;
    p.hidden_size = 128;
    p.intermediate_size = 333;
    p.n_experts = 2;
    p.top_k = 1;
    p.dtype = MM_BF16;
    mm_mkmodel_parse_layer_types(&p, "S");
    mm_weights *w = write_and_open("long", &p);
    if (!w) return;
    const char *names[] = {"model.embed_tokens.weight", "lm_head.weight"};
    for (int k = 0; k < 2; k++) {
        const mm_tensor *t = mm_weights_find(w, names[k]);
        int bad = 0;
        for (int64_t i = 0; t && i < nelem(t); i += 997)
            bad += mm_tensor_get_f32(t, i) != mm_bf16_to_f32(mm_f32_to_bf16(mm_mkmodel_value(&p, names[k], i)));
        int64_t last = t ? nelem(t) - 1 : 0;
        CHECK(t && bad == 0 && mm_tensor_get_f32(t, last) == mm_bf16_to_f32(mm_f32_to_bf16(mm_mkmodel_value(&p, names[k], last))),
              "%s: %d sampled values differ", names[k], bad);
    }
    mm_weights_close(w);
}

int main(void) {
    test_long_tensors();
    test_layouts();
    test_refusals();
    return mmt_done();
}
