/* mm_quant_iq.c — llama.cpp's i-quants (layouts in mm_quant.h, codebooks in mm_iq_tables.c): block decoding
 * to integer levels for IQ4_NL, IQ4_XS, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M, and weighted
 * least-squares quantizers for IQ4_NL and IQ4_XS (the grid types' codebook search is mm_quant_grid.c). */
#include "kernels/mm_quant.h"
#include "kernels/mm_iq_tables.h"
#include <math.h>

/* The 16 non-uniform levels of IQ4_NL / IQ4_XS (a constant of the format). */
const int8_t mm_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
/* IQ1_S / IQ1_M shift every level by ±1/8 of the scale. */
#define IQ1_DELTA 0.125f

static inline float h2f(uint16_t h) { return mm_f16_to_f32(h); }
static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
/* The 8 sign bits of a 7-bit ksigns index: the eighth makes the count of negative signs even. */
static inline int ksigns(int i) { return i | (__builtin_popcount((unsigned)i) & 1) << 7; }

/* 8 elements from a uint64 grid entry with sign byte s (bit j: element j negative). */
static void put8(int8_t *q, uint64_t g, int s) {
    for (int j = 0; j < 8; j++) {
        int v = (int)((g >> (8 * j)) & 0xff);
        q[j] = (int8_t)((s >> j) & 1 ? -v : v);
    }
}
/* 4 elements from a uint32 grid entry, sign bits s (bit j: element j). */
static void put4(int8_t *q, uint32_t g, int s) {
    for (int j = 0; j < 4; j++) {
        int v = (int)((g >> (8 * j)) & 0xff);
        q[j] = (int8_t)((s >> j) & 1 ? -v : v);
    }
}
/* IQ1 groups: 8 signed levels of an iq1s_grid entry, scale dl, shift delta (x = dl·(q + delta)). */
static void put_iq1(mm_qlevels *o, int g, uint64_t e, float dl, float delta) {
    for (int j = 0; j < 8; j++) o->q[8 * g + j] = (int8_t)(e >> (8 * j));
    o->d[g] = dl;
    o->m[g] = -dl * delta;
}

int mm_block_levels_iq(mm_dtype t, const void *blk, mm_qlevels *o) {
    switch (t) {
    case MM_IQ4_NL: {
        const mm_block_iq4_nl *b = blk;
        for (int j = 0; j < 16; j++) {
            o->q[j] = mm_iq4nl_values[b->qs[j] & 15];
            o->q[j + 16] = mm_iq4nl_values[b->qs[j] >> 4];
        }
        for (int g = 0; g < 4; g++) o->d[g] = h2f(b->d), o->m[g] = 0;
        return 32;
    }
    case MM_IQ4_XS: {
        const mm_block_iq4_xs *b = blk;
        const float d = h2f(b->d);
        for (int ib = 0; ib < 8; ib++) {
            const int ls = mm_iq4_xs_scale(b, ib);
            const uint8_t *qs = b->qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                o->q[32 * ib + j] = mm_iq4nl_values[qs[j] & 15];
                o->q[32 * ib + j + 16] = mm_iq4nl_values[qs[j] >> 4];
            }
            for (int g = 4 * ib; g < 4 * ib + 4; g++) o->d[g] = d * (float)(ls - 32), o->m[g] = 0;
        }
        return 256;
    }
    case MM_IQ2_XXS: {
        const mm_block_iq2_xxs *b = blk;
        const float d = h2f(b->d);
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *p = (const uint8_t *)(b->qs + 4 * ib);
            const uint32_t a1 = rd32(p + 4);
            const float db = d * (0.5f + (float)(a1 >> 28)) * 0.25f;
            for (int l = 0; l < 4; l++) {
                put8(o->q + 32 * ib + 8 * l, mm_iq2xxs_grid[p[l]], ksigns((int)(a1 >> (7 * l)) & 127));
                o->d[4 * ib + l] = db, o->m[4 * ib + l] = 0;
            }
        }
        return 256;
    }
    case MM_IQ2_XS: {
        const mm_block_iq2_xs *b = blk;
        const float d = h2f(b->d);
        for (int ib = 0; ib < 8; ib++) {
            const float db[2] = {d * (0.5f + (float)(b->scales[ib] & 15)) * 0.25f, d * (0.5f + (float)(b->scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++) {
                const uint16_t v = b->qs[4 * ib + l];
                put8(o->q + 32 * ib + 8 * l, mm_iq2xs_grid[v & 511], ksigns(v >> 9));
                o->d[4 * ib + l] = db[l / 2], o->m[4 * ib + l] = 0;
            }
        }
        return 256;
    }
    case MM_IQ2_S: {
        const mm_block_iq2_s *b = blk;
        const float d = h2f(b->d);
        const uint8_t *signs = b->qs + 32;
        for (int ib = 0; ib < 8; ib++) {
            const float db[2] = {d * (0.5f + (float)(b->scales[ib] & 15)) * 0.25f, d * (0.5f + (float)(b->scales[ib] >> 4)) * 0.25f};
            for (int l = 0; l < 4; l++) {
                const int idx = b->qs[4 * ib + l] | ((b->qh[ib] << (8 - 2 * l)) & 0x300);
                put8(o->q + 32 * ib + 8 * l, mm_iq2s_grid[idx], signs[4 * ib + l]);
                o->d[4 * ib + l] = db[l / 2], o->m[4 * ib + l] = 0;
            }
        }
        return 256;
    }
    case MM_IQ3_XXS: {
        const mm_block_iq3_xxs *b = blk;
        const float d = h2f(b->d);
        for (int ib = 0; ib < 8; ib++) {
            const uint32_t a = rd32(b->qs + 64 + 4 * ib);
            const float db = d * (0.5f + (float)(a >> 28)) * 0.5f;
            const uint8_t *qs = b->qs + 8 * ib;
            for (int l = 0; l < 4; l++) {
                const int s = ksigns((int)(a >> (7 * l)) & 127);
                put4(o->q + 32 * ib + 8 * l, mm_iq3xxs_grid[qs[2 * l]], s);
                put4(o->q + 32 * ib + 8 * l + 4, mm_iq3xxs_grid[qs[2 * l + 1]], s >> 4);
                o->d[4 * ib + l] = db, o->m[4 * ib + l] = 0;
            }
        }
        return 256;
    }
    case MM_IQ3_S: {
        const mm_block_iq3_s *b = blk;
        const float d = h2f(b->d);
        for (int ib = 0; ib < 8; ib++) { /* 32 elements: qs[8ib..], qh[ib], signs[4ib..], scale nibble ib%2 of scales[ib/2] */
            const float db = d * (float)(1 + 2 * ((b->scales[ib / 2] >> (4 * (ib % 2))) & 15));
            const uint8_t *qs = b->qs + 8 * ib;
            for (int l = 0; l < 4; l++) {
                const int s = b->signs[4 * ib + l];
                put4(o->q + 32 * ib + 8 * l, mm_iq3s_grid[qs[2 * l] | ((b->qh[ib] << (8 - 2 * l)) & 256)], s);
                put4(o->q + 32 * ib + 8 * l + 4, mm_iq3s_grid[qs[2 * l + 1] | ((b->qh[ib] << (7 - 2 * l)) & 256)], s >> 4);
                o->d[4 * ib + l] = db, o->m[4 * ib + l] = 0;
            }
        }
        return 256;
    }
    case MM_IQ1_S: {
        const mm_block_iq1_s *b = blk;
        const float d = h2f(b->d);
        for (int ib = 0; ib < 8; ib++) {
            const int qh = b->qh[ib];
            const float dl = d * (float)(2 * ((qh >> 12) & 7) + 1), delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
            for (int l = 0; l < 4; l++)
                put_iq1(o, 4 * ib + l, mm_iq1s_grid[b->qs[4 * ib + l] | ((qh >> (3 * l)) & 7) << 8], dl, delta);
        }
        return 256;
    }
    case MM_IQ1_M: {
        const mm_block_iq1_m *b = blk;
        uint16_t sc[4];
        for (int k = 0; k < 4; k++) sc[k] = (uint16_t)(b->scales[2 * k] | b->scales[2 * k + 1] << 8);
        const uint16_t dh = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
        const float d = h2f(dh);
        for (int ib = 0; ib < 8; ib++) {
            const float dl1 = d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 7) + 1);
            const float dl2 = d * (float)(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1);
            const uint8_t *qs = b->qs + 4 * ib, *qh = b->qh + 2 * ib;
            const int idx[4] = {qs[0] | ((qh[0] << 8) & 0x700), qs[1] | ((qh[0] << 4) & 0x700), qs[2] | ((qh[1] << 8) & 0x700),
                                qs[3] | ((qh[1] << 4) & 0x700)};
            const float delta[4] = {qh[0] & 0x08 ? -IQ1_DELTA : IQ1_DELTA, qh[0] & 0x80 ? -IQ1_DELTA : IQ1_DELTA,
                                    qh[1] & 0x08 ? -IQ1_DELTA : IQ1_DELTA, qh[1] & 0x80 ? -IQ1_DELTA : IQ1_DELTA};
            for (int l = 0; l < 4; l++) put_iq1(o, 4 * ib + l, mm_iq1s_grid[idx[l]], l < 2 ? dl1 : dl2, delta[l]);
        }
        return 256;
    }
    default: return 0;
    }
}

/* ---------------------------------------------------------------- IQ4 quantizers */
static int iq4_index(float v) { /* the nearest of the 16 levels */
    int best = 0;
    float be = fabsf(v - mm_iq4nl_values[0]);
    for (int k = 1; k < 16; k++) {
        float e = fabsf(v - mm_iq4nl_values[k]);
        if (e < be) be = e, best = k;
    }
    return best;
}

/* Scale d with x ≈ d·kvalues[L] minimizing Σ w·err²: trial inverse scales around −127/max, each with the
 * closed-form best d for its level assignment. */
static float iq4_fit(const float *x, const float *w, int n) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    if (amax < 1e-30f) return 0.0f;
    float best = -1, bestd = max / mm_iq4nl_values[0];
    for (int it = -9; it <= 9; it++) {
        float id = ((float)mm_iq4nl_values[0] + 0.5f * (float)it) / max, sqx = 0, sq2 = 0;
        for (int i = 0; i < n; i++) {
            float q = mm_iq4nl_values[iq4_index(id * x[i])];
            sqx += w[i] * q * x[i];
            sq2 += w[i] * q * q;
        }
        if (sq2 > 0 && sqx * sqx > best * sq2) best = sqx * sqx / sq2, bestd = sqx / sq2;
    }
    return bestd;
}

static void iq4_weights(const float *x, const float *qw, int n, float *w) {
    if (qw) mm_imatrix_weights(x, qw, n, w);
    else
        for (int i = 0; i < n; i++) w[i] = x[i] * x[i];
}

void mm_quantize_row_iq(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw) {
    float w[MM_QK_K];
    if (t == MM_IQ4_NL) {
        mm_block_iq4_nl *b = dst;
        for (int64_t i = 0; i < n / 32; i++, x += 32) {
            iq4_weights(x, qw ? qw + i * 32 : NULL, 32, w);
            b[i].d = mm_f32_to_f16(iq4_fit(x, w, 32));
            float d = h2f(b[i].d), id = d != 0 ? 1.0f / d : 0.0f;
            for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)(iq4_index(id * x[j]) | iq4_index(id * x[j + 16]) << 4);
        }
    } else if (t == MM_IQ4_XS) {
        mm_block_iq4_xs *b = dst;
        for (int64_t i = 0; i < n / MM_QK_K; i++, x += MM_QK_K) {
            iq4_weights(x, qw ? qw + i * MM_QK_K : NULL, MM_QK_K, w);
            float sc[8], amax = 0, max = 0;
            for (int ib = 0; ib < 8; ib++) {
                sc[ib] = iq4_fit(x + 32 * ib, w + 32 * ib, 32);
                if (fabsf(sc[ib]) > amax) amax = fabsf(sc[ib]), max = sc[ib];
            }
            memset(&b[i], 0, sizeof b[i]);
            b[i].d = mm_f32_to_f16(amax > 0 ? max / -32.0f : 0.0f);
            const float d = h2f(b[i].d);
            for (int ib = 0; ib < 8; ib++) {
                int ls = d != 0 ? (int)lrintf(sc[ib] / d) : 0;
                ls = ls < -32 ? -32 : ls > 31 ? 31 : ls;
                const int u = ls + 32;
                b[i].scales_l[ib / 2] |= (uint8_t)((u & 15) << (4 * (ib % 2)));
                b[i].scales_h |= (uint16_t)((u >> 4) << (2 * ib));
                const float dl = d * (float)ls, id = dl != 0 ? 1.0f / dl : 0.0f;
                for (int j = 0; j < 16; j++)
                    b[i].qs[16 * ib + j] = (uint8_t)(iq4_index(id * x[32 * ib + j]) | iq4_index(id * x[32 * ib + j + 16]) << 4);
            }
        }
    } else mm_quantize_row_grid(t, x, dst, n, qw);
}
