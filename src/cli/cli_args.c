/* cli_args.c — parsing helpers shared by the subcommands; every bad value is a clear message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "minimax.h"
#include "base/mm_common.h"
#include "formats/mm_gguf.h"
#include "text/mm_tokenizer.h"

int mm_arg_int(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end) {
        fprintf(stderr, "minimax %s: %s expects an integer, got '%s'\n", cmd, flag, val);
        return -1;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "minimax %s: %s must be in [%ld, %ld], got %ld\n", cmd, flag, lo, hi, v);
        return -1;
    }
    *out = v;
    return 0;
}

int mm_arg_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || v != v) {
        fprintf(stderr, "minimax %s: %s expects a number, got '%s'\n", cmd, flag, val);
        return -1;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "minimax %s: %s must be in [%g, %g], got %g\n", cmd, flag, lo, hi, v);
        return -1;
    }
    *out = v;
    return 0;
}

int mm_arg_ids(const char *cmd, const char *val, int32_t **out) {
    int n = 0, cap = 64;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    const char *p = val;
    if (!ids) return -1;
    for (;;) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '[' || *p == ']') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "minimax %s: bad token id near '%.20s' (ids are non-negative integers separated by commas)\n", cmd, p);
            free(ids);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            int32_t *g = realloc(ids, sizeof(int32_t) * (size_t)cap);
            if (!g) { free(ids); return -1; }
            ids = g;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    return n;
}

const char *mm_arg_next(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "minimax %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int mm_arg_kv(const char *cmd, int argc, char **argv, int *i, int *tk, int *tv) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--kv-bf16")) {
        *tk = *tv = MM_KV_BF16;
        return 1;
    }
    const int k = !strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k"), vv = !strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v");
    if (!k && !vv) return 0;
    if (!(v = mm_arg_next(cmd, argc, argv, i))) return -1;
    const int t = mm_kv_type_from_name(v);
    if (t < 0) {
        fprintf(stderr, "minimax %s: %s '%s' is not a KV cache type (f32, f16, bf16, q8_0, q4_0)\n", cmd, a, v);
        return -1;
    }
    *(k ? tk : tv) = t;
    return 1;
}

int mm_arg_kv_page(const char *cmd, int argc, char **argv, int *i, int *page) {
    const char *a = argv[*i], *v;
    long l;
    if (strcmp(a, "--kv-page")) return 0;
    if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_int(cmd, a, v, 64, 65536, &l)) return -1;
    if (l & (l - 1)) {
        fprintf(stderr, "minimax %s: --kv-page %ld is not a power of two (64, 128, ..., 65536)\n", cmd, l);
        return -1;
    }
    *page = (int)l;
    return 1;
}

int mm_cli_plan(const char *cmd, const mm_model *m, const mm_context_params *p, int show) {
    mm_mem_plan pl;
    if (mm_mem_plan_get(m, p, 0, &pl) < 0) {
        fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
        return 1;
    }
    const int64_t avail = mm_mem_available();
    const double M = 1 << 20;
    int tk, tv;
    mm_context_kv_types(p, &tk, &tv);
    if (show)
        fprintf(stderr,
            "memory plan: weights %.0f MiB + KV %.0f MiB (%d tok x %d seq, -ctk %s -ctv %s) + lightning %.0f MiB + scratch %.0f MiB + "
            "runtime %.0f MiB = %.1f MiB of %.0f MiB available\n",
            pl.weights / M, pl.kv / M, p->n_ctx, p->n_seq_max > 0 ? p->n_seq_max : 1,
            mm_kv_type_name(tk), mm_kv_type_name(tv), pl.lightning / M, pl.scratch / M,
            pl.runtime / M, pl.total / M, avail / M);
    if (mm_mem_plan_check(m, p, &pl, avail) < 0) {
        fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
        return 1;
    }
    return 0;
}

int mm_arg_sampling(const char *cmd, int argc, char **argv, int *i, mm_sampler_params *sp) {
    const char *a = argv[*i], *v;
    double d;
    long l;
    if (!strcmp(a, "--temp")) {
        if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_float(cmd, a, v, 0, 100, &d)) return -1;
        sp->temperature = (float)d;
    } else if (!strcmp(a, "--top-k")) {
        if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_int(cmd, a, v, 0, 1 << 30, &l)) return -1;
        sp->top_k = (int)l;
    } else if (!strcmp(a, "--top-p")) {
        if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_float(cmd, a, v, 1e-9, 1, &d)) return -1;
        sp->top_p = (float)d;
    } else if (!strcmp(a, "--min-p")) {
        if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_float(cmd, a, v, 0, 1, &d)) return -1;
        sp->min_p = (float)d;
    } else if (!strcmp(a, "--repeat-penalty")) {
        if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_float(cmd, a, v, 1e-6, 100, &d)) return -1;
        sp->repeat_penalty = (float)d;
    } else if (!strcmp(a, "--repeat-last-n")) {
        if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_int(cmd, a, v, -1, 1 << 30, &l)) return -1;
        sp->repeat_last_n = (int)l;
    } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
        if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_int(cmd, a, v, 0, 0x7fffffffffffffffL, &l)) return -1;
        sp->seed = (uint64_t)l;
    } else {
        return 0;
    }
    return 1;
}

char *mm_arg_read_file(const char *cmd, const char *path, size_t *len) {
    char *buf = mm_read_file(path, len);
    if (!buf) fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
    return buf;
}

int mm_arg_tokenize_file(const char *cmd, const char *model, const char *tokpath, const char *file, int32_t **ids) {
    size_t len;
    char *text = mm_arg_read_file(cmd, file, &len);
    if (!text) return -1;
    char tdefault[4096];
    snprintf(tdefault, sizeof tdefault, "%s/tokenizer.json", model);
    mm_tokenizer *tok = !tokpath && mm_gguf_is_file(model) ? mm_tokenizer_load_gguf(model) : mm_tokenizer_load(tokpath ? tokpath : tdefault);
    int n = -1;
    if (!tok) fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
    else if ((n = mm_tokenizer_encode_parallel(tok, text, len, 0, ids, 0)) < 0)
        fprintf(stderr, "minimax %s: %s: %s\n", cmd, file, mm_last_error());
    mm_tokenizer_free(tok);
    free(text);
    return n;
}
