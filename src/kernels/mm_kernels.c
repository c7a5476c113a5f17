/* mm_kernels.c — matrix products over stored weights: scalar reference, scalar kernel set, the
 * run-time ISA choice, and the threaded drivers (row-split GEMV for decode, panel GEMM for prefill). */
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include "kernels/mm_quant.h"
#include <math.h>
#include <omp.h>
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
            case MM_Q8_0: s = mm_vec_dot_q8_0_q8_0(wr, xt, K); break;
            case MM_Q4_0: s = mm_vec_dot_q4_0_q8_0(wr, xt, K); break;
            case MM_Q4_K: s = mm_vec_dot_q4_K_q8_K(wr, xt, K); break;
            case MM_Q6_K: s = mm_vec_dot_q6_K_q8_K(wr, xt, K); break;
            default: s = NAN; break;
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
    if (wdt == MM_Q4_K || wdt == MM_Q6_K)
        mm_quantize_row_q8_K(x, dst, K);
    else
        mm_quantize_row_q8_0(x, dst, K);
}

static const mm_kernel_set mm_kernels_scalar = {"scalar", mm_dot_scalar, mm_gemm6x4_scalar, mm_dequantize_row,
                                                mm_quant_act_scalar, mm_pack_dot_scalar, 0};

/* ---------------------------------------------------------------- ISA choice */
static const mm_kernel_set *mm_forced;

static const mm_kernel_set *mm_kernels_auto(void) {
    static const mm_kernel_set *best;
    if (!best) {
        const mm_kernel_set *k = mm_kernels_avx512();
        if (!k) k = mm_kernels_avx2();
        if (!k) k = &mm_kernels_scalar;
        best = k;
    }
    return best;
}
static const mm_kernel_set *mm_kernels_active(void) { return mm_forced ? mm_forced : mm_kernels_auto(); }

const char *mm_kernels_isa(void) { return mm_kernels_active()->name; }

int mm_kernels_prefer_packed(mm_dtype dt) { return mm_pack_supported(dt) && mm_kernels_active()->pack_native; }

int mm_kernels_force_isa(const char *name) {
    if (!name) { mm_forced = NULL; return 0; }
    const mm_kernel_set *k = strcmp(name, "scalar") == 0   ? &mm_kernels_scalar
                             : strcmp(name, "avx2") == 0   ? mm_kernels_avx2()
                             : strcmp(name, "avx512") == 0 ? mm_kernels_avx512()
                                                           : NULL;
    if (!k) return -1;
    mm_forced = k;
    return 0;
}

void mm_quantize_activation(mm_dtype wdt, const float *x, void *dst, int64_t K) {
    mm_kernels_active()->quant_act(wdt, x, dst, K);
}

/* ---------------------------------------------------------------- drivers */
#define MM_RB 16    /* decode: rows per work item */
#define MM_NB 96    /* prefill: weight rows per panel (multiple of 6) */
#define MM_KC 1024  /* prefill: K per panel chunk (multiple of 256 so quant blocks never straddle) */

/* Prefill: y[T,N] = x[T,K]·W[N,K]ᵀ through f32 panels [MM_NB, MM_KC] reused by every token. */
static void mm_matmul_gemm(const mm_kernel_set *ks, float *y, const float *x, const mm_tensor *w, int T) {
    int64_t N = w->shape[0], K = w->shape[1];
    int64_t Kp = (K + 15) / 16 * 16, Tp = (T + 3) / 4 * 4;
    size_t wrb = mm_row_bytes(w->dtype, K);
    float *xp = mm_xaligned((size_t)(Tp * Kp) * sizeof(float)); /* zero-padded copy of x */
    for (int64_t t = 0; t < Tp; t++) {
        float *d = xp + t * Kp;
        if (t < T) memcpy(d, x + t * K, (size_t)K * sizeof(float));
        for (int64_t k = t < T ? K : 0; k < Kp; k++) d[k] = 0.0f;
    }
    int64_t nblocks = (N + MM_NB - 1) / MM_NB;
    size_t gb = w->pack ? mm_pack_group_bytes(w->dtype, K) : 0;
#pragma omp parallel if (nblocks > 1)
    {
        float *panel = mm_xaligned((size_t)MM_NB * MM_KC * sizeof(float));
        /* a packed W: the stored bytes of one 16-row group over the chunk, unpacked [16, MM_KC elements] */
        size_t ub = w->pack ? mm_row_bytes(w->dtype, MM_KC) : 0;
        char *unp = w->pack ? mm_xmalloc(ub * MM_PACK_ROWS) : NULL;
        float out[24];
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nblocks; b++) {
            int64_t n0 = b * MM_NB, nb = N - n0 < MM_NB ? N - n0 : MM_NB, nbp = (nb + 5) / 6 * 6;
            for (int64_t k0 = 0; k0 < K; k0 += MM_KC) {
                int64_t kc = K - k0 < MM_KC ? K - k0 : MM_KC, kcp = (kc + 15) / 16 * 16;
                for (int64_t r = 0; r < nbp; r++) {
                    float *pr = panel + r * MM_KC;
                    if (r < nb) {
                        const char *src = (const char *)w->data + (size_t)(n0 + r) * wrb + mm_row_bytes(w->dtype, k0);
                        if (unp) { /* MM_NB is a multiple of 16: a group starts at r % 16 == 0 */
                            if (r % MM_PACK_ROWS == 0) {
                                int gr = nb - r < MM_PACK_ROWS ? (int)(nb - r) : MM_PACK_ROWS;
                                mm_pack_unpack(w->dtype, (const char *)w->pack + (size_t)((n0 + r) / MM_PACK_ROWS) * gb, k0, kc,
                                               gr, unp, ub);
                            }
                            src = unp + (size_t)(r % MM_PACK_ROWS) * ub;
                        }
                        ks->dequant(w->dtype, src, pr, kc);
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
                            float *yt = y + (size_t)(t0 + t) * N + n0 + r0;
                            if (k0 == 0)
                                for (int r = 0; r < rn; r++) yt[r] = out[t * 6 + r];
                            else
                                for (int r = 0; r < rn; r++) yt[r] += out[t * 6 + r];
                        }
                    }
                }
            }
        }
        free(panel);
        free(unp);
    }
    free(xp);
}

/* Decode over a packed W: one 16-row group per work item, handed out dynamically as for stored rows. */
static void mm_matmul_packed(const mm_kernel_set *ks, float *y, const float *x, const mm_tensor *w, int T) {
    int64_t N = w->shape[0], K = w->shape[1];
    size_t gb = mm_pack_group_bytes(w->dtype, K), xab;
    void *xa;
    if (w->dtype == MM_Q8_0 || w->dtype == MM_Q4_0) {
        int64_t nb = K / MM_QK;
        mm_block_q8_0 *xq = mm_xmalloc(sizeof(mm_block_q8_0) * (size_t)nb);
        xab = sizeof(mm_block_q8_0x) * (size_t)nb;
        xa = mm_xaligned(xab * (size_t)T);
        for (int t = 0; t < T; t++) {
            ks->quant_act(w->dtype, x + (size_t)t * K, xq, K);
            mm_pack_act_q8_0(xq, (mm_block_q8_0x *)((char *)xa + xab * (size_t)t), nb);
        }
        free(xq);
    } else {
        xab = (size_t)(K / MM_QK_K) * sizeof(mm_block_q8_K);
        xa = mm_xaligned(xab * (size_t)T);
        for (int t = 0; t < T; t++) ks->quant_act(w->dtype, x + (size_t)t * K, (char *)xa + xab * (size_t)t, K);
    }
    int64_t ng = (N + MM_PACK_ROWS - 1) / MM_PACK_ROWS;
#pragma omp parallel for schedule(dynamic, 4) if (N * K >= (1 << 15) && ng > 1)
    for (int64_t g = 0; g < ng; g++) {
        int64_t n0 = g * MM_PACK_ROWS;
        int nr = N - n0 < MM_PACK_ROWS ? (int)(N - n0) : MM_PACK_ROWS;
        ks->dot_packed(w->dtype, K, (const char *)w->pack + (size_t)g * gb, nr, T, xa, xab, y + n0, (size_t)N);
    }
    free(xa);
}

void mm_matmul(float *y, const float *x, const mm_tensor *w, int T) {
    int64_t N = w->shape[0], K = w->shape[1];
    const mm_kernel_set *ks = mm_kernels_active();
    if (T <= 0 || N <= 0) return;
    if (T >= MM_GEMM_MIN_T) {
        mm_matmul_gemm(ks, y, x, w, T);
        return;
    }
    if (w->pack) {
        mm_matmul_packed(ks, y, x, w, T);
        return;
    }
    size_t wrb = mm_row_bytes(w->dtype, K), xab = (size_t)K * sizeof(float);
    const void *xa = x;
    void *xq = NULL;
    if (w->dtype == MM_Q8_0 || w->dtype == MM_Q4_0) {
        xab = mm_row_bytes(MM_Q8_0, K);
        xq = mm_xaligned(xab * (size_t)T);
        for (int t = 0; t < T; t++) ks->quant_act(w->dtype, x + (size_t)t * K, (char *)xq + xab * t, K);
        xa = xq;
    } else if (w->dtype == MM_Q4_K || w->dtype == MM_Q6_K) {
        xab = (size_t)(K / MM_QK_K) * sizeof(mm_block_q8_K);
        xq = mm_xaligned(xab * (size_t)T);
        for (int t = 0; t < T; t++) ks->quant_act(w->dtype, x + (size_t)t * K, (char *)xq + xab * t, K);
        xa = xq;
    }
    int64_t nblocks = (N + MM_RB - 1) / MM_RB;
    /* Dynamic hand-out of 16-row blocks: both cores stream weights until none are left, and a core that
     * is descheduled (other work on the machine) does not hold the whole product back. Each output is
     * still computed by exactly one thread in a fixed order, so results do not depend on the schedule. */
#pragma omp parallel for schedule(dynamic, 4) if (N * K >= (1 << 15) && nblocks > 1)
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t n0 = b * MM_RB, nb = N - n0 < MM_RB ? N - n0 : MM_RB;
        ks->dot(w->dtype, K, nb, (const char *)w->data + (size_t)n0 * wrb, wrb, T, xa, xab, y + n0, (size_t)N);
    }
    free(xq);
}
