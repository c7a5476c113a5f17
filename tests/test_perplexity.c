/* test_perplexity.c — `minimax perplexity` on golden case b (600 tokens, across the lightning block): the value equals
 * exp(mean NLL) computed from the golden logits of the scored half; the KL base file round-trips (a model against
 * its own base: KL 0, top-1 100%), matches a direct computation against another model, and refuses a base made
 * with another chunking. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include "mm_test.h"
#include "minimax.h"
#include "tools/mm_perplexity.h"

static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *x = malloc(sizeof(float) * n);
    if (!f || fread(x, sizeof(float), n, f) != n) {
        if (f) fclose(f);
        free(x);
        return NULL;
    }
    fclose(f);
    return x;
}

static double lsm(const float *x, int n, int y) { /* log-softmax of x at y, in double */
    double mx = x[0], s = 0;
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) s += exp(x[i] - mx);
    return x[y] - mx - log(s);
}

/* NLL mean over rows [first, C-1) of logits[C][V] for next tokens ids */
static double golden_nll(const float *lg, const int32_t *ids, int C, int V) {
    double s = 0;
    for (int i = C / 2; i < C - 1; i++) s -= lsm(lg + (size_t)i * V, V, ids[i + 1]);
    return s / (C - 1 - C / 2);
}

int main(void) {
    char dir[512], path[600], other[512];
    snprintf(dir, sizeof dir, "%s/golden/b_long_blocks", mmt_shared());
    snprintf(other, sizeof other, "%s/golden/a_small_mixed", mmt_shared());
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_error_t je;
    json_t *man = json_load_file(path, 0, &je);
    CHECK(man != NULL, "%s: %s", path, je.text);
    if (!man) return mmt_done();
    json_t *jids = json_object_get(json_array_get(json_object_get(man, "prompts"), 4), "input_ids");
    const int n = (int)json_array_size(jids), V = 512;
    CHECK(n == 600, "prompt 4 has %d ids", n);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(jids, (size_t)i));
    json_decref(man);
    snprintf(path, sizeof path, "%s/prompt4_logits.bin", dir);
    float *gold = read_f32(path, (size_t)n * V);
    CHECK(gold != NULL, "cannot read %s", path);
    mm_model *m = mm_model_load(dir, NULL), *m2 = mm_model_load(other, NULL);
    CHECK(m && m2, "load: %s", mm_last_error());
    if (!gold || !m || !m2) return mmt_done();

    /* one chunk of 600: positions 300..598 scored */
    mm_ppl_result r;
    CHECK(mm_perplexity(m, ids, n, &(mm_ppl_params){.n_ctx = 600}, &r) == 0, "%s", mm_last_error());
    double want = exp(golden_nll(gold, ids, 600, V));
    CHECK(r.n_scored == 299 && r.n_chunks == 1, "scored %lld in %d chunks", (long long)r.n_scored, r.n_chunks);
    CHECK(fabs(r.ppl / want - 1) < 1e-4, "perplexity %.8f vs %.8f from the golden logits", r.ppl, want);
    printf("golden b, 600 tokens: perplexity %.6f, from the golden logits %.6f\n", r.ppl, want);
    /* chunks of 200: the first chunk's scored rows are golden rows 100..198 (causal: the same prefix) */
    CHECK(mm_perplexity(m, ids, n, &(mm_ppl_params){.n_ctx = 200, .n_chunks = 1}, &r) == 0, "%s", mm_last_error());
    want = exp(golden_nll(gold, ids, 200, V));
    CHECK(fabs(r.ppl / want - 1) < 1e-4 && r.n_scored == 99, "chunk of 200: %.8f vs %.8f", r.ppl, want);

    /* the base file: written, then the same model against it, then another model */
    char base[600];
    snprintf(base, sizeof base, "%s/base.bin", mmt_tmpdir());
    mm_ppl_params bp = {.n_ctx = 200, .kl_base = base};
    CHECK(mm_perplexity(m, ids, n, &bp, &r) == 0 && r.base_written && r.n_chunks == 3, "write base: %s", mm_last_error());
    const double ppl_b = r.ppl;
    CHECK(mm_perplexity(m, ids, n, &bp, &r) == 0 && r.base_compared, "compare: %s", mm_last_error());
    CHECK(r.kl_mean == 0 && r.top1 == 1 && r.max_dlogp == 0 && r.base_ppl == ppl_b, "self: KL %g top-1 %g max %g",
          r.kl_mean, r.top1, r.max_dlogp);
    CHECK(mm_perplexity(m2, ids, n, &bp, &r) == 0 && r.base_compared, "other model: %s", mm_last_error());
    /* direct: KL(b || a) over the scored rows of the 3 chunks */
    float *la = malloc(sizeof(float) * 200 * V), *lb = malloc(sizeof(float) * 200 * V);
    int32_t seq[200] = {0};
    double kl = 0;
    int agree = 0, cnt = 0;
    for (int k = 0; k < 3; k++) {
        mm_model *mm[2] = {m, m2};
        float *out[2] = {lb, la};
        for (int w = 0; w < 2; w++) {
            mm_context *c = mm_context_new(mm[w], &(mm_context_params){.n_ctx = 200});
            int8_t want_all[200];
            memset(want_all, 1, sizeof want_all);
            mm_batch b = {.n_tokens = 200, .token = ids + k * 200, .seq = seq, .logits = want_all};
            mm_decode(c, &b, out[w]);
            mm_context_free(c);
        }
        for (int i = 100; i < 199; i++, cnt++) {
            const float *pb = lb + (size_t)i * V, *pa = la + (size_t)i * V;
            const double zb = lsm(pb, V, 0) - pb[0], za = lsm(pa, V, 0) - pa[0]; /* −log Σ exp, per row */
            double s = 0;
            for (int v = 0; v < V; v++) {
                const double lpb = pb[v] + zb, lpa = pa[v] + za;
                s += exp(lpb) * (lpb - lpa);
            }
            kl += s;
            int ab = 0, aa = 0;
            for (int v = 1; v < V; v++) ab = pb[v] > pb[ab] ? v : ab, aa = pa[v] > pa[aa] ? v : aa;
            agree += ab == aa;
        }
    }
    CHECK(fabs(r.kl_mean - kl / cnt) < 1e-6 * (1 + kl / cnt), "KL %.9f vs direct %.9f", r.kl_mean, kl / cnt);
    CHECK(fabs(r.top1 - (double)agree / cnt) < 1e-12 && r.kl_mean > 0 && r.top1 < 1, "top-1 %.6f vs %.6f", r.top1,
          (double)agree / cnt);
    printf("golden a against b's base: KL %.6f (direct %.6f), top-1 %.4f\n", r.kl_mean, kl / cnt, r.top1);
    /* a base made with another chunking is refused, and never overwritten */
    CHECK(mm_perplexity(m, ids, n, &(mm_ppl_params){.n_ctx = 100, .kl_base = base}, &r) < 0 &&
              strstr(mm_last_error(), "context"),
          "mismatched base: %s", mm_last_error());
    CHECK(mm_perplexity(m, ids, 150, &(mm_ppl_params){.n_ctx = 200}, &r) < 0, "too few tokens must fail");
    free(la), free(lb), free(ids), free(gold);
    mm_model_free(m);
    mm_model_free(m2);
    return mmt_done();
}
