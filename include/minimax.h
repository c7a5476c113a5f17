/* minimax.h — public API of minimax.c, an inference engine for the MiniMax-01 model family
 * (MiniMax-Text-01, MiniMax-M1; hybrid lightning/softmax attention + 32-expert MoE).
 *
 * Typical use:
 *   mm_model *m = mm_model_load("path/to/checkpoint", NULL);          // config.json + safetensors
 *   mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 4096, .n_seq_max = 1});
 *   int32_t ids[] = {...}; float *logits = malloc(sizeof(float) * mm_model_config(m)->vocab_size);
 *   mm_batch b = mm_batch_one(0, ids, n, 1);                          // seq 0, logits of last token
 *   mm_decode(c, &b, logits);
 * With images (a MiniMax-VL-01 checkpoint), see "images" below: decode → preprocess → encode, then mm_decode with
 * the features as the embeddings of the image-token positions.
 * Every function that can fail returns NULL or a negative value; mm_last_error() says where and why. */
#ifndef MINIMAX_H
#define MINIMAX_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The last error message of the calling thread ("" if none). */
const char *mm_last_error(void);

/* ------------------------------------------------------------------ configuration */
enum { MM_LAYER_LIGHTNING = 0, MM_LAYER_SOFTMAX = 1 };
enum { MM_DIALECT_REMOTE = 0, MM_DIALECT_HF = 1 };   /* minimax_text_01/minimax_m1 vs model_type "minimax" */
/* What a checkpoint computes on top of the final hidden states (config.json's architectures[0]):
 * the causal LM's lm_head, or one of transformers' task heads (MiniMaxForSequenceClassification: `score` on
 * the last non-padding token; MiniMaxForTokenClassification: `score` with a bias on every token;
 * MiniMaxForQuestionAnswering: `qa_outputs` giving start and end logits per token). */
enum { MM_ARCH_CAUSAL_LM = 0, MM_ARCH_SEQ_CLS = 1, MM_ARCH_TOKEN_CLS = 2, MM_ARCH_QA = 3 };
/* config.json's problem_type: how classification logits become scores (transformers' pipeline rule:
 * regression → the logits; multi-label, or a single label → sigmoid; otherwise softmax). */
enum { MM_PROBLEM_AUTO = 0, MM_PROBLEM_SINGLE_LABEL = 1, MM_PROBLEM_MULTI_LABEL = 2, MM_PROBLEM_REGRESSION = 3 };

#define MM_MAX_LAYERS 512

typedef struct mm_config {
    char model_type[32];        /* "minimax_text_01", "minimax_m1", "minimax" or "minimax_vl_01" */
    int dialect;                /* MM_DIALECT_* */
    int vocab_size;             /* V */
    int hidden_size;            /* H */
    int n_layers;               /* L */
    int n_heads;                /* NH: query heads (softmax) and heads (lightning) */
    int n_kv_heads;             /* NKV (softmax layers) */
    int head_dim;               /* D */
    int rotary_dim;             /* RoPE on the first rotary_dim dims of each head */
    int intermediate_size;      /* I: expert FFN width */
    int n_experts;              /* E */
    int n_experts_per_tok;      /* top-k */
    int block_size;             /* lightning prefill block (256) */
    int max_position_embeddings;
    int postnorm;               /* 1: residual is the normalised input (DeepNorm); 0: pre-norm */
    int tie_word_embeddings;
    double rope_theta;
    double rms_norm_eps;
    double alpha_lin, beta_lin;     /* residual factors after lightning attention */
    double alpha_full, beta_full;   /* ... after softmax attention */
    double alpha_mlp, beta_mlp;     /* ... after the MoE */
    uint8_t layer_type[MM_MAX_LAYERS]; /* MM_LAYER_* per layer */
    int n_lightning, n_softmax;    /* counts of each layer type */
    int vision;                 /* 1: a MiniMax-VL-01 config (text_config + vision_config); the vision tower is
                                 * loaded with the model */
    int32_t image_token_index;  /* VL: the image placeholder id (200025 as released); -1 for text models */
    int arch;                   /* MM_ARCH_* */
    int num_labels;             /* classification heads: len(id2label) (2 when the config has none) */
    int32_t pad_token_id;       /* -1: none */
    int problem_type;           /* MM_PROBLEM_* */
} mm_config;

/* "MiniMaxForCausalLM", "MiniMaxForSequenceClassification", ... (transformers' class names). */
const char *mm_arch_name(int arch);

/* Parse a config.json text (either dialect; for model_type minimax_vl_01 its text_config). path is used in error
 * messages only. */
int mm_config_parse(mm_config *cfg, const char *json_text, const char *path);
int mm_config_load(mm_config *cfg, const char *path);

/* ------------------------------------------------------------------ model */
typedef struct mm_model mm_model;

typedef struct mm_model_params {
    int n_threads;          /* worker threads for compute (0: all cores) */
    int no_repack;          /* 1: keep block-quantized matrices in their stored layout. By default (0), where the
                             * CPU's kernels are faster on it (AVX2, AVX-VNNI, AVX-512), each Q8_0/Q4_0/Q4_K/Q6_K matrix is
                             * copied at load into a 16-row interleaved layout (same bytes, moved) and its file
                             * pages are released, so memory use stays about the model's size. */
    int layer_begin, layer_end; /* bind (and touch, pack) only layers [layer_begin, layer_end) — a pipeline stage;
                             * the embedding only when layer_begin is 0, the final norm and lm_head only when
                             * layer_end is the layer count. 0, 0: the whole model. */
    int expert_begin, expert_end; /* bind only experts [expert_begin, expert_end) of every layer (expert parallelism;
                             * 0, 0: all experts) */
    int no_head;            /* 1: bind neither the final norm nor lm_head (mm_decode then returns no logits: the
                             * expert-parallel ranks other than 0) */
    const char *mmproj;     /* a vision GGUF (`minimax quantize` writes one next to a VL model's text GGUF) to load
                             * with a .gguf text model; NULL: none (a VL checkpoint directory carries its tower) */
} mm_model_params;

/* Load a Hugging Face checkpoint directory (config.json + model.safetensors or sharded files with
 * model.safetensors.index.json). Weights are mmap'd and used in their stored dtype. */
mm_model *mm_model_load(const char *dir, const mm_model_params *params);
void mm_model_free(mm_model *m);
const mm_config *mm_model_config(const mm_model *m);
/* A 64-bit fingerprint of a model: its config and the first and last bytes of every tensor (name, dtype, shape,
 * data), so files made with one model (prompt caches) can refuse another. */
uint64_t mm_model_fingerprint(const mm_model *m);
const char *mm_model_path(const mm_model *m);

/* Parameter counts and bytes of the loaded weights. */
typedef struct mm_model_stats {
    int64_t n_params;           /* all parameters */
    int64_t n_params_active;    /* parameters used per token (top-k experts) */
    int64_t bytes_total;        /* bytes of all weights as stored */
    int64_t bytes_by_dtype[32]; /* indexed by storage dtype (every one of them: see the assertion in mm_model.c) */
    int64_t bytes_per_token;    /* weight bytes one decoded token reads (embedding row, top-k experts) */
    int64_t bytes_packed;       /* bytes of the packed copies made at load (mm_model_params.no_repack) */
    int64_t n_params_vision;    /* VL: parameters of the vision tower, projector and newline (in n_params, not active
                                 * per text token) */
    int64_t bytes_vision;       /* ... and their bytes (in bytes_total, not in bytes_per_token) */
} mm_model_stats;
void mm_model_get_stats(const mm_model *m, mm_model_stats *st);

/* KV cache element types, per K and V (llama.cpp's -ctk/-ctv names and block layouts). */
enum { MM_KV_F32 = 0, MM_KV_F16 = 1, MM_KV_BF16 = 2, MM_KV_Q8_0 = 3, MM_KV_Q4_0 = 4 };
/* "f32", "f16", "bf16", "q8_0", "q4_0" (case-insensitive) to MM_KV_*; -1 if not a KV type. */
int mm_kv_type_from_name(const char *name);
const char *mm_kv_type_name(int type);    /* "f32", ...; "?" if not a KV type */

/* Bytes of state one sequence needs at n_ctx tokens: lightning states (fp32) + KV cache. */
int64_t mm_state_bytes(const mm_config *cfg, int64_t n_ctx, int kv_bf16);
/* The same with K and V of types type_k, type_v (MM_KV_*); -1 if either is not a KV type. */
int64_t mm_state_bytes_kv(const mm_config *cfg, int64_t n_ctx, int type_k, int type_v);

/* ------------------------------------------------------------------ inference context */
typedef struct mm_context mm_context;

typedef struct mm_context_params {
    int n_ctx;          /* max tokens per sequence (softmax-layer KV cache); 0: 4096 */
    int n_seq_max;      /* sequences the context holds; 0: 1 */
    int n_ubatch;       /* max tokens per internal forward chunk (scratch memory is O(n_ubatch)); 0: 512 */
    int kv_bf16;        /* store the KV cache as bf16 (half the memory) instead of f32 (when type_k/type_v are 0) */
    int type_k, type_v; /* KV cache element types (MM_KV_*); 0: f32 */
    int kv_page;        /* positions per KV cache page: a power of two in 64..65536; 0: MM_KV_PAGE_DEFAULT */
    int n_micro;        /* on a pipeline of several ranks: each chunk is cut into up to n_micro micro-batches of about
                         * equal tokens (64 or more each; at a sequence boundary when one is near), which follow each
                         * other through the stages so the ranks work at once (a server step's prompt block and decode
                         * tokens); 0 or 1: chunks are not cut. No effect in one process or with expert parallelism. */
} mm_context_params;
/* The KV cache is paged: a pool of fixed-size pages, each holding every softmax layer's keys and values for kv_page
 * consecutive positions, so a growing sequence never reallocates or copies its cache; snapshots, restores and
 * forks (mm_seq_copy) share pages copy-on-write (a holder copies a shared page before writing into it). The page
 * size changes no result (bit for bit) and no state file. */
#define MM_KV_PAGE_DEFAULT 256
/* The KV types a context made with p stores (p NULL: the defaults): type_k/type_v where set, else bf16 with
 * kv_bf16, else f32. Whether they are KV types is checked where they are used. */
void mm_context_kv_types(const mm_context_params *p, int *type_k, int *type_v);

/* The memory plan of a context: what a process holding the model and a context of p needs at its peak, every
 * sequence full to n_ctx (what `minimax info -c N -ctk T -ctv T -np P` prints and run/serve check). */
typedef struct mm_mem_plan {
    int64_t weights;    /* weights resident once all are read: stored tensors (mapped) + packed copies - packed sources */
    int64_t lightning;  /* fp32 lightning states of every sequence */
    int64_t kv;         /* KV caches of every sequence at n_ctx rounded up to whole pages (types type_k / type_v) */
    int64_t scratch;    /* chunk buffers of n_ubatch tokens + per-thread attention/lightning/matmul scratch + logits */
    int64_t runtime;    /* the process itself (code, libraries, allocator, thread stacks): a measured constant */
    int64_t total;
} mm_mem_plan;
/* Fills pl for model m, context params p (NULL: defaults) and n_threads compute threads (0: the current count).
 * -1 with an error on a bad KV type. */
int mm_mem_plan_get(const mm_model *m, const mm_context_params *p, int n_threads, mm_mem_plan *pl);
/* Bytes of memory available to a new allocation now (MemAvailable of /proc/meminfo), -1 if unknown. */
int64_t mm_mem_available(void);
/* 0 when the plan fits in the available memory; else -1 with an error that gives the numbers and the flags
 * (-c, -ctk/-ctv, -np) that would make it fit. */
int mm_mem_plan_check(const mm_model *m, const mm_context_params *p, const mm_mem_plan *pl, int64_t available);

mm_context *mm_context_new(const mm_model *m, const mm_context_params *p);
void mm_context_free(mm_context *c);
/* The KV page pool of a context: pages held by its sequences or by snapshots (live), pages kept for reuse (free),
 * the bytes and positions of one page. */
typedef struct mm_kv_stats {
    int64_t pages_live, pages_free;
    int64_t page_bytes;
    int page_positions;
} mm_kv_stats;
void mm_context_kv_stats(const mm_context *c, mm_kv_stats *st);
const mm_model *mm_context_model(const mm_context *c);
int mm_context_n_ctx(const mm_context *c);
int mm_context_n_seq(const mm_context *c);

/* A batch: n_tokens tokens, each belonging to a sequence. The tokens of one sequence must form one
 * contiguous run in the batch, in order; they continue that sequence (positions are implicit).
 * logits[i] != 0 asks for the logits of token i (NULL: only the last token of each run);
 * hidden[i] != 0 asks for its final hidden state (mm_decode_ex; NULL: none). */
typedef struct mm_batch {
    int n_tokens;
    const int32_t *token;   /* [n_tokens] */
    const int32_t *seq;     /* [n_tokens] sequence ids, 0..n_seq_max-1 */
    const int8_t *logits;   /* [n_tokens] or NULL */
    const float *const *embd; /* [n_tokens] or NULL: embd[i] != NULL is token i's input embedding [hidden_size]
                               * (image features), used instead of looking token[i] up; token[i] is then any id
                               * (the image token, which may lie past the vocabulary). A VL model refuses an image
                               * token without one. */
    const int8_t *hidden;   /* [n_tokens] or NULL */
} mm_batch;

/* Run the model on a batch. Writes one row of vocab_size floats per requested token into logits
 * (in batch order). Returns the number of rows written, or -1 (then no sequence has advanced:
 * inputs are validated first — token ids, sequence ids, context overflow). */
int mm_decode(mm_context *c, const mm_batch *b, float *logits);
/* mm_decode that can also return final hidden states (after the final norm, what the lm_head or a task head
 * reads): one row of hidden_size floats per token with b->hidden[i] != 0, in batch order, into hidden.
 * logits may be NULL: then no logits are computed (the lm_head is skipped, e.g. for embeddings) and 0 is
 * returned. A task-head checkpoint (mm_config.arch != MM_ARCH_CAUSAL_LM) has no lm_head: asking it for
 * logits is an error. A model split over ranks (mm_pipeline) returns no hidden states (-1 with an error).
 * Returns the number of logits rows written, or -1 as mm_decode. */
int mm_decode_ex(mm_context *c, const mm_batch *b, float *logits, float *hidden);

/* Wall time spent in each part of the forward pass since the context was created or last reset. */
typedef struct mm_timings {
    double lightning;   /* lightning attention layers (projections, kernel, norm, gate, out_proj) */
    double softmax;     /* softmax attention layers (projections, RoPE, attention, o_proj) */
    double moe;         /* router and experts */
    double head;        /* final norm and lm_head */
    double other;       /* embedding lookup, norms, residuals */
    int64_t tokens;     /* tokens processed */
    int64_t forwards;   /* forward chunks run */
} mm_timings;
void mm_context_timings(const mm_context *c, mm_timings *t);
void mm_context_reset_timings(mm_context *c);

/* Sequence management. */
int mm_seq_len(const mm_context *c, int seq);          /* tokens in the sequence */
void mm_seq_reset(mm_context *c, int seq);             /* empty the sequence (its KV pages go back to the pool) */
int mm_seq_copy(mm_context *c, int dst, int src);      /* fork: dst becomes a copy of src (KV pages shared) */
/* For benchmarks: appends n positions of random keys and values (from seed) to a sequence's KV cache without running
 * the model, so that decode at depth can be measured without prefilling the depth (attending a row costs the same
 * whatever its values). The sequence's later outputs are meaningless. One process only (not a model split over
 * ranks). 0, or -1 with an error (bad id, more than the context holds, out of memory). */
int mm_seq_fill_synthetic(mm_context *c, int seq, int n, uint64_t seed);

/* Snapshots of one sequence's full state (lightning states + KV cache + length). A snapshot copies the lightning
 * states and shares the KV pages (copy-on-write); it may outlive its context and restores into any context of the
 * same model, KV types and page size (a state file into any page size). */
typedef struct mm_seq_state mm_seq_state;
mm_seq_state *mm_seq_snapshot(const mm_context *c, int seq);
int mm_seq_restore(mm_context *c, int seq, const mm_seq_state *s);
void mm_seq_state_free(mm_seq_state *s);
int mm_seq_state_len(const mm_seq_state *s);           /* tokens covered by the snapshot */
size_t mm_seq_state_bytes(const mm_seq_state *s);      /* its lightning states + KV rows, shared pages included */
/* A state file holds the whole model's layers, the same bytes on one process or on rank 0 of a pipeline (which
 * gathers the other ranks' layers, and scatters them back on load: a loaded state restores like a snapshot). */
int mm_seq_state_save(const mm_seq_state *s, const char *path);   /* binary file, versioned */
mm_seq_state *mm_seq_state_load(const mm_context *c, const char *path);

/* ------------------------------------------------------------------ task heads and embeddings */
/* Outputs per token of the model's task head: num_labels (sequence / token classification), 2 (question
 * answering: start, end), 0 for a causal LM. */
int mm_model_head_size(const mm_model *m);
/* Label i of a classification head (config.json's id2label; "LABEL_i" when it has none), or NULL. */
const char *mm_model_label(const mm_model *m, int i);
/* out[n, head_size] = hidden[n, H] · Wᵀ (+ b): the task head on final hidden states from mm_decode_ex.
 * -1 with an error for a causal LM. */
int mm_model_head_forward(const mm_model *m, const float *hidden, int n, float *out);
/* The token whose head output classifies a sequence (transformers' rule): the rightmost token that is not
 * cfg->pad_token_id (0 if every token is padding), the last token when the config has no pad token. */
int mm_seq_cls_index(const mm_config *cfg, const int32_t *ids, int n);
/* Classification logits → scores in place (MM_PROBLEM_*: softmax, sigmoid, or unchanged for regression). */
void mm_head_scores(const mm_config *cfg, float *x, int n);
/* Question answering: the span [*start, *end] (token indices, lo <= start <= end < hi, at most max_len tokens)
 * maximising start_logits[start] + end_logits[end]; returns its probability (softmax of each over [lo, hi)). */
double mm_qa_best_span(const float *start_logits, const float *end_logits, int lo, int hi, int max_len, int *start, int *end);

/* The task head on a token sequence, run in sequence seq of c (reset before and after): out[head_size] for a
 * sequence classifier (the token mm_seq_cls_index picks), else out[n, head_size] (every token). 0 or -1. */
int mm_classify(mm_context *c, int seq, const int32_t *ids, int n, float *out);

/* Embedding pooling of final hidden states. */
enum { MM_POOL_LAST = 0, MM_POOL_MEAN = 1 };
/* Scales x[n] to unit L2 norm (a zero vector stays zero). */
void mm_l2_normalize(float *x, int n);
/* The embedding of a token sequence: its final hidden states pooled (MM_POOL_LAST: the last token's,
 * MM_POOL_MEAN: their average) and L2-normalised into out[hidden_size]. Runs in sequence seq of c (reset before
 * and after); works on every checkpoint (the lm_head or task head is not used). 0 or -1. */
int mm_embed(mm_context *c, int seq, const int32_t *ids, int n, int pooling, float *out);

/* ------------------------------------------------------------------ sampling */
typedef struct mm_sampler_params {
    float temperature;      /* 0: greedy (argmax) */
    int top_k;              /* 0: off */
    float top_p;            /* 1: off */
    float min_p;            /* 0: off */
    float repeat_penalty;   /* 1: off; applied to tokens in the last repeat_last_n */
    int repeat_last_n;      /* 64 by default; 0: off, -1: whole history */
    uint64_t seed;
} mm_sampler_params;

typedef struct mm_sampler mm_sampler;
mm_sampler_params mm_sampler_default_params(void);
mm_sampler *mm_sampler_new(const mm_sampler_params *p, int vocab_size);
void mm_sampler_free(mm_sampler *s);
/* Choose a token from logits[vocab_size] (logits may be modified). */
int32_t mm_sampler_sample(mm_sampler *s, float *logits);
/* Record a token as part of the history (for the repetition penalty): prompt and generated tokens. */
void mm_sampler_accept(mm_sampler *s, int32_t token);
void mm_sampler_reset(mm_sampler *s);

/* Logit bias (OpenAI's logit_bias): bias[i] is added to the logit of ids[i] before anything else; a bias of
 * -100 or less bans the token (its logit becomes -inf). Replaces any earlier bias; n = 0 clears it. -1 with an
 * error for an id outside the vocabulary or a bias that is not finite. */
int mm_sampler_set_logit_bias(mm_sampler *s, const int32_t *ids, const float *bias, int n);

/* A constraint on which tokens may come next (e.g. a grammar): the sampler draws as usual, and if `allows`
 * refuses the drawn token it calls `mask` on the logits as they were before the draw and draws again from
 * what is left (rejection first, so a constraint that allows the likely tokens costs one call; the result is
 * the distribution restricted to the allowed tokens). mask sets the logit of every refused token to -inf and
 * returns how many tokens it allows. The sampler does not advance the constraint: its owner does, with the
 * token sampled. */
typedef struct mm_sampler_constraint {
    void *ctx;
    int (*allows)(void *ctx, int32_t token);
    int (*mask)(void *ctx, float *logits, int n_vocab);
} mm_sampler_constraint;
/* c is copied; NULL removes the constraint. */
void mm_sampler_set_constraint(mm_sampler *s, const mm_sampler_constraint *c);
/* 1 if the last mm_sampler_sample's token was refused by the constraint even after masking (nothing allowed). */
int mm_sampler_constraint_failed(const mm_sampler *s);

/* ------------------------------------------------------------------ structured output */
/* A grammar the sampled output must follow, as the sampler's constraint: GBNF text (llama.cpp's grammar format,
 * start rule `root`) or a JSON Schema (the common subset: type, properties, required, additionalProperties,
 * items, min/maxItems, min/maxLength, enum, const, anyOf, local $ref; any other keyword is refused by name).
 * tokens[t] / token_len[t] are the bytes token t decodes to, for t in [0, n_vocab) (NULL or 0: a token the
 * output never contains, e.g. special tokens); eos (-1: none) may be sampled once the output is complete. */
typedef struct mm_grammar_constraint mm_grammar_constraint;
enum { MM_GRAMMAR_GBNF = 0, MM_GRAMMAR_JSON_SCHEMA = 1 };
/* NULL + mm_last_error() ("grammar: line L, column C: ..." / "json_schema: at #/...: ...") when invalid. */
mm_grammar_constraint *mm_grammar_constraint_new(const char *text, size_t len, int kind, const char *const *tokens,
                                                 const size_t *token_len, int n_vocab, int32_t eos);
void mm_grammar_constraint_free(mm_grammar_constraint *g);
/* Makes s draw only tokens the grammar allows next (g must outlive that use; NULL detaches any constraint). */
void mm_grammar_constraint_attach(mm_grammar_constraint *g, mm_sampler *s);
/* After each sampled token: 0 the output goes on, 1 it is complete and nothing more may follow (stop), -1 the
 * token does not continue it (the state is unchanged). */
int mm_grammar_constraint_accept(mm_grammar_constraint *g, int32_t token);
/* 1 if the output so far is a complete sentence of the grammar. */
int mm_grammar_constraint_complete(const mm_grammar_constraint *g);
/* Back to the start (a new output). */
void mm_grammar_constraint_reset(mm_grammar_constraint *g);

/* ------------------------------------------------------------------ images (MiniMax-VL-01)
 *   mm_image *im = mm_image_load("cat.jpg", 0);                      // PNG, JPEG, WebP in Pillow's modes
 *   mm_image_input *in = mm_image_preprocess(m, im);                 // tiles + thumbnail, bit-exact to Pillow 9.4
 *   int nt = mm_image_input_plan(in)->n_tokens;
 *   float *feat = malloc(sizeof(float) * nt * mm_model_config(m)->hidden_size);
 *   mm_image_encode(m, in, feat);                                    // vision tower, projector, anyres packing
 *   int32_t *ids; int n = mm_image_expand(m, prompt, n_prompt, 1, &nt, &ids);   // one placeholder → nt tokens
 *   const float **embd = malloc(sizeof *embd * n); const float *fs[] = {feat};
 *   mm_image_embd(m, ids, n, 1, fs, &nt, embd);                      // features at the image positions
 *   mm_batch b = {.n_tokens = n, .token = ids, .seq = seq, .embd = embd}; mm_decode(c, &b, logits); */
typedef struct mm_image mm_image;

#define MM_IMAGE_MAX_PIXELS 178956970LL   /* default pixel limit: Pillow's decompression-bomb error threshold */

/* Decodes a whole PNG, JPEG or WebP file held in data[0..n) (format from its signature) into the mode Pillow 9.4
 * opens it in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I"). An image of more than max_pixels pixels (0:
 * MM_IMAGE_MAX_PIXELS) is refused from its header, before pixel memory is allocated. NULL + error on a truncated,
 * corrupt, empty or unknown file. */
mm_image *mm_image_decode(const void *data, size_t n, int64_t max_pixels);
mm_image *mm_image_load(const char *path, int64_t max_pixels);
void mm_image_free(mm_image *im);
int mm_image_width(const mm_image *im);
int mm_image_height(const mm_image *im);
const char *mm_image_mode(const mm_image *im);     /* Pillow's mode name */
const char *mm_image_format(const mm_image *im);   /* "PNG", "JPEG", "WEBP" */

/* How an image of a given size is cut and how many tokens it takes ("anyres"). */
typedef struct mm_image_plan {
    int width, height;                  /* the source image */
    int best_width, best_height;        /* the chosen grid pinpoint (the canvas) */
    int grid_rows, grid_cols;           /* tiles of image_size² on the canvas */
    int n_tiles, n_patches;             /* n_patches = 1 (the thumbnail) + n_tiles */
    int resized_width, resized_height;  /* the keep-ratio resize pasted on the black canvas ... */
    int offset_x, offset_y;             /* ... at this offset */
    int feat_rows, feat_cols, feat_pad; /* the unpadded feature grid (rows × cols, crop offset pad) */
    int n_tokens;                       /* image tokens: 576 (thumbnail) + feat_rows · (feat_cols + 1) */
} mm_image_plan;
/* The plan of a width×height image under m's settings (m NULL: MiniMax-VL-01's released settings). */
int mm_image_plan_for(const mm_model *m, int width, int height, mm_image_plan *out);

/* Preprocessed image: pixel_values [n_patches, 3, S, S] (thumbnail first, then the tiles row-major). */
typedef struct mm_image_input mm_image_input;
mm_image_input *mm_image_preprocess(const mm_model *m, const mm_image *im);   /* m NULL: released settings */
void mm_image_input_free(mm_image_input *in);
const mm_image_plan *mm_image_input_plan(const mm_image_input *in);
int mm_image_input_size(const mm_image_input *in);             /* S (336) */
const float *mm_image_input_pixels(const mm_image_input *in);  /* [n_patches, 3, S, S] float32 */
const uint8_t *mm_image_input_rgb(const mm_image_input *in);   /* [n_patches, S, S, 3] the 8-bit patches */

/* 1 if the model has a vision tower (a VL checkpoint, or a .gguf loaded with mmproj). */
int mm_model_has_vision(const mm_model *m);
/* Image features [n_tokens, hidden_size] of one preprocessed image, ready to be decoded at its image-token
 * positions. Threads as mm_set_threads. 0 or -1 + error. */
int mm_image_encode(const mm_model *m, const mm_image_input *in, float *out);
/* The same in stages, to interleave a long encode with other work: the vision tower and projector on patches
 * [p0, p0 + np) write rows [p0·F, (p0 + np)·F) of proj [n_patches · F, hidden_size] (F = features per patch,
 * mm_image_patch_tokens); mm_image_pack then arranges a complete proj into out [n_tokens, hidden_size]. */
int mm_image_patch_tokens(const mm_model *m);
int mm_image_encode_patches(const mm_model *m, const mm_image_input *in, int p0, int np, float *proj);
int mm_image_pack(const mm_model *m, const mm_image_input *in, const float *proj, float *out);
/* The rows mm_image_pack would copy, as pointers into proj (or at the model's image_newline): rows[n_tokens], to
 * bind features to a batch (mm_batch.embd) without copying them. */
int mm_image_pack_rows(const mm_model *m, const mm_image_input *in, const float *proj, const float **rows);

/* Replaces the image placeholders of ids (each a single image token, one per image, in order) by n_tok[j] image
 * tokens each. *out is a new array (free it); returns its length, or -1 + error when the prompt has another number
 * of placeholders than n_images (or the model has no vision tower and n_images > 0). */
int mm_image_expand(const mm_model *m, const int32_t *ids, int n, int n_images, const int *n_tok, int32_t **out);
/* embd[i] = the feature row of the image token at position i (images' rows in order: feats[0] rows 0..n_tok[0]-1,
 * then feats[1], ...), NULL for other tokens. -1 + error when the number of image tokens in ids is not Σ n_tok. */
int mm_image_embd(const mm_model *m, const int32_t *ids, int n, int n_images, const float *const *feats,
                  const int *n_tok, const float **embd);

/* ------------------------------------------------------------------ threads */
void mm_set_threads(int n);     /* compute threads (0: all cores) */
int mm_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif
