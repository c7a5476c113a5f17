/* mm_dist_local.c — the transport of a single process: rank 0 of 1. It has no peer, so a send or receive is a
 * caller's bug and fails with an error; barriers and flushes complete at once. */
#include <stdlib.h>
#include "dist/mm_dist.h"
#include "base/mm_common.h"

static int local_send(mm_dist *d, int dst, int tag, const void *buf, size_t n) {
    mm_set_error("send to rank %d: a single process has no peers", dst);
    return -1;
}
static int local_recv(mm_dist *d, int src, int tag, void *buf, size_t n, double timeout_s) {
    mm_set_error("receive from rank %d: a single process has no peers", src);
    return -1;
}
static int local_flush(mm_dist *d, double timeout_s) { return 0; }
static int local_barrier(mm_dist *d, double timeout_s) { return 0; }
static int local_allreduce(mm_dist *d, float *buf, size_t n, double timeout_s) { return 0; }
static void local_abort(mm_dist *d, int code) { exit(code); }
static void local_close(mm_dist *d) { free(d); }

static const mm_dist_ops local_ops = {"local", local_send, local_recv, local_flush, local_barrier, local_allreduce,
                                    local_abort, local_close};

mm_dist *mm_dist_local_open(void) {
    mm_dist *d = mm_xcalloc(1, sizeof *d);
    d->ops = &local_ops;
    d->rank = 0;
    d->size = 1;
    return d;
}
