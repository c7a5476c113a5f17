/* mm_kernels_x86.c — AVX2+FMA+F16C and AVX-512 (F/BW/VL/DQ/VNNI/BF16) kernel sets, each function compiled
 * for its instruction set with a target attribute and chosen at run time (no global -march).
 * Compiles to two NULL-returning stubs on other architectures. */
#include "kernels/mm_iq_tables.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include "kernels/mm_quant.h"
#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* F16C (CPUID.1:ECX bit 29) read directly: clang's __builtin_cpu_supports does not know "f16c". */
static int mm_cpu_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

/* AVX-VNNI (CPUID.(EAX=7,ECX=1):EAX bit 4) read directly: clang 14's __builtin_cpu_supports does not know "avxvnni". */
static int mm_cpu_avxvnni(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
}

#define MM_T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx2,fma,f16c")))
#define MM_T256 __attribute__((target("avx2,fma,f16c")))

/* Decode streams every weight byte once: the kernels prefetch each cache line MM_PF_DIST bytes ahead of
 * what they read, non-temporal so the stream does not evict the activations and the lightning state. */
#ifndef MM_PF_DIST
#define MM_PF_DIST 1024
#endif
#define MM_PF(p) _mm_prefetch((const char *)(p) + MM_PF_DIST, _MM_HINT_NTA)

/* ================================================================ AVX-512 */
MM_T512 static inline float mm_h2f_512(uint16_t h) { return _cvtsh_ss(h); }

#define MM_LD_F32(p, k) _mm512_loadu_ps((const float *)(p) + (k))
#define MM_LDM_F32(m, p, k) _mm512_maskz_loadu_ps((m), (const float *)(p) + (k))
#define MM_LD_BF16(p, k) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(p) + (k)))), 16))
#define MM_LDM_BF16(m, p, k) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16((m), (const uint16_t *)(p) + (k))), 16))
#define MM_LD_F16(p, k) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(p) + (k))))
#define MM_LDM_F16(m, p, k) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((m), (const uint16_t *)(p) + (k)))

/* y[t·ldy+r] = Σ_k W_r[k]·x_t[k] for r < nr, t < nt: W rows of F32/F16/BF16 (wrb bytes apart), x f32 (xs floats apart).
 * Four rows share each activation load; masked loads take the K % 16 tail. */
#define MM_DOTF_512(NAME, LD, LDM)                                                                              \
    MM_T512 static void NAME(int64_t K, int64_t nr, const void *w, size_t wrb, int nt, const float *x, size_t xs, \
                             float *y, size_t ldy) {                                                           \
        int64_t K16 = K & ~(int64_t)15;                                                                        \
        __mmask16 tm = (__mmask16)((1u << (K - K16)) - 1);                                                     \
        int64_t r = 0;                                                                                         \
        for (; r + 4 <= nr; r += 4) {                                                                          \
            const char *w0 = (const char *)w + (size_t)r * wrb, *w1 = w0 + wrb, *w2 = w1 + wrb, *w3 = w2 + wrb; \
            for (int t = 0; t < nt; t++) {                                                                     \
                const float *xt = x + (size_t)t * xs;                                                          \
                __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                    \
                for (int64_t k = 0; k < K16; k += 16) {                                                        \
                    __m512 xv = _mm512_loadu_ps(xt + k);                                                       \
                    a0 = _mm512_fmadd_ps(LD(w0, k), xv, a0);                                                   \
                    a1 = _mm512_fmadd_ps(LD(w1, k), xv, a1);                                                   \
                    a2 = _mm512_fmadd_ps(LD(w2, k), xv, a2);                                                   \
                    a3 = _mm512_fmadd_ps(LD(w3, k), xv, a3);                                                   \
                }                                                                                              \
                if (tm) {                                                                                      \
                    __m512 xv = _mm512_maskz_loadu_ps(tm, xt + K16);                                           \
                    a0 = _mm512_fmadd_ps(LDM(tm, w0, K16), xv, a0);                                            \
                    a1 = _mm512_fmadd_ps(LDM(tm, w1, K16), xv, a1);                                            \
                    a2 = _mm512_fmadd_ps(LDM(tm, w2, K16), xv, a2);                                            \
                    a3 = _mm512_fmadd_ps(LDM(tm, w3, K16), xv, a3);                                            \
                }                                                                                              \
                float *yt = y + (size_t)t * ldy + r;                                                           \
                yt[0] = _mm512_reduce_add_ps(a0);                                                              \
                yt[1] = _mm512_reduce_add_ps(a1);                                                              \
                yt[2] = _mm512_reduce_add_ps(a2);                                                              \
                yt[3] = _mm512_reduce_add_ps(a3);                                                              \
            }                                                                                                  \
        }                                                                                                      \
        for (; r < nr; r++) {                                                                                  \
            const char *w0 = (const char *)w + (size_t)r * wrb;                                                \
            for (int t = 0; t < nt; t++) {                                                                     \
                const float *xt = x + (size_t)t * xs;                                                          \
                __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                                      \
                int64_t k = 0;                                                                                 \
                for (; k + 32 <= K16; k += 32) {                                                               \
                    a0 = _mm512_fmadd_ps(LD(w0, k), _mm512_loadu_ps(xt + k), a0);                              \
                    a1 = _mm512_fmadd_ps(LD(w0, k + 16), _mm512_loadu_ps(xt + k + 16), a1);                    \
                }                                                                                              \
                for (; k < K16; k += 16) a0 = _mm512_fmadd_ps(LD(w0, k), _mm512_loadu_ps(xt + k), a0);         \
                if (tm) a1 = _mm512_fmadd_ps(LDM(tm, w0, K16), _mm512_maskz_loadu_ps(tm, xt + K16), a1);        \
                y[(size_t)t * ldy + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));                          \
            }                                                                                                  \
        }                                                                                                      \
    }
MM_DOTF_512(mm_dot_f32_512, MM_LD_F32, MM_LDM_F32)
MM_DOTF_512(mm_dot_bf16_512, MM_LD_BF16, MM_LDM_BF16)
MM_DOTF_512(mm_dot_f16_512, MM_LD_F16, MM_LDM_F16)

/* Two 32-byte halves into one zmm: [lo | hi]. */
#define MM_CAT256(lo, hi) _mm512_inserti64x4(_mm512_castsi256_si512(lo), (hi), 1)
#define MM_LD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))

/* Q8_0 row · Q8_0 activation, nb blocks: |w|·(x with w's sign) through vpdpbusd, two blocks per zmm. */
MM_T512 static float mm_vdot_q8_0_512(const mm_block_q8_0 *a, const mm_block_q8_0 *b, int64_t nb) {
    __m512 acc = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i wv = MM_CAT256(MM_LD256(a[i].qs), MM_LD256(a[i + 1].qs));
        __m512i xv = MM_CAT256(MM_LD256(b[i].qs), MM_LD256(b[i + 1].qs));
        __m512i sx = _mm512_mask_sub_epi8(xv, _mm512_movepi8_mask(wv), zero, xv);
        __m512i p = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(wv), sx);
        __m512 dv = _mm512_insertf32x8(_mm512_set1_ps(mm_h2f_512(a[i].d) * mm_h2f_512(b[i].d)),
                                       _mm256_set1_ps(mm_h2f_512(a[i + 1].d) * mm_h2f_512(b[i + 1].d)), 1);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), dv, acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (i < nb) s += mm_vec_dot_q8_0_q8_0(a + i, b + i, MM_QK);
    return s;
}

/* The f16 scales of 16 consecutive Q8_0 blocks as f32, from 8 vector loads (each 64-byte load at the start of
 * a block pair holds both pair scales, as words 0 and 17) and 4 word permutes, instead of 16 scalar moves. */
MM_T512 static inline __m512 mm_q8_0_scales16_512(const mm_block_q8_0 *b) {
    const char *p = (const char *)b;
    /* word 4q+k ← (k = 0..3) word 0 / 17 of the load at 136q, word 0 / 17 of the load at 136q + 68 */
    const __m512i idx = _mm512_broadcast_i32x4(_mm_setr_epi16(0, 17, 32, 49, 0, 17, 32, 49));
    __m512i h = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
        h = _mm512_or_si512(h, _mm512_maskz_permutex2var_epi16((__mmask32)(0xFu << (4 * q)), _mm512_loadu_si512(p + 136 * q), idx,
                                                              _mm512_loadu_si512(p + 136 * q + 68)));
    return _mm512_cvtph_ps(_mm512_castsi512_si256(h));
}

/* R (1..4) Q8_0 rows · one Q8_0 activation, 16 blocks (8 zmm pairs) per step; the activation's loads, its
 * block scales and its bias correction are shared by the R rows. Each row's weights become unsigned
 * (w ⊕ 0x80 = w + 128) so one vpdpbusd does the products; the 128·Σx per lane it adds is cancelled by
 * starting the accumulator at −128·Σx (vpdpbusd of 0x80 with x, once per pair for all rows). Block scales
 * dw·dx for 16 blocks come from one gather per row, broadcast per pair with vpermps. Returns the blocks
 * done (a multiple of 16); the caller finishes the rest. */
__attribute__((always_inline)) MM_T512 static inline int64_t mm_dot_q8_0_rows_512(const int R, const char *w, size_t wrb,
                                                                                  const mm_block_q8_0 *x, int64_t nb,
                                                                                  float *out) {
    const __m512i zero = _mm512_setzero_si512(), bias = _mm512_set1_epi8((char)0x80);
    const __m512i lo8 = _mm512_set1_epi32(0), hi8 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 16 <= nb; i += 16) {
        __m512 dx = mm_q8_0_scales16_512(x + i), s16[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const mm_block_q8_0 *a = (const mm_block_q8_0 *)(w + (size_t)r * wrb) + i;
            s16[r] = _mm512_mul_ps(mm_q8_0_scales16_512(a), dx);
        }
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i xv = MM_CAT256(MM_LD256(x[i + 2 * j].qs), MM_LD256(x[i + 2 * j + 1].qs));
            __m512i nc = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, xv));
            __m512i idx = _mm512_add_epi32(lo8, _mm512_add_epi32(hi8, _mm512_set1_epi32(2 * j)));
    #pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
                const mm_block_q8_0 *a = (const mm_block_q8_0 *)(w + (size_t)r * wrb) + i + 2 * j;
                MM_PF(a);
                __m512i wv = _mm512_xor_si512(MM_CAT256(MM_LD256(a[0].qs), MM_LD256(a[1].qs)), bias);
                __m512i p = _mm512_dpbusd_epi32(nc, wv, xv);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(idx, s16[r]), acc[r]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) out[r] = _mm512_reduce_add_ps(acc[r]);
    return i;
}

/* Q4_0 row · Q8_0 activation: nibbles unpacked to [lo|hi] per block, Σ(q−8)x = Σq·x − 8·Σx. */
MM_T512 static float mm_vdot_q4_0_512(const mm_block_q4_0 *a, const mm_block_q8_0 *b, int64_t nb) {
    __m512 acc = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(15), eight = _mm512_set1_epi8(8);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i q = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)a[i + 1].qs), _mm_loadu_si128((const __m128i *)a[i].qs));
        __m512i u = MM_CAT256(q, _mm256_srli_epi16(q, 4));           /* [q0 q1 | q0>>4 q1>>4] */
        u = _mm512_and_si512(_mm512_shuffle_i64x2(u, u, 0xd8), m4); /* lanes 0,2,1,3: [lo0 hi0 lo1 hi1] */
        __m512i xv = MM_CAT256(MM_LD256(b[i].qs), MM_LD256(b[i + 1].qs));
        __m512i p = _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, u, xv), _mm512_dpbusd_epi32(zero, eight, xv));
        __m512 dv = _mm512_insertf32x8(_mm512_set1_ps(mm_h2f_512(a[i].d) * mm_h2f_512(b[i].d)),
                                       _mm256_set1_ps(mm_h2f_512(a[i + 1].d) * mm_h2f_512(b[i + 1].d)), 1);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), dv, acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (i < nb) s += mm_vec_dot_q4_0_q8_0(a + i, b + i, MM_QK);
    return s;
}

/* Q4_K scales/mins of the 8 sub-blocks as bytes: sc[0..7] → *sc, m[0..7] → *mn (each 8 bytes, little-endian). */
static inline void mm_q4_K_unpack8(const uint8_t *s, uint64_t *sc, uint64_t *mn) {
    uint32_t u0, u1, u2;
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    uint32_t s_lo = u0 & 0x3f3f3f3fu, m_lo = u1 & 0x3f3f3f3fu;
    uint32_t s_hi = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    *sc = s_lo | ((uint64_t)s_hi << 32);
    *mn = m_lo | ((uint64_t)m_hi << 32);
}

/* Q4_K row · Q8_K activation: per 64 elements vpmaddubsw (unsigned nibbles × int8; |pair| ≤ 2·15·128 fits
 * int16) then vpmaddwd against the two sub-block scales; mins through the activation's bsums. */
MM_T512 static float mm_vdot_q4_K_512(const mm_block_q4_K *a, const mm_block_q8_K *b, int64_t nb) {
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i idx[4];
    for (int p = 0; p < 4; p++) /* words 0..15 ← scale 2p, words 16..31 ← scale 2p+1 */
        idx[p] = MM_CAT256(_mm256_set1_epi16((short)(2 * p)), _mm256_set1_epi16((short)(2 * p + 1)));
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint64_t sc8, mn8;
        mm_q4_K_unpack8(a[i].scales, &sc8, &mn8);
        __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8));
        __m256i mdup = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
        __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b[i].bsums), mdup);
        __m512i ai = _mm512_setzero_si512();
        for (int p = 0; p < 4; p++) {
            __m256i q = MM_LD256(a[i].qs + 32 * p);
            __m512i u = _mm512_and_si512(MM_CAT256(q, _mm256_srli_epi16(q, 4)), m4);
            __m512i p16 = _mm512_maddubs_epi16(u, _mm512_loadu_si512(b[i].qs + 64 * p));
            ai = _mm512_add_epi32(ai, _mm512_madd_epi16(p16, _mm512_permutexvar_epi16(idx[p], sc16)));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai), _mm512_set1_ps(b[i].d * mm_h2f_512(a[i].d)), acc);
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(b[i].d * mm_h2f_512(a[i].dmin)), accm);
    }
    return _mm512_reduce_add_ps(acc) - _mm512_reduce_add_ps(_mm512_insertf32x8(_mm512_setzero_ps(), accm, 0));
}

/* R (1..4) Q4_K rows · one Q8_K activation. Per 128 elements one 64-byte load of packed nibbles gives
 * lo = [sub-block 4P | 4P+2] and hi = [4P+1 | 4P+3]; the activation halves are paired to match once for
 * all R rows. vpmaddubsw (nibble × int8, |pair| ≤ 3840) then vpdpwssd with the sub-block scale words
 * accumulates Σ sc·q·x per block in int32; the mins go through the activation's bsums. */
__attribute__((always_inline)) MM_T512 static inline void mm_dot_q4_K_rows_512(const int R, const char *w, size_t wrb,
                                                                               const mm_block_q8_K *x, int64_t nb,
                                                                               float *out) {
    const __m512i m4 = _mm512_set1_epi8(15);
    /* word indices into the 8 scales: lo_P → sc[4P] (words 0..15) | sc[4P+2]; hi_P → sc[4P+1] | sc[4P+3] */
    __m512i sidx[4];
    for (int v = 0; v < 4; v++) {
        int P = v / 2, h = v % 2;
        sidx[v] = MM_CAT256(_mm256_set1_epi16((short)(4 * P + h)), _mm256_set1_epi16((short)(4 * P + h + 2)));
    }
    if (R == 4) {
        /* The 16-byte block headers (d, dmin, scales[12]) of the 4 rows, one per 128-bit lane, are decoded
         * together: per lane the scale dwords [u0 u1 u2] become bytes sc[0..7] | m[0..7]; d, dmin of all 4
         * rows go through one f16 conversion, and the mins of all 4 rows through one vpmaddwd with the
         * activation's sub-block sums. */
        const __m512i cnt = _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0, 0, 4));
        const __m512i k1 = _mm512_broadcast_i32x4(_mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
        const __m512i k2 = _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
        const __m512i mpat = _mm512_broadcast_i32x4(_mm_setr_epi16((short)0x8008, (short)0x8009, (short)0x800a, (short)0x800b,
                                                                    (short)0x800c, (short)0x800d, (short)0x800e, (short)0x800f));
        const __m512i didx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        const __m512i midx = _mm512_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7);
        __m512i spat[4]; /* vpshufb patterns: zero-extended scale words for lo_0, hi_0, lo_1, hi_1 */
        for (int v = 0; v < 4; v++) {
            int P = v / 2, h = v % 2;
            spat[v] = _mm512_mask_blend_epi64(0xF0, _mm512_set1_epi16((short)(0x8000 | (4 * P + h))),
                                              _mm512_set1_epi16((short)(0x8000 | (4 * P + h + 2))));
        }
        __m512 acc4[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        __m512 accm4 = _mm512_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            const int8_t *xq = x[i].qs;
            __m512i xv[4];
            for (int P = 0; P < 2; P++) {
                xv[2 * P] = MM_CAT256(MM_LD256(xq + 128 * P), MM_LD256(xq + 128 * P + 64));
                xv[2 * P + 1] = MM_CAT256(MM_LD256(xq + 128 * P + 32), MM_LD256(xq + 128 * P + 96));
            }
            __m256i bp32 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[i].bsums), _mm256_set1_epi16(1));
            __m512i bp = _mm512_broadcast_i32x4(_mm_packs_epi32(_mm256_castsi256_si128(bp32), _mm256_extracti128_si256(bp32, 1)));
            const mm_block_q4_K *a[4];
            for (int r = 0; r < 4; r++) a[r] = (const mm_block_q4_K *)(w + (size_t)r * wrb) + i;
            __m512i X = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)a[0]));
            X = _mm512_inserti32x4(X, _mm_loadu_si128((const __m128i *)(const void *)a[1]), 1);
            X = _mm512_inserti32x4(X, _mm_loadu_si128((const __m128i *)(const void *)a[2]), 2);
            X = _mm512_inserti32x4(X, _mm_loadu_si128((const __m128i *)(const void *)a[3]), 3);
            __m512i Pv = _mm512_shuffle_epi32(X, (_MM_PERM_ENUM)_MM_SHUFFLE(3, 2, 3, 1)); /* u0 u2 u1 u2 */
            __m512i Qv = _mm512_shuffle_epi32(X, (_MM_PERM_ENUM)_MM_SHUFFLE(2, 2, 1, 1)); /* .. u0 .. u1 */
            __m512i sm = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi32(Pv, cnt), k1),
                                         _mm512_and_si512(_mm512_srli_epi32(Qv, 2), k2));
            __m256 dd8 = _mm256_mul_ps(_mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi32(didx, X))),
                                       _mm256_set1_ps(x[i].d)); /* dx·[d0 dmin0 d1 dmin1 .. d3 dmin3] */
            __m512 dd = _mm512_zextps256_ps512(dd8);
            __m512i msum = _mm512_madd_epi16(_mm512_shuffle_epi8(sm, mpat), bp); /* lane r: Σ m·bsum of row r */
            accm4 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_permutexvar_ps(midx, dd), accm4);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                MM_PF(a[r]);
                MM_PF((const char *)a[r] + 64);
                MM_PF((const char *)a[r] + 128);
                __m512i sr = r == 0   ? _mm512_shuffle_i32x4(sm, sm, 0x00) /* row r's lane everywhere */
                             : r == 1 ? _mm512_shuffle_i32x4(sm, sm, 0x55)
                             : r == 2 ? _mm512_shuffle_i32x4(sm, sm, 0xAA)
                                      : _mm512_shuffle_i32x4(sm, sm, 0xFF);
                __m512i ap[2];
#pragma GCC unroll 2
                for (int P = 0; P < 2; P++) {
                    __m512i q = _mm512_loadu_si512(a[r]->qs + 64 * P);
                    __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                    ap[P] = _mm512_madd_epi16(_mm512_maddubs_epi16(lo, xv[2 * P]), _mm512_shuffle_epi8(sr, spat[2 * P]));
                    ap[P] = _mm512_dpwssd_epi32(ap[P], _mm512_maddubs_epi16(hi, xv[2 * P + 1]), _mm512_shuffle_epi8(sr, spat[2 * P + 1]));
                }
                acc4[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(ap[0], ap[1])),
                                          _mm512_permutexvar_ps(_mm512_set1_epi32(2 * r), dd), acc4[r]);
            }
        }
        out[0] = _mm512_reduce_add_ps(acc4[0]) - _mm_cvtss_f32(_mm_hadd_ps(_mm_hadd_ps(_mm512_extractf32x4_ps(accm4, 0), _mm_setzero_ps()), _mm_setzero_ps()));
        out[1] = _mm512_reduce_add_ps(acc4[1]) - _mm_cvtss_f32(_mm_hadd_ps(_mm_hadd_ps(_mm512_extractf32x4_ps(accm4, 1), _mm_setzero_ps()), _mm_setzero_ps()));
        out[2] = _mm512_reduce_add_ps(acc4[2]) - _mm_cvtss_f32(_mm_hadd_ps(_mm_hadd_ps(_mm512_extractf32x4_ps(accm4, 2), _mm_setzero_ps()), _mm_setzero_ps()));
        out[3] = _mm512_reduce_add_ps(acc4[3]) - _mm_cvtss_f32(_mm_hadd_ps(_mm_hadd_ps(_mm512_extractf32x4_ps(accm4, 3), _mm_setzero_ps()), _mm_setzero_ps()));
        return;
    }
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    __m256 accm[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *xq = x[i].qs;
        __m512i xv[4]; /* lo_0, hi_0, lo_1, hi_1 */
        for (int P = 0; P < 2; P++) {
            xv[2 * P] = MM_CAT256(MM_LD256(xq + 128 * P), MM_LD256(xq + 128 * P + 64));
            xv[2 * P + 1] = MM_CAT256(MM_LD256(xq + 128 * P + 32), MM_LD256(xq + 128 * P + 96));
        }
        __m256i bs = _mm256_loadu_si256((const __m256i *)x[i].bsums);
        float dx = x[i].d;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const mm_block_q4_K *a = (const mm_block_q4_K *)(w + (size_t)r * wrb) + i;
            MM_PF(a);
            MM_PF((const char *)a + 64);
            MM_PF((const char *)a + 128);
            uint64_t sc8, mn8;
            mm_q4_K_unpack8(a->scales, &sc8, &mn8);
            __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
            __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8));
            __m256i mdup = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
            __m256i msum = _mm256_madd_epi16(bs, mdup);
            __m512i ap[2]; /* two short chains instead of one of four */
#pragma GCC unroll 2
            for (int P = 0; P < 2; P++) {
                __m512i q = _mm512_loadu_si512(a->qs + 64 * P);
                __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                ap[P] = _mm512_madd_epi16(_mm512_maddubs_epi16(lo, xv[2 * P]), _mm512_permutexvar_epi16(sidx[2 * P], sc16));
                ap[P] = _mm512_dpwssd_epi32(ap[P], _mm512_maddubs_epi16(hi, xv[2 * P + 1]),
                                            _mm512_permutexvar_epi16(sidx[2 * P + 1], sc16));
            }
            __m512i ai = _mm512_add_epi32(ap[0], ap[1]);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai), _mm512_set1_ps(dx * mm_h2f_512(a->d)), acc[r]);
            accm[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(dx * mm_h2f_512(a->dmin)), accm[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = _mm512_reduce_add_ps(acc[r]) - _mm512_reduce_add_ps(_mm512_insertf32x8(_mm512_setzero_ps(), accm[r], 0));
}

/* Q6_K row · Q8_K activation: 6-bit levels u = e+32 rebuilt 64 at a time, Σ sc·u·x by vpdpbusd with
 * per-16 scales, minus 32·Σ sc·bsums. */
MM_T512 static float mm_vdot_q6_K_512(const mm_block_q6_K *a, const mm_block_q8_K *b, int64_t nb) {
    const __m512i zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3);
    const __m512i idx0 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i four = _mm512_set1_epi32(4);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        MM_PF(a + i);
        MM_PF((const char *)(a + i) + 64);
        MM_PF((const char *)(a + i) + 128);
        MM_PF((const char *)(a + i) + 192);
        __m512i sc32 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)a[i].scales));
        __m512i corr = _mm512_mullo_epi32(sc32, _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)b[i].bsums)));
        __m512i ai = zero, idx = idx0;
        for (int h = 0; h < 2; h++) {
            __m512i ql = _mm512_loadu_si512(a[i].ql + 64 * h);
            __m256i qh = MM_LD256(a[i].qh + 32 * h);
            __m512i H = MM_CAT256(qh, _mm256_srli_epi16(qh, 2));
            __m512i u01 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(H, m2), 4));
            __m512i u23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                          _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(H, 4), m2), 4));
            __m512i d01 = _mm512_dpbusd_epi32(zero, u01, _mm512_loadu_si512(b[i].qs + 128 * h));
            ai = _mm512_add_epi32(ai, _mm512_mullo_epi32(d01, _mm512_permutexvar_epi32(idx, sc32)));
            idx = _mm512_add_epi32(idx, four);
            __m512i d23 = _mm512_dpbusd_epi32(zero, u23, _mm512_loadu_si512(b[i].qs + 128 * h + 64));
            ai = _mm512_add_epi32(ai, _mm512_mullo_epi32(d23, _mm512_permutexvar_epi32(idx, sc32)));
            idx = _mm512_add_epi32(idx, four);
        }
        ai = _mm512_sub_epi32(ai, _mm512_slli_epi32(corr, 5));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai), _mm512_set1_ps(b[i].d * mm_h2f_512(a[i].d)), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* AVX2 kernels (section below) that the AVX-512 set uses too */
MM_T256 static float mm_vdot_q5_K_256(const mm_block_q5_K *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_q3_K_256(const mm_block_q3_K *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_q2_K_256(const mm_block_q2_K *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_iq4_nl_256(const mm_block_iq4_nl *a, const mm_block_q8_0 *b, int64_t nb);
MM_T256 static float mm_vdot_iq4_xs_256(const mm_block_iq4_xs *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_iq2_xxs_256(const mm_block_iq2_xxs *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_iq2_xs_256(const mm_block_iq2_xs *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_iq2_s_256(const mm_block_iq2_s *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_iq3_xxs_256(const mm_block_iq3_xxs *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_iq3_s_256(const mm_block_iq3_s *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_iq1_s_256(const mm_block_iq1_s *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_iq1_m_256(const mm_block_iq1_m *a, const mm_block_q8_K *b, int64_t nb);
MM_T256 static float mm_vdot_q4_1_256(const mm_block_q4_1 *a, const mm_block_q8_0 *b, int64_t nb);
MM_T256 static float mm_vdot_q5_0_256(const mm_block_q5_0 *a, const mm_block_q8_0 *b, int64_t nb);
MM_T256 static float mm_vdot_q5_1_256(const mm_block_q5_1 *a, const mm_block_q8_0 *b, int64_t nb);

/* y[t·ldy+r] = W_r·xa_t, r < nr, t < nt (contract in mm_kernel_set). */
MM_T512 static void mm_dot_512(mm_dtype dt, int64_t K, int64_t nr, const void *w, size_t wrb, int nt, const void *xa,
                               size_t xab, float *y, size_t ldy) {
    switch (dt) {
    case MM_F32: mm_dot_f32_512(K, nr, w, wrb, nt, xa, xab / sizeof(float), y, ldy); return;
    case MM_BF16: mm_dot_bf16_512(K, nr, w, wrb, nt, xa, xab / sizeof(float), y, ldy); return;
    case MM_F16: mm_dot_f16_512(K, nr, w, wrb, nt, xa, xab / sizeof(float), y, ldy); return;
    case MM_Q8_0: {
        int64_t nb = K / MM_QK;
        for (int t = 0; t < nt; t++) {
            const mm_block_q8_0 *xt = (const void *)((const char *)xa + (size_t)t * xab);
            float *yt = y + (size_t)t * ldy;
            int64_t r = 0, done = 0;
            for (; r + 4 <= nr; r += 4) done = mm_dot_q8_0_rows_512(4, (const char *)w + (size_t)r * wrb, wrb, xt, nb, yt + r);
            for (; r < nr; r++) done = mm_dot_q8_0_rows_512(1, (const char *)w + (size_t)r * wrb, wrb, xt, nb, yt + r);
            if (done < nb)
                for (r = 0; r < nr; r++)
                    yt[r] += mm_vdot_q8_0_512((const mm_block_q8_0 *)((const char *)w + (size_t)r * wrb) + done, xt + done, nb - done);
        }
        return;
    }
    case MM_Q4_K:
        for (int t = 0; t < nt; t++) {
            const mm_block_q8_K *xt = (const void *)((const char *)xa + (size_t)t * xab);
            float *yt = y + (size_t)t * ldy;
            int64_t r = 0;
            for (; r + 4 <= nr; r += 4) mm_dot_q4_K_rows_512(4, (const char *)w + (size_t)r * wrb, wrb, xt, K / MM_QK_K, yt + r);
            for (; r < nr; r++) mm_dot_q4_K_rows_512(1, (const char *)w + (size_t)r * wrb, wrb, xt, K / MM_QK_K, yt + r);
        }
        return;
    default: break;
    }
    for (int64_t r = 0; r < nr; r++) {
        const void *wr = (const char *)w + (size_t)r * wrb;
        for (int t = 0; t < nt; t++) {
            const void *xt = (const char *)xa + (size_t)t * xab;
            float s;
            switch (dt) {
            case MM_Q8_0: s = mm_vdot_q8_0_512(wr, xt, K / MM_QK); break;
            case MM_Q4_0: s = mm_vdot_q4_0_512(wr, xt, K / MM_QK); break;
            case MM_Q4_K: s = mm_vdot_q4_K_512(wr, xt, K / MM_QK_K); break;
            case MM_Q6_K: s = mm_vdot_q6_K_512(wr, xt, K / MM_QK_K); break;
            case MM_Q5_K: s = mm_vdot_q5_K_256(wr, xt, K / MM_QK_K); break; /* the AVX2 kernels */
            case MM_Q3_K: s = mm_vdot_q3_K_256(wr, xt, K / MM_QK_K); break;
            case MM_Q2_K: s = mm_vdot_q2_K_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ4_NL: s = mm_vdot_iq4_nl_256(wr, xt, K / MM_QK); break;
            case MM_IQ4_XS: s = mm_vdot_iq4_xs_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ2_XXS: s = mm_vdot_iq2_xxs_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ2_XS: s = mm_vdot_iq2_xs_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ2_S: s = mm_vdot_iq2_s_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ3_XXS: s = mm_vdot_iq3_xxs_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ3_S: s = mm_vdot_iq3_s_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ1_S: s = mm_vdot_iq1_s_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ1_M: s = mm_vdot_iq1_m_256(wr, xt, K / MM_QK_K); break;
            case MM_Q4_1: s = mm_vdot_q4_1_256(wr, xt, K / MM_QK); break;
            case MM_Q5_0: s = mm_vdot_q5_0_256(wr, xt, K / MM_QK); break;
            case MM_Q5_1: s = mm_vdot_q5_1_256(wr, xt, K / MM_QK); break;
            default: s = mm_vec_dot(dt, wr, xt, K); break; /* no SIMD kernel: the scalar reference */
            }
            y[(size_t)t * ldy + (size_t)r] = s;
        }
    }
}

/* out[t·6+r] = Σ_{k<kc} w[r·ldw+k]·x[t·ldx+k], r < 6, t < 4, kc % 16 == 0: 24 zmm accumulators, each
 * weight load feeds 4 FMAs and each activation load 6. */
MM_T512 static void mm_gemm6x4_512(int64_t kc, const float *w, size_t ldw, const float *x, size_t ldx, float *out) {
#define MM_Z(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0, c##r##3 = c##r##0;
    MM_Z(0) MM_Z(1) MM_Z(2) MM_Z(3) MM_Z(4) MM_Z(5)
#undef MM_Z
    const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx;
    for (int64_t k = 0; k < kc; k += 16) {
        __m512 v0 = _mm512_loadu_ps(x0 + k), v1 = _mm512_loadu_ps(x1 + k), v2 = _mm512_loadu_ps(x2 + k),
               v3 = _mm512_loadu_ps(x3 + k), wv;
#define MM_ROW(r)                                   \
    wv = _mm512_loadu_ps(w + (r) * ldw + k);        \
    c##r##0 = _mm512_fmadd_ps(wv, v0, c##r##0);     \
    c##r##1 = _mm512_fmadd_ps(wv, v1, c##r##1);     \
    c##r##2 = _mm512_fmadd_ps(wv, v2, c##r##2);     \
    c##r##3 = _mm512_fmadd_ps(wv, v3, c##r##3);
        MM_ROW(0) MM_ROW(1) MM_ROW(2) MM_ROW(3) MM_ROW(4) MM_ROW(5)
#undef MM_ROW
    }
#define MM_OUT(r)                                  \
    out[0 * 6 + r] = _mm512_reduce_add_ps(c##r##0); \
    out[1 * 6 + r] = _mm512_reduce_add_ps(c##r##1); \
    out[2 * 6 + r] = _mm512_reduce_add_ps(c##r##2); \
    out[3 * 6 + r] = _mm512_reduce_add_ps(c##r##3);
    MM_OUT(0) MM_OUT(1) MM_OUT(2) MM_OUT(3) MM_OUT(4) MM_OUT(5)
#undef MM_OUT
}

/* y[n] = n elements of dtype dt at src as f32. */
MM_T512 static void mm_dequant_512(mm_dtype dt, const void *src, float *y, int64_t n) {
    int64_t i = 0;
    switch (dt) {
    case MM_BF16:
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, MM_LD_BF16(src, i));
        break;
    case MM_F16:
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, MM_LD_F16(src, i));
        break;
    case MM_Q8_0: {
        const mm_block_q8_0 *b = src;
        for (int64_t j = 0; j < n / MM_QK; j++) {
            __m512 d = _mm512_set1_ps(mm_h2f_512(b[j].d));
            __m256i q = MM_LD256(b[j].qs);
            _mm512_storeu_ps(y + 32 * j, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)))));
            _mm512_storeu_ps(y + 32 * j + 16,
                             _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)))));
        }
        return;
    }
    case MM_Q4_0: {
        const mm_block_q4_0 *b = src;
        const __m128i m4 = _mm_set1_epi8(15), e8 = _mm_set1_epi8(8);
        for (int64_t j = 0; j < n / MM_QK; j++) {
            __m512 d = _mm512_set1_ps(mm_h2f_512(b[j].d));
            __m128i q = _mm_loadu_si128((const __m128i *)b[j].qs);
            __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), e8), hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), e8);
            _mm512_storeu_ps(y + 32 * j, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo))));
            _mm512_storeu_ps(y + 32 * j + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi))));
        }
        return;
    }
    case MM_Q4_K: {
        const mm_block_q4_K *b = src;
        const __m128i m4 = _mm_set1_epi8(15);
        for (int64_t j = 0; j < n / MM_QK_K; j++) {
            float d = mm_h2f_512(b[j].d), dmin = mm_h2f_512(b[j].dmin);
            for (int s = 0; s < 8; s++) {
                int sc, m;
                mm_q4_K_scale_min(s, b[j].scales, &sc, &m);
                __m512 dv = _mm512_set1_ps(d * (float)sc), mv = _mm512_set1_ps(dmin * (float)m);
                for (int h = 0; h < 2; h++) {
                    __m128i q = _mm_loadu_si128((const __m128i *)(b[j].qs + 32 * (s / 2) + 16 * h));
                    q = (s & 1) ? _mm_and_si128(_mm_srli_epi16(q, 4), m4) : _mm_and_si128(q, m4);
                    __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q));
                    _mm512_storeu_ps(y + 256 * j + 32 * s + 16 * h, _mm512_fmsub_ps(dv, v, mv));
                }
            }
        }
        return;
    }
    case MM_Q6_K: {
        const mm_block_q6_K *b = src;
        const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3), e32 = _mm512_set1_epi8(32);
        for (int64_t j = 0; j < n / MM_QK_K; j++) {
            float d = mm_h2f_512(b[j].d);
            for (int h = 0; h < 2; h++) {
                __m512i ql = _mm512_loadu_si512(b[j].ql + 64 * h);
                __m256i qh = MM_LD256(b[j].qh + 32 * h);
                __m512i H = MM_CAT256(qh, _mm256_srli_epi16(qh, 2));
                __m512i e[2] = {
                    _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(H, m2), 4)), e32),
                    _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                                    _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(H, 4), m2), 4)),
                                    e32)};
                for (int g = 0; g < 8; g++) { /* 16 elements of group 8h+g at y[256j + 128h + 16g] */
                    __m128i e16 = _mm512_extracti32x4_epi32(e[g / 4], 0);
                    switch (g % 4) {
                    case 1: e16 = _mm512_extracti32x4_epi32(e[g / 4], 1); break;
                    case 2: e16 = _mm512_extracti32x4_epi32(e[g / 4], 2); break;
                    case 3: e16 = _mm512_extracti32x4_epi32(e[g / 4], 3); break;
                    default: break;
                    }
                    __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(e16));
                    _mm512_storeu_ps(y + 256 * j + 128 * h + 16 * g,
                                     _mm512_mul_ps(_mm512_set1_ps(d * (float)b[j].scales[8 * h + g]), v));
                }
            }
        }
        return;
    }
    default: mm_dequantize_row(dt, src, y, n); return;
    }
    if (i < n) mm_dequantize_row(dt, (const char *)src + (size_t)i * 2, y + i, n - i);
}

/* Activation quantizers, bit-identical to the scalar definitions in mm_quant.c: the maximum is exact in
 * any order, x·id is the same single f32 multiply, vcvtps2dq rounds half to even like lrintf in the
 * default mode, and vpmovdb / vpmovsdb are the (int8_t) cast / the [−128, 127] clamp. */
MM_T512 static void mm_quant_q8_0_512(const float *x, void *dst, int64_t n) {
    mm_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / MM_QK; i++, x += MM_QK) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mm_f32_to_f16(d);
        __m512 iv = _mm512_set1_ps(id);
        _mm_storeu_si128((__m128i *)(void *)b[i].qs, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, iv))));
        _mm_storeu_si128((__m128i *)(void *)(b[i].qs + 16), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, iv))));
    }
}

MM_T512 static void mm_quant_q8_K_512(const float *x, void *dst, int64_t n) {
    mm_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / MM_QK_K; i++, x += MM_QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)));
        float amax = _mm512_reduce_max_ps(m);
        if (amax == 0) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* the scalar loop keeps the first element of largest magnitude: same sign as it */
        __m512 av = _mm512_set1_ps(amax);
        int l = 0;
        for (int g = 0; g < 16; g++) {
            __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)), av, _CMP_EQ_OQ);
            if (k) {
                l = 16 * g + __builtin_ctz(k);
                break;
            }
        }
        float isc = -128.0f / x[l];
        __m512 iv = _mm512_set1_ps(isc);
        for (int g = 0; g < 16; g++) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(iv, _mm512_loadu_ps(x + 16 * g)));
            q = _mm512_max_epi32(_mm512_min_epi32(q, _mm512_set1_epi32(127)), _mm512_set1_epi32(-128));
            _mm_storeu_si128((__m128i *)(void *)(b[i].qs + 16 * g), _mm512_cvtepi32_epi8(q));
            b[i].bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        b[i].d = 1.0f / isc;
    }
}

MM_T512 static void mm_quant_act_512(mm_dtype wdt, const float *x, void *dst, int64_t K) {
    if (mm_dtype_act_q8_K(wdt))
        mm_quant_q8_K_512(x, dst, K);
    else
        mm_quant_q8_0_512(x, dst, K);
}

static const mm_kernel_set mm_set_512 = {"avx512", mm_dot_512, mm_gemm6x4_512, mm_dequant_512, mm_quant_act_512,
                                         mm_dot_packed_512, mm_gemm_packed_512, mm_sgemm4_512, mm_softmax_cols_512, mm_dots_512, mm_expsum_512,
                                         mm_silu_512, mm_sigmoid_512, mm_qk_i8_512, mm_pv_i16_512, 1, 0};

const mm_kernel_set *mm_kernels_avx512(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("fma") && mm_cpu_f16c())
        return &mm_set_512;
    return NULL;
}

/* ================================================================ AVX2 + FMA + F16C */
MM_T256 static inline float mm_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
MM_T256 static inline float mm_h2f_256(uint16_t h) { return _cvtsh_ss(h); }

#define MM_LD8_F32(p, k) _mm256_loadu_ps((const float *)(p) + (k))
#define MM_LD8_BF16(p, k) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)(p) + (k)))), 16))
#define MM_LD8_F16(p, k) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)(p) + (k))))
#define MM_SC_F32(p, k) (((const float *)(p))[k])
#define MM_SC_BF16(p, k) mm_bf16_to_f32(((const uint16_t *)(p))[k])
#define MM_SC_F16(p, k) mm_h2f_256(((const uint16_t *)(p))[k])

/* y[t·ldy+r] = Σ_k W_r[k]·x_t[k] for r < nr, t < nt (F32/F16/BF16 rows, f32 x): 4 rows per x load. */
#define MM_DOTF_256(NAME, LD, SC)                                                                                \
    MM_T256 static void NAME(int64_t K, int64_t nr, const void *w, size_t wrb, int nt, const float *x, size_t xs,   \
                             float *y, size_t ldy) {                                                             \
        int64_t K8 = K & ~(int64_t)7;                                                                            \
        for (int64_t r = 0; r < nr; r += 4) {                                                                    \
            int rn = nr - r < 4 ? (int)(nr - r) : 4;                                                             \
            const char *wr[4];                                                                                   \
            for (int j = 0; j < 4; j++) wr[j] = (const char *)w + (size_t)(r + (j < rn ? j : 0)) * wrb;          \
            for (int t = 0; t < nt; t++) {                                                                       \
                const float *xt = x + (size_t)t * xs;                                                            \
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                      \
                for (int64_t k = 0; k < K8; k += 8) {                                                            \
                    __m256 xv = _mm256_loadu_ps(xt + k);                                                         \
                    a0 = _mm256_fmadd_ps(LD(wr[0], k), xv, a0);                                                  \
                    a1 = _mm256_fmadd_ps(LD(wr[1], k), xv, a1);                                                  \
                    a2 = _mm256_fmadd_ps(LD(wr[2], k), xv, a2);                                                  \
                    a3 = _mm256_fmadd_ps(LD(wr[3], k), xv, a3);                                                  \
                }                                                                                                \
                float s[4] = {mm_hsum256(a0), mm_hsum256(a1), mm_hsum256(a2), mm_hsum256(a3)};                   \
                for (int j = 0; j < rn; j++) {                                                                   \
                    for (int64_t k = K8; k < K; k++) s[j] += SC(wr[j], k) * xt[k];                               \
                    y[(size_t)t * ldy + r + j] = s[j];                                                           \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }
MM_DOTF_256(mm_dot_f32_256, MM_LD8_F32, MM_SC_F32)
MM_DOTF_256(mm_dot_bf16_256, MM_LD8_BF16, MM_SC_BF16)
MM_DOTF_256(mm_dot_f16_256, MM_LD8_F16, MM_SC_F16)

/* Σ of 32 int8 products u·s (u unsigned ≤ 128, |s| ≤ 127: the int16 pair sums cannot saturate) as 8 int32. */
MM_T256 static inline __m256i mm_dot32_256(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* Q8_0 row · Q8_0 activation: |w|·sign(x, w) through maddubs. */
MM_T256 static float mm_vdot_q8_0_256(const mm_block_q8_0 *a, const mm_block_q8_0 *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i wv = MM_LD256(a[i].qs), xv = MM_LD256(b[i].qs);
        __m256i p = mm_dot32_256(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(mm_h2f_256(a[i].d) * mm_h2f_256(b[i].d)), acc);
    }
    return mm_hsum256(acc);
}

/* Q4_0 row · Q8_0 activation: levels q−8 in −8..7, then as Q8_0. */
MM_T256 static float mm_vdot_q4_0_256(const mm_block_q4_0 *a, const mm_block_q8_0 *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(15), e8 = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < nb; i++) {
        __m128i q = _mm_loadu_si128((const __m128i *)a[i].qs);
        __m256i wv = _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4), e8);
        __m256i xv = MM_LD256(b[i].qs);
        __m256i p = mm_dot32_256(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(mm_h2f_256(a[i].d) * mm_h2f_256(b[i].d)), acc);
    }
    return mm_hsum256(acc);
}

/* Q4_K / Q5_K, sub-blocks 2p and 2p + 1 (int32 sums d0, d1 of their levels · activations): ai + d0·sc + d1·sc'
 * with their 6-bit scales, and the mins' part m·Σ activations added to *summ. */
MM_T256 static inline __m256i mm_k_pair_256(__m256i ai, __m256i d0, __m256i d1, int p, const uint8_t *scales, const int16_t *bsums,
                                            int *summ) {
    int sc, mn;
    mm_q4_K_scale_min(2 * p, scales, &sc, &mn);
    *summ += mn * (bsums[4 * p] + bsums[4 * p + 1]);
    ai = _mm256_add_epi32(ai, _mm256_mullo_epi32(d0, _mm256_set1_epi32(sc)));
    mm_q4_K_scale_min(2 * p + 1, scales, &sc, &mn);
    *summ += mn * (bsums[4 * p + 2] + bsums[4 * p + 3]);
    return _mm256_add_epi32(ai, _mm256_mullo_epi32(d1, _mm256_set1_epi32(sc)));
}

/* Q4_K row · Q8_K activation: unsigned nibbles straight into maddubs (x may be −128: 15·128·2 fits int16). */
MM_T256 static float mm_vdot_q4_K_256(const mm_block_q4_K *a, const mm_block_q8_K *b, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < nb; i++) {
        int summ = 0;
        __m256i ai = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            __m256i q = MM_LD256(a[i].qs + 32 * p);
            __m256i d0 = mm_dot32_256(_mm256_and_si256(q, m4), MM_LD256(b[i].qs + 64 * p));
            __m256i d1 = mm_dot32_256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), MM_LD256(b[i].qs + 64 * p + 32));
            ai = mm_k_pair_256(ai, d0, d1, p, a[i].scales, b[i].bsums, &summ);
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d)), acc);
        mins += b[i].d * mm_h2f_256(a[i].dmin) * (float)summ;
    }
    return mm_hsum256(acc) - mins;
}

/* Q5_K row · Q8_K activation: as Q4_K, each level's fifth bit from qh (bits 2p and 2p + 1 of byte l for elements
 * 64p + l and 64p + 32 + l): levels ≤ 31, so maddubs pairs stay within int16 (31·128·2). */
MM_T256 static float mm_vdot_q5_K_256(const mm_block_q5_K *a, const mm_block_q8_K *b, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < nb; i++) {
        int summ = 0;
        __m256i ai = _mm256_setzero_si256(), qh = MM_LD256(a[i].qh);
        for (int p = 0; p < 4; p++) {
            /* bits 0 and 1 of each byte of qh are now bits 2p and 2p + 1 of the stored ones (epi16 shifts move
             * bits across bytes only above bit 1, and only bit 4 of each byte is kept) */
            const __m256i q = MM_LD256(a[i].qs + 32 * p);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_and_si256(_mm256_slli_epi16(qh, 3), b4));
            qh = _mm256_srli_epi16(qh, 2);
            const __m256i d0 = mm_dot32_256(lo, MM_LD256(b[i].qs + 64 * p)), d1 = mm_dot32_256(hi, MM_LD256(b[i].qs + 64 * p + 32));
            ai = mm_k_pair_256(ai, d0, d1, p, a[i].scales, b[i].bsums, &summ);
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d)), acc);
        mins += b[i].d * mm_h2f_256(a[i].dmin) * (float)summ;
    }
    return mm_hsum256(acc) - mins;
}

/* Σ over one 32-element run (groups g, g + 1 of 16) of u·x · that group's scale, added to ai: the unsigned levels u
 * (≤ 7 here, so maddubs pairs stay within int16), x the activation bytes. */
MM_T256 static inline __m256i mm_g16_pair_256(__m256i ai, __m256i u, const int8_t *x, int sc0, int sc1) {
    const __m256i s16 = _mm256_set_m128i(_mm_set1_epi16((short)sc1), _mm_set1_epi16((short)sc0));
    return _mm256_add_epi32(ai, _mm256_madd_epi16(_mm256_maddubs_epi16(u, MM_LD256(x)), s16));
}

/* Q2_K row · Q8_K activation: x = d·sc·q − dmin·m per group of 16, q the 2-bit levels (shift 2s of byte 32h + l for
 * element 128h + 32s + l), sc and m the low and high nibbles of scales[g]. */
MM_T256 static float mm_vdot_q2_K_256(const mm_block_q2_K *a, const mm_block_q8_K *b, int64_t nb) {
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *sc = a[i].scales;
        int summ = 0;
        for (int g = 0; g < 16; g++) summ += (sc[g] >> 4) * b[i].bsums[g];
        __m256i ai = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = MM_LD256(a[i].qs + 32 * h);
            for (int s = 0; s < 4; s++) {
                const int g = 8 * h + 2 * s;
                ai = mm_g16_pair_256(ai, _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3), b[i].qs + 128 * h + 32 * s, sc[g] & 15,
                                     sc[g + 1] & 15);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d)), acc);
        mins += b[i].d * mm_h2f_256(a[i].dmin) * (float)summ;
    }
    return mm_hsum256(acc) - mins;
}

/* Q3_K row · Q8_K activation: levels q − 4·(1 − hb) in −4..3 as u − 4 with u = q + 4·hb in 0..7 (hb: bit 4h + s of
 * hmask[l]), group scales sc − 32: Σ (sc − 32)·(Σ u·x − 4·bsum) per group of 16. */
MM_T256 static float mm_vdot_q3_K_256(const mm_block_q3_K *a, const mm_block_q8_K *b, int64_t nb) {
    const __m256i m3 = _mm256_set1_epi8(3), b2 = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        int sc[16], corr = 0;
        mm_q3_K_scales(a[i].scales, sc);
        for (int g = 0; g < 16; g++) corr += (sc[g] - 32) * b[i].bsums[g];
        const __m256i hm = MM_LD256(a[i].hmask);
        __m256i ai = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = MM_LD256(a[i].qs + 32 * h);
            for (int s = 0; s < 4; s++) {
                /* bit 4h + s of each hmask byte to bit 2 (epi16 shifts: only bit 2 of each byte is kept) */
                const int k = 4 * h + s;
                const __m256i hb = _mm256_and_si256(k <= 2 ? _mm256_slli_epi16(hm, 2 - k) : _mm256_srli_epi16(hm, k - 2), b2);
                const __m256i u = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3), hb);
                const int g = 8 * h + 2 * s;
                ai = mm_g16_pair_256(ai, u, b[i].qs + 128 * h + 32 * s, sc[g] - 32, sc[g + 1] - 32);
            }
        }
        ai = _mm256_sub_epi32(ai, _mm256_setr_epi32(4 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d)), acc);
    }
    return mm_hsum256(acc);
}

/* 32 IQ4 levels from 16 bytes of nibbles (low nibbles: elements 0..15, high: 16..31) through the codebook (in
 * both 128-bit lanes of book). */
MM_T256 static inline __m256i mm_iq4_levels_256(const uint8_t *qs, __m256i book) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs);
    return _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(15)));
}

/* IQ4_NL row · Q8_0 activation: codebook levels (|w| ≤ 127), then as Q8_0 (activations within ±127). */
MM_T256 static float mm_vdot_iq4_nl_256(const mm_block_iq4_nl *a, const mm_block_q8_0 *b, int64_t nb) {
    const __m256i book = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)mm_iq4nl_values));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i wv = mm_iq4_levels_256(a[i].qs, book), xv = MM_LD256(b[i].qs);
        const __m256i p = mm_dot32_256(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(mm_h2f_256(a[i].d) * mm_h2f_256(b[i].d)), acc);
    }
    return mm_hsum256(acc);
}

/* IQ4_XS row · Q8_K activation: codebook levels, per 32 a scale − 32; products in int16 (Q8_K activations reach
 * −128, which the sign trick cannot negate). */
MM_T256 static float mm_vdot_iq4_xs_256(const mm_block_iq4_xs *a, const mm_block_q8_K *b, int64_t nb) {
    const __m256i book = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)mm_iq4nl_values));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i ai = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const __m256i wv = mm_iq4_levels_256(a[i].qs + 16 * ib, book), xv = MM_LD256(b[i].qs + 32 * ib);
            const __m256i p = _mm256_add_epi32(
                _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(wv)), _mm256_cvtepi8_epi16(_mm256_castsi256_si128(xv))),
                _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(wv, 1)), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(xv, 1))));
            ai = _mm256_add_epi32(ai, _mm256_mullo_epi32(p, _mm256_set1_epi32(mm_iq4_xs_scale(&a[i], ib) - 32)));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d)), acc);
    }
    return mm_hsum256(acc);
}

/* ---- the grid i-quants: each 32 elements are codebook magnitudes (unsigned bytes, at most 62) and 32 sign bits */
/* llama.cpp's 7-bit sign indices, expanded: byte j of entry i is 0xff where element j is negative, i.e. bit j of
 * i | parity(i) << 7 (the eighth sign makes the count of negative signs even). Generated by that formula. */
static const uint64_t mm_ksign_bytes[128] = {
    0x0000000000000000ull, 0xff000000000000ffull, 0xff0000000000ff00ull, 0x000000000000ffffull,
    0xff00000000ff0000ull, 0x0000000000ff00ffull, 0x0000000000ffff00ull, 0xff00000000ffffffull,
    0xff000000ff000000ull, 0x00000000ff0000ffull, 0x00000000ff00ff00ull, 0xff000000ff00ffffull,
    0x00000000ffff0000ull, 0xff000000ffff00ffull, 0xff000000ffffff00ull, 0x00000000ffffffffull,
    0xff0000ff00000000ull, 0x000000ff000000ffull, 0x000000ff0000ff00ull, 0xff0000ff0000ffffull,
    0x000000ff00ff0000ull, 0xff0000ff00ff00ffull, 0xff0000ff00ffff00ull, 0x000000ff00ffffffull,
    0x000000ffff000000ull, 0xff0000ffff0000ffull, 0xff0000ffff00ff00ull, 0x000000ffff00ffffull,
    0xff0000ffffff0000ull, 0x000000ffffff00ffull, 0x000000ffffffff00ull, 0xff0000ffffffffffull,
    0xff00ff0000000000ull, 0x0000ff00000000ffull, 0x0000ff000000ff00ull, 0xff00ff000000ffffull,
    0x0000ff0000ff0000ull, 0xff00ff0000ff00ffull, 0xff00ff0000ffff00ull, 0x0000ff0000ffffffull,
    0x0000ff00ff000000ull, 0xff00ff00ff0000ffull, 0xff00ff00ff00ff00ull, 0x0000ff00ff00ffffull,
    0xff00ff00ffff0000ull, 0x0000ff00ffff00ffull, 0x0000ff00ffffff00ull, 0xff00ff00ffffffffull,
    0x0000ffff00000000ull, 0xff00ffff000000ffull, 0xff00ffff0000ff00ull, 0x0000ffff0000ffffull,
    0xff00ffff00ff0000ull, 0x0000ffff00ff00ffull, 0x0000ffff00ffff00ull, 0xff00ffff00ffffffull,
    0xff00ffffff000000ull, 0x0000ffffff0000ffull, 0x0000ffffff00ff00ull, 0xff00ffffff00ffffull,
    0x0000ffffffff0000ull, 0xff00ffffffff00ffull, 0xff00ffffffffff00ull, 0x0000ffffffffffffull,
    0xffff000000000000ull, 0x00ff0000000000ffull, 0x00ff00000000ff00ull, 0xffff00000000ffffull,
    0x00ff000000ff0000ull, 0xffff000000ff00ffull, 0xffff000000ffff00ull, 0x00ff000000ffffffull,
    0x00ff0000ff000000ull, 0xffff0000ff0000ffull, 0xffff0000ff00ff00ull, 0x00ff0000ff00ffffull,
    0xffff0000ffff0000ull, 0x00ff0000ffff00ffull, 0x00ff0000ffffff00ull, 0xffff0000ffffffffull,
    0x00ff00ff00000000ull, 0xffff00ff000000ffull, 0xffff00ff0000ff00ull, 0x00ff00ff0000ffffull,
    0xffff00ff00ff0000ull, 0x00ff00ff00ff00ffull, 0x00ff00ff00ffff00ull, 0xffff00ff00ffffffull,
    0xffff00ffff000000ull, 0x00ff00ffff0000ffull, 0x00ff00ffff00ff00ull, 0xffff00ffff00ffffull,
    0x00ff00ffffff0000ull, 0xffff00ffffff00ffull, 0xffff00ffffffff00ull, 0x00ff00ffffffffffull,
    0x00ffff0000000000ull, 0xffffff00000000ffull, 0xffffff000000ff00ull, 0x00ffff000000ffffull,
    0xffffff0000ff0000ull, 0x00ffff0000ff00ffull, 0x00ffff0000ffff00ull, 0xffffff0000ffffffull,
    0xffffff00ff000000ull, 0x00ffff00ff0000ffull, 0x00ffff00ff00ff00ull, 0xffffff00ff00ffffull,
    0x00ffff00ffff0000ull, 0xffffff00ffff00ffull, 0xffffff00ffffff00ull, 0x00ffff00ffffffffull,
    0xffffffff00000000ull, 0x00ffffff000000ffull, 0x00ffffff0000ff00ull, 0xffffffff0000ffffull,
    0x00ffffff00ff0000ull, 0xffffffff00ff00ffull, 0xffffffff00ffff00ull, 0x00ffffff00ffffffull,
    0x00ffffffff000000ull, 0xffffffffff0000ffull, 0xffffffffff00ff00ull, 0x00ffffffff00ffffull,
    0xffffffffffff0000ull, 0x00ffffffffff00ffull, 0x00ffffffffffff00ull, 0xffffffffffffffffull,
};

/* Sign bytes of 32 elements from four 7-bit indices. */
MM_T256 static inline __m256i mm_ksignmask_256(uint32_t i0, uint32_t i1, uint32_t i2, uint32_t i3) {
    return _mm256_setr_epi64x((long long)mm_ksign_bytes[i0], (long long)mm_ksign_bytes[i1], (long long)mm_ksign_bytes[i2],
                              (long long)mm_ksign_bytes[i3]);
}

/* 0xff in byte j where bit j of s is set, else 0. */
MM_T256 static inline __m256i mm_signmask_256(uint32_t s) {
    const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)s), sel), bit), bit);
}

/* Adjacent-pair sums of ±u·x as int16: maddubs(u, x) − 2·maddubs(u & neg, x), u the magnitudes (≤ 62), neg 0xff
 * where the sign is negative, x activation bytes. Exact for every x, −128 included (which the sign trick,
 * negating x, cannot represent): each maddubs pair is within ±15872. */
MM_T256 static inline __m256i mm_grid_pairs_256(__m256i u, __m256i neg, const int8_t *x) {
    const __m256i xv = MM_LD256(x), b = _mm256_maddubs_epi16(_mm256_and_si256(u, neg), xv);
    return _mm256_sub_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(u, xv), b), b);
}

/* Scales per 16 elements (lo: elements 0..15, hi: 16..31) as int16 for madd. */
MM_T256 static inline __m256i mm_scale16_256(int lo, int hi) { return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo)); }

/* One run of 32 of IQ2_XXS / IQ3_XXS: magnitudes u, and the word w holding four 7-bit sign indices and, on top, the
 * 4-bit scale k: Σ ±u·x · (2k + 1) in int32 lanes. */
MM_T256 static inline __m256i mm_xxs_run_256(__m256i u, uint32_t w, const int8_t *x) {
    const __m256i p16 = mm_grid_pairs_256(u, mm_ksignmask_256(w & 127, w >> 7 & 127, w >> 14 & 127, w >> 21 & 127), x);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16((short)(2 * (w >> 28) + 1)));
}

/* IQ2_XXS row · Q8_K activation: per 32, four bytes index 8-element grid entries and a 32-bit word holds four
 * 7-bit sign indices and the 4-bit scale k: x = d·(2k + 1)/8 · grid · sign. */
MM_T256 static float mm_vdot_iq2_xxs_256(const mm_block_iq2_xxs *a, const mm_block_q8_K *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i ai = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *p = (const uint8_t *)(a[i].qs + 4 * ib);
            uint32_t w;
            memcpy(&w, p + 4, 4);
            const __m256i u = _mm256_setr_epi64x((long long)mm_iq2xxs_grid[p[0]], (long long)mm_iq2xxs_grid[p[1]],
                                                 (long long)mm_iq2xxs_grid[p[2]], (long long)mm_iq2xxs_grid[p[3]]);
            ai = _mm256_add_epi32(ai, mm_xxs_run_256(u, w, b[i].qs + 32 * ib));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d) * 0.125f), acc);
    }
    return mm_hsum256(acc);
}

/* IQ2_XS row · Q8_K activation: per 8 elements a 16-bit word, a 9-bit grid index and a 7-bit sign index; per 16
 * a 4-bit scale k (x = d·(2k + 1)/8 · grid · sign). */
MM_T256 static float mm_vdot_iq2_xs_256(const mm_block_iq2_xs *a, const mm_block_q8_K *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i ai = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const uint16_t *q = a[i].qs + 4 * ib;
            const __m256i u = _mm256_setr_epi64x((long long)mm_iq2xs_grid[q[0] & 511], (long long)mm_iq2xs_grid[q[1] & 511],
                                                 (long long)mm_iq2xs_grid[q[2] & 511], (long long)mm_iq2xs_grid[q[3] & 511]);
            const __m256i p16 = mm_grid_pairs_256(u, mm_ksignmask_256(q[0] >> 9, q[1] >> 9, q[2] >> 9, q[3] >> 9), b[i].qs + 32 * ib);
            const int sc = a[i].scales[ib];
            ai = _mm256_add_epi32(ai, _mm256_madd_epi16(p16, mm_scale16_256(2 * (sc & 15) + 1, 2 * (sc >> 4) + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d) * 0.125f), acc);
    }
    return mm_hsum256(acc);
}

/* IQ2_S row · Q8_K activation: 10-bit grid indices (a byte of qs, two bits of qh), sign bytes after the indices,
 * per 16 a 4-bit scale k (x = d·(2k + 1)/8 · grid · sign). */
MM_T256 static float mm_vdot_iq2_s_256(const mm_block_iq2_s *a, const mm_block_q8_K *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i ai = _mm256_setzero_si256();
        const uint8_t *signs = a[i].qs + 32;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = a[i].qs + 4 * ib;
            const int h = a[i].qh[ib];
            const __m256i u = _mm256_setr_epi64x((long long)mm_iq2s_grid[q[0] | ((h << 8) & 0x300)], (long long)mm_iq2s_grid[q[1] | ((h << 6) & 0x300)],
                                                 (long long)mm_iq2s_grid[q[2] | ((h << 4) & 0x300)], (long long)mm_iq2s_grid[q[3] | ((h << 2) & 0x300)]);
            uint32_t s;
            memcpy(&s, signs + 4 * ib, 4);
            const __m256i p16 = mm_grid_pairs_256(u, mm_signmask_256(s), b[i].qs + 32 * ib);
            const int sc = a[i].scales[ib];
            ai = _mm256_add_epi32(ai, _mm256_madd_epi16(p16, mm_scale16_256(2 * (sc & 15) + 1, 2 * (sc >> 4) + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d) * 0.125f), acc);
    }
    return mm_hsum256(acc);
}

/* IQ3_XXS row · Q8_K activation: per 32, eight bytes index 4-element grid entries and a 32-bit word (after the 64
 * index bytes) holds four 7-bit sign indices and the 4-bit scale k: x = d·(2k + 1)/4 · grid · sign. */
MM_T256 static float mm_vdot_iq3_xxs_256(const mm_block_iq3_xxs *a, const mm_block_q8_K *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i ai = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = a[i].qs + 8 * ib;
            uint32_t w;
            memcpy(&w, a[i].qs + 64 + 4 * ib, 4);
            const __m256i u = _mm256_setr_epi32((int)mm_iq3xxs_grid[q[0]], (int)mm_iq3xxs_grid[q[1]], (int)mm_iq3xxs_grid[q[2]],
                                                (int)mm_iq3xxs_grid[q[3]], (int)mm_iq3xxs_grid[q[4]], (int)mm_iq3xxs_grid[q[5]],
                                                (int)mm_iq3xxs_grid[q[6]], (int)mm_iq3xxs_grid[q[7]]);
            ai = _mm256_add_epi32(ai, mm_xxs_run_256(u, w, b[i].qs + 32 * ib));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d) * 0.25f), acc);
    }
    return mm_hsum256(acc);
}

/* IQ3_S row · Q8_K activation: 9-bit grid indices (a byte of qs, a bit of qh), sign bytes, per 32 a 4-bit scale
 * k: x = d·(2k + 1) · grid · sign. */
MM_T256 static float mm_vdot_iq3_s_256(const mm_block_iq3_s *a, const mm_block_q8_K *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i ai = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = a[i].qs + 8 * ib;
            const int h = a[i].qh[ib];
            int32_t g[8];
            for (int j = 0; j < 8; j++) g[j] = (int32_t)mm_iq3s_grid[q[j] | ((h << (8 - j)) & 256)];
            uint32_t s;
            memcpy(&s, a[i].signs + 4 * ib, 4);
            const __m256i p16 = mm_grid_pairs_256(_mm256_loadu_si256((const __m256i *)(const void *)g), mm_signmask_256(s), b[i].qs + 32 * ib);
            const int k = (a[i].scales[ib / 2] >> (4 * (ib % 2))) & 15;
            ai = _mm256_add_epi32(ai, _mm256_madd_epi16(p16, _mm256_set1_epi16((short)(2 * k + 1))));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d)), acc);
    }
    return mm_hsum256(acc);
}

/* ---- IQ1: levels q in {−1, 0, 1} from 8-element grid entries, shifted by ±1/8: x = dl·(q ± 1/8) */
/* Per 32-bit lane (4 elements) of one run of 32: 8·Σ q·x + sd·Σ x, sd ±1 per lane (the shift's sign), from
 * maddubs(q + 1, x) − Σ x (q + 1 is unsigned, so any x is exact). */
MM_T256 static inline __m256i mm_iq1_lanes_256(__m256i q, const int8_t *x, __m256i sd) {
    const __m256i xv = MM_LD256(x), one8 = _mm256_set1_epi8(1), one16 = _mm256_set1_epi16(1);
    const __m256i sx = _mm256_madd_epi16(_mm256_maddubs_epi16(one8, xv), one16);
    const __m256i sqx = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_add_epi8(q, one8), xv), one16), sx);
    return _mm256_add_epi32(_mm256_slli_epi32(sqx, 3), _mm256_sign_epi32(sx, sd));
}

/* IQ1_S row · Q8_K activation: per 32, four 11-bit indices (qs bytes and 3 bits each of qh), a 3-bit scale k and
 * the shift's sign in qh: x = d·(2k + 1)·(q ± 1/8). */
MM_T256 static float mm_vdot_iq1_s_256(const mm_block_iq1_s *a, const mm_block_q8_K *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m256i ai = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const int qh = a[i].qh[ib];
            const uint8_t *q = a[i].qs + 4 * ib;
            const __m256i g = _mm256_setr_epi64x((long long)mm_iq1s_grid[q[0] | (qh << 8 & 0x700)], (long long)mm_iq1s_grid[q[1] | (qh << 5 & 0x700)],
                                                 (long long)mm_iq1s_grid[q[2] | (qh << 2 & 0x700)], (long long)mm_iq1s_grid[q[3] | (qh >> 1 & 0x700)]);
            const __m256i t = mm_iq1_lanes_256(g, b[i].qs + 32 * ib, _mm256_set1_epi32(qh & 0x8000 ? -1 : 1));
            ai = _mm256_add_epi32(ai, _mm256_mullo_epi32(t, _mm256_set1_epi32(2 * ((qh >> 12) & 7) + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d) * 0.125f), acc);
    }
    return mm_hsum256(acc);
}

/* IQ1_M row · Q8_K activation: 11-bit indices (qs bytes, 3 bits of a qh nibble whose top bit is that group's shift
 * sign), per 16 a 3-bit scale k, the f16 super-scale spread over the top nibbles of the scales. */
MM_T256 static float mm_vdot_iq1_m_256(const mm_block_iq1_m *a, const mm_block_q8_K *b, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint16_t sc[4];
        for (int k = 0; k < 4; k++) sc[k] = (uint16_t)(a[i].scales[2 * k] | a[i].scales[2 * k + 1] << 8);
        const uint16_t dh = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        __m256i ai = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = a[i].qs + 4 * ib, *qh = a[i].qh + 2 * ib;
            const __m256i g = _mm256_setr_epi64x((long long)mm_iq1s_grid[q[0] | ((qh[0] << 8) & 0x700)], (long long)mm_iq1s_grid[q[1] | ((qh[0] << 4) & 0x700)],
                                                 (long long)mm_iq1s_grid[q[2] | ((qh[1] << 8) & 0x700)], (long long)mm_iq1s_grid[q[3] | ((qh[1] << 4) & 0x700)]);
            const int s0 = qh[0] & 0x08 ? -1 : 1, s1 = qh[0] & 0x80 ? -1 : 1, s2 = qh[1] & 0x08 ? -1 : 1, s3 = qh[1] & 0x80 ? -1 : 1;
            const __m256i t = mm_iq1_lanes_256(g, b[i].qs + 32 * ib, _mm256_setr_epi32(s0, s0, s1, s1, s2, s2, s3, s3));
            const int k1 = 2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 7) + 1, k2 = 2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1;
            ai = _mm256_add_epi32(ai, _mm256_mullo_epi32(t, _mm256_setr_epi32(k1, k1, k1, k1, k2, k2, k2, k2)));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(dh) * 0.125f), acc);
    }
    return mm_hsum256(acc);
}

/* ---- the legacy 32-element types with Q8_0 activations (within ±127) */
/* 32 unsigned nibbles: low nibbles are elements 0..15, high nibbles 16..31. */
MM_T256 static inline __m256i mm_nibbles_256(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(15));
}
/* The fifth bits: bit j of the 32-bit qh (element j) as 16 in byte j. */
MM_T256 static inline __m256i mm_fifth_bits_256(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    return _mm256_and_si256(mm_signmask_256(h), _mm256_set1_epi8(16));
}

/* Q4_1 row · Q8_0 activation: x = d·q + m, q in 0..15: d·dx·Σ q·a + m·dx·Σ a per block. */
MM_T256 static float mm_vdot_q4_1_256(const mm_block_q4_1 *a, const mm_block_q8_0 *b, int64_t nb) {
    const __m256i one8 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i xv = MM_LD256(b[i].qs);
        const float dx = mm_h2f_256(b[i].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mm_dot32_256(mm_nibbles_256(a[i].qs), xv)), _mm256_set1_ps(mm_h2f_256(a[i].d) * dx), acc);
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mm_dot32_256(one8, xv)), _mm256_set1_ps(mm_h2f_256(a[i].m) * dx), accm);
    }
    return mm_hsum256(_mm256_add_ps(acc, accm));
}

/* Q5_0 row · Q8_0 activation: x = d·(q − 16), q in 0..31 (a nibble and a bit of qh); as Q4_0 with the sign trick. */
MM_T256 static float mm_vdot_q5_0_256(const mm_block_q5_0 *a, const mm_block_q8_0 *b, int64_t nb) {
    const __m256i b16 = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i wv = _mm256_sub_epi8(_mm256_or_si256(mm_nibbles_256(a[i].qs), mm_fifth_bits_256(a[i].qh)), b16);
        const __m256i p = mm_dot32_256(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(MM_LD256(b[i].qs), wv));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(mm_h2f_256(a[i].d) * mm_h2f_256(b[i].d)), acc);
    }
    return mm_hsum256(acc);
}

/* Q5_1 row · Q8_0 activation: x = d·q + m, q in 0..31. */
MM_T256 static float mm_vdot_q5_1_256(const mm_block_q5_1 *a, const mm_block_q8_0 *b, int64_t nb) {
    const __m256i one8 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i xv = MM_LD256(b[i].qs), u = _mm256_or_si256(mm_nibbles_256(a[i].qs), mm_fifth_bits_256(a[i].qh));
        const float dx = mm_h2f_256(b[i].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mm_dot32_256(u, xv)), _mm256_set1_ps(mm_h2f_256(a[i].d) * dx), acc);
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mm_dot32_256(one8, xv)), _mm256_set1_ps(mm_h2f_256(a[i].m) * dx), accm);
    }
    return mm_hsum256(_mm256_add_ps(acc, accm));
}

/* Q6_K row · Q8_K activation: unsigned levels u = e+32 (≤ 63) via maddubs, per-16 scales, minus 32·Σ sc·bsums. */
MM_T256 static float mm_vdot_q6_K_256(const mm_block_q6_K *a, const mm_block_q8_K *b, int64_t nb) {
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *sc = a[i].scales;
        int corr = 0;
        for (int g = 0; g < 16; g++) corr += sc[g] * b[i].bsums[g];
        __m256i ai = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = MM_LD256(a[i].ql + 64 * h), ql1 = MM_LD256(a[i].ql + 64 * h + 32), qh = MM_LD256(a[i].qh + 32 * h);
            __m256i u[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)),
            };
            for (int j = 0; j < 4; j++) {
                /* 32 elements = two groups of 16: int16 pair sums, then scale each half with its group's scale */
                __m256i p16 = _mm256_maddubs_epi16(u[j], MM_LD256(b[i].qs + 128 * h + 32 * j));
                int g = 8 * h + 2 * j;
                __m256i s16 = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
                ai = _mm256_add_epi32(ai, _mm256_madd_epi16(p16, s16));
            }
        }
        ai = _mm256_sub_epi32(ai, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_set1_ps(b[i].d * mm_h2f_256(a[i].d)), acc);
    }
    return mm_hsum256(acc);
}

/* y[t·ldy+r] = W_r·xa_t, r < nr, t < nt (contract in mm_kernel_set). */
MM_T256 static void mm_dot_256(mm_dtype dt, int64_t K, int64_t nr, const void *w, size_t wrb, int nt, const void *xa,
                               size_t xab, float *y, size_t ldy) {
    switch (dt) {
    case MM_F32: mm_dot_f32_256(K, nr, w, wrb, nt, xa, xab / sizeof(float), y, ldy); return;
    case MM_BF16: mm_dot_bf16_256(K, nr, w, wrb, nt, xa, xab / sizeof(float), y, ldy); return;
    case MM_F16: mm_dot_f16_256(K, nr, w, wrb, nt, xa, xab / sizeof(float), y, ldy); return;
    default: break;
    }
    for (int64_t r = 0; r < nr; r++) {
        const void *wr = (const char *)w + (size_t)r * wrb;
        for (int t = 0; t < nt; t++) {
            const void *xt = (const char *)xa + (size_t)t * xab;
            float s;
            switch (dt) {
            case MM_Q8_0: s = mm_vdot_q8_0_256(wr, xt, K / MM_QK); break;
            case MM_Q4_0: s = mm_vdot_q4_0_256(wr, xt, K / MM_QK); break;
            case MM_Q4_K: s = mm_vdot_q4_K_256(wr, xt, K / MM_QK_K); break;
            case MM_Q6_K: s = mm_vdot_q6_K_256(wr, xt, K / MM_QK_K); break;
            case MM_Q5_K: s = mm_vdot_q5_K_256(wr, xt, K / MM_QK_K); break;
            case MM_Q3_K: s = mm_vdot_q3_K_256(wr, xt, K / MM_QK_K); break;
            case MM_Q2_K: s = mm_vdot_q2_K_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ4_NL: s = mm_vdot_iq4_nl_256(wr, xt, K / MM_QK); break;
            case MM_IQ4_XS: s = mm_vdot_iq4_xs_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ2_XXS: s = mm_vdot_iq2_xxs_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ2_XS: s = mm_vdot_iq2_xs_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ2_S: s = mm_vdot_iq2_s_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ3_XXS: s = mm_vdot_iq3_xxs_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ3_S: s = mm_vdot_iq3_s_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ1_S: s = mm_vdot_iq1_s_256(wr, xt, K / MM_QK_K); break;
            case MM_IQ1_M: s = mm_vdot_iq1_m_256(wr, xt, K / MM_QK_K); break;
            case MM_Q4_1: s = mm_vdot_q4_1_256(wr, xt, K / MM_QK); break;
            case MM_Q5_0: s = mm_vdot_q5_0_256(wr, xt, K / MM_QK); break;
            case MM_Q5_1: s = mm_vdot_q5_1_256(wr, xt, K / MM_QK); break;
            default: s = mm_vec_dot(dt, wr, xt, K); break; /* no SIMD kernel: the scalar reference */
            }
            y[(size_t)t * ldy + (size_t)r] = s;
        }
    }
}

/* out[t·6+r] = Σ_{k<kc} w[r·ldw+k]·x[t·ldx+k], r < 6, t < 4, kc % 8 == 0: three passes of 2 rows × 4 tokens. */
MM_T256 static void mm_gemm6x4_256(int64_t kc, const float *w, size_t ldw, const float *x, size_t ldx, float *out) {
    for (int r = 0; r < 6; r += 2) {
        const float *w0 = w + (size_t)r * ldw, *w1 = w0 + ldw;
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        for (int64_t k = 0; k < kc; k += 8) {
            __m256 a = _mm256_loadu_ps(w0 + k), b = _mm256_loadu_ps(w1 + k), v;
            v = _mm256_loadu_ps(x + k);
            c00 = _mm256_fmadd_ps(a, v, c00);
            c10 = _mm256_fmadd_ps(b, v, c10);
            v = _mm256_loadu_ps(x + ldx + k);
            c01 = _mm256_fmadd_ps(a, v, c01);
            c11 = _mm256_fmadd_ps(b, v, c11);
            v = _mm256_loadu_ps(x + 2 * ldx + k);
            c02 = _mm256_fmadd_ps(a, v, c02);
            c12 = _mm256_fmadd_ps(b, v, c12);
            v = _mm256_loadu_ps(x + 3 * ldx + k);
            c03 = _mm256_fmadd_ps(a, v, c03);
            c13 = _mm256_fmadd_ps(b, v, c13);
        }
        out[0 * 6 + r] = mm_hsum256(c00);
        out[1 * 6 + r] = mm_hsum256(c01);
        out[2 * 6 + r] = mm_hsum256(c02);
        out[3 * 6 + r] = mm_hsum256(c03);
        out[0 * 6 + r + 1] = mm_hsum256(c10);
        out[1 * 6 + r + 1] = mm_hsum256(c11);
        out[2 * 6 + r + 1] = mm_hsum256(c12);
        out[3 * 6 + r + 1] = mm_hsum256(c13);
    }
}

/* y[n] = n elements of dtype dt at src as f32. */
MM_T256 static void mm_dequant_256(mm_dtype dt, const void *src, float *y, int64_t n) {
    int64_t i = 0;
    switch (dt) {
    case MM_BF16:
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, MM_LD8_BF16(src, i));
        break;
    case MM_F16:
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, MM_LD8_F16(src, i));
        break;
    default: mm_dequantize_row(dt, src, y, n); return;
    }
    if (i < n) mm_dequantize_row(dt, (const char *)src + (size_t)i * 2, y + i, n - i);
}

/* Q3_K: the 8-row packed kernel takes as many unpacking instructions per weight as the row kernel (2-bit field and
 * third bit per byte) plus the 16 group scales of 8 rows per super-block, and decodes slower (build/bench/kernels
 * --hot: ~450 vs ~420 us per call), so its matrices keep the stored layout. */
#define MM_PACK_SKIP_256 (1ull << MM_Q3_K)
static const mm_kernel_set mm_set_256 = {"avx2", mm_dot_256, mm_gemm6x4_256, mm_dequant_256, mm_quant_act_scalar,
                                         mm_dot_packed_256, mm_gemm_packed_256, mm_sgemm4_256, mm_softmax_cols_256, mm_dots_256, mm_expsum_256,
                                         mm_silu_256, mm_sigmoid_256, NULL, mm_pv_i16_256, 1, MM_PACK_SKIP_256};
/* AVX2 with AVX-VNNI: the same, with vpdpbusd / vpdpwssd in the packed products. */
static const mm_kernel_set mm_set_vnni = {"avxvnni", mm_dot_256, mm_gemm6x4_256, mm_dequant_256, mm_quant_act_scalar,
                                          mm_dot_packed_vnni, mm_gemm_packed_vnni, mm_sgemm4_256, mm_softmax_cols_256, mm_dots_256, mm_expsum_256,
                                          mm_silu_256, mm_sigmoid_256, mm_qk_i8_vnni, mm_pv_i16_vnni, 1, MM_PACK_SKIP_256};

const mm_kernel_set *mm_kernels_avx2(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && mm_cpu_f16c())
        return &mm_set_256;
    return NULL;
}

const mm_kernel_set *mm_kernels_avxvnni(void) {
    __builtin_cpu_init();
    if (mm_kernels_avx2() && mm_cpu_avxvnni()) return &mm_set_vnni;
    return NULL;
}

#else /* not x86-64 */
const mm_kernel_set *mm_kernels_avx2(void) { return NULL; }
const mm_kernel_set *mm_kernels_avxvnni(void) { return NULL; }
const mm_kernel_set *mm_kernels_avx512(void) { return NULL; }
#endif
