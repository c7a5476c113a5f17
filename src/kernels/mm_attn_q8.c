/* mm_attn_q8.c — the integer primitives of decode attention over a Q8_0 cache (mm_kernels.h: qk_q8, pv_q8), in
 * plain C: the definitions the SIMD versions (mm_attn_q8_x86.c) are tested against bit for bit, and the query
 * quantizer. Scores: the scaled query in int8 blocks of 32 with an f32 scale, integer dots with the key blocks,
 * the two scales applied per block. Values: per value block the tile's weights p·d_v (≥ 0: a Q8_0 scale is
 * amax/127) in int16 against their maximum, integer sums with the value bytes, the weight scale applied once. */
#include <math.h>
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

void mm_qk_q8_scalar(int G, int nk, int D, const int8_t *q, const float *dq, const void *k, size_t ldk, float *s, size_t lds,
                     void *work) {
    (void)work;
    const int nb = D / MM_QK;
    for (int g = 0; g < G; g++)
        for (int j = 0; j < nk; j++) {
            const mm_block_q8_0 *kb = (const void *)((const char *)k + (size_t)j * ldk);
            const int8_t *qg = q + (size_t)g * D;
            float acc = 0.0f;
            for (int b = 0; b < nb; b++) {
                int32_t is = 0;
                for (int i = 0; i < MM_QK; i++) is += (int32_t)qg[b * MM_QK + i] * kb[b].qs[i];
                acc = fmaf((float)is, mm_f16_to_f32(kb[b].d) * dq[(size_t)g * nb + b], acc);
            }
            s[(size_t)g * lds + j] = acc;
        }
}

void mm_pv_q8_scalar(int G, int nk, int D, const float *p, size_t ldp, const void *v, size_t ldv, float *o, size_t ldo, void *work) {
    const int nb = D / MM_QK;
    float *w = work;   /* [nk] the weights p·d_v of one head and block */
    int16_t *wq = (int16_t *)(w + nk);
    for (int g = 0; g < G; g++)
        for (int b = 0; b < nb; b++) {
            float wmax = 0.0f;
            for (int j = 0; j < nk; j++) {
                const mm_block_q8_0 *vb = (const void *)((const char *)v + (size_t)j * ldv);
                w[j] = p[(size_t)g * ldp + j] * mm_f16_to_f32(vb[b].d);
                wmax = fmaxf(wmax, w[j]);
            }
            if (!(wmax >= MM_PV_Q8_WMIN)) continue;
            const float inv = 32767.0f / wmax, c = wmax / 32767.0f;
            for (int j = 0; j < nk; j++) wq[j] = (int16_t)nearbyintf(w[j] * inv);
            for (int i = 0; i < MM_QK; i++) {
                int32_t is = 0;
                for (int j = 0; j < nk; j++) is += (int32_t)wq[j] * ((const mm_block_q8_0 *)((const char *)v + (size_t)j * ldv))[b].qs[i];
                float *od = o + (size_t)g * ldo + b * MM_QK + i;
                *od = fmaf((float)is, c, *od);
            }
        }
}
