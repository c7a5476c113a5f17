/* mm_dist.h — the transport between the processes of one distributed job (pipeline stages), behind a small
 * table of functions so the model never calls a runtime (MPI today, NCCL later) directly. Every wait is bounded:
 * a receive, a flush or a barrier that does not complete within its timeout fails with an error naming the peer
 * and what was awaited, and the caller ends the job with mm_dist_abort. Calls are serialized: one thread at a time
 * (MPI_THREAD_SERIALIZED; a server's scheduler thread decodes, its main thread loaded the model). Queued sends make
 * progress without further calls (the MPI backend polls them from a thread of its own). */
#ifndef MM_DIST_H
#define MM_DIST_H
#include <stddef.h>
#include <stdint.h>

typedef struct mm_dist mm_dist;

typedef struct {
    const char *name;   /* "local", "mpi" */
    /* Queue n bytes for rank dst under tag; buf is copied, so the call returns at once. 0 or -1 with an error. */
    int (*send)(mm_dist *d, int dst, int tag, const void *buf, size_t n);
    /* Receive exactly n bytes from rank src under tag within timeout_s seconds. 0 or -1 with an error. */
    int (*recv)(mm_dist *d, int src, int tag, void *buf, size_t n, double timeout_s);
    /* Wait until every queued send has been delivered (timeout_s bounded). */
    int (*flush)(mm_dist *d, double timeout_s);
    int (*barrier)(mm_dist *d, double timeout_s);
    /* buf[n] becomes the element-wise sum over all ranks of their buf[n] (timeout_s bounded). */
    int (*allreduce_sum_f32)(mm_dist *d, float *buf, size_t n, double timeout_s);
    void (*abort)(mm_dist *d, int code);    /* ends every process of the job; does not return */
    void (*close)(mm_dist *d);               /* orderly end (after a barrier); frees d */
} mm_dist_ops;

struct mm_dist {
    const mm_dist_ops *ops;
    int rank, size;     /* this process and the job's process count */
    double timeout_s;   /* the default bound of every wait (MM_DIST_TIMEOUT seconds, default 300) */
    void *impl;
};

/* The job this process belongs to: the MPI backend when the build has it (make MPI=1) and the process was
 * started by mpirun (one process started by mpirun -np 1 runs as a plain single process), otherwise the local
 * backend (rank 0 of 1, nothing to send). NULL with an error when a runtime is present but fails to start. */
mm_dist *mm_dist_open(int *argc, char ***argv);
/* Whether this binary was built with a multi-process backend. */
int mm_dist_available(void);

/* Convenience wrappers with the default timeout; `what` names the message in the error ("activations of chunk 3"). */
int mm_dist_send(mm_dist *d, int dst, int tag, const void *buf, size_t n);
int mm_dist_recv(mm_dist *d, int src, int tag, void *buf, size_t n, const char *what);
/* Prints "minimax: rank R: <msg>: <mm_last_error()>" on stderr and ends the whole job (exit code 1). */
void mm_dist_fail(mm_dist *d, const char *msg) __attribute__((noreturn));

/* The backends (mm_dist_local.c, mm_dist_mpi.c). */
mm_dist *mm_dist_local_open(void);
mm_dist *mm_dist_mpi_open(int *argc, char ***argv);
#endif
