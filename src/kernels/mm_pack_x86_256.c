/* mm_pack_x86_256.c — products over the packed 16-row groups of mm_pack.h with 256-bit vectors, for CPUs with
 * AVX2 (vpmaddubsw + vpmaddwd make the 4-byte dot products) or AVX2 + AVX-VNNI (one vpdpbusd does). A group is
 * taken as two halves of 8 rows (bytes 0..31 / 32..63 of each 64-byte vector); each weight vector half feeds
 * up to 4 tokens at once (AVX2 has 16 vector registers). One kernel serves decode (activations in rows) and
 * prefill (token-tiled): token t's block b is read at xa + b·bstride + t·tstride.
 * The two sets share this code: the dot step is inline assembly chosen by a constant, so both compile for
 * plain AVX2. Nothing on other architectures. */
#include "kernels/mm_iq_tables.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "kernels/mm_dp_x86.h"

#define MM_T256 __attribute__((target("avx2,fma,f16c")))
#define MM_INL __attribute__((always_inline)) MM_T256 static inline
#define NT4 4 /* tokens per pass */

#define LD32(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define BC32(p) _mm256_set1_epi32(*(const int32_t *)(const void *)(p))
#define LDH8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define SRL4(v) _mm256_srli_epi16((v), 4)
#define XB(T, b, t) ((const T *)((const char *)xa + (size_t)(b) * bstride + (size_t)(t) * tstride))
#define TL(N) for (int t = 0; t < (N); t++)

MM_INL void store8(const int N, const __m256 *acc, float *y, size_t ldy, int nr8) {
    if (nr8 >= 8) {
        TL(N) _mm256_storeu_ps(y + (size_t)t * ldy, acc[t]);
    } else {
        TL(N) {
            float tmp[8];
            _mm256_storeu_ps(tmp, acc[t]);
            memcpy(y + (size_t)t * ldy, tmp, sizeof(float) * (size_t)nr8);
        }
    }
}

/* Q8_0, half h, N tokens. VNNI: the stored w + 128 straight into vpdpbusd from the token's bias; AVX2: signed
 * w (|w| <= 127) with the activation's sign moved onto it (vpsignb), sums from 0. */
MM_INL void q8_0_h(const int N, const int vnni, const uint8_t *g, int64_t nb, const void *xa, size_t bstride, size_t tstride, int h,
                   float *y, size_t ldy, int nr8) {
    __m256 acc[NT4];
    TL(N) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = g + (size_t)(b / 2) * 1088, *q = u + 64 + 512 * (b & 1) + 32 * h;
        const __m256 dw = LDH8(u + 32 * (b & 1) + 16 * h);
        __m256i ai[NT4];
        TL(N) ai[t] = vnni ? _mm256_set1_epi32(XB(mm_block_q8_0x, b, t)->bias) : _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            const __m256i w = LD32(q + 64 * j);
            if (vnni) {
                TL(N) ai[t] = mm_dp4_256(ai[t], w, BC32(XB(mm_block_q8_0x, b, t)->qs + 4 * j), 1);
            } else {
                const __m256i ws = _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80)), wa = _mm256_abs_epi8(ws);
                TL(N) ai[t] = mm_dp4_256(ai[t], wa, _mm256_sign_epi8(BC32(XB(mm_block_q8_0x, b, t)->qs + 4 * j), ws), 0);
            }
        }
        TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[t]), _mm256_mul_ps(dw, _mm256_set1_ps(XB(mm_block_q8_0x, b, t)->d)), acc[t]);
    }
    store8(N, acc, y, ldy, nr8);
}

MM_INL void q4_0_h(const int N, const int vnni, const uint8_t *g, int64_t nb, const void *xa, size_t bstride, size_t tstride, int h,
                   float *y, size_t ldy, int nr8) {
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc[NT4];
    TL(N) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = g + (size_t)(b / 2) * 576, *q = u + 64 + 256 * (b & 1) + 32 * h;
        const __m256 dw = LDH8(u + 32 * (b & 1) + 16 * h);
        __m256i ai[NT4];
        TL(N) ai[t] = _mm256_set1_epi32(XB(mm_block_q8_0x, b, t)->bias);
        if (vnni) {
            for (int j = 0; j < 4; j++) {
                const __m256i v = LD32(q + 64 * j), lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(SRL4(v), m4);
                TL(N) ai[t] = mm_dp4_256(ai[t], lo, BC32(XB(mm_block_q8_0x, b, t)->qs + 4 * j), 1);
                TL(N) ai[t] = mm_dp4_256(ai[t], hi, BC32(XB(mm_block_q8_0x, b, t)->qs + 16 + 4 * j), 1);
            }
        } else { /* the block's 8 vpmaddubsw pair sums added in int16 (|Σ| <= 8·2·15·128 < 2^15), one vpmaddwd */
            __m256i s16[NT4];
            TL(N) s16[t] = _mm256_setzero_si256();
            for (int j = 0; j < 4; j++) {
                const __m256i v = LD32(q + 64 * j), lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(SRL4(v), m4);
                TL(N) s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(lo, BC32(XB(mm_block_q8_0x, b, t)->qs + 4 * j)));
                TL(N) s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(hi, BC32(XB(mm_block_q8_0x, b, t)->qs + 16 + 4 * j)));
            }
            TL(N) ai[t] = _mm256_add_epi32(ai[t], _mm256_madd_epi16(s16[t], _mm256_set1_epi16(1)));
        }
        TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[t]), _mm256_mul_ps(dw, _mm256_set1_ps(XB(mm_block_q8_0x, b, t)->d)), acc[t]);
    }
    store8(N, acc, y, ldy, nr8);
}

/* 8 rows' int16 pairs (v, v) per 32-bit lane from 8 bytes (unsigned). */
MM_INL __m256i pair8(__m128i b8) {
    const __m256i v = _mm256_cvtepu8_epi32(b8);
    return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}

/* Q5_K: the levels of sub-block k (0..7) from their nibbles (masked to 4 bits) and the qh vector H, whose bit k
 * of each byte is the fifth bit (epi16 shifts: left by 4 − k, or right by k − 4 ≤ 3, keep bit 4 of each byte
 * within its byte); Q4_K (q5 = 0): the nibbles. */
MM_INL __m256i q5_levels(const int q5, __m256i nib, const uint8_t *qh, const int k) {
    if (!q5) return nib;
    const __m256i H = LD32(qh);
    return _mm256_or_si256(nib, _mm256_and_si256(k <= 4 ? _mm256_slli_epi16(H, 4 - k) : _mm256_srli_epi16(H, k - 4), _mm256_set1_epi8(16)));
}

/* Q4_K (q5 = 0) and Q5_K (q5 = 1, its unit Q4_K's with 8 qh vectors after it). */
MM_INL void q45_K_h(const int q5, const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride,
                    size_t tstride, int h, float *y, size_t ldy, int nr8) {
    const __m128i m6 = _mm_set1_epi8(63), m4b = _mm_set1_epi8(15), m30 = _mm_set1_epi8(0x30);
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc[NT4];
    TL(N) acc[t] = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * (q5 ? 2816 : 2304), *qh = u + 2304 + 32 * h;
        const __m256 d = LDH8(u + 16 * h), dmin = LDH8(u + 32 + 16 * h);
        __m128i sb[12];
        for (int j = 0; j < 12; j++) sb[j] = _mm_loadl_epi64((const __m128i *)(const void *)(u + 64 + 16 * j + 8 * h));
        __m256 scf[8];
        __m256i mp[8], sp[8];
        for (int k = 0; k < 8; k++) {
            __m128i sc, mn;
            if (k < 4) {
                sc = _mm_and_si128(sb[k], m6), mn = _mm_and_si128(sb[k + 4], m6);
            } else {
                sc = _mm_or_si128(_mm_and_si128(sb[k + 4], m4b), _mm_and_si128(_mm_srli_epi16(sb[k - 4], 2), m30));
                mn = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(sb[k + 4], 4), m4b), _mm_and_si128(_mm_srli_epi16(sb[k], 2), m30));
            }
            scf[k] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sc)), d);
            sp[k] = pair8(sc);
            mp[k] = pair8(mn);
        }
        TL(N) {
            __m256i ms = _mm256_setzero_si256();
            for (int k = 0; k < 8; k++) ms = mm_dpw_256(ms, mp[k], BC32(XB(mm_block_q8_K, s, t)->bsums + 2 * k), vnni);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_mul_ps(dmin, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
        }
        if (!vnni) {
            /* AVX2: each quant vector loaded once for its two sub-blocks (low nibbles: 2P, high: 2P + 1); a
             * sub-block's vpmaddubsw pair sums added in int16, 8 of them for Q4_K (|Σ| <= 8·2·15·128 < 2^15), 4 for
             * Q5_K (|Σ| <= 4·2·31·128 < 2^15), then one vpmaddwd by the rows' scales (sc, sc), the 8 sub-blocks
             * summed in int32 (|Σ| <= 8·63·2·2·32768 < 2^31) and converted once per super-block */
            __m256i ai[NT4];
            TL(N) ai[t] = _mm256_setzero_si256();
            for (int P = 0; P < 4; P++) {
                const uint8_t *q = u + 256 + 64 * 8 * P + 32 * h;
                __m256i s0[NT4], s1[NT4];
                TL(N) s0[t] = s1[t] = _mm256_setzero_si256();
                for (int j = 0; j < 8; j++) {
                    const __m256i v = LD32(q + 64 * j);
                    const __m256i w0 = q5_levels(q5, _mm256_and_si256(v, m4), qh + 64 * j, 2 * P);
                    const __m256i w1 = q5_levels(q5, _mm256_and_si256(SRL4(v), m4), qh + 64 * j, 2 * P + 1);
                    TL(N) {
                        const int8_t *x = XB(mm_block_q8_K, s, t)->qs + 64 * P + 4 * j;
                        s0[t] = _mm256_add_epi16(s0[t], _mm256_maddubs_epi16(w0, BC32(x)));
                        s1[t] = _mm256_add_epi16(s1[t], _mm256_maddubs_epi16(w1, BC32(x + 32)));
                    }
                    if (j == 7 || (q5 && j == 3)) {
                        TL(N) ai[t] = _mm256_add_epi32(ai[t], _mm256_add_epi32(_mm256_madd_epi16(s0[t], sp[2 * P]), _mm256_madd_epi16(s1[t], sp[2 * P + 1])));
                        TL(N) s0[t] = s1[t] = _mm256_setzero_si256();
                    }
                }
            }
            TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[t]), _mm256_mul_ps(d, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
            continue;
        }
        for (int k = 0; k < 8; k++) {
            const int P = k / 2, hb = k % 2;
            const uint8_t *q = u + 256 + 64 * 8 * P + 32 * h;
            __m256i ai[NT4];
            TL(N) ai[t] = _mm256_setzero_si256();
            for (int j = 0; j < 8; j++) {
                const __m256i v = LD32(q + 64 * j), w = q5_levels(q5, _mm256_and_si256(hb ? SRL4(v) : v, m4), qh + 64 * j, k);
                TL(N) ai[t] = mm_dp4_256(ai[t], w, BC32(XB(mm_block_q8_K, s, t)->qs + 64 * P + 32 * hb + 4 * j), 1);
            }
            TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[t]), _mm256_mul_ps(scf[k], _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
        }
    }
    store8(N, acc, y, ldy, nr8);
}

MM_INL void q4_K_h(const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride, int h,
                   float *y, size_t ldy, int nr8) {
    q45_K_h(0, N, vnni, g, nsb, xa, bstride, tstride, h, y, ldy, nr8);
}
MM_INL void q5_K_h(const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride, int h,
                   float *y, size_t ldy, int nr8) {
    q45_K_h(1, N, vnni, g, nsb, xa, bstride, tstride, h, y, ldy, nr8);
}

/* IQ4_XS: x = d·(ls − 32)·book[nibble] per sub-block of 32; the unit's scales_l lanes (a row's 4 bytes: the low
 * nibble of sub-block ib's scale at bit 4·ib) and scales_h (its 16 bits: the high 2 at bit 2·ib) unpack for 8
 * rows at once. AVX-VNNI: the levels as level + 128 (unsigned) into vpdpbusd, each sub-block's sum started at
 * −128·Σx (as the AVX-512 kernel). AVX2: vpmaddubsw would saturate on level + 128, so the signed levels take
 * the activation's sign (|x|·sign(level, x): |level| <= 127 and |x| <= 128 keep each pair within int16, also at
 * x = −128, whose |x| is 128 as an unsigned byte), and each pair sum goes through vpmaddwd by the rows' scale
 * pair (sc, sc) into one int32 sum per super-block (|Σ| <= 32·256·127·128 < 2^31). */
MM_INL void iq4_xs_h(const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride, int h,
                     float *y, size_t ldy, int nr8) {
    const __m256i m4 = _mm256_set1_epi8(15), m15 = _mm256_set1_epi32(15), m3 = _mm256_set1_epi32(3), c32 = _mm256_set1_epi32(32);
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)mm_iq4nl_values);
    const __m256i book = _mm256_broadcastsi128_si256(vnni ? _mm_xor_si128(b, _mm_set1_epi8((char)0x80)) : b);
    __m256 acc[NT4];
    TL(N) acc[t] = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * 2176, *q = u + 128 + 32 * h;
        const __m256 d = LDH8(u + 16 * h);
        const __m256i L = LD32(u + 64 + 32 * h), H = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(u + 32 + 16 * h)));
        __m256i isum[NT4];
        TL(N) isum[t] = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const __m256i sc = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(L, 4 * ib), m15),
                                                                _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(H, 2 * ib), m3), 4)),
                                                c32);
            if (vnni) {
                __m256i ai[NT4];
                TL(N) ai[t] = _mm256_set1_epi32(-128 * (XB(mm_block_q8_K, s, t)->bsums[2 * ib] + XB(mm_block_q8_K, s, t)->bsums[2 * ib + 1]));
                for (int j = 0; j < 4; j++) {
                    const __m256i v = LD32(q + 64 * (4 * ib + j));
                    const __m256i lo = _mm256_shuffle_epi8(book, _mm256_and_si256(v, m4)), hi = _mm256_shuffle_epi8(book, _mm256_and_si256(SRL4(v), m4));
                    TL(N) ai[t] = mm_dp4_256(ai[t], lo, BC32(XB(mm_block_q8_K, s, t)->qs + 32 * ib + 4 * j), 1);
                    TL(N) ai[t] = mm_dp4_256(ai[t], hi, BC32(XB(mm_block_q8_K, s, t)->qs + 32 * ib + 16 + 4 * j), 1);
                }
                TL(N) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(ai[t], sc));
            } else {
                const __m256i sp = _mm256_or_si256(_mm256_and_si256(sc, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(sc, 16)); /* (sc, sc) as int16 */
                for (int j = 0; j < 4; j++) {
                    const __m256i v = LD32(q + 64 * (4 * ib + j));
                    const __m256i lo = _mm256_shuffle_epi8(book, _mm256_and_si256(v, m4)), hi = _mm256_shuffle_epi8(book, _mm256_and_si256(SRL4(v), m4));
                    TL(N) {
                        const __m256i xl = BC32(XB(mm_block_q8_K, s, t)->qs + 32 * ib + 4 * j), xh = BC32(XB(mm_block_q8_K, s, t)->qs + 32 * ib + 16 + 4 * j);
                        const __m256i pl = _mm256_maddubs_epi16(_mm256_abs_epi8(xl), _mm256_sign_epi8(lo, xl));
                        const __m256i ph = _mm256_maddubs_epi16(_mm256_abs_epi8(xh), _mm256_sign_epi8(hi, xh));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(pl, sp), _mm256_madd_epi16(ph, sp)));
                    }
                }
            }
        }
        TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
    }
    store8(N, acc, y, ldy, nr8);
}

/* Group g's (sc, m) of 8 rows (lane r of half h) for Q2_K and Q3_K (q3), as mm_pack_x86.c's mm_q23_scale. */
MM_INL void q23_scale(const int q3, const uint8_t *u, const int h, const int g, __m256i *sc, __m256i *m) {
#define MM_SB(j) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(u + 64 + 16 * (j) + 8 * h)))
    if (!q3) {
        const __m256i v = MM_SB(g);
        *sc = _mm256_and_si256(v, _mm256_set1_epi32(15)), *m = _mm256_srli_epi32(v, 4);
        return;
    }
    const __m256i lo = g < 8 ? _mm256_and_si256(MM_SB(g), _mm256_set1_epi32(15)) : _mm256_srli_epi32(MM_SB(g - 8), 4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(MM_SB(8 + g % 4), 2 * (g / 4)), _mm256_set1_epi32(3));
    *sc = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    *m = _mm256_slli_epi32(*sc, 2);
#undef MM_SB
}

/* Q2_K and Q3_K (q3; mm_pack_x86.c's kernel in 8-row halves): per group of 16, the levels (shift 2sh of vectors
 * 8h' + 4jh.., Q3_K's bit 2 from hmask bit 4h' + sh) × activation; VNNI: vpdpbusd sums times sc in int32; AVX2: the
 * 4 vpmaddubsw pair sums of a group added in int16 (|Σ| <= 4·2·7·128), one vpmaddwd by (sc, sc). Σ m·Σx through
 * vpmaddwd / vpdpwssd on pairs of groups against the activation's 16-element sums. */
MM_INL void q23_K_h(const int q3, const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride,
                    size_t tstride, int h, float *y, size_t ldy, int nr8) {
    const __m256i m3 = _mm256_set1_epi8(3), b4 = _mm256_set1_epi8(4), lo16 = _mm256_set1_epi32(0xffff);
    __m256 acc[NT4];
    TL(N) acc[t] = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * (q3 ? 1856 : 1344), *q = u + 320 + 32 * h, *hm = u + 1344 + 32 * h;
        const __m256 d = LDH8(u + 16 * h), dmin = LDH8(u + (q3 ? 0 : 32) + 16 * h);
        __m256i sc[16], mn[16], mp[8];
        for (int k = 0; k < 16; k++) q23_scale(q3, u, h, k, &sc[k], &mn[k]);
        for (int k = 0; k < 8; k++) mp[k] = _mm256_or_si256(_mm256_and_si256(mn[2 * k], lo16), _mm256_slli_epi32(mn[2 * k + 1], 16));
        TL(N) {
            __m256i ms = _mm256_setzero_si256();
            for (int k = 0; k < 8; k++) ms = mm_dpw_256(ms, mp[k], BC32(XB(mm_block_q8_K, s, t)->bsums + 2 * k), vnni);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_mul_ps(dmin, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
        }
        __m256i isum[NT4];
        TL(N) isum[t] = _mm256_setzero_si256();
        for (int k = 0; k < 16; k++) { /* group k = 8hh + 2sh + jh */
            const int hh = k / 8, sh = (k / 2) % 4, jh = k % 2, hb = 4 * hh + sh;
            __m256i ai[NT4];
            TL(N) ai[t] = _mm256_setzero_si256();
            for (int j = 4 * jh; j < 4 * jh + 4; j++) {
                __m256i w = _mm256_and_si256(_mm256_srli_epi16(LD32(q + 64 * (8 * hh + j)), 2 * sh), m3);
                if (q3) { /* hmask bit hb to bit 2 (epi16 shifts keep it within its byte; only bit 2 kept) */
                    const __m256i H = LD32(hm + 64 * j);
                    w = _mm256_or_si256(w, _mm256_and_si256(hb <= 2 ? _mm256_slli_epi16(H, 2 - hb) : _mm256_srli_epi16(H, hb - 2), b4));
                }
                const int xo = 128 * hh + 32 * sh + 4 * j;
                if (vnni) {
                    TL(N) ai[t] = mm_dp4_256(ai[t], w, BC32(XB(mm_block_q8_K, s, t)->qs + xo), 1);
                } else {
                    TL(N) ai[t] = _mm256_add_epi16(ai[t], _mm256_maddubs_epi16(w, BC32(XB(mm_block_q8_K, s, t)->qs + xo)));
                }
            }
            if (vnni) {
                TL(N) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(ai[t], sc[k]));
            } else {
                const __m256i sp = _mm256_or_si256(_mm256_and_si256(sc[k], lo16), _mm256_slli_epi32(sc[k], 16)); /* (sc, sc) as int16 */
                TL(N) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(ai[t], sp));
            }
        }
        TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
    }
    store8(N, acc, y, ldy, nr8);
}
MM_INL void q2_K_h(const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride, int h,
                   float *y, size_t ldy, int nr8) {
    q23_K_h(0, N, vnni, g, nsb, xa, bstride, tstride, h, y, ldy, nr8);
}
MM_INL void q3_K_h(const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride, int h,
                   float *y, size_t ldy, int nr8) {
    q23_K_h(1, N, vnni, g, nsb, xa, bstride, tstride, h, y, ldy, nr8);
}

/* The sign bytes of the 4 sign indices of 8 rows: byte 4r + l = ksigns(bits 7l..7l + 6 of lane r of W) (the 7 bits
 * and their parity as bit 7, nibble parities by vpshufb), as mm_pack_x86.c's mm_ksigns4. */
MM_INL __m256i ksigns4_256(__m256i W) {
    const __m256i m7 = _mm256_set1_epi32(0x7f), m4 = _mm256_set1_epi8(15);
    const __m256i par = _mm256_broadcastsi128_si256(_mm_setr_epi8(0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0));
    const __m256i b = _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(W, m7), _mm256_and_si256(_mm256_slli_epi32(W, 1), _mm256_slli_epi32(m7, 8))),
                                      _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(W, 2), _mm256_slli_epi32(m7, 16)),
                                                      _mm256_and_si256(_mm256_slli_epi32(W, 3), _mm256_slli_epi32(m7, 24))));
    return _mm256_or_si256(b, _mm256_xor_si256(_mm256_shuffle_epi8(par, _mm256_and_si256(b, m4)), _mm256_shuffle_epi8(par, _mm256_and_si256(SRL4(b), m4))));
}

/* IQ2_XXS and IQ3_XXS (iq3), mm_pack_x86.c's kernel in 8-row halves: the grid magnitudes by vpgatherdd (4 bytes of
 * each of the 8 rows per gather), the 8 sign bits of each 7-bit sign index (its parity as bit 7, nibble parities by
 * vpshufb) spread to byte masks, the signed magnitudes as 64 ± u into vpdpbusd (AVX2: vpmaddubsw pairs within
 * 2·126·128 < 2^15, then vpmaddwd by ones), each sub-block's sum started at −64·Σx and multiplied by 2k + 1. */
MM_INL void iqxxs_h(const int iq3, const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride,
                    size_t tstride, int h, float *y, size_t ldy, int nr8) {
    const __m256i lo8 = _mm256_set1_epi32(255), c64 = _mm256_set1_epi8(64);
    const __m256i nib0 = _mm256_set1_epi32(0x08040201), nib1 = _mm256_set1_epi32((int)0x80402010u), one = _mm256_set1_epi32(1);
    const __m256i bbase = _mm256_broadcastsi128_si256(_mm_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c));
    const int *g0 = iq3 ? (const int *)(const void *)mm_iq3xxs_grid : (const int *)(const void *)mm_iq2xxs_grid, *g1 = iq3 ? g0 : g0 + 1;
    const int usz = iq3 ? 1600 : 1088, so = iq3 ? 1088 : 576;
    __m256 acc[NT4];
    TL(N) acc[t] = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * (size_t)usz;
        __m256i isum[NT4];
        TL(N) isum[t] = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const __m256i W = LD32(u + so + 64 * ib + 32 * h);
            const __m256i S = ksigns4_256(W);
            const __m256i sc = _mm256_or_si256(_mm256_srli_epi32(W, 27), one); /* 2k + 1 */
            __m256i ai[NT4];
            TL(N) ai[t] = _mm256_set1_epi32(-64 * (XB(mm_block_q8_K, s, t)->bsums[2 * ib] + XB(mm_block_q8_K, s, t)->bsums[2 * ib + 1]));
            for (int l = 0; l < 4; l++) {
                const __m256i Sl = _mm256_shuffle_epi8(S, _mm256_add_epi8(bbase, _mm256_set1_epi8((char)l)));
                const __m256i n0 = _mm256_cmpeq_epi8(_mm256_and_si256(Sl, nib0), nib0), n1 = _mm256_cmpeq_epi8(_mm256_and_si256(Sl, nib1), nib1);
                __m256i i0, i1;
                if (iq3) {
                    const __m256i V = LD32(u + 64 + 64 * (2 * ib + l / 2) + 32 * h);
                    i0 = _mm256_and_si256(_mm256_srli_epi32(V, 16 * (l % 2)), lo8), i1 = _mm256_and_si256(_mm256_srli_epi32(V, 16 * (l % 2) + 8), lo8);
                } else {
                    i0 = i1 = _mm256_and_si256(_mm256_srli_epi32(LD32(u + 64 + 64 * ib + 32 * h), 8 * l), lo8);
                }
                /* the scale must be a literal for clang (gcc folds iq3 after inlining) */
                const __m256i u0 = iq3 ? _mm256_i32gather_epi32(g0, i0, 4) : _mm256_i32gather_epi32(g0, i0, 8);
                const __m256i u1 = iq3 ? _mm256_i32gather_epi32(g1, i1, 4) : _mm256_i32gather_epi32(g1, i1, 8);
                const __m256i w0 = _mm256_add_epi8(c64, _mm256_sub_epi8(_mm256_xor_si256(u0, n0), n0));
                const __m256i w1 = _mm256_add_epi8(c64, _mm256_sub_epi8(_mm256_xor_si256(u1, n1), n1));
                TL(N) ai[t] = mm_dp4_256(ai[t], w0, BC32(XB(mm_block_q8_K, s, t)->qs + 32 * ib + 8 * l), vnni);
                TL(N) ai[t] = mm_dp4_256(ai[t], w1, BC32(XB(mm_block_q8_K, s, t)->qs + 32 * ib + 8 * l + 4), vnni);
            }
            TL(N) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(ai[t], sc));
        }
        const __m256 d = _mm256_mul_ps(LDH8(u + 16 * h), _mm256_set1_ps(iq3 ? 0.25f : 0.125f));
        TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
    }
    store8(N, acc, y, ldy, nr8);
}
/* the packed_256 switch's per-type names for the two flags */
#define iq2_xxs_h(...) iqxxs_h(0, __VA_ARGS__)
#define iq3_xxs_h(...) iqxxs_h(1, __VA_ARGS__)

/* The unsigned 6-bit weights (0..63) of kind c from their low-nibble vector A and high-bit vector H. */
MM_INL __m256i q6_unpack(__m256i A, __m256i H, int c, __m256i m4, __m256i m30) {
    __m256i hb;
    switch (c) {
    case 0: hb = _mm256_slli_epi16(H, 4); break;
    case 1: hb = _mm256_slli_epi16(H, 2); break;
    case 2: hb = H; break;
    default: hb = _mm256_srli_epi16(H, 2); break;
    }
    return _mm256_or_si256(_mm256_and_si256(c < 2 ? A : SRL4(A), m4), _mm256_and_si256(hb, m30));
}

/* The 8 rows' int8 scales at p as 32-bit lanes (sc, sc) of two int16: vpmaddwd's multiplier for a pair sum. */
MM_INL __m256i q6_scale_pair(const uint8_t *p) {
    const __m128i v = _mm_loadl_epi64((const __m128i *)(const void *)p);
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, v));
}

MM_INL void q6_K_h(const int N, const int vnni, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride, int h,
                   float *y, size_t ldy, int nr8) {
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30), lo16 = _mm256_set1_epi32(0xffff);
    __m256 acc[NT4];
    TL(N) acc[t] = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * 3392;
        const __m256 d = LDH8(u + 16 * h), d32 = _mm256_mul_ps(d, _mm256_set1_ps(32.0f));
        __m256i sc32[16];
        for (int k = 0; k < 16; k++) sc32[k] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(u + 64 + 16 * k + 8 * h)));
        TL(N) {
            __m256i ms = _mm256_setzero_si256();
            for (int i = 0; i < 8; i++)
                ms = mm_dpw_256(ms, _mm256_or_si256(_mm256_and_si256(sc32[2 * i], lo16), _mm256_slli_epi32(sc32[2 * i + 1], 16)),
                         BC32(XB(mm_block_q8_K, s, t)->bsums + 2 * i), vnni);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_mul_ps(d32, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
        }
        if (!vnni) {
            /* AVX2: per half h' and pair of vectors (j, j + 1), one qh pair and four ql vectors give all four kinds;
             * each kind's two vpmaddubsw pair sums add in int16 (|Σ| <= 2·2·63·128 < 2^15), then one vpmaddwd by the
             * rows' scale pair (sc, sc) of its sub-block; the 32 products per super-block sum in int32
             * (|Σ| <= 32·2·32256·128 < 2^31) and become float once per super-block */
            __m256i ai[NT4];
            TL(N) ai[t] = _mm256_setzero_si256();
            for (int hh = 0; hh < 2; hh++) {
                const uint8_t *ql = u + 320 + 64 * 16 * hh + 32 * h, *qh = u + 2368 + 64 * 8 * hh + 32 * h;
                for (int j = 0; j < 8; j += 2) {
                    const __m256i H0 = LD32(qh + 64 * j), H1 = LD32(qh + 64 * (j + 1));
#define MM_Q6_KIND(c)                                                                                                     \
    do {                                                                                                                  \
        const __m256i e0 = q6_unpack(LD32(ql + 64 * (j + 8 * ((c) & 1))), H0, (c), m4, m30);                            \
        const __m256i e1 = q6_unpack(LD32(ql + 64 * (j + 1 + 8 * ((c) & 1))), H1, (c), m4, m30);                        \
        const __m256i sp = q6_scale_pair(u + 64 + 16 * (8 * hh + 2 * (c) + j / 4) + 8 * h);                              \
        TL(N) {                                                                                                           \
            const int8_t *x = XB(mm_block_q8_K, s, t)->qs + 128 * hh + 32 * (c) + 4 * j;                              \
            const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(e0, BC32(x)), _mm256_maddubs_epi16(e1, BC32(x + 4))); \
            ai[t] = _mm256_add_epi32(ai[t], _mm256_madd_epi16(s16, sp));                                                  \
        }                                                                                                                 \
    } while (0)
                    MM_Q6_KIND(0);
                    MM_Q6_KIND(1);
                    MM_Q6_KIND(2);
                    MM_Q6_KIND(3);
#undef MM_Q6_KIND
                }
            }
            TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[t]), _mm256_mul_ps(d, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
            continue;
        }
        for (int k = 0; k < 16; k++) { /* sub-block k = 8h' + 2c + jh: half h', kind c, j in 4jh.. */
            const int hh = k / 8, c = (k / 2) % 4, jh = k % 2;
            const uint8_t *ql = u + 320 + 64 * 16 * hh + 32 * h, *qh = u + 2368 + 64 * 8 * hh + 32 * h;
            const __m256 scf = _mm256_mul_ps(_mm256_cvtepi32_ps(sc32[k]), d);
            __m256i ai[NT4];
            TL(N) ai[t] = _mm256_setzero_si256();
            for (int j = 4 * jh; j < 4 * jh + 4; j++) {
                const __m256i e = q6_unpack(LD32(ql + 64 * (j + 8 * (c & 1))), LD32(qh + 64 * j), c, m4, m30);
                TL(N) ai[t] = mm_dp4_256(ai[t], e, BC32(XB(mm_block_q8_K, s, t)->qs + 128 * hh + 32 * c + 4 * j), 1);
            }
            TL(N) acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[t]), _mm256_mul_ps(scf, _mm256_set1_ps(XB(mm_block_q8_K, s, t)->d)), acc[t]);
        }
    }
    store8(N, acc, y, ldy, nr8);
}

/* y[t·ldy + r] for rows r < nr, tokens t < nt: both halves, tokens 4 at a time. */
MM_INL void packed_256(const int vnni, mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t bstride,
                       size_t tstride, float *y, size_t ldy) {
    const int64_t nb = dt == MM_Q8_0 || dt == MM_Q4_0 ? K / MM_QK : K / MM_QK_K;
    for (int h = 0; h < 2 && 8 * h < nr; h++) {
        const int nr8 = nr - 8 * h < 8 ? nr - 8 * h : 8;
        for (int t0 = 0; t0 < nt; t0 += NT4) {
            const void *x0 = (const char *)xa + (size_t)t0 * tstride;
            float *y0 = y + (size_t)t0 * ldy + 8 * h;
            const int n = nt - t0 < NT4 ? nt - t0 : NT4;
#define MM_H(F, N) F(N, vnni, group, nb, x0, bstride, tstride, h, y0, ldy, nr8)
#define MM_HN(F) switch (n) { case 1: MM_H(F, 1); break; case 2: MM_H(F, 2); break; case 3: MM_H(F, 3); break; default: MM_H(F, 4); break; }
            switch (dt) {
            case MM_Q8_0: MM_HN(q8_0_h); break;
            case MM_Q4_0: MM_HN(q4_0_h); break;
            case MM_Q4_K: MM_HN(q4_K_h); break;
            case MM_Q6_K: MM_HN(q6_K_h); break;
            case MM_Q5_K: MM_HN(q5_K_h); break;
            case MM_IQ4_XS: MM_HN(iq4_xs_h); break;
            case MM_Q2_K: MM_HN(q2_K_h); break;
            case MM_Q3_K: MM_HN(q3_K_h); break;
            case MM_IQ2_XXS: MM_HN(iq2_xxs_h); break;
            case MM_IQ3_XXS: MM_HN(iq3_xxs_h); break;
            default:
                for (int t = 0; t < n; t++)
                    for (int r = 0; r < nr8; r++) y0[(size_t)t * ldy + r] = NAN;
                break;
            }
#undef MM_HN
#undef MM_H
        }
    }
}

/* The mm_kernel_set.dot_packed / gemm_packed contracts, AVX2 and AVX-VNNI. */
MM_T256 void mm_dot_packed_256(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y, size_t ldy) {
    packed_256(0, dt, K, group, nr, nt, xa, mm_pack_act_block_bytes(dt), xab, y, ldy);
}
MM_T256 void mm_gemm_packed_256(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy) {
    const size_t bs = mm_pack_act_block_bytes(dt);
    packed_256(0, dt, K, group, nr, nt, xa, bs * MM_QT, bs, y, ldy);
}
MM_T256 void mm_dot_packed_vnni(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y, size_t ldy) {
    packed_256(1, dt, K, group, nr, nt, xa, mm_pack_act_block_bytes(dt), xab, y, ldy);
}
MM_T256 void mm_gemm_packed_vnni(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy) {
    const size_t bs = mm_pack_act_block_bytes(dt);
    packed_256(1, dt, K, group, nr, nt, xa, bs * MM_QT, bs, y, ldy);
}
#endif
