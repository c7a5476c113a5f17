/* mm_dist_mpi.c — the transport over Open MPI (built with make MPI=1). Sends are non-blocking on a copy of the
 * buffer (a stage hands its activations on and goes on with the next micro-batch); receives, flushes and barriers
 * poll their request until a deadline, sleeping between polls (a waiting rank must not take the core from a
 * computing one when ranks share cores; short pauses while a wait is young, long ones once it idles), so no wait can hang: past the deadline the call fails with an error.
 *
 * MPI moves a message only inside MPI calls of both sides: a large one over TCP waits for the receiver's go-ahead
 * and then for the sender to push it (a rendezvous). A stage that queues its activations and computes its next
 * micro-batch makes no MPI call for seconds, so the next stage would wait that long. A progress thread therefore
 * polls the sends in flight (every 50 µs after a new send, backing off to 1 ms; asleep while there are none) and
 * reaps the completed ones; one mutex keeps every MPI call of the two threads apart (MPI_THREAD_SERIALIZED). */
#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dist/mm_dist.h"
#include "base/mm_common.h"

typedef struct {
    MPI_Request req;
    void *buf;
} pending;

typedef struct {
    pending *q;         /* sends in flight */
    int n, cap;
    pthread_mutex_t mu; /* held around every MPI call and every use of q */
    pthread_cond_t wake; /* a send was queued, or stop */
    pthread_t progress;
    int stop;
    int64_t sent;       /* sends queued so far (the progress thread polls eagerly again after each) */
} mpi_impl;

/* Reaps the sends that have completed (mu held). */
static void reap(mpi_impl *im) {
    int w = 0;
    for (int i = 0; i < im->n; i++) {
        int done = 0;
        MPI_Test(&im->q[i].req, &done, MPI_STATUS_IGNORE);
        if (done) free(im->q[i].buf);
        else im->q[w++] = im->q[i];
    }
    im->n = w;
}

/* Sleeps *ns nanoseconds, then grows the next pause by half, up to cap. */
static void pause_grow(long *ns, long cap) {
    nanosleep(&(struct timespec){0, *ns}, NULL);
    *ns = *ns * 3 / 2 < cap ? *ns * 3 / 2 : cap;
}

/* The pause between two polls of a wait that began at t0: 20 µs growing to 100 µs while the wait is young (a
 * layer's exchange, an activation), up to 2 ms once it has lasted 50 ms (an idle rank waiting for a command). */
static void pause_poll(double t0, long *ns) { pause_grow(ns, mm_time() - t0 < 0.05 ? 100000 : 2000000); }

/* The progress thread: while sends are in flight, polls them so MPI pushes their data even when the caller makes no
 * MPI call (every 50 µs after a new send, backing off to 1 ms while the receiver has not asked for it); sleeps on
 * wake otherwise. */
static void *progress_main(void *arg) {
    mpi_impl *im = arg;
    long ns = 50000;
    int64_t seen = 0;
    pthread_mutex_lock(&im->mu);
    while (!im->stop) {
        if (im->n == 0) {
            pthread_cond_wait(&im->wake, &im->mu);
            continue;
        }
        if (im->sent != seen) seen = im->sent, ns = 50000;
        reap(im);
        pthread_mutex_unlock(&im->mu);
        pause_grow(&ns, 1000000);
        pthread_mutex_lock(&im->mu);
    }
    pthread_mutex_unlock(&im->mu);
    return NULL;
}

/* Polls req (a request of this thread) until it completes or timeout_s passes (the progress thread reaps the sends
 * in flight meanwhile); 0 or -1. */
static int wait_for(mpi_impl *im, MPI_Request *req, double timeout_s) {
    const double t0 = mm_time(), end = t0 + timeout_s;
    long ns = 20000;
    for (;;) {
        int done = 0;
        pthread_mutex_lock(&im->mu);
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        pthread_mutex_unlock(&im->mu);
        if (done) return 0;
        if (mm_time() > end) return -1;
        pause_poll(t0, &ns);
    }
}

static int mpi_send(mm_dist *d, int dst, int tag, const void *buf, size_t n) {
    mpi_impl *im = d->impl;
    if (n > (size_t)INT32_MAX) {
        mm_set_error("send to rank %d: %zu bytes is more than one message may carry", dst, n);
        return -1;
    }
    void *copy = mm_xmalloc(n ? n : 1);
    memcpy(copy, buf, n);
    pthread_mutex_lock(&im->mu);
    reap(im);
    if (im->n == im->cap) {
        im->cap = im->cap ? im->cap * 2 : 16;
        im->q = mm_xrealloc(im->q, sizeof(pending) * (size_t)im->cap);
    }
    pending *p = &im->q[im->n];
    p->buf = copy;
    const int ok = MPI_Isend(copy, (int)n, MPI_BYTE, dst, tag, MPI_COMM_WORLD, &p->req) == MPI_SUCCESS;
    if (ok) im->n++, im->sent++, pthread_cond_signal(&im->wake);
    pthread_mutex_unlock(&im->mu);
    if (!ok) {
        free(copy);
        mm_set_error("MPI_Isend to rank %d failed", dst);
        return -1;
    }
    return 0;
}

static int mpi_recv(mm_dist *d, int src, int tag, void *buf, size_t n, double timeout_s) {
    if (n > (size_t)INT32_MAX) {
        mm_set_error("%zu bytes is more than one message may carry", n);
        return -1;
    }
    mpi_impl *im = d->impl;
    MPI_Request req;
    MPI_Status st;
    /* A longer message than n fails MPI_Test with a truncation error (MPI_ERRORS_RETURN): the ranks disagree. */
    pthread_mutex_lock(&im->mu);
    const int posted = MPI_Irecv(buf, (int)n, MPI_BYTE, src, tag, MPI_COMM_WORLD, &req) == MPI_SUCCESS;
    pthread_mutex_unlock(&im->mu);
    if (!posted) {
        mm_set_error("MPI_Irecv failed");
        return -1;
    }
    const double t0 = mm_time(), end = t0 + timeout_s;
    long ns = 20000;
    for (;;) {
        int done = 0;
        pthread_mutex_lock(&im->mu);
        const int tested = MPI_Test(&req, &done, &st) == MPI_SUCCESS, expired = tested && !done && mm_time() > end;
        if (expired) MPI_Cancel(&req); /* the buffer is the caller's: no receive may stay posted on it */
        pthread_mutex_unlock(&im->mu);
        if (!tested) {
            mm_set_error("MPI_Test failed (message of another size than the %zu bytes expected?)", n);
            return -1;
        }
        if (done) break;
        if (expired) {
            mm_set_error("nothing came within %.0f s (MM_DIST_TIMEOUT): the peer died, hangs or runs another "
                         "command", timeout_s);
            return -1;
        }
        pause_poll(t0, &ns);
    }
    int got = 0;
    MPI_Get_count(&st, MPI_BYTE, &got);
    if ((size_t)got != n) {
        mm_set_error("a message of %d bytes came where %zu were expected (the ranks disagree)", got, n);
        return -1;
    }
    return 0;
}

static int mpi_flush(mm_dist *d, double timeout_s) {
    mpi_impl *im = d->impl;
    const double t0 = mm_time(), end = t0 + timeout_s;
    long ns = 20000;
    for (;;) {
        pthread_mutex_lock(&im->mu);
        reap(im);
        const int left = im->n;
        pthread_mutex_unlock(&im->mu);
        if (left == 0) return 0;
        if (mm_time() > end) {
            mm_set_error("rank %d: %d sends were not taken within %.0f s", d->rank, left, timeout_s);
            return -1;
        }
        pause_poll(t0, &ns);
    }
}

static int mpi_barrier(mm_dist *d, double timeout_s) {
    mpi_impl *im = d->impl;
    MPI_Request req;
    pthread_mutex_lock(&im->mu);
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    pthread_mutex_unlock(&im->mu);
    if (wait_for(im, &req, timeout_s) < 0) {
        mm_set_error("rank %d: not every rank reached the barrier within %.0f s", d->rank, timeout_s);
        return -1;
    }
    return 0;
}

static int mpi_allreduce(mm_dist *d, float *buf, size_t n, double timeout_s) {
    if (n > (size_t)INT32_MAX) {
        mm_set_error("allreduce of %zu floats is more than one call may carry", n);
        return -1;
    }
    mpi_impl *im = d->impl;
    MPI_Request req;
    pthread_mutex_lock(&im->mu);
    const int posted = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req) == MPI_SUCCESS;
    pthread_mutex_unlock(&im->mu);
    if (!posted) {
        mm_set_error("MPI_Iallreduce failed");
        return -1;
    }
    if (wait_for(im, &req, timeout_s) < 0) {
        mm_set_error("rank %d: not every rank joined the sum of %zu floats within %.0f s (MM_DIST_TIMEOUT)", d->rank, n,
                     timeout_s);
        return -1;
    }
    return 0;
}

static void mpi_abort(mm_dist *d, int code) {
    pthread_mutex_lock(&((mpi_impl *)d->impl)->mu); /* not inside the progress thread's call; never released */
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

static void mpi_close(mm_dist *d) {
    mpi_impl *im = d->impl;
    mpi_flush(d, d->timeout_s);
    pthread_mutex_lock(&im->mu);
    im->stop = 1;
    pthread_cond_signal(&im->wake);
    pthread_mutex_unlock(&im->mu);
    pthread_join(im->progress, NULL);
    pthread_mutex_destroy(&im->mu);
    pthread_cond_destroy(&im->wake);
    for (int i = 0; i < im->n; i++) free(im->q[i].buf);
    free(im->q);
    free(im);
    free(d);
    MPI_Finalize();
}

static const mm_dist_ops mpi_ops = {"mpi", mpi_send, mpi_recv, mpi_flush, mpi_barrier, mpi_allreduce, mpi_abort, mpi_close};

mm_dist *mm_dist_mpi_open(int *argc, char ***argv) {
    int provided = 0;
    /* One thread at a time calls MPI, but not always the same one: the server's scheduler thread decodes while the
     * main thread loaded the model and frees it (MPI_THREAD_SERIALIZED; FUNNELED would bind every call to main). */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        mm_set_error("MPI_Init_thread failed");
        return NULL;
    }
    if (provided < MPI_THREAD_SERIALIZED) {
        mm_set_error("the MPI library gives thread level %d, below MPI_THREAD_SERIALIZED", provided);
        MPI_Finalize();
        return NULL;
    }
    /* Errors come back as codes (turned into messages here), not as the default abort inside MPI. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    mm_dist *d = mm_xcalloc(1, sizeof *d);
    d->ops = &mpi_ops;
    mpi_impl *im = mm_xcalloc(1, sizeof(mpi_impl));
    d->impl = im;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    pthread_mutex_init(&im->mu, NULL);
    pthread_cond_init(&im->wake, NULL);
    if (pthread_create(&im->progress, NULL, progress_main, im) != 0) {
        mm_set_error("cannot start the MPI progress thread");
        pthread_mutex_destroy(&im->mu);
        pthread_cond_destroy(&im->wake);
        free(im);
        free(d);
        MPI_Finalize();
        return NULL;
    }
    return d;
}
