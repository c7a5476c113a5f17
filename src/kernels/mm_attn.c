/* mm_attn.c — causal softmax attention (mm_attn.h) on the kernel set's f32 primitives. A block of query rows
 * (R = G·nq: every head of the GQA group × a block of tokens) is held transposed and scaled, Qᵀ [Dp][R]; per
 * key tile the scores come out key-major, Sᵀ [BK][R] = K·Qᵀ (sgemm4 reads the key rows as stored, no copy of
 * an f32 cache), the online softmax runs down the columns (softmax_cols, 16 query rows per vector), and the
 * outputs gain Pᵀᵀ·V (sgemm4 reading the weights through their strides and the value rows as stored).
 * A single token (decode) takes scores against the key rows with dots and the row-wise softmax instead.
 * Both run over a range of key positions (attend_range); the whole causal range normalised is mm_attention,
 * a sub-range unnormalised is mm_attention_part, and mm_attention_merge combines parts by the log-sum-exp. */
#include "kernels/mm_attn.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "kernels/mm_kernels.h"
#include "kernels/mm_quant.h"

static int pad16(int D) { return (D + 15) / 16 * 16; }

size_t mm_attention_scratch(int G, int nq, int D) {
    const size_t R = (size_t)pad16(G * nq), Dp = (size_t)pad16(D), BK = MM_ATT_BK;
    /* + 3·R·Dp for decode over a Q8_0 cache: the rest of qk_i8's and pv_i16's work after the key and value buffers
     * (2·R·Dp: MM_QK_I8_WORK, MM_PV_I16_WORK for any G), the query in int8 */
    return 2 * R * Dp + R * BK + 4 * R + 2 * Dp * BK + 3 * R * Dp;
}

void mm_kv_store_row(mm_dtype t, void *dst, const float *src, int D) {
    const int b = mm_dtype_block(t), full = D / b * b;
    switch (t) {
    case MM_F32: memcpy(dst, src, sizeof(float) * (size_t)D); return;
    case MM_F16:
        for (int d = 0; d < D; d++) ((uint16_t *)dst)[d] = mm_f32_to_f16(src[d]);
        return;
    case MM_BF16:
        for (int d = 0; d < D; d++) ((uint16_t *)dst)[d] = mm_f32_to_bf16(src[d]);
        return;
    default: break;
    }
    float tail[MM_QK] = {0};                 /* the last block of a row whose D is not a multiple of the block */
    if (D > full) memcpy(tail, src + full, sizeof(float) * (size_t)(D - full));
    char *bd = (char *)dst + mm_row_bytes(t, full);
    if (t == MM_Q8_0) {
        if (full) mm_quantize_row_q8_0(src, dst, full);
        if (D > full) mm_quantize_row_q8_0(tail, bd, MM_QK);
    } else if (t == MM_Q4_0) {
        if (full) mm_quantize_row_q4_0(src, dst, full);
        if (D > full) mm_quantize_row_q4_0(tail, bd, MM_QK);
    }
}

void mm_kv_view_flat(mm_kv_view *kv, const void *k, const void *v, size_t kstride, size_t vstride, mm_dtype kt, mm_dtype vt) {
    *kv = (mm_kv_view){.kstride = kstride, .vstride = vstride, .page_shift = 62, .kt = kt, .vt = vt, .flat = {k, v}};
    kv->kpages = &kv->flat[0];
    kv->vpages = &kv->flat[1];
}

/* One head row into dst[D]: its whole blocks through dequant (mm_dequantize_row, or a kernel set's SIMD one with
 * the same values), a partial last block through a block-sized buffer. */
static void load_row(void (*dequant)(mm_dtype, const void *, float *, int64_t), mm_dtype t, const void *src, float *dst, int D) {
    const int b = mm_dtype_block(t), full = D / b * b;
    if (t == MM_F32) {
        memcpy(dst, src, sizeof(float) * (size_t)D);
        return;
    }
    if (full) dequant(t, src, dst, full);
    if (D > full) {
        float tail[MM_QK];
        mm_dequantize_row(t, (const char *)src + mm_row_bytes(t, full), tail, b);
        memcpy(dst + full, tail, sizeof(float) * (size_t)(D - full));
    }
}
void mm_kv_load_row(mm_dtype t, const void *src, float *dst, int D) { load_row(mm_dequantize_row, t, src, dst, D); }

/* Rows [p0, p0 + nk) of keys (vals = 0) or values (vals = 1) as f32 rows of Dp: the cache itself when it is f32
 * rows of exactly Dp elements (*ld = its stride in floats), else rows dequantized into buf (*ld = Dp). */
static const float *load_rows(const mm_kernel_set *ks, const mm_kv_view *kv, int vals, int64_t p0, int nk, int D, int Dp, float *buf,
                              size_t *ld) {
    const mm_dtype t = vals ? kv->vt : kv->kt;
    const size_t stride = vals ? kv->vstride : kv->kstride;
    /* a tile lies in one page (mm_kv_view): its rows follow the first at the stride */
    const char *base = vals ? mm_kv_vrow(kv, p0) : mm_kv_krow(kv, p0);
    if (t == MM_F32 && D == Dp && stride % sizeof(float) == 0) {
        *ld = stride / sizeof(float);
        return (const float *)base;
    }
    for (int j = 0; j < nk; j++) {
        float *dst = buf + (size_t)j * Dp;
        load_row(ks->dequant, t, base + (size_t)j * stride, dst, D);   /* the kernel set's SIMD dequantizer */
        for (int d = D; d < Dp; d++) dst[d] = 0.0f;
    }
    *ld = (size_t)Dp;
    return buf;
}

/* The span of the tile [p0, p0 + nk) of a view of nkv > 1 heads: the bytes from its first key (value) row to the end
 * of its last head's row in the last position, *kl (*vl) of them from the returned start (kv's key row at p0). */
static const char *tile_span(const mm_kv_view *kv, int64_t p0, int nk, int D, size_t *kl, const char **v, size_t *vl) {
    *kl = (size_t)(nk - 1) * kv->kstride + (size_t)(kv->nkv - 1) * kv->khs + mm_kv_head_bytes(kv->kt, D);
    *vl = (size_t)(nk - 1) * kv->vstride + (size_t)(kv->nkv - 1) * kv->vhs + mm_kv_head_bytes(kv->vt, D);
    *v = mm_kv_vrow(kv, p0);   /* a tile lies in one page (mm_kv_view) */
    return mm_kv_krow(kv, p0);
}

/* Asks the caches for the key and value rows of the next tile, [p0, p0 + nk), while this one is computed: a KV
 * head's rows lie one position's row apart (all heads of a position together), a stride the hardware's prefetchers
 * follow badly, so decode at depth waited on memory with the bandwidth mostly idle. A view of nkv > 1 heads takes
 * the tile's whole span of positions at once, every line of it, before its first head: the heads then walk the
 * span at their own offsets, which the prefetchers also follow badly (measured 10-25% faster than leaving the
 * lines to them). The integer kernels take the span as a stream instead (prefetch_stream). */
static void prefetch_rows(const mm_kv_view *kv, int64_t p0, int nk, int D) {
    if (mm_kv_view_heads(kv) > 1) {
        size_t kl, vl;
        const char *v, *k = tile_span(kv, p0, nk, D, &kl, &v, &vl);
        for (size_t o = 0; o < kl; o += 64) __builtin_prefetch(k + o);
        for (size_t o = 0; o < vl; o += 64) __builtin_prefetch(v + o);
        return;
    }
    const char *k = mm_kv_krow(kv, p0), *v = mm_kv_vrow(kv, p0);
    const size_t kb = mm_kv_head_bytes(kv->kt, D), vb = mm_kv_head_bytes(kv->vt, D);
    for (int j = 0; j < nk; j++) {
        for (size_t o = 0; o < kb; o += 64) __builtin_prefetch(k + (size_t)j * kv->kstride + o);
        for (size_t o = 0; o < vb; o += 64) __builtin_prefetch(v + (size_t)j * kv->vstride + o);
    }
}

/* The same span (nkv > 1 heads) as a stream for the integer kernels to ask for a few lines at a time over the
 * current tile's heads (mm_prefetch): measured 13% faster decode at depth 131072 (8 q8_0 KV heads) than the burst
 * of prefetch_rows, whose 2176 lines filled the core's queue of misses and held up the kernels' own loads. */
static mm_prefetch prefetch_stream(const mm_kv_view *kv, int64_t p0, int nk, int D) {
    size_t kl, vl;
    const char *v, *k = tile_span(kv, p0, nk, D, &kl, &v, &vl);
    const size_t ka = (uintptr_t)k % 64, va = (uintptr_t)v % 64;   /* from the lines that hold the first bytes */
    return (mm_prefetch){{k - ka, v - va}, {kl + ka, vl + va}};
}

/* The largest of x[0..n), n ≥ 1, in 16 lanes the compiler keeps in vectors (the plain running maximum, one
 * compare and branch per score, was a visible share of decode at depth); the same value for scores that are
 * not NaN. */
static float row_max(const float *x, int n) {
    float t[16], mx = x[0];
    int j = 0;
    for (int i = 0; i < 16; i++) t[i] = x[0];
    for (; j + 16 <= n; j += 16)
        for (int i = 0; i < 16; i++) t[i] = x[j + i] > t[i] ? x[j + i] : t[i];
    for (int i = 0; i < 16; i++) mx = t[i] > mx ? t[i] : mx;
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

/* The result of attend_range: unnormalised outputs O (row r at O + r·Dp), running max m[r] and sum l[r], all in
 * the scratch. Row r = token r / G, head r % G. */
typedef struct {
    float *O, *m, *l;
} att_acc;

/* Decode: one token's G heads of each of the view's nh KV heads (query head h·G + g against KV head h) against the
 * keys [kb, ke), rows of scores s[g·BK + j] per KV head, row-wise online softmax. Per tile the KV heads follow
 * each other, so the tile's rows are read along the cache; each head's operations are those of a call for that
 * head alone. Q8_0 / Q4_0 keys and values (D a multiple of 32) go through the kernel set's integer qk_i8 / pv_i16
 * where it has them: the scaled query quantized once (int8 blocks, f32 scales), the tile's weights per value
 * block in int16 (mm_kernels.h); f32 / f16 / bf16 caches take the f32 dots and sgemm4. */
static att_acc attend_one(const mm_kernel_set *ks, const float *q, int G, int64_t kb, int64_t ke, const mm_kv_view *kv, int D,
                          int Dp, float scale, float *scratch) {
    const int BK = MM_ATT_BK, nh = mm_kv_view_heads(kv), GT = G * nh, R = pad16(GT);
    float *Q = scratch, *O = Q + (size_t)GT * Dp, *S = O + (size_t)GT * Dp, *m = S + (size_t)G * BK, *l = m + GT;
    float *KB = l + GT, *VB = KB + (size_t)Dp * BK;   /* then 2·R·Dp more: qk_i8's work from KB, pv_i16's from VB */
    int8_t *QI = (int8_t *)(VB + (size_t)Dp * BK + 2 * (size_t)R * Dp); /* [GT][D] the query in int8 (qk_i8) */
    float *DQ = (float *)(QI + (size_t)GT * Dp);                         /* [GT][D/32] its block scales */
    const int kint = (kv->kt == MM_Q8_0 || kv->kt == MM_Q4_0) && D % MM_QK == 0 && ks->qk_i8;
    const int vint = (kv->vt == MM_Q8_0 || kv->vt == MM_Q4_0) && D % MM_QK == 0 && ks->pv_i16;
    for (int g = 0; g < GT; g++) {
        for (int d = 0; d < D; d++) Q[(size_t)g * Dp + d] = q[(size_t)g * D + d] * scale;
        for (int d = D; d < Dp; d++) Q[(size_t)g * Dp + d] = 0.0f;
        if (kint) mm_attn_quant_q(Q + (size_t)g * Dp, D, QI + (size_t)g * D, DQ + (size_t)g * (D / MM_QK));
        m[g] = -INFINITY, l[g] = 0.0f;
    }
    memset(O, 0, sizeof(float) * (size_t)GT * Dp);
    mm_kv_view hv = *kv;   /* KV head h: the view moved by h head rows (its page tables are kv's) */
    const int stream = nh > 1 && (kint || vint);
    mm_prefetch pf = {{NULL, NULL}, {0, 0}};   /* the next tile's lines, asked for by the integer kernels */
    for (int64_t p0 = kb; p0 < ke; p0 += BK) {
        const int nk = ke - p0 < BK ? (int)(ke - p0) : BK, next = ke - p0 - BK < BK ? (int)(ke - p0 - BK) : BK;
        if (stream) {
            mm_prefetch_lines(&pf, INT_MAX);   /* this tile's lines the last tile's kernels did not get to */
            pf = p0 + BK < ke ? prefetch_stream(kv, p0 + BK, next, D) : (mm_prefetch){{NULL, NULL}, {0, 0}};
        } else if (p0 + BK < ke) {
            prefetch_rows(kv, p0 + BK, next, D);
        }
        for (int h = 0; h < nh; h++) {
            hv.koff = kv->koff + (size_t)h * kv->khs, hv.voff = kv->voff + (size_t)h * kv->vhs;
            const size_t hq = (size_t)h * G;   /* this KV head's first query row */
            float *Oh = O + hq * Dp, *mh = m + hq, *lh = l + hq;
            size_t ldk, ldv;
            if (kint) {
                ks->qk_i8(hv.kt, G, nk, D, QI + hq * D, DQ + hq * (D / MM_QK), mm_kv_krow(&hv, p0), hv.kstride, S, (size_t)BK, KB,
                          stream ? &pf : NULL);   /* a tile lies in one page */
            } else {
                const float *kp = load_rows(ks, &hv, 0, p0, nk, D, Dp, KB, &ldk);
                ks->dots(G, nk, Dp, Q + hq * Dp, (size_t)Dp, kp, ldk, S, (size_t)BK);
            }
            for (int g = 0; g < G; g++) {
                float *sg = S + (size_t)g * BK;
                const float mx = row_max(sg, nk);
                const float mn = mx > mh[g] ? mx : mh[g], corr = expf(mh[g] - mn);
                lh[g] = lh[g] * corr + ks->expsum(sg, nk, mn);
                if (corr != 1.0f)
                    for (int d = 0; d < Dp; d++) Oh[(size_t)g * Dp + d] *= corr;
                mh[g] = mn;
            }
            if (vint) {
                ks->pv_i16(hv.vt, G, nk, D, S, (size_t)BK, mm_kv_vrow(&hv, p0), hv.vstride, Oh, (size_t)Dp, VB,
                           stream ? &pf : NULL);
                continue;
            }
            const float *vp = load_rows(ks, &hv, 1, p0, nk, D, Dp, VB, &ldv);
            for (int g0 = 0; g0 < G; g0 += 4)
                for (int d0 = 0; d0 < Dp; d0 += 64)
                    ks->sgemm4(G - g0 < 4 ? G - g0 : 4, (Dp - d0) / 16 < 4 ? (Dp - d0) / 16 : 4, nk, S + (size_t)g0 * BK, (size_t)BK, 1,
                               vp + d0, ldv, Oh + (size_t)g0 * Dp + d0, (size_t)Dp, 1);
        }
    }
    return (att_acc){O, m, l};
}

/* A block of nq > 1 tokens at positions pos0.. against the keys [kb, ke), causal. */
static att_acc attend_block(const mm_kernel_set *ks, const float *q, size_t qs, int G, int nq, int64_t pos0, int64_t kb, int64_t ke,
                            const mm_kv_view *kv, int D, int Dp, float scale, float *scratch) {
    const int BK = MM_ATT_BK;
    const int R0 = G * nq, R = pad16(R0);      /* query rows: row r = token r / G, head r % G; padded rows are zero */
    float *QT = scratch;                       /* [Dp][R] scaled queries, transposed */
    float *O = QT + (size_t)Dp * R;            /* [R][Dp] outputs, unnormalised */
    float *S = O + (size_t)R * Dp;             /* [BK][R] scores, then weights, key-major */
    float *m = S + (size_t)BK * R, *l = m + R, *corr = l + R;
    int *lim = (int *)(corr + R);              /* [R] visible keys of each row in the current tile */
    float *KB = (float *)(lim + R), *VB = KB + (size_t)Dp * BK; /* converted key / value rows when needed */
    memset(QT, 0, sizeof(float) * (size_t)Dp * R);
    for (int r = 0; r < R0; r++) {
        const float *qr = q + (size_t)(r / G) * qs + (size_t)(r % G) * D;
        for (int d = 0; d < D; d++) QT[(size_t)d * R + r] = qr[d] * scale;
    }
    for (int r = 0; r < R; r++) m[r] = -INFINITY, l[r] = 0.0f;
    memset(O, 0, sizeof(float) * (size_t)R * Dp);
    for (int64_t p0 = kb; p0 < ke; p0 += BK) {
        const int nk = ke - p0 < BK ? (int)(ke - p0) : BK;
        size_t ldk, ldv;
        if (p0 + BK < ke) prefetch_rows(kv, p0 + BK, ke - p0 - BK < BK ? (int)(ke - p0 - BK) : BK, D);
        const float *kp = load_rows(ks, kv, 0, p0, nk, D, Dp, KB, &ldk);
        for (int j0 = 0; j0 < nk; j0 += 4)
            for (int c0 = 0; c0 < R; c0 += 64)
                ks->sgemm4(nk - j0 < 4 ? nk - j0 : 4, (R - c0) / 16 < 4 ? (R - c0) / 16 : 4, Dp, kp + (size_t)j0 * ldk, ldk, 1,
                           QT + c0, (size_t)R, S + (size_t)j0 * R + c0, (size_t)R, 0);
        /* token r / G sees keys up to pos0 + r / G: only the tiles that reach past pos0 are cut */
        const int cut = p0 + nk - 1 > pos0;
        if (cut)
            for (int r = 0; r < R; r++) {
                const int64_t v = r < R0 ? pos0 + r / G - p0 + 1 : nk;
                lim[r] = v < 0 ? 0 : v > nk ? nk : (int)v;
            }
        ks->softmax_cols(S, nk, R, cut ? lim : NULL, m, l, corr);
        for (int r = 0; r < R0; r++)
            if (corr[r] != 1.0f)
                for (int d = 0; d < Dp; d++) O[(size_t)r * Dp + d] *= corr[r];
        const float *vp = load_rows(ks, kv, 1, p0, nk, D, Dp, VB, &ldv);
        for (int r0 = 0; r0 < R0; r0 += 4)
            for (int d0 = 0; d0 < Dp; d0 += 64)
                ks->sgemm4(R0 - r0 < 4 ? R0 - r0 : 4, (Dp - d0) / 16 < 4 ? (Dp - d0) / 16 : 4, nk, S + r0, 1, (size_t)R, vp + d0, ldv,
                           O + (size_t)r0 * Dp + d0, (size_t)Dp, 1);
    }
    return (att_acc){O, m, l};
}

static att_acc attend_range(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale,
                            int64_t kb, int64_t ke, float *scratch) {
    const mm_kernel_set *ks = mm_kernels_get();
    if (nq == 1) return attend_one(ks, q, G, kb, ke, kv, D, pad16(D), scale, scratch);
    if (mm_kv_view_heads(kv) > 1) {
        fprintf(stderr, "mm_attention: a view of %d KV heads serves one token only, not %d (mm_attn.h)\n", kv->nkv, nq);
        abort();
    }
    return attend_block(ks, q, qs, G, nq, pos0, kb, ke, kv, D, pad16(D), scale, scratch);
}

void mm_attention(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale, float *o,
                  size_t os, float *scratch) {
    const int Dp = pad16(D);
    const att_acc a = attend_range(q, qs, G, nq, pos0, kv, D, scale, 0, pos0 + nq, scratch);
    const int GT = G * mm_kv_view_heads(kv);   /* query heads: G per KV head of the view */
    for (int r = 0; r < GT * nq; r++) {
        float *orow = o + (size_t)(r / GT) * os + (size_t)(r % GT) * D;
        const float inv = 1.0f / a.l[r];
        for (int d = 0; d < D; d++) orow[d] = a.O[(size_t)r * Dp + d] * inv;
    }
}

void mm_attention_part(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale,
                       int64_t kb, int64_t ke, float *O, float *m, float *l, float *scratch) {
    const int Dp = pad16(D);
    const att_acc a = attend_range(q, qs, G, nq, pos0, kv, D, scale, kb, ke, scratch);
    for (int r = 0; r < G * mm_kv_view_heads(kv) * nq; r++) {
        memcpy(O + (size_t)r * D, a.O + (size_t)r * Dp, sizeof(float) * (size_t)D);
        m[r] = a.m[r], l[r] = a.l[r];
    }
}

void mm_attention_merge(int G, int nq, int D, int n, const float *O, size_t ps, const float *m, const float *l, float *o, size_t os) {
    const int R = G * nq;
    for (int r = 0; r < R; r++) {
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) mx = m[(size_t)j * ps + r] > mx ? m[(size_t)j * ps + r] : mx;
        float *orow = o + (size_t)(r / G) * os + (size_t)(r % G) * D, sum = 0.0f;
        for (int d = 0; d < D; d++) orow[d] = 0.0f;
        for (int j = 0; j < n; j++) {
            const float w = expf(m[(size_t)j * ps + r] - mx);
            const float *Oj = O + (size_t)j * ps + (size_t)r * D;
            sum += w * l[(size_t)j * ps + r];
            for (int d = 0; d < D; d++) orow[d] += w * Oj[d];
        }
        const float inv = 1.0f / sum;
        for (int d = 0; d < D; d++) orow[d] *= inv;
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
                mm_kv_load_row(kv->kt, mm_kv_krow(kv, p), row, D);
                double s = 0;
                for (int d = 0; d < D; d++) s += (double)qv[d] * row[d];
                w[p] = s * scale;
                mx = w[p] > mx ? w[p] : mx;
            }
            for (int d = 0; d < D; d++) acc[d] = 0;
            for (int64_t p = 0; p < n; p++) {
                w[p] = exp(w[p] - mx);
                sum += w[p];
                mm_kv_load_row(kv->vt, mm_kv_vrow(kv, p), row, D);
                for (int d = 0; d < D; d++) acc[d] += w[p] * row[d];
            }
            for (int d = 0; d < D; d++) o[(size_t)i * os + (size_t)g * D + d] = (float)(acc[d] / sum);
        }
    free(w), free(acc), free(row);
}
