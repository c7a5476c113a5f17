/* mm_quant_grid.c — quantizers for llama.cpp's grid i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S (and IQ1_S, IQ1_M:
 * their own split search on the same codebook tables, further below; layouts in mm_quant.h, codebooks in
 * mm_iq_tables.c, decoding in mm_quant_iq.c), after the idea of llama.cpp's
 * quantize_row_iq*_impl: per group of 8 (IQ2) or 4 (IQ3) elements the magnitudes are snapped to the codebook at a
 * trial scale (the pattern of nearest levels when it is an entry, else the best of the entries near it by weighted
 * error), the signs come from the data (XXS: an odd count of negatives per 8 flips the least important element, as
 * the stored 7-bit sign index implies an even count), each sub-block's scale is the best of a set of trial scales
 * by weighted least squares, and the f16 super-block scale (the best of 3 candidates by weighted error) with its
 * 4-bit sub-block codes is quantized last, the entries requantized against the scales as stored. */
#include "kernels/mm_quant.h"
#include "kernels/mm_iq_tables.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

/* A codebook as patterns of level indices: n entries of gs magnitudes, each one of nlev levels lev[] (ascending).
 * A pattern's key is Σ idx_j·nlev^j; map[key] is the entry with that pattern, or −1 − o where nb[o] is the count
 * and nb[o+1..] the entries nearest to the pattern (every entry within its two smallest distances). */
typedef struct {
    int gs, nlev, n;
    float lev[8], mid[7]; /* levels and the midpoints between neighbours */
    float *gv;            /* [n·gs] magnitudes of entry i */
    int32_t *map;         /* [nlev^gs] */
    uint16_t *nb;
} grid_book;

/* Per type: its codebook, the elements per group (gs) and per scale (sub), the sub-block scale
 * d·(a + b·l) (l the 4-bit code), and whether the signs keep an even count of negatives per 8 (XXS). */
typedef struct {
    int gs, sub, parity;
    float a, b;
} grid_kind;

enum { G_IQ2XXS, G_IQ3XXS, G_IQ3S, G_IQ2S, G_IQ2XS, G_IQ1, G_COUNT };
static const grid_kind kinds[G_COUNT] = {
    [G_IQ2XXS] = {8, 32, 1, 0.125f, 0.25f}, [G_IQ3XXS] = {4, 32, 1, 0.25f, 0.5f}, [G_IQ3S] = {4, 32, 0, 1.0f, 2.0f},
    [G_IQ2S] = {8, 16, 0, 0.125f, 0.25f},   [G_IQ2XS] = {8, 16, 1, 0.125f, 0.25f},
    [G_IQ1] = {8, 32, 0, 1.0f, 2.0f}, /* IQ1_S / IQ1_M: its book only (level index k is q + 1), see iq1_block */
};
static grid_book books[G_COUNT];
static pthread_once_t book_once[G_COUNT] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
                                            PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static uint8_t entry_byte(int g, int i, int j) {
    switch (g) {
    case G_IQ2XXS: return (uint8_t)(mm_iq2xxs_grid[i] >> (8 * j));
    case G_IQ3XXS: return (uint8_t)(mm_iq3xxs_grid[i] >> (8 * j));
    case G_IQ3S: return (uint8_t)(mm_iq3s_grid[i] >> (8 * j));
    case G_IQ2XS: return (uint8_t)(mm_iq2xs_grid[i] >> (8 * j));
    case G_IQ1: return (uint8_t)((int8_t)(mm_iq1s_grid[i] >> (8 * j)) + 1); /* −1, 0, 1 → 0, 1, 2 */
    default: return (uint8_t)(mm_iq2s_grid[i] >> (8 * j));
    }
}

/* Builds books[g] from its codebook: levels, entry map and neighbour lists (once per type, thread-safe). */
static void book_build(int g) {
    grid_book *B = &books[g];
    B->gs = kinds[g].gs;
    B->n = g == G_IQ2XXS || g == G_IQ3XXS ? 256 : g == G_IQ3S || g == G_IQ2XS ? 512 : g == G_IQ1 ? 2048 : 1024;
    B->gv = mm_xmalloc(sizeof(float) * (size_t)(B->n * B->gs));
    int seen[256] = {0};
    for (int i = 0; i < B->n; i++)
        for (int j = 0; j < B->gs; j++) seen[entry_byte(g, i, j)] = 1, B->gv[i * B->gs + j] = entry_byte(g, i, j);
    B->nlev = 0;
    int idx_of[256];
    for (int v = 0; v < 256; v++)
        if (seen[v]) idx_of[v] = B->nlev, B->lev[B->nlev++] = (float)v; /* every codebook has 3 or 8 levels */
    for (int k = 0; k + 1 < B->nlev; k++) B->mid[k] = 0.5f * (B->lev[k] + B->lev[k + 1]);
    int nkeys = 1;
    for (int j = 0; j < B->gs; j++) nkeys *= B->nlev;
    B->map = mm_xmalloc(sizeof(int32_t) * (size_t)nkeys);
    for (int k = 0; k < nkeys; k++) B->map[k] = INT32_MIN;
    for (int i = 0; i < B->n; i++) {
        int key = 0;
        for (int j = B->gs - 1; j >= 0; j--) key = key * B->nlev + idx_of[entry_byte(g, i, j)];
        if (B->map[key] == INT32_MIN) B->map[key] = i;
    }
    size_t cap = 4096, len = 0;
    B->nb = mm_xmalloc(sizeof(uint16_t) * cap);
    float *dist = mm_xmalloc(sizeof(float) * (size_t)B->n);
    for (int key = 0; key < nkeys; key++) {
        if (B->map[key] != INT32_MIN) continue;
        float v[8], d1 = INFINITY, d2 = INFINITY;
        for (int j = 0, k = key; j < B->gs; j++, k /= B->nlev) v[j] = B->lev[k % B->nlev];
        for (int i = 0; i < B->n; i++) {
            float d = 0;
            for (int j = 0; j < B->gs; j++) d += (v[j] - B->gv[i * B->gs + j]) * (v[j] - B->gv[i * B->gs + j]);
            dist[i] = d;
            if (d < d1) d2 = d1, d1 = d;
            else if (d > d1 && d < d2) d2 = d;
        }
        if (len + (size_t)B->n + 1 > cap) {
            while (len + (size_t)B->n + 1 > cap) cap *= 2;
            B->nb = mm_xrealloc(B->nb, sizeof(uint16_t) * cap);
        }
        const size_t o = len++;
        for (int i = 0; i < B->n; i++)
            if (dist[i] <= d2) B->nb[len++] = (uint16_t)i;
        B->nb[o] = (uint16_t)(len - o - 1);
        B->map[key] = -1 - (int32_t)o;
    }
    free(dist);
}
static void build0(void) { book_build(0); }
static void build1(void) { book_build(1); }
static void build2(void) { book_build(2); }
static void build3(void) { book_build(3); }
static void build4(void) { book_build(4); }
static void build5(void) { book_build(5); }
static const grid_book *book(int g) {
    static void (*const fn[G_COUNT])(void) = {build0, build1, build2, build3, build4, build5};
    pthread_once(&book_once[g], fn[g]);
    return &books[g];
}

/* The entry for gs values x (weights w) at scale s, where an entry's value is s·(entry + off) (off: 0, IQ1: δ − 1): the
 * pattern of nearest levels when it is an entry, else the neighbour with the least Σ w·(x − s·(entry + off))². */
static int grid_pick_off(const grid_book *B, const float *x, const float *w, float s, float off) {
    const float is = 1.0f / s;
    int key = 0;
    for (int j = B->gs - 1; j >= 0; j--) {
        const float v = x[j] * is - off;
        int k = 0;
        while (k + 1 < B->nlev && v > B->mid[k]) k++;
        key = key * B->nlev + k;
    }
    const int32_t m = B->map[key];
    if (m >= 0) return m;
    const uint16_t *nb = B->nb + (-1 - m);
    int best = nb[1];
    float be = INFINITY;
    for (int k = 1; k <= nb[0]; k++) {
        const float *gv = B->gv + nb[k] * B->gs;
        float e = 0;
        for (int j = 0; j < B->gs; j++) e += w[j] * (x[j] - s * (gv[j] + off)) * (x[j] - s * (gv[j] + off));
        if (e < be) be = e, best = nb[k];
    }
    return best;
}
static int grid_pick(const grid_book *B, const float *x, const float *w, float s) { return grid_pick_off(B, x, w, s, 0.0f); }

/* n magnitudes (n/gs groups) at scale s: entries idx[], and Σ w·x·g, Σ w·g² of that assignment. */
static void grid_assign(const grid_book *B, const float *x, const float *w, int n, float s, int *idx, float *sxg, float *sgg) {
    *sxg = *sgg = 0;
    for (int k = 0; k < n / B->gs; k++) {
        idx[k] = grid_pick(B, x + k * B->gs, w + k * B->gs, s);
        const float *gv = B->gv + idx[k] * B->gs;
        for (int j = 0; j < B->gs; j++) {
            *sxg += w[k * B->gs + j] * x[k * B->gs + j] * gv[j];
            *sgg += w[k * B->gs + j] * gv[j] * gv[j];
        }
    }
}

/* Scale s ≥ 0 and entries idx[n/gs] with x ≈ s·entries minimizing Σ w·err²: trial scales that put the largest
 * magnitude between 0.6 and 1.4 times the top level or on a lower level, each with the least-squares scale of its
 * assignment, then two refinements at the best scale. 0 when every magnitude is ~0 (idx then the entries at a tiny scale). */
static float grid_fit(const grid_book *B, const float *x, const float *w, int n, int *idx) {
    float max = 0;
    for (int i = 0; i < n; i++) max = fmaxf(max, x[i]);
    int tmp[8];
    float sxg, sgg;
    if (max < 1e-30f) {
        grid_assign(B, x, w, n, 1.0f, idx, &sxg, &sgg);
        return 0.0f;
    }
    float best = -1, bs = 0;
    const float top = B->lev[B->nlev - 1];
    for (int k = -8; k < 9 + B->nlev - 1; k++) { /* then scales that put the largest on each lower level */
        const float s = k <= 8 ? max / (top * (1.0f + 0.05f * (float)k)) : max / B->lev[k - 9];
        grid_assign(B, x, w, n, s, tmp, &sxg, &sgg);
        if (sgg > 0 && sxg > 0 && sxg * sxg > best * sgg) best = sxg * sxg / sgg, bs = sxg / sgg, memcpy(idx, tmp, sizeof(int) * (size_t)(n / B->gs));
    }
    for (int it = 0; it < 2 && bs > 0; it++) {
        grid_assign(B, x, w, n, bs, tmp, &sxg, &sgg);
        if (!(sgg > 0 && sxg > 0 && sxg * sxg > best * sgg)) break;
        best = sxg * sxg / sgg, bs = sxg / sgg, memcpy(idx, tmp, sizeof(int) * (size_t)(n / B->gs));
    }
    return bs;
}

/* Σ w·(x − s·entries)² of an assignment. */
static float grid_err(const grid_book *B, const float *x, const float *w, int n, float s, const int *idx) {
    float e = 0;
    for (int k = 0; k < n / B->gs; k++)
        for (int j = 0; j < B->gs; j++) {
            const float r = x[k * B->gs + j] - s * B->gv[idx[k] * B->gs + j];
            e += w[k * B->gs + j] * r * r;
        }
    return e;
}

/* The 4-bit codes ls[256/sub] and entries idx[256/gs] of a super-block under scale dd (per sub-block the code nearest
 * its fitted scale sc[] and its two neighbours, each with the entries requantized, by weighted error); returns the
 * total weighted error. */
static float grid_codes(const grid_kind *K, const grid_book *B, const float *xa, const float *w, const float *sc, float dd,
                        int *ls, int *idx) {
    const int nsub = MM_QK_K / K->sub, per = K->sub / K->gs;
    float total = 0;
    for (int ib = 0; ib < nsub; ib++) {
        const float *xb = xa + K->sub * ib, *wb = w + K->sub * ib;
        int tmp[8];
        ls[ib] = 0;
        if (dd <= 0) {
            grid_assign(B, xb, wb, K->sub, 1.0f, idx + per * ib, &(float){0}, &(float){0});
            continue;
        }
        int l0 = (int)lrintf((sc[ib] / dd - K->a) / K->b);
        l0 = l0 < 0 ? 0 : l0 > 15 ? 15 : l0;
        float be = INFINITY, sxg, sgg;
        for (int l = l0 - 1; l <= l0 + 1; l++) {
            if (l < 0 || l > 15) continue;
            const float s = dd * (K->a + K->b * (float)l);
            grid_assign(B, xb, wb, K->sub, s, tmp, &sxg, &sgg);
            const float e = grid_err(B, xb, wb, K->sub, s, tmp);
            if (e < be) be = e, ls[ib] = l, memcpy(idx + per * ib, tmp, sizeof(int) * (size_t)per);
        }
        total += be;
    }
    return total;
}

/* The f16 super-block scale d raised by 1/ρ² from the weighted sums Σ w·x·x̂, Σ w·x², Σ w·x̂² of its block (see grid_block). */
static uint16_t unshrink(uint16_t d, double sxy, double sxx, double syy) {
    return sxy > 0 ? mm_f32_to_f16(mm_f16_to_f32(d) * (float)fmin(sxx * syy / (sxy * sxy), 2.0)) : d; /* 2: a guard, never reached on data */
}

/* One super-block of 256: f16 scale *d, 4-bit scales ls[256/sub], entries idx[256/gs], sign bytes sg[32] (bit j:
 * element 8k+j negative; XXS: an even count per byte). */
static void grid_block(int g, const float *x, const float *qw, uint16_t *d, int *ls, int *idx, uint8_t *sg) {
    const grid_kind *K = &kinds[g];
    const grid_book *B = book(g);
    float w[MM_QK_K], xa[MM_QK_K], sc[MM_QK_K / 16], ones[MM_QK_K];
    if (!qw) /* without an importance matrix every column counts alike */
        for (int i = 0; i < MM_QK_K; i++) ones[i] = 1.0f;
    mm_imatrix_weights(x, qw ? qw : ones, MM_QK_K, w);
    for (int k = 0; k < MM_QK_K / 8; k++) {
        int s = 0;
        for (int j = 0; j < 8; j++) {
            xa[8 * k + j] = fabsf(x[8 * k + j]);
            if (x[8 * k + j] < 0) s |= 1 << j;
        }
        if (K->parity && (__builtin_popcount((unsigned)s) & 1)) { /* flip the element that costs least */
            int jm = 0;
            for (int j = 1; j < 8; j++)
                if (w[8 * k + j] * xa[8 * k + j] * xa[8 * k + j] < w[8 * k + jm] * xa[8 * k + jm] * xa[8 * k + jm]) jm = j;
            xa[8 * k + jm] = -xa[8 * k + jm];
            s ^= 1 << jm;
        }
        sg[k] = (uint8_t)s;
    }
    const int nsub = MM_QK_K / K->sub, per = K->sub / K->gs;
    float maxsc = 0;
    for (int ib = 0; ib < nsub; ib++) {
        sc[ib] = grid_fit(B, xa + K->sub * ib, w + K->sub * ib, K->sub, idx + per * ib);
        maxsc = fmaxf(maxsc, sc[ib]);
    }
    /* the super-block scale: the largest sub-block's on code 15, or a little lower (clipping it, finer codes for the
     * others), whichever leaves the least weighted error */
    float be = INFINITY;
    for (int c = 0; c < 3; c++) {
        const uint16_t h = mm_f32_to_f16(maxsc * (1.0f - 0.06f * (float)c) / (K->a + 15.0f * K->b));
        int tls[16], tidx[64];
        const float e = grid_codes(K, B, xa, w, sc, mm_f16_to_f32(h), tls, tidx);
        if (e < be || c == 0) be = e, *d = h, memcpy(ls, tls, sizeof tls), memcpy(idx, tidx, sizeof tidx);
    }
    const float dd = mm_f16_to_f32(*d);
    /* The least-squares fit shrinks: Σ w·x·x̂ = Σ w·x̂², so x̂ holds only ρ² of the data's weighted energy (ρ the
     * correlation of x̂ and x; ~0.89 for IQ2_XXS on Gaussian data). The super-block scale is raised by 1/ρ², which makes
     * the slope of x̂ on x one: a larger squared error (IQ2_XXS on Gaussian data: relative RMS 0.35 against 0.33), but
     * products with the weights are no longer biased toward zero, and on the demo model the mean KL against the
     * unquantized model drops by a quarter (README, "Weight types"). */
    double sxy = 0, sxx = 0, syy = 0;
    for (int ib = 0; ib < nsub && dd > 0; ib++) {
        const float s = dd * (K->a + K->b * (float)ls[ib]);
        for (int i = 0; i < K->sub; i++) {
            const float y = s * B->gv[idx[per * ib + i / K->gs] * K->gs + i % K->gs];
            const float xv = xa[K->sub * ib + i], wv = w[K->sub * ib + i];
            sxy += wv * xv * y, sxx += wv * xv * xv, syy += wv * y * y;
        }
    }
    *d = unshrink(*d, sxy, sxx, syy);
}

/* ---------------------------------------------------------------- IQ1_S, IQ1_M
 * Element = d·(2l + 1)·(q + δ) with q ∈ {−1, 0, 1} from a 2048-entry codebook of 8-element patterns, l a 3-bit
 * code per sub-block (32 elements in IQ1_S, 16 in IQ1_M) and δ = ±1/8 per sub-block (IQ1_S) or per 8 (IQ1_M).
 * After llama.cpp's quantize_row_iq1_*_impl: in each sub-block the sorted values are split into the three levels at
 * every pair of cut points, with every choice of shift signs, and the split with the best weighted least-squares
 * fit wins (exhaustive, from prefix sums); its patterns are snapped to the codebook (the entry when the pattern is
 * one, else the best of its neighbours by weighted error) and the scale refitted; then the f16 super-block scale
 * and the 3-bit codes are chosen as for the other grid types (grid_codes), the entries requantized against them. */
#define IQ1_DELTA 0.125f
enum { IQ1_MAX_SUB = 32 };

static inline float iq1_shift(int neg) { return neg ? -IQ1_DELTA : IQ1_DELTA; }

/* n values (n/8 groups, group k shifted by sgn[k]) at scale s: entries idx[], and Σ w·x·v, Σ w·v², Σ w·(x − s·v)²
 * of that assignment (v = q + δ). */
static void iq1_assign(const grid_book *B, const float *x, const float *w, int n, float s, const int *neg, int *idx,
                       float *sxv, float *svv, float *err) {
    *sxv = *svv = *err = 0;
    for (int k = 0; k < n / 8; k++) {
        const float delta = iq1_shift(neg[k]);
        idx[k] = s > 0 ? grid_pick_off(B, x + 8 * k, w + 8 * k, s, delta - 1.0f) : 0;
        const float *gv = B->gv + idx[k] * 8;
        for (int j = 0; j < 8; j++) {
            const float v = gv[j] - 1.0f + delta, xv = x[8 * k + j], wv = w[8 * k + j], r = xv - s * v;
            *sxv += wv * xv * v, *svv += wv * v * v, *err += wv * r * r;
        }
    }
}

/* The best split of n values (nh shift groups of n/nh consecutive ones) into levels q = −1, 0, 1 with shift signs:
 * over all cut points i1 ≤ i2 of the sorted values and all 2^nh sign choices, the largest (Σ w·x·v)² / Σ w·v²
 * (the least weighted squared error at the least-squares scale). Returns that scale (≥ 0: a negative one is
 * mirrored, q → −q and δ → −δ); lev[n] the level indices (q + 1), neg[nh] the signs (1: δ = −1/8). */
static float iq1_split(const float *x, const float *w, int n, int nh, uint8_t *lev, int *neg) {
    int ord[IQ1_MAX_SUB];
    for (int i = 0; i < n; i++) { /* insertion sort by value, ties by position: deterministic */
        int j = i;
        while (j > 0 && x[ord[j - 1]] > x[i]) ord[j] = ord[j - 1], j--;
        ord[j] = i;
    }
    const int per = n / nh;
    float px[2][IQ1_MAX_SUB + 1], pw[2][IQ1_MAX_SUB + 1]; /* per shift group: prefix sums of w·x and w in sorted order */
    for (int h = 0; h < nh; h++) px[h][0] = pw[h][0] = 0;
    for (int j = 0; j < n; j++)
        for (int h = 0; h < nh; h++) {
            const int i = ord[j], in = i / per == h;
            px[h][j + 1] = px[h][j] + (in ? w[i] * x[i] : 0.0f);
            pw[h][j + 1] = pw[h][j] + (in ? w[i] : 0.0f);
        }
    float best = 0, bs = 0;
    int b1 = -1, b2 = -1, bc = 0;
    for (int i1 = 0; i1 <= n; i1++)
        for (int i2 = i1; i2 <= n; i2++) {
            float qx[2][2], q2[2][2]; /* [group][sign] */
            for (int h = 0; h < nh; h++) {
                const float a0 = px[h][i1], a1 = px[h][i2] - px[h][i1], a2 = px[h][n] - px[h][i2];
                const float c0 = pw[h][i1], c1 = pw[h][i2] - pw[h][i1], c2 = pw[h][n] - pw[h][i2];
                for (int sg = 0; sg < 2; sg++) {
                    const float d = iq1_shift(sg), v0 = d - 1.0f, v2 = d + 1.0f;
                    qx[h][sg] = a0 * v0 + a1 * d + a2 * v2;
                    q2[h][sg] = c0 * v0 * v0 + c1 * d * d + c2 * v2 * v2;
                }
            }
            for (int c = 0; c < 1 << nh; c++) {
                float sx = 0, s2 = 0;
                for (int h = 0; h < nh; h++) sx += qx[h][(c >> h) & 1], s2 += q2[h][(c >> h) & 1];
                if (s2 > 0 && sx * sx > best * s2) best = sx * sx / s2, bs = sx / s2, b1 = i1, b2 = i2, bc = c;
            }
        }
    for (int j = 0; j < n; j++) lev[ord[j]] = (uint8_t)(b1 < 0 ? 1 : j < b1 ? 0 : j < b2 ? 1 : 2);
    for (int h = 0; h < nh; h++) neg[h] = (bc >> h) & 1;
    if (bs < 0) {
        for (int j = 0; j < n; j++) lev[j] = (uint8_t)(2 - lev[j]);
        for (int h = 0; h < nh; h++) neg[h] ^= 1;
        bs = -bs;
    }
    return bs;
}

/* One sub-block of n values: scale (≥ 0, 0 when every value is ~0), the shift sign of each group of 8 (neg[n/8])
 * and its entries idx[n/8]: the best split, snapped to the codebook, then the least-squares scale of the entries and
 * two rounds of requantizing at it while the fit improves. */
static float iq1_fit(const grid_book *B, const float *x, const float *w, int n, int nh, int *neg, int *idx) {
    float max = 0;
    for (int i = 0; i < n; i++) max = fmaxf(max, fabsf(x[i]));
    for (int k = 0; k < n / 8; k++) neg[k] = 0, idx[k] = 0;
    if (max < 1e-30f) return 0.0f;
    uint8_t lev[IQ1_MAX_SUB];
    int sg[2], tmp[IQ1_MAX_SUB / 8];
    float s = iq1_split(x, w, n, nh, lev, sg);
    if (!(s > 0)) return 0.0f;
    float sxv = 0, svv = 0, e;
    for (int k = 0; k < n / 8; k++) {
        neg[k] = sg[k * 8 / (n / nh)];
        const float delta = iq1_shift(neg[k]);
        int key = 0;
        for (int j = 7; j >= 0; j--) key = key * 3 + lev[8 * k + j];
        const int32_t m = B->map[key];
        idx[k] = m >= 0 ? m : grid_pick_off(B, x + 8 * k, w + 8 * k, s, delta - 1.0f);
        const float *gv = B->gv + idx[k] * 8;
        for (int j = 0; j < 8; j++) {
            const float v = gv[j] - 1.0f + delta;
            sxv += w[8 * k + j] * x[8 * k + j] * v, svv += w[8 * k + j] * v * v;
        }
    }
    if (!(sxv > 0 && svv > 0)) return s;
    float best = sxv * sxv / svv;
    s = sxv / svv;
    for (int it = 0; it < 2; it++) {
        iq1_assign(B, x, w, n, s, neg, tmp, &sxv, &svv, &e);
        if (!(svv > 0 && sxv > 0 && sxv * sxv > best * svv)) break;
        best = sxv * sxv / svv, s = sxv / svv, memcpy(idx, tmp, sizeof(int) * (size_t)(n / 8));
    }
    return s;
}

/* One super-block of 256 (sub = 32: IQ1_S, 16: IQ1_M): f16 scale *d, 3-bit codes ls[256/sub], entries idx[32],
 * shift signs neg[32] (per group of 8; IQ1_S: the same in each 32). */
static void iq1_block(int sub, const float *x, const float *qw, uint16_t *d, int *ls, int *idx, int *neg) {
    const grid_book *B = book(G_IQ1);
    const int nsub = MM_QK_K / sub, per = sub / 8, nh = sub == 32 ? 1 : 2;
    float w[MM_QK_K], ones[MM_QK_K], sc[MM_QK_K / 16], maxsc = 0;
    if (!qw)
        for (int i = 0; i < MM_QK_K; i++) ones[i] = 1.0f;
    mm_imatrix_weights(x, qw ? qw : ones, MM_QK_K, w);
    for (int ib = 0; ib < nsub; ib++) {
        sc[ib] = iq1_fit(B, x + sub * ib, w + sub * ib, sub, nh, neg + per * ib, idx + per * ib);
        maxsc = fmaxf(maxsc, sc[ib]);
    }
    *d = 0;
    for (int ib = 0; ib < nsub; ib++) ls[ib] = 0;
    if (!(maxsc > 0)) return;
    /* the super-block scale: the largest sub-block's on code 7 (factor 15) or a little lower, whichever leaves the
     * least weighted error with each code the best of the nearest three, the entries requantized against it */
    float be = INFINITY;
    for (int c = 0; c < 3; c++) {
        const uint16_t h = mm_f32_to_f16(maxsc * (1.0f - 0.06f * (float)c) / 15.0f);
        const float dd = mm_f16_to_f32(h);
        int tls[16], tidx[32], t8[4];
        float total = 0;
        memcpy(tidx, idx, sizeof tidx);
        for (int ib = 0; ib < nsub; ib++) {
            const float *xb = x + sub * ib, *wb = w + sub * ib;
            int l0 = (int)lrintf((sc[ib] / dd - 1.0f) * 0.5f);
            l0 = l0 < 0 ? 0 : l0 > 7 ? 7 : l0;
            float eb = INFINITY, sxv, svv, e;
            tls[ib] = l0;
            for (int l = l0 - 1; l <= l0 + 1; l++) {
                if (l < 0 || l > 7) continue;
                iq1_assign(B, xb, wb, sub, dd * (float)(2 * l + 1), neg + per * ib, t8, &sxv, &svv, &e);
                if (e < eb) eb = e, tls[ib] = l, memcpy(tidx + per * ib, t8, sizeof(int) * (size_t)per);
            }
            total += eb;
        }
        if (total < be || c == 0) be = total, *d = h, memcpy(ls, tls, sizeof(int) * (size_t)nsub), memcpy(idx, tidx, sizeof tidx);
    }
    /* raised by 1/ρ² as the other grid types (grid_block) */
    const float dd = mm_f16_to_f32(*d);
    double sxy = 0, sxx = 0, syy = 0;
    for (int k = 0; k < 32; k++) {
        const float s = dd * (float)(2 * ls[k / per] + 1), delta = iq1_shift(neg[k]);
        for (int j = 0; j < 8; j++) {
            const float y = s * (B->gv[idx[k] * 8 + j] - 1.0f + delta), xv = x[8 * k + j], wv = w[8 * k + j];
            sxy += wv * xv * y, sxx += wv * xv * xv, syy += wv * y * y;
        }
    }
    *d = unshrink(*d, sxy, sxx, syy);
}

/* IQ1_S / IQ1_M rows: iq1_block per super-block, packed as mm_quant.h lays them out. */
static void iq1_row(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw) {
    for (int64_t i = 0; i < n / MM_QK_K; i++, x += MM_QK_K) {
        uint16_t d;
        int ls[16], idx[32], neg[32];
        iq1_block(t == MM_IQ1_S ? 32 : 16, x, qw ? qw + i * MM_QK_K : NULL, &d, ls, idx, neg);
        if (t == MM_IQ1_S) { /* qs: low 8 index bits; qh per 32: 3 high bits per entry, the code << 12, δ < 0 at bit 15 */
            mm_block_iq1_s *b = (mm_block_iq1_s *)dst + i;
            b->d = d;
            for (int ib = 0; ib < 8; ib++) {
                uint16_t h = (uint16_t)(ls[ib] << 12 | neg[4 * ib] << 15);
                for (int k = 0; k < 4; k++) b->qs[4 * ib + k] = (uint8_t)idx[4 * ib + k], h |= (uint16_t)((idx[4 * ib + k] >> 8) << (3 * k));
                b->qh[ib] = h;
            }
        } else { /* qh per 16: a nibble per entry (3 high bits, δ < 0 at bit 3); 3-bit codes in four u16 words whose top
                  * nibbles hold the f16 scale */
            mm_block_iq1_m *b = (mm_block_iq1_m *)dst + i;
            uint16_t sw[4] = {0, 0, 0, 0};
            for (int k = 0; k < 16; k++) {
                b->qs[2 * k] = (uint8_t)idx[2 * k], b->qs[2 * k + 1] = (uint8_t)idx[2 * k + 1];
                b->qh[k] = (uint8_t)((idx[2 * k] >> 8) | neg[2 * k] << 3 | ((idx[2 * k + 1] >> 8) | neg[2 * k + 1] << 3) << 4);
                sw[k / 4] |= (uint16_t)(ls[k] << (3 * (k % 4)));
            }
            for (int k = 0; k < 4; k++) {
                sw[k] |= (uint16_t)(((d >> (4 * k)) & 15) << 12);
                b->scales[2 * k] = (uint8_t)sw[k], b->scales[2 * k + 1] = (uint8_t)(sw[k] >> 8);
            }
        }
    }
}

static inline void wr32(uint8_t *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

void mm_quantize_row_grid(mm_dtype t, const float *x, void *dst, int64_t n, const float *qw) {
    if (t == MM_IQ1_S || t == MM_IQ1_M) {
        iq1_row(t, x, dst, n, qw);
        return;
    }
    const int g = t == MM_IQ2_XXS ? G_IQ2XXS : t == MM_IQ3_XXS ? G_IQ3XXS : t == MM_IQ3_S ? G_IQ3S : t == MM_IQ2_S ? G_IQ2S
                : t == MM_IQ2_XS ? G_IQ2XS : -1;
    if (g < 0) return;
    const size_t bb = mm_dtype_block_bytes(t);
    for (int64_t i = 0; i < n / MM_QK_K; i++, x += MM_QK_K) {
        uint16_t d;
        int ls[16], idx[64];
        uint8_t sg[32];
        grid_block(g, x, qw ? qw + i * MM_QK_K : NULL, &d, ls, idx, sg);
        uint8_t *o = (uint8_t *)dst + (size_t)i * bb;
        memset(o, 0, bb);
        memcpy(o, &d, 2); /* every layout starts with the f16 scale */
        uint8_t *q = o + 2;
        for (int ib = 0; ib < 8; ib++) {
            uint32_t sw = 0;
            for (int k = 0; k < 4; k++) sw |= (uint32_t)(sg[4 * ib + k] & 127) << (7 * k);
            switch (g) {
            case G_IQ2XXS: /* per 32: 4 entry bytes, then the 4 sign indices and the scale in a u32 */
                for (int k = 0; k < 4; k++) q[8 * ib + k] = (uint8_t)idx[4 * ib + k];
                wr32(q + 8 * ib + 4, sw | (uint32_t)ls[ib] << 28);
                break;
            case G_IQ3XXS: /* entry bytes qs[0..63], then per 32 a u32 of 4 sign indices and the scale */
                for (int k = 0; k < 8; k++) q[8 * ib + k] = (uint8_t)idx[8 * ib + k];
                wr32(q + 64 + 4 * ib, sw | (uint32_t)ls[ib] << 28);
                break;
            case G_IQ3S: { /* qs[64] low index bits, qh[8] the ninth, signs[32], scales[4] (nibble per 32) */
                mm_block_iq3_s *b = (mm_block_iq3_s *)o;
                for (int k = 0; k < 8; k++) {
                    b->qs[8 * ib + k] = (uint8_t)idx[8 * ib + k];
                    b->qh[ib] |= (uint8_t)((idx[8 * ib + k] >> 8) << k);
                }
                for (int k = 0; k < 4; k++) b->signs[4 * ib + k] = sg[4 * ib + k];
                b->scales[ib / 2] |= (uint8_t)(ls[ib] << (4 * (ib % 2)));
                break;
            }
            case G_IQ2XS: { /* qs[32] u16: 9-bit entry | 7-bit sign index << 9; scales[8]: nibble per 16 */
                mm_block_iq2_xs *b = (mm_block_iq2_xs *)o;
                for (int k = 0; k < 4; k++) b->qs[4 * ib + k] = (uint16_t)(idx[4 * ib + k] | (sg[4 * ib + k] & 127) << 9);
                b->scales[ib] = (uint8_t)(ls[2 * ib] | ls[2 * ib + 1] << 4);
                break;
            }
            default: { /* IQ2_S: qs[0..31] low index bits, qs[32..63] signs, qh[8] 2 bits per entry, scales per 16 */
                mm_block_iq2_s *b = (mm_block_iq2_s *)o;
                for (int k = 0; k < 4; k++) {
                    b->qs[4 * ib + k] = (uint8_t)idx[4 * ib + k];
                    b->qs[32 + 4 * ib + k] = sg[4 * ib + k];
                    b->qh[ib] |= (uint8_t)((idx[4 * ib + k] >> 8) << (2 * k));
                }
                b->scales[ib] = (uint8_t)(ls[2 * ib] | ls[2 * ib + 1] << 4);
                break;
            }
            }
        }
    }
}
