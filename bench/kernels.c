/* bench/kernels.c — timing tool for the matmul kernels (not a test).
 *   build/bench/kernels [options]
 *     --isa scalar|avx2|avx512   force the kernel set (default: automatic)
 *     --dtypes BF16,Q8_0,...      dtypes to time, any by name (default: F32,BF16,F16,Q8_0,Q6_K,Q4_K,Q4_0)
 *     --shapes NxK,NxK,...        decode shapes (default: MiniMax-Text-01's decode matmuls, lm_head last)
 *     --reps R                    timed repeats per measurement (default 9)
 *     --hot, --hot-kb KB          in-cache compute rate instead: one thread, weights ≤ KB (default 2048)
 *     --prefill                   also time T = 512 against OpenBLAS sgemm
 *     --no-pack                   time the stored layout, not the 16-row packed copy (mm_pack.h) that
 *                                 models get where the kernel set prefers it
 *
 * Decode (T = 1) is memory-bound, and this machine is shared, so every number is a median with its
 * min–max spread, and the ceiling is measured on the same bytes under the same load: each repeat first
 * streams the weight buffer itself (both threads, one contiguous half each, a plain sum), then runs the
 * matmul on it. "% of read" is the median of the per-repeat ratios matmul GB/s / streaming GB/s.
 * --hot measures what a kernel can do when memory is not the limit (GB/s of weights from L2, thread CPU
 * time, one core): a kernel reaches the roofline only if this is well above the per-core share of DRAM. */
#include "tools/mm_bench.h"
#include "base/mm_pool.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include "kernels/mm_quant.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5);
}

static double thread_cpu_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__x86_64__)
#include <immintrin.h>
/* Σ of n 64-bit words (n % 32 == 0) with four independent AVX-512 accumulators. */
__attribute__((target("avx512f"))) static uint64_t sum_512(const uint64_t *p, size_t n) {
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i < n; i += 32) {
        a = _mm512_add_epi64(a, _mm512_loadu_si512(p + i));
        b = _mm512_add_epi64(b, _mm512_loadu_si512(p + i + 8));
        c = _mm512_add_epi64(c, _mm512_loadu_si512(p + i + 16));
        d = _mm512_add_epi64(d, _mm512_loadu_si512(p + i + 24));
    }
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
}
#endif
static uint64_t sum_words(const uint64_t *p, size_t n) {
    uint64_t s = 0;
    size_t i = 0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) {
        s = sum_512(p, n / 32 * 32);
        i = n / 32 * 32;
    }
#endif
    for (; i < n; i++) s += p[i];
    return s;
}

/* Streaming read of buf[bytes] by all threads (contiguous shares); seconds. */
static volatile uint64_t sink;
static double stream_read(const void *buf, size_t bytes) {
    size_t n = bytes / 8;
    double t0 = mm_time();
    uint64_t s = 0;
#pragma omp parallel reduction(+ : s)
    {
        size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num(), chunk = n / nt / 32 * 32;
        s += sum_words((const uint64_t *)buf + id * chunk, id == nt - 1 ? n - id * chunk : chunk);
    }
    double dt = mm_time() - t0;
    sink += s;
    return dt;
}

/* --no-pack: time the stored layout even where the kernel set prefers packed matrices (mm_pack.h). */
static int use_pack = 1;

/* A packed copy of w when the active kernels prefer it, as mm_model_load makes one; *bytes its size. */
static void maybe_pack(mm_tensor *w, size_t *bytes) {
    if (use_pack && mm_kernels_prefer_packed(w->dtype)) mm_pack_tensor(w, bytes);
}

/* Random weights [N, K] of dtype dt, made 64 rows at a time (no full f32 copy). */
static void *make_weights(mm_dtype dt, int64_t N, int64_t K, size_t *bytes) {
    size_t rb = mm_row_bytes(dt, K);
    *bytes = rb * (size_t)N;
    char *w = mm_xaligned(*bytes);
    float *wf = mm_xaligned((size_t)(64 * K) * 4);
    for (int64_t r0 = 0; r0 < N; r0 += 64) {
        int64_t nr = N - r0 < 64 ? N - r0 : 64;
        for (int64_t i = 0; i < nr * K; i++) wf[i] = frand();
        mm_quantize_rows(dt, wf, w + (size_t)r0 * rb, nr, K);
    }
    free(wf);
    return w;
}

/* Any matrix type of mm_common.h by its name (F32, Q5_K, IQ4_XS, ...). */
static int parse_dtype(const char *s, mm_dtype *out) {
    const int t = mm_dtype_from_name(s);
    if (t < 0) return -1;
    *out = (mm_dtype)t;
    return 0;
}

static void decode(const mm_dtype *types, int ntypes, int64_t (*shapes)[2], int nshapes, int reps) {
    double *ratio = mm_xmalloc(sizeof(double) * (size_t)reps), *gbs = mm_xmalloc(sizeof(double) * (size_t)reps),
           *rd = mm_xmalloc(sizeof(double) * (size_t)reps);
    printf("decode T=1 (%d threads; median [min-max] of %d; ceiling = streaming sum of the same buffer)\n",
           omp_get_max_threads(), reps);
    printf("  dtype  N×K              MB     ms/call   matmul GB/s          read GB/s            %% of read\n");
    for (int d = 0; d < ntypes; d++) {
        double tot_bytes = 0, tot_mm = 0, tot_rd = 0;
        for (int s = 0; s < nshapes; s++) {
            int64_t N = shapes[s][0], K = shapes[s][1];
            size_t bytes;
            void *wq = make_weights(types[d], N, K, &bytes);
            float *x = mm_xaligned((size_t)K * 4), *y = mm_xaligned((size_t)N * 4);
            for (int64_t i = 0; i < K; i++) x[i] = frand();
            mm_tensor w = {.dtype = types[d], .ndim = 2, .shape = {N, K}, .data = wq, .nbytes = bytes};
            size_t pbytes = bytes;
            maybe_pack(&w, &pbytes);
            const void *rd_buf = w.pack ? w.pack : wq; /* the ceiling streams what the matmul reads */
            stream_read(rd_buf, pbytes);
            mm_matmul(y, x, &w, 1); /* warm-up */
            double tmm = 0, trd = 0;
            for (int r = 0; r < reps; r++) {
                double a = stream_read(rd_buf, pbytes);
                double t0 = mm_time();
                mm_matmul(y, x, &w, 1);
                double b = mm_time() - t0;
                rd[r] = bytes / a / 1e9, gbs[r] = bytes / b / 1e9, ratio[r] = a / b;
                tmm += b, trd += a;
            }
            tot_bytes += (double)bytes * reps, tot_mm += tmm, tot_rd += trd;
            mm_bench_stat g = mm_bench_summarize(gbs, reps), b = mm_bench_summarize(rd, reps),
                          q = mm_bench_summarize(ratio, reps);
            char sh[32];
            snprintf(sh, sizeof sh, "%lldx%lld", (long long)N, (long long)K);
            printf("  %-6s %-13s %8.1f %9.3f   %5.1f [%5.1f-%5.1f]   %5.1f [%5.1f-%5.1f]   %5.1f%% [%5.1f-%5.1f]\n",
                   mm_dtype_name(types[d]), sh, bytes / 1e6, bytes / g.median / 1e6, g.median, g.min, g.max, b.median,
                   b.min, b.max, 100 * q.median, 100 * q.min, 100 * q.max);
            fflush(stdout);
            free(wq), free(x), free(y), free((void *)w.pack);
        }
        if (nshapes > 1)
            printf("  %-6s all shapes (bytes-weighted)      %5.1f GB/s           %5.1f GB/s            %5.1f%%\n",
                   mm_dtype_name(types[d]), tot_bytes / tot_mm / 1e9, tot_bytes / tot_rd / 1e9, 100 * tot_rd / tot_mm);
    }
    free(ratio), free(gbs), free(rd);
}

/* In-cache compute rate: one thread, a [rows, K] matrix that stays in L2, GB/s of weights by thread CPU time. */
/* Thread CPU seconds per mm_matmul(T = 1) on w, median/min/max over reps (each rep ≥ 0.1 s of calls). */
static mm_bench_stat hot_time(const mm_tensor *w, const float *x, float *y, int reps, double *v) {
    int inner = (int)(100e6 / (double)w->nbytes) + 1;
    for (int r = -1; r < reps; r++) {
        double t0 = thread_cpu_time();
        for (int i = 0; i < inner; i++) mm_matmul(y, x, w, 1);
        double dt = (thread_cpu_time() - t0) / inner;
        if (r >= 0) v[r] = dt;
    }
    return mm_bench_summarize(v, reps);
}

/* In-cache compute rate, one thread. Each call also quantizes the activation (a fixed cost), so the rate
 * of the kernel itself is the marginal one: (bytes(N) − bytes(N/4)) / (t(N) − t(N/4)). */
static void hot(const mm_dtype *types, int ntypes, int reps, size_t hot_bytes) {
    const int64_t K = 6144;
    int nthr = mm_pool_threads();
    mm_pool_set_threads(1);
    double *v = mm_xmalloc(sizeof(double) * (size_t)reps);
    printf("hot (weights cache-resident, ≤ %zu KiB, 1 thread, K = %lld; thread CPU time, median [min-max] of %d)\n"
           "  dtype    rows      KB    us/call   marginal GB/s   fixed us/call (activation prep)\n",
           hot_bytes >> 10, (long long)K, reps);
    for (int d = 0; d < ntypes; d++) {
        int64_t N = 64;
        while (mm_row_bytes(types[d], K) * (size_t)(N * 2) <= hot_bytes) N *= 2;
        size_t bytes;
        void *wq = make_weights(types[d], N, K, &bytes);
        float *x = mm_xaligned((size_t)K * 4), *y = mm_xaligned((size_t)N * 4);
        for (int64_t i = 0; i < K; i++) x[i] = frand();
        mm_tensor w = {.dtype = types[d], .ndim = 2, .shape = {N, K}, .data = wq, .nbytes = bytes};
        size_t pbytes = bytes;
        maybe_pack(&w, &pbytes);
        mm_tensor w4 = w;
        w4.shape[0] = N / 4, w4.nbytes = bytes / 4;
        mm_bench_stat big = hot_time(&w, x, y, reps, v), small = hot_time(&w4, x, y, reps, v);
        double rate = (double)(bytes - bytes / 4) / (big.median - small.median) / 1e9;
        double lo = (double)(bytes - bytes / 4) / (big.max - small.min) / 1e9, hi = (double)(bytes - bytes / 4) / (big.min - small.max) / 1e9;
        double fixed = (big.median - (big.median - small.median) * 4.0 / 3.0) * 1e6;
        printf("  %-6s %6lld %7.0f %9.1f   %6.1f [%5.1f-%5.1f]   %6.1f\n", mm_dtype_name(types[d]), (long long)N, bytes / 1e3,
               big.median * 1e6, rate, lo, hi > 0 ? hi : 1e9, fixed);
        fflush(stdout);
        free(wq), free(x), free(y), free((void *)w.pack);
    }
    free(v);
    mm_pool_set_threads(nthr);
}

static void prefill(const mm_dtype *types, int ntypes) {
    const int T = 512;
    const int64_t N = 6144, K = 6144;
    float *wf = mm_xaligned((size_t)(N * K) * 4), *x = mm_xaligned((size_t)(T * K) * 4), *y = mm_xaligned((size_t)(T * N) * 4);
    for (int64_t i = 0; i < N * K; i++) wf[i] = frand();
    for (int64_t i = 0; i < T * K; i++) x[i] = frand();
    double flop = 2.0 * T * N * K;
    openblas_set_num_threads(omp_get_max_threads());
    double blas = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = mm_time();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, (int)N, (int)K, 1.0f, x, (int)K, wf, (int)K, 0.0f, y, (int)N);
        double dt = mm_time() - t0;
        if (r && dt < blas) blas = dt;
    }
    printf("prefill T=%d, N×K = %lld×%lld (best of 3)\n  OpenBLAS sgemm (f32): %8.1f GFLOP/s\n  dtype   ms/call   GFLOP/s   vs sgemm\n",
           T, (long long)N, (long long)K, flop / blas / 1e9);
    for (int d = 0; d < ntypes; d++) {
        size_t bytes = mm_row_bytes(types[d], K) * (size_t)N;
        void *wq = mm_xaligned(bytes);
        mm_quantize_rows(types[d], wf, wq, N, K);
        mm_tensor w = {.dtype = types[d], .ndim = 2, .shape = {N, K}, .data = wq, .nbytes = bytes};
        size_t pbytes = bytes;
        maybe_pack(&w, &pbytes);
        double best = 1e30;
        for (int r = 0; r < 4; r++) {
            double t0 = mm_time();
            mm_matmul(y, x, &w, T);
            double dt = mm_time() - t0;
            if (r && dt < best) best = dt;
        }
        printf("  %-6s %8.1f %9.1f   %5.2fx\n", mm_dtype_name(types[d]), best * 1e3, flop / best / 1e9, blas / best);
        free(wq), free((void *)w.pack);
    }
    free(wf), free(x), free(y);
}

int main(int argc, char **argv) {
    mm_dtype types[16] = {MM_F32, MM_BF16, MM_F16, MM_Q8_0, MM_Q6_K, MM_Q4_K, MM_Q4_0};
    int ntypes = 7, reps = 9, do_hot = 0, do_prefill = 0;
    size_t hot_kb = 2048;
    /* MiniMax-Text-01 decode: qkv, output_gate, out_proj, expert w1/w3, expert w2, lm_head */
    int64_t shapes[16][2] = {{24576, 6144}, {8192, 6144}, {6144, 8192}, {9216, 6144}, {6144, 9216}, {200064, 6144}};
    int nshapes = 6;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--hot")) do_hot = 1;
        else if (!strcmp(a, "--no-pack")) use_pack = 0;
        else if (!strcmp(a, "--hot-kb") && v) do_hot = 1, hot_kb = (size_t)atol(v), i++;
        else if (!strcmp(a, "--prefill")) do_prefill = 1;
        else if (!strcmp(a, "--isa") && v) {
            if (mm_kernels_force_isa(v) != 0) { fprintf(stderr, "ISA %s not available\n", v); return 1; }
            i++;
        } else if (!strcmp(a, "--reps") && v) {
            reps = atoi(v), i++;
            if (reps < 1) reps = 1;
        } else if (!strcmp(a, "--dtypes") && v) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            ntypes = 0;
            for (char *t = strtok(buf, ","); t && ntypes < 16; t = strtok(NULL, ","))
                if (parse_dtype(t, &types[ntypes++]) != 0) { fprintf(stderr, "unknown dtype %s\n", t); return 1; }
            i++;
        } else if (!strcmp(a, "--shapes") && v) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            nshapes = 0;
            for (char *t = strtok(buf, ","); t && nshapes < 16; t = strtok(NULL, ","), nshapes++)
                if (sscanf(t, "%ldx%ld", (long *)&shapes[nshapes][0], (long *)&shapes[nshapes][1]) != 2) {
                    fprintf(stderr, "bad shape %s (want NxK)\n", t);
                    return 1;
                }
            i++;
        } else if (mm_kernels_force_isa(a) == 0) { /* old form: a bare ISA name */
        } else {
            fprintf(stderr, "usage: %s [--isa I] [--dtypes D,..] [--shapes NxK,..] [--reps R] [--hot] [--prefill] [--no-pack]\n", argv[0]);
            return 2;
        }
    }
    printf("kernels: %s, %d threads\n", mm_kernels_isa(), omp_get_max_threads());
    if (do_hot) hot(types, ntypes, reps, hot_kb << 10);
    else decode(types, ntypes, shapes, nshapes, reps);
    if (do_prefill) prefill(types, ntypes);
    return 0;
}
