/* mm_bench.c — machine ceilings for `minimax bench`: read bandwidth and reference-BLAS GEMM rate. */
#include "tools/mm_bench.h"
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include "base/mm_common.h"
#include "base/mm_pool.h"
#include "kernels/mm_attn.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include "kernels/mm_quant.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

mm_bench_stat mm_bench_summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    mm_bench_stat s = {.min = v[0], .max = v[n - 1]};
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

/* Sum of 64-bit words with eight independent lanes (one SIMD register's worth of adds per step). */
__attribute__((target_clones("avx512f", "avx2", "default")))
static uint64_t sum_words(const uint64_t *p, size_t n) {
    uint64_t acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += p[i + l];
    for (; i < n; i++) acc[0] += p[i];
    return acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
}

/* Where the sums go, so the compiler cannot drop the reads (file scope: a local one that is only written is
 * "set but not used" to clang). */
static volatile uint64_t mm_bench_sink;

mm_bench_stat mm_bench_read_bandwidth(size_t bytes, int reps) {
    const size_t n = bytes / 8;
    uint64_t *buf = mm_xaligned(n * 8);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = i; /* first touch from the threads that will read */
    double *gbs = mm_xmalloc(sizeof(double) * (size_t)(reps + 1));
    for (int r = -1; r < reps; r++) { /* one warm-up pass */
        double t0 = mm_time();
        uint64_t s = 0;
#pragma omp parallel reduction(+ : s)
        {
            size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num(), chunk = n / nt / 8 * 8;
            s += sum_words(buf + id * chunk, id == nt - 1 ? n - id * chunk : chunk);
        }
        double dt = mm_time() - t0;
        mm_bench_sink += s;
        if (r >= 0) gbs[r] = (double)n * 8 / dt / 1e9;
    }
    free(buf);
    mm_bench_stat st = mm_bench_summarize(gbs, reps);
    free(gbs);
    return st;
}

mm_bench_stat mm_bench_blas_sgemm_mnk(int m, int n, int k, int reps) {
    float *a = mm_xaligned(sizeof(float) * (size_t)m * k), *b = mm_xaligned(sizeof(float) * (size_t)n * k);
    float *c = mm_xaligned(sizeof(float) * (size_t)m * n);
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < (size_t)(m > n ? m : n) * k; i++) { /* random data, never zeros */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i < (size_t)m * k) a[i] = (float)(x >> 40) / 16777216.0f - 0.5f;
        if (i < (size_t)n * k) b[i] = (float)((x >> 20) & 0xfffff) / 1048576.0f - 0.5f;
    }
    openblas_set_num_threads(omp_get_max_threads());
    double *g = mm_xmalloc(sizeof(double) * (size_t)(reps + 1));
    for (int r = -1; r < reps; r++) {
        double t0 = mm_time();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        double dt = mm_time() - t0;
        if (r >= 0) g[r] = 2.0 * m * (double)n * k / dt / 1e9;
    }
    free(a), free(b), free(c);
    mm_bench_stat st = mm_bench_summarize(g, reps);
    free(g);
    return st;
}

static float bench_rand(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return (float)((double)(*x >> 11) / 9007199254740992.0) - 0.5f;
}

mm_bench_stat mm_bench_qgemm(int dt, int T, int N, int K, int reps) {
    const mm_dtype t = (mm_dtype)dt;
    uint64_t r = 0x9e3779b97f4a7c15ull;
    float *wf = mm_xaligned(sizeof(float) * (size_t)N * K), *x = mm_xaligned(sizeof(float) * (size_t)T * K);
    float *y = mm_xaligned(sizeof(float) * (size_t)T * N);
    for (size_t i = 0; i < (size_t)N * K; i++) wf[i] = bench_rand(&r);
    for (size_t i = 0; i < (size_t)T * K; i++) x[i] = bench_rand(&r);
    void *wq = mm_xaligned(mm_row_bytes(t, K) * (size_t)N);
    mm_quantize_rows(t, wf, wq, N, K);
    free(wf);
    mm_tensor w = {.dtype = t, .ndim = 2, .shape = {N, K}, .data = wq, .nbytes = mm_row_bytes(t, K) * (size_t)N};
    size_t pb = 0;
    void *pack = mm_kernels_prefer_packed(t) ? mm_pack_tensor(&w, &pb) : NULL;
    double *g = mm_xmalloc(sizeof(double) * (size_t)(reps + 1));
    for (int i = -1; i < reps; i++) {
        double t0 = mm_time();
        mm_matmul(y, x, &w, T);
        double dt_s = mm_time() - t0;
        if (i >= 0) g[i] = 2.0 * T * (double)N * K / dt_s / 1e9;
    }
    mm_bench_stat st = mm_bench_summarize(g, reps);
    free(g), free(pack), free(wq), free(x), free(y);
    return st;
}

typedef struct {
    int G, NKV, D, nq, BQ, depth;
    const float *q;
    float *o;
    const char *kv;
    size_t stride;
} att_bench;

/* Item i: KV head i % NKV, query block i / NKV (the latest first, as the model orders them). */
static void att_bench_body(void *arg, int64_t i0, int64_t i1, int ith) {
    att_bench *a = arg;
    float *scratch = mm_scratch(MM_SCRATCH_ATTN, sizeof(float) * mm_attention_scratch(a->G, a->BQ, a->D));
    (void)ith;
    const int nb = (a->nq + a->BQ - 1) / a->BQ, qs = a->G * a->NKV * a->D;
    for (int64_t i = i0; i < i1; i++) {
        const int kh = (int)(i % a->NKV), b = nb - 1 - (int)(i / a->NKV), t0 = b * a->BQ;
        const int n = a->nq - t0 < a->BQ ? a->nq - t0 : a->BQ;
        const size_t koff = (size_t)kh * a->D * sizeof(float);
        mm_kv_view kv;
        mm_kv_view_flat(&kv, a->kv + koff, a->kv + koff, a->stride, a->stride, MM_F32, MM_F32);
        const size_t qoff = (size_t)t0 * qs + (size_t)kh * a->G * a->D;
        mm_attention(a->q + qoff, (size_t)qs, a->G, n, a->depth + t0, &kv, a->D, 1.0f / sqrtf((float)a->D), a->o + qoff, (size_t)qs,
                     scratch);
    }
}

mm_bench_stat mm_bench_attention(int G, int NKV, int D, int depth, int nq, int reps) {
    const int npos = depth + nq, qs = G * NKV * D;
    const size_t stride = (size_t)NKV * D * sizeof(float);
    uint64_t r = 0x2545f4914f6cdd1dull;
    float *kv = mm_xaligned(stride * (size_t)npos), *q = mm_xaligned(sizeof(float) * (size_t)qs * nq),
          *o = mm_xaligned(sizeof(float) * (size_t)qs * nq);
    for (size_t i = 0; i < stride / sizeof(float) * (size_t)npos; i++) kv[i] = bench_rand(&r);
    for (size_t i = 0; i < (size_t)qs * nq; i++) q[i] = bench_rand(&r);
    att_bench a = {G, NKV, D, nq, G >= MM_ATT_ROWS ? 1 : MM_ATT_ROWS / G, depth, q, o, (const char *)kv, stride};
    const int64_t items = (int64_t)((nq + a.BQ - 1) / a.BQ) * NKV;
    const double flop = 4.0 * D * (double)G * NKV * ((double)nq * depth + (double)nq * (nq + 1) / 2);
    double *g = mm_xmalloc(sizeof(double) * (size_t)(reps + 1));
    for (int i = -1; i < reps; i++) {
        double t0 = mm_time();
        mm_parallel_for(items, 1, att_bench_body, &a);
        double dt = mm_time() - t0;
        if (i >= 0) g[i] = flop / dt / 1e9;
    }
    mm_bench_stat st = mm_bench_summarize(g, reps);
    free(g), free(kv), free(q), free(o);
    return st;
}

mm_bench_stat mm_bench_attention_decode(int G, int NKV, int D, int kt, int vt, int depth, int reps) {
    const int npos = depth > 0 ? depth : 1, GT = G * NKV;
    const size_t khb = mm_kv_head_bytes((mm_dtype)kt, D), vhb = mm_kv_head_bytes((mm_dtype)vt, D);
    const size_t ks = (size_t)NKV * khb, vs = (size_t)NKV * vhb;   /* a position's heads together, as the model's pages */
    uint64_t r = 0x9e3779b97f4a7c15ull;
    char *K = mm_xaligned(ks * (size_t)npos), *V = mm_xaligned(vs * (size_t)npos);
    float *row = mm_xmalloc(sizeof(float) * (size_t)D), *q = mm_xmalloc(sizeof(float) * (size_t)GT * D),
          *o = mm_xmalloc(sizeof(float) * (size_t)GT * D);
    float *scratch = mm_xaligned(sizeof(float) * mm_attention_scratch(GT, 1, D));
    for (int64_t p = 0; p < npos; p++)
        for (int h = 0; h < NKV; h++) {
            for (int d = 0; d < D; d++) row[d] = bench_rand(&r);
            mm_kv_store_row((mm_dtype)kt, K + (size_t)p * ks + (size_t)h * khb, row, D);
            for (int d = 0; d < D; d++) row[d] = bench_rand(&r);
            mm_kv_store_row((mm_dtype)vt, V + (size_t)p * vs + (size_t)h * vhb, row, D);
        }
    for (int i = 0; i < GT * D; i++) q[i] = bench_rand(&r);
    mm_kv_view kv;
    mm_kv_view_flat(&kv, K, V, ks, vs, (mm_dtype)kt, (mm_dtype)vt);
    kv.nkv = NKV, kv.khs = khb, kv.vhs = vhb;
    double *ns = mm_xmalloc(sizeof(double) * (size_t)(reps + 1));
    for (int i = -1; i < reps; i++) {
        const double t0 = mm_time();
        mm_attention(q, (size_t)GT * D, G, 1, npos - 1, &kv, D, 1.0f / sqrtf((float)D), o, (size_t)GT * D, scratch);
        if (i >= 0) ns[i] = (mm_time() - t0) * 1e9 / npos;
    }
    mm_bench_stat st = mm_bench_summarize(ns, reps);
    free(ns), free(K), free(V), free(row), free(q), free(o), free(scratch);
    return st;
}

mm_bench_stat mm_bench_blas_sgemm(int n, int reps) { return mm_bench_blas_sgemm_mnk(n, n, n, reps); }
