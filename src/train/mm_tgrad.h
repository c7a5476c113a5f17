/* mm_tgrad.h — forward and backward of every op of the MiniMax-01 layer stack, and of the whole model, for
 * training. Each op is defined once (mm_tgrad_ops.inc, mm_tgrad_model.inc) and compiled twice: in f32 for
 * training (forward matrix products on the engine's kernels, mm_matmul; backward ones on OpenBLAS) and in f64
 * for the finite-difference tests. Names end in _f32 / _f64.
 *
 * Conventions: activations are row-major [T, n]; a Linear weight is W[N, K] (PyTorch [out, in]), y = x·Wᵀ.
 * A backward writes (=) the gradient of its inputs and adds (+=) into the gradient of its parameters. */
#ifndef MM_TGRAD_H
#define MM_TGRAD_H
#include <stddef.h>
#include <stdint.h>
#include "minimax.h"

/* The shape of a model as the trainer sees it (everything the forward pass needs besides the weights). */
typedef struct {
    int V, H, L;            /* vocab, hidden, layers */
    int NH, NKV, D, R;      /* heads, kv heads (softmax layers), head dim, rotary dims */
    int I, E, K;            /* expert width, experts, experts per token */
    int B;                  /* lightning block size */
    double eps;             /* RMSNorm eps of the decoder norms (the lightning output norm uses 1e-6) */
    double alpha_lin, beta_lin, alpha_full, beta_full, alpha_mlp, beta_mlp; /* DeepNorm residual factors */
    double aux_coef;        /* weight of the router load-balancing loss */
    double rope_theta;
    uint8_t layer_type[MM_MAX_LAYERS]; /* MM_LAYER_* */
} mm_tdims;

/* Offsets (in elements) of every parameter inside one flat array; see mm_tparams.c for the table. */
typedef struct {
    size_t in_norm, post_norm;                 /* [H] */
    size_t qkv, ogate, anorm, oproj;           /* lightning: [3·NH·D, H], [NH·D, H], [NH·D], [H, NH·D] */
    size_t wq, wk, wv, wo;                     /* softmax: [NH·D, H], [NKV·D, H] ×2, [H, NH·D] */
    size_t router;                             /* [E, H] */
    size_t w1, w3, w2;                         /* expert e: w1 + e·I·H [I, H], w3 + e·I·H [I, H], w2 + e·H·I [H, I] */
    float slope[64];                           /* lightning decay rates s (λ = exp(-s)), per head (NH ≤ 64) */
} mm_tlayer_off;

typedef struct {
    mm_tdims d;
    size_t embed, lm_head, final_norm;         /* [V, H], [V, H], [H] */
    mm_tlayer_off layer[MM_MAX_LAYERS];
    size_t n_params;
    float *inv_freq;                           /* [R/2] RoPE inverse frequencies, f32 as the engine's */
} mm_tlayout;

/* Fills the offsets, slopes and RoPE frequencies for dims d (n_params = total). -1 + error on bad dims. */
int mm_tlayout_init(mm_tlayout *lo, const mm_tdims *d);
void mm_tlayout_free(mm_tlayout *lo);

/* ---------------------------------------------------------------- ops (one declaration per precision) */
#define MM_TGRAD_DECLARE(real, S)                                                                                      \
    /* y[T,N] = x[T,K]·W[N,K]ᵀ */                                                                                       \
    void mm_t_linear_fwd##S(real *y, const real *x, const real *W, int T, int N, int K);                              \
    /* dx[T,K] (= or += by accum) = dy·W; dW[N,K] += dyᵀ·x. dx may be NULL. */                                         \
    void mm_t_linear_bwd##S(real *dx, int accum, real *dW, const real *dy, const real *x, const real *W, int T, int N, \
                            int K);                                                                                   \
    /* y[T,n] = w ∘ x / sqrt(mean(x²) + eps), rstd[T] kept for the backward */                                         \
    void mm_t_rmsnorm_fwd##S(real *y, real *rstd, const real *x, const real *w, int T, int n, double eps);            \
    void mm_t_rmsnorm_bwd##S(real *dx, real *dw, const real *dy, const real *x, const real *w, const real *rstd, int T, \
                             int n);                                                                                  \
    /* y = x·σ(x) over n elements (y may be x only when the pre-activation is kept elsewhere) */                       \
    void mm_t_silu_fwd##S(real *y, const real *x, int64_t n);                                                         \
    void mm_t_silu_bwd##S(real *dx, const real *dy, const real *x, int64_t n);                                        \
    /* a = silu(g)∘u; backward gives dg, du */                                                                         \
    void mm_t_swiglu_fwd##S(real *a, const real *g, const real *u, int64_t n);                                        \
    void mm_t_swiglu_bwd##S(real *dg, real *du, const real *da, const real *g, const real *u, int64_t n);             \
    /* Lightning attention, one head, n tokens in blocks of B (spec §6.3–6.4): q,k,v rows `stride` apart, o rows     \
     * ostride apart, S[D][D] the incoming state (out: the state after the last token); Sblk[ceil(n/B)][D·D]         \
     * receives the state at each block start. The backward walks the blocks in reverse: dS holds the gradient of     \
     * the final state on entry (zeros if unused) and of the incoming state on return; dq,dk,dv rows `stride` apart   \
     * are written (=). */                                                                                             \
    void mm_t_lightning_fwd##S(const real *q, const real *k, const real *v, int stride, real *o, int ostride, real *S, \
                               real *Sblk, int n, int D, float s, int B);                                             \
    void mm_t_lightning_bwd##S(const real *q, const real *k, const real *v, int stride, const real *dout, int ostride, \
                               real *dq, real *dk, real *dv, const real *Sblk, real *dS, int n, int D, float s, int B);  \
    /* Rotate-half RoPE on the first R dims of each of nh head vectors of one token at position pos (the engine's      \
     * f32 angle); the backward rotates the gradient back. */                                                          \
    void mm_t_rope_fwd##S(real *x, int nh, int D, int R, const float *inv_freq, int64_t pos);                         \
    void mm_t_rope_bwd##S(real *dx, int nh, int D, int R, const float *inv_freq, int64_t pos);                        \
    /* Causal softmax attention over one sequence of T tokens with GQA: q[T][NH·D], k,v[T][NKV·D], o[T][NH·D],        \
     * scale 1/sqrt(D); P[NH][T][T] keeps the probabilities. The backward writes dq, dk, dv (=). */                    \
    void mm_t_attn_fwd##S(const real *q, const real *k, const real *v, real *o, real *P, int T, int NH, int NKV, int D); \
    void mm_t_attn_bwd##S(real *dq, real *dk, real *dv, const real *dout, const real *q, const real *k, const real *v, \
                          const real *P, int T, int NH, int NKV, int D);                                              \
    /* Router: probs[T,E] = softmax(logits), sel[T,K] the top-k (ties to the lower id), w[T,K] renormalised.          \
     * Returns the load-balancing loss coef·E·Σ_e f_e·P_e, f_e = (times e was chosen)/T, P_e = mean probability of e   \
     * (Switch / Mixtral form); counts[E] receives f_e·T. */                                                          \
    double mm_t_router_fwd##S(const real *logits, real *probs, int *sel, real *w, double *counts, int T, int E, int K, \
                              double coef);                                                                           \
    /* dlogits[T,E] (=) from dw[T,K] and the load-balancing loss (scaled by coef; 0 leaves it out). */                 \
    void mm_t_router_bwd##S(real *dlogits, const real *dw, const real *probs, const int *sel, const real *w,           \
                            const double *counts, int T, int E, int K, double coef);                                  \
    /* Mean cross-entropy of logits[T,V] against targets[T] (a target < 0 is not scored). With dlogits != NULL it    \
     * receives d(mean)/dlogits (may equal logits). n_scored receives the number of scored rows. */                   \
    double mm_t_xent##S(const real *logits, real *dlogits, const int32_t *targets, int T, int V, int *n_scored);
MM_TGRAD_DECLARE(float, _f32)
MM_TGRAD_DECLARE(double, _f64)

/* ---------------------------------------------------------------- the model
 * A forward over n_seq sequences of S tokens each (T = n_seq·S rows, every sequence from position 0 with a zero
 * state) keeps what the backward needs in an activation set. */
typedef struct mm_tacts_f32 mm_tacts_f32;
typedef struct mm_tacts_f64 mm_tacts_f64;

typedef struct {
    double loss;        /* mean cross-entropy over scored tokens */
    double aux;         /* load-balancing loss, summed over layers (already weighted by aux_coef) */
    int n_scored;
} mm_tloss;

#define MM_TMODEL_DECLARE(real, S)                                                                                     \
    mm_tacts##S *mm_tacts_new##S(const mm_tlayout *lo, int n_seq, int seq_len);                                       \
    void mm_tacts_free##S(mm_tacts##S *a);                                                                             \
    /* Runs the model on tokens[T]; scores targets[T] (NULL: no loss). logits[T,V] (optional) receives the logits.    \
     */                                                                                                                 \
    mm_tloss mm_tmodel_fwd##S(const mm_tlayout *lo, const real *params, mm_tacts##S *a, const int32_t *tokens,         \
                              const int32_t *targets, real *logits);                                                   \
    /* Gradient of loss + aux of the last forward (which had targets), added (+=) into grads[n_params]. */            \
    void mm_tmodel_bwd##S(const mm_tlayout *lo, const real *params, mm_tacts##S *a, real *grads);                      \
    /* One MoE block on its own (for tests): out[T,H] from h[T,H] with layer l's router and experts; returns the aux   \
     * loss; the backward takes dout and writes dh (=) and adds into grads. Uses a's scratch. */                        \
    double mm_tmoe_fwd##S(const mm_tlayout *lo, const real *params, mm_tacts##S *a, int l, const real *h, real *out,   \
                          int T);                                                                                      \
    void mm_tmoe_bwd##S(const mm_tlayout *lo, const real *params, mm_tacts##S *a, int l, const real *h,                \
                        const real *dout, real *dh, real *grads, int T);
MM_TMODEL_DECLARE(float, _f32)
MM_TMODEL_DECLARE(double, _f64)
#endif
