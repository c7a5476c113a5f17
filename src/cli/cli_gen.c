/* cli_gen.c — the output's grammar and the display of thinking for `run` and `chat` (see cli_gen.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_gen.h"
#include "base/mm_common.h"

int mm_cli_grammar_init(mm_cli_grammar *cg, const char *cmd, const char *schema_file, const char *grammar_file,
                        const mm_tokenizer *tok, int n_vocab, int32_t eos, mm_sampler *s) {
    memset(cg, 0, sizeof *cg);
    if (!schema_file && !grammar_file) return 0;
    if (schema_file && grammar_file) {
        fprintf(stderr, "minimax %s: give --json-schema or --grammar, not both\n", cmd);
        return -1;
    }
    if (!tok) {
        fprintf(stderr, "minimax %s: a grammar needs the tokenizer (the token texts it is checked against)\n", cmd);
        return -1;
    }
    const char *file = schema_file ? schema_file : grammar_file;
    size_t len;
    char *text = mm_arg_read_file(cmd, file, &len);
    if (!text) return -1;
    const char **toks = mm_xcalloc((size_t)n_vocab, sizeof(char *));
    size_t *lens = mm_xcalloc((size_t)n_vocab, sizeof(size_t));
    for (int32_t t = 0; t < n_vocab; t++)   /* special tokens never match */
        if (!mm_tokenizer_is_special(tok, t)) toks[t] = (const char *)mm_tokenizer_token_bytes(tok, t, &lens[t]);
    cg->g = mm_grammar_constraint_new(text, len, schema_file ? MM_GRAMMAR_JSON_SCHEMA : MM_GRAMMAR_GBNF, toks, lens, n_vocab, eos);
    free(toks);
    free(lens);
    free(text);
    if (!cg->g) {
        fprintf(stderr, "minimax %s: %s: %s\n", cmd, file, mm_last_error());
        return -1;
    }
    mm_grammar_constraint_attach(cg->g, s);
    return 0;
}

int mm_cli_grammar_step(mm_cli_grammar *cg, const char *cmd, mm_sampler *s, int32_t t) {
    if (!cg->g) return 0;
    int r = mm_sampler_constraint_failed(s) ? -1 : mm_grammar_constraint_accept(cg->g, t);
    if (r < 0) fprintf(stderr, "\nminimax %s: no token of the vocabulary continues the output as the grammar requires\n", cmd);
    return r;
}

int mm_cli_grammar_incomplete(const mm_cli_grammar *cg) { return cg->g && !mm_grammar_constraint_complete(cg->g); }

void mm_cli_grammar_free(mm_cli_grammar *cg) {
    mm_grammar_constraint_free(cg->g);
    cg->g = NULL;
}

/* ---------------------------------------------------------------- thinking */
#define DIM "\x1b[2m"
#define UNDIM "\x1b[0m"

void mm_cli_think_init(mm_cli_think *t, int hide, int in_thinking) {
    memset(t, 0, sizeof *t);
    t->mode = hide ? 2 : isatty(STDOUT_FILENO) ? 1 : 0;
    mm_reasoning_init(&t->rp, MM_REASONING_DEEPSEEK, in_thinking);
}

void mm_cli_think_show(mm_cli_think *t, const char *text, size_t len, int final) {
    if (t->mode == 0) {
        fwrite(text + t->sent, 1, len - t->sent, stdout);
        t->sent = len;
        fflush(stdout);
        return;
    }
    mm_reasoning *p = &t->rp;
    mm_reasoning_feed(p, text, len, final);
    if (p->has_reasoning && p->r_end > p->r_begin + t->sent_r) {
        if (t->mode == 1) {
            fputs(DIM, stdout);
            fwrite(text + p->r_begin + t->sent_r, 1, p->r_end - p->r_begin - t->sent_r, stdout);
            fputs(UNDIM, stdout);
        }
        t->sent_r = p->r_end - p->r_begin;
    }
    if (p->c_end > p->c_begin + t->sent_c) {
        if (t->mode == 1 && p->has_reasoning && !t->sent_c) fputs("\n", stdout);   /* the answer below the thinking */
        fwrite(text + p->c_begin + t->sent_c, 1, p->c_end - p->c_begin - t->sent_c, stdout);
        t->sent_c = p->c_end - p->c_begin;
    }
    fflush(stdout);
}
