/* test_imatrix.c — importance matrices: computed from a golden model over its prompts, the GGUF and legacy files
 * round-trip and load as llama.cpp reads them, bad files are refused, and quantizing with the matrix lowers the
 * importance-weighted error Σ im[k]·(w − ŵ)² (what an imatrix fit minimises) for every type this engine writes. */
#include <jansson.h>
#include "formats/mm_imatrix.h"
#include "kernels/mm_quant.h"
#include "minimax.h"
#include "mm_test.h"
#include "tools/mm_imatrix_calc.h"
#include "tools/mm_quantize.h"

static char tmp[512];
static const char *tp(const char *name) {
    snprintf(tmp, sizeof tmp, "%s/%s", mmt_tmpdir(), name);
    return tmp;
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static float grand(void) { return (float)(sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand())); }

/* Σ_r Σ_k im[k]·(w − ŵ)² of rows × cols weights quantized to t, with or without im as the fit weights. */
static double weighted_err(mm_dtype t, const float *w, int64_t rows, int64_t cols, const float *im, int use) {
    void *q = malloc((size_t)rows * mm_row_bytes(t, cols));
    float *y = malloc(sizeof(float) * (size_t)(rows * cols));
    mm_quantize_rows_w(t, w, q, rows, cols, use ? im : NULL);
    mm_dequantize_row(t, q, y, rows * cols);
    double e = 0;
    for (int64_t i = 0; i < rows * cols; i++) e += im[i % cols] * (double)(w[i] - y[i]) * (w[i] - y[i]);
    free(q);
    free(y);
    return e;
}

static const mm_dtype writable[] = {MM_Q4_0, MM_Q4_1, MM_Q5_0,   MM_Q5_1,   MM_Q2_K,  MM_Q3_K,   MM_Q4_K, MM_Q5_K,
                                    MM_Q6_K, MM_IQ4_NL, MM_IQ4_XS, MM_IQ2_XXS, MM_IQ3_XXS, MM_IQ2_S, MM_IQ3_S, MM_IQ2_XS,
                                    MM_IQ1_S, MM_IQ1_M};
#define NW ((int)(sizeof writable / sizeof writable[0]))

/* Heavy-tailed column importance (as real activations have: a few columns carry most of the energy). */
static void test_weighted_synthetic(void) {
    const int64_t rows = 32, cols = 1024;
    float *w = malloc(sizeof(float) * (size_t)(rows * cols)), im[1024];
    for (int64_t i = 0; i < rows * cols; i++) w[i] = grand() * 0.02f;
    for (int k = 0; k < cols; k++) im[k] = expf(2.0f * grand());
    for (int i = 0; i < NW; i++) {
        double a = weighted_err(writable[i], w, rows, cols, im, 0), b = weighted_err(writable[i], w, rows, cols, im, 1);
        printf("synthetic %-6s weighted error without %.4g, with the imatrix %.4g (%.0f%%)\n", mm_dtype_name(writable[i]), a, b,
               100 * (b / a - 1));
        CHECK(b < a, "%s: weighted error with the imatrix %g >= without %g", mm_dtype_name(writable[i]), b, a);
    }
    free(w);
}

static int32_t *golden_ids(const char *dir, int *n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_t *man = json_load_file(path, 0, NULL), *ps = json_object_get(man, "prompts");
    int32_t *ids = NULL;
    *n = 0;
    for (size_t p = 0; man && p < json_array_size(ps); p++) {
        json_t *arr = json_object_get(json_array_get(ps, p), "input_ids");
        ids = realloc(ids, sizeof(int32_t) * (size_t)(*n + (int)json_array_size(arr)));
        for (size_t i = 0; i < json_array_size(arr); i++) ids[(*n)++] = (int32_t)json_integer_value(json_array_get(arr, i));
    }
    json_decref(man);
    return ids;
}

/* b holds a's importances (a legacy b without expert counts: as concatenated slices, read by mm_imatrix_matrix) */
static int same(const mm_imatrix *a, const mm_imatrix *b, double rel) {
    if (a->n != b->n) return 0;
    float *wa = NULL, *wb = NULL;
    int ok = 1;
    for (int i = 0; i < a->n && ok; i++) {
        const mm_imatrix_entry *x = &a->e[i], *y = mm_imatrix_find(b, x->name);
        if (!y) return 0;
        wa = realloc(wa, sizeof(float) * (size_t)x->ne0), wb = realloc(wb, sizeof(float) * (size_t)x->ne0);
        for (int e = 0; e < x->n_mat && ok; e++) {
            mm_imatrix_columns(x, e, wa);
            ok &= mm_imatrix_matrix(y, x->ne0, x->n_mat, e, wb) == 0;
            for (int64_t k = 0; k < x->ne0; k++) ok &= fabs(wa[k] - wb[k]) <= rel * fabs(wa[k]) + 1e-30;
        }
    }
    free(wa);
    free(wb);
    return ok;
}

static void test_golden(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/golden/a_small_mixed", mmt_shared());
    int n = 0;
    int32_t *ids = golden_ids(dir, &n);
    CHECK(n >= 64, "golden prompt tokens: %d", n);
    mm_model *m = mm_model_load(dir, NULL);
    CHECK(m != NULL, "load %s: %s", dir, mm_last_error());
    if (!m || n < 64) { free(ids); mm_model_free(m); return; }
    CHECK(mm_imatrix_compute(m, ids, 3, &(mm_imatrix_params){.n_ctx = 16}, NULL) == NULL && strstr(mm_last_error(), "16"),
          "too short a text refused: %s", mm_last_error());
    mm_imatrix *im = mm_imatrix_compute(m, ids, n, &(mm_imatrix_params){.n_ctx = 32}, "golden.txt");
    CHECK(im != NULL, "compute: %s", mm_last_error());
    if (!im) { free(ids); mm_model_free(m); return; }
    const mm_config *c = mm_model_config(m);
    const mm_imatrix_entry *down = mm_imatrix_find(im, "blk.0.ffn_down_exps.weight"), *qkv = mm_imatrix_find(im, "blk.0.attn_qkv.weight");
    CHECK(down && down->n_mat == c->n_experts && down->ne0 == c->intermediate_size, "expert entry: per expert, K columns");
    double tokens = 0;
    for (int e = 0; down && e < down->n_mat; e++) tokens += down->counts[e];
    CHECK(down && tokens == (double)(n / 32) * 32 * c->n_experts_per_tok, "every routed token counted once per expert it went to (%g)", tokens);
    CHECK(qkv && qkv->n_mat == 1 && qkv->counts[0] == (double)(n / 32) * 32, "dense entry counts every token");
    CHECK(mm_imatrix_find(im, "token_embd.weight") == NULL && mm_imatrix_find(im, "output.weight") != NULL, "output in, embedding out");
    CHECK(qkv && qkv->sums[0] > 0 && im->chunk_count == (uint32_t)(n / 32) && im->chunk_size == 32, "chunks recorded");

    /* file round trips */
    CHECK(mm_imatrix_save(im, tp("im.gguf"), 0) == 0, "save gguf: %s", mm_last_error());
    CHECK(mm_imatrix_save(im, tp("im.dat"), 1) == 0, "save dat: %s", mm_last_error());
    mm_imatrix *g = mm_imatrix_load(tp("im.gguf")), *d = mm_imatrix_load(tp("im.dat"));
    CHECK(g && same(im, g, 1e-6), "GGUF round trip");
    CHECK(g && g->dataset && !strcmp(g->dataset, "golden.txt") && g->chunk_count == im->chunk_count, "GGUF metadata");
    CHECK(d && same(im, d, 1e-6), "legacy .dat round trip (mean x² per column)");
    CHECK(d && d->dataset && !strcmp(d->dataset, "golden.txt"), "legacy dataset name");
    mm_imatrix_free(g);
    mm_imatrix_free(d);
    /* bad files */
    FILE *f = fopen(tp("bad.dat"), "wb");
    int32_t hdr[3] = {2, 5, 0};
    fwrite(hdr, 4, 2, f), fwrite("abcde", 1, 5, f), fwrite(&hdr[2], 4, 1, f); /* ncall, then nothing */
    fclose(f);
    CHECK(mm_imatrix_load(tp("bad.dat")) == NULL && strstr(mm_last_error(), "abcde"), "truncated .dat refused: %s", mm_last_error());
    f = fopen(tp("bad2.dat"), "wb");
    hdr[0] = -3;
    fwrite(hdr, 4, 1, f);
    fclose(f);
    CHECK(mm_imatrix_load(tp("bad2.dat")) == NULL && strstr(mm_last_error(), "not an importance matrix"), "garbage refused: %s",
          mm_last_error());
    CHECK(mm_imatrix_load(tp("none")) == NULL && strstr(mm_last_error(), "cannot open"), "missing file refused");

    /* the weighted error on the golden model's own matrices and activations, 32-element types (its rows are 64 wide) */
    static const mm_dtype t32[] = {MM_Q4_0, MM_Q4_1, MM_Q5_0, MM_Q5_1, MM_IQ4_NL};
    mm_gguf_tplan *pl = NULL;
    const int np = mm_gguf_plan_model(m, &pl);
    for (size_t ti = 0; ti < sizeof t32 / sizeof t32[0]; ti++) {
        double a = 0, b = 0;
        for (int i = 0; i < np; i++) {
            const mm_imatrix_entry *en = mm_imatrix_find(im, pl[i].name);
            if (!en || strstr(pl[i].name, "ffn_gate_inp")) continue;
            float *cw = malloc(sizeof(float) * (size_t)en->ne0);
            for (int e = 0; e < pl[i].n_mats; e++) {
                const mm_tensor *t = &pl[i].mats[e];
                const int64_t R = t->shape[0], K = t->shape[1];
                float *w = malloc(sizeof(float) * (size_t)(R * K));
                for (int64_t r = 0; r < R; r++) mm_tensor_row_f32(t, r, w + r * K);
                mm_imatrix_columns(en, e, cw);
                a += weighted_err(t32[ti], w, R, K, cw, 0);
                b += weighted_err(t32[ti], w, R, K, cw, 1);
                free(w);
            }
            free(cw);
        }
        printf("golden a %-6s weighted error without %.4g, with the imatrix %.4g (%.0f%%)\n", mm_dtype_name(t32[ti]), a, b, 100 * (b / a - 1));
        CHECK(b < a, "golden %s: weighted error with the imatrix %g >= without %g", mm_dtype_name(t32[ti]), b, a);
    }
    free(pl);

    /* quantize --imatrix end to end, and a matrix of another model refused */
    char out[600], img[600], imo[600];
    snprintf(out, sizeof out, "%s", tp("a-q5_0-im.gguf"));
    snprintf(img, sizeof img, "%s", tp("im.gguf"));
    snprintf(imo, sizeof imo, "%s", tp("im-other.gguf"));
    mm_gguf_convert_params cp = {.ftype = MM_FT_Q5_0, .force = 1, .no_tokenizer = 1, .imatrix = img};
    CHECK(mm_gguf_convert(dir, out, &cp, NULL) == 0, "quantize --imatrix: %s", mm_last_error());
    mm_imatrix_entry *en = (mm_imatrix_entry *)mm_imatrix_find(im, "blk.0.attn_qkv.weight");
    if (en) en->ne0 /= 2; /* claims half the columns (the sums array is larger than needed: harmless) */
    mm_imatrix_save(im, imo, 0);
    cp.imatrix = imo;
    CHECK(mm_gguf_convert(dir, out, &cp, NULL) < 0 && strstr(mm_last_error(), "another model"), "mismatched imatrix refused: %s",
          mm_last_error());
    cp.ftype = MM_FT_IQ2_XXS, cp.imatrix = NULL;
    CHECK(mm_gguf_convert(dir, out, &cp, NULL) < 0 && strstr(mm_last_error(), "requires an importance matrix"),
          "iq2_xxs without an imatrix refused as llama.cpp does: %s", mm_last_error());
    cp.imatrix = img; /* with one it converts (this model's 64-wide rows fall back to IQ4_NL: test_gguf_types has wider ones) */
    CHECK(mm_gguf_convert(dir, out, &cp, NULL) == 0, "iq2_xxs with an imatrix: %s", mm_last_error());
    cp.ftype = MM_FT_IQ3_XXS;
    CHECK(mm_gguf_convert(dir, out, &cp, NULL) == 0, "iq3_xxs with an imatrix: %s", mm_last_error());
    cp.ftype = MM_FT_IQ1_S;
    CHECK(mm_gguf_convert(dir, out, &cp, NULL) == 0, "iq1_s with an imatrix: %s", mm_last_error());
    cp.ftype = MM_FT_IQ1_M, cp.imatrix = NULL;
    CHECK(mm_gguf_convert(dir, out, &cp, NULL) < 0 && strstr(mm_last_error(), "requires an importance matrix"),
          "iq1_m without an imatrix refused: %s", mm_last_error());
    cp.imatrix = img;
    CHECK(mm_gguf_convert(dir, out, &cp, NULL) == 0, "iq1_m with an imatrix: %s", mm_last_error());
    mm_imatrix_free(im);
    mm_model_free(m);
    free(ids);
}

int main(void) {
    test_weighted_synthetic();
    test_golden();
    return mmt_done();
}
