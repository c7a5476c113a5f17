/* cli_dist.c — commands under mpirun: the model of a command is this rank's pipeline stage (src/model/mm_pipeline.h).
 * Rank 0 runs the command; every other rank serves rank 0 inside mm_cli_load_model and exits there. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "model/mm_pipeline.h"

static mm_dist *g_dist;
static const char *g_split;
static int g_ep, g_loaded; /* rank 0: models loaded so far */

void mm_cli_set_layer_split(const char *split) { g_split = split; }
void mm_cli_set_expert_parallel(int on) { g_ep = on; }

int mm_cli_launched_ranks(void) {
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    return v ? atoi(v) : 1;
}

mm_model *mm_cli_load_model(const char *cmd, const char *path, const mm_model_params *p) {
    if (mm_cli_launched_ranks() <= 1) {
        if (g_split || g_ep)
            fprintf(stderr, "minimax %s: --layer-split and --expert-parallel apply to runs under mpirun only; ignored\n", cmd);
        return mm_model_load(path, p);
    }
    if (!g_dist && !(g_dist = mm_dist_open(NULL, NULL))) return NULL;
    if (g_dist->size == 1) return mm_model_load(path, p);
    if (g_dist->rank == 0) {
        if (g_loaded++) mm_pp_next_model(g_dist, path); /* a second model (compare): the other ranks load it too */
        return mm_pp_load(g_dist, path, p, g_split, g_ep);
    }
    /* Ranks > 0: rank 0 prints why a start failed; otherwise serve it until the command ends, model after model
     * when it runs several one after the other (the one before freed first). A signal mpirun forwards (SIGINT,
     * SIGTERM) is rank 0's to act on: it ends the job with its last command. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    int rc = 1;
    char *next = NULL;
    for (;;) {
        mm_model *m = mm_pp_load(g_dist, path, p, g_split, g_ep);
        if (!m) break;
        free(next);
        next = NULL;
        const int r = mm_pp_worker(m, &next);
        mm_model_free(m);
        if (r < 0) mm_dist_fail(g_dist, cmd);
        if (r == 0) {
            rc = 0;
            break;
        }
        path = next;
    }
    free(next);
    g_dist->ops->close(g_dist);
    exit(rc);
}

void mm_cli_dist_end(void) {
    if (!g_dist) return;
    mm_pp_finish(g_dist);
    g_dist->ops->close(g_dist);
    g_dist = NULL;
}

int mm_cli_wait_input(const mm_model *m, int fd) {
    if (!mm_pp_driver(m)) return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, mm_pp_keepalive_s(m) * 1000);
        if (r > 0) return 0;
        if (r < 0) return errno == EINTR ? -1 : 0; /* any other error: the read reports it */
        mm_pp_ping(m->pp);
    }
}

struct mm_cli_keepalive {
    const mm_model *m;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    pthread_t th;
};

static void *keepalive_main(void *arg) {
    mm_cli_keepalive *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += mm_pp_keepalive_s(k->m);
        if (pthread_cond_timedwait(&k->cv, &k->mu, &until) == ETIMEDOUT && !k->stop) mm_pp_ping(k->m->pp);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

mm_cli_keepalive *mm_cli_keepalive_start(const mm_model *m) {
    if (!mm_pp_driver(m)) return NULL;
    mm_cli_keepalive *k = mm_xcalloc(1, sizeof *k);
    k->m = m;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    if (pthread_create(&k->th, NULL, keepalive_main, k) != 0) { /* then the slow step goes unpinged, as before */
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        free(k);
        return NULL;
    }
    return k;
}

void mm_cli_keepalive_stop(mm_cli_keepalive *k) {
    if (!k) return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->th, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
