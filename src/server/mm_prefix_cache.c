/* mm_prefix_cache.c — LRU cache of sequence states keyed by exact token prefixes (see mm_prefix_cache.h).
 *
 * Entries live in an array; recency is a monotonically increasing stamp, so eviction scans for the
 * smallest stamp. The server keeps at most a few hundred entries (each holds a full lightning state), so
 * linear scans cost nothing next to one forward pass. A 64-bit hash of the key speeds up exact-match tests. */
#include <stdlib.h>
#include <string.h>

#include "base/mm_common.h"
#include "server/mm_prefix_cache.h"

typedef struct {
    int32_t *ids;     /* [n] the key */
    int n;
    uint64_t hash;    /* of ids[0..n) */
    void *state;
    size_t bytes;
    uint64_t stamp;   /* last use */
} mm_pentry;

struct mm_prefix_cache {
    mm_pentry *e;
    int n, cap;
    size_t bytes, budget;
    uint64_t clock;
    int64_t evictions;
    void (*free_state)(void *);
};

static uint64_t hash_ids(const int32_t *ids, int n) {
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a over the 32-bit ids */
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)ids[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

mm_prefix_cache *mm_pcache_new(size_t budget, void (*free_state)(void *)) {
    mm_prefix_cache *pc = mm_xcalloc(1, sizeof *pc);
    pc->budget = budget;
    pc->free_state = free_state;
    return pc;
}

static void drop(mm_prefix_cache *pc, int i) {
    mm_pentry *x = &pc->e[i];
    pc->bytes -= x->bytes;
    if (pc->free_state) pc->free_state(x->state);
    free(x->ids);
    pc->e[i] = pc->e[--pc->n];
}

void mm_pcache_free(mm_prefix_cache *pc) {
    if (!pc) return;
    while (pc->n) drop(pc, pc->n - 1);
    free(pc->e);
    free(pc);
}

static int find_exact(const mm_prefix_cache *pc, const int32_t *ids, int n, uint64_t h) {
    for (int i = 0; i < pc->n; i++) {
        const mm_pentry *x = &pc->e[i];
        if (x->n == n && x->hash == h && !memcmp(x->ids, ids, sizeof(int32_t) * (size_t)n)) return i;
    }
    return -1;
}

const void *mm_pcache_lookup(mm_prefix_cache *pc, const int32_t *ids, int n, int max_len, int *len) {
    int best = -1;
    if (max_len > n) max_len = n;
    for (int i = 0; i < pc->n; i++) {
        const mm_pentry *x = &pc->e[i];
        if (x->n > max_len || x->n == 0 || (best >= 0 && x->n <= pc->e[best].n)) continue;
        if (!memcmp(x->ids, ids, sizeof(int32_t) * (size_t)x->n)) best = i;
    }
    *len = best >= 0 ? pc->e[best].n : 0;
    if (best < 0) return NULL;
    pc->e[best].stamp = ++pc->clock;
    return pc->e[best].state;
}

int mm_pcache_contains(mm_prefix_cache *pc, const int32_t *ids, int n) {
    int i = find_exact(pc, ids, n, hash_ids(ids, n));
    if (i >= 0) pc->e[i].stamp = ++pc->clock;
    return i >= 0;
}

int mm_pcache_put(mm_prefix_cache *pc, const int32_t *ids, int n, void *state, size_t bytes) {
    uint64_t h = hash_ids(ids, n);
    if (n <= 0 || bytes > pc->budget || find_exact(pc, ids, n, h) >= 0) {
        if (pc->free_state) pc->free_state(state);
        return 0;
    }
    while (pc->n && pc->bytes + bytes > pc->budget) {
        int lru = 0;
        for (int i = 1; i < pc->n; i++)
            if (pc->e[i].stamp < pc->e[lru].stamp) lru = i;
        drop(pc, lru);
        pc->evictions++;
    }
    if (pc->n == pc->cap) pc->e = mm_xrealloc(pc->e, sizeof(mm_pentry) * (size_t)(pc->cap = pc->cap ? pc->cap * 2 : 16));
    mm_pentry *x = &pc->e[pc->n++];
    x->ids = mm_xmalloc(sizeof(int32_t) * (size_t)n);
    memcpy(x->ids, ids, sizeof(int32_t) * (size_t)n);
    x->n = n;
    x->hash = h;
    x->state = state;
    x->bytes = bytes;
    x->stamp = ++pc->clock;
    pc->bytes += bytes;
    return 1;
}

void mm_pcache_get_stats(const mm_prefix_cache *pc, mm_pcache_stats *st) {
    st->entries = pc->n;
    st->bytes = pc->bytes;
    st->budget = pc->budget;
    st->evictions = pc->evictions;
}
