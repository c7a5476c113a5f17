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
    size_t bytes;     /* its own bytes */
    const void **units; /* [n_units] shared parts (counted in the unit map) */
    int n_units;
    size_t unit_bytes;
    uint64_t stamp;   /* last use */
} mm_pentry;

/* Shared parts held by entries, with how many entries hold each: open addressing, linear probing, a power-of-two
 * table at most half full. */
typedef struct {
    const void *key;
    int count;
} mm_punit;

struct mm_prefix_cache {
    mm_pentry *e;
    int n, cap;
    size_t bytes, budget;
    uint64_t clock;
    int64_t evictions;
    void (*free_state)(void *);
    mm_punit *u;
    size_t u_cap, u_n;
};

static size_t unit_home(const mm_prefix_cache *pc, const void *key) {
    return (size_t)(((uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ull) >> 20) & (pc->u_cap - 1);
}
static size_t unit_slot(const mm_prefix_cache *pc, const void *key) {
    size_t i = unit_home(pc, key);
    while (pc->u[i].key && pc->u[i].key != key) i = (i + 1) & (pc->u_cap - 1);
    return i;
}

/* One more holder of key; its bytes (b) join the count when it is new. */
static void unit_add(mm_prefix_cache *pc, const void *key, size_t b) {
    if (2 * (pc->u_n + 1) > pc->u_cap) { /* grow: rehash every key */
        mm_punit *old = pc->u;
        const size_t n = pc->u_cap;
        pc->u_cap = n ? 2 * n : 64;
        pc->u = mm_xcalloc(pc->u_cap, sizeof(mm_punit));
        for (size_t i = 0; i < n; i++)
            if (old[i].key) pc->u[unit_slot(pc, old[i].key)] = old[i];
        free(old);
    }
    mm_punit *x = &pc->u[unit_slot(pc, key)];
    if (!x->key) *x = (mm_punit){key, 0}, pc->u_n++, pc->bytes += b;
    x->count++;
}

/* One holder less; the last takes its bytes out of the count, and the keys after its slot move back over the hole
 * where their probe allows (no tombstones). */
static void unit_remove(mm_prefix_cache *pc, const void *key, size_t b) {
    if (!pc->u_cap) return;
    size_t i = unit_slot(pc, key);
    if (!pc->u[i].key || --pc->u[i].count > 0) return;
    pc->bytes -= b;
    pc->u_n--;
    pc->u[i] = (mm_punit){NULL, 0};   /* an empty slot holds no count: the next key there starts from 0 */
    for (size_t j = (i + 1) & (pc->u_cap - 1); pc->u[j].key; j = (j + 1) & (pc->u_cap - 1)) {
        const size_t h = unit_home(pc, pc->u[j].key);
        const int stays = i <= j ? h > i && h <= j : h > i || h <= j; /* its home lies cyclically in (i, j] */
        if (!stays) {
            pc->u[i] = pc->u[j];
            pc->u[j] = (mm_punit){NULL, 0};
            i = j;
        }
    }
}

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
    for (int j = 0; j < x->n_units; j++) unit_remove(pc, x->units[j], x->unit_bytes);
    free(x->units);
    if (pc->free_state) pc->free_state(x->state);
    free(x->ids);
    pc->e[i] = pc->e[--pc->n];
}

void mm_pcache_free(mm_prefix_cache *pc) {
    if (!pc) return;
    while (pc->n) drop(pc, pc->n - 1);
    free(pc->e);
    free(pc->u);
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
    return mm_pcache_put_shared(pc, ids, n, state, bytes, NULL, 0, 0);
}

int mm_pcache_put_shared(mm_prefix_cache *pc, const int32_t *ids, int n, void *state, size_t bytes, const void *const *units,
                         int n_units, size_t unit_bytes) {
    uint64_t h = hash_ids(ids, n);
    if (n <= 0 || bytes + (size_t)n_units * unit_bytes > pc->budget || find_exact(pc, ids, n, h) >= 0) {
        if (pc->free_state) pc->free_state(state);
        return 0;
    }
    /* stored first (its parts shared with others count once), then the least recently used others go until the
     * whole fits: evicting one that shares parts with it frees less than that one's size */
    if (pc->n == pc->cap) pc->e = mm_xrealloc(pc->e, sizeof(mm_pentry) * (size_t)(pc->cap = pc->cap ? pc->cap * 2 : 16));
    mm_pentry *x = &pc->e[pc->n++];
    x->ids = mm_xmalloc(sizeof(int32_t) * (size_t)n);
    memcpy(x->ids, ids, sizeof(int32_t) * (size_t)n);
    x->n = n;
    x->hash = h;
    x->state = state;
    x->bytes = bytes;
    x->stamp = ++pc->clock;
    x->n_units = n_units;
    x->unit_bytes = unit_bytes;
    x->units = n_units ? mm_xmalloc(sizeof(void *) * (size_t)n_units) : NULL;
    for (int j = 0; j < n_units; j++) unit_add(pc, x->units[j] = units[j], unit_bytes);
    pc->bytes += bytes;
    const uint64_t mine = x->stamp; /* the newest: never the least recently used */
    while (pc->n > 1 && pc->bytes > pc->budget) {
        int lru = -1;
        for (int i = 0; i < pc->n; i++)
            if (pc->e[i].stamp != mine && (lru < 0 || pc->e[i].stamp < pc->e[lru].stamp)) lru = i;
        drop(pc, lru);
        pc->evictions++;
    }
    return 1;
}

void mm_pcache_get_stats(const mm_prefix_cache *pc, mm_pcache_stats *st) {
    st->entries = pc->n;
    st->bytes = pc->bytes;
    st->budget = pc->budget;
    st->evictions = pc->evictions;
}
