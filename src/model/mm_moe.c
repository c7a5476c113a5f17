/* mm_moe.c — the Mixture-of-Experts block (spec §8): router softmax over all experts in f32, top-k,
 * renormalise, SwiGLU experts. The (token, expert) pairs are grouped by expert and every chosen expert's
 * gate and up products run in one parallel region, then every down product in another (decode touches only
 * the chosen experts' weights); each token sums its experts' outputs in ascending expert order. */
#include <math.h>
#include <stdlib.h>
#include "model/mm_pipeline.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"
#include "base/mm_pool.h"

typedef struct {
    mm_context *c;
    const int *sel, *pos;   /* [T, K] chosen experts, and each pair's row among the grouped rows */
    const float *wsel;      /* [T, K] their renormalised weights */
    int K, H, I;
} moe_args;

static void gather_body(void *arg, int64_t t0, int64_t t1, int ith) {
    const moe_args *a = arg;
    (void)ith;
    for (int64_t t = t0; t < t1; t++)
        for (int j = 0; j < a->K; j++)
            memcpy(a->c->moe_x + (size_t)a->pos[t * a->K + j] * a->H, a->c->h + (size_t)t * a->H, sizeof(float) * (size_t)a->H);
}

static void swiglu_body(void *arg, int64_t r0, int64_t r1, int ith) {
    const moe_args *a = arg;
    (void)ith;
    for (int64_t r = r0; r < r1; r++) {
        float *g = a->c->moe_i + (size_t)r * a->I;
        const float *u = a->c->moe_u + (size_t)r * a->I;
        mm_silu(g, a->I);
        for (int i = 0; i < a->I; i++) g[i] *= u[i];
    }
}

/* a[t] = Σ over t's experts in ascending id of weight · output (the order of the per-expert loop it replaces). */
static void combine_body(void *arg, int64_t t0, int64_t t1, int ith) {
    const moe_args *a = arg;
    (void)ith;
    for (int64_t t = t0; t < t1; t++) {
        float *dst = a->c->a + (size_t)t * a->H;
        memset(dst, 0, sizeof(float) * (size_t)a->H);
        int done = 0; /* bit j: pair j added */
        for (int n = 0; n < a->K; n++) {
            int jb = -1;
            for (int j = 0; j < a->K; j++)
                if (!(done >> j & 1) && (jb < 0 || a->sel[t * a->K + j] < a->sel[t * a->K + jb])) jb = j;
            done |= 1 << jb;
            const float w = a->wsel[t * a->K + jb];
            const float *src = a->c->moe_y + (size_t)a->pos[t * a->K + jb] * a->H;
            for (int d = 0; d < a->H; d++) dst[d] += w * src[d];
        }
    }
}

void mm_moe_forward(mm_context *c, const mm_layer *ly, int T) {
    const mm_config *cfg = &c->model->cfg;
    const int E = cfg->n_experts, K = cfg->n_experts_per_tok, H = cfg->hidden_size, I = cfg->intermediate_size;
    float *logits = mm_xmalloc(sizeof(float) * (size_t)T * E);   /* [T, E] */
    int *sel = mm_xmalloc(sizeof(int) * (size_t)T * K);           /* [T, K] chosen experts */
    int *pos = mm_xmalloc(sizeof(int) * (size_t)T * K);           /* [T, K] their rows among the grouped rows */
    float *wsel = mm_xmalloc(sizeof(float) * (size_t)T * K);      /* [T, K] their renormalised weights */
    int *count = mm_xcalloc((size_t)E + 1, sizeof(int));
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
            count[best]++;
        }
        for (int j = 0; j < K; j++) wsel[t * K + j] /= sum;
    }
    /* rows grouped by expert, tokens in order within each expert */
    int *off = mm_xmalloc(sizeof(int) * (size_t)(E + 1)), *fill = mm_xcalloc((size_t)E, sizeof(int));
    off[0] = 0;
    for (int e = 0; e < E; e++) off[e + 1] = off[e] + count[e];
    for (int t = 0; t < T; t++)
        for (int j = 0; j < K; j++) pos[t * K + j] = off[sel[t * K + j]] + fill[sel[t * K + j]]++;
    moe_args a = {c, sel, pos, wsel, K, H, I};
    mm_parallel_for(T, 16, gather_body, &a);

    /* the experts this process holds: all, or a share under expert parallelism (the others' rows come from the sum) */
    const int e0 = c->model->expert_begin, e1 = c->model->expert_end, ep = c->model->pp && c->model->pp->ep;
    mm_matmul_job *jobs = mm_xmalloc(sizeof(mm_matmul_job) * (size_t)(2 * E));
    int nj = 0;
    for (int e = e0; e < e1; e++) /* gate and up of every chosen expert: one region, each expert's rows quantized once */
        if (count[e]) {
            const float *x = c->moe_x + (size_t)off[e] * H;
            jobs[nj++] = (mm_matmul_job){c->moe_i + (size_t)off[e] * I, x, &ly->w1[e], count[e]};
            jobs[nj++] = (mm_matmul_job){c->moe_u + (size_t)off[e] * I, x, &ly->w3[e], count[e]};
        }
    mm_matmul_n(jobs, nj);
    mm_parallel_for((int64_t)T * K, 4, swiglu_body, &a);
    nj = 0;
    if (ep) memset(c->moe_y, 0, sizeof(float) * (size_t)T * K * H);
    for (int e = e0; e < e1; e++)
        if (count[e])
            jobs[nj++] = (mm_matmul_job){c->moe_y + (size_t)off[e] * H, c->moe_i + (size_t)off[e] * I, &ly->w2[e], count[e]};
    mm_matmul_n(jobs, nj);
    /* [T·K, H]: each row is non-zero on the one rank holding its expert, so the sum is exact (x + 0 = x) */
    if (ep) mm_pp_allreduce(c, c->moe_y, (size_t)T * K * H);
    mm_parallel_for(T, 8, combine_body, &a);
    free(jobs);
    free(off);
    free(fill);
    free(count);
    free(logits);
    free(sel);
    free(pos);
    free(wsel);
}
