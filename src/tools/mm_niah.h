/* mm_niah.h — a RULER-style needle-in-a-haystack harness: prompts of exact token lengths with a key→value needle
 * at a given depth of the haystack, greedy answers, RULER's string_match_all score, over a grid of lengths ×
 * depths. For each length the haystack prefix before a needle is prefilled once and extended from depth to depth
 * (a snapshot of the sequence at each needle position is restored after its cell), so a grid of D depths costs
 * about one prefill of the haystack plus the tails after each needle.
 *
 * A prompt (token ids): prefix (chat template or nothing) · haystack lines [0, p) · needle line · distractor
 * needles are haystack lines too · haystack lines [p, H) · question · suffix, where the question ends in
 * "Answer: The secret number of the <key> is" and the expected answer is the needle's value. */
#ifndef MM_NIAH_H
#define MM_NIAH_H
#include <stdint.h>
#include "minimax.h"
#include "text/mm_tokenizer.h"

typedef struct {
    const mm_tokenizer *tok;
    const char *hay;             /* haystack text (lines); NULL: the built-in generator (mm_needle_hay) */
    size_t hay_len;
    int n_keys;                  /* needles in the haystack, 1..4: one asked, the others distractors (multi-key) */
    uint64_t seed;               /* keys, values, distractor places */
    const int32_t *prefix;       /* tokens before the haystack (a chat template's user turn start), may be NULL */
    int n_prefix;
    const int32_t *suffix;       /* tokens after the question (end of turn + assistant start), may be NULL */
    int n_suffix;
} mm_niah_spec;

typedef struct {
    int32_t *ids;                /* the prompt, malloc'd */
    int n;                       /* its length = the asked length */
    int shared;                  /* tokens before the needle: the same for every depth of this length */
    int needle_at, needle_len;   /* the asked needle's token span */
    int hay_tokens;              /* haystack tokens (needles excluded) */
    char key[48], value[16];
} mm_niah_prompt;

/* The prompt of `length` tokens with the asked needle at depth (0..1) of the haystack, on the line boundary
 * nearest to it. -1 + mm_set_error() when the length cannot hold the needle, question and template. */
int mm_niah_build(const mm_niah_spec *s, int length, double depth, mm_niah_prompt *out);
void mm_niah_prompt_free(mm_niah_prompt *p);

/* RULER's string_match_all: the fraction of refs found (case-insensitively) in pred. */
double mm_niah_score(const char *pred, const char *const *refs, int n_refs);

typedef struct {
    int length, depth_pct;
    double score;
    char answer[96];             /* the greedy answer's text (cut at the first newline) */
    char expected[16];
    int needle_at;
    double seconds;
} mm_niah_cell;

/* Runs the grid on sequence 0 of c (n_ctx ≥ the largest length + max_answer): cells[l·nd + d]. progress (may
 * be NULL) after each cell. -1 + mm_set_error() on failure. */
int mm_niah_run(mm_context *c, const mm_niah_spec *s, const int *lengths, int nl, const int *depths_pct, int nd, int max_answer,
                mm_niah_cell *cells, void (*progress)(const mm_niah_cell *cell, void *arg), void *arg);
#endif
