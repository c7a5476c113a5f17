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

/* One position's keys or values (NKV heads of D floats) into the cache's head rows of type t. */
static inline void kv_store(mm_dtype t, void *dst, const float *src, int NKV, int D) {
    const size_t hb = mm_kv_head_bytes(t, D);
    for (int h = 0; h < NKV; h++) mm_kv_store_row(t, (char *)dst + (size_t)h * hb, src + (size_t)h * D, D);
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
    const size_t krs = mm_kv_row_bytes(c, 0), vrs = mm_kv_row_bytes(c, 1);
    (void)ith;
    for (int64_t t = i0; t < i1; t++) {
        const mm_run *run = &a->runs[a->run_of[t]];
        const mm_seq *s = &c->seqs[run->seq];
        const int64_t pos = run->pos0 + (t - run->t0);
        for (int h = 0; h < NH; h++) mm_rope(a->q + (size_t)t * NHD + (size_t)h * D, cfg->rotary_dim, c->model->inv_freq, pos);
        for (int h = 0; h < NKV; h++) mm_rope(a->k + (size_t)t * NKVD + (size_t)h * D, cfg->rotary_dim, c->model->inv_freq, pos);
        kv_store(c->kt, (char *)s->k[a->ly->kind_index] + (size_t)pos * krs, a->k + (size_t)t * NKVD, NKV, D);
        kv_store(c->vt, (char *)s->v[a->ly->kind_index] + (size_t)pos * vrs, a->v + (size_t)t * NKVD, NKV, D);
    }
}

static void attend_body(void *arg, int64_t i0, int64_t i1, int ith) {
    att_args *a = arg;
    const mm_context *c = a->c;
    const mm_config *cfg = &c->model->cfg;
    const int NH = cfg->n_heads, NKV = cfg->n_kv_heads, D = cfg->head_dim, NHD = NH * D, G = NH / NKV;
    const size_t khb = mm_kv_head_bytes(c->kt, D), vhb = mm_kv_head_bytes(c->vt, D);
    float *scratch = mm_scratch(MM_SCRATCH_ATTN, sizeof(float) * a->scratch_floats);
    (void)ith;
    for (int64_t i = i0; i < i1; i++) {
        const att_item *it = &a->items[i];
        const mm_run *run = &a->runs[it->run];
        const mm_seq *s = &c->seqs[run->seq];
        const mm_kv_view kv = {(const char *)s->k[a->ly->kind_index] + (size_t)it->kh * khb,
                               (const char *)s->v[a->ly->kind_index] + (size_t)it->kh * vhb, (size_t)NKV * khb, (size_t)NKV * vhb, c->kt,
                               c->vt};
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
