/* mm_quant.h — llama.cpp/GGUF block formats, bit for bit: quantize, dequantize, and the scalar
 * integer dot products the kernels are checked against.
 *
 * Layouts (little-endian, packed, no padding; f16 = IEEE half):
 *   Q8_0  32 elems, 34 B:  f16 d; int8 qs[32]                 x[i] = d·qs[i]
 *   Q4_0  32 elems, 18 B:  f16 d; u8 qs[16]                   x[i] = d·((qs[i] & 15) − 8),  x[i+16] = d·((qs[i] >> 4) − 8)
 *   Q4_K 256 elems, 144 B: f16 d, f16 dmin; u8 scales[12]; u8 qs[128]
 *        8 sub-blocks of 32 with 6-bit scale sc[j] and min m[j] packed in scales[12]:
 *          j<4: sc = s[j]&63, m = s[j+4]&63;  j>=4: sc = (s[j+4]&15)|((s[j−4]>>6)<<4), m = (s[j+4]>>4)|((s[j]>>6)<<4)
 *        qs[32p+l] low nibble → element 64p+l (sub-block 2p), high nibble → element 64p+32+l (sub-block 2p+1)
 *        x = d·sc·q − dmin·m
 *   Q6_K 256 elems, 210 B: u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d
 *        per half h (128 elems; ql+=64h, qh+=32h, sc+=8h), l<32:
 *          e[l]    = (ql[l]&15    | ((qh[l]>>0)&3)<<4) − 32, scale sc[l/16]
 *          e[l+32] = (ql[l+32]&15 | ((qh[l]>>2)&3)<<4) − 32, scale sc[l/16+2]
 *          e[l+64] = (ql[l]>>4    | ((qh[l]>>4)&3)<<4) − 32, scale sc[l/16+4]
 *          e[l+96] = (ql[l+32]>>4 | ((qh[l]>>6)&3)<<4) − 32, scale sc[l/16+6]
 *        x = d·sc·e
 *   Q8_K 256 elems, 292 B (activations only, never stored in files): f32 d; int8 qs[256]; int16 bsums[16]
 *        (bsums[g] = Σ qs[16g..16g+15])
 * The other GGUF types (block structs below, decoding in mm_quant_k.c / mm_quant_iq.c, each the layout of
 * llama.cpp's ggml-common.h): Q4_1, Q5_0, Q5_1 (32 elements; Q8_0 activations), Q2_K, Q3_K, Q5_K, IQ4_XS and
 * the grid i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M (256; Q8_K activations), IQ4_NL (32;
 * Q8_0). Their scalar reference decodes a block to integer levels with a scale and an offset per 8 elements
 * (mm_qlevels): element i = d[i/8]·q[i] − m[i/8]; the dot product is Σ_g d[g]·Σ q·a − m[g]·Σ a in integers per
 * group of 8, times the activation block's scale. */
#ifndef MM_QUANT_H
#define MM_QUANT_H
#include "base/mm_common.h"

#define MM_QK 32
#define MM_QK_K 256

typedef struct { uint16_t d; int8_t qs[32]; } mm_block_q8_0;
typedef struct { uint16_t d; uint8_t qs[16]; } mm_block_q4_0;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } mm_block_q4_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } mm_block_q6_K;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } mm_block_q8_K;

_Static_assert(sizeof(mm_block_q8_0) == 34, "Q8_0 block");
_Static_assert(sizeof(mm_block_q4_0) == 18, "Q4_0 block");
_Static_assert(sizeof(mm_block_q4_K) == 144, "Q4_K block");
_Static_assert(sizeof(mm_block_q6_K) == 210, "Q6_K block");
_Static_assert(sizeof(mm_block_q8_K) == 292, "Q8_K block");

/* x = d·q + m, q = nibble: qs[j] low → element j, high → element j+16 */
typedef struct { uint16_t d, m; uint8_t qs[16]; } mm_block_q4_1;
/* q = nibble | bit (j or j+16) of qh (as a little-endian u32) << 4; x = d·(q − 16) (Q5_0), d·q + m (Q5_1) */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } mm_block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } mm_block_q5_1;
/* 16 groups of 16: scales[g] = sc | m << 4; 2-bit q; x = d·sc·q − dmin·m */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } mm_block_q2_K;
/* 16 groups of 16: 6-bit scales (−32) packed in scales[12]; q = 2 low bits − 4·(hmask bit clear); x = d·sc·q */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } mm_block_q3_K;
/* Q4_K's scales with a fifth bit from qh: x = d·sc·q − dmin·m, q in 0..31 */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } mm_block_q5_K;
/* x = d·kvalues_iq4nl[nibble] (IQ4_XS: per 32 a 6-bit scale − 32 from scales_l / scales_h) */
typedef struct { uint16_t d; uint8_t qs[16]; } mm_block_iq4_nl;
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } mm_block_iq4_xs;
/* Grid i-quants: 8 (or 4) element magnitudes from a codebook entry, signs from ksigns, a scale per 32 or 16. */
typedef struct { uint16_t d; uint16_t qs[32]; } mm_block_iq2_xxs;
typedef struct { uint16_t d; uint16_t qs[32]; uint8_t scales[8]; } mm_block_iq2_xs;
typedef struct { uint16_t d; uint8_t qs[64]; uint8_t qh[8]; uint8_t scales[8]; } mm_block_iq2_s;
typedef struct { uint16_t d; uint8_t qs[96]; } mm_block_iq3_xxs;
typedef struct { uint16_t d; uint8_t qs[64]; uint8_t qh[8]; uint8_t signs[32]; uint8_t scales[4]; } mm_block_iq3_s;
typedef struct { uint16_t d; uint8_t qs[32]; uint16_t qh[8]; } mm_block_iq1_s;
typedef struct { uint8_t qs[32]; uint8_t qh[16]; uint8_t scales[8]; } mm_block_iq1_m;
_Static_assert(sizeof(mm_block_q4_1) == 20 && sizeof(mm_block_q5_0) == 22 && sizeof(mm_block_q5_1) == 24, "legacy blocks");
_Static_assert(sizeof(mm_block_q2_K) == 84 && sizeof(mm_block_q3_K) == 110 && sizeof(mm_block_q5_K) == 176, "K blocks");
_Static_assert(sizeof(mm_block_iq4_nl) == 18 && sizeof(mm_block_iq4_xs) == 136, "IQ4 blocks");
_Static_assert(sizeof(mm_block_iq2_xxs) == 66 && sizeof(mm_block_iq2_xs) == 74 && sizeof(mm_block_iq2_s) == 82, "IQ2 blocks");
_Static_assert(sizeof(mm_block_iq3_xxs) == 98 && sizeof(mm_block_iq3_s) == 110, "IQ3 blocks");
_Static_assert(sizeof(mm_block_iq1_s) == 50 && sizeof(mm_block_iq1_m) == 56, "IQ1 blocks");

/* One block as integer levels: element i = d[i/8]·q[i] − m[i/8] (32 or 256 elements). */
typedef struct { int8_t q[MM_QK_K]; float d[MM_QK_K / 8]; float m[MM_QK_K / 8]; } mm_qlevels;
/* Decodes block blk of type t (one of the "other" types above); returns its element count, 0 if t is none. */
int mm_block_levels(mm_dtype t, const void *blk, mm_qlevels *o);
int mm_block_levels_k(mm_dtype t, const void *blk, mm_qlevels *o);  /* mm_quant_k.c: legacy and K types */
int mm_block_levels_iq(mm_dtype t, const void *blk, mm_qlevels *o); /* mm_quant_iq.c: IQ types */
/* n elements of an "other" type through mm_block_levels. */
void mm_dequantize_row_levels(mm_dtype t, const void *src, float *y, int64_t n);

/* Quantize n floats (n a multiple of the block size) into blocks / dequantize n elements back. */
void mm_quantize_row_q8_0(const float *x, void *dst, int64_t n);
void mm_quantize_row_q4_0(const float *x, void *dst, int64_t n);
void mm_quantize_row_q4_K(const float *x, void *dst, int64_t n);
void mm_quantize_row_q6_K(const float *x, void *dst, int64_t n);
void mm_quantize_row_q8_K(const float *x, void *dst, int64_t n);
void mm_dequantize_row_q8_0(const void *src, float *y, int64_t n);
void mm_dequantize_row_q4_0(const void *src, float *y, int64_t n);
void mm_dequantize_row_q4_K(const void *src, float *y, int64_t n);
void mm_dequantize_row_q6_K(const void *src, float *y, int64_t n);
void mm_dequantize_row_q8_K(const void *src, float *y, int64_t n);

/* 1 if t is a block-quantized type (products on quantized activations), 0 for F32/F16/BF16. */
static inline int mm_dtype_is_quant(mm_dtype t) { return t >= MM_Q8_0 && t < MM_DTYPE_COUNT; }
/* 1 if products with t weights take Q8_K activation blocks (the 256-element types), 0 if Q8_0 ones. */
static inline int mm_dtype_act_q8_K(mm_dtype t) { return mm_dtype_is_quant(t) && mm_dtype_block(t) == MM_QK_K; }
/* The scalar reference product of one weight row of any quantized t (n elements) with its activation row
 * (Q8_0 or Q8_K blocks per mm_dtype_act_q8_K). */
float mm_vec_dot(mm_dtype t, const void *w, const void *x, int64_t n);

/* n elements of any weight dtype (F32/F16/BF16 too) from src into y[n] (n a multiple of the block). */
void mm_dequantize_row(mm_dtype t, const void *src, float *y, int64_t n);
/* rows×cols floats into dtype t (rows contiguous, mm_row_bytes(t, cols) each), threaded over rows.
 * Returns the bytes written, or 0 (with mm_set_error) if cols is not a multiple of t's block. */
size_t mm_quantize_rows(mm_dtype t, const float *x, void *dst, int64_t rows, int64_t cols);
/* The same with an importance matrix qw[cols] (NULL: none): the weights of every least-squares fit are
 * qw[k]·sqrt(σ² + x²) (mm_imatrix_weights), so columns whose activations are large are fitted more closely. */
size_t mm_quantize_rows_w(mm_dtype t, const float *x, void *dst, int64_t rows, int64_t cols, const float *qw);
void mm_quantize_row_q4_K_w(const float *x, void *dst, int64_t n, const float *qw);
void mm_quantize_row_q6_K_w(const float *x, void *dst, int64_t n, const float *qw);
/* One row of a type mm_quantize_row_* does not cover (mm_quant_k.c / mm_quant_iq.c), qw as above. */
void mm_quantize_row_other(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw);
void mm_quantize_row_iq(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw);
/* One row of a grid i-quant (mm_quant_grid.c: codebook search per group of 8 or 4, weighted least-squares scales;
 * IQ1_S / IQ1_M: the best split of each sub-block into levels −1, 0, 1 with its ±1/8 shifts, snapped to the codebook). */
void mm_quantize_row_grid(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw);

/* Least-squares helpers of the quantizers (mm_quant.c): x ≈ scale·L − mn with L in [0, nmax] (returns scale,
 * *mn ≥ 0), and x ≈ scale·L with L in [−nmax, nmax − 1] (weights w, NULL: x²); mm_imatrix_weights writes the
 * weights of n elements under the importance matrix qw[n]. */
float mm_fit_scale_min(int n, const float *x, const float *w, int nmax, uint8_t *L, float *mn_out);
float mm_fit_scale_sym(int n, const float *x, const float *w, int nmax, int8_t *L);
void mm_imatrix_weights(const float *x, const float *qw, int n, float *w);

/* Scalar integer dot products of one weight row (n elements) with a quantized activation row:
 * Σ_i w[i]·x[i] as the formats define it. Q8_0/Q4_0 take a Q8_0 activation, Q4_K/Q6_K a Q8_K one. */
float mm_vec_dot_q8_0_q8_0(const void *w, const void *x, int64_t n);
float mm_vec_dot_q4_0_q8_0(const void *w, const void *x, int64_t n);
float mm_vec_dot_q4_K_q8_K(const void *w, const void *x, int64_t n);
float mm_vec_dot_q6_K_q8_K(const void *w, const void *x, int64_t n);

/* Q4_K sub-block j (0..7) 6-bit scale and min from the packed scales[12]. */
static inline void mm_q4_K_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* IQ4_NL / IQ4_XS: the 16 levels a nibble indexes. */
extern const int8_t mm_iq4nl_values[16];

/* IQ4_XS sub-block ib (0..7) scale: 6 bits, stored + 32. */
static inline int mm_iq4_xs_scale(const mm_block_iq4_xs *b, int ib) {
    return ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | ((b->scales_h >> (2 * ib)) & 3) << 4;
}

/* Q3_K's 16 group scales (6-bit, stored + 32: 0..63) from its packed scales[12]. */
static inline void mm_q3_K_scales(const uint8_t *s, int *sc) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        const int hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        sc[j] = lo | hi << 4;
    }
}
#endif
