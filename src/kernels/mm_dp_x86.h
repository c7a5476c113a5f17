/* mm_dp_x86.h — the integer dot-product steps of the x86 kernels (mm_pack_x86.c, mm_pack_x86_256.c,
 * mm_attn_int_x86.c). AVX2: one instruction on AVX-VNNI (the VEX vpdpbusd / vpdpwssd, written as asm so no
 * compiler target is needed), two or three on plain AVX2. AVX-512: vpdpbusd / vpdpwssd with the second operand
 * broadcast from memory. x86-64 only. */
#ifndef MM_DP_X86_H
#define MM_DP_X86_H
#include <immintrin.h>
#include <stdint.h>

/* acc + Σ of the four u8·s8 products in each 32-bit lane, x4 = 4 activation bytes in every lane. AVX-VNNI:
 * vpdpbusd; AVX2: pairs through vpmaddubsw (u ≤ 63 here or |products| bounded by the caller, no saturation)
 * and vpmaddwd with ones. */
__attribute__((always_inline, target("avx2,fma,f16c"))) static inline __m256i mm_dp4_256(__m256i acc, __m256i u, __m256i x4,
                                                                                          const int vnni) {
    if (vnni) {
        __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u), "x"(x4));
        return acc;
    }
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x4), _mm256_set1_epi16(1)));
}
/* acc + Σ of the two s16·s16 products in each 32-bit lane (vpdpwssd or vpmaddwd). */
__attribute__((always_inline, target("avx2,fma,f16c"))) static inline __m256i mm_dpw_256(__m256i acc, __m256i a, __m256i b,
                                                                                          const int vnni) {
    if (vnni) {
        __asm__("%{vex%} vpdpwssd %2, %1, %0" : "+x"(acc) : "x"(a), "x"(b));
        return acc;
    }
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}

/* acc + vpdpbusd(u, the 4 bytes at p in every 32-bit lane) and acc + vpdpwssd(a, the 2 int16 at p in every
 * 32-bit lane), the broadcast taken by the instruction's {1to16} memory operand: GCC does not fold
 * _mm512_set1_epi32 of a load into it (one uop more per product), and GCC 12 copies every accumulator of an
 * unrolled loop of _mm512_dpwssd_epi32 into another register and back on each iteration (2 moves per product,
 * measured in the decode attention's values loop); the asm keeps each accumulator in its register. */
__attribute__((always_inline, target("avx512f,avx512vnni"))) static inline __m512i mm_dpbusd_bcst(__m512i acc, __m512i u, const void *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*(const int32_t *)p));
    return acc;
}
__attribute__((always_inline, target("avx512f,avx512vnni"))) static inline __m512i mm_dpwssd_bcst(__m512i acc, __m512i a, const void *p) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(a), "m"(*(const int32_t *)p));
    return acc;
}
#endif
