/* mm_attn.h — causal softmax attention over a key/value cache, flash-attention style: the keys are read in
 * tiles of MM_ATT_BK positions, each tile once for a whole block of query rows (all query heads of one GQA
 * group × a block of tokens), scores and the running softmax stay in a small scratch, never [T, T].
 *
 * The cache is reached only through mm_kv_view / mm_kv_row: one row of D elements (f32 or bf16) per position
 * for this KV head. A different cache layout (paged, quantized) changes those two and the tile loader in
 * mm_attn.c, nothing else. */
#ifndef MM_ATTN_H
#define MM_ATTN_H
#include "base/mm_common.h"

#define MM_ATT_BK 64    /* key positions per tile */
#define MM_ATT_ROWS 128 /* query rows (heads × tokens) a caller should give one call, so each tile serves many */

typedef struct {
    const char *k, *v; /* the rows of position 0 of this KV head */
    size_t stride;     /* bytes from one position's row to the next */
    int bf16;          /* element type: 1 bf16, 0 f32 */
} mm_kv_view;

/* The key / value row (D elements) of position pos. */
static inline const void *mm_kv_krow(const mm_kv_view *kv, int64_t pos) { return kv->k + (size_t)pos * kv->stride; }
static inline const void *mm_kv_vrow(const mm_kv_view *kv, int64_t pos) { return kv->v + (size_t)pos * kv->stride; }

/* For query tokens i < nq at positions pos0 + i and the G query heads g < G that share this KV head:
 *   o[i·os + g·D + d] = Σ_{p ≤ pos0+i} softmax_p(scale · q_ig · k_p) · v_p[d]
 * with q_ig = q + i·qs + g·D (floats). scratch: mm_attention_scratch(G, nq, D) floats. The scores' exponentials
 * come from the kernel set's expsum (within MM_EXP_MAX_REL_ERR of expf), sums in f32. */
void mm_attention(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale, float *o,
                  size_t os, float *scratch);
size_t mm_attention_scratch(int G, int nq, int D);

/* The plain definition (f64 sums, exp from libm) with the same contract, for tests. */
void mm_attention_ref(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale, float *o,
                      size_t os);
#endif
