/* mm_perplexity.h — perplexity the way llama.cpp's perplexity tool measures it, and the divergence of a model's
 * next-token distributions from a saved base (how a quantization is judged).
 *
 * The tokens are cut into chunks of n_ctx; each chunk is a fresh sequence, and only its second half is scored
 * (positions n_ctx/2 .. n_ctx-2 predict the next token), so every scored token has at least n_ctx/2 tokens of
 * context. With a base file the log-probabilities of every scored position are saved (first run) or compared
 * (later runs): KL(base || model), top-1 agreement and the largest |Δ log p|. */
#ifndef MM_PERPLEXITY_H
#define MM_PERPLEXITY_H
#include <stdint.h>
#include "minimax.h"

typedef struct {
    int n_ctx;              /* tokens per chunk (≥ 4) */
    int n_chunks;           /* at most this many chunks (0: all that fit) */
    const char *kl_base;    /* NULL, or a base file: written if it does not exist, compared against if it does */
    int progress;           /* a line on stderr per chunk (terminal) */
    int type_k, type_v;     /* KV cache types (MM_KV_*) */
    int kv_page;            /* positions per KV cache page (0: MM_KV_PAGE_DEFAULT) */
} mm_ppl_params;

typedef struct {
    double ppl, nll, nll_stderr;   /* exp(mean NLL), mean NLL (nats), its standard error */
    int64_t n_scored;
    int n_chunks;
    int base_written;              /* 1: the base file was written by this run */
    int base_compared;             /* 1: the fields below hold the comparison */
    double base_ppl;               /* the base's perplexity on the same tokens */
    double kl_mean, kl_max;        /* KL(base || model) per position, nats */
    double top1;                   /* share of positions whose most probable token is the base's */
    double max_dlogp;              /* max |log p_model − log p_base| over positions and vocabulary */
} mm_ppl_result;

/* Runs m on ids[n]. -1 + mm_set_error() when fewer than n_ctx tokens are given, or on a base file that does not
 * match (other tokens, vocabulary or chunking). */
int mm_perplexity(mm_model *m, const int32_t *ids, int64_t n, const mm_ppl_params *p, mm_ppl_result *r);
#endif
