/* mm_kernels.h — the compute kernels every layer is made of.
 * Each op has a plain scalar reference (*_ref) that is the definition, and a fast path (SIMD, threads)
 * that tests/test_kernels.c checks against it on random inputs. */
#ifndef MM_KERNELS_H
#define MM_KERNELS_H
#include "mm_common.h"

/* y[T,N] = x[T,K] · W[N,K]ᵀ — W rows stored in any mm_dtype (dequantized on the fly, never copied).
 * Fast path: threaded over N (and T), SIMD dot products chosen at run time. */
void mm_matmul(float *y, const float *x, const mm_tensor *w, int T);
void mm_matmul_ref(float *y, const float *x, const mm_tensor *w, int T);

/* Row r of a 2-D tensor [rows, cols] (any dtype) converted to f32: out[cols]. */
void mm_tensor_row_f32(const mm_tensor *t, int64_t r, float *out);

/* Name of the instruction set the fast kernels use on this CPU ("avx512", "avx2", "scalar"). */
const char *mm_kernels_isa(void);
#endif
