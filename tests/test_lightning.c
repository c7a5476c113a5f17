/* test_lightning.c — the lightning kernel and slope tables:
 * block-wise prefill (any block size, with an incoming state, across block boundaries) against the plain
 * token-by-token recurrence in double precision on random data; the remote code's slope values. */
#include <stdint.h>
#include "mm_test.h"
#include "model/mm_context.h"
#include "model/mm_model.h"
#include "kernels/mm_kernels.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void one_case(int n, int D, int B, float s, int with_state) {
    const int stride = 3 * D + 5; /* rows of q|k|v plus padding, as in the fused projection */
    float *qkv = malloc(sizeof(float) * (size_t)n * stride);
    for (int i = 0; i < n * stride; i++) qkv[i] = frand() * 0.5f;
    float *S1 = calloc((size_t)D * D, sizeof(float)), *S2 = calloc((size_t)D * D, sizeof(float));
    if (with_state)
        for (int i = 0; i < D * D; i++) S1[i] = S2[i] = frand();
    float *o1 = malloc(sizeof(float) * (size_t)n * D), *o2 = malloc(sizeof(float) * (size_t)n * D);
    for (int i = 0; i < n * D; i++) o1[i] = o2[i] = NAN; /* poison: every output must be written */
    float *scratch = malloc(sizeof(float) * mm_lightning_scratch(D, B));
    mm_lightning_head(qkv, qkv + D, qkv + 2 * D, stride, o1, D, S1, n, D, s, B, scratch);
    mm_lightning_head_ref(qkv, qkv + D, qkv + 2 * D, stride, o2, D, S2, n, D, s);
    double eo = 0, es = 0, scale = 0;
    for (int i = 0; i < n * D; i++) {
        double d = fabs((double)o1[i] - o2[i]);
        eo = d > eo || d != d ? d : eo;
        scale = fmax(scale, fabs(o2[i]));
    }
    for (int i = 0; i < D * D; i++) es = fmax(es, fabs((double)S1[i] - S2[i]) / (1.0 + fabs(S2[i])));
    CHECK(eo <= 1e-5 * fmax(1.0, scale), "n=%d D=%d B=%d s=%g state=%d: output error %.3g (scale %.3g)", n, D, B, s, with_state, eo, scale);
    CHECK(es <= 1e-5, "n=%d D=%d B=%d s=%g: state error %.3g", n, D, B, s, es);
    free(qkv), free(S1), free(S2), free(o1), free(o2), free(scratch);
}

int main(void) {
    /* across block boundaries: n below, at, just past, and several blocks; strong and weak decay */
    const int ns[] = {1, 2, 15, 16, 17, 33, 64, 100};
    const float ss[] = {0.917f, 0.1f, 0.0039f, 5e-6f};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof ss / sizeof ss[0]; j++) {
            one_case(ns[i], 8, 16, ss[j], 0);
            one_case(ns[i], 8, 16, ss[j], 1);
        }
    one_case(600, 16, 256, 0.05f, 1); /* the real block size, two boundaries */
    one_case(300, 32, 64, 0.2f, 0);
    /* every kernel set (the block products run on its 4×64 micro-kernel): the head widths of real models (64,
     * 128), one that is no multiple of 16 (40, padded inside), odd block lengths */
    const char *isas[] = {"scalar", "avx2", "avxvnni", "avx512"};
    for (int ii = 0; ii < 4; ii++) {
        if (mm_kernels_force_isa(isas[ii]) != 0) continue;
        one_case(300, 64, 256, 0.02f, 1);
        one_case(1, 64, 256, 0.02f, 1);
        one_case(77, 128, 32, 0.3f, 1);
        one_case(70, 40, 16, 0.1f, 1);
        one_case(5, 40, 16, 0.1f, 0);
    }
    mm_kernels_force_isa(NULL);

    /* Chunked: running a sequence in pieces of any size (state carried) equals one call. */
    {
        const int n = 70, D = 8, stride = 3 * D;
        float *qkv = malloc(sizeof(float) * n * stride), *o1 = malloc(sizeof(float) * n * D), *o2 = malloc(sizeof(float) * n * D);
        for (int i = 0; i < n * stride; i++) qkv[i] = frand();
        float S1[64] = {0}, S2[64] = {0}, *scratch = malloc(sizeof(float) * mm_lightning_scratch(D, 16));
        mm_lightning_head(qkv, qkv + D, qkv + 2 * D, stride, o1, D, S1, n, D, 0.3f, 16, scratch);
        const int pieces[] = {1, 5, 16, 17, 31};
        for (int t = 0, k = 0; t < n; k++) {
            int m = pieces[k % 5] < n - t ? pieces[k % 5] : n - t;
            const float *b = qkv + (size_t)t * stride;
            mm_lightning_head(b, b + D, b + 2 * D, stride, o2 + (size_t)t * D, D, S2, m, D, 0.3f, 16, scratch);
            t += m;
        }
        double e = 0;
        for (int i = 0; i < n * D; i++) e = fmax(e, fabs(o1[i] - o2[i]));
        CHECK(e < 1e-5, "chunked lightning differs by %g", e);
        free(qkv), free(o1), free(o2), free(scratch);
    }

    /* Slopes (spec §6.2): s0 for 64 heads, the layer factor 1 - l/(L-1) + 1e-5, ALiBi interleave for 6 heads. */
    float s[64];
    mm_slopes_base(64, s);
    CHECK(fabsf(s[0] - 0.917004049f) < 1e-8f && fabsf(s[3] - 0.707106769f) < 1e-8f && s[63] == 0.00390625f,
          "base slopes for 64 heads: %.9g %.9g %.9g", s[0], s[3], s[63]);
    mm_slopes_layer(64, 0, 80, s);
    CHECK(fabsf(s[0] - 0.917013228f) < 1e-7f && fabsf(s[63] - 0.00390628912f) < 1e-10f, "layer 0: %.9g %.9g", s[0], s[63]);
    mm_slopes_layer(64, 78, 80, s);
    CHECK(fabsf(s[0] - 0.0116168158f) < 1e-9f && fabsf(s[63] - 4.94852648e-05f) < 1e-12f, "layer 78: %.9g %.9g", s[0], s[63]);
    CHECK(fabsf(expf(-s[0]) - 0.988450f) < 1e-6f, "layer 78 decay %.7g", expf(-s[0]));
    mm_slopes_base(6, s);
    const float want6[6] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
    CHECK(!memcmp(s, want6, sizeof want6), "6-head ALiBi interleave: %g %g %g %g %g %g", s[0], s[1], s[2], s[3], s[4], s[5]);
    return mmt_done();
}
