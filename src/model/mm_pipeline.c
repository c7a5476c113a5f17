/* mm_pipeline.c — pipeline stages over the transport (mm_pipeline.h): the split planner, the start-up agreement
 * (same binary, config and model on every rank; every rank loaded), rank 0's forwarding of context operations and
 * the other ranks' command loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "model/mm_pipeline.h"
#include "formats/mm_weights.h"

enum { TAG_HELLO = 10, TAG_VERDICT, TAG_CMD, TAG_BATCH, TAG_ACT, TAG_LOGITS, TAG_STATE, TAG_PATH };
enum {
    OP_QUIT = 1, OP_PING, OP_CTX_NEW, OP_CTX_FREE, OP_DECODE, OP_SEQ_RESET, OP_SEQ_COPY, OP_SNAPSHOT, OP_RESTORE, OP_STATE_FREE,
    OP_STATE_HAS, OP_STATE_GET, OP_STATE_NEW, OP_STATE_PUT, OP_NEXT_MODEL
};

typedef struct {
    int32_t op, ctx, a, b, c, d, e, f; /* the 64-bit fields start at byte 32 */
    int64_t snap;
    int64_t n;      /* a state block's bytes; a new context's micro-batches per chunk */
} pp_cmd;
/* Sent as raw bytes between ranks of one build: no padding the compiler could fill differently. */
_Static_assert(sizeof(pp_cmd) == 8 * sizeof(int32_t) + 2 * sizeof(int64_t), "pp_cmd has no implicit padding");

#define PIECE ((size_t)1 << 26) /* a state block travels in messages of at most 64 MiB */

/* ---------------------------------------------------------------- the split */
static int64_t range_bytes(const int64_t *per, int a, int b) {
    int64_t s = 0;
    for (int i = a; i < b; i++) s += per[i];
    return s;
}

/* Greedy: each rank takes layers while its bytes stay ≤ cap, leaving one layer per later rank. */
static int plan_fits(const int64_t *per, int L, int64_t embed, int64_t head, int n, int64_t cap, int *first) {
    int l = 0;
    for (int r = 0; r < n; r++) {
        first[r] = l;
        int64_t sum = r == 0 ? embed : 0;
        if (r == n - 1) {
            sum += range_bytes(per, l, L) + head;
            l = L;
        } else {
            do sum += per[l++];
            while (l < L - (n - 1 - r) && sum + per[l] <= cap);
        }
        if (sum > cap) return 0;
    }
    first[n] = L;
    return 1;
}

int mm_pp_plan(const int64_t *per_layer, int L, int64_t embed, int64_t head, int n, const char *split, int *first) {
    if (n < 1 || n > MM_PP_MAX_RANKS || n > L) {
        mm_set_error("%d ranks for %d layers: each rank needs at least one layer (at most %d ranks)", n, L,
                     L < MM_PP_MAX_RANKS ? L : MM_PP_MAX_RANKS);
        return -1;
    }
    if (split) {
        const char *p = split;
        int r = 0, l = 0;
        while (*p) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 1 || v > L) {
                mm_set_error("--layer-split %s: expected %d positive layer counts separated by commas", split, n);
                return -1;
            }
            if (r == n) {
                mm_set_error("--layer-split %s: more counts than the %d ranks", split, n);
                return -1;
            }
            first[r++] = l;
            l += (int)v;
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') {
                mm_set_error("--layer-split %s: expected %d positive layer counts separated by commas", split, n);
                return -1;
            }
        }
        if (r != n || l != L) {
            mm_set_error("--layer-split %s: %d counts summing to %d; the job has %d ranks and the model %d layers", split,
                         r, l, n, L);
            return -1;
        }
        first[n] = L;
        return 0;
    }
    int64_t lo = 0, hi = embed + head + range_bytes(per_layer, 0, L);
    while (lo < hi) { /* the smallest cap the greedy split fits under */
        int64_t mid = lo + (hi - lo) / 2;
        if (plan_fits(per_layer, L, embed, head, n, mid, first)) hi = mid;
        else lo = mid + 1;
    }
    plan_fits(per_layer, L, embed, head, n, lo, first);
    return 0;
}

/* ---------------------------------------------------------------- start-up agreement */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}
#define FNV0 14695981039346656037ull

/* The running binary's bytes: ranks with different builds would compute different things. */
static uint64_t binary_hash(void) {
    FILE *f = fopen("/proc/self/exe", "rb");
    uint64_t h = FNV0;
    if (!f) return h;
    static unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = fnv(h, buf, n);
    fclose(f);
    return h;
}

static uint64_t config_hash(const mm_config *c) {
    uint64_t h = FNV0;
    const int ints[] = {c->dialect, c->vocab_size, c->hidden_size, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                        c->rotary_dim, c->intermediate_size, c->n_experts, c->n_experts_per_tok, c->block_size,
                        c->postnorm, c->tie_word_embeddings};
    const double dbl[] = {c->rope_theta, c->rms_norm_eps, c->alpha_lin, c->beta_lin, c->alpha_full, c->beta_full,
                          c->alpha_mlp, c->beta_mlp};
    h = fnv(h, ints, sizeof ints);
    h = fnv(h, dbl, sizeof dbl);
    return fnv(h, c->layer_type, (size_t)c->n_layers);
}

/* Names, dtypes, shapes and the first bytes of every tensor: another checkpoint, another quantization or another
 * random seed of the same shapes all differ. (Touches one page per tensor.) */
static uint64_t model_hash(const mm_weights *w) {
    uint64_t h = FNV0;
    for (int i = 0; i < mm_weights_count(w); i++) {
        const mm_tensor *t = mm_weights_at(w, i);
        if (t->name) h = fnv(h, t->name, strlen(t->name));
        const int64_t meta[] = {t->dtype, t->ndim, t->shape[0], t->shape[1], t->shape[2], t->shape[3], (int64_t)t->nbytes};
        h = fnv(h, meta, sizeof meta);
        h = fnv(h, t->data, t->nbytes < 64 ? t->nbytes : 64);
    }
    return h;
}

typedef struct {
    int32_t ok;
    uint64_t binary, config, model;
    char host[64];
    char msg[448];
} hello;

typedef struct {
    int32_t ok, ep;
    int32_t first[MM_PP_MAX_RANKS + 1];
    char msg[640];
} verdict;

static void hello_fill(hello *h, int ok) {
    memset(h, 0, sizeof *h);
    h->ok = ok;
    gethostname(h->host, sizeof h->host - 1);
    if (!ok) snprintf(h->msg, sizeof h->msg, "%s", mm_last_error());
}

/* Every rank's hello to rank 0; rank 0 judges (check, when all are ok) and sends its verdict to all. */
static int agree(mm_pp *pp, hello *mine, verdict *v, int (*check)(mm_pp *, const hello *, verdict *, void *), void *arg) {
    mm_dist *d = pp->d;
    if (pp->rank != 0) {
        if (mm_dist_send(d, 0, TAG_HELLO, mine, sizeof *mine) < 0 ||
            mm_dist_recv(d, 0, TAG_VERDICT, v, sizeof *v, "rank 0's start-up verdict") < 0)
            return -1;
    } else {
        hello *all = mm_xcalloc((size_t)pp->n, sizeof(hello));
        all[0] = *mine;
        memset(v, 0, sizeof *v);
        v->ok = 1;
        for (int r = 1; r < pp->n; r++) {
            if (mm_dist_recv(d, r, TAG_HELLO, &all[r], sizeof(hello), "a start-up hello") < 0) {
                snprintf(v->msg, sizeof v->msg, "%s", mm_last_error());
                v->ok = 0;
                break;
            }
        }
        for (int r = 0; r < pp->n && v->ok; r++)
            if (!all[r].ok) {
                snprintf(v->msg, sizeof v->msg, "rank %d (host %s): %s", r, all[r].host, all[r].msg);
                v->ok = 0;
            }
        if (v->ok && check && check(pp, all, v, arg) < 0) v->ok = 0;
        for (int r = 1; r < pp->n; r++) mm_dist_send(d, r, TAG_VERDICT, v, sizeof *v);
        free(all);
    }
    if (!v->ok) {
        mm_set_error("%s", v->msg);
        return -1;
    }
    return 0;
}

typedef struct {
    const int64_t *per;
    int64_t embed, head;
    int L, E, ep;
    const char *split;
} plan_arg;

static int check_same(mm_pp *pp, const hello *all, verdict *v, void *arg) {
    const plan_arg *pa = arg;
    for (int r = 1; r < pp->n; r++) {
        const char *what = all[r].binary != all[0].binary ? "runs another minimax binary than rank 0 (build every host from the same commit)"
                           : all[r].config != all[0].config ? "reads another model config than rank 0"
                           : all[r].model != all[0].model ? "has a different model file than rank 0 (tensor names, shapes or data differ: copy the same files to every host)"
                                                          : NULL;
        if (what) {
            snprintf(v->msg, sizeof v->msg, "rank %d (host %s) %s", r, all[r].host, what);
            return -1;
        }
    }
    int first[MM_PP_MAX_RANKS + 1];
    v->ep = pa->ep;
    if (pa->ep) { /* experts as even as they divide; a layer split makes no sense then */
        if (pa->split || pp->n > pa->E) {
            if (pa->split) snprintf(v->msg, sizeof v->msg, "--layer-split and --expert-parallel exclude each other");
            else snprintf(v->msg, sizeof v->msg, "%d ranks for %d experts: each rank needs at least one expert", pp->n, pa->E);
            return -1;
        }
        for (int r = 0; r <= pp->n; r++) v->first[r] = (int)((int64_t)r * pa->E / pp->n);
        return 0;
    }
    if (mm_pp_plan(pa->per, pa->L, pa->embed, pa->head, pp->n, pa->split, first) < 0) {
        snprintf(v->msg, sizeof v->msg, "%s", mm_last_error());
        return -1;
    }
    memcpy(v->first, first, sizeof(int) * (size_t)(pp->n + 1));
    return 0;
}

mm_model *mm_pp_load(mm_dist *d, const char *path, const mm_model_params *p, const char *split, int ep) {
    if (d->size > MM_PP_MAX_RANKS) {
        mm_set_error("%d ranks: at most %d", d->size, MM_PP_MAX_RANKS);
        return NULL;
    }
    mm_pp *pp = mm_xcalloc(1, sizeof *pp);
    pp->d = d;
    pp->rank = d->rank;
    pp->n = d->size;
    pp->next_ctx = 1;
    pp->next_snap = 1;
    mm_config cfg;
    mm_weights *w = NULL;
    hello me;
    verdict v;
    int64_t *per = NULL, embed = 0, head = 0;
    mm_model *m = NULL;
    int ok = mm_model_open_weights(path, &cfg, &w) == 0;
    if (ok && cfg.arch != MM_ARCH_CAUSAL_LM) {   /* its head reads final hidden states, which stay on the last rank */
        mm_set_error("a %s checkpoint runs in one process only (its task head is not split over ranks)",
                     mm_arch_name(cfg.arch));
        ok = 0;
    }
    if (!ok) mm_error_prefix("loading %s", path);
    hello_fill(&me, ok);
    if (ok) {
        me.binary = binary_hash();
        me.config = config_hash(&cfg);
        me.model = model_hash(w);
        per = mm_xmalloc(sizeof(int64_t) * (size_t)cfg.n_layers);
        mm_weights_layer_bytes(w, &cfg, per, &embed, &head);
    }
    plan_arg pa = {per, embed, head, ok ? cfg.n_layers : 0, ok ? cfg.n_experts : 0, ep, split};
    int r = agree(pp, &me, &v, check_same, &pa);
    if (w) mm_weights_close(w);
    free(per);
    if (r < 0) goto fail;
    memcpy(pp->first, v.first, sizeof(int) * (size_t)(pp->n + 1));
    pp->ep = v.ep;

    mm_model_params mp = p ? *p : (mm_model_params){0};
    *(pp->ep ? &mp.expert_begin : &mp.layer_begin) = pp->first[pp->rank];
    *(pp->ep ? &mp.expert_end : &mp.layer_end) = pp->first[pp->rank + 1];
    mp.no_head = pp->ep && pp->rank != 0; /* expert parallel: rank 0 computes the logits */
    m = mm_model_load(path, &mp);
    hello_fill(&me, m != NULL);
    if (agree(pp, &me, &v, NULL, NULL) < 0) goto fail;
    m->pp = pp;
    for (int l = 0, r = 0, nl = 0, ns = 0; l <= m->cfg.n_layers && !pp->ep; l++) { /* each rank's kind_index ranges */
        for (; r <= pp->n && pp->first[r] == l; r++) pp->lin_first[r] = nl, pp->soft_first[r] = ns;
        if (l < m->cfg.n_layers) *(m->layers[l].type == MM_LAYER_LIGHTNING ? &nl : &ns) += 1;
    }

    int nl = 0, ns = 0;
    for (int i = m->layer_begin; i < m->layer_end; i++) *(m->layers[i].type == MM_LAYER_LIGHTNING ? &nl : &ns) += 1;
    char experts[64] = "";
    if (pp->ep) snprintf(experts, sizeof experts, ", experts %d..%d of %d", m->expert_begin, m->expert_end - 1, m->cfg.n_experts);
    fprintf(stderr, "minimax: rank %d of %d (host %s, pid %d): layers %d..%d of %d (%d lightning, %d softmax)%s%s%s; weights "
            "%.1f MiB (%.1f MiB packed), peak RSS %.1f MiB\n", pp->rank, pp->n, me.host, (int)getpid(), m->layer_begin,
            m->layer_end - 1, m->cfg.n_layers, nl, ns, experts, mm_model_has_embed(m) ? ", embedding" : "",
            mm_model_has_head(m) ? ", final norm + lm_head" : "",
            (double)m->bytes_bound / (1 << 20), (double)m->bytes_packed / (1 << 20), (double)mm_peak_rss() / (1 << 20));
    if (d->ops->barrier(d, d->timeout_s) < 0) {
        mm_error_prefix("start-up");
        m->pp = NULL;
        goto fail;
    }
    pp->t_start = mm_time();
    return m;
fail:
    mm_model_free(m);
    free(pp);
    return NULL;
}

/* ---------------------------------------------------------------- rank 0: forwarding */
static void send_all(mm_pp *pp, int tag, const void *buf, size_t n) {
    for (int r = 1; r < pp->n; r++)
        if (mm_dist_send(pp->d, r, tag, buf, n) < 0) mm_dist_fail(pp->d, "sending a command");
}
static void cmd_all(mm_pp *pp, pp_cmd cmd) { send_all(pp, TAG_CMD, &cmd, sizeof cmd); }
static void cmd_to(mm_pp *pp, int r, pp_cmd cmd) {
    if (mm_dist_send(pp->d, r, TAG_CMD, &cmd, sizeof cmd) < 0) mm_dist_fail(pp->d, "sending a command");
}

void mm_pp_ctx_new(mm_context *c) {
    mm_pp *pp = c->model->pp;
    c->pp_id = pp->next_ctx++;
    cmd_all(pp, (pp_cmd){.op = OP_CTX_NEW, .ctx = c->pp_id, .a = c->n_ctx, .b = c->n_seq, .c = c->n_ubatch, .d = (int32_t)c->kt,
                             .e = (int32_t)c->vt, .f = c->kv_page, .n = c->n_micro});
}
void mm_pp_ctx_free(mm_context *c) { cmd_all(c->model->pp, (pp_cmd){.op = OP_CTX_FREE, .ctx = c->pp_id}); }
void mm_pp_seq_reset(mm_context *c, int seq) { cmd_all(c->model->pp, (pp_cmd){.op = OP_SEQ_RESET, .ctx = c->pp_id, .a = seq}); }
void mm_pp_seq_copy(mm_context *c, int dst, int src) {
    cmd_all(c->model->pp, (pp_cmd){.op = OP_SEQ_COPY, .ctx = c->pp_id, .a = dst, .b = src});
}
int64_t mm_pp_snapshot(mm_context *c, int seq) {
    mm_pp *pp = c->model->pp;
    int64_t id = pp->next_snap++;
    cmd_all(pp, (pp_cmd){.op = OP_SNAPSHOT, .ctx = c->pp_id, .a = seq, .snap = id});
    return id;
}
void mm_pp_restore(mm_context *c, int seq, int64_t snap) {
    cmd_all(c->model->pp, (pp_cmd){.op = OP_RESTORE, .ctx = c->pp_id, .a = seq, .snap = snap});
}
/* A keep-alive: the transport moves it while this rank does other work; waiting until every rank took it also
 * notices a peer that stopped taking messages, which ends the run with the transport's error. */
void mm_pp_ping(mm_pp *pp) {
    cmd_all(pp, (pp_cmd){.op = OP_PING});
    if (pp->d->ops->flush(pp->d, pp->d->timeout_s) < 0) mm_dist_fail(pp->d, "a keep-alive");
}
int mm_pp_keepalive_s(const mm_model *m) {
    int s = (int)(m->pp->d->timeout_s / 4);
    return s > 0 ? s : 1;
}
void mm_pp_state_free(mm_pp *pp, int64_t snap) { cmd_all(pp, (pp_cmd){.op = OP_STATE_FREE, .snap = snap}); }
/* ---------------------------------------------------------------- rank 0: state files */
int mm_pp_holds(const mm_pp *pp, int r, int kind, int i) {
    if (pp->ep) return 1;
    const int *f = kind == 0 ? pp->lin_first : pp->soft_first;
    return f[r] <= i && i < f[r + 1];
}
int mm_pp_holder(const mm_pp *pp, int kind, int i) {
    for (int r = 0; r < pp->n; r++)
        if (mm_pp_holds(pp, r, kind, i)) return r;
    return 0; /* not reached: the ranges cover every kind_index */
}

int mm_pp_state_has_lstate(mm_pp *pp, int64_t snap, int own) {
    if (pp->ep || pp->lin_first[pp->n] == 0) return own;
    const int r = mm_pp_holder(pp, 0, 0);
    if (r == 0) return own;
    int32_t has = 0;
    cmd_to(pp, r, (pp_cmd){.op = OP_STATE_HAS, .snap = snap});
    if (mm_dist_recv(pp->d, r, TAG_STATE, &has, sizeof has, "whether a state holds lightning states") < 0)
        mm_dist_fail(pp->d, "saving a state");
    return has != 0;
}

void mm_pp_block_get(mm_pp *pp, int r, int64_t snap, int kind, int i, size_t n, FILE *f, int *ok) {
    cmd_to(pp, r, (pp_cmd){.op = OP_STATE_GET, .a = kind, .b = i, .snap = snap, .n = (int64_t)n});
    char *buf = mm_xmalloc(n < PIECE ? n + 1 : PIECE);
    for (size_t at = 0, k; at < n; at += k) {
        k = n - at < PIECE ? n - at : PIECE;
        if (mm_dist_recv(pp->d, r, TAG_STATE, buf, k, "a block of a state being saved") < 0) mm_dist_fail(pp->d, "saving a state");
        if (*ok && fwrite(buf, 1, k, f) != k) *ok = 0;
    }
    free(buf);
}

int64_t mm_pp_state_new(mm_context *c, int len, int has_lstate) {
    mm_pp *pp = c->model->pp;
    int64_t id = pp->next_snap++;
    cmd_all(pp, (pp_cmd){.op = OP_STATE_NEW, .ctx = c->pp_id, .a = len, .b = has_lstate, .snap = id});
    return id;
}

/* The piece [at, at + k) of block (kind, i) of s (n bytes) as one run of bytes: in place when one span (page) holds
 * it, else *buf (allocated here) for the caller to gather into or scatter from (mm_seq_state_copy). */
static char *piece_at(mm_seq_state *s, int kind, int i, size_t at, size_t k, char **buf, size_t n) {
    size_t span;
    char *p = mm_seq_state_span(s, kind, i, at, &span);
    if (p && span >= k) return p;
    if (!*buf) *buf = mm_xmalloc(n < PIECE ? n + 1 : PIECE);
    return *buf;
}

void mm_pp_block_put(mm_pp *pp, int r, int64_t snap, int kind, int i, size_t n, mm_seq_state *src, FILE *f, int *ok) {
    cmd_to(pp, r, (pp_cmd){.op = OP_STATE_PUT, .a = kind, .b = i, .snap = snap, .n = (int64_t)n});
    char *buf = src ? NULL : mm_xmalloc(n < PIECE ? n + 1 : PIECE);
    for (size_t at = 0, k; at < n; at += k) {
        k = n - at < PIECE ? n - at : PIECE;
        const char *p = buf;
        if (src) {
            p = piece_at(src, kind, i, at, k, &buf, n);
            if (p == buf) mm_seq_state_copy(src, kind, i, at, buf, k, 1);
        } else {
            if (*ok && fread(buf, 1, k, f) != k) *ok = 0;
            if (!*ok) memset(buf, 0, k);
        }
        /* flushed piece by piece: the copies a send keeps stay one piece */
        if (mm_dist_send(pp->d, r, TAG_STATE, p, k) < 0 || pp->d->ops->flush(pp->d, pp->d->timeout_s) < 0)
            mm_dist_fail(pp->d, "loading a state");
    }
    free(buf);
}

void mm_pp_next_model(mm_dist *d, const char *path) {
    if (!d || d->rank != 0) return;
    const size_t n = strlen(path);
    pp_cmd cmd = {.op = OP_NEXT_MODEL, .a = (int32_t)n};
    for (int r = 1; r < d->size; r++)
        if (mm_dist_send(d, r, TAG_CMD, &cmd, sizeof cmd) < 0 || mm_dist_send(d, r, TAG_PATH, path, n) < 0)
            mm_dist_fail(d, "moving to the next model");
}

void mm_pp_finish(mm_dist *d) {
    if (!d || d->rank != 0) return;
    pp_cmd cmd = {.op = OP_QUIT};
    for (int r = 1; r < d->size; r++) mm_dist_send(d, r, TAG_CMD, &cmd, sizeof cmd);
    d->ops->flush(d, d->timeout_s);
}

void mm_pp_decode_begin(mm_context *c, const mm_batch *b, int want_logits) {
    mm_pp *pp = c->model->pp;
    const int n = b->n_tokens;
    cmd_all(pp, (pp_cmd){.op = OP_DECODE, .ctx = c->pp_id, .a = n, .b = want_logits});
    /* tokens, sequence ids and the explicit logits flags, in one message */
    char *buf = mm_xmalloc((size_t)n * 9);
    memcpy(buf, b->token, sizeof(int32_t) * (size_t)n);
    memcpy(buf + 4 * (size_t)n, b->seq, sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        buf[8 * (size_t)n + i] = b->logits ? b->logits[i] != 0 : (i == n - 1 || b->seq[i + 1] != b->seq[i]);
    send_all(pp, TAG_BATCH, buf, (size_t)n * 9);
    free(buf);
}

void mm_pp_decode_end(mm_context *c, float *logits, int n_rows) {
    mm_pp *pp = c->model->pp;
    if (!logits || n_rows <= 0 || pp->ep) return; /* expert parallel: rank 0 computed them */
    const double t0 = mm_time();
    if (mm_dist_recv(pp->d, pp->n - 1, TAG_LOGITS, logits, sizeof(float) * (size_t)n_rows * c->model->cfg.vocab_size,
                     "the logits") < 0)
        mm_dist_fail(pp->d, "decode");
    pp->t_wait += mm_time() - t0;
}

void mm_pp_report(const mm_pp *pp) {
    const double all = mm_time() - pp->t_start;
    fprintf(stderr, "minimax: rank %d of %d: waited for other ranks %.3f s of %.3f s (%.1f%%)\n", pp->rank, pp->n,
            pp->t_wait, all, all > 0 ? 100 * pp->t_wait / all : 0.0);
}

/* ---------------------------------------------------------------- between stages */
void mm_pp_allreduce(const mm_context *c, float *buf, size_t n) {
    mm_pp *pp = c->model->pp;
    const double t0 = mm_time();
    if (pp->d->ops->allreduce_sum_f32(pp->d, buf, n, pp->d->timeout_s) < 0) mm_dist_fail(pp->d, "the experts' outputs");
    pp->t_wait += mm_time() - t0;
}

void mm_pp_recv_act(mm_context *c, int T) {
    mm_pp *pp = c->model->pp;
    const size_t n = sizeof(float) * (size_t)T * c->model->cfg.hidden_size;
    const double t0 = mm_time();
    if (mm_dist_recv(pp->d, pp->rank - 1, TAG_ACT, c->x, n, "a chunk's residual stream") < 0 ||
        mm_dist_recv(pp->d, pp->rank - 1, TAG_ACT, c->h, n, "a chunk's normalised input") < 0)
        mm_dist_fail(pp->d, "decode");
    pp->t_wait += mm_time() - t0;
}
void mm_pp_send_act(mm_context *c, int T) {
    mm_pp *pp = c->model->pp;
    const size_t n = sizeof(float) * (size_t)T * c->model->cfg.hidden_size;
    if (mm_dist_send(pp->d, pp->rank + 1, TAG_ACT, c->x, n) < 0 || mm_dist_send(pp->d, pp->rank + 1, TAG_ACT, c->h, n) < 0)
        mm_dist_fail(pp->d, "decode");
}

/* ---------------------------------------------------------------- ranks > 0: the command loop */
typedef struct {
    int id;
    mm_context *c;
} wctx;
typedef struct {
    int64_t id;
    mm_seq_state *s;
} wsnap;

typedef struct {
    wctx *ctx;
    int n_ctx;
    wsnap *snap;
    int n_snap, cap_snap;
} worker;

static mm_context *find_ctx(worker *w, int id) {
    for (int i = 0; i < w->n_ctx; i++)
        if (w->ctx[i].id == id) return w->ctx[i].c;
    mm_set_error("rank 0 named context %d, which this rank does not have (the ranks disagree)", id);
    return NULL;
}
static int find_snap(worker *w, int64_t id) {
    for (int i = 0; i < w->n_snap; i++)
        if (w->snap[i].id == id) return i;
    mm_set_error("rank 0 named snapshot %lld, which this rank does not have (the ranks disagree)", (long long)id);
    return -1;
}

static void add_snap(worker *w, int64_t id, mm_seq_state *s) {
    if (w->n_snap == w->cap_snap) {
        w->cap_snap = w->cap_snap ? 2 * w->cap_snap : 16;
        w->snap = mm_xrealloc(w->snap, sizeof(wsnap) * (size_t)w->cap_snap);
    }
    w->snap[w->n_snap++] = (wsnap){id, s};
}

/* A block of one of this rank's states to or from rank 0 (OP_STATE_GET / OP_STATE_PUT), in pieces of at most PIECE. */
static int worker_block(mm_pp *pp, worker *w, const pp_cmd *cmd) {
    int i = find_snap(w, cmd->snap);
    size_t n, k0;
    if (i < 0 || mm_seq_state_block(w->snap[i].s, cmd->a, cmd->b, &n) < 0) return -1;
    mm_seq_state *s = w->snap[i].s;
    const int none = n && !mm_seq_state_span(s, cmd->a, cmd->b, 0, &k0); /* no lightning states: zeros */
    if ((int64_t)n != cmd->n || (none && cmd->op == OP_STATE_PUT)) {
        mm_set_error("rank 0 moves %lld bytes of state block %d (kind %d), this rank holds %zu%s (the ranks disagree)",
                     (long long)cmd->n, cmd->b, cmd->a, n, none ? " and no lightning states" : "");
        return -1;
    }
    char *buf = NULL;
    int rc = 0;
    for (size_t at = 0, k; at < n && rc == 0; at += k) {
        k = n - at < PIECE ? n - at : PIECE;
        char *p = piece_at(s, cmd->a, cmd->b, at, k, &buf, n);
        if (cmd->op == OP_STATE_PUT) {
            rc = mm_dist_recv(pp->d, 0, TAG_STATE, p, k, "a block of a state being loaded");
            if (rc == 0 && p == buf) mm_seq_state_copy(s, cmd->a, cmd->b, at, buf, k, 0);
        } else {
            if (p == buf) mm_seq_state_copy(s, cmd->a, cmd->b, at, buf, k, 1);
            rc = mm_dist_send(pp->d, 0, TAG_STATE, p, k) < 0 || pp->d->ops->flush(pp->d, pp->d->timeout_s) < 0 ? -1 : 0;
        }
    }
    free(buf);
    return rc;
}

static int worker_decode(mm_pp *pp, mm_context *c, const pp_cmd *cmd) {
    const int n = cmd->a;
    if (n <= 0 || n > 1 << 24) {
        mm_set_error("rank 0 sent a batch of %d tokens", n);
        return -1;
    }
    char *buf = mm_xmalloc((size_t)n * 9);
    float *out = NULL;
    int rc = -1;
    if (mm_dist_recv(pp->d, 0, TAG_BATCH, buf, (size_t)n * 9, "a batch") < 0) goto done;
    int32_t *tok = mm_xmalloc(sizeof(int32_t) * (size_t)n), *seq = mm_xmalloc(sizeof(int32_t) * (size_t)n);
    memcpy(tok, buf, sizeof(int32_t) * (size_t)n);
    memcpy(seq, buf + 4 * (size_t)n, sizeof(int32_t) * (size_t)n);
    const int8_t *want = (const int8_t *)(buf + 8 * (size_t)n);
    int rows = 0;
    for (int i = 0; i < n; i++) rows += want[i] != 0;
    const int head = mm_model_has_head(c->model) && cmd->b;
    if (head) out = mm_xmalloc(sizeof(float) * (size_t)(rows ? rows : 1) * c->model->cfg.vocab_size);
    mm_batch b = {.n_tokens = n, .token = tok, .seq = seq, .logits = want};
    int got = mm_decode(c, &b, out);
    free(tok);
    free(seq);
    if (got < 0) goto done;
    if (head && rows && mm_dist_send(pp->d, 0, TAG_LOGITS, out, sizeof(float) * (size_t)rows * c->model->cfg.vocab_size) < 0)
        goto done;
    rc = 0;
done:
    free(buf);
    free(out);
    return rc;
}

int mm_pp_worker(mm_model *m, char **next) {
    mm_pp *pp = m->pp;
    worker w = {0};
    int rc = -1;
    for (;;) {
        pp_cmd cmd;
        const double t0 = mm_time();
        if (mm_dist_recv(pp->d, 0, TAG_CMD, &cmd, sizeof cmd, "the next command") < 0) goto out;
        pp->t_wait += mm_time() - t0;
        mm_context *c = NULL;
        if (cmd.op != OP_QUIT && cmd.op != OP_PING && cmd.op != OP_NEXT_MODEL && cmd.op != OP_CTX_NEW && cmd.op != OP_STATE_FREE && cmd.op != OP_STATE_HAS &&
            cmd.op != OP_STATE_GET && cmd.op != OP_STATE_PUT && !(c = find_ctx(&w, cmd.ctx)))
            goto out;
        switch (cmd.op) {
        case OP_PING:
            break;
        case OP_QUIT:
            if (getenv("MM_PP_REPORT")) mm_pp_report(pp);
            rc = 0;
            goto out;
        case OP_NEXT_MODEL:
            if (!next || cmd.a <= 0 || cmd.a > 65536) {
                mm_set_error("rank 0 moved to another model (path of %d bytes), which this caller does not serve", cmd.a);
                goto out;
            }
            *next = mm_xcalloc(1, (size_t)cmd.a + 1);
            if (mm_dist_recv(pp->d, 0, TAG_PATH, *next, (size_t)cmd.a, "the next model's path") < 0) {
                free(*next);
                *next = NULL;
                goto out;
            }
            if (getenv("MM_PP_REPORT")) mm_pp_report(pp);
            rc = 1;
            goto out;
        case OP_CTX_NEW:
            c = mm_context_new(m, &(mm_context_params){.n_ctx = cmd.a, .n_seq_max = cmd.b, .n_ubatch = cmd.c,
                                                                    .type_k = cmd.d, .type_v = cmd.e, .kv_page = cmd.f,
                                                                    .n_micro = cmd.n > 0 && cmd.n <= cmd.c ? (int)cmd.n : 1});
            if (!c) goto out;
            w.ctx = mm_xrealloc(w.ctx, sizeof(wctx) * (size_t)(w.n_ctx + 1));
            w.ctx[w.n_ctx++] = (wctx){cmd.ctx, c};
            break;
        case OP_CTX_FREE:
            for (int i = 0; i < w.n_ctx; i++)
                if (w.ctx[i].id == cmd.ctx) {
                    mm_context_free(w.ctx[i].c);
                    w.ctx[i] = w.ctx[--w.n_ctx];
                    break;
                }
            break;
        case OP_DECODE:
            if (worker_decode(pp, c, &cmd) < 0) goto out;
            break;
        case OP_SEQ_RESET:
            mm_seq_reset(c, cmd.a);
            break;
        case OP_SEQ_COPY:
            if (mm_seq_copy(c, cmd.a, cmd.b) < 0) goto out;
            break;
        case OP_SNAPSHOT: {
            mm_seq_state *s = mm_seq_snapshot(c, cmd.a);
            if (!s) goto out;
            add_snap(&w, cmd.snap, s);
            break;
        }
        case OP_STATE_NEW: {
            mm_seq_state *s = mm_seq_state_new(c, cmd.a, cmd.b);
            if (!s) goto out;
            add_snap(&w, cmd.snap, s);
            break;
        }
        case OP_STATE_HAS: {
            int i = find_snap(&w, cmd.snap);
            int32_t has = i >= 0 && mm_seq_state_has_lstate(w.snap[i].s);
            if (i < 0 || mm_dist_send(pp->d, 0, TAG_STATE, &has, sizeof has) < 0) goto out;
            break;
        }
        case OP_STATE_GET:
        case OP_STATE_PUT:
            if (worker_block(pp, &w, &cmd) < 0) goto out;
            break;
        case OP_RESTORE: {
            int i = find_snap(&w, cmd.snap);
            if (i < 0 || mm_seq_restore(c, cmd.a, w.snap[i].s) < 0) goto out;
            break;
        }
        case OP_STATE_FREE: {
            int i = find_snap(&w, cmd.snap);
            if (i < 0) goto out;
            mm_seq_state_free(w.snap[i].s);
            w.snap[i] = w.snap[--w.n_snap];
            break;
        }
        default:
            mm_set_error("rank 0 sent an unknown command %d (the ranks run different binaries?)", cmd.op);
            goto out;
        }
    }
out:
    for (int i = 0; i < w.n_ctx; i++) mm_context_free(w.ctx[i].c);
    for (int i = 0; i < w.n_snap; i++) mm_seq_state_free(w.snap[i].s);
    free(w.ctx);
    free(w.snap);
    return rc;
}
