/* cli_info.c — `minimax info`: config, layer layout, parameter counts, bytes by dtype, memory for a context. */
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "base/mm_common.h"
#include "minimax.h"
#include "model/mm_model.h"
#include "vision/mm_vision.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax info -m MODEL [-c N] [-ctk T] [-ctv T] [--kv-page N] [-np P] [-b N] [-t N]\n"
            "\n"
            "Prints the parsed config, the layer layout, parameter counts, bytes by dtype, and the memory plan of a\n"
            "context: weights, lightning states, KV cache, scratch and the total, every sequence full to N tokens\n"
            "(what run and serve check before they start), against the memory available now.\n"
            "\n"
            "  -m, --model MODEL      checkpoint directory or .gguf\n"
            "      --mmproj FILE      the vision GGUF of a .gguf VL model\n"
            "  -c, --ctx-size N       tokens per sequence (default 4096)\n"
            "  -np, --parallel P      sequences (default 1)\n"
            "  -b, --ubatch N         chunk size of the forward (default 512)\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            "  -h, --help             this help\n");
}

static void human(char *buf, size_t n, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) bytes /= 1024, i++;
    snprintf(buf, n, "%.2f %s", bytes, u[i]);
}

int mm_cli_info(int argc, char **argv) {
    const char *cmd = "info", *model = NULL, *mmproj = NULL;
    long n_ctx = 4096, np = 1, ubatch = 512, threads = 0;
    int kt = MM_KV_F32, vt = MM_KV_F32, kr, kv_page = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; model = v; }
        else if (!strcmp(a, "--mmproj")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; mmproj = v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 0x7fffffffL, &n_ctx)) return 2;
        } else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 4096, &np)) return 2;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--ubatch")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 65536, &ubatch)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1024, &threads)) return 2;
        } else if ((kr = mm_arg_kv(cmd, argc, argv, &i, &kt, &vt)) != 0) {
            if (kr < 0) return 2;
        } else if ((kr = mm_arg_kv_page(cmd, argc, argv, &i, &kv_page)) != 0) {
            if (kr < 0) return 2;
        }
        else { fprintf(stderr, "minimax info: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (!model) { fprintf(stderr, "minimax info: -m DIR is required\n"); return 2; }
    mm_model *m = mm_model_load(model, &(mm_model_params){.mmproj = mmproj});
    if (!m) { fprintf(stderr, "minimax info: %s\n", mm_last_error()); return 1; }
    const mm_config *c = mm_model_config(m);
    mm_model_stats st;
    mm_model_get_stats(m, &st);
    char b1[32], b2[32];
    printf("model            %s\n", model);
    printf("model_type       %s (%s dialect)\n", c->model_type, c->dialect == MM_DIALECT_REMOTE ? "remote-code" : "transformers-native");
    printf("vocab            %d\nhidden           %d\nlayers           %d (%d lightning, %d softmax)\n", c->vocab_size,
           c->hidden_size, c->n_layers, c->n_lightning, c->n_softmax);
    printf("heads            %d × head_dim %d (%d), kv heads %d, rotary_dim %d, rope_theta %g\n", c->n_heads, c->head_dim,
           c->n_heads * c->head_dim, c->n_kv_heads, c->rotary_dim, c->rope_theta);
    printf("experts          %d, top-%d, width %d\n", c->n_experts, c->n_experts_per_tok, c->intermediate_size);
    printf("residual         %s; alpha/beta lightning %g/%g, softmax %g/%g, mlp %g/%g\n",
           c->postnorm ? "post-norm (DeepNorm)" : "pre-norm", c->alpha_lin, c->beta_lin, c->alpha_full, c->beta_full,
           c->alpha_mlp, c->beta_mlp);
    printf("lightning block  %d; rms_norm_eps %g; max_position_embeddings %d; tied embeddings %s\n", c->block_size,
           c->rms_norm_eps, c->max_position_embeddings, c->tie_word_embeddings ? "yes" : "no");
    printf("layout           ");
    for (int i = 0; i < c->n_layers; i++) putchar(c->layer_type[i] == MM_LAYER_SOFTMAX ? 'S' : 'L');
    printf("   (L lightning, S softmax)\n");
    printf("parameters       %.4g B total, %.4g B active per token\n", st.n_params / 1e9, st.n_params_active / 1e9);
    if (m->vision) {
        const mm_vision_config *v = &m->vision->cfg;
        printf("vision           CLIP %d layers × width %d (%d heads, MLP %d, %s), %dpx tiles of %dpx patches, %d grid pinpoints, "
               "projector %d → %d, image token %d%s\n",
               v->n_layers, v->hidden, v->n_heads, v->intermediate, v->act == MM_VACT_GELU ? "erf GELU" : "quick GELU",
               v->img.image_size, v->img.patch_size, v->img.n_pinpoints, v->hidden, v->text_hidden, v->image_token_index,
               st.n_params_vision ? "" : " (from --mmproj)");
        if (st.n_params_vision) printf("vision params    %.4g M (in the total, not per text token)\n", st.n_params_vision / 1e6);
    }
    human(b1, sizeof b1, (double)st.bytes_total);
    printf("weights          %s", b1);
    for (int d = 0; d < MM_DTYPE_COUNT; d++)
        if (st.bytes_by_dtype[d]) {
            human(b2, sizeof b2, (double)st.bytes_by_dtype[d]);
            printf("; %s %s", mm_dtype_name((mm_dtype)d), b2);
        }
    human(b2, sizeof b2, (double)st.bytes_per_token);
    printf("\nbytes per token  %s read per decoded token (weights of the chosen experts)\n", b2);
    const mm_context_params cp = {.n_ctx = (int)n_ctx, .n_seq_max = (int)np, .n_ubatch = (int)ubatch, .type_k = kt, .type_v = vt,
                                  .kv_page = kv_page};
    mm_mem_plan pl;
    if (mm_mem_plan_get(m, &cp, (int)threads, &pl) < 0) {
        fprintf(stderr, "minimax info: %s\n", mm_last_error());
        mm_model_free(m);
        return 1;
    }
    const int64_t kv1 = mm_state_bytes_kv(c, 1, kt, vt) - mm_state_bytes_kv(c, 0, kt, vt), avail = mm_mem_available();
    human(b1, sizeof b1, (double)kv1);
    printf("memory plan      %ld tokens x %ld sequences, -ctk %s -ctv %s (%s per token), KV pages of %d positions\n", n_ctx, np,
           mm_kv_type_name(kt), mm_kv_type_name(vt), b1, kv_page ? kv_page : MM_KV_PAGE_DEFAULT);
    const char *names[] = {"weights", "KV cache", "lightning", "scratch", "runtime", "total"};
    const int64_t vals[] = {pl.weights, pl.kv, pl.lightning, pl.scratch, pl.runtime, pl.total};
    for (int i = 0; i < 6; i++) {
        human(b1, sizeof b1, (double)vals[i]);
        printf("  %-14s %s\n", names[i], b1);
    }
    human(b1, sizeof b1, (double)avail);
    if (mm_mem_plan_check(m, &cp, &pl, avail) < 0) printf("  does not fit   %s\n", mm_last_error());
    else printf("  fits           in the %s available now\n", b1);
    mm_model_free(m);
    return 0;
}
