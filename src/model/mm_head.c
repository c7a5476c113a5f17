/* mm_head.c — what sits on top of the final hidden states besides the lm_head: transformers' task heads
 * (sequence / token classification, question answering; bound in mm_model.c), their scores, the
 * sequence-classification pooling rule, the best answer span, and embedding normalisation. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include "model/mm_context.h"
#include "kernels/mm_kernels.h"

int mm_model_head_size(const mm_model *m) { return m->head_n; }

const char *mm_model_label(const mm_model *m, int i) {
    if (!m->labels || i < 0 || i >= m->cfg.num_labels) return NULL;
    return m->labels[i];
}

int mm_model_head_forward(const mm_model *m, const float *hidden, int n, float *out) {
    if (!m->head_n) {
        mm_set_error("%s is a causal LM: it has no task head (its hidden states go to the lm_head)", m->path);
        return -1;
    }
    if (n <= 0) return 0;
    mm_matmul(out, hidden, &m->head_w, n); /* out[n, head_n] = hidden[n, H] · Wᵀ */
    if (m->head_b)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m->head_n; j++) out[(size_t)i * m->head_n + j] += m->head_b[j];
    return 0;
}

int mm_seq_cls_index(const mm_config *cfg, const int32_t *ids, int n) {
    if (n <= 0) return -1;
    if (cfg->pad_token_id < 0) return n - 1;
    /* transformers: argmax over (index × (id != pad)), i.e. the rightmost non-pad token, 0 when all are pad */
    for (int i = n - 1; i > 0; i--)
        if (ids[i] != cfg->pad_token_id) return i;
    return 0;
}

void mm_head_scores(const mm_config *cfg, float *x, int n) {
    if (cfg->problem_type == MM_PROBLEM_REGRESSION) return;
    if (cfg->problem_type == MM_PROBLEM_MULTI_LABEL || n == 1) {
        for (int i = 0; i < n; i++) x[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
        return;
    }
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    for (int i = 0; i < n; i++) x[i] = (float)(exp((double)x[i] - mx) / sum);
}

/* log Σ exp(x[lo..hi)) in double */
static double log_sum_exp(const float *x, int lo, int hi) {
    double mx = -INFINITY, s = 0;
    for (int i = lo; i < hi; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = lo; i < hi; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

double mm_qa_best_span(const float *st, const float *en, int lo, int hi, int max_len, int *start, int *end) {
    *start = *end = lo;
    if (hi <= lo) return 0;
    if (max_len < 1) max_len = 1;
    double best = -INFINITY;
    for (int i = lo; i < hi; i++)
        for (int j = i; j < hi && j < i + max_len; j++) {
            double v = (double)st[i] + en[j];
            if (v > best) {   /* ties keep the earliest, shortest span */
                best = v;
                *start = i;
                *end = j;
            }
        }
    return exp(best - log_sum_exp(st, lo, hi) - log_sum_exp(en, lo, hi));
}

void mm_l2_normalize(float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    if (s <= 0) return;
    const double inv = 1.0 / sqrt(s);
    for (int i = 0; i < n; i++) x[i] = (float)(x[i] * inv);
}

/* Runs ids[0..n) through sequence seq in pieces, asking for the hidden states of the tokens want() picks; each
 * piece's rows go to fn. */
#define PIECE 512
typedef void (*rows_fn)(void *ud, int t0, const float *h, int nrows);
static int run_hidden(mm_context *c, int seq, const int32_t *ids, int n, int only, rows_fn fn, void *ud) {
    const int H = c->model->cfg.hidden_size;
    if (n <= 0) {
        mm_set_error("an empty token sequence");
        return -1;
    }
    float *h = mm_xmalloc(sizeof(float) * (size_t)PIECE * (size_t)H);
    int32_t *sq = mm_xmalloc(sizeof(int32_t) * PIECE);
    int8_t *want = mm_xmalloc(PIECE);
    int rc = 0;
    mm_seq_reset(c, seq);
    for (int t0 = 0; t0 < n && !rc; t0 += PIECE) {
        int m = n - t0 < PIECE ? n - t0 : PIECE, nr = 0;
        for (int k = 0; k < m; k++) {
            sq[k] = seq;
            want[k] = (int8_t)(only < 0 || t0 + k == only);
            nr += want[k];
        }
        mm_batch b = {.n_tokens = m, .token = ids + t0, .seq = sq, .hidden = want};
        if (mm_decode_ex(c, &b, NULL, h) < 0) rc = -1;
        else if (nr) fn(ud, only < 0 ? t0 : only, h, nr);
    }
    mm_seq_reset(c, seq);
    free(h);
    free(sq);
    free(want);
    return rc;
}

typedef struct {
    const mm_model *m;
    float *out;
    int cols, failed;
    double *acc;
} head_ud;

static void head_rows(void *ud, int t0, const float *h, int nrows) {
    head_ud *u = ud;
    int one = u->m->cfg.arch == MM_ARCH_SEQ_CLS;
    if (mm_model_head_forward(u->m, h, nrows, u->out + (one ? 0 : (size_t)t0 * u->cols)) < 0) u->failed = 1;
}

int mm_classify(mm_context *c, int seq, const int32_t *ids, int n, float *out) {
    const mm_model *m = c->model;
    if (!m->head_n) return mm_model_head_forward(m, NULL, 0, out);   /* the causal-LM error */
    head_ud u = {.m = m, .out = out, .cols = m->head_n};
    int only = m->cfg.arch == MM_ARCH_SEQ_CLS ? mm_seq_cls_index(&m->cfg, ids, n) : -1;
    if (run_hidden(c, seq, ids, n, only, head_rows, &u) < 0) return -1;
    return u.failed ? -1 : 0;
}

static void embed_rows(void *ud, int t0, const float *h, int nrows) {
    head_ud *u = ud;
    for (int r = 0; r < nrows; r++)
        for (int k = 0; k < u->cols; k++) u->acc[k] += h[(size_t)r * u->cols + k];
    (void)t0;
}

int mm_embed(mm_context *c, int seq, const int32_t *ids, int n, int pooling, float *out) {
    const int H = c->model->cfg.hidden_size;
    head_ud u = {.m = c->model, .cols = H, .acc = mm_xcalloc((size_t)H, sizeof(double))};
    int rc = run_hidden(c, seq, ids, n, pooling == MM_POOL_MEAN ? -1 : n - 1, embed_rows, &u);
    if (!rc) {
        const double div = pooling == MM_POOL_MEAN ? n : 1;
        for (int k = 0; k < H; k++) out[k] = (float)(u.acc[k] / div);
        mm_l2_normalize(out, H);
    }
    free(u.acc);
    return rc;
}
