/* test_train_grad.c — every training op's backward, the MoE block's and the whole model's gradient against central
 * finite differences in double precision (the f64 build of the same code), on small random shapes. The measure is
 * max_i |analytic_i − numeric_i| / max_i |numeric_i| over all inputs of the op; it must be ≤ 1e-6. Also: the
 * lightning forward equals the per-token recurrence (the inference definition), and the f32 ops equal the engine's. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include "mm_test.h"
#include "train/mm_tgrad.h"
#include "train/mm_train.h"
#include "model/mm_context.h"
#include "kernels/mm_ops.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void) { /* xorshift64, uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 4503599627370496.0 - 1.0;
}
static double *rnd(size_t n, double scale) {
    double *x = malloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = urand() * scale;
    return x;
}
static double *zeros(size_t n) { return calloc(n ? n : 1, sizeof(double)); }
static double dotp(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The loss as a function of the current contents of the inputs. */
typedef double (*lossfn)(void *ctx);
static const double FD_H = 1e-5;

/* Relative error of the analytic gradient g[n] of f with respect to x[n]. */
static double fd_err(double *x, size_t n, const double *g, lossfn f, void *ctx) {
    double maxerr = 0, maxnum = 0;
    for (size_t i = 0; i < n; i++) {
        const double xi = x[i];
        x[i] = xi + FD_H;
        const double lp = f(ctx);
        x[i] = xi - FD_H;
        const double lm = f(ctx);
        x[i] = xi;
        const double num = (lp - lm) / (2 * FD_H);
        if (fabs(num - g[i]) > maxerr || isnan(g[i])) maxerr = isnan(g[i]) ? INFINITY : fabs(num - g[i]);
        if (fabs(num) > maxnum) maxnum = fabs(num);
    }
    return maxnum > 0 ? maxerr / maxnum : maxerr;
}
#define FD_CHECK(what, x, n, g, f, ctx)                                                      \
    do {                                                                                     \
        double e_ = fd_err((x), (n), (g), (f), (ctx));                                       \
        CHECK(e_ <= 1e-6, "%s: relative error %.3g of the analytic gradient", (what), e_);   \
    } while (0)

/* ---------------------------------------------------------------- linear */
typedef struct { int T, N, K; double *x, *W, *r, *y; } lin_ctx;
static double lin_loss(void *c_) {
    lin_ctx *c = c_;
    mm_t_linear_fwd_f64(c->y, c->x, c->W, c->T, c->N, c->K);
    return dotp(c->r, c->y, (size_t)c->T * c->N);
}
static void test_linear(void) {
    lin_ctx c = {.T = 300, .N = 70, .K = 3}; /* T and N beyond the row chunks: the split products are covered */
    c.x = rnd((size_t)c.T * c.K, 1), c.W = rnd((size_t)c.N * c.K, 1), c.r = rnd((size_t)c.T * c.N, 1), c.y = zeros((size_t)c.T * c.N);
    double *dx = rnd((size_t)c.T * c.K, 1), *dW = zeros((size_t)c.N * c.K);
    mm_t_linear_bwd_f64(dx, 0, dW, c.r, c.x, c.W, c.T, c.N, c.K); /* dx overwritten (it held garbage) */
    FD_CHECK("linear dx", c.x, (size_t)c.T * c.K, dx, lin_loss, &c);
    FD_CHECK("linear dW", c.W, (size_t)c.N * c.K, dW, lin_loss, &c);
    free(c.x), free(c.W), free(c.r), free(c.y), free(dx), free(dW);
}

/* ---------------------------------------------------------------- rmsnorm */
typedef struct { int T, n; double *x, *w, *r, *y, *rs; } rms_ctx;
static double rms_loss(void *c_) {
    rms_ctx *c = c_;
    mm_t_rmsnorm_fwd_f64(c->y, c->rs, c->x, c->w, c->T, c->n, 1e-5);
    return dotp(c->r, c->y, (size_t)c->T * c->n);
}
static void test_rmsnorm(void) {
    rms_ctx c = {.T = 67, .n = 7};
    const size_t N = (size_t)c.T * c.n;
    c.x = rnd(N, 1), c.w = rnd((size_t)c.n, 1), c.r = rnd(N, 1), c.y = zeros(N), c.rs = zeros((size_t)c.T);
    double *dx = zeros(N), *dw = zeros((size_t)c.n);
    rms_loss(&c);
    mm_t_rmsnorm_bwd_f64(dx, dw, c.r, c.x, c.w, c.rs, c.T, c.n);
    FD_CHECK("rmsnorm dx", c.x, N, dx, rms_loss, &c);
    FD_CHECK("rmsnorm dw", c.w, (size_t)c.n, dw, rms_loss, &c);
    free(c.x), free(c.w), free(c.r), free(c.y), free(c.rs), free(dx), free(dw);
}

/* ---------------------------------------------------------------- activations */
typedef struct { int n; double *g, *u, *r, *y; int swiglu; } act_ctx;
static double act_loss(void *c_) {
    act_ctx *c = c_;
    if (c->swiglu) mm_t_swiglu_fwd_f64(c->y, c->g, c->u, c->n);
    else mm_t_silu_fwd_f64(c->y, c->g, c->n);
    return dotp(c->r, c->y, (size_t)c->n);
}
static void test_activations(void) {
    act_ctx c = {.n = 40};
    c.g = rnd(40, 4), c.u = rnd(40, 2), c.r = rnd(40, 1), c.y = zeros(40);
    double *dg = zeros(40), *du = zeros(40);
    mm_t_silu_bwd_f64(dg, c.r, c.g, 40);
    FD_CHECK("silu", c.g, 40, dg, act_loss, &c);
    c.swiglu = 1;
    mm_t_swiglu_bwd_f64(dg, du, c.r, c.g, c.u, 40);
    FD_CHECK("swiglu dg", c.g, 40, dg, act_loss, &c);
    FD_CHECK("swiglu du", c.u, 40, du, act_loss, &c);
    free(c.g), free(c.u), free(c.r), free(c.y), free(dg), free(du);
}

/* ---------------------------------------------------------------- lightning */
typedef struct { int n, D, B, stride; float s; double *qkv, *S0, *r, *rS, *o, *S, *Sblk; } lt_ctx;
static double lt_loss(void *c_) {
    lt_ctx *c = c_;
    memcpy(c->S, c->S0, sizeof(double) * (size_t)c->D * c->D);
    mm_t_lightning_fwd_f64(c->qkv, c->qkv + c->D, c->qkv + 2 * c->D, c->stride, c->o, c->D, c->S, c->Sblk, c->n, c->D,
                           c->s, c->B);
    return dotp(c->r, c->o, (size_t)c->n * c->D) + dotp(c->rS, c->S, (size_t)c->D * c->D);
}
static void test_lightning(int n, int D, int B, float s) {
    lt_ctx c = {.n = n, .D = D, .B = B, .stride = 3 * D + 1, .s = s}; /* a padded stride, like q|k|v of one head */
    const size_t nq = (size_t)n * c.stride, DD = (size_t)D * D;
    c.qkv = rnd(nq, 1), c.S0 = rnd(DD, 1), c.r = rnd((size_t)n * D, 1), c.rS = rnd(DD, 1);
    c.o = zeros((size_t)n * D), c.S = zeros(DD), c.Sblk = zeros((size_t)((n + B - 1) / B) * DD);
    /* forward = the per-token recurrence S_t = λ S_{t-1} + k_tᵀ v_t, o_t = q_t S_t, from the carried state S0 */
    lt_loss(&c);
    double *S = malloc(sizeof(double) * DD), maxd = 0, lam = exp(-(double)s);
    memcpy(S, c.S0, sizeof(double) * DD);
    for (int t = 0; t < n; t++) {
        const double *q = c.qkv + (size_t)t * c.stride, *k = q + D, *v = q + 2 * D;
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) S[i * D + j] = lam * S[i * D + j] + k[i] * v[j];
        for (int j = 0; j < D; j++) {
            double acc = 0;
            for (int i = 0; i < D; i++) acc += q[i] * S[i * D + j];
            maxd = fmax(maxd, fabs(acc - c.o[(size_t)t * D + j]));
        }
    }
    for (size_t i = 0; i < DD; i++) maxd = fmax(maxd, fabs(S[i] - c.S[i]));
    CHECK(maxd < 1e-12, "lightning n=%d B=%d: block-wise forward differs from the recurrence by %.3g", n, B, maxd);
    free(S);
    /* backward: gradients of q, k, v and of the incoming state, through every block boundary */
    double *g = zeros(nq), *dS = malloc(sizeof(double) * DD);
    memcpy(dS, c.rS, sizeof(double) * DD);
    mm_t_lightning_bwd_f64(c.qkv, c.qkv + D, c.qkv + 2 * D, c.stride, c.r, D, g, g + D, g + 2 * D, c.Sblk, dS, n, D, s, B);
    for (int t = 0; t < n; t++) g[(size_t)t * c.stride + 3 * D] = 0; /* the padding column is no input */
    char what[96];
    snprintf(what, sizeof what, "lightning q,k,v (n=%d, B=%d)", n, B);
    FD_CHECK(what, c.qkv, nq, g, lt_loss, &c);
    snprintf(what, sizeof what, "lightning carried state (n=%d, B=%d)", n, B);
    FD_CHECK(what, c.S0, DD, dS, lt_loss, &c);
    free(c.qkv), free(c.S0), free(c.r), free(c.rS), free(c.o), free(c.S), free(c.Sblk), free(g), free(dS);
}

/* The f32 build of the lightning forward is the engine's kernel arithmetic. */
static void test_lightning_f32_engine(void) {
    const int n = 300, D = 8, B = 256, st = 3 * D;
    float *qkv = malloc(sizeof(float) * (size_t)n * st), *o1 = malloc(sizeof(float) * (size_t)n * D);
    float *o2 = malloc(sizeof(float) * (size_t)n * D), S1[64], S2[64], Sblk[2 * 64];
    for (int i = 0; i < n * st; i++) qkv[i] = (float)urand() * 0.5f;
    for (int i = 0; i < 64; i++) S1[i] = S2[i] = (float)urand();
    float *scratch = malloc(sizeof(float) * mm_lightning_scratch(D, B));
    mm_lightning_head(qkv, qkv + D, qkv + 2 * D, st, o1, D, S1, n, D, 0.05f, B, scratch);
    mm_t_lightning_fwd_f32(qkv, qkv + D, qkv + 2 * D, st, o2, D, S2, Sblk, n, D, 0.05f, B);
    double d = mmt_maxdiff(o1, o2, (size_t)n * D), m = 0;
    for (int i = 0; i < n * D; i++) m = fmax(m, fabs(o1[i]));
    CHECK(d <= 1e-5 * m, "f32 lightning forward vs the engine's kernel: max diff %.3g (scale %.3g)", d, m);
    free(qkv), free(o1), free(o2), free(scratch);
}

/* ---------------------------------------------------------------- RoPE + softmax attention */
typedef struct { int T, NH, NKV, D, R; double *q, *k, *v, *r, *o, *P, *qr, *kr; float *inv; } at_ctx;
static double at_loss(void *c_) {
    at_ctx *c = c_;
    const size_t nq = (size_t)c->T * c->NH * c->D, nk = (size_t)c->T * c->NKV * c->D;
    memcpy(c->qr, c->q, sizeof(double) * nq);
    memcpy(c->kr, c->k, sizeof(double) * nk);
    for (int t = 0; t < c->T; t++) {
        mm_t_rope_fwd_f64(c->qr + (size_t)t * c->NH * c->D, c->NH, c->D, c->R, c->inv, t);
        mm_t_rope_fwd_f64(c->kr + (size_t)t * c->NKV * c->D, c->NKV, c->D, c->R, c->inv, t);
    }
    mm_t_attn_fwd_f64(c->qr, c->kr, c->v, c->o, c->P, c->T, c->NH, c->NKV, c->D);
    return dotp(c->r, c->o, nq);
}
static void test_attention(void) {
    at_ctx c = {.T = 6, .NH = 4, .NKV = 2, .D = 6, .R = 4};
    const size_t nq = (size_t)c.T * c.NH * c.D, nk = (size_t)c.T * c.NKV * c.D;
    float inv[2] = {1.0f, 0.3f};
    c.inv = inv;
    c.q = rnd(nq, 1), c.k = rnd(nk, 1), c.v = rnd(nk, 1), c.r = rnd(nq, 1), c.o = zeros(nq);
    c.P = zeros((size_t)c.NH * c.T * c.T), c.qr = zeros(nq), c.kr = zeros(nk);
    at_loss(&c);
    double *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
    mm_t_attn_bwd_f64(dq, dk, dv, c.r, c.qr, c.kr, c.v, c.P, c.T, c.NH, c.NKV, c.D);
    for (int t = 0; t < c.T; t++) {
        mm_t_rope_bwd_f64(dq + (size_t)t * c.NH * c.D, c.NH, c.D, c.R, inv, t);
        mm_t_rope_bwd_f64(dk + (size_t)t * c.NKV * c.D, c.NKV, c.D, c.R, inv, t);
    }
    FD_CHECK("attention+rope dq", c.q, nq, dq, at_loss, &c);
    FD_CHECK("attention+rope dk", c.k, nk, dk, at_loss, &c);
    FD_CHECK("attention dv (GQA)", c.v, nk, dv, at_loss, &c);
    free(c.q), free(c.k), free(c.v), free(c.r), free(c.o), free(c.P), free(c.qr), free(c.kr), free(dq), free(dk), free(dv);
}

/* ---------------------------------------------------------------- router, cross-entropy */
typedef struct { int T, E, K; double coef; double *lg, *p, *w, *rw; int *sel; double counts[8]; } rt_ctx;
static double rt_loss(void *c_) {
    rt_ctx *c = c_;
    double aux = mm_t_router_fwd_f64(c->lg, c->p, c->sel, c->w, c->counts, c->T, c->E, c->K, c->coef);
    return dotp(c->rw, c->w, (size_t)c->T * c->K) + aux;
}
static void test_router(void) {
    rt_ctx c = {.T = 9, .E = 5, .K = 2, .coef = 0.37};
    c.lg = zeros((size_t)c.T * c.E);
    for (int t = 0; t < c.T; t++) /* distinct logits 0.3 apart, shuffled: no top-k tie within reach of the FD step */
        for (int e = 0; e < c.E; e++) c.lg[t * c.E + e] = 0.3 * ((e * 3 + t) % c.E) + 0.01 * urand();
    c.p = zeros((size_t)c.T * c.E), c.w = zeros((size_t)c.T * c.K), c.rw = rnd((size_t)c.T * c.K, 1);
    c.sel = calloc((size_t)c.T * c.K, sizeof(int));
    rt_loss(&c);
    int *sel0 = malloc(sizeof(int) * (size_t)c.T * c.K);
    memcpy(sel0, c.sel, sizeof(int) * (size_t)c.T * c.K);
    double counts0[8];
    memcpy(counts0, c.counts, sizeof counts0);
    double *p0 = malloc(sizeof(double) * (size_t)c.T * c.E), *w0 = malloc(sizeof(double) * (size_t)c.T * c.K);
    memcpy(p0, c.p, sizeof(double) * (size_t)c.T * c.E);
    memcpy(w0, c.w, sizeof(double) * (size_t)c.T * c.K);
    double *dl = zeros((size_t)c.T * c.E);
    mm_t_router_bwd_f64(dl, c.rw, p0, sel0, w0, counts0, c.T, c.E, c.K, c.coef);
    FD_CHECK("router softmax/top-k/renormalise + load-balancing loss", c.lg, (size_t)c.T * c.E, dl, rt_loss, &c);
    int same = 1;
    rt_loss(&c);
    for (int i = 0; i < c.T * c.K; i++) same &= c.sel[i] == sel0[i];
    CHECK(same, "router selection is stable");
    /* aux = coef·E·Σ f_e P_e with f_e = counts/T: check the value against a direct sum */
    double pe[8] = {0}, aux = 0;
    for (int t = 0; t < c.T; t++)
        for (int e = 0; e < c.E; e++) pe[e] += p0[t * c.E + e] / c.T;
    for (int e = 0; e < c.E; e++) aux += counts0[e] / c.T * pe[e];
    double got = mm_t_router_fwd_f64(c.lg, c.p, c.sel, c.w, c.counts, c.T, c.E, c.K, c.coef);
    CHECK(fabs(got - c.coef * c.E * aux) < 1e-12, "aux loss %.10g vs %.10g", got, c.coef * c.E * aux);
    free(c.lg), free(c.p), free(c.w), free(c.rw), free(c.sel), free(sel0), free(p0), free(w0), free(dl);
}

typedef struct { int T, V; double *lg; int32_t *y; } ce_ctx;
static double ce_loss(void *c_) {
    ce_ctx *c = c_;
    return mm_t_xent_f64(c->lg, NULL, c->y, c->T, c->V, NULL);
}
static void test_xent(void) {
    ce_ctx c = {.T = 5, .V = 7};
    int32_t y[5] = {3, -1, 0, 6, 3};
    c.y = y;
    c.lg = rnd(35, 3);
    double *d = zeros(35);
    int n;
    double l = mm_t_xent_f64(c.lg, d, y, 5, 7, &n);
    CHECK(n == 4 && l > 0, "cross-entropy scores 4 rows (got %d), loss %g", n, l);
    FD_CHECK("cross-entropy", c.lg, 35, d, ce_loss, &c);
    free(c.lg), free(d);
}

/* ---------------------------------------------------------------- MoE block and the whole model */
static mm_tdims tiny_dims(void) {
    mm_tdims d = {.V = 11, .H = 8, .L = 2, .NH = 2, .NKV = 1, .D = 4, .R = 2, .I = 6, .E = 3, .K = 2, .B = 3,
                  .eps = 1e-5, .alpha_lin = 1.7, .beta_lin = 0.8, .alpha_full = 1.3, .beta_full = 1.1,
                  .alpha_mlp = 1.5, .beta_mlp = 0.9, .aux_coef = 0.05, .rope_theta = 100};
    d.layer_type[0] = MM_LAYER_LIGHTNING;
    d.layer_type[1] = MM_LAYER_SOFTMAX;
    return d;
}
static double *params64(const mm_tlayout *lo, uint64_t seed) {
    float *pf = malloc(sizeof(float) * lo->n_params);
    mm_tparams_init(lo, pf, seed);
    double *p = malloc(sizeof(double) * lo->n_params);
    for (size_t i = 0; i < lo->n_params; i++) p[i] = pf[i] * 20.0; /* std 0.4: far from linear, still smooth */
    mm_tparam *t;
    int n = mm_tparams_table(lo, &t);
    for (int i = 0; i < n; i++) /* norms away from 1 so their gradients are exercised in general position */
        if (t[i].is_norm)
            for (int64_t j = 0; j < t[i].n; j++) p[t[i].off + j] = 1 + 0.3 * urand();
    free(t);
    free(pf);
    return p;
}

typedef struct { const mm_tlayout *lo; mm_tacts_f64 *a; double *p, *h, *out, *r; int T; } moe_ctx;
static double moe_loss(void *c_) {
    moe_ctx *c = c_;
    double aux = mm_tmoe_fwd_f64(c->lo, c->p, c->a, 0, c->h, c->out, c->T);
    return dotp(c->r, c->out, (size_t)c->T * c->lo->d.H) + aux;
}
static void test_moe(void) {
    mm_tdims d = tiny_dims();
    mm_tlayout lo;
    CHECK(mm_tlayout_init(&lo, &d) == 0, "layout: %s", mm_last_error());
    moe_ctx c = {.lo = &lo, .T = 10};
    c.a = mm_tacts_new_f64(&lo, 2, 5);
    c.p = params64(&lo, 3);
    c.h = rnd((size_t)c.T * d.H, 1), c.out = zeros((size_t)c.T * d.H), c.r = rnd((size_t)c.T * d.H, 1);
    moe_loss(&c);
    double *g = zeros(lo.n_params), *dh = zeros((size_t)c.T * d.H);
    mm_tmoe_bwd_f64(&lo, c.p, c.a, 0, c.h, c.r, dh, g, c.T);
    FD_CHECK("MoE dh (router + top-2 experts + aux)", c.h, (size_t)c.T * d.H, dh, moe_loss, &c);
    const mm_tlayer_off *L = &lo.layer[0];
    FD_CHECK("MoE router weight", c.p + L->router, (size_t)d.E * d.H, g + L->router, moe_loss, &c);
    FD_CHECK("MoE w1", c.p + L->w1, (size_t)d.E * d.I * d.H, g + L->w1, moe_loss, &c);
    FD_CHECK("MoE w3", c.p + L->w3, (size_t)d.E * d.I * d.H, g + L->w3, moe_loss, &c);
    FD_CHECK("MoE w2", c.p + L->w2, (size_t)d.E * d.I * d.H, g + L->w2, moe_loss, &c);
    free(g), free(dh), free(c.p), free(c.h), free(c.out), free(c.r);
    mm_tacts_free_f64(c.a);
    mm_tlayout_free(&lo);
}

typedef struct { const mm_tlayout *lo; mm_tacts_f64 *a; double *p; int32_t *tok, *tgt; } mdl_ctx;
static double mdl_loss(void *c_) {
    mdl_ctx *c = c_;
    mm_tloss l = mm_tmodel_fwd_f64(c->lo, c->p, c->a, c->tok, c->tgt, NULL);
    return l.loss + l.aux;
}
static void test_model(void) {
    mm_tdims d = tiny_dims();
    mm_tlayout lo;
    CHECK(mm_tlayout_init(&lo, &d) == 0, "layout: %s", mm_last_error());
    const int n_seq = 2, S = 7, T = n_seq * S; /* S = 7 with block 3: the lightning layer crosses two boundaries */
    mdl_ctx c = {.lo = &lo, .a = mm_tacts_new_f64(&lo, n_seq, S), .p = params64(&lo, 11)};
    int32_t tok[14], tgt[14];
    for (int t = 0; t < T; t++) tok[t] = (t * 7 + 3) % d.V, tgt[t] = t % 5 == 4 ? -1 : (t * 5 + 1) % d.V;
    c.tok = tok, c.tgt = tgt;
    mdl_loss(&c);
    double *g = zeros(lo.n_params);
    mm_tmodel_bwd_f64(&lo, c.p, c.a, g);
    mm_tparam *t;
    int n = mm_tparams_table(&lo, &t);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < n; i++) {
        double e = fd_err(c.p + t[i].off, (size_t)t[i].n, g + t[i].off, mdl_loss, &c);
        if (!(e <= worst)) worst = e, worst_name = t[i].name;
    }
    CHECK(worst <= 1e-6, "whole model: worst relative gradient error %.3g (%s)", worst, worst_name);
    printf("whole model (%zu parameters, %d tensors): worst relative error %.3g (%s)\n", lo.n_params, n, worst, worst_name);
    free(t), free(g), free(c.p);
    mm_tacts_free_f64(c.a);
    mm_tlayout_free(&lo);
}

int main(void) {
    mm_set_threads(1); /* thousands of tiny forwards: thread start-up would dominate */
    test_linear();
    test_rmsnorm();
    test_activations();
    test_lightning(7, 3, 3, 0.3f);   /* blocks 3 + 3 + 1 */
    test_lightning(9, 4, 4, 0.05f);  /* 4 + 4 + 1, slow decay */
    test_lightning(5, 3, 8, 1.2f);   /* one partial block, fast decay */
    test_lightning_f32_engine();
    test_attention();
    test_router();
    test_xent();
    test_moe();
    test_model();
    return mmt_done();
}
