/* mm_bench.h — this machine's ceilings, measured in the same run as a benchmark:
 * memory read bandwidth with all threads and a reference BLAS's dense f32 GEMM rate. */
#ifndef MM_BENCH_H
#define MM_BENCH_H
#include <stddef.h>

typedef struct {
    double median, min, max;   /* over the repeats */
} mm_bench_stat;

/* Multithreaded streaming read of a `bytes` buffer (each thread sums a contiguous share); GB/s. */
mm_bench_stat mm_bench_read_bandwidth(size_t bytes, int reps);
/* OpenBLAS cblas_sgemm C[n,n] = A[n,n]·B[n,n] on the compute threads; GFLOP/s. */
mm_bench_stat mm_bench_blas_sgemm(int n, int reps);
/* The same for C[m,n] = A[m,k]·B[n,k]ᵀ (the shape of a layer: m tokens, n outputs, k inputs). */
mm_bench_stat mm_bench_blas_sgemm_mnk(int m, int n, int k, int reps);
/* The integer prefill GEMM of this machine's kernels: y[T,N] = x[T,K]·W[N,K]ᵀ for random weights of the block
 * type dt (Q8_0, Q4_0, Q4_K, Q6_K), packed as models pack them; GOP/s counting 2 per multiply-add. */
mm_bench_stat mm_bench_qgemm(int dt, int T, int N, int K, int reps);
/* Causal softmax attention as prefill runs it (kernels/mm_attn.h, work items of (KV head, query block) on the
 * compute pool): nq query tokens at positions depth .. depth + nq − 1, NKV KV heads with G query heads each,
 * head width D, against a random f32 KV cache; GFLOP/s counting 4·D per query head per visible key. */
mm_bench_stat mm_bench_attention(int G, int NKV, int D, int depth, int nq, int reps);
/* Decode attention as one thread runs it for one token (kernels/mm_attn.h, a view of all NKV KV heads): G query
 * heads per KV head, head width D, against a random cache of depth positions with keys of type kt and values of
 * type vt (mm_dtype: F32, F16, BF16, Q8_0, Q4_0); nanoseconds per cached position. The model splits these
 * positions over its threads. */
mm_bench_stat mm_bench_attention_decode(int G, int NKV, int D, int kt, int vt, int depth, int reps);
/* Median/min/max of v[n] (v is sorted in place). */
mm_bench_stat mm_bench_summarize(double *v, int n);
#endif
