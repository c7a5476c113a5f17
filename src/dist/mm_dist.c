/* mm_dist.c — choosing the transport once at start, and the wrappers every caller uses. */
#include <stdio.h>
#include <stdlib.h>
#include "dist/mm_dist.h"
#include "base/mm_common.h"

/* The multi-process backend of this build: MPI with make MPI=1, none otherwise (the one place a build flag decides). */
#ifdef MM_WITH_MPI
static mm_dist *(*const multi_open)(int *, char ***) = mm_dist_mpi_open;
#else
static mm_dist *(*const multi_open)(int *, char ***) = NULL;
#endif

int mm_dist_available(void) { return multi_open != NULL; }

/* Started by a launcher that gave us more than one process? (Open MPI, MPICH/Hydra and PMIx set these.) */
static int launched_size(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

mm_dist *mm_dist_open(int *argc, char ***argv) {
    mm_dist *d = NULL;
    if (launched_size() > 1) {
        if (!multi_open) {
            mm_set_error("started by mpirun with %d processes, but this binary was built without MPI "
                         "(rebuild with make MPI=1)", launched_size());
            return NULL;
        }
        d = multi_open(argc, argv);
    } else {
        d = mm_dist_local_open();
    }
    if (!d) return NULL;
    d->timeout_s = 300;
    const char *t = getenv("MM_DIST_TIMEOUT");
    if (t && *t) {
        char *end;
        double v = strtod(t, &end);
        if (*end || !(v > 0 && v <= 1e6)) {
            mm_set_error("MM_DIST_TIMEOUT=%s: expected seconds in (0, 1e6]", t);
            d->ops->close(d);
            return NULL;
        }
        d->timeout_s = v;
    }
    return d;
}

int mm_dist_send(mm_dist *d, int dst, int tag, const void *buf, size_t n) { return d->ops->send(d, dst, tag, buf, n); }

int mm_dist_recv(mm_dist *d, int src, int tag, void *buf, size_t n, const char *what) {
    if (d->ops->recv(d, src, tag, buf, n, d->timeout_s) == 0) return 0;
    mm_error_prefix("rank %d waiting for %s from rank %d", d->rank, what, src);
    return -1;
}

void mm_dist_fail(mm_dist *d, const char *msg) {
    fprintf(stderr, "minimax: rank %d of %d: %s: %s\n", d ? d->rank : 0, d ? d->size : 1, msg, mm_last_error());
    fflush(stderr);
    if (d) d->ops->abort(d, 1);
    exit(1);
}
