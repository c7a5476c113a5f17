/* mm_bpe.c — `minimax train-tokenizer`: byte-level BPE learned from a corpus, written as a tokenizer.json in
 * MiniMax-Text-01's format (NFC, the o200k Split regex + ByteLevel, ByteLevel decoder, no post-processor), with
 * MiniMax's 26 special tokens after the merges. Like MiniMax's vocabulary, id b < 256 is byte b and id 256 + r is
 * the token merge r makes, so merge priority is id order.
 *
 * Training: the corpus is split into pieces by the tokenizer's own pre-tokenizer (mm_tokenizer_pieces), unique
 * pieces are counted, and the most frequent adjacent pair is merged until the vocabulary is full. Pair counts are a
 * dense table updated incrementally at each merge; a lazy max-heap finds the best pair (ties: the smaller ids). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include "train/mm_train.h"
#include "text/mm_tokenizer.h"

/* MiniMax-Text-01's pre-tokenizer pattern (GPT-4o's o200k split), from its tokenizer.json */
static const char MM_SPLIT_REGEX[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* MiniMax-Text-01's added tokens, in id order (its ids 200000–200025) */
static const char *const MM_SPECIAL[26] = {
    "<pad>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<reponame>", "<filename>", "<gh_stars>",
    "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>", "<jupyter_code>",
    "<jupyter_output>", "<empty_output>", "<commit_before>", "<commit_msg>", "<commit_after>",
    "<beginning_of_sentence>", "<end_of_sentence>", "<end_of_document>", "<function_call>", "<code_interpreter>",
    "<speech>", "<image>"};

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the others map to U+0100 upward. */
static void byte_alphabet(char out[256][4]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int cp = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff) ? b : 256 + n++;
        if (cp < 0x80) out[b][0] = (char)cp, out[b][1] = 0;
        else out[b][0] = (char)(0xc0 | (cp >> 6)), out[b][1] = (char)(0x80 | (cp & 0x3f)), out[b][2] = 0;
    }
}

/* ---------------------------------------------------------------- counting pieces */
typedef struct {
    char **key;     /* piece bytes (arena pointers) */
    uint32_t *klen;
    int64_t *count;
    size_t cap, n;
    char *arena;
    size_t arena_n, arena_cap;
    char **arenas;
    int n_arenas;
} piece_map;

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static void pm_grow(piece_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 1 << 16;
    char **key = calloc(cap, sizeof *key);
    uint32_t *klen = calloc(cap, sizeof *klen);
    int64_t *count = calloc(cap, sizeof *count);
    if (!key || !klen || !count) {
        fprintf(stderr, "train-tokenizer: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->key[i]) continue;
        size_t j = fnv(m->key[i], m->klen[i]) & (cap - 1);
        while (key[j]) j = (j + 1) & (cap - 1);
        key[j] = m->key[i], klen[j] = m->klen[i], count[j] = m->count[i];
    }
    free(m->key), free(m->klen), free(m->count);
    m->key = key, m->klen = klen, m->count = count, m->cap = cap;
}

static void pm_add(void *ud, const char *s, size_t n) {
    piece_map *m = ud;
    if ((m->n + 1) * 2 > m->cap) pm_grow(m);
    size_t j = fnv(s, n) & (m->cap - 1);
    while (m->key[j]) {
        if (m->klen[j] == n && !memcmp(m->key[j], s, n)) {
            m->count[j]++;
            return;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (m->arena_n + n > m->arena_cap) { /* a new arena; earlier keys keep pointing into theirs */
        m->arena_cap = n > (1u << 20) ? n : 1u << 20;
        m->arena = mm_xmalloc(m->arena_cap);
        m->arena_n = 0;
        m->arenas = mm_xrealloc(m->arenas, sizeof *m->arenas * (size_t)(m->n_arenas + 1));
        m->arenas[m->n_arenas++] = m->arena;
    }
    memcpy(m->arena + m->arena_n, s, n);
    m->key[j] = m->arena + m->arena_n;
    m->arena_n += n;
    m->klen[j] = (uint32_t)n;
    m->count[j] = 1;
    m->n++;
}

/* ---------------------------------------------------------------- the lazy max-heap of pairs */
typedef struct {
    int64_t count;
    int32_t a, b;
} hent;
typedef struct {
    hent *h;
    size_t n, cap;
} heap;
static int hbetter(const hent *x, const hent *y) { /* more frequent first; ties: smaller ids first */
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}
static void hpush(heap *q, hent e) {
    if (q->n == q->cap) q->h = mm_xrealloc(q->h, sizeof *q->h * (q->cap = q->cap ? q->cap * 2 : 4096));
    size_t i = q->n++;
    while (i && hbetter(&e, &q->h[(i - 1) / 2])) {
        q->h[i] = q->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->h[i] = e;
}
static hent hpop(heap *q) {
    hent top = q->h[0], last = q->h[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && hbetter(&q->h[c + 1], &q->h[c])) c++;
        if (!hbetter(&q->h[c], &last)) break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (q->n) q->h[i] = last;
    return top;
}

/* ---------------------------------------------------------------- writing tokenizer.json */
static json_t *pretok_json(void) {
    json_t *split = json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex", MM_SPLIT_REGEX, "behavior",
                              "Removed", "invert", 1);
    json_t *bl = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                           "use_regex", 0);
    return json_pack("{s:s, s:[o, o]}", "type", "Sequence", "pretokenizers", split, bl);
}

static int write_json(const char *path, char **tok, int n_bpe, const int32_t *ma, const int32_t *mb, int n_merges) {
    json_t *root = json_object(), *added = json_array(), *vocab = json_object(), *merges = json_array();
    for (int i = 0; i < 26; i++)
        json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", n_bpe + i, "content",
                                               MM_SPECIAL[i], "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized",
                                               0, "special", 1));
    for (int i = 0; i < n_bpe; i++) json_object_set_new(vocab, tok[i], json_integer(i));
    for (int r = 0; r < n_merges; r++) {
        size_t la = strlen(tok[ma[r]]), lb = strlen(tok[mb[r]]);
        char *m = mm_xmalloc(la + lb + 2);
        memcpy(m, tok[ma[r]], la);
        m[la] = ' ';
        memcpy(m + la + 1, tok[mb[r]], lb + 1);
        json_array_append_new(merges, json_string(m));
        free(m);
    }
    json_t *model = json_pack("{s:s, s:n, s:n, s:s, s:s, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                              "continuing_subword_prefix", "", "end_of_word_suffix", "", "fuse_unk", 0, "byte_fallback",
                              0, "vocab", vocab, "merges", merges);
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "truncation", json_null());
    json_object_set_new(root, "padding", json_null());
    json_object_set_new(root, "added_tokens", added);
    json_object_set_new(root, "normalizer", json_pack("{s:s}", "type", "NFC"));
    json_object_set_new(root, "pre_tokenizer", pretok_json());
    json_object_set_new(root, "post_processor", json_null());
    json_object_set_new(root, "decoder", json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 1,
                                                   "trim_offsets", 1, "use_regex", 1));
    json_object_set_new(root, "model", model);
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc) mm_set_error("train-tokenizer: cannot write %s", path);
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------- training */
int mm_bpe_train(const char *text, size_t len, const mm_bpe_params *p, const char *out_path) {
    const int V = p->vocab_size - 26; /* ids left for bytes + merges */
    if (V < 256 || p->vocab_size > 65536) {
        mm_set_error("train-tokenizer: vocabulary size %d must be in [%d, 65536] (256 bytes + 26 special tokens + merges)",
                     p->vocab_size, 256 + 26);
        return -1;
    }
    /* a tokenizer that only pre-tokenizes: the 256 byte tokens, no merges, MiniMax's normalizer and split */
    char alpha[256][4];
    byte_alphabet(alpha);
    const char *bytes_vocab[256];
    for (int b = 0; b < 256; b++) bytes_vocab[b] = alpha[b];
    mm_tok_pretok steps[2] = {{.type = MM_PRETOK_SPLIT, .regex = MM_SPLIT_REGEX, .behavior = MM_SPLIT_REMOVED, .invert = 1},
                              {.type = MM_PRETOK_BYTELEVEL}};
    mm_tok_parts parts = {.n_vocab = 256, .vocab = bytes_vocab, .nfc = 1, .n_pretok = 2, .pretok = steps,
                          .source = "train-tokenizer"};
    mm_tokenizer *pre = mm_tokenizer_from_parts(&parts);
    if (!pre) return -1;
    piece_map pm = {0};
    pm_grow(&pm);
    int rc = mm_tokenizer_pieces(pre, text, len, pm_add, &pm);
    mm_tokenizer_free(pre);
    if (rc < 0) return -1;

    /* words: symbol runs with their counts */
    size_t n_words = 0, n_sym = 0;
    for (size_t i = 0; i < pm.cap; i++)
        if (pm.key[i]) n_words++, n_sym += pm.klen[i];
    int32_t *sym = mm_xmalloc(sizeof *sym * (n_sym + 1));
    size_t *wstart = mm_xmalloc(sizeof *wstart * (n_words + 1));
    int *wlen = mm_xmalloc(sizeof *wlen * (n_words + 1));
    int64_t *wcount = mm_xmalloc(sizeof *wcount * (n_words + 1));
    size_t w = 0, at = 0;
    for (size_t i = 0; i < pm.cap; i++) {
        if (!pm.key[i]) continue;
        wstart[w] = at, wlen[w] = (int)pm.klen[i], wcount[w] = pm.count[i];
        for (uint32_t j = 0; j < pm.klen[i]; j++) sym[at++] = (uint8_t)pm.key[i][j];
        w++;
    }
    for (int i = 0; i < pm.n_arenas; i++) free(pm.arenas[i]);
    free(pm.arenas), free(pm.key), free(pm.klen), free(pm.count);

    int64_t *pc = calloc((size_t)V * V, sizeof *pc); /* pair counts [V][V] */
    if (!pc) {
        mm_set_error("train-tokenizer: out of memory for %d x %d pair counts", V, V);
        free(sym), free(wstart), free(wlen), free(wcount);
        return -1;
    }
    for (size_t k = 0; k < n_words; k++)
        for (int i = 0; i + 1 < wlen[k]; i++) pc[(size_t)sym[wstart[k] + i] * V + sym[wstart[k] + i + 1]] += wcount[k];
    heap q = {0};
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            if (pc[(size_t)a * V + b]) hpush(&q, (hent){pc[(size_t)a * V + b], a, b});

    char **tok = mm_xmalloc(sizeof *tok * (size_t)V);    /* byte-level string of each id */
    int *tbytes = mm_xmalloc(sizeof *tbytes * (size_t)V); /* its length in bytes (for progress only) */
    for (int b = 0; b < 256; b++) tok[b] = mm_xstrdup(alpha[b]), tbytes[b] = 1;
    int32_t *ma = mm_xmalloc(sizeof *ma * (size_t)V), *mb = mm_xmalloc(sizeof *mb * (size_t)V);
    int n_merges = 0;
    const int min_freq = p->min_freq > 0 ? p->min_freq : 2;
#define PC(x, y) pc[(size_t)(x) * V + (y)]
#define BUMP(x, y, d)                                                 \
    do {                                                              \
        PC(x, y) += (d);                                              \
        if (PC(x, y) > 0) hpush(&q, (hent){PC(x, y), (x), (y)});      \
    } while (0)
    while (256 + n_merges < V && q.n) {
        hent e = hpop(&q);
        if (e.count != PC(e.a, e.b)) continue; /* stale */
        if (e.count < min_freq) break;
        const int32_t a = e.a, b = e.b, z = 256 + n_merges;
        ma[n_merges] = a, mb[n_merges] = b;
        size_t la = strlen(tok[a]), lb = strlen(tok[b]);
        tok[z] = mm_xmalloc(la + lb + 1);
        memcpy(tok[z], tok[a], la);
        memcpy(tok[z] + la, tok[b], lb + 1);
        tbytes[z] = tbytes[a] + tbytes[b];
        n_merges++;
        for (size_t k = 0; k < n_words; k++) {
            int32_t *s = sym + wstart[k];
            int n = wlen[k], o = 0;
            if (n < 2) continue;
            const int64_t c = wcount[k];
            for (int i = 0; i < n; i++) {
                if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                    if (o > 0) {
                        BUMP(s[o - 1], a, -c);
                        BUMP(s[o - 1], z, c);
                    }
                    if (i + 2 < n) {
                        BUMP(b, s[i + 2], -c);
                        BUMP(z, s[i + 2], c);
                    }
                    PC(a, b) -= c;
                    s[o++] = z;
                    i++;
                } else {
                    s[o++] = s[i];
                }
            }
            wlen[k] = o;
        }
        if (p->progress && n_merges % 256 == 0) {
            fprintf(stderr, "\rtrain-tokenizer: %d / %d merges", n_merges, V - 256);
            fflush(stderr);
        }
    }
#undef BUMP
#undef PC
    if (p->progress) fprintf(stderr, "\r%60s\r", "");
    rc = write_json(out_path, tok, 256 + n_merges, ma, mb, n_merges);
    for (int i = 0; i < 256 + n_merges; i++) free(tok[i]);
    free(tok), free(tbytes), free(ma), free(mb), free(q.h), free(pc), free(sym), free(wstart), free(wlen), free(wcount);
    return rc;
}
