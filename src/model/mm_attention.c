/* mm_attention.c — softmax attention layers (spec §7): GQA, partial rotate-half RoPE on the first
 * rotary_dim dims, post-RoPE KV cache per sequence, causal attention by the tiled online-softmax kernel of
 * kernels/mm_attn.h (each key tile read once per block of query rows of a GQA group, never T×T), scale
 * 1/sqrt(D), o_proj. */
#include <math.h>
#include <stdlib.h>
#include "model/mm_context.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"
#include "kernels/mm_attn.h"
#include "base/mm_pool.h"

static inline void kv_store(const mm_context *c, void *dst, const float *src, int n) {
    if (c->kv_bf16) {
        uint16_t *d = dst;
        for (int i = 0; i < n; i++) d[i] = mm_f32_to_bf16(src[i]);
    } else {
        memcpy(dst, src, sizeof(float) * (size_t)n);
    }
}

/* One attention work item: a block of query tokens of one run against one KV head. */
typedef struct {
    int run, kh, t0, n;
} att_item;

typedef struct {
    mm_context *c;
    const mm_layer *ly;
    const mm_run *runs;
    const int *run_of;
    float *q, *k, *v;
    att_item *items;
    size_t scratch_floats;
} att_args;

/* RoPE at each token's absolute position, then K, V appended to its sequence's cache. */
static void rope_store_body(void *arg, int64_t i0, int64_t i1, int ith) {
    const att_args *a = arg;
    const mm_context *c = a->c;
    const mm_config *cfg = &c->model->cfg;
    const int NH = cfg->n_heads, NKV = cfg->n_kv_heads, D = cfg->head_dim, NHD = NH * D, NKVD = NKV * D;
    const size_t rs = (size_t)NKVD * mm_kv_elem(c);
    (void)ith;
    for (int64_t t = i0; t < i1; t++) {
        const mm_run *run = &a->runs[a->run_of[t]];
        const mm_seq *s = &c->seqs[run->seq];
        const int64_t pos = run->pos0 + (t - run->t0);
        for (int h = 0; h < NH; h++) mm_rope(a->q + (size_t)t * NHD + (size_t)h * D, cfg->rotary_dim, c->model->inv_freq, pos);
        for (int h = 0; h < NKV; h++) mm_rope(a->k + (size_t)t * NKVD + (size_t)h * D, cfg->rotary_dim, c->model->inv_freq, pos);
        kv_store(c, (char *)s->k[a->ly->kind_index] + (size_t)pos * rs, a->k + (size_t)t * NKVD, NKVD);
        kv_store(c, (char *)s->v[a->ly->kind_index] + (size_t)pos * rs, a->v + (size_t)t * NKVD, NKVD);
    }
}

static void attend_body(void *arg, int64_t i0, int64_t i1, int ith) {
    att_args *a = arg;
    const mm_context *c = a->c;
    const mm_config *cfg = &c->model->cfg;
    const int NH = cfg->n_heads, NKV = cfg->n_kv_heads, D = cfg->head_dim, NHD = NH * D, G = NH / NKV;
    const size_t es = mm_kv_elem(c);
    float *scratch = mm_scratch(MM_SCRATCH_ATTN, sizeof(float) * a->scratch_floats);
    (void)ith;
    for (int64_t i = i0; i < i1; i++) {
        const att_item *it = &a->items[i];
        const mm_run *run = &a->runs[it->run];
        const mm_seq *s = &c->seqs[run->seq];
        const size_t koff = (size_t)it->kh * D * es;
        const mm_kv_view kv = {(const char *)s->k[a->ly->kind_index] + koff, (const char *)s->v[a->ly->kind_index] + koff,
                               (size_t)NKV * D * es, c->kv_bf16};
        const size_t qoff = (size_t)it->t0 * NHD + (size_t)it->kh * G * D;
        mm_attention(a->q + qoff, (size_t)NHD, G, it->n, run->pos0 + (it->t0 - run->t0), &kv, D, 1.0f / sqrtf((float)D),
                     c->o + qoff, (size_t)NHD, scratch);
    }
}

void mm_attention_forward(mm_context *c, const mm_layer *ly, const mm_run *runs, int n_runs, int T) {
    const mm_model *mdl = c->model;
    const mm_config *cfg = &mdl->cfg;
    const int NH = cfg->n_heads, NKV = cfg->n_kv_heads, D = cfg->head_dim, NHD = NH * D, NKVD = NKV * D;
    const int G = NH / NKV;
    float *q = c->big;                      /* [T, NH·D] */
    float *k = q + (size_t)T * NHD;         /* [T, NKV·D] */
    float *v = k + (size_t)T * NKVD;        /* [T, NKV·D] */
    const mm_matmul_job proj[3] = {{q, c->h, &ly->wq, T}, {k, c->h, &ly->wk, T}, {v, c->h, &ly->wv, T}};
    mm_matmul_n(proj, 3);

    int *run_of = mm_xmalloc(sizeof(int) * (size_t)T);
    for (int r = 0; r < n_runs; r++)
        for (int i = 0; i < runs[r].n; i++) run_of[runs[r].t0 + i] = r;
    /* Work items: blocks of BQ tokens (G·BQ ≈ MM_ATT_ROWS query rows share each key tile) per run and KV head, the
     * latest (most expensive: causal) blocks first so the dynamic hand-out ends evenly. */
    const int BQ = G >= MM_ATT_ROWS ? 1 : MM_ATT_ROWS / G;
    int n_items = 0;
    for (int r = 0; r < n_runs; r++) n_items += (runs[r].n + BQ - 1) / BQ * NKV;
    att_item *items = mm_xmalloc(sizeof(att_item) * (size_t)n_items);
    n_items = 0;
    for (int r = 0; r < n_runs; r++)
        for (int b = (runs[r].n + BQ - 1) / BQ - 1; b >= 0; b--)
            for (int kh = 0; kh < NKV; kh++) {
                const int t0 = b * BQ, n = runs[r].n - t0 < BQ ? runs[r].n - t0 : BQ;
                items[n_items++] = (att_item){r, kh, runs[r].t0 + t0, n};
            }
    att_args a = {c, ly, runs, run_of, q, k, v, items, mm_attention_scratch(G, BQ, D)};
    mm_parallel_for(T, 16, rope_store_body, &a);
    mm_parallel_for(n_items, 1, attend_body, &a);
    free(items);
    free(run_of);
    mm_matmul(c->a, c->o, &ly->wo, T);
}
