/* mm_test_quant.h — weights of any block type for tests, quantized from f32. */
#ifndef MM_TEST_QUANT_H
#define MM_TEST_QUANT_H
#include "kernels/mm_quant.h"

/* rows × cols weights of type dt from src (with the importance matrix qw[cols], or NULL); every type has a quantizer. */
static inline void mmt_make_weights(mm_dtype dt, const float *src, void *dst, int64_t rows, int64_t cols, const float *qw) {
    mm_quantize_rows_w(dt, src, dst, rows, cols, qw);
}
#endif
