/* mm_perplexity.c — chunked perplexity and KL against a saved base (see mm_perplexity.h).
 * Base file: "MMPPL001", u32 vocab, u32 n_ctx, u32 n_chunks, u32 0, the chunks' tokens (i32 [n_chunks·n_ctx]),
 * then for each scored position its log-probabilities (f32 [vocab]), little-endian. */
#include "tools/mm_perplexity.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "base/mm_common.h"

static const char MAGIC[8] = {'M', 'M', 'P', 'P', 'L', '0', '0', '1'};

/* log-softmax of x[n] into lp[n] (double accumulation) */
static void log_softmax(const float *x, float *lp, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    const double lse = mx + log(s);
    for (int i = 0; i < n; i++) lp[i] = (float)((double)x[i] - lse);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int mm_perplexity(mm_model *m, const int32_t *ids, int64_t n, const mm_ppl_params *p, mm_ppl_result *r) {
    memset(r, 0, sizeof *r);
    const int C = p->n_ctx, V = mm_model_config(m)->vocab_size, first = C / 2, n_score = C - 1 - first;
    if (C < 4) {
        mm_set_error("perplexity: the context must be at least 4 tokens (got %d)", C);
        return -1;
    }
    int chunks = (int)(n / C);
    if (p->n_chunks > 0 && p->n_chunks < chunks) chunks = p->n_chunks;
    if (chunks < 1) {
        mm_set_error("perplexity: %lld tokens are fewer than one chunk of %d (lower -c)", (long long)n, C);
        return -1;
    }
    for (int64_t i = 0; i < (int64_t)chunks * C; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            mm_set_error("perplexity: token id %d at %lld is outside the vocabulary [0, %d)", ids[i], (long long)i, V);
            return -1;
        }
    FILE *base = NULL;
    int writing = 0;
    if (p->kl_base) {
        writing = access(p->kl_base, F_OK) != 0;
        base = fopen(p->kl_base, writing ? "wb" : "rb");
        if (!base) {
            mm_set_error("perplexity: %s: %s", p->kl_base, strerror(errno));
            return -1;
        }
        uint32_t hdr[4] = {(uint32_t)V, (uint32_t)C, (uint32_t)chunks, 0};
        if (writing) {
            if (fwrite(MAGIC, 1, 8, base) != 8 || fwrite(hdr, 4, 4, base) != 4 ||
                fwrite(ids, sizeof(int32_t), (size_t)chunks * C, base) != (size_t)chunks * C)
                goto io_error;
        } else {
            char mg[8];
            uint32_t h[4];
            if (fread(mg, 1, 8, base) != 8 || memcmp(mg, MAGIC, 8) || fread(h, 4, 4, base) != 4) {
                mm_set_error("perplexity: %s is not a base file of minimax perplexity", p->kl_base);
                goto fail;
            }
            if (h[0] != (uint32_t)V || h[1] != (uint32_t)C || h[2] != (uint32_t)chunks) {
                mm_set_error("perplexity: %s holds vocab %u, context %u, %u chunks; this run has %d, %d, %d", p->kl_base, h[0],
                             h[1], h[2], V, C, chunks);
                goto fail;
            }
            int32_t *bt = mm_xmalloc(sizeof(int32_t) * (size_t)chunks * C);
            int same = fread(bt, sizeof(int32_t), (size_t)chunks * C, base) == (size_t)chunks * C &&
                       !memcmp(bt, ids, sizeof(int32_t) * (size_t)chunks * C);
            free(bt);
            if (!same) {
                mm_set_error("perplexity: %s was made from other tokens (another text or tokenizer)", p->kl_base);
                goto fail;
            }
        }
    }
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = C, .n_ubatch = C < 512 ? C : 512, .type_k = p->type_k, .type_v = p->type_v,
                                                            .kv_page = p->kv_page});
    if (!c) goto fail;
    float *lg = malloc(sizeof(float) * (size_t)n_score * V), *lp = malloc(sizeof(float) * V), *bp = malloc(sizeof(float) * V);
    int32_t *seq = mm_xcalloc((size_t)C, sizeof(int32_t));
    int8_t *want = mm_xcalloc((size_t)C, 1);
    for (int i = first; i < C - 1; i++) want[i] = 1;
    double sum = 0, sum2 = 0, bsum = 0, kls = 0, klmax = 0, dmax = 0;
    int64_t agree = 0, cnt = 0;
    int rc = 0;
    if (!lg || !lp || !bp) {
        mm_set_error("perplexity: out of memory for %d x %d logits", n_score, V);
        rc = -1;
    }
    for (int k = 0; k < chunks && !rc; k++) {
        const int32_t *t = ids + (int64_t)k * C;
        mm_seq_reset(c, 0);
        mm_batch b = {.n_tokens = C, .token = t, .seq = seq, .logits = want};
        if (mm_decode(c, &b, lg) != n_score) {
            rc = -1;
            break;
        }
        for (int j = 0; j < n_score && !rc; j++) {
            log_softmax(lg + (size_t)j * V, lp, V);
            const double nll = -lp[t[first + j + 1]];
            sum += nll, sum2 += nll * nll, cnt++;
            if (!base) continue;
            if (writing) {
                if (fwrite(lp, sizeof(float), (size_t)V, base) != (size_t)V) rc = -2;
                continue;
            }
            if (fread(bp, sizeof(float), (size_t)V, base) != (size_t)V) {
                mm_set_error("perplexity: %s is truncated", p->kl_base);
                rc = -1;
                break;
            }
            double kl = 0;
            for (int v = 0; v < V; v++) {
                const double d = (double)bp[v] - lp[v];
                kl += exp((double)bp[v]) * d;
                if (fabs(d) > dmax) dmax = fabs(d);
            }
            kls += kl;
            klmax = kl > klmax ? kl : klmax;
            agree += argmax(bp, V) == argmax(lp, V);
            bsum += -bp[t[first + j + 1]];
        }
        if (p->progress) {
            fprintf(stderr, "\rperplexity: chunk %d/%d, %.4f", k + 1, chunks, exp(sum / (double)cnt));
            fflush(stderr);
        }
    }
    if (p->progress) fprintf(stderr, "\n");
    free(lg), free(lp), free(bp), free(seq), free(want);
    mm_context_free(c);
    if (rc == -2) goto io_error;
    if (rc) goto fail;
    r->n_scored = cnt;
    r->n_chunks = chunks;
    r->nll = sum / (double)cnt;
    r->ppl = exp(r->nll);
    r->nll_stderr = cnt > 1 ? sqrt((sum2 / (double)cnt - r->nll * r->nll) / (double)(cnt - 1)) : 0;
    if (base && !writing) {
        r->base_compared = 1;
        r->base_ppl = exp(bsum / (double)cnt);
        r->kl_mean = kls / (double)cnt;
        r->kl_max = klmax;
        r->top1 = (double)agree / (double)cnt;
        r->max_dlogp = dmax;
    }
    r->base_written = writing;
    if (base && fclose(base) != 0) {
        base = NULL;
        goto io_error;
    }
    return 0;
io_error:
    mm_set_error("perplexity: writing %s failed: %s", p->kl_base, strerror(errno));
fail:
    if (base) {
        fclose(base);
        if (writing) unlink(p->kl_base);
    }
    return -1;
}
