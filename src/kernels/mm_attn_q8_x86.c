/* mm_attn_q8_x86.c — AVX-512 VNNI versions of the integer decode-attention primitives of mm_attn_q8.c (contract
 * in mm_kernels.h: qk_q8, pv_q8), bit-identical to them. Both first lay the tile out once for all G heads:
 *   scores: each key block of 16 keys transposed to 8 zmm (dword i of every key's block, ⊕ 0x80 so the key bytes
 *     are unsigned), so a head's block is 8 vpdpbusd with the query's dwords broadcast and no horizontal sums;
 *     the accumulator starts at −128·Σq, which cancels the 128·Σq the bias adds;
 *   values: the value bytes of positions 2t, 2t+1 as int16 pairs per output element (vpunpck*wd order, undone
 *     once per block at the end), so a head's 2 positions are 2 vpdpwssd with the weight pair broadcast.
 * Nothing on other architectures. */
#include <string.h>
#include "kernels/mm_kernels.h"
#include "kernels/mm_quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MM_T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))
#define MM_INL512 __attribute__((always_inline)) MM_T512 static inline
#define LD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define CAT256(lo, hi) _mm512_inserti64x4(_mm512_castsi256_si512(lo), (hi), 1)

static const mm_block_q8_0 mm_zero_q8; /* the block of a padding position */

static inline const mm_block_q8_0 *blk(const void *rows, size_t ld, int n, int j, int b) {
    return j < n ? (const mm_block_q8_0 *)((const char *)rows + (size_t)j * ld) + b : &mm_zero_q8;
}
static inline int32_t ld32(const void *p) {
    int32_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* ---------------------------------------------------------------- scores */
/* Block b of keys j0..j0+15 transposed: out[i] lane r = dword i of key j0 + r's block, ⊕ 0x80. Rows go in as
 * [r | r+4] pairs, so after the two unpack rounds one 128-bit-lane shuffle puts the 16 keys in order. */
MM_INL512 void transpose_keys(const void *k, size_t ldk, int nk, int j0, int b, __m512i *out, float *dk) {
    const mm_block_q8_0 *r[16];
    for (int i = 0; i < 16; i++) {
        r[i] = blk(k, ldk, nk, j0 + i, b);
        dk[i] = _cvtsh_ss(r[i]->d);
    }
    __m512i z[8], t[8], u[8];
    for (int i = 0; i < 4; i++) z[i] = CAT256(LD256(r[i]->qs), LD256(r[i + 4]->qs)), z[4 + i] = CAT256(LD256(r[8 + i]->qs), LD256(r[12 + i]->qs));
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
        for (int g = 0; g < GN; g++) {
            const int8_t *qg = q + (size_t)(g0 + g) * D + b * MM_QK;
            __m512i acc = _mm512_set1_epi32(qb[(size_t)(g0 + g) * nb + b]);
            for (int i = 0; i < 8; i++) acc = _mm512_dpbusd_epi32(acc, kv[i], _mm512_set1_epi32(ld32(qg + 4 * i)));
            sacc[g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(dk, _mm512_set1_ps(dq[(size_t)(g0 + g) * nb + b])), sacc[g]);
        }
    }
    for (int g = 0; g < GN; g++) _mm512_mask_storeu_ps(s + (size_t)(g0 + g) * lds, m, sacc[g]);
}

MM_T512 void mm_qk_q8_512(int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s, size_t lds,
                          void *work) {
    const int nb = D / MM_QK, ng = (nk + 15) / 16;
    char *w = work;
    __m512i *KT = (__m512i *)(void *)w;                          /* [ng][nb][8] transposed key blocks */
    float *KD = (float *)(void *)(w + (size_t)ng * nb * 8 * 64);  /* [ng][nb][16] their scales */
    int32_t *QB = (int32_t *)(KD + (size_t)ng * nb * 16);        /* [G][nb] −128·Σ of each query block */
    for (int g = 0; g < G; g++)
        for (int b = 0; b < nb; b++) {
            int32_t t = 0;
            for (int i = 0; i < MM_QK; i++) t += q[(size_t)g * D + b * MM_QK + i];
            QB[(size_t)g * nb + b] = -128 * t;
        }
    for (int kg = 0; kg < ng; kg++)
        for (int b = 0; b < nb; b++)
            transpose_keys(k, ldk, nk, 16 * kg, b, KT + ((size_t)kg * nb + b) * 8, KD + ((size_t)kg * nb + b) * 16);
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
            const __m512i wp = _mm512_set1_epi32(ld32(WQ + ((size_t)(g0 + g) * nb + b) * 64 + 2 * t));
            lo[g] = _mm512_dpwssd_epi32(lo[g], vl, wp), hi[g] = _mm512_dpwssd_epi32(hi[g], vh, wp);
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

MM_T512 void mm_pv_q8_512(int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work) {
    const int nb = D / MM_QK, np = (nk + 1) / 2, n16 = (nk + 15) / 16 * 16;
    char *VI = work;                                           /* [nb][np][64 int16 pairs] */
    float *DV = (float *)(void *)(VI + (size_t)nb * np * 128);  /* [nb][n16] value block scales, 0 past nk */
    int16_t *WQ = (int16_t *)(DV + (size_t)nb * n16);          /* [G][nb][64] quantized weights, 0 past nk */
    float *C = (float *)(WQ + (size_t)G * nb * 64);            /* [G][nb] their scales (0: dropped) */
    for (int b = 0; b < nb; b++) {
        for (int j = 0; j < n16; j++) DV[(size_t)b * n16 + j] = j < nk ? _cvtsh_ss(blk(v, ldv, nk, j, b)->d) : 0.0f;
        for (int t = 0; t < np; t++) {
            const __m512i a = _mm512_cvtepi8_epi16(LD256(blk(v, ldv, nk, 2 * t, b)->qs));
            const __m512i c = _mm512_cvtepi8_epi16(LD256(blk(v, ldv, nk, 2 * t + 1, b)->qs));
            _mm512_storeu_si512(VI + ((size_t)b * np + t) * 128, _mm512_unpacklo_epi16(a, c));
            _mm512_storeu_si512(VI + ((size_t)b * np + t) * 128 + 64, _mm512_unpackhi_epi16(a, c));
        }
    }
    for (int g = 0; g < G; g++)
        for (int b = 0; b < nb; b++) {
            const float *pg = p + (size_t)g * ldp, *dv = DV + (size_t)b * n16;
            int16_t *wq = WQ + ((size_t)g * nb + b) * 64;
            __m512 mx = _mm512_setzero_ps();
            for (int j = 0; j < n16; j += 16) {
                const __mmask16 m = nk - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nk - j)) - 1);
                mx = _mm512_max_ps(mx, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, pg + j), _mm512_loadu_ps(dv + j)));
            }
            const float wmax = _mm512_reduce_max_ps(mx);
            if (!(wmax >= MM_PV_Q8_WMIN)) {
                C[(size_t)g * nb + b] = 0.0f;
                continue;
            }
            const __m512 inv = _mm512_set1_ps(32767.0f / wmax);
            C[(size_t)g * nb + b] = wmax / 32767.0f;
            for (int j = 0; j < n16; j += 16) {
                const __mmask16 m = nk - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nk - j)) - 1);
                const __m512 wv = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, pg + j), _mm512_loadu_ps(dv + j)), inv);
                _mm256_storeu_si256((__m256i *)(void *)(wq + j), _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(wv)));
            }
        }
    for (int b = 0; b < nb; b++) {
        int g = 0;
        for (; g + 8 <= G; g += 8) pv_heads(8, g, b, nb, np, VI, WQ, C, o, ldo);
        for (; g < G; g++) pv_heads(1, g, b, nb, np, VI, WQ, C, o, ldo);
    }
}
#endif
