/* mm_server.c — HTTP layer of `minimax serve` on libmicrohttpd (one thread per connection).
 *
 * A handler thread parses and validates the request, renders/tokenizes the prompt, submits an mm_job to the
 * scheduler and then either waits for it (non-streaming) or returns a callback response whose reader
 * blocks on the job and writes SSE chunks as text becomes ready. While waiting it checks every 200 ms
 * whether the client closed the socket; if so the job is cancelled and its slot freed. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "text/mm_chat.h"
#include "text/mm_grammar.h"
#include "text/mm_reasoning.h"
#include "base/mm_common.h"
#include "server/mm_limits.h"
#include "base/mm_sha256.h"
#include "model/mm_pipeline.h"
#include "server/mm_oai.h"
#include "server/mm_sched.h"
#include "server/mm_server.h"
#include "text/mm_tokenizer.h"

enum { EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS, EP_CLASSIFY, EP_MODELS, EP_HEALTH, EP_TOKENIZE, EP_DETOKENIZE, EP_METRICS,
       EP_PAGE, EP_OTHER, EP_COUNT };
static const char *const EP_NAMES[EP_COUNT] = {"chat_completions", "completions", "embeddings", "classify", "models", "health",
                                               "tokenize", "detokenize", "metrics", "page", "other"};

struct mm_server {
    mm_server_params p;
    struct MHD_Daemon *d;
    int port;                /* bound */
    atomic_int ready;        /* model loaded */
    atomic_int draining;     /* shutting down: refuse new work */
    mm_model *model;
    mm_tokenizer *tok;
    mm_sched *sched;
    mm_limits *lim;          /* connections, header time, bodies, parsing (mm_limits.h) */
    mm_gvocab *gvocab;       /* the tokenizer's token trie for grammar masks (NULL without a tokenizer) */
    int chat_style;
    int32_t eos;
    char model_id[256];
    time_t created;
    double t_start;
    pthread_mutex_t mu;      /* counters below */
    int64_t requests[EP_COUNT];
    int64_t status[6];       /* by status class: 1xx..5xx */
    int64_t disconnects;
    int64_t images;          /* images received in accepted requests */
    mm_image_budget img_budget;   /* preprocessed pixels held by admitted requests (--image-mem-mb) */
    uint64_t next_id;
};

/* One log line, written with a single write(2) so that lines of concurrent connections never interleave;
 * control bytes (which a client may have put into a message) are shown as '?'. */
static void log_line(const char *fmt, va_list ap) {
    char line[1024];
    int n = snprintf(line, sizeof line, "minimax serve: ");
    int k = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    n = k < 0 ? n : n + k < (int)sizeof line - 1 ? n + k : (int)sizeof line - 2;
    while (n > 0 && line[n - 1] == '\n') n--;
    for (int i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) line[i] = '?';
    line[n++] = '\n';
    for (ssize_t w, o = 0; o < n; o += w)
        if ((w = write(STDERR_FILENO, line + o, (size_t)(n - o))) <= 0) break;
}

static void mm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mm_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_line(fmt, ap);
    va_end(ap);
}

static volatile sig_atomic_t g_signals;
static void on_signal(int sig) {
    (void)sig;
    g_signals++;
}

/* ---------------------------------------------------------------- responses */

/* Headers of every response: CORS, and how long an idle kept-alive connection stays open (the header
 * timeout), so that clients close it before the server does rather than race it with a new request. */
static void common_headers(mm_server *s, struct MHD_Response *r) {
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    char ka[32];
    snprintf(ka, sizeof ka, "timeout=%d", s->p.header_timeout > 2 ? (int)s->p.header_timeout - 1 : 1);
    MHD_add_response_header(r, "Keep-Alive", ka);
}

static enum MHD_Result send_text(mm_server *s, struct MHD_Connection *c, unsigned status, const char *ctype,
                                 const char *body, size_t len, const char *retry_after) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    common_headers(s, r);
    if (retry_after) MHD_add_response_header(r, "Retry-After", retry_after);
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    pthread_mutex_lock(&s->mu);
    if (status >= 100 && status < 600) s->status[status / 100]++;
    pthread_mutex_unlock(&s->mu);
    return ret;
}

/* What a response that could not be built says instead (json_pack/json_dumps fail on invalid UTF-8 or out
 * of memory): a valid error, never a crash or a bare "{}". */
static const char INTERNAL_ERROR_JSON[] =
    "{\"error\":{\"message\":\"internal error: the response could not be encoded as JSON\",\"type\":\"server_error\","
    "\"code\":\"internal_error\"}}";

/* Sends v (a new reference, or NULL when building it failed) as JSON; a NULL or unencodable v becomes a 500. */
static enum MHD_Result send_json(mm_server *s, struct MHD_Connection *c, unsigned status, json_t *v) {
    char *txt = v ? json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(v);
    enum MHD_Result r = txt ? send_text(s, c, status, "application/json", txt, strlen(txt), status == 503 ? "1" : NULL)
                            : send_text(s, c, 500, "application/json", INTERNAL_ERROR_JSON, sizeof INTERNAL_ERROR_JSON - 1, NULL);
    free(txt);
    return r;
}

static enum MHD_Result send_error(mm_server *s, struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(mm_server *s, struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *type = status == 401 ? "authentication_error"
                       : status == 404 ? "not_found_error"
                       : status == 503 ? "unavailable_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    return send_json(s, c, status, mm_oai_error(msg, type, code));
}

/* 1 if the peer is known to be gone: the connection was reset or failed. An orderly EOF is not a
 * disconnect: HTTP/1.1 lets a client half-close its sending side after a complete request and still read
 * the answer. A client that closed entirely looks the same until something is written to it: a stream
 * writes every token and is cancelled at the first write that fails; a non-streaming request runs to its
 * end (bounded by max_tokens and the context, like any request a client may send). */
static int client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return 1;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---------------------------------------------------------------- completions */

typedef struct {
    mm_server *srv;
    mm_job *job;
    struct MHD_Connection *conn;
    int kind, stream, include_usage, tools;
    int rfmt;             /* chat: MM_REASONING_* of the response */
    int in_thinking;      /* chat: the prompt opened a <think> block */
    char id[64];
    time_t created;
    /* streaming state */
    size_t sent_text;     /* bytes of content already sent (of the whole text; deepseek: of the answer part) */
    size_t sent_r;        /* deepseek: bytes of the thinking already sent */
    int sent_ids;         /* token ids already sent (completions) */
    size_t seen_ready;    /* the job's text_ready when it was last looked at */
    int phase;            /* 0 streaming, 1 finished: [DONE] queued, 2 end */
    int marker, r_marker; /* a tool-call marker was seen (in the answer / in the thinking): hold the rest */
    mm_reasoning rp;      /* deepseek: where the thinking and the answer are */
    char *out;            /* pending bytes */
    size_t out_len, out_pos, out_cap;
    double t_sent;        /* mm_time() when bytes last went to the client */
} mm_gen;

static json_t *usage_json(const mm_job *j) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", j->n_prompt, "completion_tokens", j->n_gen, "total_tokens",
                     j->n_prompt + j->n_gen, "prompt_tokens_details", "cached_tokens", j->n_cached);
}

/* llama.cpp-style timings, plus the prefix-cache hit and the time to first token. */
static json_t *timings_json(const mm_job *j) {
    double t_first = j->t_first ? j->t_first : j->t_end;
    double prompt_ms = (t_first - j->t_admit) * 1e3, gen_ms = (j->t_end - t_first) * 1e3;
    int n_pf = j->n_prompt - j->n_cached, n_dec = j->n_gen > 1 ? j->n_gen - 1 : 0;
    return json_pack("{s:i, s:i, s:b, s:f, s:f, s:f, s:i, s:f, s:f, s:f}", "prompt_n", n_pf, "cache_n", j->n_cached,
                     "cache_hit", j->n_cached > 0, "queue_ms", (j->t_admit - j->t_submit) * 1e3, "ttft_ms",
                     (t_first - j->t_submit) * 1e3, "prompt_ms", prompt_ms, "predicted_n", j->n_gen, "predicted_ms", gen_ms,
                     "prompt_per_second", prompt_ms > 0 ? n_pf / (prompt_ms / 1e3) : 0.0, "predicted_per_second",
                     gen_ms > 0 ? n_dec / (gen_ms / 1e3) : 0.0);
}

static json_t *ids_json(const int32_t *ids, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
    return a;
}

/* The whole response of a finished non-streaming job. */
static json_t *final_json(mm_gen *g) {
    mm_job *j = g->job;
    json_t *choice;
    if (g->kind == MM_OAI_CHAT) {
        mm_oai_output o;
        mm_oai_split_output(j->text, j->text_len, g->rfmt, g->in_thinking, g->tools, g->id + 9, &o);
        json_t *msg = json_pack("{s:s, s:s}", "role", "assistant", "content", o.content);
        if (o.reasoning) json_object_set_new(msg, "reasoning_content", json_string(o.reasoning));
        const int calls = o.calls != NULL;
        if (calls) {
            if (!*o.content) json_object_set_new(msg, "content", json_null());
            json_object_set(msg, "tool_calls", o.calls);
        }
        mm_oai_output_clear(&o);
        choice = json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "message", msg, "logprobs", "finish_reason",
                           calls ? "tool_calls" : j->finish_reason);
    } else {
        choice = json_pack("{s:i, s:s%, s:n, s:s, s:o}", "index", 0, "text", j->text, j->text_len, "logprobs", "finish_reason",
                           j->finish_reason, "token_ids", ids_json(j->gen, j->n_gen));
    }
    return json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o, s:o, s:s}", "id", g->id, "object",
                     g->kind == MM_OAI_CHAT ? "chat.completion" : "text_completion", "created", (json_int_t)g->created, "model",
                     g->srv->model_id, "choices", choice, "usage", usage_json(j), "timings", timings_json(j),
                     "system_fingerprint", "minimax.c");
}

static void out_put(mm_gen *g, const char *s, size_t n) {
    if (g->out_len + n > g->out_cap) g->out = mm_xrealloc(g->out, g->out_cap = (g->out_len + n) * 2 + 256);
    memcpy(g->out + g->out_len, s, n);
    g->out_len += n;
}

/* One SSE event of v (a new reference, or NULL when building it failed: then an error event). */
static void out_event(mm_gen *g, json_t *v) {
    char *txt = v ? json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(v);
    out_put(g, "data: ", 6);
    if (txt) out_put(g, txt, strlen(txt));
    else out_put(g, INTERNAL_ERROR_JSON, sizeof INTERNAL_ERROR_JSON - 1);
    out_put(g, "\n\n", 2);
    free(txt);
}

/* One chunk object with the given choice (or none) */
static json_t *chunk(mm_gen *g, json_t *choice) {
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[]}", "id", g->id, "object",
                          g->kind == MM_OAI_CHAT ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)g->created,
                          "model", g->srv->model_id, "system_fingerprint", "minimax.c", "choices");
    if (!c) {
        json_decref(choice);
        return NULL;
    }
    if (choice) json_array_append_new(json_object_get(c, "choices"), choice);
    if (g->include_usage) json_object_set_new(c, "usage", json_null());
    return c;
}

static json_t *delta_choice(mm_gen *g, json_t *delta, const char *finish) {
    return json_pack("{s:i, s:o, s:n, s:s?}", "index", 0, "delta", delta, "logprobs", "finish_reason", finish);
}

/* How far into text[b, lim) a stream may go when a tool call may start there: up to a marker (then *seen is set
 * and nothing more goes out) or short of a possible marker prefix at the end. Never below b + sent. */
static size_t tool_hold(const char *text, size_t b, size_t lim, size_t sent, int *seen) {
    size_t to = b + sent;
    if (!*seen && lim > b) {
        size_t partial, m = mm_oai_tool_marker(text + b, lim - b, &partial);
        if (m < lim - b) *seen = 1;
        to = m < lim - b ? b + m : lim - partial;
    }
    return to > b + sent ? to : b + sent;
}

static void delta_event(mm_gen *g, const char *field, const char *s, size_t n) {
    if (n) out_event(g, chunk(g, delta_choice(g, json_pack("{s:s%}", field, s, n), NULL)));
}

/* Formats what the job has produced since the last call (caller holds job->mu). */
static void stream_progress(mm_gen *g) {
    mm_job *j = g->job;
    const size_t ready = j->text_ready;
    int new_ids = j->n_gen - g->sent_ids;
    g->seen_ready = ready;
    if (g->kind == MM_OAI_CHAT && g->rfmt == MM_REASONING_DEEPSEEK) {
        mm_reasoning *p = &g->rp;
        mm_reasoning_feed(p, j->text, ready, 0);
        size_t r_to = g->tools ? tool_hold(j->text, p->r_begin, p->r_end, g->sent_r, &g->r_marker) : p->r_end;
        size_t c_to = g->tools ? tool_hold(j->text, p->c_begin, p->c_end, g->sent_text, &g->marker) : p->c_end;
        if (p->has_reasoning && r_to > p->r_begin + g->sent_r) {
            delta_event(g, "reasoning_content", j->text + p->r_begin + g->sent_r, r_to - p->r_begin - g->sent_r);
            g->sent_r = r_to - p->r_begin;
        }
        if (c_to > p->c_begin + g->sent_text) {
            delta_event(g, "content", j->text + p->c_begin + g->sent_text, c_to - p->c_begin - g->sent_text);
            g->sent_text = c_to - p->c_begin;
        }
    } else if (g->kind == MM_OAI_CHAT) {
        size_t to = g->tools ? tool_hold(j->text, 0, ready, g->sent_text, &g->marker) : ready;
        if (to > g->sent_text) delta_event(g, "content", j->text + g->sent_text, to - g->sent_text);
        g->sent_text = to > g->sent_text ? to : g->sent_text;
    } else if (ready > g->sent_text || new_ids > 0) {
        size_t to = ready > g->sent_text ? ready : g->sent_text;
        json_t *ch = json_pack("{s:i, s:s%, s:n, s:n, s:o}", "index", 0, "text", j->text + g->sent_text, to - g->sent_text,
                               "logprobs", "finish_reason", "token_ids", ids_json(j->gen + g->sent_ids, new_ids));
        out_event(g, chunk(g, ch));
        g->sent_text = to;
    }
    g->sent_ids = j->n_gen;
    if (!j->done) return;

    /* the end: error, what was held back (the rest of the text, or tool calls), finish reason, usage, [DONE] */
    if (!strcmp(j->finish_reason, "error")) {
        out_event(g, mm_oai_error(j->error, "server_error", "generation_failed"));
    } else {
        const char *finish = j->finish_reason;
        if (g->kind == MM_OAI_CHAT) {
            mm_oai_output o;
            mm_oai_split_output(j->text, j->text_len, g->rfmt, g->in_thinking, g->tools, g->id + 9, &o);
            size_t lr = o.reasoning ? strlen(o.reasoning) : 0, lc = strlen(o.content);
            if (lr > g->sent_r) delta_event(g, "reasoning_content", o.reasoning + g->sent_r, lr - g->sent_r);
            if (lc > g->sent_text) delta_event(g, "content", o.content + g->sent_text, lc - g->sent_text);
            if (o.calls) {
                size_t k;
                json_t *call;
                json_array_foreach(o.calls, k, call) json_object_set_new(call, "index", json_integer((json_int_t)k));
                out_event(g, chunk(g, delta_choice(g, json_pack("{s:O}", "tool_calls", o.calls), NULL)));
                finish = "tool_calls";
            }
            mm_oai_output_clear(&o);
        }
        json_t *last;
        if (g->kind == MM_OAI_CHAT) last = chunk(g, delta_choice(g, json_object(), finish));
        else last = chunk(g, json_pack("{s:i, s:s, s:n, s:s, s:[]}", "index", 0, "text", "", "logprobs", "finish_reason", finish, "token_ids"));
        json_object_set_new(last, "timings", timings_json(j));
        out_event(g, last);
        if (g->include_usage) {
            json_t *u = chunk(g, NULL);
            json_object_set_new(u, "usage", usage_json(j));
            json_object_set_new(u, "timings", timings_json(j));
            out_event(g, u);
        }
    }
    out_put(g, "data: [DONE]\n\n", 14);
    g->phase = 1;
}

/* Seconds without bytes after which a stream sends an SSE comment: a request waiting in the queue (or a long
 * prefill) must not look idle to the connection's --idle-timeout, and a client that went away is found out
 * by the write. Half the idle timeout, at most 10 s. */
static double keepalive_s(const mm_server *s) { return s->p.idle_timeout > 20 ? 10.0 : s->p.idle_timeout / 2.0; }

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    mm_gen *g = cls;
    (void)pos;
    if (!g->t_sent) g->t_sent = mm_time();
    for (;;) {
        if (g->out_pos < g->out_len) {
            size_t n = g->out_len - g->out_pos < max ? g->out_len - g->out_pos : max;
            memcpy(buf, g->out + g->out_pos, n);
            g->out_pos += n;
            g->t_sent = mm_time();
            return (ssize_t)n;
        }
        g->out_len = g->out_pos = 0;
        if (g->phase == 1) return MHD_CONTENT_READER_END_OF_STREAM;
        mm_job *j = g->job;
        pthread_mutex_lock(&j->mu);
        if (!j->done && j->text_ready == g->seen_ready && j->n_gen == g->sent_ids) wait_ms(&j->cond, &j->mu, 200);
        if (j->done || j->text_ready != g->seen_ready || j->n_gen != g->sent_ids) stream_progress(g);
        pthread_mutex_unlock(&j->mu);
        if (g->out_len == 0 && mm_time() - g->t_sent >= keepalive_s(g->srv)) out_put(g, ": keep-alive\n\n", 14);
        if (g->out_len == 0 && client_gone(g->conn)) {
            j->cancel = 1;
            pthread_mutex_lock(&g->srv->mu);
            g->srv->disconnects++;
            pthread_mutex_unlock(&g->srv->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void gen_free(void *cls) {
    mm_gen *g = cls;
    g->job->cancel = 1;   /* no effect if it has finished; frees the slot if the client went away */
    mm_job_release(g->job);
    free(g->out);
    free(g);
}

/* Tokens of text, at most the context: text that cannot fit (more bytes than n_ctx of the longest tokens
 * can hold, allowing for NFC shrinking it 3x) is refused before tokenizing, and tokenizing stops past
 * n_ctx tokens. -1 after answering with an error. */
static int encode_prompt(mm_server *s, struct MHD_Connection *c, const char *text, size_t len, const mm_tok_opts *opts,
                         int32_t **ids, enum MHD_Result *ret) {
    const int n_ctx = mm_sched_n_ctx(s->sched);
    const size_t max_bytes = (size_t)n_ctx * mm_tokenizer_max_token_bytes(s->tok) * 3;
    if (len > max_bytes) {
        *ret = send_error(s, c, 400, "context_length_exceeded",
                          "the text has %zu bytes, more than %d tokens (the context size per request, server -c) can hold", len,
                          n_ctx);
        return -1;
    }
    mm_tok_opts o = *opts;
    o.max_tokens = n_ctx;
    int n = mm_tokenizer_encode_opts(s->tok, text, len, &o, ids);
    if (n == -2)
        *ret = send_error(s, c, 400, "context_length_exceeded",
                          "the text has more than %d tokens, the context size per request (server -c)", n_ctx);
    else if (n < 0)
        *ret = send_error(s, c, 400, "invalid_prompt", "%s", mm_last_error());
    return n;
}

/* The JSON a request body may make jansson allocate: 16 bytes per body byte (a DOM of small values costs
 * that: "[0,0,..." is 2 bytes per 40-byte integer node) + 4 MiB. */
static size_t json_budget(size_t body_len) { return body_len * 16 + ((size_t)4 << 20); }

/* The body parsed as JSON under the request's allocation budget; NULL after answering with an error. */
static json_t *parse_body(mm_server *s, struct MHD_Connection *c, const char *body, size_t len, enum MHD_Result *ret) {
    json_error_t je;
    mm_limits_json_budget(json_budget(len));
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &je);   /* text may hold U+0000: every string keeps its length */
    int over = mm_limits_json_exhausted();
    mm_limits_json_budget(0);
    if (root) return root;
    if (over)
        *ret = send_error(s, c, 413, "request_too_complex",
                          "the request's JSON (%zu bytes) needs more than %zu bytes of memory to parse: send fewer, larger values", len,
                          json_budget(len));
    else
        *ret = send_error(s, c, 400, "invalid_json", "the request body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                          je.column);
    return NULL;
}

/* Tokens of the prompt of a validated request; -1 after answering with an error. */
static int prompt_ids(mm_server *s, struct MHD_Connection *c, mm_oai_req *rq, int32_t **ids, int *in_thinking,
                      enum MHD_Result *ret) {
    int n;
    if (rq->kind == MM_OAI_CHAT || rq->prompt) {
        if (!s->tok) {
            *ret = send_error(s, c, 400, "no_tokenizer",
                              "this model has no tokenizer.json (start the server with --tokenizer FILE): "
                              "only /v1/completions with a prompt of token ids works");
            return -1;
        }
        /* Text a client sent is text: special-token strings in it are not special tokens (OpenAI semantics;
         * else a user could close a turn and forge the next one), only the chat template's markers are.
         * --parse-special, or "parse_special": true on /v1/completions, parses them in the client's text too. */
        int special = rq->parse_special >= 0 ? rq->parse_special : s->p.parse_special;
        if (rq->kind == MM_OAI_CHAT) {
            char err[512];
            json_t *msgs = mm_oai_template_messages(rq->messages, s->chat_style, err, sizeof err);
            if (!msgs) {
                *ret = send_error(s, c, 400, "invalid_messages", "%s", err);
                return -1;
            }
            mm_chat_prompt p;
            int rc = mm_chat_render_prompt(s->chat_style, msgs, rq->tools, 1, &p);
            json_decref(msgs);
            if (rc < 0) {
                *ret = send_error(s, c, 400, "invalid_messages", "%s", mm_last_error());
                return -1;
            }
            mm_tok_opts o = {.parse_special = 1, .plain = special ? NULL : (const size_t(*)[2])p.plain, .n_plain = special ? 0 : p.n_plain};
            *in_thinking = mm_reasoning_prompt_opens(p.text, p.len);
            n = encode_prompt(s, c, p.text, p.len, &o, ids, ret);
            free(p.text);
            free(p.plain);
        } else {
            n = encode_prompt(s, c, rq->prompt, rq->prompt_len, &(mm_tok_opts){.parse_special = special}, ids, ret);
        }
        if (n < 0) return -1;
    } else {
        n = rq->n_prompt_ids;
        *ids = rq->prompt_ids;
        rq->prompt_ids = NULL;
        const mm_config *cfg = mm_model_config(s->model);
        const int V = cfg->vocab_size;
        for (int i = 0; i < n; i++)
            if (cfg->vision && (*ids)[i] == cfg->image_token_index) {
                *ret = send_error(s, c, 400, "invalid_prompt", "'prompt[%d]' is the image token %d, but /v1/completions takes no "
                                  "images (send them as image_url parts to /v1/chat/completions)", i, (*ids)[i]);
                free(*ids);
                return -1;
            } else if ((*ids)[i] >= V) {
                *ret = send_error(s, c, 400, "invalid_prompt", "'prompt[%d]' = %d is not a token id of this model (vocabulary size %d)",
                                  i, (*ids)[i], V);
                free(*ids);
                return -1;
            }
    }
    if (n == 0) {
        free(*ids);
        *ret = send_error(s, c, 400, "invalid_prompt", "the prompt is empty");
        return -1;
    }
    if (n > mm_sched_n_ctx(s->sched)) {
        free(*ids);
        *ret = send_error(s, c, 400, "context_length_exceeded",
                          "the prompt has %d tokens, more than the context size of %d tokens per request (server -c)", n,
                          mm_sched_n_ctx(s->sched));
        return -1;
    }
    return n;
}

/* 0 if this server can run a parsed request, else -1 after answering 400: a task-head checkpoint generates no
 * text, a grammar needs the token texts, a logit_bias key must be a token id of this model. */
static int check_servable(mm_server *s, struct MHD_Connection *c, const mm_oai_req *rq, enum MHD_Result *ret) {
    const mm_config *cfg = mm_model_config(s->model);
    if (cfg->arch != MM_ARCH_CAUSAL_LM) {
        *ret = send_error(s, c, 400, "no_language_model_head",
                          "this model is a %s checkpoint: it has no language-model head and generates no text; use /classify or "
                          "/v1/embeddings", mm_arch_name(cfg->arch));
        return -1;
    }
    if (rq->grammar && !s->gvocab) {
        *ret = send_error(s, c, 400, "no_tokenizer", "structured output ('response_format', 'grammar') needs the model's "
                                                     "tokenizer.json (the token texts the grammar is checked against)");
        return -1;
    }
    for (int i = 0; i < rq->n_bias; i++)
        if (rq->bias_id[i] >= cfg->vocab_size) {
            *ret = send_error(s, c, 400, "invalid_request", "'logit_bias' key %d is not a token id of this model (vocabulary size %d)",
                              rq->bias_id[i], cfg->vocab_size);
            return -1;
        }
    return 0;
}

static void images_free(mm_job_image *images, int n) {
    for (int i = 0; i < n; i++) mm_job_image_free_pixels(&images[i]);
    free(images);
}

/* Reserves the bytes im's preprocessed pixels will hold (float pixel_values and the 8-bit patches) in the server's
 * image memory (--image-mem-mb) and records them in ji: 0; -2 + error when one image needs more than all of it
 * (413); -3 + error when the images of other requests hold too much of it now (503: retry later). */
static int reserve_pixels(mm_server *s, const mm_image *im, mm_job_image *ji) {
    mm_image_plan p;
    if (mm_image_plan_for(s->model, mm_image_width(im), mm_image_height(im), &p) < 0) return -1;
    const size_t S = (size_t)(p.best_width / p.grid_cols), bytes = (size_t)p.n_patches * 3 * S * S * (sizeof(float) + 1);
    const double mib = bytes / 1048576.0, max_mib = s->img_budget.max / 1048576.0;
    if (bytes > s->img_budget.max) {
        mm_set_error("its %d patches need %.1f MiB of preprocessed pixels, more than the server's image memory of %.1f MiB "
                     "(--image-mem-mb)", p.n_patches, mib, max_mib);
        return -2;
    }
    if (!mm_image_budget_reserve(&s->img_budget, bytes)) {
        mm_set_error("the images of other requests hold the server's image memory (%.1f MiB, --image-mem-mb) until they are "
                     "encoded; retry later", max_mib);
        return -3;
    }
    ji->in_bytes = bytes;
    ji->budget = &s->img_budget;
    return 0;
}

/* The images of a chat request (MiniMax-VL-01): data URLs decoded, each image decoded (its pixel count checked from
 * the header first), preprocessed and hashed. Returns how many (0: none) into *out, or -1 after answering 400/413. */
static int request_images(mm_server *s, struct MHD_Connection *c, const mm_oai_req *rq, mm_job_image **out,
                          enum MHD_Result *ret) {
    *out = NULL;
    if (rq->kind != MM_OAI_CHAT) return 0;
    const char *urls[64];
    const int max = s->p.image_max_count, n = mm_oai_image_urls(rq->messages, urls, 64);
    if (!n) return 0;
    if (!mm_model_has_vision(s->model)) {
        *ret = send_error(s, c, 400, "images_not_supported", "this model has no vision tower: image_url parts need a "
                          "MiniMax-VL-01 model");
        return -1;
    }
    if (n > max) {
        *ret = send_error(s, c, 400, "too_many_images", "the request has %d images, more than the limit of %d (server "
                          "--image-max-count)", n, max);
        return -1;
    }
    mm_job_image *ims = mm_xcalloc((size_t)n, sizeof *ims);
    for (int i = 0; i < n; i++) {
        char err[512];
        uint8_t *bytes = NULL;
        size_t nb = 0;
        int r = mm_oai_data_url(urls[i], s->p.image_max_bytes, &bytes, &nb, err, sizeof err);
        mm_image *im = NULL;
        if (r == 0) {
            mm_sha256(bytes, nb, ims[i].hash);
            im = mm_image_decode(bytes, nb, s->p.image_max_pixels);
            free(bytes);
            if (!im) r = strstr(mm_last_error(), "larger than the limit") ? -2 : -1;
            else if ((r = reserve_pixels(s, im, &ims[i])) == 0 && !(ims[i].in = mm_image_preprocess(s->model, im))) r = -1;
            if (r) snprintf(err, sizeof err, "image %d: %s", i + 1, mm_last_error());
            mm_image_free(im);
        }
        if (r) {
            *ret = r == -2   ? send_error(s, c, 413, "image_too_large", "%s", err)
                   : r == -3 ? send_error(s, c, 503, "images_busy", "%s", err)
                             : send_error(s, c, 400, "invalid_image", "%s", err);
            images_free(ims, i + 1);
            return -1;
        }
        ims[i].n_tok = mm_image_input_plan(ims[i].in)->n_tokens;
    }
    *out = ims;
    return n;
}

/* Each <image> placeholder of ids[0..n) becomes its image's tokens (ids is replaced). The new length, or -1 after
 * answering 400. */
static int expand_images(mm_server *s, struct MHD_Connection *c, int32_t **ids, int n, const mm_job_image *images, int n_img,
                         enum MHD_Result *ret) {
    int *ntok = mm_xmalloc(sizeof(int) * (size_t)n_img);
    for (int i = 0; i < n_img; i++) ntok[i] = images[i].n_tok;
    int32_t *ex = NULL;
    int ne = mm_image_expand(s->model, *ids, n, n_img, ntok, &ex);
    free(ntok);
    free(*ids);
    *ids = ex;
    if (ne < 0) *ret = send_error(s, c, 400, "invalid_messages", "%s", mm_last_error());
    else if (ne > mm_sched_n_ctx(s->sched))
        *ret = send_error(s, c, 400, "context_length_exceeded", "the prompt with its images has %d tokens, more than the "
                          "context size of %d tokens per request (server -c)", ne, mm_sched_n_ctx(s->sched));
    if (ne >= 0 && ne <= mm_sched_n_ctx(s->sched)) return ne;
    free(*ids);
    *ids = NULL;
    return -1;
}

/* Parses, renders and tokenizes a request, and decodes and preprocesses its images, inside the parse gate (at most
 * a few at once: the CPU and memory this takes grow with the body and the images). The validated request, its
 * prompt ids (image placeholders expanded) and images, or -1 after answering. */
static int parse_request(mm_server *s, struct MHD_Connection *c, int kind, const char *body, size_t len, mm_oai_req *rq,
                         int32_t **ids, mm_job_image **images, int *n_img, int *in_thinking, enum MHD_Result *ret) {
    memset(rq, 0, sizeof *rq);
    *images = NULL;
    *n_img = 0;
    if (!mm_limits_parse_enter(s->lim)) {
        *ret = send_error(s, c, 503, "busy", "the server is parsing too many requests right now; retry later");
        return -1;
    }
    int n = -1;
    json_t *root = parse_body(s, c, body, len, ret);
    if (root) {
        char err[512];
        if (mm_oai_parse(rq, kind, root, err, sizeof err) < 0) *ret = send_error(s, c, 400, "invalid_request", "%s", err);
        else if (check_servable(s, c, rq, ret) == 0 && (*n_img = request_images(s, c, rq, images, ret)) >= 0 &&
                 (n = prompt_ids(s, c, rq, ids, in_thinking, ret)) >= 0 && *n_img > 0)
            n = expand_images(s, c, ids, n, *images, *n_img, ret);
        json_decref(root);
    }
    mm_limits_parse_leave(s->lim);
    if (n < 0) {
        images_free(*images, *n_img > 0 ? *n_img : 0);
        *images = NULL;
        *n_img = 0;
    }
    return n;
}

static enum MHD_Result handle_generate(mm_server *s, struct MHD_Connection *c, int kind, const char *body, size_t len) {
    mm_oai_req rq;
    enum MHD_Result ret = MHD_NO;
    int32_t *ids = NULL;
    mm_job_image *images = NULL;
    int n_img = 0, in_thinking = 0;
    int n = parse_request(s, c, kind, body, len, &rq, &ids, &images, &n_img, &in_thinking, &ret);
    if (n < 0) {
        mm_oai_req_clear(&rq);
        return ret;
    }
    mm_job *j = mm_job_new(ids, n);
    if (n_img > 0 && mm_job_set_images(j, images, n_img, mm_model_config(s->model)->image_token_index) < 0) {
        mm_job_release(j);
        mm_oai_req_clear(&rq);
        return send_error(s, c, 500, "server_error", "%s", mm_last_error());
    }
    j->max_tokens = rq.max_tokens;
    if (s->p.n_predict > 0 && (j->max_tokens < 0 || j->max_tokens > s->p.n_predict)) j->max_tokens = s->p.n_predict;
    j->sp = rq.sp;
    j->grammar = rq.grammar;
    rq.grammar = NULL;
    j->gvocab = s->gvocab;
    j->bias_id = rq.bias_id;
    j->bias_val = rq.bias_val;
    j->n_bias = rq.n_bias;
    rq.bias_id = NULL;
    rq.bias_val = NULL;
    rq.n_bias = 0;
    if (!rq.seeded) j->sp.seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull + (uint64_t)(uintptr_t)j;
    for (int i = 0; i < rq.n_stop; i++) mm_job_add_stop(j, rq.stop[i], rq.stop_len[i]);
    j->eos = rq.ignore_eos ? -1 : s->eos;
    j->skip_special = !rq.tools;
    mm_gen *g = mm_xcalloc(1, sizeof *g);
    g->srv = s;
    g->job = j;
    g->conn = c;
    g->kind = kind;
    g->stream = rq.stream;
    g->include_usage = rq.include_usage;
    g->tools = rq.tools != NULL;
    g->rfmt = rq.reasoning_format >= 0 ? rq.reasoning_format : s->p.reasoning_format;
    g->in_thinking = in_thinking;
    mm_reasoning_init(&g->rp, MM_REASONING_DEEPSEEK, in_thinking);
    g->created = time(NULL);
    pthread_mutex_lock(&s->mu);
    uint64_t seq = ++s->next_id;
    pthread_mutex_unlock(&s->mu);
    snprintf(g->id, sizeof g->id, "%s-%08llx%06llx", kind == MM_OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)g->created & 0xffffffffull, (unsigned long long)seq);
    mm_oai_req_clear(&rq);

    int rc = mm_sched_submit(s->sched, j);
    if (rc == 0 && n_img > 0) {
        pthread_mutex_lock(&s->mu);
        s->images += n_img;
        pthread_mutex_unlock(&s->mu);
    }
    if (rc < 0) {
        mm_job_release(j);
        free(g);
        if (rc == -2) return send_error(s, c, 503, "shutting_down", "the server is shutting down");
        return send_error(s, c, 503, "queue_full", "the server is busy (all slots and the queue are full); retry later");
    }
    if (g->stream) {
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, g, gen_free);
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        common_headers(s, r);
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        pthread_mutex_lock(&s->mu);
        s->status[2]++;
        pthread_mutex_unlock(&s->mu);
        return ret;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        wait_ms(&j->cond, &j->mu, 200);
        if (!j->done && client_gone(c)) {
            j->cancel = 1;
            pthread_mutex_unlock(&j->mu);
            pthread_mutex_lock(&s->mu);
            s->disconnects++;
            pthread_mutex_unlock(&s->mu);
            gen_free(g);
            return MHD_NO;   /* closes the connection */
        }
    }
    pthread_mutex_unlock(&j->mu);
    if (!strcmp(j->finish_reason, "error")) ret = send_error(s, c, 500, "generation_failed", "%s", j->error);
    else ret = send_json(s, c, 200, final_json(g));
    gen_free(g);
    return ret;
}

/* ---------------------------------------------------------------- other endpoints */

static enum MHD_Result tokenize_body(mm_server *s, struct MHD_Connection *c, int detok, const char *body, size_t len);

static enum MHD_Result handle_tokenize(mm_server *s, struct MHD_Connection *c, int detok, const char *body, size_t len) {
    if (!s->tok) return send_error(s, c, 400, "no_tokenizer", "this model has no tokenizer.json (start the server with --tokenizer FILE)");
    if (!mm_limits_parse_enter(s->lim)) return send_error(s, c, 503, "busy", "the server is parsing too many requests right now; retry later");
    enum MHD_Result ret = tokenize_body(s, c, detok, body, len);
    mm_limits_parse_leave(s->lim);
    return ret;
}

static enum MHD_Result tokenize_body(mm_server *s, struct MHD_Connection *c, int detok, const char *body, size_t len) {
    enum MHD_Result ret;
    json_t *root = parse_body(s, c, body, len, &ret);
    if (!root) return ret;
    if (!detok) {
        json_t *content = json_object_get(root, "content");
        if (!json_is_string(content)) {
            json_decref(root);
            return send_error(s, c, 400, "invalid_request", "'content' must be a string");
        }
        int special = !json_is_false(json_object_get(root, "parse_special"));
        int32_t *ids = NULL;
        int n = encode_prompt(s, c, json_string_value(content), json_string_length(content), &(mm_tok_opts){.parse_special = special},
                              &ids, &ret);
        if (n >= 0) ret = send_json(s, c, 200, json_pack("{s:o}", "tokens", ids_json(ids, n)));
        free(ids);
    } else {
        json_t *toks = json_object_get(root, "tokens");
        size_t n = json_array_size(toks), i;
        int32_t *ids = mm_xmalloc(sizeof(int32_t) * (n + 1));
        int bad = !json_is_array(toks);
        json_t *x;
        json_array_foreach(toks, i, x) {
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= mm_tokenizer_n_ids(s->tok)) bad = 1;
            else ids[i] = (int32_t)json_integer_value(x);
        }
        if (bad) {
            ret = send_error(s, c, 400, "invalid_request", "'tokens' must be an array of token ids in [0, %d)", mm_tokenizer_n_ids(s->tok));
        } else {
            size_t tl;
            char *text = mm_tokenizer_decode_n(s->tok, ids, n, 0, &tl);   /* a token may decode to a NUL byte */
            ret = send_json(s, c, 200, json_pack("{s:s%}", "content", text, tl));
            free(text);
        }
        free(ids);
    }
    json_decref(root);
    return ret;
}

/* ---------------------------------------------------------------- embeddings and task heads */

/* Tokens of a client's text for /v1/embeddings and /classify: as text (special-token strings are special only
 * with --parse-special), at most the context (encode_prompt's rule). The count, or -1 + mm_set_error. */
static int encode_text(mm_server *s, const char *text, size_t len, int32_t **ids) {
    const int n_ctx = mm_sched_n_ctx(s->sched);
    if (len > (size_t)n_ctx * mm_tokenizer_max_token_bytes(s->tok) * 3) {
        mm_set_error("%zu bytes are more than %d tokens (the context size per request, server -c) can hold", len, n_ctx);
        return -1;
    }
    mm_tok_opts o = {.parse_special = s->p.parse_special, .max_tokens = n_ctx};
    int n = mm_tokenizer_encode_opts(s->tok, text, len, &o, ids);
    if (n == -2) mm_set_error("more than %d tokens, the context size per request (server -c)", n_ctx);
    return n;
}

/* The inputs of /v1/embeddings or /classify as token sequences: a string, an array of strings, an array of token
 * ids, or an array of arrays of ids (OpenAI's forms). Returns the count (seqs/lens malloc'd), or -1 with err. */
static int input_seqs(mm_server *s, const json_t *in, const char *field, int32_t ***seqs, int **lens, char *err, size_t errlen) {
    const mm_config *cfg = mm_model_config(s->model);
    const int V = cfg->vocab_size, n_ctx = mm_sched_n_ctx(s->sched);
    const json_t *one[1] = {in};
    const json_t *const *items = one;
    size_t n = 1;
    json_t **arr = NULL;
    if (json_is_array(in) && json_array_size(in) && !json_is_integer(json_array_get(in, 0))) {   /* a batch */
        n = json_array_size(in);
        arr = mm_xmalloc(sizeof(json_t *) * n);
        for (size_t i = 0; i < n; i++) arr[i] = json_array_get(in, i);
        items = (const json_t *const *)arr;
    }
    if (n > 2048) {
        free(arr);
        snprintf(err, errlen, "'%s' holds %zu inputs, more than 2048", field, n);
        return -1;
    }
    *seqs = mm_xcalloc(n, sizeof(int32_t *));
    *lens = mm_xcalloc(n, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        const json_t *x = items[i];
        int len = -1;
        if (json_is_string(x)) {
            if (!s->tok) {
                snprintf(err, errlen, "'%s': text needs the model's tokenizer.json (this server has none); give token ids", field);
                goto fail;
            }
            len = encode_text(s, json_string_value(x), json_string_length(x), &(*seqs)[i]);
            if (len < 0) {
                snprintf(err, errlen, "'%s[%zu]': %s", field, i, mm_last_error());
                goto fail;
            }
        } else if (json_is_array(x)) {
            size_t m = json_array_size(x);
            (*seqs)[i] = mm_xmalloc(sizeof(int32_t) * (m + 1));
            for (size_t k = 0; k < m; k++) {
                const json_t *t = json_array_get(x, k);
                if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= V) {
                    snprintf(err, errlen, "'%s[%zu][%zu]' is not a token id of this model (vocabulary size %d)", field, i, k, V);
                    goto fail;
                }
                (*seqs)[i][k] = (int32_t)json_integer_value(t);
            }
            len = (int)m;
        } else {
            snprintf(err, errlen, "'%s' must be a string, an array of strings, an array of token ids or an array of them", field);
            goto fail;
        }
        (*lens)[i] = len;
        for (int k = 0; cfg->vision && k < len; k++)
            if ((*seqs)[i][k] == cfg->image_token_index) {
                snprintf(err, errlen, "'%s[%zu]' token %d is the image token %d, but this endpoint takes no images", field, i, k,
                         cfg->image_token_index);
                goto fail;
            }
        if (len == 0) {
            snprintf(err, errlen, "'%s[%zu]' is empty", field, i);
            goto fail;
        }
        if (len > n_ctx) {
            snprintf(err, errlen, "'%s[%zu]' has %d tokens, more than the context size of %d tokens (server -c)", field, i, len, n_ctx);
            goto fail;
        }
    }
    free(arr);
    return (int)n;
fail:
    for (size_t i = 0; i < n; i++) free((*seqs)[i]);
    free(*seqs);
    free(*lens);
    free(arr);
    *seqs = NULL;
    *lens = NULL;
    return -1;
}

/* One job of kind per input sequence (each takes its sequence; seqs and lens are freed); *total: their tokens. */
static mm_job **new_jobs(int32_t **seqs, int *lens, int n, int kind, int *total) {
    mm_job **jobs = mm_xcalloc((size_t)n, sizeof(mm_job *));
    *total = 0;
    for (int i = 0; i < n; i++) {
        jobs[i] = mm_job_new(seqs[i], lens[i]);
        jobs[i]->kind = kind;
        *total += lens[i];
    }
    free(seqs);
    free(lens);
    return jobs;
}

/* Submits the jobs (waiting for room in the queue) and waits for all of them. 0, or -1 after answering (the
 * client went away: MHD_NO; shutdown: 503; a job failed: 500). */
static int run_jobs(mm_server *s, struct MHD_Connection *c, mm_job **jobs, int n, enum MHD_Result *ret) {
    int submitted = 0;
    for (;;) {
        while (submitted < n) {
            int rc = mm_sched_submit(s->sched, jobs[submitted]);
            if (rc == -2) {
                for (int i = 0; i < submitted; i++) jobs[i]->cancel = 1;
                *ret = send_error(s, c, 503, "shutting_down", "the server is shutting down");
                return -1;
            }
            if (rc < 0) break;   /* the queue is full: wait for some of ours to finish */
            submitted++;
        }
        int done = 0;
        for (int i = 0; i < submitted; i++) {
            pthread_mutex_lock(&jobs[i]->mu);
            done += jobs[i]->done;
            pthread_mutex_unlock(&jobs[i]->mu);
        }
        if (done == n) break;
        if (client_gone(c)) {
            for (int i = 0; i < submitted; i++) jobs[i]->cancel = 1;
            pthread_mutex_lock(&s->mu);
            s->disconnects++;
            pthread_mutex_unlock(&s->mu);
            *ret = MHD_NO;
            return -1;
        }
        mm_job *w = NULL;   /* wait on the first of ours still running (or briefly, for room in the queue) */
        for (int i = 0; i < submitted && !w; i++) {
            pthread_mutex_lock(&jobs[i]->mu);
            if (!jobs[i]->done) w = jobs[i];
            pthread_mutex_unlock(&jobs[i]->mu);
        }
        if (!w) {
            usleep(5000);
            continue;
        }
        pthread_mutex_lock(&w->mu);
        if (!w->done) wait_ms(&w->cond, &w->mu, submitted < n ? 20 : 200);
        pthread_mutex_unlock(&w->mu);
    }
    for (int i = 0; i < n; i++)
        if (strcmp(jobs[i]->finish_reason, "stop")) {
            *ret = send_error(s, c, 500, "inference_failed", "%s", jobs[i]->error[0] ? jobs[i]->error : jobs[i]->finish_reason);
            return -1;
        }
    return 0;
}

static int fields_ok(const json_t *body, const char *const *allowed, char *err, size_t errlen) {
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, key);
        if (!ok) {
            snprintf(err, errlen, "'%s' is not supported by this endpoint (the request is refused rather than the field ignored)", key);
            return -1;
        }
    }
    return 0;
}

static void b64_append(char **out, size_t *n, const uint8_t *p, size_t len) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    *out = mm_xrealloc(*out, *n + (len + 2) / 3 * 4 + 1);
    char *o = *out + *n;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < len ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? tab[v & 63] : '=';
    }
    *o = 0;
    *n = (size_t)(o - *out);
}

static enum MHD_Result handle_embeddings(mm_server *s, struct MHD_Connection *c, const char *body, size_t len) {
    enum MHD_Result ret = MHD_NO;
    if (mm_pp_driver(s->model))   /* the final hidden states stay on the last rank (mm_decode_ex refuses them) */
        return send_error(s, c, 400, "not_supported_distributed", "embeddings need the final hidden states, which a model split "
                          "over %d ranks does not return: serve it without mpirun for /v1/embeddings", s->model->pp->n);
    if (!mm_limits_parse_enter(s->lim)) return send_error(s, c, 503, "busy", "the server is parsing too many requests right now; retry later");
    json_t *root = parse_body(s, c, body, len, &ret);   /* parsing and tokenizing inside the parse gate */
    if (!root) {
        mm_limits_parse_leave(s->lim);
        return ret;
    }
    char err[512];
    static const char *const allowed[] = {"input", "model", "encoding_format", "dimensions", "user", NULL};
    const int H = mm_model_config(s->model)->hidden_size;
    const json_t *fmt = json_object_get(root, "encoding_format"), *dims = json_object_get(root, "dimensions");
    int b64 = 0;
    if (!json_is_object(root)) snprintf(err, sizeof err, "the request body must be a JSON object");
    else if (fields_ok(root, allowed, err, sizeof err) < 0) {
    } else if (!json_object_get(root, "input")) snprintf(err, sizeof err, "'input' is missing");
    else if (fmt && !json_is_null(fmt) && (!json_is_string(fmt) || (strcmp(json_string_value(fmt), "float") &&
                                                                     !(b64 = !strcmp(json_string_value(fmt), "base64")))))
        snprintf(err, sizeof err, "'encoding_format' must be \"float\" or \"base64\"");
    else if (dims && !json_is_null(dims) && json_integer_value(dims) != H)
        snprintf(err, sizeof err, "'dimensions' can only be this model's width %d (embeddings are not truncated)", H);
    else err[0] = 0;
    int32_t **seqs = NULL;
    int *lens = NULL, n = err[0] ? -1 : input_seqs(s, json_object_get(root, "input"), "input", &seqs, &lens, err, sizeof err);
    json_decref(root);
    mm_limits_parse_leave(s->lim);
    if (n < 0) return send_error(s, c, 400, "invalid_request", "%s", err);
    int total;
    mm_job **jobs = new_jobs(seqs, lens, n, MM_JOB_EMBED, &total);
    for (int i = 0; i < n; i++) jobs[i]->pooling = s->p.pooling;
    if (run_jobs(s, c, jobs, n, &ret) == 0) {
        json_t *data = json_array();
        for (int i = 0; i < n; i++) {
            json_t *e;
            if (b64) {
                char *txt = NULL;
                size_t tn = 0;
                uint8_t *le = mm_xmalloc(sizeof(float) * (size_t)H);
                for (int k = 0; k < H; k++) {   /* little-endian float32, as OpenAI's base64 */
                    uint32_t u;
                    memcpy(&u, &jobs[i]->out[k], 4);
                    for (int b = 0; b < 4; b++) le[4 * k + b] = (uint8_t)(u >> (8 * b));
                }
                b64_append(&txt, &tn, le, sizeof(float) * (size_t)H);
                e = json_string(txt);
                free(txt);
                free(le);
            } else {
                e = json_array();
                for (int k = 0; k < H; k++) json_array_append_new(e, json_real(jobs[i]->out[k]));
            }
            json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", i, "embedding", e));
        }
        ret = send_json(s, c, 200, json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data, "model", s->model_id,
                                             "usage", "prompt_tokens", total, "total_tokens", total));
    }
    for (int i = 0; i < n; i++) mm_job_release(jobs[i]);
    free(jobs);
    return ret;
}

/* Sorted (label, score, logit) of one classification row. */
static json_t *labels_json(mm_server *s, const float *logits, int nl) {
    const mm_config *cfg = mm_model_config(s->model);
    float *p = mm_xmalloc(sizeof(float) * (size_t)nl);
    int *ord = mm_xmalloc(sizeof(int) * (size_t)nl);
    memcpy(p, logits, sizeof(float) * (size_t)nl);
    mm_head_scores(cfg, p, nl);
    for (int i = 0; i < nl; i++) ord[i] = i;
    for (int i = 1; i < nl; i++)   /* insertion sort by score, descending (label counts are small) */
        for (int k = i; k > 0 && p[ord[k]] > p[ord[k - 1]]; k--) {
            int t = ord[k];
            ord[k] = ord[k - 1];
            ord[k - 1] = t;
        }
    json_t *a = json_array();
    for (int i = 0; i < nl; i++)
        json_array_append_new(a, json_pack("{s:s, s:f, s:f}", "label", mm_model_label(s->model, ord[i]), "score", (double)p[ord[i]],
                                           "logit", (double)logits[ord[i]]));
    free(p);
    free(ord);
    return a;
}

static enum MHD_Result handle_classify(mm_server *s, struct MHD_Connection *c, const char *body, size_t len) {
    const mm_config *cfg = mm_model_config(s->model);
    if (cfg->arch == MM_ARCH_CAUSAL_LM)
        return send_error(s, c, 400, "no_task_head", "this model is a causal LM (%s): it has no classification or question-answering "
                          "head; load a MiniMaxForSequenceClassification, MiniMaxForTokenClassification or "
                          "MiniMaxForQuestionAnswering checkpoint", cfg->model_type);
    enum MHD_Result ret = MHD_NO;
    if (!mm_limits_parse_enter(s->lim)) return send_error(s, c, 503, "busy", "the server is parsing too many requests right now; retry later");
    json_t *root = parse_body(s, c, body, len, &ret);   /* parsing and tokenizing inside the parse gate */
    if (!root) {
        mm_limits_parse_leave(s->lim);
        return ret;
    }
    char err[512] = "";
    static const char *const allowed[] = {"input", "question", "context", "max_answer_len", "model", "user", NULL};
    const json_t *in = json_object_get(root, "input"), *q = json_object_get(root, "question"), *ctxt = json_object_get(root, "context");
    const json_t *mal = json_object_get(root, "max_answer_len");
    int32_t **seqs = NULL;
    int *lens = NULL, n = -1, ctx0 = 0;   /* QA with question + context: the context's first token */
    if (!json_is_object(root)) snprintf(err, sizeof err, "the request body must be a JSON object");
    else if (fields_ok(root, allowed, err, sizeof err) < 0) {
    } else if ((q || ctxt) && cfg->arch != MM_ARCH_QA) snprintf(err, sizeof err, "'question' and 'context' are for a question-answering model");
    else if (mal && (!json_is_integer(mal) || json_integer_value(mal) < 1 || json_integer_value(mal) > 4096))
        snprintf(err, sizeof err, "'max_answer_len' must be an integer in [1, 4096]");
    else if (q || ctxt) {
        if (in) snprintf(err, sizeof err, "give 'input', or 'question' and 'context', not both");
        else if (!json_is_string(q) || !json_is_string(ctxt)) snprintf(err, sizeof err, "'question' and 'context' must both be strings");
        else if (!s->tok) snprintf(err, sizeof err, "'question' and 'context' need the model's tokenizer.json; give 'input' as token ids");
        else {   /* transformers' pair encoding for this tokenizer: the question's tokens, then the context's */
            int32_t *qi = NULL, *ci = NULL;
            int nq = encode_text(s, json_string_value(q), json_string_length(q), &qi);
            int nc = nq < 0 ? -1 : encode_text(s, json_string_value(ctxt), json_string_length(ctxt), &ci);
            if (nq < 0 || nc < 0) snprintf(err, sizeof err, "%s", mm_last_error());
            else if (nc == 0) snprintf(err, sizeof err, "'context' is empty");
            else if (nq + nc > mm_sched_n_ctx(s->sched)) snprintf(err, sizeof err, "question and context have %d tokens, more than the context size %d", nq + nc, mm_sched_n_ctx(s->sched));
            else {
                n = 1;
                seqs = mm_xmalloc(sizeof(int32_t *));
                lens = mm_xmalloc(sizeof(int));
                seqs[0] = mm_xmalloc(sizeof(int32_t) * (size_t)(nq + nc));
                memcpy(seqs[0], qi, sizeof(int32_t) * (size_t)nq);
                memcpy(seqs[0] + nq, ci, sizeof(int32_t) * (size_t)nc);
                lens[0] = nq + nc;
                ctx0 = nq;
            }
            free(qi);
            free(ci);
        }
    } else if (!in) snprintf(err, sizeof err, "'input' is missing");
    else n = input_seqs(s, in, "input", &seqs, &lens, err, sizeof err);
    int max_len = mal ? (int)json_integer_value(mal) : 15;
    json_decref(root);
    mm_limits_parse_leave(s->lim);
    if (n < 0) return send_error(s, c, 400, "invalid_request", "%s", err);
    int total;
    mm_job **jobs = new_jobs(seqs, lens, n, MM_JOB_HEAD, &total);
    for (int i = 0; i < n; i++)
        jobs[i]->head_pos = cfg->arch == MM_ARCH_SEQ_CLS ? mm_seq_cls_index(cfg, jobs[i]->prompt, jobs[i]->n_prompt) : -1;
    if (run_jobs(s, c, jobs, n, &ret) == 0) {
        json_t *data = json_array();
        const int nl = mm_model_head_size(s->model);
        for (int i = 0; i < n; i++) {
            mm_job *j = jobs[i];
            json_t *d = json_pack("{s:i}", "index", i);
            if (cfg->arch == MM_ARCH_SEQ_CLS) {
                json_t *labs = labels_json(s, j->out, nl);
                json_object_set(d, "label", json_object_get(json_array_get(labs, 0), "label"));
                json_object_set(d, "score", json_object_get(json_array_get(labs, 0), "score"));
                json_object_set_new(d, "labels", labs);
            } else if (cfg->arch == MM_ARCH_TOKEN_CLS) {
                json_t *toks = json_array();
                mm_detok *dt = s->tok ? mm_detok_new(s->tok, 0) : NULL;
                for (int t = 0; t < j->n_prompt; t++) {
                    json_t *labs = labels_json(s, j->out + (size_t)t * nl, nl);
                    json_t *tk = json_pack("{s:i, s:O, s:O}", "id", j->prompt[t], "label", json_object_get(json_array_get(labs, 0), "label"),
                                           "score", json_object_get(json_array_get(labs, 0), "score"));
                    if (dt) {
                        size_t pl;
                        const char *piece = mm_detok_push(dt, j->prompt[t], &pl);
                        json_object_set_new(tk, "text", json_stringn(piece, pl));
                    }
                    json_decref(labs);
                    json_array_append_new(toks, tk);
                }
                mm_detok_free(dt);
                json_object_set_new(d, "tokens", toks);
            } else {   /* QA: out is [n_prompt, 2] (start, end) */
                int T = j->n_prompt, a, b;
                float *st = mm_xmalloc(sizeof(float) * (size_t)T), *en = mm_xmalloc(sizeof(float) * (size_t)T);
                for (int t = 0; t < T; t++) {
                    st[t] = j->out[2 * t];
                    en[t] = j->out[2 * t + 1];
                }
                double score = mm_qa_best_span(st, en, ctx0, T, max_len, &a, &b);
                json_object_set_new(d, "start", json_integer(a - ctx0));
                json_object_set_new(d, "end", json_integer(b - ctx0));
                json_object_set_new(d, "score", json_real(score));
                json_object_set_new(d, "start_logit", json_real(st[a]));
                json_object_set_new(d, "end_logit", json_real(en[b]));
                json_object_set_new(d, "token_ids", ids_json(j->prompt + a, b - a + 1));
                if (s->tok) {
                    char *ans = mm_tokenizer_decode(s->tok, j->prompt + a, (size_t)(b - a + 1), 1);
                    json_object_set_new(d, "answer", json_string(ans));
                    free(ans);
                }
                free(st);
                free(en);
            }
            json_array_append_new(data, d);
        }
        ret = send_json(s, c, 200, json_pack("{s:s, s:s, s:s, s:o, s:{s:i, s:i}}", "object", "list", "model", s->model_id,
                                             "architecture", mm_arch_name(cfg->arch), "data", data, "usage", "prompt_tokens", total,
                                             "total_tokens", total));
    }
    for (int i = 0; i < n; i++) mm_job_release(jobs[i]);
    free(jobs);
    return ret;
}

static enum MHD_Result handle_models(mm_server *s, struct MHD_Connection *c) {
    const mm_config *cfg = mm_model_config(s->model);
    char *type = mm_utf8_lossy(cfg->model_type, strlen(cfg->model_type), NULL);   /* from the model file */
    json_t *m = json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:b, s:b}}", "id", s->model_id, "object",
                          "model", "created", (json_int_t)s->created, "owned_by", "minimax.c", "meta", "model_type", type,
                          "architecture", mm_arch_name(cfg->arch), "vocab_size", cfg->vocab_size, "hidden_size", cfg->hidden_size,
                          "n_layers", cfg->n_layers, "n_ctx", mm_sched_n_ctx(s->sched), "parallel", s->p.parallel, "tokenizer",
                          s->tok != NULL, "vision", mm_model_has_vision(s->model));
    free(type);
    return send_json(s, c, 200, json_pack("{s:s, s:[o]}", "object", "list", "data", m));
}

static enum MHD_Result handle_metrics(mm_server *s, struct MHD_Connection *c) {
    mm_sched_stats st;
    mm_sched_get_stats(s->sched, &st);
    size_t cap = 16384, n = 0; /* the metrics below take about 9 KiB */
    char *b = mm_xmalloc(cap);
#define M(...)                                                                            \
    do {                                                                                  \
        int w_ = snprintf(b + n, cap - n, __VA_ARGS__);                                   \
        if (w_ > 0) n += (size_t)w_ < cap - n ? (size_t)w_ : cap - n - 1;                 \
    } while (0)
#define METRIC(name, type, help, fmt, val) \
    M("# HELP minimax_" name " " help "\n# TYPE minimax_" name " " type "\nminimax_" name " " fmt "\n", val)
    pthread_mutex_lock(&s->mu);
    M("# HELP minimax_requests_total HTTP requests by endpoint.\n# TYPE minimax_requests_total counter\n");
    for (int i = 0; i < EP_COUNT; i++) M("minimax_requests_total{endpoint=\"%s\"} %lld\n", EP_NAMES[i], (long long)s->requests[i]);
    M("# HELP minimax_responses_total HTTP responses by status class.\n# TYPE minimax_responses_total counter\n");
    for (int i = 1; i < 6; i++) M("minimax_responses_total{code=\"%dxx\"} %lld\n", i, (long long)s->status[i]);
    long long disc = (long long)s->disconnects, images = (long long)s->images;
    pthread_mutex_unlock(&s->mu);
    METRIC("client_disconnects_total", "counter", "Requests cancelled because the client went away.", "%lld", disc);
    METRIC("prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", "%lld", (long long)st.prompt_tokens);
    METRIC("prefill_tokens_total", "counter", "Prompt tokens computed (not restored from the prefix cache).", "%lld",
           (long long)st.prefill_tokens);
    METRIC("generated_tokens_total", "counter", "Generated tokens.", "%lld", (long long)st.gen_tokens);
    METRIC("prefill_seconds_total", "counter", "Forward time spent on prompt tokens.", "%.6f", st.prefill_seconds);
    METRIC("decode_seconds_total", "counter", "Forward time spent on generated tokens.", "%.6f", st.decode_seconds);
    METRIC("prefill_tokens_per_second", "gauge", "Prompt tokens per second of forward time.", "%.3f",
           st.prefill_seconds > 0 ? st.prefill_tokens / st.prefill_seconds : 0.0);
    METRIC("decode_tokens_per_second", "gauge", "Generated tokens per second of forward time (all sequences).", "%.3f",
           st.decode_seconds > 0 ? st.gen_tokens / st.decode_seconds : 0.0);
    METRIC("steps_total", "counter", "Batched forward steps.", "%lld", (long long)st.steps);
    METRIC("cache_hits_total", "counter", "Requests that restored a cached prefix.", "%lld", (long long)st.cache_hits);
    METRIC("cache_misses_total", "counter", "Requests with no cached prefix.", "%lld", (long long)st.cache_misses);
    METRIC("cache_tokens_saved_total", "counter", "Prompt tokens restored from the prefix cache instead of computed.", "%lld",
           (long long)st.cache_tokens_saved);
    METRIC("cache_entries", "gauge", "Prefix-cache snapshots held.", "%d", st.cache_entries);
    METRIC("cache_bytes", "gauge", "Bytes of prefix-cache snapshots held (a KV page shared by several once).", "%lld", (long long)st.cache_bytes);
    METRIC("cache_budget_bytes", "gauge", "Prefix-cache budget (--cache-mb).", "%lld", (long long)st.cache_budget);
    METRIC("kv_pages_live", "gauge", "KV cache pages held by sequences or prefix-cache snapshots (a shared page once).", "%lld",
           (long long)st.kv.pages_live);
    METRIC("kv_pages_free", "gauge", "KV cache pages kept for reuse.", "%lld", (long long)st.kv.pages_free);
    METRIC("kv_page_bytes", "gauge", "Bytes of one KV cache page.", "%lld", (long long)st.kv.page_bytes);
    METRIC("kv_page_positions", "gauge", "Positions of one KV cache page (--kv-page).", "%d", st.kv.page_positions);
    METRIC("cache_evictions_total", "counter", "Prefix-cache snapshots evicted (LRU).", "%lld", (long long)st.cache_evictions);
    METRIC("requests_running", "gauge", "Requests in a slot (prefilling or generating).", "%d", st.running);
    METRIC("requests_queued", "gauge", "Requests waiting for a slot.", "%d", st.queued);
    METRIC("slots", "gauge", "Sequences decoded together (--parallel).", "%d", st.slots);
    METRIC("requests_finished_total", "counter", "Requests that finished.", "%lld", (long long)st.jobs_done);
    METRIC("requests_cancelled_total", "counter", "Requests cancelled (client disconnected).", "%lld", (long long)st.jobs_cancelled);
    long long evicted, timed_out;
    mm_limits_get_counts(s->lim, &evicted, &timed_out);
    METRIC("connections_open", "gauge", "Open client connections.", "%d", mm_limits_n_conns(s->lim));
    METRIC("connections_evicted_total", "counter", "Idle connections closed to make room (--max-conns).", "%lld", evicted);
    METRIC("connections_header_timeouts_total", "counter", "Connections closed for not sending a request head in time.", "%lld",
           timed_out);
    METRIC("images_total", "counter", "Images received in accepted chat requests.", "%lld", images);
    METRIC("images_encoded_total", "counter", "Images run through the vision tower.", "%lld", (long long)st.images_encoded);
    METRIC("images_cached_total", "counter", "Images whose tokens were restored from the prefix cache (no encode, no prefill).",
           "%lld", (long long)st.images_cached);
    METRIC("image_patches_encoded_total", "counter", "Image patches (thumbnail and tiles) encoded.", "%lld",
           (long long)st.image_patches_encoded);
    METRIC("image_tokens_total", "counter", "Image tokens in admitted prompts.", "%lld", (long long)st.image_tokens);
    METRIC("image_encode_seconds_total", "counter", "Time spent encoding images (vision tower and projector).", "%.6f",
           st.image_encode_seconds);
    METRIC("uptime_seconds", "gauge", "Seconds since the server started.", "%.1f", mm_time() - s->t_start);
#undef METRIC
#undef M
    enum MHD_Result r = send_text(s, c, 200, "text/plain; version=0.0.4", b, n, NULL);
    free(b);
    return r;
}

/* ---------------------------------------------------------------- dispatch */

typedef struct {
    char *body;
    size_t len, cap;
    size_t reserved;      /* bytes of the body budget this request holds */
    int too_big;          /* the body passes --max-body-kb: 413 once it is in */
    int busy;             /* the body budget ran out while a chunked body came: 503 once it is in */
    int answered;         /* refused from its head alone: the body is dropped unread */
} mm_conn;

static int authorized(mm_server *s, struct MHD_Connection *c) {
    if (!s->p.api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return 0;
    const char *k = h + 7, *want = s->p.api_key;
    size_t lk = strlen(k), lw = strlen(want);
    unsigned diff = (unsigned)(lk != lw);
    for (size_t i = 0; i < lw; i++) diff |= (unsigned)(want[i] ^ (i < lk ? k[i] : 0));   /* constant time */
    return diff == 0;
}

static enum MHD_Result route(mm_server *s, struct MHD_Connection *c, const char *url, const char *method, mm_conn *cc) {
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    static const struct {
        const char *path;
        int ep, post;
    } routes[] = {
        {"/v1/chat/completions", EP_CHAT, 1}, {"/chat/completions", EP_CHAT, 1}, {"/v1/completions", EP_COMPLETIONS, 1},
        {"/completions", EP_COMPLETIONS, 1},  {"/v1/models", EP_MODELS, 0},     {"/models", EP_MODELS, 0},
        {"/v1/embeddings", EP_EMBEDDINGS, 1}, {"/embeddings", EP_EMBEDDINGS, 1}, {"/classify", EP_CLASSIFY, 1},
        {"/health", EP_HEALTH, 0},            {"/tokenize", EP_TOKENIZE, 1},    {"/detokenize", EP_DETOKENIZE, 1},
        {"/metrics", EP_METRICS, 0},          {"/", EP_PAGE, 0},                {"/index.html", EP_PAGE, 0},
    };
    int ep = EP_OTHER, want_post = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(url, routes[i].path)) {
            ep = routes[i].ep;
            want_post = routes[i].post;
        }
    pthread_mutex_lock(&s->mu);
    s->requests[ep]++;
    pthread_mutex_unlock(&s->mu);

    if (!strcmp(method, "OPTIONS")) {   /* CORS preflight */
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        common_headers(s, r);
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        enum MHD_Result ret = MHD_queue_response(c, 204, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (ep == EP_HEALTH) {
        if (!atomic_load(&s->ready)) return send_json(s, c, 503, json_pack("{s:s}", "status", "loading model"));
        if (atomic_load(&s->draining)) return send_json(s, c, 503, json_pack("{s:s}", "status", "shutting down"));
        mm_sched_stats st;
        mm_sched_get_stats(s->sched, &st);
        return send_json(s, c, 200, json_pack("{s:s, s:i, s:i, s:i}", "status", "ok", "slots_idle", st.slots - st.running,
                                              "slots_processing", st.running, "requests_queued", st.queued));
    }
    if (!authorized(s, c)) return send_error(s, c, 401, "invalid_api_key", "missing or wrong API key: send 'Authorization: Bearer KEY'");
    if (ep == EP_OTHER) return send_error(s, c, 404, "not_found", "no such endpoint: %s %s", method, url);
    if (want_post ? !post : !get)
        return send_error(s, c, 405, "method_not_allowed", "%s needs %s, not %s", url, want_post ? "POST" : "GET", method);
    if (cc->too_big)
        return send_error(s, c, 413, "request_too_large", "the request body is larger than the limit of %zu bytes", s->p.max_body);
    if (ep == EP_PAGE) return send_text(s, c, 200, "text/html; charset=utf-8", mm_web_index_html, strlen(mm_web_index_html), NULL);
    if (!atomic_load(&s->ready)) return send_error(s, c, 503, "loading", "the model is still loading");
    switch (ep) {
    case EP_CHAT:
    case EP_COMPLETIONS:
        if (atomic_load(&s->draining)) return send_error(s, c, 503, "shutting_down", "the server is shutting down");
        return handle_generate(s, c, ep == EP_CHAT ? MM_OAI_CHAT : MM_OAI_COMPLETION, cc->body ? cc->body : "", cc->len);
    case EP_EMBEDDINGS:
    case EP_CLASSIFY:
        if (atomic_load(&s->draining)) return send_error(s, c, 503, "shutting_down", "the server is shutting down");
        return (ep == EP_EMBEDDINGS ? handle_embeddings : handle_classify)(s, c, cc->body ? cc->body : "", cc->len);
    case EP_TOKENIZE:
    case EP_DETOKENIZE: return handle_tokenize(s, c, ep == EP_DETOKENIZE, cc->body ? cc->body : "", cc->len);
    case EP_MODELS: return handle_models(s, c);
    default: return handle_metrics(s, c);
    }
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    if (!strcasecmp(key, "Content-Length")) ++*(int *)cls;
    return MHD_YES;
}

static mm_limits_conn *limits_conn(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The request head is complete: decide what can be decided before reading the body. A refusal here is
 * answered at once and the body is never read (the connection closes after the answer). */
static enum MHD_Result on_head(mm_server *s, struct MHD_Connection *c, mm_conn *cc) {
    mm_limits_request_begin(s->lim, limits_conn(c));
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    int n_cl = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &n_cl);
    enum MHD_Result r = MHD_YES;
    if (te && cl) {
        r = send_error(s, c, 400, "bad_framing", "a request must not have both Transfer-Encoding and Content-Length");
    } else if (n_cl > 1) {
        r = send_error(s, c, 400, "bad_framing", "a request must not have more than one Content-Length");
    } else if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (cl[0] < '0' || cl[0] > '9' || *end || errno == ERANGE)
            r = send_error(s, c, 400, "bad_framing", "Content-Length must be a decimal number of bytes");
        else if (n > s->p.max_body)
            r = send_error(s, c, 413, "request_too_large", "the request body (%llu bytes) is larger than the limit of %zu bytes", n,
                           s->p.max_body);
        else if (!mm_limits_body_reserve(s->lim, (size_t)n))
            r = send_error(s, c, 503, "busy", "the server holds too many request bodies right now; retry later");
        else {
            cc->reserved = (size_t)n;
            return MHD_YES;
        }
    } else {
        return MHD_YES;
    }
    cc->answered = 1;
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    mm_server *s = cls;
    mm_conn *cc = *con_cls;
    if (!cc) {
        cc = mm_xcalloc(1, sizeof *cc);
        *con_cls = cc;
        return on_head(s, c, cc);
    }
    if (cc->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {   /* more body: keep it, or count it and drop it once over a limit */
        size_t n = *upload_size;
        *upload_size = 0;
        if (cc->too_big || cc->busy) return MHD_YES;
        if (cc->len + n > s->p.max_body) {
            cc->too_big = 1;
        } else if (cc->len + n > cc->reserved) {   /* chunked: reserve as it grows */
            if (mm_limits_body_reserve(s->lim, cc->len + n - cc->reserved)) cc->reserved = cc->len + n;
            else cc->busy = 1;
        }
        if (cc->too_big || cc->busy) {
            free(cc->body);
            cc->body = NULL;
            return MHD_YES;
        }
        if (cc->len + n + 1 > cc->cap) cc->body = mm_xrealloc(cc->body, cc->cap = (cc->len + n + 1) * 2);
        memcpy(cc->body + cc->len, upload, n);
        cc->len += n;
        cc->body[cc->len] = 0;
        return MHD_YES;
    }
    if (cc->busy) return send_error(s, c, 503, "busy", "the server holds too many request bodies right now; retry later");
    return route(s, c, url, method, cc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    mm_server *s = cls;
    mm_conn *cc = *con_cls;
    if (cc) {
        size_t big = cc->reserved >= ((size_t)1 << 20);
        mm_limits_body_release(s->lim, cc->reserved);
        free(cc->body);
        free(cc);
        *con_cls = NULL;
#ifdef __GLIBC__
        /* a big body's DOM was many small blocks in this connection thread's malloc arena; each thread may
         * use another arena, so without this the freed memory of one arena is kept while the next request
         * grows another one, and RSS climbs with the number of arenas */
        if (big) malloc_trim(0);
#endif
    }
    mm_limits_request_end(s->lim, limits_conn(c));
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context, enum MHD_ConnectionNotificationCode code) {
    mm_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? mm_limits_conn_open(s->lim, ci->connect_fd) : NULL;
    } else {
        mm_limits_conn_close(s->lim, *socket_context);
        *socket_context = NULL;
    }
}

/* ---------------------------------------------------------------- startup and shutdown */

/* libmicrohttpd's messages (mostly about clients that misbehave: a stranger decides how many) are kept to
 * 10 lines a second; the count of those left out is printed with the next line that gets through. */
static void log_cb(void *cls, const char *fmt, va_list ap) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static long window, in_window, dropped;
    pthread_mutex_lock(&mu);
    long now = (long)mm_time(), left_out = 0;
    if (now != window) window = now, in_window = 0;
    int show = in_window++ < 10;
    if (show) left_out = dropped, dropped = 0;
    else dropped++;
    pthread_mutex_unlock(&mu);
    if (!show) return;
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (left_out) mm_log("libmicrohttpd: %s (%ld similar messages left out)", msg, left_out);
    else mm_log("libmicrohttpd: %s", msg);
}

/* Each connection holds a descriptor: make sure the soft limit allows --max-conns of them and the model's. */
static void raise_fd_limit(int max_conns) {
    struct rlimit rl;
    rlim_t want = (rlim_t)max_conns + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < want)
        mm_log("warning: the open-file limit (%llu) is below --max-conns + 256; raise it with ulimit -n", (unsigned long long)rl.rlim_cur);
}

/* Stops the daemon first (every connection reported closed), then what the handlers used. */
static void server_free(mm_server *s) {
    if (s->d) MHD_stop_daemon(s->d);
    mm_limits_free(s->lim);
    mm_sched_free(s->sched);   /* waits for the running step; cancels what is left */
    mm_gvocab_free(s->gvocab);
    mm_tokenizer_free(s->tok);
    mm_model_free(s->model);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

mm_server *mm_server_start(const mm_server_params *pp) {
    mm_server *s = mm_xcalloc(1, sizeof *s);
    s->p = *pp;
    if (!s->p.image_max_bytes) s->p.image_max_bytes = (size_t)6 << 20;
    if (!s->p.image_max_pixels) s->p.image_max_pixels = 33554432;
    if (!s->p.image_max_count) s->p.image_max_count = 8;
    s->img_budget.max = s->p.image_mem_bytes ? s->p.image_mem_bytes : (size_t)1 << 30;
    s->created = time(NULL);
    s->t_start = mm_time();
    pthread_mutex_init(&s->mu, NULL);
    const char *base = strrchr(s->p.model_path, '/');
    base = base && base[1] ? base + 1 : s->p.model_path;
    /* the id goes into every response: a directory name or alias that is not UTF-8 (or is cut inside a
     * character) is shown with U+FFFD, as JSON requires */
    char raw_id[sizeof s->model_id / 4];
    snprintf(raw_id, sizeof raw_id, "%s", s->p.alias ? s->p.alias : base);
    char *id = mm_utf8_lossy(raw_id, strlen(raw_id), NULL);
    snprintf(s->model_id, sizeof s->model_id, "%s", id);
    free(id);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    /* poll(), not select(): no FD_SETSIZE cap on descriptor numbers */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (inet_pton(AF_INET, s->p.host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->p.port);
    } else if (inet_pton(AF_INET6, s->p.host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->p.port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "minimax serve: --host '%s' is not an IPv4 or IPv6 address\n", s->p.host);
        server_free(s);
        return NULL;
    }
    raise_fd_limit(s->p.max_conns);
    s->lim = mm_limits_new(&(mm_limits_params){.max_conns = s->p.max_conns, .header_timeout = s->p.header_timeout,
                                               .body_total = 8 * s->p.max_body, .parse_max = 2, .parse_wait = 30});
    if (!s->lim) {
        fprintf(stderr, "minimax serve: %s\n", mm_last_error());
        server_free(s);
        return NULL;
    }
    /* the library's own connection limit is a little above ours: the connection that passes --max-conns
     * must be accepted for mm_limits to make room for it by closing an idle one */
    s->d = MHD_start_daemon(flags, (uint16_t)s->p.port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, log_cb, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)s->p.max_conns + 16, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->p.idle_timeout,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!s->d) {
        fprintf(stderr, "minimax serve: cannot listen on %s:%d (%s)\n", s->p.host, s->p.port, strerror(errno));
        server_free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->p.port;
    fprintf(stderr, "minimax serve: listening on http://%s:%d (loading %s)\n", s->p.host, s->port, s->p.model_path);

    if (s->p.threads) mm_set_threads(s->p.threads);
    s->model = s->p.model ? s->p.model : mm_model_load(s->p.model_path, &(mm_model_params){.mmproj = s->p.mmproj});
    if (!s->model) {
        fprintf(stderr, "minimax serve: %s\n", mm_last_error());
        server_free(s);
        return NULL;
    }
    const mm_config *cfg = mm_model_config(s->model);
    char tdefault[4096];
    snprintf(tdefault, sizeof tdefault, "%s/tokenizer.json", s->p.model_path);
    /* rank 0 of a pipeline: the other ranks wait for its commands with a timeout (MM_DIST_TIMEOUT) until the
     * scheduler's keep-alive takes over; tell them we live around the slow start-up steps */
    if (mm_pp_driver(s->model)) mm_pp_ping(s->model->pp);
    if (s->p.tokenizer_path || access(tdefault, R_OK) == 0) {
        s->tok = mm_tokenizer_load(s->p.tokenizer_path ? s->p.tokenizer_path : tdefault);
        if (s->tok && mm_pp_driver(s->model)) mm_pp_ping(s->model->pp);
        if (!s->tok) {
            fprintf(stderr, "minimax serve: %s\n", mm_last_error());
            server_free(s);
            return NULL;
        }
    }
    if (s->tok && mm_tokenizer_n_ids(s->tok) > cfg->vocab_size) {
        /* its ids past the vocabulary would reach the model: every prompt containing one would fail */
        fprintf(stderr, "minimax serve: the tokenizer (%s) has token ids up to %d, but the model's vocabulary has %d: they do not "
                        "belong together (give the model's own tokenizer with --tokenizer)\n",
                s->p.tokenizer_path ? s->p.tokenizer_path : tdefault, mm_tokenizer_n_ids(s->tok) - 1, cfg->vocab_size);
        server_free(s);
        return NULL;
    }
    s->eos = s->tok ? mm_tokenizer_token_id(s->tok, "<end_of_sentence>") : -1;
    s->chat_style = mm_chat_style_for_model_type(cfg->model_type);
    mm_sched_params sp = {.parallel = s->p.parallel, .n_ctx = s->p.n_ctx, .queue_max = s->p.queue_max,
                          .cache_bytes = s->p.cache_bytes, .type_k = s->p.type_k, .type_v = s->p.type_v,
                          .kv_page = s->p.kv_page, .micro = s->p.micro};
    /* The memory plan: every slot full to -c, plus the prefix cache's budget. */
    const mm_context_params cp = {.n_ctx = s->p.n_ctx, .n_seq_max = s->p.parallel, .type_k = s->p.type_k, .type_v = s->p.type_v,
                                  .kv_page = s->p.kv_page};
    mm_mem_plan pl;
    if (mm_mem_plan_get(s->model, &cp, 0, &pl) == 0) {
        pl.total += (int64_t)s->p.cache_bytes;
        const int64_t avail = mm_mem_available();
        const double M = 1 << 20;
        fprintf(stderr, "minimax serve: memory plan: weights %.0f MiB + KV %.0f MiB (%d slots x %d tok, -ctk %s -ctv %s) + lightning %.0f MiB + "
                        "scratch %.0f MiB + prefix cache %.0f MiB + runtime %.0f MiB = %.0f MiB of %.0f MiB available\n",
                pl.weights / M, pl.kv / M, s->p.parallel, s->p.n_ctx, mm_kv_type_name(s->p.type_k), mm_kv_type_name(s->p.type_v),
                pl.lightning / M, pl.scratch / M, (double)s->p.cache_bytes / M, pl.runtime / M, pl.total / M, avail / M);
        if (mm_mem_plan_check(s->model, &cp, &pl, avail) < 0) {
            fprintf(stderr, "minimax serve: %s (or a smaller --cache-mb)\n", mm_last_error());
            server_free(s);
            return NULL;
        }
    }
    s->sched = mm_sched_new(s->model, s->tok, &sp);
    if (!s->sched) {
        fprintf(stderr, "minimax serve: %s\n", mm_last_error());
        server_free(s);
        return NULL;
    }
    /* The grammar's token trie (all token texts) once the scheduler runs: on a pipeline it keeps the other ranks
     * alive meanwhile (they give up on a silent rank 0 after MM_DIST_TIMEOUT); no request is served before ready. */
    if (s->tok) s->gvocab = mm_gvocab_new(s->tok, cfg->vocab_size, s->eos);
    if (mm_pp_driver(s->model) && mm_pp_stages(s->model) > 1)
        fprintf(stderr, "minimax serve: pipeline of %d ranks: a step of 128 or more tokens is cut into up to %d micro-batches\n",
                s->model->pp->n, mm_sched_micro_batches(s->sched));
    atomic_store(&s->ready, 1);
    fprintf(stderr, "minimax serve: ready: model '%s' (%s, %s, vocab %d%s%s), %d slots x %d tokens, prefix cache %zu MiB, "
            "http://%s:%d/\n", s->model_id, cfg->model_type, mm_arch_name(cfg->arch), cfg->vocab_size,
            s->tok ? ", tokenizer" : ", no tokenizer", mm_model_has_vision(s->model) ? ", images" : "", s->p.parallel, s->p.n_ctx,
            s->p.cache_bytes >> 20, s->p.host, s->port);
    return s;
}

int mm_server_port(const mm_server *s) { return s->port; }

int mm_server_add_connection(mm_server *s, int fd) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return MHD_add_connection(s->d, fd, (const struct sockaddr *)&a, sizeof a) == MHD_YES ? 0 : -1;
}

void mm_server_stop(mm_server *s) {
    if (s) server_free(s);
}

int mm_server_run(const mm_server_params *pp) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    mm_server *s = mm_server_start(pp);
    if (!s) return 1;
    while (!g_signals) usleep(50 * 1000);
    fprintf(stderr, "minimax serve: shutting down: finishing %d request(s) (signal again to stop now)\n", mm_sched_pending(s->sched));
    atomic_store(&s->draining, 1);
    mm_sched_stop_accepting(s->sched);
    while (mm_sched_pending(s->sched) && g_signals < 2) usleep(20 * 1000);
    usleep(100 * 1000);   /* let the last streams write their [DONE] */
    mm_server_stop(s);   /* after a second signal: cancels the running jobs (no more clients read them) */
    fprintf(stderr, "minimax serve: stopped\n");
    return 0;
}
