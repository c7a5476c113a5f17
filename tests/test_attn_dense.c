/* test_attn_dense.c — the dense attention kernel of the vision tower (mm_attn_dense) against its scalar reference on
 * random inputs, on every instruction set this CPU runs (forced through mm_kernels_force_isa), at sizes that cut the
 * vectors and the 8-query blocks unevenly (the tower's 577 × 64, odd widths, a single token), with strided rows and
 * scores spread wide enough that the max subtraction matters. */
#include "mm_test.h"
#include "kernels/mm_attn_dense.h"
#include "kernels/mm_kernels.h"
#include "base/mm_common.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) / 16777216.0 * 2.0 - 1.0);
}

int main(void) {
    static const struct { int L, hd, extra; float spread; } cases[] = {
        {577, 64, 0, 1.0f}, {577, 24, 8, 3.0f}, {37, 8, 0, 1.0f}, {17, 40, 3, 20.0f}, {1, 16, 0, 1.0f}, {9, 1, 1, 1.0f},
        {300, 80, 5, 0.3f},
    };
    const char *isas[] = {"scalar", "avx2", "avxvnni", "avx512"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int L = cases[c].L, hd = cases[c].hd, ld = hd * 2 + cases[c].extra;   /* rows of a wider activation */
        float *q = malloc(sizeof(float) * (size_t)L * ld), *k = malloc(sizeof(float) * (size_t)L * ld);
        float *v = malloc(sizeof(float) * (size_t)L * ld), *want = malloc(sizeof(float) * (size_t)L * hd);
        float *got = malloc(sizeof(float) * (size_t)L * (hd + 3)), *sc = malloc(sizeof(float) * mm_attn_dense_scratch(L, hd));
        for (size_t i = 0; i < (size_t)L * ld; i++) q[i] = frand() * cases[c].spread, k[i] = frand(), v[i] = frand();
        const float scale = 1.0f / sqrtf((float)hd);
        mm_attn_dense_ref(q, k, v, ld, want, hd, L, hd, scale);
        for (int a = 0; a < 4; a++) {
            if (mm_kernels_force_isa(isas[a]) < 0) continue;   /* not on this CPU */
            for (size_t i = 0; i < (size_t)L * (hd + 3); i++) got[i] = NAN;
            mm_attn_dense(q, k, v, ld, got, hd + 3, L, hd, scale, sc);   /* output rows wider than hd: untouched tail */
            double md = 0;
            int tail_ok = 1;
            for (int i = 0; i < L; i++) {
                for (int d = 0; d < hd; d++) {
                    double e = fabs((double)got[(size_t)i * (hd + 3) + d] - want[(size_t)i * hd + d]);
                    md = e > md || e != e ? e : md;
                }
                for (int d = hd; d < hd + 3; d++) tail_ok &= got[(size_t)i * (hd + 3) + d] != got[(size_t)i * (hd + 3) + d];
            }
            CHECK(md <= 2e-6 && tail_ok, "%s L %d hd %d: max|d| %.3g, tail untouched %d", isas[a], L, hd, md, tail_ok);
        }
        mm_kernels_force_isa(NULL);
        free(q), free(k), free(v), free(want), free(got), free(sc);
    }
    return mmt_done();
}
