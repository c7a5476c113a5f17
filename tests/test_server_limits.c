/* test_server_limits.c — mm_limits on socketpairs: the connection cap closes the oldest idle connection (never
 * one inside a request), the header watchdog closes overdue heads, the body budget, the parse gate and the
 * per-thread JSON allocation budget. */
#include <jansson.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mm_common.h"
#include "server/mm_limits.h"
#include "mm_test.h"

/* 1 if the peer of our end was shut down: a read sees EOF within ms milliseconds. */
static int was_shut(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0) return 0;
    char b;
    return recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

int main(void) {
    /* ---- connection cap: 3 kept; the 4th evicts the oldest idle one, skipping those inside a request */
    mm_limits *l = mm_limits_new(&(mm_limits_params){.max_conns = 3, .header_timeout = 0, .parse_max = 1});
    CHECK(l != NULL, "mm_limits_new");
    int sp[5][2];
    mm_limits_conn *c[5];
    for (int i = 0; i < 5; i++) CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]) == 0, "socketpair");
    for (int i = 0; i < 3; i++) c[i] = mm_limits_conn_open(l, sp[i][0]);
    mm_limits_request_begin(l, c[0]);   /* 0 is inside a request: not evictable */
    c[3] = mm_limits_conn_open(l, sp[3][0]);
    CHECK(!was_shut(sp[0][1], 50), "a connection inside a request is never evicted");
    CHECK(was_shut(sp[1][1], 50), "the oldest idle connection is evicted for the new one");
    CHECK(!was_shut(sp[2][1], 20) && !was_shut(sp[3][1], 20), "the others stay");
    mm_limits_conn_close(l, c[1]);
    CHECK(mm_limits_n_conns(l) == 3, "3 connections left (%d)", mm_limits_n_conns(l));
    /* 0 ends its request: idle again, and now the newest idle (its clock restarted): 2 goes first */
    mm_limits_request_end(l, c[0]);
    c[4] = mm_limits_conn_open(l, sp[4][0]);
    CHECK(was_shut(sp[2][1], 50) && !was_shut(sp[0][1], 20), "idle order follows the last request's end");
    long long ev, to;
    mm_limits_get_counts(l, &ev, &to);
    CHECK(ev == 2 && to == 0, "evictions counted: %lld %lld", ev, to);
    for (int i = 0; i < 5; i++)
        if (i != 1) mm_limits_conn_close(l, c[i]);
    CHECK(mm_limits_n_conns(l) == 0, "all closed");

    /* ---- body budget */
    mm_limits_free(l);
    l = mm_limits_new(&(mm_limits_params){.max_conns = 8, .header_timeout = 0.3, .body_total = 1000, .parse_max = 2, .parse_wait = 0.2});
    CHECK(mm_limits_body_reserve(l, 600) && !mm_limits_body_reserve(l, 401) && mm_limits_body_reserve(l, 400), "body budget 1000");
    CHECK(!mm_limits_body_reserve(l, 1), "budget full");
    mm_limits_body_release(l, 600);
    CHECK(mm_limits_body_reserve(l, 600) && !mm_limits_body_reserve(l, (size_t)-1), "released bytes can be reserved again; no overflow");
    mm_limits_body_release(l, 1000);

    /* ---- parse gate: 2 at once, the third waits parse_wait and is refused */
    CHECK(mm_limits_parse_enter(l) && mm_limits_parse_enter(l), "two parse slots");
    double t0 = mm_time();
    CHECK(!mm_limits_parse_enter(l), "a third is refused");
    double dt = mm_time() - t0;
    CHECK(dt >= 0.15 && dt < 2, "after waiting about parse_wait (%.3f s)", dt);
    mm_limits_parse_leave(l);
    CHECK(mm_limits_parse_enter(l), "a slot freed is taken");
    mm_limits_parse_leave(l);
    mm_limits_parse_leave(l);

    /* ---- header watchdog: an idle connection is shut after header_timeout, one in a request is not */
    int a[2], b[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0, "socketpairs");
    mm_limits_conn *ca = mm_limits_conn_open(l, a[0]), *cb = mm_limits_conn_open(l, b[0]);
    mm_limits_request_begin(l, cb);
    CHECK(!was_shut(a[1], 100), "not before the timeout");
    CHECK(was_shut(a[1], 1000), "an overdue head is shut down");
    CHECK(!was_shut(b[1], 300), "a connection inside a request is left alone");
    mm_limits_get_counts(l, &ev, &to);
    CHECK(to == 1, "timeouts counted (%lld)", to);
    mm_limits_conn_close(l, ca);
    mm_limits_conn_close(l, cb);
    mm_limits_free(l);
    for (int i = 0; i < 5; i++) close(sp[i][0]), close(sp[i][1]);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);

    /* ---- JSON budget: 100000 integers need a few MB of DOM */
    size_t n = 100000;
    char *big = mm_xmalloc(2 * n + 2);
    big[0] = '[';
    for (size_t i = 0; i < n; i++) big[1 + 2 * i] = '1', big[2 + 2 * i] = ',';
    big[2 * n] = ']';
    big[2 * n + 1] = 0;
    json_error_t je;
    mm_limits_json_budget(1 << 20);
    json_t *v = json_loads(big, 0, &je);
    CHECK(!v && mm_limits_json_exhausted(), "a 1 MiB budget refuses the DOM of 100000 integers");
    mm_limits_json_budget(64 << 20);
    v = json_loads(big, 0, &je);
    CHECK(v && json_array_size(v) == n && !mm_limits_json_exhausted(), "a 64 MiB budget allows it");
    json_decref(v);
    mm_limits_json_budget(0);
    v = json_loads(big, 0, &je);
    CHECK(v != NULL, "no budget: no limit");
    json_decref(v);
    free(big);
    return mmt_done();
}
