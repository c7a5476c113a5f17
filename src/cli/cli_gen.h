/* cli_gen.h — what `run` and `chat` share while generating: the output's grammar (--json-schema FILE,
 * --grammar FILE) and how a <think> block is shown (dimmed on a terminal, hidden with --hide-thinking). */
#ifndef MM_CLI_GEN_H
#define MM_CLI_GEN_H
#include <stddef.h>
#include <stdint.h>

#include "minimax.h"
#include "text/mm_reasoning.h"
#include "text/mm_tokenizer.h"

typedef struct {
    mm_grammar_constraint *g;   /* NULL: unconstrained */
} mm_cli_grammar;

/* Loads the grammar of --json-schema FILE or --grammar FILE (at most one non-NULL) and binds it to s: tokens
 * are checked against tok's texts, eos (or -1) may end the output once it is complete. 0 (also when both
 * are NULL), or -1 after printing why. */
int mm_cli_grammar_init(mm_cli_grammar *cg, const char *cmd, const char *schema_file, const char *grammar_file,
                        const mm_tokenizer *tok, int n_vocab, int32_t eos, mm_sampler *s);
/* After sampling token t: 0 and the output goes on, 1 the grammar is complete and allows nothing more, -1 no
 * token could continue it (message printed). */
int mm_cli_grammar_step(mm_cli_grammar *cg, const char *cmd, mm_sampler *s, int32_t t);
/* 1 if there is a grammar and the output so far is not a complete sentence of it. */
int mm_cli_grammar_incomplete(const mm_cli_grammar *cg);
void mm_cli_grammar_free(mm_cli_grammar *cg);

/* The display of generated text: as it is (stdout not a terminal), a <think> block dimmed (a terminal), or
 * only the answer (hide). */
typedef struct {
    mm_reasoning rp;
    int mode;                 /* 0 as is, 1 dim the thinking, 2 hide it */
    size_t sent, sent_r, sent_c;
} mm_cli_think;
/* in_thinking: the prompt opened the block (mm_reasoning_prompt_opens). */
void mm_cli_think_init(mm_cli_think *t, int hide, int in_thinking);
/* text[0..len) is the whole output so far; prints what became final (all of it when final). */
void mm_cli_think_show(mm_cli_think *t, const char *text, size_t len, int final);
#endif
