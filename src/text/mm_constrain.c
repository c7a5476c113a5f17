/* mm_constrain.c — the public structured-output API (minimax.h's mm_grammar_constraint): a GBNF grammar or a
 * JSON Schema (text/mm_jschema.h compiles it to GBNF), its matcher over the caller's token texts, and the
 * binding to a sampler. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/mm_common.h"
#include "text/mm_grammar.h"
#include "text/mm_jschema.h"

struct mm_grammar_constraint {
    mm_grammar *g;
    mm_gvocab *v;
    mm_gmatch *m;
    mm_gbind bind;
};

typedef struct {
    const char *const *tokens;
    const size_t *len;
} token_table;

static const uint8_t *table_bytes(void *ctx, int32_t t, size_t *len) {
    const token_table *tt = ctx;
    *len = tt->tokens[t] ? tt->len[t] : 0;
    return (const uint8_t *)tt->tokens[t];
}

mm_grammar_constraint *mm_grammar_constraint_new(const char *text, size_t len, int kind, const char *const *tokens,
                                                 const size_t *token_len, int n_vocab, int32_t eos) {
    if (!text || !tokens || !token_len || n_vocab <= 0 || eos >= n_vocab || (kind != MM_GRAMMAR_GBNF && kind != MM_GRAMMAR_JSON_SCHEMA)) {
        mm_set_error("grammar constraint: needs the grammar text, a kind (MM_GRAMMAR_GBNF or MM_GRAMMAR_JSON_SCHEMA) and the "
                     "texts of n_vocab > 0 tokens, eos < n_vocab");
        return NULL;
    }
    char *gbnf = NULL;
    if (kind == MM_GRAMMAR_JSON_SCHEMA) {
        json_error_t je;
        json_t *schema = json_loadb(text, len, JSON_DECODE_ANY, &je);
        if (!schema) {
            mm_set_error("json_schema: not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
            return NULL;
        }
        gbnf = mm_json_schema_to_gbnf(schema);
        json_decref(schema);
        if (!gbnf) return NULL;
        text = gbnf;
        len = strlen(gbnf);
    }
    mm_grammar_constraint *c = mm_xcalloc(1, sizeof *c);
    c->g = mm_grammar_parse(text, len);
    free(gbnf);
    if (!c->g || !(c->m = mm_gmatch_new(c->g))) {
        mm_grammar_constraint_free(c);
        return NULL;
    }
    token_table tt = {tokens, token_len};
    c->v = mm_gvocab_new_fn(table_bytes, &tt, n_vocab, eos);
    c->bind = (mm_gbind){.m = c->m, .v = c->v};
    return c;
}

void mm_grammar_constraint_free(mm_grammar_constraint *c) {
    if (!c) return;
    mm_gmatch_free(c->m);
    mm_gvocab_free(c->v);
    mm_grammar_free(c->g);
    free(c);
}

void mm_grammar_constraint_attach(mm_grammar_constraint *c, mm_sampler *s) {
    if (!c) {
        mm_sampler_set_constraint(s, NULL);
        return;
    }
    mm_sampler_constraint con = mm_gbind_constraint(&c->bind);
    mm_sampler_set_constraint(s, &con);
}

int mm_grammar_constraint_accept(mm_grammar_constraint *c, int32_t t) {
    if (mm_gmatch_accept_token(c->m, c->v, t) < 0) return -1;
    return mm_gmatch_can_continue(c->m) ? 0 : 1;
}

int mm_grammar_constraint_complete(const mm_grammar_constraint *c) { return mm_gmatch_complete(c->m); }

void mm_grammar_constraint_reset(mm_grammar_constraint *c) {
    mm_gmatch *m = mm_gmatch_new(c->g);   /* the start state of a grammar that built one before */
    if (!m) return;
    mm_gmatch_free(c->m);
    c->m = c->bind.m = m;
}
