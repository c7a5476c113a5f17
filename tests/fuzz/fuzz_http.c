/* fuzz_http.c — the HTTP request path of `minimax serve`: raw bytes from a client, through libmicrohttpd and
 * every handler (routes, framing and body limits, JSON, OpenAI validation, chat rendering, tokenizing,
 * generation, streaming, errors), on a server with a tiny model and a small byte-level tokenizer that has
 * the chat template's markers (the real 200k-token one is fuzzed by fuzz_encode; with it each generated
 * token would cost a 200064-row lm_head). Each input is one connection (a socketpair handed to the server):
 * the bytes, then a half-close, then the answer is read to the end. The server must answer or close every
 * connection and never crash. */
// fuzz-options: -max_len=8192 -timeout=60 -detect_leaks=0
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "server/mm_server.h"

static mm_server *srv;

static void fuzz_init(void) {
    char dir[600], tok[700];
    snprintf(dir, sizeof dir, "%s/model", fuzz_tmpdir());
    fuzz_tiny_model(dir, 272, MM_BF16);
    snprintf(tok, sizeof tok, "%s/tokenizer.json", dir);
    fuzz_small_tokenizer_json(tok, 0);
    mm_server_params p = {.model_path = dir, .host = "127.0.0.1", .port = 0, .parallel = 2, .n_ctx = 256, .queue_max = 4,
                          .threads = 1, .max_body = 16384, .max_conns = 32, .header_timeout = 5, .idle_timeout = 5, .n_predict = 3};
    if (!(srv = mm_server_start(&p))) exit(2);
}

static void fuzz_seeds(const char *shared, const char *dir) {
    static const char *const raw[] = {
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /%ff%c3 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
        "GET / HTTP/1.0\r\n\r\n",
    };
    static const char *const posts[][2] = {   /* path, body: Content-Length is computed */
        {"/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi <end_of_sentence>\"}],\"max_tokens\":2}"},
        {"/v1/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"s\"}]},{\"role\":"
                                 "\"user\",\"content\":\"Hi\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true},\"tools\":[{\"type\":"
                                 "\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}],\"stop\":[\"a\"]}"},
        {"/v1/completions", "{\"prompt\":\"The cat\",\"stop\":[\"\\u0000\",\"a\"],\"parse_special\":true,\"stream\":true}"},
        {"/v1/completions", "{\"prompt\":[263,99,97,116],\"max_tokens\":3,\"temperature\":0.8,\"seed\":1,\"top_k\":5}"},
        {"/tokenize", "{\"content\":\"a\\u0000<end_of_sentence>\",\"parse_special\":false}"},
        {"/detokenize", "{\"tokens\":[263,256,257,262,0]}"},
    };
    int n = 0;
    fuzz_seed_strings(dir, n, raw, (int)(sizeof raw / sizeof raw[0]));
    n += (int)(sizeof raw / sizeof raw[0]);
    for (int i = 0; i < (int)(sizeof posts / sizeof posts[0]); i++) {
        char req[2048];
        int k = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         posts[i][0], strlen(posts[i][1]), posts[i][1]);
        fuzz_seed(dir, n++, req, (size_t)k);
    }
    const char *chunk = "{\"prompt\":[1,2,3],\"max_tokens\":2}";
    char req[512];
    int k = snprintf(req, sizeof req, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                     strlen(chunk), chunk);
    fuzz_seed(dir, n++, req, (size_t)k);
    (void)shared;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) abort();
    if (mm_server_add_connection(srv, sv[0]) < 0) {   /* the server closed its end */
        close(sv[1]);
        return 0;
    }
    /* libFuzzer's -timeout alarm (SIGALRM every timeout/2 + 1 s) interrupts these calls: EINTR is retried, and the
     * 30 s the server has to finish is measured on the clock (poll is never restarted, so an EINTR once ended in a
     * false "no answer") */
    for (size_t o = 0; o < size;) {   /* the server reads while we write: a full buffer only waits */
        ssize_t w = send(sv[1], data + o, size - o, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;   /* it closed the connection early (a refusal) */
        o += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR);
    char buf[65536];
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {   /* the whole answer, until the server closes; it must within its timeouts */
        struct pollfd p = {.fd = sv[1], .events = POLLIN};
        const int r = poll(&p, 1, 1000);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (r < 0 && errno != EINTR) abort();
        if (r <= 0) {
            if (t.tv_sec - t0.tv_sec > 30) abort();
            continue;
        }
        const ssize_t n = recv(sv[1], buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
    }
    close(sv[1]);
    return 0;
}
