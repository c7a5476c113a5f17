/* test_sample.c — the token sampler: defaults, validation, greedy, seeding, top-k/top-p/min-p,
 * temperature (chi-square goodness of fit), repetition penalty, NaN/inf handling. */
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimax.h"
#include "mm_test.h"

/* Test-local PRNG for generating logits (independent of the sampler's). */
static uint64_t trng = 0x1234567887654321ull;
static double tr_uniform(void) {
    trng ^= trng << 13;
    trng ^= trng >> 7;
    trng ^= trng << 17;
    return (double)(trng >> 11) * 0x1.0p-53;
}
static void rand_logits(float *l, int n, float scale) {
    for (int i = 0; i < n; i++) l[i] = (float)((tr_uniform() * 2.0 - 1.0) * scale);
}

static int ref_argmax(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (l[i] > l[b]) b = i;
    return b;
}

static mm_sampler_params params(float temp, int top_k, float top_p, float min_p, uint64_t seed) {
    mm_sampler_params p = mm_sampler_default_params();
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = seed;
    return p;
}

/* Samples once from a copy of logits (the sampler may modify its input). */
static int sample_copy(mm_sampler *s, const float *logits, int n, float *scratch) {
    memcpy(scratch, logits, (size_t)n * sizeof *scratch);
    return mm_sampler_sample(s, scratch);
}

/* chi-square upper quantiles with tail probability 1e-6, by degrees of freedom 1..7. */
static const double chi2_1e6[8] = {0, 23.928, 27.631, 30.665, 33.377, 35.888, 38.25, 40.522};

/* Pearson statistic of counts against expected probabilities; cells with expected 0 must have 0
 * counts (else the statistic is +inf). *df gets (non-zero cells - 1). */
static double chi_square(const long *cnt, const double *prob, int n, long draws, int *df) {
    double x = 0.0;
    int cells = 0;
    for (int i = 0; i < n; i++) {
        if (prob[i] <= 0.0) {
            if (cnt[i]) return INFINITY;
            continue;
        }
        double e = prob[i] * (double)draws;
        x += ((double)cnt[i] - e) * ((double)cnt[i] - e) / e;
        cells++;
    }
    *df = cells - 1;
    return x;
}

static void softmax_T(const float *l, int n, double T, double *out) {
    double mx = l[0], sum = 0.0;
    for (int i = 1; i < n; i++) if (l[i] > mx) mx = l[i];
    for (int i = 0; i < n; i++) { out[i] = exp(((double)l[i] - mx) / T); sum += out[i]; }
    for (int i = 0; i < n; i++) out[i] /= sum;
}

static void test_defaults(void) {
    mm_sampler_params p = mm_sampler_default_params();
    CHECK(p.temperature == 0.8f, "temperature %g", (double)p.temperature);
    CHECK(p.top_k == 40, "top_k %d", p.top_k);
    CHECK(p.top_p == 0.95f, "top_p %g", (double)p.top_p);
    CHECK(p.min_p == 0.05f, "min_p %g", (double)p.min_p);
    CHECK(p.repeat_penalty == 1.0f, "repeat_penalty %g", (double)p.repeat_penalty);
    CHECK(p.repeat_last_n == 64, "repeat_last_n %d", p.repeat_last_n);
    CHECK(p.seed == 0, "seed %llu", (unsigned long long)p.seed);
    mm_sampler *s = mm_sampler_new(&p, 100);
    CHECK(s != NULL, "defaults rejected: %s", mm_last_error());
    mm_sampler_free(s);
    s = mm_sampler_new(NULL, 100);   /* NULL params = defaults */
    CHECK(s != NULL, "NULL params rejected: %s", mm_last_error());
    mm_sampler_free(s);
}

static void expect_invalid(mm_sampler_params p, int vocab, const char *word) {
    mm_sampler *s = mm_sampler_new(&p, vocab);
    CHECK(s == NULL, "accepted invalid %s", word);
    CHECK(strstr(mm_last_error(), word) != NULL, "error for %s: '%s'", word, mm_last_error());
    mm_sampler_free(s);
}

static void test_invalid(void) {
    mm_sampler_params d = mm_sampler_default_params(), p;
    p = d; p.temperature = -0.1f; expect_invalid(p, 10, "temperature");
    p = d; p.temperature = NAN; expect_invalid(p, 10, "temperature");
    p = d; p.temperature = INFINITY; expect_invalid(p, 10, "temperature");
    p = d; p.top_k = -1; expect_invalid(p, 10, "top_k");
    p = d; p.top_p = 0.0f; expect_invalid(p, 10, "top_p");
    p = d; p.top_p = 1.01f; expect_invalid(p, 10, "top_p");
    p = d; p.top_p = NAN; expect_invalid(p, 10, "top_p");
    p = d; p.min_p = -0.01f; expect_invalid(p, 10, "min_p");
    p = d; p.min_p = 1.5f; expect_invalid(p, 10, "min_p");
    p = d; p.repeat_penalty = 0.0f; expect_invalid(p, 10, "repeat_penalty");
    p = d; p.repeat_penalty = -1.0f; expect_invalid(p, 10, "repeat_penalty");
    p = d; p.repeat_last_n = -2; expect_invalid(p, 10, "repeat_last_n");
    expect_invalid(d, 0, "vocab_size");
    expect_invalid(d, -5, "vocab_size");
    /* the boundaries themselves are valid */
    p = d; p.temperature = 0.0f; p.top_p = 1.0f; p.min_p = 1.0f; p.top_k = 0; p.repeat_last_n = -1;
    mm_sampler *s = mm_sampler_new(&p, 1);
    CHECK(s != NULL, "boundary params rejected: %s", mm_last_error());
    mm_sampler_free(s);
}

static void test_greedy(void) {
    enum { V = 5000 };
    static float l[V], tmp[V];
    mm_sampler_params p = params(0.0f, 40, 0.95f, 0.05f, 7);
    mm_sampler *s = mm_sampler_new(&p, V);
    p.temperature = 1.0f; p.top_k = 1;
    mm_sampler *k1 = mm_sampler_new(&p, V);
    int bad = 0, badk = 0;
    for (int t = 0; t < 50; t++) {
        rand_logits(l, V, 5.0f);
        int want = ref_argmax(l, V);
        if (sample_copy(s, l, V, tmp) != want) bad++;
        if (sample_copy(k1, l, V, tmp) != want) badk++;
    }
    CHECK(bad == 0, "temperature 0 differs from argmax %d/50 times", bad);
    CHECK(badk == 0, "top_k 1 differs from argmax %d/50 times", badk);
    /* ties go to the lowest id */
    for (int i = 0; i < V; i++) l[i] = 0.0f;
    l[17] = l[300] = l[4000] = 3.0f;
    CHECK(sample_copy(s, l, V, tmp) == 17, "tie -> %d", sample_copy(s, l, V, tmp));
    CHECK(sample_copy(k1, l, V, tmp) == 17, "tie (top_k 1) -> %d", sample_copy(k1, l, V, tmp));
    mm_sampler_free(s);
    mm_sampler_free(k1);
}

static void draw_seq(uint64_t seed, int *out, int n) {
    enum { V = 1000 };
    static float l[V], tmp[V];
    uint64_t save = trng;
    trng = 99;
    rand_logits(l, V, 2.0f);
    trng = save;
    mm_sampler_params p = params(1.0f, 0, 1.0f, 0.0f, seed);
    mm_sampler *s = mm_sampler_new(&p, V);
    for (int i = 0; i < n; i++) out[i] = sample_copy(s, l, V, tmp);
    mm_sampler_free(s);
}

static void test_seeds(void) {
    enum { N = 200 };
    int a[N], b[N], c[N], z1[N], z2[N];
    draw_seq(42, a, N);
    draw_seq(42, b, N);
    draw_seq(43, c, N);
    draw_seq(0, z1, N);
    draw_seq(0, z2, N);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed gave different sequences");
    int diff = 0, diffz = 0;
    for (int i = 0; i < N; i++) { diff += a[i] != c[i]; diffz += a[i] != z1[i]; }
    CHECK(diff > N / 2, "seeds 42 and 43 agree on %d/%d draws", N - diff, N);
    CHECK(memcmp(z1, z2, sizeof z1) == 0, "seed 0 (default seed) not reproducible");
    CHECK(diffz > N / 2, "seed 0 and 42 agree on %d/%d draws", N - diffz, N);
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) if (a[j] == a[i]) { seen = 1; break; }
        distinct += !seen;
    }
    CHECK(distinct > 50, "only %d distinct tokens in %d draws at T=1", distinct, N);

    /* reset restarts the sequence (and clears the history) */
    enum { V = 64 };
    float l[V], tmp[V];
    rand_logits(l, V, 1.0f);
    mm_sampler_params p = params(1.0f, 0, 1.0f, 0.0f, 5);
    mm_sampler *s = mm_sampler_new(&p, V);
    int first[20], again[20];
    for (int i = 0; i < 20; i++) first[i] = sample_copy(s, l, V, tmp);
    mm_sampler_reset(s);
    for (int i = 0; i < 20; i++) again[i] = sample_copy(s, l, V, tmp);
    CHECK(memcmp(first, again, sizeof first) == 0, "reset does not restart the sequence");
    mm_sampler_free(s);
}

static void test_top_p_tiny(void) {
    enum { V = 3000 };
    static float l[V], tmp[V];
    int bad0 = 0, bad40 = 0;
    mm_sampler_params p0 = params(1.5f, 0, 1e-6f, 0.0f, 11);
    mm_sampler_params p40 = params(1.5f, 40, 1e-6f, 0.0f, 11);
    mm_sampler *s0 = mm_sampler_new(&p0, V), *s40 = mm_sampler_new(&p40, V);
    for (int t = 0; t < 200; t++) {
        rand_logits(l, V, 3.0f);
        int want = ref_argmax(l, V);
        bad0 += sample_copy(s0, l, V, tmp) != want;
        bad40 += sample_copy(s40, l, V, tmp) != want;
    }
    CHECK(bad0 == 0, "top_p tiny (top_k off) missed the argmax %d/200", bad0);
    CHECK(bad40 == 0, "top_p tiny (top_k 40) missed the argmax %d/200", bad40);
    mm_sampler_free(s0);
    mm_sampler_free(s40);
}

/* Counts draws over a small vocabulary. */
static void count_draws(const mm_sampler_params *p, const float *l, int n, long draws, long *cnt) {
    float tmp[64];
    mm_sampler *s = mm_sampler_new(p, n);
    memset(cnt, 0, (size_t)n * sizeof *cnt);
    for (long d = 0; d < draws; d++) {
        int t = sample_copy(s, l, n, tmp);
        if (t >= 0 && t < n) cnt[t]++;
    }
    mm_sampler_free(s);
}

static void test_filters(void) {
    /* softmax(l) at T=1: ~ [0.481, 0.291, 0.177, 0.032, 0.018] (min_p 0.1 -> threshold 0.048) */
    const float l[5] = {2.0f, 1.5f, 1.0f, -0.7f, -1.3f};
    long cnt[5];
    const long D = 20000;
    mm_sampler_params p = params(1.0f, 0, 1.0f, 0.1f, 3);
    count_draws(&p, l, 5, D, cnt);
    CHECK(cnt[3] == 0 && cnt[4] == 0, "min_p: filtered tokens drawn %ld, %ld times", cnt[3], cnt[4]);
    CHECK(cnt[0] > 0 && cnt[1] > 0 && cnt[2] > 0, "min_p: kept tokens %ld %ld %ld", cnt[0], cnt[1], cnt[2]);

    /* top_k 2 */
    p = params(1.0f, 2, 1.0f, 0.0f, 3);
    count_draws(&p, l, 5, D, cnt);
    CHECK(cnt[2] == 0 && cnt[3] == 0 && cnt[4] == 0, "top_k 2 drew %ld %ld %ld", cnt[2], cnt[3], cnt[4]);
    CHECK(cnt[0] > 0 && cnt[1] > 0, "top_k 2 kept %ld %ld", cnt[0], cnt[1]);

    /* top_p 0.7: 0.481 < 0.7 <= 0.772 -> {0, 1}; with top_k 0 and with top_k 4 */
    for (int k = 0; k <= 4; k += 4) {
        p = params(1.0f, k, 0.7f, 0.0f, 3);
        count_draws(&p, l, 5, D, cnt);
        CHECK(cnt[2] == 0 && cnt[3] == 0 && cnt[4] == 0, "top_p 0.7 (top_k %d) drew %ld %ld %ld", k, cnt[2],
              cnt[3], cnt[4]);
        CHECK(cnt[0] > 0 && cnt[1] > 0, "top_p 0.7 (top_k %d) kept %ld %ld", k, cnt[0], cnt[1]);
    }
}

static void test_temperature_chi2(void) {
    const float l[8] = {1.0f, 0.5f, 0.2f, -0.3f, 0.8f, -1.0f, 0.0f, 1.2f};
    const long D = 200000;
    long cnt[8];
    double prob[8];
    int df;
    const float temps[3] = {0.6f, 1.0f, 1.8f};
    for (int t = 0; t < 3; t++) {
        mm_sampler_params p = params(temps[t], 0, 1.0f, 0.0f, 1000 + (uint64_t)t);
        count_draws(&p, l, 8, D, cnt);
        softmax_T(l, 8, temps[t], prob);
        double x = chi_square(cnt, prob, 8, D, &df);
        CHECK(df == 7 && x < chi2_1e6[7], "T=%g: chi2 %.2f (df %d) >= %.2f", (double)temps[t], x, df, chi2_1e6[7]);
        /* the test has power: the same counts are far from the wrong temperature's distribution */
        softmax_T(l, 8, temps[t] * 1.25, prob);
        double xw = chi_square(cnt, prob, 8, D, &df);
        CHECK(xw > 10 * chi2_1e6[7], "T=%g: counts fit the wrong temperature too (chi2 %.2f)", (double)temps[t], xw);
    }

    /* whole pipeline: top_k 6 -> softmax(T=1.3) -> top_p 0.85 -> min_p 0.15, expected computed here */
    {
        const double T = 1.3, top_p = 0.85, min_p = 0.15;
        int order[8] = {7, 0, 4, 1, 2, 6, 3, 5};   /* l sorted descending */
        double e[8] = {0}, sum = 0.0;
        for (int i = 0; i < 6; i++) sum += exp((l[order[i]] - l[7]) / T);
        int kept = 0;
        double cum = 0.0;
        for (int i = 0; i < 6; i++) {
            double q = exp((l[order[i]] - l[7]) / T) / sum;
            cum += q;
            kept = i + 1;
            if (cum >= top_p) break;
        }
        double pmax = 1.0 / sum, s2 = 0.0;
        for (int i = 0; i < kept; i++) {
            double q = exp((l[order[i]] - l[7]) / T) / sum;
            if (q >= min_p * pmax) { e[order[i]] = q; s2 += q; }
        }
        for (int i = 0; i < 8; i++) e[i] /= s2;
        int nz = 0;
        for (int i = 0; i < 8; i++) nz += e[i] > 0;
        CHECK(nz >= 3 && nz < 6, "pipeline reference keeps %d tokens (test setup)", nz);
        mm_sampler_params p = params((float)T, 6, (float)top_p, (float)min_p, 77);
        count_draws(&p, l, 8, D, cnt);
        double x = chi_square(cnt, e, 8, D, &df);
        CHECK(df >= 1 && x < chi2_1e6[df], "pipeline: chi2 %.2f (df %d)", x, df);
    }
}

static const float *sort_logits;
static int cmp_by_logit(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    float lx = sort_logits[x], ly = sort_logits[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return (x > y) - (x < y);
}

/* top-p (top_k off) and min-p over 400 tokens against a full-sort reference: the drawn set must be
 * exactly the reference set (nothing outside), and frequencies, binned by rank into 8 groups, must fit. */
static void test_top_p_distribution(int top_k, float top_p, float min_p, double T) {
    enum { V = 400 };
    float l[V], tmp[V];
    int idx[V];
    double pr[V], e[V];
    const long D = 200000;
    rand_logits(l, V, 3.0f);
    for (int i = 0; i < V; i++) idx[i] = i;
    sort_logits = l;
    qsort(idx, V, sizeof *idx, cmp_by_logit);
    /* reference: top-k by rank, softmax over the survivors, top-p prefix, min-p */
    int K = top_k > 0 && top_k < V ? top_k : V;
    double z = 0.0;
    for (int i = 0; i < V; i++) pr[i] = 0.0;
    for (int i = 0; i < K; i++) { pr[idx[i]] = exp((l[idx[i]] - l[idx[0]]) / T); z += pr[idx[i]]; }
    for (int i = 0; i < K; i++) pr[idx[i]] /= z;
    int set_n = 0;
    double cum = 0.0;
    for (int i = 0; i < K; i++) {
        cum += pr[idx[i]];
        set_n = i + 1;
        if (cum >= top_p) break;
    }
    double pmax = pr[idx[0]], s2 = 0.0;
    int rank[V];
    for (int i = 0; i < V; i++) { e[i] = 0.0; rank[idx[i]] = i; }
    int kept = 0;
    for (int i = 0; i < set_n; i++)
        if (pr[idx[i]] >= min_p * pmax) { e[idx[i]] = pr[idx[i]]; s2 += pr[idx[i]]; kept++; }
    CHECK(kept > 70, "test setup: only %d tokens kept", kept);   /* > 64: the quickselect partitions */
    /* 8 bins of consecutive ranks among the kept tokens */
    double be[8] = {0};
    long bc[8] = {0};
    for (int i = 0; i < V; i++) if (e[i] > 0) be[rank[i] * 8 / kept] += e[i] / s2;
    mm_sampler_params p = params((float)T, top_k, top_p, min_p, 2024);
    mm_sampler *s = mm_sampler_new(&p, V);
    long outside = 0, cnt[V] = {0};
    for (long d = 0; d < D; d++) {
        int t = sample_copy(s, l, V, tmp);
        if (t < 0 || t >= V || e[t] == 0.0) { outside++; continue; }
        bc[rank[t] * 8 / kept]++;
        cnt[t]++;
    }
    mm_sampler_free(s);
    int missing = 0;   /* nothing in the set is left out: P(no draw | 30 expected) = e^-30 */
    for (int i = 0; i < V; i++) missing += e[i] / s2 * (double)D >= 30.0 && cnt[i] == 0;
    CHECK(missing == 0, "top_p %g min_p %g: %d tokens of the reference set never drawn", (double)top_p,
          (double)min_p, missing);
    CHECK(outside == 0, "top_p %g min_p %g: %ld draws outside the reference set", (double)top_p, (double)min_p,
          outside);
    int df;
    double x = chi_square(bc, be, 8, D, &df);
    CHECK(df == 7 && x < chi2_1e6[7], "top_p %g min_p %g: chi2 %.2f (df %d)", (double)top_p, (double)min_p, x, df);
}

static void test_large_vocab(void) {
    /* vocab 200064: the incremental top-p and heap top-k must match a full-sort reference */
    enum { V = 200064 };
    float *l = malloc(V * sizeof *l), *tmp = malloc(V * sizeof *tmp);
    int *idx = malloc(V * sizeof *idx);
    char *in_set = calloc(V, 1);
    rand_logits(l, V, 4.0f);
    /* reference: sort ids by logit descending (ties by id); top-p set at T = 1 */
    for (int i = 0; i < V; i++) idx[i] = i;
    sort_logits = l;
    qsort(idx, V, sizeof *idx, cmp_by_logit);
    double mx = l[idx[0]], sum = 0.0;
    for (int i = 0; i < V; i++) sum += exp(l[i] - mx);
    double cum = 0.0;
    int set_n = 0;
    for (int i = 0; i < V; i++) {
        cum += exp(l[idx[i]] - mx) / sum;
        in_set[idx[i]] = 1;
        set_n++;
        if (cum >= 0.5) break;
    }
    mm_sampler_params p = params(1.0f, 0, 0.5f, 0.0f, 9);
    mm_sampler *s = mm_sampler_new(&p, V);
    int out = 0;
    for (int d = 0; d < 300; d++) {
        int t = sample_copy(s, l, V, tmp);
        if (t < 0 || t >= V || !in_set[t]) out++;
    }
    CHECK(out == 0, "top_p 0.5 over %d-token set: %d draws outside it", set_n, out);
    CHECK(set_n > 1000, "test setup: top-p set only %d tokens", set_n);   /* exercises the quickselect */
    mm_sampler_free(s);

    /* top_k 40 on the full vocabulary */
    p = params(1.0f, 40, 1.0f, 0.0f, 9);
    s = mm_sampler_new(&p, V);
    memset(in_set, 0, V);
    for (int i = 0; i < 40; i++) in_set[idx[i]] = 1;
    out = 0;
    int seen[40] = {0}, nseen = 0;
    for (int d = 0; d < 2000; d++) {
        int t = sample_copy(s, l, V, tmp);
        if (t < 0 || t >= V || !in_set[t]) { out++; continue; }
        for (int i = 0; i < 40; i++) if (idx[i] == t && !seen[i]) { seen[i] = 1; nseen++; }
    }
    CHECK(out == 0, "top_k 40: %d draws outside the top 40", out);
    CHECK(nseen >= 30, "top_k 40: only %d of the top 40 ever drawn", nseen);
    mm_sampler_free(s);

    /* flat logits with top_p: every token equally likely, the set grows to the whole vocabulary */
    for (int i = 0; i < V; i++) l[i] = 0.25f;
    p = params(1.0f, 0, 0.9f, 0.0f, 9);
    s = mm_sampler_new(&p, V);
    int below = 0;
    for (int d = 0; d < 200; d++) {
        int t = sample_copy(s, l, V, tmp);
        if (t < 0 || t >= V) out++;
        else if (t < (int)(0.9 * V) + 1) below++;
    }
    CHECK(out == 0 && below == 200, "flat top_p 0.9: %d invalid, %d/200 in the lowest-id 90%%", out, below);
    mm_sampler_free(s);
    free(l); free(tmp); free(idx); free(in_set);
}

static mm_sampler *penalty_sampler(float pen, int last_n) {
    mm_sampler_params p = params(0.0f, 40, 0.95f, 0.05f, 1);
    p.repeat_penalty = pen;
    p.repeat_last_n = last_n;
    return mm_sampler_new(&p, 100);
}

static void test_repeat_penalty(void) {
    float l[100], tmp[100];
    for (int i = 0; i < 100; i++) l[i] = -5.0f;
    l[0] = 2.0f; l[1] = 1.9f;
    mm_sampler *s = penalty_sampler(1.2f, 64);
    CHECK(sample_copy(s, l, 100, tmp) == 0, "no history: argmax 0");
    mm_sampler_accept(s, 0);
    CHECK(sample_copy(s, l, 100, tmp) == 1, "penalised 0 (2/1.2 < 1.9) should give 1");
    mm_sampler_reset(s);
    CHECK(sample_copy(s, l, 100, tmp) == 0, "reset clears the history");
    mm_sampler_free(s);

    /* penalty off (1.0) and window off (0) */
    s = penalty_sampler(1.0f, 64);
    mm_sampler_accept(s, 0);
    CHECK(sample_copy(s, l, 100, tmp) == 0, "penalty 1.0 must be off");
    mm_sampler_free(s);
    s = penalty_sampler(1.2f, 0);
    mm_sampler_accept(s, 0);
    CHECK(sample_copy(s, l, 100, tmp) == 0, "repeat_last_n 0 must be off");
    mm_sampler_free(s);

    /* distinct tokens: 0 accepted three times is penalised once: 2/1.2 = 1.667 > 1.6 */
    l[1] = 1.6f;
    s = penalty_sampler(1.2f, 64);
    for (int i = 0; i < 3; i++) mm_sampler_accept(s, 0);
    CHECK(sample_copy(s, l, 100, tmp) == 0, "a repeated token must be penalised once, not per occurrence");
    mm_sampler_free(s);
    l[1] = 1.9f;

    /* negative logits are multiplied: -1.0 * 1.2 = -1.2 < -1.1 */
    float n2[100];
    for (int i = 0; i < 100; i++) n2[i] = -5.0f;
    n2[3] = -1.0f; n2[4] = -1.1f;
    s = penalty_sampler(1.2f, 64);
    CHECK(sample_copy(s, n2, 100, tmp) == 3, "negative: no history");
    mm_sampler_accept(s, 3);
    CHECK(sample_copy(s, n2, 100, tmp) == 4, "negative logit must be multiplied by the penalty");
    mm_sampler_free(s);

    /* window: 0 then 4 other tokens with repeat_last_n 4 -> 0 is out of the window */
    s = penalty_sampler(1.2f, 4);
    mm_sampler_accept(s, 0);
    for (int i = 0; i < 3; i++) mm_sampler_accept(s, 50 + i);
    CHECK(sample_copy(s, l, 100, tmp) == 1, "0 is still inside a 4-token window");
    mm_sampler_accept(s, 60);
    CHECK(sample_copy(s, l, 100, tmp) == 0, "0 has left the 4-token window");
    mm_sampler_free(s);

    /* whole history (-1) keeps it */
    s = penalty_sampler(1.2f, -1);
    mm_sampler_accept(s, 0);
    for (int i = 0; i < 1000; i++) mm_sampler_accept(s, 10 + i % 80);
    CHECK(sample_copy(s, l, 100, tmp) == 1, "repeat_last_n -1 must cover the whole history");
    mm_sampler_accept(s, 12345);   /* out of vocabulary: ignored, no crash */
    mm_sampler_accept(s, -3);
    CHECK(sample_copy(s, l, 100, tmp) == 1, "out-of-vocabulary accept changed the result");
    mm_sampler_free(s);

    /* penalty < 1 boosts: 1.9 / 0.5 = 3.8 > 2 */
    s = penalty_sampler(0.5f, 64);
    mm_sampler_accept(s, 1);
    CHECK(sample_copy(s, l, 100, tmp) == 1, "penalty 0.5 should boost token 1");
    mm_sampler_free(s);
}

static void test_nan_inf(void) {
    enum { V = 16 };
    float l[V], tmp[V];
    mm_sampler_params pg = params(0.0f, 0, 1.0f, 0.0f, 1);
    mm_sampler_params pr = params(1.0f, 0, 1.0f, 0.0f, 1);
    mm_sampler_params pd = mm_sampler_default_params();
    mm_sampler *g = mm_sampler_new(&pg, V), *r = mm_sampler_new(&pr, V), *d = mm_sampler_new(&pd, V);

    /* NaN never chosen */
    for (int i = 0; i < V; i++) l[i] = (float)i * 0.1f;
    l[15] = NAN; l[0] = NAN; l[7] = -INFINITY;
    CHECK(sample_copy(g, l, V, tmp) == 14, "greedy with NaN -> %d", sample_copy(g, l, V, tmp));
    int bad = 0;
    for (int i = 0; i < 5000; i++) {
        int t = sample_copy(r, l, V, tmp), u = sample_copy(d, l, V, tmp);
        bad += t == 0 || t == 15 || t == 7 || t < 0 || t >= V;
        bad += u == 0 || u == 15 || u == 7 || u < 0 || u >= V;
    }
    CHECK(bad == 0, "NaN/-inf token drawn %d times", bad);

    /* +inf wins */
    for (int i = 0; i < V; i++) l[i] = 1.0f;
    l[9] = INFINITY;
    CHECK(sample_copy(g, l, V, tmp) == 9, "greedy +inf");
    bad = 0;
    for (int i = 0; i < 1000; i++) bad += sample_copy(r, l, V, tmp) != 9;
    CHECK(bad == 0, "+inf token not drawn %d times", bad);
    l[3] = INFINITY;   /* two +inf tokens share the mass */
    long c3 = 0, c9 = 0;
    for (int i = 0; i < 4000; i++) {
        int t = sample_copy(r, l, V, tmp);
        c3 += t == 3;
        c9 += t == 9;
    }
    CHECK(c3 + c9 == 4000 && c3 > 1500 && c9 > 1500, "two +inf tokens: %ld %ld", c3, c9);

    /* all NaN / all -inf -> 0, deterministically, consuming no randomness */
    mm_sampler *fresh = mm_sampler_new(&pr, V);
    for (int i = 0; i < V; i++) l[i] = (i & 1) ? NAN : -INFINITY;
    CHECK(sample_copy(g, l, V, tmp) == 0, "greedy all NaN/-inf");
    mm_sampler_reset(r);
    int z = 0;
    for (int i = 0; i < 10; i++) z += sample_copy(r, l, V, tmp) != 0;
    z += sample_copy(d, l, V, tmp) != 0;
    CHECK(z == 0, "all NaN/-inf: %d non-zero results", z);
    for (int i = 0; i < V; i++) l[i] = NAN;
    CHECK(sample_copy(r, l, V, tmp) == 0 && sample_copy(g, l, V, tmp) == 0, "all NaN");
    rand_logits(l, V, 1.0f);
    int same = 1;
    for (int i = 0; i < 50; i++) same &= sample_copy(r, l, V, tmp) == sample_copy(fresh, l, V, tmp);
    CHECK(same, "all-invalid logits consumed randomness");
    mm_sampler_free(fresh);

    /* temperature extremely small but > 0: behaves like greedy, no NaN */
    mm_sampler_params pt = params(1e-30f, 0, 1.0f, 0.0f, 1);
    mm_sampler *t = mm_sampler_new(&pt, V);
    rand_logits(l, V, 1.0f);
    int want = ref_argmax(l, V);
    bad = 0;
    for (int i = 0; i < 100; i++) bad += sample_copy(t, l, V, tmp) != want;
    CHECK(bad == 0, "tiny temperature missed the argmax %d/100", bad);
    mm_sampler_free(t);

    /* huge logits (no overflow to NaN) */
    for (int i = 0; i < V; i++) l[i] = -FLT_MAX;
    l[5] = FLT_MAX;
    CHECK(sample_copy(r, l, V, tmp) == 5, "FLT_MAX logit");
    mm_sampler_free(g);
    mm_sampler_free(r);
    mm_sampler_free(d);
}

int main(void) {
    test_defaults();
    test_invalid();
    test_greedy();
    test_seeds();
    test_top_p_tiny();
    test_filters();
    test_temperature_chi2();
    test_top_p_distribution(0, 0.7f, 0.0f, 1.0);
    test_top_p_distribution(0, 0.9f, 0.03f, 1.5);
    test_top_p_distribution(150, 0.8f, 0.01f, 1.2);
    test_large_vocab();
    test_repeat_penalty();
    test_nan_inf();
    return mmt_done();
}
