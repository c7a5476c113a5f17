/* mm_ops.c — element-wise and row-wise ops; plain loops the compiler vectorises. */
#include "kernels/mm_ops.h"
#include <math.h>

void mm_rmsnorm(float *y, const float *x, const float *w, int T, int n, float eps) {
#pragma omp parallel for if (T > 4)
    for (int t = 0; t < T; t++) {
        const float *xt = x + (int64_t)t * n;
        float *yt = y + (int64_t)t * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xt[i] * xt[i];
        float r = (float)(1.0 / sqrt(ss / n + (double)eps));
        for (int i = 0; i < n; i++) yt[i] = w[i] * (xt[i] * r);
    }
}

void mm_silu(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void mm_sigmoid(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void mm_rope(float *x, int rot, const float *inv_freq, int64_t pos) {
    int half = rot / 2;
    float p = (float)pos;
    for (int d = 0; d < half; d++) {
        float ang = p * inv_freq[d];
        float c = cosf(ang), s = sinf(ang);
        float a = x[d], b = x[d + half];
        x[d] = a * c - b * s;
        x[d + half] = b * c + a * s;
    }
}

void mm_axpby(float *y, float a, const float *r, float b, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a * r[i] + b * x[i];
}

void mm_softmax(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}
