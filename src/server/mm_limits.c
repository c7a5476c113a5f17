/* mm_limits.c — connection, header-time, body and parse limits of the server (see mm_limits.h). */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "base/mm_common.h"
#include "server/mm_limits.h"

struct mm_limits_conn {
    mm_limits_conn *prev, *next;   /* list in order of the last (re)start of the header clock */
    int fd;
    int in_request;                /* a complete request head came: a handler owns it until request_end */
    int shut;                      /* already shut down by us */
    double t_idle;                 /* when the header clock started */
};

struct mm_limits {
    mm_limits_params p;
    pthread_mutex_t mu;            /* the connection list, counters, body bytes */
    mm_limits_conn *head, *tail;
    int n_conns;
    long long evicted, timed_out;
    size_t body_bytes;
    pthread_cond_t parse_cv;       /* guarded by mu */
    int parsing;
    pthread_t watchdog;
    pthread_cond_t stop_cv;
    int stop;
};

/* ---------------------------------------------------------------- the connection list */

static void list_remove(mm_limits *l, mm_limits_conn *c) {
    if (c->prev) c->prev->next = c->next;
    else l->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else l->tail = c->prev;
    c->prev = c->next = NULL;
}

static void list_append(mm_limits *l, mm_limits_conn *c) {
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail) l->tail->next = c;
    else l->head = c;
    l->tail = c;
}

/* Caller holds mu. The fd is still open: its owner has not reported it closed. */
static void shut(mm_limits_conn *c) {
    if (c->shut) return;
    c->shut = 1;
    shutdown(c->fd, SHUT_RDWR);
}

mm_limits_conn *mm_limits_conn_open(mm_limits *l, int fd) {
    mm_limits_conn *c = mm_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->t_idle = mm_time();
    pthread_mutex_lock(&l->mu);
    list_append(l, c);
    l->n_conns++;
    if (l->n_conns > l->p.max_conns) {
        /* the oldest idle one (the list is ordered by t_idle); this new one if all others are busy */
        mm_limits_conn *v = l->head;
        while (v && (v->in_request || v->shut)) v = v->next;
        if (v) {
            shut(v);
            l->evicted++;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return c;
}

void mm_limits_conn_close(mm_limits *l, mm_limits_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&l->mu);
    list_remove(l, c);
    l->n_conns--;
    pthread_mutex_unlock(&l->mu);
    free(c);
}

void mm_limits_request_begin(mm_limits *l, mm_limits_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&l->mu);
    c->in_request = 1;
    pthread_mutex_unlock(&l->mu);
}

void mm_limits_request_end(mm_limits *l, mm_limits_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&l->mu);
    c->in_request = 0;
    c->t_idle = mm_time();
    list_remove(l, c);   /* keep the list ordered by t_idle */
    list_append(l, c);
    pthread_mutex_unlock(&l->mu);
}

int mm_limits_n_conns(mm_limits *l) {
    pthread_mutex_lock(&l->mu);
    int n = l->n_conns;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void mm_limits_get_counts(mm_limits *l, long long *evicted, long long *timed_out) {
    pthread_mutex_lock(&l->mu);
    *evicted = l->evicted;
    *timed_out = l->timed_out;
    pthread_mutex_unlock(&l->mu);
}

/* Shuts down every connection whose request head is overdue. */
static void *watchdog(void *arg) {
    mm_limits *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&l->stop_cv, &l->mu, &ts);
        if (l->p.header_timeout <= 0) continue;
        double now = mm_time();
        for (mm_limits_conn *c = l->head; c && now - c->t_idle > l->p.header_timeout; c = c->next)
            if (!c->in_request && !c->shut) {
                shut(c);
                l->timed_out++;
            }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---------------------------------------------------------------- bodies and parsing */

int mm_limits_body_reserve(mm_limits *l, size_t n) {
    pthread_mutex_lock(&l->mu);
    int ok = !l->p.body_total || (n <= l->p.body_total && l->body_bytes <= l->p.body_total - n);
    if (ok) l->body_bytes += n;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void mm_limits_body_release(mm_limits *l, size_t n) {
    pthread_mutex_lock(&l->mu);
    l->body_bytes -= n < l->body_bytes ? n : l->body_bytes;
    pthread_mutex_unlock(&l->mu);
}

int mm_limits_parse_enter(mm_limits *l) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double w = l->p.parse_wait > 0 ? l->p.parse_wait : 0;
    ts.tv_sec += (time_t)w;
    ts.tv_nsec += (long)((w - (double)(time_t)w) * 1e9);
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    while (l->parsing >= l->p.parse_max && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&l->parse_cv, &l->mu, &ts);
    int ok = l->parsing < l->p.parse_max;
    if (ok) l->parsing++;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void mm_limits_parse_leave(mm_limits *l) {
    pthread_mutex_lock(&l->mu);
    l->parsing--;
    pthread_cond_signal(&l->parse_cv);
    pthread_mutex_unlock(&l->mu);
}

/* ---------------------------------------------------------------- the JSON budget */

static _Thread_local size_t tl_json_left;   /* bytes jansson may still allocate in this thread */
static _Thread_local int tl_json_on, tl_json_out;

static void *budget_malloc(size_t n) {
    if (tl_json_on) {
        size_t cost = n < SIZE_MAX - 32 ? (n + 8 + 15) & ~(size_t)15 : SIZE_MAX;   /* what malloc really takes */
        if (cost > tl_json_left) {
            tl_json_out = 1;
            return NULL;
        }
        tl_json_left -= cost;
    }
    return malloc(n);
}

void mm_limits_json_budget(size_t bytes) {
    tl_json_on = bytes > 0;
    tl_json_left = bytes;
    tl_json_out = 0;
}

int mm_limits_json_exhausted(void) { return tl_json_out; }

static void install_hook(void) { json_set_alloc_funcs(budget_malloc, free); }

/* ---------------------------------------------------------------- lifetime */

mm_limits *mm_limits_new(const mm_limits_params *p) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_hook);
    mm_limits *l = mm_xcalloc(1, sizeof *l);
    l->p = *p;
    if (l->p.max_conns < 1) l->p.max_conns = 1;
    if (l->p.parse_max < 1) l->p.parse_max = 1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->parse_cv, NULL);
    pthread_cond_init(&l->stop_cv, NULL);
    if (pthread_create(&l->watchdog, NULL, watchdog, l)) {
        mm_set_error("server limits: cannot start the watchdog thread");
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->parse_cv);
        pthread_cond_destroy(&l->stop_cv);
        free(l);
        return NULL;
    }
    return l;
}

void mm_limits_free(mm_limits *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->stop_cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->watchdog, NULL);
    while (l->head) {   /* connections the owner never reported closed (it was stopped first) */
        mm_limits_conn *c = l->head;
        list_remove(l, c);
        free(c);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->parse_cv);
    pthread_cond_destroy(&l->stop_cv);
    free(l);
}
