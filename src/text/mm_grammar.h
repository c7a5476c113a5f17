/* mm_grammar.h — grammars in llama.cpp's GBNF and the token masks of grammar-constrained sampling.
 *
 * GBNF (llama.cpp's grammars/README.md): `name ::= alternatives` rules, one per line (a rule continues on the
 * next line inside parentheses or after `|`); alternatives separated by `|`; sequences of "literals" (escapes
 * \n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH, raw UTF-8), [character classes] with ranges a-z and ^
 * negation, `.` (any character), rule references, (groups), and repetition `*` `+` `?` `{m}` `{m,}` `{m,n}` of
 * the item before; `#` comments. Names are letters, digits and '-'. The start rule is `root`. Undefined rules,
 * left recursion and repetition counts over 2000 are refused with the line and column.
 *
 * Matching is llama.cpp's pushdown recogniser over Unicode code points: a state is the set of parse stacks
 * (each a list of grammar positions whose top is a character class, or empty = complete) plus a pending partial
 * UTF-8 character. States are interned and transitions cached per matcher, so a token mask is one walk over a
 * byte trie of the vocabulary that prunes every subtree the grammar cannot continue into. */
#ifndef MM_GRAMMAR_H
#define MM_GRAMMAR_H
#include <stddef.h>
#include <stdint.h>

#include "minimax.h"
#include "text/mm_tokenizer.h"

typedef struct mm_grammar mm_grammar;   /* parsed, immutable: may be shared between threads */

/* Parses GBNF text[0..len). NULL + mm_set_error("grammar: line L, column C: ...") when invalid. */
mm_grammar *mm_grammar_parse(const char *text, size_t len);
void mm_grammar_free(mm_grammar *g);
int mm_grammar_n_rules(const mm_grammar *g);

/* ---------------------------------------------------------------- matching text */
typedef struct mm_gmatch mm_gmatch;     /* one generation's parse state (one thread at a time) */

/* The state before any input. g must outlive the matcher. */
mm_gmatch *mm_gmatch_new(const mm_grammar *g);
void mm_gmatch_free(mm_gmatch *m);
/* Consumes bytes s[0..n) (UTF-8, a character may be split across calls). 0, or -1 when the grammar cannot
 * continue with them (the state is then unchanged) or too many parse stacks would arise (an error says so). */
int mm_gmatch_accept_bytes(mm_gmatch *m, const char *s, size_t n);
/* 1 when the input so far is a complete sentence of the grammar. */
int mm_gmatch_complete(const mm_gmatch *m);
/* 1 when some more input could still follow (0: complete and nothing can be added: generation must stop). */
int mm_gmatch_can_continue(const mm_gmatch *m);

/* ---------------------------------------------------------------- token masks */
typedef struct mm_gvocab mm_gvocab;     /* a tokenizer's token bytes as a trie: immutable, shareable */

/* Built from tok's ids [0, n_vocab) (the model's vocabulary; ids the tokenizer lacks, and special tokens, never
 * match). eos (or -1) is the end token: allowed exactly when the input is a complete sentence. */
mm_gvocab *mm_gvocab_new(const mm_tokenizer *tok, int n_vocab, int32_t eos);
/* The same from any source of token bytes: token(ctx, t, &len) gives token t's bytes (copied here), or NULL /
 * len 0 for a token the output never contains. */
typedef const uint8_t *(*mm_gtoken_fn)(void *ctx, int32_t t, size_t *len);
mm_gvocab *mm_gvocab_new_fn(mm_gtoken_fn token, void *ctx, int n_vocab, int32_t eos);
void mm_gvocab_free(mm_gvocab *v);

/* 1 if token t may come next. */
int mm_gmatch_allows(mm_gmatch *m, const mm_gvocab *v, int32_t t);
/* logits[t] = -inf for every token that may not come next; returns how many remain allowed. */
int mm_gmatch_mask(mm_gmatch *m, const mm_gvocab *v, float *logits, int n_vocab);
/* Advances over token t (its bytes; the end token only when complete). 0, or -1 if t is not allowed. */
int mm_gmatch_accept_token(mm_gmatch *m, const mm_gvocab *v, int32_t t);

/* A matcher and a vocabulary as the sampler's constraint (minimax.h's mm_sampler_constraint; ctx = b, which
 * must outlive the sampler's use of it). */
typedef struct {
    mm_gmatch *m;
    const mm_gvocab *v;
} mm_gbind;
mm_sampler_constraint mm_gbind_constraint(mm_gbind *b);
#endif
