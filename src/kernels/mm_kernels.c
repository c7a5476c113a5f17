/* mm_kernels.c — matrix products over stored weights: scalar reference, scalar kernel set, the
 * run-time ISA choice, and the threaded drivers (row-split GEMV for decode, panel GEMM for prefill). */
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include "kernels/mm_quant.h"
#include <math.h>
#include "base/mm_pool.h"
#include <stdint.h>
#include <stdlib.h>

void mm_tensor_row_f32(const mm_tensor *t, int64_t r, float *out) {
    int64_t n = t->shape[t->ndim - 1];
    const char *row = (const char *)t->data + (size_t)r * mm_row_bytes(t->dtype, n);
    mm_dequantize_row(t->dtype, row, out, n);
}

/* Scalar reference (the definition): y[T,N] = x[T,K]·W[N,K]ᵀ, one dequantized row at a time, plain f32 sum
 * with the unquantized activations. */
void mm_matmul_ref(float *y, const float *x, const mm_tensor *w, int T) {
    int64_t N = w->shape[0], K = w->shape[1];
    float *row = mm_xmalloc((size_t)K * sizeof(float));
    for (int64_t n = 0; n < N; n++) {
        mm_tensor_row_f32(w, n, row);
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * K;
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += xt[k] * row[k];
            y[(size_t)t * N + n] = s;
        }
    }
    free(row);
}

/* ---------------------------------------------------------------- scalar kernel set */
/* y[t·ldy+r] = W_r·xa_t, r < nr, t < nt (contract in mm_kernel_set). */
static void mm_dot_scalar(mm_dtype dt, int64_t K, int64_t nr, const void *w, size_t wrb, int nt, const void *xa,
                          size_t xab, float *y, size_t ldy) {
    for (int64_t r = 0; r < nr; r++) {
        const char *wr = (const char *)w + (size_t)r * wrb;
        for (int t = 0; t < nt; t++) {
            const void *xt = (const char *)xa + (size_t)t * xab;
            float s = 0;
            switch (dt) {
            case MM_F32:
            case MM_F16:
            case MM_BF16: {
                const float *xf = xt;
                float s4[4] = {0, 0, 0, 0};
                for (int64_t k = 0; k < K; k++) {
                    float v = dt == MM_F32    ? ((const float *)wr)[k]
                              : dt == MM_F16 ? mm_f16_to_f32(((const uint16_t *)wr)[k])
                                             : mm_bf16_to_f32(((const uint16_t *)wr)[k]);
                    s4[k & 3] += v * xf[k];
                }
                s = (s4[0] + s4[1]) + (s4[2] + s4[3]);
                break;
            }
            default: s = mm_vec_dot(dt, wr, xt, K); break;
            }
            y[(size_t)t * ldy + (size_t)r] = s;
        }
    }
}

/* out[t·6+r] = Σ_{k<kc} w[r·ldw+k]·x[t·ldx+k], r < 6, t < 4. */
static void mm_gemm6x4_scalar(int64_t kc, const float *w, size_t ldw, const float *x, size_t ldx, float *out) {
    for (int t = 0; t < 4; t++)
        for (int r = 0; r < 6; r++) {
            float s4[4] = {0, 0, 0, 0};
            for (int64_t k = 0; k < kc; k++) s4[k & 3] += w[(size_t)r * ldw + k] * x[(size_t)t * ldx + k];
            out[t * 6 + r] = (s4[0] + s4[1]) + (s4[2] + s4[3]);
        }
}

void mm_quant_act_scalar(mm_dtype wdt, const float *x, void *dst, int64_t K) {
    if (mm_dtype_act_q8_K(wdt))
        mm_quantize_row_q8_K(x, dst, K);
    else
        mm_quantize_row_q8_0(x, dst, K);
}

static const mm_kernel_set mm_kernels_scalar = {"scalar", mm_dot_scalar, mm_gemm6x4_scalar, mm_dequantize_row,
                                                mm_quant_act_scalar, mm_pack_dot_scalar, mm_pack_gemm_scalar,
                                                mm_sgemm4_scalar, mm_softmax_cols_scalar, mm_dots_scalar, mm_expsum_scalar,
                                                mm_silu_scalar, mm_sigmoid_scalar, NULL, NULL, 0, 0};

/* ---------------------------------------------------------------- ISA choice */
static const mm_kernel_set *mm_forced;

static const mm_kernel_set *mm_kernels_auto(void) {
    static const mm_kernel_set *best;
    if (!best) {
        const mm_kernel_set *k = mm_kernels_avx512();
        if (!k) k = mm_kernels_avxvnni();
        if (!k) k = mm_kernels_avx2();
        if (!k) k = &mm_kernels_scalar;
        best = k;
    }
    return best;
}
static const mm_kernel_set *mm_kernels_active(void) { return mm_forced ? mm_forced : mm_kernels_auto(); }
const mm_kernel_set *mm_kernels_get(void) { return mm_kernels_active(); }

const char *mm_kernels_isa(void) { return mm_kernels_active()->name; }

int mm_kernels_prefer_packed(mm_dtype dt) {
    const mm_kernel_set *ks = mm_kernels_active();
    return mm_pack_supported(dt) && ks->pack_native && !(ks->pack_skip >> dt & 1);
}

int mm_kernels_force_isa(const char *name) {
    if (!name) { mm_forced = NULL; return 0; }
    const mm_kernel_set *k = strcmp(name, "scalar") == 0   ? &mm_kernels_scalar
                             : strcmp(name, "avx2") == 0   ? mm_kernels_avx2()
                             : strcmp(name, "avxvnni") == 0 ? mm_kernels_avxvnni()
                             : strcmp(name, "avx512") == 0 ? mm_kernels_avx512()
                                                           : NULL;
    if (!k) return -1;
    mm_forced = k;
    return 0;
}

void mm_quantize_activation(mm_dtype wdt, const float *x, void *dst, int64_t K) {
    mm_kernels_active()->quant_act(wdt, x, dst, K);
}

/* ---------------------------------------------------------------- drivers
 * mm_matmul_n plans every job (path, activation format, work items), then runs one region: the activation
 * rows of all distinct inputs are quantized (or copied) in one work-shared loop, then the work items of all
 * jobs in another. Each work item writes its own outputs in a fixed order, so results do not depend on the
 * number of threads or on the schedule. */
#define MM_RB 16    /* decode over stored rows: rows per work item */
#define MM_NB 96    /* f32 prefill: weight rows per panel (multiple of 6 and of 16) */
#define MM_KC 1024  /* f32 prefill: K per panel chunk (multiple of 256 so quant blocks never straddle) */

typedef enum { P_FDOT, P_FGEMM, P_QDOT, P_PDOT, P_PGEMM } mm_path;
/* Activation formats: f32 as given; f32 zero-padded to [Tp, Kp]; Q8_0 / Q8_K rows; Q8_0x rows (bias for
 * Q8_0 or Q4_0 weights); the token-tiled forms of Q8_0x and Q8_K. */
typedef enum { A_F32, A_FPAD, A_Q80, A_Q8K, A_X128, A_X8, A_T128, A_T8, A_TK } mm_act_kind;

typedef struct {
    const float *x;
    int T;
    int64_t K;
    mm_act_kind kind;
    mm_dtype wdt;      /* a weight dtype the format is for (quantizer choice) */
    char *data;        /* NULL for A_F32 */
    size_t rowb;       /* bytes per token row (rows layouts) or per tile of MM_QT tokens (tiled) */
    int64_t first;     /* index of its first row among all rows quantized */
} mm_act;

typedef struct {
    const mm_matmul_job *job;
    mm_path path;
    int act;           /* into the activation list */
    int64_t first;     /* index of its first work item among all jobs */
    size_t wrb, gb;    /* stored row bytes, packed group bytes */
} mm_plan;

typedef struct {
    const mm_kernel_set *ks;
    mm_plan *plans;
    int n_plans;
    mm_act *acts;
    int n_acts;
    int64_t rows, items, chunk;
    size_t scratch_bytes; /* per-thread buffer each thread takes from mm_scratch */
} mm_run;

/* Block-quantized weights: integer products on quantized activations. Prefill takes the packed integer GEMM
 * for the types with a packed layout; the others are dequantized into the f32 panels (P_FGEMM). */
static int is_quant(mm_dtype dt) { return mm_dtype_is_quant(dt); }

static mm_act_kind act_kind(mm_path p, mm_dtype dt) {
    int k = mm_dtype_act_q8_K(dt); /* the 256-element types take Q8_K activations */
    switch (p) {
    case P_FDOT: return A_F32;
    case P_FGEMM: return A_FPAD;
    case P_QDOT: return k ? A_Q8K : A_Q80;
    case P_PDOT: return k ? A_Q8K : dt == MM_Q4_0 ? A_X8 : A_X128;
    default: return k ? A_TK : dt == MM_Q4_0 ? A_T8 : A_T128;
    }
}

/* Bytes per token row or per token tile of an activation format. */
static size_t act_rowb(mm_act_kind k, int64_t K) {
    const int64_t Kp = (K + 15) / 16 * 16;
    switch (k) {
    case A_F32: return (size_t)K * sizeof(float);
    case A_FPAD: return (size_t)Kp * sizeof(float);
    case A_Q80: return mm_row_bytes(MM_Q8_0, K);
    case A_Q8K: return (size_t)(K / MM_QK_K) * sizeof(mm_block_q8_K);
    case A_X128: case A_X8: return (size_t)(K / MM_QK) * sizeof(mm_block_q8_0x);
    case A_T128: case A_T8: return (size_t)(K / MM_QK) * sizeof(mm_block_q8_0x) * MM_QT;
    default: return (size_t)(K / MM_QK_K) * sizeof(mm_block_q8_K) * MM_QT;
    }
}

static char *thread_scratch(mm_run *r, int ith) {
    (void)ith;
    return mm_scratch(MM_SCRATCH_MATMUL, r->scratch_bytes);
}

/* Activation row t of a: quantized / copied into its place. */
static void act_row(const mm_run *r, const mm_act *a, int t, char *tmp) {
    const mm_kernel_set *ks = r->ks;
    const float *xt = a->x + (size_t)t * a->K;
    switch (a->kind) {
    case A_F32: break;
    case A_FPAD: {
        float *d = (float *)(a->data + (size_t)t * a->rowb);
        memcpy(d, xt, (size_t)a->K * sizeof(float));
        for (int64_t k = a->K; k < (int64_t)(a->rowb / sizeof(float)); k++) d[k] = 0.0f;
        break;
    }
    case A_Q80: case A_Q8K: ks->quant_act(a->wdt, xt, a->data + (size_t)t * a->rowb, a->K); break;
    case A_X128: case A_X8:
        ks->quant_act(a->wdt, xt, tmp, a->K);
        mm_pack_act_q8_0(a->wdt, (const mm_block_q8_0 *)tmp, a->data + (size_t)t * a->rowb, a->K / MM_QK, sizeof(mm_block_q8_0x));
        break;
    case A_T128: case A_T8: {
        char *d = a->data + (size_t)(t / MM_QT) * a->rowb + (size_t)(t % MM_QT) * sizeof(mm_block_q8_0x);
        ks->quant_act(a->wdt, xt, tmp, a->K);
        mm_pack_act_q8_0(a->wdt, (const mm_block_q8_0 *)tmp, d, a->K / MM_QK, MM_QT * sizeof(mm_block_q8_0x));
        break;
    }
    case A_TK: {
        char *d = a->data + (size_t)(t / MM_QT) * a->rowb + (size_t)(t % MM_QT) * sizeof(mm_block_q8_K);
        ks->quant_act(a->wdt, xt, tmp, a->K);
        for (int64_t b = 0; b < a->K / MM_QK_K; b++)
            memcpy(d + (size_t)b * MM_QT * sizeof(mm_block_q8_K), tmp + (size_t)b * sizeof(mm_block_q8_K), sizeof(mm_block_q8_K));
        break;
    }
    }
}

static void quant_body(void *arg, int64_t i0, int64_t i1, int ith) {
    mm_run *r = arg;
    char *tmp = NULL;
    for (int64_t i = i0; i < i1; i++) {
        int a = 0;
        while (a + 1 < r->n_acts && r->acts[a + 1].first <= i) a++;
        const mm_act *ac = &r->acts[a];
        if (!tmp && ac->kind != A_F32 && ac->kind != A_FPAD) tmp = thread_scratch(r, ith);
        act_row(r, ac, (int)(i - ac->first), tmp);
    }
}

/* f32 prefill: rows [n0, n0 + nb) of W through f32 panels [MM_NB, MM_KC] that every token reuses. */
static void fgemm_item(const mm_run *r, const mm_plan *p, int64_t n0, char *scratch) {
    const mm_kernel_set *ks = r->ks;
    const mm_matmul_job *j = p->job;
    const mm_act *a = &r->acts[p->act];
    const mm_tensor *w = j->w;
    const int64_t N = w->shape[0], K = w->shape[1], Kp = (int64_t)(a->rowb / sizeof(float));
    const int T = j->T;
    const int64_t Tp = (T + 3) / 4 * 4, nb = N - n0 < MM_NB ? N - n0 : MM_NB, nbp = (nb + 5) / 6 * 6;
    const float *xp = (const float *)a->data;
    float *panel = (float *)scratch, out[24];
    for (int64_t k0 = 0; k0 < K; k0 += MM_KC) {
        int64_t kc = K - k0 < MM_KC ? K - k0 : MM_KC, kcp = (kc + 15) / 16 * 16;
        for (int64_t rr = 0; rr < nbp; rr++) {
            float *pr = panel + rr * MM_KC;
            if (rr < nb) {
                ks->dequant(w->dtype, (const char *)w->data + (size_t)(n0 + rr) * p->wrb + mm_row_bytes(w->dtype, k0), pr, kc);
                for (int64_t k = kc; k < kcp; k++) pr[k] = 0.0f;
            } else {
                memset(pr, 0, (size_t)kcp * sizeof(float));
            }
        }
        for (int64_t t0 = 0; t0 < Tp; t0 += 4) {
            int tn = T - t0 < 4 ? (int)(T - t0) : 4;
            for (int64_t r0 = 0; r0 < nbp; r0 += 6) {
                ks->gemm6x4(kcp, panel + r0 * MM_KC, MM_KC, xp + t0 * Kp + k0, (size_t)Kp, out);
                int rn = nb - r0 < 6 ? (int)(nb - r0) : 6;
                for (int t = 0; t < tn; t++) {
                    float *yt = j->y + (size_t)(t0 + t) * N + n0 + r0;
                    if (k0 == 0)
                        for (int q = 0; q < rn; q++) yt[q] = out[t * 6 + q];
                    else
                        for (int q = 0; q < rn; q++) yt[q] += out[t * 6 + q];
                }
            }
        }
    }
}

/* Integer prefill: one 16-row group (packed, or packed here from the stored rows) × every token tile. */
static void pgemm_item(const mm_run *r, const mm_plan *p, int64_t g, char *scratch) {
    const mm_matmul_job *j = p->job;
    const mm_act *a = &r->acts[p->act];
    const mm_tensor *w = j->w;
    const int64_t N = w->shape[0], K = w->shape[1], n0 = g * MM_PACK_ROWS;
    const int nr = N - n0 < MM_PACK_ROWS ? (int)(N - n0) : MM_PACK_ROWS;
    const void *grp;
    if (w->pack) {
        grp = (const char *)w->pack + (size_t)g * p->gb;
    } else {
        mm_pack_group(w->dtype, (const char *)w->data + (size_t)n0 * p->wrb, p->wrb, nr, K, scratch);
        grp = scratch;
    }
    for (int t0 = 0; t0 < j->T; t0 += MM_QT) {
        int nt = j->T - t0 < MM_QT ? j->T - t0 : MM_QT;
        r->ks->gemm_packed(w->dtype, K, grp, nr, nt, a->data + (size_t)(t0 / MM_QT) * a->rowb, j->y + (size_t)t0 * N + n0,
                           (size_t)N);
    }
}

static void item_body(void *arg, int64_t i0, int64_t i1, int ith) {
    mm_run *r = arg;
    int pi = 0;
    for (int64_t i = i0; i < i1; i++) {
        while (pi + 1 < r->n_plans && r->plans[pi + 1].first <= i) pi++;
        const mm_plan *p = &r->plans[pi];
        const mm_matmul_job *j = p->job;
        const mm_tensor *w = j->w;
        const mm_act *a = &r->acts[p->act];
        const int64_t N = w->shape[0], K = w->shape[1], it = i - p->first;
        switch (p->path) {
        case P_FDOT:
        case P_QDOT: {
            const int64_t n0 = it * MM_RB, nb = N - n0 < MM_RB ? N - n0 : MM_RB;
            const void *xa = a->kind == A_F32 ? (const void *)j->x : a->data;
            r->ks->dot(w->dtype, K, nb, (const char *)w->data + (size_t)n0 * p->wrb, p->wrb, j->T, xa, a->rowb, j->y + n0, (size_t)N);
            break;
        }
        case P_PDOT: {
            const int64_t n0 = it * MM_PACK_ROWS;
            const int nr = N - n0 < MM_PACK_ROWS ? (int)(N - n0) : MM_PACK_ROWS;
            r->ks->dot_packed(w->dtype, K, (const char *)w->pack + (size_t)it * p->gb, nr, j->T, a->data, a->rowb, j->y + n0, (size_t)N);
            break;
        }
        case P_PGEMM: pgemm_item(r, p, it, w->pack ? NULL : thread_scratch(r, ith)); break;
        case P_FGEMM: fgemm_item(r, p, it * MM_NB, thread_scratch(r, ith)); break;
        }
    }
}

static void run_region(void *arg, int ith, int nth) {
    mm_run *r = arg;
    (void)ith, (void)nth;
    if (r->rows > 0) mm_parallel_for(r->rows, 1, quant_body, r); /* rows == 0: quantized before the region */
    mm_parallel_for_last(r->items, r->chunk, item_body, r);
}

static mm_matmul_observer mm_observer;
static void *mm_observer_ud;
void mm_matmul_set_observer(mm_matmul_observer fn, void *ud) {
    mm_observer = fn;
    mm_observer_ud = ud;
}

void mm_matmul_n(const mm_matmul_job *jobs, int n) {
    if (mm_observer)
        for (int i = 0; i < n; i++)
            if (jobs[i].T > 0) mm_observer(mm_observer_ud, jobs[i].w, jobs[i].x, jobs[i].T);
    mm_run r = {.ks = mm_kernels_active()};
    mm_plan *plans = mm_xmalloc(sizeof(mm_plan) * (size_t)(n > 0 ? n : 1));
    mm_act *acts = mm_xmalloc(sizeof(mm_act) * (size_t)(n > 0 ? n : 1));
    int decode_only = 1;
    double work = 0, qwork = 0;
    size_t scratch = 0, act_bytes = 0;
    for (int i = 0; i < n; i++) {
        const mm_matmul_job *j = &jobs[i];
        const mm_tensor *w = j->w;
        const int64_t N = w->shape[0], K = w->shape[1];
        if (j->T <= 0 || N <= 0) continue;
        mm_plan *p = &plans[r.n_plans];
        const int gemm = j->T >= MM_GEMM_MIN_T, q = is_quant(w->dtype) && !(gemm && !mm_pack_supported(w->dtype));
        p->job = j;
        p->path = !q ? (gemm ? P_FGEMM : P_FDOT) : gemm ? P_PGEMM : w->pack ? P_PDOT : P_QDOT;
        p->wrb = mm_row_bytes(w->dtype, K);
        p->gb = q && mm_pack_supported(w->dtype) ? mm_pack_group_bytes(w->dtype, K) : 0;
        p->first = r.items;
        r.items += p->path == P_FGEMM ? (N + MM_NB - 1) / MM_NB : (N + 15) / 16;
        decode_only &= !gemm;
        work += (double)N * (double)K * j->T;
        /* per-thread scratch: an f32 panel, a group packed on the fly, or a quantized row before it is placed */
        size_t need = p->path == P_FGEMM ? (size_t)MM_NB * MM_KC * sizeof(float)
                      : p->path == P_PGEMM && !w->pack ? p->gb : 0;
        if (q) need = need > (size_t)(K / MM_QK_K + 1) * sizeof(mm_block_q8_K) + mm_row_bytes(MM_Q8_0, K)
                          ? need : (size_t)(K / MM_QK_K + 1) * sizeof(mm_block_q8_K) + mm_row_bytes(MM_Q8_0, K);
        scratch = need > scratch ? need : scratch;
        const mm_act_kind kind = act_kind(p->path, w->dtype);
        int ai = -1;
        for (int k = 0; k < r.n_acts && ai < 0; k++)
            if (acts[k].x == j->x && acts[k].T == j->T && acts[k].K == K && acts[k].kind == kind) ai = k;
        if (ai < 0) {
            mm_act *a = &acts[ai = r.n_acts++];
            *a = (mm_act){.x = j->x, .T = j->T, .K = K, .kind = kind, .wdt = w->dtype, .rowb = act_rowb(kind, K)};
            a->first = r.rows;
            if (kind != A_F32) {
                const int64_t units = kind == A_FPAD ? (j->T + 3) / 4 * 4
                                      : (kind == A_T128 || kind == A_T8 || kind == A_TK) ? (j->T + MM_QT - 1) / MM_QT
                                                                                         : j->T;
                a->data = (char *)(uintptr_t)act_bytes; /* an offset into the activation buffer until it exists */
                act_bytes += (a->rowb * (size_t)units + 63) / 64 * 64;
                r.rows += j->T;
                qwork += (double)j->T * K;
            }
        }
        p->act = ai;
        r.n_plans++;
    }
    if (r.n_plans) {
        /* acts with no rows (A_F32) sit at the same `first` as the next one: quant_body's search skips them */
        r.plans = plans, r.acts = acts;
        char *abuf = act_bytes ? mm_scratch(MM_SCRATCH_MATMUL_ACT, act_bytes) : NULL;
        for (int k = 0; k < r.n_acts; k++)
            if (acts[k].kind != A_F32) {
                acts[k].data = abuf + (uintptr_t)acts[k].data;
                if (acts[k].kind == A_FPAD) { /* the padding rows of the last group of 4 tokens */
                    const int units = (acts[k].T + 3) / 4 * 4;
                    memset(acts[k].data + acts[k].rowb * (size_t)acts[k].T, 0, acts[k].rowb * (size_t)(units - acts[k].T));
                }
            }
        const int nth = mm_pool_threads();
        r.scratch_bytes = scratch ? scratch : 64;
        r.chunk = decode_only ? (r.items / (nth * 8) > 1 ? r.items / (nth * 8) : 1) : 1;
        if (work < (double)(1 << 15) || nth == 1) { /* too small to be worth waking the pool */
            quant_body(&r, 0, r.rows, 0);
            item_body(&r, 0, r.items, 0);
        } else {
            if (qwork <= (double)(1 << 14)) { /* a token or two (decode): quantize here, one barrier less */
                quant_body(&r, 0, r.rows, 0);
                r.rows = 0;
            }
            mm_pool_run(run_region, &r);
        }
    }
    free(plans);
    free(acts);
}

void mm_matmul(float *y, const float *x, const mm_tensor *w, int T) {
    mm_matmul_job j = {y, x, w, T};
    mm_matmul_n(&j, 1);
}
