/* mm_gmatch.c — the grammar recogniser and the token masks of constrained sampling (see mm_grammar.h).
 *
 * A parse stack is a list of element positions, bottom first; its top is where the next character must match
 * (a GE_CHR or GE_CLS element) — the expansion step pushes rule references down to such tops — and an empty
 * stack means the input so far is complete. Stacks are hash-consed nodes (top position, the stack below), so a
 * stack is one id, pushing and popping cost O(1) and the stacks of a state share their bottoms: a step costs
 * the number of stacks, not their total depth (an ambiguous grammar, or deep nesting, made that quadratic).
 * A state is the ascending, duplicate-free set of stack ids, interned: its id is an index into `st`, its stack
 * ids lie in `words`. step(state, code point) is cached by
 * (state, code point), so walking the vocabulary trie costs one hash lookup per trie node once the states of
 * a generation are known. Code points arrive as UTF-8 bytes; a character split across tokens is carried as a
 * partial sequence, and a token ending inside a character is allowed when some completion of it could match
 * (llama.cpp's rule). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mm_common.h"
#include "text/mm_grammar_int.h"

#define MAX_STACKS 4096          /* distinct parse stacks in one state */
#define MAX_EXPAND_DEPTH 20000   /* rule references expanded without reading a character */
#define MAX_EMIT (64u * MAX_STACKS)  /* stacks one step emits, duplicates included */
#define MAX_WORDS (8u << 20)     /* interned state words (32 MiB) before the cache is rebuilt around the current state */
#define MAX_NODES (4u << 20)     /* stack nodes (32 MiB, and their table) before the same */
#define MAX_STATES (1u << 20)    /* interned states (24 MiB, and the transition cache) before the same */

typedef struct {
    int32_t pos;                 /* the top element */
    int32_t parent;              /* the stack below it (0: the empty stack) */
} gnode;

typedef struct {
    uint32_t off, len;           /* words[off .. off+len): the state's stack ids, ascending */
    uint8_t accepting, more;     /* has the empty stack; has a non-empty one */
    uint64_t hash;
} gstate;

typedef struct {
    uint32_t val;                /* bits of the character so far */
    int8_t rem, len;             /* continuation bytes still missing; the sequence's length (0: none open) */
} u8st;

struct mm_gmatch {
    const mm_grammar *g;
    int32_t *words;
    size_t n_words, cap_words;
    gstate *st;
    int n_st, cap_st;
    int32_t *itab;               /* intern table: state ids, -1 empty */
    uint32_t imask;
    uint64_t *tkey;              /* transition cache: key (state << 21 | cp) + 1, 0 empty */
    int32_t *tval;
    uint32_t tmask, tn;
    gnode *node;                 /* [n_node] every stack, hash-consed: (top, below) names it; node 0 is empty */
    uint32_t *seen;              /* [n_node] the stamp of the last intern_sw that met it */
    uint32_t *xseen;             /* [n_node] the generation of the last expansion of it */
    uint32_t xgen;               /* expansion generation: one per step */
    size_t n_node, cap_node;
    int32_t *ntab;               /* node table: ids by (pos, parent), -1 empty */
    uint32_t nmask, stamp;
    int32_t *sw;                 /* stack ids being built, duplicates included */
    size_t n_sw, cap_sw;
    int failed;                  /* the last step hit a limit (message set) */
    int cur;                     /* current state */
    u8st u;                      /* pending partial character */
    uint8_t *ok;                 /* mask scratch [cap_ok] */
    int cap_ok;
};

struct mm_gvocab {
    int n_vocab;
    int32_t eos;
    int n_nodes;
    int32_t *child, *sib, *tok;  /* [n_nodes]: first child, next sibling (bytes ascending), first token ending here */
    uint8_t *byte;               /* [n_nodes] the byte leading into the node (node 0: the root) */
    int32_t *tnext;              /* [n_vocab] next token with the same bytes, -1 */
    uint8_t *bytes;              /* every token's bytes, owned: token t is bytes[off[t] .. off[t+1]) (empty: never matches) */
    size_t *off;                 /* [n_vocab + 1] */
};

static const uint8_t *vtok(const mm_gvocab *v, int32_t t, size_t *len) {
    *len = v->off[t + 1] - v->off[t];
    return v->bytes + v->off[t];
}

/* ---------------------------------------------------------------- UTF-8, one byte at a time */
/* The code points a partial sequence can still become, [*lo, *hi]; 0 if none. */
static int u8_range(const u8st *u, uint32_t *lo, uint32_t *hi) {
    uint32_t l = u->val << (6 * u->rem), h = l | ((1u << (6 * u->rem)) - 1);
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (l < min[u->len]) l = min[u->len];
    if (h > 0x10FFFF) h = 0x10FFFF;
    if (l >= 0xD800 && l <= 0xDFFF) l = 0xE000;
    if (h >= 0xD800 && h <= 0xDFFF) h = 0xD7FF;
    *lo = l;
    *hi = h;
    return l <= h;
}

/* -1 invalid, 0 partial, 1 complete (*cp). */
static int u8_step(u8st *u, uint8_t b, uint32_t *cp) {
    uint32_t lo, hi;
    if (!u->rem) {
        if (b < 0x80) {
            *cp = b;
            return 1;
        }
        if (b >= 0xC2 && b <= 0xDF) *u = (u8st){b & 0x1Fu, 1, 2};
        else if (b >= 0xE0 && b <= 0xEF) *u = (u8st){b & 0x0Fu, 2, 3};
        else if (b >= 0xF0 && b <= 0xF4) *u = (u8st){b & 0x07u, 3, 4};
        else return -1;
        return u8_range(u, &lo, &hi) ? 0 : -1;
    }
    if ((b & 0xC0) != 0x80) return -1;
    u->val = u->val << 6 | (b & 0x3Fu);
    if (--u->rem) return u8_range(u, &lo, &hi) ? 0 : -1;
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t c = u->val;
    int len = u->len;
    *u = (u8st){0, 0, 0};
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return -1;
    *cp = c;
    return 1;
}

/* ---------------------------------------------------------------- stacks */
/* Stack node id for (top pos, the stack below); created if new. Node 0 is the empty stack. */
static int32_t push(mm_gmatch *m, int32_t parent, int32_t pos) {
    const uint64_t key = (uint64_t)(uint32_t)pos << 32 | (uint32_t)parent;
    uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->nmask;
    for (int32_t i; (i = m->ntab[h]) >= 0; h = (h + 1) & m->nmask)
        if (m->node[i].pos == pos && m->node[i].parent == parent) return i;
    if (m->n_node == m->cap_node) {
        m->cap_node *= 2;
        m->node = mm_xrealloc(m->node, sizeof(gnode) * m->cap_node);
        m->seen = mm_xrealloc(m->seen, sizeof(uint32_t) * m->cap_node);
        m->xseen = mm_xrealloc(m->xseen, sizeof(uint32_t) * m->cap_node);
    }
    const int32_t id = (int32_t)m->n_node++;
    m->node[id] = (gnode){pos, parent};
    m->seen[id] = m->xseen[id] = 0;
    m->ntab[h] = id;
    if (m->n_node * 2 > (size_t)m->nmask) {   /* keep the table at most half full */
        const uint32_t cap = (m->nmask + 1) * 2;
        free(m->ntab);
        m->ntab = mm_xmalloc(sizeof(int32_t) * cap);
        memset(m->ntab, 0xff, sizeof(int32_t) * cap);
        m->nmask = cap - 1;
        for (size_t i = 1; i < m->n_node; i++) {
            const uint64_t k = (uint64_t)(uint32_t)m->node[i].pos << 32 | (uint32_t)m->node[i].parent;
            uint32_t j = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & m->nmask;
            while (m->ntab[j] >= 0) j = (j + 1) & m->nmask;
            m->ntab[j] = (int32_t)i;
        }
    }
    return id;
}

/* An empty node store: the empty stack only. */
static void nodes_reset(mm_gmatch *m) {
    if (!m->node) {
        m->cap_node = 1024;
        m->node = mm_xmalloc(sizeof(gnode) * m->cap_node);
        m->seen = mm_xmalloc(sizeof(uint32_t) * m->cap_node);
        m->xseen = mm_xmalloc(sizeof(uint32_t) * m->cap_node);
    }
    free(m->ntab);
    m->ntab = mm_xmalloc(sizeof(int32_t) * 2048);
    memset(m->ntab, 0xff, sizeof(int32_t) * 2048);
    m->nmask = 2047;
    m->node[0] = (gnode){-1, -1};
    m->seen[0] = m->xseen[0] = 0;
    m->n_node = 1;
    m->stamp = m->xgen = 0;
}

/* ---------------------------------------------------------------- building states */
static inline int is_end(const mm_grammar *G, int32_t p) { return G->el[p].type == GE_END || G->el[p].type == GE_ALT; }

static int gfail(mm_gmatch *m, const char *msg) {
    if (!m->failed) mm_set_error("grammar: %s", msg);
    m->failed = 1;
    return -1;
}

static void emit(mm_gmatch *m, int32_t id) {
    if (m->n_sw == m->cap_sw) m->sw = mm_xrealloc(m->sw, sizeof(int32_t) * (m->cap_sw = m->cap_sw * 2 + 256));
    m->sw[m->n_sw++] = id;
}

/* Starts an expansion generation: what expand() emitted before may be emitted again. */
static void expand_begin(mm_gmatch *m) {
    m->n_sw = 0;
    if (++m->xgen == 0) {   /* wrapped: clear the marks */
        memset(m->xseen, 0, sizeof(uint32_t) * m->n_node);
        m->xgen = 1;
    }
}

/* Expands stack id until every resulting stack's top is a character element (or it is empty), appending
 * them to sw. A rule reference on top is replaced by what follows it and, above that, each alternative's first
 * element; the stacks share everything below, so each expansion costs O(1) whatever the depth. What a stack
 * expands to depends on the stack alone, so a stack already expanded in this generation is skipped: its stacks
 * are in sw (an ambiguous grammar reaches the same stacks along many paths: the empty alternatives of nested
 * repetitions pop down through every level below). */
static int expand(mm_gmatch *m, int32_t id, int depth) {
    const mm_grammar *G = m->g;
    if (depth > MAX_EXPAND_DEPTH) return gfail(m, "rule references nest too deeply without reading a character");
    if (m->n_sw > MAX_EMIT) return gfail(m, "the grammar is too ambiguous (too many parse stacks)");
    if (m->xseen[id] == m->xgen) return 0;
    m->xseen[id] = m->xgen;
    const int32_t top = m->node[id].pos;
    if (id == 0 || G->el[top].type != GE_REF) {
        emit(m, id);
        return 0;
    }
    const int r = G->el[top].v;
    int32_t base = m->node[id].parent;
    if (!is_end(G, top + 1)) base = push(m, base, top + 1);
    int rc = 0;
    for (int a = G->alt_off[r]; a < G->alt_off[r + 1] && !rc; a++) {
        const int32_t s = G->alts[a];
        rc = expand(m, is_end(G, s) ? base : push(m, base, s), depth + 1);
    }
    return rc;
}

static int cmp_id(const void *x, const void *y) {
    const int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

static void intern_grow(mm_gmatch *m) {
    uint32_t cap = m->itab ? (m->imask + 1) * 2 : 1024;
    free(m->itab);
    m->itab = mm_xmalloc(sizeof(int32_t) * cap);
    memset(m->itab, 0xff, sizeof(int32_t) * cap);
    m->imask = cap - 1;
    for (int i = 0; i < m->n_st; i++) {
        uint32_t h = (uint32_t)m->st[i].hash & m->imask;
        while (m->itab[h] >= 0) h = (h + 1) & m->imask;
        m->itab[h] = i;
    }
}

/* The stacks in sw as one interned state: their ids, duplicates dropped, sorted. -1 when sw is empty (a dead
 * end) or the state has too many stacks. */
static int intern_sw(mm_gmatch *m) {
    if (m->failed) return -1;
    if (!m->n_sw) return -1;
    if (++m->stamp == 0) {   /* the stamps wrapped: clear them */
        memset(m->seen, 0, sizeof(uint32_t) * m->n_node);
        m->stamp = 1;
    }
    size_t u = 0;
    for (size_t i = 0; i < m->n_sw; i++) {
        const int32_t id = m->sw[i];
        if (m->seen[id] == m->stamp) continue;
        m->seen[id] = m->stamp;
        m->sw[u++] = id;
    }
    if (u > MAX_STACKS) {
        gfail(m, "the grammar is too ambiguous (over 4096 parse stacks at one point)");
        return -1;
    }
    qsort(m->sw, u, sizeof(int32_t), cmp_id);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < u; i++) h = (h ^ (uint32_t)m->sw[i]) * 1099511628211ull;
    h ^= h >> 29;
    if (!m->itab || (uint32_t)m->n_st * 2 >= m->imask) intern_grow(m);
    uint32_t slot = (uint32_t)h & m->imask;
    for (; m->itab[slot] >= 0; slot = (slot + 1) & m->imask) {
        const gstate *s = &m->st[m->itab[slot]];
        if (s->hash == h && s->len == u && !memcmp(m->words + s->off, m->sw, sizeof(int32_t) * u)) return m->itab[slot];
    }
    if (m->n_words + u > m->cap_words) m->words = mm_xrealloc(m->words, sizeof(int32_t) * (m->cap_words = (m->n_words + u) * 2 + 1024));
    if (m->n_st == m->cap_st) m->st = mm_xrealloc(m->st, sizeof(gstate) * (size_t)(m->cap_st = m->cap_st ? m->cap_st * 2 : 64));
    gstate *s = &m->st[m->n_st];
    *s = (gstate){.off = (uint32_t)m->n_words, .len = (uint32_t)u, .hash = h};
    memcpy(m->words + m->n_words, m->sw, sizeof(int32_t) * u);
    m->n_words += u;
    s->accepting = m->sw[0] == 0;   /* sorted: the empty stack, id 0, comes first */
    s->more = u > 1 || m->sw[0] != 0;
    m->itab[slot] = m->n_st;
    return m->n_st++;
}

/* ---------------------------------------------------------------- transitions */
static int32_t tcache_get(const mm_gmatch *m, uint64_t key, int *hit) {
    *hit = 0;
    if (!m->tkey) return -1;
    for (uint32_t h = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & m->tmask; m->tkey[h]; h = (h + 1) & m->tmask)
        if (m->tkey[h] == key) {
            *hit = 1;
            return m->tval[h];
        }
    return -1;
}

static void tcache_put(mm_gmatch *m, uint64_t key, int32_t val) {
    if (!m->tkey || m->tn * 2 >= m->tmask) {
        uint32_t cap = m->tkey ? (m->tmask + 1) * 2 : 4096;
        uint64_t *ok = m->tkey;
        int32_t *ov = m->tval;
        uint32_t omask = m->tmask;
        m->tkey = mm_xcalloc(cap, sizeof(uint64_t));
        m->tval = mm_xmalloc(sizeof(int32_t) * cap);
        m->tmask = cap - 1;
        m->tn = 0;
        if (ok) {
            for (uint32_t i = 0; i <= omask; i++)
                if (ok[i]) tcache_put(m, ok[i], ov[i]);
            free(ok);
            free(ov);
        }
    }
    uint32_t h = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & m->tmask;
    while (m->tkey[h]) h = (h + 1) & m->tmask;
    m->tkey[h] = key;
    m->tval[h] = val;
    m->tn++;
}

static int top_matches(const mm_grammar *G, int32_t pos, uint32_t c) {
    const mm_gelem e = G->el[pos];
    return e.type == GE_CHR ? (uint32_t)e.v == c : mm_gclass_match(&G->cls[e.v], c);
}

/* The state after code point c from state sid, or -1 (no stack can take it, or a limit was hit). */
static int step(mm_gmatch *m, int sid, uint32_t c) {
    if (sid < 0) return -1;
    const uint64_t key = ((uint64_t)sid << 21 | c) + 1;
    int hit;
    int32_t v = tcache_get(m, key, &hit);
    if (hit) return v;
    const mm_grammar *G = m->g;
    expand_begin(m);
    const gstate s = m->st[sid];
    for (uint32_t i = 0; i < s.len && !m->failed; i++) {
        const int32_t id = m->words[s.off + i];
        const int32_t top = m->node[id].pos;
        if (id == 0 || !top_matches(G, top, c)) continue;
        const int32_t below = m->node[id].parent;
        expand(m, is_end(G, top + 1) ? below : push(m, below, top + 1), 0);
    }
    v = intern_sw(m);
    if (!m->failed) tcache_put(m, key, v);
    return v;
}

/* Some stack of sid could take a character the partial sequence u completes to. */
static int plausible(const mm_gmatch *m, int sid, const u8st *u) {
    uint32_t lo, hi;
    if (sid < 0 || !u8_range(u, &lo, &hi)) return 0;
    const mm_grammar *G = m->g;
    const gstate *s = &m->st[sid];
    for (uint32_t i = 0; i < s->len; i++) {
        const int32_t id = m->words[s->off + i];
        if (!id) continue;
        const mm_gelem e = G->el[m->node[id].pos];
        if (e.type == GE_CHR ? (uint32_t)e.v >= lo && (uint32_t)e.v <= hi : mm_gclass_match_range(&G->cls[e.v], lo, hi)) return 1;
    }
    return 0;
}

/* Runs bytes from (sid, u); the resulting state, or -1. */
static int run_bytes(mm_gmatch *m, int sid, u8st *u, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n && sid >= 0; i++) {
        uint32_t c;
        int r = u8_step(u, b[i], &c);
        if (r < 0) return -1;
        if (r == 1) sid = step(m, sid, c);
    }
    if (sid >= 0 && u->rem && !plausible(m, sid, u)) return -1;
    return sid;
}

/* ---------------------------------------------------------------- matcher API */
static void reset_states(mm_gmatch *m) {
    m->n_words = 0;
    m->n_st = 0;
    free(m->itab);
    m->itab = NULL;
    free(m->tkey);
    free(m->tval);
    m->tkey = NULL;
    m->tval = NULL;
    m->tn = 0;
}

mm_gmatch *mm_gmatch_new(const mm_grammar *g) {
    mm_gmatch *m = mm_xcalloc(1, sizeof *m);
    m->g = g;
    nodes_reset(m);
    expand_begin(m);
    for (int a = g->alt_off[g->root]; a < g->alt_off[g->root + 1] && !m->failed; a++) {
        const int32_t s = g->alts[a];
        expand(m, is_end(g, s) ? 0 : push(m, 0, s), 0);
    }
    m->cur = intern_sw(m);
    if (m->cur < 0) {
        if (!m->failed) mm_set_error("grammar: the root rule matches nothing");
        mm_gmatch_free(m);
        return NULL;
    }
    return m;
}

void mm_gmatch_free(mm_gmatch *m) {
    if (!m) return;
    free(m->words);
    free(m->st);
    free(m->itab);
    free(m->tkey);
    free(m->tval);
    free(m->sw);
    free(m->node);
    free(m->seen);
    free(m->xseen);
    free(m->ntab);
    free(m->ok);
    free(m);
}

/* Keeps memory bounded over long generations: drop every interned state but the current one, and every stack
 * node it does not reach. A node's parent is older than the node, so renumbering in id order re-creates each
 * parent before its children. */
static void maybe_compact(mm_gmatch *m) {
    if (m->n_words < MAX_WORDS && m->n_node < MAX_NODES && (uint32_t)m->n_st < MAX_STATES) return;
    const gstate s = m->st[m->cur];
    const size_t n_old = m->n_node;
    gnode *old = mm_xmalloc(sizeof(gnode) * n_old);
    memcpy(old, m->node, sizeof(gnode) * n_old);
    int32_t *map = mm_xmalloc(sizeof(int32_t) * n_old);   /* old id -> new id; -1 unreached, -2 reached */
    memset(map, 0xff, sizeof(int32_t) * n_old);
    map[0] = 0;
    for (uint32_t i = 0; i < s.len; i++)
        for (int32_t id = m->words[s.off + i]; id > 0 && map[id] == -1; id = old[id].parent) map[id] = -2;
    if (s.len > m->cap_sw) m->sw = mm_xrealloc(m->sw, sizeof(int32_t) * (m->cap_sw = s.len));
    memcpy(m->sw, m->words + s.off, sizeof(int32_t) * s.len);
    m->n_sw = s.len;
    reset_states(m);
    nodes_reset(m);
    for (size_t id = 1; id < n_old; id++)
        if (map[id] == -2) map[id] = push(m, map[old[id].parent], old[id].pos);
    for (size_t i = 0; i < m->n_sw; i++) m->sw[i] = map[m->sw[i]];
    free(map);
    free(old);
    m->cur = intern_sw(m);
}

int mm_gmatch_accept_bytes(mm_gmatch *m, const char *s, size_t n) {
    u8st u = m->u;
    m->failed = 0;
    int sid = run_bytes(m, m->cur, &u, (const uint8_t *)s, n);
    if (sid < 0) {
        if (!m->failed) mm_set_error("grammar: the text does not continue the grammar");
        return -1;
    }
    m->cur = sid;
    m->u = u;
    maybe_compact(m);
    return 0;
}

int mm_gmatch_complete(const mm_gmatch *m) { return !m->u.rem && m->st[m->cur].accepting; }
int mm_gmatch_can_continue(const mm_gmatch *m) { return m->u.rem || m->st[m->cur].more; }

/* ---------------------------------------------------------------- the vocabulary trie */
static _Thread_local const mm_gvocab *g_vtok;
static int cmp_tok_bytes(const void *x, const void *y) {
    size_t la, lb;
    const uint8_t *a = vtok(g_vtok, *(const int32_t *)x, &la);
    const uint8_t *b = vtok(g_vtok, *(const int32_t *)y, &lb);
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return *(const int32_t *)x < *(const int32_t *)y ? -1 : 1;
}

static const uint8_t *tokenizer_bytes(void *ctx, int32_t t, size_t *len) {
    const mm_tokenizer *tok = ctx;
    return mm_tokenizer_is_special(tok, t) ? NULL : mm_tokenizer_token_bytes(tok, t, len);
}

mm_gvocab *mm_gvocab_new(const mm_tokenizer *tok, int n_vocab, int32_t eos) {
    return mm_gvocab_new_fn(tokenizer_bytes, (void *)tok, n_vocab, eos);
}

mm_gvocab *mm_gvocab_new_fn(mm_gtoken_fn token, void *ctx, int n_vocab, int32_t eos) {
    mm_gvocab *v = mm_xcalloc(1, sizeof *v);
    v->n_vocab = n_vocab;
    v->eos = eos;
    v->tnext = mm_xmalloc(sizeof(int32_t) * (size_t)(n_vocab > 0 ? n_vocab : 1));
    v->off = mm_xcalloc((size_t)(n_vocab > 0 ? n_vocab : 0) + 1, sizeof(size_t));
    int32_t *ids = mm_xmalloc(sizeof(int32_t) * (size_t)(n_vocab > 0 ? n_vocab : 1));
    int n = 0;
    size_t total = 1, cap = 4096;
    v->bytes = mm_xmalloc(cap);
    for (int32_t t = 0; t < n_vocab; t++) {   /* the bytes of every token that can match, copied */
        size_t len = 0;
        const uint8_t *b = t == eos ? NULL : token(ctx, t, &len);
        v->tnext[t] = -1;
        if (!b) len = 0;
        if (v->off[t] + len > cap) v->bytes = mm_xrealloc(v->bytes, cap = (v->off[t] + len) * 2 + 4096);
        if (len) memcpy(v->bytes + v->off[t], b, len);
        v->off[t + 1] = v->off[t] + len;
        if (!len) continue;
        ids[n++] = t;
        total += len;
    }
    /* the static comparator base is set for this one sort */
    g_vtok = v;
    qsort(ids, (size_t)n, sizeof(int32_t), cmp_tok_bytes);
    v->child = mm_xmalloc(sizeof(int32_t) * total);
    v->sib = mm_xmalloc(sizeof(int32_t) * total);
    v->tok = mm_xmalloc(sizeof(int32_t) * total);
    v->byte = mm_xmalloc(total);
    int32_t *last = mm_xmalloc(sizeof(int32_t) * total);   /* last child of each node while building */
    int nn = 1;
    v->child[0] = v->sib[0] = v->tok[0] = last[0] = -1;
    v->byte[0] = 0;
    /* the path of the previous token: path[d] = node after d bytes */
    size_t path_cap = 64;
    int32_t *path = mm_xmalloc(sizeof(int32_t) * path_cap);
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    path[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        const uint8_t *b = vtok(v, ids[i], &len);
        size_t common = 0;
        while (prev && common < len && common < prev_len && b[common] == prev[common]) common++;
        if (len + 1 > path_cap) path = mm_xrealloc(path, sizeof(int32_t) * (path_cap = (len + 1) * 2));
        for (size_t d = common; d < len; d++) {
            int32_t parent = path[d], c = nn++;
            v->child[c] = v->sib[c] = v->tok[c] = last[c] = -1;
            v->byte[c] = b[d];
            if (last[parent] < 0) v->child[parent] = c;
            else v->sib[last[parent]] = c;
            last[parent] = c;
            path[d + 1] = c;
        }
        int32_t node = path[len];
        if (v->tok[node] < 0) {
            v->tok[node] = ids[i];
        } else {   /* the same bytes as an earlier id: chain it */
            int32_t t = v->tok[node];
            while (v->tnext[t] >= 0) t = v->tnext[t];
            v->tnext[t] = ids[i];
        }
        prev = b;
        prev_len = len;
    }
    v->n_nodes = nn;
    free(path);
    free(last);
    free(ids);
    return v;
}

void mm_gvocab_free(mm_gvocab *v) {
    if (!v) return;
    free(v->child);
    free(v->sib);
    free(v->tok);
    free(v->byte);
    free(v->tnext);
    free(v->bytes);
    free(v->off);
    free(v);
}

/* ---------------------------------------------------------------- masks */
static void walk(mm_gmatch *m, const mm_gvocab *v, int node, int sid, u8st u, uint8_t *ok) {
    for (int32_t c = v->child[node]; c >= 0; c = v->sib[c]) {
        u8st u2 = u;
        uint32_t cp;
        int r = u8_step(&u2, v->byte[c], &cp);
        if (r < 0) continue;
        int s2 = sid;
        if (r == 1) {
            if ((s2 = step(m, sid, cp)) < 0) continue;
        } else if (!plausible(m, sid, &u2)) {
            continue;
        }
        for (int32_t t = v->tok[c]; t >= 0; t = v->tnext[t]) ok[t] = 1;
        if (v->child[c] >= 0) walk(m, v, c, s2, u2, ok);
    }
}

int mm_gmatch_allows(mm_gmatch *m, const mm_gvocab *v, int32_t t) {
    if (t < 0 || t >= v->n_vocab) return 0;
    if (t == v->eos) return mm_gmatch_complete(m);
    m->failed = 0;
    size_t len;
    const uint8_t *b;
    if (!(b = vtok(v, t, &len)) || !len) return 0;
    u8st u = m->u;
    return run_bytes(m, m->cur, &u, b, len) >= 0;
}

int mm_gmatch_mask(mm_gmatch *m, const mm_gvocab *v, float *logits, int n_vocab) {
    if (n_vocab > m->cap_ok) m->ok = mm_xrealloc(m->ok, (size_t)(m->cap_ok = n_vocab));
    memset(m->ok, 0, (size_t)n_vocab);
    m->failed = 0;
    walk(m, v, 0, m->cur, m->u, m->ok);
    if (v->eos >= 0 && v->eos < n_vocab && mm_gmatch_complete(m)) m->ok[v->eos] = 1;
    int n = 0;
    for (int t = 0; t < n_vocab; t++) {
        if (t >= v->n_vocab || !m->ok[t]) logits[t] = -INFINITY;
        else n++;
    }
    return n;
}

int mm_gmatch_accept_token(mm_gmatch *m, const mm_gvocab *v, int32_t t) {
    if (t >= 0 && t == v->eos) {
        if (mm_gmatch_complete(m)) return 0;
        mm_set_error("grammar: the end token came before the grammar was complete");
        return -1;
    }
    size_t len;
    const uint8_t *b = t >= 0 && t < v->n_vocab ? vtok(v, t, &len) : NULL;
    if (!b || !len) {
        mm_set_error("grammar: token %d has no text the grammar could accept", t);
        return -1;
    }
    return mm_gmatch_accept_bytes(m, (const char *)b, len);
}

/* ---------------------------------------------------------------- the sampler's constraint */
static int bind_allows(void *ctx, int32_t t) {
    mm_gbind *b = ctx;
    return mm_gmatch_allows(b->m, b->v, t);
}
static int bind_mask(void *ctx, float *logits, int n) {
    mm_gbind *b = ctx;
    return mm_gmatch_mask(b->m, b->v, logits, n);
}
mm_sampler_constraint mm_gbind_constraint(mm_gbind *b) {
    return (mm_sampler_constraint){.ctx = b, .allows = bind_allows, .mask = bind_mask};
}
