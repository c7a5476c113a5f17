/* mm_context.c — inference contexts: sequences with their lightning states and paged KV caches (pages from
 * mm_kvpages.h, shared copy-on-write), scratch buffers for one forward chunk, and snapshots (take, restore, fork,
 * save to a file in a format independent of the page size). */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include "model/mm_context.h"
#include "base/mm_pool.h"
#include "kernels/mm_attn.h"
#include "model/mm_pipeline.h"

/* The compute pool (mm_pool.h) runs the forward pass; OpenMP is left to load-time work (packing, quantizing). */
void mm_set_threads(int n) {
    mm_pool_set_threads(n);
    omp_set_num_threads(mm_pool_threads());
}
int mm_get_threads(void) { return mm_pool_threads(); }

static size_t lstate_floats(const mm_config *c) { return (size_t)c->n_heads * c->head_dim * c->head_dim; }
/* Floats of all the lightning states a sequence keeps here: those of this process's layers (all of them, or a
 * pipeline stage's). KV caches likewise exist only for the softmax layers in [soft_begin, soft_end). */
static size_t lstate_all(const mm_model *m) { return lstate_floats(&m->cfg) * (size_t)(m->lin_end - m->lin_begin); }

void mm_context_kv_types(const mm_context_params *p, int *type_k, int *type_v) {
    const int bf = p && p->kv_bf16 ? MM_KV_BF16 : MM_KV_F32;
    *type_k = p && p->type_k ? p->type_k : bf;
    *type_v = p && p->type_v ? p->type_v : bf;
}

mm_context *mm_context_new(const mm_model *m, const mm_context_params *p) {
    const mm_config *cfg = &m->cfg;
    mm_context *c = mm_xcalloc(1, sizeof *c);
    c->model = m;
    c->n_ctx = p && p->n_ctx > 0 ? p->n_ctx : 4096;
    c->n_seq = p && p->n_seq_max > 0 ? p->n_seq_max : 1;
    c->n_ubatch = p && p->n_ubatch > 0 ? p->n_ubatch : 512;
    c->n_micro = p && p->n_micro > 1 ? (p->n_micro < c->n_ubatch ? p->n_micro : c->n_ubatch) : 1;
    int tk, tv;
    mm_context_kv_types(p, &tk, &tv);
    if (!mm_kv_type_ok((mm_dtype)tk) || !mm_kv_type_ok((mm_dtype)tv) || tk < 0 || tv < 0) {
        mm_set_error("context: KV cache type %d is not one of f32, f16, bf16, q8_0, q4_0", mm_kv_type_ok((mm_dtype)tk) ? tv : tk);
        free(c);
        return NULL;
    }
    c->kt = (mm_dtype)tk, c->vt = (mm_dtype)tv;
    if (c->n_seq > 4096) {
        mm_set_error("context: n_seq_max %d is more than 4096 sequences", c->n_seq);
        free(c);
        return NULL;
    }
    c->kv_page = p && p->kv_page ? p->kv_page : MM_KV_PAGE_DEFAULT;
    if (c->kv_page < 64 || c->kv_page > 65536 || (c->kv_page & (c->kv_page - 1))) {
        mm_set_error("context: KV page of %d positions is not a power of two in 64..65536 (--kv-page)", c->kv_page);
        free(c);
        return NULL;
    }
    while ((1 << c->kv_shift) < c->kv_page) c->kv_shift++;
    c->kv_page_bytes = mm_kv_page_off(c, m->soft_end, 0);
    if (!(c->kvpool = mm_kvpool_new(c->kv_page_bytes))) {
        free(c);
        return NULL;
    }
    c->seqs = mm_xcalloc((size_t)c->n_seq, sizeof(mm_seq));
    const size_t T = (size_t)c->n_ubatch, H = (size_t)cfg->hidden_size, NHD = (size_t)cfg->n_heads * cfg->head_dim;
    const size_t I = (size_t)cfg->intermediate_size;
    size_t bigw = 3 * NHD > 2 * I ? 3 * NHD : 2 * I; /* mm_context_scratch_bytes counts the buffers below */
    c->x = mm_xaligned(sizeof(float) * T * H);
    c->h = mm_xaligned(sizeof(float) * T * H);
    c->a = mm_xaligned(sizeof(float) * T * H);
    c->big = mm_xaligned(sizeof(float) * T * bigw);
    c->gate = mm_xaligned(sizeof(float) * T * NHD);
    c->o = mm_xaligned(sizeof(float) * T * NHD);
    const size_t TK = T * (size_t)(cfg->n_experts_per_tok > 0 ? cfg->n_experts_per_tok : 1); /* token-expert pairs */
    c->moe_x = mm_xaligned(sizeof(float) * TK * H);
    c->moe_y = mm_xaligned(sizeof(float) * TK * H);
    c->moe_i = mm_xaligned(sizeof(float) * TK * I);
    c->moe_u = mm_xaligned(sizeof(float) * TK * I);
    c->sel = mm_xmalloc(T);
    if (mm_pp_driver(m)) mm_pp_ctx_new(c);
    return c;
}

size_t mm_context_scratch_bytes(const mm_config *cfg, int n_ubatch) {
    const size_t T = (size_t)n_ubatch, H = (size_t)cfg->hidden_size, NHD = (size_t)cfg->n_heads * cfg->head_dim;
    const size_t I = (size_t)cfg->intermediate_size, bigw = 3 * NHD > 2 * I ? 3 * NHD : 2 * I;
    const size_t TK = T * (size_t)(cfg->n_experts_per_tok > 0 ? cfg->n_experts_per_tok : 1);
    return sizeof(float) * (3 * T * H + T * bigw + 2 * T * NHD + 2 * TK * H + 2 * TK * I);
}

/* Returns a sequence's pages to their pools. */
static void seq_drop_pages(mm_seq *s) {
    for (int j = 0; j < s->n_pages; j++) mm_kvpage_unref(s->pages[j]);
    s->n_pages = 0;
}

static void seq_free(mm_seq *s) {
    free(s->lstate);
    seq_drop_pages(s);
    free(s->pages);
}

void mm_context_free(mm_context *c) {
    if (!c) return;
    if (mm_pp_driver(c->model)) mm_pp_ctx_free(c);
    for (int i = 0; i < c->n_seq; i++) seq_free(&c->seqs[i]);
    free(c->seqs);
    mm_kvpool_release(c->kvpool);
    free(c->x);
    free(c->h);
    free(c->a);
    free(c->big);
    free(c->gate);
    free(c->o);
    free(c->moe_x);
    free(c->moe_y);
    free(c->moe_i);
    free(c->moe_u);
    free(c->sel);
    free(c);
}

const mm_model *mm_context_model(const mm_context *c) { return c->model; }
void mm_context_timings(const mm_context *c, mm_timings *t) { *t = c->timings; }
void mm_context_reset_timings(mm_context *c) { memset(&c->timings, 0, sizeof c->timings); }
int mm_context_n_ctx(const mm_context *c) { return c->n_ctx; }
int mm_context_n_seq(const mm_context *c) { return c->n_seq; }

void mm_context_kv_stats(const mm_context *c, mm_kv_stats *st) {
    mm_kvpool_counts(c->kvpool, &st->pages_live, &st->pages_free);
    st->page_bytes = (int64_t)c->kv_page_bytes;
    st->page_positions = c->kv_page;
}

/* Grows a sequence's page table (pointers only) to hold n pages. -1 with an error on OOM. */
static int seq_table(mm_seq *s, int n) {
    if (n <= s->cap_pages) return 0;
    int cap = s->cap_pages ? s->cap_pages : 8;
    while (cap < n) cap *= 2;
    uint8_t **t = realloc(s->pages, sizeof(uint8_t *) * (size_t)cap);
    if (!t) {
        mm_set_error("out of memory growing a KV page table to %d pages", cap);
        return -1;
    }
    s->pages = t;
    s->cap_pages = cap;
    return 0;
}

int mm_seq_reserve(mm_context *c, mm_seq *s, int need) {
    if (c->kv_page_bytes == 0 || need <= s->len) return 0;
    const int n = (int)(((int64_t)need + c->kv_page - 1) >> c->kv_shift);
    if (seq_table(s, n) < 0) return -1;
    /* copy-on-write: the pages positions [len, need) fall in must be this sequence's alone (a copy takes the rows
     * before len, each layer's keys and values) */
    const size_t kr = mm_kv_row_bytes(c, 0), vr = mm_kv_row_bytes(c, 1);
    for (int j = s->len >> c->kv_shift; j < s->n_pages && j < n; j++) {
        if (mm_kvpage_refs(s->pages[j]) == 1) continue;
        uint8_t *pg = mm_kvpage_alloc(c->kvpool);
        if (!pg) return -1;
        const int64_t filled = (int64_t)s->len - ((int64_t)j << c->kv_shift);
        for (int i = c->model->soft_begin; i < c->model->soft_end && filled > 0; i++) {
            memcpy(pg + mm_kv_page_off(c, i, 0), s->pages[j] + mm_kv_page_off(c, i, 0), kr * (size_t)filled);
            memcpy(pg + mm_kv_page_off(c, i, 1), s->pages[j] + mm_kv_page_off(c, i, 1), vr * (size_t)filled);
        }
        mm_kvpage_unref(s->pages[j]);
        s->pages[j] = pg;
    }
    for (; s->n_pages < n; s->n_pages++)
        if (!(s->pages[s->n_pages] = mm_kvpage_alloc(c->kvpool))) return -1;
    return 0;
}

float *mm_seq_lstate(mm_context *c, mm_seq *s, int kind_index) {
    return s->lstate + lstate_floats(&c->model->cfg) * (size_t)(kind_index - c->model->lin_begin);
}

/* Allocates the zero lightning state of a sequence on first use. */
int mm_seq_alloc_lstate(mm_context *c, mm_seq *s) {
    if (s->lstate || c->model->lin_end == c->model->lin_begin) return 0;
    s->lstate = calloc(lstate_all(c->model), sizeof(float));
    if (!s->lstate) {
        mm_set_error("out of memory allocating a sequence's lightning state (%.1f MiB)",
                     (double)lstate_all(c->model) * 4 / (1 << 20));
        return -1;
    }
    return 0;
}

int mm_seq_len(const mm_context *c, int seq) { return seq >= 0 && seq < c->n_seq ? c->seqs[seq].len : -1; }

void mm_seq_reset(mm_context *c, int seq) {
    if (seq < 0 || seq >= c->n_seq) return;
    mm_seq *s = &c->seqs[seq];
    if (mm_pp_driver(c->model)) mm_pp_seq_reset(c, seq);
    s->len = 0;
    seq_drop_pages(s);
    if (s->lstate) memset(s->lstate, 0, sizeof(float) * lstate_all(c->model));
}

/* Appends n positions of random keys and values (uniform in [-1, 1), quantized to the cache's types as the forward
 * pass stores them; xorshift64* from seed) to every softmax layer's cache of a sequence; its lightning states are
 * allocated and left as they are. For measuring decode at a depth without prefilling it: the cost of attending a
 * cached row does not depend on its values, but what the sequence generates afterwards is meaningless. */
int mm_seq_fill_synthetic(mm_context *c, int seq, int n, uint64_t seed) {
    const mm_config *cfg = &c->model->cfg;
    if (seq < 0 || seq >= c->n_seq) {
        mm_set_error("synthetic fill: sequence id %d is out of range [0, %d)", seq, c->n_seq);
        return -1;
    }
    mm_seq *s = &c->seqs[seq];
    if (n < 0 || (int64_t)s->len + n > c->n_ctx) {
        mm_set_error("synthetic fill: %d positions after the sequence's %d do not fit the context of %d", n, s->len, c->n_ctx);
        return -1;
    }
    if (c->model->pp && c->model->pp->n > 1) {
        mm_set_error("synthetic fill: the model is split over %d ranks (fill runs in one process only)", c->model->pp->n);
        return -1;
    }
    if (mm_seq_reserve(c, s, s->len + n) < 0 || mm_seq_alloc_lstate(c, s) < 0) return -1;
    const int NKV = cfg->n_kv_heads, D = cfg->head_dim;
    const size_t row[2] = {mm_kv_row_bytes(c, 0), mm_kv_row_bytes(c, 1)};
    const mm_dtype type[2] = {c->kt, c->vt};
    float *x = mm_xmalloc(sizeof(float) * (size_t)NKV * (size_t)D);   /* [NKV][D] one position's keys or values */
    uint64_t r = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = c->model->soft_begin; i < c->model->soft_end; i++)
        for (int kv = 0; kv < 2; kv++)
            for (int64_t pos = s->len; pos < (int64_t)s->len + n; pos++) {
                for (int e = 0; e < NKV * D; e++) {
                    r ^= r >> 12, r ^= r << 25, r ^= r >> 27;
                    x[e] = (float)((r * 0x2545F4914F6CDD1Dull) >> 40) * (2.0f / 16777216.0f) - 1.0f;
                }
                char *dst = (char *)s->pages[pos >> c->kv_shift] + mm_kv_page_off(c, i, kv) +
                            (size_t)(pos & (c->kv_page - 1)) * row[kv];   /* this sequence's own page (mm_seq_reserve) */
                const size_t hb = mm_kv_head_bytes(type[kv], D);
                for (int h = 0; h < NKV; h++) mm_kv_store_row(type[kv], dst + (size_t)h * hb, x + (size_t)h * D, D);
            }
    free(x);
    s->len += n;
    return 0;
}

/* ---------------------------------------------------------------- snapshots */
struct mm_seq_state {
    int len;
    mm_dtype kt, vt;    /* KV element types of keys and values */
    int n_lightning, n_softmax, n_heads, head_dim, n_kv_heads;
    int layer_begin, layer_end; /* the layers whose state it holds (a pipeline stage's, or all) */
    int lin_begin, lin_n, soft_begin, soft_end;
    float *lstate;      /* [lin_n][NH][D][D] or NULL (all zeros) */
    uint8_t **pages;    /* [n_pages] references to KV pages (of page positions, page_bytes each: the layout of the
                         * context that made them, mm_kv_page_off), covering positions [0, len) */
    int n_pages, page, shift;
    size_t page_bytes;
    mm_pp *pp;          /* rank 0 of a pipeline: the other ranks hold their parts under id pp_snap */
    int64_t pp_snap;
};

static size_t state_row_bytes(const mm_seq_state *s, int v) {
    return (size_t)s->n_kv_heads * mm_kv_head_bytes(v ? s->vt : s->kt, s->head_dim);
}

static int seq_state_compatible(const mm_context *c, const mm_seq_state *s) {
    const mm_config *cfg = &c->model->cfg;
    if (s->n_lightning != cfg->n_lightning || s->n_softmax != cfg->n_softmax || s->n_heads != cfg->n_heads ||
        s->head_dim != cfg->head_dim || s->n_kv_heads != cfg->n_kv_heads) {
        mm_set_error("sequence state does not match this model's layers/heads");
        return 0;
    }
    if (s->layer_begin != c->model->layer_begin || s->layer_end != c->model->layer_end) {
        mm_set_error("sequence state holds layers [%d, %d), this process runs layers [%d, %d)", s->layer_begin,
                     s->layer_end, c->model->layer_begin, c->model->layer_end);
        return 0;
    }
    if (s->kt != c->kt || s->vt != c->vt) {
        mm_set_error("sequence state KV types (-ctk %s -ctv %s) differ from this context's (-ctk %s -ctv %s)", mm_kv_type_name(s->kt),
                     mm_kv_type_name(s->vt), mm_kv_type_name(c->kt), mm_kv_type_name(c->vt));
        return 0;
    }
    if (s->len > c->n_ctx) {
        mm_set_error("sequence state holds %d tokens, more than this context's n_ctx %d", s->len, c->n_ctx);
        return 0;
    }
    return 1;
}

/* A state's page j holds the span of block (kind 1/2, layer i) from byte j·P·row; the span holding byte at and its
 * bytes *k from there. */
static uint8_t *state_span(const mm_seq_state *s, int kind, int i, size_t at, size_t *k) {
    const size_t kr = state_row_bytes(s, 0), vr = state_row_bytes(s, 1), row = kind == 2 ? vr : kr;
    const size_t pb = row << s->shift, total = row * (size_t)s->len, j = at / pb, end = (j + 1) * pb;
    *k = (end < total ? end : total) - at;
    return s->pages[j] + mm_kv_layer_off(i - s->soft_begin, s->page, kr, vr, kind == 2) + (at - j * pb);
}

/* A state of len tokens without lightning states or pages. */
static mm_seq_state *state_alloc(const mm_context *c, int len) {
    const mm_config *cfg = &c->model->cfg;
    mm_seq_state *st = calloc(1, sizeof *st);
    if (!st) goto oom;
    st->len = len;
    st->kt = c->kt, st->vt = c->vt;
    st->n_lightning = cfg->n_lightning;
    st->n_softmax = cfg->n_softmax;
    st->n_heads = cfg->n_heads;
    st->head_dim = cfg->head_dim;
    st->n_kv_heads = cfg->n_kv_heads;
    st->layer_begin = c->model->layer_begin;
    st->layer_end = c->model->layer_end;
    st->lin_begin = c->model->lin_begin;
    st->lin_n = c->model->lin_end - c->model->lin_begin;
    st->soft_begin = c->model->soft_begin;
    st->soft_end = c->model->soft_end;
    st->page = c->kv_page, st->shift = c->kv_shift, st->page_bytes = c->kv_page_bytes;
    const int n = c->kv_page_bytes ? (int)(((int64_t)len + c->kv_page - 1) >> c->kv_shift) : 0;
    if (n && !(st->pages = calloc((size_t)n, sizeof(uint8_t *)))) goto oom;
    return st;
oom:
    mm_seq_state_free(st);
    mm_set_error("out of memory allocating a sequence snapshot of %d tokens", len);
    return NULL;
}

void mm_seq_state_free(mm_seq_state *s) {
    if (!s) return;
    if (s->pp) mm_pp_state_free(s->pp, s->pp_snap);
    for (int j = 0; j < s->n_pages; j++) mm_kvpage_unref(s->pages[j]);
    free(s->pages);
    free(s->lstate);
    free(s);
}

int mm_seq_state_len(const mm_seq_state *s) { return s->len; }

int mm_seq_state_pages(const mm_seq_state *s, uint8_t *const **pages, size_t *page_bytes, size_t *own) {
    *pages = s->pages;
    *page_bytes = s->page_bytes;
    *own = s->lstate ? (size_t)s->lin_n * s->n_heads * s->head_dim * s->head_dim * sizeof(float) : 0;
    return s->n_pages;
}

size_t mm_seq_state_bytes(const mm_seq_state *s) {
    size_t l = s->lstate ? (size_t)s->lin_n * s->n_heads * s->head_dim * s->head_dim * 4 : 0;
    return l + (size_t)(s->soft_end - s->soft_begin) * s->len * (state_row_bytes(s, 0) + state_row_bytes(s, 1));
}

static mm_seq_state *snapshot_local(const mm_context *c, int seq) {
    if (seq < 0 || seq >= c->n_seq) {
        mm_set_error("snapshot: sequence id %d out of range [0, %d)", seq, c->n_seq);
        return NULL;
    }
    const mm_seq *s = &c->seqs[seq];
    mm_seq_state *st = state_alloc(c, s->len);
    if (!st) return NULL;
    if (s->lstate) {
        size_t n = lstate_all(c->model) * sizeof(float);
        if (!(st->lstate = malloc(n))) {
            mm_seq_state_free(st);
            mm_set_error("out of memory copying a lightning state");
            return NULL;
        }
        memcpy(st->lstate, s->lstate, n);
    }
    /* the pages are shared, not copied: whoever writes into one of them next copies it first */
    for (; st->pages && st->n_pages < (int)((s->len + c->kv_page - 1) >> c->kv_shift); st->n_pages++) {
        st->pages[st->n_pages] = s->pages[st->n_pages];
        mm_kvpage_ref(st->pages[st->n_pages]);
    }
    return st;
}

static int restore_local(mm_context *c, int seq, const mm_seq_state *st) {
    if (seq < 0 || seq >= c->n_seq) {
        mm_set_error("restore: sequence id %d out of range [0, %d)", seq, c->n_seq);
        return -1;
    }
    if (!seq_state_compatible(c, st)) return -1;
    if (st->n_pages && (st->page != c->kv_page || st->page_bytes != c->kv_page_bytes)) {
        mm_set_error("restore: the snapshot's KV pages hold %d positions (%zu bytes), this context's %d (%zu bytes): a "
                     "snapshot restores only into a context of the same page size (save it to a file to move it)",
                     st->page, st->page_bytes, c->kv_page, c->kv_page_bytes);
        return -1;
    }
    mm_seq *s = &c->seqs[seq];
    if (seq_table(s, st->n_pages) < 0) return -1;
    if (st->lstate) {
        if (mm_seq_alloc_lstate(c, s) < 0) return -1;
        memcpy(s->lstate, st->lstate, lstate_all(c->model) * sizeof(float));
    } else if (s->lstate) {
        memset(s->lstate, 0, lstate_all(c->model) * sizeof(float));
    }
    /* the snapshot's pages are shared (referenced before the sequence's own are let go: they may be the same) */
    for (int j = 0; j < st->n_pages; j++) mm_kvpage_ref(st->pages[j]);
    seq_drop_pages(s);
    if (st->n_pages) memcpy(s->pages, st->pages, sizeof(uint8_t *) * (size_t)st->n_pages);
    s->n_pages = st->n_pages;
    s->len = st->len;
    return 0;
}

/* Each rank of a pipeline snapshots, restores and copies its own layers' part under rank 0's ids. */
mm_seq_state *mm_seq_snapshot(const mm_context *c, int seq) {
    mm_seq_state *st = snapshot_local(c, seq);
    if (st && mm_pp_driver(c->model)) {
        st->pp = c->model->pp;
        st->pp_snap = mm_pp_snapshot((mm_context *)c, seq);
    }
    return st;
}

int mm_seq_restore(mm_context *c, int seq, const mm_seq_state *st) {
    if (mm_pp_driver(c->model) && !st->pp) {
        mm_set_error("restore: this state was not snapshot in this job (a state file), and the other ranks hold no "
                     "part of it; across ranks only snapshots of the running job restore");
        return -1;
    }
    if (restore_local(c, seq, st) < 0) return -1;
    if (mm_pp_driver(c->model)) mm_pp_restore(c, seq, st->pp_snap);
    return 0;
}

int mm_seq_copy(mm_context *c, int dst, int src) {
    if (dst == src) return 0;
    mm_seq_state *st = snapshot_local(c, src);
    if (!st) return -1;
    int r = restore_local(c, dst, st);
    mm_seq_state_free(st);
    if (r == 0 && mm_pp_driver(c->model)) mm_pp_seq_copy(c, dst, src);
    return r;
}

/* File format (little-endian): "MMSEQST2", int32 len, type_k, type_v, n_lightning, n_softmax, n_heads, head_dim,
 * n_kv_heads, has_lstate; then the lightning states (f32) if present; then K and V of each softmax layer (head rows
 * of their types). "MMSEQST1" files (int32 kv_bf16 in place of the two types) still load. */
static const char MM_STATE_MAGIC[8] = {'M', 'M', 'S', 'E', 'Q', 'S', 'T', '2'};
static const char MM_STATE_MAGIC_V1[8] = {'M', 'M', 'S', 'E', 'Q', 'S', 'T', '1'};

/* Whether s covers every layer (a single process, expert parallelism, or rank 0 of a pipeline whose other ranks hold
 * the rest under s->pp_snap), else -1 with an error: a stage's part alone is no whole-model state. */
static int state_whole(const mm_seq_state *s, const char *path) {
    if (s->pp || (s->layer_begin == 0 && s->layer_end == s->n_lightning + s->n_softmax)) return 0;
    mm_set_error("%s: a pipeline stage's state (layers %d..%d) cannot be saved as a whole-model state file (save it "
                 "on rank 0, which gathers the other ranks' layers)", path, s->layer_begin, s->layer_end - 1);
    return -1;
}

int mm_seq_state_save(const mm_seq_state *s, const char *path) {
    if (state_whole(s, path) < 0) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        mm_set_error("%s: cannot write state: %s", path, strerror(errno));
        return -1;
    }
    int ok = mm_seq_state_fwrite(s, f) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        mm_set_error("%s: writing the state failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int mm_seq_state_has_lstate(const mm_seq_state *s) { return s->lstate != NULL; }

int mm_seq_state_block(const mm_seq_state *s, int kind, int i, size_t *n) {
    if (kind == 0 && i >= s->lin_begin && i < s->lin_begin + s->lin_n) {
        *n = (size_t)s->n_heads * s->head_dim * s->head_dim * sizeof(float);
        return 0;
    }
    if ((kind == 1 || kind == 2) && i >= s->soft_begin && i < s->soft_end) {
        *n = state_row_bytes(s, kind == 2) * (size_t)s->len;
        return 0;
    }
    mm_set_error("state block %d of kind %d is not held by this process's layers [%d, %d)", i, kind, s->layer_begin,
                 s->layer_end);
    return -1;
}

void *mm_seq_state_span(const mm_seq_state *s, int kind, int i, size_t at, size_t *k) {
    if (kind != 0) return state_span(s, kind, i, at, k);
    const size_t nhdd = (size_t)s->n_heads * s->head_dim * s->head_dim;
    *k = nhdd * sizeof(float) - at;
    return s->lstate ? (char *)(s->lstate + nhdd * (size_t)(i - s->lin_begin)) + at : NULL;
}

void mm_seq_state_copy(mm_seq_state *s, int kind, int i, size_t at, void *buf, size_t n, int out) {
    for (size_t k; n > 0; at += k, n -= k, buf = (char *)buf + k) {
        char *p = mm_seq_state_span(s, kind, i, at, &k);
        k = k < n ? k : n;
        if (out) p ? memcpy(buf, p, k) : memset(buf, 0, k);
        else if (p) memcpy(p, buf, k);
    }
}

mm_seq_state *mm_seq_state_new(const mm_context *c, int len, int has_lstate) {
    mm_seq_state *st = state_alloc(c, len);
    for (; st && st->pages && st->n_pages < (int)(((int64_t)len + c->kv_page - 1) >> c->kv_shift); st->n_pages++)
        if (!(st->pages[st->n_pages] = mm_kvpage_alloc(c->kvpool))) {
            mm_seq_state_free(st);
            return NULL;
        }
    if (st && has_lstate && st->lin_n > 0 && !(st->lstate = calloc(lstate_all(c->model), sizeof(float)))) {
        mm_seq_state_free(st);
        mm_set_error("out of memory allocating the lightning states of a sequence snapshot");
        return NULL;
    }
    return st;
}

/* Writes n zero bytes; 0 or -1. */
static int write_zeros(FILE *f, size_t n) {
    static const char zero[1 << 16];
    for (size_t k; n > 0; n -= k) {
        k = n < sizeof zero ? n : sizeof zero;
        if (fwrite(zero, 1, k, f) != k) return -1;
    }
    return 0;
}

/* One block of the file (mm_seq_state_block's kinds) of n bytes: from this process's part of s, or on a pipeline's
 * rank 0 from the rank that holds it. A failed write clears *ok (the other ranks' blocks still arrive, in step). */
static void write_block(const mm_seq_state *s, int kind, int i, size_t n, FILE *f, int *ok) {
    size_t have;
    if (mm_seq_state_block(s, kind, i, &have) == 0) {
        if (*ok) *ok = have == n;
        for (size_t at = 0, k; at < n && *ok; at += k) {
            const void *p = mm_seq_state_span(s, kind, i, at, &k);
            *ok = p ? fwrite(p, 1, k, f) == k : write_zeros(f, k) == 0;
        }
    } else {
        mm_pp_block_get(s->pp, mm_pp_holder(s->pp, kind, i), s->pp_snap, kind, i, n, f, ok);
    }
}

int mm_seq_state_fwrite(const mm_seq_state *s, FILE *f) {
    if (state_whole(s, "state") < 0) return -1;
    const int has = s->pp ? mm_pp_state_has_lstate(s->pp, s->pp_snap, s->lstate != NULL) : s->lstate != NULL;
    int32_t hdr[9] = {s->len, (int32_t)s->kt, (int32_t)s->vt, s->n_lightning, s->n_softmax, s->n_heads, s->head_dim, s->n_kv_heads,
                      has};
    int ok = fwrite(MM_STATE_MAGIC, 8, 1, f) == 1 && fwrite(hdr, sizeof hdr, 1, f) == 1;
    const size_t lbytes = (size_t)s->n_heads * s->head_dim * s->head_dim * sizeof(float);
    for (int i = 0; has && i < s->n_lightning; i++) write_block(s, 0, i, lbytes, f, &ok);
    for (int i = 0; i < s->n_softmax && s->len; i++) {
        write_block(s, 1, i, state_row_bytes(s, 0) * (size_t)s->len, f, &ok);
        write_block(s, 2, i, state_row_bytes(s, 1) * (size_t)s->len, f, &ok);
    }
    return ok ? 0 : -1;
}

mm_seq_state *mm_seq_state_load(const mm_context *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mm_set_error("%s: cannot read state: %s", path, strerror(errno));
        return NULL;
    }
    mm_seq_state *st = mm_seq_state_fread(c, f, path);
    fclose(f);
    return st;
}

/* One block of the file of n bytes: into this process's part of st (and from there to the other ranks that hold
 * it too: expert parallelism), or on a pipeline's rank 0 streamed to the rank that holds it. Once a read falls
 * short, *ok is 0 and zeros travel instead, so every rank stays in step until the state is freed. */
static void read_block(mm_seq_state *st, int kind, int i, size_t n, FILE *f, int *ok) {
    size_t have;
    if (mm_seq_state_block(st, kind, i, &have) < 0) {
        mm_pp_block_put(st->pp, mm_pp_holder(st->pp, kind, i), st->pp_snap, kind, i, n, NULL, f, ok);
        return;
    }
    if (have != n) *ok = 0;
    for (size_t at = 0, k; at < have; at += k) {
        void *p = mm_seq_state_span(st, kind, i, at, &k);
        if (!p) {
            *ok = 0;
            return;
        }
        if (*ok && fread(p, 1, k, f) != k) *ok = 0;
        if (!*ok) memset(p, 0, k);
    }
    for (int r = 1; st->pp && r < st->pp->n; r++)
        if (mm_pp_holds(st->pp, r, kind, i)) mm_pp_block_put(st->pp, r, st->pp_snap, kind, i, n, st, NULL, ok);
}

mm_seq_state *mm_seq_state_fread(const mm_context *c, FILE *f, const char *path) {
    char magic[8];
    int32_t hdr[9];
    mm_seq_state *st = NULL;
    int v1 = 0;
    if (fread(magic, 8, 1, f) != 1 || (memcmp(magic, MM_STATE_MAGIC, 8) && !(v1 = !memcmp(magic, MM_STATE_MAGIC_V1, 8))) ||
        fread(hdr + v1, sizeof(int32_t), 9 - (size_t)v1, f) != 9 - (size_t)v1) {
        mm_set_error("%s: not a minimax sequence state file", path);
        goto fail;
    }
    if (v1) { /* len, kv_bf16, ... → len, type_k, type_v, ... */
        hdr[0] = hdr[1];
        hdr[1] = hdr[2] = hdr[2] ? MM_KV_BF16 : MM_KV_F32;
    }
    if (!mm_kv_type_ok((mm_dtype)hdr[1]) || !mm_kv_type_ok((mm_dtype)hdr[2])) {
        mm_set_error("%s: state file names KV types %d/%d, not KV cache types", path, hdr[1], hdr[2]);
        goto fail;
    }
    /* a file holds a whole model's states: layers [0, n_lightning + n_softmax), summed without overflow (the counts
     * are the file's, checked against the model only below). On a pipeline's rank 0, its own layers stay here and
     * the others' go to their ranks as they are read, under one snapshot id (restored like a snapshot). */
    const mm_model *m = c->model;
    const int drv = mm_pp_driver(m);
    const int64_t layer_end = (int64_t)hdr[3] + hdr[4];
    mm_seq_state probe = {.len = hdr[0], .kt = (mm_dtype)hdr[1], .vt = (mm_dtype)hdr[2], .n_lightning = hdr[3], .n_softmax = hdr[4],
                          .n_heads = hdr[5], .head_dim = hdr[6], .n_kv_heads = hdr[7],
                          .layer_begin = drv ? m->layer_begin : 0,
                          .layer_end = drv && layer_end == m->cfg.n_layers ? m->layer_end
                                       : layer_end < 0 || layer_end > INT32_MAX ? -1 : (int)layer_end};
    if (probe.len < 0 || !seq_state_compatible(c, &probe)) {
        mm_error_prefix("%s", path);
        goto fail;
    }
    if (!(st = mm_seq_state_new(c, probe.len, hdr[8] != 0))) goto fail;
    if (drv) {
        st->pp = m->pp;
        st->pp_snap = mm_pp_state_new((mm_context *)c, st->len, hdr[8] != 0);
    }
    int ok = 1;
    const size_t lbytes = (size_t)st->n_heads * st->head_dim * st->head_dim * sizeof(float);
    for (int i = 0; hdr[8] && i < st->n_lightning; i++) read_block(st, 0, i, lbytes, f, &ok);
    for (int i = 0; i < st->n_softmax && st->len; i++) {
        read_block(st, 1, i, state_row_bytes(st, 0) * (size_t)st->len, f, &ok);
        read_block(st, 2, i, state_row_bytes(st, 1) * (size_t)st->len, f, &ok);
    }
    if (!ok) {
        mm_set_error("%s: state file is truncated", path);
        goto fail;
    }
    if (fgetc(f) != EOF) {
        mm_set_error("%s: state file has trailing bytes", path);
        goto fail;
    }
    return st;
fail:
    mm_seq_state_free(st);
    return NULL;
}
