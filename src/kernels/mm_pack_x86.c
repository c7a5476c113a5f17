/* mm_pack_x86.c — AVX-512 VNNI products over the packed 16-row groups of mm_pack.h (the decode GEMV of
 * the AVX-512 kernel set). Per 64 bytes of weights: one vector load, the nibble/bit unpacking the format
 * needs, and one vpdpbusd whose activation operand is 4 bytes broadcast from memory; 16 rows advance at
 * once, so scales are one vector per block and there is no horizontal reduction.
 * Compiles to nothing on other architectures (the AVX-512 set that uses it does not exist there). */
#include "kernels/mm_iq_tables.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "kernels/mm_dp_x86.h"

#define MM_T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define MM_INLINE __attribute__((always_inline)) MM_T512 static inline

/* 64 bytes at p, held in a register (the empty asm stops the compiler from folding the load into each of
 * the 2-3 instructions that use the vector, which would load it 2-3 times); 16 f16 at p as f32. */
MM_INLINE __m512i ldv(const void *p) {
    __m512i v = _mm512_loadu_si512(p);
    __asm__("" : "+v"(v));
    return v;
}
#define LDV(p) ldv((const void *)(p))
#define LDH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define DP(acc, w, xp) mm_dpbusd_bcst((acc), (w), (xp))

#define SRL4(v) _mm512_srli_epi16((v), 4)
/* for each of NT tokens (a constant after inlining) */
#define TLOOP _Pragma("GCC unroll 16") for (int t = 0; t < NT; t++)

/* Software prefetch, non-temporal, of the n cache lines at p + dist (dist 0: none). Measured on the lm_head
 * (200064×6144, 2 threads, `build/bench/kernels --shapes 200064x6144`): Q4_K and Q6_K stream at 60-65% of
 * the read ceiling on the hardware prefetcher alone and at 95-100% with every line prefetched 4 KiB ahead
 * (1 and 2 KiB: 85-93%); Q8_0, whose kernel has the most compute slack, is fastest without. */
#ifndef MM_PACK_PF_Q8
#define MM_PACK_PF_Q8 0      /* Q8_0 */
#endif
#ifndef MM_PACK_PF_Q4
#define MM_PACK_PF_Q4 4096   /* Q4_0, Q4_K, Q6_K */
#endif
MM_INLINE void mm_pf_lines(const uint8_t *p, const int n, const int dist) {
    if (dist)
        for (int i = 0; i < n; i++) _mm_prefetch((const char *)p + dist + 64 * i, _MM_HINT_NTA);
}

/* 128-bit lane l (a constant after inlining) of v. */
MM_INLINE __m128i lane128(__m512i v, const int l) {
    switch (l) {
    case 0: return _mm512_castsi512_si128(v);
    case 1: return _mm512_extracti32x4_epi32(v, 1);
    case 2: return _mm512_extracti32x4_epi32(v, 2);
    default: return _mm512_extracti32x4_epi32(v, 3);
    }
}

/* Q8_0: the 16 rows' dot products with one activation, nb blocks. Weights are stored as w + 128, so each
 * block's integer sum starts at −128·Σx to cancel the offset; two chains per block keep vpdpbusd's latency
 * hidden. */
MM_T512 static __m512 mm_pdot_q8_0(const uint8_t *g, int64_t nb, const mm_block_q8_0x *x) {
    const __m512i z = _mm512_setzero_si512();
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b += 2) {
        const uint8_t *u = g + (size_t)(b / 2) * 1088;
        mm_pf_lines(u, 17, MM_PACK_PF_Q8);
        __m512 d2 = LDH(u + 32);
        int two = b + 1 < nb;
        for (int h = 0; h < 1 + two; h++) {
            const mm_block_q8_0x *xb = x + b + h;
            const uint8_t *q = u + 64 + 512 * h;
            __m512i a = _mm512_set1_epi32(xb->bias), c = z;
#pragma GCC unroll 4
            for (int j = 0; j < 8; j += 2) {
                a = DP(a, LDV(q + 64 * j), xb->qs + 4 * j);
                c = DP(c, LDV(q + 64 * j + 64), xb->qs + 4 * j + 4);
            }
            __m512 f = _mm512_cvtepi32_ps(_mm512_add_epi32(a, c));
            if (h == 0)
                acc0 = _mm512_fmadd_ps(f, _mm512_mul_ps(LDH(u), _mm512_set1_ps(xb->d)), acc0);
            else
                acc1 = _mm512_fmadd_ps(f, _mm512_mul_ps(d2, _mm512_set1_ps(xb->d)), acc1);
        }
    }
    return _mm512_add_ps(acc0, acc1);
}

/* Q4_0: nibbles q ∈ [0, 15] stand for q − 8, cancelled by starting each block at −8·Σx. */
MM_T512 static __m512 mm_pdot_q4_0(const uint8_t *g, int64_t nb, const mm_block_q8_0x *x) {
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    for (int64_t b = 0; b < nb; b += 2) {
        const uint8_t *u = g + (size_t)(b / 2) * 576;
        mm_pf_lines(u, 9, MM_PACK_PF_Q4);
        int two = b + 1 < nb;
        for (int h = 0; h < 1 + two; h++) {
            const mm_block_q8_0x *xb = x + b + h;
            const uint8_t *q = u + 64 + 256 * h;
            __m512i a = _mm512_set1_epi32(xb->bias), c = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m512i v = LDV(q + 64 * j);
                a = DP(a, _mm512_and_si512(v, m4), xb->qs + 4 * j);
                c = DP(c, _mm512_and_si512(SRL4(v), m4), xb->qs + 16 + 4 * j);
            }
            __m512 f = _mm512_cvtepi32_ps(_mm512_add_epi32(a, c));
            __m512 d = _mm512_mul_ps(LDH(u + 32 * h), _mm512_set1_ps(xb->d));
            if (h == 0)
                acc0 = _mm512_fmadd_ps(f, d, acc0);
            else
                acc1 = _mm512_fmadd_ps(f, d, acc1);
        }
    }
    return _mm512_add_ps(acc0, acc1);
}

/* Q5_K: the fifth bit of every level of sub-block k (0..7) is bit k of its qh byte; that bit of each byte of H
 * moved to bit 4 (epi16 shifts: left by 4 − k moves bits within each byte up to bit 4, right by k − 4 ≤ 3 brings
 * bit k down from the same byte; only bit 4 is kept). */
MM_INLINE __m512i mm_q5_bit(__m512i H, const int k) {
    return _mm512_and_si512(k <= 4 ? _mm512_slli_epi16(H, 4 - k) : _mm512_srli_epi16(H, k - 4), _mm512_set1_epi8(16));
}
/* The levels of sub-block k from its nibbles nib (already masked to 4 bits): Q4_K (qh NULL) as they are, Q5_K
 * with the fifth bit from the qh vector at qh. */
MM_INLINE __m512i mm_q5_levels(__m512i nib, const uint8_t *qh, const int k) {
    return qh ? _mm512_or_si512(nib, mm_q5_bit(LDV(qh), k)) : nib;
}

/* Q4_K / Q5_K sub-blocks 2P (low nibbles of quant vectors 8P..8P+7) and 2P+1 (high nibbles): Σ q·x per row,
 * times the sub-block scales, into isum; Σ m·bsum (the mins) into msum. SC / M hold the scales / mins of
 * sub-blocks 4·(P/2).. as bytes, 128-bit lane per sub-block; bs the activation's 32-element sums; qh the Q5_K
 * high-bit vectors (NULL for Q4_K: a constant after inlining). Q5_K levels ≤ 31: each sub-block's sum stays
 * within 32·31·128, times a 6-bit scale, 8 sub-blocks: < 2^27. */
MM_INLINE void mm_q4_K_pair(const int P, const uint8_t *q, const uint8_t *qh, const int8_t *xq, __m512i SC, __m512i M,
                            __m512i bs, __m512i *isum, __m512i *msum) {
    const __m512i m4 = _mm512_set1_epi8(15), z = _mm512_setzero_si512();
    __m512i l0 = z, l1 = z, h0 = z, h1 = z;
#pragma GCC unroll 4
    for (int j = 0; j < 8; j += 2) {
        __m512i v0 = LDV(q + 64 * (8 * P + j)), v1 = LDV(q + 64 * (8 * P + j + 1));
        const uint8_t *hj0 = qh ? qh + 64 * j : NULL, *hj1 = qh ? qh + 64 * (j + 1) : NULL;
        l0 = DP(l0, mm_q5_levels(_mm512_and_si512(v0, m4), hj0, 2 * P), xq + 64 * P + 4 * j);
        h0 = DP(h0, mm_q5_levels(_mm512_and_si512(SRL4(v0), m4), hj0, 2 * P + 1), xq + 64 * P + 32 + 4 * j);
        l1 = DP(l1, mm_q5_levels(_mm512_and_si512(v1, m4), hj1, 2 * P), xq + 64 * P + 4 * j + 4);
        h1 = DP(h1, mm_q5_levels(_mm512_and_si512(SRL4(v1), m4), hj1, 2 * P + 1), xq + 64 * P + 36 + 4 * j);
    }
    const int ll = (2 * P) % 4, lh = (2 * P + 1) % 4;
    __m512i sl = _mm512_cvtepu8_epi32(lane128(SC, ll)), sh = _mm512_cvtepu8_epi32(lane128(SC, lh));
    __m512i ml = _mm512_cvtepu8_epi32(lane128(M, ll)), mh = _mm512_cvtepu8_epi32(lane128(M, lh));
    *isum = _mm512_add_epi32(*isum, _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(l0, l1), sl),
                                                     _mm512_mullo_epi32(_mm512_add_epi32(h0, h1), sh)));
    *msum = _mm512_add_epi32(*msum, _mm512_add_epi32(_mm512_mullo_epi32(ml, _mm512_permutexvar_epi32(_mm512_set1_epi32(2 * P), bs)),
                                                     _mm512_mullo_epi32(mh, _mm512_permutexvar_epi32(_mm512_set1_epi32(2 * P + 1), bs))));
}

/* Q4_K (q5 = 0) and Q5_K (q5 = 1, a constant after inlining): x = d·sc·q − dmin·m per sub-block of 32; the 6-bit
 * scales and mins of all 16 rows unpack together from the transposed scale bytes (byte 16j + r = scales[j] of
 * row r). Q5_K's unit is Q4_K's with its 8 qh vectors after it. */
MM_INLINE __m512 mm_pdot_q45_K(const int q5, const uint8_t *g, int64_t nsb, const mm_block_q8_K *x) {
    const __m512i m4 = _mm512_set1_epi8(15), m6 = _mm512_set1_epi8(63), m30 = _mm512_set1_epi8(0x30);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * (q5 ? 2816 : 2304), *qh = q5 ? u + 2304 : NULL;
        mm_pf_lines(u, q5 ? 44 : 36, MM_PACK_PF_Q4);
        const mm_block_q8_K *xb = x + s;
        __m512i Z0 = LDV(u + 64), Z1 = LDV(u + 128), Z2 = LDV(u + 192); /* scales[0..3], [4..7], [8..11] */
        __m512i SC03 = _mm512_and_si512(Z0, m6), M03 = _mm512_and_si512(Z1, m6);
        __m512i SC47 = _mm512_or_si512(_mm512_and_si512(Z2, m4), _mm512_and_si512(_mm512_srli_epi16(Z0, 2), m30));
        __m512i M47 = _mm512_or_si512(_mm512_and_si512(SRL4(Z2), m4), _mm512_and_si512(_mm512_srli_epi16(Z1, 2), m30));
        __m512i bs = _mm512_castsi256_si512(
            _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)xb->bsums), _mm256_set1_epi16(1)));
        __m512i isum = _mm512_setzero_si512(), msum = isum;
        mm_q4_K_pair(0, u + 256, qh, xb->qs, SC03, M03, bs, &isum, &msum);
        mm_q4_K_pair(1, u + 256, qh, xb->qs, SC03, M03, bs, &isum, &msum);
        mm_q4_K_pair(2, u + 256, qh, xb->qs, SC47, M47, bs, &isum, &msum);
        mm_q4_K_pair(3, u + 256, qh, xb->qs, SC47, M47, bs, &isum, &msum);
        __m512 dx = _mm512_set1_ps(xb->d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(LDH(u), dx), acc);
        acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(LDH(u + 32), dx), acc);
    }
    return acc;
}
MM_T512 static __m512 mm_pdot_q4_K(const uint8_t *g, int64_t nsb, const mm_block_q8_K *x) { return mm_pdot_q45_K(0, g, nsb, x); }
MM_T512 static __m512 mm_pdot_q5_K(const uint8_t *g, int64_t nsb, const mm_block_q8_K *x) { return mm_pdot_q45_K(1, g, nsb, x); }

/* IQ4_XS: the 16-entry codebook as unsigned bytes (level + 128) in every 128-bit lane, for vpshufb. */
MM_INLINE __m512i mm_iq4_book_u8(void) {
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)mm_iq4nl_values);
    return _mm512_broadcast_i32x4(_mm_xor_si128(b, _mm_set1_epi8((char)0x80)));
}
/* IQ4_XS sub-block ib's scale − 32 of each row (lane r) from the unit's scales_l vector L (lane r = the row's 4
 * bytes: the scale's low nibble at bit 4·ib) and scales_h H (the row's 16 bits: high 2 bits at bit 2·ib). */
MM_INLINE __m512i mm_iq4_xs_sc(__m512i L, __m512i H, const int ib) {
    const __m512i lo = _mm512_and_si512(_mm512_srli_epi32(L, 4 * ib), _mm512_set1_epi32(15));
    const __m512i hi = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(H, 2 * ib), _mm512_set1_epi32(3)), 4);
    return _mm512_sub_epi32(_mm512_or_si512(lo, hi), _mm512_set1_epi32(32));
}

/* IQ4_XS: x = d·(ls − 32)·book[nibble] per sub-block of 32. The levels enter vpdpbusd as level + 128 (the
 * codebook lookup gives them so), each sub-block's sum starting at −128·Σx (its two 16-element sums) to cancel
 * the offset; sums stay within 32·241·128 per sub-block, and the scaled total within 8·32·32·127·128 < 2^31. */
MM_T512 static __m512 mm_pdot_iq4_xs(const uint8_t *g, int64_t nsb, const mm_block_q8_K *x) {
    const __m512i m4 = _mm512_set1_epi8(15), book = mm_iq4_book_u8();
    __m512 acc = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * 2176, *q = u + 128;
        mm_pf_lines(u, 34, MM_PACK_PF_Q4);
        const mm_block_q8_K *xb = x + s;
        const __m512i L = LDV(u + 64), H = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(u + 32)));
        const __m512i bz = _mm512_castsi256_si512(_mm256_mullo_epi32(
            _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)xb->bsums), _mm256_set1_epi16(1)), _mm256_set1_epi32(-128)));
        __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int ib = 0; ib < 8; ib++) {
            __m512i a = _mm512_permutexvar_epi32(_mm512_set1_epi32(ib), bz), c = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m512i v = LDV(q + 64 * (4 * ib + j));
                a = DP(a, _mm512_shuffle_epi8(book, _mm512_and_si512(v, m4)), xb->qs + 32 * ib + 4 * j);
                c = DP(c, _mm512_shuffle_epi8(book, _mm512_and_si512(SRL4(v), m4)), xb->qs + 32 * ib + 16 + 4 * j);
            }
            isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(_mm512_add_epi32(a, c), mm_iq4_xs_sc(L, H, ib)));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(LDH(u), _mm512_set1_ps(xb->d)), acc);
    }
    return acc;
}

/* Q2_K and Q3_K (q3 = 1, a constant after inlining) share a unit layout but for Q3_K's hmask vectors at its end
 * (mm_pack.h): x = d·sc·q − dmin·m per group of 16 with Q2_K's q ∈ 0..3 the 2-bit fields and sc, m the nibbles
 * of the group's scale byte; Q3_K's value d·(sc − 32)·(u − 4) with u = q | hmask bit << 2 ∈ 0..7 is the same form
 * with m = 4·(sc − 32) and dmin = d. Group g's (sc, m) of each row (lane r): */
MM_INLINE void mm_q23_scale(const int q3, const uint8_t *u, const int g, __m512i *sc, __m512i *m) {
#define MM_SB(j) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(u + 64 + 16 * (j))))
    if (!q3) {
        const __m512i v = MM_SB(g);
        *sc = _mm512_and_si512(v, _mm512_set1_epi32(15)), *m = _mm512_srli_epi32(v, 4);
        return;
    }
    /* Q3_K scales[12]: low nibbles of groups 0..7 in bytes 0..7, of 8..15 the high nibbles; the top 2 bits of
     * group g at bit 2·(g/4) of byte 8 + g%4 */
    const __m512i lo = g < 8 ? _mm512_and_si512(MM_SB(g), _mm512_set1_epi32(15)) : _mm512_srli_epi32(MM_SB(g - 8), 4);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(MM_SB(8 + g % 4), 2 * (g / 4)), _mm512_set1_epi32(3));
    *sc = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
    *m = _mm512_slli_epi32(*sc, 2);
#undef MM_SB
}
/* The levels at shift 2·sh of quant vector v, half h (Q2_K: q; Q3_K: u, its bit 2 = bit 4h + sh of the hmask
 * vector H for the same 4 bytes: moved by an epi16 shift that keeps it within its byte, only bit 2 kept). */
MM_INLINE __m512i mm_q23_level(const int q3, __m512i v, __m512i H, const int h, const int sh) {
    const __m512i q = _mm512_and_si512(_mm512_srli_epi16(v, 2 * sh), _mm512_set1_epi8(3));
    if (!q3) return q;
    const int k = 4 * h + sh;
    return _mm512_or_si512(q, _mm512_and_si512(k <= 2 ? _mm512_slli_epi16(H, 2 - k) : _mm512_srli_epi16(H, k - 2), _mm512_set1_epi8(4)));
}
#define MM_Q23_UNIT(q3) ((q3) ? 1856 : 1344)

/* Half h's 8 quant vectors each hold 4 fields per byte (shift 2s: elements 128h + 32s + 4j.., group 8h + 2s +
 * j/4), so each vector feeds 4 vpdpbusd into 4 of the half's 8 group sums; Σ m·Σx from the activation's
 * 16-element sums. Sums within 256·7·128·32 < 2^31. */
MM_INLINE __m512 mm_pdot_q23_K(const int q3, const uint8_t *g, int64_t nsb, const mm_block_q8_K *x) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * MM_Q23_UNIT(q3), *q = u + 320;
        mm_pf_lines(u, MM_Q23_UNIT(q3) / 64, MM_PACK_PF_Q4);
        const mm_block_q8_K *xb = x + s;
        __m512i isum = _mm512_setzero_si512(), msum = isum;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i a[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) a[i] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                const __m512i v = LDV(q + 64 * (8 * h + j)), H = q3 ? LDV(u + 1344 + 64 * j) : v;
#pragma GCC unroll 4
                for (int sh = 0; sh < 4; sh++)
                    a[2 * sh + j / 4] = DP(a[2 * sh + j / 4], mm_q23_level(q3, v, H, h, sh), xb->qs + 128 * h + 32 * sh + 4 * j);
            }
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                __m512i sc, m;
                mm_q23_scale(q3, u, 8 * h + i, &sc, &m);
                isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(a[i], sc));
                msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(m, _mm512_set1_epi32(xb->bsums[8 * h + i])));
            }
        }
        const __m512 dx = _mm512_set1_ps(xb->d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(LDH(u), dx), acc);
        acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(LDH(q3 ? u : u + 32), dx), acc);
    }
    return acc;
}
MM_T512 static __m512 mm_pdot_q2_K(const uint8_t *g, int64_t nsb, const mm_block_q8_K *x) { return mm_pdot_q23_K(0, g, nsb, x); }
MM_T512 static __m512 mm_pdot_q3_K(const uint8_t *g, int64_t nsb, const mm_block_q8_K *x) { return mm_pdot_q23_K(1, g, nsb, x); }

/* Q6_K half h (elements 128h..128h+127, sub-blocks 8h..8h+7): level e = (ql nibble | qh 2 bits << 4) ∈
 * [0, 63] stands for e − 32, cancelled by starting sub-block i's sum at −32·bsum[i] (bz). Returns
 * Σ_i sc_i·Σ(e − 32)·x over the half; S0, S1 hold the scale bytes of sub-blocks 8h..8h+3, 8h+4..8h+7. */
MM_INLINE __m512i mm_q6_K_half(const int h, const uint8_t *u, const int8_t *xq, __m512i bz, __m512i S0, __m512i S1) {
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    __m512i a[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) a[i] = _mm512_permutexvar_epi32(_mm512_set1_epi32(8 * h + i), bz);
    const uint8_t *ql = u + 320 + 64 * 16 * h, *qh = u + 2368 + 64 * 8 * h;
    const int8_t *x = xq + 128 * h;
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        __m512i A = LDV(ql + 64 * j), B = LDV(ql + 64 * (8 + j)), H = LDV(qh + 64 * j);
        __m512i e0 = _mm512_or_si512(_mm512_and_si512(A, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30));
        __m512i e1 = _mm512_or_si512(_mm512_and_si512(B, m4), _mm512_and_si512(_mm512_slli_epi16(H, 2), m30));
        __m512i e2 = _mm512_or_si512(_mm512_and_si512(SRL4(A), m4), _mm512_and_si512(H, m30));
        __m512i e3 = _mm512_or_si512(_mm512_and_si512(SRL4(B), m4), _mm512_and_si512(_mm512_srli_epi16(H, 2), m30));
        a[j / 4] = DP(a[j / 4], e0, x + 4 * j);
        a[2 + j / 4] = DP(a[2 + j / 4], e1, x + 32 + 4 * j);
        a[4 + j / 4] = DP(a[4 + j / 4], e2, x + 64 + 4 * j);
        a[6 + j / 4] = DP(a[6 + j / 4], e3, x + 96 + 4 * j);
    }
    __m512i s = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        s = _mm512_add_epi32(s, _mm512_mullo_epi32(a[i], _mm512_cvtepi8_epi32(lane128(i < 4 ? S0 : S1, i % 4))));
    return s;
}

/* Q6_K: x = d·sc·(e − 32) per sub-block of 16. */
MM_T512 static __m512 mm_pdot_q6_K(const uint8_t *g, int64_t nsb, const mm_block_q8_K *x) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * 3392;
        mm_pf_lines(u, 53, MM_PACK_PF_Q4);
        const mm_block_q8_K *xb = x + s;
        __m512i bz = _mm512_mullo_epi32(_mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)xb->bsums)),
                                        _mm512_set1_epi32(-32));
        __m512i isum = _mm512_add_epi32(mm_q6_K_half(0, u, xb->qs, bz, LDV(u + 64), LDV(u + 128)),
                                        mm_q6_K_half(1, u, xb->qs, bz, LDV(u + 192), LDV(u + 256)));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(LDH(u), _mm512_set1_ps(xb->d)), acc);
    }
    return acc;
}

/* IQ3_XXS: x = d·(2k + 1)/4 · magnitude · sign per sub-block of 32, the magnitudes looked up in the grid codebook (4
 * per index) by vpgatherdd, 4 bytes of each of the 16 rows per gather (lane r = row r, as every packed product), and
 * the signs of 8 elements per 7-bit sign index (mm_ksigns4). Each signed magnitude enters vpdpbusd as 64 ± u
 * (unsigned, u ≤ 62), each sub-block's sum started at −64·Σx to cancel the offset: |sum| ≤ 32·126·128 + 64·32·128 <
 * 2^20, times 2k + 1 ≤ 31, 8 sub-blocks: < 2^28. NT tokens share each gathered vector (decode: NT = 1); token t's
 * block b is at xa + b·bstride + t·tstride. IQ2_XXS (mm_tile_iq2q) has the same form with 8 magnitudes per index. */
/* The sign bytes of the 4 sign indices of 16 rows: byte 4r + l = ksigns(bits 7l..7l + 6 of the row's word, lane r
 * of W): the 7 bits and, as bit 7, their parity (the count of negative signs is even), the parity of each nibble
 * looked up by vpshufb. */
MM_INLINE __m512i mm_ksigns4(__m512i W) {
    const __m512i m7 = _mm512_set1_epi32(0x7f), m4 = _mm512_set1_epi8(15);
    const __m512i b = _mm512_or_si512(_mm512_or_si512(_mm512_and_si512(W, m7), _mm512_and_si512(_mm512_slli_epi32(W, 1), _mm512_slli_epi32(m7, 8))),
                                      _mm512_or_si512(_mm512_and_si512(_mm512_slli_epi32(W, 2), _mm512_slli_epi32(m7, 16)),
                                                      _mm512_and_si512(_mm512_slli_epi32(W, 3), _mm512_slli_epi32(m7, 24))));
    const __m512i par = _mm512_broadcast_i32x4(_mm_setr_epi8(0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0));
    return _mm512_or_si512(b, _mm512_xor_si512(_mm512_shuffle_epi8(par, _mm512_and_si512(b, m4)), _mm512_shuffle_epi8(par, _mm512_and_si512(SRL4(b), m4))));
}

MM_INLINE void mm_tile_iq3(const int NT, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride,
                             float *y, size_t ldy, __mmask16 m) {
#define XB(b, t) ((const mm_block_q8_K *)((const char *)xa + (size_t)(b) * bstride + (size_t)(t) * tstride))
    const __m512i lo8 = _mm512_set1_epi32(255), c64 = _mm512_set1_epi8(64), one = _mm512_set1_epi32(1);
    const __m512i nib0 = _mm512_set1_epi32(0x08040201), nib1 = _mm512_set1_epi32((int)0x80402010u);
    const __m512i bbase = _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c));
    __m512 acc[MM_QT];
    TLOOP acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * 1600;
        __m512i isum[MM_QT];
        TLOOP isum[t] = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ib++) {
            const __m512i W = LDV(u + 1088 + 64 * ib), S = mm_ksigns4(W);
            const __m512i sc = _mm512_or_si512(_mm512_srli_epi32(W, 27), one); /* 2k + 1 */
            __m512i ai[MM_QT];
            TLOOP ai[t] = _mm512_set1_epi32(-64 * (XB(s, t)->bsums[2 * ib] + XB(s, t)->bsums[2 * ib + 1]));
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) { /* elements 8l..8l + 7 of the sub-block: sign byte l, two gathers */
                const __m512i Sl = _mm512_shuffle_epi8(S, _mm512_add_epi8(bbase, _mm512_set1_epi8((char)l)));
                const __mmask64 n0 = _mm512_test_epi8_mask(Sl, nib0), n1 = _mm512_test_epi8_mask(Sl, nib1);
                const __m512i V = LDV(u + 64 + 64 * (2 * ib + l / 2)); /* index bytes 2l, 2l + 1: vector 2ib + l/2 */
                const __m512i i0 = _mm512_and_si512(_mm512_srli_epi32(V, 16 * (l % 2)), lo8), i1 = _mm512_and_si512(_mm512_srli_epi32(V, 16 * (l % 2) + 8), lo8);
                const __m512i u0 = _mm512_i32gather_epi32(i0, (const void *)mm_iq3xxs_grid, 4), u1 = _mm512_i32gather_epi32(i1, (const void *)mm_iq3xxs_grid, 4);
                const __m512i w0 = _mm512_mask_sub_epi8(_mm512_add_epi8(u0, c64), n0, c64, u0);
                const __m512i w1 = _mm512_mask_sub_epi8(_mm512_add_epi8(u1, c64), n1, c64, u1);
                TLOOP ai[t] = DP(ai[t], w0, XB(s, t)->qs + 32 * ib + 8 * l);
                TLOOP ai[t] = DP(ai[t], w1, XB(s, t)->qs + 32 * ib + 8 * l + 4);
            }
            TLOOP isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(ai[t], sc));
        }
        const __m512 d = _mm512_mul_ps(LDH(u), _mm512_set1_ps(0.25f));
        TLOOP acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(XB(s, t)->d)), acc[t]);
    }
    TLOOP _mm512_mask_storeu_ps(y + (size_t)t * ldy, m, acc[t]);
#undef XB
}

/* IQ2_XXS, up to 4 tokens: an index's 8 magnitudes are one qword, so a vpgatherdq fetches a whole grid entry for 8
 * rows (half the loads of two vpgatherdd). Rows 0..7 (A) and 8..15 (B) then take 2 lanes each (lane 2q: elements
 * 0..3 of the entry, 2q + 1: 4..7) against the entry's 8 activation bytes broadcast as a qword; each sub-block's
 * offset −64·Σx goes into the even lanes, the scales and d are duplicated into lane pairs, and the pairs are added
 * once at the end. The sign masks of an entry's 8 rows are the 8 ksigns bytes in a row: one qword of S rearranged. */
MM_INLINE void mm_tile_iq2q(const int NT, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride, float *y,
                            size_t ldy, __mmask16 m) {
#define XB(b, t) ((const mm_block_q8_K *)((const char *)xa + (size_t)(b) * bstride + (size_t)(t) * tstride))
    const __m512i lo8 = _mm512_set1_epi32(255), c64 = _mm512_set1_epi8(64), one = _mm512_set1_epi32(1);
    const __m512i tr = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    const __m512i pq = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i dupA = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7), dupB = _mm512_add_epi32(dupA, _mm512_set1_epi32(8));
    __m512 accA[4], accB[4];
    TLOOP accA[t] = accB[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * 1088;
        __m512i isA[4], isB[4];
        TLOOP isA[t] = isB[t] = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ib++) {
            const __m512i W = LDV(u + 576 + 64 * ib), IDX = LDV(u + 64 + 64 * ib);
            uint64_t mk[8]; /* qword 2l + h: the sign bytes of entry l of rows 8h..8h + 7 */
            _mm512_storeu_si512(mk, _mm512_permutexvar_epi32(pq, _mm512_shuffle_epi8(mm_ksigns4(W), tr)));
            const __m512i sc = _mm512_or_si512(_mm512_srli_epi32(W, 27), one);
            __m512i aA[4], aB[4];
            TLOOP aA[t] = aB[t] = _mm512_maskz_set1_epi32(0x5555, -64 * (XB(s, t)->bsums[2 * ib] + XB(s, t)->bsums[2 * ib + 1]));
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) {
                const __m512i I = _mm512_and_si512(_mm512_srli_epi32(IDX, 8 * l), lo8);
                const __m512i gA = _mm512_i32gather_epi64(_mm512_castsi512_si256(I), (const void *)mm_iq2xxs_grid, 8);
                const __m512i gB = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64(I, 1), (const void *)mm_iq2xxs_grid, 8);
                const __m512i wA = _mm512_mask_sub_epi8(_mm512_add_epi8(gA, c64), _cvtu64_mask64(mk[2 * l]), c64, gA);
                const __m512i wB = _mm512_mask_sub_epi8(_mm512_add_epi8(gB, c64), _cvtu64_mask64(mk[2 * l + 1]), c64, gB);
                TLOOP {
                    int64_t x8;
                    memcpy(&x8, XB(s, t)->qs + 32 * ib + 8 * l, 8);
                    const __m512i xq = _mm512_set1_epi64(x8);
                    aA[t] = _mm512_dpbusd_epi32(aA[t], wA, xq), aB[t] = _mm512_dpbusd_epi32(aB[t], wB, xq);
                }
            }
            const __m512i scA = _mm512_permutexvar_epi32(dupA, sc), scB = _mm512_permutexvar_epi32(dupB, sc);
            TLOOP isA[t] = _mm512_add_epi32(isA[t], _mm512_mullo_epi32(aA[t], scA)), isB[t] = _mm512_add_epi32(isB[t], _mm512_mullo_epi32(aB[t], scB));
        }
        const __m512 d = _mm512_mul_ps(LDH(u), _mm512_set1_ps(0.125f));
        const __m512 dA = _mm512_permutexvar_ps(dupA, d), dB = _mm512_permutexvar_ps(dupB, d);
        TLOOP {
            const __m512 dx = _mm512_set1_ps(XB(s, t)->d);
            accA[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isA[t]), _mm512_mul_ps(dA, dx), accA[t]);
            accB[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isB[t]), _mm512_mul_ps(dB, dx), accB[t]);
        }
    }
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), od = _mm512_add_epi32(ev, one);
    TLOOP _mm512_mask_storeu_ps(y + (size_t)t * ldy, m,
                                _mm512_add_ps(_mm512_permutex2var_ps(accA[t], ev, accB[t]), _mm512_permutex2var_ps(accA[t], od, accB[t])));
#undef XB
}

/* IQ2_XXS (iq3 = 0) or IQ3_XXS, NT <= 4 tokens. */
MM_INLINE void mm_tile_iq_xxs(const int iq3, const int NT, const uint8_t *g, int64_t nsb, const void *xa, size_t bstride, size_t tstride,
                              float *y, size_t ldy, __mmask16 m) {
    if (iq3)
        mm_tile_iq3(NT, g, nsb, xa, bstride, tstride, y, ldy, m);
    else
        mm_tile_iq2q(NT, g, nsb, xa, bstride, tstride, y, ldy, m);
}

/* The mm_kernel_set.dot_packed contract: each token streams the group once more (from cache after the first). */
MM_T512 void mm_dot_packed_512(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y,
                               size_t ldy) {
    __mmask16 m = (__mmask16)((1u << nr) - 1);
    if (dt == MM_IQ2_XXS || dt == MM_IQ3_XXS) { /* the tokens 4 at a time share each gathered vector */
        for (int t0 = 0; t0 < nt; t0 += 4) {
            const void *x0 = (const char *)xa + (size_t)t0 * xab;
            float *y0 = y + (size_t)t0 * ldy;
            const int n = nt - t0 < 4 ? nt - t0 : 4;
#define MM_IQC(N) case N: mm_tile_iq_xxs(dt == MM_IQ3_XXS, N, group, K / MM_QK_K, x0, sizeof(mm_block_q8_K), xab, y0, ldy, m); break;
            switch (n) { MM_IQC(1) MM_IQC(2) MM_IQC(3) default: MM_IQC(4) }
#undef MM_IQC
        }
        return;
    }
    for (int t = 0; t < nt; t++) {
        const void *xt = (const char *)xa + (size_t)t * xab;
        __m512 v;
        switch (dt) {
        case MM_Q8_0: v = mm_pdot_q8_0(group, K / MM_QK, xt); break;
        case MM_Q4_0: v = mm_pdot_q4_0(group, K / MM_QK, xt); break;
        case MM_Q4_K: v = mm_pdot_q4_K(group, K / MM_QK_K, xt); break;
        case MM_Q6_K: v = mm_pdot_q6_K(group, K / MM_QK_K, xt); break;
        case MM_Q5_K: v = mm_pdot_q5_K(group, K / MM_QK_K, xt); break;
        case MM_IQ4_XS: v = mm_pdot_iq4_xs(group, K / MM_QK_K, xt); break;
        case MM_Q2_K: v = mm_pdot_q2_K(group, K / MM_QK_K, xt); break;
        case MM_Q3_K: v = mm_pdot_q3_K(group, K / MM_QK_K, xt); break;
        default: v = _mm512_set1_ps(NAN); break;
        }
        _mm512_mask_storeu_ps(y + (size_t)t * ldy, m, v);
    }
}

/* ================================================================ prefill: token tiles
 * NT tokens (a constant after inlining, NT <= MM_QT) × the 16 rows of one group over the whole K: each weight
 * vector is loaded and unpacked once and feeds NT vpdpbusd, one per token with the token's 4 activation bytes
 * broadcast from memory; each token's integer sum of an activation block is converted and scaled once. The
 * activations are token-tiled (mm_pack.h): block b of token t at xa + (b·MM_QT + t)·(block bytes). */
#define XQ0(b, t) ((const mm_block_q8_0x *)((const char *)xa + ((size_t)(b) * MM_QT + (size_t)(t)) * sizeof(mm_block_q8_0x)))
#define XQK(b, t) ((const mm_block_q8_K *)((const char *)xa + ((size_t)(b) * MM_QT + (size_t)(t)) * sizeof(mm_block_q8_K)))

MM_INLINE void mm_tstore(const int NT, const __m512 *acc, float *y, size_t ldy, __mmask16 m) {
    TLOOP _mm512_mask_storeu_ps(y + (size_t)t * ldy, m, acc[t]);
}

/* Q8_0: per block, NT sums started at the tokens' biases (the weights are w + 128), 8 vectors × NT products. */
MM_INLINE void mm_ttile_q8_0(const int NT, const uint8_t *g, int64_t nb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    __m512 acc[MM_QT];
    TLOOP acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = g + (size_t)(b / 2) * 1088, *q = u + 64 + 512 * (b & 1);
        const __m512 dw = LDH(u + 32 * (b & 1));
        __m512i ai[MM_QT];
        TLOOP ai[t] = _mm512_set1_epi32(XQ0(b, t)->bias);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m512i w = LDV(q + 64 * j);
            TLOOP ai[t] = DP(ai[t], w, XQ0(b, t)->qs + 4 * j);
        }
        TLOOP acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t]), _mm512_mul_ps(dw, _mm512_set1_ps(XQ0(b, t)->d)), acc[t]);
    }
    mm_tstore(NT, acc, y, ldy, m);
}

/* Q4_0: low and high nibbles of each vector are elements 4j.. and 16 + 4j.. of the block; biases −8·Σx. */
MM_INLINE void mm_ttile_q4_0(const int NT, const uint8_t *g, int64_t nb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512 acc[MM_QT];
    TLOOP acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = g + (size_t)(b / 2) * 576, *q = u + 64 + 256 * (b & 1);
        const __m512 dw = LDH(u + 32 * (b & 1));
        __m512i ai[MM_QT];
        TLOOP ai[t] = _mm512_set1_epi32(XQ0(b, t)->bias);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m512i v = LDV(q + 64 * j), lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(SRL4(v), m4);
            TLOOP ai[t] = DP(ai[t], lo, XQ0(b, t)->qs + 4 * j);
            TLOOP ai[t] = DP(ai[t], hi, XQ0(b, t)->qs + 16 + 4 * j);
        }
        TLOOP acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t]), _mm512_mul_ps(dw, _mm512_set1_ps(XQ0(b, t)->d)), acc[t]);
    }
    mm_tstore(NT, acc, y, ldy, m);
}

/* sb[t] = f · Σ_k (int16 pairs of p[k]) · (the token's 16-element activation sums 2k, 2k + 1), k < 8, through
 * vpdpwssd: the per-group constant terms (mins, level offsets) of a super-block for NT tokens. */
MM_INLINE void mm_tsums16(const int NT, const __m512i *p, const void *xa, int64_t s, __m512 f, __m512 *sb) {
    TLOOP {
        __m512i ms = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            ms = _mm512_dpwssd_epi32(ms, p[k], _mm512_set1_epi32(*(const int32_t *)(const void *)(XQK(s, t)->bsums + 2 * k)));
        sb[t] = _mm512_mul_ps(_mm512_cvtepi32_ps(ms), f);
    }
}

/* 16 rows' int16 pairs (v, v) per 32-bit lane from 16 bytes (unsigned or signed), for vpdpwssd. */
MM_INLINE __m512i mm_pair_u8(__m128i b) {
    const __m512i v = _mm512_cvtepu8_epi32(b);
    return _mm512_or_si512(v, _mm512_slli_epi32(v, 16));
}

/* Q4_K (q5 = 0) and Q5_K (q5 = 1): per sub-block of 32, NT integer sums of level × activation, scaled by d·sc in
 * f32 into a per-token sum of the super-block that its scale dx multiplies once; the mins Σ m·Σx come from the
 * activation's 16-element sums through vpdpwssd (m duplicated into both int16 halves). */
MM_INLINE void mm_ttile_q45_K(const int q5, const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy,
                              __mmask16 m) {
    const __m512i m4 = _mm512_set1_epi8(15), m6 = _mm512_set1_epi8(63), m30 = _mm512_set1_epi8(0x30);
    __m512 acc[MM_QT];
    TLOOP acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * (q5 ? 2816 : 2304), *qh = q5 ? u + 2304 : NULL;
        const __m512i Z0 = LDV(u + 64), Z1 = LDV(u + 128), Z2 = LDV(u + 192);
        const __m512i SC[2] = {_mm512_and_si512(Z0, m6),
                               _mm512_or_si512(_mm512_and_si512(Z2, m4), _mm512_and_si512(_mm512_srli_epi16(Z0, 2), m30))};
        const __m512i M[2] = {_mm512_and_si512(Z1, m6),
                              _mm512_or_si512(_mm512_and_si512(SRL4(Z2), m4), _mm512_and_si512(_mm512_srli_epi16(Z1, 2), m30))};
        const __m512 d = LDH(u), mdmin = _mm512_sub_ps(_mm512_setzero_ps(), LDH(u + 32));
        __m512 scf[8], sb[MM_QT]; /* sb: the token's sum over this super-block before its scale dx */
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) scf[k] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lane128(SC[k / 4], k % 4))), d);
        {
            __m512i mp[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) mp[k] = mm_pair_u8(lane128(M[k / 4], k % 4));
            mm_tsums16(NT, mp, xa, s, mdmin, sb);
        }
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const int P = k / 2, hb = k % 2;
            const uint8_t *q = u + 256 + 64 * 8 * P;
            __m512i ai[MM_QT];
            TLOOP ai[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                const __m512i v = LDV(q + 64 * j);
                const __m512i w = mm_q5_levels(_mm512_and_si512(hb ? SRL4(v) : v, m4), qh ? qh + 64 * j : NULL, k);
                TLOOP ai[t] = DP(ai[t], w, XQK(s, t)->qs + 64 * P + 32 * hb + 4 * j);
            }
            TLOOP sb[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t]), scf[k], sb[t]);
        }
        TLOOP acc[t] = _mm512_fmadd_ps(sb[t], _mm512_set1_ps(XQK(s, t)->d), acc[t]);
    }
    mm_tstore(NT, acc, y, ldy, m);
}
MM_INLINE void mm_ttile_q4_K(const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    mm_ttile_q45_K(0, NT, g, nsb, xa, y, ldy, m);
}
MM_INLINE void mm_ttile_q5_K(const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    mm_ttile_q45_K(1, NT, g, nsb, xa, y, ldy, m);
}

/* IQ4_XS: per sub-block of 32, NT integer sums of (level + 128) × activation started at −128·Σx (as the decode
 * kernel), scaled by d·(ls − 32) in f32 into the token's super-block sum that dx multiplies once. */
MM_INLINE void mm_ttile_iq4_xs(const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    const __m512i m4 = _mm512_set1_epi8(15), book = mm_iq4_book_u8();
    __m512 acc[MM_QT];
    TLOOP acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * 2176, *q = u + 128;
        const __m512i L = LDV(u + 64), H = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(u + 32)));
        const __m512 d = LDH(u);
        __m512 sb[MM_QT];
        TLOOP sb[t] = _mm512_setzero_ps();
#pragma GCC unroll 8
        for (int ib = 0; ib < 8; ib++) {
            const __m512 scf = _mm512_mul_ps(_mm512_cvtepi32_ps(mm_iq4_xs_sc(L, H, ib)), d);
            __m512i ai[MM_QT];
            TLOOP ai[t] = _mm512_set1_epi32(-128 * (XQK(s, t)->bsums[2 * ib] + XQK(s, t)->bsums[2 * ib + 1]));
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m512i v = LDV(q + 64 * (4 * ib + j));
                const __m512i lo = _mm512_shuffle_epi8(book, _mm512_and_si512(v, m4)), hi = _mm512_shuffle_epi8(book, _mm512_and_si512(SRL4(v), m4));
                TLOOP ai[t] = DP(ai[t], lo, XQK(s, t)->qs + 32 * ib + 4 * j);
                TLOOP ai[t] = DP(ai[t], hi, XQK(s, t)->qs + 32 * ib + 16 + 4 * j);
            }
            TLOOP sb[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t]), scf, sb[t]);
        }
        TLOOP acc[t] = _mm512_fmadd_ps(sb[t], _mm512_set1_ps(XQK(s, t)->d), acc[t]);
    }
    mm_tstore(NT, acc, y, ldy, m);
}

/* Q2_K / Q3_K: per group of 16, NT integer sums of the levels × activation, scaled by d·sc in f32 into the token's
 * super-block sum that dx multiplies once; Σ m·Σx through vpdpwssd on pairs of groups (m_2k, m_2k+1) against the
 * activation's 16-element sums (bsums 2k, 2k+1). */
MM_INLINE void mm_ttile_q23_K(const int q3, const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy,
                              __mmask16 m) {
    const __m512i lo16 = _mm512_set1_epi32(0xffff);
    __m512 acc[MM_QT];
    TLOOP acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * MM_Q23_UNIT(q3), *q = u + 320;
        const __m512 d = LDH(u), mdmin = _mm512_sub_ps(_mm512_setzero_ps(), LDH(q3 ? u : u + 32));
        __m512 sb[MM_QT]; /* the token's sum over this super-block before its scale dx */
        __m512 scf[16];
        {
            __m512i mp[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                __m512i s0, m0, s1, m1;
                mm_q23_scale(q3, u, 2 * k, &s0, &m0);
                mm_q23_scale(q3, u, 2 * k + 1, &s1, &m1);
                scf[2 * k] = _mm512_mul_ps(_mm512_cvtepi32_ps(s0), d), scf[2 * k + 1] = _mm512_mul_ps(_mm512_cvtepi32_ps(s1), d);
                mp[k] = _mm512_or_si512(_mm512_and_si512(m0, lo16), _mm512_slli_epi32(m1, 16));
            }
            mm_tsums16(NT, mp, xa, s, mdmin, sb);
        }
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++) { /* group k = 8h + 2sh + jh: half h, shift 2sh, vectors 8h + 4jh.. */
            const int h = k / 8, sh = (k / 2) % 4, jh = k % 2;
            __m512i ai[MM_QT];
            TLOOP ai[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int j = 4 * jh; j < 4 * jh + 4; j++) {
                const __m512i v = LDV(q + 64 * (8 * h + j)), w = mm_q23_level(q3, v, q3 ? LDV(u + 1344 + 64 * j) : v, h, sh);
                TLOOP ai[t] = DP(ai[t], w, XQK(s, t)->qs + 128 * h + 32 * sh + 4 * j);
            }
            TLOOP sb[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t]), scf[k], sb[t]);
        }
        TLOOP acc[t] = _mm512_fmadd_ps(sb[t], _mm512_set1_ps(XQK(s, t)->d), acc[t]);
    }
    mm_tstore(NT, acc, y, ldy, m);
}
MM_INLINE void mm_ttile_q2_K(const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    mm_ttile_q23_K(0, NT, g, nsb, xa, y, ldy, m);
}
MM_INLINE void mm_ttile_q3_K(const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    mm_ttile_q23_K(1, NT, g, nsb, xa, y, ldy, m);
}

/* Q6_K: per sub-block of 16, NT integer sums of the unsigned levels e + 32 × activation, scaled by d·sc in
 * f32 into a per-token sum of the super-block that dx multiplies once; the offset 32·Σ sc·Σx comes from the
 * activation's 16-element sums through vpdpwssd. */
MM_INLINE void mm_ttile_q6_K(const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30), lo16 = _mm512_set1_epi32(0xffff);
    __m512 acc[MM_QT];
    TLOOP acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *u = g + (size_t)s * 3392;
        const __m512 d = LDH(u), md32 = _mm512_mul_ps(d, _mm512_set1_ps(-32.0f));
        __m512i S[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) S[i] = LDV(u + 64 + 64 * i);
        __m512 scf[16], sb[MM_QT]; /* sb: the token's sum over this super-block before its scale dx */
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++) scf[k] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lane128(S[k / 4], k % 4))), d);
        {
            __m512i sp[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                sp[i] = _mm512_or_si512(_mm512_and_si512(_mm512_cvtepi8_epi32(lane128(S[i / 2], (2 * i) % 4)), lo16),
                                        _mm512_slli_epi32(_mm512_cvtepi8_epi32(lane128(S[i / 2], (2 * i + 1) % 4)), 16));
            mm_tsums16(NT, sp, xa, s, md32, sb);
        }
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++) { /* sub-block k = 8h + 2c + jh: half h, kind c (which nibble / 2 bits), j in 4jh.. */
            const int h = k / 8, c = (k / 2) % 4, jh = k % 2;
            const uint8_t *ql = u + 320 + 64 * 16 * h, *qh = u + 2368 + 64 * 8 * h;
            __m512i ai[MM_QT];
            TLOOP ai[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int j = 4 * jh; j < 4 * jh + 4; j++) {
                const __m512i A = LDV(ql + 64 * (j + 8 * (c & 1))), H = LDV(qh + 64 * j);
                __m512i hb;
                switch (c) {
                case 0: hb = _mm512_slli_epi16(H, 4); break;
                case 1: hb = _mm512_slli_epi16(H, 2); break;
                case 2: hb = H; break;
                default: hb = _mm512_srli_epi16(H, 2); break;
                }
                const __m512i e = _mm512_or_si512(_mm512_and_si512(c < 2 ? A : SRL4(A), m4), _mm512_and_si512(hb, m30));
                TLOOP ai[t] = DP(ai[t], e, XQK(s, t)->qs + 128 * h + 32 * c + 4 * j);
            }
            TLOOP sb[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[t]), scf[k], sb[t]);
        }
        TLOOP acc[t] = _mm512_fmadd_ps(sb[t], _mm512_set1_ps(XQK(s, t)->d), acc[t]);
    }
    mm_tstore(NT, acc, y, ldy, m);
}

/* IQ2_XXS: the tile's tokens in two runs of at most 4 (its kernel holds 6 vectors per token); IQ3_XXS (3 per token)
 * takes them in one, each gathered vector serving all of them. */
MM_INLINE void mm_ttile_iqxxs(const int iq3, const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    const size_t bs = sizeof(mm_block_q8_K);
    if (iq3) {
        mm_tile_iq3(NT, g, nsb, xa, MM_QT * bs, bs, y, ldy, m);
        return;
    }
    mm_tile_iq2q(NT < 4 ? NT : 4, g, nsb, xa, MM_QT * bs, bs, y, ldy, m);
    if (NT > 4) mm_tile_iq2q(NT - 4, g, nsb, (const char *)xa + 4 * bs, MM_QT * bs, bs, y + 4 * ldy, ldy, m);
}
MM_INLINE void mm_ttile_iq2_xxs(const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    mm_ttile_iqxxs(0, NT, g, nsb, xa, y, ldy, m);
}
MM_INLINE void mm_ttile_iq3_xxs(const int NT, const uint8_t *g, int64_t nsb, const void *xa, float *y, size_t ldy, __mmask16 m) {
    mm_ttile_iqxxs(1, NT, g, nsb, xa, y, ldy, m);
}

#define MM_TCASE(F, N) case N: F(N, group, nb, xa, y, ldy, m); break;
#define MM_TSWITCH(F) switch (nt) { MM_TCASE(F, 1) MM_TCASE(F, 2) MM_TCASE(F, 3) MM_TCASE(F, 4) MM_TCASE(F, 5) \
                                    MM_TCASE(F, 6) MM_TCASE(F, 7) MM_TCASE(F, 8) default: break; }
_Static_assert(MM_QT == 8, "MM_TSWITCH lists the tile widths 1..MM_QT");

/* The mm_kernel_set.gemm_packed contract. */
MM_T512 void mm_gemm_packed_512(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy) {
    const __mmask16 m = (__mmask16)((1u << nr) - 1);
    int64_t nb;
    switch (dt) {
    case MM_Q8_0: nb = K / MM_QK; MM_TSWITCH(mm_ttile_q8_0); break;
    case MM_Q4_0: nb = K / MM_QK; MM_TSWITCH(mm_ttile_q4_0); break;
    case MM_Q4_K: nb = K / MM_QK_K; MM_TSWITCH(mm_ttile_q4_K); break;
    case MM_Q6_K: nb = K / MM_QK_K; MM_TSWITCH(mm_ttile_q6_K); break;
    case MM_Q5_K: nb = K / MM_QK_K; MM_TSWITCH(mm_ttile_q5_K); break;
    case MM_IQ4_XS: nb = K / MM_QK_K; MM_TSWITCH(mm_ttile_iq4_xs); break;
    case MM_Q2_K: nb = K / MM_QK_K; MM_TSWITCH(mm_ttile_q2_K); break;
    case MM_Q3_K: nb = K / MM_QK_K; MM_TSWITCH(mm_ttile_q3_K); break;
    case MM_IQ2_XXS: nb = K / MM_QK_K; MM_TSWITCH(mm_ttile_iq2_xxs); break;
    case MM_IQ3_XXS: nb = K / MM_QK_K; MM_TSWITCH(mm_ttile_iq3_xxs); break;
    default:
        for (int t = 0; t < nt; t++) _mm512_mask_storeu_ps(y + (size_t)t * ldy, m, _mm512_set1_ps(NAN));
        break;
    }
}
#endif
