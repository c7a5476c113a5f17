/* mm_tparams.c — the trainer's parameters: offsets in one flat f32 array, names and shapes in the released
 * checkpoints' state-dict order, initialisation, and checkpoints in the Hugging Face layout (remote dialect). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "train/mm_train.h"
#include "formats/mm_mkmodel.h"
#include "formats/mm_safetensors.h"
#include "model/mm_model.h"

/* ---------------------------------------------------------------- shapes */
int mm_tdims_preset(mm_tdims *d, const char *name, int vocab) {
    memset(d, 0, sizeof *d);
    d->V = vocab;
    d->B = 256;
    d->eps = 1e-5;
    d->aux_coef = 0.001;
    d->rope_theta = 1e7;
    if (!strcmp(name, "demo")) {
        /* 10.9M parameters (6.2M per token): 7 lightning layers and 1 softmax layer, 4 heads of 64 (a power of two, as
         * llama.cpp's minimax-01 graph needs), GQA 2:1, half-width RoPE, 4 experts of which 2 per token; every matrix
         * row is a multiple of 256 long, so the K-quants apply to all of them */
        d->H = 256, d->L = 8, d->NH = 4, d->NKV = 2, d->D = 64, d->R = 32, d->I = 256, d->E = 4, d->K = 2;
    } else if (!strcmp(name, "tiny")) {
        d->H = 32, d->L = 8, d->NH = 2, d->NKV = 1, d->D = 16, d->R = 8, d->I = 32, d->E = 4, d->K = 2;
    } else {
        mm_set_error("unknown model preset '%s' (expected demo or tiny)", name);
        return -1;
    }
    for (int l = 0; l < d->L; l++) d->layer_type[l] = (l + 1) % 8 == 0 || l == d->L - 1 ? MM_LAYER_SOFTMAX : MM_LAYER_LIGHTNING;
    d->alpha_lin = d->alpha_full = d->alpha_mlp = pow(2.0 * d->L, 0.25); /* DeepNorm α = (2L)^(1/4), as mkmodel writes */
    d->beta_lin = d->beta_full = d->beta_mlp = 1.0;
    return 0;
}

int mm_tdims_from_config(mm_tdims *d, const mm_config *c) {
    if (!c->postnorm) {
        mm_set_error("train: the trainer implements the post-norm (DeepNorm) residual only; this config has postnorm false");
        return -1;
    }
    if (c->tie_word_embeddings) {
        mm_set_error("train: tied embeddings are not supported by the trainer");
        return -1;
    }
    memset(d, 0, sizeof *d);
    d->V = c->vocab_size, d->H = c->hidden_size, d->L = c->n_layers, d->NH = c->n_heads, d->NKV = c->n_kv_heads;
    d->D = c->head_dim, d->R = c->rotary_dim, d->I = c->intermediate_size, d->E = c->n_experts;
    d->K = c->n_experts_per_tok, d->B = c->block_size, d->eps = c->rms_norm_eps, d->rope_theta = c->rope_theta;
    d->alpha_lin = c->alpha_lin, d->beta_lin = c->beta_lin, d->alpha_full = c->alpha_full, d->beta_full = c->beta_full;
    d->alpha_mlp = c->alpha_mlp, d->beta_mlp = c->beta_mlp;
    d->aux_coef = 0.001;
    memcpy(d->layer_type, c->layer_type, sizeof d->layer_type);
    return 0;
}

int mm_tlayout_init(mm_tlayout *lo, const mm_tdims *d) {
    memset(lo, 0, sizeof *lo);
    if (d->V < 1 || d->H < 1 || d->L < 1 || d->L > MM_MAX_LAYERS || d->NH < 1 || d->NH > 64 || d->NKV < 1 ||
        d->NH % d->NKV || d->D < 2 || d->R < 0 || d->R > d->D || d->R % 2 || d->I < 1 || d->E < 1 || d->K < 1 ||
        d->K > d->E || d->B < 1) {
        mm_set_error("train: inconsistent model shape (vocab %d, hidden %d, layers %d, heads %d/%d, head dim %d, rotary %d, "
                     "ffn %d, experts %d top-%d, block %d)",
                     d->V, d->H, d->L, d->NH, d->NKV, d->D, d->R, d->I, d->E, d->K, d->B);
        return -1;
    }
    lo->d = *d;
    const size_t V = d->V, H = d->H, NHD = (size_t)d->NH * d->D, NKVD = (size_t)d->NKV * d->D, I = d->I, E = d->E;
    size_t o = 0;
#define TAKE(field, n) (field = o, o += (n))
    TAKE(lo->embed, V * H);
    for (int l = 0; l < d->L; l++) {
        mm_tlayer_off *L = &lo->layer[l];
        TAKE(L->in_norm, H);
        TAKE(L->post_norm, H);
        if (d->layer_type[l] == MM_LAYER_LIGHTNING) {
            TAKE(L->qkv, 3 * NHD * H);
            TAKE(L->ogate, NHD * H);
            TAKE(L->anorm, NHD);
            TAKE(L->oproj, H * NHD);
            mm_slopes_layer(d->NH, l, d->L, L->slope);
        } else {
            TAKE(L->wq, NHD * H);
            TAKE(L->wk, NKVD * H);
            TAKE(L->wv, NKVD * H);
            TAKE(L->wo, H * NHD);
        }
        TAKE(L->router, E * H);
        TAKE(L->w1, E * I * H);
        TAKE(L->w3, E * I * H);
        TAKE(L->w2, E * H * I);
    }
    TAKE(lo->final_norm, H);
    TAKE(lo->lm_head, V * H);
#undef TAKE
    lo->n_params = o;
    const int half = d->R / 2;
    lo->inv_freq = mm_xmalloc(sizeof(float) * (size_t)(half > 0 ? half : 1));
    for (int i = 0; i < half; i++) /* as the engine's mm_model_load: 1 / theta^(2i/R) in f32 */
        lo->inv_freq[i] = 1.0f / powf((float)d->rope_theta, (float)(2 * i) / (float)d->R);
    return 0;
}

void mm_tlayout_free(mm_tlayout *lo) {
    free(lo->inv_freq);
    lo->inv_freq = NULL;
}

/* ---------------------------------------------------------------- names */
static void add(mm_tparam **t, int *n, size_t off, int is_norm, int64_t r, int64_t c, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void add(mm_tparam **t, int *n, size_t off, int is_norm, int64_t r, int64_t c, const char *fmt, ...) {
    *t = mm_xrealloc(*t, sizeof **t * (size_t)(*n + 1));
    mm_tparam *p = &(*t)[(*n)++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->off = off;
    p->is_norm = is_norm;
    p->ndim = c ? 2 : 1;
    p->shape[0] = r;
    p->shape[1] = c;
    p->n = c ? r * c : r;
}

int mm_tparams_table(const mm_tlayout *lo, mm_tparam **out) {
    const mm_tdims *d = &lo->d;
    const int64_t V = d->V, H = d->H, NHD = (int64_t)d->NH * d->D, NKVD = (int64_t)d->NKV * d->D, I = d->I;
    mm_tparam *t = NULL;
    int n = 0;
    add(&t, &n, lo->embed, 0, V, H, "model.embed_tokens.weight");
    for (int l = 0; l < d->L; l++) {
        const mm_tlayer_off *L = &lo->layer[l];
        if (d->layer_type[l] == MM_LAYER_LIGHTNING) {
            add(&t, &n, L->qkv, 0, 3 * NHD, H, "model.layers.%d.self_attn.qkv_proj.weight", l);
            add(&t, &n, L->ogate, 0, NHD, H, "model.layers.%d.self_attn.output_gate.weight", l);
            add(&t, &n, L->anorm, 1, NHD, 0, "model.layers.%d.self_attn.norm.weight", l);
            add(&t, &n, L->oproj, 0, H, NHD, "model.layers.%d.self_attn.out_proj.weight", l);
        } else {
            add(&t, &n, L->wq, 0, NHD, H, "model.layers.%d.self_attn.q_proj.weight", l);
            add(&t, &n, L->wk, 0, NKVD, H, "model.layers.%d.self_attn.k_proj.weight", l);
            add(&t, &n, L->wv, 0, NKVD, H, "model.layers.%d.self_attn.v_proj.weight", l);
            add(&t, &n, L->wo, 0, H, NHD, "model.layers.%d.self_attn.o_proj.weight", l);
        }
        add(&t, &n, L->in_norm, 1, H, 0, "model.layers.%d.input_layernorm.weight", l);
        add(&t, &n, L->post_norm, 1, H, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        add(&t, &n, L->router, 0, d->E, H, "model.layers.%d.block_sparse_moe.gate.weight", l);
        for (int e = 0; e < d->E; e++) {
            add(&t, &n, L->w1 + (size_t)e * I * H, 0, I, H, "model.layers.%d.block_sparse_moe.experts.%d.w1.weight", l, e);
            add(&t, &n, L->w2 + (size_t)e * H * I, 0, H, I, "model.layers.%d.block_sparse_moe.experts.%d.w2.weight", l, e);
            add(&t, &n, L->w3 + (size_t)e * I * H, 0, I, H, "model.layers.%d.block_sparse_moe.experts.%d.w3.weight", l, e);
        }
    }
    add(&t, &n, lo->final_norm, 1, H, 0, "model.norm.weight");
    add(&t, &n, lo->lm_head, 0, V, H, "lm_head.weight");
    *out = t;
    return n;
}

/* ---------------------------------------------------------------- initialisation */
static inline uint64_t mix64(uint64_t z) { /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void mm_tparams_init(const mm_tlayout *lo, float *p, uint64_t seed) {
    mm_tparam *t;
    const int n = mm_tparams_table(lo, &t);
    for (int i = 0; i < n; i++) {
        float *w = p + t[i].off;
        if (t[i].is_norm) {
            for (int64_t j = 0; j < t[i].n; j++) w[j] = 1.0f;
            continue;
        }
        const uint64_t key = mix64(seed ^ mix64((uint64_t)i + 0x9e3779b97f4a7c15ull));
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < t[i].n; j++) { /* Box-Muller on a counter: element j's value depends on (seed, i, j) only */
            const uint64_t r = mix64(key + (uint64_t)(j + 1) * 0x9e3779b97f4a7c15ull);
            const double u1 = ((double)(r >> 40) + 0.5) / 16777216.0, u2 = (double)(r & 0xffffff) / 16777216.0;
            w[j] = (float)(0.02 * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
    }
    free(t);
}

/* ---------------------------------------------------------------- checkpoints */
static int mkdir_one(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        mm_set_error("%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Streams parameters (names prefixed by `prefix`) of one or two arrays to dir/model.safetensors. */
static int write_tensors(const char *dir, const mm_tlayout *lo, const float *a, const float *b, const char *pa,
                         const char *pb, mm_dtype dt) {
    mm_tparam *t;
    const int n = mm_tparams_table(lo, &t);
    mm_st_writer *w = mm_st_writer_new(dir, 0);
    int rc = 0;
    for (int pass = 0; pass < (b ? 2 : 1) && !rc; pass++)
        for (int i = 0; i < n && !rc; i++) {
            char name[160];
            snprintf(name, sizeof name, "%s%s", pass ? pb : pa, t[i].name);
            rc = mm_st_writer_add(w, name, dt, t[i].ndim, t[i].shape);
        }
    if (!rc) rc = mm_st_writer_begin(w);
    uint16_t *buf = NULL;
    for (int pass = 0; pass < (b ? 2 : 1) && !rc; pass++) {
        const float *src = pass ? b : a;
        for (int i = 0; i < n && !rc; i++) {
            const float *x = src + t[i].off;
            if (dt == MM_F32) {
                rc = mm_st_writer_write(w, x, sizeof(float) * (size_t)t[i].n);
            } else {
                buf = mm_xrealloc(buf, sizeof(uint16_t) * (size_t)t[i].n);
                for (int64_t j = 0; j < t[i].n; j++) buf[j] = mm_f32_to_bf16(x[j]);
                rc = mm_st_writer_write(w, buf, sizeof(uint16_t) * (size_t)t[i].n);
            }
        }
    }
    if (!rc) rc = mm_st_writer_finish(w);
    free(buf);
    mm_st_writer_free(w);
    free(t);
    return rc;
}

static void dims_to_mk(const mm_tdims *d, mm_mkmodel_params *mp, mm_dtype dt) {
    memset(mp, 0, sizeof *mp);
    mp->vocab_size = d->V, mp->hidden_size = d->H, mp->n_layers = d->L, mp->n_heads = d->NH;
    mp->n_kv_heads = d->NKV, mp->head_dim = d->D, mp->rotary_dim = d->R, mp->intermediate_size = d->I;
    mp->n_experts = d->E, mp->top_k = d->K, mp->max_position_embeddings = 65536, mp->rope_theta = d->rope_theta;
    memcpy(mp->layer_type, d->layer_type, sizeof mp->layer_type);
    mp->dtype = dt;
    mp->dialect = MM_DIALECT_REMOTE;
    mp->pad_token_id = -1;
}

int mm_tcheckpoint_write(const char *dir, const mm_tlayout *lo, const float *p, mm_dtype dt, const char *tokenizer) {
    const mm_tdims *d = &lo->d;
    /* config.json is mkmodel's, which writes DeepNorm α = (2L)^(1/4), β = 1, eps 1e-5, block 256 (remote) */
    if (fabs(d->alpha_lin - pow(2.0 * d->L, 0.25)) > 1e-12 || d->beta_lin != 1 || d->eps != 1e-5 || d->B != 256) {
        mm_set_error("train: a checkpoint can hold DeepNorm α = (2L)^(1/4), β = 1, eps 1e-5 and block 256 only");
        return -1;
    }
    if (mkdir_one(dir) < 0) return -1;
    if (write_tensors(dir, lo, p, NULL, "", NULL, dt) < 0) return -1;
    if (tokenizer && mm_mkmodel_copy_tokenizer(dir, tokenizer) < 0) return -1;
    mm_mkmodel_params mp;
    dims_to_mk(d, &mp, dt);
    char *cfg = mm_mkmodel_config_json(&mp), path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    int rc = f && fputs(cfg, f) >= 0 ? 0 : -1;
    if (f && fclose(f) != 0) rc = -1;
    if (rc) mm_set_error("%s: cannot write: %s", path, strerror(errno));
    free(cfg);
    return rc;
}

static int read_tensors(const char *file, const mm_tlayout *lo, float *a, float *b, const char *pa, const char *pb) {
    mm_st_file *f = mm_st_open(file);
    if (!f) return -1;
    mm_tparam *t;
    const int n = mm_tparams_table(lo, &t);
    int rc = 0;
    for (int pass = 0; pass < (b ? 2 : 1) && !rc; pass++)
        for (int i = 0; i < n && !rc; i++) {
            char name[160];
            snprintf(name, sizeof name, "%s%s", pass ? pb : pa, t[i].name);
            const mm_tensor *x = mm_st_find(f, name);
            if (!x || x->ndim != t[i].ndim || x->shape[0] != t[i].shape[0] || (x->ndim == 2 && x->shape[1] != t[i].shape[1])) {
                mm_set_error("%s: tensor %s is %s (the trainer expects [%lld%s%lld] for this config)", file, name,
                             x ? "of another shape" : "missing", (long long)t[i].shape[0], t[i].ndim == 2 ? ", " : "",
                             t[i].ndim == 2 ? (long long)t[i].shape[1] : 0LL);
                rc = -1;
                break;
            }
            if (x->dtype != MM_F32 && x->dtype != MM_BF16 && x->dtype != MM_F16) {
                mm_set_error("%s: tensor %s is %s (F32, F16 or BF16 expected)", file, name, mm_dtype_name(x->dtype));
                rc = -1;
                break;
            }
            float *dst = (pass ? b : a) + t[i].off;
            for (int64_t j = 0; j < t[i].n; j++) dst[j] = mm_tensor_get_f32(x, j);
        }
    free(t);
    mm_st_close(f);
    return rc;
}

int mm_tcheckpoint_read(const char *dir, const mm_tlayout *lo, float *p) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return read_tensors(path, lo, p, NULL, "", NULL);
}

int mm_toptim_write(const char *dir, const mm_tlayout *lo, const float *m, const float *v) {
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/optimizer", dir);
    if (mkdir_one(dir) < 0 || mkdir_one(sub) < 0) return -1;
    return write_tensors(sub, lo, m, v, "m.", "v.", MM_F32);
}

int mm_toptim_read(const char *dir, const mm_tlayout *lo, float *m, float *v) {
    char path[4096];
    snprintf(path, sizeof path, "%s/optimizer/model.safetensors", dir);
    return read_tensors(path, lo, m, v, "m.", "v.");
}
