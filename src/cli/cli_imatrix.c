/* cli_imatrix.c — `minimax imatrix`: an importance matrix in llama.cpp's format from a model and a calibration text,
 * for `minimax quantize --imatrix` (or llama.cpp's llama-quantize). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "base/mm_common.h"
#include "formats/mm_gguf.h"
#include "text/mm_tokenizer.h"
#include "tools/mm_imatrix_calc.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax imatrix -m MODEL -f TEXT -o FILE [-c CTX] [--chunks N] [--output-format gguf|dat]\n"
            "\n"
            "Runs MODEL over TEXT in chunks of CTX tokens and writes, for every matrix (per expert for the expert\n"
            "tensors), the per-column sums of the squared activations it multiplies: llama.cpp's importance matrix,\n"
            "which `minimax quantize --imatrix FILE` (or llama-quantize) uses to weigh its fits.\n"
            "\n"
            "  -m, --model PATH         checkpoint directory or .gguf\n"
            "  -f, --file FILE          calibration text\n"
            "  -o, --output FILE        output (GGUF; the legacy .dat form when FILE ends in .dat or with --output-format dat)\n"
            "      --tokenizer F        tokenizer.json (default: the model's)\n"
            "  -c, --ctx-size N         tokens per chunk (default 512)\n"
            "      --chunks N           at most N chunks (default: all)\n"
            "      --output-format F    gguf or dat\n"
            "  -t, --threads N          compute threads\n"
            "  -h, --help               this help\n");
}

int mm_cli_imatrix(int argc, char **argv) {
    const char *cmd = "imatrix", *model = NULL, *file = NULL, *out = NULL, *tokpath = NULL, *fmt = NULL;
    mm_imatrix_params ip = {.n_ctx = 512};
    long l;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(model = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { if (!(file = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { if (!(out = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--tokenizer")) { if (!(tokpath = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--output-format")) { if (!(fmt = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1 << 24, &l)) return 2;
            ip.n_ctx = (int)l;
        } else if (!strcmp(a, "--chunks")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1 << 30, &l)) return 2;
            ip.n_chunks = (int)l;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1024, &l)) return 2;
            mm_set_threads((int)l);
        } else { fprintf(stderr, "minimax %s: unknown option '%s' (see --help)\n", cmd, a); return 2; }
    }
    if (!model || !file || !out) { fprintf(stderr, "minimax %s: -m MODEL, -f TEXT and -o FILE are required (see --help)\n", cmd); return 2; }
    if (fmt && strcmp(fmt, "gguf") && strcmp(fmt, "dat")) {
        fprintf(stderr, "minimax %s: --output-format must be gguf or dat, got '%s'\n", cmd, fmt);
        return 2;
    }
    const size_t ol = strlen(out);
    const int legacy = fmt ? !strcmp(fmt, "dat") : ol > 4 && !strcmp(out + ol - 4, ".dat");
    ip.progress = isatty(2);
    int rc = 1;
    mm_model *m = NULL;
    mm_imatrix *im = NULL;
    int32_t *ids = NULL;
    int n = mm_arg_tokenize_file(cmd, model, tokpath, file, &ids);
    if (n < 0) goto out;
    if (!(m = mm_model_load(model, NULL))) { fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error()); goto out; }
    double t0 = mm_time();
    if (!(im = mm_imatrix_compute(m, ids, n, &ip, file)) || mm_imatrix_save(im, out, legacy) < 0) {
        fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
        goto out;
    }
    fprintf(stderr, "wrote %s (%s): %d matrices, %u chunks of %u tokens, %.1f s\n", out, legacy ? "legacy .dat" : "GGUF", im->n,
            im->chunk_count, im->chunk_size, mm_time() - t0);
    rc = 0;
out:
    mm_imatrix_free(im);
    mm_model_free(m);
    free(ids);
    return rc;
}
