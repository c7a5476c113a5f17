/* mm_attn_dense.c — dense attention of one head (see mm_attn_dense.h). Layout in scratch: kᵀ [hd][Lp] and v
 * [Lp][hdp] zero-padded to whole vectors, the block's scaled queries [8][hd] and scores [8][Lp]. Per block of 8
 * queries: scores by 16 (AVX-512) or 8 (AVX2) keys at a time, each key vector loaded once for the 8 queries; a
 * max-subtracted softmax with a vector exp; then 8 output rows by 16/8 dims at a time, each v vector loaded once. */
#include "kernels/mm_attn_dense.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/mm_kernels.h"

enum { QB = 8 };

static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

size_t mm_attn_dense_scratch(int L, int hd) {
    const size_t Lp = (size_t)round_up(L, 16), hdp = (size_t)round_up(hd, 16);
    return (size_t)hd * Lp + Lp * hdp + QB * (size_t)hd + QB * Lp;
}

void mm_attn_dense_ref(const float *q, const float *k, const float *v, int ld, float *o, int ldo, int L, int hd, float scale) {
    float *s = mm_xmalloc(sizeof(float) * (size_t)L);
    for (int i = 0; i < L; i++) {
        float mx = -INFINITY;
        for (int j = 0; j < L; j++) {
            float d = 0;
            for (int c = 0; c < hd; c++) d += q[(size_t)i * ld + c] * k[(size_t)j * ld + c];
            s[j] = d * scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        float sum = 0;
        for (int j = 0; j < L; j++) sum += s[j] = expf(s[j] - mx);
        for (int c = 0; c < hd; c++) {
            float acc = 0;
            for (int j = 0; j < L; j++) acc += s[j] * v[(size_t)j * ld + c];
            o[(size_t)i * ldo + c] = acc / sum;
        }
    }
    free(s);
}

/* Fills kᵀ [hd][Lp] and v [Lp][hdp] from the strided rows, zero padding. */
static void stage(const float *k, const float *v, int ld, int L, int hd, int Lp, int hdp, float *kt, float *vp) {
    memset(kt, 0, sizeof(float) * (size_t)hd * Lp);
    memset(vp, 0, sizeof(float) * (size_t)Lp * hdp);
    for (int j = 0; j < L; j++) {
        for (int c = 0; c < hd; c++) kt[(size_t)c * Lp + j] = k[(size_t)j * ld + c];
        memcpy(vp + (size_t)j * hdp, v + (size_t)j * ld, sizeof(float) * (size_t)hd);
    }
}

/* Block queries [i0, i0 + nq) scaled into qs [QB][hd] (rows past nq zero). */
static void stage_q(const float *q, int ld, int i0, int nq, int hd, float scale, float *qs) {
    for (int r = 0; r < QB; r++)
        for (int c = 0; c < hd; c++) qs[r * hd + c] = r < nq ? q[(size_t)(i0 + r) * ld + c] * scale : 0.0f;
}

/* Scalar fallback with the same blocking (the dispatcher's "scalar" choice). */
static void dense_scalar(const float *q, const float *k, const float *v, int ld, float *o, int ldo, int L, int hd, float scale,
                         float *scratch) {
    (void)scratch;
    mm_attn_dense_ref(q, k, v, ld, o, ldo, L, hd, scale);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "kernels/mm_exp_x86.h"

#define T512 __attribute__((target("avx512f,fma")))
#define T256 __attribute__((target("avx2,fma")))

T512 static void dense_512(const float *q, const float *k, const float *v, int ld, float *o, int ldo, int L, int hd, float scale,
                           float *scratch) {
    const int Lp = round_up(L, 16), hdp = round_up(hd, 16);
    float *kt = scratch, *vp = kt + (size_t)hd * Lp, *qs = vp + (size_t)Lp * hdp, *s = qs + QB * hd;
    stage(k, v, ld, L, hd, Lp, hdp, kt, vp);
    const __mmask16 tail = (__mmask16)((1u << (L - (Lp - 16))) - 1);   /* valid keys of the last vector */
    for (int i0 = 0; i0 < L; i0 += QB) {
        const int nq = L - i0 < QB ? L - i0 : QB;
        stage_q(q, ld, i0, nq, hd, scale, qs);
        for (int j0 = 0; j0 < Lp; j0 += 16) {
            __m512 acc[QB];
            for (int r = 0; r < QB; r++) acc[r] = _mm512_setzero_ps();
            for (int c = 0; c < hd; c++) {
                const __m512 kv = _mm512_loadu_ps(kt + (size_t)c * Lp + j0);
                for (int r = 0; r < QB; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(qs[r * hd + c]), kv, acc[r]);
            }
            for (int r = 0; r < QB; r++) _mm512_storeu_ps(s + (size_t)r * Lp + j0, acc[r]);
        }
        for (int r = 0; r < nq; r++) {   /* softmax over the L valid keys; padded keys get weight 0 */
            float *row = s + (size_t)r * Lp;
            __m512 mx = _mm512_set1_ps(-INFINITY);
            for (int j0 = 0; j0 < Lp; j0 += 16)
                mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), j0 + 16 < Lp ? 0xffff : tail, row + j0));
            const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
            __m512 sum = _mm512_setzero_ps();
            for (int j0 = 0; j0 < Lp; j0 += 16) {
                __m512 e = _mm512_maskz_mov_ps(j0 + 16 < Lp ? 0xffff : tail, mm_exp_512(_mm512_sub_ps(_mm512_loadu_ps(row + j0), m)));
                _mm512_storeu_ps(row + j0, e);
                sum = _mm512_add_ps(sum, e);
            }
            const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
            for (int j0 = 0; j0 < Lp; j0 += 16) _mm512_storeu_ps(row + j0, _mm512_mul_ps(_mm512_loadu_ps(row + j0), inv));
        }
        for (int d0 = 0; d0 < hdp; d0 += 16) {
            __m512 acc[QB];
            for (int r = 0; r < QB; r++) acc[r] = _mm512_setzero_ps();
            for (int j = 0; j < L; j++) {
                const __m512 vv = _mm512_loadu_ps(vp + (size_t)j * hdp + d0);
                for (int r = 0; r < QB; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(s[(size_t)r * Lp + j]), vv, acc[r]);
            }
            const __mmask16 dm = (__mmask16)(hd - d0 >= 16 ? 0xffff : (1u << (hd - d0)) - 1);
            for (int r = 0; r < nq; r++) _mm512_mask_storeu_ps(o + (size_t)(i0 + r) * ldo + d0, dm, acc[r]);
        }
    }
}

T256 static float hsum_256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
T256 static float hmax_256(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

T256 static void dense_256(const float *q, const float *k, const float *v, int ld, float *o, int ldo, int L, int hd, float scale,
                           float *scratch) {
    const int Lp = round_up(L, 16), hdp = round_up(hd, 16);
    float *kt = scratch, *vp = kt + (size_t)hd * Lp, *qs = vp + (size_t)Lp * hdp, *s = qs + QB * hd;
    stage(k, v, ld, L, hd, Lp, hdp, kt, vp);
    for (int i0 = 0; i0 < L; i0 += QB) {
        const int nq = L - i0 < QB ? L - i0 : QB;
        stage_q(q, ld, i0, nq, hd, scale, qs);
        for (int j0 = 0; j0 < Lp; j0 += 8) {
            __m256 acc[QB];
            for (int r = 0; r < QB; r++) acc[r] = _mm256_setzero_ps();
            for (int c = 0; c < hd; c++) {
                const __m256 kv = _mm256_loadu_ps(kt + (size_t)c * Lp + j0);
                for (int r = 0; r < QB; r++) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(qs + r * hd + c), kv, acc[r]);
            }
            for (int r = 0; r < QB; r++) _mm256_storeu_ps(s + (size_t)r * Lp + j0, acc[r]);
        }
        for (int r = 0; r < nq; r++) {
            float *row = s + (size_t)r * Lp;
            for (int j = L; j < Lp; j++) row[j] = -INFINITY;   /* padded keys: weight 0 after the exp */
            __m256 mx = _mm256_set1_ps(-INFINITY);
            for (int j0 = 0; j0 < Lp; j0 += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(row + j0));
            const __m256 m = _mm256_set1_ps(hmax_256(mx));
            __m256 sum = _mm256_setzero_ps();
            for (int j0 = 0; j0 < Lp; j0 += 8) {
                __m256 x = _mm256_sub_ps(_mm256_loadu_ps(row + j0), m);
                __m256 e = _mm256_and_ps(mm_exp_256(x), _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
                _mm256_storeu_ps(row + j0, e);
                sum = _mm256_add_ps(sum, e);
            }
            const __m256 inv = _mm256_set1_ps(1.0f / hsum_256(sum));
            for (int j0 = 0; j0 < Lp; j0 += 8) _mm256_storeu_ps(row + j0, _mm256_mul_ps(_mm256_loadu_ps(row + j0), inv));
        }
        for (int d0 = 0; d0 < hdp; d0 += 8) {
            __m256 acc[QB];
            for (int r = 0; r < QB; r++) acc[r] = _mm256_setzero_ps();
            for (int j = 0; j < L; j++) {
                const __m256 vv = _mm256_loadu_ps(vp + (size_t)j * hdp + d0);
                for (int r = 0; r < QB; r++) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(s + (size_t)r * Lp + j), vv, acc[r]);
            }
            float tmp[8];
            for (int r = 0; r < nq; r++) {
                _mm256_storeu_ps(tmp, acc[r]);
                for (int c = 0; c < 8 && d0 + c < hd; c++) o[(size_t)(i0 + r) * ldo + d0 + c] = tmp[c];
            }
        }
    }
}
#endif

void mm_attn_dense(const float *q, const float *k, const float *v, int ld, float *o, int ldo, int L, int hd, float scale,
                   float *scratch) {
    if (L <= 0 || hd <= 0) return;
#if defined(__x86_64__) && defined(__GNUC__)
    const char *isa = mm_kernels_isa();
    if (!strcmp(isa, "avx512")) return dense_512(q, k, v, ld, o, ldo, L, hd, scale, scratch);
    if (!strcmp(isa, "avx2") || !strcmp(isa, "avxvnni")) return dense_256(q, k, v, ld, o, ldo, L, hd, scale, scratch);
#endif
    dense_scalar(q, k, v, ld, o, ldo, L, hd, scale, scratch);
}
