/* test_kernels.c — weight formats and matrix kernels: block layouts, quantization error, f16/bf16
 * conversions, fast mm_matmul (every ISA) against the scalar reference, determinism. */
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include "kernels/mm_quant.h"
#include "mm_test.h"
#include "mm_test_quant.h"
#include "base/mm_pool.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* (0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static float grand(void) { return (float)(sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand())); }
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) {
        float v = grand() * scale;
        x[i] = v != 0.0f ? v : scale * 0.5f; /* activations are never zero */
    }
}

static const mm_dtype all_types[] = {MM_F32,  MM_F16,    MM_BF16,   MM_Q8_0,    MM_Q4_0,   MM_Q4_K,  MM_Q6_K,
                                     MM_Q4_1, MM_Q5_0,   MM_Q5_1,   MM_Q2_K,    MM_Q3_K,   MM_Q5_K,  MM_IQ4_NL,
                                     MM_IQ4_XS, MM_IQ2_XXS, MM_IQ2_XS, MM_IQ2_S, MM_IQ3_XXS, MM_IQ3_S, MM_IQ1_S, MM_IQ1_M};
#define NTYPES ((int)(sizeof all_types / sizeof all_types[0]))

static void make_weights(mm_dtype dt, const float *src, void *dst, int64_t rows, int64_t cols) {
    mmt_make_weights(dt, src, dst, rows, cols, NULL);
}

/* ---------------------------------------------------------------- conversions */
static void test_half_conversions(void) {
    int bad16 = 0, badbf = 0, badsimd = 0;
    uint16_t *all = malloc(65536 * 2);
    for (int h = 0; h < 65536; h++) all[h] = (uint16_t)h;
    for (int h = 0; h < 65536; h++) {
        float f = mm_f16_to_f32((uint16_t)h);
        if (isnan(f) ? !isnan(mm_f16_to_f32(mm_f32_to_f16(f))) : mm_f32_to_f16(f) != h) bad16++;
        float g = mm_bf16_to_f32((uint16_t)h);
        if (isnan(g) ? !isnan(mm_bf16_to_f32(mm_f32_to_bf16(g))) : mm_f32_to_bf16(g) != h) badbf++;
    }
    CHECK(bad16 == 0, "%d f16 values do not round-trip", bad16);
    CHECK(badbf == 0, "%d bf16 values do not round-trip", badbf);
    /* every kernel set's vector conversion is bit-identical to the scalar one on all 65536 values */
    const mm_kernel_set *sets[2] = {mm_kernels_avx2(), mm_kernels_avx512()};
    float *a = malloc(65536 * 4), *b = malloc(65536 * 4);
    for (int s = 0; s < 2; s++) {
        if (!sets[s]) continue;
        for (int dt = MM_F16; dt <= MM_BF16; dt++) {
            mm_dequantize_row((mm_dtype)dt, all, a, 65536);
            sets[s]->dequant((mm_dtype)dt, all, b, 65536);
            for (int h = 0; h < 65536; h++) /* NaN payloads may be quieted by vcvtph2ps */
                if (isnan(a[h]) ? !isnan(b[h]) : memcmp(&a[h], &b[h], 4) != 0) badsimd++;
        }
    }
    CHECK(badsimd == 0, "%d SIMD f16/bf16 conversions differ from scalar", badsimd);
    /* rounding: halfway cases go to even */
    CHECK(mm_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80, "bf16 tie to even (down)");
    CHECK(mm_f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82, "bf16 tie to even (up)");
    CHECK(mm_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00, "f16 tie to even");
    free(all), free(a), free(b);
}

/* ---------------------------------------------------------------- layouts (hand-built blocks) */
static void test_layouts(void) {
    float y[256];
    mm_block_q4_0 q4 = {.d = 0x3c00}; /* d = 1 */
    q4.qs[0] = 0x9a;
    q4.qs[15] = 0x07;
    for (int l = 1; l < 15; l++) q4.qs[l] = 0x88;
    mm_dequantize_row_q4_0(&q4, y, 32);
    CHECK(y[0] == 2 && y[16] == 1 && y[15] == -1 && y[31] == -8 && y[1] == 0, "Q4_0 nibble order: %g %g %g %g", y[0], y[16],
          y[15], y[31]);

    mm_block_q8_0 q8 = {.d = 0x4000}; /* d = 2 */
    for (int l = 0; l < 32; l++) q8.qs[l] = (int8_t)(l - 16);
    mm_dequantize_row_q8_0(&q8, y, 32);
    CHECK(y[0] == -32 && y[31] == 30, "Q8_0 values");

    /* Q4_K: sub-block 5 gets sc = 42 (0b101010), m = 21 (0b010101); sub-block 1 sc = 3, m = 0. */
    mm_block_q4_K k4;
    memset(&k4, 0, sizeof k4);
    k4.d = 0x3c00;
    k4.dmin = 0x3800; /* 0.5 */
    k4.scales[1] = 3 | (2 << 6);              /* sc1 = 3, high bits of sc5 = 2 */
    k4.scales[5] = (1 << 6);                  /* m1 = 0, high bits of m5 = 1 */
    k4.scales[9] = (uint8_t)(10 | (5 << 4));  /* low nibbles of sc5 = 10, m5 = 5 */
    int sc, m;
    mm_q4_K_scale_min(5, k4.scales, &sc, &m);
    CHECK(sc == 42 && m == 21, "Q4_K 6-bit unpack: %d %d", sc, m);
    k4.qs[64 + 7] = 0x3c;  /* element 128+7 (sub-block 4) low = 12; element 160+7 (sub-block 5) high = 3 */
    k4.qs[0 + 2] = 0x50;   /* element 32+2 (sub-block 1) = 5 */
    mm_dequantize_row_q4_K(&k4, y, 256);
    CHECK(y[167] == 42 * 3 - 0.5f * 21 && y[34] == 15 && y[135] == 0 && y[166] == -10.5f, "Q4_K values: %g %g %g", y[167],
          y[34], y[166]);

    /* Q6_K: element 70 of the second half (index 198): ql[64+6] high nibble, qh[32+6] bits 4..5, scale 12. */
    mm_block_q6_K k6;
    memset(&k6, 0, sizeof k6);
    k6.d = 0x3c00;
    for (int g = 0; g < 16; g++) k6.scales[g] = (int8_t)(g + 1);
    k6.ql[64 + 6] = 0x70;
    k6.qh[32 + 6] = 0x20; /* high bits 2 → level 7 | 32 = 39 → e = 7 */
    mm_dequantize_row_q6_K(&k6, y, 256);
    CHECK(y[198] == 7.0f * 13 && y[6] == -32.0f * 1 && y[128 + 6] == -32.0f * 9, "Q6_K values: %g %g", y[198], y[6]);
}

/* ---------------------------------------------------------------- quantization error */
static double rel_rmse(const float *a, const float *b, int64_t n) {
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        e += (double)(a[i] - b[i]) * (a[i] - b[i]);
        s += (double)a[i] * a[i];
    }
    return sqrt(e / s);
}

static void test_quant_error(void) {
    const int64_t n = 256 * 64;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    void *q = malloc(n * 4 + 4096);
    fill(x, n, 0.02f);
    /* Gaussian data, measured: F16 0.00021, BF16 0.00166, Q8_0 0.0054, Q4_0 0.086, Q4_K 0.072, Q6_K 0.0178,
     * Q4_1 0.070, Q5_0 0.041, Q5_1 0.034, Q2_K 0.271, Q3_K 0.153, Q5_K 0.036, IQ4_NL 0.076, IQ4_XS 0.077, the grid types
     * as in test_grid_quant (llama.cpp's
     * own quantizers on the same kind of data: within 1% of these). Q2_K spans ~3σ of a 16-block in 3 steps (error
     * ≈ 0.29σ), Q3_K in 7 (≈ 0.12σ before the scale is shared), the 5-bit types in 31 (≈ 0.037σ).
     * Expected from the level spacing (uniform error step/√12): Q4_K spans ~4σ of a 32-block in 15 steps
     * (≈0.077σ before the scale search), Q6_K ~1.8σ of a 16-block in 32 steps (≈0.016σ). */
    static const struct { mm_dtype t; double bound; } b[] = {
        {MM_F16, 3e-4}, {MM_BF16, 2.5e-3}, {MM_Q8_0, 0.007}, {MM_Q4_0, 0.10}, {MM_Q4_K, 0.08}, {MM_Q6_K, 0.02},
        {MM_Q4_1, 0.08}, {MM_Q5_0, 0.05}, {MM_Q5_1, 0.04}, {MM_Q2_K, 0.30}, {MM_Q3_K, 0.17}, {MM_Q5_K, 0.04},
        {MM_IQ4_NL, 0.085}, {MM_IQ4_XS, 0.085}, {MM_IQ2_XXS, 0.37}, {MM_IQ3_XXS, 0.19}, {MM_IQ2_S, 0.27}, {MM_IQ3_S, 0.14},
        {MM_IQ2_XS, 0.32}};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        size_t bytes = mm_quantize_rows(b[i].t, x, q, 64, 256);
        CHECK(bytes == 64 * mm_row_bytes(b[i].t, 256), "%s: quantize_rows size %zu", mm_dtype_name(b[i].t), bytes);
        for (int r = 0; r < 64; r++) mm_dequantize_row(b[i].t, (char *)q + r * mm_row_bytes(b[i].t, 256), y + r * 256, 256);
        double e = rel_rmse(x, y, n);
        printf("quantize %-5s rel RMSE %.5f (bound %.4f)\n", mm_dtype_name(b[i].t), e, b[i].bound);
        CHECK(e < b[i].bound, "%s: rel RMSE %g >= %g", mm_dtype_name(b[i].t), e, b[i].bound);
    }
    /* Q8_K (activations) */
    mm_quantize_row_q8_K(x, q, n);
    mm_dequantize_row_q8_K(q, y, n);
    CHECK(rel_rmse(x, y, n) < 0.01, "Q8_K rel RMSE %g", rel_rmse(x, y, n));
    const mm_block_q8_K *k8 = q;
    int badsum = 0;
    for (int i = 0; i < n / 256; i++)
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += k8[i].qs[16 * g + l];
            badsum += s != k8[i].bsums[g];
        }
    CHECK(badsum == 0, "Q8_K bsums");
    /* constant and zero blocks survive */
    for (int i = 0; i < 256; i++) x[i] = 0.0f;
    for (int i = 256; i < 512; i++) x[i] = -1.5f;
    for (size_t i = 2; i < sizeof b / sizeof b[0]; i++) {
        mm_quantize_rows(b[i].t, x, q, 1, 512);
        mm_dequantize_row(b[i].t, q, y, 512);
        double e = 0;
        for (int k = 0; k < 512; k++) e = fmax(e, fabs(y[k] - x[k]));
        CHECK(e < 0.01, "%s: zero/constant blocks max err %g", mm_dtype_name(b[i].t), e);
    }
    CHECK(mm_quantize_rows(MM_Q4_K, x, q, 1, 100) == 0, "bad column count rejected");
    free(x), free(y), free(q);
}

/* The grid i-quants' quantizers (mm_quant_grid.c) on Gaussian data, 3 draws, each without and with column weights
 * (heavy-tailed, as an importance matrix): the relative RMS error (weighted by the columns' weights when they were
 * used) stays under the bound, every block decodes to finite values with a scale >= 0, and every sign is the data's
 * but, in IQ2_XXS / IQ3_XXS, at most one per 8 elements (their 7-bit sign index implies an even count of
 * negatives), which is then the element with the least weighted square w·x² of its 8. Measured (16×1024 Gaussian per
 * draw, 3 draws): IQ2_XXS 0.351–0.355 / 0.240–0.255 weighted, IQ3_XXS 0.180–0.182 / 0.119–0.124, IQ2_S 0.248–0.251 /
 * 0.184–0.193, IQ3_S 0.131–0.132 / 0.094–0.097, IQ2_XS 0.299–0.301 / 0.208–0.214 (llama.cpp's quantizers: scripts/grid-vs-llama.sh; the plain errors
 * are a little above the least-squares optimum by design, see mm_quant_grid.c); the Gaussian rate-distortion bound
 * at 2.06, 3.06, 2.56, 3.44, 2.31 bits is 0.24, 0.12, 0.17, 0.09, 0.20. */
static void test_grid_quant(void) {
    static const struct { mm_dtype t; double bound[2]; int parity; } G[] = { /* bounds: plain, weighted */
        {MM_IQ2_XXS, {0.37, 0.27}, 1}, {MM_IQ3_XXS, {0.19, 0.13}, 1}, {MM_IQ2_S, {0.27, 0.21}, 0}, {MM_IQ3_S, {0.14, 0.105}, 0},
        {MM_IQ2_XS, {0.32, 0.23}, 1}};
    enum { R = 16, C = 1024 };
    float *x = malloc(sizeof(float) * R * C), *y = malloc(sizeof(float) * R * C), qw[C], w[256], ones[256];
    void *q = malloc((size_t)R * C * 4);
    for (int k = 0; k < 256; k++) ones[k] = 1.0f;
    for (int draw = 0; draw < 3; draw++) {
        fill(x, R * C, 0.02f);
        for (int k = 0; k < C; k++) qw[k] = expf(1.5f * grand());
        for (size_t ti = 0; ti < sizeof G / sizeof G[0]; ti++)
            for (int use = 0; use < 2; use++) {
                const mm_dtype t = G[ti].t;
                const size_t rb = mm_row_bytes(t, C);
                CHECK(mm_quantize_rows_w(t, x, q, R, C, use ? qw : NULL) == R * rb, "%s: quantize_rows_w", mm_dtype_name(t));
                double e = 0, s = 0;
                int bad = 0, badsign = 0, parity = 0;
                for (int r = 0; r < R; r++) {
                    mm_dequantize_row(t, (char *)q + r * rb, y + r * C, C);
                    for (int b = 0; b < C / 256; b++) {
                        const float *xb = x + r * C + b * 256;
                        mm_qlevels L;
                        bad += mm_block_levels(t, (char *)q + r * rb + b * mm_dtype_block_bytes(t), &L) != 256;
                        for (int g = 0; g < 32; g++) bad += !isfinite(L.d[g]) || L.d[g] < 0;
                        mm_imatrix_weights(xb, use ? qw + b * 256 : ones, 256, w);
                        for (int g = 0; g < 32; g++) {
                            int nflip = 0, jmin = 0, jflip = -1;
                            for (int j = 8 * g; j < 8 * g + 8; j++) {
                                if ((L.q[j] < 0) != (xb[j] < 0)) nflip++, jflip = j;
                                if (w[j] * xb[j] * xb[j] < w[jmin + 8 * g] * xb[jmin + 8 * g] * xb[jmin + 8 * g]) jmin = j - 8 * g;
                            }
                            if (G[ti].parity) badsign += nflip > 1 || (nflip == 1 && jflip != 8 * g + jmin), parity += nflip;
                            else badsign += nflip != 0;
                        }
                    }
                    for (int k = 0; k < C; k++) {
                        const double wk = use ? qw[k] : 1.0, d = (double)y[r * C + k] - x[r * C + k];
                        bad += !isfinite(y[r * C + k]);
                        e += wk * d * d, s += wk * (double)x[r * C + k] * x[r * C + k];
                    }
                }
                const double rel = sqrt(e / s);
                if (draw == 0)
                    printf("quantize %-8s %s rel RMSE %.4f (bound %.3f), signs flipped by the parity rule %d of %d\n", mm_dtype_name(t),
                           use ? "weighted" : "plain   ", rel, G[ti].bound[use], parity, R * C);
                CHECK(rel < G[ti].bound[use], "%s (draw %d, weights %d): rel RMSE %g >= %g", mm_dtype_name(t), draw, use, rel, G[ti].bound[use]);
                CHECK(!bad, "%s: %d blocks or values do not decode to finite values", mm_dtype_name(t), bad);
                CHECK(!badsign, "%s: %d groups of 8 break the sign rule", mm_dtype_name(t), badsign);
                CHECK(!G[ti].parity || parity > 0, "%s: the parity rule never applied", mm_dtype_name(t));
            }
    }
    free(x), free(y), free(q);
}

/* The IQ1_S / IQ1_M quantizers (mm_quant_grid.c) on Gaussian data, 3 draws, each without and with column weights
 * (heavy-tailed, as an importance matrix): the relative RMS error (weighted by the column weights when they were
 * used) stays under the bound, the weighted error with the weights is below the one without, every block decodes
 * to finite values with scales >= 0, the same input gives the same bytes, and sizes that are no whole 256-block are
 * refused. A constant block is exact to the f16 scale (its level and shift are found). Measured: see the README,
 * "Weight types" (the Gaussian rate-distortion bound at 1.56 and 1.75 bits is 0.34 and 0.30). */
static void test_iq1_quant(void) {
    static const struct { mm_dtype t; double bound[2]; } G[] = {{MM_IQ1_S, {0.535, 0.43}}, {MM_IQ1_M, {0.49, 0.355}}};
    enum { R = 16, C = 1024 };
    float *x = malloc(sizeof(float) * R * C), *y = malloc(sizeof(float) * R * C), qw[C];
    void *q = malloc((size_t)R * C * 4), *q2 = malloc((size_t)R * C * 4);
    for (int draw = 0; draw < 3; draw++) {
        fill(x, R * C, 0.02f);
        for (int k = 0; k < C; k++) qw[k] = expf(1.5f * grand());
        for (size_t ti = 0; ti < sizeof G / sizeof G[0]; ti++) {
            const mm_dtype t = G[ti].t;
            const size_t rb = mm_row_bytes(t, C);
            double werr[2] = {0, 0}, wsum = 0;
            for (int use = 0; use < 2; use++) {
                CHECK(mm_quantize_rows_w(t, x, q, R, C, use ? qw : NULL) == R * rb, "%s: quantize_rows_w", mm_dtype_name(t));
                double e = 0, s = 0;
                int bad = 0;
                for (int r = 0; r < R; r++) {
                    mm_dequantize_row(t, (char *)q + r * rb, y + r * C, C);
                    for (int b = 0; b < C / 256; b++) {
                        mm_qlevels L;
                        bad += mm_block_levels(t, (char *)q + r * rb + b * mm_dtype_block_bytes(t), &L) != 256;
                        for (int g = 0; g < 32; g++) bad += !isfinite(L.d[g]) || L.d[g] < 0;
                    }
                    for (int k = 0; k < C; k++) {
                        const double wk = use ? qw[k] : 1.0, d = (double)y[r * C + k] - x[r * C + k];
                        bad += !isfinite(y[r * C + k]);
                        e += wk * d * d, s += wk * (double)x[r * C + k] * x[r * C + k];
                        werr[use] += qw[k] * d * d;
                        if (!use) wsum += qw[k] * (double)x[r * C + k] * x[r * C + k];
                    }
                }
                const double rel = sqrt(e / s);
                if (draw == 0)
                    printf("quantize %-8s %s rel RMSE %.4f (bound %.3f)\n", mm_dtype_name(t), use ? "weighted" : "plain   ", rel,
                           G[ti].bound[use]);
                CHECK(rel < G[ti].bound[use], "%s (draw %d, weights %d): rel RMSE %g >= %g", mm_dtype_name(t), draw, use, rel, G[ti].bound[use]);
                CHECK(!bad, "%s: %d blocks or values do not decode to finite values", mm_dtype_name(t), bad);
                mm_quantize_rows_w(t, x, q2, R, C, use ? qw : NULL);
                CHECK(!memcmp(q, q2, R * rb), "%s: the same input gives other bytes", mm_dtype_name(t));
            }
            if (draw == 0)
                printf("quantize %-8s error weighted by the columns' weights: %.4f without them, %.4f with them\n", mm_dtype_name(t),
                       sqrt(werr[0] / wsum), sqrt(werr[1] / wsum));
            CHECK(werr[1] < werr[0], "%s (draw %d): weighted error with the weights %g >= without %g", mm_dtype_name(t), draw, werr[1], werr[0]);
        }
    }
    for (size_t ti = 0; ti < sizeof G / sizeof G[0]; ti++) {
        const mm_dtype t = G[ti].t;
        for (int i = 0; i < 512; i++) x[i] = i < 256 ? 0.0f : -1.5f; /* a zero and a constant block */
        CHECK(mm_quantize_rows_w(t, x, q, 1, 512, NULL) == mm_row_bytes(t, 512), "%s: 512", mm_dtype_name(t));
        mm_dequantize_row(t, q, y, 512);
        double e = 0;
        for (int k = 0; k < 512; k++) e = fmax(e, fabs(y[k] - x[k]));
        CHECK(e < 0.01, "%s: zero/constant blocks max err %g", mm_dtype_name(t), e);
        CHECK(mm_quantize_rows_w(t, x, q, 1, 100, NULL) == 0 && strstr(mm_last_error(), "multiple"), "%s: 100 columns refused", mm_dtype_name(t));
        CHECK(mm_quantize_rows_w(t, x, q, 2, 288, qw) == 0, "%s: 288 columns refused", mm_dtype_name(t));
    }
    free(x), free(y), free(q), free(q2);
}

/* The scalar integer dot products equal the dot product of the dequantized operands. */
static void test_vec_dot_semantics(void) {
    const int64_t K = 256 * 5; /* an odd number of super-blocks */
    float *w = malloc(K * 4), *x = malloc(K * 4), *wd = malloc(K * 4), *xd = malloc(K * 4);
    void *wq = malloc(K * 4), *xq = malloc(K * 4);
    fill(w, K, 1.0f);
    fill(x, K, 1.0f);
    for (int ti = 0; ti < NTYPES; ti++) {
        mm_dtype t = all_types[ti];
        if (!mm_dtype_is_quant(t)) continue;
        make_weights(t, w, wq, 1, K);
        mm_dequantize_row(t, wq, wd, K);
        if (!mm_dtype_act_q8_K(t)) {
            mm_quantize_row_q8_0(x, xq, K);
            mm_dequantize_row_q8_0(xq, xd, K);
        } else {
            mm_quantize_row_q8_K(x, xq, K);
            mm_dequantize_row_q8_K(xq, xd, K);
        }
        double exact = 0, norm = 0;
        for (int64_t k = 0; k < K; k++) exact += (double)wd[k] * xd[k], norm += fabs((double)wd[k] * xd[k]);
        float got = mm_vec_dot(t, wq, xq, K);
        CHECK(norm > 0 && fabs(got - exact) <= 1e-5 * norm, "%s vec_dot %g vs dequantized %g", mm_dtype_name(t), got, exact);
        if (t == MM_Q8_0 || t == MM_Q4_0 || t == MM_Q4_K || t == MM_Q6_K) { /* the named ones are the same function */
            float named = t == MM_Q8_0 ? mm_vec_dot_q8_0_q8_0(wq, xq, K)
                          : t == MM_Q4_0 ? mm_vec_dot_q4_0_q8_0(wq, xq, K)
                          : t == MM_Q4_K ? mm_vec_dot_q4_K_q8_K(wq, xq, K)
                                         : mm_vec_dot_q6_K_q8_K(wq, xq, K);
            CHECK(named == got, "%s: named dot differs", mm_dtype_name(t));
        }
    }
    free(w), free(x), free(wd), free(xd), free(wq), free(xq);
}

/* ---------------------------------------------------------------- matmul */
typedef struct { int T; int64_t N, K; } shape;

/* Max over outputs of |a − b| / (‖x_t‖·‖w_n‖) (|a − b| where a norm is 0). */
static double max_scaled_err(const float *a, const float *b, const float *x, const float *wf, int T, int64_t N, int64_t K) {
    double worst = 0;
    for (int t = 0; t < T; t++) {
        double nx = 0;
        for (int64_t k = 0; k < K; k++) nx += (double)x[t * K + k] * x[t * K + k];
        for (int64_t n = 0; n < N; n++) {
            double nw = 0;
            for (int64_t k = 0; k < K; k++) nw += (double)wf[n * K + k] * wf[n * K + k];
            const double d = fabs((double)a[t * N + n] - b[t * N + n]);
            double e = nx * nw > 0 ? d / sqrt(nx * nw) : d; /* all-zero weights: the outputs must agree exactly */
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    }
    return worst;
}

static void test_matmul(void) {
    static const shape shapes[] = {
        {1, 37, 256},  {1, 100, 768}, {3, 50, 512},  {2, 16, 1280}, {7, 33, 256},  {8, 13, 256},
        {9, 61, 1280}, {17, 97, 2304}, {1, 5, 96},   {11, 23, 160}, {1, 9, 37},    {13, 19, 100},
    };
    const char *isas[] = {"scalar", "avx2", "avxvnni", "avx512"};
    for (int ti = 0; ti < NTYPES; ti++) {
        mm_dtype dt = all_types[ti];
        int blk = mm_dtype_block(dt);
        int quant_act = mm_dtype_is_quant(dt);
        /* Tolerances relative to ‖x_t‖·‖w_n‖ (Cauchy–Schwarz):
         *  f32 activations (F32/F16/BF16 weights): only the summation order
         *    differs from the reference; both sums err by ~√K·2^-24·‖x‖‖w‖ (< 3e-6 at K = 2304): 1e-5.
         *  Q8_0 activations (Q8_0/Q4_0 weights, decode and prefill alike): |x̂_k − x_k| ≤ amax_b/254 (+ f16 rounding of the block scale, 2^-11 relative), so
         *    ‖x̂ − x‖² ≤ 32·Σ_b amax_b²/254² ≤ (32/254²)·‖x‖² and |ŷ − y| ≤ ‖w‖·‖x̂ − x‖ ≤ 0.0228·‖x‖‖w‖: 0.025.
         *  Q8_K activations: |x̂_k − x_k| ≤ amax_b/256 over 256-element blocks, ‖x̂ − x‖ ≤ ‖x‖/16: 0.0625.
         *  These worst-case bounds are loose, so every SIMD path is also checked against the scalar kernel set
         *  (identical integer semantics) at 1e-5, and the scalar dots against the dequantized operands above. */
        double tol_q = mm_dtype_act_q8_K(dt) ? 0.0625 : 0.025;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            shape s = shapes[si];
            if (s.K % blk) continue;
            int T = s.T;
            int64_t N = s.N, K = s.K;
            float *wsrc = malloc(N * K * 4), *wf = malloc(N * K * 4), *x = malloc(T * K * 4);
            float *yref = malloc(T * N * 4), *y = malloc(T * N * 4), *yscal = malloc(T * N * 4), *y2 = malloc(T * N * 4);
            void *wq = malloc(N * K * 4);
            fill(wsrc, N * K, 0.05f);
            fill(x, T * K, 1.0f);
            make_weights(dt, wsrc, wq, N, K);
            mm_tensor w = {.name = "w", .dtype = dt, .ndim = 2, .shape = {N, K}, .data = wq, .nbytes = N * mm_row_bytes(dt, K)};
            for (int64_t n = 0; n < N; n++) mm_tensor_row_f32(&w, n, wf + n * K);
            mm_matmul_ref(yref, x, &w, T);
            double tol = quant_act ? tol_q : 1e-5; /* every T: prefill (T >= MM_GEMM_MIN_T) is integer too */
            mm_kernels_force_isa("scalar");
            mm_matmul(yscal, x, &w, T);
            /* the same matrix packed (mm_pack.h): its bytes unpack back exactly, and every set's product over
             * the pack meets the same bounds as over the stored rows */
            mm_tensor wp = w;
            void *pk = NULL;
            if (mm_pack_supported(dt)) {
                pk = malloc(mm_pack_bytes(dt, N, K));
                mm_pack_matrix(dt, wq, mm_row_bytes(dt, K), N, K, pk);
                size_t rb = mm_row_bytes(dt, K), gb = mm_pack_group_bytes(dt, K);
                char *back = malloc(N * rb);
                for (int64_t g = 0; g * 16 < N; g++)
                    mm_pack_unpack(dt, (char *)pk + g * gb, 0, K, N - 16 * g < 16 ? (int)(N - 16 * g) : 16, back + 16 * g * rb, rb);
                CHECK(memcmp(back, wq, N * rb) == 0, "%s N=%lld K=%lld: pack/unpack round trip differs", mm_dtype_name(dt),
                      (long long)N, (long long)K);
                if (K >= 2 * blk) { /* a block-aligned window from the middle */
                    memset(back, 0x5a, N * rb);
                    mm_pack_unpack(dt, pk, blk, K - blk, N < 16 ? (int)N : 16, back, rb);
                    int ok = 1;
                    for (int64_t r = 0; r < (N < 16 ? N : 16); r++)
                        ok &= memcmp(back + r * rb, (char *)wq + r * rb + mm_row_bytes(dt, blk), mm_row_bytes(dt, K - blk)) == 0;
                    CHECK(ok, "%s N=%lld K=%lld: unpack of elements [%d, %lld) differs", mm_dtype_name(dt), (long long)N, (long long)K,
                          blk, (long long)K);
                }
                free(back);
                wp.pack = pk;
            }
            for (int pass = 0; pass < (pk ? 2 : 1); pass++)
            for (int ii = 0; ii < 4; ii++) {
                const mm_tensor *wt = pass ? &wp : &w;
                const char *how = pass ? " packed" : "";
                if (mm_kernels_force_isa(isas[ii]) != 0) {
                    if (ii == 3 && !pass) printf("note: %s not available on this CPU, not tested\n", isas[ii]);
                    continue;
                }
                mm_matmul(y, x, wt, T);
                double e = max_scaled_err(y, yref, x, wf, T, N, K);
                CHECK(e <= tol, "%s%s %s T=%d N=%lld K=%lld: err %.3g vs ref > %.3g", isas[ii], how, mm_dtype_name(dt), T,
                      (long long)N, (long long)K, e, tol);
                double es = max_scaled_err(y, yscal, x, wf, T, N, K);
                CHECK(es <= 1e-5, "%s%s %s T=%d N=%lld K=%lld: err %.3g vs scalar kernels", isas[ii], how, mm_dtype_name(dt), T,
                      (long long)N, (long long)K, es);
                /* determinism: same result twice, and with 1 thread vs all */
                mm_matmul(y2, x, wt, T);
                CHECK(memcmp(y, y2, T * N * 4) == 0, "%s%s %s T=%d: not deterministic", isas[ii], how, mm_dtype_name(dt), T);
                int nth = mm_pool_threads();
                mm_pool_set_threads(1);
                mm_matmul(y2, x, wt, T);
                mm_pool_set_threads(nth);
                CHECK(memcmp(y, y2, T * N * 4) == 0, "%s%s %s T=%d: differs with 1 thread", isas[ii], how, mm_dtype_name(dt), T);
            }
            free(pk);
            mm_kernels_force_isa(NULL);
            free(wsrc), free(wf), free(x), free(yref), free(y), free(yscal), free(y2), free(wq);
        }
    }
    /* activation quantizers: every set bit-identical to the scalar definition (zero blocks, ±amax ties) */
    {
        const int64_t K = 6144;
        float *x = malloc(K * 4);
        char *ref = malloc(K * 2), *got = malloc(K * 2);
        for (int c = 0; c < 4; c++) {
            fill(x, K, c == 3 ? 1e-3f : 1.0f);
            if (c >= 1) memset(x + 256, 0, 256 * 4);             /* an all-zero Q8_K (and Q8_0) block */
            if (c >= 2) x[600] = 3.0f, x[700] = -3.0f, x[40] = -2.5f; /* tie of magnitude: first one wins */
            for (int q = 0; q < 2; q++) {
                mm_dtype wdt = q ? MM_Q4_K : MM_Q8_0;
                size_t nb = q ? (size_t)(K / 256) * 292 : (size_t)(K / 32) * 34;
                if (q) mm_quantize_row_q8_K(x, ref, K); else mm_quantize_row_q8_0(x, ref, K);
                for (int ii = 0; ii < 4; ii++) {
                    if (mm_kernels_force_isa(isas[ii]) != 0) continue;
                    memset(got, 0x5a, nb);
                    mm_quantize_activation(wdt, x, got, K);
                    CHECK(memcmp(ref, got, nb) == 0, "%s activation quantizer (%s) differs from scalar, case %d", isas[ii],
                          q ? "Q8_K" : "Q8_0", c);
                }
                mm_kernels_force_isa(NULL);
            }
        }
        free(x), free(ref), free(got);
    }
    /* which sets pack which types at load: every packable type where the set has its own packed kernels, but Q3_K
     * on the 256-bit sets (their row kernel is the faster decode) */
    for (int ii = 0; ii < 4; ii++) {
        if (mm_kernels_force_isa(isas[ii]) != 0) continue;
        for (int ti = 0; ti < NTYPES; ti++) {
            const mm_dtype dt = all_types[ti];
            const int want = mm_pack_supported(dt) && ii > 0 && !(ii < 3 && dt == MM_Q3_K);
            CHECK(mm_kernels_prefer_packed(dt) == want, "%s: %s packed at load %d, want %d", isas[ii], mm_dtype_name(dt),
                  mm_kernels_prefer_packed(dt), want);
        }
    }
    mm_kernels_force_isa(NULL);
    CHECK(mm_kernels_force_isa("nonsense") == -1, "unknown ISA rejected");
    printf("auto ISA: %s\n", mm_kernels_isa());
}

/* A bigger case that crosses several panels and K chunks, and multi-thread splits at T = 1. */
static void test_matmul_large(void) {
    const int64_t N = 300, K = 3072;
    for (int ti = 0; ti < NTYPES; ti++) {
        mm_dtype dt = all_types[ti];
        int Ts[2] = {1, 20};
        float *wsrc = malloc(N * K * 4), *wf = malloc(N * K * 4), *x = malloc(20 * K * 4), *y = malloc(20 * N * 4),
              *yr = malloc(20 * N * 4);
        void *wq = malloc(N * K * 4);
        fill(wsrc, N * K, 0.05f);
        fill(x, 20 * K, 1.0f);
        make_weights(dt, wsrc, wq, N, K);
        mm_tensor w = {.dtype = dt, .ndim = 2, .shape = {N, K}, .data = wq};
        for (int64_t n = 0; n < N; n++) mm_tensor_row_f32(&w, n, wf + n * K);
        for (int i = 0; i < 2; i++) {
            int T = Ts[i];
            mm_matmul_ref(yr, x, &w, T);
            mm_matmul(y, x, &w, T);
            int qa = mm_dtype_is_quant(dt);
            double tol = qa ? (mm_dtype_act_q8_K(dt) ? 0.0625 : 0.025) : 1e-5;
            double e = max_scaled_err(y, yr, x, wf, T, N, K);
            CHECK(e <= tol, "large %s T=%d: err %.3g > %.3g", mm_dtype_name(dt), T, e, tol);
        }
        free(wsrc), free(wf), free(x), free(y), free(yr), free(wq);
    }
}

/* ---------------------------------------------------------------- packed kernels at the integer extremes */
/* Bytes of one block of dt whose quantized values are all at an extreme: mode 0 all bytes 0xff, 1 all 0x00, 2
 * each byte 0x00 or 0xff at random (Q8_0: ±127 and −128; Q6_K: scales 127 or −128); the f16 scales stay finite. */
static void extreme_block(mm_dtype dt, uint8_t *b, int mode) {
    const size_t n = mm_row_bytes(dt, mm_dtype_block(dt));
    for (size_t i = 0; i < n; i++) b[i] = mode == 0 ? 0xff : mode == 1 ? 0x00 : (grand() > 0 ? 0xff : 0x00);
    const uint16_t d = mm_f32_to_f16(1.0f / 256), dm = mm_f32_to_f16(1.0f / 512);
    switch (dt) {
    case MM_Q8_0: {
        mm_block_q8_0 *q = (mm_block_q8_0 *)b;
        for (int i = 0; i < 32; i++) q->qs[i] = mode == 0 ? 127 : mode == 1 ? -128 : (int8_t)(b[2 + i] ? 127 : -127);
        q->d = d;
        break;
    }
    case MM_Q4_0: ((mm_block_q4_0 *)b)->d = d; break;
    case MM_Q4_K: ((mm_block_q4_K *)b)->d = d, ((mm_block_q4_K *)b)->dmin = dm; break;
    case MM_Q6_K: {
        mm_block_q6_K *q = (mm_block_q6_K *)b;
        for (int i = 0; i < 16; i++) q->scales[i] = (int8_t)(mode == 0 ? 127 : mode == 1 ? -128 : (grand() > 0 ? 127 : -128));
        q->d = d;
        break;
    }
    case MM_Q5_K: ((mm_block_q5_K *)b)->d = d, ((mm_block_q5_K *)b)->dmin = dm; break;
    case MM_Q3_K: ((mm_block_q3_K *)b)->d = d; break;
    case MM_Q2_K: ((mm_block_q2_K *)b)->d = d, ((mm_block_q2_K *)b)->dmin = dm; break;
    case MM_Q4_1: case MM_Q5_1: memcpy(b, &d, sizeof d), memcpy(b + 2, &dm, sizeof dm); break;
    case MM_Q5_0: case MM_IQ4_NL: case MM_IQ4_XS: case MM_IQ2_XXS: case MM_IQ2_XS: case MM_IQ2_S: case MM_IQ3_XXS: case MM_IQ3_S:
    case MM_IQ1_S:
        memcpy(b, &d, sizeof d);   /* the f16 scale comes first */
        break;
    case MM_IQ1_M: {   /* the f16 scale is the top nibbles of the four 16-bit scale words */
        mm_block_iq1_m *q = (mm_block_iq1_m *)b;
        for (int k = 0; k < 4; k++) q->scales[2 * k + 1] = (uint8_t)((q->scales[2 * k + 1] & 15) | ((d >> (4 * k)) & 15) << 4);
        break;
    }
    default: break;
    }
}

/* The SIMD kernels keep integer sums in int16 and int32 as long as their bounds allow: weights and activations
 * all at the format's extremes (every value at its maximum magnitude, one sign or mixed) must give the scalar
 * kernels' results, decode and prefill, on every instruction set; packed where the type has a packed layout,
 * through the row kernels otherwise. */
static void test_packed_extremes(void) {
    static const mm_dtype types[] = {MM_Q8_0, MM_Q4_0,   MM_Q4_K,   MM_Q6_K,  MM_Q4_1,    MM_Q5_0,  MM_Q5_1, MM_Q5_K,
                                     MM_Q3_K, MM_Q2_K,   MM_IQ4_NL, MM_IQ4_XS, MM_IQ2_XXS, MM_IQ2_XS, MM_IQ2_S, MM_IQ3_XXS,
                                     MM_IQ3_S, MM_IQ1_S, MM_IQ1_M};
    const char *isas[] = {"avx2", "avxvnni", "avx512"};
    const int64_t N = 35, K = 512;
    const int Ts[] = {1, 4, 6, 19};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (int mode = 0; mode < 3; mode++) {
            const mm_dtype dt = types[ti];
            const int blk = mm_dtype_block(dt);
            const size_t rb = mm_row_bytes(dt, K), bb = mm_row_bytes(dt, blk);
            uint8_t *wq = malloc(N * rb);
            for (int64_t r = 0; r < N; r++)
                for (int64_t b = 0; b < K / blk; b++) extreme_block(dt, wq + r * rb + b * bb, mode);
            mm_tensor w = {.name = "w", .dtype = dt, .ndim = 2, .shape = {N, K}, .data = wq, .nbytes = N * rb};
            void *pk = mm_pack_supported(dt) ? malloc(mm_pack_bytes(dt, N, K)) : NULL;
            if (pk) mm_pack_matrix(dt, wq, rb, N, K, pk);
            mm_tensor wp = w;
            wp.pack = pk;
            float *wf = malloc(N * K * 4), *x = malloc(19 * K * 4), *yscal = malloc(19 * N * 4), *y = malloc(19 * N * 4);
            for (int64_t n = 0; n < N; n++) mm_tensor_row_f32(&w, n, wf + n * K);
            for (int t = 0; t < 19; t++)   /* token 0: all +1, 1: all −1, then ±1 at random: every |q| is 127 */
                for (int64_t k = 0; k < K; k++) x[t * K + k] = t == 0 ? 1.0f : t == 1 ? -1.0f : (grand() > 0 ? 1.0f : -1.0f);
            for (size_t ii = 0; ii < sizeof Ts / sizeof Ts[0]; ii++) {
                const int T = Ts[ii];
                mm_kernels_force_isa("scalar");
                mm_matmul(yscal, x, &w, T);
                for (int si = 0; si < 3; si++) {
                    if (mm_kernels_force_isa(isas[si]) != 0) continue;
                    mm_matmul(y, x, &wp, T);
                    const double e = max_scaled_err(y, yscal, x, wf, T, N, K);
                    CHECK(e <= 1e-5, "%s%s %s extremes mode %d T=%d: err %.3g vs scalar kernels", isas[si], pk ? " packed" : "",
                          mm_dtype_name(dt), mode, T, e);
                }
            }
            mm_kernels_force_isa(NULL);
            free(wq), free(pk), free(wf), free(x), free(yscal), free(y);
        }
}

int main(void) {
    test_half_conversions();
    test_layouts();
    test_quant_error();
    test_grid_quant();
    test_iq1_quant();
    test_vec_dot_semantics();
    test_matmul();
    test_matmul_large();
    test_packed_extremes();
    return mmt_done();
}
