/* main.c — `minimax`, the command-line front end: dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "minimax.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"run", mm_cli_run, "generate tokens from a prompt"},
    {"chat", mm_cli_chat, "interactive chat with the chat template; history kept in the sequence state"},
    {"embed", mm_cli_embed, "embeddings: final hidden states pooled (last token or mean) and L2-normalised"},
    {"classify", mm_cli_classify, "a task-head checkpoint: sequence labels, token labels, or a question's answer span"},
    {"logits", mm_cli_logits, "one full-sequence forward; write float32 logits [T, vocab]"},
    {"info", mm_cli_info, "config, layer layout, parameter counts, memory for a context length"},
    {"mkmodel", mm_cli_mkmodel, "write a random-weight checkpoint in the Hugging Face layout"},
    {"bench", mm_cli_bench, "machine ceilings, prompt processing and generation speed"},
    {"tokenize", mm_cli_tokenize, "text to token ids and back with tokenizer.json"},
    {"serve", mm_cli_serve, "OpenAI-compatible HTTP server (continuous batching, prefix cache, chat page)"},
    {"quantize", mm_cli_quantize, "convert a checkpoint to a llama.cpp minimax-01 GGUF (bf16, q8_0, q4_0, q4_k, q6_k, q4_k_m)"},
    {"compare", mm_cli_compare, "run two models on the same tokens: KL divergence, top-1 agreement, logit differences"},
    {"perplexity", mm_cli_perplexity, "perplexity on a text (llama.cpp's method) and KL / top-1 against a saved base"},
    {"train", mm_cli_train, "train a MiniMax-01 model from scratch on text (AdamW, WSD schedule, resumable checkpoints)"},
    {"train-tokenizer", mm_cli_train_tokenizer, "learn a byte-level BPE tokenizer.json (MiniMax's format) from text"},
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
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "minimax: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
