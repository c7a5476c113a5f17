/* mm_quant_k.c — the legacy types Q4_1, Q5_0, Q5_1 and the K-quants Q2_K, Q3_K, Q5_K (layouts in mm_quant.h):
 * block decoding to integer levels (the scalar reference both dequantization and the dot product use),
 * the generic level-based row functions, and weighted least-squares quantizers. */
#include "kernels/mm_quant.h"
#include <math.h>

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline float h2f(uint16_t h) { return mm_f16_to_f32(h); }
static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Q3_K's 16 6-bit scales (still biased by 32) from scales[12]: bytes 0..7 hold the low nibbles of scales
 * 0..7 (low) and 8..15 (high), bytes 8..11 the top 2 bits, 4 scales per byte. */
int mm_block_levels_k(mm_dtype t, const void *blk, mm_qlevels *o) {
    switch (t) {
    case MM_Q4_1: {
        const mm_block_q4_1 *b = blk;
        for (int j = 0; j < 16; j++) {
            o->q[j] = (int8_t)(b->qs[j] & 15);
            o->q[j + 16] = (int8_t)(b->qs[j] >> 4);
        }
        for (int g = 0; g < 4; g++) o->d[g] = h2f(b->d), o->m[g] = -h2f(b->m);
        return 32;
    }
    case MM_Q5_0:
    case MM_Q5_1: {
        const int one = t == MM_Q5_1;
        const uint8_t *qs = one ? ((const mm_block_q5_1 *)blk)->qs : ((const mm_block_q5_0 *)blk)->qs;
        const uint32_t qh = rd32(one ? ((const mm_block_q5_1 *)blk)->qh : ((const mm_block_q5_0 *)blk)->qh);
        const int off = one ? 0 : 16;
        for (int j = 0; j < 16; j++) {
            o->q[j] = (int8_t)(((qs[j] & 15) | ((qh >> j) & 1) << 4) - off);
            o->q[j + 16] = (int8_t)(((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - off);
        }
        float d = one ? h2f(((const mm_block_q5_1 *)blk)->d) : h2f(((const mm_block_q5_0 *)blk)->d);
        float m = one ? -h2f(((const mm_block_q5_1 *)blk)->m) : 0.0f;
        for (int g = 0; g < 4; g++) o->d[g] = d, o->m[g] = m;
        return 32;
    }
    case MM_Q2_K: {
        const mm_block_q2_K *b = blk;
        const float d = h2f(b->d), dmin = h2f(b->dmin);
        /* half h (128 elements) uses qs[32h..32h+31]; shift 2s gives elements 128h + 32s + l */
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) o->q[128 * h + 32 * s + l] = (int8_t)((b->qs[32 * h + l] >> (2 * s)) & 3);
        for (int g = 0; g < 32; g++) {
            int sc = b->scales[g / 2];
            o->d[g] = d * (float)(sc & 15);
            o->m[g] = dmin * (float)(sc >> 4);
        }
        return 256;
    }
    case MM_Q3_K: {
        const mm_block_q3_K *b = blk;
        int sc[16];
        mm_q3_K_scales(b->scales, sc);
        const float d = h2f(b->d);
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) {
                    int q = (b->qs[32 * h + l] >> (2 * s)) & 3;
                    int hb = (b->hmask[l] >> (4 * h + s)) & 1;
                    o->q[128 * h + 32 * s + l] = (int8_t)(q - (hb ? 0 : 4));
                }
        for (int g = 0; g < 32; g++) o->d[g] = d * (float)(sc[g / 2] - 32), o->m[g] = 0.0f;
        return 256;
    }
    case MM_Q5_K: {
        const mm_block_q5_K *b = blk;
        const float d = h2f(b->d), dmin = h2f(b->dmin);
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++) {
                int lo = b->qs[32 * p + l] & 15, hi = b->qs[32 * p + l] >> 4;
                o->q[64 * p + l] = (int8_t)(lo | ((b->qh[l] >> (2 * p)) & 1) << 4);
                o->q[64 * p + 32 + l] = (int8_t)(hi | ((b->qh[l] >> (2 * p + 1)) & 1) << 4);
            }
        for (int j = 0; j < 8; j++) {
            int sc, m;
            mm_q4_K_scale_min(j, b->scales, &sc, &m);
            for (int g = 4 * j; g < 4 * j + 4; g++) o->d[g] = d * (float)sc, o->m[g] = dmin * (float)m;
        }
        return 256;
    }
    default: return 0;
    }
}

int mm_block_levels(mm_dtype t, const void *blk, mm_qlevels *o) {
    int n = mm_block_levels_k(t, blk, o);
    return n ? n : mm_block_levels_iq(t, blk, o);
}

void mm_dequantize_row_levels(mm_dtype t, const void *src, float *y, int64_t n) {
    const int be = mm_dtype_block(t);
    const size_t bb = mm_dtype_block_bytes(t);
    mm_qlevels L;
    for (int64_t i = 0; i < n / be; i++) {
        if (mm_block_levels(t, (const char *)src + (size_t)i * bb, &L) != be) {
            for (int64_t k = 0; k < n; k++) y[k] = NAN;
            return;
        }
        for (int k = 0; k < be; k++) y[i * be + k] = L.d[k / 8] * (float)L.q[k] - L.m[k / 8];
    }
}

/* One decoded block (be elements) · activation quants a[be] with scale da: Σ_g d·Σ q·a − m·Σ a. */
static float levels_dot(const mm_qlevels *L, const int8_t *a, int be) {
    float s = 0;
    for (int g = 0; g < be / 8; g++) {
        int qa = 0, sa = 0;
        for (int k = 8 * g; k < 8 * g + 8; k++) {
            qa += L->q[k] * a[k];
            sa += a[k];
        }
        s += L->d[g] * (float)qa - L->m[g] * (float)sa;
    }
    return s;
}

float mm_vec_dot(mm_dtype t, const void *w, const void *x, int64_t n) {
    switch (t) {
    case MM_Q8_0: return mm_vec_dot_q8_0_q8_0(w, x, n);
    case MM_Q4_0: return mm_vec_dot_q4_0_q8_0(w, x, n);
    case MM_Q4_K: return mm_vec_dot_q4_K_q8_K(w, x, n);
    case MM_Q6_K: return mm_vec_dot_q6_K_q8_K(w, x, n);
    default: break;
    }
    const int be = mm_dtype_block(t);
    const size_t bb = mm_dtype_block_bytes(t);
    mm_qlevels L;
    float s = 0;
    for (int64_t i = 0; i < n / be; i++) {
        if (mm_block_levels(t, (const char *)w + (size_t)i * bb, &L) != be) return NAN;
        if (be == MM_QK_K) {
            const mm_block_q8_K *a = (const mm_block_q8_K *)x + i;
            s += a->d * levels_dot(&L, a->qs, be);
        } else {
            const mm_block_q8_0 *a = (const mm_block_q8_0 *)x + i;
            s += h2f(a->d) * levels_dot(&L, a->qs, be);
        }
    }
    return s;
}

/* ---------------------------------------------------------------- quantizers
 * Each block is a weighted least-squares fit: weights from the importance matrix (mm_imatrix_weights) when
 * there is one, else 1 (the 32-element types) or av + |x| / x² as the Q4_K / Q6_K quantizers use; then the
 * sub-block scales are quantized against the super-block scale and the levels requantized against the
 * scales as stored. */
static void weights_of(const float *x, const float *qw, int n, int kind, float *w) {
    if (qw) { mm_imatrix_weights(x, qw, n, w); return; }
    float s2 = 0;
    for (int i = 0; i < n; i++) s2 += x[i] * x[i];
    float av = sqrtf(s2 / (float)n);
    for (int i = 0; i < n; i++) w[i] = kind == 0 ? 1.0f : kind == 1 ? av + fabsf(x[i]) : x[i] * x[i];
}

/* Legacy affine 32-blocks (Q4_1 nmax 15, Q5_1 nmax 31): x ≈ d·L + m. */
static void quant_affine32(const float *x, const float *qw, int nmax, float *d, float *m, uint8_t *L) {
    float w[32], mn;
    weights_of(x, qw, 32, 0, w);
    *d = mm_fit_scale_min(32, x, w, nmax, L, &mn);
    *m = -mn;
    float dd = h2f(mm_f32_to_f16(*d)), mm = h2f(mm_f32_to_f16(*m));
    for (int i = 0; i < 32; i++) L[i] = (uint8_t)(dd > 0 ? clampi((int)lrintf((x[i] - mm) / dd), 0, nmax) : 0);
}

/* The affine fit of nsub sub-blocks of len elements (levels 0..nmax): scales sc[], mins mn[] and their maxima. */
static void fit_subblocks(const float *x, const float *w, int nsub, int len, int nmax, uint8_t *L, float *sc, float *mn,
                          float *maxsc, float *maxmn) {
    *maxsc = *maxmn = 0;
    for (int g = 0; g < nsub; g++) {
        sc[g] = mm_fit_scale_min(len, x + len * g, w + len * g, nmax, L + len * g, &mn[g]);
        *maxsc = fmaxf(*maxsc, sc[g]);
        *maxmn = fmaxf(*maxmn, mn[g]);
    }
}

/* 32 five-bit levels into Q5_0 / Q5_1's nibbles qs[16] and high bits qh[4]. */
static void pack_q5(const uint8_t *L, uint8_t *qs, uint8_t *qhb) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((L[j] & 15) | (L[j + 16] & 15) << 4);
        qh |= (uint32_t)(L[j] >> 4) << j | (uint32_t)(L[j + 16] >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qhb[k] = (uint8_t)(qh >> (8 * k));
}

static void quantize_k_row(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw) {
    const int be = mm_dtype_block(t);
    const size_t bb = mm_dtype_block_bytes(t);
    for (int64_t i = 0; i < n / be; i++) {
        const float *xb = x + i * be, *qb = qw ? qw + i * be : NULL;
        char *ob = (char *)dst + (size_t)i * bb;
        uint8_t L[MM_QK_K];
        switch (t) {
        case MM_Q4_1:
        case MM_Q5_1: {
            float d, m;
            quant_affine32(xb, qb, t == MM_Q4_1 ? 15 : 31, &d, &m, L);
            if (t == MM_Q4_1) {
                mm_block_q4_1 *b = (mm_block_q4_1 *)ob;
                b->d = mm_f32_to_f16(d), b->m = mm_f32_to_f16(m);
                for (int j = 0; j < 16; j++) b->qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
            } else {
                mm_block_q5_1 *b = (mm_block_q5_1 *)ob;
                b->d = mm_f32_to_f16(d), b->m = mm_f32_to_f16(m);
                pack_q5(L, b->qs, b->qh);
            }
            break;
        }
        case MM_Q4_0:
        case MM_Q5_0: {
            float w[32];
            int8_t Ls[32];
            const int nmax = t == MM_Q4_0 ? 8 : 16;
            weights_of(xb, qb, 32, 2, w);
            float d = mm_fit_scale_sym(32, xb, w, nmax, Ls), dd = h2f(mm_f32_to_f16(d));
            for (int k = 0; k < 32; k++) L[k] = (uint8_t)(dd != 0 ? clampi((int)lrintf(xb[k] / dd), -nmax, nmax - 1) + nmax : nmax);
            if (t == MM_Q4_0) {
                mm_block_q4_0 *b = (mm_block_q4_0 *)ob;
                b->d = mm_f32_to_f16(d);
                for (int j = 0; j < 16; j++) b->qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
            } else {
                mm_block_q5_0 *b = (mm_block_q5_0 *)ob;
                b->d = mm_f32_to_f16(d);
                pack_q5(L, b->qs, b->qh);
            }
            break;
        }
        case MM_Q2_K: {
            mm_block_q2_K *b = (mm_block_q2_K *)ob;
            float w[MM_QK_K], sc[16], mn[16], maxsc, maxmn;
            weights_of(xb, qb, MM_QK_K, 1, w);
            fit_subblocks(xb, w, 16, 16, 3, L, sc, mn, &maxsc, &maxmn);
            b->d = mm_f32_to_f16(maxsc / 15.0f);
            b->dmin = mm_f32_to_f16(maxmn / 15.0f);
            float d = h2f(b->d), dmin = h2f(b->dmin);
            for (int g = 0; g < 16; g++) {
                int ls = d > 0 ? clampi((int)lrintf(sc[g] / d), 0, 15) : 0, lm = dmin > 0 ? clampi((int)lrintf(mn[g] / dmin), 0, 15) : 0;
                b->scales[g] = (uint8_t)(ls | lm << 4);
                float dg = d * (float)ls, mg = dmin * (float)lm;
                for (int l = 0; l < 16; l++)
                    L[16 * g + l] = (uint8_t)(dg > 0 ? clampi((int)lrintf((xb[16 * g + l] + mg) / dg), 0, 3) : 0);
            }
            for (int h = 0; h < 2; h++)
                for (int l = 0; l < 32; l++) {
                    const uint8_t *Lh = L + 128 * h;
                    b->qs[32 * h + l] = (uint8_t)(Lh[l] | Lh[l + 32] << 2 | Lh[l + 64] << 4 | Lh[l + 96] << 6);
                }
            break;
        }
        case MM_Q3_K: {
            mm_block_q3_K *b = (mm_block_q3_K *)ob;
            float w[MM_QK_K], sc[16], amax = 0, max = 0;
            int8_t Ls[MM_QK_K];
            weights_of(xb, qb, MM_QK_K, 2, w);
            for (int g = 0; g < 16; g++) {
                sc[g] = mm_fit_scale_sym(16, xb + 16 * g, w + 16 * g, 4, Ls + 16 * g);
                if (fabsf(sc[g]) > amax) amax = fabsf(sc[g]), max = sc[g];
            }
            memset(b, 0, sizeof *b);
            float d = 0;
            int ls[16];
            if (amax > 0) {
                b->d = mm_f32_to_f16(max / -32.0f);
                d = h2f(b->d);
            }
            for (int g = 0; g < 16; g++) {
                ls[g] = d != 0 ? clampi((int)lrintf(sc[g] / d), -32, 31) : 0;
                int u = ls[g] + 32;
                if (g < 8) b->scales[g] |= (uint8_t)(u & 15);
                else b->scales[g - 8] |= (uint8_t)((u & 15) << 4);
                b->scales[8 + (g & 3)] |= (uint8_t)((u >> 4) << (2 * (g >> 2)));
                float dg = d * (float)ls[g];
                for (int l = 0; l < 16; l++) L[16 * g + l] = (uint8_t)(dg != 0 ? clampi((int)lrintf(xb[16 * g + l] / dg), -4, 3) + 4 : 4);
            }
            for (int h = 0; h < 2; h++)
                for (int s = 0; s < 4; s++)
                    for (int l = 0; l < 32; l++) {
                        int v = L[128 * h + 32 * s + l];
                        b->qs[32 * h + l] |= (uint8_t)((v & 3) << (2 * s));
                        if (v > 3) b->hmask[l] |= (uint8_t)(1u << (4 * h + s));
                    }
            break;
        }
        case MM_Q5_K: {
            mm_block_q5_K *b = (mm_block_q5_K *)ob;
            float w[MM_QK_K], sc[8], mn[8], maxsc, maxmn;
            weights_of(xb, qb, MM_QK_K, 1, w);
            fit_subblocks(xb, w, 8, 32, 31, L, sc, mn, &maxsc, &maxmn);
            memset(b, 0, sizeof *b);
            float isc = maxsc > 0 ? 63.0f / maxsc : 0, imn = maxmn > 0 ? 63.0f / maxmn : 0;
            for (int j = 0; j < 8; j++) {
                int ls = clampi((int)lrintf(isc * sc[j]), 0, 63), lm = clampi((int)lrintf(imn * mn[j]), 0, 63);
                if (j < 4) {
                    b->scales[j] |= (uint8_t)ls;
                    b->scales[j + 4] |= (uint8_t)lm;
                } else {
                    b->scales[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
                    b->scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                    b->scales[j] |= (uint8_t)((lm >> 4) << 6);
                }
            }
            b->d = mm_f32_to_f16(maxsc / 63.0f);
            b->dmin = mm_f32_to_f16(maxmn / 63.0f);
            float d = h2f(b->d), dmin = h2f(b->dmin);
            for (int j = 0; j < 8; j++) {
                int s, m;
                mm_q4_K_scale_min(j, b->scales, &s, &m);
                float dj = d * (float)s, dm = dmin * (float)m;
                for (int l = 0; l < 32; l++)
                    L[32 * j + l] = (uint8_t)(dj != 0 ? clampi((int)lrintf((xb[32 * j + l] + dm) / dj), 0, 31) : 0);
            }
            for (int p = 0; p < 4; p++)
                for (int l = 0; l < 32; l++) {
                    int a = L[64 * p + l], c = L[64 * p + 32 + l];
                    b->qs[32 * p + l] = (uint8_t)((a & 15) | (c & 15) << 4);
                    b->qh[l] |= (uint8_t)((a >> 4) << (2 * p) | (c >> 4) << (2 * p + 1));
                }
            break;
        }
        default: break;
        }
    }
}

void mm_quantize_row_other(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw) {
    switch (t) {
    case MM_Q4_0: case MM_Q4_1: case MM_Q5_0: case MM_Q5_1: case MM_Q2_K: case MM_Q3_K: case MM_Q5_K:
        quantize_k_row(t, x, dst, n, qw);
        break;
    default: mm_quantize_row_iq(t, x, dst, n, qw); break;
    }
}
