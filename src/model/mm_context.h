/* mm_context.h — inference context internals: per-sequence state (lightning states + KV cache) and the
 * scratch buffers of one forward chunk. */
#ifndef MM_CONTEXT_H
#define MM_CONTEXT_H
#include <stdio.h>
#include "model/mm_kvpages.h"
#include "model/mm_model.h"

typedef struct {
    int len;            /* tokens in the sequence so far (= position of the next token) */
    float *lstate;      /* [n_lightning][NH][D][D] fp32 states, rows = key dim; NULL until first use (= zeros) */
    uint8_t **pages;    /* [n_pages] the KV cache's pages (mm_kvpages.h): page j holds positions [j·P, (j+1)·P) of
                         * every softmax layer here, laid out as mm_kv_page_off says; shared pages are copied
                         * before a write (mm_seq_reserve) */
    int n_pages, cap_pages;
} mm_seq;

/* One run of consecutive tokens of one sequence inside a forward chunk. */
typedef struct {
    int seq;            /* sequence id */
    int t0, n;          /* rows t0 .. t0+n-1 of the chunk */
    int pos0;           /* position of its first token */
} mm_run;

struct mm_context {
    const mm_model *model;
    int n_ctx, n_seq, n_ubatch;
    int n_micro;        /* micro-batches per chunk on a pipeline (mm_context_params.n_micro), ≥ 1 */
    mm_dtype kt, vt;    /* KV cache element types of keys and values */
    int att_split;      /* split attention: 0 automatic (4 items per thread), 1 never, N > 1 N parts where the keys allow */
    int pp_id;          /* its id on every rank of a pipeline (mm_pipeline.h); 0 for a single process */
    mm_seq *seqs;       /* [n_seq] */
    mm_kvpool *kvpool;  /* the KV pages of every sequence (and of snapshots, which may outlive the context) */
    int kv_page, kv_shift; /* positions per page P = 2^kv_shift */
    size_t kv_page_bytes;  /* P · (softmax layers here) · (K row + V row bytes); 0 when this process has no softmax layer */
    mm_timings timings; /* time per op type */
    /* scratch for a chunk of up to n_ubatch tokens */
    float *x;           /* [T, H]  residual stream */
    float *h;           /* [T, H]  normalised input of the current half-layer */
    float *big;         /* [T, max(3·NH·D, 2·I)]  projections */
    float *gate;        /* [T, NH·D] */
    float *o;           /* [T, NH·D] attention output */
    float *a;           /* [T, H]  block output */
    float *moe_x;       /* [T·K, H]  the layer input of each (token, chosen expert), grouped by expert */
    float *moe_y;       /* [T·K, H]  their expert outputs */
    float *moe_i;       /* [T·K, I]  gate projections, then SiLU(gate)·up */
    float *moe_u;       /* [T·K, I]  up projections */
    uint8_t *sel;       /* [T] outputs wanted per selected row (1 logits, 2 hidden state) */
};

/* Bytes of one position's keys (v = 0) or values (v = 1) in a sequence's cache: NKV head rows. */
static inline size_t mm_kv_row_bytes(const mm_context *c, int v) {
    return (size_t)c->model->cfg.n_kv_heads * mm_kv_head_bytes(v ? c->vt : c->kt, c->model->cfg.head_dim);
}
/* Where softmax layer kind_index's keys (v = 0) or values (v = 1) start in a page: the layers here one after another,
 * each its keys [P][NKV] head rows then its values [P][NKV] head rows (so a layer's rows of a page are one span of
 * the flat [len][NKV] layout state files use). */
static inline size_t mm_kv_layer_off(int layer_here, int P, size_t krow, size_t vrow, int v) {
    return (size_t)layer_here * (size_t)P * (krow + vrow) + (v ? (size_t)P * krow : 0);
}
static inline size_t mm_kv_page_off(const mm_context *c, int kind_index, int v) {
    return mm_kv_layer_off(kind_index - c->model->soft_begin, c->kv_page, mm_kv_row_bytes(c, 0), mm_kv_row_bytes(c, 1), v);
}
/* Bytes of the chunk scratch buffers mm_context_new allocates for n_ubatch tokens (x .. moe_u above). */
size_t mm_context_scratch_bytes(const mm_config *cfg, int n_ubatch);
/* A sequence state (mm_seq_state_save's format) written to / read from an open file: the reader expects the state
 * to end the file (path names it in errors). -1 / NULL with an error. */
int mm_seq_state_fwrite(const mm_seq_state *s, FILE *f);
mm_seq_state *mm_seq_state_fread(const mm_context *c, FILE *f, const char *path);
/* A state's blocks, the units a state file is made of and a pipeline moves between its ranks (mm_pipeline.h): kind 0
 * is lightning layer i's state [NH][D][D] f32, kind 1 / 2 softmax layer i's keys / values [len][NKV] head rows (i a
 * kind_index), whatever the page size. 0 with *n its bytes, or -1 with an error when this process's layers do not
 * include it. A block lies in spans (one per page): mm_seq_state_span gives the one holding byte at (< *n) and *k
 * its bytes from there on; NULL when the state holds no lightning states (zeros). */
int mm_seq_state_block(const mm_seq_state *s, int kind, int i, size_t *n);
void *mm_seq_state_span(const mm_seq_state *s, int kind, int i, size_t at, size_t *k);
/* Bytes [at, at + n) of a block copied out to buf (out = 1, zeros for a NULL span) or in from buf (out = 0). */
void mm_seq_state_copy(mm_seq_state *s, int kind, int i, size_t at, void *buf, size_t n, int out);
int mm_seq_state_has_lstate(const mm_seq_state *s);
/* The KV pages a state holds (*pages [n], shared with its sequence and other snapshots, *page_bytes each) and its
 * other bytes (*own: the lightning states); returns n. */
int mm_seq_state_pages(const mm_seq_state *s, uint8_t *const **pages, size_t *page_bytes, size_t *own);
/* A state of len tokens for this process's layers of c (zero lightning states when has_lstate), to be filled block by
 * block. NULL with an error on OOM. */
mm_seq_state *mm_seq_state_new(const mm_context *c, int len, int has_lstate);
/* Make room for positions up to need (exclusive) in a sequence's KV cache: pages for them, and a page of its own
 * (copied) in place of each shared page that positions [len, need) fall in. -1 with an error on OOM. */
int mm_seq_reserve(mm_context *c, mm_seq *s, int need);
/* Allocates a sequence's zero lightning state on first use. -1 with an error on OOM. */
int mm_seq_alloc_lstate(mm_context *c, mm_seq *s);
/* The lightning state of a sequence for lightning layer kind_index (allocated by mm_seq_alloc_lstate). */
float *mm_seq_lstate(mm_context *c, mm_seq *s, int kind_index);

/* Layer halves, each over all runs of a chunk of T rows. */
void mm_lightning_forward(mm_context *c, const mm_layer *ly, const mm_run *runs, int n_runs, int T);
void mm_attention_forward(mm_context *c, const mm_layer *ly, const mm_run *runs, int n_runs, int T);
void mm_moe_forward(mm_context *c, const mm_layer *ly, int T);

/* Block-wise lightning attention for one head over n tokens, the exact form of the recurrence
 * S_t = λ S_{t-1} + k_tᵀ v_t, o_t = q_t S_t (spec §6.3–6.4):
 * q,k,v rows at stride `stride` floats: q[n][D], S[D][D] in/out, o[n][D] at stride ostride, blocks of B.
 * scratch: mm_lightning_scratch(D, B) floats. */
size_t mm_lightning_scratch(int D, int B);
void mm_lightning_head(const float *q, const float *k, const float *v, int stride, float *o, int ostride,
                       float *S, int n, int D, float s, int B, float *scratch);
/* The plain per-token recurrence (reference for tests), same contract. */
void mm_lightning_head_ref(const float *q, const float *k, const float *v, int stride, float *o, int ostride,
                           float *S, int n, int D, float s);
#endif
