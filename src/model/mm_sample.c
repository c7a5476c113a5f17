/* mm_sample.c — token sampling (greedy, repetition penalty, top-k, temperature, top-p, min-p).
 *
 * Pipeline of mm_sampler_sample(), in this order:
 *   1. sanitise: NaN logits become -inf, +inf logits become FLT_MAX (so a +inf token wins without
 *      producing inf-inf = NaN in the softmax; several +inf tokens share the probability equally);
 *      then the logit bias (a bias <= -100 bans the token: -inf);
 *   2. repetition penalty on the distinct tokens among the last repeat_last_n accepted tokens
 *      (-1: the whole history): a logit > 0 is divided by the penalty, a logit <= 0 multiplied;
 *   3. greedy shortcut when temperature == 0 or top_k == 1: argmax, ties to the lowest id,
 *      consuming no randomness;
 *   4. top-k by a bounded min-heap (O(n log k), no full sort), the k survivors then sorted;
 *   5. softmax of logit / temperature (exponentials in float, sums in double);
 *   6. top-p: the smallest best-first prefix whose cumulative probability >= top_p (at least one
 *      token). With top_k off no sort of the vocabulary is needed: a weighted quickselect finds the
 *      prefix in O(n) expected time (tokens below the min-p threshold are dropped first, as they can
 *      never survive step 7), and only the last small range is sorted;
 *   7. min-p: drop tokens with p < min_p * p_max;
 *   8. renormalise and draw with xoshiro256** (seeded through splitmix64), u in [0,1) from 53 bits.
 * Every step orders candidates by (logit descending, id ascending), so results are deterministic for
 * a given seed even with tied logits. If every logit is -inf/NaN the result is 0 and no randomness
 * is consumed.
 *
 * With a constraint (mm_sampler_set_constraint) the drawn token is checked; if refused, the logits as they
 * came in are restored, the constraint masks them and the pipeline runs again on what is left.
 *
 * Seed: params.seed == 0 selects the fixed default seed MM_SAMPLER_DEFAULT_SEED (0x4D696E694D617821,
 * "MiniMax!" in ASCII); any seed gives a reproducible sequence. mm_sampler_reset() clears the history
 * and restarts the generator from its initial seed, so a reset sampler behaves like a new one. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mm_common.h"

#define MM_SAMPLER_DEFAULT_SEED 0x4D696E694D617821ull

typedef struct {
    float logit;
    int32_t id;
    float p;        /* unnormalised probability exp((logit - max) / T) */
} mm_cand;

struct mm_sampler {
    mm_sampler_params p;
    int vocab;
    uint64_t seed;          /* effective seed (default substituted for 0) */
    uint64_t rng[4];        /* xoshiro256** state */
    /* history: ring of capacity hist_cap when repeat_last_n > 0, growing array when -1 */
    int32_t *hist;
    size_t hist_cap, hist_len, hist_pos;
    uint32_t *mark;         /* per-token stamp used to penalise each distinct token once */
    uint32_t stamp;
    mm_cand *cand;          /* scratch [vocab] */
    int32_t *bias_id;       /* [n_bias] logit bias */
    float *bias_val;
    int n_bias;
    mm_sampler_constraint con;  /* con.allows == NULL: none */
    float *saved;           /* [vocab] the logits as they came in (constraint retries) */
    int con_failed;
};

/* ---------------------------------------------------------------- PRNG */
static uint64_t mm_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t mm_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t mm_rng_next(uint64_t s[4]) {
    uint64_t r = mm_rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = mm_rotl64(s[3], 45);
    return r;
}

static double mm_rng_uniform(uint64_t s[4]) {   /* [0, 1), 53 random bits */
    return (double)(mm_rng_next(s) >> 11) * 0x1.0p-53;
}

static void mm_rng_seed(mm_sampler *s) {
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = mm_splitmix64(&x);
}

/* ---------------------------------------------------------------- params */
mm_sampler_params mm_sampler_default_params(void) {
    mm_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0;
    return p;
}

mm_sampler *mm_sampler_new(const mm_sampler_params *pp, int vocab_size) {
    mm_sampler_params p = pp ? *pp : mm_sampler_default_params();
    if (vocab_size <= 0) {
        mm_set_error("sampler: vocab_size must be > 0 (got %d)", vocab_size);
        return NULL;
    }
    if (!(p.temperature >= 0.0f) || !isfinite(p.temperature)) {
        mm_set_error("sampler: temperature must be a finite value >= 0 (got %g)", (double)p.temperature);
        return NULL;
    }
    if (p.top_k < 0) {
        mm_set_error("sampler: top_k must be >= 0 (got %d; 0 disables it)", p.top_k);
        return NULL;
    }
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
        mm_set_error("sampler: top_p must be in (0, 1] (got %g; 1 disables it)", (double)p.top_p);
        return NULL;
    }
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
        mm_set_error("sampler: min_p must be in [0, 1] (got %g; 0 disables it)", (double)p.min_p);
        return NULL;
    }
    if (!(p.repeat_penalty > 0.0f) || !isfinite(p.repeat_penalty)) {
        mm_set_error("sampler: repeat_penalty must be a finite value > 0 (got %g; 1 disables it)",
                     (double)p.repeat_penalty);
        return NULL;
    }
    if (p.repeat_last_n < -1) {
        mm_set_error("sampler: repeat_last_n must be >= -1 (got %d; -1 = whole history, 0 = off)",
                     p.repeat_last_n);
        return NULL;
    }
    mm_sampler *s = mm_xcalloc(1, sizeof *s);
    s->p = p;
    s->vocab = vocab_size;
    s->seed = p.seed ? p.seed : MM_SAMPLER_DEFAULT_SEED;
    mm_rng_seed(s);
    if (p.repeat_last_n > 0) {
        s->hist_cap = (size_t)p.repeat_last_n;
        s->hist = mm_xmalloc(s->hist_cap * sizeof *s->hist);
    }
    s->mark = mm_xcalloc((size_t)vocab_size, sizeof *s->mark);
    s->cand = mm_xmalloc((size_t)vocab_size * sizeof *s->cand);
    return s;
}

void mm_sampler_free(mm_sampler *s) {
    if (!s) return;
    free(s->hist);
    free(s->mark);
    free(s->cand);
    free(s->bias_id);
    free(s->bias_val);
    free(s->saved);
    free(s);
}

void mm_sampler_reset(mm_sampler *s) {
    if (!s) return;
    s->hist_len = 0;
    s->hist_pos = 0;
    mm_rng_seed(s);
}

void mm_sampler_accept(mm_sampler *s, int32_t token) {
    if (!s || token < 0 || token >= s->vocab) return;   /* out-of-vocabulary ids cannot be penalised */
    if (s->p.repeat_last_n == 0) return;
    if (s->p.repeat_last_n > 0) {                       /* ring of the last repeat_last_n tokens */
        s->hist[s->hist_pos] = token;
        s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
        if (s->hist_len < s->hist_cap) s->hist_len++;
        return;
    }
    if (s->hist_len == s->hist_cap) {                   /* -1: whole history, growing array */
        s->hist_cap = s->hist_cap ? s->hist_cap * 2 : 256;
        s->hist = mm_xrealloc(s->hist, s->hist_cap * sizeof *s->hist);
    }
    s->hist[s->hist_len++] = token;
}

/* ---------------------------------------------------------------- helpers */
/* Strict total order: a ranks before b. */
static inline int mm_cand_better(mm_cand a, mm_cand b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static int mm_cand_cmp(const void *pa, const void *pb) {
    const mm_cand *a = pa, *b = pb;
    if (mm_cand_better(*a, *b)) return -1;
    if (mm_cand_better(*b, *a)) return 1;
    return 0;
}

/* Min-heap (root = worst) helpers over h[0..n). */
static void mm_heap_down(mm_cand *h, size_t n, size_t i) {
    mm_cand x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && mm_cand_better(h[c], h[c + 1])) c++;   /* the worse child */
        if (!mm_cand_better(x, h[c])) break;                     /* x is no better: stays */
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Moves the k best of a[0..n) into a[0..k), sorted best first (k <= n). O(n log k). */
static void mm_select_top(mm_cand *a, size_t n, size_t k) {
    if (k == 0) return;
    if (k < n) {
        for (size_t i = k / 2; i-- > 0;) mm_heap_down(a, k, i);
        for (size_t i = k; i < n; i++) {
            if (mm_cand_better(a[i], a[0])) {
                mm_cand t = a[0];
                a[0] = a[i];
                a[i] = t;
                mm_heap_down(a, k, 0);
            }
        }
    }
    qsort(a, k, sizeof *a, mm_cand_cmp);
}

static void mm_apply_penalty(mm_sampler *s, float *logits) {
    if (s->p.repeat_penalty == 1.0f || s->p.repeat_last_n == 0 || s->hist_len == 0) return;
    if (++s->stamp == 0) {   /* wrapped: clear stale stamps */
        memset(s->mark, 0, (size_t)s->vocab * sizeof *s->mark);
        s->stamp = 1;
    }
    const float pen = s->p.repeat_penalty;
    for (size_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        if (s->mark[t] == s->stamp) continue;
        s->mark[t] = s->stamp;
        float l = logits[t];
        logits[t] = l > 0.0f ? l / pen : l * pen;
    }
}

/* Partitions c[lo..hi) around a median-of-three pivot: better ones first. Returns the pivot's index. */
static size_t mm_partition(mm_cand *c, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    mm_cand t;
#define MM_SWAP(a, b) (t = c[a], c[a] = c[b], c[b] = t)
    if (mm_cand_better(c[mid], c[lo])) MM_SWAP(mid, lo);
    if (mm_cand_better(c[last], c[lo])) MM_SWAP(last, lo);
    if (mm_cand_better(c[last], c[mid])) MM_SWAP(last, mid);
    MM_SWAP(mid, last);   /* the median is the pivot, parked at the end */
    const mm_cand pv = c[last];
    size_t w = lo;
    for (size_t i = lo; i < last; i++)
        if (mm_cand_better(c[i], pv)) { MM_SWAP(i, w); w++; }
    MM_SWAP(w, last);
#undef MM_SWAP
    return w;
}

/* Top-p without top-k: the smallest best-first prefix of c[0..n) whose mass reaches target, found by
 * a weighted quickselect in O(n) expected time; only the last small range is sorted. Returns the
 * prefix length (>= 1); c[0..len) then holds that set (not necessarily in order). */
static size_t mm_top_p_select(mm_cand *c, size_t n, double target) {
    size_t lo = 0, hi = n;
    double acc = 0.0;   /* mass of c[0..lo), all kept */
    while (hi - lo > 64) {
        size_t pos = mm_partition(c, lo, hi);
        double m = 0.0;
        for (size_t i = lo; i < pos; i++) m += c[i].p;
        if (acc + m >= target) { hi = pos; continue; }
        acc += m + c[pos].p;
        if (acc >= target) return pos + 1;
        lo = pos + 1;
    }
    qsort(c + lo, hi - lo, sizeof *c, mm_cand_cmp);
    for (size_t i = lo; i < hi; i++) {
        acc += c[i].p;
        if (acc >= target) return i + 1;
    }
    return hi > 0 ? hi : 1;   /* rounding: keep everything up to hi */
}

/* ---------------------------------------------------------------- bias and constraints */
int mm_sampler_set_logit_bias(mm_sampler *s, const int32_t *ids, const float *bias, int n) {
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= s->vocab) {
            mm_set_error("logit bias: token id %d is outside the vocabulary [0, %d)", ids[i], s->vocab);
            return -1;
        }
        if (!isfinite(bias[i])) {
            mm_set_error("logit bias: the bias of token %d is not a finite number", ids[i]);
            return -1;
        }
    }
    free(s->bias_id);
    free(s->bias_val);
    s->bias_id = NULL;
    s->bias_val = NULL;
    s->n_bias = n > 0 ? n : 0;
    if (n > 0) {
        s->bias_id = mm_xmalloc(sizeof(int32_t) * (size_t)n);
        s->bias_val = mm_xmalloc(sizeof(float) * (size_t)n);
        memcpy(s->bias_id, ids, sizeof(int32_t) * (size_t)n);
        memcpy(s->bias_val, bias, sizeof(float) * (size_t)n);
    }
    return 0;
}

void mm_sampler_set_constraint(mm_sampler *s, const mm_sampler_constraint *c) {
    if (c && c->allows && c->mask) {
        s->con = *c;
        if (!s->saved) s->saved = mm_xmalloc(sizeof(float) * (size_t)s->vocab);
    } else {
        memset(&s->con, 0, sizeof s->con);
    }
}

int mm_sampler_constraint_failed(const mm_sampler *s) { return s && s->con_failed; }

/* ---------------------------------------------------------------- sampling */
static int32_t sample_core(mm_sampler *s, float *logits) {
    const int V = s->vocab;

    for (int i = 0; i < V; i++) {
        float l = logits[i];
        if (l != l) logits[i] = -INFINITY;
        else if (l == INFINITY) logits[i] = FLT_MAX;
    }
    for (int i = 0; i < s->n_bias; i++) {
        float *l = &logits[s->bias_id[i]];
        *l = s->bias_val[i] <= -100.0f ? -INFINITY : *l + s->bias_val[i];
    }
    mm_apply_penalty(s, logits);

    if (s->p.temperature == 0.0f || s->p.top_k == 1) {
        int32_t best = 0;
        float bl = -INFINITY;
        for (int i = 0; i < V; i++)
            if (logits[i] > bl) { bl = logits[i]; best = i; }
        return best;   /* 0 if every logit is -inf */
    }

    /* candidates: every token with a logit above -inf */
    mm_cand *c = s->cand;
    size_t n = 0;
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) {
        float l = logits[i];
        if (l > -INFINITY) {
            c[n].logit = l;
            c[n].id = i;
            n++;
            if (l > mx) mx = l;
        }
    }
    if (n == 0) return 0;

    const double T = s->p.temperature;
    const double top_p = s->p.top_p;
    const float min_p = s->p.min_p;
    size_t kept = n;

    if (s->p.top_k > 0 && (size_t)s->p.top_k < n) {
        /* top-k, then softmax and top-p over the k survivors (sorted best first) */
        kept = (size_t)s->p.top_k;
        mm_select_top(c, n, kept);
        double sum = 0.0;
        for (size_t i = 0; i < kept; i++) { c[i].p = expf((float)((c[i].logit - mx) / T)); sum += c[i].p; }
        if (top_p < 1.0) {
            double cum = 0.0, target = top_p * sum;
            for (size_t i = 0; i < kept; i++) {
                cum += c[i].p;
                if (cum >= target) { kept = i + 1; break; }
            }
        }
    } else {
        /* no effective top-k: softmax over every candidate */
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) { c[i].p = expf((float)((c[i].logit - mx) / T)); sum += c[i].p; }
        if (top_p < 1.0) {
            /* Tokens below the min-p threshold can never survive, and they rank after every token
             * above it, so drop them before the (normalised over all) top-p selection. */
            if (min_p > 0.0f) {
                size_t w = 0;
                for (size_t i = 0; i < n; i++) if (c[i].p >= min_p) c[w++] = c[i];
                n = w;
            }
            kept = mm_top_p_select(c, n, top_p * sum);
        }
    }

    /* min-p relative to the most probable token, whose unnormalised probability is exp(0) = 1 */
    if (min_p > 0.0f) {
        size_t w = 0;
        for (size_t i = 0; i < kept; i++) if (c[i].p >= min_p) c[w++] = c[i];
        kept = w;   /* >= 1: the maximum has p = 1 >= min_p */
    }

    /* renormalise and draw */
    double sum = 0.0;
    for (size_t i = 0; i < kept; i++) sum += c[i].p;
    const double u = mm_rng_uniform(s->rng) * sum;
    double cum = 0.0;
    for (size_t i = 0; i < kept; i++) {
        cum += c[i].p;
        if (u < cum) return c[i].id;
    }
    for (size_t i = kept; i-- > 0;)   /* rounding fallback: last token with non-zero probability */
        if (c[i].p > 0.0f) return c[i].id;
    return c[0].id;
}

int32_t mm_sampler_sample(mm_sampler *s, float *logits) {
    if (!s || !logits) return 0;
    s->con_failed = 0;
    if (!s->con.allows) return sample_core(s, logits);
    memcpy(s->saved, logits, sizeof(float) * (size_t)s->vocab);
    int32_t t = sample_core(s, logits);
    if (s->con.allows(s->con.ctx, t)) return t;
    memcpy(logits, s->saved, sizeof(float) * (size_t)s->vocab);
    int n = s->con.mask(s->con.ctx, logits, s->vocab);
    t = sample_core(s, logits);
    if (n <= 0 || !s->con.allows(s->con.ctx, t)) s->con_failed = 1;
    return t;
}
