/* cli_serve.c — `minimax serve`: argument parsing for the OpenAI-compatible server (mm_server.c). */
#include <stdlib.h>
#include <string.h>

#include "minimax.h"
#include "cli/cli.h"
#include "minimax.h"
#include "server/mm_server.h"
#include "text/mm_reasoning.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax serve -m DIR [options]\n"
            "\n"
            "OpenAI-compatible HTTP server with continuous batching and a prefix cache. With a MiniMax-VL-01 model,\n"
            "chat messages take images as {\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,...\"}}\n"
            "parts (remote URLs are never fetched). Endpoints:\n"
            "  POST /v1/chat/completions  POST /v1/completions  POST /v1/embeddings  POST /classify\n"
            "  GET /v1/models  GET /health  POST /tokenize  POST /detokenize  GET /metrics (Prometheus)  GET / (chat page)\n"
            "\n"
            "  -m, --model DIR        checkpoint directory\n"
            "      --mmproj FILE      the vision GGUF of a .gguf VL model\n"
            "      --tokenizer FILE   tokenizer.json (default: DIR/tokenizer.json if present; without one only\n"
            "                         /v1/completions with token-id prompts works)\n"
            "      --alias NAME       model id reported by the API (default: the directory name)\n"
            "      --host ADDR        address to listen on (default 127.0.0.1)\n"
            "      --port N           port (default 8080; 0 = any free port, printed at startup)\n"
            "      --api-key KEY      require 'Authorization: Bearer KEY' on every endpoint but /health\n"
            "  -np, --parallel N      sequences decoded together (default 4)\n"
            "  -c, --ctx-size N       context size per sequence in tokens (default 4096)\n"
            "      --micro-batches N  under mpirun (pipeline): a step of 128 or more tokens is cut into up to N\n"
            "                         micro-batches of 64 or more that follow each other through the ranks (default:\n"
            "                         one per rank; 1: not cut, the ranks take turns)\n"
            "  -n, --n-predict N      tokens a request may generate at most (default: until its context is full)\n"
            "      --queue N          requests that may wait for a slot before 503 (default 64)\n"
            "      --cache-mb N       prefix-cache budget in MiB (default 1024; 0 = off)\n"
            "      --max-body-kb N    request body limit in KiB (default 8192; images travel base64-encoded in it); bodies\n"
            "                         held at once: 8x this\n"
            "      --max-conns N      open connections (default 256); when one more comes, the oldest that has\n"
            "                         not sent a complete request (or idles between requests) is closed\n"
            "      --header-timeout S seconds a connection has to send a complete request head (default 10)\n"
            "      --idle-timeout S   seconds without a byte either way before a connection is closed (default 30)\n"
            "      --parse-special    special-token strings (<end_of_sentence>, ...) in message content and prompts are\n"
            "                         special tokens, as the chat template's own markers are (default: text, so a\n"
            "                         user cannot forge turns; for clients that build raw prompts)\n"
            "      --image-max-mb N   MiniMax-VL-01: largest image file in MiB (default 6; larger: 413)\n"
            "      --image-max-pixels N  largest image in pixels, refused from its header (default 33554432; larger: 413)\n"
            "      --image-max-count N   images per request (default 8; more: 400)\n"
            "      --image-mem-mb N   memory for the preprocessed pixels of images not yet encoded, all requests together\n"
            "                         (default 1024; ~1.7 MiB per 336px patch; an image needing more: 413; while others\n"
            "                         hold it: 503)\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            "      --reasoning-format F  deepseek (default): a <think> block of a chat answer goes to\n"
            "                         message.reasoning_content / delta.reasoning_content; none: left in the content\n"
            "      --pooling P        last (default) or mean: how /v1/embeddings pools a sequence's final hidden states\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            "  -h, --help             this help\n"
            "\n"
            "SIGINT/SIGTERM: stop accepting, finish running requests, exit (a second signal cancels them).\n");
}

int mm_cli_serve(int argc, char **argv) {
    const char *cmd = "serve";
    mm_server_params p = {.host = "127.0.0.1", .port = 8080, .parallel = 4, .n_ctx = 4096, .queue_max = 64,
                          .cache_bytes = (size_t)1024 << 20, .max_body = (size_t)8192 << 10,
                          .max_conns = 256, .header_timeout = 10, .idle_timeout = 30,
                          .reasoning_format = MM_REASONING_DEEPSEEK, .pooling = MM_POOL_LAST};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long l;
        int kr;
#define NEXT() \
    if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEXT(); p.model_path = v; }
        else if (!strcmp(a, "--tokenizer")) { NEXT(); p.tokenizer_path = v; }
        else if (!strcmp(a, "--mmproj")) { NEXT(); p.mmproj = v; }
        else if (!strcmp(a, "--alias")) { NEXT(); p.alias = v; }
        else if (!strcmp(a, "--host")) { NEXT(); p.host = v; }
        else if (!strcmp(a, "--port")) { NEXT(); if (mm_arg_int(cmd, a, v, 0, 65535, &l)) return 2; p.port = (int)l; }
        else if (!strcmp(a, "--api-key")) { NEXT(); p.api_key = v; }
        else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 256, &l)) return 2; p.parallel = (int)l; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1L << 24, &l)) return 2; p.n_ctx = (int)l; }
        else if (!strcmp(a, "--micro-batches")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 256, &l)) return 2; p.micro = (int)l; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1L << 24, &l)) return 2; p.n_predict = (int)l; }
        else if (!strcmp(a, "--queue")) { NEXT(); if (mm_arg_int(cmd, a, v, 0, 1 << 20, &l)) return 2; p.queue_max = (int)l; }
        else if (!strcmp(a, "--cache-mb")) { NEXT(); if (mm_arg_int(cmd, a, v, 0, 1L << 24, &l)) return 2; p.cache_bytes = (size_t)l << 20; }
        else if (!strcmp(a, "--max-body-kb")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1L << 22, &l)) return 2; p.max_body = (size_t)l << 10; }
        else if (!strcmp(a, "--max-conns")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1 << 16, &l)) return 2; p.max_conns = (int)l; }
        else if (!strcmp(a, "--header-timeout")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 86400, &l)) return 2; p.header_timeout = (double)l; }
        else if (!strcmp(a, "--idle-timeout")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 86400, &l)) return 2; p.idle_timeout = (int)l; }
        else if (!strcmp(a, "--image-max-mb")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1 << 14, &l)) return 2; p.image_max_bytes = (size_t)l << 20; }
        else if (!strcmp(a, "--image-max-pixels")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1L << 34, &l)) return 2; p.image_max_pixels = l; }
        else if (!strcmp(a, "--image-mem-mb")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1L << 24, &l)) return 2; p.image_mem_bytes = (size_t)l << 20; }
        else if (!strcmp(a, "--image-max-count")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 64, &l)) return 2; p.image_max_count = (int)l; }
        else if ((kr = mm_arg_kv(cmd, argc, argv, &i, &p.type_k, &p.type_v)) != 0) { if (kr < 0) return 2; }
        else if ((kr = mm_arg_kv_page(cmd, argc, argv, &i, &p.kv_page)) != 0) { if (kr < 0) return 2; }
        else if (!strcmp(a, "--parse-special")) p.parse_special = 1;
        else if (!strcmp(a, "--reasoning-format")) {
            NEXT();
            if ((p.reasoning_format = mm_reasoning_format(v)) < 0) {
                fprintf(stderr, "minimax serve: --reasoning-format must be none or deepseek, got '%s'\n", v);
                return 2;
            }
        }
        else if (!strcmp(a, "--pooling")) {
            NEXT();
            if (strcmp(v, "last") && strcmp(v, "mean")) {
                fprintf(stderr, "minimax serve: --pooling must be last or mean, got '%s'\n", v);
                return 2;
            }
            p.pooling = !strcmp(v, "mean") ? MM_POOL_MEAN : MM_POOL_LAST;
        }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1024, &l)) return 2; p.threads = (int)l; }
        else { fprintf(stderr, "minimax serve: unknown option '%s' (see --help)\n", a); return 2; }
#undef NEXT
    }
    if (!p.model_path) { fprintf(stderr, "minimax serve: -m DIR is required (see --help)\n"); return 2; }
    if (p.api_key && !*p.api_key) { fprintf(stderr, "minimax serve: --api-key must not be empty\n"); return 2; }
    if (mm_cli_launched_ranks() > 1) { /* under mpirun: rank 0 serves its pipeline stage, the others serve rank 0 */
        if (p.threads) mm_set_threads(p.threads);
        if (!(p.model = mm_cli_load_model(cmd, p.model_path, &(mm_model_params){.mmproj = p.mmproj}))) {
            fprintf(stderr, "minimax serve: %s\n", mm_last_error());
            return 1;
        }
    }
    return mm_server_run(&p);
}
