/* mm_dp_x86.h — the integer dot-product steps of the AVX2 kernels (mm_pack_x86_256.c, mm_attn_int_x86.c), one
 * instruction on AVX-VNNI (the VEX vpdpbusd / vpdpwssd, written as asm so no compiler target is needed), two or
 * three on plain AVX2. x86-64 only. */
#ifndef MM_DP_X86_H
#define MM_DP_X86_H
#include <immintrin.h>

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
#endif
