/* cli_logits.c — `minimax logits`: one full-sequence forward, float32 logits [T, vocab] to a raw file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "base/mm_common.h"
#include "minimax.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax logits -m DIR --ids 1,2,3 [--image FILE ...] -o OUT.bin [-t N] [-b N]\n"
            "\n"
            "Runs one forward pass over the ids and writes the logits of every position as raw little-endian\n"
            "float32, row-major [T, vocab] (the format of ../shared/golden/*.bin).\n"
            "\n"
            "  -m, --model DIR   checkpoint directory\n"
            "      --ids LIST    token ids, comma-separated (a VL prompt holds each image's image tokens already)\n"
            "      --image FILE  an image whose features fill the next run of image tokens (repeatable, in order)\n"
            "      --mmproj FILE the vision GGUF of a .gguf VL model\n"
            "      --dump-image-features FILE  write the images' packed features, float32 [image tokens, hidden]\n"
            "  -o, --output FILE output file\n"
            "  -t, --threads N   compute threads\n"
            "  -b, --ubatch N    chunk size of the forward (default 512)\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            "  -h, --help        this help\n");
}

int mm_cli_logits(int argc, char **argv) {
    const char *cmd = "logits", *model = NULL, *ids_arg = NULL, *outp = NULL, *mmproj = NULL, *dump = NULL, *images[64];
    int n_images = 0;
    long threads = 0, ubatch = 512;
    int kt = MM_KV_F32, vt = MM_KV_F32, kv_page = 0, kr;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; model = v; }
        else if (!strcmp(a, "--ids")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; ids_arg = v; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; outp = v; }
        else if (!strcmp(a, "--mmproj")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; mmproj = v; }
        else if (!strcmp(a, "--dump-image-features")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; dump = v; }
        else if (!strcmp(a, "--image")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (n_images == 64) { fprintf(stderr, "minimax logits: at most 64 images\n"); return 2; }
            images[n_images++] = v;
        }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1024, &threads)) return 2;
        } else if ((kr = mm_arg_kv(cmd, argc, argv, &i, &kt, &vt)) != 0) {
            if (kr < 0) return 2;
        } else if ((kr = mm_arg_kv_page(cmd, argc, argv, &i, &kv_page)) != 0) {
            if (kr < 0) return 2;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--ubatch")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 65536, &ubatch)) return 2;
        } else { fprintf(stderr, "minimax logits: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (!model || !ids_arg || !outp) { fprintf(stderr, "minimax logits: -m DIR, --ids LIST and -o FILE are required\n"); return 2; }
    int32_t *ids = NULL;
    int n = mm_arg_ids(cmd, ids_arg, &ids);
    if (n <= 0) {
        if (n == 0) fprintf(stderr, "minimax logits: --ids is empty\n");
        free(ids);
        return 2;
    }
    if (threads) mm_set_threads((int)threads);
    int rc = 1;
    mm_context *c = NULL;
    float *lg = NULL;
    int32_t *seq = NULL;
    int8_t *want = NULL;
    mm_cli_images imgs = {0};
    const float **embd = NULL;
    mm_model *m = mm_cli_load_model("logits", model, &(mm_model_params){.mmproj = mmproj});
    if (!m) { fprintf(stderr, "minimax logits: %s\n", mm_last_error()); goto out; }
    const int V = mm_model_config(m)->vocab_size;
    if (dump && !n_images) { fprintf(stderr, "minimax logits: --dump-image-features needs --image\n"); goto out; }
    if (mm_cli_images_load(cmd, m, images, n_images, &imgs) < 0 || mm_cli_images_encode(cmd, m, &imgs) < 0) goto out;
    if (mm_model_has_vision(m) && !(embd = mm_cli_images_embd(cmd, m, &imgs, ids, n))) goto out;
    if (dump) {
        FILE *f = fopen(dump, "wb");
        size_t rows = 0, H = (size_t)mm_model_config(m)->hidden_size, wrote = 0;
        for (int k = 0; f && k < imgs.n; k++) {
            wrote += fwrite(imgs.feat[k], sizeof(float) * H, (size_t)imgs.ntok[k], f);
            rows += (size_t)imgs.ntok[k];
        }
        if (!f || fclose(f) != 0 || wrote != rows) { fprintf(stderr, "minimax logits: cannot write %s: %s\n", dump, strerror(errno)); goto out; }
        fprintf(stderr, "wrote %s: float32 [%zu, %zu] (the packed features of %d image%s)\n", dump, rows, H, imgs.n,
                imgs.n == 1 ? "" : "s");
    }
    c = mm_context_new(m, &(mm_context_params){.n_ctx = n, .n_ubatch = (int)ubatch, .type_k = kt, .type_v = vt, .kv_page = kv_page});
    if (!c) { fprintf(stderr, "minimax logits: %s\n", mm_last_error()); goto out; }
    lg = malloc(sizeof(float) * (size_t)n * V);
    seq = mm_xcalloc((size_t)n, sizeof(int32_t));
    want = mm_xmalloc((size_t)n);
    if (!lg) { fprintf(stderr, "minimax logits: out of memory for %d × %d logits\n", n, V); goto out; }
    memset(want, 1, (size_t)n);
    mm_batch b = {.n_tokens = n, .token = ids, .seq = seq, .logits = want, .embd = embd};
    if (mm_decode(c, &b, lg) != n) { fprintf(stderr, "minimax logits: %s\n", mm_last_error()); goto out; }
    FILE *f = fopen(outp, "wb");
    if (!f) { fprintf(stderr, "minimax logits: cannot write %s: %s\n", outp, strerror(errno)); goto out; }
    size_t w = fwrite(lg, sizeof(float), (size_t)n * V, f);
    if (fclose(f) != 0 || w != (size_t)n * V) { fprintf(stderr, "minimax logits: writing %s failed\n", outp); goto out; }
    fprintf(stderr, "wrote %s: float32 [%d, %d]\n", outp, n, V);
    rc = 0;
out:
    mm_cli_images_free(&imgs);
    free(embd);
    free(ids);
    free(lg);
    free(seq);
    free(want);
    mm_context_free(c);
    mm_model_free(m);
    return rc;
}
