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
/* Median/min/max of v[n] (v is sorted in place). */
mm_bench_stat mm_bench_summarize(double *v, int n);
#endif
