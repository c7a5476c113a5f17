/* test_server_cache.c — the server's prefix cache: longest exact-prefix lookup, LRU eviction under the
 * byte budget, duplicates, oversized entries, shared parts (KV pages) counted once, and a real snapshot restored
 * through it. */
#include <stdlib.h>

#include "server/mm_prefix_cache.h"
#include "mm_test.h"
#include "minimax.h"

static int n_freed;
static void count_free(void *p) {
    n_freed++;
    free(p);
}
static void *state(int tag) {
    int *p = malloc(sizeof *p);
    *p = tag;
    return p;
}

/* Random puts of entries holding overlapping runs of a few dozen units (so units are added and removed often, and
 * slots of the unit map are vacated and reused): after each, the cache's byte count must equal a recount (own bytes
 * of the entries still held plus each distinct unit of theirs once) and stay within the budget. A slot vacated by a
 * key that moved back kept that key's holder count, and the next key placed there started from it: its bytes then
 * never left the count (the server's /metrics showed the cache over --cache-mb). */
static void random_shared(void) {
    static char pool[64];
    static const void *units[300][12];
    static int32_t keys[300][3];
    int n_units[300], bad = 0, puts = 0, stored = 0;
    uint64_t r = 0x853c49e6748fea9bull;
    for (int trial = 0; trial < 20 && !bad; trial++) {
        mm_prefix_cache *pc = mm_pcache_new(20 * 100 + 50, count_free);
        for (int step = 0; step < 300 && !bad; step++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const int n = 1 + (int)((r >> 60) % 12), base = (int)((r >> 40) % 48);
            for (int i = 0; i < n; i++) units[step][i] = pool + (base + i + (int)((r >> (3 * i)) & 1)) % 64;
            n_units[step] = n;
            keys[step][0] = trial, keys[step][1] = step, keys[step][2] = (int32_t)(r >> 33);
            puts++;
            stored += mm_pcache_put_shared(pc, keys[step], 3, state(step), 10, units[step], n, 100);
            mm_pcache_stats st;
            mm_pcache_get_stats(pc, &st);
            /* the recount: the entries still held (contains() only reorders recency, which the test does not use) */
            size_t want = 0;
            int held = 0, seen[64] = {0};
            for (int e = 0; e <= step; e++) {
                if (!mm_pcache_contains(pc, keys[e], 3)) continue;
                held++, want += 10;
                for (int i = 0; i < n_units[e]; i++) {
                    const int x = (int)((const char *)units[e][i] - pool);
                    if (!seen[x]) seen[x] = 1, want += 100;
                }
            }
            if (st.bytes != want || st.bytes > st.budget || st.entries != held) {
                CHECK(0, "trial %d step %d: the cache counts %zu bytes in %d entries, a recount %zu in %d (budget %zu)", trial, step,
                      st.bytes, st.entries, want, held, st.budget);
                bad = 1;
            }
        }
        mm_pcache_free(pc);
    }
    CHECK(!bad && stored > puts / 2, "random shared puts: the count equals a recount after each (%d of %d stored)", stored, puts);
}

int main(void) {
    int32_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[4] = {1, 2, 9, 9};
    mm_prefix_cache *pc = mm_pcache_new(300, count_free);
    int len = -1;
    CHECK(mm_pcache_lookup(pc, a, 8, 7, &len) == NULL && len == 0, "empty cache misses");
    CHECK(mm_pcache_put(pc, a, 2, state(2), 100) == 1, "put [1 2]");
    CHECK(mm_pcache_put(pc, a, 4, state(4), 100) == 1, "put [1 2 3 4]");
    CHECK(mm_pcache_put(pc, a, 4, state(44), 100) == 0 && n_freed == 1, "a duplicate key is refused and its state freed");
    const int *s = mm_pcache_lookup(pc, a, 8, 7, &len);
    CHECK(s && *s == 4 && len == 4, "longest prefix wins (got len %d)", len);
    s = mm_pcache_lookup(pc, a, 4, 3, &len);
    CHECK(s && *s == 2 && len == 2, "max_len excludes the whole prompt (got len %d)", len);
    s = mm_pcache_lookup(pc, b, 4, 3, &len);
    CHECK(s && *s == 2 && len == 2, "a diverging prompt uses the common cached prefix (got len %d)", len);
    int32_t c[3] = {7, 7, 7};
    CHECK(mm_pcache_lookup(pc, c, 3, 2, &len) == NULL && len == 0, "no common prefix: miss");
    CHECK(mm_pcache_contains(pc, a, 2) && !mm_pcache_contains(pc, a, 3), "contains is exact");

    /* LRU: [1 2] was used last (lookup of b), so adding two more evicts [1 2 3 4] first */
    mm_pcache_lookup(pc, b, 4, 3, &len);
    CHECK(mm_pcache_put(pc, a, 6, state(6), 100) == 1, "put [1..6] fits exactly (300)");
    CHECK(mm_pcache_put(pc, a, 8, state(8), 100) == 1, "put [1..8] evicts one");
    CHECK(!mm_pcache_contains(pc, a, 4) && mm_pcache_contains(pc, a, 2), "the least recently used entry went");
    mm_pcache_stats st;
    mm_pcache_get_stats(pc, &st);
    CHECK(st.entries == 3 && st.bytes == 300 && st.evictions == 1, "stats: %d entries, %zu bytes, %lld evictions", st.entries,
          st.bytes, (long long)st.evictions);
    CHECK(mm_pcache_put(pc, b, 3, state(3), 301) == 0, "an entry larger than the budget is refused");
    mm_pcache_free(pc);
    CHECK(n_freed == 6, "every state freed exactly once (%d)", n_freed);

    /* a budget of 0 caches nothing */
    pc = mm_pcache_new(0, count_free);
    CHECK(mm_pcache_put(pc, a, 2, state(1), 1) == 0, "budget 0 refuses");
    mm_pcache_free(pc);

    /* shared parts (KV pages) count once: entries of 10 own bytes + 100-byte units, the later ones holding the
     * earlier ones' units plus one more (a growing conversation), many units so the unit map grows and shifts */
    static char units[200];
    const void *u[200];
    for (int i = 0; i < 200; i++) u[i] = &units[i];
    n_freed = 0;
    pc = mm_pcache_new(100 + 100 * 150, count_free);
    for (int k = 1; k <= 8; k++) CHECK(mm_pcache_put_shared(pc, a, k, state(k), 10, u, 100 + k, 100) == 1, "put shared %d", k);
    mm_pcache_get_stats(pc, &st);
    CHECK(st.entries == 8 && st.bytes == 8 * 10 + 108 * 100 && st.evictions == 0, "8 entries sharing 100..108 units: %d entries, %zu bytes",
          st.entries, st.bytes);
    /* one holding units 100..199 makes 200 distinct, past the budget (150): the least recently used go, but the
     * shared units leave only with their last holder */
    CHECK(mm_pcache_put_shared(pc, b, 4, state(9), 10, u + 100, 100, 100) == 1, "put units 100..199");
    mm_pcache_get_stats(pc, &st);
    CHECK(st.entries == 1 && st.bytes == 10 + 100 * 100 && st.evictions == 8 && n_freed == 8,
          "after evicting the rest: %d entries, %zu bytes, %lld evictions", st.entries, st.bytes, (long long)st.evictions);
    CHECK(mm_pcache_put_shared(pc, a, 2, state(10), 10, u + 50, 100, 100) == 1, "put units 50..149");
    mm_pcache_get_stats(pc, &st);
    CHECK(st.entries == 2 && st.bytes == 20 + 150 * 100, "two overlapping by 50 units: %zu bytes", st.bytes);
    CHECK(mm_pcache_put_shared(pc, a, 3, state(11), 10, u, 160, 100) == 0 && n_freed == 9, "more units than the budget: refused");
    mm_pcache_free(pc);
    CHECK(n_freed == 11, "every shared state freed exactly once (%d)", n_freed);
    random_shared();

    /* with a real model: snapshot after 300 tokens, restore into another sequence, continue: same logits */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/golden/a_small_mixed", mmt_shared());
    mm_model *m = mm_model_load(dir, NULL);
    CHECK(m != NULL, "load %s: %s", dir, mm_last_error());
    if (m) {
        mm_context *ctx = mm_context_new(m, &(mm_context_params){.n_ctx = 512, .n_seq_max = 2});
        int32_t ids[301], seq[301] = {0};
        for (int i = 0; i < 301; i++) ids[i] = (i * 37 + 11) % 512;
        float *l1 = malloc(sizeof(float) * 512), *l2 = malloc(sizeof(float) * 512);
        mm_batch bt = {.n_tokens = 300, .token = ids, .seq = seq};
        mm_decode(ctx, &bt, l1);
        pc = mm_pcache_new(64 << 20, (void (*)(void *))mm_seq_state_free);
        mm_seq_state *snap = mm_seq_snapshot(ctx, 0);
        CHECK(mm_pcache_put(pc, ids, 300, snap, mm_seq_state_bytes(snap)) == 1, "store a real snapshot");
        int32_t one = ids[300], s0 = 0, s1 = 1;
        mm_batch b1 = {.n_tokens = 1, .token = &one, .seq = &s0};
        mm_decode(ctx, &b1, l1);
        const mm_seq_state *got = mm_pcache_lookup(pc, ids, 301, 300, &len);
        CHECK(got && len == 300 && mm_seq_restore(ctx, 1, got) == 0, "restore the cached prefix into sequence 1");
        mm_batch b2 = {.n_tokens = 1, .token = &one, .seq = &s1};
        mm_decode(ctx, &b2, l2);
        CHECK(!memcmp(l1, l2, sizeof(float) * 512), "continuing from the restored prefix gives identical logits");
        mm_pcache_free(pc);
        free(l1);
        free(l2);
        mm_context_free(ctx);
        mm_model_free(m);
    }
    return mmt_done();
}
