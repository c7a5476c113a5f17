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
 *        (bsums[g] = Σ qs[16g..16g+15]) */
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

/* n elements of any weight dtype (F32/F16/BF16 too) from src into y[n] (n a multiple of the block). */
void mm_dequantize_row(mm_dtype t, const void *src, float *y, int64_t n);
/* rows×cols floats into dtype t (rows contiguous, mm_row_bytes(t, cols) each), threaded over rows.
 * Returns the bytes written, or 0 (with mm_set_error) if cols is not a multiple of t's block. */
size_t mm_quantize_rows(mm_dtype t, const float *x, void *dst, int64_t rows, int64_t cols);

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
#endif
