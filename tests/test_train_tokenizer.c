/* test_train_tokenizer.c — `minimax train-tokenizer`: the tokenizer.json it learns loads in the engine's tokenizer,
 * round-trips arbitrary UTF-8 (decode(encode(s)) = NFC(s), the normalizer's contract), keeps the byte ids 0–255,
 * places MiniMax's special tokens after the merges, and carries the chat template: a rendered Text-01 prompt
 * encodes its control tokens as single special ids and decodes back to itself. */
#include <jansson.h>
#include <stdlib.h>
#include <utf8proc.h>
#include "mm_test.h"
#include "train/mm_train.h"
#include "text/mm_chat.h"
#include "text/mm_tokenizer.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32) % n;
}

/* A random valid code point, mostly from scripts the corpus has, sometimes from anywhere (no surrogates). */
static int32_t rand_cp(void) {
    switch (rnd(9)) {
    case 0: case 1: case 2: return 0x20 + (int32_t)rnd(0x5f);          /* ASCII */
    case 3: return "\n\t \r"[rnd(4)];
    case 4: return 0xc0 + (int32_t)rnd(0x140);                         /* Latin-1 / Latin Extended */
    case 5: return 0x300 + (int32_t)rnd(0x70);                         /* combining marks: NFC reorders/composes */
    case 6: return 0x4e00 + (int32_t)rnd(0x5000);                      /* CJK */
    case 7: return 0x1f600 + (int32_t)rnd(0x50);                       /* emoji */
    default: {
        int32_t c;
        do c = (int32_t)rnd(0x110000); while ((c >= 0xd800 && c < 0xe000) || c == 0);
        return c;
    }
    }
}

int main(void) {
    const char *seed_text =
        "The quick brown fox jumps over the lazy dog. Café naïve résumé — déjà vu!\n"
        "東京は日本の首都です。北京是中国的首都。 😀😃 emoji 🎉 and 12345 numbers, don't WE'LL\n"
        "    indented code: int main(void) { return 0; }\r\n";
    size_t sl = strlen(seed_text);
    char *corpus = malloc(sl * 200 + 1);
    for (int i = 0; i < 200; i++) memcpy(corpus + i * sl, seed_text, sl);
    corpus[sl * 200] = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", mmt_tmpdir());
    mm_bpe_params p = {.vocab_size = 400, .min_freq = 2};
    CHECK(mm_bpe_train(corpus, strlen(corpus), &p, path) == 0, "train: %s", mm_last_error());
    free(corpus);
    mm_tokenizer *t = mm_tokenizer_load(path);
    CHECK(t != NULL, "the engine's tokenizer refuses the file: %s", mm_last_error());
    if (!t) return mmt_done();
    CHECK(mm_tokenizer_n_ids(t) == 400, "ids: %d", mm_tokenizer_n_ids(t));
    CHECK(mm_tokenizer_token_id(t, "<beginning_of_sentence>") == 374 + 19 &&
              mm_tokenizer_token_id(t, "<end_of_sentence>") == 374 + 20 && mm_tokenizer_is_special(t, 374 + 20),
          "special tokens after the 374 BPE ids: bos %d eos %d", mm_tokenizer_token_id(t, "<beginning_of_sentence>"),
          mm_tokenizer_token_id(t, "<end_of_sentence>"));
    CHECK(!strcmp(mm_tokenizer_token_str(t, 32), "Ġ") && !strcmp(mm_tokenizer_token_str(t, 10), "Ċ"), "byte ids");
    int32_t *ids;
    int n = mm_tokenizer_encode(t, "The quick brown fox", 19, 1, &ids);
    CHECK(n > 0 && n <= 19 / 2, "learned merges compress 19 bytes into %d tokens", n);
    free(ids);

    /* arbitrary UTF-8 */
    int bad = 0;
    for (int k = 0; k < 300; k++) {
        char s[512];
        int len = 0, m = 1 + (int)rnd(60);
        for (int i = 0; i < m; i++) len += (int)utf8proc_encode_char(rand_cp(), (utf8proc_uint8_t *)s + len);
        s[len] = 0;
        n = mm_tokenizer_encode(t, s, (size_t)len, 0, &ids);
        char *back = mm_tokenizer_decode(t, ids, (size_t)n, 0);
        utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)s);
        if (n < 0 || !back || strcmp(back, (const char *)nfc)) bad++;
        for (int i = 0; i < n; i++) bad += ids[i] < 0 || ids[i] >= 374; /* ordinary text never yields a special id */
        free(ids), free(back), free(nfc);
    }
    CHECK(bad == 0, "%d of 300 random UTF-8 strings do not round-trip to their NFC form", bad);

    /* the chat template's control tokens are single special ids */
    json_t *msgs = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content", "Be brief.", "role", "user",
                             "content", "Hello, fox!");
    char *r = mm_chat_render(MM_CHAT_TEXT01, msgs, NULL, 1);
    json_decref(msgs);
    CHECK(r != NULL, "render: %s", mm_last_error());
    n = mm_tokenizer_encode(t, r, strlen(r), 1, &ids);
    int bos = 0, eos = 0;
    for (int i = 0; i < n; i++) bos += ids[i] == 374 + 19, eos += ids[i] == 374 + 20;
    CHECK(bos == 3 && eos == 2, "rendered chat: %d <beginning_of_sentence>, %d <end_of_sentence>", bos, eos);
    char *back = mm_tokenizer_decode(t, ids, (size_t)n, 0);
    CHECK(back && !strcmp(back, r), "chat prompt round trip");
    free(back), free(ids), free(r);
    mm_tokenizer_free(t);

    mm_bpe_params small = {.vocab_size = 100};
    CHECK(mm_bpe_train("abc", 3, &small, path) < 0 && strstr(mm_last_error(), "vocabulary"), "too small a vocabulary");
    return mmt_done();
}
