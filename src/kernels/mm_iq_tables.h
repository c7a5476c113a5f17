/* mm_iq_tables.h — the codebooks of llama.cpp's i-quant formats (data in mm_iq_tables.c, generated from
 * ggml-common.h by scripts/gen-iq-tables.sh). Entry i of a uint64 grid holds 8 element magnitudes, byte j =
 * element j; uint32 grids hold 4; iq1s_grid bytes are signed (−1, 0, 1). */
#ifndef MM_IQ_TABLES_H
#define MM_IQ_TABLES_H
#include <stdint.h>

extern const uint64_t mm_iq2xxs_grid[256];
extern const uint64_t mm_iq2xs_grid[512];
extern const uint64_t mm_iq2s_grid[1024];
extern const uint32_t mm_iq3xxs_grid[256];
extern const uint32_t mm_iq3s_grid[512];
extern const uint64_t mm_iq1s_grid[2048];
#endif
