/* test_grammar.c — GBNF grammars, token masks, JSON Schema → GBNF, logit bias, constrained sampling, and the
 * <think> splitter of reasoning output.
 *
 * Structured output: for each schema, many seeds sample from random logits through the sampler with the grammar
 * as its constraint (the demo tokenizer's 4096 tokens: multi-byte pieces, characters split across tokens); every
 * finished answer must parse as JSON and validate against its schema under the small validator below, written
 * from JSON Schema's rules and independent of the compiler. The token mask (a trie walk over cached states) is
 * checked against a from-scratch matcher per token. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>

#include "minimax.h"
#include "base/mm_common.h"
#include "text/mm_grammar.h"
#include "text/mm_jschema.h"
#include "text/mm_reasoning.h"
#include "text/mm_tokenizer.h"
#include "mm_test.h"

/* ---------------------------------------------------------------- helpers */
static int matches(const char *gbnf, const char *text) {
    mm_grammar *g = mm_grammar_parse(gbnf, strlen(gbnf));
    if (!g) return -1;
    mm_gmatch *m = mm_gmatch_new(g);
    int ok = m && mm_gmatch_accept_bytes(m, text, strlen(text)) == 0 && mm_gmatch_complete(m);
    mm_gmatch_free(m);
    mm_grammar_free(g);
    return ok;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }

/* ---------------------------------------------------------------- an independent JSON Schema validator */
static size_t utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static int valid(const json_t *v, const json_t *s, const json_t *root);

static int has_type(const json_t *v, const char *t) {
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer")) return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    return 0;
}

static int valid(const json_t *v, const json_t *s, const json_t *root) {
    if (json_is_true(s)) return 1;
    if (!json_is_object(s)) return 0;
    const json_t *x;
    if ((x = json_object_get(s, "$ref"))) {
        const char *r = json_string_value(x);
        const json_t *defs = json_object_get(root, !strncmp(r, "#/$defs/", 8) ? "$defs" : "definitions");
        return valid(v, json_object_get(defs, strchr(r + 2, '/') + 1), root);
    }
    if ((x = json_object_get(s, "type"))) {
        int ok = 0;
        if (json_is_string(x)) ok = has_type(v, json_string_value(x));
        for (size_t i = 0; json_is_array(x) && i < json_array_size(x); i++) ok |= has_type(v, json_string_value(json_array_get(x, i)));
        if (!ok) return 0;
    }
    if ((x = json_object_get(s, "const")) && !json_equal((json_t *)v, (json_t *)x)) return 0;
    if ((x = json_object_get(s, "enum"))) {
        int ok = 0;
        for (size_t i = 0; i < json_array_size(x); i++) ok |= json_equal((json_t *)v, json_array_get(x, i));
        if (!ok) return 0;
    }
    if ((x = json_object_get(s, "anyOf"))) {
        int ok = 0;
        for (size_t i = 0; i < json_array_size(x); i++) ok |= valid(v, json_array_get(x, i), root);
        if (!ok) return 0;
    }
    if (json_is_string(v)) {
        size_t n = utf8_len(json_string_value(v), json_string_length(v));
        if ((x = json_object_get(s, "minLength")) && n < (size_t)json_integer_value(x)) return 0;
        if ((x = json_object_get(s, "maxLength")) && n > (size_t)json_integer_value(x)) return 0;
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if ((x = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(x)) return 0;
        if ((x = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(x)) return 0;
        if ((x = json_object_get(s, "items")))
            for (size_t i = 0; i < n; i++)
                if (!valid(json_array_get(v, i), x, root)) return 0;
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties"), *add = json_object_get(s, "additionalProperties");
        x = json_object_get(s, "required");
        for (size_t i = 0; i < json_array_size(x); i++)
            if (!json_object_get(v, json_string_value(json_array_get(x, i)))) return 0;
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val) {
            const json_t *ps = json_object_get(props, k);
            if (ps) {
                if (!valid(val, ps, root)) return 0;
            } else if (json_is_false(add) || (json_is_object(add) && !valid(val, add, root))) {
                return 0;
            }
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- sampling under a grammar */
typedef struct {
    int runs, finished, valid, failed_mask;
    char bad[600];
} sample_stats;

/* n_seeds answers to `schema` from random logits; reject_dups: the grammar generates unique keys */
static void sample_schema(const mm_tokenizer *tok, int V, int32_t eos, const mm_gvocab *gv, const char *gbnf, const json_t *schema,
                          int n_seeds, int reject_dups, sample_stats *st) {
    mm_grammar *g = mm_grammar_parse(gbnf, strlen(gbnf));
    CHECK(g != NULL, "the compiled grammar parses: %s\n%s", mm_last_error(), gbnf);
    if (!g) return;
    /* bias toward closing: a random model would otherwise wander for thousands of tokens */
    int32_t bid[8];
    float bval[8];
    int nb = 0;
    static const char *const closers[] = {"\"", "}", "]", "\"}", "]}", ","};
    for (size_t k = 0; k < sizeof closers / sizeof closers[0]; k++) {
        int32_t id = -1;
        int32_t *ids = NULL;
        if (mm_tokenizer_encode(tok, closers[k], strlen(closers[k]), 0, &ids) == 1) id = ids[0];
        free(ids);
        if (id >= 0) {
            bid[nb] = id;
            bval[nb++] = 3.0f;
        }
    }
    bid[nb] = eos;
    bval[nb++] = 4.0f;
    float *logits = malloc(sizeof(float) * (size_t)V);
    for (int seed = 1; seed <= n_seeds; seed++) {
        mm_sampler_params sp = mm_sampler_default_params();
        sp.temperature = 1.0f;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0.0f;
        sp.seed = (uint64_t)seed * 7919u;
        mm_sampler *s = mm_sampler_new(&sp, V);
        mm_sampler_set_logit_bias(s, bid, bval, nb);
        mm_gmatch *m = mm_gmatch_new(g);
        mm_gbind b = {.m = m, .v = gv};
        mm_sampler_constraint con = mm_gbind_constraint(&b);
        mm_sampler_set_constraint(s, &con);
        char *text = malloc(1 << 16);
        size_t len = 0;
        int finished = 0;
        st->runs++;
        for (int step = 0; step < 1500 && len < (1 << 15); step++) {
            for (int i = 0; i < V; i++) logits[i] = 2.0f * nrand();
            int32_t t = mm_sampler_sample(s, logits);
            if (mm_sampler_constraint_failed(s) || mm_gmatch_accept_token(m, gv, t) < 0) {
                st->failed_mask++;
                break;
            }
            if (t == eos) {
                finished = 1;
                break;
            }
            size_t tl;
            const uint8_t *tb = mm_tokenizer_token_bytes(tok, t, &tl);
            memcpy(text + len, tb, tl);
            len += tl;
            mm_sampler_accept(s, t);
            if (!mm_gmatch_can_continue(m)) {
                finished = 1;
                break;
            }
        }
        if (finished) {
            st->finished++;
            json_error_t je;
            json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | (reject_dups ? JSON_REJECT_DUPLICATES : 0), &je);
            if (v && valid(v, schema, schema)) st->valid++;
            else if (!st->bad[0]) snprintf(st->bad, sizeof st->bad, "seed %d: %.*s (%s)", seed, (int)(len < 400 ? len : 400), text, v ? "invalid" : je.text);
            json_decref(v);
        }
        free(text);
        mm_gmatch_free(m);
        mm_sampler_free(s);
    }
    free(logits);
    mm_grammar_free(g);
}

/* ---------------------------------------------------------------- reasoning */
typedef struct {
    const char *text;
    int in_thinking;
    int has;
    const char *reasoning, *content;
} rcase;

static int range_is(const char *text, size_t b, size_t e, const char *want) {
    return e >= b && e - b == strlen(want) && !memcmp(text + b, want, e - b);
}

static void test_reasoning(void) {
    static const rcase cases[] = {
        {"<think>\nplan it\n</think>\n\nThe answer.", 0, 1, "plan it\n", "The answer."},
        {"  \n<think>a</think>b", 0, 1, "a", "b"},
        {"<think></think>", 0, 1, "", ""},
        {"<think>never closed </thi", 0, 1, "never closed </thi", ""},
        {"hello <think>x</think>", 0, 0, "", "hello <think>x</think>"},
        {"<thinking>no</thinking>", 0, 0, "", "<thinking>no</thinking>"},
        {"<thi", 0, 0, "", "<thi"},
        {"\nreasons</think>\n\nanswer <think>y</think>", 1, 1, "reasons", "answer <think>y</think>"},
        {"a < b </think> c</think>d", 1, 1, "a < b ", "c</think>d"},
        {"<think>x</think >y</think>z", 0, 1, "x</think >y", "z"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const rcase *c = &cases[k];
        const size_t n = strlen(c->text);
        mm_reasoning p;
        mm_reasoning_init(&p, MM_REASONING_DEEPSEEK, c->in_thinking);
        mm_reasoning_feed(&p, c->text, n, 1);
        CHECK(p.has_reasoning == c->has && (!c->has || range_is(c->text, p.r_begin, p.r_end, c->reasoning)) &&
                  range_is(c->text, p.c_begin, p.c_end, c->content),
              "case %zu: reasoning [%zu,%zu) content [%zu,%zu)", k, p.r_begin, p.r_end, p.c_begin, p.c_end);
        /* streamed in every two-cut chunking (the tags split every possible way): what is final at each point
         * is a prefix of the final parts, and the end is the same */
        int ok = 1;
        for (size_t i = 0; i <= n && ok; i++)
            for (size_t j = i; j <= n && ok; j++) {
                mm_reasoning q;
                mm_reasoning_init(&q, MM_REASONING_DEEPSEEK, c->in_thinking);
                size_t cuts[3] = {i, j, n};
                size_t sent_r = 0, sent_c = 0;
                for (int s = 0; s < 3 && ok; s++) {
                    mm_reasoning_feed(&q, c->text, cuts[s], s == 2);
                    size_t rl = q.has_reasoning ? q.r_end - q.r_begin : 0, cl = q.c_end - q.c_begin;
                    if (q.has_reasoning && rl && (q.r_begin != p.r_begin || rl > p.r_end - p.r_begin)) ok = 0;
                    if (cl && (q.c_begin != p.c_begin || cl > p.c_end - p.c_begin)) ok = 0;
                    if (rl < sent_r || cl < sent_c) ok = 0;   /* never takes back what was final */
                    sent_r = rl;
                    sent_c = cl;
                }
                if (ok && !(q.has_reasoning == p.has_reasoning && q.r_begin == p.r_begin && q.r_end == p.r_end &&
                            q.c_begin == p.c_begin && q.c_end == p.c_end))
                    ok = 0;
                if (!ok) fprintf(stderr, "case %zu: cuts %zu %zu differ\n", k, i, j);
            }
        CHECK(ok, "case %zu: streamed in pieces, every split gives the same parts", k);
        mm_reasoning_init(&p, MM_REASONING_NONE, c->in_thinking);
        mm_reasoning_feed(&p, c->text, n / 2, 0);
        mm_reasoning_feed(&p, c->text, n, 1);
        CHECK(!p.has_reasoning && p.c_begin == 0 && p.c_end == n, "case %zu: none leaves the text untouched", k);
    }
    /* a possible tag prefix is held back until decided */
    mm_reasoning p;
    mm_reasoning_init(&p, MM_REASONING_DEEPSEEK, 0);
    mm_reasoning_feed(&p, "<thi", 4, 0);
    CHECK(p.c_end == p.c_begin && !p.has_reasoning, "'<thi' is held back");
    mm_reasoning_feed(&p, "<think>abc</thin", 16, 0);
    CHECK(p.has_reasoning && range_is("<think>abc</thin", p.r_begin, p.r_end, "abc"), "'</thin' is held back");
    CHECK(mm_reasoning_format("deepseek") == MM_REASONING_DEEPSEEK && mm_reasoning_format("none") == MM_REASONING_NONE &&
              mm_reasoning_format("auto") < 0,
          "format names");
}

/* a constraint of 6 tokens: ctx is int ok[6] */
static int test_allows(void *ctx, int32_t t) {
    const int *ok = ctx;
    return t >= 0 && t < 6 && ok[t];
}
static int test_mask(void *ctx, float *logits, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (test_allows(ctx, i)) k++;
        else logits[i] = -INFINITY;
    }
    return k;
}

/* ---------------------------------------------------------------- main */
int main(void) {
    /* ---- GBNF: what parses and what matches */
    const char *g1 = "# a comment\nroot ::= \"ab\" [0-9]{2,3} ( \"x\" | \"yz\" )* tail\ntail ::= \".\" | \n";
    CHECK(matches(g1, "ab12") == 1 && matches(g1, "ab123xyzx.") == 1 && matches(g1, "ab99yz") == 1, "literals, ranges, {m,n}, groups");
    CHECK(matches(g1, "ab1") == 0 && matches(g1, "ab1234") == 0 && matches(g1, "abx") == 0 && matches(g1, "ab12.x") == 0,
          "what the grammar refuses");
    const char *g2 = "root ::= [^\"\\\\]+ \"\\\"\" ( [α-ω] | \"\\u00e9\" )? .\n";
    CHECK(matches(g2, "ab\"λz") == 1 && matches(g2, "x\"é\xe2\x82\xac") == 1 && matches(g2, "a\\\"z") == 0, "negated classes, \\u, ., UTF-8");
    const char *g3 = "root ::= item (\",\" item)*\nitem ::= \"[\" root? \"]\" | [a-z]+\n";
    CHECK(matches(g3, "[a,[b,[]],c],d") == 1 && matches(g3, "[a,[b]") == 0, "recursion (balanced brackets)");
    CHECK(matches("root ::= \"a\"{3} \"b\"{0,2} \"c\"{2,}\n", "aaabcc") == 1 && matches("root ::= \"a\"{3} \"b\"{0,2} \"c\"{2,}\n", "aabcc") == 0 &&
              matches("root ::= \"a\"{3} \"b\"{0,2} \"c\"{2,}\n", "aaabbbcc") == 0 && matches("root ::= \"a\"{3} \"b\"{0,2} \"c\"{2,}\n", "aaaccccc") == 1,
          "counted repetitions");
    {   /* an ambiguous grammar (every prefix has many parses, and the same stacks come from many of them): text it
         * takes matches, text it cannot take fails, and a long run either matches or ends in the "too ambiguous"
         * limit, never anything else (found by fuzz_grammar: the step's copies of each stack were sorted in full) */
        const char *ga = "root ::= . root? \"Z\"*\n";
        char text[62];
        memset(text, 'Z', sizeof text - 1);
        text[0] = 'j', text[sizeof text - 1] = 0;
        text[40] = 0;
        CHECK(matches(ga, text) == 1 && matches(ga, "") == 0, "ambiguous grammar: matches");
        text[40] = 'Z';
        mm_grammar *g = mm_grammar_parse(ga, strlen(ga));
        mm_gmatch *m = mm_gmatch_new(g);
        mm_set_error("%s", "");
        int r = mm_gmatch_accept_bytes(m, text, strlen(text));
        CHECK(r == 0 ? mm_gmatch_complete(m) : strstr(mm_last_error(), "too ambiguous") != NULL, "ambiguous grammar, 61 characters: %d (%s)", r,
              mm_last_error());
        mm_gmatch_free(m);
        mm_grammar_free(g);
    }
    {   /* the same grammar on 2000 characters: every prefix has hundreds of parses, all kept (under the 4096-stack
         * bound) since a step costs the number of stacks, not their total depth */
        const char *ga = "root ::= . root? \"Z\"*\n";
        static char text[2001];
        memset(text, 'Z', 2000);
        text[0] = 'j';
        CHECK(matches(ga, text) == 1, "ambiguous grammar, 2000 characters: matches (%s)", mm_last_error());
        const char *gb = "root ::= [^\\n] root? \"Z\"*\n";
        CHECK(matches(gb, text) == 1, "ambiguous grammar with [^\\n], 2000 characters: matches (%s)", mm_last_error());
        text[1000] = '\n';
        CHECK(matches(gb, text) == 0, "ambiguous grammar with [^\\n]: a newline in the middle does not match");
    }
    {   /* nesting 600k deep, one character at a time: the stacks share their bottoms, so this is linear (with a stack
         * copied per step it was quadratic: hours), and the states it creates pass the store's bound, so the matcher
         * compacts around the current state in the middle of it and still closes every bracket */
        const char *gn = "root ::= \"(\" root \")\" | \"x\"\n";
        const size_t depth = 600000;
        char *text = malloc(2 * depth + 2);
        memset(text, '(', depth);
        text[depth] = 'x';
        memset(text + depth + 1, ')', depth);
        text[2 * depth + 1] = 0;
        mm_grammar *g = mm_grammar_parse(gn, strlen(gn));
        mm_gmatch *m = mm_gmatch_new(g);
        int ok = 1;   /* in calls of 100k characters (the matcher compacts between calls) */
        for (size_t i = 0; i < 2 * depth && ok; i += 100000) ok = mm_gmatch_accept_bytes(m, text + i, i + 100000 < 2 * depth ? 100000 : 2 * depth - i) == 0;
        ok = ok && !mm_gmatch_complete(m);
        CHECK(ok && mm_gmatch_accept_bytes(m, ")", 1) == 0 && mm_gmatch_complete(m) && mm_gmatch_accept_bytes(m, ")", 1) < 0,
              "nesting 600k deep: every bracket closes, one more is refused (%s)", mm_last_error());
        mm_gmatch_free(m);
        mm_grammar_free(g);
        free(text);
    }
    {   /* a character split across calls */
        mm_grammar *g = mm_grammar_parse("root ::= \"é\" [€]\n", strlen("root ::= \"é\" [€]\n"));
        mm_gmatch *m = mm_gmatch_new(g);
        int ok = mm_gmatch_accept_bytes(m, "\xc3", 1) == 0 && !mm_gmatch_complete(m) && mm_gmatch_accept_bytes(m, "\xa9\xe2\x82", 3) == 0 &&
                 mm_gmatch_accept_bytes(m, "\xad", 1) < 0 && mm_gmatch_accept_bytes(m, "\xac", 1) == 0 && mm_gmatch_complete(m) &&
                 !mm_gmatch_can_continue(m);
        CHECK(ok, "UTF-8 split across calls; a wrong continuation byte is refused and the state kept");
        mm_gmatch_free(m);
        mm_grammar_free(g);
    }
    /* invalid grammars: refused with a message saying where */
    static const char *const bad[][2] = {
        {"root ::= foo\n", "'foo' is used but never defined"},
        {"root ::= \"a\" | root \"b\"\n", "left-recursive"},
        {"root ::= x\nx ::= y? root \"a\"\ny ::= \"b\"\n", "left-recursive"},
        {"x ::= \"a\"\n", "no 'root'"},
        {"root ::= [a-\n", "line 1"},
        {"root ::= \"abc\n", "unterminated literal"},
        {"root ::= \"a\"{2001}\n", "over 2000"},
        {"root ::= \"a\" )\n", "')' without"},
        {"root ::= \"\\q\"\n", "unknown escape"},
        {"root ::= \"a\"\nroot ::= \"b\"\n", "defined twice"},
        {"root ::= ( \"a\" \n", "unclosed '('"},
        {"root ::= [z-a]\n", "end before its start"},
        {"root ::= \"a\"\n  x y\n", "line 2"},
        {"root ::= <[12]>\n", "token references"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mm_grammar *g = mm_grammar_parse(bad[i][0], strlen(bad[i][0]));
        CHECK(!g && !strncmp(mm_last_error(), "grammar: ", 9) && strstr(mm_last_error(), bad[i][1]), "bad grammar %zu: %s", i,
              g ? "accepted" : mm_last_error());
        mm_grammar_free(g);
    }

    /* ---- logit bias and constraints in the sampler */
    {
        enum { NV = 10, DRAWS = 20000 };
        mm_sampler_params sp = mm_sampler_default_params();
        sp.temperature = 1.0f;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0.0f;
        sp.repeat_penalty = 1.0f;
        sp.seed = 5;
        mm_sampler *s = mm_sampler_new(&sp, NV);
        int32_t ids[2] = {3, 0};
        float bias[2] = {2.0f, -100.0f};
        CHECK(mm_sampler_set_logit_bias(s, ids, bias, 2) == 0, "set a logit bias");
        int count[NV] = {0};
        for (int k = 0; k < DRAWS; k++) {
            float l[NV] = {50.0f};   /* token 0 would win everything: it is banned */
            for (int i = 1; i < NV; i++) l[i] = 0;
            count[mm_sampler_sample(s, l)]++;
        }
        const double p3 = exp(2.0) / (8 + exp(2.0));
        CHECK(count[0] == 0, "a bias of -100 bans the token (%d draws)", count[0]);
        CHECK(fabs((double)count[3] / DRAWS - p3) < 0.02, "bias +2: P(3) %.4f, expected %.4f", (double)count[3] / DRAWS, p3);
        int32_t out_of_range = NV;
        float b1 = 1;
        float nan_bias = NAN;
        CHECK(mm_sampler_set_logit_bias(s, &out_of_range, &b1, 1) < 0 && strstr(mm_last_error(), "outside the vocabulary"), "bias id out of range: %s",
              mm_last_error());
        CHECK(mm_sampler_set_logit_bias(s, ids, &nan_bias, 1) < 0 && strstr(mm_last_error(), "finite"), "bias NaN: %s", mm_last_error());
        mm_sampler_free(s);
        sp.temperature = 0;
        s = mm_sampler_new(&sp, NV);
        float l[NV] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        int32_t top = 9;
        float down = -5;
        mm_sampler_set_logit_bias(s, &top, &down, 1);
        CHECK(mm_sampler_sample(s, l) == 8, "greedy follows the biased logits");
        mm_sampler_free(s);
    }
    {   /* a constraint: the distribution restricted to the allowed tokens */
        enum { NV = 6, DRAWS = 30000 };
        mm_sampler_params sp = mm_sampler_default_params();
        sp.temperature = 1.0f;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0.0f;
        sp.seed = 11;
        mm_sampler *s = mm_sampler_new(&sp, NV);
        int ok[NV] = {0, 1, 0, 0, 1, 0}, count[NV] = {0};
        mm_sampler_constraint con = {.ctx = ok, .allows = test_allows, .mask = test_mask};
        mm_sampler_set_constraint(s, &con);
        for (int k = 0; k < DRAWS; k++) {
            float l[NV] = {0, 0, 0, 0, 1, 0};
            int32_t t = mm_sampler_sample(s, l);
            count[t]++;
        }
        const double p4 = exp(1.0) / (1 + exp(1.0));
        CHECK(count[0] + count[2] + count[3] + count[5] == 0, "only allowed tokens are drawn");
        CHECK(fabs((double)count[4] / DRAWS - p4) < 0.015, "P(4 | allowed) %.4f, expected %.4f", (double)count[4] / DRAWS, p4);
        mm_sampler_free(s);
    }

    /* ---- token masks against a from-scratch matcher per token */
    mm_tokenizer *tok = mm_tokenizer_load("demo/tokenizer.json");   /* tests run from the repository root */
    CHECK(tok != NULL, "demo tokenizer: %s", tok ? "" : mm_last_error());
    if (!tok) return mmt_done();
    const int V = mm_tokenizer_n_ids(tok);
    int32_t eos = -1;
    for (int32_t t = 0; t < V && eos < 0; t++)
        if (mm_tokenizer_is_special(tok, t)) eos = t;
    mm_gvocab *gv = mm_gvocab_new(tok, V, eos);
    {
        char *jg = mm_json_object_gbnf();
        mm_grammar *g = mm_grammar_parse(jg, strlen(jg));
        static const char *const prefixes[] = {"", "{", "{\"a", "{\"k\": 1", "{\"k\": \"h\xc3", "{\"k\": [true, nu", "{\"k\": {}}"};
        float *lg = malloc(sizeof(float) * (size_t)V);
        for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
            mm_gmatch *m = mm_gmatch_new(g);
            mm_gmatch_accept_bytes(m, prefixes[p], strlen(prefixes[p]));
            for (int i = 0; i < V; i++) lg[i] = 0;
            int n_allowed = mm_gmatch_mask(m, gv, lg, V), agree = 1, n_ref = 0;
            for (int32_t t = 0; t < V; t++) {
                int ref;
                if (t == eos) {
                    ref = mm_gmatch_complete(m);
                } else {
                    size_t tl;
                    const uint8_t *tb = mm_tokenizer_is_special(tok, t) ? NULL : mm_tokenizer_token_bytes(tok, t, &tl);
                    mm_gmatch *f = mm_gmatch_new(g);
                    ref = tb && tl && mm_gmatch_accept_bytes(f, prefixes[p], strlen(prefixes[p])) == 0 &&
                          mm_gmatch_accept_bytes(f, (const char *)tb, tl) == 0;
                    mm_gmatch_free(f);
                }
                n_ref += ref;
                if (ref != (lg[t] == 0) || ref != mm_gmatch_allows(m, gv, t)) {
                    if (agree) fprintf(stderr, "prefix %zu: token %d: mask %d, fresh matcher %d\n", p, t, lg[t] == 0, ref);
                    agree = 0;
                }
            }
            CHECK(agree && n_allowed == n_ref && n_ref > 0, "prefix '%s': the mask (%d allowed) = a fresh matcher per token (%d)", prefixes[p],
                  n_allowed, n_ref);
            mm_gmatch_free(m);
        }
        free(lg);
        mm_grammar_free(g);
        free(jg);
    }

    /* ---- JSON Schema: what is refused */
    static const char *const bad_schemas[][2] = {
        {"{\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"string\", \"pattern\": \"^a\"}}}", "#/properties/x: keyword 'pattern'"},
        {"{\"$ref\": \"#/components/x\"}", "not supported"},
        {"{\"$ref\": \"#/$defs/missing\"}", "points at nothing"},
        {"{\"type\": \"text\"}", "not a JSON Schema type"},
        {"{\"type\": \"array\", \"minItems\": 3, \"maxItems\": 2}", "below minItems"},
        {"{\"enum\": []}", "non-empty"},
        {"{\"type\": \"integer\", \"enum\": [\"a\"]}", "no 'enum' value"},
        {"{\"anyOf\": [{\"type\": \"string\"}], \"type\": \"string\"}", "anyOf"},
        {"{\"type\": \"string\", \"minLength\": -1}", "non-negative"},
        {"false", "accepts no value"},
        {"{\"oneOf\": [{\"type\": \"string\"}]}", "'oneOf' is not supported"},
    };
    for (size_t i = 0; i < sizeof bad_schemas / sizeof bad_schemas[0]; i++) {
        json_t *sc = json_loads(bad_schemas[i][0], JSON_DECODE_ANY, NULL);
        char *g = mm_json_schema_to_gbnf(sc);
        CHECK(!g && !strncmp(mm_last_error(), "json_schema: at #", 17) && strstr(mm_last_error(), bad_schemas[i][1]), "bad schema %zu: %s", i,
              g ? g : mm_last_error());
        free(g);
        json_decref(sc);
    }

    {   /* a rule longer than the compiler's line buffer (an enum string of 300 DEL bytes, 1200 characters escaped)
         * is written whole: it parses and matches exactly its values (found by fuzz_grammar: the line was cut at 511) */
        char lit[301], sc[400], val[310];
        memset(lit, 0x7f, 300);
        lit[300] = 0;
        snprintf(sc, sizeof sc, "{\"enum\": [1, \"%s\"]}", lit);
        snprintf(val, sizeof val, "\"%s\"", lit);
        json_t *j = json_loads(sc, 0, NULL);
        char *g = j ? mm_json_schema_to_gbnf(j) : NULL;
        mm_grammar *gr = g ? mm_grammar_parse(g, strlen(g)) : NULL;
        CHECK(gr != NULL, "a 1200-character enum rule parses: %s", g ? mm_last_error() : "did not compile");
        mm_gmatch *m = gr ? mm_gmatch_new(gr) : NULL;
        CHECK(m && mm_gmatch_accept_bytes(m, val, strlen(val)) == 0 && mm_gmatch_complete(m) == 1,
              "the 300-byte enum value matches to the end");
        mm_gmatch_free(m);
        m = gr ? mm_gmatch_new(gr) : NULL;
        val[200] = '"', val[201] = 0;
        CHECK(m && (mm_gmatch_accept_bytes(m, val, strlen(val)) < 0 || mm_gmatch_complete(m) != 1), "a 199-byte prefix does not");
        mm_gmatch_free(m);
        mm_grammar_free(gr);
        free(g);
        json_decref(j);
    }

    /* ---- structured output: every sampled answer validates */
    static const char *const schemas[] = {
        "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 12}, \"age\": {\"type\": \"integer\"},"
        " \"tags\": {\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\", \"c\"]}, \"maxItems\": 3}, \"ok\": {\"type\": \"boolean\"},"
        " \"score\": {\"type\": \"number\"}, \"kind\": {\"const\": \"x\"}}, \"required\": [\"name\", \"age\"], \"additionalProperties\": false}",
        "{\"$defs\": {\"node\": {\"type\": \"object\", \"properties\": {\"v\": {\"type\": \"integer\"}, \"kids\": {\"type\": \"array\","
        " \"items\": {\"$ref\": \"#/$defs/node\"}, \"maxItems\": 2}}, \"required\": [\"v\", \"kids\"]}}, \"$ref\": \"#/$defs/node\"}",
        "{\"anyOf\": [{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 4}, {\"type\": \"array\", \"items\": {\"type\": [\"integer\", \"null\"]},"
        " \"minItems\": 1, \"maxItems\": 3}]}",
        "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"number\"}}",
        "{\"enum\": [\"red\", 1, null, {\"a\": [1, 2]}, \"\\u00e9t\\u00e9\"]}",
        "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\"}, \"b\": {\"type\": \"null\"}, \"c\": {\"type\": [\"boolean\", \"string\"]}},"
        " \"required\": [\"c\"]}",
        "{\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}}, \"required\": [\"id\"],"
        " \"additionalProperties\": false}, \"minItems\": 2, \"maxItems\": 4}",
        "{\"type\": \"object\"}",
    };
    const int n_seeds = getenv("MM_SANITIZE") ? 10 : 30;
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        json_error_t je;
        json_t *sc = json_loads(schemas[i], 0, &je);
        CHECK(sc != NULL, "schema %zu is JSON: %s", i, je.text);
        char *g = i == 7 ? mm_json_object_gbnf() : mm_json_schema_to_gbnf(sc);
        CHECK(g != NULL, "schema %zu compiles: %s", i, mm_last_error());
        if (g && sc) {
            sample_stats st = {0};
            sample_schema(tok, V, eos, gv, g, sc, n_seeds, i != 3 && i != 7, &st);
            CHECK(st.failed_mask == 0, "schema %zu: the grammar always allowed some token (%d dead ends)", i, st.failed_mask);
            CHECK(st.finished >= st.runs * 9 / 10, "schema %zu: %d of %d answers finished", i, st.finished, st.runs);
            CHECK(st.valid == st.finished, "schema %zu: %d of %d finished answers validate; first bad: %s", i, st.valid, st.finished, st.bad);
            printf("schema %zu: %d seeds, %d finished, %d valid\n", i, st.runs, st.finished, st.valid);
        }
        free(g);
        json_decref(sc);
    }
    {   /* the public API (minimax.h): token texts from the caller, a JSON Schema, two outputs with a reset between */
        const char **toks = calloc((size_t)V, sizeof(char *));
        size_t *lens = calloc((size_t)V, sizeof(size_t));
        for (int32_t t = 0; t < V; t++)
            if (!mm_tokenizer_is_special(tok, t)) toks[t] = (const char *)mm_tokenizer_token_bytes(tok, t, &lens[t]);
        const char *sc = "{\"type\": \"array\", \"items\": {\"enum\": [\"yes\", \"no\", 42]}, \"minItems\": 1, \"maxItems\": 3}";
        mm_grammar_constraint *gc = mm_grammar_constraint_new(sc, strlen(sc), MM_GRAMMAR_JSON_SCHEMA, toks, lens, V, eos);
        CHECK(gc != NULL, "mm_grammar_constraint_new: %s", mm_last_error());
        json_t *schema = json_loads(sc, 0, NULL);
        mm_sampler_params sp = mm_sampler_default_params();
        sp.temperature = 1.0f;
        sp.seed = 3;
        mm_sampler *s = mm_sampler_new(&sp, V);
        float *lg = malloc(sizeof(float) * (size_t)V);
        int good = 0;
        for (int run = 0; gc && run < 4; run++) {
            mm_grammar_constraint_reset(gc);
            mm_grammar_constraint_attach(gc, s);
            char text[4096];
            size_t len = 0;
            int r = 0;
            for (int step = 0; step < 200 && r == 0; step++) {
                for (int i = 0; i < V; i++) lg[i] = nrand();
                int32_t t = mm_sampler_sample(s, lg);
                if ((r = mm_grammar_constraint_accept(gc, t)) < 0 || t == eos) break;
                if (len + lens[t] < sizeof text) memcpy(text + len, toks[t], lens[t]);
                len += lens[t];
            }
            json_t *v = mm_grammar_constraint_complete(gc) && len < sizeof text ? json_loadb(text, len, 0, NULL) : NULL;
            good += v && valid(v, schema, schema);
            json_decref(v);
        }
        CHECK(good == 4, "public API: 4 outputs, reset between them, all valid (%d)", good);
        mm_grammar_constraint_free(gc);
        mm_grammar_constraint *bad1 = mm_grammar_constraint_new("root ::= x", 10, MM_GRAMMAR_GBNF, toks, lens, V, eos);
        CHECK(!bad1 && strstr(mm_last_error(), "never defined"), "public API: a bad grammar: %s", mm_last_error());
        mm_grammar_constraint *bad2 = mm_grammar_constraint_new("{\"type\": 1}", 11, MM_GRAMMAR_JSON_SCHEMA, toks, lens, V, eos);
        CHECK(!bad2 && strstr(mm_last_error(), "json_schema"), "public API: a bad schema: %s", mm_last_error());
        free(lg);
        mm_sampler_free(s);
        json_decref(schema);
        free(toks);
        free(lens);
    }
    mm_gvocab_free(gv);
    mm_tokenizer_free(tok);

    test_reasoning();
    return mmt_done();
}

