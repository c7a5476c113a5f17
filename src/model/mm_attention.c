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

/* One attention work item: a block of query tokens of one run against one KV head, all its keys or (split
 * attention) the keys [kb, ke) only, its partial result then at part (floats into the part buffer). */
typedef struct {
    int run, kh, nkv, t0, n;   /* nkv: the KV heads from kh on it covers (NKV for one token: all of them) */
    int64_t kb, ke;     /* ke = 0: unsplit */
    size_t part;
} att_item;

/* The KV heads one work item of a block of n tokens covers: one token (decode) takes all NKV of them, so each tile
 * of positions is read along the cache (a position's heads lie together, mm_context.h), not a head at a time at
 * the stride of a whole position; a longer block takes one, its key tiles shared by its G·n query rows. */
static int block_heads(int n, int NKV) { return n == 1 ? NKV : 1; }

/* A split item group: nsplit consecutive items whose parts merge into one block's output. */
typedef struct {
    int first, nsplit;
} att_group;

typedef struct {
    mm_context *c;
    const mm_layer *ly;
    const mm_run *runs;
    const int *run_of;
    float *q, *k, *v;
    att_item *items;
    att_group *groups;
    float *parts;       /* partial outputs O [G·n][D], m [G·n], l [G·n] of each split item */
    size_t scratch_floats;
} att_args;

/* RoPE at each token's absolute position, then K, V appended to its sequence's cache. */
static void rope_store_body(void *arg, int64_t i0, int64_t i1, int ith) {
    const att_args *a = arg;
    const mm_context *c = a->c;
    const mm_config *cfg = &c->model->cfg;
    const int NH = cfg->n_heads, NKV = cfg->n_kv_heads, D = cfg->head_dim, NHD = NH * D, NKVD = NKV * D;
    const size_t krs = mm_kv_row_bytes(c, 0), vrs = mm_kv_row_bytes(c, 1);
    const size_t koff = mm_kv_page_off(c, a->ly->kind_index, 0), voff = mm_kv_page_off(c, a->ly->kind_index, 1);
    const int64_t mask = c->kv_page - 1;
    (void)ith;
    for (int64_t t = i0; t < i1; t++) {
        const mm_run *run = &a->runs[a->run_of[t]];
        const mm_seq *s = &c->seqs[run->seq];
        const int64_t pos = run->pos0 + (t - run->t0);
        for (int h = 0; h < NH; h++) mm_rope(a->q + (size_t)t * NHD + (size_t)h * D, cfg->rotary_dim, c->model->inv_freq, pos);
        for (int h = 0; h < NKV; h++) mm_rope(a->k + (size_t)t * NKVD + (size_t)h * D, cfg->rotary_dim, c->model->inv_freq, pos);
        uint8_t *pg = s->pages[pos >> c->kv_shift]; /* this sequence's own page (mm_seq_reserve) */
        kv_store(c->kt, pg + koff + (size_t)(pos & mask) * krs, a->k + (size_t)t * NKVD, NKV, D);
        kv_store(c->vt, pg + voff + (size_t)(pos & mask) * vrs, a->v + (size_t)t * NKVD, NKV, D);
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
        const mm_kv_view kv = {.kpages = (const uint8_t *const *)s->pages, .vpages = (const uint8_t *const *)s->pages,
                               .koff = mm_kv_page_off(c, a->ly->kind_index, 0) + (size_t)it->kh * khb,
                               .voff = mm_kv_page_off(c, a->ly->kind_index, 1) + (size_t)it->kh * vhb,
                               .kstride = (size_t)NKV * khb, .vstride = (size_t)NKV * vhb, .page_shift = c->kv_shift, .kt = c->kt,
                               .vt = c->vt, .nkv = it->nkv, .khs = khb, .vhs = vhb};
        const size_t qoff = (size_t)it->t0 * NHD + (size_t)it->kh * G * D, R = (size_t)G * it->nkv * it->n;
        const int64_t pos0 = run->pos0 + (it->t0 - run->t0);
        if (it->ke == 0) {
            mm_attention(a->q + qoff, (size_t)NHD, G, it->n, pos0, &kv, D, 1.0f / sqrtf((float)D), c->o + qoff, (size_t)NHD, scratch);
        } else {
            float *O = a->parts + it->part;
            mm_attention_part(a->q + qoff, (size_t)NHD, G, it->n, pos0, &kv, D, 1.0f / sqrtf((float)D), it->kb, it->ke, O, O + R * D,
                              O + R * D + R, scratch);
        }
    }
}

/* Merges the parts of each split group into the block's output rows. */
static void merge_body(void *arg, int64_t i0, int64_t i1, int ith) {
    att_args *a = arg;
    const mm_config *cfg = &a->c->model->cfg;
    const int NH = cfg->n_heads, NKV = cfg->n_kv_heads, D = cfg->head_dim, NHD = NH * D, G = NH / NKV;
    (void)ith;
    for (int64_t i = i0; i < i1; i++) {
        const att_item *it = &a->items[a->groups[i].first];
        const size_t R = (size_t)G * it->nkv * it->n, ps = R * (D + 2);
        const float *O = a->parts + it->part;
        const size_t qoff = (size_t)it->t0 * NHD + (size_t)it->kh * G * D;
        /* parts of one group are consecutive in the buffer: O at j·ps, m at j·ps + R·D → a stride of ps for both */
        mm_attention_merge(G * it->nkv, it->n, D, a->groups[i].nsplit, O, ps, O + R * D, O + R * D + R, a->c->o + qoff, (size_t)NHD);
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
     * latest (most expensive: causal) blocks first so the dynamic hand-out ends evenly. When there are fewer such
     * blocks than 4 per thread and their keys are long (one long sequence at depth), each block's keys are split
     * on tile boundaries at or before its first position into parts of at least MM_ATT_SPLIT_MIN keys, attended
     * in parallel and merged by the log-sum-exp (flash-decoding). */
    const int BQ = G >= MM_ATT_ROWS ? 1 : MM_ATT_ROWS / G, want = 4 * mm_pool_threads();
    int n_base = 0;
    for (int r = 0; r < n_runs; r++)
        for (int b = 0; b < (runs[r].n + BQ - 1) / BQ; b++) n_base += NKV / block_heads(runs[r].n - b * BQ < BQ ? runs[r].n - b * BQ : BQ, NKV);
    const int per = c->att_split > 0 ? c->att_split : n_base >= want ? 1 : (want + n_base - 1) / n_base;
    att_item *items = mm_xmalloc(sizeof(att_item) * (size_t)n_base * per);
    att_group *groups = mm_xmalloc(sizeof(att_group) * (size_t)n_base);
    int n_items = 0, n_groups = 0;
    size_t part_floats = 0;
    for (int r = 0; r < n_runs; r++)
        for (int b = (runs[r].n + BQ - 1) / BQ - 1; b >= 0; b--) {
            const int t0 = b * BQ, n = runs[r].n - t0 < BQ ? runs[r].n - t0 : BQ, nkv = block_heads(n, NKV);
            for (int kh = 0; kh < NKV; kh += nkv) {
                const int64_t pos0 = runs[r].pos0 + t0, tiles = pos0 / MM_ATT_BK + 1;
                int64_t ns = c->att_split > 1 ? per : (pos0 + n) / MM_ATT_SPLIT_MIN;
                ns = ns < per ? ns : per;
                ns = ns < tiles ? ns : tiles;
                if (ns <= 1) {
                    items[n_items++] = (att_item){r, kh, nkv, runs[r].t0 + t0, n, 0, 0, 0};
                    continue;
                }
                groups[n_groups++] = (att_group){n_items, (int)ns};
                for (int64_t j = 0; j < ns; j++) {
                    const int64_t kb = tiles * j / ns * MM_ATT_BK, ke = j == ns - 1 ? pos0 + n : tiles * (j + 1) / ns * MM_ATT_BK;
                    items[n_items++] = (att_item){r, kh, nkv, runs[r].t0 + t0, n, kb, ke, part_floats};
                    part_floats += (size_t)G * nkv * n * (D + 2);
                }
            }
        }
    float *parts = part_floats ? mm_scratch(MM_SCRATCH_ATTN_PARTS, sizeof(float) * part_floats) : NULL;
    const size_t sb = mm_attention_scratch(G, BQ, D), s1 = mm_attention_scratch(NH, 1, D);
    att_args a = {c, ly, runs, run_of, q, k, v, items, groups, parts, sb > s1 ? sb : s1};
    mm_parallel_for(T, 16, rope_store_body, &a);
    mm_parallel_for(n_items, 1, attend_body, &a);
    if (n_groups) mm_parallel_for(n_groups, 1, merge_body, &a);
    free(items);
    free(groups);
    free(run_of);
    mm_matmul(c->a, c->o, &ly->wo, T);
}
