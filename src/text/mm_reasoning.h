/* mm_reasoning.h — splitting a model's output into its thinking and its answer at <think>…</think>, as
 * llama.cpp's `--reasoning-format deepseek` does (MiniMax-M1 writes "<think>\n…\n</think>\n\nanswer").
 *
 * The rule (exact at the tags, whatever tokens they arrive in): if the output, after leading whitespace, starts
 * with "<think>", the reasoning is the text after that tag up to the first "</think>" (all of the rest if it
 * never closes) and the content is the text after "</think>"; each part starts at its first non-whitespace
 * byte. Otherwise the whole output is content, unchanged (also with MM_REASONING_NONE). Only the first block is
 * taken: a later "<think>" is content. The parser is incremental: feed it the growing output and it reports
 * which bytes of each part are final (a possible tag prefix at the end is held back until it is decided). */
#ifndef MM_REASONING_H
#define MM_REASONING_H
#include <stddef.h>

enum { MM_REASONING_NONE = 0, MM_REASONING_DEEPSEEK = 1 };

typedef struct {
    int format;                  /* MM_REASONING_* */
    int state;                   /* internal */
    size_t pos;                  /* where scanning resumes */
    int has_reasoning;           /* a thinking block was opened */
    size_t r_begin, r_end;       /* reasoning: text[r_begin, r_end) is final */
    size_t c_begin, c_end;       /* content: text[c_begin, c_end) is final */
} mm_reasoning;

/* in_thinking: the prompt already opened the block (its generation prompt ends with "<think>"). */
void mm_reasoning_init(mm_reasoning *p, int format, int in_thinking);
/* text[0..len) is the whole output so far (it only grows between calls); final: nothing more will come. */
void mm_reasoning_feed(mm_reasoning *p, const char *text, size_t len, int final);
/* 1 if a rendered prompt ends (but for whitespace) with "<think>": its generation prompt opened a thinking block,
 * so the output starts inside it (in_thinking of mm_reasoning_init). */
int mm_reasoning_prompt_opens(const char *text, size_t len);
/* "none" / "deepseek" → MM_REASONING_*, -1 for anything else. */
int mm_reasoning_format(const char *name);
#endif
