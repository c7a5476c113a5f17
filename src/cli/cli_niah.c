/* cli_niah.c — `minimax niah`: the needle-in-a-haystack grid (tools/mm_niah.h), CSV + JSON + PNG heatmap. */
#include <errno.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "cli/cli.h"
#include "base/mm_common.h"
#include "formats/mm_gguf.h"
#include "text/mm_chat.h"
#include "text/mm_tokenizer.h"
#include "tools/mm_niah.h"
#include "minimax.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax niah -m MODEL [--lengths LIST] [--depths LIST] [-o OUTDIR] [options]\n"
            "\n"
            "A RULER-style needle-in-a-haystack test: for each context length and needle depth, a prompt of exactly\n"
            "that many tokens holds the line \"The secret number of the <key> is <5 digits>.\" at that depth of a\n"
            "haystack, and ends with the question; the greedy answer scores 1 when it contains the number (RULER's\n"
            "string_match_all). For each length the haystack before a needle is prefilled once and extended from depth\n"
            "to depth. Writes OUTDIR/niah.csv, niah.json and niah.png (heatmap: a column per length, shortest left; a\n"
            "row per depth, 0%% at the top; green 1, red 0).\n"
            "\n"
            "  -m, --model MODEL      checkpoint directory or .gguf (with a tokenizer)\n"
            "      --tokenizer F      tokenizer.json (default: the model's)\n"
            "      --lengths LIST     context lengths in tokens (default 1024,2048,4096,8192)\n"
            "      --depths LIST      needle depths in percent (default 0,25,50,75,100)\n"
            "  -f, --file FILE        haystack text (default: a built-in deterministic generator)\n"
            "      --keys N           needles in the haystack, one asked (1-4; default 1: single-key, more: multi-key)\n"
            "      --chat             wrap the haystack and question in the model's chat template (one user turn)\n"
            "  -n N                   answer tokens at most (default 12)\n"
            "  -s, --seed S           keys, values and the built-in haystack (default 1)\n"
            "  -o, --output DIR       output directory (default niah-out)\n"
            "  -t, --threads N        compute threads\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            "  -h, --help             this help\n");
}

static int parse_ints(const char *cmd, const char *flag, const char *v, int *out, int max, long lo, long hi) {
    int n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        long x;
        if (n == max) { fprintf(stderr, "minimax %s: %s takes at most %d values\n", cmd, flag, max); return -1; }
        if (mm_arg_int(cmd, flag, t, lo, hi, &x)) return -1;
        out[n++] = (int)x;
    }
    if (!n) { fprintf(stderr, "minimax %s: %s is empty\n", cmd, flag); return -1; }
    return n;
}

/* A heatmap: nd rows (depths) × nl columns (lengths), C px per cell, 1 px grid lines. */
static int write_png(const char *path, const mm_niah_cell *cells, int nl, int nd) {
    const int C = 48, W = nl * C + 1, Hh = nd * C + 1;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *row = malloc((size_t)W * 3);
    if (!png || !info || !row || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)Hh, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < Hh; y++) {
        for (int x = 0; x < W; x++) {
            unsigned char *px = row + (size_t)x * 3;
            if (x % C == 0 || y % C == 0) {
                px[0] = px[1] = px[2] = 255;
                continue;
            }
            const double sc = cells[(x / C) * nd + (y / C)].score; /* column: length, row: depth */
            px[0] = (unsigned char)(220 - 160 * sc), px[1] = (unsigned char)(60 + 120 * sc), px[2] = (unsigned char)(60 + 15 * sc);
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return fclose(f);
}

typedef struct {
    int done, total;
    double t0;
} prog;
static void on_cell(const mm_niah_cell *cell, void *arg) {
    prog *p = arg;
    p->done++;
    fprintf(stderr, "niah %d/%d: length %d depth %d%% score %.0f (expected %s, answer \"%s\") %.1f s\n", p->done, p->total, cell->length,
            cell->depth_pct, cell->score, cell->expected, cell->answer, cell->seconds);
}

int mm_cli_niah(int argc, char **argv) {
    const char *cmd = "niah", *model = NULL, *tokpath = NULL, *file = NULL, *outdir = "niah-out";
    int lengths[32] = {1024, 2048, 4096, 8192}, nl = 4, depths[32] = {0, 25, 50, 75, 100}, nd = 5, chat = 0, kt = 0, vt = 0, kv_page = 0, kr;
    long keys = 1, n_ans = 12, seed = 1, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
#define NEXT() \
    if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEXT(); model = v; }
        else if (!strcmp(a, "--tokenizer")) { NEXT(); tokpath = v; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { NEXT(); file = v; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { NEXT(); outdir = v; }
        else if (!strcmp(a, "--lengths")) { NEXT(); if ((nl = parse_ints(cmd, a, v, lengths, 32, 16, 1 << 26)) < 0) return 2; }
        else if (!strcmp(a, "--depths")) { NEXT(); if ((nd = parse_ints(cmd, a, v, depths, 32, 0, 100)) < 0) return 2; }
        else if (!strcmp(a, "--keys")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 4, &keys)) return 2; }
        else if (!strcmp(a, "-n")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 256, &n_ans)) return 2; }
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) { NEXT(); if (mm_arg_int(cmd, a, v, 0, 0x7fffffffL, &seed)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1024, &threads)) return 2; }
        else if (!strcmp(a, "--chat")) chat = 1;
        else if ((kr = mm_arg_kv(cmd, argc, argv, &i, &kt, &vt)) != 0) { if (kr < 0) return 2; }
        else if ((kr = mm_arg_kv_page(cmd, argc, argv, &i, &kv_page)) != 0) { if (kr < 0) return 2; }
        else { fprintf(stderr, "minimax niah: unknown option '%s' (see --help)\n", a); return 2; }
#undef NEXT
    }
    if (!model) { fprintf(stderr, "minimax niah: -m MODEL is required (see --help)\n"); return 2; }
    if (threads) mm_set_threads((int)threads);
    int rc = 1, maxlen = 0;
    for (int i = 0; i < nl; i++) maxlen = lengths[i] > maxlen ? lengths[i] : maxlen;
    mm_model *m = NULL;
    mm_tokenizer *tok = NULL;
    mm_context *c = NULL;
    char *hay = NULL, *rendered = NULL, path[4200];
    size_t hay_len = 0;
    int32_t *pre = NULL, *suf = NULL;
    mm_niah_cell *cells = NULL;
    if (file && !(hay = mm_arg_read_file(cmd, file, &hay_len))) goto out;
    if (!(m = mm_model_load(model, NULL))) { fprintf(stderr, "minimax niah: %s\n", mm_last_error()); goto out; }
    snprintf(path, sizeof path, "%s/tokenizer.json", model);
    tok = !tokpath && mm_gguf_is_file(model) ? mm_tokenizer_load_gguf(model) : mm_tokenizer_load(tokpath ? tokpath : path);
    if (!tok) { fprintf(stderr, "minimax niah: a tokenizer is needed: %s\n", mm_last_error()); goto out; }
    mm_niah_spec spec = {.tok = tok, .hay = hay, .hay_len = hay_len, .n_keys = (int)keys, .seed = (uint64_t)seed};
    if (chat) { /* the template around one user turn whose content is a marker: before it the prefix, after it the suffix */
        json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "\x01NIAH\x01");
        rendered = mm_chat_render(mm_chat_style_for_model_type(mm_model_config(m)->model_type), msgs, NULL, 1);
        json_decref(msgs);
        char *at = rendered ? strstr(rendered, "\x01NIAH\x01") : NULL;
        if (!at) { fprintf(stderr, "minimax niah: chat template: %s\n", rendered ? "no user content slot" : mm_last_error()); goto out; }
        spec.n_prefix = mm_tokenizer_encode(tok, rendered, (size_t)(at - rendered), 1, &pre);
        spec.n_suffix = mm_tokenizer_encode(tok, at + 6, strlen(at + 6), 1, &suf);
        if (spec.n_prefix < 0 || spec.n_suffix < 0) { fprintf(stderr, "minimax niah: %s\n", mm_last_error()); goto out; }
        spec.prefix = pre, spec.suffix = suf;
    }
    const mm_context_params cp = {.n_ctx = maxlen + (int)n_ans + 1, .n_seq_max = 1, .type_k = kt, .type_v = vt, .kv_page = kv_page};
    if (mm_cli_plan(cmd, m, &cp, 1)) goto out;
    if (!(c = mm_context_new(m, &cp))) { fprintf(stderr, "minimax niah: %s\n", mm_last_error()); goto out; }
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) { fprintf(stderr, "minimax niah: %s: %s\n", outdir, strerror(errno)); goto out; }
    cells = mm_xcalloc((size_t)nl * nd, sizeof *cells);
    prog pg = {0, nl * nd, mm_time()};
    if (mm_niah_run(c, &spec, lengths, nl, depths, nd, (int)n_ans, cells, on_cell, &pg) < 0) {
        fprintf(stderr, "minimax niah: %s\n", mm_last_error());
        goto out;
    }
    snprintf(path, sizeof path, "%s/niah.csv", outdir);
    FILE *f = fopen(path, "w");
    if (!f) { fprintf(stderr, "minimax niah: %s: %s\n", path, strerror(errno)); goto out; }
    fprintf(f, "length,depth_pct,score,expected,answer,needle_token,seconds\n");
    json_t *arr = json_array();
    double total = 0;
    for (int i = 0; i < nl * nd; i++) {
        const mm_niah_cell *e = &cells[i];
        fprintf(f, "%d,%d,%.3f,%s,\"", e->length, e->depth_pct, e->score, e->expected);
        for (const char *p = e->answer; *p; p++) fputs(*p == '"' ? "\"\"" : (char[2]){*p, 0}, f);
        fprintf(f, "\",%d,%.3f\n", e->needle_at, e->seconds);
        json_array_append_new(arr, json_pack("{s:i, s:i, s:f, s:s, s:s, s:i, s:f}", "length", e->length, "depth_pct", e->depth_pct, "score",
                                             e->score, "expected", e->expected, "answer", e->answer, "needle_token", e->needle_at,
                                             "seconds", e->seconds));
        total += e->score;
    }
    fclose(f);
    json_t *o = json_pack("{s:s, s:i, s:b, s:s, s:s, s:f, s:o}", "model", model, "keys", (int)keys, "chat", chat, "kv_k",
                          mm_kv_type_name(kt), "kv_v", mm_kv_type_name(vt), "mean_score", total / (nl * nd), "cells", arr);
    snprintf(path, sizeof path, "%s/niah.json", outdir);
    if (json_dump_file(o, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) { fprintf(stderr, "minimax niah: cannot write %s\n", path); json_decref(o); goto out; }
    json_decref(o);
    snprintf(path, sizeof path, "%s/niah.png", outdir);
    if (write_png(path, cells, nl, nd) != 0) { fprintf(stderr, "minimax niah: cannot write %s\n", path); goto out; }
    printf("niah: mean score %.3f over %d cells (%d lengths x %d depths); wrote %s/niah.csv, niah.json, niah.png\n", total / (nl * nd),
           nl * nd, nl, nd, outdir);
    if (total == 0)
        printf("niah: the model retrieved no needle: a 5-digit number is guessed with chance ~1e-5, so this model cannot retrieve "
               "(random or untrained weights score 0)\n");
    rc = 0;
out:
    free(cells), free(hay), free(rendered), free(pre), free(suf);
    mm_context_free(c);
    mm_tokenizer_free(tok);
    mm_model_free(m);
    return rc;
}
