/* mm_pipeline.h — pipeline parallelism: the layer stack split into contiguous ranges, one per process (rank) of a
 * job (src/dist/). Rank 0 holds the embedding and drives: every context operation it makes (new, free, decode,
 * sequence reset/copy, snapshot/restore/free) is sent to the other ranks as a command, so each rank keeps the
 * lightning states and KV caches of its own layers under the same context, sequence and snapshot ids. A decode's
 * chunks (n_ubatch tokens each: the prompt's chunks, or a batch of sequences) flow through the stages as
 * micro-batches: rank r hands chunk k's residual stream [T, H] (and its normalised form) to rank r+1 and goes on
 * with chunk k+1. A context with n_micro > 1 (mm_context_params; the server's: one per rank) first cuts a chunk of
 * 128 or more tokens into micro-batches of 64 or more (mm_forward.c), so a server step flows through the stages in
 * pieces too; every rank computes the same cuts from the same batch. The last rank holds the final norm and lm_head
 * and sends the requested logits rows to rank 0. Every rank runs the same operations in the same order on the same
 * rows as one process given the same pieces as chunks does, so the results are bit-identical to a single process
 * with the same threads and chunks (a cut inside a prompt moves its chunk boundary, as a smaller n_ubatch would). */
#ifndef MM_PIPELINE_H
#define MM_PIPELINE_H
#include "model/mm_context.h"
#include "dist/mm_dist.h"

#define MM_PP_MAX_RANKS 256

struct mm_pp {
    mm_dist *d;
    int rank, n;
    int ep;                         /* 1: expert parallelism instead (every rank all layers, a share of the experts) */
    int first[MM_PP_MAX_RANKS + 1]; /* rank r holds layers [first[r], first[r+1]) (pipeline), or experts (ep) */
    int lin_first[MM_PP_MAX_RANKS + 1], soft_first[MM_PP_MAX_RANKS + 1]; /* pipeline: rank r's lightning and softmax
                                       kind_index ranges [lin_first[r], lin_first[r+1]) (its states and KV caches) */
    int next_ctx;                   /* rank 0: the id of the next context */
    int64_t next_snap;              /* rank 0: the id of the next snapshot */
    double t_start, t_wait;         /* when the stage started serving; seconds since spent waiting for other ranks */
};

/* One stderr line: the seconds this rank waited for the others (the pipeline bubble it saw) of those it ran. */
void mm_pp_report(const mm_pp *pp);

/* Contiguous layer ranges for n ranks that balance weight bytes (rank 0 also holds the embedding, the last rank
 * the head): minimises the largest rank's bytes, every rank at least one layer. split, when not NULL, is the
 * user's override: n layer counts ("40,40") summing to L. first[n+1]. 0 or -1 with an error. */
int mm_pp_plan(const int64_t *per_layer, int L, int64_t embed, int64_t head, int n, const char *split, int *first);

/* Expert parallelism (ep = 1 in mm_pp_load): every rank holds every layer's attention, norms and router and the
 * experts [first[r], first[r+1]) of each layer; every rank runs the whole forward on the same batch (rank 0 sends it),
 * each computes the outputs of its experts' (token, expert) pairs and one sum over the ranks per layer (the pairs of
 * other ranks' experts are zeros there) gives every rank all of them; each token then adds its experts' outputs in
 * the same order as one process does, so results are bit-identical. Rank 0 computes the logits. */
void mm_pp_allreduce(const mm_context *c, float *buf, size_t n);

/* Loads this rank's stage of the model at path: every rank checks that all ranks run the same binary, config and
 * model file (else each returns NULL, rank 0's error naming the rank and what differs), rank 0 plans the split,
 * each rank binds/packs only its layers and prints its start-up line on stderr. A rank that fails to load makes
 * every rank return NULL (rank 0's error names it). */
mm_model *mm_pp_load(mm_dist *d, const char *path, const mm_model_params *p, const char *split, int ep);

/* Ranks > 0: carry out rank 0's commands until it ends the job: 0; or until it moves to another model (a command
 * that runs two models one after the other, compare): 1 with *next the model's path (malloc'ed; next NULL: refused
 * as an error); or -1 with an error (the caller ends the job). */
int mm_pp_worker(mm_model *m, char **next);
/* Rank 0: tell the other ranks the command is over (they return 0 from mm_pp_worker). */
void mm_pp_finish(mm_dist *d);
/* Rank 0, its model freed: tell the other ranks to free theirs and load their stage of path next (every rank then
 * calls mm_pp_load again). */
void mm_pp_next_model(mm_dist *d, const char *path);

/* Whether m is rank 0 of a pipeline of more than one rank (the context calls below then forward). */
static inline int mm_pp_driver(const mm_model *m) { return m->pp && m->pp->n > 1 && m->pp->rank == 0; }
/* The stages a chunk flows through one after another: the ranks of a pipeline of more than one rank; 1 for one
 * process and for expert parallelism (every rank works on every token), where cutting a chunk into micro-batches
 * would overlap nothing. */
static inline int mm_pp_stages(const mm_model *m) { return m->pp && m->pp->n > 1 && !m->pp->ep ? m->pp->n : 1; }

/* Rank 0's side of each context operation (called by mm_context.c / mm_forward.c when mm_pp_driver). */
void mm_pp_ctx_new(mm_context *c);
void mm_pp_ctx_free(mm_context *c);
void mm_pp_seq_reset(mm_context *c, int seq);
void mm_pp_seq_copy(mm_context *c, int dst, int src);
int64_t mm_pp_snapshot(mm_context *c, int seq);
void mm_pp_restore(mm_context *c, int seq, int64_t snap);
void mm_pp_state_free(mm_pp *pp, int64_t snap);
/* State files on a pipeline (mm_seq_state_fwrite / mm_seq_state_fread on rank 0, mm_seq_state_block's kinds): rank 0
 * writes or reads one whole-model file, the format one process writes, and the blocks of the other ranks' layers
 * travel one at a time (in messages of at most 64 MiB), so no rank holds more than its own part plus one block.
 * Whether rank r holds block (kind, i) (every rank under expert parallelism), and which rank does (pipeline). */
int mm_pp_holds(const mm_pp *pp, int r, int kind, int i);
int mm_pp_holder(const mm_pp *pp, int kind, int i);
/* Whether the state snap holds lightning states (own: rank 0's answer; asks the first lightning layer's rank). */
int mm_pp_state_has_lstate(mm_pp *pp, int64_t snap, int own);
/* Block (kind, i) of n bytes of rank r's part of snapshot snap, written to f; a failed write clears *ok (the
 * transfer still completes). */
void mm_pp_block_get(mm_pp *pp, int r, int64_t snap, int kind, int i, size_t n, FILE *f, int *ok);
/* A new snapshot id under which every other rank allocates its part of a state of len tokens of context c. */
int64_t mm_pp_state_new(mm_context *c, int len, int has_lstate);
/* Block (kind, i) of n bytes to rank r's part of snapshot snap: from the same block of src, or when src is NULL read
 * from f (once a read falls short *ok is 0 and zeros go instead, keeping the ranks in step). */
void mm_pp_block_put(mm_pp *pp, int r, int64_t snap, int kind, int i, size_t n, mm_seq_state *src, FILE *f, int *ok);
/* Rank 0 idle (a server without requests): a no-op command every mm_pp_keepalive_s seconds keeps the other ranks'
 * bounded waits for the next command from running out. */
void mm_pp_ping(mm_pp *pp);
int mm_pp_keepalive_s(const mm_model *m);
/* Decode: before the chunks, the batch to every rank; after them, the logits rows from the last rank. */
void mm_pp_decode_begin(mm_context *c, const mm_batch *b, int want_logits);
void mm_pp_decode_end(mm_context *c, float *logits, int n_rows);
/* Between stages: the chunk's residual stream and normalised input [T, H] from the previous rank / to the next. */
void mm_pp_recv_act(mm_context *c, int T);
void mm_pp_send_act(mm_context *c, int T);
#endif
