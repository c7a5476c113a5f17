/* mm_attn_dense.h — full (non-causal) softmax attention of one head over a short sequence, the shape of a vision
 * transformer's patch (577 tokens × 64 dims): o = softmax(q·kᵀ·scale)·v, computed in blocks of 8 queries so the
 * scores never exceed 8 × L floats. A scalar reference, and AVX2 (also under the AVX-VNNI set) / AVX-512 paths picked by
 * the active kernel set (mm_kernels_isa, so mm_kernels_force_isa reaches them); single-threaded: callers run heads in parallel. */
#ifndef MM_ATTN_DENSE_H
#define MM_ATTN_DENSE_H
#include <stddef.h>

/* Floats of scratch mm_attn_dense needs for L tokens of width hd. */
size_t mm_attn_dense_scratch(int L, int hd);
/* o[i·ldo + d] = Σ_j softmax_j(scale · q_i·k_j) · v_j[d] for i < L, d < hd; q, k, v rows ld floats apart (one head's
 * columns of [L, D] activations). Agrees with the reference to ~1e-6 relative (a polynomial exp, other summation
 * order). scratch: mm_attn_dense_scratch(L, hd) floats. */
void mm_attn_dense(const float *q, const float *k, const float *v, int ld, float *o, int ldo, int L, int hd, float scale,
                   float *scratch);
/* The definition: one query at a time, plain f32 dot products, expf, a max-subtracted softmax. */
void mm_attn_dense_ref(const float *q, const float *k, const float *v, int ld, float *o, int ldo, int L, int hd, float scale);
#endif
