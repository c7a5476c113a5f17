/* mm_small_x86.c — AVX-512 and AVX2 versions of the f32 primitives of mm_small.c (sgemm4, dots, expsum),
 * each compiled for its instruction set with a target attribute. Nothing on other architectures. */
#include <math.h>
#include "kernels/mm_kernels.h"
#include "kernels/mm_exp_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MM_T512 __attribute__((target("avx512f,avx512dq,avx2,fma")))
#define MM_T256 __attribute__((target("avx2,fma")))
#define MM_INL512 __attribute__((always_inline)) MM_T512 static inline
#define MM_INL256 __attribute__((always_inline)) MM_T256 static inline

/* ================================================================ AVX-512 */
MM_T512 float mm_expsum_512(float *x, int n, float m) {
    const __m512 mv = _mm512_set1_ps(m);
    __m512 s = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = mm_exp_512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(x + i, e);
        s = _mm512_add_ps(s, e);
    }
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = mm_exp_512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mv));
        _mm512_mask_storeu_ps(x + i, k, e);
        s = _mm512_add_ps(s, _mm512_maskz_mov_ps(k, e));
    }
    return _mm512_reduce_add_ps(s);
}

/* silu (sig = 0): x / (1 + e^−x); sigmoid (sig = 1): 1 / (1 + e^−x). */
MM_INL512 __m512 mm_act_512(__m512 x, const int sig) {
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), mm_exp_512(_mm512_sub_ps(_mm512_setzero_ps(), x)));
    return _mm512_div_ps(sig ? _mm512_set1_ps(1.0f) : x, d);
}
MM_INL512 void mm_act_loop_512(float *x, int64_t n, const int sig) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, mm_act_512(_mm512_loadu_ps(x + i), sig));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, k, mm_act_512(_mm512_maskz_loadu_ps(k, x + i), sig));
    }
}
MM_T512 void mm_silu_512(float *x, int64_t n) { mm_act_loop_512(x, n, 0); }
MM_T512 void mm_sigmoid_512(float *x, int64_t n) { mm_act_loop_512(x, n, 1); }

/* NV (a constant after inlining) vectors of 16 columns × 4 rows; rows past mr repeat row 0 and are not stored. */
MM_INL512 void mm_sg4_512(const int NV, int mr, int kn, const float *a, size_t ars, size_t aks, const float *b, size_t ldb,
                          float *c, size_t ldc, int acc) {
    const float *ar[4];
    __m512 C[4][4];
    for (int r = 0; r < 4; r++) {
        ar[r] = a + (size_t)(r < mr ? r : 0) * ars;
        for (int v = 0; v < NV; v++) C[r][v] = acc && r < mr ? _mm512_loadu_ps(c + (size_t)r * ldc + 16 * v) : _mm512_setzero_ps();
    }
    for (int k = 0; k < kn; k++) {
        const float *bk = b + (size_t)k * ldb;
        __m512 B[4];
        for (int v = 0; v < NV; v++) B[v] = _mm512_loadu_ps(bk + 16 * v);
        for (int r = 0; r < 4; r++) {
            const __m512 A = _mm512_set1_ps(ar[r][(size_t)k * aks]);
            for (int v = 0; v < NV; v++) C[r][v] = _mm512_fmadd_ps(A, B[v], C[r][v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(c + (size_t)r * ldc + 16 * v, C[r][v]);
}

MM_T512 void mm_sgemm4_512(int mr, int nv, int kn, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                           size_t ldc, int acc) {
    switch (nv) {
    case 1: mm_sg4_512(1, mr, kn, a, ars, aks, b, ldb, c, ldc, acc); break;
    case 2: mm_sg4_512(2, mr, kn, a, ars, aks, b, ldb, c, ldc, acc); break;
    case 3: mm_sg4_512(3, mr, kn, a, ars, aks, b, ldb, c, ldc, acc); break;
    default: mm_sg4_512(4, mr, kn, a, ars, aks, b, ldb, c, ldc, acc); break;
    }
}

/* 16 columns at a time: the visible maximum down the rows, then the exponentials and their sum. */
MM_T512 void mm_softmax_cols_512(float *s, int nk, int R, const int *lim, float *m, float *l, float *corr) {
    for (int c0 = 0; c0 < R; c0 += 16) {
        const __m512i lv = lim ? _mm512_min_epi32(_mm512_loadu_si512(lim + c0), _mm512_set1_epi32(nk)) : _mm512_set1_epi32(nk);
        const __m512 mo = _mm512_loadu_ps(m + c0);
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int j = 0; j < nk; j++) {
            const __mmask16 vis = _mm512_cmpgt_epi32_mask(lv, _mm512_set1_epi32(j));
            mx = _mm512_mask_max_ps(mx, vis, mx, _mm512_loadu_ps(s + (size_t)j * R + c0));
        }
        const __m512 mn = _mm512_max_ps(mx, mo);
        const __mmask16 none = _mm512_cmp_ps_mask(mn, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ);
        const __m512 cr = _mm512_mask_blend_ps(none, mm_exp_512(_mm512_sub_ps(mo, mn)), _mm512_set1_ps(1.0f));
        __m512 sum = _mm512_setzero_ps();
        for (int j = 0; j < nk; j++) {
            const __mmask16 vis = _mm512_cmpgt_epi32_mask(lv, _mm512_set1_epi32(j));
            float *sj = s + (size_t)j * R + c0;
            const __m512 e = _mm512_maskz_mov_ps(vis, mm_exp_512(_mm512_sub_ps(_mm512_loadu_ps(sj), mn)));
            _mm512_storeu_ps(sj, e);
            sum = _mm512_add_ps(sum, e);
        }
        _mm512_storeu_ps(l + c0, _mm512_fmadd_ps(_mm512_loadu_ps(l + c0), cr, sum));
        _mm512_storeu_ps(m + c0, mn);
        _mm512_storeu_ps(corr + c0, cr);
    }
}

MM_T512 void mm_dots_512(int G, int nk, int D, const float *q, size_t ldq, const float *k, size_t ldk, float *s, size_t lds) {
    for (int j = 0; j < nk; j++) {
        const float *kj = k + (size_t)j * ldk;
        for (int g = 0; g < G; g++) {
            const float *qg = q + (size_t)g * ldq;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0;
            int d = 0;
            for (; d + 32 <= D; d += 32) {
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(qg + d), _mm512_loadu_ps(kj + d), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(qg + d + 16), _mm512_loadu_ps(kj + d + 16), a1);
            }
            if (d < D) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(qg + d), _mm512_loadu_ps(kj + d), a0);
            s[(size_t)g * lds + j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        }
    }
}

/* ================================================================ AVX2 */
MM_INL256 float mm_hsum_256(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

MM_T256 float mm_expsum_256(float *x, int n, float m) {
    const __m256 mv = _mm256_set1_ps(m);
    __m256 s = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = mm_exp_256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        s = _mm256_add_ps(s, e);
    }
    float sum = mm_hsum_256(s);
    if (i < n) {
        float t[8] = {0};
        memcpy(t, x + i, sizeof(float) * (size_t)(n - i));
        __m256 e = mm_exp_256(_mm256_sub_ps(_mm256_loadu_ps(t), mv));
        _mm256_storeu_ps(t, e);
        for (int l = 0; l < n - i; l++) sum += t[l];
        memcpy(x + i, t, sizeof(float) * (size_t)(n - i));
    }
    return sum;
}

MM_INL256 __m256 mm_act_256(__m256 x, const int sig) {
    const __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), mm_exp_256(_mm256_sub_ps(_mm256_setzero_ps(), x)));
    return _mm256_div_ps(sig ? _mm256_set1_ps(1.0f) : x, d);
}
MM_INL256 void mm_act_loop_256(float *x, int64_t n, const int sig) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, mm_act_256(_mm256_loadu_ps(x + i), sig));
    if (i < n) {
        float t[8] = {0};
        memcpy(t, x + i, sizeof(float) * (size_t)(n - i));
        _mm256_storeu_ps(t, mm_act_256(_mm256_loadu_ps(t), sig));
        memcpy(x + i, t, sizeof(float) * (size_t)(n - i));
    }
}
MM_T256 void mm_silu_256(float *x, int64_t n) { mm_act_loop_256(x, n, 0); }
MM_T256 void mm_sigmoid_256(float *x, int64_t n) { mm_act_loop_256(x, n, 1); }

/* 4 rows × 16 columns (two ymm) per pass over k; rows past mr repeat row 0 and are not stored. */
MM_T256 void mm_sgemm4_256(int mr, int nv, int kn, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                           size_t ldc, int acc) {
    const float *ar[4];
    for (int r = 0; r < 4; r++) ar[r] = a + (size_t)(r < mr ? r : 0) * ars;
    for (int v = 0; v < nv; v++) {
        __m256 C[4][2];
        for (int r = 0; r < 4; r++)
            for (int h = 0; h < 2; h++)
                C[r][h] = acc && r < mr ? _mm256_loadu_ps(c + (size_t)r * ldc + 16 * v + 8 * h) : _mm256_setzero_ps();
        for (int k = 0; k < kn; k++) {
            const float *bk = b + (size_t)k * ldb + 16 * v;
            const __m256 B0 = _mm256_loadu_ps(bk), B1 = _mm256_loadu_ps(bk + 8);
            for (int r = 0; r < 4; r++) {
                const __m256 A = _mm256_broadcast_ss(ar[r] + (size_t)k * aks);
                C[r][0] = _mm256_fmadd_ps(A, B0, C[r][0]);
                C[r][1] = _mm256_fmadd_ps(A, B1, C[r][1]);
            }
        }
        for (int r = 0; r < mr; r++)
            for (int h = 0; h < 2; h++) _mm256_storeu_ps(c + (size_t)r * ldc + 16 * v + 8 * h, C[r][h]);
    }
}

MM_T256 void mm_softmax_cols_256(float *s, int nk, int R, const int *lim, float *m, float *l, float *corr) {
    for (int c0 = 0; c0 < R; c0 += 8) {
        const __m256i lv = lim ? _mm256_min_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(lim + c0)), _mm256_set1_epi32(nk))
                               : _mm256_set1_epi32(nk);
        const __m256 mo = _mm256_loadu_ps(m + c0), ninf = _mm256_set1_ps(-INFINITY);
        __m256 mx = ninf;
        for (int j = 0; j < nk; j++) {
            const __m256 vis = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lv, _mm256_set1_epi32(j)));
            mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, _mm256_loadu_ps(s + (size_t)j * R + c0), vis));
        }
        const __m256 mn = _mm256_max_ps(mx, mo);
        const __m256 none = _mm256_cmp_ps(mn, ninf, _CMP_EQ_OQ);
        const __m256 cr = _mm256_blendv_ps(mm_exp_256(_mm256_sub_ps(mo, mn)), _mm256_set1_ps(1.0f), none);
        __m256 sum = _mm256_setzero_ps();
        for (int j = 0; j < nk; j++) {
            const __m256 vis = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lv, _mm256_set1_epi32(j)));
            float *sj = s + (size_t)j * R + c0;
            const __m256 e = _mm256_and_ps(vis, mm_exp_256(_mm256_sub_ps(_mm256_loadu_ps(sj), mn)));
            _mm256_storeu_ps(sj, e);
            sum = _mm256_add_ps(sum, e);
        }
        _mm256_storeu_ps(l + c0, _mm256_fmadd_ps(_mm256_loadu_ps(l + c0), cr, sum));
        _mm256_storeu_ps(m + c0, mn);
        _mm256_storeu_ps(corr + c0, cr);
    }
}

MM_T256 void mm_dots_256(int G, int nk, int D, const float *q, size_t ldq, const float *k, size_t ldk, float *s, size_t lds) {
    for (int j = 0; j < nk; j++) {
        const float *kj = k + (size_t)j * ldk;
        for (int g = 0; g < G; g++) {
            const float *qg = q + (size_t)g * ldq;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            for (int d = 0; d < D; d += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + d), _mm256_loadu_ps(kj + d), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qg + d + 8), _mm256_loadu_ps(kj + d + 8), a1);
            }
            s[(size_t)g * lds + j] = mm_hsum_256(_mm256_add_ps(a0, a1));
        }
    }
}
#endif
