/* mm_model.c — binds a checkpoint's tensors to the model structure, checking every name and shape.
 * Accepts three expert layouts: per-expert block_sparse_moe.experts.{e}.w1/w2/w3 (as released), the
 * fused mlp.experts.gate_up_proj / down_proj of newer transformers, and stacked per-kind
 * mlp.experts.gate_proj / up_proj / down_proj (the form GGUF files are mapped to). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/mm_model.h"
#include "formats/mm_config.h"
#include "formats/mm_weights.h"
#include "formats/mm_gguf.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"

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
typedef struct {
    const mm_weights *w;
    char name[256];
} binder;

static const mm_tensor *find_fmt(binder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const mm_tensor *find_fmt(binder *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->name, sizeof b->name, fmt, ap);
    va_end(ap);
    return mm_weights_find(b->w, b->name);
}

/* Checks dtype and shape of the tensor last looked up; ndim dims follow. */
static int check_shape(binder *b, const mm_tensor *t, int ndim, ...) {
    if (!t) {
        mm_set_error("tensor \"%s\" is missing from the checkpoint", b->name);
        return -1;
    }
    int64_t want[4] = {0};
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) want[i] = va_arg(ap, int64_t);
    va_end(ap);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[96] = "", exp[96] = "";
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        for (int i = 0; i < ndim; i++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? ", " : "", (long long)want[i]);
        mm_set_error("tensor \"%s\" in %s has shape [%s], expected [%s] from config.json", b->name,
                     mm_weights_file_of(b->w, b->name), got, exp);
        return -1;
    }
    if (mm_row_bytes(t->dtype, t->shape[t->ndim - 1]) == 0) {
        mm_set_error("tensor \"%s\" in %s: %s rows of %lld elements are not whole blocks", b->name,
                     mm_weights_file_of(b->w, b->name), mm_dtype_name(t->dtype), (long long)t->shape[t->ndim - 1]);
        return -1;
    }
    return 0;
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

static int bind_moe(binder *bb, mm_layer *ly, int i, const mm_config *c) {
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
        for (int64_t e = 0; e < E; e++) {
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
        for (int64_t e = 0; e < E; e++) {
            ly->w1[e] = mm_tensor_slab(gate, e, 0, I);
            ly->w3[e] = mm_tensor_slab(up, e, 0, I);
            ly->w2[e] = mm_tensor_slab(down, e, 0, H);
        }
        return 0;
    }
    for (int e = 0; e < (int)E; e++) {
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
    return bind_moe(&b, ly, i, c);
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

/* Every matrix mm_matmul reads (lm_head, attention projections, router, experts) into list[]; returns the count. */
static int packable(mm_model *m, mm_tensor **list) {
    int n = 0;
    list[n++] = &m->lm_head;
    for (int i = 0; i < m->cfg.n_layers; i++) {
        mm_layer *ly = &m->layers[i];
        mm_tensor *mats[] = {&ly->qkv, &ly->out_gate, &ly->out_proj, &ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->router};
        for (size_t j = 0; j < sizeof mats / sizeof mats[0]; j++)
            if (mats[j]->data) list[n++] = mats[j];
        for (int e = 0; e < m->cfg.n_experts; e++) list[n++] = &ly->w1[e], list[n++] = &ly->w3[e], list[n++] = &ly->w2[e];
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
            mm_release_file_pages(t->data, t->nbytes);
        }
    }
    free(list);
}

void mm_model_free(mm_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_packs; i++) free(m->packs[i]);
    free(m->packs);
    free_layers(m);
    free(m->final_norm);
    free(m->inv_freq);
    free(m->head_b);
    for (int i = 0; m->labels && m->labels[i]; i++) free(m->labels[i]);
    free(m->labels);
    if (m->weights) mm_weights_close(m->weights);
    free(m->path);
    free(m);
}

mm_model *mm_model_load(const char *dir, const mm_model_params *params) {
    mm_model *m = mm_xcalloc(1, sizeof *m);
    m->path = mm_xstrdup(dir);
    if (params && params->n_threads > 0) mm_set_threads(params->n_threads);
    if (mm_gguf_is_file(dir)) { /* one .gguf file (llama.cpp minimax-01): config from its KVs, tensors renamed */
        if (mm_gguf_load_model(dir, &m->cfg, &m->weights) < 0) goto fail;
    } else {
        char cfgpath[4096];
        snprintf(cfgpath, sizeof cfgpath, "%s/config.json", dir);
        if (mm_config_load(&m->cfg, cfgpath) < 0) goto fail;
        m->weights = mm_weights_open(dir);
        if (!m->weights) goto fail;
    }

    const mm_config *c = &m->cfg;
    binder b = {.w = m->weights};
    const int64_t H = c->hidden_size, V = c->vocab_size;
    const mm_tensor *t = find_fmt(&b, "model.embed_tokens.weight");
    if (check_shape(&b, t, 2, V, H) < 0) goto fail;
    m->embed = *t;
    if (c->arch != MM_ARCH_CAUSAL_LM) {
        if (bind_head(&b, m) < 0) goto fail;
    } else if (c->tie_word_embeddings) {
        m->lm_head = m->embed;
    } else {
        t = find_fmt(&b, "lm_head.weight");
        if (check_shape(&b, t, 2, V, H) < 0) goto fail;
        m->lm_head = *t;
    }
    if (!(m->final_norm = norm_f32(&b, find_fmt(&b, "model.norm.weight"), H))) goto fail;

    m->layers = mm_xcalloc((size_t)c->n_layers, sizeof(mm_layer));
    int nl = 0, ns = 0;
    for (int i = 0; i < c->n_layers; i++) {
        if (bind_layer(&b, m, i) < 0) goto fail;
        m->layers[i].kind_index = m->layers[i].type == MM_LAYER_LIGHTNING ? nl++ : ns++;
    }

    int half = c->rotary_dim / 2;
    m->inv_freq = mm_xmalloc(sizeof(float) * (size_t)(half > 0 ? half : 1));
    for (int i = 0; i < half; i++) {
        /* torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), evaluated in f32 */
        float e = (float)(2 * i) / (float)c->rotary_dim;
        m->inv_freq[i] = 1.0f / powf((float)c->rope_theta, e);
    }
    if (!(params && params->no_repack)) pack_model(m);
    return m;
fail:
    mm_error_prefix("loading %s", dir);
    mm_model_free(m);
    return NULL;
}

const mm_config *mm_model_config(const mm_model *m) { return &m->cfg; }
const char *mm_model_path(const mm_model *m) { return m->path; }

void mm_model_get_stats(const mm_model *m, mm_model_stats *st) {
    memset(st, 0, sizeof *st);
    const mm_config *c = &m->cfg;
    st->bytes_packed = m->bytes_packed;
    for (int i = 0; i < mm_weights_count(m->weights); i++) {
        const mm_tensor *t = mm_weights_at(m->weights, i);
        st->n_params += mm_tensor_nelem(t);
        st->bytes_total += (int64_t)t->nbytes;
        if ((int)t->dtype < 16) st->bytes_by_dtype[t->dtype] += (int64_t)t->nbytes;
    }
    /* Active per token: everything except the non-chosen experts and all but one embedding row. */
    int64_t expert_params = 0, expert_bytes = 0;
    for (int i = 0; i < c->n_layers; i++) {
        const mm_layer *ly = &m->layers[i];
        for (int e = 0; e < c->n_experts; e++) {
            expert_params += mm_tensor_nelem(&ly->w1[e]) + mm_tensor_nelem(&ly->w2[e]) + mm_tensor_nelem(&ly->w3[e]);
            expert_bytes += (int64_t)(ly->w1[e].nbytes + ly->w2[e].nbytes + ly->w3[e].nbytes);
        }
    }
    double frac = (double)c->n_experts_per_tok / c->n_experts;
    int64_t embed_params = mm_tensor_nelem(&m->embed);
    st->n_params_active = st->n_params - expert_params + (int64_t)(expert_params * frac) - embed_params + c->hidden_size;
    st->bytes_per_token = st->bytes_total - expert_bytes + (int64_t)(expert_bytes * frac) - (int64_t)m->embed.nbytes +
                          (int64_t)mm_row_bytes(m->embed.dtype, c->hidden_size);
    if (c->tie_word_embeddings) { /* the tied matrix is read in full by the head */
        st->n_params_active += embed_params;
        st->bytes_per_token += (int64_t)m->embed.nbytes;
    }
}
