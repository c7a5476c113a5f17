/* test_pool.c — the compute pool (base/mm_pool.h): every index of a work-shared loop is run exactly once, by
 * any thread count, inside and outside a region, with nested loops run serially; barriers order the phases of
 * a region; a region started while another application thread holds the pool runs alone; thread counts change
 * between regions; many short regions in a row (the decode pattern) finish. */
#include <pthread.h>
#include <stdatomic.h>
#include "base/mm_pool.h"
#include "mm_test.h"

enum { N = 10007 };
static _Atomic int hits[N], bad_ith;

static void count_body(void *arg, int64_t i0, int64_t i1, int ith) {
    (void)arg;
    if (ith < 0 || ith >= mm_pool_nth()) atomic_fetch_add(&bad_ith, 1);
    for (int64_t i = i0; i < i1; i++) atomic_fetch_add(&hits[i], 1);
}

static int all_once(int times) {
    int bad = 0;
    for (int i = 0; i < N; i++) {
        bad += atomic_load(&hits[i]) != times;
        atomic_store(&hits[i], 0);
    }
    return bad;
}

/* A region of three phases: a loop, a barrier, a loop that reads what the first wrote, a nested loop. */
static _Atomic int phase_bad, nested_runs;
static int stage[64];
static void nested_body(void *arg, int64_t i0, int64_t i1, int ith) {
    (void)arg, (void)ith;
    atomic_fetch_add(&nested_runs, (int)(i1 - i0));
}
static void write_body(void *arg, int64_t i0, int64_t i1, int ith) {
    (void)arg, (void)ith;
    for (int64_t i = i0; i < i1; i++) stage[i] = (int)i + 1;
}
static void read_body(void *arg, int64_t i0, int64_t i1, int ith) {
    (void)arg, (void)ith;
    for (int64_t i = i0; i < i1; i++) {
        if (stage[63 - i] != 64 - (int)i) atomic_fetch_add(&phase_bad, 1);
        mm_parallel_for(5, 1, nested_body, NULL); /* from inside a body: serial on this thread */
    }
}
static void region(void *arg, int ith, int nth) {
    (void)arg;
    CHECK(mm_pool_ith() == ith && mm_pool_nth() == nth, "region ids %d/%d vs %d/%d", mm_pool_ith(), mm_pool_nth(), ith, nth);
    mm_parallel_for(64, 3, write_body, NULL);
    mm_pool_barrier();
    mm_parallel_for(64, 5, read_body, NULL);
    mm_parallel_for(N, 17, count_body, NULL);
}

/* Two loops, the second without its own closing barrier (the region's end closes it). */
static void region_last(void *arg, int ith, int nth) {
    (void)arg, (void)ith, (void)nth;
    mm_parallel_for(N, 33, count_body, NULL);
    mm_parallel_for_last(N, 7, count_body, NULL);
}

static void *other_thread(void *arg) {
    (void)arg;
    for (int k = 0; k < 200; k++) mm_parallel_for(N, 64, count_body, NULL);
    return NULL;
}

int main(void) {
    for (int nth = 1; nth <= 4; nth++) {
        mm_pool_set_threads(nth);
        CHECK(mm_pool_threads() == nth, "threads %d", mm_pool_threads());
        for (int chunk = 1; chunk <= 5000; chunk *= 7) mm_parallel_for(N, chunk, count_body, NULL);
        CHECK(all_once(5) == 0, "%d threads: every index once per loop", nth);
        atomic_store(&phase_bad, 0), atomic_store(&nested_runs, 0);
        mm_pool_run(region, NULL);
        CHECK(atomic_load(&phase_bad) == 0, "%d threads: the loop after the barrier saw unwritten values", nth);
        CHECK(atomic_load(&nested_runs) == 64 * 5, "%d threads: nested loops ran %d of %d", nth, atomic_load(&nested_runs), 64 * 5);
        CHECK(all_once(1) == 0, "%d threads: work sharing inside a region", nth);
        for (int k = 0; k < 50; k++) mm_pool_run(region_last, NULL);
        CHECK(all_once(100) == 0, "%d threads: a region ending in mm_parallel_for_last", nth);
        for (int k = 0; k < 3000; k++) mm_parallel_for(64, 1, count_body, NULL); /* short regions back to back */
        int bad = 0;
        for (int i = 0; i < N; i++) {
            bad += atomic_load(&hits[i]) != (i < 64 ? 3000 : 0);
            atomic_store(&hits[i], 0);
        }
        CHECK(bad == 0, "%d threads: 3000 short regions", nth);
    }
    /* two application threads using the pool at once: one of them runs its regions alone */
    mm_pool_set_threads(2);
    pthread_t th;
    pthread_create(&th, NULL, other_thread, NULL);
    for (int k = 0; k < 200; k++) mm_parallel_for(N, 64, count_body, NULL);
    pthread_join(th, NULL);
    CHECK(all_once(400) == 0, "two callers: every index once per loop");
    CHECK(atomic_load(&bad_ith) == 0, "%d bodies got a thread index outside [0, nth)", atomic_load(&bad_ith));
    mm_pool_set_threads(0);
    return mmt_done();
}
