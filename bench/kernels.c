/* bench/kernels.c — timing tool for the matmul kernels (not a test).
 *   build/bench/kernels [isa]        isa: scalar | avx2 | avx512 (default: automatic)
 * Prints the machine's streaming read bandwidth, then per dtype: GB/s of weight bytes at T = 1 (decode)
 * against that ceiling, and GFLOP/s at T = 512 (prefill) against OpenBLAS sgemm on f32. */
#include "mm_kernels.h"
#include "mm_quant.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5);
}

#if defined(__x86_64__)
#include <immintrin.h>
/* Σ of n 64-bit words (n % 32 == 0) with four independent AVX2 accumulators. */
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 16) {
        a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(p + i + 4)));
        c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + i + 8)));
        d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    uint64_t o[4];
    _mm256_storeu_si256((__m256i *)o, _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
    return o[0] + o[1] + o[2] + o[3];
}
#endif
static uint64_t sum_words(const uint64_t *p, size_t n) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return sum_avx2(p, n);
#endif
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    return s;
}

/* Best-of-5 multithreaded streaming read of a 1 GiB buffer (each thread sums a contiguous share), in GB/s. */
static double read_bandwidth(void) {
    const size_t n = (1ull << 30) / 8;
    uint64_t *buf = mm_xaligned(n * 8), sink = 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = i;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = mm_time();
        uint64_t s = 0;
#pragma omp parallel reduction(+ : s)
        {
            size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num(), chunk = n / nt / 32 * 32;
            s += sum_words(buf + id * chunk, id == nt - 1 ? n - id * chunk : chunk);
        }
        double dt = mm_time() - t0;
        sink += s;
        if (n * 8 / dt / 1e9 > best) best = n * 8 / dt / 1e9;
    }
    free(buf);
    return sink == 42 ? 0 : best;
}

static double time_matmul(float *y, const float *x, const mm_tensor *w, int T, int reps) {
    mm_matmul(y, x, w, T); /* warm-up */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = mm_time();
        mm_matmul(y, x, w, T);
        double dt = mm_time() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    if (argc > 1 && mm_kernels_force_isa(argv[1]) != 0) {
        fprintf(stderr, "ISA %s not available\n", argv[1]);
        return 1;
    }
    printf("kernels: %s, %d threads\n", mm_kernels_isa(), omp_get_max_threads());
    double bw = read_bandwidth();
    printf("memory read bandwidth (1 GiB streaming sum): %.1f GB/s\n\n", bw);

    const mm_dtype types[] = {MM_F32, MM_BF16, MM_F16, MM_Q8_0, MM_Q6_K, MM_Q4_K, MM_Q4_0};
    const int ntypes = (int)(sizeof types / sizeof types[0]);

    /* ---- decode: T = 1 */
    const int64_t shapes[][2] = {{24576, 6144}, {6144, 24576}};
    for (int s = 0; s < 2; s++) {
        int64_t N = shapes[s][0], K = shapes[s][1];
        float *wf = mm_xaligned((size_t)(N * K) * 4), *x = mm_xaligned((size_t)K * 4), *y = mm_xaligned((size_t)N * 4);
        for (int64_t i = 0; i < N * K; i++) wf[i] = frand();
        for (int64_t i = 0; i < K; i++) x[i] = frand();
        printf("decode T=1, N×K = %lld×%lld\n  dtype   weights MB   ms/call    GB/s   %% of %.1f GB/s\n", (long long)N,
               (long long)K, bw);
        for (int d = 0; d < ntypes; d++) {
            size_t bytes = mm_row_bytes(types[d], K) * (size_t)N;
            void *wq = mm_xaligned(bytes);
            mm_quantize_rows(types[d], wf, wq, N, K);
            mm_tensor w = {.dtype = types[d], .ndim = 2, .shape = {N, K}, .data = wq, .nbytes = bytes};
            double dt = time_matmul(y, x, &w, 1, 10);
            printf("  %-6s %10.1f %9.2f %7.1f   %5.1f%%\n", mm_dtype_name(types[d]), bytes / 1e6, dt * 1e3, bytes / dt / 1e9,
                   100.0 * bytes / dt / 1e9 / bw);
            free(wq);
        }
        free(wf), free(x), free(y);
        printf("\n");
    }

    /* ---- prefill: T = 512 */
    {
        const int T = 512;
        const int64_t N = 6144, K = 6144;
        float *wf = mm_xaligned((size_t)(N * K) * 4), *x = mm_xaligned((size_t)(T * K) * 4),
              *y = mm_xaligned((size_t)(T * N) * 4);
        for (int64_t i = 0; i < N * K; i++) wf[i] = frand();
        for (int64_t i = 0; i < T * K; i++) x[i] = frand();
        double flop = 2.0 * T * N * K;
        openblas_set_num_threads(omp_get_max_threads());
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, (int)N, (int)K, 1.0f, x, (int)K, wf, (int)K, 0.0f, y, (int)N);
        double blas = 1e30;
        for (int r = 0; r < 3; r++) {
            double t0 = mm_time();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, (int)N, (int)K, 1.0f, x, (int)K, wf, (int)K, 0.0f, y,
                        (int)N);
            double dt = mm_time() - t0;
            if (dt < blas) blas = dt;
        }
        printf("prefill T=%d, N×K = %lld×%lld\n  OpenBLAS sgemm (f32): %8.1f GFLOP/s\n  dtype   ms/call   GFLOP/s   vs sgemm\n",
               T, (long long)N, (long long)K, flop / blas / 1e9);
        for (int d = 0; d < ntypes; d++) {
            size_t bytes = mm_row_bytes(types[d], K) * (size_t)N;
            void *wq = mm_xaligned(bytes);
            mm_quantize_rows(types[d], wf, wq, N, K);
            mm_tensor w = {.dtype = types[d], .ndim = 2, .shape = {N, K}, .data = wq, .nbytes = bytes};
            double dt = time_matmul(y, x, &w, T, 3);
            printf("  %-6s %8.1f %9.1f   %5.2fx\n", mm_dtype_name(types[d]), dt * 1e3, flop / dt / 1e9, blas / dt);
            free(wq);
        }
        free(wf), free(x), free(y);
    }
    return 0;
}
