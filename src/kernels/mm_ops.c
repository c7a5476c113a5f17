/* mm_ops.c — element-wise and row-wise ops: plain loops the compiler vectorises, the activations through
 * the kernel set's vector exponential, rows of a chunk spread over the compute pool. */
#include "kernels/mm_ops.h"
#include <math.h>
#include "base/mm_pool.h"
#include "kernels/mm_kernels.h"
#include <stdint.h>
#include <string.h>

typedef struct {
    float *y;
    const float *x, *w;
    int n;
    float eps;
} norm_args;

static void rmsnorm_row(float *yt, const float *xt, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)xt[i] * xt[i];
    float r = (float)(1.0 / sqrt(ss / n + (double)eps));
    for (int i = 0; i < n; i++) yt[i] = w[i] * (xt[i] * r);
}

static void rmsnorm_rows(void *arg, int64_t t0, int64_t t1, int ith) {
    const norm_args *a = arg;
    (void)ith;
    for (int64_t t = t0; t < t1; t++) rmsnorm_row(a->y + t * a->n, a->x + t * a->n, a->w, a->n, a->eps);
}

void mm_rmsnorm(float *y, const float *x, const float *w, int T, int n, float eps) {
    norm_args a = {y, x, w, n, eps};
    mm_parallel_for(T, T > 4 ? 4 : T, rmsnorm_rows, &a);
}

void mm_silu(float *x, int64_t n) { mm_kernels_get()->silu(x, n); }

void mm_sigmoid(float *x, int64_t n) { mm_kernels_get()->sigmoid(x, n); }

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

typedef struct {
    float *x, *h;
    const float *r, *d, *w;
    float a, b, eps;
    int n;
} resnorm_args;

static void resnorm_rows(void *arg, int64_t t0, int64_t t1, int ith) {
    const resnorm_args *p = arg;
    (void)ith;
    for (int64_t t = t0; t < t1; t++) {
        float *xt = p->x + t * p->n;
        const float *rt = p->r + t * p->n, *dt = p->d + t * p->n;
        for (int i = 0; i < p->n; i++) xt[i] = p->a * rt[i] + p->b * dt[i];
        if (p->w) rmsnorm_row(p->h + t * p->n, xt, p->w, p->n, p->eps);
    }
}

void mm_residual_rmsnorm(float *x, float a, const float *r, float b, const float *d, float *h, const float *w, int T, int n,
                         float eps) {
    resnorm_args p = {x, h, r, d, w, a, b, eps, n};
    mm_parallel_for(T, T > 4 ? 4 : T, resnorm_rows, &p);
}

/* ---------------------------------------------------------------- vision tower ops (LayerNorm, bias, GELU) */

typedef struct {
    float *y;
    const float *x, *w, *b;
    int n;
    float eps;
} layernorm_args;

static void layernorm_rows(void *arg, int64_t t0, int64_t t1, int ith) {
    const layernorm_args *a = arg;
    (void)ith;
    for (int64_t t = t0; t < t1; t++) {
        const float *xt = a->x + t * a->n;
        float *yt = a->y + t * a->n;
        const int n = a->n;
        double s = 0, ss = 0;
        for (int i = 0; i < n; i++) s += xt[i];
        const double mean = s / n;
        for (int i = 0; i < n; i++) ss += (xt[i] - mean) * (xt[i] - mean);
        const float m = (float)mean, r = (float)(1.0 / sqrt(ss / n + (double)a->eps));
        for (int i = 0; i < n; i++) yt[i] = (xt[i] - m) * r * a->w[i] + a->b[i];
    }
}

void mm_layernorm(float *y, const float *x, const float *w, const float *b, int T, int n, float eps) {
    layernorm_args a = {y, x, w, b, n, eps};
    mm_parallel_for(T, T > 4 ? 4 : T, layernorm_rows, &a);
}

typedef struct {
    float *y;
    const float *b;
    int n;
} add_rows_args;

static void add_rows(void *arg, int64_t t0, int64_t t1, int ith) {
    const add_rows_args *a = arg;
    (void)ith;
    for (int64_t t = t0; t < t1; t++) {
        float *yt = a->y + t * a->n;
        for (int i = 0; i < a->n; i++) yt[i] += a->b[i];
    }
}

void mm_add_rows(float *y, const float *b, int T, int n) {
    add_rows_args a = {y, b, n};
    const int64_t chunk = 16384 / (n > 0 ? n : 1) + 1; /* ~16k elements per hand-out */
    mm_parallel_for(T, chunk, add_rows, &a);
}

void mm_gelu_erf_ref(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

/* e^v for -87 <= v <= 0: v = k·ln2 + r, |r| <= ln2/2, e^r by a degree-6 Taylor polynomial (relative error < 2e-7
 * there), 2^k assembled in the exponent bits. Branch-free so that the loop below vectorizes. */
static inline float exp_neg(float v) {
    float k = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* round to nearest: the 1.5·2^23 trick */
    float r = (v - k * 0.693145751953125f) - k * 1.42860682030941723212e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

/* erf(z) = sign(z)·(1 − t·poly(t)·e^{−z²}), t = 1/(1 + p|z|): Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
 * |z| is capped at 9 (erf = 1 in float beyond) and the sign is put back with bit operations: no float compare,
 * which GCC would not if-convert under the default -ftrapping-math. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void gelu_span(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i], z = v * 0.70710678118654752f;
        uint32_t zb, ab, eb;
        memcpy(&zb, &z, 4);
        ab = zb & 0x7fffffffu;
        ab = ab < 0x41100000u ? ab : 0x41100000u;   /* |z| <= 9.0f, compared as bits (valid for non-negative floats) */
        float a;
        memcpy(&a, &ab, 4);
        const float t = 1.0f / (1.0f + 0.3275911f * a);
        const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
        float e = 1.0f - poly * exp_neg(-a * a);
        memcpy(&eb, &e, 4);
        eb |= zb & 0x80000000u;
        memcpy(&e, &eb, 4);
        x[i] = 0.5f * v * (1.0f + e);
    }
}

static void gelu_erf_chunks(void *arg, int64_t i0, int64_t i1, int ith) {
    (void)ith;
    gelu_span((float *)arg + i0, i1 - i0);
}

void mm_gelu_erf(float *x, int64_t n) { mm_parallel_for(n, 1 << 14, gelu_erf_chunks, x); }

static void gelu_quick_chunks(void *arg, int64_t i0, int64_t i1, int ith) {
    float *x = arg;
    (void)ith;
    for (int64_t i = i0; i < i1; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void mm_gelu_quick(float *x, int64_t n) { mm_parallel_for(n, 1 << 16, gelu_quick_chunks, x); }
