/* mm_ops.c — element-wise and row-wise ops: plain loops the compiler vectorises, the activations through
 * the kernel set's vector exponential, rows of a chunk spread over the compute pool. */
#include "kernels/mm_ops.h"
#include <math.h>
#include "base/mm_pool.h"
#include "kernels/mm_kernels.h"

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
