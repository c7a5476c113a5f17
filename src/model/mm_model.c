/* mm_model.c — binds a checkpoint's tensors to the model structure, checking every name and shape.
 * Accepts three expert layouts: per-expert block_sparse_moe.experts.{e}.w1/w2/w3 (as released), the
 * fused mlp.experts.gate_up_proj / down_proj of newer transformers, and stacked per-kind
 * mlp.experts.gate_proj / up_proj / down_proj (the form GGUF files are mapped to). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/mm_pipeline.h"
#include "formats/mm_config.h"
#include "formats/mm_weights.h"
#include "formats/mm_gguf.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include "vision/mm_vision.h"

/* ---------------------------------------------------------------- slopes (spec §6.2, remote code) */
static void slopes_pow2(int n, double *out) {
    double start = pow(2.0, -pow(2.0, -(log2((double)n) - 3.0)));
    for (int i = 0; i < n; i++) out[i] = start * pow(start, (double)i);
}

void mm_slopes_base(int n, float *s0) {
    double *d = mm_xmalloc(sizeof(double) * (size_t)(2 * n + 2));
    if ((n & (n - 1)) == 0) {
        slopes_pow2(n, d);
    } else {
        int p = 1;
        while (p * 2 <= n) p *= 2;
        double *big = mm_xmalloc(sizeof(double) * (size_t)(2 * p));
        slopes_pow2(p, d);
        slopes_pow2(2 * p, big);
        for (int i = 0; i < n - p; i++) d[p + i] = big[2 * i];
        free(big);
    }
    for (int i = 0; i < n; i++) s0[i] = (float)d[i];
    free(d);
}

void mm_slopes_layer(int n, int layer, int n_layers, float *s) {
    mm_slopes_base(n, s);
    /* Python evaluates 1 - l/(L-1) + 1e-5 in double; torch multiplies the fp32 slope tensor by it as an fp32 scalar. */
    float factor = n_layers > 1 ? (float)(1.0 - (double)layer / (double)(n_layers - 1) + 1e-5) : (float)(1.0 + 1e-5);
    for (int i = 0; i < n; i++) s[i] = s[i] * factor;
}

/* ---------------------------------------------------------------- tensor binding */
/* Names are written as a text checkpoint stores them ("model.layers.0...", "lm_head.weight"); a VL checkpoint
 * keeps the language model under another prefix: body replaces the leading "model.", head names lm_head. */
typedef struct {
    const mm_weights *w;
    const char *body;   /* "model." (text), "language_model.model." (VL as released), "model.language_model." (transformers) */
    const char *head;   /* "lm_head.weight", "language_model.lm_head.weight", "lm_head.weight" */
    char name[256];
} binder;

static const mm_tensor *find_fmt(binder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const mm_tensor *find_fmt(binder *b, const char *fmt, ...) {
    char raw[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (!strcmp(raw, "lm_head.weight")) snprintf(b->name, sizeof b->name, "%s", b->head);
    else if (!strncmp(raw, "model.", 6)) snprintf(b->name, sizeof b->name, "%s%s", b->body, raw + 6);
    else snprintf(b->name, sizeof b->name, "%s", raw);
    return mm_weights_find(b->w, b->name);
}

/* Checks dtype and shape of the tensor last looked up; ndim dims follow. */
static int check_shape(binder *b, const mm_tensor *t, int ndim, ...) {
    int64_t want[4] = {0};
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) want[i] = va_arg(ap, int64_t);
    va_end(ap);
    return mm_weights_check(b->w, b->name, t, ndim, want);
}

/* A norm weight [n] copied to f32 (tiny; keeps the norm kernels dtype-free). */
static float *norm_f32(binder *b, const mm_tensor *t, int64_t n) {
    if (check_shape(b, t, 1, n) < 0) return NULL;
    if (t->dtype != MM_F32 && t->dtype != MM_F16 && t->dtype != MM_BF16) {
        mm_set_error("tensor \"%s\": norm weights must be F32, F16 or BF16, not %s", b->name, mm_dtype_name(t->dtype));
        return NULL;
    }
    float *out = mm_xmalloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) out[i] = mm_tensor_get_f32(t, i);
    return out;
}

/* Binds the router and experts [e0, e1) (the others stay zero views: another rank holds them). */
static int bind_moe(binder *bb, mm_layer *ly, int i, const mm_config *c, int e0, int e1) {
    binder b = *bb;
    const int64_t H = c->hidden_size, I = c->intermediate_size, E = c->n_experts;
    ly->w1 = mm_xcalloc((size_t)E, sizeof(mm_tensor));
    ly->w2 = mm_xcalloc((size_t)E, sizeof(mm_tensor));
    ly->w3 = mm_xcalloc((size_t)E, sizeof(mm_tensor));
    const mm_tensor *router = find_fmt(&b, "model.layers.%d.block_sparse_moe.gate.weight", i);
    if (!router) router = find_fmt(&b, "model.layers.%d.mlp.gate.weight", i);
    if (check_shape(&b, router, 2, E, H) < 0) return -1;
    ly->router = *router;

    const mm_tensor *gate_up = find_fmt(&b, "model.layers.%d.mlp.experts.gate_up_proj", i);
    if (gate_up) { /* fused layout: [E, 2I, H] (w1 rows first) and [E, H, I] */
        if (check_shape(&b, gate_up, 3, E, 2 * I, H) < 0) return -1;
        const mm_tensor *down = find_fmt(&b, "model.layers.%d.mlp.experts.down_proj", i);
        if (check_shape(&b, down, 3, E, H, I) < 0) return -1;
        for (int64_t e = e0; e < e1; e++) {
            ly->w1[e] = mm_tensor_slab(gate_up, e, 0, I);
            ly->w3[e] = mm_tensor_slab(gate_up, e, I, I);
            ly->w2[e] = mm_tensor_slab(down, e, 0, H);
        }
        return 0;
    }
    const mm_tensor *gate = find_fmt(&b, "model.layers.%d.mlp.experts.gate_proj", i);
    if (gate) { /* stacked per-kind layout (what GGUF files hold): [E, I, H], [E, I, H], [E, H, I] */
        if (check_shape(&b, gate, 3, E, I, H) < 0) return -1;
        const mm_tensor *up = find_fmt(&b, "model.layers.%d.mlp.experts.up_proj", i);
        if (check_shape(&b, up, 3, E, I, H) < 0) return -1;
        const mm_tensor *down = find_fmt(&b, "model.layers.%d.mlp.experts.down_proj", i);
        if (check_shape(&b, down, 3, E, H, I) < 0) return -1;
        for (int64_t e = e0; e < e1; e++) {
            ly->w1[e] = mm_tensor_slab(gate, e, 0, I);
            ly->w3[e] = mm_tensor_slab(up, e, 0, I);
            ly->w2[e] = mm_tensor_slab(down, e, 0, H);
        }
        return 0;
    }
    for (int e = e0; e < e1; e++) {
        const mm_tensor *t = find_fmt(&b, "model.layers.%d.block_sparse_moe.experts.%d.w1.weight", i, e);
        if (check_shape(&b, t, 2, I, H) < 0) return -1;
        ly->w1[e] = *t;
        t = find_fmt(&b, "model.layers.%d.block_sparse_moe.experts.%d.w3.weight", i, e);
        if (check_shape(&b, t, 2, I, H) < 0) return -1;
        ly->w3[e] = *t;
        t = find_fmt(&b, "model.layers.%d.block_sparse_moe.experts.%d.w2.weight", i, e);
        if (check_shape(&b, t, 2, H, I) < 0) return -1;
        ly->w2[e] = *t;
    }
    return 0;
}

static int bind_layer(binder *bb, mm_model *m, int i) {
    binder b = *bb;
    const mm_config *c = &m->cfg;
    mm_layer *ly = &m->layers[i];
    const int64_t H = c->hidden_size, NH = c->n_heads, D = c->head_dim, NKV = c->n_kv_heads;
    ly->type = c->layer_type[i];
    if (!(ly->in_norm = norm_f32(&b, find_fmt(&b, "model.layers.%d.input_layernorm.weight", i), H))) return -1;
    if (!(ly->post_norm = norm_f32(&b, find_fmt(&b, "model.layers.%d.post_attention_layernorm.weight", i), H))) return -1;
    if (ly->type == MM_LAYER_LIGHTNING) {
        const mm_tensor *t = find_fmt(&b, "model.layers.%d.self_attn.qkv_proj.weight", i);
        if (check_shape(&b, t, 2, 3 * NH * D, H) < 0) return -1;
        ly->qkv = *t;
        t = find_fmt(&b, "model.layers.%d.self_attn.output_gate.weight", i);
        if (check_shape(&b, t, 2, NH * D, H) < 0) return -1;
        ly->out_gate = *t;
        t = find_fmt(&b, "model.layers.%d.self_attn.out_proj.weight", i);
        if (check_shape(&b, t, 2, H, NH * D) < 0) return -1;
        ly->out_proj = *t;
        if (!(ly->attn_norm = norm_f32(&b, find_fmt(&b, "model.layers.%d.self_attn.norm.weight", i), NH * D))) return -1;
        ly->slope = mm_xmalloc(sizeof(float) * (size_t)NH);
        mm_slopes_layer((int)NH, i, c->n_layers, ly->slope);
        ly->alpha_attn = (float)c->alpha_lin;
        ly->beta_attn = (float)c->beta_lin;
    } else {
        const mm_tensor *t = find_fmt(&b, "model.layers.%d.self_attn.q_proj.weight", i);
        if (check_shape(&b, t, 2, NH * D, H) < 0) return -1;
        ly->wq = *t;
        t = find_fmt(&b, "model.layers.%d.self_attn.k_proj.weight", i);
        if (check_shape(&b, t, 2, NKV * D, H) < 0) return -1;
        ly->wk = *t;
        t = find_fmt(&b, "model.layers.%d.self_attn.v_proj.weight", i);
        if (check_shape(&b, t, 2, NKV * D, H) < 0) return -1;
        ly->wv = *t;
        t = find_fmt(&b, "model.layers.%d.self_attn.o_proj.weight", i);
        if (check_shape(&b, t, 2, H, NH * D) < 0) return -1;
        ly->wo = *t;
        ly->alpha_attn = (float)c->alpha_full;
        ly->beta_attn = (float)c->beta_full;
    }
    return bind_moe(&b, ly, i, c, m->expert_begin, m->expert_end);
}

/* A task head of transformers' generic classes (modeling_layers.py): MiniMaxForSequenceClassification's
 * `score` is Linear(H, num_labels, bias=False); MiniMaxForTokenClassification's `score` is Linear(H,
 * num_labels) with a bias; MiniMaxForQuestionAnswering's `qa_outputs` is Linear(H, 2) with a bias (start, end).
 * A tensor the class does not have is refused rather than ignored (it would change nothing silently). */
static int bind_head(binder *b, mm_model *m) {
    const mm_config *c = &m->cfg;
    const int64_t H = c->hidden_size;
    const char *wname = c->arch == MM_ARCH_QA ? "qa_outputs.weight" : "score.weight";
    const char *bname = c->arch == MM_ARCH_QA ? "qa_outputs.bias" : "score.bias";
    m->head_n = c->arch == MM_ARCH_QA ? 2 : c->num_labels;
    const mm_tensor *t = find_fmt(b, "%s", wname);
    if (check_shape(b, t, 2, (int64_t)m->head_n, H) < 0) {
        if (!t) mm_error_prefix("%s", mm_arch_name(c->arch));
        return -1;
    }
    m->head_w = *t;
    t = find_fmt(b, "%s", bname);
    if (c->arch == MM_ARCH_SEQ_CLS) {
        if (t) {
            mm_set_error("tensor \"%s\": MiniMaxForSequenceClassification's score has no bias (bias=False in transformers)",
                         bname);
            return -1;
        }
    } else if (!(m->head_b = norm_f32(b, t, m->head_n))) {
        return -1;
    }
    if (c->arch != MM_ARCH_QA) {
        char cfgpath[4096];
        snprintf(cfgpath, sizeof cfgpath, "%s/config.json", m->path);
        m->labels = mm_config_labels(cfgpath, c);
    }
    return 0;
}

static void free_layers(mm_model *m) {
    if (!m->layers) return;
    for (int i = 0; i < m->cfg.n_layers; i++) {
        mm_layer *ly = &m->layers[i];
        free(ly->in_norm);
        free(ly->post_norm);
        free(ly->attn_norm);
        free(ly->slope);
        free(ly->w1);
        free(ly->w2);
        free(ly->w3);
    }
    free(m->layers);
    m->layers = NULL;
}

/* Bytes of the tensors named model.layers.<i>.* for every layer i, into per_layer[L]; the embedding's, the head's
 * (lm_head, or the embedding again when tied) and the final norm's into *embed, *head. */
void mm_weights_layer_bytes(const mm_weights *w, const mm_config *c, int64_t *per_layer, int64_t *embed, int64_t *head) {
    memset(per_layer, 0, sizeof(int64_t) * (size_t)c->n_layers);
    *embed = *head = 0;
    for (int i = 0; i < mm_weights_count(w); i++) {
        const mm_tensor *t = mm_weights_at(w, i);
        const char *name = t->name ? t->name : "";
        int l = -1, n = 0;
        if (sscanf(name, "model.layers.%d.%n", &l, &n) == 1 && n > 0 && l >= 0 && l < c->n_layers)
            per_layer[l] += (int64_t)t->nbytes;
        else if (!strcmp(name, "model.embed_tokens.weight"))
            *embed += (int64_t)t->nbytes, *head += c->tie_word_embeddings ? (int64_t)t->nbytes : 0;
        else if (!strcmp(name, "lm_head.weight") || !strcmp(name, "model.norm.weight") || !strncmp(name, "score.", 6) ||
                 !strncmp(name, "qa_outputs.", 11))   /* the lm_head or a task head */
            *head += (int64_t)t->nbytes;
    }
}

/* Every matrix mm_matmul reads (lm_head, attention projections, router, experts) into list[]; returns the count. */
static int packable(mm_model *m, mm_tensor **list) {
    int n = 0;
    if (mm_model_has_head(m)) list[n++] = &m->lm_head;
    for (int i = m->layer_begin; i < m->layer_end; i++) {
        mm_layer *ly = &m->layers[i];
        mm_tensor *mats[] = {&ly->qkv, &ly->out_gate, &ly->out_proj, &ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->router};
        for (size_t j = 0; j < sizeof mats / sizeof mats[0]; j++)
            if (mats[j]->data) list[n++] = mats[j];
        for (int e = m->expert_begin; e < m->expert_end; e++) list[n++] = &ly->w1[e], list[n++] = &ly->w3[e], list[n++] = &ly->w2[e];
    }
    return n;
}

/* Gives each matrix the active kernels prefer packed a packed copy (mm_pack.h), all in one huge-page arena
 * (one allocation: a 2 MiB huge page per small matrix would add up to far more than the matrices), then drops
 * its stored bytes from this process's memory: they are clean pages of a read-only file mapping, so anything
 * that reads them again (an embedding row of a tied lm_head) gets them back from the file. */
static void pack_model(mm_model *m) {
    mm_tensor **list = mm_xmalloc(sizeof(mm_tensor *) * (size_t)(1 + m->cfg.n_layers * (8 + 3 * m->cfg.n_experts)));
    const int n = packable(m, list);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        mm_tensor *t = list[i];
        if (t->ndim == 2 && !t->pack && mm_kernels_prefer_packed(t->dtype))
            total += (mm_pack_bytes(t->dtype, t->shape[0], t->shape[1]) + 63) / 64 * 64;
    }
    if (total) {
        char *arena = mm_xalloc_huge(total), *at = arena;
        m->packs = mm_xmalloc(sizeof(void *));
        m->packs[m->n_packs++] = arena;
        for (int i = 0; i < n; i++) {
            mm_tensor *t = list[i];
            if (t->ndim != 2 || t->pack || !mm_kernels_prefer_packed(t->dtype)) continue;
            const int64_t N = t->shape[0], K = t->shape[1];
            const size_t bytes = mm_pack_bytes(t->dtype, N, K);
            mm_pack_matrix(t->dtype, t->data, mm_row_bytes(t->dtype, K), N, K, at);
            t->pack = at;
            at += (bytes + 63) / 64 * 64;
            m->bytes_packed += (int64_t)bytes;
            m->bytes_packed_src += (int64_t)t->nbytes;
            mm_release_file_pages(t->data, t->nbytes);
        }
    }
    free(list);
}

void mm_model_free(mm_model *m) {
    if (!m) return;
    mm_vision_free(m->vision);
    if (m->vision_weights) mm_weights_close(m->vision_weights);
    for (int i = 0; i < m->n_packs; i++) free(m->packs[i]);
    free(m->packs);
    free_layers(m);
    free(m->final_norm);
    free(m->end_norm);
    if (m->pp && m->pp->rank == 0 && getenv("MM_PP_REPORT")) mm_pp_report(m->pp);
    free(m->pp);
    free(m->inv_freq);
    free(m->head_b);
    for (int i = 0; m->labels && m->labels[i]; i++) free(m->labels[i]);
    free(m->labels);
    if (m->weights) mm_weights_close(m->weights);
    free(m->path);
    free(m);
}

int mm_model_open_weights(const char *dir, mm_config *cfg, mm_weights **w) {
    *w = NULL;
    if (mm_gguf_is_file(dir)) /* one .gguf file (llama.cpp minimax-01): config from its KVs, tensors renamed */
        return mm_gguf_load_model(dir, cfg, w);
    char cfgpath[4096];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.json", dir);
    if (mm_config_load(cfg, cfgpath) < 0) return -1;
    *w = mm_weights_open(dir);
    return *w ? 0 : -1;
}

/* The vision tower of a VL checkpoint directory: vision_config, preprocessor_config.json, and its tensors in the same
 * weight table (their parameters and bytes are kept apart from the per-token statistics). */
static int load_vision(mm_model *m, const char *dir) {
    mm_vision_config vc;
    if (mm_vision_config_load(&vc, dir, m->cfg.hidden_size) < 0) return -1;
    if (!(m->vision = mm_vision_bind(&vc, m->weights))) return -1;
    for (int i = 0; i < mm_weights_count(m->weights); i++) {
        const mm_tensor *t = mm_weights_at(m->weights, i);
        if (strstr(t->name, "vision_tower.") || strstr(t->name, "multi_modal_projector.") || strstr(t->name, "image_newline")) {
            m->vision_params += mm_tensor_nelem(t);
            m->vision_bytes += (int64_t)t->nbytes;
        }
    }
    return 0;
}

/* A vision GGUF (mmproj) next to a .gguf text model. */
static int load_mmproj(mm_model *m, const char *path) {
    if (m->vision) {
        mm_set_error("--mmproj %s: this model already has a vision tower (a VL checkpoint directory carries its own)", path);
        return -1;
    }
    mm_vision_config vc;
    if (mm_vision_gguf_load(path, m->cfg.hidden_size, &vc, &m->vision_weights) < 0) return -1;
    if (!(m->vision = mm_vision_bind(&vc, m->vision_weights))) {
        mm_error_prefix("%s", path);
        return -1;
    }
    m->cfg.vision = 1;
    m->cfg.image_token_index = vc.image_token_index;
    snprintf(m->cfg.model_type, sizeof m->cfg.model_type, "minimax_vl_01");   /* the VL chat template */
    return 0;
}

mm_model *mm_model_load(const char *dir, const mm_model_params *params) {
    mm_model *m = mm_xcalloc(1, sizeof *m);
    m->path = mm_xstrdup(dir);
    if (params && params->n_threads > 0) mm_set_threads(params->n_threads);
    if (mm_model_open_weights(dir, &m->cfg, &m->weights) < 0) goto fail;

    const mm_config *c = &m->cfg;
    binder b = {.w = m->weights, .body = "model.", .head = "lm_head.weight"};
    if (c->vision && mm_weights_find(m->weights, "language_model.model.embed_tokens.weight"))
        b.body = "language_model.model.", b.head = "language_model.lm_head.weight";
    else if (c->vision && mm_weights_find(m->weights, "model.language_model.embed_tokens.weight"))
        b.body = "model.language_model.";
    const int64_t H = c->hidden_size, V = c->vocab_size;
    m->layer_begin = params ? params->layer_begin : 0;
    m->layer_end = params && params->layer_end ? params->layer_end : c->n_layers;
    if (m->layer_begin < 0 || m->layer_end > c->n_layers || m->layer_begin >= m->layer_end) {
        mm_set_error("layer range [%d, %d) is not inside the model's %d layers", m->layer_begin, m->layer_end, c->n_layers);
        goto fail;
    }
    m->no_head = params ? params->no_head != 0 : 0;
    m->expert_begin = params ? params->expert_begin : 0;
    m->expert_end = params && params->expert_end ? params->expert_end : c->n_experts;
    if (m->expert_begin < 0 || m->expert_end > c->n_experts || m->expert_begin >= m->expert_end) {
        mm_set_error("expert range [%d, %d) is not inside the model's %d experts", m->expert_begin, m->expert_end,
                     c->n_experts);
        goto fail;
    }
    const int lm = c->arch == MM_ARCH_CAUSAL_LM;   /* else a task head instead of the lm_head (bind_head) */
    const mm_tensor *t = NULL;
    if (mm_model_has_embed(m) || (mm_model_has_head(m) && lm && c->tie_word_embeddings)) {
        t = find_fmt(&b, "model.embed_tokens.weight");
        if (check_shape(&b, t, 2, V, H) < 0) goto fail;
        if (mm_model_has_embed(m)) m->embed = *t;
    }
    if (mm_model_has_head(m)) {
        if (!lm) {
            if (bind_head(&b, m) < 0) goto fail;
        } else if (c->tie_word_embeddings) {
            m->lm_head = *t;
        } else {
            t = find_fmt(&b, "lm_head.weight");
            if (check_shape(&b, t, 2, V, H) < 0) goto fail;
            m->lm_head = *t;
        }
        if (!(m->final_norm = norm_f32(&b, find_fmt(&b, "model.norm.weight"), H))) goto fail;
    } else if (m->layer_end < c->n_layers &&
               !(m->end_norm = norm_f32(&b, find_fmt(&b, "model.layers.%d.input_layernorm.weight", m->layer_end), H))) {
        goto fail;
    }

    m->layers = mm_xcalloc((size_t)c->n_layers, sizeof(mm_layer));
    int nl = 0, ns = 0;
    for (int i = 0; i < c->n_layers; i++) {
        if (i == m->layer_begin) m->lin_begin = nl, m->soft_begin = ns;
        if (i >= m->layer_begin && i < m->layer_end && bind_layer(&b, m, i) < 0) goto fail;
        m->layers[i].type = c->layer_type[i];
        m->layers[i].kind_index = m->layers[i].type == MM_LAYER_LIGHTNING ? nl++ : ns++;
        if (i + 1 == m->layer_end) m->lin_end = nl, m->soft_end = ns;
    }
    {
        int64_t *per = mm_xmalloc(sizeof(int64_t) * (size_t)c->n_layers), eb, hb;
        mm_weights_layer_bytes(m->weights, c, per, &eb, &hb);
        for (int i = m->layer_begin; i < m->layer_end; i++) {
            /* less the experts another rank holds (expert parallelism): all experts of a layer have one size */
            const mm_layer *ly = &m->layers[i];
            const int64_t expert = (int64_t)(ly->w1[m->expert_begin].nbytes + ly->w3[m->expert_begin].nbytes +
                                             ly->w2[m->expert_begin].nbytes);
            m->bytes_bound += per[i] - expert * (c->n_experts - (m->expert_end - m->expert_begin));
        }
        if (mm_model_has_embed(m)) m->bytes_bound += eb;
        if (mm_model_has_head(m) && !(mm_model_has_embed(m) && c->tie_word_embeddings)) m->bytes_bound += hb;
        free(per);
    }

    int half = c->rotary_dim / 2;
    m->inv_freq = mm_xmalloc(sizeof(float) * (size_t)(half > 0 ? half : 1));
    for (int i = 0; i < half; i++) {
        /* torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), evaluated in f32 */
        float e = (float)(2 * i) / (float)c->rotary_dim;
        m->inv_freq[i] = 1.0f / powf((float)c->rope_theta, e);
    }
    if (c->vision && load_vision(m, dir) < 0) goto fail;
    if (params && params->mmproj && load_mmproj(m, params->mmproj) < 0) goto fail;
    if (!(params && params->no_repack)) pack_model(m);
    return m;
fail:
    mm_error_prefix("loading %s", dir);
    mm_model_free(m);
    return NULL;
}

const mm_config *mm_model_config(const mm_model *m) { return &m->cfg; }
const char *mm_model_path(const mm_model *m) { return m->path; }

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}

uint64_t mm_model_fingerprint(const mm_model *m) {
    const mm_config *c = &m->cfg;
    const int32_t dims[] = {c->vocab_size, c->hidden_size, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->rotary_dim,
                            c->intermediate_size, c->n_experts, c->n_experts_per_tok};
    uint64_t h = fnv(0xcbf29ce484222325ull, dims, sizeof dims);
    h = fnv(h, c->layer_type, (size_t)c->n_layers);
    for (int i = 0; i < mm_weights_count(m->weights); i++) {
        const mm_tensor *t = mm_weights_at(m->weights, i);
        const size_t k = t->nbytes < 64 ? t->nbytes : 64;
        h = fnv(h, t->name, strlen(t->name));
        h = fnv(h, &t->dtype, sizeof t->dtype);
        h = fnv(h, t->shape, sizeof(t->shape[0]) * (size_t)t->ndim);
        h = fnv(h, t->data, k);
        h = fnv(h, (const char *)t->data + t->nbytes - k, k);
    }
    return h;
}

_Static_assert(MM_DTYPE_COUNT <= (int)(sizeof ((mm_model_stats *)0)->bytes_by_dtype / sizeof(int64_t)),
               "mm_model_stats.bytes_by_dtype has a slot for every storage dtype");

void mm_model_get_stats(const mm_model *m, mm_model_stats *st) {
    memset(st, 0, sizeof *st);
    const mm_config *c = &m->cfg;
    st->bytes_packed = m->bytes_packed;
    st->n_params_vision = m->vision_params;
    st->bytes_vision = m->vision_bytes;
    for (int i = 0; i < mm_weights_count(m->weights); i++) {
        const mm_tensor *t = mm_weights_at(m->weights, i);
        st->n_params += mm_tensor_nelem(t);
        st->bytes_total += (int64_t)t->nbytes;
        st->bytes_by_dtype[t->dtype] += (int64_t)t->nbytes;
    }
    /* Active per token: everything except the non-chosen experts and all but one embedding row. */
    int64_t expert_params = 0, expert_bytes = 0;
    for (int i = 0; i < c->n_layers; i++) {
        const mm_layer *ly = &m->layers[i];
        for (int e = 0; e < c->n_experts && ly->w1; e++) {
            expert_params += mm_tensor_nelem(&ly->w1[e]) + mm_tensor_nelem(&ly->w2[e]) + mm_tensor_nelem(&ly->w3[e]);
            expert_bytes += (int64_t)(ly->w1[e].nbytes + ly->w2[e].nbytes + ly->w3[e].nbytes);
        }
    }
    double frac = (double)c->n_experts_per_tok / c->n_experts;
    int64_t embed_params = mm_tensor_nelem(&m->embed);
    st->n_params_active = st->n_params - expert_params + (int64_t)(expert_params * frac) - embed_params + c->hidden_size;
    st->bytes_per_token = st->bytes_total - expert_bytes + (int64_t)(expert_bytes * frac) - (int64_t)m->embed.nbytes +
                          (int64_t)mm_row_bytes(m->embed.dtype, c->hidden_size) - m->vision_bytes;
    st->n_params_active -= m->vision_params;
    if (c->tie_word_embeddings) { /* the tied matrix is read in full by the head */
        st->n_params_active += embed_params;
        st->bytes_per_token += (int64_t)m->embed.nbytes;
    }
}
