/* mm_kernels.h — the compute kernels every layer is made of.
 * Each op has a plain scalar reference (*_ref) that is the definition, and a fast path (SIMD, threads)
 * that tests/test_kernels.c checks against it on random inputs. */
#ifndef MM_KERNELS_H
#define MM_KERNELS_H
#include "base/mm_common.h"

/* y[T,N] = x[T,K] · W[N,K]ᵀ — W rows stored in any mm_dtype (dequantized on the fly, never copied).
 * Fast path: threaded over N, SIMD chosen at run time.
 *   F32/F16/BF16 weights: f32 activations, f32 accumulation (agrees with the reference to ~1e-6 relative).
 *   Q8_0/Q4_0 (Q4_K/Q6_K) weights, T < MM_GEMM_MIN_T: each activation row is quantized once to Q8_0 (Q8_K)
 *     and the dot products are integer, as llama.cpp does (error ~ 2^-8·‖x‖·‖w‖ per output).
 *   T >= MM_GEMM_MIN_T (prefill): blocks of weight rows are dequantized once into f32 panels that every
 *     token reuses from cache, multiplied with the f32 activations by a register-blocked GEMM kernel.
 *   A packed W (w->pack, mm_pack.h) is read from the pack: T < MM_GEMM_MIN_T through dot_packed (Q8_0/Q4_0
 *     activations as mm_block_q8_0x), prefill panels from its unpacked rows; results as for the stored W. */
void mm_matmul(float *y, const float *x, const mm_tensor *w, int T);
void mm_matmul_ref(float *y, const float *x, const mm_tensor *w, int T);
#define MM_GEMM_MIN_T 8

/* Row r of a 2-D tensor [rows, cols] (any dtype) converted to f32: out[cols]. */
void mm_tensor_row_f32(const mm_tensor *t, int64_t r, float *out);

/* 1 if the active kernel set multiplies packed (mm_pack.h) matrices of dtype dt faster than stored ones,
 * i.e. whether loading a model should pack them. */
int mm_kernels_prefer_packed(mm_dtype dt);

/* Name of the instruction set the fast kernels use on this CPU ("avx512", "avx2", "scalar"). */
const char *mm_kernels_isa(void);

/* Force the fast path onto one instruction set ("scalar", "avx2", "avx512"), or back to the automatic
 * choice with NULL. Returns 0, or -1 if this CPU (or build) lacks it. For tests and benchmarks. */
int mm_kernels_force_isa(const char *name);

/* Quantize one activation row x[K] for weights of dtype wdt (Q8_0/Q4_0 → Q8_0 blocks, Q4_K/Q6_K → Q8_K
 * blocks) with the active kernel set, as mm_matmul does before a T = 1 product; bit-identical on every set. */
void mm_quantize_activation(mm_dtype wdt, const float *x, void *dst, int64_t K);

/* ---------------------------------------------------------------- internal: per-ISA kernel sets */
typedef struct {
    const char *name;
    /* y[t·ldy + r] = W_r · xa_t for r < nr, t < nt: W rows of dtype dt, wrb bytes apart, K elements;
     * xa rows xab bytes apart as mm_matmul prepares them: f32 for F32/F16/BF16, Q8_0 blocks for
     * Q8_0/Q4_0, Q8_K blocks for Q4_K/Q6_K. */
    void (*dot)(mm_dtype dt, int64_t K, int64_t nr, const void *w, size_t wrb, int nt, const void *xa,
                size_t xab, float *y, size_t ldy);
    /* out[t·6 + r] = Σ_{k<kc} w[r·ldw + k]·x[t·ldx + k], r < 6, t < 4: f32 panel micro-kernel, kc % 16 == 0. */
    void (*gemm6x4)(int64_t kc, const float *w, size_t ldw, const float *x, size_t ldx, float *out);
    /* y[n] = n elements of dtype dt at src as f32 (n a multiple of the block). */
    void (*dequant)(mm_dtype dt, const void *src, float *y, int64_t n);
    /* The activation row x[K] as the dot of weight dtype wdt takes it: Q8_0 blocks for Q8_0/Q4_0, Q8_K for
     * Q4_K/Q6_K; bit-identical to mm_quantize_row_q8_0 / mm_quantize_row_q8_K (the scalar definition). */
    void (*quant_act)(mm_dtype wdt, const float *x, void *dst, int64_t K);
    /* y[t·ldy + r] = W_r · xa_t for rows r < nr of one packed 16-row group (mm_pack.h) of a dt matrix with
     * K columns, t < nt; xa rows xab bytes apart: mm_block_q8_0x for Q8_0/Q4_0, Q8_K for Q4_K/Q6_K. */
    void (*dot_packed)(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y,
                       size_t ldy);
    /* 1 if dot_packed is this set's own kernel (worth packing a matrix for), 0 if it is the scalar one. */
    int pack_native;
} mm_kernel_set;

/* mm_kernels.c: the scalar quant_act (also the AVX2 set's). */
void mm_quant_act_scalar(mm_dtype wdt, const float *x, void *dst, int64_t K);

/* mm_pack_x86.c: the AVX-512 set's dot_packed. */
void mm_dot_packed_512(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y,
                       size_t ldy);

/* mm_kernels_x86.c: the AVX2 / AVX-512 sets, or NULL where not compiled or not supported by the CPU. */
const mm_kernel_set *mm_kernels_avx2(void);
const mm_kernel_set *mm_kernels_avx512(void);
#endif
