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

/* The cache of one KV head, in pages: position pos's key row is at kpages[pos >> page_shift] + koff +
 * (pos mod 2^page_shift)·kstride (values likewise). A page holds at least MM_ATT_BK positions and its positions
 * are a power of two, so a key tile (MM_ATT_BK positions from a multiple of MM_ATT_BK) never spans two pages: the
 * kernel looks up a tile's page once and reads its rows at the stride, whatever the page size. */
typedef struct {
    const uint8_t *const *kpages, *const *vpages; /* [n_pages] base pointer of each page */
    size_t koff, voff;        /* bytes from a page's base to this KV head's row of the page's first position */
    size_t kstride, vstride;  /* bytes from one position's row to the next within a page */
    int page_shift;           /* log2 of the positions per page, ≥ log2(MM_ATT_BK) */
    mm_dtype kt, vt;          /* element types (mm_kv_type_ok); a row is mm_kv_head_bytes(type, D) bytes */
    int nkv;                  /* KV heads the view covers from koff / voff on (0 or 1: one); decode (nq = 1) only */
    size_t khs, vhs;          /* with nkv > 1: bytes from a KV head's row to the next head's row of the same position */
    const uint8_t *flat[2];   /* mm_kv_view_flat: the single "page" of a flat cache */
} mm_kv_view;

/* The KV heads a view covers (nkv 0 reads as 1). */
static inline int mm_kv_view_heads(const mm_kv_view *kv) { return kv->nkv > 1 ? kv->nkv : 1; }
/* The key / value head row of position pos. */
static inline const void *mm_kv_krow(const mm_kv_view *kv, int64_t pos) {
    return kv->kpages[pos >> kv->page_shift] + kv->koff + (size_t)(pos & (((int64_t)1 << kv->page_shift) - 1)) * kv->kstride;
}
static inline const void *mm_kv_vrow(const mm_kv_view *kv, int64_t pos) {
    return kv->vpages[pos >> kv->page_shift] + kv->voff + (size_t)(pos & (((int64_t)1 << kv->page_shift) - 1)) * kv->vstride;
}
/* Sets *kv up as a view of one flat array of rows per K and V (position pos at k + pos·kstride). The view points
 * into itself: use it where it was set up, do not copy it. */
void mm_kv_view_flat(mm_kv_view *kv, const void *k, const void *v, size_t kstride, size_t vstride, mm_dtype kt, mm_dtype vt);

/* One head row: src[D] floats into dst (mm_kv_head_bytes(t, D) bytes, the block tail past D zero) / back. */
void mm_kv_store_row(mm_dtype t, void *dst, const float *src, int D);
void mm_kv_load_row(mm_dtype t, const void *src, float *dst, int D);

/* For query tokens i < nq at positions pos0 + i and the G query heads g < G that share this KV head:
 *   o[i·os + g·D + d] = Σ_{p ≤ pos0+i} softmax_p(scale · q_ig · k_p) · v_p[d]
 * with q_ig = q + i·qs + g·D (floats). scratch: mm_attention_scratch(G, nq, D) floats. The scores' exponentials
 * come from the kernel set's expsum (within MM_EXP_MAX_REL_ERR of expf), sums in f32.
 * A view of nkv > 1 KV heads (one token, nq = 1) serves nkv·G query heads, head h·G + g against KV head h, with
 * scratch mm_attention_scratch(nkv·G, 1, D): the same bits per head as one call per KV head, but each tile of
 * positions is read for all heads at once, so the reads run along the cache (a position's heads lie together)
 * instead of striding through it a head at a time. The parts and merge below then count nkv·G heads. */
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
