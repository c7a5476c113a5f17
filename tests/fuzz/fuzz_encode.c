/* fuzz_encode.c — MiniMax's real tokenizer on arbitrary bytes: encode with every option (special tokens,
 * plain ranges, a token cap), decode, and incremental decoding, with the invariants between them.
 * Input: byte 0 = flags (bit 0 parse_special, bit 1 a cap, bit 2 plain ranges, bit 3 decode the input as
 * raw ids), bytes 1-2 = the cap or the plain range, the rest = text (or little-endian int32 ids). */
// fuzz-options: -max_len=4096
#include <jansson.h>

#include "fuzz.h"
#include "text/mm_tokenizer.h"

static mm_tokenizer *tok;

static void fuzz_init(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/tokenizer/tokenizer.json", fuzz_shared());
    if (!(tok = mm_tokenizer_load(p))) {
        fprintf(stderr, "fuzz: %s\n", mm_last_error());
        exit(2);
    }
}

/* Every text of the golden tokenization cases, with flags 0 and 1. */
static void fuzz_seeds(const char *shared, const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/tokenizer/golden_tokenization.jsonl", shared);
    FILE *f = fopen(p, "r");
    if (!f) exit(2);
    char line[1 << 16];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *c = json_loads(line, 0, NULL);
        const json_t *t = json_object_get(c, "text");
        if (json_is_string(t) && json_string_length(t) < 4000) {
            size_t len = json_string_length(t);
            uint8_t *b = mm_xmalloc(len + 3);
            b[0] = (uint8_t)(n % 8);
            b[1] = 20, b[2] = 5;
            memcpy(b + 3, json_string_value(t), len);
            fuzz_seed(dir, n++, b, len + 3);
            free(b);
        }
        json_decref(c);
    }
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int flags = data[0];
    const char *text = (const char *)data + 3;
    const size_t len = size - 3;
    if (flags & 8) {   /* arbitrary ids, known or not, through both decoders */
        size_t n = len / 4;
        int32_t *ids = mm_xmalloc(sizeof(int32_t) * (n ? n : 1));
        memcpy(ids, text, n * 4);
        size_t dl;
        char *d = mm_tokenizer_decode_n(tok, ids, n, flags & 1, &dl);
        mm_detok *dt = mm_detok_new(tok, flags & 1);
        char *cat = mm_xmalloc(dl + 64);
        size_t cl = 0, k;
        for (size_t i = 0; i < n; i++) {
            const char *p = mm_detok_push(dt, ids[i], &k);
            if (cl + k > dl) abort();
            memcpy(cat + cl, p, k), cl += k;
        }
        const char *p = mm_detok_flush(dt, &k);
        if (cl + k != dl || memcmp(cat, d, cl) || memcmp(p, d + cl, k)) abort();   /* pushes + flush = decode */
        mm_detok_free(dt);
        free(cat), free(d), free(ids);
        return 0;
    }
    mm_tok_opts o = {.parse_special = flags & 1};
    size_t plain[1][2];
    if (flags & 2) o.max_tokens = 1 + data[1];
    if (flags & 4) {
        plain[0][0] = data[1] < len ? data[1] : len;
        plain[0][1] = plain[0][0] + data[2] < len ? plain[0][0] + data[2] : len;
        o.plain = (const size_t(*)[2])plain;
        o.n_plain = 1;
    }
    int32_t *ids = NULL;
    int n = mm_tokenizer_encode_opts(tok, text, len, &o, &ids);
    if (n == -2 && !(flags & 2)) abort();   /* only a cap stops early */
    if (n < 0) return 0;
    if ((flags & 2) && n > o.max_tokens) abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= mm_tokenizer_n_ids(tok)) abort();
    if (!(flags & 6)) {   /* without special parsing, decoding gives back the NFC text: at least as many bytes / 3 */
        size_t dl;
        char *d = mm_tokenizer_decode_n(tok, ids, (size_t)n, 0, &dl);
        if (dl * 3 < len) abort();
        free(d);
    }
    free(ids);
    return 0;
}
