/* test_pack.c — a quantized model loaded with its matrices packed (mm_pack.h, the default where the kernels
 * prefer it) against the same file in its stored layout: a prompt's logits are bit-identical (prefill runs the
 * integer GEMM on 16-row packed groups either way: the pack, or each group packed on the fly from the stored
 * rows), and decode steps of one token and of three sequences at once, each taken from the same state (the
 * packed run's sequences are copied into the stored run before every step), agree to float rounding. */
#include "formats/mm_gguf.h"
#include "tools/mm_quantize.h"
#include "tools/mm_imatrix_calc.h"
#include "kernels/mm_kernels.h"
#include "formats/mm_mkmodel.h"
#include "mm_test.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { NPROMPT = 12, NSTEP = 16, NSEQ = 3 };

typedef struct {
    mm_model *m;
    mm_context *c;
    float *out;
    int rows;
} side;

static int open_side(side *s, const char *path, int no_repack, float *out, int64_t *packed) {
    s->m = mm_model_load(path, &(mm_model_params){.no_repack = no_repack});
    CHECK(s->m != NULL, "load %s: %s", path, mm_last_error());
    if (!s->m) return -1;
    mm_model_stats st;
    mm_model_get_stats(s->m, &st);
    *packed = st.bytes_packed;
    s->c = mm_context_new(s->m, &(mm_context_params){.n_ctx = 64, .n_seq_max = NSEQ});
    s->out = out;
    s->rows = 0;
    return 0;
}

static int step(side *s, const mm_batch *b, int want) {
    int r = mm_decode(s->c, b, s->out + (size_t)s->rows * mm_model_config(s->m)->vocab_size);
    CHECK(r == want, "decode: %s", mm_last_error());
    if (r > 0) s->rows += r;
    return r == want ? 0 : -1;
}

/* The stored run's sequences set to the packed run's, so that its next step starts from the same state. */
static void sync(side *packed, side *stored) {
    for (int q = 0; q < NSEQ; q++) {
        mm_seq_state *st = mm_seq_snapshot(packed->c, q);
        CHECK(st && mm_seq_restore(stored->c, q, st) == 0, "state copy: %s", mm_last_error());
        mm_seq_state_free(st);
    }
}

/* Both layouts in lockstep: the prompt in each of NSEQ sequences (all NPROMPT logit rows for sequence 0: the
 * lm_head at T = 12 goes through the prefill GEMM; the last row for the others), then NSTEP steps of the NSEQ
 * sequences (one token each per batch: T = 3 products), then NSTEP single-token steps of sequence 0 (T = 1);
 * the tokens fed are fixed, not sampled. Logits of every step go to a (packed) and b (stored), in order.
 * Returns the rows written by each side, or -1. */
static int run(const char *path, float *a, float *b, int64_t *pa, int64_t *pb) {
    side P = {0}, S = {0};
    int rc = -1;
    if (open_side(&P, path, 0, a, pa) || open_side(&S, path, 1, b, pb)) goto done;
    const int V = mm_model_config(P.m)->vocab_size;
    int32_t ids[NPROMPT], seq[NPROMPT] = {0};
    for (int i = 0; i < NPROMPT; i++) ids[i] = (int32_t)((i * 7919 + 13) % V);
    int8_t every[NPROMPT];
    memset(every, 1, sizeof every);
    for (int s = 0; s < NSEQ; s++) { /* the same prompt in every sequence */
        for (int i = 0; i < NPROMPT; i++) seq[i] = s;
        mm_batch bt = {.n_tokens = NPROMPT, .token = ids, .seq = seq, .logits = s ? NULL : every};
        if (step(&P, &bt, s ? 1 : NPROMPT) || step(&S, &bt, s ? 1 : NPROMPT)) goto done;
    }
    int32_t cur[NSEQ], sq[NSEQ];
    for (int s = 0; s < NSEQ; s++) sq[s] = s;
    int8_t all[NSEQ] = {1, 1, 1};
    for (int k = 0; k < NSTEP; k++) {
        for (int s = 0; s < NSEQ; s++) cur[s] = (int32_t)((k * 131 + s * 17 + 5) % V);
        mm_batch bt = {.n_tokens = NSEQ, .token = cur, .seq = sq, .logits = all};
        sync(&P, &S);
        if (step(&P, &bt, NSEQ) || step(&S, &bt, NSEQ)) goto done;
    }
    for (int k = 0; k < NSTEP; k++) {
        cur[0] = (int32_t)((k * 389 + 11) % V);
        mm_batch bt = {.n_tokens = 1, .token = cur, .seq = sq};
        sync(&P, &S);
        if (step(&P, &bt, 1) || step(&S, &bt, 1)) goto done;
    }
    rc = P.rows == S.rows ? P.rows : -1;
done:
    mm_context_free(P.c), mm_context_free(S.c);
    mm_model_free(P.m), mm_model_free(S.m);
    return rc;
}

int main(void) {
    /* Widths that are multiples of 256 so that every K-quant, IQ4_XS, IQ2_XXS and IQ3_XXS applies (Q4_K_M and Q5_K_M put Q6_K on
     * some matrices, q2_k and q3_k_m Q3_K, Q4_K and Q5_K).
     * Both experts are always chosen (top-2 of 2): with a real choice, a router near-tie that the last float
     * bit decides sends a token to another expert, and the two layouts (whose sums differ in the order of
     * their float additions) could then diverge for a reason that is not a fault of either. */
    mm_mkmodel_params p;
    mm_mkmodel_preset(&p, "tiny");
    p.vocab_size = 1000, p.hidden_size = 256, p.n_heads = 4, p.n_kv_heads = 2, p.head_dim = 64, p.rotary_dim = 32;
    p.intermediate_size = 512, p.n_experts = 2, p.top_k = 2, p.dialect = MM_DIALECT_HF, p.dtype = MM_F32, p.seed = 7;
    mm_mkmodel_parse_layer_types(&p, "LS");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/model", mmt_tmpdir());
    CHECK(mm_mkmodel_write(dir, &p, NULL) == 0, "mkmodel: %s", mm_last_error());
    /* IQ2_XXS and IQ3_XXS need an importance matrix (as in llama.cpp): one computed from the model itself */
    char imp[600];
    snprintf(imp, sizeof imp, "%s/im.gguf", mmt_tmpdir());
    {
        mm_model *m = mm_model_load(dir, NULL);
        CHECK(m != NULL, "load %s: %s", dir, mm_last_error());
        int32_t ids[96];
        for (int i = 0; i < 96; i++) ids[i] = (int32_t)((i * 577 + 13) % p.vocab_size);
        mm_imatrix *im = m ? mm_imatrix_compute(m, ids, 96, &(mm_imatrix_params){.n_ctx = 32}, "test") : NULL;
        CHECK(im != NULL && mm_imatrix_save(im, imp, 0) == 0, "imatrix: %s", mm_last_error());
        mm_imatrix_free(im);
        mm_model_free(m);
    }

    const mm_gguf_ftype fts[] = {MM_FT_Q8_0, MM_FT_Q4_0,    MM_FT_Q4_K_M,   MM_FT_Q5_K_M,  MM_FT_IQ4_XS,
                                 MM_FT_Q2_K, MM_FT_Q3_K_M, MM_FT_IQ2_XXS, MM_FT_IQ3_XXS};
    const char *names[] = {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "iq4_xs", "q2_k", "q3_k_m", "iq2_xxs", "iq3_xxs"};
    enum { NFT = sizeof fts / sizeof fts[0] };
    const int V = p.vocab_size, rows = NPROMPT + NSEQ - 1 + NSTEP * NSEQ + NSTEP;
    float *a = malloc(sizeof(float) * (size_t)rows * V), *b = malloc(sizeof(float) * (size_t)rows * V);
    int native = mm_kernels_prefer_packed(MM_Q8_0);
    if (!native) printf("note: the %s kernels do not pack matrices; packed models not tested on this CPU\n", mm_kernels_isa());
    for (int f = 0; f < NFT && native; f++) {
        char path[600];
        snprintf(path, sizeof path, "%s/model-%s.gguf", mmt_tmpdir(), names[f]);
        const int need_im = fts[f] == MM_FT_IQ2_XXS || fts[f] == MM_FT_IQ3_XXS;
        mm_gguf_convert_params cp = {.ftype = fts[f], .no_tokenizer = 1, .imatrix = need_im ? imp : NULL};
        CHECK(mm_gguf_convert(dir, path, &cp, NULL) == 0, "convert %s: %s", names[f], mm_last_error());
        int64_t pa = 0, pb = 0;
        int ra = run(path, a, b, &pa, &pb);
        CHECK(pa > 0 && pb == 0, "%s: packed bytes %lld with packing, %lld without", names[f], (long long)pa, (long long)pb);
        CHECK(ra == rows, "%s: %d logit rows of %d", names[f], ra, rows);
        if (ra != rows) continue;
        double dp = mmt_maxdiff(a, b, (size_t)NPROMPT * V), scale = 0, worst = 0;
        for (size_t i = 0; i < (size_t)rows * V; i++) scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
        CHECK(dp == 0, "%s: prompt logits (T = %d lm_head) differ packed vs stored: max %g", names[f], NPROMPT, dp);
        /* Decode: the same integer dot products with the per-block float sums in another order, ~1e-7 relative.
         * Each step starts from the same state, so differences cannot build up over steps; but decode quantizes
         * each activation row to 8 bits, and now and then a ~1e-7 difference moves an element across a rounding
         * boundary, which moves that row's logits by up to ~1% (the stored layout under the scalar kernels
         * against the AVX-512 ones shows the same). So: nearly every row at float rounding, none far off, the
         * same top-1 almost everywhere. A wrong kernel, layout or view is off by O(scale) everywhere. */
        int close = 0, same_top = 0, ndec = rows - NPROMPT;
        for (int r = NPROMPT; r < rows; r++) {
            const float *ar = a + (size_t)r * V, *br = b + (size_t)r * V;
            double d = mmt_maxdiff(ar, br, V);
            close += d <= 1e-5 * scale;
            same_top += mmt_argmax(ar, V) == mmt_argmax(br, V);
            worst = d > worst ? d : worst;
        }
        CHECK(close >= ndec * 9 / 10, "%s: %d of %d decode rows agree to 1e-5 of the logit scale %g", names[f], close, ndec, scale);
        CHECK(worst <= 0.03 * scale, "%s: decode logits packed vs stored: max|d| %g (logit scale %g)", names[f], worst, scale);
        CHECK(same_top >= ndec * 9 / 10, "%s: top-1 the same in %d of %d decode rows", names[f], same_top, ndec);
        printf("  %s: %.1f KiB packed; prompt identical; decode: %d of %d rows within 1e-5 of the logit scale %.3g, max|dlogit| "
               "%.2g, top-1 the same in %d\n",
               names[f], pa / 1024.0, close, ndec, scale, worst, same_top);
    }
    free(a);
    free(b);
    return mmt_done();
}
