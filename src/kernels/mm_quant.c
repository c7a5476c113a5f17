/* mm_quant.c — GGUF block formats (layouts in mm_quant.h): reference quantizers with a least-squares
 * search of block scales, dequantizers, and scalar integer dot products. */
#include "kernels/mm_quant.h"
#include <math.h>
#include <stdlib.h>

static inline int mm_nearest(float v) { return (int)lrintf(v); }
static inline float mm_h2f(uint16_t h) { return mm_f16_to_f32(h); }

/* ---------------------------------------------------------------- Q8_0 */
void mm_quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    mm_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / MM_QK; i++, x += MM_QK) {
        float amax = 0.0f;
        for (int l = 0; l < MM_QK; l++) amax = fmaxf(amax, fabsf(x[l]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mm_f32_to_f16(d);
        for (int l = 0; l < MM_QK; l++) b[i].qs[l] = (int8_t)mm_nearest(x[l] * id);
    }
}
void mm_dequantize_row_q8_0(const void *src, float *y, int64_t n) {
    const mm_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / MM_QK; i++) {
        float d = mm_h2f(b[i].d);
        for (int l = 0; l < MM_QK; l++) *y++ = d * (float)b[i].qs[l];
    }
}

/* ---------------------------------------------------------------- Q4_0 */
void mm_quantize_row_q4_0(const float *x, void *dst, int64_t n) {
    mm_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / MM_QK; i++, x += MM_QK) {
        float amax = 0.0f, max = 0.0f; /* the signed value of largest magnitude maps to −8 */
        for (int l = 0; l < MM_QK; l++)
            if (fabsf(x[l]) > amax) { amax = fabsf(x[l]); max = x[l]; }
        float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = mm_f32_to_f16(d);
        for (int l = 0; l < 16; l++) {
            int q0 = (int)(x[l] * id + 8.5f), q1 = (int)(x[l + 16] * id + 8.5f);
            q0 = q0 < 0 ? 0 : q0 > 15 ? 15 : q0;
            q1 = q1 < 0 ? 0 : q1 > 15 ? 15 : q1;
            b[i].qs[l] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
void mm_dequantize_row_q4_0(const void *src, float *y, int64_t n) {
    const mm_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / MM_QK; i++, y += MM_QK) {
        float d = mm_h2f(b[i].d);
        for (int l = 0; l < 16; l++) {
            y[l] = d * (float)((b[i].qs[l] & 15) - 8);
            y[l + 16] = d * (float)((b[i].qs[l] >> 4) - 8);
        }
    }
}

/* ---------------------------------------------------------------- Q4_K
 * Fit x[i] ≈ scale·L[i] − mn with L in [0, nmax], minimizing Σ w[i]·err²: start from the min/max
 * grid, then for a sweep of trial inverse scales quantize and solve the 2×2 weighted least squares
 * for (scale, mn) given the levels; keep the best. Returns scale, *mn_out = mn ≥ 0. */
float mm_fit_scale_min(int n, const float *x, const float *w, int nmax, uint8_t *L, float *mn_out) {
    float mn = x[0], mx = x[0], sw = 0, swx = 0;
    for (int i = 0; i < n; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
        sw += w[i];
        swx += w[i] * x[i];
    }
    if (mn > 0) mn = 0;
    if (mx <= mn) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *mn_out = -mn;
        return 0.0f;
    }
    float iscale = (float)nmax / (mx - mn), scale = 1.0f / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        int l = mm_nearest(iscale * (x[i] - mn));
        L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        float e = scale * L[i] + mn - x[i];
        best += w[i] * e * e;
    }
    uint8_t La[256];
    for (int is = 0; is <= 20; is++) {
        float isc = (-1.0f + 0.1f * (float)is + (float)nmax) / (mx - mn);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = mm_nearest(isc * (x[i] - mn));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            La[i] = (uint8_t)l;
            sl += w[i] * l;
            sl2 += w[i] * l * l;
            sxl += w[i] * l * x[i];
        }
        float D = sw * sl2 - sl * sl;
        if (D <= 0) continue;
        float s = (sw * sxl - swx * sl) / D, m = (sl2 * swx - sl * sxl) / D;
        if (m > 0) { m = 0; s = sl2 > 0 ? sxl / sl2 : 0; }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float e = s * La[i] + m - x[i];
            err += w[i] * e * e;
        }
        if (err < best) {
            best = err;
            scale = s;
            mn = m;
            memcpy(L, La, (size_t)n);
        }
    }
    *mn_out = -mn;
    return scale;
}

/* Per-element weights of a least-squares fit: with an importance matrix qw (the row's columns),
 * qw[i]·sqrt(σ² + x[i]²) with σ² = 2·mean(x²) over the block, as llama.cpp weighs them. */
void mm_imatrix_weights(const float *x, const float *qw, int n, float *w) {
    float s2 = 0;
    for (int i = 0; i < n; i++) s2 += x[i] * x[i];
    s2 = 2.0f * s2 / (float)n;
    for (int i = 0; i < n; i++) w[i] = qw[i] * sqrtf(s2 + x[i] * x[i]);
}

void mm_quantize_row_q4_K(const float *x, void *dst, int64_t n) { mm_quantize_row_q4_K_w(x, dst, n, NULL); }
void mm_quantize_row_q4_K_w(const float *x, void *dst, int64_t n, const float *qw) {
    mm_block_q4_K *b = dst;
    float wbuf[MM_QK_K];
    for (int64_t i = 0; i < n / MM_QK_K; i++, x += MM_QK_K) {
        uint8_t L[MM_QK_K];
        float w[32], sc[8], mn[8], sum2 = 0, maxsc = 0, maxmn = 0;
        for (int l = 0; l < MM_QK_K; l++) sum2 += x[l] * x[l];
        float av = sqrtf(sum2 / MM_QK_K);
        if (qw) mm_imatrix_weights(x, qw + i * MM_QK_K, MM_QK_K, wbuf);
        for (int j = 0; j < 8; j++) {
            for (int l = 0; l < 32; l++) w[l] = qw ? wbuf[32 * j + l] : av + fabsf(x[32 * j + l]);
            sc[j] = mm_fit_scale_min(32, x + 32 * j, w, 15, L + 32 * j, &mn[j]);
            maxsc = fmaxf(maxsc, sc[j]);
            maxmn = fmaxf(maxmn, mn[j]);
        }
        float isc = maxsc > 0 ? 63.0f / maxsc : 0, imn = maxmn > 0 ? 63.0f / maxmn : 0;
        memset(b[i].scales, 0, 12);
        for (int j = 0; j < 8; j++) {
            int ls = mm_nearest(isc * sc[j]), lm = mm_nearest(imn * mn[j]);
            ls = ls > 63 ? 63 : ls < 0 ? 0 : ls;
            lm = lm > 63 ? 63 : lm < 0 ? 0 : lm;
            if (j < 4) {
                b[i].scales[j] |= (uint8_t)ls;
                b[i].scales[j + 4] |= (uint8_t)lm;
            } else {
                b[i].scales[j + 4] = (uint8_t)((ls & 15) | ((lm & 15) << 4));
                b[i].scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                b[i].scales[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        b[i].d = mm_f32_to_f16(maxsc / 63.0f);
        b[i].dmin = mm_f32_to_f16(maxmn / 63.0f);
        float d = mm_h2f(b[i].d), dmin = mm_h2f(b[i].dmin);
        for (int j = 0; j < 8; j++) { /* requantize against the scales as stored */
            int s, m;
            mm_q4_K_scale_min(j, b[i].scales, &s, &m);
            float dj = d * (float)s, dm = dmin * (float)m;
            for (int l = 0; l < 32; l++) {
                int q = dj != 0.0f ? mm_nearest((x[32 * j + l] + dm) / dj) : 0;
                L[32 * j + l] = (uint8_t)(q < 0 ? 0 : q > 15 ? 15 : q);
            }
        }
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++) b[i].qs[32 * p + l] = (uint8_t)(L[64 * p + l] | (L[64 * p + 32 + l] << 4));
    }
}
void mm_dequantize_row_q4_K(const void *src, float *y, int64_t n) {
    const mm_block_q4_K *b = src;
    for (int64_t i = 0; i < n / MM_QK_K; i++) {
        float d = mm_h2f(b[i].d), dmin = mm_h2f(b[i].dmin);
        for (int p = 0; p < 4; p++) {
            int s0, m0, s1, m1;
            mm_q4_K_scale_min(2 * p, b[i].scales, &s0, &m0);
            mm_q4_K_scale_min(2 * p + 1, b[i].scales, &s1, &m1);
            float d0 = d * s0, n0 = dmin * m0, d1 = d * s1, n1 = dmin * m1;
            const uint8_t *q = b[i].qs + 32 * p;
            for (int l = 0; l < 32; l++) *y++ = d0 * (float)(q[l] & 15) - n0;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] >> 4) - n1;
        }
    }
}

/* ---------------------------------------------------------------- Q6_K
 * Symmetric fit x ≈ scale·L, L in [−nmax, nmax−1], weights w (NULL: x²): sweep trial inverse scales around
 * −nmax/max, take the closed-form best scale for each level assignment, keep the best. */
float mm_fit_scale_sym(int n, const float *x, const float *wt, int nmax, int8_t *L) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax < 1e-30f) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float best_q = -1, best_scale = 0;
    int8_t La[32];
    for (int is = -9; is <= 9; is++) {
        float isc = -((float)nmax + 0.1f * (float)is) / max, slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            int l = mm_nearest(isc * x[i]);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            La[i] = (int8_t)l;
            float w = wt ? wt[i] : x[i] * x[i];
            slx += w * x[i] * l;
            sl2 += w * l * l;
        }
        /* error = Σw x² − slx²/sl2 at the optimal scale slx/sl2: maximize slx²/sl2 */
        if (sl2 > 0 && slx * slx > best_q * sl2) {
            best_q = slx * slx / sl2;
            best_scale = slx / sl2;
            memcpy(L, La, (size_t)n);
        }
    }
    return best_scale;
}

void mm_quantize_row_q6_K(const float *x, void *dst, int64_t n) { mm_quantize_row_q6_K_w(x, dst, n, NULL); }
void mm_quantize_row_q6_K_w(const float *x, void *dst, int64_t n, const float *qw) {
    mm_block_q6_K *b = dst;
    float wbuf[MM_QK_K];
    for (int64_t i = 0; i < n / MM_QK_K; i++, x += MM_QK_K) {
        int8_t L8[MM_QK_K];
        uint8_t L[MM_QK_K];
        float sc[16], amax = 0, max = 0;
        if (qw) mm_imatrix_weights(x, qw + i * MM_QK_K, MM_QK_K, wbuf);
        for (int g = 0; g < 16; g++) {
            sc[g] = mm_fit_scale_sym(16, x + 16 * g, qw ? wbuf + 16 * g : NULL, 32, L8 + 16 * g);
            if (fabsf(sc[g]) > amax) { amax = fabsf(sc[g]); max = sc[g]; }
        }
        memset(&b[i], 0, sizeof b[i]);
        if (amax == 0) {
            memset(b[i].ql, 0x00, 128);
            memset(b[i].qh, 0xaa, 64); /* all levels 32 ⇒ value 0 */
            b[i].d = 0;
            continue;
        }
        float isc = -128.0f / max;
        b[i].d = mm_f32_to_f16(1.0f / isc);
        float d = mm_h2f(b[i].d);
        for (int g = 0; g < 16; g++) {
            int s = mm_nearest(isc * sc[g]);
            b[i].scales[g] = (int8_t)(s > 127 ? 127 : s < -128 ? -128 : s);
            float dg = d * (float)b[i].scales[g];
            for (int l = 0; l < 16; l++) {
                int q = dg != 0.0f ? mm_nearest(x[16 * g + l] / dg) : 0;
                q = q < -32 ? -32 : q > 31 ? 31 : q;
                L[16 * g + l] = (uint8_t)(q + 32);
            }
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                b[i].ql[64 * h + l] = (uint8_t)((Lh[l] & 15) | ((Lh[l + 64] & 15) << 4));
                b[i].ql[64 * h + l + 32] = (uint8_t)((Lh[l + 32] & 15) | ((Lh[l + 96] & 15) << 4));
                b[i].qh[32 * h + l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                                ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}
/* The 256 signed levels (−32..31) of a Q6_K block in element order. */
static void mm_q6_K_levels(const mm_block_q6_K *b, int8_t *e) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int8_t *o = e + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}
void mm_dequantize_row_q6_K(const void *src, float *y, int64_t n) {
    const mm_block_q6_K *b = src;
    int8_t e[MM_QK_K];
    for (int64_t i = 0; i < n / MM_QK_K; i++) {
        float d = mm_h2f(b[i].d);
        mm_q6_K_levels(&b[i], e);
        for (int l = 0; l < MM_QK_K; l++) *y++ = d * (float)b[i].scales[l / 16] * (float)e[l];
    }
}

/* ---------------------------------------------------------------- Q8_K */
void mm_quantize_row_q8_K(const float *x, void *dst, int64_t n) {
    mm_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / MM_QK_K; i++, x += MM_QK_K) {
        float amax = 0, max = 0;
        for (int l = 0; l < MM_QK_K; l++)
            if (fabsf(x[l]) > amax) { amax = fabsf(x[l]); max = x[l]; }
        if (amax == 0) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float isc = -128.0f / max;
        for (int l = 0; l < MM_QK_K; l++) {
            int q = mm_nearest(isc * x[l]);
            b[i].qs[l] = (int8_t)(q > 127 ? 127 : q < -128 ? -128 : q);
        }
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += b[i].qs[16 * g + l];
            b[i].bsums[g] = (int16_t)s;
        }
        b[i].d = 1.0f / isc;
    }
}
void mm_dequantize_row_q8_K(const void *src, float *y, int64_t n) {
    const mm_block_q8_K *b = src;
    for (int64_t i = 0; i < n / MM_QK_K; i++)
        for (int l = 0; l < MM_QK_K; l++) *y++ = b[i].d * (float)b[i].qs[l];
}

/* ---------------------------------------------------------------- generic rows */
void mm_dequantize_row(mm_dtype t, const void *src, float *y, int64_t n) {
    switch (t) {
    case MM_F32: memcpy(y, src, (size_t)n * sizeof(float)); break;
    case MM_F16:
        for (int64_t i = 0; i < n; i++) y[i] = mm_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case MM_BF16:
        for (int64_t i = 0; i < n; i++) y[i] = mm_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case MM_Q8_0: mm_dequantize_row_q8_0(src, y, n); break;
    case MM_Q4_0: mm_dequantize_row_q4_0(src, y, n); break;
    case MM_Q4_K: mm_dequantize_row_q4_K(src, y, n); break;
    case MM_Q6_K: mm_dequantize_row_q6_K(src, y, n); break;
    default: mm_dequantize_row_levels(t, src, y, n); break;
    }
}

static void mm_quantize_one_row(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw) {
    switch (t) {
    case MM_F32: memcpy(dst, x, (size_t)n * sizeof(float)); break;
    case MM_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = mm_f32_to_f16(x[i]);
        break;
    case MM_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = mm_f32_to_bf16(x[i]);
        break;
    case MM_Q8_0: mm_quantize_row_q8_0(x, dst, n); break;
    case MM_Q4_0:
        if (qw) mm_quantize_row_other(t, x, dst, n, qw);
        else mm_quantize_row_q4_0(x, dst, n);
        break;
    case MM_Q4_K: mm_quantize_row_q4_K_w(x, dst, n, qw); break;
    case MM_Q6_K: mm_quantize_row_q6_K_w(x, dst, n, qw); break;
    default: mm_quantize_row_other(t, x, dst, n, qw); break;
    }
}

size_t mm_quantize_rows(mm_dtype t, const float *x, void *dst, int64_t rows, int64_t cols) {
    return mm_quantize_rows_w(t, x, dst, rows, cols, NULL);
}
size_t mm_quantize_rows_w(mm_dtype t, const float *x, void *dst, int64_t rows, int64_t cols, const float *qw) {
    if ((unsigned)t >= MM_DTYPE_COUNT) {
        mm_set_error("quantize: unknown dtype %d", (int)t);
        return 0;
    }
    size_t rb = mm_row_bytes(t, cols);
    if (rb == 0 || rows < 0) {
        mm_set_error("quantize: %lld columns is not a multiple of %s's block of %d", (long long)cols,
                     mm_dtype_name(t), mm_dtype_block(t));
        return 0;
    }
#pragma omp parallel for schedule(dynamic, 16) if (rows * cols > (1 << 16))
    for (int64_t r = 0; r < rows; r++) mm_quantize_one_row(t, x + (size_t)r * (size_t)cols, (char *)dst + (size_t)r * rb, cols, qw);
    return (size_t)rows * rb;
}

/* ---------------------------------------------------------------- scalar dot products */
float mm_vec_dot_q8_0_q8_0(const void *w, const void *x, int64_t n) {
    const mm_block_q8_0 *a = w, *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / MM_QK; i++) {
        int sum = 0;
        for (int l = 0; l < MM_QK; l++) sum += a[i].qs[l] * b[i].qs[l];
        s += mm_h2f(a[i].d) * mm_h2f(b[i].d) * (float)sum;
    }
    return s;
}
float mm_vec_dot_q4_0_q8_0(const void *w, const void *x, int64_t n) {
    const mm_block_q4_0 *a = w;
    const mm_block_q8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / MM_QK; i++) {
        int sum = 0;
        for (int l = 0; l < 16; l++)
            sum += ((a[i].qs[l] & 15) - 8) * b[i].qs[l] + ((a[i].qs[l] >> 4) - 8) * b[i].qs[l + 16];
        s += mm_h2f(a[i].d) * mm_h2f(b[i].d) * (float)sum;
    }
    return s;
}
float mm_vec_dot_q4_K_q8_K(const void *w, const void *x, int64_t n) {
    const mm_block_q4_K *a = w;
    const mm_block_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / MM_QK_K; i++) {
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m, d = 0;
            mm_q4_K_scale_min(j, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (j / 2);
            const int8_t *y = b[i].qs + 32 * j;
            for (int l = 0; l < 32; l++) d += ((j & 1) ? q[l] >> 4 : q[l] & 15) * y[l];
            sumi += sc * d;
            summ += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        s += b[i].d * (mm_h2f(a[i].d) * (float)sumi - mm_h2f(a[i].dmin) * (float)summ);
    }
    return s;
}
float mm_vec_dot_q6_K_q8_K(const void *w, const void *x, int64_t n) {
    const mm_block_q6_K *a = w;
    const mm_block_q8_K *b = x;
    int8_t e[MM_QK_K];
    float s = 0;
    for (int64_t i = 0; i < n / MM_QK_K; i++) {
        mm_q6_K_levels(&a[i], e);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int d = 0;
            for (int l = 0; l < 16; l++) d += e[16 * g + l] * b[i].qs[16 * g + l];
            sumi += a[i].scales[g] * d;
        }
        s += b[i].d * mm_h2f(a[i].d) * (float)sumi;
    }
    return s;
}
