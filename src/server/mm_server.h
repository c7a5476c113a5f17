/* mm_server.h — `minimax serve`: the OpenAI-compatible HTTP server (libmicrohttpd) in front of mm_sched. */
#ifndef MM_SERVER_H
#define MM_SERVER_H
#include <stddef.h>
#include <stdint.h>

typedef struct mm_server_params {
    const char *model_path;      /* checkpoint directory */
    const char *tokenizer_path;  /* tokenizer.json (NULL: MODEL/tokenizer.json if present) */
    const char *mmproj;          /* the vision GGUF of a .gguf VL model, or NULL */
    const char *alias;           /* model id in responses (NULL: the directory's base name) */
    const char *host;            /* bind address (IPv4 or IPv6 literal) */
    int port;                    /* 0: any free port (printed) */
    const char *api_key;         /* NULL: no authentication */
    int parallel;                /* sequences decoded together */
    int n_ctx;                   /* tokens per sequence */
    int queue_max;               /* waiting requests beyond the running ones */
    int threads;                 /* compute threads (0: all cores) */
    int type_k, type_v;       /* KV cache types (MM_KV_*) */
    int kv_page;                 /* positions per KV cache page (0: MM_KV_PAGE_DEFAULT) */
    int micro;                   /* on a pipeline: micro-batches per step (0: one per rank; 1: steps are not cut) */
    size_t cache_bytes;          /* prefix cache budget */
    size_t max_body;             /* request body limit in bytes (bodies held at once: 8x this) */
    int max_conns;               /* open connections; past it the oldest idle one is closed */
    double header_timeout;       /* seconds to send a request head (from connect or the previous response) */
    int idle_timeout;            /* seconds without a byte either way before a connection is closed */
    int parse_special;           /* special-token strings in client text (chat content, prompts) are special tokens */
    int n_predict;               /* > 0: tokens a request may generate at most (its max_tokens is cut to it) */
    struct mm_model *model;      /* a model already loaded (rank 0's pipeline stage under mpirun), which the server
                                  * then owns and frees; NULL: the server loads model_path itself */
    size_t image_max_bytes;      /* MiniMax-VL-01: largest image file (decoded from its data URL); 0: 6 MiB */
    int64_t image_max_pixels;    /* largest image in pixels, checked from its header; 0: 33554432 (32 Mpx) */
    int image_max_count;         /* images per request; 0: 8 */
    size_t image_mem_bytes;      /* preprocessed pixels that admitted requests may hold until encoded; 0: 1 GiB */
    int reasoning_format;        /* MM_REASONING_*: chat responses split <think> blocks into reasoning_content */
    int pooling;                 /* MM_POOL_*: how /v1/embeddings pools a sequence's hidden states */
} mm_server_params;

/* Starts listening at once (/health answers 503 while the model loads), serves until SIGINT/SIGTERM, then
 * refuses new requests, lets running ones finish and returns 0 (1 if startup failed). */
int mm_server_run(const mm_server_params *p);

/* The same in pieces, for embedding and tests: start listens, loads and returns once ready (NULL after
 * printing why, if it cannot); stop closes every connection and cancels what runs. */
typedef struct mm_server mm_server;
mm_server *mm_server_start(const mm_server_params *p);
int mm_server_port(const mm_server *s);
/* Serves an already connected stream socket (a socketpair end) as one more client connection; the server
 * owns fd and closes it, also when it fails (-1). */
int mm_server_add_connection(mm_server *s, int fd);
void mm_server_stop(mm_server *s);

/* The chat page served at "/" (mm_web.c). */
extern const char mm_web_index_html[];

#endif
