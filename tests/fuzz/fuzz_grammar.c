/* fuzz_grammar.c — what a client's 'grammar' and 'response_format' reach: GBNF text through the parser and,
 * when it parses, the matcher fed the rest of the input; JSON Schemas through the compiler into the parser.
 * The first byte picks: even = "GBNF \0 text to match", odd = a JSON Schema. */
// fuzz-options: -max_len=4096
#include <jansson.h>

#include "fuzz.h"
#include "text/mm_grammar.h"
#include "text/mm_jschema.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *shared, const char *dir) {
    (void)shared;
    static const char *const seeds[] = {
        "\x00root ::= \"a\" [b-d]{1,3} ( x | \"yz\" )*\nx ::= [^\\n] .\n\x00" "abbxyz",
        "\x00root ::= item (\",\" item)*\nitem ::= \"[\" root? \"]\" | [a-z]+\n\x00[a,[b,[]],c]",
        "\x01{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", \"maxLength\": 3}, \"b\": {\"enum\": [1, \"x\", null]}},"
        " \"required\": [\"a\"], \"additionalProperties\": false}",
        "\x01{\"$defs\": {\"n\": {\"type\": \"object\", \"properties\": {\"k\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/n\"}}}}},"
        " \"$ref\": \"#/$defs/n\"}",
        "\x01{\"anyOf\": [{\"type\": [\"integer\", \"null\"]}, {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 4}]}",
    };
    const size_t lens[] = {sizeof "\x00root ::= \"a\" [b-d]{1,3} ( x | \"yz\" )*\nx ::= [^\\n] .\n\x00" "abbxyz" - 1,
                           sizeof "\x00root ::= item (\",\" item)*\nitem ::= \"[\" root? \"]\" | [a-z]+\n\x00[a,[b,[]],c]" - 1, 0, 0, 0};
    for (int i = 0; i < (int)(sizeof seeds / sizeof seeds[0]); i++) fuzz_seed(dir, i, seeds[i], lens[i] ? lens[i] : strlen(seeds[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    if (!(data[0] & 1)) {
        const char *end = memchr(text, 0, n);
        size_t glen = end ? (size_t)(end - text) : n;
        mm_grammar *g = mm_grammar_parse(text, glen);
        mm_gmatch *m = g ? mm_gmatch_new(g) : NULL;
        if (m && end) {
            const char *in = end + 1;
            size_t left = n - glen - 1;
            for (size_t i = 0; i < left; i += 3) {   /* in pieces: characters split across calls */
                size_t k = left - i < 3 ? left - i : 3;
                if (mm_gmatch_accept_bytes(m, in + i, k) < 0) break;
            }
            (void)mm_gmatch_complete(m);
        }
        mm_gmatch_free(m);
        mm_grammar_free(g);
        return 0;
    }
    json_t *schema = json_loadb(text, n, JSON_DECODE_ANY, NULL);
    if (!schema) return 0;
    char *gbnf = mm_json_schema_to_gbnf(schema);
    json_decref(schema);
    if (gbnf) {   /* what the compiler writes must parse */
        mm_grammar *g = mm_grammar_parse(gbnf, strlen(gbnf));
        if (!g && !strstr(mm_last_error(), "too large") && !strstr(mm_last_error(), "over 2000") && !strstr(mm_last_error(), "left-recursive"))
            abort();   /* $ref cycles without a character between them are refused as left recursion */
        mm_gmatch *m = g ? mm_gmatch_new(g) : NULL;
        mm_gmatch_free(m);
        mm_grammar_free(g);
        free(gbnf);
    }
    return 0;
}
