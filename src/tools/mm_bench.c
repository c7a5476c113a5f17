/* mm_bench.c — machine ceilings for `minimax bench`: read bandwidth and reference-BLAS GEMM rate. */
#include "tools/mm_bench.h"
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include "base/mm_common.h"

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

mm_bench_stat mm_bench_blas_sgemm(int n, int reps) {
    float *a = mm_xaligned(sizeof(float) * (size_t)n * n), *b = mm_xaligned(sizeof(float) * (size_t)n * n);
    float *c = mm_xaligned(sizeof(float) * (size_t)n * n);
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < (size_t)n * n; i++) { /* random data, never zeros */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        a[i] = (float)(x >> 40) / 16777216.0f - 0.5f;
        b[i] = (float)((x >> 20) & 0xfffff) / 1048576.0f - 0.5f;
    }
    openblas_set_num_threads(omp_get_max_threads());
    double *g = mm_xmalloc(sizeof(double) * (size_t)(reps + 1));
    for (int r = -1; r < reps; r++) {
        double t0 = mm_time();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = mm_time() - t0;
        if (r >= 0) g[r] = 2.0 * n * (double)n * n / dt / 1e9;
    }
    free(a), free(b), free(c);
    mm_bench_stat st = mm_bench_summarize(g, reps);
    free(g);
    return st;
}
