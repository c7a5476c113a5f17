/* mm_limits.h — what one client, or many, may cost `minimax serve`: the guard between the sockets and the
 * request handlers. Independent of HTTP (it sees file descriptors, byte counts and threads), so it is
 * unit-tested on socketpairs (tests/test_server_limits.c).
 *
 *   connections  at most max_conns open; when one more arrives, the oldest connection that has not sent a
 *                complete request head yet (or idles between requests) is shut down to make room, so idle
 *                and slow-header connections can never lock out a client that sends a request
 *   header time  a connection must complete each request head within header_timeout seconds of connecting
 *                (or of the end of its previous request), else it is shut down: slow-header attacks end there
 *   bodies       request bodies held in memory at once are bounded (body_total bytes): a request reserves
 *                its Content-Length before a byte is read, or reserves as it grows when chunked
 *   parsing      at most parse_max requests parse JSON / render / tokenize at once; others wait up to
 *                parse_wait seconds (then 503). Each may make jansson allocate at most a set budget.
 *
 * Shutting a socket down (shutdown(SHUT_RDWR)) makes the HTTP library see EOF/errors and close it itself;
 * the descriptor is never closed here, and it stays registered until the library reports it closed, so a
 * descriptor number is never touched after it could have been reused. */
#ifndef MM_LIMITS_H
#define MM_LIMITS_H
#include <stddef.h>

typedef struct mm_limits_params {
    int max_conns;            /* open connections kept (>= 1) */
    double header_timeout;    /* seconds to send a request head (<= 0: no limit) */
    size_t body_total;        /* bytes of request bodies held at once (0: no limit) */
    int parse_max;            /* requests parsing/tokenizing at once (>= 1) */
    double parse_wait;        /* seconds a request waits for a parse slot before it is refused */
} mm_limits_params;

typedef struct mm_limits mm_limits;
typedef struct mm_limits_conn mm_limits_conn;

/* Starts the watchdog thread that enforces header_timeout (every 100 ms). */
mm_limits *mm_limits_new(const mm_limits_params *p);
void mm_limits_free(mm_limits *l);

/* A new connection on fd: registers it (returns its handle) and, if that makes more than max_conns, shuts
 * down the oldest one waiting for a request head (possibly this one). */
mm_limits_conn *mm_limits_conn_open(mm_limits *l, int fd);
/* The connection is being closed by its owner: forget it (after this, its fd is never touched). */
void mm_limits_conn_close(mm_limits *l, mm_limits_conn *c);
/* Its request head is complete (the request is a handler's now) / its response is done (idle again:
 * the header clock restarts for the next request on a kept-alive connection). */
void mm_limits_request_begin(mm_limits *l, mm_limits_conn *c);
void mm_limits_request_end(mm_limits *l, mm_limits_conn *c);
int mm_limits_n_conns(mm_limits *l);
/* Connections shut down so far: evicted for room, and past the header timeout. */
void mm_limits_get_counts(mm_limits *l, long long *evicted, long long *timed_out);

/* Reserves n bytes of the body budget: 1 if granted, 0 if that would pass body_total. */
int mm_limits_body_reserve(mm_limits *l, size_t n);
void mm_limits_body_release(mm_limits *l, size_t n);

/* Enters the parse section (blocks up to parse_wait seconds): 1 entered, 0 refused (server busy). */
int mm_limits_parse_enter(mm_limits *l);
void mm_limits_parse_leave(mm_limits *l);

/* JSON memory budget of the calling thread: from now on jansson may allocate at most bytes in this thread
 * (0: no limit again). mm_limits_json_exhausted() says whether an allocation was refused since. The hook
 * is installed once per process (json_set_alloc_funcs) by mm_limits_new; it only counts, memory is freed
 * with free() as always. */
void mm_limits_json_budget(size_t bytes);
int mm_limits_json_exhausted(void);

#endif
