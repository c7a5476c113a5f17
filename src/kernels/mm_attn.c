/* mm_attn.c — causal softmax attention (mm_attn.h) on the kernel set's f32 primitives: scores of a block of
 * query rows against a tile of keys (sgemm4 over a transposed key tile, or dots against key rows as stored
 * for a single token), the online softmax per row (expsum), and the weighted values (sgemm4). */
#include "kernels/mm_attn.h"
#include <math.h>
#include <stdlib.h>
#include "kernels/mm_kernels.h"

static int pad16(int D) { return (D + 15) / 16 * 16; }

size_t mm_attention_scratch(int G, int nq, int D) {
    const size_t R = (size_t)G * (size_t)nq, Dp = (size_t)pad16(D), BK = MM_ATT_BK;
    return 2 * R * Dp + R * BK + 2 * R + 2 * Dp * BK;
}

/* A cached row as f32: d < D from the row, zeros up to Dp. */
static inline void row_f32(const mm_kv_view *kv, const void *row, int D, int Dp, float *dst) {
    if (kv->bf16) {
        const uint16_t *r = row;
        for (int d = 0; d < D; d++) dst[d] = mm_bf16_to_f32(r[d]);
    } else {
        memcpy(dst, row, sizeof(float) * (size_t)D);
    }
    for (int d = D; d < Dp; d++) dst[d] = 0.0f;
}

/* Keys of positions [p0, p0 + nk) transposed: kt[d·MM_ATT_BK + j] (d < Dp; d >= D zero). */
static void load_keys_t(const mm_kv_view *kv, int64_t p0, int nk, int D, int Dp, float *kt, float *row) {
    for (int j = 0; j < nk; j++) {
        row_f32(kv, mm_kv_krow(kv, p0 + j), D, Dp, row);
        for (int d = 0; d < Dp; d++) kt[(size_t)d * MM_ATT_BK + j] = row[d];
    }
}

/* Rows [p0, p0 + nk) of keys (vals = 0) or values (vals = 1) as f32 rows of Dp: the cache itself when it is f32
 * rows of exactly Dp elements (*ld = its stride in floats), else a converted copy in buf (*ld = Dp). */
static const float *load_rows(const mm_kv_view *kv, int vals, int64_t p0, int nk, int D, int Dp, float *buf, size_t *ld) {
    if (!kv->bf16 && D == Dp && kv->stride % sizeof(float) == 0) {
        *ld = kv->stride / sizeof(float);
        return vals ? mm_kv_vrow(kv, p0) : mm_kv_krow(kv, p0);
    }
    for (int j = 0; j < nk; j++) row_f32(kv, vals ? mm_kv_vrow(kv, p0 + j) : mm_kv_krow(kv, p0 + j), D, Dp, buf + (size_t)j * Dp);
    *ld = (size_t)Dp;
    return buf;
}

/* The online softmax step of row r over its first lim scores s[0..lim) of this tile (the rest of the tile's nk
 * scores are zeroed): running max m, running sum l, and the correction of the row's output so far. */
static void softmax_row(const mm_kernel_set *ks, float *s, int lim, int nk, float *m, float *l, float *orow, int Dp) {
    if (lim <= 0) {
        memset(s, 0, sizeof(float) * (size_t)nk);
        return;
    }
    float mx = s[0];
    for (int j = 1; j < lim; j++) mx = s[j] > mx ? s[j] : mx;
    const float mn = mx > *m ? mx : *m;
    const float corr = expf(*m - mn); /* 0 for the first tile (m = −inf) */
    *l = *l * corr + ks->expsum(s, lim, mn);
    for (int j = lim; j < nk; j++) s[j] = 0.0f;
    if (corr != 1.0f)
        for (int d = 0; d < Dp; d++) orow[d] *= corr;
    *m = mn;
}

void mm_attention(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale, float *o,
                  size_t os, float *scratch) {
    const mm_kernel_set *ks = mm_kernels_get();
    const int R = G * nq, Dp = pad16(D), BK = MM_ATT_BK;
    float *Q = scratch;                      /* [R][Dp] scaled queries, row r = token r / G, head r % G */
    float *O = Q + (size_t)R * Dp;           /* [R][Dp] outputs, unnormalised */
    float *S = O + (size_t)R * Dp;           /* [R][BK] scores, then weights */
    float *m = S + (size_t)R * BK, *l = m + R;
    float *KT = l + R;                       /* [Dp][BK] transposed keys, or [BK][Dp] key rows */
    float *V = KT + (size_t)Dp * BK;         /* [BK][Dp] values */
    for (int r = 0; r < R; r++) {
        const float *qr = q + (size_t)(r / G) * qs + (size_t)(r % G) * D;
        for (int d = 0; d < D; d++) Q[(size_t)r * Dp + d] = qr[d] * scale;
        for (int d = D; d < Dp; d++) Q[(size_t)r * Dp + d] = 0.0f;
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }
    memset(O, 0, sizeof(float) * (size_t)R * Dp);
    const int64_t end = pos0 + nq; /* keys [0, end) */
    for (int64_t p0 = 0; p0 < end; p0 += BK) {
        const int nk = end - p0 < BK ? (int)(end - p0) : BK;
        if (nq == 1) { /* one token: scores against the key rows as they are */
            size_t ldk;
            const float *kp = load_rows(kv, 0, p0, nk, D, Dp, KT, &ldk);
            ks->dots(G, nk, Dp, Q, (size_t)Dp, kp, ldk, S, (size_t)BK);
        } else {
            load_keys_t(kv, p0, nk, D, Dp, KT, V);
            for (int r0 = 0; r0 < R; r0 += 4)
                ks->sgemm4(R - r0 < 4 ? R - r0 : 4, 4, Dp, Q + (size_t)r0 * Dp, (size_t)Dp, KT, (size_t)BK, S + (size_t)r0 * BK,
                           (size_t)BK, 0);
        }
        for (int r = 0; r < R; r++) { /* token r / G sees keys up to pos0 + r / G */
            int64_t lim = pos0 + r / G - p0 + 1;
            softmax_row(ks, S + (size_t)r * BK, lim < nk ? (int)lim : nk, nk, &m[r], &l[r], O + (size_t)r * Dp, Dp);
        }
        size_t ldv;
        const float *vp = load_rows(kv, 1, p0, nk, D, Dp, V, &ldv);
        for (int r0 = 0; r0 < R; r0 += 4)
            for (int d0 = 0; d0 < Dp; d0 += 64)
                ks->sgemm4(R - r0 < 4 ? R - r0 : 4, (Dp - d0) / 16 < 4 ? (Dp - d0) / 16 : 4, nk, S + (size_t)r0 * BK, (size_t)BK,
                           vp + d0, ldv, O + (size_t)r0 * Dp + d0, (size_t)Dp, 1);
    }
    for (int r = 0; r < R; r++) {
        float *orow = o + (size_t)(r / G) * os + (size_t)(r % G) * D;
        const float inv = 1.0f / l[r];
        for (int d = 0; d < D; d++) orow[d] = O[(size_t)r * Dp + d] * inv;
    }
}

void mm_attention_ref(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale, float *o,
                      size_t os) {
    const int64_t npos = pos0 + nq;
    double *w = mm_xmalloc(sizeof(double) * (size_t)npos), *acc = mm_xmalloc(sizeof(double) * (size_t)D);
    float *row = mm_xmalloc(sizeof(float) * (size_t)D);
    for (int i = 0; i < nq; i++)
        for (int g = 0; g < G; g++) {
            const float *qv = q + (size_t)i * qs + (size_t)g * D;
            const int64_t n = pos0 + i + 1;
            double mx = -INFINITY, sum = 0;
            for (int64_t p = 0; p < n; p++) {
                row_f32(kv, mm_kv_krow(kv, p), D, D, row);
                double s = 0;
                for (int d = 0; d < D; d++) s += (double)qv[d] * row[d];
                w[p] = s * scale;
                mx = w[p] > mx ? w[p] : mx;
            }
            for (int d = 0; d < D; d++) acc[d] = 0;
            for (int64_t p = 0; p < n; p++) {
                w[p] = exp(w[p] - mx);
                sum += w[p];
                row_f32(kv, mm_kv_vrow(kv, p), D, D, row);
                for (int d = 0; d < D; d++) acc[d] += w[p] * row[d];
            }
            for (int d = 0; d < D; d++) o[(size_t)i * os + (size_t)g * D + d] = (float)(acc[d] / sum);
        }
    free(w), free(acc), free(row);
}
