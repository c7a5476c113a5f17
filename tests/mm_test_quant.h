/* mm_test_quant.h — weights of any block type for tests: quantized from f32, or, for the grid i-quants this
 * engine reads but does not write, random blocks. */
#ifndef MM_TEST_QUANT_H
#define MM_TEST_QUANT_H
#include "kernels/mm_quant.h"

static uint64_t mmt_qrng = 0x2545f4914f6cdd1dull;
static inline unsigned mmt_qbyte(void) {
    mmt_qrng ^= mmt_qrng << 13;
    mmt_qrng ^= mmt_qrng >> 7;
    mmt_qrng ^= mmt_qrng << 17;
    return (unsigned)(mmt_qrng >> 56);
}

/* rows × cols weights of type dt from src: quantized (with the importance matrix qw[cols], or NULL), or for a
 * type without a quantizer random blocks (every index, sign and sub-scale bit random) whose f16 super-block
 * scale d is chosen so that each block's RMS matches src's: values stay finite and of the source's size. */
static inline void mmt_make_weights(mm_dtype dt, const float *src, void *dst, int64_t rows, int64_t cols, const float *qw) {
    if (mm_quant_can_quantize(dt)) {
        mm_quantize_rows_w(dt, src, dst, rows, cols, qw);
        return;
    }
    const int be = mm_dtype_block(dt);
    const size_t bb = mm_dtype_block_bytes(dt), nb = (size_t)(rows * cols / be);
    uint8_t *p = dst;
    float y[256];
    for (size_t i = 0; i < nb * bb; i++) p[i] = (uint8_t)mmt_qbyte();
    for (size_t b = 0; b < nb; b++) {
        uint8_t *blk = p + b * bb;
        for (int pass = 0; pass < 2; pass++) {
            float d = 1.0f;
            if (pass) { /* scale to the source block's RMS */
                double sy = 0, sx = 0;
                for (int k = 0; k < be; k++) sy += (double)y[k] * y[k], sx += (double)src[b * be + k] * src[b * be + k];
                d = sy > 0 ? (float)sqrt(sx / sy) : 0.0f;
            }
            const uint16_t h = mm_f32_to_f16(d);
            if (dt == MM_IQ1_M) /* its scale's 16 bits are the top nibbles of the four u16 scale words */
                for (int k = 0; k < 4; k++) blk[49 + 2 * k] = (uint8_t)((blk[49 + 2 * k] & 15) | ((h >> (4 * k)) & 15) << 4);
            else
                memcpy(blk, &h, 2);
            if (!pass) mm_dequantize_row(dt, blk, y, be);
        }
    }
}
#endif
