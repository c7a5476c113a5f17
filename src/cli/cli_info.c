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
            "usage: minimax info -m DIR [-c N] [--kv-bf16]\n"
            "\n"
            "Prints the parsed config, the layer layout, parameter counts, bytes by dtype, and the memory one\n"
            "sequence needs at a context length (weights + lightning state + KV cache).\n"
            "\n"
            "  -m, --model DIR   checkpoint directory\n"
            "      --mmproj FILE the vision GGUF of a .gguf VL model\n"
            "  -c, --ctx-size N  context length for the memory estimate (default 4096)\n"
            "      --kv-bf16     estimate with a bf16 KV cache\n"
            "  -h, --help        this help\n");
}

static void human(char *buf, size_t n, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) bytes /= 1024, i++;
    snprintf(buf, n, "%.2f %s", bytes, u[i]);
}

int mm_cli_info(int argc, char **argv) {
    const char *cmd = "info", *model = NULL, *mmproj = NULL;
    long n_ctx = 4096;
    int kv_bf16 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; model = v; }
        else if (!strcmp(a, "--mmproj")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; mmproj = v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1L << 40, &n_ctx)) return 2;
        } else if (!strcmp(a, "--kv-bf16")) kv_bf16 = 1;
        else { fprintf(stderr, "minimax info: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (!model) { fprintf(stderr, "minimax info: -m DIR is required\n"); return 2; }
    mm_model *m = mm_model_load(model, &(mm_model_params){.mmproj = mmproj});
    if (!m) { fprintf(stderr, "minimax info: %s\n", mm_last_error()); return 1; }
    const mm_config *c = mm_model_config(m);
    mm_model_stats st;
    mm_model_get_stats(m, &st);
    char b1[32], b2[32], b3[32], b4[32];
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
    for (int d = 0; d < 16; d++)
        if (st.bytes_by_dtype[d]) {
            human(b2, sizeof b2, (double)st.bytes_by_dtype[d]);
            printf("; %s %s", mm_dtype_name((mm_dtype)d), b2);
        }
    human(b2, sizeof b2, (double)st.bytes_per_token);
    printf("\nbytes per token  %s read per decoded token (weights of the chosen experts)\n", b2);
    int64_t state = mm_state_bytes(c, 0, kv_bf16), kv = mm_state_bytes(c, n_ctx, kv_bf16) - state;
    human(b1, sizeof b1, (double)state);
    human(b2, sizeof b2, (double)kv);
    human(b3, sizeof b3, (double)(st.bytes_total + state + kv));
    human(b4, sizeof b4, (double)kv / (double)n_ctx);
    printf("memory @ %ld tok lightning state %s + KV cache %s (%s/token, %s) = %s with weights\n", n_ctx, b1, b2, b4,
           kv_bf16 ? "bf16" : "f32", b3);
    mm_model_free(m);
    return 0;
}
