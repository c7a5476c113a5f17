/* test_attention.c — the f32 primitives of attention and lightning attention (sgemm4, dots, expsum,
 * softmax_cols, silu, sigmoid) on every kernel set against the scalar definitions, the exponential's accuracy against libm, and
 * the tiled causal attention kernel against its f64 definition: odd head widths, GQA groups, query blocks
 * that start at any depth, tiles cut by the causal edge, f32 and bf16 caches. */
#include "kernels/mm_attn.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_quant.h"
#include "mm_test.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static void fill(float *x, size_t n, float s) {
    for (size_t i = 0; i < n; i++) x[i] = frand() * s;
}

static const char *isas[] = {"scalar", "avx2", "avxvnni", "avx512"};

static void test_primitives(void) {
    const mm_kernel_set *ref = NULL;
    mm_kernels_force_isa("scalar");
    ref = mm_kernels_get();
    float *a = malloc(sizeof(float) * 4 * 300), *b = malloc(sizeof(float) * 300 * 80), *c1 = malloc(sizeof(float) * 4 * 80),
          *c2 = malloc(sizeof(float) * 4 * 80);
    fill(a, 4 * 300, 1), fill(b, 300 * 80, 1);
    for (int ii = 1; ii < 4; ii++) {
        if (mm_kernels_force_isa(isas[ii]) != 0) continue;
        const mm_kernel_set *ks = mm_kernels_get();
        double worst = 0;
        for (int mr = 1; mr <= 4; mr++)
            for (int nv = 1; nv <= 4; nv++)
                for (int kn = 1; kn <= 300; kn += 37)
                    for (int acc = 0; acc < 2; acc++) {
                        fill(c1, 4 * 80, 1);
                        memcpy(c2, c1, sizeof(float) * 4 * 80);
                        /* a read row-major (strides 300, 1) and transposed (1, 4) */
                        const size_t ars = kn % 2 ? 300 : 1, aks = kn % 2 ? 1 : 4;
                        ref->sgemm4(mr, nv, kn, a, ars, aks, b, 80, c1, 80, acc);
                        ks->sgemm4(mr, nv, kn, a, ars, aks, b, 80, c2, 80, acc);
                        for (int i = 0; i < 4 * 80; i++) worst = fmax(worst, fabs(c1[i] - c2[i]) / (1.0 + sqrt(kn)));
                        /* rows past mr and columns past 16·nv are not written */
                        int untouched = 1;
                        for (int r = 0; r < 4; r++)
                            for (int j = 0; j < 80; j++)
                                if ((r >= mr || j >= 16 * nv) && c1[r * 80 + j] != c2[r * 80 + j]) untouched = 0;
                        CHECK(untouched, "%s sgemm4 mr=%d nv=%d wrote outside its block", isas[ii], mr, nv);
                    }
        CHECK(worst < 1e-5, "%s sgemm4 vs scalar: %.3g", isas[ii], worst);
        /* dots: G query rows against nk key rows */
        float s1[8 * 70], s2[8 * 70];
        worst = 0;
        for (int D = 16; D <= 128; D += 16)
            for (int G = 1; G <= 8; G += 3) {
                ref->dots(G, 70, D, a, 150, b, 90, s1, 70);
                ks->dots(G, 70, D, a, 150, b, 90, s2, 70);
                for (int i = 0; i < G * 70; i++) worst = fmax(worst, fabs(s1[i] - s2[i]));
            }
        CHECK(worst < 1e-5, "%s dots vs scalar: %.3g", isas[ii], worst);
        /* expsum: relative error against e^x in double on [−87, 0], −inf gives 0, the sum; odd lengths */
        float x[1001], y[1001];
        double erel = 0;
        for (int i = 0; i < 1001; i++) x[i] = -87.0f * (float)i / 1000.0f + (i % 7) * 1e-3f;
        for (int n = 1; n <= 1001; n += 125) {
            memcpy(y, x, sizeof(float) * (size_t)n);
            float sum = ks->expsum(y, n, 0.0f);
            double want = 0;
            for (int i = 0; i < n; i++) {
                double e = exp((double)x[i]);
                want += e;
                erel = fmax(erel, fabs(y[i] - e) / e);
            }
            CHECK(fabs(sum - want) <= 1e-6 * want, "%s expsum n=%d: sum %.9g vs %.9g", isas[ii], n, sum, want);
        }
        printf("%s exp: max relative error %.3g on [-87, 0]\n", isas[ii], erel);
        CHECK(erel <= MM_EXP_MAX_REL_ERR, "%s exp relative error %.3g > %.3g", isas[ii], erel, MM_EXP_MAX_REL_ERR);
        float inf[3] = {-INFINITY, -1000.0f, 0.0f};
        float sum = ks->expsum(inf, 3, 0.0f);
        CHECK(inf[0] == 0.0f && inf[1] == 0.0f && inf[2] == 1.0f && sum == 1.0f, "%s expsum(-inf, -1000, 0) = %g %g %g", isas[ii],
              inf[0], inf[1], inf[2]);
        /* softmax_cols: a tile of 45 keys × 48 query columns, no cut and a causal cut (lim 0..45), running state in */
        {
            enum { NK = 45, R = 48 };
            static float s1[NK * R], s2[NK * R];
            float m1[R], l1[R], c1[R], m2[R], l2[R], c2[R];
            int lim[R];
            for (int cut = 0; cut < 2; cut++) {
                fill(s1, NK * R, 8);
                memcpy(s2, s1, sizeof s1);
                for (int r = 0; r < R; r++) {
                    m1[r] = m2[r] = r % 5 ? frand() * 6 : -INFINITY;
                    l1[r] = l2[r] = r % 5 ? 3 + frand() : 0;
                    lim[r] = r - 3;
                }
                ref->softmax_cols(s1, NK, R, cut ? lim : NULL, m1, l1, c1);
                ks->softmax_cols(s2, NK, R, cut ? lim : NULL, m2, l2, c2);
                double e = 0;
                for (int i = 0; i < NK * R; i++) e = fmax(e, fabs(s1[i] - s2[i]));
                for (int r = 0; r < R; r++)
                    e = fmax(e, fmax(fabs(m1[r] - m2[r]), fmax(fabs(l1[r] - l2[r]) / (1 + l1[r]), fabs(c1[r] - c2[r]))));
                CHECK(e < 1e-6, "%s softmax_cols (cut %d) vs scalar: %.3g", isas[ii], cut, e);
            }
        }
        /* silu / sigmoid against the scalar ones */
        float u[203], v[203];
        fill(u, 203, 30);
        u[0] = -100, u[1] = 100, u[2] = 0;
        for (int f = 0; f < 2; f++) {
            memcpy(v, u, sizeof u);
            memcpy(y, u, sizeof u);
            (f ? ref->sigmoid : ref->silu)(v, 203);
            (f ? ks->sigmoid : ks->silu)(y, 203);
            double e = 0;
            for (int i = 0; i < 203; i++) e = fmax(e, fabs(v[i] - y[i]) / (fabs(v[i]) + 1e-30));
            CHECK(e < 1e-6, "%s %s vs scalar: relative %.3g", isas[ii], f ? "sigmoid" : "silu", e);
        }
    }
    mm_kernels_force_isa(NULL);
    free(a), free(b), free(c1), free(c2);
}

/* A prefetch stream hands out its lines in order, the first run's then the second's, a partial last line counted
 * once, and stops when spent. */
static void test_prefetch_stream(void) {
    static char buf[4096] __attribute__((aligned(64)));
    mm_prefetch pf = {{buf, buf + 2048}, {130, 64 * 5}};   /* 3 lines (the last partial), then 5 */
    mm_prefetch_lines(&pf, 2);
    CHECK(pf.p[0] == buf + 128 && pf.left[0] == 2 && pf.left[1] == 320, "after 2 lines: %td, %zu, %zu", pf.p[0] - buf, pf.left[0], pf.left[1]);
    mm_prefetch_lines(&pf, 3);
    CHECK(pf.left[0] == 0 && pf.p[1] == buf + 2048 + 128 && pf.left[1] == 192, "after 5 lines: %zu, %td, %zu", pf.left[0], pf.p[1] - buf,
          pf.left[1]);
    mm_prefetch_lines(&pf, 100);
    CHECK(pf.left[0] == 0 && pf.left[1] == 0 && pf.p[1] == buf + 2048 + 320, "spent: %zu, %zu, %td", pf.left[0], pf.left[1], pf.p[1] - buf);
    mm_prefetch_lines(&pf, 1);   /* spent: nothing */
    CHECK(pf.p[1] == buf + 2048 + 320, "a spent stream moved");
    mm_prefetch_lines(NULL, 4);
}

/* The integer primitives of decode over a Q8_0 cache (qk_i8, pv_i16) on every set that has them, bit for bit
 * against the scalar definitions: odd key counts (tails of the 16-key groups, odd position pairs), head counts
 * around the 8-head blocks, widths of 1..8 blocks, rows at a stride off the blocks, weight blocks below MM_PV_I16_WMIN. */
static void test_int_primitives(void) {
    static const int Gs[] = {1, 3, 8, 12, 17}, Ds[] = {32, 96, 128, 256}, nks[] = {1, 2, 15, 16, 17, 33, 63, 64};
    const int Dmax = 256, Gmax = 17, nb = Dmax / MM_QK;
    const size_t ld = (size_t)nb * sizeof(mm_block_q8_0) + 6; /* not a multiple of a block, kept 2-byte aligned for the f16 scales */
    char *K = malloc(ld * 64), *V = malloc(ld * 64), *K4 = malloc(ld * 64), *V4 = malloc(ld * 64);
    int8_t *q = malloc((size_t)Gmax * Dmax);
    float *dq = malloc(sizeof(float) * Gmax * nb), *x = malloc(sizeof(float) * Dmax), *p = malloc(sizeof(float) * Gmax * 70);
    float *s1 = malloc(sizeof(float) * Gmax * 70), *s2 = malloc(sizeof(float) * Gmax * 70);
    float *o1 = malloc(sizeof(float) * Gmax * (Dmax + 3)), *o2 = malloc(sizeof(float) * Gmax * (Dmax + 3));
    void *work = malloc(MM_QK_I8_WORK(Gmax, Dmax) > MM_PV_I16_WORK(Gmax, Dmax) ? MM_QK_I8_WORK(Gmax, Dmax) : MM_PV_I16_WORK(Gmax, Dmax));
    for (int j = 0; j < 64; j++) {
        fill(x, Dmax, j % 5 ? 2.0f : 1e-3f);
        mm_quantize_row_q8_0(x, K + ld * j, Dmax);
        mm_quantize_row_q4_0(x, K4 + ld * j, Dmax);
        fill(x, Dmax, j % 7 ? 1.0f : 1e-2f);
        mm_quantize_row_q8_0(x, V + ld * j, Dmax);
        mm_quantize_row_q4_0(x, V4 + ld * j, Dmax); /* scales of both signs */
    }
    /* the query quantizer: within half a step of the scaled query, steps amax/127 */
    fill(x, Dmax, 0.3f);
    mm_attn_quant_q(x, Dmax, q, dq);
    double qerr = 0;
    for (int d = 0; d < Dmax; d++) qerr = fmax(qerr, fabs(x[d] - dq[d / MM_QK] * q[d]) / dq[d / MM_QK]);
    CHECK(qerr <= 0.5 + 1e-5, "mm_attn_quant_q: error %.3g steps", qerr);
    for (int ii = 1; ii < 4; ii++) {
        if (mm_kernels_force_isa(isas[ii]) != 0 || (!mm_kernels_get()->qk_i8 && !mm_kernels_get()->pv_i16)) continue;
        const mm_kernel_set *ks = mm_kernels_get();
        int cases = 0;
        for (size_t a = 0; a < sizeof Gs / sizeof Gs[0]; a++)
            for (size_t b = 0; b < sizeof Ds / sizeof Ds[0]; b++)
                for (size_t c = 0; c < sizeof nks / sizeof nks[0]; c++)
                    for (int tt = 0; tt < 2; tt++) {
                        const int G = Gs[a], D = Ds[b], nk = nks[c];
                        const mm_dtype t = tt ? MM_Q4_0 : MM_Q8_0;
                        const char *Kt = tt ? K4 : K, *Vt = tt ? V4 : V;
                        for (int i = 0; i < G * D; i++) q[i] = (int8_t)(frand() * 127.5f);
                        for (int i = 0; i < G * D / MM_QK; i++) dq[i] = (frand() + 1.0f) * 0.01f;
                        for (int i = 0; i < G * 70; i++) s1[i] = s2[i] = 5.0f, p[i] = frand() > 0.2f ? (frand() + 1.0f) * 0.5f : 0.0f;
                        for (int j = 0; j < 70; j++) p[j] = 1e-33f * (frand() + 1.0f); /* head 0: every block dropped */
                        /* the fast kernels ask for lines of a stream as they go (here the other rows: no effect on the
                         * bits), the scalar ones for none */
                        mm_prefetch pf = {{Kt, Vt}, {ld * 64, ld * 64}};
                        mm_qk_i8_scalar(t, G, nk, D, q, dq, Kt, ld, s1, 70, work, NULL);
                        if (ks->qk_i8) ks->qk_i8(t, G, nk, D, q, dq, Kt, ld, s2, 70, work, &pf);
                        else memcpy(s2, s1, sizeof(float) * G * 70);
                        CHECK(!memcmp(s1, s2, sizeof(float) * G * 70), "%s qk_i8 %s G=%d D=%d nk=%d differs from the scalar one", ks->name,
                              mm_dtype_name(t), G, D, nk);
                        fill(o1, (size_t)G * (D + 3), 1);
                        memcpy(o2, o1, sizeof(float) * G * (D + 3));
                        mm_pv_i16_scalar(t, G, nk, D, p, 70, Vt, ld, o1, (size_t)D + 3, work, NULL);
                        if (ks->pv_i16) ks->pv_i16(t, G, nk, D, p, 70, Vt, ld, o2, (size_t)D + 3, work, &pf);
                        else memcpy(o2, o1, sizeof(float) * G * (D + 3));
                        CHECK(!memcmp(o1, o2, sizeof(float) * G * (D + 3)), "%s pv_i16 %s G=%d D=%d nk=%d differs from the scalar one", ks->name,
                              mm_dtype_name(t), G, D, nk);
                        CHECK(pf.left[0] + pf.left[1] < 2 * ld * 64, "%s G=%d D=%d nk=%d: the kernels asked for no line of the stream", ks->name, G, D, nk);
                        cases++;
                    }
        /* the scalar ones are no identity: the scores are the f32 dots of the dequantized rows to within rounding */
        float kr[256], qr[256];
        for (int tt = 0; tt < 2; tt++) {
            mm_dequantize_row(tt ? MM_Q4_0 : MM_Q8_0, (tt ? K4 : K) + ld * 3, kr, 128);
            for (int d = 0; d < 128; d++) qr[d] = dq[d / MM_QK] * q[d];
            double dot = 0, mag = 0;
            for (int d = 0; d < 128; d++) dot += (double)qr[d] * kr[d], mag += fabs((double)qr[d] * kr[d]);
            mm_qk_i8_scalar(tt ? MM_Q4_0 : MM_Q8_0, 1, 4, 128, q, dq, tt ? K4 : K, ld, s1, 70, work, NULL);
            CHECK(fabs(s1[3] - dot) <= 1e-6 * mag, "qk_i8 score %.9g vs the dot of the dequantized rows %.9g", s1[3], dot);
        }
        printf("%s %s%s: %d cases equal to the scalar ones\n", ks->name, ks->qk_i8 ? "qk_i8 " : "", ks->pv_i16 ? "pv_i16" : "", cases);
    }
    mm_kernels_force_isa(NULL);
    free(K), free(V), free(K4), free(V4), free(q), free(dq), free(x), free(p), free(s1), free(s2), free(o1), free(o2), free(work);
}

/* A cache of npos positions × two KV heads of type t (plus 4 bytes of padding per position), from random rows;
 * *deq gets the same cache dequantized by the block formats' own dequantizers: f32 rows of the two heads. */
static char *make_cache(mm_dtype t, int D, int npos, float amp, size_t *stride, float **deq) {
    const size_t hb = mm_kv_head_bytes(t, D);
    const int b = mm_dtype_block(t), Db = (D + b - 1) / b * b;
    *stride = 2 * hb + 4; /* padding that keeps the rows aligned for their element type */
    char *c = malloc(*stride * (size_t)npos);
    float *row = calloc((size_t)Db, sizeof(float)), *back = malloc(sizeof(float) * (size_t)Db);
    *deq = malloc(sizeof(float) * 2 * D * (size_t)npos);
    for (int p = 0; p < npos; p++)
        for (int h = 0; h < 2; h++) {
            for (int d = 0; d < D; d++) row[d] = frand() * amp;
            char *dst = c + (size_t)p * *stride + (size_t)h * hb;
            mm_kv_store_row(t, dst, row, D);
            mm_dequantize_row(t, dst, back, Db); /* the whole blocks, as llama.cpp would read them */
            memcpy(*deq + ((size_t)p * 2 + h) * D, back, sizeof(float) * (size_t)D);
            for (int d = D; d < Db; d++) CHECK(back[d] == 0.0f, "%s row tail past D=%d is not zero", mm_dtype_name(t), D);
        }
    free(row), free(back);
    return c;
}

/* Decode through a view of both KV heads of the cache (nkv = 2, query heads 0..G-1 on head 0 and G..2G-1 on head 1)
 * must give each head the bits of a view of that head alone: o1 (head 1, whole range) and o3 (head 1, the keys in n
 * parts merged); both over the flat cache and over its pages (kvp: head 1's view). */
static void heads_case(int G, int D, int pos0, mm_dtype kt, mm_dtype vt, const char *K, const char *V, size_t ks, size_t vs,
                       const mm_kv_view *kvp, const float *q, const float *o1, const float *o3, int n, int tiles) {
    const int npos = pos0 + 1, GT = 2 * G;
    const size_t kh = mm_kv_head_bytes(kt, D), vh = mm_kv_head_bytes(vt, D), ps = (size_t)GT * (D + 2);
    float *q2 = malloc(sizeof(float) * GT * D), *o = malloc(sizeof(float) * GT * D), *o0 = malloc(sizeof(float) * G * D);
    float *scratch = malloc(sizeof(float) * mm_attention_scratch(GT, 1, D)), *P = malloc(sizeof(float) * ps * n);
    fill(q2, (size_t)G * D, 1);
    memcpy(q2 + (size_t)G * D, q, sizeof(float) * G * D);
    mm_kv_view one, both;
    mm_kv_view_flat(&one, K, V, ks, vs, kt, vt);   /* head 0 alone */
    mm_attention(q2, (size_t)G * D, G, 1, pos0, &one, D, 1.0f / sqrtf((float)D), o0, (size_t)G * D, scratch);
    mm_kv_view_flat(&both, K, V, ks, vs, kt, vt);
    both.nkv = 2, both.khs = kh, both.vhs = vh;
    mm_kv_view pages = *kvp;
    pages.koff -= kh, pages.voff -= vh, pages.nkv = 2, pages.khs = kh, pages.vhs = vh;
    for (int pg = 0; pg < 2; pg++) {
        const mm_kv_view *kv = pg ? &pages : &both;
        const char *what = pg ? "pages" : "flat cache";
        mm_attention(q2, (size_t)GT * D, G, 1, pos0, kv, D, 1.0f / sqrtf((float)D), o, (size_t)GT * D, scratch);
        CHECK(!memcmp(o, o0, sizeof(float) * G * D) && !memcmp(o + (size_t)G * D, o1, sizeof(float) * G * D),
              "decode over both KV heads at once (%s) differs from one head at a time (G=%d D=%d pos0=%d K %s V %s)", what, G, D, pos0,
              mm_dtype_name(kt), mm_dtype_name(vt));
        for (int j = 0; j < n; j++) {
            const int64_t kb = (int64_t)tiles * j / n * MM_ATT_BK, ke = j == n - 1 ? npos : (int64_t)tiles * (j + 1) / n * MM_ATT_BK;
            float *Pj = P + ps * j;
            mm_attention_part(q2, (size_t)GT * D, G, 1, pos0, kv, D, 1.0f / sqrtf((float)D), kb, ke, Pj, Pj + (size_t)GT * D,
                              Pj + (size_t)GT * (D + 1), scratch);
        }
        mm_attention_merge(GT, 1, D, n, P, ps, P + (size_t)GT * D, P + (size_t)GT * (D + 1), o, (size_t)GT * D);
        CHECK(!memcmp(o + (size_t)G * D, o3, sizeof(float) * G * D),
              "split decode (%d parts) over both KV heads at once (%s) differs from head 1 alone (G=%d D=%d pos0=%d)", n, what, G, D, pos0);
    }
    free(q2), free(o), free(o0), free(scratch), free(P);
}

/* One attention case on the active kernel set: K of type kt, V of type vt against the f64 definition over the
 * dequantized cache (an f32 view); then the same keys split into nsplit ranges (mm_attention_part) merged by
 * mm_attention_merge against the unsplit result. Returns max|Δ| vs the definition; *split_rel the split error
 * relative to max|o|. */
static double attn_case(int G, int D, int nq, int pos0, mm_dtype kt, mm_dtype vt, int nsplit, double *split_rel, double *tol) {
    const int npos = pos0 + nq;
    size_t ks, vs;
    float *kd, *vd;
    char *K = make_cache(kt, D, npos, 2, &ks, &kd), *V = make_cache(vt, D, npos, 1, &vs, &vd);
    const size_t qs = (size_t)G * D + 5;
    float *q = malloc(sizeof(float) * qs * nq), *o1 = malloc(sizeof(float) * qs * nq), *o2 = malloc(sizeof(float) * qs * nq);
    float *o3 = malloc(sizeof(float) * qs * nq);
    fill(q, qs * nq, 1);
    for (size_t i = 0; i < qs * nq; i++) o1[i] = o2[i] = o3[i] = 7.0f;
    mm_kv_view kv, kvf;
    mm_kv_view_flat(&kv, K + mm_kv_head_bytes(kt, D), V + mm_kv_head_bytes(vt, D), ks, vs, kt, vt); /* the second KV head */
    mm_kv_view_flat(&kvf, kd + D, vd + D, 2 * D * sizeof(float), 2 * D * sizeof(float), MM_F32, MM_F32);
    float *scratch = malloc(sizeof(float) * mm_attention_scratch(G, nq, D));
    const float scale = 1.0f / sqrtf((float)D);
    mm_attention(q, qs, G, nq, pos0, &kv, D, scale, o1, qs, scratch);
    /* the same cache in pages of 64 positions stored in reverse order, after 32 bytes of another "layer" */
    const int np = (npos + 63) / 64;
    const size_t kpb = 32 + 64 * ks, vpb = 32 + 64 * vs;
    uint8_t *KP = malloc(kpb * (size_t)np), *VP = malloc(vpb * (size_t)np);
    const uint8_t **kpg = malloc(sizeof(uint8_t *) * (size_t)np), **vpg = malloc(sizeof(uint8_t *) * (size_t)np);
    for (int j = 0; j < np; j++) {
        kpg[j] = KP + kpb * (size_t)(np - 1 - j), vpg[j] = VP + vpb * (size_t)(np - 1 - j);
        const int n = npos - 64 * j < 64 ? npos - 64 * j : 64;
        memcpy((uint8_t *)kpg[j] + 32, K + ks * 64 * (size_t)j, ks * (size_t)n);
        memcpy((uint8_t *)vpg[j] + 32, V + vs * 64 * (size_t)j, vs * (size_t)n);
    }
    const mm_kv_view kvp = {.kpages = kpg, .vpages = vpg, .koff = 32 + mm_kv_head_bytes(kt, D), .voff = 32 + mm_kv_head_bytes(vt, D),
                            .kstride = ks, .vstride = vs, .page_shift = 6, .kt = kt, .vt = vt};
    float *o4 = malloc(sizeof(float) * qs * nq);
    memcpy(o4, o1, sizeof(float) * qs * nq);
    mm_attention(q, qs, G, nq, pos0, &kvp, D, scale, o4, qs, scratch);
    CHECK(!memcmp(o1, o4, sizeof(float) * qs * nq), "attention over scattered pages of 64 differs from the flat cache (K %s V %s)",
          mm_dtype_name(kt), mm_dtype_name(vt));
    mm_attention_ref(q, qs, G, nq, pos0, &kvf, D, scale, o2, qs);
    /* f32 sums of ≤ 1000 terms and the exponential keep a convex combination of values in [−1, 1] within ~2e-7
     * of the f64 definition over the same (dequantized) cache (measured); the integer decode over a Q8_0 cache
     * (qk_i8, pv_i16) adds what the quantization of the query and of the weights can move it:
     *   scores: the scaled query within dq_b/2 = amax_b/254 per element of block b (mm_attn_quant_q), so each
     *     score within δ = max_{g,p} Σ_b amax_b/254·Σ_{i∈b}|k_pi|, each normalised weight within a factor e^{±2δ},
     *     the output within (e^{2δ} − 1)·max|v|;
     *   values: each tile's weights w = p·d_v within W/65534 (W their largest magnitude), times levels of at most
     *     L = 127 (Q8_0) / 8 (Q4_0) in magnitude, and W·L ≤ the tile's largest p times max|v| (a block's largest
     *     level is its largest |v|), so a tile of ≤ 64 keys moves Σ w·level by ≤ 64·p_max·max|v|/65534 and, the
     *     sum l of the weights being at least every tile's p_max, the output by ≤ 64/65534·max|v|. */
    const mm_kernel_set *kset = mm_kernels_get();
    const int dint = nq == 1 && D % MM_QK == 0;
    double vmax = 0, delta = 0;
    for (int p = 0; p < npos; p++)
        for (int d = 0; d < D; d++) vmax = fmax(vmax, fabs(vd[((size_t)p * 2 + 1) * D + d]));
    if (dint && (kt == MM_Q8_0 || kt == MM_Q4_0) && kset->qk_i8)
        for (int g = 0; g < G; g++)
            for (int p = 0; p < npos; p++) {
                double dl = 0;
                for (int b0 = 0; b0 < D; b0 += MM_QK) {
                    float amax = 0, ksum = 0;
                    for (int d = b0; d < b0 + MM_QK; d++)
                        amax = fmaxf(amax, fabsf(q[(size_t)g * D + d] * scale)), ksum += fabsf(kd[((size_t)p * 2 + 1) * D + d]);
                    dl += amax / 254.0 * ksum;
                }
                delta = fmax(delta, dl * 1.0001);
            }
    const double pvb = dint && (vt == MM_Q8_0 || vt == MM_Q4_0) && kset->pv_i16 ? 64.0 / 65534.0 * vmax * 1.0001 : 0;
    *tol = 2e-6 + expm1(2 * delta) * vmax + pvb;
    if (dint && (kt == MM_Q8_0 || kt == MM_Q4_0) && kset->qk_i8) {
        /* the definition over the quantized query itself: only the f32 rounding and the weights' quantization left */
        float *qq = malloc(sizeof(float) * qs), *x = malloc(sizeof(float) * D), *dqv = malloc(sizeof(float) * D / MM_QK);
        int8_t *qi = malloc((size_t)D);
        for (size_t j = 0; j < qs; j++) qq[j] = q[j];
        for (int g = 0; g < G; g++) {
            for (int d = 0; d < D; d++) x[d] = q[(size_t)g * D + d] * scale;
            mm_attn_quant_q(x, D, qi, dqv);
            for (int d = 0; d < D; d++) qq[(size_t)g * D + d] = dqv[d / MM_QK] * qi[d] / scale;
        }
        mm_attention_ref(qq, qs, G, 1, pos0, &kvf, D, scale, o2, qs);
        double e2 = 0;
        for (size_t j = 0; j < (size_t)G * D; j++) e2 = fmax(e2, fabs((double)o1[j] - o2[j]));
        CHECK(e2 <= 2e-6 + pvb, "integer decode G=%d D=%d pos0=%d V %s: max|Δ| %.3g vs the definition over the quantized query", G, D,
              pos0, mm_dtype_name(vt), e2);
        printf("  G=%d D=%d pos0=%d K %s V %s: max|Δ| %.3g vs the definition over the quantized query (bound %.3g)\n", G, D, pos0,
               mm_dtype_name(kt), mm_dtype_name(vt), e2, 2e-6 + pvb);
        mm_attention_ref(q, qs, G, nq, pos0, &kvf, D, scale, o2, qs);
        free(qq), free(x), free(dqv), free(qi);
    }
    double worst = 0, big = 0, sw = 0;
    for (int i = 0; i < nq; i++)
        for (size_t j = 0; j < qs; j++) {
            double d = fabs((double)o1[i * qs + j] - o2[i * qs + j]);
            worst = d > worst || d != d ? d : worst;
            big = fmax(big, fabs(o1[i * qs + j]));
        }
    /* split points on tile boundaries, all ≤ pos0 (every row sees a key of every part) */
    const int R = G * nq, tiles = (int)(pos0 / MM_ATT_BK) + 1, n = nsplit < tiles ? nsplit : tiles;
    const size_t ps = (size_t)R * (D + 2); /* each part: O [R][D], m [R], l [R] */
    float *O = malloc(sizeof(float) * ps * n);
    for (int j = 0; j < n; j++) {
        const int64_t kb = (int64_t)tiles * j / n * MM_ATT_BK, ke = j == n - 1 ? npos : (int64_t)tiles * (j + 1) / n * MM_ATT_BK;
        float *P = O + ps * j;
        mm_attention_part(q, qs, G, nq, pos0, &kv, D, scale, kb, ke, P, P + (size_t)R * D, P + (size_t)R * (D + 1), scratch);
    }
    mm_attention_merge(G, nq, D, n, O, ps, O + (size_t)R * D, O + (size_t)R * (D + 1), o3, qs);
    /* the parts over the pages: the same bits */
    for (int j = 0; j < n; j++) {
        const int64_t kb = (int64_t)tiles * j / n * MM_ATT_BK, ke = j == n - 1 ? npos : (int64_t)tiles * (j + 1) / n * MM_ATT_BK;
        float *P = O + ps * j;
        mm_attention_part(q, qs, G, nq, pos0, &kvp, D, scale, kb, ke, P, P + (size_t)R * D, P + (size_t)R * (D + 1), scratch);
    }
    memcpy(o4, o3, sizeof(float) * qs * nq);
    mm_attention_merge(G, nq, D, n, O, ps, O + (size_t)R * D, O + (size_t)R * (D + 1), o4, qs);
    CHECK(!memcmp(o3, o4, sizeof(float) * qs * nq), "split attention over scattered pages differs from the flat cache");
    for (int i = 0; i < nq; i++)
        for (size_t j = 0; j < (size_t)G * D; j++) {
            double d = fabs((double)o1[i * qs + j] - o3[i * qs + j]);
            sw = d > sw || d != d ? d : sw;
        }
    for (int i = 0; i < nq; i++)
        for (size_t j = (size_t)G * D; j < qs; j++) CHECK(o3[i * qs + j] == 7.0f, "merge wrote past the heads");
    *split_rel = sw / big;
    if (nq == 1) heads_case(G, D, pos0, kt, vt, K, V, ks, vs, &kvp, q, o1, o3, n, tiles);
    free(K), free(V), free(kd), free(vd), free(q), free(o1), free(o2), free(o3), free(scratch), free(O);
    free(KP), free(VP), free(kpg), free(vpg), free(o4);
    return worst;
}

static void test_attention(void) {
    static const struct { int G, D, nq, pos0; mm_dtype kt, vt; int split; } cases[] = {
        {4, 64, 1, 0, MM_F32, MM_F32, 1},      {4, 64, 1, 200, MM_F32, MM_F32, 2},    {4, 64, 16, 0, MM_F32, MM_F32, 1},
        {4, 64, 16, 300, MM_F32, MM_F32, 3},   {8, 128, 8, 77, MM_F32, MM_F32, 2},    {1, 40, 13, 65, MM_F32, MM_F32, 2},
        {3, 24, 5, 1, MM_BF16, MM_BF16, 1},    {4, 64, 16, 130, MM_BF16, MM_BF16, 3}, {8, 128, 1, 129, MM_BF16, MM_BF16, 3},
        {2, 16, 70, 0, MM_F32, MM_F32, 1},     {4, 64, 64, 63, MM_F32, MM_F32, 1},    {16, 64, 4, 500, MM_F32, MM_F32, 5},
        {8, 128, 1, 700, MM_Q8_0, MM_Q8_0, 4}, {8, 128, 9, 300, MM_Q8_0, MM_Q8_0, 3}, {8, 128, 1, 250, MM_Q4_0, MM_Q4_0, 2},
        {4, 40, 7, 90, MM_Q4_0, MM_Q8_0, 2},   {1, 40, 1, 33, MM_Q8_0, MM_F16, 1},    {4, 64, 12, 200, MM_F16, MM_F16, 4},
        {8, 128, 1, 1000, MM_F16, MM_Q4_0, 7}, {2, 72, 3, 140, MM_BF16, MM_Q8_0, 3},  {3, 64, 1, 130, MM_Q8_0, MM_Q8_0, 2},
        {12, 96, 1, 77, MM_Q8_0, MM_F16, 2},   {8, 128, 1, 94, MM_F16, MM_Q8_0, 2},   {1, 32, 1, 0, MM_Q8_0, MM_Q8_0, 1},
        {16, 64, 1, 1500, MM_Q8_0, MM_Q8_0, 6}, {4, 64, 1, 300, MM_Q4_0, MM_Q8_0, 3},  {5, 96, 1, 190, MM_BF16, MM_Q4_0, 2},
    };
    for (int ii = 0; ii < 4; ii++) {
        if (mm_kernels_force_isa(isas[ii]) != 0) continue;
        double worst = 0, wsplit = 0;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            double rel, tol, e = attn_case(cases[c].G, cases[c].D, cases[c].nq, cases[c].pos0, cases[c].kt, cases[c].vt, cases[c].split,
                                           &rel, &tol);
            CHECK(e <= tol, "%s attention G=%d D=%d nq=%d pos0=%d K %s V %s: max|Δ| %.3g over the bound %.3g", isas[ii], cases[c].G,
                  cases[c].D, cases[c].nq, cases[c].pos0, mm_dtype_name(cases[c].kt), mm_dtype_name(cases[c].vt), e, tol);
            if (tol > 2e-6)
                printf("%s attention G=%d D=%d pos0=%d K %s V %s (integer decode): max|Δ| %.3g, bound %.3g\n", isas[ii], cases[c].G,
                       cases[c].D, cases[c].pos0, mm_dtype_name(cases[c].kt), mm_dtype_name(cases[c].vt), e, tol);
            CHECK(rel <= 1e-6, "%s split attention (%d parts) G=%d nq=%d pos0=%d: %.3g relative to unsplit", isas[ii], cases[c].split,
                  cases[c].G, cases[c].nq, cases[c].pos0, rel);
            worst = fmax(worst, e), wsplit = fmax(wsplit, rel);
        }
        printf("%s attention: max|Δ| %.3g vs the f64 definition over the dequantized cache; split vs unsplit %.3g relative\n", isas[ii],
               worst, wsplit);
    }
    mm_kernels_force_isa(NULL);
}

/* The KV row formats are llama.cpp's blocks: a row of a multiple of 32 elements is exactly the row quantizer's
 * output; a shorter tail is the quantizer's block of the tail padded with zeros. */
static void test_kv_rows(void) {
    float x[96], pad[32] = {0};
    fill(x, 96, 3);
    for (int t = 0; t < MM_DTYPE_COUNT; t++) {
        if (!mm_kv_type_ok((mm_dtype)t)) continue;
        unsigned char a[512], b[512];
        mm_kv_store_row((mm_dtype)t, a, x, 96);
        CHECK(mm_quantize_rows((mm_dtype)t, x, b, 1, 96) == mm_kv_head_bytes((mm_dtype)t, 96), "%s row bytes", mm_dtype_name(t));
        CHECK(!memcmp(a, b, mm_kv_head_bytes((mm_dtype)t, 96)), "%s KV row differs from the block quantizer's", mm_dtype_name(t));
        if (mm_dtype_block((mm_dtype)t) == 1) continue;
        mm_kv_store_row((mm_dtype)t, a, x, 72); /* 2 blocks + 8 elements */
        memcpy(pad, x + 64, sizeof(float) * 8);
        mm_quantize_rows((mm_dtype)t, pad, b, 1, 32);
        CHECK(mm_kv_head_bytes((mm_dtype)t, 72) == 3 * mm_dtype_block_bytes((mm_dtype)t), "%s: 72 elements take 3 blocks", mm_dtype_name(t));
        CHECK(!memcmp(a + 2 * mm_dtype_block_bytes((mm_dtype)t), b, mm_dtype_block_bytes((mm_dtype)t)), "%s tail block", mm_dtype_name(t));
    }
    CHECK(!mm_kv_type_ok(MM_Q4_K) && !mm_kv_type_ok(MM_Q6_K), "K-quants are not KV types");
}

int main(void) {
    test_primitives();
    test_kv_rows();
    test_prefetch_stream();
    test_int_primitives();
    test_attention();
    return mmt_done();
}
