/* mm_attn_int.c — the integer primitives of decode attention over a Q8_0 / Q4_0 cache (mm_kernels.h: qk_i8,
 * pv_i16), in plain C: the definitions the SIMD versions (mm_attn_int_x86.c) are tested against bit for bit, and
 * the query quantizer. Scores: the scaled query in int8 blocks of 32 with an f32 scale, integer dots with the key
 * blocks' levels, the two scales applied per block. Values: per value block the tile's weights p·d_v (of either
 * sign: a Q4_0 scale is negative when the block's largest magnitude is positive) in int16 against their largest
 * magnitude, integer sums with the value levels, the weight scale applied once. */
#include <math.h>
#include <string.h>
#include "kernels/mm_kernels.h"
#include "kernels/mm_quant.h"

void mm_attn_quant_q(const float *x, int D, int8_t *qs, float *dq) {
    for (int b = 0; b < D / MM_QK; b++, x += MM_QK, qs += MM_QK) {
        float amax = 0.0f;
        for (int i = 0; i < MM_QK; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < MM_QK; i++) {
            const float r = nearbyintf(x[i] * id);
            qs[i] = (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : r);
        }
        dq[b] = d;
    }
}

/* Block b of a Q8_0 / Q4_0 row as its 32 levels lv (x[i] = d·lv[i], |lv| ≤ 127 / 8); returns d. */
static float block_levels(mm_dtype t, const void *row, int b, int8_t *lv) {
    if (t == MM_Q4_0) {
        const mm_block_q4_0 *k = (const mm_block_q4_0 *)row + b;
        for (int i = 0; i < MM_QK / 2; i++) lv[i] = (int8_t)((k->qs[i] & 15) - 8), lv[i + MM_QK / 2] = (int8_t)((k->qs[i] >> 4) - 8);
        return mm_f16_to_f32(k->d);
    }
    const mm_block_q8_0 *k = (const mm_block_q8_0 *)row + b;
    memcpy(lv, k->qs, MM_QK);
    return mm_f16_to_f32(k->d);
}

void mm_qk_i8_scalar(mm_dtype kt, int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s,
                     size_t lds, void *work, mm_prefetch *pf) {
    (void)work;
    const int nb = D / MM_QK;
    int8_t lv[MM_QK];
    for (int g = 0; g < G; g++)
        for (int j = 0; j < nk; j++) {
            mm_prefetch_lines(pf, 1);
            const int8_t *qg = q + (size_t)g * D;
            float acc = 0.0f;
            for (int b = 0; b < nb; b++) {
                const float d = block_levels(kt, (const char *)k + (size_t)j * ldk, b, lv);
                int32_t is = 0;
                for (int i = 0; i < MM_QK; i++) is += (int32_t)qg[b * MM_QK + i] * lv[i];
                acc = fmaf((float)is, d * dq[(size_t)g * nb + b], acc);
            }
            s[(size_t)g * lds + j] = acc;
        }
}

void mm_pv_i16_scalar(mm_dtype vt, int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo,
                      void *work, mm_prefetch *pf) {
    const int nb = D / MM_QK;
    float *w = work;   /* [nk] the weights p·d_v of one head and block */
    int16_t *wq = (int16_t *)(w + nk);
    int8_t *lv = (int8_t *)(wq + nk); /* [nk][32] the block's value levels */
    for (int g = 0; g < G; g++)
        for (int b = 0; b < nb; b++) {
            float wmax = 0.0f;
            for (int j = 0; j < nk; j++) {
                mm_prefetch_lines(pf, 1);
                w[j] = p[(size_t)g * ldp + j] * block_levels(vt, (const char *)v + (size_t)j * ldv, b, lv + (size_t)j * MM_QK);
                wmax = fmaxf(wmax, fabsf(w[j]));
            }
            if (!(wmax >= MM_PV_I16_WMIN)) continue;
            const float inv = 32767.0f / wmax, c = wmax / 32767.0f;
            for (int j = 0; j < nk; j++) wq[j] = (int16_t)nearbyintf(w[j] * inv);
            for (int i = 0; i < MM_QK; i++) {
                int32_t is = 0;
                for (int j = 0; j < nk; j++) is += (int32_t)wq[j] * lv[(size_t)j * MM_QK + i];
                float *od = o + (size_t)g * ldo + b * MM_QK + i;
                *od = fmaf((float)is, c, *od);
            }
        }
}
