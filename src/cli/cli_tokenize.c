/* cli_tokenize.c — `minimax tokenize`: text to ids (JSON array), ids to text, and a throughput benchmark
 * used by bench/tokenizer/run.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "base/mm_common.h"
#include "text/mm_tokenizer.h"

static const char *CMD = "tokenize";

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax tokenize (-m DIR | --tokenizer FILE) [options] [--file F | TEXT]\n"
            "  -m DIR             model directory containing tokenizer.json\n"
            "  --tokenizer FILE   a tokenizer.json file\n"
            "  --no-special       treat special-token strings (<end_of_sentence>, ...) as plain text\n"
            "  --tokens           print [[id, \"token\"], ...] instead of [id, ...]\n"
            "  --decode           input is ids (JSON array or comma list); print the text\n"
            "  --skip-special     with --decode: drop special tokens\n"
            "  --file F           read the input from F ('-' = stdin) instead of TEXT\n"
            "  --bench FILE       time encoding FILE; prints one JSON line of stats\n"
            "    --mode chunks|whole   chunks: ~4 KB pieces, each ending after the first newline at or past\n"
            "                          4096 bytes (default); whole: the file as one string\n"
            "    --threads N      with --mode whole: parallel encoder on N threads (default 1 = serial)\n"
            "    --ids-out F      write the ids as little-endian int32 to F\n");
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "minimax %s: cannot open '%s'\n", CMD, path);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = mm_xmalloc(cap);
    size_t k;
    while ((k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += k;
        if (cap - len < 2) buf = mm_xrealloc(buf, cap *= 2);
    }
    if (f != stdin) fclose(f);
    buf[len] = 0;
    *n = len;
    return buf;
}

/* Prints s as a JSON string body (quotes added by the caller). */
static void json_str(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p == '\r') fputs("\\r", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
}

static int bench(const mm_tokenizer *t, const char *file, const char *mode, int threads, const char *ids_out,
                 int parse_special, double load_s) {
    size_t n;
    char *text = read_all(file, &n);
    if (!text) return 1;
    int whole = !strcmp(mode, "whole");
    if (!whole && strcmp(mode, "chunks")) {
        fprintf(stderr, "minimax %s: --mode must be chunks or whole\n", CMD);
        free(text);
        return 2;
    }
    FILE *out = NULL;
    if (ids_out && !(out = fopen(ids_out, "wb"))) {
        fprintf(stderr, "minimax %s: cannot write '%s'\n", CMD, ids_out);
        free(text);
        return 1;
    }
    size_t total = 0, nchunks = 0;
    double t0 = mm_time();
    if (whole) {
        int32_t *ids = NULL;
        int k = threads > 1 ? mm_tokenizer_encode_parallel(t, text, n, parse_special, &ids, threads)
                            : mm_tokenizer_encode(t, text, n, parse_special, &ids);
        if (k < 0) goto fail;
        total = (size_t)k;
        nchunks = 1;
        if (out) fwrite(ids, sizeof(int32_t), (size_t)k, out);
        free(ids);
    } else {
        for (size_t a = 0; a < n;) {
            size_t b = a + 4096 < n ? a + 4096 : n;
            const char *nl = b < n ? memchr(text + b, '\n', n - b) : NULL;
            b = b < n ? (nl ? (size_t)(nl - text) + 1 : n) : n;
            int32_t *ids = NULL;
            int k = mm_tokenizer_encode(t, text + a, b - a, parse_special, &ids);
            if (k < 0) goto fail;
            total += (size_t)k;
            nchunks++;
            if (out) fwrite(ids, sizeof(int32_t), (size_t)k, out);
            free(ids);
            a = b;
        }
    }
    double dt = mm_time() - t0;
    if (out) fclose(out);
    printf("{\"impl\": \"minimax.c\", \"mode\": \"%s\", \"threads\": %d, \"bytes\": %zu, \"chunks\": %zu, "
           "\"tokens\": %zu, \"seconds\": %.4f, \"mb_per_s\": %.3f, \"tokens_per_s\": %.0f, \"load_s\": %.3f, "
           "\"peak_rss_mb\": %.1f}\n",
           mode, whole ? threads : 1, n, nchunks, total, dt, n / dt / 1e6, total / dt, load_s,
           mm_peak_rss() / 1048576.0);
    free(text);
    return 0;
fail:
    fprintf(stderr, "minimax %s: %s\n", CMD, mm_last_error());
    if (out) fclose(out);
    free(text);
    return 1;
}

int mm_cli_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL, *bench_file = NULL, *mode = "chunks", *ids_out = NULL;
    int no_special = 0, tokens = 0, decode = 0, skip_special = 0;
    long threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--tokenizer")) {
            if (!(model = mm_arg_next(CMD, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--file")) {
            if (!(file = mm_arg_next(CMD, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--bench")) {
            if (!(bench_file = mm_arg_next(CMD, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--mode")) {
            if (!(mode = mm_arg_next(CMD, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--ids-out")) {
            if (!(ids_out = mm_arg_next(CMD, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--threads")) {
            const char *v = mm_arg_next(CMD, argc, argv, &i);
            if (!v || mm_arg_int(CMD, a, v, 1, 1024, &threads)) return 2;
        } else if (!strcmp(a, "--no-special")) no_special = 1;
        else if (!strcmp(a, "--tokens")) tokens = 1;
        else if (!strcmp(a, "--decode")) decode = 1;
        else if (!strcmp(a, "--skip-special")) skip_special = 1;
        else if (a[0] == '-' && a[1] && !text) {
            fprintf(stderr, "minimax %s: unknown option '%s' (see --help)\n", CMD, a);
            return 2;
        } else if (!text) text = a;
        else {
            fprintf(stderr, "minimax %s: more than one TEXT argument (quote the text)\n", CMD);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "minimax %s: give -m DIR or --tokenizer FILE\n", CMD);
        usage(stderr);
        return 2;
    }
    if (!bench_file && !!file == !!text) {
        fprintf(stderr, "minimax %s: give exactly one of --file F or TEXT\n", CMD);
        return 2;
    }
    double t0 = mm_time();
    mm_tokenizer *t = mm_tokenizer_load(model);
    if (!t) {
        fprintf(stderr, "minimax %s: %s\n", CMD, mm_last_error());
        return 1;
    }
    double load_s = mm_time() - t0;
    int rc = 0;
    if (bench_file) {
        rc = bench(t, bench_file, mode, (int)threads, ids_out, !no_special, load_s);
        mm_tokenizer_free(t);
        return rc;
    }
    size_t n;
    char *input = file ? read_all(file, &n) : mm_xstrdup(text);
    if (!input) {
        mm_tokenizer_free(t);
        return 1;
    }
    if (!file) n = strlen(input);
    if (decode) {
        int32_t *ids = NULL;
        int k = mm_arg_ids(CMD, input, &ids);
        if (k < 0) rc = 2;
        else {
            for (int i = 0; i < k && !rc; i++)
                if (ids[i] >= mm_tokenizer_n_ids(t)) {
                    fprintf(stderr, "minimax %s: id %d is out of range (the vocabulary has %d ids)\n", CMD, ids[i],
                            mm_tokenizer_n_ids(t));
                    rc = 2;
                }
            if (!rc) {
                char *s = mm_tokenizer_decode(t, ids, (size_t)k, skip_special);
                fputs(s, stdout);
                fputc('\n', stdout);
                free(s);
            }
            free(ids);
        }
    } else {
        int32_t *ids = NULL;
        int k = mm_tokenizer_encode(t, input, n, !no_special, &ids);
        if (k < 0) {
            fprintf(stderr, "minimax %s: %s\n", CMD, mm_last_error());
            rc = 1;
        } else {
            fputc('[', stdout);
            for (int i = 0; i < k; i++) {
                if (tokens) {
                    printf("%s[%d, \"", i ? ", " : "", ids[i]);
                    json_str(stdout, mm_tokenizer_token_str(t, ids[i]));
                    fputs("\"]", stdout);
                } else
                    printf("%s%d", i ? ", " : "", ids[i]);
            }
            fputs("]\n", stdout);
        }
        free(ids);
    }
    free(input);
    mm_tokenizer_free(t);
    return rc;
}
