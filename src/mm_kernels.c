/* mm_kernels.c — matrix products over stored weights: scalar reference and threaded fast path. */
#include "mm_kernels.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>

void mm_tensor_row_f32(const mm_tensor *t, int64_t r, float *out) {
    int64_t n = t->shape[t->ndim - 1];
    const char *row = (const char *)t->data + (size_t)r * mm_row_bytes(t->dtype, n);
    switch (t->dtype) {
    case MM_F32: memcpy(out, row, (size_t)n * sizeof(float)); break;
    case MM_F16:
        for (int64_t i = 0; i < n; i++) out[i] = mm_f16_to_f32(((const uint16_t *)row)[i]);
        break;
    case MM_BF16:
        for (int64_t i = 0; i < n; i++) out[i] = mm_bf16_to_f32(((const uint16_t *)row)[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) out[i] = NAN;
        break;
    }
}

/* Scalar reference: one dequantized row at a time, double accumulation-free plain f32 sum. */
void mm_matmul_ref(float *y, const float *x, const mm_tensor *w, int T) {
    int64_t N = w->shape[0], K = w->shape[1];
    float *row = mm_xmalloc((size_t)K * sizeof(float));
    for (int64_t n = 0; n < N; n++) {
        mm_tensor_row_f32(w, n, row);
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * K;
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += xt[k] * row[k];
            y[(size_t)t * N + n] = s;
        }
    }
    free(row);
}

void mm_matmul(float *y, const float *x, const mm_tensor *w, int T) {
    int64_t N = w->shape[0], K = w->shape[1];
    const int64_t RB = 16; /* rows per work item: a row block is converted once and used for every t */
#pragma omp parallel
    {
        float *rows = mm_xmalloc((size_t)(RB * K) * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (int64_t n0 = 0; n0 < N; n0 += RB) {
            int64_t nb = N - n0 < RB ? N - n0 : RB;
            for (int64_t j = 0; j < nb; j++) mm_tensor_row_f32(w, n0 + j, rows + j * K);
            for (int t = 0; t < T; t++) {
                const float *xt = x + (size_t)t * K;
                for (int64_t j = 0; j < nb; j++) {
                    const float *r = rows + j * K;
                    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    int64_t k = 0;
                    for (; k + 4 <= K; k += 4) {
                        s0 += xt[k] * r[k];
                        s1 += xt[k + 1] * r[k + 1];
                        s2 += xt[k + 2] * r[k + 2];
                        s3 += xt[k + 3] * r[k + 3];
                    }
                    for (; k < K; k++) s0 += xt[k] * r[k];
                    y[(size_t)t * N + n0 + j] = (s0 + s1) + (s2 + s3);
                }
            }
        }
        free(rows);
    }
}

const char *mm_kernels_isa(void) { return "scalar"; }
