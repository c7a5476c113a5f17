/* mm_sched.c — continuous batching and the prefix cache on one context (see mm_sched.h).
 *
 * Slot life: FREE → (admit: restore cached prefix, new sampler) PREFILL → (last prompt chunk gives logits,
 * first token sampled) GEN → finished/cancelled → FREE. Prompts are prefilled in pieces that end on
 * absolute multiples of the lightning block size; snapshots go into the prefix cache at those block
 * boundaries and at the end of each job (prompt + generated tokens), keyed by the exact tokens they cover.
 * Images: a prefill piece also ends where an image's tokens end (a snapshot there lets a later request about the same
 * image, keyed by its hash, skip both the encode and the prefill); the image is encoded just before the first piece
 * that needs its features. Both cut rules depend on the prompt only, so a prompt computes the same numbers
 * whatever was restored. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mm_common.h"
#include "model/mm_pipeline.h"
#include "server/mm_prefix_cache.h"
#include "server/mm_sched.h"

/* ---------------------------------------------------------------- jobs */

mm_job *mm_job_new(int32_t *prompt, int n_prompt) {
    mm_job *j = mm_xcalloc(1, sizeof *j);
    j->prompt = prompt;
    j->n_prompt = n_prompt;
    j->max_tokens = -1;
    j->sp = mm_sampler_default_params();
    j->eos = -1;
    j->skip_special = 1;
    j->refs = 1;
    j->text = mm_xcalloc(1, 1);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cond, NULL);
    return j;
}

void mm_job_add_stop(mm_job *j, const char *s, size_t len) {
    if (j->n_stop >= MM_JOB_MAX_STOP || !s || !len) return;
    j->stop[j->n_stop] = mm_xmalloc(len);
    memcpy(j->stop[j->n_stop], s, len);
    j->stop_len[j->n_stop++] = len;
}

int mm_image_budget_reserve(mm_image_budget *b, size_t n) {
    size_t used = atomic_load(&b->used);
    do
        if (n > b->max || used > b->max - n) return 0;
    while (!atomic_compare_exchange_weak(&b->used, &used, used + n));
    return 1;
}

void mm_job_image_free_pixels(mm_job_image *im) {
    mm_image_input_free(im->in);
    im->in = NULL;
    if (im->budget) atomic_fetch_sub(&im->budget->used, im->in_bytes);
    im->in_bytes = 0;
}

static void image_drop(mm_job_image *im) {
    mm_job_image_free_pixels(im);
    free(im->proj);
    free(im->rows);
    im->proj = NULL, im->rows = NULL;
}

int mm_job_set_images(mm_job *j, mm_job_image *images, int n, int32_t image_token) {
    j->images = images;
    j->n_images = n;
    if (!n) return 0;
    j->key = mm_xmalloc(sizeof(int32_t) * (size_t)(j->n_prompt ? j->n_prompt : 1));
    memcpy(j->key, j->prompt, sizeof(int32_t) * (size_t)j->n_prompt);
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (k < j->n_prompt && j->prompt[k] != image_token) k++;
        int e = k;
        while (e < j->n_prompt && e - k < images[i].n_tok && j->prompt[e] == image_token) e++;
        if (e - k != images[i].n_tok) {
            mm_set_error("scheduler: image %d's %d tokens are not where the prompt has image tokens", i, images[i].n_tok);
            return -1;
        }
        images[i].pos = k;
        uint64_t seed;
        memcpy(&seed, images[i].hash, 8);
        for (int t = 0; t < images[i].n_tok; t++) {   /* splitmix64 of (hash, index): a negative id per position */
            uint64_t z = seed + (uint64_t)(t + 1) * 0x9e3779b97f4a7c15ull;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            j->key[k + t] = (int32_t)(0x80000000u | (uint32_t)((z ^ (z >> 31)) & 0x7fffffffu));
        }
        k = e;
    }
    return 0;
}

void mm_job_release(mm_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    for (int i = 0; i < j->n_images; i++) image_drop(&j->images[i]);
    free(j->images);
    free(j->key);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cond);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    mm_grammar_free(j->grammar);
    free(j->bias_id);
    free(j->bias_val);
    free(j->out);
    free(j->prompt);
    free(j->text);
    free(j->gen);
    free(j);
}

/* ---------------------------------------------------------------- scheduler state */

enum { SLOT_FREE, SLOT_PREFILL, SLOT_GEN };

typedef struct {
    int state;
    mm_job *job;
    int pos;              /* prompt tokens in the sequence (PREFILL) */
    int32_t *toks;        /* tokens in the sequence: prompt, then fed generated tokens [cap_toks] */
    int n_toks, cap_toks;
    int32_t next;         /* GEN: the sampled token to feed next */
    int n_gen;
    mm_sampler *smp;
    mm_detok *dt;
    mm_gmatch *gm;        /* the job's grammar state, or NULL */
    mm_gbind gb;          /* gm + the vocabulary, as the sampler's constraint */
    double *acc;          /* MM_JOB_EMBED mean pooling: Σ hidden states [H] */
    int64_t order;        /* admission order: the oldest prefill goes first */
} mm_slot;

struct mm_sched {
    const mm_model *model;
    const mm_tokenizer *tok;
    mm_context *ctx;
    mm_sched_params p;
    int block;            /* prefill chunk alignment: the lightning block size */
    int vocab;
    mm_slot *slots;
    mm_prefix_cache *cache;
    float *logits;        /* [parallel + 1, vocab]; NULL for a task-head model (no lm_head) */
    float *hidden;        /* [block, H] hidden states of a prefill chunk (embeddings, task heads) */
    int8_t *bhid;         /* [parallel + block] hidden-state requests of the batch */
    int H;
    int32_t *btok, *bseq; /* batch scratch */
    const float **bembd;  /* image features of batch rows (NULL: token embedding) */
    int8_t *blog;
    int *brow;            /* logits row → slot */

    pthread_mutex_t mu;   /* guards queue, flags and stats */
    pthread_cond_t wake;
    mm_job **queue;       /* FIFO ring */
    int q_head, q_len, q_cap;
    int running;          /* jobs in slots */
    int accepting, quit;
    volatile int abort_all; /* mm_sched_free: cancel whatever is left */
    pthread_t thread;
    int64_t admitted;
    mm_sched_stats st;
};

static void free_state(void *s) { mm_seq_state_free(s); }

/* ---------------------------------------------------------------- job output (called on the worker) */

static void job_finish(mm_sched *s, mm_job *j, const char *reason, const char *err) {
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    j->finish_reason = reason;
    j->text_ready = j->text_len;
    j->t_end = mm_time();
    if (err) snprintf(j->error, sizeof j->error, "%s", err);
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_lock(&s->mu);
    if (!strcmp(reason, "cancelled")) s->st.jobs_cancelled++;
    else s->st.jobs_done++;
    pthread_mutex_unlock(&s->mu);
    mm_job_release(j);
}

/* Longest suffix of text[0..n) that is a proper prefix of some stop string. */
static size_t stop_partial(const mm_job *j, const char *text, size_t n) {
    size_t best = 0;
    for (int k = 0; k < j->n_stop; k++) {
        size_t sl = j->stop_len[k];
        for (size_t l = sl - 1; l > best; l--)
            if (l <= n && !memcmp(text + n - l, j->stop[k], l)) {
                best = l;
                break;
            }
    }
    return best;
}

/* The first occurrence of needle[0..m) in hay[0..n) (both may hold NUL), or NULL. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    for (size_t i = 0; m && i + m <= n; i++)
        if (hay[i] == needle[0] && !memcmp(hay + i, needle, m)) return hay + i;
    return NULL;
}

/* Appends text (and, if tok >= 0, the token it came from); returns 1 if a stop string completed, in which
 * case the text is cut just before it. Text already marked ready never ends inside a possible stop-string
 * prefix, so a match can only start at or after text_ready. */
static int job_push(mm_job *j, int32_t tok, const char *piece, size_t len) {
    int stopped = 0;
    pthread_mutex_lock(&j->mu);
    if (tok >= 0) {
        if (j->n_gen == j->cap_gen)
            j->gen = mm_xrealloc(j->gen, sizeof(int32_t) * (size_t)(j->cap_gen = j->cap_gen ? j->cap_gen * 2 : 64));
        j->gen[j->n_gen++] = tok;
    }
    if (!j->t_first) j->t_first = mm_time();
    if (len) {
        j->text = mm_xrealloc(j->text, j->text_len + len + 1);
        memcpy(j->text + j->text_len, piece, len);
        j->text_len += len;
        j->text[j->text_len] = 0;
    }
    size_t cut = j->text_len;
    for (int k = 0; k < j->n_stop; k++) {
        const char *hit = find_bytes(j->text + j->text_ready, j->text_len - j->text_ready, j->stop[k], j->stop_len[k]);
        if (hit && (size_t)(hit - j->text) < cut) {
            cut = (size_t)(hit - j->text);
            stopped = 1;
        }
    }
    if (stopped) {
        j->text_len = cut;
        j->text[cut] = 0;
    }
    j->text_ready = stopped ? j->text_len : j->text_len - stop_partial(j, j->text, j->text_len);
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->mu);
    return stopped;
}

/* ---------------------------------------------------------------- slots */

static void slot_release(mm_sched *s, int i) {
    mm_slot *sl = &s->slots[i];
    mm_sampler_free(sl->smp);
    mm_detok_free(sl->dt);
    mm_gmatch_free(sl->gm);
    free(sl->acc);
    sl->smp = NULL;
    sl->dt = NULL;
    sl->gm = NULL;
    sl->acc = NULL;
    sl->job = NULL;
    sl->state = SLOT_FREE;
    sl->n_toks = 0;
    mm_seq_reset(s->ctx, i);
    pthread_mutex_lock(&s->mu);
    s->running--;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

static void slot_push_tok(mm_slot *sl, int32_t t) {
    if (sl->n_toks == sl->cap_toks)
        sl->toks = mm_xrealloc(sl->toks, sizeof(int32_t) * (size_t)(sl->cap_toks = sl->cap_toks * 2 + 256));
    sl->toks[sl->n_toks++] = t;
}

/* Saves the sequence's state under the tokens it holds unless the cache already has them. */
static void cache_snapshot(mm_sched *s, int i) {
    mm_slot *sl = &s->slots[i];
    int n = mm_seq_len(s->ctx, i);
    if (!s->p.cache_bytes || n <= 0 || n > sl->n_toks || mm_pcache_contains(s->cache, sl->toks, n)) return;
    mm_seq_state *st = mm_seq_snapshot(s->ctx, i);
    if (!st) return;   /* out of memory: caching is best effort */
    /* its KV pages are shared with the slot and with other cached prefixes of the same tokens: each counts once */
    uint8_t *const *pages;
    size_t page_bytes, own;
    const int np = mm_seq_state_pages(st, &pages, &page_bytes, &own);
    mm_pcache_put_shared(s->cache, sl->toks, n, st, own, (const void *const *)pages, np, page_bytes);
    mm_pcache_stats cs;
    mm_pcache_get_stats(s->cache, &cs);
    pthread_mutex_lock(&s->mu);
    s->st.cache_entries = cs.entries;
    s->st.cache_bytes = (int64_t)cs.bytes;
    s->st.cache_evictions = cs.evictions;
    pthread_mutex_unlock(&s->mu);
}

/* Ends slot i's job. reason: "stop" (eos or stop string), "length", "cancelled", "error". */
static void slot_finish(mm_sched *s, int i, const char *reason, const char *err) {
    mm_slot *sl = &s->slots[i];
    if (!err && strcmp(reason, "cancelled")) cache_snapshot(s, i);   /* end of turn */
    job_finish(s, sl->job, reason, err);
    slot_release(s, i);
}

/* Publishes the bytes the detokenizer still holds (end of generation); 1 if that completed a stop string. */
static int slot_flush(mm_slot *sl) {
    if (!sl->dt) return 0;
    size_t len;
    const char *rest = mm_detok_flush(sl->dt, &len);
    return len ? job_push(sl->job, -1, rest, len) : 0;
}

/* NULL if the job fits this scheduler: ids in the vocabulary, prompt within the context; else why not. */
static const char *job_unfit(const mm_sched *s, const mm_job *j, char *why, size_t n) {
    if (j->n_prompt < 1 || j->n_prompt > s->p.n_ctx) {
        snprintf(why, n, "the prompt has %d tokens; the context holds 1 to %d", j->n_prompt, s->p.n_ctx);
        return why;
    }
    for (int k = 0; k < j->n_prompt; k++)
        if (j->prompt[k] < 0 || j->prompt[k] >= s->vocab) {
            snprintf(why, n, "prompt token %d is id %d, outside the model's vocabulary [0, %d)", k, j->prompt[k], s->vocab);
            return why;
        }
    return NULL;
}

static void slot_admit(mm_sched *s, int i, mm_job *j) {
    mm_slot *sl = &s->slots[i];
    char why[160];
    if (job_unfit(s, j, why, sizeof why)) {   /* fails alone, before it can share a batch with anyone */
        sl->job = j;
        slot_finish(s, i, "error", why);
        return;
    }
    sl->job = j;
    sl->state = SLOT_PREFILL;
    sl->n_toks = 0;
    sl->n_gen = 0;
    sl->order = s->admitted++;
    const int32_t *key = j->key ? j->key : j->prompt;
    for (int k = 0; k < j->n_prompt; k++) slot_push_tok(sl, key[k]);
    mm_seq_reset(s->ctx, i);
    int hit = 0;
    /* at most n_prompt - 1 tokens: the last prompt token must run to give the first logits; a job that wants
     * hidden states restores no further than the first token it needs them for */
    int max_hit = j->n_prompt - 1;
    if (j->kind == MM_JOB_EMBED && j->pooling == MM_POOL_MEAN) max_hit = 0;
    if (j->kind == MM_JOB_HEAD) max_hit = j->head_pos < 0 ? 0 : j->head_pos < max_hit ? j->head_pos : max_hit;
    if (s->p.cache_bytes && max_hit > 0) {
        const mm_seq_state *st = mm_pcache_lookup(s->cache, key, j->n_prompt, max_hit, &hit);
        if (st && mm_seq_restore(s->ctx, i, st) < 0) {
            mm_seq_reset(s->ctx, i);
            hit = 0;
        }
    }
    sl->pos = hit;
    const char *err = NULL;
    if (j->kind == MM_JOB_GENERATE) {
        sl->smp = mm_sampler_new(&j->sp, s->vocab);
        if (!sl->smp) err = mm_last_error();
        else if (j->n_bias && mm_sampler_set_logit_bias(sl->smp, j->bias_id, j->bias_val, j->n_bias) < 0) err = mm_last_error();
        if (s->tok) sl->dt = mm_detok_new(s->tok, j->skip_special);
        for (int k = 0; k < j->n_prompt && sl->smp; k++) mm_sampler_accept(sl->smp, j->prompt[k]);
        if (!err && j->grammar) {
            if (!(sl->gm = mm_gmatch_new(j->grammar))) {
                err = mm_last_error();
            } else {
                sl->gb = (mm_gbind){.m = sl->gm, .v = j->gvocab};
                mm_sampler_constraint con = mm_gbind_constraint(&sl->gb);
                mm_sampler_set_constraint(sl->smp, &con);
            }
        }
    } else {
        const int H = s->H;
        j->out_cols = j->kind == MM_JOB_EMBED ? H : mm_model_head_size(s->model);
        j->out_rows = j->kind == MM_JOB_EMBED || j->head_pos >= 0 ? 1 : j->n_prompt;
        j->out = mm_xcalloc((size_t)j->out_rows * (size_t)j->out_cols, sizeof(float));
        if (j->kind == MM_JOB_EMBED && j->pooling == MM_POOL_MEAN) sl->acc = mm_xcalloc((size_t)H, sizeof(double));
    }
    pthread_mutex_lock(&j->mu);
    j->t_admit = mm_time();
    j->n_cached = hit;
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_lock(&s->mu);
    if (hit) {
        s->st.cache_hits++;
        s->st.cache_tokens_saved += hit;
    } else if (s->p.cache_bytes) {
        s->st.cache_misses++;
    }
    for (int k = 0; k < j->n_images; k++) {
        s->st.image_tokens += j->images[k].n_tok;
        if (j->images[k].pos + j->images[k].n_tok <= hit) {   /* restored with the state: never encoded */
            s->st.images_cached++;
            image_drop(&j->images[k]);
        }
    }
    s->st.prompt_tokens += j->n_prompt;
    pthread_mutex_unlock(&s->mu);
    if (err) slot_finish(s, i, "error", err);
}

/* The hidden states of slot i's prefill chunk [pos0, pos1) (n rows, those its job asked for) go into its job;
 * the last chunk finishes it. */
static void slot_hidden(mm_sched *s, int i, int pos0, int pos1, const float *h, int n) {
    mm_slot *sl = &s->slots[i];
    mm_job *j = sl->job;
    const int H = s->H;
    if (j->kind == MM_JOB_EMBED) {
        if (j->pooling == MM_POOL_MEAN)
            for (int r = 0; r < n; r++)
                for (int k = 0; k < H; k++) sl->acc[k] += h[(size_t)r * H + k];
        else if (n)
            memcpy(j->out, h + (size_t)(n - 1) * H, sizeof(float) * (size_t)H);
    } else if (n) {
        float *dst = j->head_pos >= 0 ? j->out : j->out + (size_t)pos0 * (size_t)j->out_cols;
        if (mm_model_head_forward(s->model, h, n, dst) < 0) {
            slot_finish(s, i, "error", mm_last_error());
            return;
        }
    }
    if (pos1 < j->n_prompt) return;
    if (j->kind == MM_JOB_EMBED) {
        if (j->pooling == MM_POOL_MEAN)
            for (int k = 0; k < H; k++) j->out[k] = (float)(sl->acc[k] / j->n_prompt);
        mm_l2_normalize(j->out, H);
    }
    pthread_mutex_lock(&j->mu);
    if (!j->t_first) j->t_first = mm_time();
    pthread_mutex_unlock(&j->mu);
    slot_finish(s, i, "stop", NULL);
}

/* Consumes the logits of slot i: sample, publish, decide whether the job goes on. */
static void slot_sample(mm_sched *s, int i, float *logits) {
    mm_slot *sl = &s->slots[i];
    mm_job *j = sl->job;
    int32_t t = mm_sampler_sample(sl->smp, logits);
    sl->state = SLOT_GEN;
    if (sl->gm && (mm_sampler_constraint_failed(sl->smp) || (t != j->eos && mm_gmatch_accept_token(sl->gm, j->gvocab, t) < 0))) {
        slot_flush(sl);
        slot_finish(s, i, "error", "no token of the vocabulary continues the output as the grammar requires "
                                    "(the logit bias may have banned them)");
        return;
    }
    if (t == j->eos) {
        slot_flush(sl);
        job_push(j, -1, "", 0);   /* stamps t_first if this is the first token */
        slot_finish(s, i, "stop", NULL);
        return;
    }
    mm_sampler_accept(sl->smp, t);
    size_t len = 0;
    const char *piece = sl->dt ? mm_detok_push(sl->dt, t, &len) : "";
    sl->n_gen++;
    int stopped = job_push(j, t, piece, len);
    pthread_mutex_lock(&s->mu);
    s->st.gen_tokens++;
    pthread_mutex_unlock(&s->mu);
    if (stopped) {
        slot_finish(s, i, "stop", NULL);
        return;
    }
    if (sl->gm && !mm_gmatch_can_continue(sl->gm)) {   /* the grammar is complete and allows nothing more */
        slot_flush(sl);
        slot_finish(s, i, "stop", NULL);
        return;
    }
    if ((j->max_tokens >= 0 && sl->n_gen >= j->max_tokens) || mm_seq_len(s->ctx, i) >= s->p.n_ctx) {
        slot_finish(s, i, slot_flush(sl) ? "stop" : "length", NULL);
        return;
    }
    sl->next = t;
}

/* ---------------------------------------------------------------- the worker */

/* After a batch failed: runs each sequence's tokens of it alone, writing logits rows where the batch would
 * have; a sequence that fails alone ends with the error (its slot is freed), the others go on as usual. */
static void decode_each(mm_sched *s, int n) {
    char first[256];
    snprintf(first, sizeof first, "%s", mm_last_error());
    int row = 0;
    for (int i0 = 0; i0 < n;) {
        int i1 = i0;
        while (i1 < n && s->bseq[i1] == s->bseq[i0]) i1++;
        const int seq = s->bseq[i0], want = s->blog[i1 - 1] != 0;
        mm_batch one = {.n_tokens = i1 - i0, .token = s->btok + i0, .seq = s->bseq + i0, .logits = s->blog + i0,
                        .embd = s->bembd + i0, .hidden = s->bhid + i0};   /* one prefill per step: its hidden rows are the only ones */
        if (mm_decode_ex(s->ctx, &one, s->logits ? s->logits + (size_t)row * s->vocab : NULL, s->hidden) != (s->logits ? want : 0)) {
            char err[sizeof ((mm_job *)0)->error];
            snprintf(err, sizeof err, "decode failed: %.200s", mm_last_error()[0] ? mm_last_error() : first);
            slot_finish(s, seq, "error", err);
        }
        row += want;
        i0 = i1;
    }
}

/* Encodes (more of) one image: all remaining patches when `all`, else one. 1 when its features are complete, 0
 * when patches remain, -1 + error. */
static int encode_image(mm_sched *s, mm_job_image *im, int all) {
    const mm_image_plan *p = mm_image_input_plan(im->in);
    const int G = mm_image_patch_tokens(s->model), H = mm_model_config(s->model)->hidden_size;
    if (!im->proj && !(im->proj = malloc(sizeof(float) * (size_t)p->n_patches * G * H))) {
        mm_set_error("out of memory for the features of %d patches", p->n_patches);
        return -1;
    }
    const int np = all ? p->n_patches - im->done_patches : 1;
    double t0 = mm_time();
    if (mm_image_encode_patches(s->model, im->in, im->done_patches, np, im->proj) < 0) return -1;
    im->done_patches += np;
    const int complete = im->done_patches == p->n_patches;
    if (complete) {
        im->rows = mm_xmalloc(sizeof(float *) * (size_t)im->n_tok);
        if (mm_image_pack_rows(s->model, im->in, im->proj, im->rows) < 0) return -1;
        mm_job_image_free_pixels(im);   /* the pixels are not needed any more */
    }
    pthread_mutex_lock(&s->mu);
    s->st.image_encode_seconds += mm_time() - t0;
    s->st.image_patches_encoded += np;
    s->st.images_encoded += complete;
    pthread_mutex_unlock(&s->mu);
    return complete;
}

/* Builds and runs one step; returns 0 if there was nothing to do. */
static int step(mm_sched *s) {
    const int P = s->p.parallel;
    int n = 0, rows = 0, n_hid = 0;
    /* cancellations and zero-token jobs first: they free slots without compute */
    for (int i = 0; i < P; i++) {
        mm_slot *sl = &s->slots[i];
        if (sl->state == SLOT_FREE) continue;
        if (sl->job->cancel || s->abort_all) slot_finish(s, i, "cancelled", NULL);
        else if (sl->state == SLOT_PREFILL && sl->job->max_tokens == 0) slot_finish(s, i, "length", NULL);
    }
    /* one token per generating sequence */
    for (int i = 0; i < P; i++) {
        mm_slot *sl = &s->slots[i];
        if (sl->state != SLOT_GEN) continue;
        s->btok[n] = sl->next;
        s->bseq[n] = i;
        s->blog[n] = 1;
        s->bhid[n] = 0;
        s->brow[rows++] = i;
        slot_push_tok(sl, sl->next);
        n++;
    }
    const int n_decode = n;
    /* one prefill chunk: the oldest prefilling sequence, up to the next block boundary */
    int pf = -1;
    for (int i = 0; i < P; i++)
        if (s->slots[i].state == SLOT_PREFILL && (pf < 0 || s->slots[i].order < s->slots[pf].order)) pf = i;
    int pf_end = 0, any_embd = 0, encoded = 0, image_end = 0;
    for (int k = 0; k < n; k++) s->bembd[k] = NULL;
    if (pf >= 0) {
        mm_slot *sl = &s->slots[pf];
        mm_job *j = sl->job;
        pf_end = (sl->pos / s->block + 1) * s->block;
        if (pf_end > j->n_prompt) pf_end = j->n_prompt;
        for (int k = 0; k < j->n_images; k++) {   /* a piece also ends where an image does */
            int e = j->images[k].pos + j->images[k].n_tok;
            if (e > sl->pos && e < pf_end) pf_end = e;
        }
        int ready = 1;
        for (int k = 0; k < j->n_images && ready; k++) {
            mm_job_image *im = &j->images[k];
            if (im->pos >= pf_end || im->pos + im->n_tok <= sl->pos || im->rows) continue;
            int r = encode_image(s, im, n_decode == 0);
            encoded = 1;
            ready = r == 1;
            if (r < 0) {   /* the other sequences still decode this step (their tokens are in the batch) */
                char err[300];
                snprintf(err, sizeof err, "image %d: %s", k + 1, mm_last_error());
                slot_finish(s, pf, "error", err);
            }
        }
        if (!ready) {
            pf = -1;   /* still encoding: this step decodes the other sequences only */
        } else {
            for (int k = sl->pos; k < pf_end; k++) {
                s->btok[n] = j->prompt[k];
                s->bseq[n] = pf;
                s->blog[n] = 0;
                s->bembd[n] = NULL;
                s->bhid[n] = j->kind == MM_JOB_GENERATE ? 0
                             : j->kind == MM_JOB_EMBED ? j->pooling == MM_POOL_MEAN || k == j->n_prompt - 1
                                                       : j->head_pos < 0 || k == j->head_pos;
                n_hid += s->bhid[n];
                for (int q = 0; q < j->n_images; q++) {
                    const mm_job_image *im = &j->images[q];
                    if (k >= im->pos && k < im->pos + im->n_tok) s->bembd[n] = im->rows[k - im->pos], any_embd = 1;
                    if (pf_end == im->pos + im->n_tok) image_end = 1;
                }
                n++;
            }
            if (pf_end == j->n_prompt && j->kind == MM_JOB_GENERATE) {
                s->blog[n - 1] = 1;
                s->brow[rows++] = pf;
            }
        }
    }
    if (!n) return encoded;
    double t0 = mm_time();
    mm_batch b = {.n_tokens = n, .token = s->btok, .seq = s->bseq, .logits = s->blog, .embd = any_embd ? s->bembd : NULL,
                  .hidden = s->bhid};
    int r = mm_decode_ex(s->ctx, &b, s->logits, s->hidden);
    if (r != rows) decode_each(s, n);   /* a failed call changed nothing: find who failed, only they end */
    double dt = mm_time() - t0;
    pthread_mutex_lock(&s->mu);
    s->st.steps++;
    s->st.prefill_tokens += n - n_decode;
    s->st.decode_seconds += dt * n_decode / n;
    s->st.prefill_seconds += dt * (n - n_decode) / n;
    pthread_mutex_unlock(&s->mu);
    if (pf >= 0 && s->slots[pf].state == SLOT_PREFILL) {
        mm_slot *sl = &s->slots[pf];
        const int pos0 = sl->pos;
        sl->pos = pf_end;
        if (pf_end % s->block == 0 || image_end) cache_snapshot(s, pf);   /* block boundary or image end in the prompt */
        for (int k = 0; k < sl->job->n_images; k++)   /* features past the prefill are not needed again */
            if (sl->job->images[k].pos + sl->job->images[k].n_tok <= pf_end) image_drop(&sl->job->images[k]);
        if (sl->job->kind != MM_JOB_GENERATE) slot_hidden(s, pf, pos0, pf_end, s->hidden, n_hid);
    }
    for (int k = 0; k < rows; k++)
        if (s->slots[s->brow[k]].state != SLOT_FREE) slot_sample(s, s->brow[k], s->logits + (size_t)k * s->vocab);
    return 1;
}

/* Moves queued jobs into free slots. */
static void admit_queued(mm_sched *s) {
    mm_job *admit[256];
    int slot_of[256], n_admit = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->p.parallel && s->q_len && n_admit < 256; i++) {
        if (s->slots[i].state != SLOT_FREE) continue;
        admit[n_admit] = s->queue[s->q_head];
        slot_of[n_admit++] = i;
        s->slots[i].state = SLOT_PREFILL;   /* reserved */
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        s->running++;
    }
    pthread_mutex_unlock(&s->mu);
    for (int k = 0; k < n_admit; k++) {
        if (admit[k]->cancel || s->abort_all) {
            s->slots[slot_of[k]].job = admit[k];
            slot_finish(s, slot_of[k], "cancelled", NULL);
        } else {
            slot_admit(s, slot_of[k], admit[k]);
        }
    }
}

static void *worker(void *arg) {
    mm_sched *s = arg;
    /* OpenMP's thread count is a per-thread setting: a new pthread starts from the default (all cores),
     * not from what mm_set_threads() set on the main thread; apply it here, where the forward passes run. */
    mm_set_threads(mm_get_threads());
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->quit && !s->q_len && !s->running) {
            if (!mm_pp_driver(s->model)) {
                pthread_cond_wait(&s->wake, &s->mu);
                continue;
            }
            /* rank 0 of a pipeline: the other ranks wait for commands with a timeout; tell them we live */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += mm_pp_keepalive_s(s->model);
            if (pthread_cond_timedwait(&s->wake, &s->mu, &until) == ETIMEDOUT) {
                pthread_mutex_unlock(&s->mu);
                mm_pp_ping(s->model->pp);
                pthread_mutex_lock(&s->mu);
            }
        }
        int quit = s->quit && !s->q_len && !s->running;
        pthread_mutex_unlock(&s->mu);
        if (quit) break;
        admit_queued(s);
        step(s);
    }
    return NULL;
}

/* ---------------------------------------------------------------- API */

static void sched_destroy(mm_sched *s);

/* Everything but the worker thread (tests drive admit_queued/step themselves). */
static mm_sched *sched_create(const mm_model *m, const mm_tokenizer *tok, const mm_sched_params *p) {
    mm_sched *s = mm_xcalloc(1, sizeof *s);
    s->model = m;
    s->tok = tok;
    s->p = *p;
    if (s->p.parallel < 1) s->p.parallel = 1;
    if (s->p.queue_max < 0) s->p.queue_max = 0;
    const mm_config *cfg = mm_model_config(m);
    s->vocab = cfg->vocab_size;
    s->block = cfg->block_size > 0 ? cfg->block_size : 256;
    const int P = s->p.parallel;
    /* one forward holds P decode tokens + one block of prefill: keep it one internal chunk; on a pipeline a step of
     * 128 tokens or more is cut into micro-batches of 64 or more (one per stage unless told), which follow each other
     * through the stages (mm_context_params.n_micro) */
    const int micro = s->p.micro > 0 ? s->p.micro : mm_pp_stages(m);
    s->ctx = mm_context_new(m, &(mm_context_params){.n_ctx = s->p.n_ctx, .n_seq_max = P, .n_ubatch = P + s->block,
                                                    .type_k = s->p.type_k, .type_v = s->p.type_v, .kv_page = s->p.kv_page,
                                                    .n_micro = micro});
    if (!s->ctx) {
        free(s);
        return NULL;
    }
    s->slots = mm_xcalloc((size_t)P, sizeof(mm_slot));
    s->cache = mm_pcache_new(s->p.cache_bytes, free_state);
    s->H = cfg->hidden_size;
    if (cfg->arch == MM_ARCH_CAUSAL_LM) s->logits = mm_xmalloc(sizeof(float) * (size_t)(P + 1) * (size_t)s->vocab);
    s->hidden = mm_xmalloc(sizeof(float) * (size_t)s->block * (size_t)s->H);
    s->bhid = mm_xmalloc((size_t)(P + s->block));
    s->btok = mm_xmalloc(sizeof(int32_t) * (size_t)(P + s->block));
    s->bseq = mm_xmalloc(sizeof(int32_t) * (size_t)(P + s->block));
    s->bembd = mm_xmalloc(sizeof(float *) * (size_t)(P + s->block));
    s->blog = mm_xmalloc((size_t)(P + s->block));
    s->brow = mm_xmalloc(sizeof(int) * (size_t)(P + 1));
    s->q_cap = s->p.queue_max + P;
    s->queue = mm_xmalloc(sizeof(mm_job *) * (size_t)s->q_cap);
    s->accepting = 1;
    s->st.slots = P;
    s->st.cache_budget = (int64_t)s->p.cache_bytes;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    return s;
}

int mm_sched_micro_batches(const mm_sched *s) {
    return mm_pp_stages(s->model) > 1 ? s->ctx->n_micro : 1;
}

mm_sched *mm_sched_new(const mm_model *m, const mm_tokenizer *tok, const mm_sched_params *p) {
    mm_sched *s = sched_create(m, tok, p);
    if (s && pthread_create(&s->thread, NULL, worker, s)) {
        mm_set_error("scheduler: cannot start the worker thread");
        sched_destroy(s);
        return NULL;
    }
    return s;
}

void mm_sched_stop_accepting(mm_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->accepting = 0;
    pthread_mutex_unlock(&s->mu);
}

void mm_sched_free(mm_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->accepting = 0;
    s->quit = 1;
    s->abort_all = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    sched_destroy(s);
}

static void sched_destroy(mm_sched *s) {
    for (int i = 0; i < s->p.parallel; i++) free(s->slots[i].toks);
    mm_pcache_free(s->cache);
    mm_context_free(s->ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    free(s->slots);
    free(s->logits);
    free(s->hidden);
    free(s->bhid);
    free(s->btok);
    free(s->bseq);
    free(s->bembd);
    free(s->blog);
    free(s->brow);
    free(s->queue);
    free(s);
}

int mm_sched_submit(mm_sched *s, mm_job *j) {
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (!s->accepting) rc = -2;
    else if (s->q_len + s->running >= s->p.parallel + s->p.queue_max) rc = -1;
    if (!rc) {
        pthread_mutex_lock(&j->mu);
        j->refs++;
        j->t_submit = mm_time();
        pthread_mutex_unlock(&j->mu);
        s->queue[(s->q_head + s->q_len) % s->q_cap] = j;
        s->q_len++;
        pthread_cond_broadcast(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int mm_sched_pending(mm_sched *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->q_len + s->running;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int mm_sched_n_ctx(const mm_sched *s) { return s->p.n_ctx; }

void mm_sched_get_stats(mm_sched *s, mm_sched_stats *st) {
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    st->running = s->running;
    st->queued = s->q_len;
    pthread_mutex_unlock(&s->mu);
    if (s->ctx) mm_context_kv_stats(s->ctx, &st->kv); /* thread-safe: the pool has its own lock */
}
