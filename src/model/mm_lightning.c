/* mm_lightning.c — lightning attention layers (spec §6): fused qkv projection with SiLU on q, k and v,
 * per-head exponential decay, block-wise prefill that equals the recurrence exactly, fp32 state,
 * RMSNorm over all heads (eps 1e-6), sigmoid output gate, out_proj. Decode is the same kernel with a
 * block of one token, so prefill, chunked prefill and decode share one definition. */
#include <math.h>
#include <stdlib.h>
#include "model/mm_context.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"

size_t mm_lightning_scratch(int D, int B) { return (size_t)B * B + (size_t)D * B + 2 * (size_t)B; }

/* Compiled three times, chosen at load. Static behind the exported wrapper below: clang 14 emits no plain
 * symbol for an external target_clones function, so callers in other files would not link. */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void lightning_head(const float *q, const float *k, const float *v, int stride, float *o, int ostride,
                           float *S, int n, int D, float s, int B, float *scratch) {
    float *P = scratch;                    /* [B][B] decayed scores of one block (lower triangle used) */
    float *Kt = P + (size_t)B * B;         /* [D][B] the block's keys transposed: score rows vectorise over j */
    float *dd = Kt + (size_t)D * B;        /* [B] dd[d] = exp(-s·d): intra-block decay by distance */
    float *kd = dd + B;                    /* [B] per-key decay to the block end */
    for (int d = 0; d < B; d++) dd[d] = expf(-s * (float)d);
    for (int b0 = 0; b0 < n; b0 += B) {
        const int m = n - b0 < B ? n - b0 : B;
        const float *Q = q + (size_t)b0 * stride, *K = k + (size_t)b0 * stride, *V = v + (size_t)b0 * stride;
        float *O = o + (size_t)b0 * ostride;
        /* O_inter[i] = exp(-s(i+1)) · q_i S   — what the incoming state contributes */
        for (int i = 0; i < m; i++) {
            const float *qi = Q + (size_t)i * stride;
            float *oi = O + (size_t)i * ostride;
            for (int c = 0; c < D; c++) oi[c] = 0.0f;
            for (int r = 0; r < D; r++) {
                const float a = qi[r];
                const float *Sr = S + (size_t)r * D;
                for (int c = 0; c < D; c++) oi[c] += a * Sr[c];
            }
            const float qd = expf(-s * (float)(i + 1));
            for (int c = 0; c < D; c++) oi[c] *= qd;
        }
        /* O_intra[i] = Σ_{j≤i} exp(-s(i-j)) (q_i·k_j) v_j */
        for (int j = 0; j < m; j++)
            for (int r = 0; r < D; r++) Kt[(size_t)r * B + j] = K[(size_t)j * stride + r];
        for (int i = 0; i < m; i++) {
            const float *qi = Q + (size_t)i * stride;
            float *Pi = P + (size_t)i * B;
            for (int j = 0; j <= i; j++) Pi[j] = 0.0f;
            for (int r = 0; r < D; r++) {
                const float a = qi[r];
                const float *Kr = Kt + (size_t)r * B;
                for (int j = 0; j <= i; j++) Pi[j] += a * Kr[j];
            }
            for (int j = 0; j <= i; j++) Pi[j] *= dd[i - j];
        }
        for (int i = 0; i < m; i++) {
            float *oi = O + (size_t)i * ostride;
            const float *Pi = P + (size_t)i * B;
            for (int j = 0; j <= i; j++) {
                const float p = Pi[j];
                const float *vj = V + (size_t)j * stride;
                for (int c = 0; c < D; c++) oi[c] += p * vj[c];
            }
        }
        /* S = exp(-s·m) S + Σ_j exp(-s(m-1-j)) k_jᵀ v_j   — state after the block's last token */
        const float bd = expf(-s * (float)m);
        for (int j = 0; j < m; j++) kd[j] = expf(-s * (float)(m - 1 - j));
        for (int r = 0; r < D; r++) {
            float *Sr = S + (size_t)r * D;
            const float *Kr = Kt + (size_t)r * B;
            for (int c = 0; c < D; c++) Sr[c] *= bd;
            for (int j = 0; j < m; j++) {
                const float a = kd[j] * Kr[j];
                const float *vj = V + (size_t)j * stride;
                for (int c = 0; c < D; c++) Sr[c] += a * vj[c];
            }
        }
    }
}

void mm_lightning_head(const float *q, const float *k, const float *v, int stride, float *o, int ostride,
                       float *S, int n, int D, float s, int B, float *scratch) {
    lightning_head(q, k, v, stride, o, ostride, S, n, D, s, B, scratch);
}

void mm_lightning_head_ref(const float *q, const float *k, const float *v, int stride, float *o, int ostride,
                           float *S, int n, int D, float s) {
    double *Sd = malloc(sizeof(double) * (size_t)D * D);
    const double lam = exp(-(double)s);
    for (int i = 0; i < D * D; i++) Sd[i] = S[i];
    for (int t = 0; t < n; t++) {
        const float *qt = q + (size_t)t * stride, *kt = k + (size_t)t * stride, *vt = v + (size_t)t * stride;
        for (int r = 0; r < D; r++)
            for (int c = 0; c < D; c++) Sd[r * D + c] = lam * Sd[r * D + c] + (double)kt[r] * vt[c];
        for (int c = 0; c < D; c++) {
            double acc = 0;
            for (int r = 0; r < D; r++) acc += (double)qt[r] * Sd[r * D + c];
            o[(size_t)t * ostride + c] = (float)acc;
        }
    }
    for (int i = 0; i < D * D; i++) S[i] = (float)Sd[i];
    free(Sd);
}

void mm_lightning_forward(mm_context *c, const mm_layer *ly, const mm_run *runs, int n_runs, int T) {
    const mm_config *cfg = &c->model->cfg;
    const int NH = cfg->n_heads, D = cfg->head_dim, NHD = NH * D, B = cfg->block_size;
    float *qkv = c->big; /* [T, 3·NH·D] */
    mm_matmul(qkv, c->h, &ly->qkv, T);
    mm_silu(qkv, (int64_t)T * 3 * NHD);
    mm_matmul(c->gate, c->h, &ly->out_gate, T); /* gate reads the normalised layer input, not the attention output */
    mm_sigmoid(c->gate, (int64_t)T * NHD);

    float **states = mm_xmalloc(sizeof(float *) * (size_t)n_runs);
    for (int r = 0; r < n_runs; r++) states[r] = mm_seq_lstate(c, &c->seqs[runs[r].seq], ly->kind_index);
    const int n_tasks = n_runs * NH;
#pragma omp parallel
    {
        float *scratch = mm_xmalloc(sizeof(float) * mm_lightning_scratch(D, B));
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < n_tasks; task++) {
            const mm_run *run = &runs[task / NH];
            const int h = task % NH;
            const float *base = qkv + (size_t)run->t0 * 3 * NHD + (size_t)h * 3 * D;
            float *S = states[task / NH] + (size_t)h * D * D;
            mm_lightning_head(base, base + D, base + 2 * D, 3 * NHD, c->o + (size_t)run->t0 * NHD + (size_t)h * D, NHD,
                              S, run->n, D, ly->slope[h], B, scratch);
        }
        free(scratch);
    }
    free(states);
    mm_rmsnorm(c->o, c->o, ly->attn_norm, T, NHD, 1e-6f); /* over all heads jointly; eps fixed at 1e-6 */
    for (int64_t i = 0; i < (int64_t)T * NHD; i++) c->o[i] *= c->gate[i];
    mm_matmul(c->a, c->o, &ly->out_proj, T);
}
