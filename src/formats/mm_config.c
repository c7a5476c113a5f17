/* mm_config.c — config.json in both dialects: the released remote-code one (model_type minimax_text_01 /
 * minimax_m1) and transformers' native one (model_type minimax). Defaults and semantics follow
 * ../shared/docs/minimax01-spec.md §1: a missing remote `postnorm` means false, the native dialect always
 * behaves as postnorm = true, a missing `rotary_dim` rotates the whole head. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mm_common.h"
#include "formats/mm_config.h"
#include "formats/mm_json.h"

#define TRY(x)                  \
    do {                        \
        if ((x) < 0) goto fail; \
    } while (0)

/* The layer layout: remote `attn_type_list` (0 = lightning, 1 = softmax) or native `layer_types`. */
static int read_layer_types(mm_config *c, json_t *root, const char *path) {
    json_t *atl = json_object_get(root, "attn_type_list");
    json_t *lt = json_object_get(root, "layer_types");
    uint8_t from_atl[MM_MAX_LAYERS], from_lt[MM_MAX_LAYERS];
    int have_atl = 0, have_lt = 0;
    if (atl && !json_is_null(atl)) {
        if (!json_is_array(atl) || (int)json_array_size(atl) != c->n_layers) {
            mm_set_error("%s: \"attn_type_list\" must be an array of num_hidden_layers (%d) entries", path, c->n_layers);
            return -1;
        }
        for (int i = 0; i < c->n_layers; i++) {
            json_t *e = json_array_get(atl, (size_t)i);
            if (!json_is_integer(e) || (json_integer_value(e) != 0 && json_integer_value(e) != 1)) {
                mm_set_error("%s: attn_type_list[%d] must be 0 (lightning) or 1 (softmax)", path, i);
                return -1;
            }
            from_atl[i] = (uint8_t)json_integer_value(e);
        }
        have_atl = 1;
    }
    if (lt && !json_is_null(lt)) {
        if (!json_is_array(lt) || (int)json_array_size(lt) != c->n_layers) {
            mm_set_error("%s: \"layer_types\" must be an array of num_hidden_layers (%d) entries", path, c->n_layers);
            return -1;
        }
        for (int i = 0; i < c->n_layers; i++) {
            const char *s = json_string_value(json_array_get(lt, (size_t)i));
            if (s && !strcmp(s, "linear_attention")) from_lt[i] = MM_LAYER_LIGHTNING;
            else if (s && !strcmp(s, "full_attention")) from_lt[i] = MM_LAYER_SOFTMAX;
            else {
                mm_set_error("%s: layer_types[%d] must be \"linear_attention\" or \"full_attention\"", path, i);
                return -1;
            }
        }
        have_lt = 1;
    }
    if (have_atl && have_lt && memcmp(from_atl, from_lt, (size_t)c->n_layers)) {
        mm_set_error("%s: \"attn_type_list\" and \"layer_types\" disagree", path);
        return -1;
    }
    if (have_atl) {
        memcpy(c->layer_type, from_atl, (size_t)c->n_layers);
    } else if (have_lt) {
        memcpy(c->layer_type, from_lt, (size_t)c->n_layers);
    } else if (c->dialect == MM_DIALECT_HF) {
        /* MiniMaxConfig's default: even index full attention, odd index linear (HFN). */
        for (int i = 0; i < c->n_layers; i++) c->layer_type[i] = (i + 1) % 2 ? MM_LAYER_SOFTMAX : MM_LAYER_LIGHTNING;
    } else {
        mm_set_error("%s: \"attn_type_list\" is missing (the remote dialect has no default layer layout)", path);
        return -1;
    }
    c->n_lightning = c->n_softmax = 0;
    for (int i = 0; i < c->n_layers; i++) {
        if (c->layer_type[i] == MM_LAYER_SOFTMAX) c->n_softmax++;
        else c->n_lightning++;
    }
    return 0;
}

/* The task-head fields transformers' PretrainedConfig writes: id2label (its size is num_labels; without it
 * num_labels, default 2), pad_token_id, problem_type. */
static int read_head_fields(mm_config *c, json_t *root, const char *path) {
    c->num_labels = 2;
    c->pad_token_id = -1;
    json_t *id2 = json_object_get(root, "id2label");
    int have_nl = mm_json_int(root, "num_labels", path, 1, 1 << 16, &c->num_labels);
    if (have_nl < 0) return -1;
    if (id2 && !json_is_null(id2)) {
        if (!json_is_object(id2) || json_object_size(id2) == 0 || json_object_size(id2) > (1 << 16)) {
            mm_set_error("%s: \"id2label\" must be an object of 1 to 65536 labels {\"0\": \"NAME\", ...}", path);
            return -1;
        }
        int n = (int)json_object_size(id2);
        const char *key;
        json_t *v;
        json_object_foreach(id2, key, v) {
            char *end;
            long id = strtol(key, &end, 10);
            if (!*key || *end || id < 0 || id >= n || !json_is_string(v)) {
                mm_set_error("%s: id2label[\"%s\"]: the keys must be the ids 0..%d and the values strings", path, key, n - 1);
                return -1;
            }
        }
        if (have_nl && c->num_labels != n) {
            mm_set_error("%s: num_labels %d contradicts id2label's %d labels", path, c->num_labels, n);
            return -1;
        }
        c->num_labels = n;
    }
    int pad = -1;
    if (mm_json_int(root, "pad_token_id", path, 0, INT32_MAX, &pad) < 0) return -1;
    c->pad_token_id = pad;
    const char *pt = NULL;
    if (mm_json_str(root, "problem_type", path, &pt) < 0) return -1;
    if (pt) {
        if (!strcmp(pt, "single_label_classification")) c->problem_type = MM_PROBLEM_SINGLE_LABEL;
        else if (!strcmp(pt, "multi_label_classification")) c->problem_type = MM_PROBLEM_MULTI_LABEL;
        else if (!strcmp(pt, "regression")) c->problem_type = MM_PROBLEM_REGRESSION;
        else {
            mm_set_error("%s: problem_type \"%s\" is not one of single_label_classification, multi_label_classification, "
                         "regression", path, pt);
            return -1;
        }
    }
    return 0;
}

/* The text model's fields of a config object: the whole config.json, or the text_config of a VL config (vl = 1:
 * model_type minimax_text_01 there is the remote dialect; minimax_vl_01_text or minimax the native one; a missing
 * one is told apart by attn_type_list). */
static int parse_text(mm_config *c, json_t *root, const char *path, int vl) {
    const char *mt = NULL;
    TRY(mm_json_str(root, "model_type", path, &mt));
    if (!mt && vl) mt = json_object_get(root, "attn_type_list") ? "minimax_text_01" : "minimax";
    if (!mt) {
        mm_set_error("%s: \"model_type\" is missing (expected minimax_text_01, minimax_m1, minimax or minimax_vl_01)", path);
        goto fail;
    }
    if (!strcmp(mt, "minimax_text_01") || !strcmp(mt, "minimax_m1")) {
        c->dialect = MM_DIALECT_REMOTE;
    } else if (!strcmp(mt, "minimax") || (vl && !strcmp(mt, "minimax_vl_01_text"))) {
        c->dialect = MM_DIALECT_HF;
    } else {
        mm_set_error("%s: unknown model_type \"%s\" (expected minimax_text_01, minimax_m1, minimax or minimax_vl_01)", path, mt);
        goto fail;
    }
    snprintf(c->model_type, sizeof c->model_type, "%s", mt);

    json_t *arch = json_object_get(root, "architectures");
    c->arch = MM_ARCH_CAUSAL_LM;
    if (arch && json_is_array(arch) && json_array_size(arch) > 0) {
        const char *a = json_string_value(json_array_get(arch, 0));
        static const struct { const char *name; int arch, hf, vl; } known[] = {
            {"MiniMaxText01ForCausalLM", MM_ARCH_CAUSAL_LM, 0, 0},   {"MiniMaxM1ForCausalLM", MM_ARCH_CAUSAL_LM, 0, 0},
            {"MiniMaxForCausalLM", MM_ARCH_CAUSAL_LM, 1, 0},         {"MiniMaxForSequenceClassification", MM_ARCH_SEQ_CLS, 1, 0},
            {"MiniMaxForTokenClassification", MM_ARCH_TOKEN_CLS, 1, 0}, {"MiniMaxForQuestionAnswering", MM_ARCH_QA, 1, 0},
            {"MiniMaxVL01TextModel", MM_ARCH_CAUSAL_LM, 1, 1},       /* a VL-01 text_config's */
        };
        int k = -1;
        for (int i = 0; a && i < (int)(sizeof known / sizeof known[0]); i++)
            if (!strcmp(a, known[i].name) && (vl ? known[i].arch == MM_ARCH_CAUSAL_LM : !known[i].vl)) k = i;
        if (k < 0) {
            mm_set_error("%s: architectures[0] \"%s\" is not a MiniMax causal LM or task head (supported: the causal "
                         "LMs and transformers' MiniMaxForSequenceClassification, MiniMaxForTokenClassification, "
                         "MiniMaxForQuestionAnswering; a VL-01 text_config: the causal LM only)",
                         path, a ? a : "(not a string)");
            goto fail;
        }
        if ((c->dialect == MM_DIALECT_HF) != known[k].hf) {
            mm_set_error("%s: architectures[0] \"%s\" contradicts model_type \"%s\"", path, a, mt);
            goto fail;
        }
        c->arch = known[k].arch;
    }
    TRY(read_head_fields(c, root, path));

    /* Standard (Mixtral-like) fields with their class defaults. */
    c->vocab_size = 32000;
    c->hidden_size = 4096;
    c->intermediate_size = 14336;
    c->n_layers = 32;
    c->n_heads = 32;
    c->n_kv_heads = 8;
    c->max_position_embeddings = 131072;
    c->rms_norm_eps = 1e-5;
    c->rope_theta = 1e6;
    c->n_experts = 8;
    c->n_experts_per_tok = 2;
    c->block_size = 256;
    const long BIG = 1L << 30;
    TRY(mm_json_int(root, "vocab_size", path, 1, BIG, &c->vocab_size));
    TRY(mm_json_int(root, "hidden_size", path, 1, 1 << 20, &c->hidden_size));
    TRY(mm_json_int(root, "intermediate_size", path, 1, 1 << 22, &c->intermediate_size));
    TRY(mm_json_int(root, "num_hidden_layers", path, 1, MM_MAX_LAYERS, &c->n_layers));
    TRY(mm_json_int(root, "num_attention_heads", path, 1, 4096, &c->n_heads));
    TRY(mm_json_int(root, "num_key_value_heads", path, 1, 4096, &c->n_kv_heads));
    TRY(mm_json_int(root, "max_position_embeddings", path, 1, BIG, &c->max_position_embeddings));
    TRY(mm_json_num(root, "rms_norm_eps", path, &c->rms_norm_eps));
    TRY(mm_json_int(root, "num_local_experts", path, 1, 4096, &c->n_experts));
    TRY(mm_json_int(root, "num_experts_per_tok", path, 1, 4096, &c->n_experts_per_tok));
    TRY(mm_json_bool(root, "tie_word_embeddings", path, &c->tie_word_embeddings));
    c->head_dim = c->hidden_size / c->n_heads;
    TRY(mm_json_int(root, "head_dim", path, 1, 1 << 16, &c->head_dim));

    /* RoPE base: top-level rope_theta (remote, native v4) or rope_parameters.rope_theta (native v5). */
    TRY(mm_json_num(root, "rope_theta", path, &c->rope_theta));
    double partial = 1.0;
    int have_partial = 0;
    json_t *rp = json_object_get(root, "rope_parameters");
    if (rp && !json_is_null(rp)) {
        if (!json_is_object(rp)) {
            mm_set_error("%s: \"rope_parameters\" must be an object", path);
            goto fail;
        }
        const char *rt = NULL;
        TRY(mm_json_str(rp, "rope_type", path, &rt));
        if (rt && strcmp(rt, "default")) {
            mm_set_error("%s: rope_parameters.rope_type \"%s\" is not supported (only \"default\")", path, rt);
            goto fail;
        }
        double th;
        int r = mm_json_num(rp, "rope_theta", path, &th);
        TRY(r);
        if (r == 1) {
            double top;
            if (mm_json_num(root, "rope_theta", path, &top) == 1 && top != th) {
                mm_set_error("%s: rope_theta %g and rope_parameters.rope_theta %g disagree", path, top, th);
                goto fail;
            }
            c->rope_theta = th;
        }
        TRY(have_partial = mm_json_num(rp, "partial_rotary_factor", path, &partial));
    }
    json_t *rs = json_object_get(root, "rope_scaling");
    if (rs && !json_is_null(rs)) {
        mm_set_error("%s: \"rope_scaling\" is not supported (MiniMax-01 uses plain RoPE)", path);
        goto fail;
    }
    if (c->rope_theta <= 0) {
        mm_set_error("%s: rope_theta must be positive", path);
        goto fail;
    }
    if (!have_partial) TRY(have_partial = mm_json_num(root, "partial_rotary_factor", path, &partial));
    c->rotary_dim = c->head_dim;
    int have_rot = mm_json_int(root, "rotary_dim", path, 0, 1 << 16, &c->rotary_dim);
    TRY(have_rot);
    if (have_partial) {
        if (partial <= 0 || partial > 1) {
            mm_set_error("%s: partial_rotary_factor must be in (0, 1]", path);
            goto fail;
        }
        int from_partial = (int)lround(partial * c->head_dim);
        if (have_rot && from_partial != c->rotary_dim) {
            mm_set_error("%s: rotary_dim %d contradicts partial_rotary_factor %g × head_dim %d", path, c->rotary_dim, partial, c->head_dim);
            goto fail;
        }
        c->rotary_dim = from_partial;
    }

    /* Residual structure. */
    c->alpha_lin = c->beta_lin = c->alpha_full = c->beta_full = c->alpha_mlp = c->beta_mlp = 1.0;
    if (c->dialect == MM_DIALECT_REMOTE) {
        c->postnorm = 0; /* the remote code's getattr default */
        TRY(mm_json_bool(root, "postnorm", path, &c->postnorm));
        TRY(mm_json_num(root, "layernorm_linear_attention_alpha", path, &c->alpha_lin));
        TRY(mm_json_num(root, "layernorm_linear_attention_beta", path, &c->beta_lin));
        TRY(mm_json_num(root, "layernorm_full_attention_alpha", path, &c->alpha_full));
        TRY(mm_json_num(root, "layernorm_full_attention_beta", path, &c->beta_full));
        TRY(mm_json_num(root, "layernorm_mlp_alpha", path, &c->alpha_mlp));
        TRY(mm_json_num(root, "layernorm_mlp_beta", path, &c->beta_mlp));
    } else {
        c->postnorm = 1; /* transformers' native model always uses the post-norm residual */
        TRY(mm_json_num(root, "linear_attn_alpha_factor", path, &c->alpha_lin));
        TRY(mm_json_num(root, "linear_attn_beta_factor", path, &c->beta_lin));
        TRY(mm_json_num(root, "full_attn_alpha_factor", path, &c->alpha_full));
        TRY(mm_json_num(root, "full_attn_beta_factor", path, &c->beta_full));
        TRY(mm_json_num(root, "mlp_alpha_factor", path, &c->alpha_mlp));
        TRY(mm_json_num(root, "mlp_beta_factor", path, &c->beta_mlp));
        TRY(mm_json_int(root, "block_size", path, 1, 1 << 16, &c->block_size));
    }

    /* Features this engine does not implement are refused, never ignored. */
    const char *act = "silu";
    TRY(mm_json_str(root, "hidden_act", path, &act));
    if (strcmp(act, "silu")) {
        mm_set_error("%s: hidden_act \"%s\" is not supported (MiniMax-01 uses silu)", path, act);
        goto fail;
    }
    int shared = 0;
    json_t *sis = json_object_get(root, "shared_intermediate_size");
    if (sis && json_is_array(sis)) { /* VL text_config writes [0] */
        for (size_t i = 0; i < json_array_size(sis); i++)
            if (json_integer_value(json_array_get(sis, i)) != 0) shared = 1;
    } else {
        TRY(mm_json_int(root, "shared_intermediate_size", path, 0, BIG, &shared));
    }
    if (shared) {
        mm_set_error("%s: shared_intermediate_size > 0 (a shared expert) is not supported; MiniMax-01 has none", path);
        goto fail;
    }
    json_t *sw = json_object_get(root, "sliding_window");
    if (sw && !json_is_null(sw)) {
        mm_set_error("%s: sliding_window is not supported (MiniMax-01 sets it to null)", path);
        goto fail;
    }

    TRY(read_layer_types(c, root, path));

    /* Consistency. */
    if (c->n_heads % c->n_kv_heads) {
        mm_set_error("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path, c->n_heads, c->n_kv_heads);
        goto fail;
    }
    if (c->rotary_dim % 2 || c->rotary_dim > c->head_dim) {
        mm_set_error("%s: rotary_dim %d must be even and at most head_dim %d", path, c->rotary_dim, c->head_dim);
        goto fail;
    }
    if (c->n_experts_per_tok > c->n_experts) {
        mm_set_error("%s: num_experts_per_tok %d exceeds num_local_experts %d", path, c->n_experts_per_tok, c->n_experts);
        goto fail;
    }
    if (c->rms_norm_eps <= 0) {
        mm_set_error("%s: rms_norm_eps must be positive", path);
        goto fail;
    }
    if (c->pad_token_id >= c->vocab_size) {
        mm_set_error("%s: pad_token_id %d is not a token id (vocab_size %d)", path, c->pad_token_id, c->vocab_size);
        goto fail;
    }
    if (c->dialect == MM_DIALECT_REMOTE && c->n_layers == 1 && c->n_lightning) {
        /* The remote slope factor 1 - l/(L-1) divides by zero for L = 1; the reference cannot run this. */
        mm_set_error("%s: a 1-layer model with a lightning layer has no defined slope factor (1 - l/(L-1))", path);
        goto fail;
    }
    return 0;
fail:
    return -1;
}

int mm_config_parse(mm_config *c, const char *text, const char *path) {
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        mm_set_error("%s: malformed JSON at line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        mm_set_error("%s: the top level must be a JSON object", path);
        json_decref(root);
        return -1;
    }
    memset(c, 0, sizeof *c);
    c->image_token_index = -1;
    const char *mt = NULL;
    int rc = mm_json_str(root, "model_type", path, &mt);
    if (rc >= 0 && mt && !strcmp(mt, "minimax_vl_01")) {
        /* MiniMax-VL-01: the language model is text_config; the vision side is parsed by vision/ */
        json_t *tc = json_object_get(root, "text_config"), *arch = json_object_get(root, "architectures");
        const char *a = json_string_value(json_array_get(arch, 0));
        char sub[4200];
        snprintf(sub, sizeof sub, "%s (text_config)", path);
        if (arch && (!a || strcmp(a, "MiniMaxVL01ForConditionalGeneration"))) {
            mm_set_error("%s: architectures[0] \"%s\" is not MiniMaxVL01ForConditionalGeneration", path, a ? a : "(not a string)");
            rc = -1;
        } else if (!json_is_object(tc)) {
            mm_set_error("%s: model_type minimax_vl_01 needs a \"text_config\" object (the language model's config)", path);
            rc = -1;
        } else {
            int iti = 200025;   /* the released value and the transformers config class's default */
            rc = parse_text(c, tc, sub, 1);
            if (rc >= 0) rc = mm_json_int(root, "image_token_index", path, 0, INT32_MAX, &iti);
            if (rc >= 0) {
                c->vision = 1;
                c->image_token_index = iti;
                snprintf(c->model_type, sizeof c->model_type, "minimax_vl_01");
            }
        }
    } else if (rc >= 0) {
        rc = parse_text(c, root, path, 0);
    }
    json_decref(root);
    return rc < 0 ? -1 : 0;
}

int mm_config_load(mm_config *c, const char *path) {
    char *text = mm_json_read_file(path, "config");
    if (!text) return -1;
    int r = mm_config_parse(c, text, path);
    free(text);
    return r;
}

int64_t mm_state_bytes(const mm_config *c, int64_t n_ctx, int kv_bf16) {
    return kv_bf16 ? mm_state_bytes_kv(c, n_ctx, MM_KV_BF16, MM_KV_BF16) : mm_state_bytes_kv(c, n_ctx, MM_KV_F32, MM_KV_F32);
}

int mm_kv_type_from_name(const char *name) {
    const int t = mm_dtype_from_name(name);
    return t >= 0 && mm_kv_type_ok((mm_dtype)t) ? t : -1;
}

const char *mm_kv_type_name(int type) {
    static const char *names[] = {"f32", "f16", "bf16", "q8_0", "q4_0"};
    return type >= 0 && type < 5 ? names[type] : "?";
}

int64_t mm_state_bytes_kv(const mm_config *c, int64_t n_ctx, int type_k, int type_v) {
    if (mm_kv_type_name(type_k)[0] == '?' || mm_kv_type_name(type_v)[0] == '?') return -1;
    const int64_t lin = (int64_t)c->n_lightning * c->n_heads * c->head_dim * c->head_dim * 4;
    const int64_t row = (int64_t)c->n_kv_heads * (int64_t)(mm_kv_head_bytes((mm_dtype)type_k, c->head_dim) +
                                                          mm_kv_head_bytes((mm_dtype)type_v, c->head_dim));
    return lin + (int64_t)c->n_softmax * n_ctx * row;
}

const char *mm_arch_name(int arch) {
    switch (arch) {
    case MM_ARCH_CAUSAL_LM: return "MiniMaxForCausalLM";
    case MM_ARCH_SEQ_CLS: return "MiniMaxForSequenceClassification";
    case MM_ARCH_TOKEN_CLS: return "MiniMaxForTokenClassification";
    case MM_ARCH_QA: return "MiniMaxForQuestionAnswering";
    default: return "(unknown architecture)";
    }
}

char **mm_config_labels(const char *path, const mm_config *cfg) {
    int n = cfg->num_labels > 0 ? cfg->num_labels : 0;
    char **out = mm_xcalloc((size_t)n + 1, sizeof(char *));
    char *text = mm_read_file(path, NULL);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    json_t *id2 = json_object_get(root, "id2label");
    for (int i = 0; i < n; i++) {
        char key[16], def[32];
        snprintf(key, sizeof key, "%d", i);
        snprintf(def, sizeof def, "LABEL_%d", i);
        const char *v = json_string_value(json_object_get(id2, key));
        out[i] = mm_xstrdup(v ? v : def);
    }
    json_decref(root);
    free(text);
    return out;
}
