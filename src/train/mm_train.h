/* mm_train.h — training a MiniMax-01 model from scratch: the parameter table in the Hugging Face layout,
 * checkpoints `minimax run` loads (config.json + model.safetensors, remote dialect) with the optimizer state
 * beside them for resuming, the training loop (AdamW, gradient clipping, warmup-stable-decay), and a byte-level
 * BPE tokenizer trainer. */
#ifndef MM_TRAIN_H
#define MM_TRAIN_H
#include <stdint.h>
#include <stdio.h>
#include "train/mm_tgrad.h"
#include "base/mm_common.h"

/* ---------------------------------------------------------------- parameters */
typedef struct {
    char name[96];          /* as in a released checkpoint, per-expert layout */
    int ndim;
    int64_t shape[2];
    size_t off;             /* element offset in the flat parameter array */
    int64_t n;              /* elements */
    int is_norm;            /* norm weights: initialised to 1, no weight decay */
} mm_tparam;

/* Every parameter in state-dict order; *out is malloc'd. Returns the count. */
int mm_tparams_table(const mm_tlayout *lo, mm_tparam **out);
/* Initial weights for a seed: matrices N(0, 0.02²), norms 1. Identical for a seed whatever the thread count. */
void mm_tparams_init(const mm_tlayout *lo, float *p, uint64_t seed);

/* The demo model's shape ("demo") or a tiny one for tests ("tiny"): layer types 7 lightning + 1 softmax per 8. */
int mm_tdims_preset(mm_tdims *d, const char *name, int vocab);
/* The trainer's view of a checkpoint's config (postnorm required; block 256 in the remote dialect). */
int mm_tdims_from_config(mm_tdims *d, const mm_config *c);

/* Writes dir/config.json (remote dialect) and dir/model.safetensors (dtype F32 or BF16) from parameters p; with
 * tokenizer != NULL copies that tokenizer.json in. Creates dir. */
int mm_tcheckpoint_write(const char *dir, const mm_tlayout *lo, const float *p, mm_dtype dt, const char *tokenizer);
/* Reads every parameter from dir/model.safetensors (F32, F16 or BF16) into p; a missing tensor or a shape that
 * differs from lo is an error. */
int mm_tcheckpoint_read(const char *dir, const mm_tlayout *lo, float *p);
/* Optimizer moments m, v as dir/optimizer.safetensors (F32, named "m.<param>", "v.<param>"), and their reader. */
int mm_toptim_write(const char *dir, const mm_tlayout *lo, const float *m, const float *v);
int mm_toptim_read(const char *dir, const mm_tlayout *lo, float *m, float *v);

/* ---------------------------------------------------------------- schedule and optimizer */
typedef struct {
    double lr, lr_min;      /* peak and final learning rate */
    int64_t warmup, steps;  /* warmup steps, total steps */
    double decay_frac;      /* the last decay_frac of the steps decay linearly from lr to lr_min */
} mm_wsd;
/* Learning rate at step (0-based): linear warmup to lr, constant, then the decay phase. */
double mm_wsd_lr(const mm_wsd *s, int64_t step);

typedef struct {
    double beta1, beta2, eps, weight_decay;
} mm_adamw;
/* One AdamW step (bias-corrected, decoupled weight decay on the parameters with decay[i] != 0) for step t ≥ 1. */
void mm_adamw_step(const mm_adamw *o, float *p, const float *g, float *m, float *v, const uint8_t *decay, size_t n,
                   double lr, int64_t t);
/* ‖g‖₂ (summed in a fixed order), and g scaled to norm max_norm when larger (returns the norm before). */
double mm_clip_grad(float *g, size_t n, double max_norm);

/* ---------------------------------------------------------------- the training run */
typedef struct {
    mm_tdims dims;
    const char *train_file;     /* UTF-8 text to train on */
    const char *heldout_file;   /* held-out text (NULL: no evaluation) */
    const char *tokenizer;      /* tokenizer.json (from `minimax train-tokenizer`) */
    const char *out_dir;        /* checkpoint directory (F32 weights + optimizer + trainer_state.json) */
    const char *export_dir;     /* at the end: a BF16 copy for shipping (NULL: none) */
    int resume;                 /* continue from out_dir: its model, optimizer, step and schedule; steps > 0,
                                 * decay_frac >= 0 and warmup_frac >= 0 given here replace the saved schedule's */
    int n_seq, seq_len;         /* sequences per step, tokens per sequence */
    int64_t steps;              /* total steps of the schedule */
    double lr, lr_min, warmup_frac, decay_frac, weight_decay, clip; /* warmup_frac ≥ 1: a number of steps */
    double niah_frac;           /* share of sequences that are key→value retrieval documents */
    uint64_t seed;
    int eval_every, eval_windows, save_every;
    double time_limit;          /* seconds: the decay starts at (1 − decay_frac) of it; stop and save at the end (0: none) */
    int64_t run_steps;          /* stop (and save) after this many steps in this run (0: no limit) */
    double gemm_ceiling;        /* GFLOP/s of the reference SGEMM on this machine (0: unknown) */
    int progress;               /* a status line on stderr (when it is a terminal) */
    const char *log_file;       /* one line per evaluation (NULL: none) */
} mm_train_params;

typedef struct {
    int64_t step;               /* steps done */
    double train_loss;          /* mean of the last steps */
    double heldout_loss;        /* last evaluation (NAN if none) */
    double niah_acc;            /* share of held-out retrieval answers predicted exactly (NAN if none) */
    double tokens_per_s, gflops;
    int64_t tokens;
} mm_train_result;

void mm_train_defaults(mm_train_params *p);
int mm_train_run(const mm_train_params *p, mm_train_result *res);

/* Model FLOPs per trained token (forward + backward, 2 per multiply-add, matrix products and attention). */
double mm_train_flops_per_token(const mm_tdims *d, int seq_len);

/* ---------------------------------------------------------------- tokenizer */
typedef struct {
    int vocab_size;             /* total ids including the 256 bytes, the merges and the special tokens */
    int min_freq;               /* stop merging when the best pair is rarer */
    int progress;
} mm_bpe_params;
/* Learns byte-level BPE merges from text (split with MiniMax's pre-tokenizer regex) and writes a tokenizer.json
 * in MiniMax's format: NFC, the same Split + ByteLevel pre-tokenizer, ByteLevel decoder, and MiniMax's 26 special
 * tokens (<beginning_of_sentence>, <end_of_sentence>, ...) after the merges. */
int mm_bpe_train(const char *text, size_t len, const mm_bpe_params *p, const char *out_path);
#endif
