/* mm_pool.c — the persistent compute pool of mm_pool.h: workers wait for a new region on a generation word
 * (spin ~50 µs, then futex sleep), a region ends in the same barrier the workers use inside it, and work
 * sharing takes chunks from one of two counters (loop k uses counter k % 2; thread 0 clears the other one
 * before loop k's closing barrier, when no thread can still be in loop k − 1 or already in loop k + 1). */
#include "base/mm_pool.h"
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include "base/mm_common.h"
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MM_RELAX() _mm_pause()
#else
#define MM_RELAX() ((void)0)
#endif

#define MM_POOL_SPIN_S 50e-6 /* how long a waiting thread spins before it sleeps */

/* A word threads wait on for a change, with the count of those asleep on it (wakers skip the syscall when 0). */
typedef struct {
    _Atomic uint32_t v;
    _Atomic int sleepers;
} mm_word;

static void word_sleep(mm_word *w, uint32_t old) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)&w->v, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
#else
    (void)w, (void)old;
    usleep(20);
#endif
}

static void word_wake(mm_word *w) {
    if (atomic_load(&w->sleepers) == 0) return;
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)&w->v, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#endif
}

/* Returns once w->v != old: spins first, then sleeps (a waker that saw no sleeper changed v before our
 * re-check, so the futex call returns at once). */
static void word_wait(mm_word *w, uint32_t old) {
    if (atomic_load_explicit(&w->v, memory_order_acquire) != old) return;
    double t0 = mm_time();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&w->v, memory_order_acquire) != old) return;
        MM_RELAX();
        if ((i & 63) == 0 && mm_time() - t0 > MM_POOL_SPIN_S) break;
    }
    atomic_fetch_add(&w->sleepers, 1);
    while (atomic_load(&w->v) == old) word_sleep(w, old);
    atomic_fetch_sub(&w->sleepers, 1);
}

static struct {
    pthread_mutex_t run;       /* held by the thread running a region (others then run theirs alone) */
    int want;                  /* configured thread count (0: not yet decided) */
    int nth;                   /* threads of the running pool: workers + the caller */
    pthread_t *tid;            /* [nth - 1] workers */
    uint32_t gen0;             /* the generation the workers were created at */
    mm_word gen;               /* +1 per region (and once to stop the workers) */
    mm_word phase;             /* +1 per completed barrier */
    _Atomic int arrived;       /* threads in the current barrier */
    _Atomic int stop;
    mm_pool_fn fn;
    void *arg;
    _Atomic int64_t ctr[2];    /* work-sharing counters (see the top of the file) */
} P = {.run = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int t_in, t_ith, t_nth = 1;
static _Thread_local int t_body; /* > 0 while this thread runs a work-sharing body: calls from there run serially */
static _Thread_local unsigned t_loop;

static void barrier(int nth) {
    uint32_t ph = atomic_load(&P.phase.v); /* read before arriving: the last arrival moves it on */
    if (atomic_fetch_add(&P.arrived, 1) == nth - 1) {
        atomic_store(&P.arrived, 0);
        atomic_fetch_add(&P.phase.v, 1);
        word_wake(&P.phase);
    } else {
        word_wait(&P.phase, ph);
    }
}

static void *worker(void *p) {
    const int ith = (int)(intptr_t)p;
    uint32_t seen = P.gen0;
    for (;;) {
        word_wait(&P.gen, seen);
        seen = atomic_load(&P.gen.v);
        if (atomic_load(&P.stop)) return NULL;
        t_in = 1, t_ith = ith, t_nth = P.nth, t_loop = 0;
        P.fn(P.arg, ith, P.nth);
        t_in = 0;
        barrier(P.nth);
    }
}

static int online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Brings the running pool to P.want threads (called with P.run held). */
static void ensure_threads(void) {
    if (!P.want) P.want = online_cpus();
    if (P.nth == P.want) return;
    if (P.nth > 1) { /* stop the old workers */
        atomic_store(&P.stop, 1);
        atomic_fetch_add(&P.gen.v, 1);
        word_wake(&P.gen);
        for (int i = 0; i < P.nth - 1; i++) pthread_join(P.tid[i], NULL);
        atomic_store(&P.stop, 0);
    }
    free(P.tid);
    P.tid = NULL;
    P.nth = 1;
    if (P.want == 1) return;
    P.tid = mm_xmalloc(sizeof(pthread_t) * (size_t)(P.want - 1));
    P.gen0 = atomic_load(&P.gen.v);
    int made = 0;
    for (int i = 0; i < P.want - 1; i++) {
        if (pthread_create(&P.tid[i], NULL, worker, (void *)(intptr_t)(i + 1)) != 0) break;
        made++;
    }
    P.nth = made + 1; /* fewer threads if the system refused some */
    if (P.nth != P.want) P.want = P.nth;
}

/* After fork() the child has only the forking thread: forget the workers (their memory stays). */
static void after_fork_child(void) {
    pthread_mutex_init(&P.run, NULL);
    P.tid = NULL;
    P.nth = 1;
    P.want = 0;
    atomic_store(&P.arrived, 0);
}
static pthread_once_t P_once = PTHREAD_ONCE_INIT;
static void init_once(void) { pthread_atfork(NULL, NULL, after_fork_child); }

void mm_pool_set_threads(int n) {
    pthread_once(&P_once, init_once);
    pthread_mutex_lock(&P.run);
    P.want = n > 0 ? n : online_cpus();
    pthread_mutex_unlock(&P.run);
}

int mm_pool_threads(void) { return P.want ? P.want : online_cpus(); }
int mm_pool_ith(void) { return t_in ? t_ith : 0; }
int mm_pool_nth(void) { return t_in ? t_nth : 1; }

/* fn on this thread alone, as a region of one thread (restoring an enclosing region's state after). */
static void run_alone(mm_pool_fn fn, void *arg) {
    int in = t_in, ith = t_ith, nth = t_nth;
    unsigned loop = t_loop;
    t_in = 1, t_ith = 0, t_nth = 1, t_loop = 0;
    fn(arg, 0, 1);
    t_in = in, t_ith = ith, t_nth = nth, t_loop = loop;
}

void mm_pool_run(mm_pool_fn fn, void *arg) {
    if (t_in) { run_alone(fn, arg); return; }
    pthread_once(&P_once, init_once);
    if (pthread_mutex_trylock(&P.run) != 0) { run_alone(fn, arg); return; } /* another thread's region is running */
    ensure_threads();
    if (P.nth == 1) {
        pthread_mutex_unlock(&P.run);
        run_alone(fn, arg);
        return;
    }
    P.fn = fn, P.arg = arg;
    atomic_store(&P.ctr[0], 0);
    atomic_store(&P.ctr[1], 0);
    atomic_fetch_add(&P.gen.v, 1);
    word_wake(&P.gen);
    t_in = 1, t_ith = 0, t_nth = P.nth, t_loop = 0;
    fn(arg, 0, P.nth);
    t_in = 0;
    barrier(P.nth);
    pthread_mutex_unlock(&P.run);
}

void mm_pool_barrier(void) {
    if (t_in && t_nth > 1) barrier(t_nth);
}

typedef struct {
    int64_t n, chunk;
    mm_pool_body body;
    void *arg;
} pfor_args;

static void pfor(int64_t n, int64_t chunk, mm_pool_body body, void *arg, int wait);

static void pfor_region(void *a, int ith, int nth) {
    const pfor_args *p = a;
    (void)ith, (void)nth;
    pfor(p->n, p->chunk, p->body, p->arg, 0); /* the region's own closing barrier follows */
}

/* The work-sharing loop; wait = 0 leaves out the closing barrier (the last loop of a region). */
static void pfor(int64_t n, int64_t chunk, mm_pool_body body, void *arg, int wait) {
    if (n <= 0) return;
    if (chunk < 1) chunk = 1;
    if (!t_in && !t_body && n > chunk && mm_pool_threads() > 1) {
        pfor_args a = {n, chunk, body, arg};
        mm_pool_run(pfor_region, &a);
        return;
    }
    if (!t_in || t_nth == 1 || t_body) { /* serial: no region, a region of one, or called from inside a body */
        const int ith = t_in ? t_ith : 0;
        t_body++;
        for (int64_t i0 = 0; i0 < n; i0 += chunk) body(arg, i0, i0 + chunk < n ? i0 + chunk : n, ith);
        t_body--;
        return;
    }
    _Atomic int64_t *c = &P.ctr[t_loop & 1];
    t_body++;
    for (;;) {
        int64_t i0 = atomic_fetch_add_explicit(c, chunk, memory_order_relaxed);
        if (i0 >= n) break;
        body(arg, i0, i0 + chunk < n ? i0 + chunk : n, t_ith);
    }
    t_body--;
    if (!wait) return; /* the region ends next, and the next region clears both counters */
    if (t_ith == 0) atomic_store(&P.ctr[(t_loop + 1) & 1], 0);
    t_loop++;
    barrier(t_nth);
}

void mm_parallel_for(int64_t n, int64_t chunk, mm_pool_body body, void *arg) { pfor(n, chunk, body, arg, 1); }
void mm_parallel_for_last(int64_t n, int64_t chunk, mm_pool_body body, void *arg) { pfor(n, chunk, body, arg, 0); }

/* ---------------------------------------------------------------- per-thread scratch
 * Each thread's buffers hang off a pthread key (freed by its destructor when the thread ends) and are also
 * listed globally, so that the main thread's, which no destructor frees at exit, stay reachable. */
typedef struct mm_scratch_set {
    void *p[MM_SCRATCH_SLOTS];
    size_t n[MM_SCRATCH_SLOTS];
    struct mm_scratch_set *next;
} mm_scratch_set;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t scratch_mu = PTHREAD_MUTEX_INITIALIZER;
static mm_scratch_set *scratch_all;

static void scratch_free(void *v) {
    mm_scratch_set *s = v;
    pthread_mutex_lock(&scratch_mu);
    for (mm_scratch_set **q = &scratch_all; *q; q = &(*q)->next)
        if (*q == s) {
            *q = s->next;
            break;
        }
    pthread_mutex_unlock(&scratch_mu);
    for (int i = 0; i < MM_SCRATCH_SLOTS; i++) free(s->p[i]);
    free(s);
}
static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *mm_scratch(int slot, size_t bytes) {
    pthread_once(&scratch_once, scratch_init);
    mm_scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = mm_xcalloc(1, sizeof *s);
        pthread_mutex_lock(&scratch_mu);
        s->next = scratch_all;
        scratch_all = s;
        pthread_mutex_unlock(&scratch_mu);
        pthread_setspecific(scratch_key, s);
    }
    if (s->n[slot] < bytes) {
        free(s->p[slot]);
        s->n[slot] = bytes + bytes / 4;
        s->p[slot] = mm_xaligned(s->n[slot]);
    }
    return s->p[slot];
}
