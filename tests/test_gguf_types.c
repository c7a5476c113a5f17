/* test_gguf_types.c — a GGUF whose tensors mix every block type loads and runs: its logits equal those of the
 * same model with every tensor dequantized to F32 (prefill of the types without a packed layout: both through f32
 * panels; decode, and prefill of the packed types: the integer products on Q8_0 / Q8_K activations, within the
 * activation rounding). */
#include <sys/stat.h>
#include "formats/mm_gguf.h"
#include "formats/mm_imatrix.h"
#include "formats/mm_mkmodel.h"
#include "kernels/mm_kernels.h"
#include "kernels/mm_pack.h"
#include "minimax.h"
#include "mm_test.h"
#include "mm_test_quant.h"
#include "tools/mm_imatrix_calc.h"
#include "tools/mm_quantize.h"

static const mm_dtype types[] = {MM_Q4_1,   MM_Q5_0,   MM_Q5_1,  MM_Q2_K,    MM_Q3_K,  MM_Q5_K,  MM_IQ4_NL, MM_IQ4_XS,
                                 MM_IQ2_XXS, MM_IQ2_XS, MM_IQ2_S, MM_IQ3_XXS, MM_IQ3_S, MM_IQ1_S, MM_IQ1_M};
#define NT ((int)(sizeof types / sizeof types[0]))

static char tmp[512];
static const char *tp(const char *name) {
    snprintf(tmp, sizeof tmp, "%s/%s", mmt_tmpdir(), name);
    return tmp;
}

/* Rewrites the F32 GGUF src twice: mixed (every matrix but the router in the next type of types[], round robin,
 * so each type serves several roles; with packed 0 only the types without a packed layout, mm_pack.h) and deq
 * (the mixed file's values dequantized, as F32). Returns the number of tensors per type in used[]. */
static int write_mixed(const char *src, const char *mixed, const char *deq, int *used, int packed) {
    mm_gguf *g = mm_gguf_open(src);
    if (!g) return -1;
    mm_gguf_writer *wm = mm_gguf_writer_new(mixed), *wd = mm_gguf_writer_new(deq);
    for (int i = 0; i < mm_gguf_n_kv(g); i++) {
        if (!strcmp(mm_gguf_kv_key(g, i), "general.file_type")) continue;
        mm_gguf_w_copy_kv(wm, g, i);
        mm_gguf_w_copy_kv(wd, g, i);
    }
    const int n = mm_gguf_n_tensors(g);
    mm_dtype *ty = malloc(sizeof *ty * (size_t)n);
    int next = 0;
    for (int i = 0; i < n; i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        const int64_t K = t->shape[t->ndim - 1];
        ty[i] = MM_F32;
        if (t->ndim >= 2 && !strstr(t->name, "ffn_gate_inp"))
            for (int k = 0; k < NT && ty[i] == MM_F32; k++) {
                mm_dtype c = types[(next + k) % NT];
                if (K % mm_dtype_block(c) == 0 && (packed || !mm_pack_supported(c))) ty[i] = c, next = (next + k + 1) % NT, used[(next + NT - 1) % NT]++;
            }
        mm_gguf_writer_add(wm, t->name, ty[i], t->ndim, t->shape);
        mm_gguf_writer_add(wd, t->name, MM_F32, t->ndim, t->shape);
    }
    int rc = mm_gguf_writer_begin(wm) | mm_gguf_writer_begin(wd);
    for (int i = 0; i < n && !rc; i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        const int64_t K = t->shape[t->ndim - 1], rows = mm_tensor_nelem(t) / K;
        const float *x = t->data;
        size_t qb = (size_t)rows * mm_row_bytes(ty[i], K);
        void *q = malloc(qb);
        float *y = malloc((size_t)(rows * K) * sizeof(float));
        mmt_make_weights(ty[i], x, q, rows, K, NULL);
        mm_dequantize_row(ty[i], q, y, rows * K);
        rc |= mm_gguf_writer_write(wm, q, qb) | mm_gguf_writer_write(wd, y, (size_t)(rows * K) * sizeof(float));
        free(q);
        free(y);
    }
    rc |= mm_gguf_writer_finish(wm) | mm_gguf_writer_finish(wd);
    mm_gguf_writer_free(wm);
    mm_gguf_writer_free(wd);
    mm_gguf_close(g);
    free(ty);
    return rc ? -1 : 0;
}

/* Logits of ids[n]: one prefill batch (step 0) or token by token (step 1). */
static float *run(const char *path, const int32_t *ids, int n, int step, int *V) {
    mm_model *m = mm_model_load(path, NULL);
    CHECK(m != NULL, "load %s: %s", path, mm_last_error());
    if (!m) return NULL;
    *V = mm_model_config(m)->vocab_size;
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = n});
    float *out = malloc(sizeof(float) * (size_t)n * (size_t)*V);
    int32_t seq[64] = {0};
    int8_t want[64];
    memset(want, 1, sizeof want);
    int ok = 1;
    if (!step) {
        ok = mm_decode(c, &(mm_batch){.n_tokens = n, .token = ids, .seq = seq, .logits = want}, out) == n;
    } else {
        for (int t = 0; t < n && ok; t++)
            ok = mm_decode(c, &(mm_batch){.n_tokens = 1, .token = ids + t, .seq = seq, .logits = want}, out + (size_t)t * *V) == 1;
    }
    CHECK(ok, "%s: decode: %s", path, mm_last_error());
    mm_context_free(c);
    mm_model_free(m);
    return out;
}

int main(void) {
    mm_mkmodel_params p;
    mm_mkmodel_preset(&p, "tiny");
    p.hidden_size = 256, p.vocab_size = 384, p.n_heads = 2, p.n_kv_heads = 1, p.head_dim = 128, p.rotary_dim = 64;
    p.intermediate_size = 512, p.n_experts = 2, p.top_k = 2, p.dtype = MM_F32, p.force = 1, p.seed = 15;
    CHECK(mm_mkmodel_parse_layer_types(&p, "LS") == 0, "layer types");
    char dir[512], f32[512], mixed[512], deq[512];
    snprintf(dir, sizeof dir, "%s", tp("m"));
    snprintf(f32, sizeof f32, "%s", tp("m-f32.gguf"));
    snprintf(mixed, sizeof mixed, "%s", tp("m-mixed.gguf"));
    snprintf(deq, sizeof deq, "%s", tp("m-deq.gguf"));
    CHECK(mm_mkmodel_write(dir, &p, NULL) == 0, "mkmodel: %s", mm_last_error());
    mm_gguf_convert_params cp = {.ftype = MM_FT_F32, .force = 1, .no_tokenizer = 1};
    CHECK(mm_gguf_convert(dir, f32, &cp, NULL) == 0, "convert: %s", mm_last_error());
    int used[NT] = {0}, used_u[NT] = {0};
    CHECK(write_mixed(f32, mixed, deq, used, 1) == 0, "write mixed: %s", mm_last_error());
    for (int k = 0; k < NT; k++) CHECK(used[k] >= 1, "%s used by no tensor", mm_dtype_name(types[k]));
    char mixed_u[512], deq_u[512];   /* the types without a packed layout only */
    snprintf(mixed_u, sizeof mixed_u, "%s", tp("m-mixed-u.gguf"));
    snprintf(deq_u, sizeof deq_u, "%s", tp("m-deq-u.gguf"));
    CHECK(write_mixed(f32, mixed_u, deq_u, used_u, 0) == 0, "write mixed: %s", mm_last_error());
    for (int k = 0; k < NT; k++)
        CHECK((used_u[k] >= 1) == !mm_pack_supported(types[k]), "%s used by %d tensors of the unpacked mix", mm_dtype_name(types[k]),
              used_u[k]);

    mm_gguf *g = mm_gguf_open(mixed);
    CHECK(g != NULL, "open mixed: %s", mm_last_error());
    int seen[MM_DTYPE_COUNT] = {0};
    for (int i = 0; g && i < mm_gguf_n_tensors(g); i++) seen[mm_gguf_tensor(g, i)->dtype]++;
    for (int k = 0; k < NT; k++) CHECK(seen[types[k]] >= 1, "mixed file holds no %s tensor", mm_dtype_name(types[k]));
    mm_gguf_close(g);
    mm_model *mm = mm_model_load(mixed, NULL);   /* the weight statistics (minimax info, bench) count every type */
    if (mm) {
        mm_model_stats st;
        mm_model_get_stats(mm, &st);
        int64_t sum = 0;
        for (int d = 0; d < MM_DTYPE_COUNT; d++) sum += st.bytes_by_dtype[d];
        CHECK(sum == st.bytes_total, "bytes by dtype add up to %lld of %lld", (long long)sum, (long long)st.bytes_total);
        for (int k = 0; k < NT; k++) CHECK(st.bytes_by_dtype[types[k]] > 0, "stats: no bytes of %s", mm_dtype_name(types[k]));
        mm_model_free(mm);
    }

    const int32_t ids[12] = {1, 17, 200, 5, 99, 383, 42, 7, 300, 11, 64, 2};
    const int n = 12;
    for (int step = 0; step < 4; step++) {
        int V1 = 0, V2 = 0;
        const int dec = step % 2, all = step >= 2; /* all: the mix with the packed types */
        const char *what = dec ? "decode" : "prefill", *mix = all ? "all types" : "unpacked types";
        float *a = run(all ? mixed : mixed_u, ids, n, dec, &V1), *b = run(all ? deq : deq_u, ids, n, dec, &V2);
        if (a && b && V1 == V2) {
            double md = 0, amax = 0;
            int agree = 0;
            for (size_t i = 0; i < (size_t)n * V1; i++) md = fmax(md, fabs(a[i] - b[i])), amax = fmax(amax, fabs(b[i]));
            for (int t = 0; t < n; t++) agree += mmt_argmax(a + (size_t)t * V1, V1) == mmt_argmax(b + (size_t)t * V1, V1);
            printf("%s, %s: max |Δlogit| %.3g (max |logit| %.3g), top-1 %d/%d\n", what, mix, md, amax, agree, n);
            /* prefill (12 tokens, every expert takes all: T >= MM_GEMM_MIN_T everywhere) of the unpacked types: the same
             * f32 values through the same panels, only the summation order differs; decode, and prefill of the packed
             * types (the integer GEMM): the activations rounded to 8 bits (Q8_0 / Q8_K), a relative error of ~2^-8
             * per matrix product */
            const int exact = !dec && !all;
            double bound = exact ? 1e-4 * amax : 0.05 * amax;
            CHECK(amax > 0 && md <= bound, "%s, %s: max |Δlogit| %g > %g", what, mix, md, bound);
            CHECK(agree >= (exact ? n : n - 2), "%s, %s: top-1 agreement %d/%d", what, mix, agree, n);
        }
        free(a);
        free(b);
    }

    /* `quantize --type iq2_xxs / iq3_xxs / iq2_s --imatrix` and `--type iq3_s`: llama.cpp's mixes with this engine's grid
     * quantizers; each file holds its types, loads and runs, and its logits are the same model's dequantized to F32 */
    mm_model *src = mm_model_load(dir, NULL);
    mm_imatrix *im = src ? mm_imatrix_compute(src, ids, n, &(mm_imatrix_params){.n_ctx = n}, "ids") : NULL;
    CHECK(im && mm_imatrix_save(im, tp("im.gguf"), 0) == 0, "imatrix: %s", mm_last_error());
    char imp[512];
    snprintf(imp, sizeof imp, "%s", tp("im.gguf"));
    mm_imatrix_free(im);
    mm_model_free(src);
    static const struct { mm_gguf_ftype f; mm_dtype has[3]; int im; } grid[] = {
        {MM_FT_IQ2_XXS, {MM_IQ2_XXS, MM_Q2_K, MM_Q5_K}, 1}, {MM_FT_IQ3_XXS, {MM_IQ3_XXS, MM_IQ3_S, MM_IQ2_S}, 1},
        {MM_FT_IQ3_S, {MM_IQ3_S, MM_Q6_K, MM_IQ3_S}, 0}, /* iq3_s: llama.cpp writes it without an imatrix too */
        {MM_FT_IQ2_S, {MM_IQ2_XS, MM_IQ3_S, MM_Q5_K}, 1}};
    for (int gi = 0; gi < 4; gi++) {
        char q[512], qd[512], nm[64];
        snprintf(nm, sizeof nm, "m-%s.gguf", mm_gguf_ftype_name(grid[gi].f));
        snprintf(q, sizeof q, "%s", tp(nm));
        snprintf(nm, sizeof nm, "m-%s-deq.gguf", mm_gguf_ftype_name(grid[gi].f));
        snprintf(qd, sizeof qd, "%s", tp(nm));
        mm_gguf_convert_params qp = {.ftype = grid[gi].f, .force = 1, .no_tokenizer = 1, .imatrix = grid[gi].im ? imp : NULL};
        CHECK(mm_gguf_convert(dir, q, &qp, NULL) == 0, "quantize %s: %s", mm_gguf_ftype_name(grid[gi].f), mm_last_error());
        mm_gguf_convert_params dp = {.ftype = MM_FT_F32, .force = 1, .no_tokenizer = 1};
        CHECK(mm_gguf_convert(q, qd, &dp, NULL) == 0, "dequantize %s: %s", q, mm_last_error());
        mm_gguf *gq = mm_gguf_open(q);
        int cnt[MM_DTYPE_COUNT] = {0};
        for (int i = 0; gq && i < mm_gguf_n_tensors(gq); i++) cnt[mm_gguf_tensor(gq, i)->dtype]++;
        mm_gguf_close(gq);
        for (int k = 0; k < 3; k++)
            CHECK(cnt[grid[gi].has[k]] > 0, "%s: no %s tensor", mm_gguf_ftype_name(grid[gi].f), mm_dtype_name(grid[gi].has[k]));
        int packed = 0; /* a packed type (iq3_s's Q6_K output) prefills on 8-bit activations too */
        for (int d = 0; d < MM_DTYPE_COUNT; d++) packed |= cnt[d] > 0 && mm_pack_supported((mm_dtype)d);
        for (int step = 0; step < 2; step++) {
            int V1 = 0, V2 = 0;
            float *a = run(q, ids, n, step, &V1), *b = run(qd, ids, n, step, &V2);
            if (a && b && V1 == V2) {
                double md = 0, amax = 0;
                for (size_t i = 0; i < (size_t)n * V1; i++) md = fmax(md, fabs(a[i] - b[i])), amax = fmax(amax, fabs(b[i]));
                printf("%s %s: max |Δlogit| %.3g (max |logit| %.3g)\n", mm_gguf_ftype_name(grid[gi].f), step ? "decode" : "prefill", md, amax);
                const double bound = step || packed ? 0.05 * amax : 1e-4 * amax;
                CHECK(amax > 0 && md <= bound, "%s %s: max |Δlogit| %g > %g", mm_gguf_ftype_name(grid[gi].f), step ? "decode" : "prefill",
                      md, bound);
            }
            free(a);
            free(b);
        }
    }
    return mmt_done();
}
