/* mm_attn.h — causal softmax attention over a key/value cache, flash-attention style: the keys are read in
 * tiles of MM_ATT_BK positions, each tile once for a whole block of query rows (all query heads of one GQA
 * group × a block of tokens), scores and the running softmax stay in a small scratch, never [T, T].
 *
 * The cache is reached only through mm_kv_view: one head row per position for this KV head, of any KV type
 * (F32, F16, BF16, Q8_0, Q4_0 in llama.cpp's block layouts, K and V each their own), dequantized a tile at a
 * time inside the loop (never a float copy of the cache).
 *
 * Split attention (flash-decoding): mm_attention_part runs the same loop over a range of key positions only and
 * returns the unnormalised outputs with their running max and sum; mm_attention_merge combines the parts of
 * one query block by the log-sum-exp, so one long sequence can spread its keys over all threads. */
#ifndef MM_ATTN_H
#define MM_ATTN_H
#include "base/mm_common.h"

#define MM_ATT_BK 64    /* key positions per tile */
#define MM_ATT_ROWS 128 /* query rows (heads × tokens) a caller should give one call, so each tile serves many */
#define MM_ATT_SPLIT_MIN 512 /* fewest keys worth a part of split attention */

typedef struct {
    const char *k, *v;        /* the head rows of position 0 of this KV head */
    size_t kstride, vstride;  /* bytes from one position's row to the next */
    mm_dtype kt, vt;          /* element types (mm_kv_type_ok); a row is mm_kv_head_bytes(type, D) bytes */
} mm_kv_view;

/* The key / value head row of position pos. */
static inline const void *mm_kv_krow(const mm_kv_view *kv, int64_t pos) { return kv->k + (size_t)pos * kv->kstride; }
static inline const void *mm_kv_vrow(const mm_kv_view *kv, int64_t pos) { return kv->v + (size_t)pos * kv->vstride; }

/* One head row: src[D] floats into dst (mm_kv_head_bytes(t, D) bytes, the block tail past D zero) / back. */
void mm_kv_store_row(mm_dtype t, void *dst, const float *src, int D);
void mm_kv_load_row(mm_dtype t, const void *src, float *dst, int D);

/* For query tokens i < nq at positions pos0 + i and the G query heads g < G that share this KV head:
 *   o[i·os + g·D + d] = Σ_{p ≤ pos0+i} softmax_p(scale · q_ig · k_p) · v_p[d]
 * with q_ig = q + i·qs + g·D (floats). scratch: mm_attention_scratch(G, nq, D) floats. The scores' exponentials
 * come from the kernel set's expsum (within MM_EXP_MAX_REL_ERR of expf), sums in f32. */
void mm_attention(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale, float *o,
                  size_t os, float *scratch);
size_t mm_attention_scratch(int G, int nq, int D);

/* The same over the keys [kb, ke) only (MM_ATT_BK | kb, kb ≤ pos0 so every row sees a key, ke ≤ pos0 + nq):
 * row r = i·G + g of O [G·nq][D] gets Σ_p e^{s_p − m_r} v_p unnormalised, m[r] the max score, l[r] = Σ_p e^{s_p − m_r}.
 * Same scratch. */
void mm_attention_part(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale,
                       int64_t kb, int64_t ke, float *O, float *m, float *l, float *scratch);
/* Merges n parts (part j: O + j·ps, m + j·ps, l + j·ps floats) into the normalised output o (as mm_attention
 * writes it): the log-sum-exp combination of the partial softmaxes. */
void mm_attention_merge(int G, int nq, int D, int n, const float *O, size_t ps, const float *m, const float *l, float *o, size_t os);

/* The plain definition (f64 sums, exp from libm) with the same contract, for tests. */
void mm_attention_ref(const float *q, size_t qs, int G, int nq, int64_t pos0, const mm_kv_view *kv, int D, float scale, float *o,
                      size_t os);
#endif
