/* mm_clip.c — the CLIP vision tower of MiniMax-VL-01 (MiniMax's modeling_clip.py; golden-vl README §3): binding
 * its weights, and the forward pass over groups of patches. Per patch: conv patch embedding (no bias) as a
 * matrix product over im2col rows, CLS prepended, learned positions added, pre_layrnorm, then pre-LN layers
 *   h += out_proj(attention(layer_norm1(h))),  h += fc2(act(fc1(layer_norm2(h))))
 * with q/k/v/out biases, softmax scale 1/sqrt(head width), LayerNorm eps from the config. Attention is full
 * within a patch and absent between patches (the reference's block-diagonal varlen attention), so patches are
 * independent; a group of patches shares every projection (one matrix product of G·577 rows). The features are
 * the last layer's hidden states without CLS; post_layernorm is never applied (nor present in the checkpoint). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/mm_pool.h"
#include "formats/mm_weights.h"
#include "kernels/mm_attn_dense.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"
#include "vision/mm_vision.h"

/* ---------------------------------------------------------------- binding */
typedef struct {
    const mm_weights *w;
    const char *tower, *proj, *newline;   /* name prefixes of the layout found */
    char name[512];
} vbinder;

static const char *nm(vbinder *b, const char *prefix, const char *fmt, int i) {
    char rest[192];
    snprintf(rest, sizeof rest, fmt, i);
    snprintf(b->name, sizeof b->name, "%s%s", prefix, rest);
    return b->name;
}
static int mat(vbinder *b, const char *name, int64_t rows, int64_t cols, mm_tensor *out) {
    const int64_t dims[2] = {rows, cols};
    const mm_tensor *t = mm_weights_expect(b->w, name, 2, dims);
    if (!t) return -1;
    *out = *t;
    return 0;
}

void mm_vision_free(mm_vision *v) {
    if (!v) return;
    for (int l = 0; v->layers && l < v->cfg.n_layers; l++) {
        mm_vision_layer *ly = &v->layers[l];
        float *vecs[] = {ly->bq, ly->bk, ly->bv, ly->bo, ly->ln1_w, ly->ln1_b, ly->ln2_w, ly->ln2_b, ly->b1, ly->b2};
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) free(vecs[i]);
    }
    free(v->layers);
    free(v->cls);
    free(v->pos);
    free(v->pre_w);
    free(v->pre_b);
    free(v->proj1_b);
    free(v->proj2_b);
    free(v->newline);
    free(v->times);
    free(v);
}

mm_vision *mm_vision_bind(const mm_vision_config *cfg, const mm_weights *w) {
    static const char *towers[] = {"vision_tower.vision_model.", "model.vision_tower.vision_model.", "model.vision_tower."};
    vbinder b = {.w = w};
    for (size_t i = 0; i < 3 && !b.tower; i++)
        if (mm_weights_find(w, nm(&b, towers[i], "embeddings.patch_embedding.weight", 0))) b.tower = towers[i];
    if (!b.tower) {
        mm_set_error("the checkpoint has no vision tower: none of vision_tower.vision_model.embeddings.patch_embedding.weight "
                     "(as released) or model.vision_tower[.vision_model].embeddings.patch_embedding.weight (transformers)");
        return NULL;
    }
    const int native = strncmp(b.tower, "model.", 6) == 0;
    b.proj = native ? "model.multi_modal_projector." : "multi_modal_projector.";
    b.newline = native ? "model.image_newline" : "image_newline";
    mm_vision *v = mm_xcalloc(1, sizeof *v);
    v->cfg = *cfg;
    v->times = mm_xcalloc(1, sizeof *v->times);
    const int64_t D = cfg->hidden, F = cfg->intermediate, H = cfg->text_hidden, p = cfg->img.patch_size;
    const int64_t side = cfg->img.image_size / p, P = side * side + 1;
    const int64_t conv[4] = {D, 3, p, p};
    const mm_tensor *pe = mm_weights_expect(w, nm(&b, b.tower, "embeddings.patch_embedding.weight", 0), 4, conv);
    if (!pe) goto fail;
    v->patch = *pe;   /* [Dv, 3, p, p] read as [Dv, 3·p·p]: rows are contiguous either way */
    v->patch.ndim = 2;
    v->patch.shape[1] = 3 * p * p;
    v->patch.shape[2] = v->patch.shape[3] = 0;
    if (mm_row_bytes(v->patch.dtype, v->patch.shape[1]) == 0) {
        mm_set_error("tensor \"%s\": %s rows of %lld are not whole blocks", b.name, mm_dtype_name(v->patch.dtype),
                     (long long)v->patch.shape[1]);
        goto fail;
    }
    if (!(v->cls = mm_weights_f32(w, nm(&b, b.tower, "embeddings.class_embedding", 0), D))) goto fail;
    if (!(v->pos = mm_weights_f32(w, nm(&b, b.tower, "embeddings.position_embedding.weight", 0), P * D))) goto fail;
    if (!(v->pre_w = mm_weights_f32(w, nm(&b, b.tower, "pre_layrnorm.weight", 0), D))) goto fail;
    if (!(v->pre_b = mm_weights_f32(w, nm(&b, b.tower, "pre_layrnorm.bias", 0), D))) goto fail;
    v->layers = mm_xcalloc((size_t)cfg->n_layers, sizeof(mm_vision_layer));
    for (int l = 0; l < cfg->n_layers; l++) {
        mm_vision_layer *ly = &v->layers[l];
        char pre[128];
        snprintf(pre, sizeof pre, "%sencoder.layers.%d.", b.tower, l);
        struct { const char *n; mm_tensor *t; int64_t r, c; } mats[] = {
            {"self_attn.q_proj.weight", &ly->wq, D, D}, {"self_attn.k_proj.weight", &ly->wk, D, D},
            {"self_attn.v_proj.weight", &ly->wv, D, D}, {"self_attn.out_proj.weight", &ly->wo, D, D},
            {"mlp.fc1.weight", &ly->fc1, F, D},         {"mlp.fc2.weight", &ly->fc2, D, F},
        };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if (mat(&b, nm(&b, pre, mats[i].n, 0), mats[i].r, mats[i].c, mats[i].t) < 0) goto fail;
        struct { const char *n; float **dst; int64_t len; } vecs[] = {
            {"self_attn.q_proj.bias", &ly->bq, D}, {"self_attn.k_proj.bias", &ly->bk, D}, {"self_attn.v_proj.bias", &ly->bv, D},
            {"self_attn.out_proj.bias", &ly->bo, D}, {"layer_norm1.weight", &ly->ln1_w, D}, {"layer_norm1.bias", &ly->ln1_b, D},
            {"layer_norm2.weight", &ly->ln2_w, D}, {"layer_norm2.bias", &ly->ln2_b, D}, {"mlp.fc1.bias", &ly->b1, F},
            {"mlp.fc2.bias", &ly->b2, D},
        };
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
            if (!(*vecs[i].dst = mm_weights_f32(w, nm(&b, pre, vecs[i].n, 0), vecs[i].len))) goto fail;
    }
    if (mat(&b, nm(&b, b.proj, "linear_1.weight", 0), H, D, &v->proj1) < 0) goto fail;
    if (mat(&b, nm(&b, b.proj, "linear_2.weight", 0), H, H, &v->proj2) < 0) goto fail;
    if (!(v->proj1_b = mm_weights_f32(w, nm(&b, b.proj, "linear_1.bias", 0), H))) goto fail;
    if (!(v->proj2_b = mm_weights_f32(w, nm(&b, b.proj, "linear_2.bias", 0), H))) goto fail;
    if (!(v->newline = mm_weights_f32(w, b.newline, H))) goto fail;
    return v;
fail:
    mm_vision_free(v);
    return NULL;
}

/* ---------------------------------------------------------------- forward */
int mm_vision_patch_tokens(const mm_vision_config *c) {
    const int side = c->img.image_size / c->img.patch_size;
    return side * side;
}

double mm_vision_patch_flops(const mm_vision_config *c) {
    const double D = c->hidden, F = c->intermediate, H = c->text_hidden, G = mm_vision_patch_tokens(c), L1 = G + 1;
    const double pp = 3.0 * c->img.patch_size * c->img.patch_size;
    double f = 2 * G * pp * D;                                   /* patch embedding */
    f += c->n_layers * (2 * L1 * (4 * D * D + 2 * D * F)          /* q, k, v, out, fc1, fc2 */
                        + 4 * L1 * L1 * D);                        /* scores and weighted values, all heads */
    f += 2 * G * (D * H + H * H);                                  /* projector */
    return f;
}

/* y[T,N] = x·Wᵀ + b, its time added to t->matmul. */
static void linear(mm_vision_times *t, float *y, const float *x, const mm_tensor *w, const float *b, int T) {
    double t0 = mm_time();
    mm_matmul(y, x, w, T);
    mm_add_rows(y, b, T, (int)w->shape[0]);
    t->matmul += mm_time() - t0;
}

typedef struct {
    int PG;                  /* patches per group */
    float *h, *t, *q, *k, *v, *a, *f;   /* [PG·L1, Dv] (f: [PG·L1, Fv]) */
    float *col, *emb;        /* [PG·G, 3p²], [PG·G, Dv] */
} scratch;

static void scratch_free(scratch *s) {
    float *all[] = {s->h, s->t, s->q, s->k, s->v, s->a, s->f, s->col, s->emb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static int scratch_alloc(scratch *s, const mm_vision_config *c, int PG) {
    memset(s, 0, sizeof *s);
    s->PG = PG;
    const size_t G = (size_t)mm_vision_patch_tokens(c), L1 = G + 1, D = (size_t)c->hidden, F = (size_t)c->intermediate;
    const size_t T = (size_t)PG * L1, pp = 3 * (size_t)c->img.patch_size * c->img.patch_size;
    float **bufs[] = {&s->h, &s->t, &s->q, &s->k, &s->v, &s->a, &s->f, &s->col, &s->emb};
    const size_t sizes[] = {T * D, T * D, T * D, T * D, T * D, T * D, T * F, PG * G * pp, PG * G * D};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *bufs[i] = malloc(sizeof(float) * sizes[i]);
        if (!*bufs[i]) {
            scratch_free(s);
            mm_set_error("vision tower: out of memory for the activations of %d patches", PG);
            return -1;
        }
    }
    return 0;
}

/* q, k, v [T, Dv] = t·Wᵀ + b of one layer: the three products in one parallel region (mm_matmul_n). */
static void qkv(mm_vision_times *tm, scratch *s, const mm_vision_layer *ly, int T) {
    double t0 = mm_time();
    const mm_matmul_job jobs[3] = {{s->q, s->t, &ly->wq, T}, {s->k, s->t, &ly->wk, T}, {s->v, s->t, &ly->wv, T}};
    mm_matmul_n(jobs, 3);
    const int D = (int)ly->wq.shape[0];
    mm_add_rows(s->q, ly->bq, T, D);
    mm_add_rows(s->k, ly->bk, T, D);
    mm_add_rows(s->v, ly->bv, T, D);
    tm->matmul += mm_time() - t0;
}

typedef struct {
    const scratch *s;
    int D, NH, hd, L1;
    float scale;
    size_t per;   /* scratch floats per (patch, head) */
} attn_args;

static void attention_items(void *arg, int64_t i0, int64_t i1, int ith) {
    const attn_args *a = arg;
    float *sc = mm_scratch(MM_SCRATCH_ATTN, sizeof(float) * a->per);
    (void)ith;
    for (int64_t gh = i0; gh < i1; gh++) {
        const size_t base = (size_t)(gh / a->NH) * a->L1 * a->D + (size_t)(gh % a->NH) * a->hd;
        mm_attn_dense(a->s->q + base, a->s->k + base, a->s->v + base, a->D, a->s->a + base, a->D, a->L1, a->hd, a->scale, sc);
    }
}

/* Attention of one layer over every patch and head of the group: a[.., head] = softmax(q·kᵀ·scale)·v within each
 * patch (mm_attn_dense), the (patch, head) pairs handed out one at a time over the compute pool. */
static void attention(const mm_vision_config *c, scratch *s, int np) {
    const int D = c->hidden, NH = c->n_heads, hd = D / NH, L1 = mm_vision_patch_tokens(c) + 1;
    attn_args a = {s, D, NH, hd, L1, 1.0f / sqrtf((float)hd), mm_attn_dense_scratch(L1, hd)};
    mm_parallel_for((int64_t)np * NH, 1, attention_items, &a);
}

typedef struct {
    float *col;
    const float *pixels;
    int G, side, S, p;
} im2col_args;

/* im2col: row (patch, gy, gx) holds the p×p pixels of the three channels, in the conv weight's (c, ky, kx) order. */
static void im2col_rows(void *arg, int64_t r0, int64_t r1, int ith) {
    const im2col_args *a = arg;
    const int G = a->G, side = a->side, S = a->S, p = a->p, pp = 3 * p * p;
    (void)ith;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t g = r / G;
        const int gy = (int)(r % G) / side, gx = (int)(r % side);
        float *dst = a->col + (size_t)r * pp;
        for (int ch = 0; ch < 3; ch++)
            for (int ky = 0; ky < p; ky++)
                memcpy(dst + (size_t)(ch * p + ky) * p,
                       a->pixels + (((size_t)g * 3 + ch) * S + (size_t)(gy * p + ky)) * S + (size_t)gx * p, sizeof(float) * (size_t)p);
    }
}

/* The tower on np <= s->PG patches; selected [np·G, Dv]. */
static void tower_group(const mm_vision *v, scratch *s, const float *pixels, int np, float *selected) {
    const mm_vision_config *c = &v->cfg;
    const int D = c->hidden, S = c->img.image_size, p = c->img.patch_size, side = S / p, G = side * side, L1 = G + 1;
    const int T = np * L1;
    const float eps = (float)c->ln_eps;
    mm_vision_times *tm = v->times;
    const double t_start = mm_time(), mm0 = tm->matmul, at0 = tm->attention;
    im2col_args ia = {s->col, pixels, G, side, S, p};
    mm_parallel_for((int64_t)np * G, 64, im2col_rows, &ia);
    double t0 = mm_time();
    mm_matmul(s->emb, s->col, &v->patch, np * G);
    tm->matmul += mm_time() - t0;
    for (int g = 0; g < np; g++) {
        float *h0 = s->h + (size_t)g * L1 * D;
        for (int d = 0; d < D; d++) h0[d] = v->cls[d] + v->pos[d];
        for (int i = 0; i < G; i++)
            for (int d = 0; d < D; d++)
                h0[(size_t)(1 + i) * D + d] = s->emb[((size_t)g * G + i) * D + d] + v->pos[(size_t)(1 + i) * D + d];
    }
    mm_layernorm(s->h, s->h, v->pre_w, v->pre_b, T, D, eps);
    for (int l = 0; l < c->n_layers; l++) {
        const mm_vision_layer *ly = &v->layers[l];
        mm_layernorm(s->t, s->h, ly->ln1_w, ly->ln1_b, T, D, eps);
        qkv(tm, s, ly, T);
        t0 = mm_time();
        attention(c, s, np);
        tm->attention += mm_time() - t0;
        linear(tm, s->t, s->a, &ly->wo, ly->bo, T);
        mm_axpby(s->h, 1.0f, s->h, 1.0f, s->t, (int64_t)T * D);
        mm_layernorm(s->t, s->h, ly->ln2_w, ly->ln2_b, T, D, eps);
        linear(tm, s->f, s->t, &ly->fc1, ly->b1, T);
        if (c->act == MM_VACT_GELU) mm_gelu_erf(s->f, (int64_t)T * c->intermediate);
        else mm_gelu_quick(s->f, (int64_t)T * c->intermediate);
        linear(tm, s->t, s->f, &ly->fc2, ly->b2, T);
        mm_axpby(s->h, 1.0f, s->h, 1.0f, s->t, (int64_t)T * D);
    }
    for (int g = 0; g < np; g++)   /* drop CLS */
        memcpy(selected + (size_t)g * G * D, s->h + ((size_t)g * L1 + 1) * D, sizeof(float) * (size_t)G * D);
    tm->other += (mm_time() - t_start) - (tm->matmul - mm0) - (tm->attention - at0);
}

/* Patches per group: enough rows (4 patches = 2308) for the matrix products to reuse each weight panel well,
 * few enough that the activations stay a few hundred MB at the released width. */
static int group_size(int np) { return np < 4 ? np : 4; }

int mm_vision_tower(const mm_vision *v, const float *pixels, int np, float *selected) {
    if (np <= 0) return 0;
    const mm_vision_config *c = &v->cfg;
    const size_t px = 3 * (size_t)c->img.image_size * c->img.image_size, G = (size_t)mm_vision_patch_tokens(c);
    scratch s;
    if (scratch_alloc(&s, c, group_size(np)) < 0) return -1;
    for (int p0 = 0; p0 < np; p0 += s.PG) {
        int n = np - p0 < s.PG ? np - p0 : s.PG;
        tower_group(v, &s, pixels + (size_t)p0 * px, n, selected + (size_t)p0 * G * c->hidden);
    }
    scratch_free(&s);
    return 0;
}
