/* main.c — `minimax`, the command-line front end: dispatches to one subcommand per file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "minimax.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
    int ranks; /* 1: runs across the ranks of an mpirun job (a pipeline of its model's layers) */
} commands[] = {
    {"run", mm_cli_run, "generate tokens from a prompt", 1},
    {"chat", mm_cli_chat, "interactive chat with the chat template; history kept in the sequence state", 1},
    {"embed", mm_cli_embed, "embeddings: final hidden states pooled (last token or mean) and L2-normalised", 0},
    {"classify", mm_cli_classify, "a task-head checkpoint: sequence labels, token labels, or a question's answer span", 0},
    {"logits", mm_cli_logits, "one full-sequence forward; write float32 logits [T, vocab]", 1},
    {"info", mm_cli_info, "config, layer layout, parameter counts, memory for a context length", 0},
    {"mkmodel", mm_cli_mkmodel, "write a random-weight checkpoint in the Hugging Face layout", 0},
    {"bench", mm_cli_bench, "machine ceilings, prompt processing and generation speed", 1},
    {"tokenize", mm_cli_tokenize, "text to token ids and back with tokenizer.json", 0},
    {"serve", mm_cli_serve, "OpenAI-compatible HTTP server (continuous batching, prefix cache, chat page)", 1},
    {"quantize", mm_cli_quantize, "convert a checkpoint to a llama.cpp minimax-01 GGUF (bf16, q8_0, q4_0, q4_k, q6_k, q4_k_m)", 0},
    {"compare", mm_cli_compare, "run two models on the same tokens: KL divergence, top-1 agreement, logit differences", 1},
    {"imatrix", mm_cli_imatrix, "importance matrix (llama.cpp's format) of a model over a calibration text, for quantize --imatrix", 0},
    {"niah", mm_cli_niah, "needle-in-a-haystack grid of lengths x depths: CSV, JSON and a PNG heatmap", 0},
    {"perplexity", mm_cli_perplexity, "perplexity on a text (llama.cpp's method) and KL / top-1 against a saved base", 1},
    {"train", mm_cli_train, "train a MiniMax-01 model from scratch on text (AdamW, WSD schedule, resumable checkpoints)", 0},
    {"train-tokenizer", mm_cli_train_tokenizer, "learn a byte-level BPE tokenizer.json (MiniMax's format) from text", 0},
    {"image-info", mm_cli_image_info, "how MiniMax-VL-01 cuts an image: grid resolution, tiles, image tokens", 0},
};

static void usage(FILE *f) {
    fprintf(f, "usage: minimax <command> [options]   (minimax <command> --help for each)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    /* --layer-split A,B,...: the pipeline's layers per rank under mpirun, for any command that loads a model;
     * --expert-parallel: split the experts across the ranks instead. */
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--expert-parallel")) {
            mm_cli_set_expert_parallel(1);
            memmove(argv + i, argv + i + 1, sizeof(char *) * (size_t)(argc - i)); /* and the NULL */
            argc--;
            i--;
        } else if (!strcmp(argv[i], "--layer-split")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "minimax: --layer-split needs a value (layers per rank: 40,40)\n");
                return 2;
            }
            mm_cli_set_layer_split(argv[i + 1]);
            memmove(argv + i, argv + i + 2, sizeof(char *) * (size_t)(argc - i - 1)); /* and the NULL */
            argc -= 2;
            i--;
        }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (mm_cli_launched_ranks() > 1 && !commands[i].ranks) {
                const char *r = getenv("OMPI_COMM_WORLD_RANK");
                if (!r || !strcmp(r, "0"))
                    fprintf(stderr, "minimax %s: does not run across ranks under mpirun (run, chat, logits, "
                            "bench, perplexity, compare and serve do); start it without mpirun\n", argv[1]);
                return 2;
            }
            int rc = commands[i].fn(argc - 1, argv + 1);
            mm_cli_dist_end();
            return rc;
        }
    fprintf(stderr, "minimax: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
