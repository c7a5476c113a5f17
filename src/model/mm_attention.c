/* mm_attention.c — softmax attention layers (spec §7): GQA, partial rotate-half RoPE on the first
 * rotary_dim dims, post-RoPE KV cache per sequence, causal attention by an online softmax over tiles of
 * the cache (memory O(tile) per query, never T×T), scale 1/sqrt(D), o_proj. */
#include <math.h>
#include <stdlib.h>
#include "model/mm_context.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"

enum { MM_ATT_TILE = 64 };

static inline void kv_store(const mm_context *c, void *dst, const float *src, int n) {
    if (c->kv_bf16) {
        uint16_t *d = dst;
        for (int i = 0; i < n; i++) d[i] = mm_f32_to_bf16(src[i]);
    } else {
        memcpy(dst, src, sizeof(float) * (size_t)n);
    }
}

/* Dot product of q[D] with a cached row (f32 or bf16). Eight independent lanes, so the compiler can keep
 * them in one SIMD register without reassociating a single sum. */
static inline float kv_dot(int bf16, const float *q, const void *row, int D) {
    float acc[8] = {0};
    int d = 0;
    if (bf16) {
        const uint16_t *r = row;
        for (; d + 8 <= D; d += 8)
            for (int l = 0; l < 8; l++) acc[l] += q[d + l] * mm_bf16_to_f32(r[d + l]);
        for (; d < D; d++) acc[0] += q[d] * mm_bf16_to_f32(r[d]);
    } else {
        const float *r = row;
        for (; d + 8 <= D; d += 8)
            for (int l = 0; l < 8; l++) acc[l] += q[d + l] * r[d + l];
        for (; d < D; d++) acc[0] += q[d] * r[d];
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static inline void kv_axpy(int bf16, float *acc, float w, const void *row, int D) {
    if (bf16) {
        const uint16_t *r = row;
        for (int d = 0; d < D; d++) acc[d] += w * mm_bf16_to_f32(r[d]);
    } else {
        const float *r = row;
        for (int d = 0; d < D; d++) acc[d] += w * r[d];
    }
}

/* out[g][D] = softmax(q[g]·K[0..npos)ᵀ · scale) · V[0..npos) for the G query heads that share one KV head
 * (GQA), so each cached row is read once for the whole group. K, V point at the KV head's first row;
 * rows are rs_bytes apart; q and out rows are qs floats apart. sc: scratch of G·MM_ATT_TILE floats. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void attend_group(int bf16, const float *q, int qs, int G, const char *K, const char *V, size_t rs_bytes,
                         int npos, int D, float scale, float *out, float *sc, float *m, float *l) {
    for (int g = 0; g < G; g++) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
        for (int d = 0; d < D; d++) out[(size_t)g * qs + d] = 0.0f;
    }
    for (int p0 = 0; p0 < npos; p0 += MM_ATT_TILE) {
        const int np = npos - p0 < MM_ATT_TILE ? npos - p0 : MM_ATT_TILE;
        for (int j = 0; j < np; j++) {
            const void *krow = K + (size_t)(p0 + j) * rs_bytes;
            for (int g = 0; g < G; g++) sc[g * MM_ATT_TILE + j] = kv_dot(bf16, q + (size_t)g * qs, krow, D) * scale;
        }
        for (int g = 0; g < G; g++) {
            float *sg = sc + g * MM_ATT_TILE, tmax = -INFINITY;
            for (int j = 0; j < np; j++) tmax = sg[j] > tmax ? sg[j] : tmax;
            if (tmax > m[g]) { /* rescale what was accumulated under the old maximum */
                const float r = expf(m[g] - tmax);
                l[g] *= r;
                for (int d = 0; d < D; d++) out[(size_t)g * qs + d] *= r;
                m[g] = tmax;
            }
            for (int j = 0; j < np; j++) {
                sg[j] = expf(sg[j] - m[g]);
                l[g] += sg[j];
            }
        }
        for (int j = 0; j < np; j++) {
            const void *vrow = V + (size_t)(p0 + j) * rs_bytes;
            for (int g = 0; g < G; g++) kv_axpy(bf16, out + (size_t)g * qs, sc[g * MM_ATT_TILE + j], vrow, D);
        }
    }
    for (int g = 0; g < G; g++) {
        const float inv = 1.0f / l[g];
        for (int d = 0; d < D; d++) out[(size_t)g * qs + d] *= inv;
    }
}

void mm_attention_forward(mm_context *c, const mm_layer *ly, const mm_run *runs, int n_runs, int T) {
    const mm_model *mdl = c->model;
    const mm_config *cfg = &mdl->cfg;
    const int NH = cfg->n_heads, NKV = cfg->n_kv_heads, D = cfg->head_dim, NHD = NH * D, NKVD = NKV * D;
    const int group = NH / NKV, li = ly->kind_index;
    float *q = c->big;                      /* [T, NH·D] */
    float *k = q + (size_t)T * NHD;         /* [T, NKV·D] */
    float *v = k + (size_t)T * NKVD;        /* [T, NKV·D] */
    mm_matmul(q, c->h, &ly->wq, T);
    mm_matmul(k, c->h, &ly->wk, T);
    mm_matmul(v, c->h, &ly->wv, T);

    /* RoPE at each token's absolute position, then append K, V to the sequence's cache. */
    const size_t es = mm_kv_elem(c), rs = (size_t)NKVD * es;
    for (int r = 0; r < n_runs; r++) {
        const mm_run *run = &runs[r];
        mm_seq *s = &c->seqs[run->seq];
#pragma omp parallel for if (run->n > 8)
        for (int i = 0; i < run->n; i++) {
            const int t = run->t0 + i;
            const int64_t pos = run->pos0 + i;
            for (int h = 0; h < NH; h++) mm_rope(q + (size_t)t * NHD + (size_t)h * D, cfg->rotary_dim, mdl->inv_freq, pos);
            for (int h = 0; h < NKV; h++) mm_rope(k + (size_t)t * NKVD + (size_t)h * D, cfg->rotary_dim, mdl->inv_freq, pos);
            kv_store(c, (char *)s->k[li] + (size_t)pos * rs, k + (size_t)t * NKVD, NKVD);
            kv_store(c, (char *)s->v[li] + (size_t)pos * rs, v + (size_t)t * NKVD, NKVD);
        }
    }

    /* Causal attention: token at position p sees cache positions 0..p (bottom-right aligned). */
    const float scale = 1.0f / sqrtf((float)D);
    int *run_of = mm_xmalloc(sizeof(int) * (size_t)T);
    for (int r = 0; r < n_runs; r++)
        for (int i = 0; i < runs[r].n; i++) run_of[runs[r].t0 + i] = r;
#pragma omp parallel
    {
        float *sc = mm_xmalloc(sizeof(float) * (size_t)group * (MM_ATT_TILE + 2));
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (int t = 0; t < T; t++) {
            for (int kh = 0; kh < NKV; kh++) {
                const mm_run *run = &runs[run_of[t]];
                const mm_seq *s = &c->seqs[run->seq];
                const int npos = run->pos0 + (t - run->t0) + 1;
                const size_t koff = (size_t)kh * D * es;
                const size_t qoff = (size_t)t * NHD + (size_t)kh * group * D;
                attend_group(c->kv_bf16, q + qoff, D, group, (const char *)s->k[li] + koff, (const char *)s->v[li] + koff, rs,
                             npos, D, scale, c->o + qoff, sc, sc + (size_t)group * MM_ATT_TILE,
                             sc + (size_t)group * (MM_ATT_TILE + 1));
            }
        }
        free(sc);
    }
    free(run_of);
    mm_matmul(c->a, c->o, &ly->wo, T);
}
