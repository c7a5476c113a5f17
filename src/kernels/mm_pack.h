/* mm_pack.h — row-interleaved ("packed") copies of block-quantized weight matrices, built at load time
 * for the decode matrix-vector product.
 *
 * Why: in the stored (GGUF) layout each row's blocks follow one another, so a SIMD dot product of one
 * row spends load and shuffle slots per block on scale broadcasts and lane reductions, more than the
 * memory stream leaves room for. Here each group of 16 rows is rewritten so that one 64-byte vector holds
 * the same 4 quant bytes of all 16 rows (row r in 32-bit lane r): one vpdpbusd with the 4 matching
 * activation bytes broadcast advances all 16 dot products, the 16 scales load as one vector, and the 16
 * outputs come out in one register. The bits are the file's (nothing is dequantized or re-rounded), only
 * moved; a pack holds exactly the bytes of the rows it replaces, plus padding named below.
 *
 * Group g holds rows 16g..16g+15 (rows past the matrix are zero bytes) as a run of units, each a multiple
 * of 64 bytes (offsets within a unit in bytes; "vector j" = 64 bytes at j·64 whose 32-bit lane r belongs
 * to row r):
 *   Q8_0  unit = blocks 2p, 2p+1 (64 elements), 1088 B: f16 d[2][16] (block, row) @0 | block 2p quants
 *         @64 | block 2p+1 @576; a block's quants are 8 vectors, vector j lane r = qs[4j..4j+3] of row r,
 *         each byte XOR 0x80 (w + 128, the unsigned operand vpdpbusd takes).
 *   Q4_0  unit = blocks 2p, 2p+1, 576 B: f16 d[2][16] @0 | block 2p @64 | block 2p+1 @320; 4 vectors per
 *         block, vector j lane r = qs[4j..4j+3] (low nibbles: elements 4j.., high: 16+4j..).
 *   Q4_K  unit = one super-block (256 elements), 2304 B: f16 d[16] @0 | f16 dmin[16] @32 | scales @64,
 *         byte 16j+r = scales[j] of row r (j < 12) | quants @256: 32 vectors, vector v lane r = qs[4v..4v+3].
 *   Q6_K  unit = one super-block, 3392 B: f16 d[16] @0 (32 zero bytes follow) | scales @64, byte 16j+r =
 *         scales[j] of row r (j < 16) | ql @320: 32 vectors, vector v lane r = ql[4v..4v+3] | qh @2368:
 *         16 vectors, vector u lane r = qh[4u..4u+3].
 *   Q5_K  unit = one super-block, 2816 B: Q4_K's unit (d, dmin, scales, quants at the same offsets, so the Q4_K
 *         code paths serve it) | qh @2304: 8 vectors, vector w lane r = qh[4w..4w+3] (bit k of a byte: the fifth
 *         bit of sub-block k's element, the quant vectors 8P+w (k = 2P, low nibble) and (k = 2P+1, high)).
 *   IQ4_XS unit = one super-block, 2176 B: f16 d[16] @0 | u16 scales_h[16] @32 | scales_l @64: 1 vector, lane r =
 *         scales_l[0..3] | quants @128: 32 vectors, vector v lane r = qs[4v..4v+3] (sub-block v/4: low nibbles
 *         elements 4(v%4).., high 16+4(v%4)..; each a 4-bit index into the IQ4 codebook).
 *   Q2_K  unit = one super-block, 1344 B: f16 d[16] @0 | f16 dmin[16] @32 | scales @64, byte 16j + r = scales[j] of
 *         row r (j < 16: group j's scale in the low nibble, its min in the high) | quants @320: 16 vectors, vector v
 *         lane r = qs[4v..4v+3] (v = 8h + j: bits 2s..2s+1 of each byte are elements 128h + 32s + 4j.., group
 *         8h + 2s + j/4).
 *   Q3_K  unit = one super-block, 1856 B: Q2_K's unit with d @0 (32 zero bytes after it), 12 scale bytes @64 (byte
 *         16j + r = scales[j] of row r; 64 zero bytes after) and the quants @320 as Q2_K's, so the Q2_K code paths
 *         serve it | hmask @1344: 8 vectors, vector w lane r = hmask[4w..4w+3] (bit 4h + s: the third bit of the
 *         field at shift 2s of quant vector 8h + w).
 *   IQ2_XXS unit = one super-block, 1088 B: f16 d[16] @0 (32 zero bytes follow) | indices @64: 8 vectors, vector ib lane
 *         r = qs bytes 8ib..8ib+3 (the 4 grid indices of sub-block ib: 8 magnitudes each) | signs @576: 8 vectors,
 *         vector ib lane r = qs bytes 8ib+4..8ib+7 (the u32 of four 7-bit sign indices and, at bit 28, the scale).
 *   IQ3_XXS unit = one super-block, 1600 B: f16 d[16] @0 (32 zero bytes follow) | indices @64: 16 vectors, vector v
 *         lane r = qs[4v..4v+3] (grid indices of 4 magnitudes each: sub-block v/2, elements 32(v/2) + 16(v%2)..) |
 *         signs @1088: 8 vectors, vector ib lane r = qs[64+4ib..64+4ib+3] (the sign indices and scale of sub-block ib).
 * With an odd number of Q8_0 / Q4_0 blocks the last unit's second block is zero bytes.
 *
 * Adding a block type: its unit layout above and in mm_pack.c (unit_elems, unit_bytes, xfer_block: pack and
 * unpack then follow, and mm_pack_supported makes mm_matmul treat it as quantized); the activation it takes
 * (mm_pack_act_is_q8_0x: Q8_0x blocks of 32 or Q8_K blocks of 256); its scalar dot product (mm_vec_dot), which
 * mm_pack_dot_scalar / mm_pack_gemm_scalar call; and per ISA a dot_packed case (decode) and a gemm_packed tile
 * (prefill, mm_pack_x86*.c). tests/test_kernels.c runs every type of its list through all of them. */
#ifndef MM_PACK_H
#define MM_PACK_H
#include "base/mm_common.h"
#include "kernels/mm_quant.h"

#define MM_PACK_ROWS 16

/* The activation a packed Q8_0 / Q4_0 product takes, one per 32 elements: the Q8_0 block with its scale
 * as f32 and bias = −128·Σqs (Q8_0 weights, stored as w + 128) or −8·Σqs (Q4_0, nibbles q for q − 8): the
 * value the integer sum of the unsigned weights × qs starts from so that it equals Σ w·qs. The products with
 * 256-element types (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS, IQ2_XXS, IQ3_XXS) take Q8_K blocks (mm_quant.h). */
typedef struct { float d; int32_t bias; int8_t qs[32]; } mm_block_q8_0x;
_Static_assert(sizeof(mm_block_q8_0x) == 40, "Q8_0x block");

/* Prefill (mm_kernel_set.gemm_packed) takes its activations token-tiled: tokens in tiles of MM_QT, and in a
 * tile block b of token t at (b·MM_QT + t)·(block bytes) from the tile's start, so the kernel reaches every
 * token of a tile from one pointer with constant offsets while it reuses each weight vector MM_QT times. */
#define MM_QT 8

/* 1 if dt has a packed layout (Q8_0, Q4_0, Q4_K, Q6_K, Q5_K, IQ4_XS, Q2_K, Q3_K, IQ2_XXS, IQ3_XXS). */
int mm_pack_supported(mm_dtype dt);
/* Bytes of one 16-row group of a matrix with K columns (K a multiple of dt's block); 0 if unsupported. */
size_t mm_pack_group_bytes(mm_dtype dt, int64_t K);
/* Bytes of the whole pack of an [N, K] matrix: ceil(N/16) groups. */
size_t mm_pack_bytes(mm_dtype dt, int64_t N, int64_t K);

/* W [N, K] of dtype dt (rows wrb bytes apart) → dst, mm_pack_bytes(dt, N, K) bytes (64-byte aligned for
 * the vector loads to be aligned). Threaded over groups. */
void mm_pack_matrix(mm_dtype dt, const void *w, size_t wrb, int64_t N, int64_t K, void *dst);

/* Packs the 2-D tensor t (a supported dtype) into a new buffer (mm_xalloc_huge; the caller frees it), sets
 * t->pack to it and returns it; *bytes gets its size. */
void *mm_pack_tensor(mm_tensor *t, size_t *bytes);

/* The stored bytes back from a packed group: elements [k0, k0 + n) (block-aligned) of rows r < nr, written as
 * dt blocks to dst + r·drb. Exact inverse of mm_pack_matrix. */
void mm_pack_unpack(mm_dtype dt, const void *group, int64_t k0, int64_t n, int nr, void *dst, size_t drb);

/* 1 if products with packed dt matrices take mm_block_q8_0x activations (Q8_0, Q4_0), 0 if Q8_K (the 256-element
 * types). */
int mm_pack_act_is_q8_0x(mm_dtype dt);
/* Bytes of one activation block for packed dt products, and the elements it covers. */
size_t mm_pack_act_block_bytes(mm_dtype dt);
int64_t mm_pack_act_block_elems(mm_dtype dt);
/* Q8_0 activation blocks → the form packed products with dt (Q8_0 or Q4_0) weights take: nb blocks, block i
 * written at dst + i·bstride bytes. */
void mm_pack_act_q8_0(mm_dtype dt, const mm_block_q8_0 *x, void *dst, int64_t nb, size_t bstride);

/* Packs rows [0, nr) (nr <= 16) of a stored dt matrix with K columns (rows wrb bytes apart) into one group
 * (mm_pack_group_bytes(dt, K) bytes at dst; rows past nr are zeros): what mm_pack_matrix writes for a group. */
void mm_pack_group(mm_dtype dt, const void *w, size_t wrb, int nr, int64_t K, void *dst);

/* The scalar packed product, with the contract of mm_kernel_set.dot_packed: y[t·ldy + r] = W_r · xa_t for
 * rows r < nr of one group and tokens t < nt; xa rows xab bytes apart, mm_block_q8_0x for Q8_0/Q4_0 and
 * Q8_K for the others. Unpacks the rows and runs the scalar format dot products (mm_vec_dot, mm_quant.h). */
void mm_pack_dot_scalar(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y,
                        size_t ldy);
/* The scalar prefill product with the contract of mm_kernel_set.gemm_packed (token-tiled activations, nt <= MM_QT):
 * the tile's tokens gathered back into rows, then mm_pack_dot_scalar. */
void mm_pack_gemm_scalar(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy);
#endif
