/* cli_perplexity.c — `minimax perplexity`: perplexity of a model on a text (llama.cpp's method: chunks of -c tokens,
 * second half scored), and with --kl-base the KL divergence, top-1 agreement and max |Δ log p| against a base run. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "base/mm_common.h"
#include "formats/mm_gguf.h"
#include "text/mm_tokenizer.h"
#include "tools/mm_perplexity.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax perplexity -m MODEL -f TEXT [-c CTX] [--chunks N] [--kl-base FILE]\n"
            "\n"
            "Tokenizes TEXT with the model's tokenizer, cuts it into chunks of CTX tokens, runs each chunk as a fresh\n"
            "sequence and scores the next-token predictions of its second half (as llama.cpp's perplexity does).\n"
            "With --kl-base FILE: when FILE does not exist the log-probabilities of every scored position are saved\n"
            "there (run the reference model first); when it exists, the model is compared against them: mean and\n"
            "max KL(base || model), top-1 agreement, max |delta log p|. FILE holds chunks x CTX/2 x vocab floats.\n"
            "\n"
            "  -m, --model PATH     checkpoint directory or .gguf\n"
            "  -f, --file FILE      text to score\n"
            "      --tokenizer F    tokenizer.json (default: the model's)\n"
            "  -c, --ctx-size N     tokens per chunk (default 512)\n"
            "      --chunks N       score at most N chunks (default: all)\n"
            "      --kl-base FILE   base log-probabilities: written if absent, compared against if present\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            "  -t, --threads N      compute threads\n"
            "  -h, --help           this help\n");
}

int mm_cli_perplexity(int argc, char **argv) {
    const char *cmd = "perplexity", *model = NULL, *file = NULL, *tokpath = NULL;
    mm_ppl_params pp = {.n_ctx = 512};
    long l;
    int kr;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(model = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { if (!(file = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--tokenizer")) { if (!(tokpath = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if ((kr = mm_arg_kv(cmd, argc, argv, &i, &pp.type_k, &pp.type_v)) != 0) { if (kr < 0) return 2; }
        else if ((kr = mm_arg_kv_page(cmd, argc, argv, &i, &pp.kv_page)) != 0) { if (kr < 0) return 2; }
        else if (!strcmp(a, "--kl-base")) { if (!(pp.kl_base = mm_arg_next(cmd, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 4, 1 << 24, &l)) return 2;
            pp.n_ctx = (int)l;
        } else if (!strcmp(a, "--chunks")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1 << 30, &l)) return 2;
            pp.n_chunks = (int)l;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1024, &l)) return 2;
            mm_set_threads((int)l);
        } else { fprintf(stderr, "minimax %s: unknown option '%s' (see --help)\n", cmd, a); return 2; }
    }
    if (!model || !file) { fprintf(stderr, "minimax %s: -m MODEL and -f TEXT are required (see --help)\n", cmd); return 2; }
    pp.progress = isatty(2);
    int rc = 1;
    mm_model *m = NULL;
    int32_t *ids = NULL;
    int n = mm_arg_tokenize_file(cmd, model, tokpath, file, &ids);
    if (n < 0) goto out;
    if (!(m = mm_cli_load_model(cmd, model, NULL))) { fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error()); goto out; }
    mm_ppl_result r;
    double t0 = mm_time();
    if (mm_perplexity(m, ids, n, &pp, &r) < 0) { fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error()); goto out; }
    printf("perplexity: %.4f +/- %.4f (mean NLL %.4f nats) over %lld tokens in %d chunks of %d (%.1f s)\n",
           r.ppl, r.ppl * r.nll_stderr, r.nll, (long long)r.n_scored, r.n_chunks, pp.n_ctx, mm_time() - t0);
    if (r.base_written) printf("base log-probabilities written to %s\n", pp.kl_base);
    if (r.base_compared)
        printf("vs base %s: base perplexity %.4f, mean KL %.6f nats, max KL %.6f, top-1 agreement %.2f%%, max |delta log p| %.4f\n",
               pp.kl_base, r.base_ppl, r.kl_mean, r.kl_max, 100 * r.top1, r.max_dlogp);
    rc = 0;
out:
    mm_model_free(m);
    free(ids);
    return rc;
}
