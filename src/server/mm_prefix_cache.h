/* mm_prefix_cache.h — token-prefix → sequence-state cache for the server (LRU under a byte budget).
 *
 * An entry maps an exact token sequence ids[0..n) to an opaque saved state (an mm_seq_state in the server)
 * of the model after those n tokens. Because lightning-attention states cannot be rolled back, an entry is
 * usable for a new prompt only when its tokens are an exact prefix of that prompt; lookup returns the
 * longest such entry. Not thread-safe: the scheduler thread owns it. */
#ifndef MM_PREFIX_CACHE_H
#define MM_PREFIX_CACHE_H
#include <stddef.h>
#include <stdint.h>

typedef struct mm_prefix_cache mm_prefix_cache;

/* budget: bytes of state the cache may hold (0: caching off), parts shared by entries counted once
 * (mm_pcache_put_shared). free_state frees a stored state. */
mm_prefix_cache *mm_pcache_new(size_t budget, void (*free_state)(void *));
void mm_pcache_free(mm_prefix_cache *pc);

/* The longest entry with n_entry <= max_len whose tokens equal ids[0..n_entry). Returns its state (owned
 * by the cache; valid until the next put) and sets *len, or NULL (*len = 0). A hit becomes most recent. */
const void *mm_pcache_lookup(mm_prefix_cache *pc, const int32_t *ids, int n, int max_len, int *len);

/* 1 if an entry for exactly ids[0..n) exists (and marks it most recent). */
int mm_pcache_contains(mm_prefix_cache *pc, const int32_t *ids, int n);

/* Stores state (of `bytes` bytes) for ids[0..n), taking ownership. Evicts least-recently-used entries
 * until it fits. Returns 1 if stored; 0 if not (already present, or larger than the whole budget), in
 * which case the state has been freed. */
int mm_pcache_put(mm_prefix_cache *pc, const int32_t *ids, int n, void *state, size_t bytes);
/* The same for a state whose memory is its own `bytes` plus n_units parts it may share with other entries (the KV
 * pages of a snapshot: units[] their addresses, unit_bytes each). A part held by several entries counts once
 * against the budget, and its bytes leave the count with the last entry that holds it. */
int mm_pcache_put_shared(mm_prefix_cache *pc, const int32_t *ids, int n, void *state, size_t bytes, const void *const *units,
                         int n_units, size_t unit_bytes);

typedef struct {
    int entries;
    size_t bytes, budget;
    int64_t evictions;
} mm_pcache_stats;
void mm_pcache_get_stats(const mm_prefix_cache *pc, mm_pcache_stats *st);

#endif
