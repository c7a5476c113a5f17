/* mm_pack.c — building and reading the 16-row interleaved weight layouts of mm_pack.h, and the scalar
 * product over them. One table of byte moves per format serves both directions, so pack and unpack are
 * exact inverses by construction. */
#include "kernels/mm_pack.h"
#include <stdlib.h>

int mm_pack_supported(mm_dtype dt) {
    return dt == MM_Q8_0 || dt == MM_Q4_0 || dt == MM_Q4_K || dt == MM_Q6_K || dt == MM_Q5_K || dt == MM_IQ4_XS ||
           dt == MM_Q2_K || dt == MM_Q3_K || dt == MM_IQ2_XXS || dt == MM_IQ3_XXS;
}

/* Elements and bytes of one unit (see mm_pack.h). */
static int64_t unit_elems(mm_dtype dt) { return dt == MM_Q8_0 || dt == MM_Q4_0 ? 2 * MM_QK : MM_QK_K; }
static size_t unit_bytes(mm_dtype dt) {
    switch (dt) {
    case MM_Q8_0: return 1088;
    case MM_Q4_0: return 576;
    case MM_Q4_K: return 2304;
    case MM_Q6_K: return 3392;
    case MM_Q5_K: return 2816;
    case MM_IQ4_XS: return 2176;
    case MM_Q2_K: return 1344;
    case MM_Q3_K: return 1856;
    case MM_IQ2_XXS: return 1088;
    case MM_IQ3_XXS: return 1600;
    default: return 0;
    }
}

size_t mm_pack_group_bytes(mm_dtype dt, int64_t K) {
    if (!mm_pack_supported(dt) || K <= 0 || mm_row_bytes(dt, K) == 0) return 0;
    int64_t ue = unit_elems(dt);
    return (size_t)((K + ue - 1) / ue) * unit_bytes(dt);
}

size_t mm_pack_bytes(mm_dtype dt, int64_t N, int64_t K) {
    return (size_t)((N + MM_PACK_ROWS - 1) / MM_PACK_ROWS) * mm_pack_group_bytes(dt, K);
}

/* n bytes (1, 2 or 4) between the pack (p) and a stored block (s), each XOR x on the way, in the direction
 * to_pack. Whole-word moves, and to_pack is a constant at both (inlined) call sites, so unpacking a prefill
 * panel costs a few instructions per 4 weights. */
__attribute__((always_inline)) static inline void mv(uint8_t *p, uint8_t *s, int n, int to_pack, uint8_t x) {
    uint32_t v = 0, xx = 0x01010101u * x;
    uint8_t *src = to_pack ? s : p, *dst = to_pack ? p : s;
    memcpy(&v, src, (size_t)n);
    v ^= xx;
    memcpy(dst, &v, (size_t)n);
}

/* Stored block b (the b-th dt block of a row) of row r ↔ its place in the packed group g. */
__attribute__((always_inline)) static inline void xfer_block(mm_dtype dt, uint8_t *g, int64_t b, int r, uint8_t *sb, int to_pack) {
    switch (dt) {
    case MM_Q8_0:
    case MM_Q4_0: { /* d @0, qs @2: 32 int8 (Q8_0, stored XOR 0x80) or 16 bytes of nibbles (Q4_0) */
        int q8 = dt == MM_Q8_0, nv = q8 ? 8 : 4;
        uint8_t *u = g + (size_t)(b / 2) * (q8 ? 1088 : 576);
        int h = (int)(b % 2);
        mv(u + 32 * h + 2 * r, sb, 2, to_pack, 0);
        for (int j = 0; j < nv; j++) mv(u + 64 + 64 * nv * h + 64 * j + 4 * r, sb + 2 + 4 * j, 4, to_pack, q8 ? 0x80 : 0);
        break;
    }
    case MM_Q4_K:
    case MM_Q5_K: { /* d @0, dmin @2, scales @4, qs @16 (Q4_K) | qh @16, qs @48 (Q5_K) */
        const int q5 = dt == MM_Q5_K;
        uint8_t *u = g + (size_t)b * (q5 ? 2816 : 2304);
        mv(u + 2 * r, sb, 2, to_pack, 0);
        mv(u + 32 + 2 * r, sb + 2, 2, to_pack, 0);
        for (int j = 0; j < 12; j++) mv(u + 64 + 16 * j + r, sb + 4 + j, 1, to_pack, 0);
        for (int v = 0; v < 32; v++) mv(u + 256 + 64 * v + 4 * r, sb + (q5 ? 48 : 16) + 4 * v, 4, to_pack, 0);
        if (q5)
            for (int w = 0; w < 8; w++) mv(u + 2304 + 64 * w + 4 * r, sb + 16 + 4 * w, 4, to_pack, 0);
        break;
    }
    case MM_IQ4_XS: { /* d @0, scales_h @2, scales_l @4, qs @8 */
        uint8_t *u = g + (size_t)b * 2176;
        mv(u + 2 * r, sb, 2, to_pack, 0);
        mv(u + 32 + 2 * r, sb + 2, 2, to_pack, 0);
        mv(u + 64 + 4 * r, sb + 4, 4, to_pack, 0);
        for (int v = 0; v < 32; v++) mv(u + 128 + 64 * v + 4 * r, sb + 8 + 4 * v, 4, to_pack, 0);
        break;
    }
    case MM_Q2_K: { /* scales @0, qs @16, d @80, dmin @82 */
        uint8_t *u = g + (size_t)b * 1344;
        mv(u + 2 * r, sb + 80, 2, to_pack, 0);
        mv(u + 32 + 2 * r, sb + 82, 2, to_pack, 0);
        for (int j = 0; j < 16; j++) mv(u + 64 + 16 * j + r, sb + j, 1, to_pack, 0);
        for (int v = 0; v < 16; v++) mv(u + 320 + 64 * v + 4 * r, sb + 16 + 4 * v, 4, to_pack, 0);
        break;
    }
    case MM_Q3_K: { /* hmask @0, qs @32, scales @96, d @108 */
        uint8_t *u = g + (size_t)b * 1856;
        mv(u + 2 * r, sb + 108, 2, to_pack, 0);
        for (int j = 0; j < 12; j++) mv(u + 64 + 16 * j + r, sb + 96 + j, 1, to_pack, 0);
        for (int v = 0; v < 16; v++) mv(u + 320 + 64 * v + 4 * r, sb + 32 + 4 * v, 4, to_pack, 0);
        for (int w = 0; w < 8; w++) mv(u + 1344 + 64 * w + 4 * r, sb + 4 * w, 4, to_pack, 0);
        break;
    }
    case MM_IQ2_XXS: { /* d @0, qs @2: per sub-block ib, 4 index bytes @2 + 8ib and the sign/scale word @6 + 8ib */
        uint8_t *u = g + (size_t)b * 1088;
        mv(u + 2 * r, sb, 2, to_pack, 0);
        for (int ib = 0; ib < 8; ib++) {
            mv(u + 64 + 64 * ib + 4 * r, sb + 2 + 8 * ib, 4, to_pack, 0);
            mv(u + 576 + 64 * ib + 4 * r, sb + 6 + 8 * ib, 4, to_pack, 0);
        }
        break;
    }
    case MM_IQ3_XXS: { /* d @0, 64 index bytes @2, 8 sign/scale words @66 */
        uint8_t *u = g + (size_t)b * 1600;
        mv(u + 2 * r, sb, 2, to_pack, 0);
        for (int v = 0; v < 16; v++) mv(u + 64 + 64 * v + 4 * r, sb + 2 + 4 * v, 4, to_pack, 0);
        for (int ib = 0; ib < 8; ib++) mv(u + 1088 + 64 * ib + 4 * r, sb + 66 + 4 * ib, 4, to_pack, 0);
        break;
    }
    case MM_Q6_K: { /* ql @0, qh @128, scales @192, d @208 */
        uint8_t *u = g + (size_t)b * 3392;
        mv(u + 2 * r, sb + 208, 2, to_pack, 0);
        for (int j = 0; j < 16; j++) mv(u + 64 + 16 * j + r, sb + 192 + j, 1, to_pack, 0);
        for (int v = 0; v < 32; v++) mv(u + 320 + 64 * v + 4 * r, sb + 4 * v, 4, to_pack, 0);
        for (int w = 0; w < 16; w++) mv(u + 2368 + 64 * w + 4 * r, sb + 128 + 4 * w, 4, to_pack, 0);
        break;
    }
    default: break;
    }
}

void mm_pack_group(mm_dtype dt, const void *w, size_t wrb, int nr, int64_t K, void *dst) {
    size_t bb = mm_dtype_block_bytes(dt);
    int64_t nb = K / mm_dtype_block(dt);
    memset(dst, 0, mm_pack_group_bytes(dt, K));
    for (int r = 0; r < nr; r++) {
        uint8_t *row = (uint8_t *)w + (size_t)r * wrb;
        for (int64_t b = 0; b < nb; b++) xfer_block(dt, dst, b, r, row + (size_t)b * bb, 1);
    }
}

void mm_pack_matrix(mm_dtype dt, const void *w, size_t wrb, int64_t N, int64_t K, void *dst) {
    size_t gb = mm_pack_group_bytes(dt, K);
    int64_t ng = (N + MM_PACK_ROWS - 1) / MM_PACK_ROWS;
#pragma omp parallel for schedule(dynamic, 16) if (ng > 16)
    for (int64_t gi = 0; gi < ng; gi++) {
        int nr = N - gi * MM_PACK_ROWS < MM_PACK_ROWS ? (int)(N - gi * MM_PACK_ROWS) : MM_PACK_ROWS;
        mm_pack_group(dt, (const uint8_t *)w + (size_t)(gi * MM_PACK_ROWS) * wrb, wrb, nr, K, (uint8_t *)dst + (size_t)gi * gb);
    }
}

void *mm_pack_tensor(mm_tensor *t, size_t *bytes) {
    int64_t N = t->shape[0], K = t->shape[1];
    *bytes = mm_pack_bytes(t->dtype, N, K);
    void *p = mm_xalloc_huge(*bytes);
    mm_pack_matrix(t->dtype, t->data, mm_row_bytes(t->dtype, K), N, K, p);
    t->pack = p;
    return p;
}

void mm_pack_unpack(mm_dtype dt, const void *group, int64_t k0, int64_t n, int nr, void *dst, size_t drb) {
    int64_t be = mm_dtype_block(dt), b0 = k0 / be, b1 = (k0 + n) / be;
    size_t bb = mm_dtype_block_bytes(dt);
    for (int r = 0; r < nr; r++)
        for (int64_t b = b0; b < b1; b++)
            xfer_block(dt, (uint8_t *)group, b, r, (uint8_t *)dst + (size_t)r * drb + (size_t)(b - b0) * bb, 0);
}

int mm_pack_act_is_q8_0x(mm_dtype dt) { return dt == MM_Q8_0 || dt == MM_Q4_0; }
size_t mm_pack_act_block_bytes(mm_dtype dt) { return mm_pack_act_is_q8_0x(dt) ? sizeof(mm_block_q8_0x) : sizeof(mm_block_q8_K); }
int64_t mm_pack_act_block_elems(mm_dtype dt) { return mm_pack_act_is_q8_0x(dt) ? MM_QK : MM_QK_K; }

/* Compiled three times, chosen at load. Static behind the exported wrapper below: clang 14 emits no plain
 * symbol for an external target_clones function, so callers in other files would not link. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void pack_act_q8_0(mm_dtype dt, const mm_block_q8_0 *x, void *dst, int64_t nb, size_t bstride) {
    const int off = dt == MM_Q4_0 ? 8 : 128;
    for (int64_t i = 0; i < nb; i++) {
        mm_block_q8_0x *d = (mm_block_q8_0x *)((char *)dst + (size_t)i * bstride);
        int s = 0;
        for (int l = 0; l < MM_QK; l++) s += x[i].qs[l];
        d->d = mm_f16_to_f32(x[i].d);
        d->bias = -off * s;
        memcpy(d->qs, x[i].qs, MM_QK);
    }
}

void mm_pack_act_q8_0(mm_dtype dt, const mm_block_q8_0 *x, void *dst, int64_t nb, size_t bstride) {
    pack_act_q8_0(dt, x, dst, nb, bstride);
}

void mm_pack_dot_scalar(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, size_t xab, float *y,
                        size_t ldy) {
    size_t rb = mm_row_bytes(dt, K);
    int64_t nb = K / MM_QK;
    uint8_t *rows = mm_xmalloc(rb * (size_t)nr);
    mm_pack_unpack(dt, group, 0, K, nr, rows, rb);
    int q8 = dt == MM_Q8_0 || dt == MM_Q4_0;
    mm_block_q8_0 *xs = q8 ? mm_xmalloc(sizeof(mm_block_q8_0) * (size_t)nb) : NULL;
    for (int t = 0; t < nt; t++) {
        const void *xt = (const char *)xa + (size_t)t * xab;
        if (q8) { /* back to Q8_0 blocks: the f32 scale came from an f16, so the round trip is exact */
            const mm_block_q8_0x *xx = xt;
            for (int64_t i = 0; i < nb; i++) {
                xs[i].d = mm_f32_to_f16(xx[i].d);
                memcpy(xs[i].qs, xx[i].qs, MM_QK);
            }
            xt = xs;
        }
        for (int r = 0; r < nr; r++) {
            const uint8_t *wr = rows + (size_t)r * rb;
            y[(size_t)t * ldy + (size_t)r] = mm_vec_dot(dt, wr, xt, K);
        }
    }
    free(xs);
    free(rows);
}

void mm_pack_gemm_scalar(mm_dtype dt, int64_t K, const void *group, int nr, int nt, const void *xa, float *y, size_t ldy) {
    const size_t bb = mm_pack_act_block_bytes(dt), rb = bb * (size_t)(K / mm_pack_act_block_elems(dt));
    const int64_t nb = K / mm_pack_act_block_elems(dt);
    char *rows = mm_xmalloc(rb * (size_t)nt);
    for (int t = 0; t < nt; t++)
        for (int64_t b = 0; b < nb; b++) memcpy(rows + (size_t)t * rb + (size_t)b * bb, (const char *)xa + ((size_t)b * MM_QT + (size_t)t) * bb, bb);
    mm_pack_dot_scalar(dt, K, group, nr, nt, rows, rb, y, ldy);
    free(rows);
}
