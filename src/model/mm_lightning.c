/* mm_lightning.c — lightning attention layers (spec §6): fused qkv projection with SiLU on q, k and v,
 * per-head exponential decay, block-wise prefill that equals the recurrence exactly, fp32 state,
 * RMSNorm over all heads (eps 1e-6), sigmoid output gate, out_proj. Decode is the same kernel with a
 * block of one token, so prefill, chunked prefill and decode share one definition. */
#include <math.h>
#include <stdlib.h>
#include "model/mm_context.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"
#include "base/mm_pool.h"

static int pad16(int n) { return (n + 15) / 16 * 16; }

size_t mm_lightning_scratch(int D, int B) {
    const size_t Dp = (size_t)pad16(D), Bp = (size_t)pad16(B);
    return Bp * Bp + (size_t)D * Bp + Bp + 16 + (size_t)D * Dp + 2 * Bp * Dp;
}

/* c[i, 0..ncol) (=, or += with acc) a[i, 0..kn) · b[0..kn, 0..ncol) for rows i < mr, ncol a multiple of 16:
 * the kernel set's 4 × 64 f32 micro-kernel over the blocks of 4 rows and 64 columns. */
static void gemm(const mm_kernel_set *ks, int mr, int ncol, int kn, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                 size_t ldc, int acc) {
    for (int i0 = 0; i0 < mr; i0 += 4)
        for (int c0 = 0; c0 < ncol; c0 += 64)
            ks->sgemm4(mr - i0 < 4 ? mr - i0 : 4, (ncol - c0) / 16 < 4 ? (ncol - c0) / 16 : 4, kn, a + (size_t)i0 * lda, lda, 1,
                       b + c0, ldb, c + (size_t)i0 * ldc + c0, ldc, acc);
}

/* One token on the state (decode): S = λS + kᵀv and o = q S in one pass over S (the block formula with a block
 * of one, regrouped: λ q S + (q·k) v = q (λ S + kᵀ v)). */
__attribute__((target_clones("avx512f", "avx2", "default")))
static void lightning_token(const float *q, const float *k, const float *v, float *o, float *S, int D, float lam) {
    for (int c = 0; c < D; c++) o[c] = 0.0f;
    for (int r = 0; r < D; r++) {
        float *Sr = S + (size_t)r * D;
        const float kr = k[r], qr = q[r];
        for (int c = 0; c < D; c++) {
            Sr[c] = lam * Sr[c] + kr * v[c];
            o[c] += qr * Sr[c];
        }
    }
}

void mm_lightning_head(const float *q, const float *k, const float *v, int stride, float *o, int ostride,
                       float *S, int n, int D, float s, int B, float *scratch) {
    const mm_kernel_set *ks = mm_kernels_get();
    const int Dp = pad16(D), Bp = pad16(B);
    float *P = scratch;                    /* [B][Bp] decayed scores of one block (lower triangle) */
    float *Kt = P + (size_t)Bp * Bp;       /* [D][Bp] the block's keys transposed, then scaled by the decay to its end */
    float *dd = Kt + (size_t)D * Bp;       /* [B + 1] dd[d] = exp(-s·d) */
    float *Sp = dd + Bp + 16;              /* [D][Dp] the state, padded to Dp columns (when D % 16 != 0) */
    float *Vp = Sp + (size_t)D * Dp;       /* [B][Dp] the block's values, padded */
    float *Op = Vp + (size_t)Bp * Dp;      /* [B][Dp] the block's outputs, padded */
    for (int d = 0; d <= B; d++) dd[d] = expf(-s * (float)d);
    if (n == 1 && B >= 1) {
        lightning_token(q, k, v, o, S, D, dd[1]);
        return;
    }
    const int padded = Dp != D;
    if (padded)
        for (int r = 0; r < D; r++) {
            memcpy(Sp + (size_t)r * Dp, S + (size_t)r * D, sizeof(float) * (size_t)D);
            memset(Sp + (size_t)r * Dp + D, 0, sizeof(float) * (size_t)(Dp - D));
        }
    float *St = padded ? Sp : S;           /* the state the products read and update, rows of Dp */
    for (int b0 = 0; b0 < n; b0 += B) {
        const int m = n - b0 < B ? n - b0 : B;
        const float *Q = q + (size_t)b0 * stride, *K = k + (size_t)b0 * stride, *V = v + (size_t)b0 * stride;
        const float *Vb = V;
        size_t ldv = (size_t)stride, ldo = (size_t)ostride;
        float *Ob = o + (size_t)b0 * ostride;
        if (padded) {
            for (int j = 0; j < m; j++) {
                memcpy(Vp + (size_t)j * Dp, V + (size_t)j * stride, sizeof(float) * (size_t)D);
                memset(Vp + (size_t)j * Dp + D, 0, sizeof(float) * (size_t)(Dp - D));
            }
            Vb = Vp, ldv = (size_t)Dp, Ob = Op, ldo = (size_t)Dp;
        }
        /* O_inter[i] = exp(-s(i+1)) · q_i S   — what the incoming state contributes */
        gemm(ks, m, Dp, D, Q, (size_t)stride, St, (size_t)Dp, Ob, ldo, 0);
        for (int i = 0; i < m; i++)
            for (int c = 0; c < Dp; c++) Ob[(size_t)i * ldo + c] *= dd[i + 1];
        /* P[i][j] = exp(-s(i-j)) (q_i·k_j) for j <= i, 0 above: rows of each 4-row block get the columns up to
         * its last row (rounded to 16) */
        for (int j = 0; j < m; j++)
            for (int r = 0; r < D; r++) Kt[(size_t)r * Bp + j] = K[(size_t)j * stride + r];
        for (int r = 0; r < D; r++)
            for (int j = m; j < pad16(m); j++) Kt[(size_t)r * Bp + j] = 0.0f;
        for (int i0 = 0; i0 < m; i0 += 4) {
            const int mr = m - i0 < 4 ? m - i0 : 4, ncol = pad16(i0 + mr);
            gemm(ks, mr, ncol, D, Q + (size_t)i0 * stride, (size_t)stride, Kt, (size_t)Bp, P + (size_t)i0 * Bp, (size_t)Bp, 0);
            for (int i = i0; i < i0 + mr; i++) {
                float *Pi = P + (size_t)i * Bp;
                for (int j = 0; j <= i; j++) Pi[j] *= dd[i - j];
                for (int j = i + 1; j < ncol; j++) Pi[j] = 0.0f;
            }
        }
        /* O_intra[i] += Σ_{j≤i} P[i][j] v_j */
        for (int i0 = 0; i0 < m; i0 += 4) {
            const int mr = m - i0 < 4 ? m - i0 : 4;
            gemm(ks, mr, Dp, i0 + mr, P + (size_t)i0 * Bp, (size_t)Bp, Vb, ldv, Ob + (size_t)i0 * ldo, ldo, 1);
        }
        if (padded)
            for (int i = 0; i < m; i++) memcpy(o + (size_t)(b0 + i) * ostride, Op + (size_t)i * Dp, sizeof(float) * (size_t)D);
        /* S = exp(-s·m) S + Σ_j exp(-s(m-1-j)) k_jᵀ v_j   — state after the block's last token */
        const float bd = dd[m];
        for (int r = 0; r < D; r++) {
            float *Sr = St + (size_t)r * Dp, *Kr = Kt + (size_t)r * Bp;
            for (int c = 0; c < Dp; c++) Sr[c] *= bd;
            for (int j = 0; j < m; j++) Kr[j] *= dd[m - 1 - j];
        }
        gemm(ks, D, Dp, m, Kt, (size_t)Bp, Vb, ldv, St, (size_t)Dp, 1);
    }
    if (padded)
        for (int r = 0; r < D; r++) memcpy(S + (size_t)r * D, Sp + (size_t)r * Dp, sizeof(float) * (size_t)D);
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

typedef struct {
    mm_context *c;
    const mm_layer *ly;
    const mm_run *runs;
    float *qkv, **states;
} light_args;

/* Task = (run, head): SiLU on the head's q, k, v columns of the run's tokens, then the block-wise kernel. */
static void head_body(void *arg, int64_t i0, int64_t i1, int ith) {
    light_args *a = arg;
    mm_context *c = a->c;
    const mm_config *cfg = &c->model->cfg;
    const int NH = cfg->n_heads, D = cfg->head_dim, NHD = NH * D, B = cfg->block_size;
    float *scratch = mm_scratch(MM_SCRATCH_LIGHTNING, sizeof(float) * mm_lightning_scratch(D, B));
    (void)ith;
    for (int64_t task = i0; task < i1; task++) {
        const mm_run *run = &a->runs[task / NH];
        const int h = (int)(task % NH);
        float *base = a->qkv + (size_t)run->t0 * 3 * NHD + (size_t)h * 3 * D;
        for (int t = 0; t < run->n; t++) mm_silu(base + (size_t)t * 3 * NHD, 3 * D);
        float *S = a->states[task / NH] + (size_t)h * D * D;
        mm_lightning_head(base, base + D, base + 2 * D, 3 * NHD, c->o + (size_t)run->t0 * NHD + (size_t)h * D, NHD, S, run->n, D,
                          a->ly->slope[h], B, scratch);
    }
}

/* Per token: the output RMSNorm over all heads jointly (eps fixed at 1e-6), times the sigmoid gate. */
static void norm_gate_body(void *arg, int64_t t0, int64_t t1, int ith) {
    light_args *a = arg;
    mm_context *c = a->c;
    const int NHD = c->model->cfg.n_heads * c->model->cfg.head_dim;
    (void)ith;
    for (int64_t t = t0; t < t1; t++) {
        float *o = c->o + (size_t)t * NHD, *g = c->gate + (size_t)t * NHD;
        mm_rmsnorm(o, o, a->ly->attn_norm, 1, NHD, 1e-6f);
        mm_sigmoid(g, NHD);
        for (int i = 0; i < NHD; i++) o[i] *= g[i];
    }
}

void mm_lightning_forward(mm_context *c, const mm_layer *ly, const mm_run *runs, int n_runs, int T) {
    const mm_config *cfg = &c->model->cfg;
    const int NH = cfg->n_heads;
    float *qkv = c->big; /* [T, 3·NH·D] */
    /* the gate reads the normalised layer input, not the attention output */
    const mm_matmul_job proj[2] = {{qkv, c->h, &ly->qkv, T}, {c->gate, c->h, &ly->out_gate, T}};
    mm_matmul_n(proj, 2);
    light_args a = {c, ly, runs, qkv, mm_xmalloc(sizeof(float *) * (size_t)n_runs)};
    for (int r = 0; r < n_runs; r++) a.states[r] = mm_seq_lstate(c, &c->seqs[runs[r].seq], ly->kind_index);
    mm_parallel_for((int64_t)n_runs * NH, 1, head_body, &a);
    mm_parallel_for(T, 8, norm_gate_body, &a);
    free(a.states);
    mm_matmul(c->a, c->o, &ly->out_proj, T);
}
