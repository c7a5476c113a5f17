/* mm_exp_x86.h — the vector e^x of the x86 kernels (softmax sums, activations, dense attention), AVX-512 and AVX2,
 * inlined into callers compiled for those instruction sets (each caller's target includes the one named here).
 * Accuracy: mm_exp_max_rel_err (mm_kernels.h), tested against expf in test_kernels. */
#ifndef MM_EXP_X86_H
#define MM_EXP_X86_H
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MM_EXP_INL(isa) __attribute__((always_inline, target(isa))) static inline

/* e^x by Cody–Waite reduction: n = round(x·log2 e), r = x − n·ln 2 (in two parts, |r| <= ln 2 / 2), e^r by
 * its degree-6 Taylor polynomial (truncation error < 1.3e-7 relative), times 2^n. */
#define MM_EXP_C(name, v) static const float name = v
MM_EXP_C(mm_log2e, 1.44269504088896341f);
MM_EXP_C(mm_ln2_hi, 0.693359375f);
MM_EXP_C(mm_ln2_lo, -2.12194440e-4f);

/* x clamped at −104 (below it e^x is under half the smallest denormal: 0, also for −inf); vscalefps applies
 * 2^n with gradual underflow. */
MM_EXP_INL("avx512f,fma") __m512 mm_exp_512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.7f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(mm_log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(mm_ln2_hi), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(mm_ln2_lo), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* As mm_exp_512 with 2^n built in the exponent field: arguments below −87.33 (n < −126) give 0. */
MM_EXP_INL("avx2,fma") __m256 mm_exp_256(__m256 x) {
    const __m256 zero = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33f), _CMP_LT_OQ);
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.33f));
    x = _mm256_min_ps(x, _mm256_set1_ps(88.7f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(mm_log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(mm_ln2_hi), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(mm_ln2_lo), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(zero, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

#endif
#endif
