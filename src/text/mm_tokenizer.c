/* mm_tokenizer.c — byte-level BPE tokenizer (see mm_tokenizer.h for the behaviour it reproduces).
 *
 * Layout of this file:
 *   1. tables: token strings/bytes in arenas, a string→id hash, a (left,right)→rank merge hash
 *   2. building from parts (format independent)
 *   3. encoding: added-token split → NFC on the gaps → pre-tokenizer pipeline → BPE (+ per-thread cache)
 *   4. decoding and incremental decoding
 *   5. tokenizer.json loading (jansson DOM → parts → tables; the DOM is freed right after)
 *
 * Memory: the loaded Text-01 tokenizer takes ~14 MB; encoding needs the ids plus, only when NFC changes the
 * text, one normalized copy of the current gap. Nothing is allocated per character or per piece. */
#include "text/mm_tokenizer.h"

#include <jansson.h>
#include <oniguruma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/mm_common.h"

/* ================================================================ 1. tables */

static uint64_t hash_bytes(const void *p, size_t n) { /* FNV-1a, then a final mix */
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    h ^= h >> 29;
    return h * 0xbf58476d1ce4e5b9ull;
}
static inline uint64_t hash_pair(uint32_t a, uint32_t b) {
    uint64_t h = ((uint64_t)a << 32 | b) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

typedef struct { uint32_t left, right; int32_t rank; } merge_slot; /* rank -1 = empty */

enum { TOK_PRESENT = 1, TOK_SPECIAL = 2, TOK_ADDED = 4 };

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    int special, normalized, lstrip, rstrip, single_word;
} added_tok;

typedef struct {
    int type, behavior, invert, add_prefix_space, use_regex;
    regex_t *re; /* SPLIT, or BYTELEVEL with use_regex */
} pretok_step;

typedef struct enc_state enc_state;

struct mm_tokenizer {
    int32_t n_ids;
    size_t max_tok_bytes;    /* the longest token's bytes (vocab or added): a bound on bytes per output id */
    uint8_t *flags;          /* TOK_* per id */
    char *str_arena;         /* token strings as in the vocab (NUL-terminated each) */
    uint32_t *str_off;       /* per id; UINT32_MAX = none */
    uint8_t *byte_arena;     /* token bytes after the byte-level decoding */
    uint32_t *byte_off;      /* per id, n_ids+1 entries: bytes of id i are [byte_off[i], byte_off[i+1]) */
    int32_t *str_hash;       /* open addressing over vocab strings: id or -1 */
    uint32_t str_mask;
    merge_slot *merges;
    uint32_t merge_mask;
    int32_t *merge_result;   /* by rank */
    int32_t n_merges;
    int32_t byte_id[256];    /* id of the single-byte token, -1 if none */
    added_tok *added;
    int n_added;
    uint8_t added_first[256]; /* bit 0: some raw added token starts with this byte; bit 1: some normalized one */
    int nfc, ignore_merges;
    pretok_step *steps;
    int n_steps;
    int parallel_ok;         /* no prefix space and no added token containing '\n' */
    pthread_mutex_t pool_lock;
    enc_state *pool;         /* per-thread scratch states, reused across calls */
};

/* GPT-2's byte ↔ printable-character alphabet: printable Latin-1 bytes stand for themselves, the other 68
 * bytes map to U+0100.. in byte order. */
static uint32_t byte_to_cp[256];
static int16_t cp_to_byte[324]; /* code points < 324 only; -1 = not in the alphabet */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static void init_static(void) {
    int n = 0;
    for (int i = 0; i < 324; i++) cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        byte_to_cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
        cp_to_byte[byte_to_cp[b]] = (int16_t)b;
    }
    OnigEncoding enc[1] = {ONIG_ENCODING_UTF8};
    onig_initialize(enc, 1);
}

static int32_t str_lookup(const mm_tokenizer *t, const char *s, size_t n) {
    uint32_t h = (uint32_t)hash_bytes(s, n) & t->str_mask;
    for (;; h = (h + 1) & t->str_mask) {
        int32_t id = t->str_hash[h];
        if (id < 0) return -1;
        const char *v = t->str_arena + t->str_off[id];
        if (strlen(v) == n && !memcmp(v, s, n)) return id;
    }
}

static inline int32_t merge_rank(const mm_tokenizer *t, int32_t a, int32_t b) {
    uint32_t h = (uint32_t)hash_pair((uint32_t)a, (uint32_t)b) & t->merge_mask;
    for (;; h = (h + 1) & t->merge_mask) {
        const merge_slot *s = &t->merges[h];
        if (s->rank < 0) return -1;
        if (s->left == (uint32_t)a && s->right == (uint32_t)b) return s->rank;
    }
}

/* Decodes a byte-level token string to bytes: every character must be in the alphabet; otherwise the
 * string's own UTF-8 bytes are the token's bytes (how the reference decoder treats such tokens). */
static size_t bytelevel_decode(const char *s, uint8_t *out) {
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0 || cp >= 324 || cp_to_byte[cp] < 0) {
            memcpy(out, s, len);
            return len;
        }
        out[n++] = (uint8_t)cp_to_byte[cp];
        i += (size_t)k;
    }
    return n;
}

/* ================================================================ 2. building from parts */

static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static regex_t *compile_regex(const char *pat, const char *src, int step) {
    regex_t *re;
    OnigErrorInfo einfo;
    int r = onig_new(&re, (const UChar *)pat, (const UChar *)pat + strlen(pat), ONIG_OPTION_NONE,
                     ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo);
    if (r != ONIG_NORMAL) {
        UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, r, &einfo);
        mm_set_error("%s: pre_tokenizer step %d: regex pattern rejected by Oniguruma: %s (pattern: %.80s)", src,
                     step, (const char *)msg, pat);
        return NULL;
    }
    return re;
}

static int cmp_added_len_desc(const void *a, const void *b) {
    const added_tok *x = a, *y = b;
    return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

/* Tables are indexed by id, so ids must be dense: a file of a few entries with an id of 1e8 would make the
 * loader allocate gigabytes. The largest id may be at most twice the number of tokens + 1024. */
static int ids_dense(int64_t max_id, int64_t n_tokens) { return max_id < 2 * n_tokens + 1024; }

mm_tokenizer *mm_tokenizer_from_parts(const mm_tok_parts *p) {
    pthread_once(&tables_once, init_static);
    const char *src = p->source ? p->source : "tokenizer";
    if (p->n_vocab <= 0 || !p->vocab) {
        mm_set_error("%s: model.vocab is empty", src);
        return NULL;
    }
    mm_tokenizer *t = mm_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->pool_lock, NULL);
    int32_t n_ids = p->n_vocab;
    for (int i = 0; i < p->n_added; i++) {
        if (p->added[i].id < 0 || p->added[i].id > 100000000 || !p->added[i].content || !p->added[i].content[0]) {
            mm_set_error("%s: added_tokens[%d]: bad id %d or empty content", src, i, p->added[i].id);
            goto fail;
        }
        if (p->added[i].id >= n_ids) n_ids = p->added[i].id + 1;
    }
    int64_t n_tokens = p->n_added;
    for (int32_t i = 0; i < p->n_vocab; i++) n_tokens += p->vocab[i] != NULL;
    if (!ids_dense((int64_t)n_ids - 1, n_tokens)) {
        mm_set_error("%s: token id %d with only %lld tokens: ids must be dense (at most 2 x tokens + 1024)", src, n_ids - 1,
                     (long long)n_tokens);
        goto fail;
    }
    t->n_ids = n_ids;
    t->flags = mm_xcalloc((size_t)n_ids, 1);
    t->str_off = mm_xmalloc(sizeof(uint32_t) * (size_t)n_ids);
    t->byte_off = mm_xmalloc(sizeof(uint32_t) * ((size_t)n_ids + 1));

    /* Strings: vocab first, added tokens override (an added token's content is its string). */
    const char **strs = mm_xcalloc((size_t)n_ids, sizeof *strs);
    for (int32_t i = 0; i < p->n_vocab; i++) strs[i] = p->vocab[i];
    for (int i = 0; i < p->n_added; i++) strs[p->added[i].id] = p->added[i].content;
    size_t total = 0;
    for (int32_t i = 0; i < n_ids; i++)
        if (strs[i]) total += strlen(strs[i]) + 1;
    if (total >= UINT32_MAX) {
        free(strs);
        mm_set_error("%s: vocabulary strings too large", src);
        goto fail;
    }
    t->str_arena = mm_xmalloc(total ? total : 1);
    t->byte_arena = mm_xmalloc(total ? total : 1); /* decoded bytes are never longer than the string */
    size_t so = 0, bo = 0;
    for (int32_t i = 0; i < n_ids; i++) {
        t->byte_off[i] = (uint32_t)bo;
        if (!strs[i]) {
            t->str_off[i] = UINT32_MAX;
            continue;
        }
        size_t l = strlen(strs[i]);
        memcpy(t->str_arena + so, strs[i], l + 1);
        t->str_off[i] = (uint32_t)so;
        so += l + 1;
        t->flags[i] |= TOK_PRESENT;
        bo += bytelevel_decode(strs[i], t->byte_arena + bo);
    }
    t->byte_off[n_ids] = (uint32_t)bo;
    free(strs);
    for (int32_t i = 0; i < n_ids; i++)
        if (t->byte_off[i + 1] - t->byte_off[i] > t->max_tok_bytes) t->max_tok_bytes = t->byte_off[i + 1] - t->byte_off[i];

    /* string → id hash over the base vocab (added tokens are looked up in their own list first) */
    uint32_t cap = 1024;
    while (cap < (uint32_t)p->n_vocab * 2u) cap <<= 1;
    t->str_mask = cap - 1;
    t->str_hash = mm_xmalloc(sizeof(int32_t) * cap);
    memset(t->str_hash, 0xff, sizeof(int32_t) * cap);
    for (int32_t i = 0; i < p->n_vocab; i++) {
        if (!p->vocab[i]) continue;
        const char *s = t->str_arena + t->str_off[i];
        size_t l = strlen(s);
        if (str_lookup(t, s, l) >= 0) continue; /* duplicate string: keep the first id */
        uint32_t h = (uint32_t)hash_bytes(s, l) & t->str_mask;
        while (t->str_hash[h] >= 0) h = (h + 1) & t->str_mask;
        t->str_hash[h] = i;
    }
    for (int b = 0; b < 256; b++) {
        char s[4];
        utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)byte_to_cp[b], (uint8_t *)s);
        t->byte_id[b] = str_lookup(t, s, (size_t)k);
    }

    /* merges: (left id, right id) → rank; merge_result[rank] = id of left+right */
    t->n_merges = p->n_merges;
    cap = 1024;
    while (cap < (uint32_t)p->n_merges * 2u + 2u) cap <<= 1;
    t->merge_mask = cap - 1;
    t->merges = mm_xmalloc(sizeof(merge_slot) * cap);
    for (uint32_t i = 0; i < cap; i++) t->merges[i].rank = -1;
    t->merge_result = mm_xmalloc(sizeof(int32_t) * ((size_t)p->n_merges + 1));
    char *cat = NULL;
    size_t catcap = 0;
    for (int32_t r = 0; r < p->n_merges; r++) {
        const char *a = p->merge_left[r], *b = p->merge_right[r];
        size_t la = strlen(a), lb = strlen(b);
        int32_t ia = str_lookup(t, a, la), ib = str_lookup(t, b, lb);
        if (ia < 0 || ib < 0) {
            free(cat);
            mm_set_error("%s: model.merges[%d]: token '%s' is not in model.vocab", src, r, ia < 0 ? a : b);
            goto fail;
        }
        if (la + lb + 1 > catcap) {
            catcap = (la + lb + 1) * 2;
            cat = mm_xrealloc(cat, catcap);
        }
        memcpy(cat, a, la);
        memcpy(cat + la, b, lb);
        int32_t ic = str_lookup(t, cat, la + lb);
        if (ic < 0) {
            free(cat);
            mm_set_error("%s: model.merges[%d]: merged token '%s%s' is not in model.vocab", src, r, a, b);
            goto fail;
        }
        t->merge_result[r] = ic;
        uint32_t h = (uint32_t)hash_pair((uint32_t)ia, (uint32_t)ib) & t->merge_mask;
        while (t->merges[h].rank >= 0 && !(t->merges[h].left == (uint32_t)ia && t->merges[h].right == (uint32_t)ib))
            h = (h + 1) & t->merge_mask;
        /* a repeated pair keeps its last rank, as the reference's map insertion does */
        t->merges[h] = (merge_slot){(uint32_t)ia, (uint32_t)ib, r};
    }
    free(cat);

    /* added tokens, longest first so the first match at a position is the longest */
    t->n_added = p->n_added;
    t->added = mm_xcalloc((size_t)(p->n_added ? p->n_added : 1), sizeof(added_tok));
    t->parallel_ok = 1;
    for (int i = 0; i < p->n_added; i++) {
        const mm_tok_added *a = &p->added[i];
        t->added[i] = (added_tok){mm_xstrdup(a->content), strlen(a->content), a->id, a->special, a->normalized,
                                  a->lstrip, a->rstrip, a->single_word};
        if (t->added[i].len > t->max_tok_bytes) t->max_tok_bytes = t->added[i].len;
        t->flags[a->id] |= TOK_ADDED | (a->special ? TOK_SPECIAL : 0);
        t->added_first[(uint8_t)a->content[0]] |= a->normalized ? 2 : 1;
        if (strchr(a->content, '\n') || a->lstrip || a->rstrip || a->single_word) t->parallel_ok = 0;
    }
    qsort(t->added, (size_t)t->n_added, sizeof(added_tok), cmp_added_len_desc);

    t->nfc = p->nfc;
    t->ignore_merges = p->ignore_merges;
    t->n_steps = p->n_pretok;
    t->steps = mm_xcalloc((size_t)(p->n_pretok ? p->n_pretok : 1), sizeof(pretok_step));
    int have_bytelevel = 0;
    for (int i = 0; i < p->n_pretok; i++) {
        const mm_tok_pretok *s = &p->pretok[i];
        pretok_step *d = &t->steps[i];
        d->type = s->type;
        d->behavior = s->behavior;
        d->invert = s->invert;
        d->add_prefix_space = s->add_prefix_space;
        d->use_regex = s->use_regex;
        if (s->type == MM_PRETOK_SPLIT) {
            if (!s->regex) {
                mm_set_error("%s: pre_tokenizer step %d: Split without a pattern", src, i);
                goto fail;
            }
            if (!(d->re = compile_regex(s->regex, src, i))) goto fail;
        } else if (s->type == MM_PRETOK_BYTELEVEL) {
            have_bytelevel = 1;
            if (s->add_prefix_space) t->parallel_ok = 0;
            if (s->use_regex && !(d->re = compile_regex(GPT2_REGEX, src, i))) goto fail;
        } else {
            mm_set_error("%s: pre_tokenizer step %d: unsupported type %d", src, i, s->type);
            goto fail;
        }
    }
    if (!have_bytelevel) {
        mm_set_error("%s: pre_tokenizer: no ByteLevel step (only byte-level BPE is supported)", src);
        goto fail;
    }
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) {
            mm_set_error("%s: model.vocab: byte 0x%02x has no token (byte-level BPE needs all 256)", src, b);
            goto fail;
        }
    return t;
fail:
    mm_tokenizer_free(t);
    return NULL;
}

/* ================================================================ 3. encoding */

/* Per-thread scratch: the regex region, a direct-mapped piece → ids cache, BPE work arrays, buffers. */
#define CACHE_SLOTS 16384
#define CACHE_KEY 40
#define CACHE_IDS 12
typedef struct {
    uint32_t hash;
    uint8_t len, nids;
    char key[CACHE_KEY];
    int32_t ids[CACHE_IDS];
} cache_slot;

struct enc_state {
    enc_state *next;
    OnigRegion *region;
    cache_slot *cache;
    int32_t *sym, *rank, *prev, *nxt; /* BPE work arrays */
    uint64_t *heap;
    size_t cap;
    uint8_t *nbuf; /* normalized text of the current gap */
    size_t nbuf_len, nbuf_cap;
};

typedef struct {
    int32_t *ids;
    size_t n, cap;
} idvec;

static inline void push_id(idvec *v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->ids = mm_xrealloc(v->ids, v->cap * sizeof(int32_t));
    }
    v->ids[v->n++] = id;
}

static enc_state *state_get(const mm_tokenizer *tc) {
    mm_tokenizer *t = (mm_tokenizer *)tc; /* the pool is the only mutable part, guarded by its lock */
    pthread_mutex_lock(&t->pool_lock);
    enc_state *s = t->pool;
    if (s) t->pool = s->next;
    pthread_mutex_unlock(&t->pool_lock);
    if (s) return s;
    s = mm_xcalloc(1, sizeof *s);
    s->region = onig_region_new();
    s->cache = mm_xcalloc(CACHE_SLOTS, sizeof(cache_slot));
    return s;
}
static void state_put(const mm_tokenizer *tc, enc_state *s) {
    mm_tokenizer *t = (mm_tokenizer *)tc;
    pthread_mutex_lock(&t->pool_lock);
    s->next = t->pool;
    t->pool = s;
    pthread_mutex_unlock(&t->pool_lock);
}
static void state_free(enc_state *s) {
    onig_region_free(s->region, 1);
    free(s->cache);
    free(s->sym);
    free(s->rank);
    free(s->prev);
    free(s->nxt);
    free(s->heap);
    free(s->nbuf);
    free(s);
}
static void state_reserve(enc_state *s, size_t n) {
    if (n <= s->cap) return;
    s->cap = n * 2;
    s->sym = mm_xrealloc(s->sym, s->cap * sizeof(int32_t));
    s->rank = mm_xrealloc(s->rank, s->cap * sizeof(int32_t));
    s->prev = mm_xrealloc(s->prev, s->cap * sizeof(int32_t));
    s->nxt = mm_xrealloc(s->nxt, s->cap * sizeof(int32_t));
    s->heap = mm_xrealloc(s->heap, s->cap * sizeof(uint64_t));
}

/* --- BPE over one piece. Short pieces: repeatedly merge the lowest-rank adjacent pair (leftmost on ties),
 * scanning a small array. Long pieces: a min-heap of (rank, position) over a linked list, with stale entries
 * skipped on pop; the result is the same merge order. */
#define SCAN_MAX 64

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}
static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

static void bpe_piece(const mm_tokenizer *t, enc_state *st, const uint8_t *s, size_t n, idvec *out) {
    if (n == 1) {
        push_id(out, t->byte_id[s[0]]);
        return;
    }
    uint32_t h = 0;
    cache_slot *slot = NULL;
    if (n <= CACHE_KEY) {
        h = (uint32_t)hash_bytes(s, n);
        slot = &st->cache[h & (CACHE_SLOTS - 1)];
        if (slot->len == n && slot->hash == h && !memcmp(slot->key, s, n)) {
            for (int i = 0; i < slot->nids; i++) push_id(out, slot->ids[i]);
            return;
        }
    }
    size_t start = out->n;
    if (t->ignore_merges) {
        /* only meaningful for vocab strings in the byte-level alphabet: map the bytes and look it up */
        char buf[4 * 64];
        if (n <= 64) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                k += (size_t)utf8proc_encode_char((utf8proc_int32_t)byte_to_cp[s[i]], (uint8_t *)buf + k);
            int32_t id = str_lookup(t, buf, k);
            if (id >= 0) {
                push_id(out, id);
                goto cache;
            }
        }
    }
    state_reserve(st, n);
    int32_t *sym = st->sym, *rk = st->rank;
    for (size_t i = 0; i < n; i++) sym[i] = t->byte_id[s[i]];
    if (n <= SCAN_MAX) {
        size_t m = n;
        for (size_t i = 0; i + 1 < m; i++) rk[i] = merge_rank(t, sym[i], sym[i + 1]);
        for (;;) {
            int32_t best = INT32_MAX;
            size_t bi = 0;
            for (size_t i = 0; i + 1 < m; i++)
                if (rk[i] >= 0 && rk[i] < best) best = rk[i], bi = i;
            if (best == INT32_MAX) break;
            sym[bi] = t->merge_result[best];
            /* plain loops: the arrays are short, and a libc memmove call costs more than the copy */
            for (size_t j = bi + 1; j + 1 < m; j++) sym[j] = sym[j + 1];
            for (size_t j = bi; j + 2 < m; j++) rk[j] = rk[j + 1];
            m--;
            if (bi > 0) rk[bi - 1] = merge_rank(t, sym[bi - 1], sym[bi]);
            if (bi + 1 < m) rk[bi] = merge_rank(t, sym[bi], sym[bi + 1]);
        }
        for (size_t i = 0; i < m; i++) push_id(out, sym[i]);
    } else {
        int32_t *pv = st->prev, *nx = st->nxt;
        uint64_t *hp = st->heap;
        size_t hn = 0;
        for (size_t i = 0; i < n; i++) {
            pv[i] = (int32_t)i - 1;
            nx[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        }
        for (size_t i = 0; i + 1 < n; i++) {
            int32_t r = merge_rank(t, sym[i], sym[i + 1]);
            if (r >= 0) heap_push(hp, &hn, (uint64_t)r << 32 | i);
        }
        while (hn) {
            uint64_t e = heap_pop(hp, &hn);
            int32_t r = (int32_t)(e >> 32), i = (int32_t)(uint32_t)e;
            if (sym[i] < 0 || nx[i] < 0) continue;            /* left symbol gone or now last */
            int32_t j = nx[i];
            if (merge_rank(t, sym[i], sym[j]) != r) continue;  /* the pair at i changed since the push */
            sym[i] = t->merge_result[r];
            sym[j] = -1;
            nx[i] = nx[j];
            if (nx[j] >= 0) pv[nx[j]] = i;
            if (pv[i] >= 0) {
                int32_t q = merge_rank(t, sym[pv[i]], sym[i]);
                if (q >= 0) heap_push(hp, &hn, (uint64_t)q << 32 | (uint32_t)pv[i]);
            }
            if (nx[i] >= 0) {
                int32_t q = merge_rank(t, sym[i], sym[nx[i]]);
                if (q >= 0) heap_push(hp, &hn, (uint64_t)q << 32 | (uint32_t)i);
            }
        }
        for (int32_t i = 0; i >= 0; i = nx[i]) push_id(out, sym[i]);
    }
cache:
    if (slot && out->n - start <= CACHE_IDS) {
        slot->hash = h;
        slot->len = (uint8_t)n;
        slot->nids = (uint8_t)(out->n - start);
        memcpy(slot->key, s, n);
        memcpy(slot->ids, out->ids + start, slot->nids * sizeof(int32_t));
    }
}

/* --- the pre-tokenizer pipeline: step k splits a piece and hands each part to step k+1; after the last
 * step the part goes to BPE. Recursion instead of piece lists keeps memory bounded on long inputs. */
typedef struct {
    const mm_tokenizer *t;
    enc_state *st;
    idvec *out;
    int parse_special;
    void (*piece)(void *ud, const char *s, size_t n); /* set: pieces go here instead of to BPE (mm_tokenizer_pieces) */
    void *ud;
    const uint8_t *base;            /* the whole input: plain ranges are offsets into it */
    const size_t (*plain)[2];       /* ranges where special tokens are text (mm_tok_opts) */
    int n_plain;
    size_t max;                     /* > 0: stop once the ids would pass this many */
    int over;                       /* they did: stop everything */
} enc_ctx;

/* 1 if [a, b) of the input overlaps a plain range. */
static int in_plain(const enc_ctx *c, size_t a, size_t b) {
    for (int i = 0; i < c->n_plain; i++)
        if (c->plain[i][0] < b && a < c->plain[i][1]) return 1;
    return 0;
}

static void run_steps(enc_ctx *c, int k, const uint8_t *s, size_t n);

/* Calls fn for each segment of s (matches and gaps, in order) of regex re. */
static void split_regex(enc_ctx *c, int k, regex_t *re, int behavior, int invert, const uint8_t *s, size_t n) {
    const UChar *end = s + n;
    size_t pos = 0, prev = 0;
    /* pending segment for the merging behaviours */
    size_t pend_a = 0, pend_b = 0;
    int have_pend = 0, pend_match = 0;
#define EMIT(a, b) run_steps(c, k + 1, s + (a), (b) - (a))
#define SEGMENT(a, b, is_match)                                                                           \
    do {                                                                                                  \
        size_t A_ = (a), B_ = (b);                                                                        \
        int M_ = (is_match) ^ invert;                                                                     \
        switch (behavior) {                                                                               \
        case MM_SPLIT_REMOVED:                                                                            \
            if (!M_) EMIT(A_, B_);                                                                        \
            break;                                                                                        \
        case MM_SPLIT_ISOLATED: EMIT(A_, B_); break;                                                      \
        case MM_SPLIT_MERGED_PREV: /* a match joins the segment before it */                              \
            if (M_ && have_pend) pend_b = B_;                                                             \
            else {                                                                                        \
                if (have_pend) EMIT(pend_a, pend_b);                                                      \
                pend_a = A_, pend_b = B_, have_pend = 1;                                                  \
            }                                                                                             \
            break;                                                                                        \
        case MM_SPLIT_MERGED_NEXT: /* a match joins the segment after it */                               \
            if (have_pend && pend_match) pend_b = B_, pend_match = M_;                                    \
            else {                                                                                        \
                if (have_pend) EMIT(pend_a, pend_b);                                                      \
                pend_a = A_, pend_b = B_, have_pend = 1, pend_match = M_;                                 \
            }                                                                                             \
            break;                                                                                        \
        default: /* contiguous: runs of matches join */                                                   \
            if (have_pend && pend_match && M_) pend_b = B_;                                               \
            else {                                                                                        \
                if (have_pend) EMIT(pend_a, pend_b);                                                      \
                pend_a = A_, pend_b = B_, have_pend = 1, pend_match = M_;                                 \
            }                                                                                             \
        }                                                                                                 \
    } while (0)
    while (pos < n && !c->over) {
        size_t ms, me;
        /* Matches usually tile the text, so try an anchored match at pos first; it is the same match a
         * search would find when one starts at pos. */
        int r = onig_match(re, s, end, s + pos, NULL, ONIG_OPTION_NONE);
        if (r >= 0) {
            ms = pos;
            me = pos + (size_t)r;
        } else {
            int at = onig_search(re, s, end, s + pos, end, c->st->region, ONIG_OPTION_NONE);
            if (at < 0) break;
            ms = (size_t)at;
            me = (size_t)c->st->region->end[0];
        }
        if (me == ms) { /* empty match: no segment; step one character on */
            size_t step = 1;
            while (ms + step < n && (s[ms + step] & 0xc0) == 0x80) step++;
            pos = ms + step;
            continue;
        }
        if (ms > prev) SEGMENT(prev, ms, 0);
        SEGMENT(ms, me, 1);
        prev = pos = me;
    }
    if (prev < n) SEGMENT(prev, n, 0);
    if (have_pend) EMIT(pend_a, pend_b);
#undef SEGMENT
#undef EMIT
}

static void run_steps(enc_ctx *c, int k, const uint8_t *s, size_t n) {
    if (!n || c->over) return;
    if (k == c->t->n_steps) {
        if (c->piece) {
            c->piece(c->ud, (const char *)s, n);
            return;
        }
        /* a piece of n bytes gives at least n / max_tok_bytes ids: do not spend BPE on one that cannot fit */
        if (c->max && c->out->n + (n + c->t->max_tok_bytes - 1) / c->t->max_tok_bytes > c->max) {
            c->over = 1;
            return;
        }
        bpe_piece(c->t, c->st, s, n, c->out);
        if (c->max && c->out->n > c->max) c->over = 1;
        return;
    }
    const pretok_step *p = &c->t->steps[k];
    if (p->type == MM_PRETOK_SPLIT) {
        split_regex(c, k, p->re, p->behavior, p->invert, s, n);
        return;
    }
    /* ByteLevel: the byte mapping itself happens in BPE; here only the optional prefix space and regex */
    uint8_t *tmp = NULL;
    if (p->add_prefix_space && s[0] != ' ') {
        tmp = mm_xmalloc(n + 1);
        tmp[0] = ' ';
        memcpy(tmp + 1, s, n);
        s = tmp;
        n++;
    }
    if (p->use_regex) split_regex(c, k, p->re, MM_SPLIT_ISOLATED, 0, s, n);
    else run_steps(c, k + 1, s, n);
    free(tmp);
}

/* --- NFC. Splitting before an ASCII byte never changes NFC (ASCII characters are starters that are never
 * the second half of a composition), so ASCII runs are copied as they are and only the non-ASCII runs,
 * with the ASCII character before them, are looked at. Runs whose characters have no decomposition, no
 * combining class and take no part in compositions are also left alone without calling utf8proc. */
static int cp_inert(utf8proc_int32_t cp) {
    if ((cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0xac00 && cp <= 0xd7a3)) return 0; /* Hangul composes */
    const utf8proc_property_t *pr = utf8proc_get_property(cp);
    return pr->combining_class == 0 && pr->decomp_seqindex == UINT16_MAX && pr->comb_index == UINT16_MAX &&
           !pr->comp_exclusion;
}

static void nbuf_append(enc_state *st, const void *p, size_t n) {
    if (!n) return;
    if (st->nbuf_len + n > st->nbuf_cap) {
        st->nbuf_cap = (st->nbuf_len + n) * 2 + 64;
        st->nbuf = mm_xrealloc(st->nbuf, st->nbuf_cap);
    }
    memcpy(st->nbuf + st->nbuf_len, p, n);
    st->nbuf_len += n;
}

/* Returns the NFC form of s: s itself when nothing changes, else st->nbuf. */
static const uint8_t *nfc_gap(enc_state *st, const uint8_t *s, size_t n, size_t *out_n) {
    size_t i = 0, copied = 0;
    int changed = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t cs = i > 0 ? i - 1 : i, e = i;
        int inert = 1;
        while (e < n && s[e] >= 0x80) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate(s + e, (utf8proc_ssize_t)(n - e), &cp);
            if (k <= 0) k = 1; /* cannot happen: input was validated */
            if (inert && !cp_inert(cp)) inert = 0;
            e += (size_t)k;
        }
        if (!inert) {
            utf8proc_uint8_t *res = NULL;
            utf8proc_ssize_t rl = utf8proc_map(s + cs, (utf8proc_ssize_t)(e - cs), &res,
                                               UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (rl >= 0 && ((size_t)rl != e - cs || memcmp(res, s + cs, e - cs))) {
                if (!changed) st->nbuf_len = 0, changed = 1;
                nbuf_append(st, s + copied, cs - copied);
                nbuf_append(st, res, (size_t)rl);
                copied = e;
            }
            free(res);
        }
        i = e;
    }
    if (!changed) {
        *out_n = n;
        return s;
    }
    nbuf_append(st, s + copied, n - copied);
    *out_n = st->nbuf_len;
    return st->nbuf;
}

/* --- added tokens: leftmost-longest match of tokens with normalized == want_norm, then the reference's
 * single_word / lstrip / rstrip adjustments. Calls gap() for text between matches. */
static int is_word_char(const uint8_t *s, size_t n, int last) {
    /* the first (or last) character of s is alphanumeric or '_' */
    if (!n) return 0;
    size_t i = 0;
    if (last) {
        i = n - 1;
        while (i > 0 && (s[i] & 0xc0) == 0x80) i--;
    }
    utf8proc_int32_t cp;
    if (utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp) <= 0) return 0;
    if (cp == '_') return 1;
    utf8proc_category_t cat = utf8proc_category(cp);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}
static int is_space_cp(utf8proc_int32_t cp) { /* Rust char::is_whitespace (White_Space property) */
    return (cp >= 9 && cp <= 13) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

typedef void (*gap_fn)(enc_ctx *c, const uint8_t *s, size_t n);

static void split_added(enc_ctx *c, const uint8_t *s, size_t n, int want_norm, int parse_special, gap_fn gap) {
    const mm_tokenizer *t = c->t;
    uint8_t bit = want_norm ? 2 : 1;
    size_t from = 0, done = 0; /* search position; text before `done` is emitted */
    if (!t->n_added) {
        gap(c, s, n);
        return;
    }
    while (from < n && !c->over) {
        size_t i = from;
        const added_tok *m = NULL;
        for (; i < n; i++) {
            if (!(t->added_first[s[i]] & bit)) continue;
            for (int a = 0; a < t->n_added; a++) {
                const added_tok *x = &t->added[a];
                if (x->normalized != want_norm || x->len > n - i || x->content[0] != (char)s[i]) continue;
                if (!memcmp(x->content, s + i, x->len)) {
                    m = x;
                    break;
                }
            }
            if (m) break;
        }
        if (!m) break;
        size_t ms = i, me = i + m->len;
        from = me;
        if (m->special && (!parse_special || (!want_norm && in_plain(c, (size_t)(s + ms - c->base), (size_t)(s + me - c->base)))))
            continue;
        if (ms < done) continue; /* inside text an earlier rstrip took */
        if (m->single_word && (is_word_char(s, ms, 1) || is_word_char(s + me, n - me, 0))) continue;
        if (m->lstrip) {
            size_t ns = ms;
            while (ns > done) {
                size_t q = ns - 1;
                while (q > done && (s[q] & 0xc0) == 0x80) q--;
                utf8proc_int32_t cp;
                if (utf8proc_iterate(s + q, (utf8proc_ssize_t)(ns - q), &cp) <= 0 || !is_space_cp(cp)) break;
                ns = q;
            }
            ms = ns;
        }
        if (m->rstrip) {
            while (me < n) {
                utf8proc_int32_t cp;
                utf8proc_ssize_t k = utf8proc_iterate(s + me, (utf8proc_ssize_t)(n - me), &cp);
                if (k <= 0 || !is_space_cp(cp)) break;
                me += (size_t)k;
            }
        }
        if (ms > done) gap(c, s + done, ms - done);
        push_id(c->out, m->id);
        if (c->max && c->out->n > c->max) c->over = 1;
        done = me;
        if (from < me) from = me;
    }
    if (done < n && !c->over) gap(c, s + done, n - done);
}

static void gap_pretok(enc_ctx *c, const uint8_t *s, size_t n) { run_steps(c, 0, s, n); }
static void gap_raw(enc_ctx *c, const uint8_t *s, size_t n) {
    size_t m = n;
    const uint8_t *g = c->t->nfc ? nfc_gap(c->st, s, n, &m) : s;
    /* g may live in st->nbuf; nothing below normalizes again, so it stays valid for this gap. Offsets in g are
     * not offsets of the input, so a gap that touches a plain range parses no special normalized token. */
    split_added(c, g, m, 1, c->parse_special && !in_plain(c, (size_t)(s - c->base), (size_t)(s - c->base) + n), gap_pretok);
}

/* Strict UTF-8 validation (no surrogates, no overlongs, ≤ U+10FFFF). Returns the offset of the first bad
 * byte, or n. */
static size_t utf8_valid_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return i;
        i += (size_t)k;
    }
    return n;
}

/* 0, or -2 if the ids passed o->max_tokens (encoding stopped there). */
static int encode_into(const mm_tokenizer *t, const uint8_t *s, size_t len, const mm_tok_opts *o, idvec *out) {
    enc_state *st = state_get(t);
    enc_ctx c = {.t = t, .st = st, .out = out, .parse_special = o->parse_special, .base = s, .plain = o->plain,
                 .n_plain = o->n_plain, .max = o->max_tokens > 0 ? (size_t)o->max_tokens : 0};
    split_added(&c, s, len, 0, o->parse_special, gap_raw);
    state_put(t, st);
    return c.over ? -2 : 0;
}

int mm_tokenizer_pieces(const mm_tokenizer *t, const char *text, size_t len,
                        void (*fn)(void *ud, const char *s, size_t n), void *ud) {
    size_t bad = utf8_valid_prefix((const uint8_t *)text, len);
    if (bad < len) {
        mm_set_error("tokenizer: input is not valid UTF-8 at byte %zu", bad);
        return -1;
    }
    enc_state *st = state_get(t);
    enc_ctx c = {.t = t, .st = st, .piece = fn, .ud = ud};
    split_added(&c, (const uint8_t *)text, len, 0, 0, gap_raw);
    state_put(t, st);
    return 0;
}

int mm_tokenizer_encode(const mm_tokenizer *t, const char *text, size_t len, int parse_special, int32_t **ids) {
    return mm_tokenizer_encode_opts(t, text, len, &(mm_tok_opts){.parse_special = parse_special}, ids);
}

size_t mm_tokenizer_max_token_bytes(const mm_tokenizer *t) { return t->max_tok_bytes; }

int mm_tokenizer_encode_opts(const mm_tokenizer *t, const char *text, size_t len, const mm_tok_opts *o, int32_t **ids) {
    *ids = NULL;
    size_t bad = utf8_valid_prefix((const uint8_t *)text, len);
    if (bad < len) {
        mm_set_error("tokenizer encode: input is not valid UTF-8 at byte %zu", bad);
        return -1;
    }
    if (len > (size_t)INT32_MAX) {
        mm_set_error("tokenizer encode: input of %zu bytes is too long", len);
        return -1;
    }
    idvec v = {0};
    v.cap = len / 3 + 16; /* ~4 bytes per token on typical text: usually no regrowth */
    if (o->max_tokens > 0 && v.cap > (size_t)o->max_tokens + 1) v.cap = (size_t)o->max_tokens + 1;
    v.ids = mm_xmalloc(v.cap * sizeof(int32_t));
    if (encode_into(t, (const uint8_t *)text, len, o, &v) < 0) {
        free(v.ids);
        mm_set_error("tokenizer encode: the text has more than %d tokens", o->max_tokens);
        return -2;
    }
    *ids = v.ids;
    return (int)v.n;
}

int mm_tokenizer_encode_parallel(const mm_tokenizer *t, const char *text, size_t len, int parse_special,
                                 int32_t **ids, int nthreads) {
    int nt = 1;
#ifdef _OPENMP
    nt = nthreads > 0 ? nthreads : omp_get_max_threads();
#endif
    if (nt <= 1 || !t->parallel_ok || len < (1u << 16)) return mm_tokenizer_encode(t, text, len, parse_special, ids);
    *ids = NULL;
    size_t bad = utf8_valid_prefix((const uint8_t *)text, len);
    if (bad < len) {
        mm_set_error("tokenizer encode: input is not valid UTF-8 at byte %zu", bad);
        return -1;
    }
    /* Parts of ~len/(4*nt) bytes, each ending just after a '\n' that is followed by an ASCII letter or digit:
     * no regex match, added token (none contains '\n') or NFC composition crosses such a point. */
    size_t nparts_max = (size_t)nt * 4, target = len / nparts_max + 1;
    size_t *cut = mm_xmalloc(sizeof(size_t) * (nparts_max + 2));
    size_t np = 0;
    cut[np++] = 0;
    for (size_t p = target; p < len && np <= nparts_max;) {
        const char *q = memchr(text + p, '\n', len - p);
        while (q && (size_t)(q - text) + 1 < len) {
            unsigned char nx = (unsigned char)q[1];
            if ((nx >= 'a' && nx <= 'z') || (nx >= 'A' && nx <= 'Z') || (nx >= '0' && nx <= '9')) break;
            q = memchr(q + 1, '\n', len - (size_t)(q + 1 - text));
        }
        if (!q || (size_t)(q - text) + 1 >= len) break;
        cut[np++] = (size_t)(q - text) + 1;
        p = cut[np - 1] + target;
    }
    cut[np] = len;
    idvec *parts = mm_xcalloc(np, sizeof(idvec));
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (size_t i = 0; i < np; i++)
        encode_into(t, (const uint8_t *)text + cut[i], cut[i + 1] - cut[i], &(mm_tok_opts){.parse_special = parse_special}, &parts[i]);
    size_t total = 0;
    for (size_t i = 0; i < np; i++) total += parts[i].n;
    int32_t *all = mm_xmalloc(sizeof(int32_t) * (total ? total : 1));
    size_t o = 0;
    for (size_t i = 0; i < np; i++) {
        if (parts[i].n) memcpy(all + o, parts[i].ids, parts[i].n * sizeof(int32_t));
        o += parts[i].n;
        free(parts[i].ids);
    }
    free(parts);
    free(cut);
    *ids = all;
    return (int)total;
}

/* ================================================================ 4. decoding */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;
static void sb_put(sbuf *b, const void *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = mm_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* Appends the lossy UTF-8 reading of s to b; with hold, an incomplete tail is not consumed. Returns the
 * number of bytes consumed. */
static size_t lossy_append(sbuf *b, const uint8_t *s, size_t n, int hold) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] < 0x80) j++;
        if (j > i) sb_put(b, s + i, j - i), i = j;
        if (i >= n) break;
        int k = mm_utf8_seq(s + i, n - i);
        if (k > 0) {
            sb_put(b, s + i, (size_t)k);
            i += (size_t)k;
        } else if (k == 0) {
            if (hold) return i;
            sb_put(b, "\xef\xbf\xbd", 3);
            i = n;
        } else {
            sb_put(b, "\xef\xbf\xbd", 3);
            i += (size_t)-k;
        }
    }
    return i;
}

static int id_skipped(const mm_tokenizer *t, int32_t id, int skip_special) {
    if (id < 0 || id >= t->n_ids || !(t->flags[id] & TOK_PRESENT)) return 1;
    return skip_special && (t->flags[id] & TOK_SPECIAL);
}

char *mm_tokenizer_decode(const mm_tokenizer *t, const int32_t *ids, size_t n, int skip_special) {
    return mm_tokenizer_decode_n(t, ids, n, skip_special, NULL);
}

char *mm_tokenizer_decode_n(const mm_tokenizer *t, const int32_t *ids, size_t n, int skip_special, size_t *len) {
    sbuf raw = {0}, out = {0};
    for (size_t i = 0; i < n; i++) {
        if (id_skipped(t, ids[i], skip_special)) continue;
        sb_put(&raw, t->byte_arena + t->byte_off[ids[i]], t->byte_off[ids[i] + 1] - t->byte_off[ids[i]]);
    }
    lossy_append(&out, (const uint8_t *)raw.p, raw.n, 0);
    free(raw.p);
    if (!out.p) out.p = mm_xmalloc(1);
    out.p[out.n] = 0;
    if (len) *len = out.n;
    return out.p;
}

struct mm_detok {
    const mm_tokenizer *t;
    int skip_special;
    uint8_t held[8];
    size_t nheld;
    sbuf out;
    uint8_t *work;
    size_t wcap;
};

mm_detok *mm_detok_new(const mm_tokenizer *t, int skip_special) {
    mm_detok *d = mm_xcalloc(1, sizeof *d);
    d->t = t;
    d->skip_special = skip_special;
    return d;
}

const char *mm_detok_push(mm_detok *d, int32_t id, size_t *len) {
    d->out.n = 0;
    if (!id_skipped(d->t, id, d->skip_special)) {
        const uint8_t *p = d->t->byte_arena + d->t->byte_off[id];
        size_t n = d->t->byte_off[id + 1] - d->t->byte_off[id];
        if (d->nheld + n > d->wcap) {
            d->wcap = (d->nheld + n) * 2;
            d->work = mm_xrealloc(d->work, d->wcap);
        }
        memcpy(d->work, d->held, d->nheld);
        memcpy(d->work + d->nheld, p, n);
        size_t total = d->nheld + n;
        size_t used = lossy_append(&d->out, d->work, total, 1);
        d->nheld = total - used; /* at most 3 bytes: an incomplete character */
        memcpy(d->held, d->work + used, d->nheld);
    }
    if (!d->out.p) sb_put(&d->out, "", 0);
    d->out.p[d->out.n] = 0;
    if (len) *len = d->out.n;
    return d->out.p;
}

const char *mm_detok_flush(mm_detok *d, size_t *len) {
    d->out.n = 0;
    lossy_append(&d->out, d->held, d->nheld, 0);
    d->nheld = 0;
    if (!d->out.p) sb_put(&d->out, "", 0);
    d->out.p[d->out.n] = 0;
    if (len) *len = d->out.n;
    return d->out.p;
}

void mm_detok_free(mm_detok *d) {
    if (!d) return;
    free(d->out.p);
    free(d->work);
    free(d);
}

/* ---------------------------------------------------------------- lookups */

int32_t mm_tokenizer_token_id(const mm_tokenizer *t, const char *token) {
    size_t n = strlen(token);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && !memcmp(t->added[i].content, token, n)) return t->added[i].id;
    return str_lookup(t, token, n);
}
const char *mm_tokenizer_token_str(const mm_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_ids || t->str_off[id] == UINT32_MAX) return NULL;
    return t->str_arena + t->str_off[id];
}
int mm_tokenizer_is_special(const mm_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && (t->flags[id] & TOK_SPECIAL) != 0;
}
const uint8_t *mm_tokenizer_token_bytes(const mm_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_ids || !(t->flags[id] & TOK_PRESENT)) return NULL;
    *len = t->byte_off[id + 1] - t->byte_off[id];
    return t->byte_arena + t->byte_off[id];
}
int32_t mm_tokenizer_n_ids(const mm_tokenizer *t) { return t->n_ids; }

void mm_tokenizer_free(mm_tokenizer *t) {
    if (!t) return;
    while (t->pool) {
        enc_state *s = t->pool;
        t->pool = s->next;
        state_free(s);
    }
    pthread_mutex_destroy(&t->pool_lock);
    for (int i = 0; i < t->n_steps; i++)
        if (t->steps && t->steps[i].re) onig_free(t->steps[i].re);
    free(t->steps);
    if (t->added)
        for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t->flags);
    free(t->str_arena);
    free(t->str_off);
    free(t->byte_arena);
    free(t->byte_off);
    free(t->str_hash);
    free(t->merges);
    free(t->merge_result);
    free(t);
}

/* ================================================================ 5. tokenizer.json */

static int jbool(json_t *o, const char *key, int def) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Escapes a literal Split pattern ({"String": ...}) for Oniguruma. */
static char *regex_escape(const char *s) {
    size_t n = strlen(s);
    char *o = mm_xmalloc(2 * n + 1), *q = o;
    for (; *s; s++) {
        if (strchr("\\^$.|?*+()[]{}-", *s)) *q++ = '\\';
        *q++ = *s;
    }
    *q = 0;
    return o;
}

/* One pre-tokenizer object → steps (a Sequence appends its children). Strings it allocates go to owned[]. */
static int parse_pretok(json_t *pt, const char *src, const char *where, mm_tok_pretok *steps, int *n,
                        char **owned, int *nowned) {
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type) {
        mm_set_error("%s: %s: missing \"type\"", src, where);
        return -1;
    }
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(pt, "pretokenizers");
        if (!json_is_array(arr)) {
            mm_set_error("%s: %s: Sequence without a \"pretokenizers\" array", src, where);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char w[160];
            snprintf(w, sizeof w, "%s.pretokenizers[%zu]", where, i);
            if (parse_pretok(json_array_get(arr, i), src, w, steps, n, owned, nowned)) return -1;
        }
        return 0;
    }
    if (*n >= 16) {
        mm_set_error("%s: %s: too many pre-tokenizer steps", src, where);
        return -1;
    }
    mm_tok_pretok *s = &steps[*n];
    memset(s, 0, sizeof *s);
    if (!strcmp(type, "ByteLevel")) {
        s->type = MM_PRETOK_BYTELEVEL;
        s->add_prefix_space = jbool(pt, "add_prefix_space", 1);
        s->use_regex = jbool(pt, "use_regex", 1);
    } else if (!strcmp(type, "Split")) {
        s->type = MM_PRETOK_SPLIT;
        json_t *pat = json_object_get(pt, "pattern");
        const char *re = json_string_value(json_object_get(pat, "Regex"));
        const char *lit = json_string_value(json_object_get(pat, "String"));
        if (re) s->regex = re;
        else if (lit) s->regex = owned[(*nowned)++] = regex_escape(lit);
        else {
            mm_set_error("%s: %s.pattern: expected {\"Regex\": ...} or {\"String\": ...}", src, where);
            return -1;
        }
        const char *b = json_string_value(json_object_get(pt, "behavior"));
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        s->behavior = -1;
        for (int i = 0; b && i < 5; i++)
            if (!strcmp(b, names[i])) s->behavior = i;
        if (s->behavior < 0) {
            mm_set_error("%s: %s.behavior: unsupported value '%s'", src, where, b ? b : "(missing)");
            return -1;
        }
        s->invert = jbool(pt, "invert", 0);
    } else {
        mm_set_error("%s: %s: unsupported pre_tokenizer type '%s' (supported: Sequence, Split, ByteLevel)", src,
                     where, type);
        return -1;
    }
    (*n)++;
    return 0;
}

static int parse_normalizer(json_t *nz, const char *src, const char *where, int *nfc) {
    if (!nz || json_is_null(nz)) return 0;
    const char *type = json_string_value(json_object_get(nz, "type"));
    if (type && !strcmp(type, "NFC")) {
        *nfc = 1;
        return 0;
    }
    if (type && !strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(nz, "normalizers");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char w[160];
            snprintf(w, sizeof w, "%s.normalizers[%zu]", where, i);
            if (parse_normalizer(json_array_get(arr, i), src, w, nfc)) return -1;
        }
        return 0;
    }
    mm_set_error("%s: %s: unsupported normalizer type '%s' (supported: NFC, Sequence, null)", src, where,
                 type ? type : "(missing)");
    return -1;
}

mm_tokenizer *mm_tokenizer_load(const char *path) {
    char file[4096];
    struct stat stbuf;
    if (stat(path, &stbuf) != 0) {
        mm_set_error("tokenizer: cannot open '%s'", path);
        return NULL;
    }
    if (S_ISDIR(stbuf.st_mode)) snprintf(file, sizeof file, "%s/tokenizer.json", path);
    else snprintf(file, sizeof file, "%s", path);
    json_error_t jerr;
    json_t *root = json_load_file(file, 0, &jerr);
    if (!root) {
        mm_set_error("%s: not valid JSON (line %d, column %d: %s)", file, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    mm_tokenizer *t = NULL;
    mm_tok_parts p = {0};
    mm_tok_pretok steps[16];
    char *owned[16];
    int nowned = 0;
    mm_tok_added *added = NULL;
    const char **vocab = NULL, **ml = NULL, **mr = NULL;
    char *mbuf = NULL;
    p.source = file;
    p.pretok = steps;

    if (!json_is_object(root)) {
        mm_set_error("%s: top level is not a JSON object", file);
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        mm_set_error("%s: missing \"model\" object", file);
        goto done;
    }
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (mtype && strcmp(mtype, "BPE")) {
        mm_set_error("%s: model.type '%s' is not supported (only BPE)", file, mtype);
        goto done;
    }
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout)) {
        mm_set_error("%s: model.dropout must be null (BPE dropout is not supported)", file);
        goto done;
    }
    if (jbool(model, "byte_fallback", 0)) {
        mm_set_error("%s: model.byte_fallback = true is not supported", file);
        goto done;
    }
    const char *cs = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *ew = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((cs && *cs) || (ew && *ew)) {
        mm_set_error("%s: model.continuing_subword_prefix / end_of_word_suffix are not supported", file);
        goto done;
    }
    p.ignore_merges = jbool(model, "ignore_merges", 0);

    json_t *jv = json_object_get(model, "vocab");
    if (!json_is_object(jv)) {
        mm_set_error("%s: missing model.vocab object", file);
        goto done;
    }
    int32_t nv = 0;
    const char *key;
    json_t *val;
    json_object_foreach(jv, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id > 100000000) {
            mm_set_error("%s: model.vocab[\"%s\"]: id must be an integer in [0, 1e8]", file, key);
            goto done;
        }
        if (id >= nv) nv = (int32_t)id + 1;
    }
    if (!ids_dense((int64_t)nv - 1, (int64_t)json_object_size(jv))) {   /* before allocating nv slots */
        mm_set_error("%s: model.vocab: id %d with only %zu entries: ids must be dense (at most 2 x entries + 1024)", file, nv - 1,
                     json_object_size(jv));
        goto done;
    }
    vocab = mm_xcalloc((size_t)(nv ? nv : 1), sizeof *vocab);
    json_object_foreach(jv, key, val) vocab[json_integer_value(val)] = key;
    p.n_vocab = nv;
    p.vocab = vocab;

    json_t *jm = json_object_get(model, "merges");
    if (!json_is_array(jm)) {
        mm_set_error("%s: missing model.merges array", file);
        goto done;
    }
    size_t nm = json_array_size(jm);
    ml = mm_xmalloc(sizeof *ml * (nm ? nm : 1));
    mr = mm_xmalloc(sizeof *mr * (nm ? nm : 1));
    size_t mlen = 0;
    for (size_t i = 0; i < nm; i++) {
        json_t *m = json_array_get(jm, i);
        if (json_is_string(m)) mlen += json_string_length(m) + 1;
    }
    mbuf = mm_xmalloc(mlen + 1);
    size_t mo = 0;
    for (size_t i = 0; i < nm; i++) {
        json_t *m = json_array_get(jm, i);
        if (json_is_string(m)) { /* "left right": exactly one space */
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ') || sp == s || !sp[1]) {
                mm_set_error("%s: model.merges[%zu]: expected \"left right\", got \"%s\"", file, i, s);
                goto done;
            }
            memcpy(mbuf + mo, s, strlen(s) + 1);
            mbuf[mo + (size_t)(sp - s)] = 0;
            ml[i] = mbuf + mo;
            mr[i] = mbuf + mo + (size_t)(sp - s) + 1;
            mo += strlen(s) + 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            ml[i] = json_string_value(json_array_get(m, 0));
            mr[i] = json_string_value(json_array_get(m, 1));
        } else {
            mm_set_error("%s: model.merges[%zu]: expected a \"left right\" string or a [left, right] pair", file, i);
            goto done;
        }
    }
    p.n_merges = (int32_t)nm;
    p.merge_left = ml;
    p.merge_right = mr;

    json_t *ja = json_object_get(root, "added_tokens");
    if (ja && !json_is_null(ja) && !json_is_array(ja)) {
        mm_set_error("%s: added_tokens is not an array", file);
        goto done;
    }
    size_t na = json_array_size(ja);
    added = mm_xcalloc(na ? na : 1, sizeof *added);
    for (size_t i = 0; i < na; i++) {
        json_t *a = json_array_get(ja, i);
        json_t *id = json_object_get(a, "id");
        const char *content = json_string_value(json_object_get(a, "content"));
        if (!json_is_integer(id) || !content) {
            mm_set_error("%s: added_tokens[%zu]: needs an integer \"id\" and a string \"content\"", file, i);
            goto done;
        }
        added[i] = (mm_tok_added){content, (int32_t)json_integer_value(id), jbool(a, "special", 0),
                                  jbool(a, "normalized", 1), jbool(a, "lstrip", 0), jbool(a, "rstrip", 0),
                                  jbool(a, "single_word", 0)};
    }
    p.n_added = (int)na;
    p.added = added;

    if (parse_normalizer(json_object_get(root, "normalizer"), file, "normalizer", &p.nfc)) goto done;
    json_t *pt = json_object_get(root, "pre_tokenizer");
    if (!pt || json_is_null(pt)) {
        mm_set_error("%s: pre_tokenizer is null (a ByteLevel pre-tokenizer is required)", file);
        goto done;
    }
    if (parse_pretok(pt, file, "pre_tokenizer", steps, &p.n_pretok, owned, &nowned)) goto done;
    json_t *dec = json_object_get(root, "decoder");
    const char *dtype = json_string_value(json_object_get(dec, "type"));
    if (!dtype || strcmp(dtype, "ByteLevel")) {
        mm_set_error("%s: decoder type '%s' is not supported (only ByteLevel)", file, dtype ? dtype : "null");
        goto done;
    }
    json_t *post = json_object_get(root, "post_processor");
    const char *ptype = json_string_value(json_object_get(post, "type"));
    if (post && !json_is_null(post) && (!ptype || strcmp(ptype, "ByteLevel"))) {
        /* ByteLevel post-processing only trims offsets; anything else would add tokens we do not add */
        mm_set_error("%s: post_processor type '%s' is not supported (only null or ByteLevel)", file,
                     ptype ? ptype : "(missing)");
        goto done;
    }
    t = mm_tokenizer_from_parts(&p);
done:
    json_decref(root);
    for (int i = 0; i < nowned; i++) free(owned[i]);
    free(added);
    free(vocab);
    free(ml);
    free(mr);
    free(mbuf);
    return t;
}
