/* mm_pool.h — the compute threads: a persistent pool that runs one function on all threads at once (a
 * "region"), with cheap barriers and dynamic work sharing inside it.
 *
 * Why not an OpenMP region per op: a decoded token runs ~100 small products, and each region start, end and
 * barrier costs a wake-up; when another process holds a core, OpenMP's long spins and static hand-out stall
 * the token 10×. Here the threads spin only briefly (~50 µs) before they sleep on a futex, work is handed out
 * in chunks from a shared counter (a descheduled thread holds back only the chunk it took), and the caller
 * is thread 0, so a region costs one store and one barrier.
 *
 * Results never depend on the schedule as long as each output is written by one chunk in a fixed order
 * (every user in this project does that), so 1 thread and N threads give identical bits. */
#ifndef MM_POOL_H
#define MM_POOL_H
#include <stddef.h>
#include <stdint.h>

/* Threads used by regions (the caller included); n <= 0: all online cores. The pool grows or shrinks at the
 * next region. Not to be called from inside a region. */
void mm_pool_set_threads(int n);
int mm_pool_threads(void);

/* Runs fn(arg, ith, nth) on the pool's nth threads (the caller is ith 0) and returns when all have returned.
 * Called from inside a region it runs fn(arg, 0, 1) on the calling thread alone (a nested region). */
typedef void (*mm_pool_fn)(void *arg, int ith, int nth);
void mm_pool_run(mm_pool_fn fn, void *arg);

/* Inside a region: this thread's index and the region's thread count (0 and 1 outside one). */
int mm_pool_ith(void);
int mm_pool_nth(void);
/* Inside a region: waits until every thread of the region has called it (no-op outside a region). */
void mm_pool_barrier(void);

/* body(arg, i0, i1, ith) over [0, n) in chunks of `chunk` handed out in order from a shared counter.
 * Outside a region it runs as a region of its own (serially if n <= chunk or the pool has one thread).
 * Called directly by a region's function, every thread of the region must call it with the same arguments
 * (it is collective) and it ends with a barrier. Called from inside a body (a nested loop) it runs serially
 * on the calling thread. */
typedef void (*mm_pool_body)(void *arg, int64_t i0, int64_t i1, int ith);
void mm_parallel_for(int64_t n, int64_t chunk, mm_pool_body body, void *arg);
/* The same as the last loop of a region function: without the closing barrier, which the end of the region
 * provides (one barrier per region instead of two). Only valid as the last thing a region function does. */
void mm_parallel_for_last(int64_t n, int64_t chunk, mm_pool_body body, void *arg);

/* A buffer private to the calling thread, 64-byte aligned and at least `bytes` long, kept from call to call
 * (grown when a call needs more), so that the temporaries of every op do not cost an allocation and fresh
 * zeroed pages each time. One slot per kind of user: a caller must not hold a slot across a call that may use
 * the same slot on the same thread. Freed when the thread ends. */
enum { MM_SCRATCH_MATMUL_ACT, MM_SCRATCH_MATMUL, MM_SCRATCH_ATTN, MM_SCRATCH_ATTN_PARTS, MM_SCRATCH_LIGHTNING, MM_SCRATCH_SLOTS };
void *mm_scratch(int slot, size_t bytes);
#endif
