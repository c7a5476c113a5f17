/* cli_train_tokenizer.c — `minimax train-tokenizer`: learn a byte-level BPE vocabulary from text files and write a
 * tokenizer.json in MiniMax's format (the engine's tokenizer, the chat template's special tokens). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "base/mm_common.h"
#include "train/mm_train.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax train-tokenizer -f TEXT [-f TEXT ...] -o tokenizer.json [--vocab N]\n"
            "\n"
            "Learns byte-level BPE merges from UTF-8 text (split with MiniMax-Text-01's pre-tokenizer) and writes a\n"
            "tokenizer.json in MiniMax's format: ids 0-255 are the bytes, then the merges, then MiniMax's 26 special\n"
            "tokens (<beginning_of_sentence>, <end_of_sentence>, ...), so the chat templates work with it.\n"
            "\n"
            "  -f, --file FILE    training text (repeatable)\n"
            "  -o, --output FILE  tokenizer.json to write\n"
            "      --vocab N      ids in all: 256 bytes + merges + 26 special tokens (default 4096)\n"
            "      --min-freq N   stop when the most frequent pair occurs fewer times (default 2)\n"
            "  -h, --help         this help\n");
}

int mm_cli_train_tokenizer(int argc, char **argv) {
    const char *cmd = "train-tokenizer", *out = NULL, *files[64];
    int n_files = 0;
    long vocab = 4096, min_freq = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (n_files == 64) { fprintf(stderr, "minimax %s: at most 64 files\n", cmd); return 2; }
            files[n_files++] = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = mm_arg_next(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--vocab")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 256 + 26, 65536, &vocab)) return 2;
        } else if (!strcmp(a, "--min-freq")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1L << 40, &min_freq)) return 2;
        } else { fprintf(stderr, "minimax %s: unknown option '%s' (see --help)\n", cmd, a); return 2; }
    }
    if (!n_files || !out) { fprintf(stderr, "minimax %s: -f TEXT and -o FILE are required (see --help)\n", cmd); return 2; }
    size_t len = 0;
    char *text = mm_xstrdup("");
    for (int i = 0; i < n_files; i++) { /* the files one after the other */
        size_t n;
        char *t = mm_arg_read_file(cmd, files[i], &n);
        if (!t) { free(text); return 1; }
        text = mm_xrealloc(text, len + n + 1);
        memcpy(text + len, t, n + 1);
        len += n;
        free(t);
    }
    double t0 = mm_time();
    mm_bpe_params bp = {.vocab_size = (int)vocab, .min_freq = (int)min_freq, .progress = isatty(2)};
    int rc = mm_bpe_train(text, len, &bp, out);
    free(text);
    if (rc < 0) { fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error()); return 1; }
    fprintf(stderr, "train-tokenizer: %s from %.1f MB in %.1f s\n", out, len / 1e6, mm_time() - t0);
    return 0;
}
