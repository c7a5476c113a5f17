/* mm_sched.h — the server's scheduler: continuous batching of many requests on one mm_context.
 *
 * One worker thread owns the context. Each step it admits queued jobs into free sequence slots (restoring
 * the longest cached prefix), then runs ONE mm_decode holding one token for every generating sequence plus
 * at most one prefill chunk (prompts are prefilled in block_size pieces aligned to absolute positions, so a
 * prompt gives the same numbers whether or not part of it came from the cache and whatever else runs),
 * samples, detokenizes, applies stop strings and publishes the new text to the job. A finished or
 * cancelled job frees its slot at once. Jobs are shared with the HTTP threads through a mutex/condvar. */
#ifndef MM_SCHED_H
#define MM_SCHED_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "minimax.h"
#include "text/mm_grammar.h"
#include "text/mm_tokenizer.h"

#define MM_JOB_MAX_STOP 8

/* The memory that preprocessed images of admitted jobs hold until they are encoded (server --image-mem-mb): a
 * request reserves its images' pixel bytes before preprocessing them (refused when that would pass max), and
 * the scheduler gives them back as it frees each image's pixels (encoded, restored from the cache, or the job
 * ended). Without a bound, 64 queued requests of 8 large images each would hold tens of GB. */
typedef struct mm_image_budget {
    _Atomic size_t used;
    size_t max;
} mm_image_budget;
/* 1 and n bytes more are used, or 0 (nothing changed) when that would pass max. */
int mm_image_budget_reserve(mm_image_budget *b, size_t n);

/* One image of a job's prompt (MiniMax-VL-01). It is encoded by the worker only when the prefill reaches its
 * tokens and they were not restored from the prefix cache; one patch per step while other sequences generate
 * (a bounded stall), all at once otherwise. */
typedef struct mm_job_image {
    mm_image_input *in;       /* preprocessed pixels (owned; freed once encoded) */
    size_t in_bytes;          /* what `in` holds of budget (given back when it is freed) */
    mm_image_budget *budget;  /* or NULL */
    int pos, n_tok;           /* its image tokens are prompt[pos .. pos + n_tok) */
    uint8_t hash[32];         /* sha256 of the image file */
    float *proj;              /* [n_patches · G, H] projected patch features as encoding proceeds (owned) */
    int done_patches;         /* patches encoded so far */
    const float **rows;       /* [n_tok] the packed features (rows of proj / image_newline) once all are encoded */
} mm_job_image;

/* What a job computes: generated text, or final hidden states of its prompt (no generation):
 * MM_JOB_EMBED pools them into one L2-normalised vector [H]; MM_JOB_HEAD applies the model's task head to
 * the token head_pos (sequence classification) or to every token (head_pos -1: token classification, QA). */
enum { MM_JOB_GENERATE = 0, MM_JOB_EMBED = 1, MM_JOB_HEAD = 2 };

typedef struct mm_job {
    /* ---- input, set before mm_sched_submit and read-only afterwards */
    int kind;                 /* MM_JOB_* */
    int pooling;              /* MM_JOB_EMBED: MM_POOL_LAST or MM_POOL_MEAN */
    int head_pos;             /* MM_JOB_HEAD: the token whose head output is wanted, -1 every token */
    mm_grammar *grammar;      /* constrained generation (owned), or NULL */
    const mm_gvocab *gvocab;  /* the token trie the grammar masks with (the server's, outlives the job) */
    int32_t *bias_id;         /* logit bias (owned) */
    float *bias_val;
    int n_bias;
    int32_t *prompt;          /* [n_prompt] (owned) */
    int n_prompt;
    int max_tokens;           /* tokens to generate at most (-1: until the context is full) */
    mm_sampler_params sp;
    char *stop[MM_JOB_MAX_STOP];  /* owned; bytes (may hold NUL), stop_len[k] of them */
    size_t stop_len[MM_JOB_MAX_STOP];
    int n_stop;
    int32_t eos;              /* stop token (-1: none) */
    int skip_special;         /* leave special tokens out of the text */
    mm_job_image *images;     /* [n_images] the prompt's images, in order (owned) */
    int n_images;
    int32_t *key;             /* [n_prompt] the prefix-cache key: the prompt with each image's tokens replaced by ids
                               * derived from its hash (negative, never a token), so a cached state is reused only
                               * for the same image bytes; NULL: the prompt itself */

    /* ---- output, guarded by mu; `cond` is signalled on every change */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char *text;               /* generated text so far (NUL-terminated, and it may hold NUL: text_len counts) */
    size_t text_len;
    size_t text_ready;        /* bytes of text that are final (not a possible stop-string prefix) */
    int32_t *gen;             /* generated token ids */
    int n_gen, cap_gen;
    int done;                 /* 1: finished; finish_reason is set */
    const char *finish_reason; /* "stop", "length", "cancelled", "error" */
    char error[256];
    int n_cached;             /* prompt tokens restored from the prefix cache */
    float *out;               /* MM_JOB_EMBED [H] / MM_JOB_HEAD [out_rows, out_cols], complete once done (owned) */
    int out_rows, out_cols;
    double t_submit, t_admit, t_first, t_end;   /* mm_time() stamps */

    volatile int cancel;      /* set by the HTTP side: the client went away */
    int refs;                 /* guarded by mu; freed at 0 */
} mm_job;

/* A new job with 1 reference (the caller's); takes ownership of prompt. */
mm_job *mm_job_new(int32_t *prompt, int n_prompt);
void mm_job_release(mm_job *j);
void mm_job_add_stop(mm_job *j, const char *s, size_t len);   /* empty: ignored */
/* Gives the job its images (taking ownership of the array and of every .in): locates each image's run of image
 * tokens in the prompt (image j = the j-th n_tok-long run, in order) and builds the cache key from the hashes.
 * -1 + error if the prompt's image tokens do not match (the caller expanded the placeholders). */
int mm_job_set_images(mm_job *j, mm_job_image *images, int n, int32_t image_token);
/* Frees an image's preprocessed pixels and gives their bytes back to its budget. */
void mm_job_image_free_pixels(mm_job_image *im);

typedef struct mm_sched mm_sched;

typedef struct mm_sched_params {
    int parallel;             /* sequences decoded together (slots) */
    int n_ctx;                /* tokens per sequence */
    int queue_max;            /* waiting jobs beyond the running ones before submit refuses */
    size_t cache_bytes;       /* prefix-cache budget (0: off) */
    int type_k, type_v;       /* KV cache types (MM_KV_*) */
    int kv_page;              /* positions per KV cache page (0: MM_KV_PAGE_DEFAULT) */
    int micro;                /* on a pipeline: micro-batches a step is cut into (mm_context_params.n_micro); 0: one
                               * per rank */
} mm_sched_params;

/* Creates the context and starts the worker thread. tok may be NULL (token-id prompts only). */
mm_sched *mm_sched_new(const mm_model *m, const mm_tokenizer *tok, const mm_sched_params *p);
/* The micro-batches a step is cut into at most (1: steps are not cut: one process, expert parallelism, or told so). */
int mm_sched_micro_batches(const mm_sched *s);
/* Stops admitting, cancels every queued and running job (drain first with mm_sched_pending), stops the
 * thread, frees. */
void mm_sched_free(mm_sched *s);

/* Queues a job (adds the scheduler's reference). 0; -1 queue full; -2 shutting down. */
int mm_sched_submit(mm_sched *s, mm_job *j);
/* From now on submit refuses (-2); running and queued jobs continue. */
void mm_sched_stop_accepting(mm_sched *s);
/* Queued + running jobs. */
int mm_sched_pending(mm_sched *s);
int mm_sched_n_ctx(const mm_sched *s);

typedef struct mm_sched_stats {
    int slots, running, queued;
    int64_t prompt_tokens, prefill_tokens, gen_tokens;   /* prefill_tokens excludes cached tokens */
    double prefill_seconds, decode_seconds;
    int64_t steps, cache_hits, cache_misses, cache_tokens_saved, cache_evictions;
    int cache_entries;
    int64_t cache_bytes, cache_budget;
    int64_t jobs_done, jobs_cancelled;
    int64_t images_encoded, image_patches_encoded, images_cached, image_tokens;   /* images_cached: encodes skipped
                                                                                  * because the cache held their span */
    double image_encode_seconds;
    mm_kv_stats kv;           /* the KV page pool of the context (pages held by slots and cached snapshots) */
} mm_sched_stats;
void mm_sched_get_stats(mm_sched *s, mm_sched_stats *st);

#endif
