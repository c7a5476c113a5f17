/* test_tokenizer.c — the tokenizer against Hugging Face's output (golden_tokenization.jsonl), incremental
 * decoding, random UTF-8 round trips, the parallel encoder, and clear errors on malformed tokenizer.json. */
#include <jansson.h>
#include <stdint.h>
#include <utf8proc.h>

#include "base/mm_common.h"
#include "mm_test.h"
#include "text/mm_tokenizer.h"

static mm_tokenizer *tok;

static char *ids_str(const int32_t *ids, int n) {
    size_t cap = 16 + (size_t)n * 12;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "[");
    for (int i = 0; i < n && i < 40; i++) p += sprintf(p, "%s%d", i ? "," : "", ids[i]);
    sprintf(p, "%s]", n > 40 ? ",..." : "");
    return s;
}

/* Whole decode == concatenated incremental decode. */
static char *detok_all(const int32_t *ids, size_t n, int skip) {
    mm_detok *d = mm_detok_new(tok, skip);
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i <= n; i++) {
        size_t l;
        const char *p = i < n ? mm_detok_push(d, ids[i], &l) : mm_detok_flush(d, &l);
        if (len + l + 1 > cap) cap = (len + l + 1) * 2, out = realloc(out, cap);
        memcpy(out + len, p, l);
        len += l;
    }
    out[len] = 0;
    mm_detok_free(d);
    return out;
}

static void golden(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer/golden_tokenization.jsonl", mmt_shared());
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int cases = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *c = json_loads(line, JSON_ALLOW_NUL, &e);
        CHECK(c != NULL, "bad golden line: %s", e.text);
        if (!c) continue;
        cases++;
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *jt = json_object_get(c, "text");
        const char *text = json_string_value(jt);
        size_t tlen = json_string_length(jt);
        int ps = json_is_true(json_object_get(c, "parse_special"));
        json_t *jids = json_object_get(c, "ids");
        int32_t *ids = NULL;
        int n = mm_tokenizer_encode(tok, text, tlen, ps, &ids);
        int same = n == (int)json_array_size(jids);
        for (int i = 0; same && i < n; i++) same = ids[i] == json_integer_value(json_array_get(jids, (size_t)i));
        char *got = ids_str(ids, n > 0 ? n : 0);
        CHECK(same, "%s: ids differ: got %s (n=%d, want n=%zu)", id, got, n, json_array_size(jids));
        free(got);
        /* tokens as strings */
        json_t *jtoks = json_object_get(c, "tokens");
        int tsame = 1;
        for (size_t i = 0; same && i < json_array_size(jtoks); i++) {
            const char *ts = mm_tokenizer_token_str(tok, ids[i]);
            tsame = tsame && ts && !strcmp(ts, json_string_value(json_array_get(jtoks, i)));
        }
        CHECK(tsame, "%s: token strings differ", id);
        /* decoding the golden ids (so decode is tested even where encode failed) */
        size_t ng = json_array_size(jids);
        int32_t *gids = malloc(sizeof(int32_t) * (ng + 1));
        for (size_t i = 0; i < ng; i++) gids[i] = (int32_t)json_integer_value(json_array_get(jids, i));
        for (int skip = 0; skip <= 1; skip++) {
            json_t *jw = json_object_get(c, skip ? "decoded_skip_special" : "decoded");
            const char *want = json_string_value(jw);
            size_t wl = json_string_length(jw);
            char *dec = mm_tokenizer_decode(tok, gids, ng, skip);
            CHECK(want && !memcmp(dec, want, wl + 1), "%s: decode(skip=%d) = \"%.60s\", want \"%.60s\"", id, skip, dec,
                  want ? want : "(null)");
            char *inc = detok_all(gids, ng, skip);
            CHECK(!memcmp(inc, dec, wl + 1), "%s: incremental decode(skip=%d) differs from decode", id, skip);
            free(inc);
            free(dec);
        }
        /* the parallel encoder gives the same ids */
        int32_t *pids = NULL;
        int pn = mm_tokenizer_encode_parallel(tok, text, tlen, ps, &pids, 4);
        CHECK(pn == n && (n <= 0 || !memcmp(pids, ids, sizeof(int32_t) * (size_t)n)), "%s: parallel differs", id);
        free(pids);
        free(gids);
        free(ids);
        json_decref(c);
    }
    free(line);
    fclose(f);
    CHECK(cases == 193, "expected 193 golden cases, read %d", cases);
}

/* --- random valid UTF-8: decode(encode(s)) == NFC(s); incremental == whole; parallel == serial */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static int32_t rand_cp(void) {
    static const int32_t pool[] = {' ', '\n', '\t', '\r', 'a', 'Z', '0', '\'', '/', '<', '>', 0x301, 0x308, 0xe9,
                                   0x1100, 0x1161, 0x11a8, 0xac00, 0x212b, 0xf900, 0x958, 0x4e2d, 0x3042, 0x1f600,
                                   0x200d, 0xfe0f, 0x5d0, 0x627, 0x0, 0xa0, 0x3000, 0xfffd, 0x10fffd};
    uint32_t r = rnd() % 10;
    if (r < 4) return pool[rnd() % (sizeof pool / sizeof pool[0])];
    if (r < 7) return 0x20 + (int32_t)(rnd() % 0x5f);
    for (;;) { /* any assigned-or-not scalar value */
        int32_t cp = (int32_t)(rnd() % 0x110000);
        if (cp < 0xd800 || cp > 0xdfff) return cp;
    }
}
static void round_trips(void) {
    int fails = 0;
    for (int it = 0; it < 400; it++) {
        uint8_t buf[4 * 300];
        size_t n = 0;
        int ncp = 1 + (int)(rnd() % (it < 350 ? 40 : 300));
        for (int i = 0; i < ncp; i++) n += (size_t)utf8proc_encode_char(rand_cp(), buf + n);
        int32_t *ids = NULL;
        int k = mm_tokenizer_encode(tok, (const char *)buf, n, 0, &ids);
        if (k < 0) {
            fails++;
            CHECK(0, "round trip %d: encode failed: %s", it, mm_last_error());
            continue;
        }
        char *dec = mm_tokenizer_decode(tok, ids, (size_t)k, 0);
        uint8_t *nfc = NULL;
        utf8proc_ssize_t nl = utf8proc_map(buf, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        int ok = nl >= 0 && strlen(dec) <= (size_t)nl && !memcmp(dec, nfc, (size_t)nl);
        /* the text may contain NUL: compare lengths through the ids' byte count instead of strlen */
        size_t declen = 0;
        for (int i = 0; i < k; i++) {
            const char *s = mm_tokenizer_token_str(tok, ids[i]);
            (void)s;
        }
        {
            mm_detok *d = mm_detok_new(tok, 0);
            for (int i = 0; i < k; i++) {
                size_t l;
                mm_detok_push(d, ids[i], &l);
                declen += l;
            }
            size_t l;
            mm_detok_flush(d, &l);
            declen += l;
            mm_detok_free(d);
        }
        ok = ok && declen == (size_t)nl;
        if (!ok) fails++;
        if (fails < 5) CHECK(ok, "round trip %d: decode(encode(s)) != NFC(s) (%zu bytes, decoded %zu)", it, n, declen);
        free(nfc);
        free(dec);
        free(ids);
    }
    CHECK(fails == 0, "%d random round trips failed", fails);
}

/* a long input: parallel == serial, and the result equals the concatenation for a repetition */
static void long_input(void) {
    const char *unit = "The quick brown fox, 12345 times!\n  def f(x): return x**2  # ok\n中文文本和 emoji 🙂🙂\n";
    size_t ul = strlen(unit), reps = 4000;
    char *s = malloc(ul * reps + 1);
    for (size_t i = 0; i < reps; i++) memcpy(s + i * ul, unit, ul);
    s[ul * reps] = 0;
    int32_t *a = NULL, *b = NULL, *u = NULL;
    int na = mm_tokenizer_encode(tok, s, ul * reps, 1, &a);
    int nb = mm_tokenizer_encode_parallel(tok, s, ul * reps, 1, &b, 4);
    int nu = mm_tokenizer_encode(tok, unit, ul, 1, &u);
    CHECK(na > 0 && na == nb && !memcmp(a, b, sizeof(int32_t) * (size_t)na), "parallel != serial on long input");
    CHECK(na == nu * (int)reps, "long input: %d ids, want %d x %d", na, nu, (int)reps);
    char *dec = mm_tokenizer_decode(tok, a, (size_t)na, 0);
    CHECK(!strcmp(dec, s), "long input does not round-trip");
    free(dec);
    free(a);
    free(b);
    free(u);
    free(s);
}

static void api(void) {
    CHECK(mm_tokenizer_token_id(tok, "<end_of_sentence>") == 200020, "eos id");
    CHECK(mm_tokenizer_token_id(tok, "<beginning_of_sentence>") == 200019, "bos id");
    CHECK(mm_tokenizer_token_id(tok, "<begin_of_document>") == -1, "M1's token is not a Text-01 token");
    CHECK(mm_tokenizer_token_id(tok, "\xc4\x8a") == 10, "Ċ is id 10");
    CHECK(mm_tokenizer_token_id(tok, "Hello") == 19739, "Hello");
    CHECK(mm_tokenizer_n_ids(tok) == 200026, "n_ids = %d", mm_tokenizer_n_ids(tok));
    CHECK(mm_tokenizer_is_special(tok, 200020) && !mm_tokenizer_is_special(tok, 10), "is_special");
    CHECK(mm_tokenizer_token_str(tok, 32) && !strcmp(mm_tokenizer_token_str(tok, 32), "\xc4\xa0"), "id 32 is Ġ");
    CHECK(mm_tokenizer_token_str(tok, 200030) == NULL && mm_tokenizer_token_str(tok, -1) == NULL, "no token");
    int32_t *ids = NULL;
    CHECK(mm_tokenizer_encode(tok, "a\xff", 2, 1, &ids) == -1 && strstr(mm_last_error(), "UTF-8"),
          "invalid UTF-8 is an error: %s", mm_last_error());
    free(ids);
    CHECK(mm_tokenizer_encode(tok, "", 0, 1, &ids) == 0 && ids, "empty input");
    free(ids);
    /* NUL inside the text ("\0b" is one piece: NUL is the optional leading non-letter) */
    int n = mm_tokenizer_encode(tok, "a\0b", 3, 1, &ids);
    char *d = mm_tokenizer_decode(tok, ids, (size_t)n, 0);
    CHECK(n == 2 && d[0] == 'a' && d[1] == 0 && d[2] == 'b', "NUL in text: n=%d", n);
    free(d);
    free(ids);
    /* a lone continuation byte token decodes to U+FFFD; split character held by detok */
    int32_t part[2] = {0xe4, 0xb8}; /* first two bytes of 中 (e4 b8 ad) */
    d = mm_tokenizer_decode(tok, part, 2, 0);
    CHECK(!strcmp(d, "\xef\xbf\xbd"), "partial char decodes to one U+FFFD, got %s", d);
    free(d);
    mm_detok *dt = mm_detok_new(tok, 0);
    size_t l;
    mm_detok_push(dt, 0xe4, &l);
    CHECK(l == 0, "first byte held");
    mm_detok_push(dt, 0xb8, &l);
    CHECK(l == 0, "second byte held");
    const char *p = mm_detok_push(dt, 0xad, &l);
    CHECK(l == 3 && !memcmp(p, "\xe4\xb8\xad", 3), "character completes");
    mm_detok_push(dt, 0xe4, &l);
    p = mm_detok_flush(dt, &l);
    CHECK(l == 3 && !memcmp(p, "\xef\xbf\xbd", 3), "flush gives U+FFFD for a held partial");
    mm_detok_free(dt);
}

/* --- malformed tokenizer.json files */
static const char *base_json =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":300,\"content\":\"<eos>\",\"special\":true,\"normalized\":false}],"
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":%s,"
    "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"vocab\":%s,\"merges\":%s}}";

static char *write_tok(const char *name, const char *pretok, const char *merges, int truncate_at) {
    /* vocab: the 256 byte tokens (GPT-2 alphabet) + "ab" (id 256) + "abc" (id 257) */
    size_t cap = 1 << 16;
    char *vocab = malloc(cap), *p = vocab;
    p += sprintf(p, "{");
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        int32_t cp = printable ? b : 256 + n++;
        uint8_t u[4];
        int k = (int)utf8proc_encode_char(cp, u);
        if (cp == '"' || cp == '\\') p += sprintf(p, "\"\\%c\":%d,", (char)cp, b);
        else p += sprintf(p, "\"%.*s\":%d,", k, (const char *)u, b);
    }
    p += sprintf(p, "\"ab\":256,\"abc\":257}");
    char *json = malloc(cap * 2);
    int len = snprintf(json, cap * 2, base_json, pretok, vocab, merges);
    free(vocab);
    if (truncate_at > 0 && truncate_at < len) len = truncate_at;
    char *path = malloc(600);
    snprintf(path, 600, "%s/%s.json", mmt_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fwrite(json, 1, (size_t)len, f);
    fclose(f);
    free(json);
    return path;
}

static void malformed(void) {
    const char *good_pt = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
                          "\"\\\\s+|\\\\S+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
                          "\"add_prefix_space\":false,\"use_regex\":false}]}";
    const char *good_m = "[\"a b\",\"ab c\"]";
    /* the well-formed small file loads and merges */
    char *path = write_tok("good", good_pt, good_m, 0);
    mm_tokenizer *t = mm_tokenizer_load(path);
    CHECK(t != NULL, "small valid tokenizer: %s", mm_last_error());
    if (t) {
        int32_t *ids = NULL;
        int n = mm_tokenizer_encode(t, "abc ab<eos>x", 12, 1, &ids);
        CHECK(n == 5 && ids[0] == 257 && ids[1] == ' ' && ids[2] == 256 && ids[3] == 300 && ids[4] == 'x',
              "small tokenizer encode: n=%d", n);
        free(ids);
        mm_tokenizer_free(t);
    }
    free(path);
    /* pair-form merges load too */
    path = write_tok("pairs", good_pt, "[[\"a\",\"b\"],[\"ab\",\"c\"]]", 0);
    t = mm_tokenizer_load(path);
    CHECK(t != NULL, "pair merges: %s", mm_last_error());
    mm_tokenizer_free(t);
    free(path);

    struct {
        const char *name, *pt, *merges;
        int trunc;
        const char *want;
    } bad[] = {
        {"missing_merges", good_pt, "null", 0, "merges"},
        {"merge_not_in_vocab", good_pt, "[\"a b\",\"x y z\"]", 0, "merges[1]"},
        {"merge_oov", good_pt, "[\"a q\"]", 0, "not in model.vocab"},
        {"unknown_pretok", "{\"type\":\"Whitespace\"}", good_m, 0, "Whitespace"},
        {"bad_regex", "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?<x\"},\"behavior\":\"Isolated\"}", good_m, 0,
         "regex"},
        {"bad_behavior", "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Sideways\"}", good_m, 0,
         "behavior"},
        {"no_bytelevel", "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Isolated\"}", good_m, 0,
         "ByteLevel"},
        {"truncated", good_pt, good_m, 900, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = write_tok(bad[i].name, bad[i].pt, bad[i].merges, bad[i].trunc);
        t = mm_tokenizer_load(path);
        CHECK(t == NULL, "%s: loaded but should fail", bad[i].name);
        CHECK(strstr(mm_last_error(), bad[i].want) != NULL, "%s: error '%s' does not mention '%s'", bad[i].name,
              mm_last_error(), bad[i].want);
        mm_tokenizer_free(t);
        free(path);
    }
    /* not JSON at all, dropout, byte_fallback, unknown model, missing file */
    char p2[600];
    snprintf(p2, sizeof p2, "%s/notjson.json", mmt_tmpdir());
    FILE *f = fopen(p2, "w");
    fputs("this is not json", f);
    fclose(f);
    CHECK(mm_tokenizer_load(p2) == NULL && strstr(mm_last_error(), "not valid JSON"), "not json: %s", mm_last_error());
    const char *model_bad[][2] = {
        {"{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{},\"merges\":[]}}", "dropout"},
        {"{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{},\"merges\":[]}}", "byte_fallback"},
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "WordPiece"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"NFKC\"}}",
         "NFKC"},
        {"[1,2,3]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof model_bad / sizeof model_bad[0]; i++) {
        f = fopen(p2, "w");
        fputs(model_bad[i][0], f);
        fclose(f);
        CHECK(mm_tokenizer_load(p2) == NULL && strstr(mm_last_error(), model_bad[i][1]), "case %zu: error '%s'", i,
              mm_last_error());
    }
    CHECK(mm_tokenizer_load("/nonexistent/dir") == NULL && strstr(mm_last_error(), "/nonexistent"),
          "missing path: %s", mm_last_error());
    /* ids far past the number of tokens (tables are indexed by id): refused before anything that size is
     * allocated; a 100-byte file used to cost gigabytes */
    const char *sparse[] = {
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":100000000},\"merges\":[]}}",
        "{\"added_tokens\":[{\"id\":99999999,\"content\":\"<x>\"}],\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"decoder\":{\"type\":\"ByteLevel\"},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
    };
    size_t rss0 = mm_peak_rss();
    for (size_t i = 0; i < 2; i++) {
        f = fopen(p2, "w");
        fputs(sparse[i], f);
        fclose(f);
        CHECK(mm_tokenizer_load(p2) == NULL && strstr(mm_last_error(), "dense"), "sparse ids %zu: %s", i, mm_last_error());
    }
    CHECK(mm_peak_rss() < rss0 + ((size_t)64 << 20), "and cost no memory (peak RSS +%zu MB)", (mm_peak_rss() - rss0) >> 20);
}

/* flags on added tokens (lstrip / rstrip / single_word / normalized / non-special) on a small vocab */
static void added_flags(void) {
    const char *pt = "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}";
    char *path = write_tok("flags", pt, "[\"a b\",\"ab c\"]", 0);
    /* rewrite its added_tokens */
    FILE *f = fopen(path, "r");
    static char buf[1 << 17];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    const char *old = "[{\"id\":300,\"content\":\"<eos>\",\"special\":true,\"normalized\":false}]";
    const char *neu =
        "[{\"id\":300,\"content\":\"<L>\",\"special\":true,\"normalized\":false,\"lstrip\":true},"
        "{\"id\":301,\"content\":\"<R>\",\"special\":true,\"normalized\":false,\"rstrip\":true},"
        "{\"id\":302,\"content\":\"cat\",\"special\":false,\"normalized\":false,\"single_word\":true},"
        "{\"id\":303,\"content\":\"\\u00e9\",\"special\":false,\"normalized\":true}]";
    char *at = strstr(buf, old);
    CHECK(at != NULL, "template has added_tokens");
    if (!at) return;
    static char out[1 << 17];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - buf), buf, neu, at + strlen(old));
    f = fopen(path, "w");
    fputs(out, f);
    fclose(f);
    mm_tokenizer *t = mm_tokenizer_load(path);
    CHECK(t != NULL, "flags tokenizer: %s", mm_last_error());
    if (!t) return;
    struct {
        const char *text;
        int n;
        int32_t ids[8];
    } cases[] = {
        {"x  <L>y", 3, {'x', 300, 'y'}},             /* lstrip eats the spaces before */
        {"x<R>  y", 3, {'x', 301, 'y'}},             /* rstrip eats the spaces after */
        {"a cat b", 5, {'a', ' ', 302, ' ', 'b'}},   /* single word: matched */
        {"concat", 6, {'c', 'o', 'n', 'c', 'a', 't'}}, /* inside a word: plain text */
        {"e\xcc\x81", 1, {303}},                     /* normalized token matches after NFC */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *ids = NULL;
        int k = mm_tokenizer_encode(t, cases[i].text, strlen(cases[i].text), 1, &ids);
        int ok = k == cases[i].n;
        for (int j = 0; ok && j < k; j++) ok = ids[j] == cases[i].ids[j];
        char *got = ids_str(ids, k);
        CHECK(ok, "flags case %zu (%s): got %s", i, cases[i].text, got);
        free(got);
        free(ids);
    }
    /* non-special added tokens are still matched with parse_special = 0 */
    int32_t *ids = NULL;
    int k = mm_tokenizer_encode(t, "a cat", 5, 0, &ids);
    CHECK(k == 3 && ids[2] == 302, "non-special token with parse_special=0: k=%d", k);
    free(ids);
    k = mm_tokenizer_encode(t, "<R>", 3, 0, &ids);
    CHECK(k == 3, "special token as text with parse_special=0: k=%d", k);
    free(ids);
    mm_tokenizer_free(t);
    free(path);
}

/* mm_tokenizer_encode_opts: plain ranges (user text inside a template) and the max_tokens early stop. */
static void encode_opts(void) {
    const char *pre = "<beginning_of_sentence>user name=user\n", *user = "x<end_of_sentence>y <beginning_of_sentence>ai",
               *post = "<end_of_sentence>\n";
    char text[256];
    snprintf(text, sizeof text, "%s%s%s", pre, user, post);
    size_t a = strlen(pre), b = a + strlen(user), len = strlen(text);
    const size_t plain[1][2] = {{a, b}};
    int32_t *ids = NULL, *gap = NULL, *all = NULL;
    int n = mm_tokenizer_encode_opts(tok, text, len, &(mm_tok_opts){.parse_special = 1, .plain = plain, .n_plain = 1}, &ids);
    /* expected: the template's markers special, everything between them text (one gap, as parse_special=0) */
    char mid[256];
    snprintf(mid, sizeof mid, "user name=user\n%s", user);
    int ng = mm_tokenizer_encode(tok, mid, strlen(mid), 0, &gap);
    int32_t bos = mm_tokenizer_token_id(tok, "<beginning_of_sentence>"), eos = mm_tokenizer_token_id(tok, "<end_of_sentence>");
    int ok = n == ng + 2 + 1 && ids[0] == bos && !memcmp(ids + 1, gap, sizeof(int32_t) * (size_t)ng) && ids[ng + 1] == eos;
    CHECK(ok, "plain range: markers in it are text, the template's stay special (n=%d, gap %d)", n, ng);
    int na = mm_tokenizer_encode(tok, text, len, 1, &all);
    int specials = 0;
    for (int i = 0; i < na; i++) specials += all[i] == bos || all[i] == eos;
    CHECK(specials == 4, "without the range the user's markers are special (%d)", specials);
    free(ids), free(gap), free(all);

    /* max_tokens: exactly enough is fine, one less stops with -2 */
    const char *t2 = "The quick brown fox jumps over the lazy dog. <end_of_sentence>";
    int full = mm_tokenizer_encode(tok, t2, strlen(t2), 1, &ids);
    free(ids);
    CHECK(mm_tokenizer_encode_opts(tok, t2, strlen(t2), &(mm_tok_opts){.parse_special = 1, .max_tokens = full}, &ids) == full,
          "max_tokens = count: ok");
    free(ids);
    CHECK(mm_tokenizer_encode_opts(tok, t2, strlen(t2), &(mm_tok_opts){.parse_special = 1, .max_tokens = full - 1}, &ids) == -2 &&
              !ids && strstr(mm_last_error(), "more than"),
          "max_tokens = count - 1: -2 (%s)", mm_last_error());
    /* one 1 MB word with a 1000-token cap: refused before BPE runs on it (BPE of it takes over a second;
     * what remains is the linear pre-split) */
    size_t nw = (size_t)1 << 20;
    char *word = mm_xmalloc(nw);
    for (size_t i = 0; i < nw; i++) word[i] = (char)('a' + (i * 7 + i / 13) % 26);
    double t0 = mm_time();
    int r = mm_tokenizer_encode_opts(tok, word, nw, &(mm_tok_opts){.max_tokens = 1000}, &ids);
    double dt = mm_time() - t0;
    CHECK(r == -2 && dt < (getenv("MM_SANITIZE") ? 3.0 : 0.5), "a 1 MB word past the cap stops early (%d, %.3f s)", r, dt);
    free(word);
    /* a token that decodes to a NUL byte: the length says so */
    int32_t *z = NULL;
    int nz = mm_tokenizer_encode(tok, "a\0b", 3, 0, &z);
    size_t zl = 0;
    char *zt = nz > 0 ? mm_tokenizer_decode_n(tok, z, (size_t)nz, 0, &zl) : NULL;
    CHECK(nz >= 2 && zt && zl == 3 && !memcmp(zt, "a\0b", 3), "text with NUL round-trips with its length (%zu)", zl);
    free(z), free(zt);
    size_t mt = mm_tokenizer_max_token_bytes(tok);
    size_t longest = 0;
    for (int32_t i = 0; i < mm_tokenizer_n_ids(tok); i++) {
        char *d = mm_tokenizer_decode(tok, &i, 1, 0);
        if (strlen(d) > longest) longest = strlen(d);
        free(d);
    }
    CHECK(mt >= longest && mt > 0 && mt <= 1024, "max token bytes %zu >= the longest decoded token %zu", mt, longest);
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer", mmt_shared());
    double t0 = mm_time();
    tok = mm_tokenizer_load(path); /* a directory works */
    CHECK(tok != NULL, "load %s: %s", path, mm_last_error());
    if (!tok) return mmt_done();
    printf("loaded in %.2f s\n", mm_time() - t0);
    api();
    encode_opts();
    golden();
    round_trips();
    long_input();
    malformed();
    added_flags();
    mm_tokenizer_free(tok);
    return mmt_done();
}
