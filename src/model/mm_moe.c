/* mm_moe.c — the Mixture-of-Experts block (spec §8): router softmax over all experts in f32, top-k,
 * renormalise, SwiGLU experts. Tokens are grouped by expert so each used expert runs one matrix product
 * over all its tokens (and decode touches only the chosen experts' weights). */
#include <math.h>
#include <stdlib.h>
#include "model/mm_context.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"

void mm_moe_forward(mm_context *c, const mm_layer *ly, int T) {
    const mm_config *cfg = &c->model->cfg;
    const int E = cfg->n_experts, K = cfg->n_experts_per_tok, H = cfg->hidden_size, I = cfg->intermediate_size;
    float *logits = mm_xmalloc(sizeof(float) * (size_t)T * E);   /* [T, E] */
    int *sel = mm_xmalloc(sizeof(int) * (size_t)T * K);           /* [T, K] chosen experts */
    float *wsel = mm_xmalloc(sizeof(float) * (size_t)T * K);      /* [T, K] their renormalised weights */
    mm_matmul(logits, c->h, &ly->router, T);
    for (int t = 0; t < T; t++) {
        float *p = logits + (size_t)t * E;
        mm_softmax(p, E);
        float sum = 0.0f;
        for (int j = 0; j < K; j++) { /* top-k by repeated selection; ties go to the lower expert id */
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int q = 0; q < j; q++) taken |= sel[t * K + q] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            sel[t * K + j] = best;
            wsel[t * K + j] = p[best];
            sum += p[best];
        }
        for (int j = 0; j < K; j++) wsel[t * K + j] /= sum;
    }

    memset(c->a, 0, sizeof(float) * (size_t)T * H);
    int *rows = mm_xmalloc(sizeof(int) * (size_t)T);
    float *rw = mm_xmalloc(sizeof(float) * (size_t)T);
    float *up = c->big; /* [T, I] second projection */
    for (int e = 0; e < E; e++) {
        int n = 0;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < K; j++)
                if (sel[t * K + j] == e) {
                    rows[n] = t;
                    rw[n++] = wsel[t * K + j];
                }
        if (!n) continue;
        for (int i = 0; i < n; i++) memcpy(c->moe_x + (size_t)i * H, c->h + (size_t)rows[i] * H, sizeof(float) * (size_t)H);
        mm_matmul(c->moe_i, c->moe_x, &ly->w1[e], n); /* [n, I] */
        mm_matmul(up, c->moe_x, &ly->w3[e], n);       /* [n, I] */
        for (int64_t i = 0; i < (int64_t)n * I; i++) {
            const float g = c->moe_i[i];
            c->moe_i[i] = g / (1.0f + expf(-g)) * up[i];
        }
        mm_matmul(c->moe_y, c->moe_i, &ly->w2[e], n); /* [n, H] */
        for (int i = 0; i < n; i++) {
            float *dst = c->a + (size_t)rows[i] * H;
            const float *src = c->moe_y + (size_t)i * H;
            for (int d = 0; d < H; d++) dst[d] += rw[i] * src[d];
        }
    }
    free(rows);
    free(rw);
    free(logits);
    free(sel);
    free(wsel);
}
