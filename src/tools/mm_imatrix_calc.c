/* mm_imatrix_calc.c — importance matrices from a calibration text: an observer on the matrix products adds each
 * product's squared input columns to the entry of its GGUF tensor (and expert). */
#include "tools/mm_imatrix_calc.h"
#include <stdio.h>
#include <stdlib.h>
#include "kernels/mm_kernels.h"
#include "tools/mm_quantize.h"

typedef struct {
    const mm_tensor *w;     /* the model's tensor the products read */
    mm_imatrix_entry *en;
    int mat;
} mm_obs_slot;

typedef struct {
    mm_obs_slot *s;
    int n;
} mm_obs;

static void observe(void *ud, const mm_tensor *w, const float *x, int T) {
    mm_obs *o = ud;
    for (int i = 0; i < o->n; i++) {
        if (o->s[i].w != w) continue;
        mm_imatrix_entry *en = o->s[i].en;
        double *sum = en->sums + (size_t)o->s[i].mat * (size_t)en->ne0;
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * (size_t)en->ne0;
            for (int64_t k = 0; k < en->ne0; k++) sum[k] += (double)xt[k] * xt[k];
        }
        en->counts[o->s[i].mat] += T;
        return;
    }
}

mm_imatrix *mm_imatrix_compute(mm_model *m, const int32_t *ids, int64_t n, const mm_imatrix_params *p, const char *dataset) {
    if (p->n_ctx < 1 || n < p->n_ctx) {
        mm_set_error("imatrix: %lld tokens of text, a chunk needs %d (a longer text or a smaller -c)", (long long)n, p->n_ctx);
        return NULL;
    }
    mm_gguf_tplan *pl = NULL;
    const int np = mm_gguf_plan_model(m, &pl);
    mm_imatrix *im = mm_imatrix_new();
    mm_obs o = {0};
    for (int i = 0; i < np; i++)
        if (pl[i].ndim >= 2 && strcmp(pl[i].name, "token_embd.weight")) o.n += pl[i].n_mats; /* the embedding is a lookup */
    o.s = mm_xmalloc(sizeof *o.s * (size_t)(o.n ? o.n : 1));
    o.n = 0;
    for (int i = 0; i < np; i++) {
        if (pl[i].ndim < 2 || !strcmp(pl[i].name, "token_embd.weight")) continue;
        mm_imatrix_entry *en = mm_imatrix_get(im, pl[i].name, pl[i].shape[pl[i].ndim - 1], pl[i].n_mats);
        for (int e = 0; e < pl[i].n_mats; e++) o.s[o.n++] = (mm_obs_slot){&pl[i].mats[e], en, e};
    }
    const int V = mm_model_config(m)->vocab_size;
    int64_t chunks = n / p->n_ctx;
    if (p->n_chunks > 0 && chunks > p->n_chunks) chunks = p->n_chunks;
    float *logits = mm_xmalloc(sizeof(float) * (size_t)p->n_ctx * (size_t)V);
    int32_t *seq = calloc((size_t)p->n_ctx, sizeof *seq);
    int8_t *want = mm_xmalloc((size_t)p->n_ctx);
    memset(want, 1, (size_t)p->n_ctx); /* every position's logits: lm_head sees every token, as in llama.cpp */
    int rc = 0;
    double t0 = mm_time();
    mm_matmul_set_observer(observe, &o);
    for (int64_t c = 0; c < chunks && !rc; c++) {
        mm_context *ctx = mm_context_new(m, &(mm_context_params){.n_ctx = p->n_ctx});
        if (!ctx) { rc = -1; break; }
        mm_batch b = {.n_tokens = p->n_ctx, .token = ids + c * p->n_ctx, .seq = seq, .logits = want};
        if (mm_decode(ctx, &b, logits) != p->n_ctx) rc = -1;
        mm_context_free(ctx);
        if (p->progress) fprintf(stderr, "\rimatrix: chunk %lld/%lld  %.1f s", (long long)c + 1, (long long)chunks, mm_time() - t0);
    }
    mm_matmul_set_observer(NULL, NULL);
    if (p->progress) fputc('\n', stderr);
    im->chunk_count = (uint32_t)chunks;
    im->chunk_size = (uint32_t)p->n_ctx;
    if (dataset) im->dataset = mm_xstrdup(dataset);
    free(logits), free(seq), free(want), free(o.s), free(pl);
    if (rc) {
        mm_error_prefix("imatrix");
        mm_imatrix_free(im);
        return NULL;
    }
    return im;
}
