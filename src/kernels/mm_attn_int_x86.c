/* mm_attn_int_x86.c — AVX-512 VNNI versions of the integer decode-attention primitives of mm_attn_int.c (contract
 * in mm_kernels.h: qk_i8, pv_i16), bit-identical to them. Both first lay the tile out once for all G heads:
 *   scores: each key block of 16 keys as int8 levels (Q8_0 bytes; Q4_0 nibbles − 8) transposed to 8 zmm (dword i
 *     of every key's block, ⊕ 0x80 so the levels are unsigned), so a head's block is 8 vpdpbusd with the query's dwords broadcast and no horizontal sums;
 *     the accumulator starts at −128·Σq, which cancels the 128·Σq the bias adds;
 *   values: the value levels of positions 2t, 2t+1 as int16 pairs per output element (vpunpck*wd order, undone
 *     once per block at the end), so a head's 2 positions are 2 vpdpwssd with the weight pair broadcast.
 * The AVX2 + AVX-VNNI versions do the same 8 keys per ymm; plain AVX2 has the values only (vpmaddwd is exact on
 * the int16 pairs, while vpmaddubsw would saturate on the biased key bytes). Nothing on other architectures. */
#include <stddef.h>
#include <string.h>
#include "kernels/mm_kernels.h"
#include "kernels/mm_quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "kernels/mm_dp_x86.h"

#define MM_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))
#define MM_INL512 __attribute__((always_inline)) MM_T512 static inline
#define LD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define CAT256(lo, hi) _mm512_inserti64x4(_mm512_castsi256_si512(lo), (hi), 1)

/* Block b of row j of a Q8_0 / Q4_0 matrix (n rows ld bytes apart) as its 32 levels (Q4_0: the nibbles, low
 * then high, − 8), *h its f16 scale's bits; rows past n are padding: zeros, scale 0. The callers convert 8 or 16
 * scales at once (cvt_scales_*): one scalar conversion per row, a round trip through a vector register each, was
 * about half the kernels' time. */
__attribute__((always_inline, target("avx2"))) static inline __m256i block_levels(mm_dtype t, const void *rows, size_t ld, int n, int j,
                                                                                 int b, uint16_t *h) {
    if (j >= n) {
        *h = 0;
        return _mm256_setzero_si256();
    }
    const char *r = (const char *)rows + (size_t)j * ld;
    if (t == MM_Q4_0) {
        const mm_block_q4_0 *k = (const mm_block_q4_0 *)(const void *)r + b;
        const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)k->qs), m = _mm_set1_epi8(15);
        *h = k->d;
        return _mm256_sub_epi8(_mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m), _mm_and_si128(x, m)), _mm256_set1_epi8(8));
    }
    const mm_block_q8_0 *k = (const mm_block_q8_0 *)(const void *)r + b;
    *h = k->d;
    return LD256(k->qs);
}
__attribute__((always_inline, target("avx2,f16c"))) static inline void cvt_scales_8(const uint16_t *h, float *d) {
    _mm256_storeu_ps(d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h)));
}
static inline int32_t ld32(const void *p) {
    int32_t x;
    memcpy(&x, p, sizeof x);
    return x;
}
/* At at: [G][D/32] −128·Σ of each query block, the start of the scores' accumulators (cancels the key bias). */
static int32_t *query_bias(int G, int D, const int8_t *q, void *at) {
    int32_t *qb = at;
    for (int g = 0; g < G; g++)
        for (int b = 0; b < D / MM_QK; b++) {
            int32_t t = 0;
            for (int i = 0; i < MM_QK; i++) t += q[(size_t)g * D + b * MM_QK + i];
            qb[(size_t)g * (D / MM_QK) + b] = -128 * t;
        }
    return qb;
}
/* pv_i16's work: VI [nb][np][64 int16 pairs] the value bytes of position pairs, DV [nb][n16] the value block scales
 * (0 past nk), WQ [G][nb][64] the quantized weights (0 past nk), C [G][nb] their scales (0: dropped); the AVX-512
 * version also MX [G·nb rounded up to 16][16] each head and block's weight magnitudes folded to 16 lanes, and IW
 * [G][nb] the factors 32767 / W that quantize them. */
typedef struct {
    char *VI;
    float *DV;
    int16_t *WQ;
    float *C, *MX, *IW;
} pv_work;
static pv_work pv_layout(void *work, int G, int nb, int np, int n16) {
    pv_work w;
    w.VI = work;
    w.DV = (float *)(void *)(w.VI + (size_t)nb * np * 128);
    w.WQ = (int16_t *)(w.DV + (size_t)nb * n16);
    w.C = (float *)(w.WQ + (size_t)G * nb * 64);
    w.MX = w.C + (size_t)G * nb;
    w.IW = w.MX + ((size_t)G * nb + 15) / 16 * 16 * 16;
    return w;
}

MM_INL512 void cvt_scales_16(const uint16_t *h, float *d) {
    _mm512_storeu_ps(d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)h)));
}
/* Whether rows j0..j0+15 of a Q8_0 matrix (n rows) all exist: transpose_keys then loads their levels and scale
 * bits straight, without block_levels' per-row tests (measured ~15% faster scores, the 16 rows' levels kept in
 * registers instead of stored and reloaded; a gather of the 16 scales measured slower than the scalar loads, and
 * the same path for pv_i16's value rows no faster). */
static inline int full_q8_16(mm_dtype t, int n, int j0) { return t == MM_Q8_0 && j0 + 16 <= n; }

/* ---------------------------------------------------------------- scores */
/* Block b of keys j0..j0+15 transposed: out[i] lane r = dword i of key j0 + r's block, ⊕ 0x80. Rows go in as
 * [r | r+4] pairs, so after the two unpack rounds one 128-bit-lane shuffle puts the 16 keys in order. */
MM_INL512 void transpose_keys(mm_dtype kt, const void *k, size_t ldk, int nk, int j0, int b, __m512i *out, float *dk, mm_prefetch *pf) {
    __m256i lv[16];
    uint16_t hs[16];
    if (full_q8_16(kt, nk, j0)) {
        const char *r0 = (const char *)k + (size_t)j0 * ldk + (size_t)b * sizeof(mm_block_q8_0);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            lv[i] = LD256(r0 + (size_t)i * ldk + offsetof(mm_block_q8_0, qs));
            memcpy(hs + i, r0 + (size_t)i * ldk, sizeof hs[i]);
            if (i % 2) mm_prefetch_lines(pf, 1);   /* 8 lines a block, one every other row: measured ~3% faster than 8 at once */
        }
    } else {
        for (int i = 0; i < 16; i++) {
            lv[i] = block_levels(kt, k, ldk, nk, j0 + i, b, hs + i);
            if (i % 2) mm_prefetch_lines(pf, 1);
        }
    }
    cvt_scales_16(hs, dk);
    __m512i z[8], t[8], u[8];
    for (int i = 0; i < 4; i++) z[i] = CAT256(lv[i], lv[i + 4]), z[4 + i] = CAT256(lv[8 + i], lv[12 + i]);
    for (int h = 0; h < 8; h += 4) {
        t[h + 0] = _mm512_unpacklo_epi32(z[h + 0], z[h + 1]), t[h + 1] = _mm512_unpackhi_epi32(z[h + 0], z[h + 1]);
        t[h + 2] = _mm512_unpacklo_epi32(z[h + 2], z[h + 3]), t[h + 3] = _mm512_unpackhi_epi32(z[h + 2], z[h + 3]);
        u[h + 0] = _mm512_unpacklo_epi64(t[h + 0], t[h + 2]), u[h + 1] = _mm512_unpackhi_epi64(t[h + 0], t[h + 2]);
        u[h + 2] = _mm512_unpacklo_epi64(t[h + 1], t[h + 3]), u[h + 3] = _mm512_unpackhi_epi64(t[h + 1], t[h + 3]);
    }
    /* u[i] (i < 4): 128-bit lanes = dword i of keys 0-3, dword i+4 of keys 0-3, dword i of keys 4-7, dword i+4 of
     * keys 4-7; u[4 + i] the same for keys 8-15 */
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int i = 0; i < 4; i++) {
        _mm512_storeu_si512(out + i, _mm512_xor_si512(_mm512_shuffle_i32x4(u[i], u[4 + i], _MM_SHUFFLE(2, 0, 2, 0)), bias));
        _mm512_storeu_si512(out + 4 + i, _mm512_xor_si512(_mm512_shuffle_i32x4(u[i], u[4 + i], _MM_SHUFFLE(3, 1, 3, 1)), bias));
    }
}

/* GN heads from g0 against the 16 keys of group kg: s row g, lanes masked to the keys that exist. */
MM_INL512 void qk_heads(const int GN, int g0, int nb, int D, const int8_t *q, const float *dq, const int32_t *qb, const __m512i *KT,
                        const float *KD, float *s, size_t lds, __mmask16 m) {
    __m512 sacc[8];
    for (int g = 0; g < GN; g++) sacc[g] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m512i kv[8];
        for (int i = 0; i < 8; i++) kv[i] = _mm512_loadu_si512(KT + (size_t)b * 8 + i);
        const __m512 dk = _mm512_loadu_ps(KD + (size_t)b * 16);
#pragma GCC unroll 8
        for (int g = 0; g < GN; g++) {
            const int8_t *qg = q + (size_t)(g0 + g) * D + b * MM_QK;
            __m512i acc = _mm512_set1_epi32(qb[(size_t)(g0 + g) * nb + b]);
            for (int i = 0; i < 8; i++) acc = _mm512_dpbusd_epi32(acc, kv[i], _mm512_set1_epi32(ld32(qg + 4 * i)));
            sacc[g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(dk, _mm512_set1_ps(dq[(size_t)(g0 + g) * nb + b])), sacc[g]);
        }
    }
    for (int g = 0; g < GN; g++) _mm512_mask_storeu_ps(s + (size_t)(g0 + g) * lds, m, sacc[g]);
}

MM_T512 void mm_qk_i8_512(mm_dtype kt, int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s, size_t lds,
                          void *work, mm_prefetch *pf) {
    const int nb = D / MM_QK, ng = (nk + 15) / 16;
    char *w = work;
    __m512i *KT = (__m512i *)(void *)w;                          /* [ng][nb][8] transposed key blocks */
    float *KD = (float *)(void *)(w + (size_t)ng * nb * 8 * 64);  /* [ng][nb][16] their scales */
    int32_t *QB = query_bias(G, D, q, KD + (size_t)ng * nb * 16);
    for (int kg = 0; kg < ng; kg++)
        for (int b = 0; b < nb; b++)
            transpose_keys(kt, k, ldk, nk, 16 * kg, b, KT + ((size_t)kg * nb + b) * 8, KD + ((size_t)kg * nb + b) * 16, pf);
    for (int kg = 0; kg < ng; kg++) {
        const int left = nk - 16 * kg;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m512i *kt = KT + (size_t)kg * nb * 8;
        const float *kd = KD + (size_t)kg * nb * 16;
        int g = 0;
        for (; g + 8 <= G; g += 8) qk_heads(8, g, nb, D, q, dq, QB, kt, kd, s + 16 * kg, lds, m);
        for (; g < G; g++) qk_heads(1, g, nb, D, q, dq, QB, kt, kd, s + 16 * kg, lds, m);
    }
}

/* ---------------------------------------------------------------- values */
/* GN heads from g0, value block b: Σ over the position pairs, then o += c·Σ in element order. */
MM_INL512 void pv_heads(const int GN, int g0, int b, int nb, int np, const char *VI, const int16_t *WQ, const float *C, float *o,
                        size_t ldo) {
    __m512i lo[8], hi[8];
    for (int g = 0; g < GN; g++) lo[g] = hi[g] = _mm512_setzero_si512();
    const char *vi = VI + (size_t)b * np * 128;
    for (int t = 0; t < np; t++) {
        const __m512i vl = _mm512_loadu_si512(vi + (size_t)t * 128), vh = _mm512_loadu_si512(vi + (size_t)t * 128 + 64);
        for (int g = 0; g < GN; g++) {
            const int16_t *wp = WQ + ((size_t)(g0 + g) * nb + b) * 64 + 2 * t;   /* the head's weight pair */
            lo[g] = mm_dpwssd_bcst(lo[g], vl, wp), hi[g] = mm_dpwssd_bcst(hi[g], vh, wp);
        }
    }
    /* vpunpck{l,h}wd order: lo lane 4L + i = element 8L + i, hi lane 4L + i = element 8L + 4 + i (i < 4) */
    const __m512i i0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i i1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int g = 0; g < GN; g++) {
        const float c = C[(size_t)(g0 + g) * nb + b];
        if (c == 0.0f) continue;
        float *od = o + (size_t)(g0 + g) * ldo + b * MM_QK;
        const __m512 cv = _mm512_set1_ps(c);
        _mm512_storeu_ps(od, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_permutex2var_epi32(lo[g], i0, hi[g])), cv, _mm512_loadu_ps(od)));
        _mm512_storeu_ps(od + 16,
                         _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_permutex2var_epi32(lo[g], i1, hi[g])), cv, _mm512_loadu_ps(od + 16)));
    }
}

/* lane u of the result = the largest lane of v[u], for 16 vectors v: 4 rounds that each take the larger of lanes 2l and
 * 2l + 1 of a pair of vectors into lanes l (first vector) and 8 + l (second), halving the lanes per vector. */
MM_INL512 __m512 max16(const float *v) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    __m512 a[16];
    for (int k = 0; k < 16; k++) a[k] = _mm512_loadu_ps(v + 16 * k);
    for (int n = 16; n > 1; n /= 2)
        for (int k = 0; k < n / 2; k++)
            a[k] = _mm512_max_ps(_mm512_permutex2var_ps(a[2 * k], ev, a[2 * k + 1]), _mm512_permutex2var_ps(a[2 * k], od, a[2 * k + 1]));
    return a[0];
}

/* w[i] = pr[i]·dv[16i..16i+15] for i < 4: a head's weights p·d_v in one value block, lanes past nk 0 (the masks m4). */
MM_INL512 void pv_weights(__m512 *w, const __m512 *pr, const float *dv, const __mmask16 *m4) {
    for (int i = 0; i < 4; i++) w[i] = _mm512_mul_ps(pr[i], _mm512_maskz_loadu_ps(m4[i], dv + 16 * i));
}

MM_T512 void mm_pv_i16_512(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work,
                           mm_prefetch *pf) {
    const int nb = D / MM_QK, np = (nk + 1) / 2, n16 = (nk + 15) / 16 * 16;
    const pv_work pw = pv_layout(work, G, nb, np, n16);
    char *VI = pw.VI;
    float *DV = pw.DV, *C = pw.C;
    int16_t *WQ = pw.WQ;
    for (int b = 0; b < nb; b++) {
        float *dv = DV + (size_t)b * n16;
        uint16_t hs[64];   /* the tile's value scales' f16 bits (BK = 64 keys at most: mm_kernels.h) */
        for (int j = 2 * np; j < n16; j++) hs[j] = 0;
        for (int t = 0; t < np; t++) {
            mm_prefetch_lines(pf, 2);
            const __m512i a = _mm512_cvtepi8_epi16(block_levels(vt, v, ldv, nk, 2 * t, b, hs + 2 * t));
            const __m512i c = _mm512_cvtepi8_epi16(block_levels(vt, v, ldv, nk, 2 * t + 1, b, hs + 2 * t + 1));
            _mm512_storeu_si512(VI + ((size_t)b * np + t) * 128, _mm512_unpacklo_epi16(a, c));
            _mm512_storeu_si512(VI + ((size_t)b * np + t) * 128 + 64, _mm512_unpackhi_epi16(a, c));
        }
        for (int j = 0; j < n16; j += 16) cvt_scales_16(hs + j, dv + j);
    }
    /* the weights p·d_v of a head and block in 4 registers (nk ≤ 64): lanes past nk are 0 (their d_v too: the loads
     * are masked); the head's p loaded once for all blocks */
    __mmask16 m4[4];
    for (int i = 0; i < 4; i++) {
        const int left = nk - 16 * i;
        m4[i] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
    }
    /* their largest magnitude W per head and block (unit u = g·nb + b): 16 lanes of it per unit into MX, then 16
     * units at a time folded to one lane each (max16) and both factors divided for 16 units at once, so neither a
     * horizontal maximum nor a division waits per unit */
    const int U = G * nb, U16 = (U + 15) / 16 * 16;
    float *MX = pw.MX, *IW = pw.IW;
    for (int g = 0; g < G; g++) {
        __m512 pr[4];
        for (int i = 0; i < 4; i++) pr[i] = _mm512_maskz_loadu_ps(m4[i], p + (size_t)g * ldp + 16 * i);
        for (int b = 0; b < nb; b++) {
            __m512 w[4];
            pv_weights(w, pr, DV + (size_t)b * n16, m4);
            __m512 mx = _mm512_abs_ps(w[0]);
            for (int i = 1; i < 4; i++) mx = _mm512_max_ps(mx, _mm512_abs_ps(w[i]));
            _mm512_storeu_ps(MX + (size_t)(g * nb + b) * 16, mx);
        }
    }
    for (int u = U; u < U16; u++) _mm512_storeu_ps(MX + (size_t)u * 16, _mm512_setzero_ps());
    for (int u0 = 0; u0 < U; u0 += 16) {
        const __m512 wm = max16(MX + (size_t)u0 * 16);
        const __mmask16 keep = _mm512_cmp_ps_mask(wm, _mm512_set1_ps(MM_PV_I16_WMIN), _CMP_GE_OQ),
                        in = U - u0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (U - u0)) - 1);
        const __m512 q = _mm512_set1_ps(32767.0f);
        _mm512_mask_storeu_ps(C + u0, in, _mm512_maskz_div_ps(keep, wm, q));   /* W / 32767, 0: the unit is dropped */
        _mm512_mask_storeu_ps(IW + u0, in, _mm512_div_ps(q, wm));
    }
    for (int g = 0; g < G; g++) {
        __m512 pr[4];
        for (int i = 0; i < 4; i++) pr[i] = _mm512_maskz_loadu_ps(m4[i], p + (size_t)g * ldp + 16 * i);
        for (int b = 0; b < nb; b++) {
            if (C[g * nb + b] == 0.0f) continue;
            __m512 w[4];
            pv_weights(w, pr, DV + (size_t)b * n16, m4);
            const __m512 inv = _mm512_set1_ps(IW[g * nb + b]);
            int16_t *wq = WQ + ((size_t)g * nb + b) * 64;
            for (int i = 0; i < 4; i++)   /* all 64: WQ holds 64 per head and block, the pairs past nk read 0 */
                _mm256_storeu_si256((__m256i *)(void *)(wq + 16 * i), _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(w[i], inv))));
        }
    }
    for (int b = 0; b < nb; b++) {
        int g = 0;
        for (; g + 8 <= G; g += 8) pv_heads(8, g, b, nb, np, VI, WQ, C, o, ldo);
        for (; g < G; g++) pv_heads(1, g, b, nb, np, VI, WQ, C, o, ldo);
    }
}
/* ================================================================ AVX2 (+ AVX-VNNI) */
#define MM_T256 __attribute__((target("avx2,fma,f16c")))
#define MM_INL256 __attribute__((always_inline)) MM_T256 static inline
#define LD128(p) _mm_loadu_si128((const __m128i *)(const void *)(p))

/* Block b of keys j0..j0+7 transposed: out[i] lane r = dword i of key j0 + r's block, ⊕ 0x80. */
MM_INL256 void transpose_keys_256(mm_dtype kt, const void *k, size_t ldk, int nk, int j0, int b, __m256i *out, float *dk, mm_prefetch *pf) {
    __m256i z[8], t[8], u[8];
    uint16_t hs[8];
    for (int i = 0; i < 8; i++) {
        z[i] = block_levels(kt, k, ldk, nk, j0 + i, b, hs + i);
        if (i % 2) mm_prefetch_lines(pf, 1);   /* as transpose_keys does */
    }
    cvt_scales_8(hs, dk);
    for (int h = 0; h < 8; h += 4) {
        t[h + 0] = _mm256_unpacklo_epi32(z[h + 0], z[h + 1]), t[h + 1] = _mm256_unpackhi_epi32(z[h + 0], z[h + 1]);
        t[h + 2] = _mm256_unpacklo_epi32(z[h + 2], z[h + 3]), t[h + 3] = _mm256_unpackhi_epi32(z[h + 2], z[h + 3]);
        u[h + 0] = _mm256_unpacklo_epi64(t[h + 0], t[h + 2]), u[h + 1] = _mm256_unpackhi_epi64(t[h + 0], t[h + 2]);
        u[h + 2] = _mm256_unpacklo_epi64(t[h + 1], t[h + 3]), u[h + 3] = _mm256_unpackhi_epi64(t[h + 1], t[h + 3]);
    }
    /* u[i] (i < 4): 128-bit lanes = dword i, dword i+4 of keys 0-3; u[4 + i] the same for keys 4-7 */
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_si256(out + i, _mm256_xor_si256(_mm256_permute2x128_si256(u[i], u[4 + i], 0x20), bias));
        _mm256_storeu_si256(out + 4 + i, _mm256_xor_si256(_mm256_permute2x128_si256(u[i], u[4 + i], 0x31), bias));
    }
}

MM_INL256 void qk_heads_256(const int GN, int g0, int nb, int D, const int8_t *q, const float *dq, const int32_t *qb, const __m256i *KT,
                            const float *KD, float *s, size_t lds, int n) {
    __m256 sacc[4];
    for (int g = 0; g < GN; g++) sacc[g] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i kv[8];
        for (int i = 0; i < 8; i++) kv[i] = _mm256_loadu_si256(KT + (size_t)b * 8 + i);
        const __m256 dk = _mm256_loadu_ps(KD + (size_t)b * 8);
        for (int g = 0; g < GN; g++) {
            const int8_t *qg = q + (size_t)(g0 + g) * D + b * MM_QK;
            __m256i acc = _mm256_set1_epi32(qb[(size_t)(g0 + g) * nb + b]);
            for (int i = 0; i < 8; i++) acc = mm_dp4_256(acc, kv[i], _mm256_set1_epi32(ld32(qg + 4 * i)), 1);
            sacc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(dk, _mm256_set1_ps(dq[(size_t)(g0 + g) * nb + b])), sacc[g]);
        }
    }
    for (int g = 0; g < GN; g++) {
        float t[8];
        _mm256_storeu_ps(t, sacc[g]);
        memcpy(s + (size_t)(g0 + g) * lds, t, sizeof(float) * (size_t)n);
    }
}

MM_T256 void mm_qk_i8_vnni(mm_dtype kt, int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s, size_t lds,
                           void *work, mm_prefetch *pf) {
    const int nb = D / MM_QK, ng = (nk + 7) / 8;
    char *w = work;
    __m256i *KT = (__m256i *)(void *)w;                          /* [ng][nb][8] transposed key blocks */
    float *KD = (float *)(void *)(w + (size_t)ng * nb * 8 * 32);  /* [ng][nb][8] their scales */
    int32_t *QB = query_bias(G, D, q, KD + (size_t)ng * nb * 8);
    for (int kg = 0; kg < ng; kg++)
        for (int b = 0; b < nb; b++)
            transpose_keys_256(kt, k, ldk, nk, 8 * kg, b, KT + ((size_t)kg * nb + b) * 8, KD + ((size_t)kg * nb + b) * 8, pf);
    for (int kg = 0; kg < ng; kg++) {
        const int n = nk - 8 * kg < 8 ? nk - 8 * kg : 8;
        const __m256i *kt = KT + (size_t)kg * nb * 8;
        const float *kd = KD + (size_t)kg * nb * 8;
        int g = 0;
        for (; g + 4 <= G; g += 4) qk_heads_256(4, g, nb, D, q, dq, QB, kt, kd, s + 8 * kg, lds, n);
        for (; g < G; g++) qk_heads_256(1, g, nb, D, q, dq, QB, kt, kd, s + 8 * kg, lds, n);
    }
}

/* GN (≤ 2) heads from g0, value block b: 4 ymm of pairs per position pair (two halves of 16 elements). */
MM_INL256 void pv_heads_256(const int GN, int g0, int b, int nb, int np, const char *VI, const int16_t *WQ, const float *C, float *o,
                            size_t ldo, const int vnni) {
    __m256i acc[2][4];
    for (int g = 0; g < GN; g++)
        for (int i = 0; i < 4; i++) acc[g][i] = _mm256_setzero_si256();
    const char *vi = VI + (size_t)b * np * 128;
    for (int t = 0; t < np; t++) {
        __m256i vv[4];
        for (int i = 0; i < 4; i++) vv[i] = _mm256_loadu_si256((const __m256i *)(const void *)(vi + (size_t)t * 128 + 32 * i));
        for (int g = 0; g < GN; g++) {
            const __m256i wp = _mm256_set1_epi32(ld32(WQ + ((size_t)(g0 + g) * nb + b) * 64 + 2 * t));
            for (int i = 0; i < 4; i++) acc[g][i] = mm_dpw_256(acc[g][i], vv[i], wp, vnni);
        }
    }
    for (int g = 0; g < GN; g++) {
        const float c = C[(size_t)(g0 + g) * nb + b];
        if (c == 0.0f) continue;
        float *od = o + (size_t)(g0 + g) * ldo + b * MM_QK;
        const __m256 cv = _mm256_set1_ps(c);
        /* half h: lo lane 4L + i = element 16h + 8L + i, hi lane 4L + i = element 16h + 8L + 4 + i */
        for (int h = 0; h < 2; h++) {
            const __m256i lo = acc[g][2 * h], hi = acc[g][2 * h + 1];
            float *oh = od + 16 * h;
            _mm256_storeu_ps(oh, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_permute2x128_si256(lo, hi, 0x20)), cv, _mm256_loadu_ps(oh)));
            _mm256_storeu_ps(oh + 8,
                             _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_permute2x128_si256(lo, hi, 0x31)), cv, _mm256_loadu_ps(oh + 8)));
        }
    }
}

MM_INL256 void pv_i16_256(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work,
                         mm_prefetch *pf, const int vnni) {
    const int nb = D / MM_QK, np = (nk + 1) / 2, n16 = (nk + 15) / 16 * 16;
    const pv_work pw = pv_layout(work, G, nb, np, n16);
    char *VI = pw.VI;
    float *DV = pw.DV, *C = pw.C;
    int16_t *WQ = pw.WQ;
    for (int b = 0; b < nb; b++) {
        float *dv = DV + (size_t)b * n16;
        uint16_t hs[64];   /* the tile's value scales' f16 bits (nk ≤ 64: mm_kernels.h) */
        for (int j = 2 * np; j < n16; j++) hs[j] = 0;
        for (int t = 0; t < np; t++) {
            mm_prefetch_lines(pf, 2);
            const __m256i l0 = block_levels(vt, v, ldv, nk, 2 * t, b, hs + 2 * t), l1 = block_levels(vt, v, ldv, nk, 2 * t + 1, b, hs + 2 * t + 1);
            char *dst = VI + ((size_t)b * np + t) * 128;
            for (int h = 0; h < 2; h++) {
                const __m256i a = _mm256_cvtepi8_epi16(h ? _mm256_extracti128_si256(l0, 1) : _mm256_castsi256_si128(l0));
                const __m256i c = _mm256_cvtepi8_epi16(h ? _mm256_extracti128_si256(l1, 1) : _mm256_castsi256_si128(l1));
                _mm256_storeu_si256((__m256i *)(void *)(dst + 64 * h), _mm256_unpacklo_epi16(a, c));
                _mm256_storeu_si256((__m256i *)(void *)(dst + 64 * h + 32), _mm256_unpackhi_epi16(a, c));
            }
        }
        for (int j = 0; j < n16; j += 8) cvt_scales_8(hs + j, dv + j);
    }
    float pb[64];
    for (int g = 0; g < G; g++) {
        memcpy(pb, p + (size_t)g * ldp, sizeof(float) * (size_t)nk);
        for (int j = nk; j < n16; j++) pb[j] = 0.0f;
        for (int b = 0; b < nb; b++) {
            const float *dv = DV + (size_t)b * n16;
            int16_t *wq = WQ + ((size_t)g * nb + b) * 64;
            __m256 mx = _mm256_setzero_ps();
            for (int j = 0; j < n16; j += 8)
                mx = _mm256_max_ps(mx, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_mul_ps(_mm256_loadu_ps(pb + j), _mm256_loadu_ps(dv + j))));
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            const float wmax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
            if (!(wmax >= MM_PV_I16_WMIN)) {
                C[(size_t)g * nb + b] = 0.0f;
                continue;
            }
            const __m256 inv = _mm256_set1_ps(32767.0f / wmax);
            C[(size_t)g * nb + b] = wmax / 32767.0f;
            for (int j = 0; j < n16; j += 16) {
                const __m256 w0 = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(pb + j), _mm256_loadu_ps(dv + j)), inv);
                const __m256 w1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(pb + j + 8), _mm256_loadu_ps(dv + j + 8)), inv);
                const __m256i pk = _mm256_packs_epi32(_mm256_cvtps_epi32(w0), _mm256_cvtps_epi32(w1));   /* ≤ 32767: no saturation */
                _mm256_storeu_si256((__m256i *)(void *)(wq + j), _mm256_permute4x64_epi64(pk, 0xD8));
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        int g = 0;
        for (; g + 2 <= G; g += 2) pv_heads_256(2, g, b, nb, np, VI, WQ, C, o, ldo, vnni);
        for (; g < G; g++) pv_heads_256(1, g, b, nb, np, VI, WQ, C, o, ldo, vnni);
    }
}
MM_T256 void mm_pv_i16_256(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo,
                          void *work, mm_prefetch *pf) {
    pv_i16_256(vt, G, nk, D, p, ldp, v, ldv, o, ldo, work, pf, 0);
}
MM_T256 void mm_pv_i16_vnni(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo,
                           void *work, mm_prefetch *pf) {
    pv_i16_256(vt, G, nk, D, p, ldp, v, ldv, o, ldo, work, pf, 1);
}
#endif
