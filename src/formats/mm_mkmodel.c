/* mm_mkmodel.c — random-weight MiniMax-01 checkpoints in the Hugging Face layout (config.json + safetensors).
 * The tensor list follows the released checkpoints (spec §2.1) or, with the fused layout, newer transformers
 * (spec §2.2). Values: counter-based Box-Muller draws keyed by (seed, canonical name, element index). */
#include "formats/mm_mkmodel.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "formats/mm_safetensors.h"

/* ================================================================ presets and validation */
void mm_mkmodel_default_layer_types(mm_mkmodel_params *p) {
    for (int i = 0; i < p->n_layers && i < MM_MAX_LAYERS; i++)
        p->layer_type[i] = ((i + 1) % 8 == 0 || i == p->n_layers - 1) ? MM_LAYER_SOFTMAX : MM_LAYER_LIGHTNING;
}

int mm_mkmodel_preset(mm_mkmodel_params *p, const char *name) {
    memset(p, 0, sizeof *p);
    p->pad_token_id = -1;
    p->dtype = MM_BF16;
    p->layout = MM_LAYOUT_PER_EXPERT;
    p->dialect = MM_DIALECT_REMOTE;
    p->shard_bytes = 5000000000ull;   /* HF's default max_shard_size "5GB" */
    p->vocab_size = 200064;           /* the real tokenizer's vocabulary */
    p->rope_theta = 1e7;
    if (!strcmp(name, "tiny")) {
        /* Small enough to write and run in seconds, but with the real model's quirks: NH*D != H, GQA,
         * partial rotary, layer 7 softmax, top-2 of 8 experts. Embedding + lm_head dominate the size. */
        p->hidden_size = 256;
        p->n_layers = 8;
        p->n_heads = 8;
        p->n_kv_heads = 2;
        p->head_dim = 40;
        p->rotary_dim = 20;
        p->intermediate_size = 128;
        p->n_experts = 8;
        p->top_k = 2;
        p->max_position_embeddings = 65536;
    } else if (!strcmp(name, "text01") || !strcmp(name, "vl01")) {
        p->hidden_size = 6144;
        p->n_layers = 80;
        p->n_heads = 64;
        p->n_kv_heads = 8;
        p->head_dim = 128;
        p->rotary_dim = 64;
        p->intermediate_size = 9216;
        p->n_experts = 32;
        p->top_k = 2;
        p->max_position_embeddings = 10240000;
        if (!strcmp(name, "vl01")) {   /* the same language model, with the VL release's text_config context */
            p->max_position_embeddings = 8192;
            p->vision = 1;
            p->v_hidden = 1024, p->v_layers = 24, p->v_heads = 16, p->v_ffn = 4096, p->v_image = 336, p->v_patch = 14;
        }
    } else {
        mm_set_error("unknown preset '%s' (expected tiny, text01 or vl01)", name);
        return -1;
    }
    mm_mkmodel_default_layer_types(p);
    return 0;
}

int mm_mkmodel_parse_layer_types(mm_mkmodel_params *p, const char *spec) {
    int n = 0;
    for (const char *s = spec; *s; s++) {
        int t;
        switch (*s) {
        case 'L': case 'l': case '0': t = MM_LAYER_LIGHTNING; break;
        case 'S': case 's': case 'F': case 'f': case '1': t = MM_LAYER_SOFTMAX; break;
        case ',': case ' ': continue;
        default:
            mm_set_error("layer types '%s': bad character '%c' at %d (use L or 0 for lightning, S or 1 for softmax)", spec,
                         *s, (int)(s - spec));
            return -1;
        }
        if (n >= MM_MAX_LAYERS) {
            mm_set_error("layer types '%s': more than %d layers", spec, MM_MAX_LAYERS);
            return -1;
        }
        p->layer_type[n++] = (uint8_t)t;
    }
    if (n == 0) {
        mm_set_error("layer types '%s': no layers", spec);
        return -1;
    }
    p->n_layers = n;
    return 0;
}

int mm_mkmodel_validate(const mm_mkmodel_params *p) {
#define NEED(cond, ...)                \
    do {                               \
        if (!(cond)) {                 \
            mm_set_error(__VA_ARGS__); \
            return -1;                 \
        }                              \
    } while (0)
    NEED(p->vocab_size >= 1, "vocab size must be positive (got %d)", p->vocab_size);
    NEED(p->hidden_size >= 1, "hidden size must be positive (got %d)", p->hidden_size);
    NEED(p->n_layers >= 1 && p->n_layers <= MM_MAX_LAYERS, "layers must be in [1, %d] (got %d)", MM_MAX_LAYERS, p->n_layers);
    NEED(p->n_heads >= 1, "heads must be positive (got %d)", p->n_heads);
    NEED(p->n_kv_heads >= 1, "kv-heads must be positive (got %d)", p->n_kv_heads);
    NEED(p->n_heads % p->n_kv_heads == 0, "heads (%d) must be a multiple of kv-heads (%d)", p->n_heads, p->n_kv_heads);
    NEED(p->head_dim >= 2 && p->head_dim % 2 == 0, "head-dim must be even and >= 2 (got %d)", p->head_dim);
    NEED(p->rotary_dim >= 2 && p->rotary_dim % 2 == 0 && p->rotary_dim <= p->head_dim,
         "rotary-dim must be even, >= 2 and <= head-dim %d (got %d)", p->head_dim, p->rotary_dim);
    NEED(p->intermediate_size >= 1, "ffn (intermediate size) must be positive (got %d)", p->intermediate_size);
    NEED(p->n_experts >= 1, "experts must be positive (got %d)", p->n_experts);
    NEED(p->top_k >= 1 && p->top_k <= p->n_experts, "top-k must be in [1, experts = %d] (got %d)", p->n_experts, p->top_k);
    NEED(p->max_position_embeddings >= 1, "max_position_embeddings must be positive");
    NEED(p->rope_theta > 0, "rope_theta must be positive");
    NEED(p->dtype == MM_F32 || p->dtype == MM_F16 || p->dtype == MM_BF16, "dtype must be f32, f16 or bf16");
    NEED(p->layout == MM_LAYOUT_PER_EXPERT || p->layout == MM_LAYOUT_FUSED, "layout must be per-expert or fused");
    NEED(p->dialect == MM_DIALECT_REMOTE || p->dialect == MM_DIALECT_HF, "dialect must be remote or hf");
    /* Every dimension product must stay far from overflow: the largest tensor is qkv [3*NH*D, H] or an
     * expert stack [E, 2I, H]; the bound keeps element counts below 2^50. */
    NEED((int64_t)p->n_heads * p->head_dim <= (1 << 24), "heads x head-dim = %lld is too large", (long long)p->n_heads * p->head_dim);
    NEED((int64_t)p->vocab_size <= (1 << 24) && p->hidden_size <= (1 << 20) && p->intermediate_size <= (1 << 22) &&
             p->n_experts <= 4096,
         "dimensions too large (vocab <= 2^24, hidden <= 2^20, ffn <= 2^22, experts <= 4096)");
    for (int i = 0; i < p->n_layers; i++)
        NEED(p->layer_type[i] <= MM_LAYER_SOFTMAX, "layer %d has an invalid type %d", i, p->layer_type[i]);
    if (p->vision) {
        NEED(p->v_hidden >= 1 && p->v_hidden <= (1 << 16) && p->v_heads >= 1 && p->v_hidden % p->v_heads == 0,
             "vision-hidden (%d) must be a positive multiple of vision-heads (%d)", p->v_hidden, p->v_heads);
        NEED(p->v_layers >= 1 && p->v_layers <= 1024, "vision-layers must be in [1, 1024] (got %d)", p->v_layers);
        NEED(p->v_ffn >= 1 && p->v_ffn <= (1 << 18), "vision-ffn must be in [1, 2^18] (got %d)", p->v_ffn);
        NEED(p->v_patch >= 1 && p->v_image == 336 && p->v_image % p->v_patch == 0,
             "the vision image size must be 336 (the pinpoints are multiples of it) and a multiple of the patch");
    }
    NEED(p->arch >= MM_ARCH_CAUSAL_LM && p->arch <= MM_ARCH_QA, "unknown architecture %d", p->arch);
    NEED(p->arch == MM_ARCH_CAUSAL_LM || p->dialect == MM_DIALECT_HF,
         "a task head (%s) exists in transformers' native classes only: use the hf dialect", mm_arch_name(p->arch));
    NEED(p->arch == MM_ARCH_CAUSAL_LM || !p->vision, "a task head (%s) sits on a text model only, not on VL-01",
         mm_arch_name(p->arch));
    NEED(p->num_labels >= 0 && p->num_labels <= 65536, "labels must be in [1, 65536] (got %d)", p->num_labels);
    NEED(p->pad_token_id < p->vocab_size, "pad token id %d is outside the vocabulary %d", p->pad_token_id, p->vocab_size);
    if (p->labels) {
        int n = 1;
        for (const char *c = p->labels; *c; c++) {
            n += *c == ',';
            NEED(*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20, "label names may not hold quotes, backslashes or control characters");
        }
        NEED(!p->num_labels || p->num_labels == n, "%d label names for %d labels", n, p->num_labels);
    }
#undef NEED
    return 0;
}

int mm_mkmodel_num_labels(const mm_mkmodel_params *p) {
    if (p->arch == MM_ARCH_QA) return 2;
    if (p->num_labels) return p->num_labels;
    int n = 1;
    for (const char *c = p->labels; c && *c; c++) n += *c == ',';
    return p->labels ? n : 2;
}

/* ================================================================ config.json */
typedef struct {
    char key[64];
    char *val;   /* JSON text, malloc'd */
} mm_kv;
typedef struct {
    mm_kv *kv;
    int n, cap;
} mm_kvs;

static void kv_put(mm_kvs *k, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kv_put(mm_kvs *k, const char *key, const char *fmt, ...) {
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->kv = mm_xrealloc(k->kv, sizeof *k->kv * (size_t)k->cap);
    }
    mm_kv *e = &k->kv[k->n++];
    snprintf(e->key, sizeof e->key, "%s", key);
    char small[256];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    e->val = mm_xmalloc((size_t)n + 1);
    if ((size_t)n < sizeof small)
        memcpy(e->val, small, (size_t)n + 1);
    else
        vsnprintf(e->val, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
}

/* Shortest text that reads back as exactly v, always with a '.' or an exponent (a JSON float, like Python). */
static void fmt_double(char *buf, size_t n, double v) {
    if (v == floor(v) && fabs(v) < 1e16) {   /* 10000000.0, as Python writes it */
        snprintf(buf, n, "%.1f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) {
        size_t l = strlen(buf);
        if (l + 3 <= n) memcpy(buf + l, ".0", 3);
    }
}

static int kv_cmp(const void *a, const void *b) { return strcmp(((const mm_kv *)a)->key, ((const mm_kv *)b)->key); }

/* Python json.dumps(indent=2, sort_keys=True) style. */
static char *kv_render(mm_kvs *k) {
    qsort(k->kv, (size_t)k->n, sizeof *k->kv, kv_cmp);
    size_t len = 3;
    for (int i = 0; i < k->n; i++) len += strlen(k->kv[i].key) + strlen(k->kv[i].val) + 10;
    char *out = mm_xmalloc(len), *p = out;
    p += sprintf(p, "{\n");
    for (int i = 0; i < k->n; i++) {
        p += sprintf(p, "  \"%s\": %s%s\n", k->kv[i].key, k->kv[i].val, i + 1 < k->n ? "," : "");
        free(k->kv[i].val);
    }
    sprintf(p, "}\n");
    free(k->kv);
    return out;
}

/* A JSON array of the layer types, one item per line at indent 4: ints (remote) or strings (hf). */
static char *layer_list(const mm_mkmodel_params *p, int as_strings) {
    size_t cap = (size_t)p->n_layers * 32 + 16;
    char *s = mm_xmalloc(cap), *q = s;
    q += sprintf(q, "[\n");
    for (int i = 0; i < p->n_layers; i++) {
        if (as_strings)
            q += sprintf(q, "    \"%s\"", p->layer_type[i] == MM_LAYER_SOFTMAX ? "full_attention" : "linear_attention");
        else
            q += sprintf(q, "    %d", p->layer_type[i]);
        q += sprintf(q, "%s\n", i + 1 < p->n_layers ? "," : "");
    }
    sprintf(q, "  ]");
    return s;
}

static const char *torch_dtype(mm_dtype t) { return t == MM_F32 ? "float32" : t == MM_F16 ? "float16" : "bfloat16"; }

static char *text_config_json(const mm_mkmodel_params *p) {
    mm_kvs k = {0};
    char alpha[40], beta[40], theta[40], eps[40];
    fmt_double(alpha, sizeof alpha, pow(2.0 * p->n_layers, 0.25));   /* DeepNorm: (2L)^(1/4) */
    fmt_double(beta, sizeof beta, 1.0);
    fmt_double(eps, sizeof eps, 1e-5);
    int remote = p->dialect == MM_DIALECT_REMOTE;
    if (remote && p->rope_theta == floor(p->rope_theta) && p->rope_theta < 1e15)
        snprintf(theta, sizeof theta, "%.0f", p->rope_theta);   /* the released file writes 10000000 */
    else
        fmt_double(theta, sizeof theta, p->rope_theta);
    char *layers = layer_list(p, !remote);

    kv_put(&k, "attention_dropout", "0.0");
    kv_put(&k, "bos_token_id", "null");
    kv_put(&k, "eos_token_id", "null");
    kv_put(&k, "head_dim", "%d", p->head_dim);
    kv_put(&k, "hidden_act", "\"silu\"");
    kv_put(&k, "hidden_size", "%d", p->hidden_size);
    kv_put(&k, "initializer_range", "0.02");
    kv_put(&k, "intermediate_size", "%d", p->intermediate_size);
    kv_put(&k, "max_position_embeddings", "%d", p->max_position_embeddings);
    kv_put(&k, "num_attention_heads", "%d", p->n_heads);
    kv_put(&k, "num_experts_per_tok", "%d", p->top_k);
    kv_put(&k, "num_hidden_layers", "%d", p->n_layers);
    kv_put(&k, "num_key_value_heads", "%d", p->n_kv_heads);
    kv_put(&k, "num_local_experts", "%d", p->n_experts);
    kv_put(&k, "output_router_logits", "false");
    kv_put(&k, "postnorm", "true");
    kv_put(&k, "rms_norm_eps", "%s", eps);
    kv_put(&k, "rope_theta", "%s", theta);
    kv_put(&k, "rotary_dim", "%d", p->rotary_dim);
    kv_put(&k, "router_aux_loss_coef", "0.001");
    kv_put(&k, "router_jitter_noise", "0.0");
    kv_put(&k, "shared_intermediate_size", "0");
    kv_put(&k, "sliding_window", "null");
    kv_put(&k, "tie_word_embeddings", "false");
    kv_put(&k, "use_cache", "true");
    kv_put(&k, "vocab_size", "%d", p->vocab_size);
    if (p->pad_token_id >= 0) kv_put(&k, "pad_token_id", "%d", p->pad_token_id);
    if (p->arch == MM_ARCH_SEQ_CLS || p->arch == MM_ARCH_TOKEN_CLS) {   /* id2label / label2id, transformers' layout */
        int n = mm_mkmodel_num_labels(p);
        size_t cap = 64 + (size_t)n * 48 + (p->labels ? 2 * strlen(p->labels) : 0);
        char *i2l = mm_xmalloc(cap), *l2i = mm_xmalloc(cap), *q = i2l, *r = l2i;
        const char *lab = p->labels;
        q += sprintf(q, "{\n");
        r += sprintf(r, "{\n");
        for (int i = 0; i < n; i++) {
            char name[256];
            if (lab) {
                size_t len = strcspn(lab, ",");
                snprintf(name, sizeof name, "%.*s", (int)(len < 255 ? len : 255), lab);
                lab += len + (lab[len] == ',');
            } else {
                snprintf(name, sizeof name, "LABEL_%d", i);
            }
            q += sprintf(q, "    \"%d\": \"%s\"%s\n", i, name, i + 1 < n ? "," : "");
            r += sprintf(r, "    \"%s\": %d%s\n", name, i, i + 1 < n ? "," : "");
        }
        sprintf(q, "  }");
        sprintf(r, "  }");
        kv_put(&k, "id2label", "%s", i2l);
        kv_put(&k, "label2id", "%s", l2i);
        free(i2l);
        free(l2i);
    }
    if (remote) {
        kv_put(&k, "architectures", "[\n    \"MiniMaxText01ForCausalLM\"\n  ]");
        kv_put(&k, "model_type", "\"minimax_text_01\"");
        kv_put(&k, "auto_map",
               "{\n    \"AutoConfig\": \"configuration_minimax_text_01.MiniMaxText01Config\",\n"
               "    \"AutoModelForCausalLM\": \"modeling_minimax_text_01.MiniMaxText01ForCausalLM\"\n  }");
        kv_put(&k, "attn_type_list", "%s", layers);
        kv_put(&k, "layernorm_full_attention_alpha", "%s", alpha);
        kv_put(&k, "layernorm_full_attention_beta", "%s", beta);
        kv_put(&k, "layernorm_linear_attention_alpha", "%s", alpha);
        kv_put(&k, "layernorm_linear_attention_beta", "%s", beta);
        kv_put(&k, "layernorm_mlp_alpha", "%s", alpha);
        kv_put(&k, "layernorm_mlp_beta", "%s", beta);
        kv_put(&k, "shared_moe_mode", "\"sigmoid\"");
        kv_put(&k, "torch_dtype", "\"%s\"", torch_dtype(p->dtype));
        kv_put(&k, "transformers_version", "\"4.45.2\"");
    } else {
        kv_put(&k, "architectures", "[\n    \"%s\"\n  ]", mm_arch_name(p->arch));
        kv_put(&k, "model_type", "\"minimax\"");
        kv_put(&k, "block_size", "256");
        kv_put(&k, "layer_types", "%s", layers);
        kv_put(&k, "full_attn_alpha_factor", "%s", alpha);
        kv_put(&k, "full_attn_beta_factor", "%s", beta);
        kv_put(&k, "linear_attn_alpha_factor", "%s", alpha);
        kv_put(&k, "linear_attn_beta_factor", "%s", beta);
        kv_put(&k, "mlp_alpha_factor", "%s", alpha);
        kv_put(&k, "mlp_beta_factor", "%s", beta);
        kv_put(&k, "dtype", "\"%s\"", torch_dtype(p->dtype));
        kv_put(&k, "transformers_version", "\"4.57.6\"");
    }
    for (int i = 0; p->vision && i < k.n; i++) {   /* the VL release's text_config (remote) or the native one's */
        const char *key = k.kv[i].key, *val = NULL;
        if (remote && !strcmp(key, "shared_intermediate_size")) val = "[\n    0\n  ]";
        else if (!remote && !strcmp(key, "model_type")) val = "\"minimax_vl_01_text\"";
        else if (!remote && !strcmp(key, "architectures")) val = "[\n    \"MiniMaxVL01TextModel\"\n  ]";
        if (val) {
            free(k.kv[i].val);
            k.kv[i].val = mm_xstrdup(val);
        }
    }
    free(layers);
    return kv_render(&k);
}

/* The 28 released pinpoints, one [w, h] pair per line at indent `in`. */
static char *pinpoints_json(int in) {
    static const int sides[6] = {336, 672, 1008, 1344, 1680, 2016}, max_h[6] = {2016, 2016, 2016, 1344, 1008, 1008};
    char *s = mm_xmalloc(4096), *q = s;
    q += sprintf(q, "[\n");
    int first = 1;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6 && sides[j] <= max_h[i]; j++) {
            q += sprintf(q, "%s%*s[\n%*s%d,\n%*s%d\n%*s]", first ? "" : ",\n", in + 2, "", in + 4, "", sides[i], in + 4, "",
                         sides[j], in + 2, "");
            first = 0;
        }
    sprintf(q, "\n%*s]", in, "");
    return s;
}

/* s with every line after the first indented by n more spaces (a nested object in the 2-space layout). */
static char *indent_json(const char *s, int n) {
    size_t lines = 1;
    for (const char *c = s; *c; c++) lines += *c == '\n';
    char *out = mm_xmalloc(strlen(s) + lines * (size_t)n + 1), *o = out;
    for (const char *c = s; *c; c++) {
        *o++ = *c;
        if (*c == '\n' && c[1]) o += sprintf(o, "%*s", n, "");
    }
    *o = 0;
    while (o > out && o[-1] == '\n') *--o = 0;
    return out;
}

char *mm_mkmodel_config_json(const mm_mkmodel_params *p) {
    char *text = text_config_json(p);
    if (!p->vision) return text;
    mm_kvs k = {0};
    char *tc = indent_json(text, 2), *pins = pinpoints_json(2), eps[40];
    free(text);
    fmt_double(eps, sizeof eps, 1e-5);
    const int remote = p->dialect == MM_DIALECT_REMOTE;
    kv_put(&k, "architectures", "[\n    \"MiniMaxVL01ForConditionalGeneration\"\n  ]");
    if (remote)
        kv_put(&k, "auto_map", "{\n    \"AutoConfig\": \"configuration_minimax_vl_01.MiniMaxVL01Config\",\n"
                               "    \"AutoModelForCausalLM\": \"modeling_minimax_vl_01.MiniMaxVL01ForConditionalGeneration\"\n  }");
    kv_put(&k, "ignore_index", "-100");
    kv_put(&k, "image_grid_pinpoints", "%s", pins);
    kv_put(&k, "image_token_index", "200025");
    kv_put(&k, "model_type", "\"minimax_vl_01\"");
    kv_put(&k, "projector_hidden_act", "\"gelu\"");
    kv_put(&k, "text_config", "%s", tc);
    kv_put(&k, remote ? "torch_dtype" : "dtype", "\"%s\"", torch_dtype(p->dtype));
    kv_put(&k, "transformers_version", remote ? "\"4.42.3\"" : "\"4.57.6\"");
    kv_put(&k, "vision_config",
           "{\n%s    \"hidden_act\": \"gelu\",\n    \"hidden_size\": %d,\n    \"image_size\": %d,\n    \"intermediate_size\": %d,\n"
           "    \"layer_norm_eps\": %s,\n    \"model_type\": \"clip_vision_model\",\n    \"num_attention_heads\": %d,\n"
           "    \"num_hidden_layers\": %d,\n    \"patch_size\": %d,\n    \"projection_dim\": %d,\n    \"vocab_size\": 32000\n  }",
           remote ? "    \"auto_map\": {\n      \"AutoModel\": \"modeling_clip.CLIPVisionModel\"\n    },\n" : "", p->v_hidden,
           p->v_image, p->v_ffn, eps, p->v_heads, p->v_layers, p->v_patch, p->hidden_size);
    kv_put(&k, "vision_feature_layer", "-1");
    kv_put(&k, "vision_feature_select_strategy", "\"default\"");
    free(tc);
    free(pins);
    return kv_render(&k);
}

char *mm_mkmodel_preprocessor_json(const mm_mkmodel_params *p) {
    mm_kvs k = {0};
    char *pins = pinpoints_json(2);
    kv_put(&k, "image_grid_pinpoints", "%s", pins);
    kv_put(&k, "image_mean", "[\n    0.48145466,\n    0.4578275,\n    0.40821073\n  ]");
    kv_put(&k, "image_std", "[\n    0.26862954,\n    0.26130258,\n    0.27577711\n  ]");
    kv_put(&k, "patch_size", "%d", p->v_patch);
    kv_put(&k, "process_image_mode", "\"anyres\"");
    kv_put(&k, "size", "[\n    %d,\n    %d\n  ]", p->v_image, p->v_image);
    free(pins);
    return kv_render(&k);
}

/* ================================================================ values */
static inline uint64_t mm_mix64(uint64_t z) {   /* the splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t mm_name_key(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull;   /* FNV-1a of the name, then mixed with the seed */
    for (const char *s = name; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return mm_mix64(h ^ mm_mix64(seed + 0x9e3779b97f4a7c15ull));
}
/* Standard normals for the pair of elements (2j, 2j+1) of the stream `key` (Box-Muller on one 64-bit draw). */
static inline void mm_normal_pair(uint64_t key, uint64_t j, float *n0, float *n1) {
    uint64_t r = mm_mix64(key + (j + 1) * 0x9e3779b97f4a7c15ull);
    float u1 = ((float)(uint32_t)(r >> 40) + 0.5f) * (1.0f / 16777216.0f);   /* (0, 1), 24 bits */
    float u2 = (float)(uint32_t)(r & 0xffffff) * (1.0f / 16777216.0f);       /* [0, 1) */
    float rad = sqrtf(-2.0f * logf(u1)), a = 6.28318530717958647f * u2;
    *n0 = rad * cosf(a);
    *n1 = rad * sinf(a);
}
static inline float mm_normal_at(uint64_t key, uint64_t idx) {
    float a, b;
    mm_normal_pair(key, idx >> 1, &a, &b);
    return idx & 1 ? b : a;
}

/* How a tensor is initialised (the golden cases' scheme, so logits are spread out). */
enum { INIT_EMBED, INIT_PROJ, INIT_ROUTER, INIT_HEAD, INIT_NORM, INIT_BIAS, INIT_POS, INIT_HEAD_BIAS };
static void init_moments(int kind, int64_t fan_in, float *mean, float *std) {
    *mean = 0;
    switch (kind) {
    case INIT_EMBED: *std = 1; break;
    case INIT_PROJ: *std = (float)sqrt(1.0 / (double)fan_in); break;
    case INIT_ROUTER: *std = (float)sqrt(4.0 / (double)fan_in); break;
    case INIT_HEAD: *std = (float)sqrt(16.0 / (double)fan_in); break;
    case INIT_BIAS: *std = 0.1f; break;
    case INIT_POS: *std = 0.5f; break;
    case INIT_HEAD_BIAS: *std = 0.5f; break;
    default: *mean = 1; *std = 0.2f; break;
    }
}
/* The init kind of a canonical tensor name. */
static int init_kind_of(const char *name) {
    /* the vision side (golden-vl README's scheme): biases N(0, 0.1²), LayerNorm weights N(1, 0.2²), positions
     * N(0, 0.25), class embedding and image_newline N(0, 1), patch embedding N(0, 4/fan_in) */
    const size_t n = strlen(name);
    if (!strcmp(name, "score.bias") || !strcmp(name, "qa_outputs.bias")) return INIT_HEAD_BIAS;   /* task heads */
    if (n > 5 && !strcmp(name + n - 5, ".bias")) return INIT_BIAS;
    if (strstr(name, "class_embedding") || strstr(name, "image_newline")) return INIT_EMBED;
    if (strstr(name, "position_embedding")) return INIT_POS;
    if (strstr(name, "patch_embedding")) return INIT_ROUTER;
    if (strstr(name, "layer_norm1.weight") || strstr(name, "layer_norm2.weight")) return INIT_NORM;
    if (!strcmp(name, "model.embed_tokens.weight")) return INIT_EMBED;
    if (!strcmp(name, "lm_head.weight") || !strcmp(name, "score.weight") || !strcmp(name, "qa_outputs.weight")) return INIT_HEAD;
    if (strstr(name, "norm.weight")) return INIT_NORM;
    if (strstr(name, ".gate.weight")) return INIT_ROUTER;
    return INIT_PROJ;
}

/* ================================================================ tensor plan */
#define MK_NAME 128
typedef struct {
    char name[MK_NAME];     /* as written */
    int ndim;
    int64_t shape[4];
    int kind;
    float mean, std;
    int64_t rows, cols;     /* the tensor seen as [rows, cols] (1-D: one row) */
    int n_sub;              /* canonical tensors stacked along the rows (fused experts), else 1 */
    int64_t rows_per_sub;
    uint64_t *keys;         /* [n_sub] value streams */
} mk_tensor;

typedef struct {
    mk_tensor *t;
    int n, cap;
} mk_plan;

static mk_tensor *plan_add(mk_plan *pl, const mm_mkmodel_params *p, const char *name, int ndim, int64_t s0, int64_t s1,
                           int64_t s2) {
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 256;
        pl->t = mm_xrealloc(pl->t, sizeof *pl->t * (size_t)pl->cap);
    }
    mk_tensor *t = &pl->t[pl->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = s1;
    t->shape[2] = s2;
    t->cols = t->shape[ndim - 1];
    t->rows = ndim == 1 ? 1 : ndim == 2 ? s0 : s0 * s1;
    t->n_sub = 1;
    t->rows_per_sub = t->rows;
    t->keys = mm_xmalloc(sizeof *t->keys);
    t->keys[0] = mm_name_key(p->seed, name);
    t->kind = init_kind_of(name);
    init_moments(t->kind, t->cols, &t->mean, &t->std);
    return t;
}

/* snprintf into a name buffer of MK_NAME bytes (names are short; a longer one would be truncated). */
static void mk_fmt(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mk_fmt(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, MK_NAME, fmt, ap);
    va_end(ap);
}

/* A 2-D tensor [s0, s1] named "prefix.suffix". */
static void add2(mk_plan *pl, const mm_mkmodel_params *p, const char *prefix, const char *suffix, int64_t s0, int64_t s1) {
    char name[MK_NAME];
    mk_fmt(name, "%s.%s", prefix, suffix);
    plan_add(pl, p, name, 2, s0, s1, 0);
}
static void add1(mk_plan *pl, const mm_mkmodel_params *p, const char *prefix, const char *suffix, int64_t s0) {
    char name[MK_NAME];
    mk_fmt(name, "%s.%s", prefix, suffix);
    plan_add(pl, p, name, 1, s0, 0, 0);
}

/* VL: the language model's tensors move under language_model. (as released) or model.language_model. (transformers;
 * lm_head stays), keeping the value streams of their canonical names; then the tower, projector and newline, whose
 * canonical names are the released ones (the transformers layout puts model. in front), so both layouts hold the
 * same numbers. */
static void add_vision(mk_plan *pl, const mm_mkmodel_params *p) {
    const int remote = p->dialect == MM_DIALECT_REMOTE, n_text = pl->n;
    for (int i = 0; i < pl->n; i++) {
        char name[MK_NAME];
        if (remote) mk_fmt(name, "language_model.%s", pl->t[i].name);
        else if (!strncmp(pl->t[i].name, "model.", 6)) mk_fmt(name, "model.language_model.%s", pl->t[i].name + 6);
        else continue;
        memcpy(pl->t[i].name, name, MK_NAME);
    }
    const char *T = "vision_tower.vision_model", *P = "multi_modal_projector";
    const int64_t D = p->v_hidden, F = p->v_ffn, H = p->hidden_size, pt = p->v_patch, side = p->v_image / p->v_patch;
    char name[MK_NAME];
    add1(pl, p, T, "embeddings.class_embedding", D);                             /* [Dv] */
    mk_fmt(name, "%s.embeddings.patch_embedding.weight", T);
    mk_tensor *t = plan_add(pl, p, name, 3, D, 3, pt);                           /* [Dv, 3, p, p] */
    t->ndim = 4, t->shape[3] = pt, t->cols = pt, t->rows = D * 3 * pt, t->rows_per_sub = t->rows;
    init_moments(t->kind, 3 * pt * pt, &t->mean, &t->std);
    add2(pl, p, T, "embeddings.position_embedding.weight", side * side + 1, D);   /* [1 + G, Dv] */
    add1(pl, p, T, "pre_layrnorm.weight", D);
    add1(pl, p, T, "pre_layrnorm.bias", D);
    for (int l = 0; l < p->v_layers; l++) {
        char pre[MK_NAME];
        mk_fmt(pre, "%s.encoder.layers.%d", T, l);
        static const char *qkvo[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int j = 0; j < 4; j++) {
            char sfx[MK_NAME];
            mk_fmt(sfx, "self_attn.%s.weight", qkvo[j]);
            add2(pl, p, pre, sfx, D, D);                                         /* [Dv, Dv] */
            mk_fmt(sfx, "self_attn.%s.bias", qkvo[j]);
            add1(pl, p, pre, sfx, D);
        }
        add1(pl, p, pre, "layer_norm1.weight", D);
        add1(pl, p, pre, "layer_norm1.bias", D);
        add2(pl, p, pre, "mlp.fc1.weight", F, D);                                /* [Fv, Dv] */
        add1(pl, p, pre, "mlp.fc1.bias", F);
        add2(pl, p, pre, "mlp.fc2.weight", D, F);                                /* [Dv, Fv] */
        add1(pl, p, pre, "mlp.fc2.bias", D);
        add1(pl, p, pre, "layer_norm2.weight", D);
        add1(pl, p, pre, "layer_norm2.bias", D);
    }
    add2(pl, p, P, "linear_1.weight", H, D);                                     /* [H, Dv] */
    add1(pl, p, P, "linear_1.bias", H);
    add2(pl, p, P, "linear_2.weight", H, H);                                     /* [H, H] */
    add1(pl, p, P, "linear_2.bias", H);
    plan_add(pl, p, "image_newline", 1, H, 0, 0);                                /* [H] */
    for (int i = n_text; !remote && i < pl->n; i++) {
        char name[MK_NAME];
        mk_fmt(name, "model.%s", pl->t[i].name);
        memcpy(pl->t[i].name, name, MK_NAME);
    }
}

/* Every tensor in state-dict order (the order save_pretrained writes and shards). */
static void build_plan(mk_plan *pl, const mm_mkmodel_params *p) {
    const int64_t H = p->hidden_size, V = p->vocab_size, NH = p->n_heads, NKV = p->n_kv_heads, D = p->head_dim;
    const int64_t I = p->intermediate_size, E = p->n_experts;
    plan_add(pl, p, "model.embed_tokens.weight", 2, V, H, 0);                    /* [V, H] */
    for (int l = 0; l < p->n_layers; l++) {
        char pre[MK_NAME], name[MK_NAME];
        mk_fmt(pre, "model.layers.%d", l);
        if (p->layer_type[l] == MM_LAYER_LIGHTNING) {
            add2(pl, p, pre, "self_attn.qkv_proj.weight", 3 * NH * D, H);         /* [3*NH*D, H], per head q|k|v */
            add2(pl, p, pre, "self_attn.output_gate.weight", NH * D, H);         /* [NH*D, H] */
            add1(pl, p, pre, "self_attn.norm.weight", NH * D);                   /* [NH*D] */
            add2(pl, p, pre, "self_attn.out_proj.weight", H, NH * D);            /* [H, NH*D] */
        } else {
            add2(pl, p, pre, "self_attn.q_proj.weight", NH * D, H);              /* [NH*D, H] */
            add2(pl, p, pre, "self_attn.k_proj.weight", NKV * D, H);             /* [NKV*D, H] */
            add2(pl, p, pre, "self_attn.v_proj.weight", NKV * D, H);             /* [NKV*D, H] */
            add2(pl, p, pre, "self_attn.o_proj.weight", H, NH * D);              /* [H, NH*D] */
        }
        add1(pl, p, pre, "input_layernorm.weight", H);                           /* [H] */
        add1(pl, p, pre, "post_attention_layernorm.weight", H);                  /* [H] */
        if (p->layout == MM_LAYOUT_PER_EXPERT) {
            add2(pl, p, pre, "block_sparse_moe.gate.weight", E, H);              /* [E, H] router */
            for (int e = 0; e < E; e++) {
                char sfx[MK_NAME];
                mk_fmt(sfx, "block_sparse_moe.experts.%d.w1.weight", e);
                add2(pl, p, pre, sfx, I, H);                                     /* [I, H] gate proj */
                mk_fmt(sfx, "block_sparse_moe.experts.%d.w2.weight", e);
                add2(pl, p, pre, sfx, H, I);                                     /* [H, I] down proj */
                mk_fmt(sfx, "block_sparse_moe.experts.%d.w3.weight", e);
                add2(pl, p, pre, sfx, I, H);                                     /* [I, H] up proj */
            }
        } else {
            /* Fused layout; values come from the per-expert canonical names so both layouts agree. */
            mk_fmt(name, "%s.mlp.gate.weight", pre);
            mk_tensor *t = plan_add(pl, p, name, 2, E, H, 0);                    /* [E, H] router */
            mk_fmt(name, "%s.block_sparse_moe.gate.weight", pre);
            t->keys[0] = mm_name_key(p->seed, name);
            mk_fmt(name, "%s.mlp.experts.gate_up_proj", pre);
            t = plan_add(pl, p, name, 3, E, 2 * I, H);                           /* [E, 2I, H]: w1 rows, then w3 */
            t->kind = INIT_PROJ;
            init_moments(t->kind, H, &t->mean, &t->std);
            t->n_sub = (int)(2 * E);
            t->rows_per_sub = I;
            t->keys = mm_xrealloc(t->keys, sizeof *t->keys * (size_t)t->n_sub);
            for (int e = 0; e < E; e++)
                for (int part = 0; part < 2; part++) {
                    mk_fmt(name, "%s.block_sparse_moe.experts.%d.%s.weight", pre, e, part ? "w3" : "w1");
                    t->keys[2 * e + part] = mm_name_key(p->seed, name);
                }
            mk_fmt(name, "%s.mlp.experts.down_proj", pre);
            t = plan_add(pl, p, name, 3, E, H, I);                               /* [E, H, I] */
            t->kind = INIT_PROJ;
            init_moments(t->kind, I, &t->mean, &t->std);
            t->n_sub = (int)E;
            t->rows_per_sub = H;
            t->keys = mm_xrealloc(t->keys, sizeof *t->keys * (size_t)t->n_sub);
            for (int e = 0; e < E; e++) {
                mk_fmt(name, "%s.block_sparse_moe.experts.%d.w2.weight", pre, e);
                t->keys[e] = mm_name_key(p->seed, name);
            }
        }
    }
    plan_add(pl, p, "model.norm.weight", 1, H, 0, 0);                            /* [H] */
    const int64_t NL = mm_mkmodel_num_labels(p);
    switch (p->arch) {
    case MM_ARCH_SEQ_CLS:
        plan_add(pl, p, "score.weight", 2, NL, H, 0);                            /* [NL, H], no bias */
        break;
    case MM_ARCH_TOKEN_CLS:
        plan_add(pl, p, "score.weight", 2, NL, H, 0);                            /* [NL, H] */
        plan_add(pl, p, "score.bias", 1, NL, 0, 0);                              /* [NL] */
        break;
    case MM_ARCH_QA:
        plan_add(pl, p, "qa_outputs.weight", 2, 2, H, 0);                        /* [2, H]: start, end */
        plan_add(pl, p, "qa_outputs.bias", 1, 2, 0, 0);                          /* [2] */
        break;
    default:
        plan_add(pl, p, "lm_head.weight", 2, V, H, 0);                           /* [V, H] */
    }
    if (p->vision) add_vision(pl, p);
}

static void free_plan(mk_plan *pl) {
    for (int i = 0; i < pl->n; i++) free(pl->t[i].keys);
    free(pl->t);
}

float mm_mkmodel_value(const mm_mkmodel_params *p, const char *name, int64_t idx) {
    float mean, std;
    int kind = init_kind_of(name);
    int64_t fan_in = 0;
    /* fan_in is the last dimension of the canonical tensor */
    if (kind != INIT_NORM) {
        if (strstr(name, "experts.") && strstr(name, ".w2.weight")) fan_in = p->intermediate_size;
        else if (strstr(name, "out_proj") || strstr(name, "o_proj")) fan_in = (int64_t)p->n_heads * p->head_dim;
        else fan_in = p->hidden_size;
    }
    init_moments(kind, fan_in ? fan_in : 1, &mean, &std);
    return mean + std * mm_normal_at(mm_name_key(p->seed, name), (uint64_t)idx);
}

/* Rows [r0, r0+nr) of tensor t converted to dtype into out. */
static void gen_rows(const mk_tensor *t, mm_dtype dt, int64_t r0, int64_t nr, void *out) {
    const int64_t C = t->cols;
#pragma omp parallel for schedule(static)
    for (int64_t r = r0; r < r0 + nr; r++) {
        const uint64_t key = t->keys[r / t->rows_per_sub];
        const uint64_t base = (uint64_t)(r % t->rows_per_sub) * (uint64_t)C;
        const size_t o = (size_t)(r - r0) * (size_t)C;
        int64_t c = 0;
        float v[2];
        if (base & 1) {   /* odd start: the first element is the second of its pair */
            v[0] = mm_normal_at(key, base);
            v[0] = t->mean + t->std * v[0];
            if (dt == MM_F32) ((float *)out)[o] = v[0];
            else if (dt == MM_BF16) ((uint16_t *)out)[o] = mm_f32_to_bf16(v[0]);
            else ((uint16_t *)out)[o] = mm_f32_to_f16(v[0]);
            c = 1;
        }
        for (; c < C; c += 2) {
            mm_normal_pair(key, (base + (uint64_t)c) >> 1, &v[0], &v[1]);
            int m = c + 1 < C ? 2 : 1;
            for (int j = 0; j < m; j++) {
                float x = t->mean + t->std * v[j];
                size_t at = o + (size_t)c + (size_t)j;
                if (dt == MM_F32) ((float *)out)[at] = x;
                else if (dt == MM_BF16) ((uint16_t *)out)[at] = mm_f32_to_bf16(x);
                else ((uint16_t *)out)[at] = mm_f32_to_f16(x);
            }
        }
    }
}

/* ================================================================ writing */
static int mkdir_p(const char *dir) {
    char *d = mm_xstrdup(dir);
    for (char *s = d + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(d, 0755) != 0 && errno != EEXIST) {
            mm_set_error("%s: cannot create directory: %s", d, strerror(errno));
            free(d);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(d, 0755) != 0 && errno != EEXIST) {
        mm_set_error("%s: cannot create directory: %s", d, strerror(errno));
        rc = -1;
    }
    free(d);
    return rc;
}

/* Files of a checkpoint that a forced overwrite replaces (a stale index or shard would shadow the new ones). */
static int is_checkpoint_file(const char *n) {
    size_t l = strlen(n);
    return !strcmp(n, "config.json") || !strcmp(n, "generation_config.json") || !strcmp(n, "model.safetensors.index.json") ||
           !strcmp(n, "preprocessor_config.json") ||
           !strcmp(n, "tokenizer.json") || !strcmp(n, "tokenizer_config.json") ||
           (!strncmp(n, "model", 5) && l > 12 && !strcmp(n + l - 12, ".safetensors"));
}

static int prepare_dir(const char *dir, int force) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            mm_set_error("%s exists and is not a directory", dir);
            return -1;
        }
        DIR *d = opendir(dir);
        if (!d) {
            mm_set_error("%s: cannot read directory: %s", dir, strerror(errno));
            return -1;
        }
        int nonempty = 0, rc = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            nonempty = 1;
            if (force && is_checkpoint_file(de->d_name)) {
                char p[4096];
                if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) < (int)sizeof p && unlink(p) != 0) {
                    mm_set_error("%s: cannot remove: %s", p, strerror(errno));
                    rc = -1;
                    break;
                }
            }
        }
        closedir(d);
        if (rc) return rc;
        if (nonempty && !force) {
            mm_set_error("%s is not empty; refusing to overwrite it (use --force to replace the checkpoint files in it)", dir);
            return -1;
        }
        return 0;
    }
    return mkdir_p(dir);
}

int mm_mkmodel_write(const char *dir, const mm_mkmodel_params *p, mm_mkmodel_result *res) {
    double t0 = mm_time();
    if (mm_mkmodel_validate(p) != 0) return -1;
    if (prepare_dir(dir, p->force) != 0) return -1;
    mk_plan pl = {0};
    build_plan(&pl, p);
    mm_st_writer *w = mm_st_writer_new(dir, p->shard_bytes);
    int rc = 0;
    int64_t n_params = 0;
    int64_t max_cols = 1;
    for (int i = 0; i < pl.n && !rc; i++) {
        mk_tensor *t = &pl.t[i];
        rc = mm_st_writer_add(w, t->name, p->dtype, t->ndim, t->shape);
        n_params += t->rows * t->cols;
        if (t->cols > max_cols) max_cols = t->cols;
    }
    /* config.json is small; check it renders before the long part. It is written last, so that an
     * interrupted run leaves no loadable (half-written) checkpoint behind. */
    char *cfg = mm_mkmodel_config_json(p);
    if (!rc) rc = mm_st_writer_begin(w);
    void *buf = NULL;
    if (!rc) {
        /* Chunks of about 4M elements (whole rows), generated in parallel and streamed out. */
        const int64_t chunk_elems = (int64_t)1 << 22;
        size_t esz = mm_dtype_block_bytes(p->dtype);
        /* A chunk is `step` whole rows: at most chunk_elems elements, or one row when a row is longer. */
        buf = mm_xaligned((size_t)(max_cols > chunk_elems ? max_cols : chunk_elems) * esz);
        double last = 0;
        uint64_t total = mm_st_writer_total_bytes(w);
        for (int i = 0; i < pl.n && !rc; i++) {
            const mk_tensor *t = &pl.t[i];
            int64_t step = chunk_elems / t->cols > 0 ? chunk_elems / t->cols : 1;
            for (int64_t r = 0; r < t->rows && !rc; r += step) {
                int64_t nr = t->rows - r < step ? t->rows - r : step;
                gen_rows(t, p->dtype, r, nr, buf);
                rc = mm_st_writer_write(w, buf, (size_t)(nr * t->cols) * esz);
                if (p->progress && mm_time() - last > 0.25) {
                    last = mm_time();
                    uint64_t done = mm_st_writer_written(w);
                    fprintf(stderr, "\rmkmodel: %.2f / %.2f GB written (%d%%)  ", done / 1e9, total / 1e9,
                            total ? (int)(100.0 * (double)done / (double)total) : 100);
                    fflush(stderr);
                }
            }
        }
        if (p->progress) fprintf(stderr, "\r%60s\r", "");
    }
    free(buf);
    if (!rc) rc = mm_st_writer_finish(w);
    char *pre = p->vision ? mm_mkmodel_preprocessor_json(p) : NULL;
    for (int f = p->vision ? 1 : 0; !rc && f >= 0; f--) {   /* preprocessor_config.json, then config.json last */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, f ? "preprocessor_config.json" : "config.json");
        FILE *fp = fopen(path, "w");
        int bad = !fp;
        if (fp) {
            bad = fputs(f ? pre : cfg, fp) < 0;
            bad |= fclose(fp) != 0;
        }
        if (bad) {
            mm_set_error("%s: cannot write: %s", path, strerror(errno));
            rc = -1;
        }
    }
    free(pre);
    if (!rc && res) {
        res->n_params = n_params;
        res->bytes = mm_st_writer_file_bytes(w) + strlen(cfg);
        res->n_files = mm_st_writer_n_files(w);
        res->seconds = mm_time() - t0;
    }
    free(cfg);
    mm_st_writer_free(w);
    free_plan(&pl);
    return rc;
}

/* ================================================================ tokenizer */
static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) {
        mm_set_error("%s: cannot open: %s", from, strerror(errno));
        return -1;
    }
    FILE *out = fopen(to, "wb");
    if (!out) {
        mm_set_error("%s: cannot create: %s", to, strerror(errno));
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (ferror(in)) rc = -1;
    fclose(in);
    if (fclose(out) != 0) rc = -1;
    if (rc) mm_set_error("copying %s to %s failed: %s", from, to, strerror(errno));
    return rc;
}

int mm_mkmodel_copy_tokenizer(const char *dir, const char *src) {
    struct stat st;
    if (stat(src, &st) != 0) {
        mm_set_error("tokenizer %s: %s", src, strerror(errno));
        return -1;
    }
    char srcdir[4096], from[4096 + 32], to[4096 + 32];
    if (S_ISDIR(st.st_mode)) {
        snprintf(srcdir, sizeof srcdir, "%s", src);
    } else {
        snprintf(srcdir, sizeof srcdir, "%s", src);
        char *slash = strrchr(srcdir, '/');
        if (slash) *slash = 0;
        else snprintf(srcdir, sizeof srcdir, ".");
    }
    if (S_ISDIR(st.st_mode)) snprintf(from, sizeof from, "%s/tokenizer.json", srcdir);
    else snprintf(from, sizeof from, "%s", src);
    snprintf(to, sizeof to, "%s/tokenizer.json", dir);
    if (copy_file(from, to) != 0) return -1;
    snprintf(from, sizeof from, "%s/tokenizer_config.json", srcdir);
    snprintf(to, sizeof to, "%s/tokenizer_config.json", dir);
    if (access(from, R_OK) == 0 && copy_file(from, to) != 0) return -1;
    return 0;
}
