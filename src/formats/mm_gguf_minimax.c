/* mm_gguf_minimax.c — the mapping between llama.cpp's `minimax-01` GGUF files and this engine: config KVs,
 * tensor names, loading a .gguf as a model, and the tokenizer stored in the file. */
#include "formats/mm_gguf.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "kernels/mm_kernels.h"
#include "kernels/mm_quant.h"
#include "formats/mm_safetensors.h"
#include "text/mm_tokenizer.h"
#include "formats/mm_weights.h"

#define MM_GGUF_MAGIC "GGUF"
#define MM_GGUF_MAX_NAME 64          /* GGML_MAX_NAME: names are stored in 64-byte fields, NUL included */
#define MM_GGUF_MAX_COUNT (1u << 26) /* sanity bound on tensor / KV counts */

/* ================================================================ MiniMax-01 <-> llama.cpp minimax-01 */
#define ARCH "minimax-01"

int mm_gguf_check_config(const mm_config *c) {
    if (c->arch != MM_ARCH_CAUSAL_LM) {
        mm_set_error("a %s checkpoint has no GGUF form: llama.cpp's minimax-01 architecture is the causal LM only",
                     mm_arch_name(c->arch));
        return -1;
    }
    if (!c->postnorm) {
        mm_set_error("postnorm is false (the residual is the raw layer input): llama.cpp's minimax-01 graph always adds the "
                     "normalised input, and GGUF has no key to say otherwise");
        return -1;
    }
    if (c->alpha_lin != c->alpha_full || c->alpha_lin != c->alpha_mlp) {
        mm_set_error("the residual factors α differ (linear %g, full %g, mlp %g): minimax-01 GGUF stores one "
                     "residual_scale for all of them", c->alpha_lin, c->alpha_full, c->alpha_mlp);
        return -1;
    }
    if (c->beta_lin != 1.0 || c->beta_full != 1.0 || c->beta_mlp != 1.0) {
        mm_set_error("a residual factor β is not 1 (linear %g, full %g, mlp %g): llama.cpp's minimax-01 graph has no β",
                     c->beta_lin, c->beta_full, c->beta_mlp);
        return -1;
    }
    if (c->n_lightning && (c->n_heads & (c->n_heads - 1))) {
        mm_set_error("%d heads is not a power of two: the reference interleaves ALiBi slopes for such head counts, "
                     "llama.cpp's minimax-01 graph uses the power-of-two formula for every count", c->n_heads);
        return -1;
    }
    if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads) {
        mm_set_error("%d heads is not a multiple of %d KV heads", c->n_heads, c->n_kv_heads);
        return -1;
    }
    return 0;
}

/* Return -1 from the enclosing function when a write / read step fails (its error is already set). */
#define TRY(x)                   \
    do {                         \
        if ((x) < 0) return -1;  \
    } while (0)

int mm_gguf_write_config(mm_gguf_writer *w, const mm_config *c) {
    if (mm_gguf_check_config(c) < 0) return -1;
    TRY(mm_gguf_w_str(w, "general.architecture", ARCH));
    TRY(mm_gguf_w_u32(w, ARCH ".vocab_size", (uint32_t)c->vocab_size));
    TRY(mm_gguf_w_u32(w, ARCH ".context_length", (uint32_t)c->max_position_embeddings));
    TRY(mm_gguf_w_u32(w, ARCH ".embedding_length", (uint32_t)c->hidden_size));
    TRY(mm_gguf_w_u32(w, ARCH ".block_count", (uint32_t)c->n_layers));
    TRY(mm_gguf_w_u32(w, ARCH ".feed_forward_length", (uint32_t)c->intermediate_size));
    TRY(mm_gguf_w_u32(w, ARCH ".attention.head_count", (uint32_t)c->n_heads));
    TRY(mm_gguf_w_u32(w, ARCH ".attention.head_count_kv", (uint32_t)c->n_kv_heads));
    TRY(mm_gguf_w_u32(w, ARCH ".attention.key_length", (uint32_t)c->head_dim));
    TRY(mm_gguf_w_u32(w, ARCH ".attention.value_length", (uint32_t)c->head_dim));
    TRY(mm_gguf_w_u32(w, ARCH ".rope.dimension_count", (uint32_t)c->rotary_dim));
    TRY(mm_gguf_w_f32(w, ARCH ".rope.freq_base", (float)c->rope_theta));
    TRY(mm_gguf_w_f32(w, ARCH ".attention.layer_norm_rms_epsilon", (float)c->rms_norm_eps));
    TRY(mm_gguf_w_u32(w, ARCH ".expert_count", (uint32_t)c->n_experts));
    TRY(mm_gguf_w_u32(w, ARCH ".expert_used_count", (uint32_t)c->n_experts_per_tok));
    TRY(mm_gguf_w_f32(w, ARCH ".residual_scale", (float)c->alpha_mlp));
    uint8_t rec[MM_MAX_LAYERS];
    for (int i = 0; i < c->n_layers; i++) rec[i] = c->layer_type[i] == MM_LAYER_LIGHTNING;
    TRY(mm_gguf_w_arr(w, ARCH ".attention.recurrent_layers", MM_GGUF_BOOL, (uint64_t)c->n_layers, rec));
    return 0;
}

/* A required / optional u32 KV into *out within [lo, hi]. */
static int kv_u32(const mm_gguf *g, const char *key, int required, long lo, long hi, int *out) {
    uint32_t v;
    int r = mm_gguf_get_u32(g, key, &v);
    if (r < 0) return -1;
    if (r == 0) {
        if (!required) return 0;
        mm_set_error("%s: KV \"%s\" is missing", mm_gguf_path(g), key);
        return -1;
    }
    if ((long)v < lo || (long)v > hi) {
        mm_set_error("%s: KV \"%s\" = %u is out of range [%ld, %ld]", mm_gguf_path(g), key, v, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 1;
}

int mm_gguf_read_config(const mm_gguf *g, mm_config *c) {
    const char *path = mm_gguf_path(g);
    const char *arch = NULL;
    TRY(mm_gguf_get_str(g, "general.architecture", &arch));
    if (!arch) {
        mm_set_error("%s: general.architecture is missing", path);
        return -1;
    }
    if (strcmp(arch, ARCH)) {
        mm_set_error("%s: general.architecture is \"%s\"; this engine runs \"" ARCH "\" (MiniMax-Text-01 / M1)", path, arch);
        return -1;
    }
    memset(c, 0, sizeof *c);
    c->image_token_index = -1;
    c->pad_token_id = -1;   /* a causal LM: no task head, no padding rule */
    c->num_labels = 2;
    snprintf(c->model_type, sizeof c->model_type, "minimax_text_01");
    c->dialect = MM_DIALECT_REMOTE; /* the remote code's semantics: remote slopes, partial rotary, postnorm honoured */
    const long BIG = 1L << 30;
    TRY(kv_u32(g, ARCH ".block_count", 1, 1, MM_MAX_LAYERS, &c->n_layers));
    TRY(kv_u32(g, ARCH ".embedding_length", 1, 1, 1 << 20, &c->hidden_size));
    TRY(kv_u32(g, ARCH ".feed_forward_length", 1, 1, 1 << 22, &c->intermediate_size));
    TRY(kv_u32(g, ARCH ".attention.head_count", 1, 1, 4096, &c->n_heads));
    c->n_kv_heads = c->n_heads;
    TRY(kv_u32(g, ARCH ".attention.head_count_kv", 0, 1, 4096, &c->n_kv_heads));
    TRY(kv_u32(g, ARCH ".expert_count", 1, 1, 4096, &c->n_experts));
    TRY(kv_u32(g, ARCH ".expert_used_count", 1, 1, 4096, &c->n_experts_per_tok));
    c->max_position_embeddings = 4096;
    TRY(kv_u32(g, ARCH ".context_length", 0, 1, 0x7fffffffL, &c->max_position_embeddings));
    c->head_dim = c->hidden_size / c->n_heads;
    TRY(kv_u32(g, ARCH ".attention.key_length", 0, 1, 1 << 16, &c->head_dim));
    int vlen = c->head_dim;
    TRY(kv_u32(g, ARCH ".attention.value_length", 0, 1, 1 << 16, &vlen));
    if (vlen != c->head_dim) {
        mm_set_error("%s: attention.value_length %d differs from key_length %d", path, vlen, c->head_dim);
        return -1;
    }
    c->rotary_dim = c->head_dim;
    TRY(kv_u32(g, ARCH ".rope.dimension_count", 0, 0, 1 << 16, &c->rotary_dim));
    c->rope_theta = 10000.0;
    TRY(mm_gguf_get_f64(g, ARCH ".rope.freq_base", &c->rope_theta));
    int r = mm_gguf_get_f64(g, ARCH ".attention.layer_norm_rms_epsilon", &c->rms_norm_eps);
    TRY(r);
    if (r == 0) {
        mm_set_error("%s: KV \"" ARCH ".attention.layer_norm_rms_epsilon\" is missing", path);
        return -1;
    }
    double alpha = 1.0;
    r = mm_gguf_get_f64(g, ARCH ".residual_scale", &alpha);
    TRY(r);
    if (r == 0) {
        mm_set_error("%s: KV \"" ARCH ".residual_scale\" is missing (llama.cpp requires it)", path);
        return -1;
    }
    if (!(c->rope_theta > 0) || !(c->rms_norm_eps > 0) || !(alpha > 0) || alpha > 1e6) {
        mm_set_error("%s: rope.freq_base %g, layer_norm_rms_epsilon %g and residual_scale %g must be positive and finite",
                     path, c->rope_theta, c->rms_norm_eps, alpha);
        return -1;
    }
    c->postnorm = 1;
    c->alpha_lin = c->alpha_full = c->alpha_mlp = alpha;
    c->beta_lin = c->beta_full = c->beta_mlp = 1.0;
    c->block_size = 256;
    /* layer pattern */
    int at;
    uint64_t n;
    r = mm_gguf_get_arr(g, ARCH ".attention.recurrent_layers", &at, &n, NULL);
    if (r < 0) {
        /* llama.cpp's get_key_or_arr also takes one scalar for every layer */
        int one;
        int rb = mm_gguf_get_bool(g, ARCH ".attention.recurrent_layers", &one);
        TRY(rb);
        for (int i = 0; i < c->n_layers; i++) c->layer_type[i] = one ? MM_LAYER_LIGHTNING : MM_LAYER_SOFTMAX;
    } else if (r == 1) {
        if (n != (uint64_t)c->n_layers || at == MM_GGUF_STRING || at == MM_GGUF_F32 || at == MM_GGUF_F64) {
            mm_set_error("%s: attention.recurrent_layers must hold %d bools (one per layer), has %llu of type %d", path,
                         c->n_layers, (unsigned long long)n, at);
            return -1;
        }
        for (int i = 0; i < c->n_layers; i++) {
            int64_t v = mm_gguf_arr_int(g, ARCH ".attention.recurrent_layers", (uint64_t)i);
            if (v != 0 && v != 1) {
                mm_set_error("%s: attention.recurrent_layers[%d] = %lld is not 0/1", path, i, (long long)v);
                return -1;
            }
            c->layer_type[i] = v ? MM_LAYER_LIGHTNING : MM_LAYER_SOFTMAX;
        }
    } else {
        int interval = 8;
        TRY(kv_u32(g, ARCH ".full_attention_interval", 0, 1, MM_MAX_LAYERS, &interval));
        for (int i = 0; i < c->n_layers; i++)
            c->layer_type[i] = (i + 1) % interval ? MM_LAYER_LIGHTNING : MM_LAYER_SOFTMAX;
    }
    for (int i = 0; i < c->n_layers; i++) {
        if (c->layer_type[i] == MM_LAYER_SOFTMAX) c->n_softmax++;
        else c->n_lightning++;
    }
    /* vocab: the embedding's rows (vocab_size, when present, must agree) */
    const mm_tensor *emb = mm_gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->ndim != 2) {
        mm_set_error("%s: tensor token_embd.weight is missing or not 2-D", path);
        return -1;
    }
    if (emb->shape[0] > BIG) {
        mm_set_error("%s: token_embd.weight has %lld rows", path, (long long)emb->shape[0]);
        return -1;
    }
    c->vocab_size = (int)emb->shape[0];
    int vs = c->vocab_size;
    TRY(kv_u32(g, ARCH ".vocab_size", 0, 1, BIG, &vs));
    if (vs != c->vocab_size) {
        mm_set_error("%s: vocab_size %d but token_embd.weight has %d rows", path, vs, c->vocab_size);
        return -1;
    }
    c->tie_word_embeddings = mm_gguf_find_tensor(g, "output.weight") == NULL;
    /* consistency, as for config.json */
    if (c->n_heads % c->n_kv_heads) {
        mm_set_error("%s: head_count %d is not a multiple of head_count_kv %d", path, c->n_heads, c->n_kv_heads);
        return -1;
    }
    if (c->rotary_dim % 2 || c->rotary_dim > c->head_dim) {
        mm_set_error("%s: rope.dimension_count %d must be even and at most key_length %d", path, c->rotary_dim, c->head_dim);
        return -1;
    }
    if (c->n_experts_per_tok > c->n_experts) {
        mm_set_error("%s: expert_used_count %d exceeds expert_count %d", path, c->n_experts_per_tok, c->n_experts);
        return -1;
    }
    if (c->n_layers == 1 && c->n_lightning) {
        mm_set_error("%s: a 1-layer model with a lightning layer has no defined slope factor (1 - l/(L-1))", path);
        return -1;
    }
    if (mm_gguf_check_config(c) < 0) {
        mm_error_prefix("%s", path);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- tensor names */
typedef struct {
    mm_gguf *g;
    char *names;   /* arena: [n] × MM_GGUF_MAPPED_NAME */
} mm_gguf_owner;

static void owner_free(void *p) {
    mm_gguf_owner *o = p;
    if (!o) return;
    mm_gguf_close(o->g);
    free(o->names);
    free(o);
}

struct mm_weights *mm_gguf_weights(mm_gguf *g, int (*map)(const char *name, char *out, void *ctx), void *ctx,
                                   const char *what) {
    int n = mm_gguf_n_tensors(g);
    mm_gguf_owner *o = mm_xcalloc(1, sizeof *o);
    o->g = g;
    o->names = mm_xmalloc((size_t)(n ? n : 1) * MM_GGUF_MAPPED_NAME);
    mm_tensor *ts = mm_xcalloc((size_t)(n ? n : 1), sizeof *ts);
    for (int i = 0; i < n; i++) {
        ts[i] = *mm_gguf_tensor(g, i);
        char *nm = o->names + (size_t)i * MM_GGUF_MAPPED_NAME;
        if (map(ts[i].name, nm, ctx) < 0) {
            mm_set_error("%s: tensor \"%s\" is not part of %s", mm_gguf_path(g), ts[i].name, what);
            free(ts);
            owner_free(o);
            return NULL;
        }
        ts[i].name = nm;
    }
    struct mm_weights *w = mm_weights_from_tensors(n, ts, mm_gguf_path(g), o, owner_free);
    free(ts);
    return w;
}

/* GGUF name -> Hugging Face name (out[MM_GGUF_MAPPED_NAME]); -1 if the name is not a minimax-01 tensor. */
static int map_name(const char *gn, char *out, void *ctx) {
    const mm_config *c = ctx;
    static const struct { const char *g, *hf; } top[] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(gn, top[i].g)) {
            snprintf(out, MM_GGUF_MAPPED_NAME, "%s", top[i].hf);
            return 0;
        }
    int layer, used = 0;
    if (sscanf(gn, "blk.%d.%n", &layer, &used) != 1 || used == 0 || layer < 0 || layer >= c->n_layers) return -1;
    const char *rest = gn + used;
    int lin = c->layer_type[layer] == MM_LAYER_LIGHTNING;
    static const struct { const char *g, *hf; int only; } per[] = {  /* only: 0 both, 1 lightning, 2 softmax */
        {"attn_norm.weight", "input_layernorm.weight", 0},
        {"ffn_norm.weight", "post_attention_layernorm.weight", 0},
        {"attn_qkv.weight", "self_attn.qkv_proj.weight", 1},
        {"attn_gate.weight", "self_attn.output_gate.weight", 1},
        {"attn_norm_2.weight", "self_attn.norm.weight", 1},
        {"attn_q.weight", "self_attn.q_proj.weight", 2},
        {"attn_k.weight", "self_attn.k_proj.weight", 2},
        {"attn_v.weight", "self_attn.v_proj.weight", 2},
        {"ffn_gate_inp.weight", "block_sparse_moe.gate.weight", 0},
        {"ffn_gate_exps.weight", "mlp.experts.gate_proj", 0},
        {"ffn_up_exps.weight", "mlp.experts.up_proj", 0},
        {"ffn_down_exps.weight", "mlp.experts.down_proj", 0},
    };
    if (!strcmp(rest, "attn_output.weight")) {
        snprintf(out, MM_GGUF_MAPPED_NAME, "model.layers.%d.self_attn.%s", layer, lin ? "out_proj.weight" : "o_proj.weight");
        return 0;
    }
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++)
        if (!strcmp(rest, per[i].g)) {
            if ((per[i].only == 1 && !lin) || (per[i].only == 2 && lin)) return -1;
            snprintf(out, MM_GGUF_MAPPED_NAME, "model.layers.%d.%s", layer, per[i].hf);
            return 0;
        }
    return -1;
}

int mm_gguf_load_model(const char *path, mm_config *cfg, struct mm_weights **wout) {
    *wout = NULL;
    mm_gguf *g = mm_gguf_open(path);
    if (!g) return -1;
    if (mm_gguf_read_config(g, cfg) < 0) {
        mm_gguf_close(g);
        return -1;
    }
    *wout = mm_gguf_weights(g, map_name, cfg, "a minimax-01 model with this layer layout");
    return *wout ? 0 : -1;
}

/* ---------------------------------------------------------------- tokenizer */
/* The GPT-4o (o200k) split that MiniMax-Text-01's tokenizer.json uses (../shared/tokenizer/README.md); llama.cpp
 * runs the same expression for pre types "gpt-4o" and "minimax-m2". */
static const char MM_O200K_REGEX[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static int jflag(json_t *o, const char *k, int def) {
    json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* The llama.cpp pre type equivalent to tokenizer.json's normalizer + pre_tokenizer, or NULL. */
static const char *json_pre_type(json_t *root) {
    json_t *norm = json_object_get(root, "normalizer");
    const char *nt = json_string_value(json_object_get(norm, "type"));
    int nfc = nt && !strcmp(nt, "NFC");
    if (norm && !json_is_null(norm) && !nfc) return NULL;
    json_t *pt = json_object_get(root, "pre_tokenizer");
    const char *ptt = json_string_value(json_object_get(pt, "type"));
    if (!ptt) return NULL;
    if (!strcmp(ptt, "ByteLevel")) {
        if (nfc || jflag(pt, "add_prefix_space", 0) || !jflag(pt, "use_regex", 1)) return NULL;
        return "gpt-2"; /* llama.cpp's name for GPT-2's split ("gpt2" is its tokenizer *model* name, not a pre type) */
    }
    if (strcmp(ptt, "Sequence")) return NULL;
    json_t *steps = json_object_get(pt, "pretokenizers");
    if (json_array_size(steps) != 2) return NULL;
    json_t *sp = json_array_get(steps, 0), *bl = json_array_get(steps, 1);
    const char *st = json_string_value(json_object_get(sp, "type")), *bt = json_string_value(json_object_get(bl, "type"));
    if (!st || !bt || strcmp(st, "Split") || strcmp(bt, "ByteLevel")) return NULL;
    const char *re = json_string_value(json_object_get(json_object_get(sp, "pattern"), "Regex"));
    const char *beh = json_string_value(json_object_get(sp, "behavior"));
    int inv = jflag(sp, "invert", 0);
    int tiles = beh && ((!strcmp(beh, "Removed") && inv) || (!strcmp(beh, "Isolated") && !inv));
    if (!re || strcmp(re, MM_O200K_REGEX) || !tiles || jflag(bl, "add_prefix_space", 0) || jflag(bl, "use_regex", 1))
        return NULL;
    return nfc ? "minimax-m2" : "gpt-4o";
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* llama.cpp refuses a vocabulary in which two ids have the same text (an added token repeating a vocab entry, a
 * "[PAD<id>]" filler that collides): find it here and name both ids. */
static int check_unique_tokens(const char *file, char **tokens, int64_t n) {
    char **sorted = mm_xmalloc(sizeof *sorted * (size_t)(n ? n : 1));
    memcpy(sorted, tokens, sizeof *sorted * (size_t)n);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str_ptr);
    const char *dup = NULL;
    for (int64_t i = 1; i < n && !dup; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) dup = sorted[i];
    free(sorted);
    if (!dup) return 0;
    int64_t a = -1, b = -1;
    for (int64_t i = 0; i < n; i++)
        if (!strcmp(tokens[i], dup)) {
            if (a < 0) a = i;
            else if (b < 0) b = i;
        }
    mm_set_error("%s: ids %lld and %lld have the same text \"%s\": llama.cpp refuses duplicate tokens", file, (long long)a,
                 (long long)b, dup);
    return -1;
}

/* A tokenizer_config.json special-token entry: a string or {"content": ...}. */
static const char *tok_cfg_str(json_t *cfg, const char *key) {
    json_t *v = json_object_get(cfg, key);
    if (json_is_string(v)) return json_string_value(v);
    return json_string_value(json_object_get(v, "content"));
}

int mm_gguf_write_tokenizer_json(mm_gguf_writer *w, const char *tpath, int n_vocab_min) {
    char file[4096], cfgfile[4096];
    struct stat st;
    if (stat(tpath, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(file, sizeof file, "%s/tokenizer.json", tpath);
    else snprintf(file, sizeof file, "%s", tpath);
    snprintf(cfgfile, sizeof cfgfile, "%s", file);
    char *slash = strrchr(cfgfile, '/');
    snprintf(slash ? slash + 1 : cfgfile, sizeof cfgfile - (size_t)(slash ? slash + 1 - cfgfile : 0), "tokenizer_config.json");
    json_error_t jerr;
    json_t *root = json_load_file(file, 0, &jerr);
    if (!root) {
        mm_set_error("%s: cannot read tokenizer: %s (line %d)", file, jerr.text, jerr.line);
        return -1;
    }
    json_t *tcfg = json_load_file(cfgfile, 0, &jerr); /* optional */
    int rc = -1;
    char **tokens = NULL, **merges = NULL;
    int32_t *types = NULL;
    int64_t n = 0;
    size_t nm = 0;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab"), *jm = json_object_get(model, "merges");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if ((mtype && strcmp(mtype, "BPE")) || !json_is_object(vocab) || !json_is_array(jm)) {
        mm_set_error("%s: not a BPE tokenizer with model.vocab and model.merges", file);
        goto out;
    }
    const char *pre = json_pre_type(root);
    if (!pre) {
        mm_set_error("%s: the normalizer / pre_tokenizer has no llama.cpp equivalent (supported: MiniMax's NFC + GPT-4o "
                     "split, the GPT-4o split, GPT-2 ByteLevel)", file);
        goto out;
    }
    const char *key;
    json_t *val;
    json_t *added = json_object_get(root, "added_tokens");
    n = n_vocab_min > 0 ? n_vocab_min : 0;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id > 100000000) {
            mm_set_error("%s: model.vocab[\"%s\"] is not an id in [0, 1e8]", file, key);
            goto out;
        }
        if (id + 1 > n) n = id + 1;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_int_t id = json_integer_value(json_object_get(json_array_get(added, i), "id"));
        if (id < 0 || id > 100000000 || !json_string_value(json_object_get(json_array_get(added, i), "content"))) {
            mm_set_error("%s: added_tokens[%zu] needs an id in [0, 1e8] and a content string", file, i);
            goto out;
        }
        if (id + 1 > n) n = id + 1;
    }
    if (n_vocab_min > 0 && n > n_vocab_min) {
        mm_set_error("%s: the tokenizer has ids up to %lld but the model's embedding has %d rows: llama.cpp sizes the "
                     "vocabulary from the token list, so the file would not load", file, (long long)n - 1, n_vocab_min);
        goto out;
    }
    tokens = mm_xcalloc((size_t)n, sizeof *tokens);
    types = mm_xcalloc((size_t)n, sizeof *types);
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        tokens[id] = mm_xstrdup(key);
        types[id] = TT_NORMAL;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        free(tokens[id]);
        tokens[id] = mm_xstrdup(json_string_value(json_object_get(a, "content")));
        types[id] = jflag(a, "special", 0) ? TT_CONTROL : TT_USER_DEFINED;
    }
    for (int64_t i = 0; i < n; i++)
        if (!tokens[i]) {
            char b[32];
            snprintf(b, sizeof b, "[PAD%lld]", (long long)i);
            tokens[i] = mm_xstrdup(b);
            types[i] = TT_UNUSED;
        }
    if (check_unique_tokens(file, tokens, n) < 0) goto out;
    nm = json_array_size(jm);
    merges = mm_xcalloc(nm ? nm : 1, sizeof *merges);
    for (size_t i = 0; i < nm; i++) {
        json_t *m = json_array_get(jm, i);
        if (json_is_string(m)) {
            merges[i] = mm_xstrdup(json_string_value(m));
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            const char *a = json_string_value(json_array_get(m, 0)), *b = json_string_value(json_array_get(m, 1));
            merges[i] = mm_xmalloc(strlen(a) + strlen(b) + 2);
            sprintf(merges[i], "%s %s", a, b);
        } else {
            mm_set_error("%s: model.merges[%zu] is neither \"a b\" nor [a, b]", file, i);
            goto out;
        }
    }
    if (mm_gguf_w_str(w, "tokenizer.ggml.model", "gpt2") || mm_gguf_w_str(w, "tokenizer.ggml.pre", pre) ||
        mm_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (uint64_t)n, (const char *const *)tokens) ||
        mm_gguf_w_arr(w, "tokenizer.ggml.token_type", MM_GGUF_I32, (uint64_t)n, types) ||
        mm_gguf_w_arr_str(w, "tokenizer.ggml.merges", (uint64_t)nm, (const char *const *)merges))
        goto out;
    /* special ids from tokenizer_config.json (looked up among the tokens) */
    static const struct { const char *cfg, *key; } sp[] = {{"bos_token", "tokenizer.ggml.bos_token_id"},
                                                           {"eos_token", "tokenizer.ggml.eos_token_id"},
                                                           {"unk_token", "tokenizer.ggml.unknown_token_id"},
                                                           {"pad_token", "tokenizer.ggml.padding_token_id"}};
    for (size_t k = 0; tcfg && k < sizeof sp / sizeof sp[0]; k++) {
        const char *s = tok_cfg_str(tcfg, sp[k].cfg);
        if (!s) continue;
        for (int64_t i = 0; i < n; i++)
            if (types[i] != TT_UNUSED && !strcmp(tokens[i], s)) {
                if (mm_gguf_w_u32(w, sp[k].key, (uint32_t)i)) goto out;
                break;
            }
    }
    const json_t *pp = json_object_get(root, "post_processor");
    if (mm_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 0) || mm_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 0))
        goto out;
    (void)pp; /* tokenizer.json's post_processor adds nothing for MiniMax (null); BOS is never added */
    const char *tmpl = tcfg ? json_string_value(json_object_get(tcfg, "chat_template")) : NULL;
    if (tmpl && mm_gguf_w_str(w, "tokenizer.chat_template", tmpl)) goto out;
    rc = 0;
out:
    for (int64_t i = 0; tokens && i < n; i++) free(tokens[i]);
    for (size_t i = 0; merges && i < nm; i++) free(merges[i]);
    free(tokens);
    free(types);
    free(merges);
    json_decref(root);
    if (tcfg) json_decref(tcfg);
    return rc;
}

mm_tokenizer *mm_tokenizer_load_gguf(const char *path) {
    mm_gguf *g = mm_gguf_open(path);
    if (!g) return NULL;
    mm_tokenizer *t = NULL;
    const char *model = NULL, *pre = NULL;
    const char **vocab = NULL, **ml = NULL, **mr = NULL;
    char *mbuf = NULL;
    mm_tok_added *added = NULL;
    if (mm_gguf_get_str(g, "tokenizer.ggml.model", &model) < 0 || mm_gguf_get_str(g, "tokenizer.ggml.pre", &pre) < 0) goto out;
    if (!model || !strcmp(model, "none") || !strcmp(model, "no_vocab")) {
        mm_set_error("%s: no tokenizer in this GGUF (tokenizer.ggml.model is %s%s%s); pass token ids (--ids) or "
                     "--tokenizer FILE", path, model ? "\"" : "missing", model ? model : "", model ? "\"" : "");
        goto out;
    }
    if (strcmp(model, "gpt2")) {
        mm_set_error("%s: tokenizer.ggml.model \"%s\" is not supported (only gpt2, byte-level BPE)", path, model);
        goto out;
    }
    mm_tok_pretok steps[2];
    int nsteps, nfc;
    if (!pre || !strcmp(pre, "default") || !strcmp(pre, "gpt-2") || !strcmp(pre, "gpt2") /* as written before 2026-12 */) {
        steps[0] = (mm_tok_pretok){.type = MM_PRETOK_BYTELEVEL, .use_regex = 1};
        nsteps = 1;
        nfc = 0;
    } else if (!strcmp(pre, "minimax-m2") || !strcmp(pre, "minimax-01") || !strcmp(pre, "gpt-4o")) {
        steps[0] = (mm_tok_pretok){.type = MM_PRETOK_SPLIT, .regex = MM_O200K_REGEX, .behavior = MM_SPLIT_REMOVED, .invert = 1};
        steps[1] = (mm_tok_pretok){.type = MM_PRETOK_BYTELEVEL, .use_regex = 0};
        nsteps = 2;
        nfc = strcmp(pre, "gpt-4o") != 0; /* MiniMax's tokenizer.json normalizes with NFC; o200k itself does not */
    } else {
        mm_set_error("%s: tokenizer.ggml.pre \"%s\" is not supported (minimax-m2, gpt-4o, gpt-2, default)", path, pre);
        goto out;
    }
    int at;
    uint64_t n, nm, ntt = 0;
    if (mm_gguf_get_arr(g, "tokenizer.ggml.tokens", &at, &n, NULL) != 1 || at != MM_GGUF_STRING || n == 0 ||
        n > 100000000) {
        if (!*mm_last_error() || strstr(mm_last_error(), "tokens") == NULL)
            mm_set_error("%s: tokenizer.ggml.tokens must be a non-empty string array", path);
        goto out;
    }
    int tt_type = -1;
    int r = mm_gguf_get_arr(g, "tokenizer.ggml.token_type", &tt_type, &ntt, NULL);
    if (r < 0) goto out;
    if (r == 1 && (ntt != n || tt_type == MM_GGUF_STRING || tt_type == MM_GGUF_F32 || tt_type == MM_GGUF_F64)) {
        mm_set_error("%s: tokenizer.ggml.token_type must hold %llu integers", path, (unsigned long long)n);
        goto out;
    }
    if (mm_gguf_get_arr(g, "tokenizer.ggml.merges", &at, &nm, NULL) != 1 || at != MM_GGUF_STRING || nm > 100000000) {
        mm_set_error("%s: tokenizer.ggml.merges must be a string array", path);
        goto out;
    }
    vocab = mm_xcalloc((size_t)n, sizeof *vocab);
    added = mm_xcalloc((size_t)n, sizeof *added);
    int n_added = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = mm_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &len);
        int64_t ty = r == 1 ? mm_gguf_arr_int(g, "tokenizer.ggml.token_type", i) : TT_NORMAL;
        if (strlen(s) != len) {
            mm_set_error("%s: token %llu contains a NUL byte", path, (unsigned long long)i);
            goto out;
        }
        if (ty == TT_CONTROL || ty == TT_USER_DEFINED) {
            if (!len) continue;
            int sp = ty == TT_CONTROL;
            added[n_added++] = (mm_tok_added){s, (int32_t)i, sp, !sp, 0, 0, 0};
        } else if (ty != TT_UNUSED) {
            vocab[i] = s;
        }
    }
    ml = mm_xcalloc((size_t)(nm ? nm : 1), sizeof *ml);
    mr = mm_xcalloc((size_t)(nm ? nm : 1), sizeof *mr);
    size_t total = 0;
    for (uint64_t i = 0; i < nm; i++) {
        size_t len;
        mm_gguf_arr_str(g, "tokenizer.ggml.merges", i, &len);
        total += len + 1;
    }
    mbuf = mm_xmalloc(total + 1);
    size_t o = 0;
    for (uint64_t i = 0; i < nm; i++) {
        size_t len;
        const char *s = mm_gguf_arr_str(g, "tokenizer.ggml.merges", i, &len);
        const char *spc = memchr(s, ' ', len);
        if (!spc || spc == s || spc == s + len - 1 || memchr(spc + 1, ' ', len - (size_t)(spc + 1 - s))) {
            mm_set_error("%s: tokenizer.ggml.merges[%llu] = \"%s\" is not \"left right\"", path, (unsigned long long)i, s);
            goto out;
        }
        memcpy(mbuf + o, s, len + 1);
        mbuf[o + (size_t)(spc - s)] = 0;
        ml[i] = mbuf + o;
        mr[i] = mbuf + o + (size_t)(spc - s) + 1;
        o += len + 1;
    }
    mm_tok_parts p = {.n_vocab = (int32_t)n, .vocab = vocab, .n_merges = (int32_t)nm, .merge_left = ml,
                      .merge_right = mr, .n_added = n_added, .added = added, .nfc = nfc, .n_pretok = nsteps,
                      .pretok = steps, .source = path};
    t = mm_tokenizer_from_parts(&p);
out:
    free(vocab);
    free(added);
    free(ml);
    free(mr);
    free(mbuf);
    mm_gguf_close(g);
    return t;
}

