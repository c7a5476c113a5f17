/* cli_mkmodel.c — `minimax mkmodel`: write a random-weight checkpoint in the Hugging Face layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "formats/mm_mkmodel.h"

static void mkmodel_usage(FILE *f) {
    fprintf(f,
            "usage: minimax mkmodel -o DIR [options]\n"
            "Writes a random-weight MiniMax-01 checkpoint (config.json + safetensors) in the Hugging Face layout.\n"
            "Values depend only on the seed, the tensor name and the element index: the same seed gives the same\n"
            "numbers whatever the layout, dtype, shard size or thread count.\n\n"
            "  -o, --output DIR      output directory (created if missing)\n"
            "  --preset NAME         tiny (default: H 256, 8 layers, 8x40 heads, 8 experts, vocab 200064, ~220 MB bf16)\n"
            "                        or text01 (MiniMax-Text-01: H 6144, 80 layers, 64x128 heads, 32 experts, ~0.9 TB)\n"
            "                        or vl01 (MiniMax-VL-01: text01's language model + the ViT-L/14-336 tower, 24 layers\n"
            "                        of width 1024, 16 heads, MLP 4096, and the projector; the text sizes take the\n"
            "                        overrides below, e.g. --layers 2 --experts 4)\n"
            "  --vision-hidden D     vl01: the tower's width (default 1024)\n"
            "  --vision-layers N     vl01: the tower's layers (default 24)\n"
            "  --vision-heads N      vl01: the tower's heads (default 16)\n"
            "  --vision-ffn F        vl01: the tower's MLP width (default 4096)\n"
            "  --layers N            layer count (layer types: every 8th and the last are softmax)\n"
            "  --layer-types SPEC    e.g. LLLLLLLS or 0,0,1: L/0 lightning, S/1 softmax (sets the layer count)\n"
            "  --experts E           experts per layer\n"
            "  --top-k K             experts per token (<= E)\n"
            "  --hidden H            hidden size\n"
            "  --heads N             attention heads\n"
            "  --kv-heads N          key/value heads of softmax layers (divides --heads)\n"
            "  --head-dim D          head dimension (even)\n"
            "  --rotary-dim R        rotary dimensions per head (even, <= D; default D/2)\n"
            "  --ffn I               expert FFN width (intermediate_size)\n"
            "  --vocab V             vocabulary size\n"
            "  --dtype T             f32, bf16 (default) or f16\n"
            "  --seed S              weight seed (default 0)\n"
            "  --layout L            per-expert (released checkpoints, default) or fused (newer transformers)\n"
            "  --dialect D           remote (minimax_text_01 config, default) or hf (model_type minimax)\n"
            "  --shard-mb N          split into shards of at most N MB (default 5000; 0: one file)\n"
            "  --tokenizer PATH      copy tokenizer.json (a file, or a directory holding it) and tokenizer_config.json\n"
            "                        into DIR, so that `minimax run -m DIR` works as is\n"
            "  --head KIND           a task-head checkpoint instead of the causal LM (implies --dialect hf): seq-cls\n"
            "                        (MiniMaxForSequenceClassification), token-cls (MiniMaxForTokenClassification) or qa\n"
            "                        (MiniMaxForQuestionAnswering); random head weights like the rest\n"
            "  --labels A,B,...      label names of a classification head (id2label; default LABEL_0, LABEL_1)\n"
            "  --pad-id N            pad_token_id in config.json (sequence classification pools the last non-pad token)\n"
            "  --force               write into a non-empty directory (replaces its checkpoint files)\n"
            "  -h, --help            this help\n");
}

int mm_cli_mkmodel(int argc, char **argv) {
    const char *cmd = "mkmodel", *out = NULL, *preset = "tiny", *layer_spec = NULL, *tokenizer = NULL;
    /* Overrides are collected first and applied on top of the preset. */
    long ov[15];
    for (int i = 0; i < 15; i++) ov[i] = -1;
    enum { O_LAYERS, O_EXPERTS, O_TOPK, O_HIDDEN, O_HEADS, O_KV, O_HD, O_ROT, O_FFN, O_VOCAB, O_SHARD, O_VH, O_VL, O_VHEADS, O_VF };
    static const struct { const char *flag; int slot; long lo, hi; } intflags[] = {
        {"--layers", O_LAYERS, 1, 512},  {"--experts", O_EXPERTS, 1, 4096}, {"--top-k", O_TOPK, 1, 4096},
        {"--hidden", O_HIDDEN, 1, 1 << 20}, {"--heads", O_HEADS, 1, 1 << 16}, {"--kv-heads", O_KV, 1, 1 << 16},
        {"--head-dim", O_HD, 2, 1 << 16}, {"--rotary-dim", O_ROT, 2, 1 << 16}, {"--ffn", O_FFN, 1, 1 << 22},
        {"--vocab", O_VOCAB, 1, 1 << 24},   {"--shard-mb", O_SHARD, 0, 1L << 30},
        {"--vision-hidden", O_VH, 1, 1 << 16}, {"--vision-layers", O_VL, 1, 1024}, {"--vision-heads", O_VHEADS, 1, 4096},
        {"--vision-ffn", O_VF, 1, 1 << 18},
    };
    int dtype = MM_BF16, layout = MM_LAYOUT_PER_EXPERT, dialect = MM_DIALECT_REMOTE, force = 0, arch = MM_ARCH_CAUSAL_LM;
    int dialect_given = 0;
    long seed = 0, pad = -1;
    const char *labels = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            mkmodel_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--force")) {
            force = 1;
            continue;
        }
        int matched = 0;
        for (size_t k = 0; k < sizeof intflags / sizeof intflags[0]; k++) {
            if (strcmp(a, intflags[k].flag)) continue;
            matched = 1;
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (mm_arg_int(cmd, a, v, intflags[k].lo, intflags[k].hi, &ov[intflags[k].slot])) return 2;
        }
        if (matched) continue;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = mm_arg_next(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--preset")) {
            if (!(preset = mm_arg_next(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--tokenizer")) {
            if (!(tokenizer = mm_arg_next(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--layer-types")) {
            if (!(layer_spec = mm_arg_next(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 0, 0x7fffffffffffffffL, &seed)) return 2;
        } else if (!strcmp(a, "--dtype")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (!strcmp(v, "f32") || !strcmp(v, "F32")) dtype = MM_F32;
            else if (!strcmp(v, "bf16") || !strcmp(v, "BF16")) dtype = MM_BF16;
            else if (!strcmp(v, "f16") || !strcmp(v, "F16")) dtype = MM_F16;
            else {
                fprintf(stderr, "minimax mkmodel: --dtype must be f32, bf16 or f16, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--layout")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (!strcmp(v, "per-expert")) layout = MM_LAYOUT_PER_EXPERT;
            else if (!strcmp(v, "fused")) layout = MM_LAYOUT_FUSED;
            else {
                fprintf(stderr, "minimax mkmodel: --layout must be per-expert or fused, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--head")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (!strcmp(v, "seq-cls")) arch = MM_ARCH_SEQ_CLS;
            else if (!strcmp(v, "token-cls")) arch = MM_ARCH_TOKEN_CLS;
            else if (!strcmp(v, "qa")) arch = MM_ARCH_QA;
            else {
                fprintf(stderr, "minimax mkmodel: --head must be seq-cls, token-cls or qa, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--labels")) {
            if (!(labels = mm_arg_next(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--pad-id")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 0, 1 << 24, &pad)) return 2;
        } else if (!strcmp(a, "--dialect")) {
            dialect_given = 1;
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (!strcmp(v, "remote")) dialect = MM_DIALECT_REMOTE;
            else if (!strcmp(v, "hf")) dialect = MM_DIALECT_HF;
            else {
                fprintf(stderr, "minimax mkmodel: --dialect must be remote or hf, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "minimax mkmodel: unknown option '%s' (see minimax mkmodel --help)\n", a);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "minimax mkmodel: -o DIR is required (see minimax mkmodel --help)\n");
        return 2;
    }
    mm_mkmodel_params p;
    if (mm_mkmodel_preset(&p, preset) != 0) {
        fprintf(stderr, "minimax mkmodel: %s\n", mm_last_error());
        return 2;
    }
    if (ov[O_HIDDEN] > 0) p.hidden_size = (int)ov[O_HIDDEN];
    if (ov[O_EXPERTS] > 0) p.n_experts = (int)ov[O_EXPERTS];
    if (ov[O_TOPK] > 0) p.top_k = (int)ov[O_TOPK];
    if (ov[O_HEADS] > 0) p.n_heads = (int)ov[O_HEADS];
    if (ov[O_KV] > 0) p.n_kv_heads = (int)ov[O_KV];
    if (ov[O_HD] > 0) {
        p.head_dim = (int)ov[O_HD];
        p.rotary_dim = p.head_dim / 2 + (p.head_dim / 2) % 2;   /* follows the head unless given: half, kept even */
        if (p.rotary_dim > p.head_dim) p.rotary_dim = p.head_dim;
    }
    if (ov[O_ROT] > 0) p.rotary_dim = (int)ov[O_ROT];
    if (ov[O_FFN] > 0) p.intermediate_size = (int)ov[O_FFN];
    if (ov[O_VOCAB] > 0) p.vocab_size = (int)ov[O_VOCAB];
    if (ov[O_SHARD] >= 0) p.shard_bytes = (uint64_t)ov[O_SHARD] * 1000000ull;
    if ((ov[O_VH] > 0 || ov[O_VL] > 0 || ov[O_VHEADS] > 0 || ov[O_VF] > 0) && !p.vision) {
        fprintf(stderr, "minimax mkmodel: --vision-* need --preset vl01\n");
        return 2;
    }
    if (ov[O_VH] > 0) p.v_hidden = (int)ov[O_VH];
    if (ov[O_VL] > 0) p.v_layers = (int)ov[O_VL];
    if (ov[O_VHEADS] > 0) p.v_heads = (int)ov[O_VHEADS];
    if (ov[O_VF] > 0) p.v_ffn = (int)ov[O_VF];
    if (layer_spec) {
        if (mm_mkmodel_parse_layer_types(&p, layer_spec) != 0) {
            fprintf(stderr, "minimax mkmodel: --layer-types: %s\n", mm_last_error());
            return 2;
        }
        if (ov[O_LAYERS] > 0 && ov[O_LAYERS] != p.n_layers) {
            fprintf(stderr, "minimax mkmodel: --layers %ld disagrees with --layer-types '%s' (%d layers)\n", ov[O_LAYERS],
                    layer_spec, p.n_layers);
            return 2;
        }
    } else if (ov[O_LAYERS] > 0) {
        p.n_layers = (int)ov[O_LAYERS];
        mm_mkmodel_default_layer_types(&p);
    }
    if (arch != MM_ARCH_CAUSAL_LM && dialect_given && dialect != MM_DIALECT_HF) {
        fprintf(stderr, "minimax mkmodel: --head needs the hf dialect (the task heads are transformers' native classes)\n");
        return 2;
    }
    if (labels && arch != MM_ARCH_SEQ_CLS && arch != MM_ARCH_TOKEN_CLS) {
        fprintf(stderr, "minimax mkmodel: --labels is for --head seq-cls or token-cls\n");
        return 2;
    }
    p.dtype = (mm_dtype)dtype;
    p.layout = layout;
    p.dialect = arch != MM_ARCH_CAUSAL_LM ? MM_DIALECT_HF : dialect;
    p.arch = arch;
    p.labels = labels;
    p.pad_token_id = (int)pad;
    p.seed = (uint64_t)seed;
    p.force = force;
    p.progress = isatty(2);
    if (mm_mkmodel_validate(&p) != 0) {
        fprintf(stderr, "minimax mkmodel: %s\n", mm_last_error());
        return 2;
    }
    if (tokenizer && access(tokenizer, R_OK) != 0) {   /* fail before the long part */
        fprintf(stderr, "minimax mkmodel: --tokenizer %s: cannot read it\n", tokenizer);
        return 2;
    }
    mm_mkmodel_result r;
    if (mm_mkmodel_write(out, &p, &r) != 0) {
        fprintf(stderr, "minimax mkmodel: %s\n", mm_last_error());
        return 1;
    }
    if (tokenizer && mm_mkmodel_copy_tokenizer(out, tokenizer) != 0) {
        fprintf(stderr, "minimax mkmodel: %s\n", mm_last_error());
        return 1;
    }
    int n_soft = 0;
    for (int i = 0; i < p.n_layers; i++) n_soft += p.layer_type[i];
    printf("mkmodel: wrote %s: %s, %.3fB params (%d layers, %d softmax; %d experts top-%d%s), %.1f MB %s in %d safetensors file%s "
           "+ config.json (%s, %s), %.1f s\n",
           out, p.vision ? "MiniMaxVL01ForConditionalGeneration" : mm_arch_name(p.arch), (double)r.n_params / 1e9, p.n_layers,
           n_soft, p.n_experts, p.top_k,
           p.vision ? "; a CLIP tower and projector: MiniMax-VL-01 layout + preprocessor_config.json" : "", (double)r.bytes / 1e6,
           mm_dtype_name(p.dtype), r.n_files, r.n_files == 1 ? "" : "s", p.dialect == MM_DIALECT_HF ? "hf dialect" : "remote dialect",
           p.layout == MM_LAYOUT_FUSED ? "fused experts" : "per-expert", r.seconds);
    return 0;
}
