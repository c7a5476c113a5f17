/* mm_kernels.h — the compute kernels every layer is made of.
 * Each op has a plain scalar reference (*_ref) that is the definition, and a fast path (SIMD, threads)
 * that tests/test_kernels.c checks against it on random inputs. */
#ifndef MM_KERNELS_H
#define MM_KERNELS_H
#include "base/mm_common.h"

/* y[T,N] = x[T,K] · W[N,K]ᵀ — W rows stored in any mm_dtype (dequantized on the fly, never copied).
 * Fast path: threaded over N (mm_pool.h), SIMD chosen at run time.
 *   F32/F16/BF16 weights: f32 activations, f32 accumulation (agrees with the reference to ~1e-6 relative);
 *     T >= MM_GEMM_MIN_T through f32 panels and a register-blocked GEMM kernel.
 *   Block-quantized weights (32-element blocks: Q8_0 activation blocks; 256-element ones: Q8_K): each activation
 *     row is quantized once and the dot products are integer, as llama.cpp does (error ~ 2^-8·‖x‖·‖w‖ per output,
 *     bounds in tests/test_kernels.c).
 *     T < MM_GEMM_MIN_T: a dot product per row, on the packed copy (w->pack, mm_pack.h) when there is one;
 *     T >= MM_GEMM_MIN_T (prefill), types with a packed layout (mm_pack_supported): the integer GEMM kernel over
 *     16-row packed groups (the pack, or each group packed on the fly from the stored rows: same bytes, same
 *     result), MM_QT tokens per weight load; the other types: dequantized f32 panels. */
void mm_matmul(float *y, const float *x, const mm_tensor *w, int T);
void mm_matmul_ref(float *y, const float *x, const mm_tensor *w, int T);
#define MM_GEMM_MIN_T 8

/* Several products at once: each job's y[T,N] = x[T,K]·W[N,K]ᵀ exactly as mm_matmul computes it, all in one
 * parallel region (one wake-up, one hand-out of the work items of every job); jobs with the same x, T and
 * activation format quantize x once. The outputs must not overlap each other or any input. */
typedef struct {
    float *y;
    const float *x;
    const mm_tensor *w;
    int T;
} mm_matmul_job;
void mm_matmul_n(const mm_matmul_job *jobs, int n);

/* An observer of every product's input (for `minimax imatrix`): called once per job of mm_matmul / mm_matmul_n,
 * on the calling thread before the product, with the weight tensor and its activations x[T, K]. NULL: none. The
 * observer is process-wide; set it only while one thread runs products. */
typedef void (*mm_matmul_observer)(void *ud, const mm_tensor *w, const float *x, int T);
void mm_matmul_set_observer(mm_matmul_observer fn, void *ud);

/* Row r of a 2-D tensor [rows, cols] (any dtype) converted to f32: out[cols]. */
void mm_tensor_row_f32(const mm_tensor *t, int64_t r, float *out);

/* 1 if the active kernel set multiplies packed (mm_pack.h) matrices of dtype dt faster than stored ones,
 * i.e. whether loading a model should pack them. */
int mm_kernels_prefer_packed(mm_dtype dt);

/* Name of the instruction set the fast kernels use on this CPU ("avx512", "avxvnni", "avx2", "scalar"). */
const char *mm_kernels_isa(void);

/* Force the fast path onto one instruction set ("scalar", "avx2", "avxvnni", "avx512"), or back to the automatic
 * choice with NULL. Returns 0, or -1 if this CPU (or build) lacks it. For tests and benchmarks. */
int mm_kernels_force_isa(const char *name);

/* Quantize one activation row x[K] for weights of dtype wdt (Q8_0/Q4_0 → Q8_0 blocks, Q4_K/Q6_K → Q8_K
 * blocks) with the active kernel set, as mm_matmul does before a T = 1 product; bit-identical on every set. */
void mm_quantize_activation(mm_dtype wdt, const float *x, void *dst, int64_t K);

/* ---------------------------------------------------------------- internal: per-ISA kernel sets */
/* Cache lines for a kernel to ask the caches for while it computes: up to two runs of bytes, from p[i], left[i]
 * bytes each (p[i] 64-byte aligned), taken in order. Decode attention hands the integer kernels the next tile's key
 * and value rows so that the lines are asked for a few at a time over this tile's work: asked for all at once, the
 * burst (2176 lines for 8 q8_0 KV heads) filled the core's queue of misses and held up its own loads. */
typedef struct {
    const char *p[2];
    size_t left[2];
} mm_prefetch;
/* Asks for the next n lines of pf (NULL or spent: nothing), into L2 (prefetcht1): a tile's 139 KB of lines for
 * 8 q8_0 KV heads do not fit L1 beside the kernels' work, and the L1 ones were measured 15-20% slower at depth. */
static inline void mm_prefetch_lines(mm_prefetch *pf, int n) {
    if (!pf) return;
    for (int i = 0; i < 2 && n > 0; i++)
        for (; pf->left[i] > 0 && n > 0; n--) {
            __builtin_prefetch(pf->p[i], 0, 2);
            pf->p[i] += 64;
            pf->left[i] = pf->left[i] > 64 ? pf->left[i] - 64 : 0;
        }
}

typedef struct {
    const char *name;
    /* y[t·ldy + r] = W_r · xa_t for r < nr, t < nt: W rows of dtype dt, wrb bytes apart, K elements;
     * xa rows xab bytes apart as mm_matmul prepares them: f32 for F32/F16/BF16, Q8_0 blocks for
     * the 32-element block types, Q8_K blocks for the 256-element ones. */
    void (*dot)(mm_dtype dt, int64_t K, int64_t nr, const void *w, size_t wrb, int nt, const void *xa,
                size_t xab, float *y, size_t ldy);
    /* out[t·6 + r] = Σ_{k<kc} w[r·ldw + k]·x[t·ldx + k], r < 6, t < 4: f32 panel micro-kernel, kc % 16 == 0. */
    void (*gemm6x4)(int64_t kc, const float *w, size_t ldw, const float *x, size_t ldx, float *out);
    /* y[n] = n elements of dtype dt at src as f32 (n a multiple of the block). */
    void (*dequant)(mm_dtype dt, const void *src, float *y, int64_t n);
    /* The activation row x[K] as the dot of weight dtype wdt takes it: Q8_0 blocks for the 32-element
     * block types, Q8_K for the 256-element ones; bit-identical to mm_quantize_row_q8_0 / mm_quantize_row_q8_K (the scalar definition). */
    void (*quant_act)(mm_dtype wdt, const float *x, void *dst, int64_t K);
    /* y[t·ldy + r] = W_r · xa_t for rows r < nr of one packed 16-row group (mm_pack.h) of a dt matrix with
     * K columns, t < nt; xa rows xab bytes apart: mm_block_q8_0x for Q8_0/Q4_0, Q8_K for the others. */
    void (*dot_packed)(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y,
                       size_t ldy);
    /* y[t·ldy + r] = W_r · xa_t for rows r < nr of one packed 16-row group of a dt matrix with K columns and
     * the nt <= MM_QT tokens of one tile of token-tiled activations (mm_pack.h): mm_block_q8_0x for Q8_0/Q4_0,
     * Q8_K for the others. The prefill product; same integer sums as dot_packed. */
    void (*gemm_packed)(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy);
    /* The f32 micro-kernel of attention and lightning: c[r·ldc + j] = (acc ? c[r·ldc + j] : 0) +
     * Σ_{k<kn} a[r·ars + k·aks]·b[k·ldb + j] for rows r < mr (1..4) and columns j < 16·nv (nv 1..4): 4 rows × 64
     * columns held in registers, one b row load per k for all 4 rows; a is read through its two strides, so it
     * may be stored either way round. */
    void (*sgemm4)(int mr, int nv, int kn, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                   size_t ldc, int acc);
    /* The online-softmax step of attention for the R columns (R % 16 == 0) of a scores tile s[j·R + r], j < nk:
     * column r has its first lim[r] rows visible (lim NULL: all nk), m[r] and l[r] are its running max and sum.
     * Writes s[j·R + r] = e^(s − m') for visible rows and 0 for the others, m[r] = m' = max(m, visible max),
     * l[r] = l·corr + Σ_j s, corr[r] = e^(m − m') (the factor for what column r summed so far). */
    void (*softmax_cols)(float *s, int nk, int R, const int *lim, float *m, float *l, float *corr);
    /* s[g·lds + j] = Σ_{d<D} q[g·ldq + d]·k[j·ldk + d] for g < G, j < nk, D % 16 == 0: a few query rows against
     * key rows as stored (decode attention, no transposed copy). */
    void (*dots)(int G, int nk, int D, const float *q, size_t ldq, const float *k, size_t ldk, float *s, size_t lds);
    /* x[i] = e^(x[i] − m) for i < n (x may be −inf: 0), returns Σ x[i]; within mm_exp_max_rel_err of expf. */
    float (*expsum)(float *x, int n, float m);
    /* x[i] = x[i]·σ(x[i]) (silu) or σ(x[i]) (sigmoid) for i < n, σ(x) = 1 / (1 + e^−x), e^x as in expsum. */
    void (*silu)(float *x, int64_t n);
    void (*sigmoid)(float *x, int64_t n);
    /* Decode attention over a Q8_0 / Q4_0 cache in integers (mm_attn_int.c; NULL: the set takes the f32 path),
     * D % 32 == 0, nk ≤ 64, key / value rows of D/32 blocks of kt / vt (Q8_0 or Q4_0) ldk / ldv bytes apart, each
     * block b of row j its scale d_j[b] and levels l_j[b][i] (x = d·l), work ≥ MM_QK_I8_WORK(G, D) /
     * MM_PV_I16_WORK(G, D) bytes. Scores: s[g·lds + j] = Σ_b (Σ_i q[g·D + 32b + i]·l_j[b][i])·(d_j[b]·dq[g·D/32 + b])
     * for g < G, j < nk: q the scaled query heads quantized by mm_attn_quant_q, the integer sums exact and the blocks
     * added in order with fmaf. Values: o[g·ldo + 32b + i] += c·Σ_j wq_j·l_j[b][i] for g < G, each block b of the
     * weights w_j = p[g·ldp + j]·d_j[b] whose largest magnitude W ≥ MM_PV_I16_WMIN (the others add nothing):
     * wq_j = nearbyint(w_j·(32767/W)), c = W/32767, added with fmaf. Bit-identical on every set. Both ask the caches
     * for a few lines of pf (NULL: none) per step of their work (mm_prefetch_lines). */
    void (*qk_i8)(mm_dtype kt, int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s, size_t lds, void *work,
                  mm_prefetch *pf);
    void (*pv_i16)(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work,
                   mm_prefetch *pf);
    /* 1 if dot_packed is this set's own kernel (worth packing a matrix for), 0 if it is the scalar one. */
    int pack_native;
    /* Bit 1 << dt for each packable dtype this set decodes faster from the stored rows (its dot) than from a pack:
     * not packed at load (prefill still packs each group on the fly for gemm_packed). */
    uint64_t pack_skip;
} mm_kernel_set;
_Static_assert(MM_DTYPE_COUNT <= 64, "pack_skip holds a bit per dtype");

/* The largest relative error of the SIMD exponentials (expsum) against expf, for arguments in [−87, 0]
 * (tests/test_attention.c measures it on every set). */
#define MM_EXP_MAX_REL_ERR 2.5e-7

/* mm_small.c: the scalar sgemm4 / dots / expsum (the definitions the SIMD ones are tested against). */
void mm_sgemm4_scalar(int mr, int nv, int kn, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                      size_t ldc, int acc);
void mm_softmax_cols_scalar(float *s, int nk, int R, const int *lim, float *m, float *l, float *corr);
void mm_dots_scalar(int G, int nk, int D, const float *q, size_t ldq, const float *k, size_t ldk, float *s, size_t lds);
float mm_expsum_scalar(float *x, int n, float m);
void mm_silu_scalar(float *x, int64_t n);
void mm_sigmoid_scalar(float *x, int64_t n);
/* mm_small_x86.c: the AVX-512 and AVX2 ones. */
void mm_sgemm4_512(int mr, int nv, int kn, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                   size_t ldc, int acc);
void mm_softmax_cols_512(float *s, int nk, int R, const int *lim, float *m, float *l, float *corr);
void mm_dots_512(int G, int nk, int D, const float *q, size_t ldq, const float *k, size_t ldk, float *s, size_t lds);
float mm_expsum_512(float *x, int n, float m);
void mm_silu_512(float *x, int64_t n);
void mm_sigmoid_512(float *x, int64_t n);
void mm_sgemm4_256(int mr, int nv, int kn, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                   size_t ldc, int acc);
void mm_softmax_cols_256(float *s, int nk, int R, const int *lim, float *m, float *l, float *corr);
void mm_dots_256(int G, int nk, int D, const float *q, size_t ldq, const float *k, size_t ldk, float *s, size_t lds);
float mm_expsum_256(float *x, int n, float m);
void mm_silu_256(float *x, int64_t n);
void mm_sigmoid_256(float *x, int64_t n);

/* mm_attn_int.c: the query quantizer of qk_i8 (x[D] → int8 blocks of 32 qs[D] with f32 scales dq[D/32],
 * |x − dq·qs| ≤ dq/2 elementwise) and the scalar qk_i8 / pv_i16. Weights below MM_PV_I16_WMIN (relative to the
 * running maximum's 1) are dropped: their sum moves an output by under 64·127·1e-30 of a value scale. */
#define MM_QK_I8_WORK(G, D) ((size_t)(72 + (size_t)(G)) * (size_t)(D))
#define MM_PV_I16_WORK(G, D) ((size_t)(168 + 7 * (size_t)(G)) * (size_t)(D))
#define MM_PV_I16_WMIN 1e-30f
void mm_attn_quant_q(const float *x, int D, int8_t *qs, float *dq);
void mm_qk_i8_scalar(mm_dtype kt, int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s, size_t lds,
                     void *work, mm_prefetch *pf);
void mm_pv_i16_scalar(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work,
                      mm_prefetch *pf);
/* mm_attn_int_x86.c: the AVX-512 (VNNI) ones ... */
void mm_qk_i8_512(mm_dtype kt, int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s, size_t lds, void *work,
                  mm_prefetch *pf);
void mm_pv_i16_512(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work,
                   mm_prefetch *pf);
/* ... and the AVX2 + AVX-VNNI ones, and plain AVX2's values (its scores stay f32: no exact 4-byte product). */
void mm_qk_i8_vnni(mm_dtype kt, int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s, size_t lds, void *work,
                   mm_prefetch *pf);
void mm_pv_i16_vnni(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work,
                    mm_prefetch *pf);
void mm_pv_i16_256(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work,
                   mm_prefetch *pf);

/* The active kernel set (for the kernels built on its primitives: mm_attn.c, the lightning kernel). */
const mm_kernel_set *mm_kernels_get(void);

/* mm_kernels.c: the scalar quant_act (also the AVX2 set's). */
void mm_quant_act_scalar(mm_dtype wdt, const float *x, void *dst, int64_t K);

/* mm_pack_x86.c: the AVX-512 set's dot_packed and gemm_packed. */
void mm_dot_packed_512(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y,
                       size_t ldy);
void mm_gemm_packed_512(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy);

/* mm_pack_x86_256.c: the AVX2 and AVX2 + AVX-VNNI sets' dot_packed and gemm_packed. */
void mm_dot_packed_256(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y, size_t ldy);
void mm_gemm_packed_256(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy);
void mm_dot_packed_vnni(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y, size_t ldy);
void mm_gemm_packed_vnni(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy);

/* mm_kernels_x86.c: the AVX2, AVX2 + AVX-VNNI and AVX-512 sets, or NULL where not compiled or not supported. */
const mm_kernel_set *mm_kernels_avx2(void);
const mm_kernel_set *mm_kernels_avxvnni(void);
const mm_kernel_set *mm_kernels_avx512(void);
#endif
