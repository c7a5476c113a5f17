/* mm_small.c — the scalar definitions of the f32 primitives attention and lightning attention are built from
 * (mm_kernel_set.sgemm4 / dots / expsum): plain loops, the reference the SIMD versions are tested against. */
#include <math.h>
#include "kernels/mm_kernels.h"

void mm_sgemm4_scalar(int mr, int nv, int kn, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                      size_t ldc, int acc) {
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < 16 * nv; j++) {
            float s = acc ? c[(size_t)r * ldc + j] : 0.0f;
            for (int k = 0; k < kn; k++) s += a[(size_t)r * ars + (size_t)k * aks] * b[(size_t)k * ldb + j];
            c[(size_t)r * ldc + j] = s;
        }
}

void mm_softmax_cols_scalar(float *s, int nk, int R, const int *lim, float *m, float *l, float *corr) {
    for (int r = 0; r < R; r++) {
        const int n = lim ? (lim[r] < nk ? lim[r] : nk) : nk;
        float mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j < n; j++) mx = s[(size_t)j * R + r] > mx ? s[(size_t)j * R + r] : mx;
        const float mn = mx > m[r] ? mx : m[r];
        corr[r] = mn == -INFINITY ? 1.0f : expf(m[r] - mn);
        for (int j = 0; j < nk; j++) {
            float *e = &s[(size_t)j * R + r];
            *e = j < n ? expf(*e - mn) : 0.0f;
            sum += *e;
        }
        l[r] = l[r] * corr[r] + sum;
        m[r] = mn;
    }
}

void mm_dots_scalar(int G, int nk, int D, const float *q, size_t ldq, const float *k, size_t ldk, float *s, size_t lds) {
    for (int g = 0; g < G; g++)
        for (int j = 0; j < nk; j++) {
            float acc = 0.0f;
            for (int d = 0; d < D; d++) acc += q[(size_t)g * ldq + d] * k[(size_t)j * ldk + d];
            s[(size_t)g * lds + j] = acc;
        }
}

float mm_expsum_scalar(float *x, int n, float m) {
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

void mm_silu_scalar(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void mm_sigmoid_scalar(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}
