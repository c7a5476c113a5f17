/* cli_train.c — `minimax train`: train a MiniMax-01 model from scratch on text (or continue a checkpoint). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "base/mm_common.h"
#include "tools/mm_bench.h"
#include "train/mm_train.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax train -f TRAIN.txt --tokenizer tokenizer.json -o CKPT [options]\n"
            "       minimax train --resume -o CKPT -f TRAIN.txt --tokenizer tokenizer.json [options]\n"
            "\n"
            "Trains a MiniMax-01 model (lightning + softmax attention, MoE, DeepNorm) on UTF-8 text with AdamW on a\n"
            "warmup-stable-decay schedule. CKPT receives config.json + model.safetensors (F32, loadable by `minimax run`),\n"
            "the tokenizer, optimizer/ and trainer_state.json; --resume continues it exactly (same batches, same schedule).\n"
            "A share of the sequences are key-value retrieval documents built from the text (see README).\n"
            "\n"
            "  -f, --file FILE       training text\n"
            "      --heldout FILE    held-out text: loss and retrieval accuracy at each evaluation\n"
            "      --tokenizer FILE  tokenizer.json (minimax train-tokenizer)\n"
            "  -o, --output DIR      checkpoint directory\n"
            "      --resume          continue the checkpoint in DIR (model, optimizer, step, schedule; --steps and\n"
            "                        --decay/--warmup given again replace the schedule's, e.g. to decay now)\n"
            "      --export DIR      at the end, write a BF16 copy (config, weights, tokenizer) for shipping\n"
            "      --preset NAME     model shape: demo (default, 10.9M parameters) or tiny\n"
            "      --vocab N         model vocabulary (default 4096; at least the tokenizer's ids)\n"
            "  -b, --batch N         sequences per step (default 8)\n"
            "      --seq N           tokens per sequence (default 512)\n"
            "      --steps N         steps of the schedule (default 2000)\n"
            "      --lr X            peak learning rate (default 2e-3); --lr-min X final (default 2e-4)\n"
            "      --warmup X        warmup: a share of the steps (default 0.02), or X >= 1 steps (with --time-limit)\n"
            "      --decay X         share of the steps decaying (default 0.2)\n"
            "      --wd X            weight decay (default 0.1); --clip X gradient norm clip (default 1)\n"
            "      --aux X           load-balancing loss weight (default 0.001)\n"
            "      --niah X          share of retrieval sequences (default 0.2)\n"
            "  -s, --seed N          seed of the initial weights and the batches (default 1)\n"
            "      --eval-every N    steps between evaluations (default 100); --eval-windows N (default 32)\n"
            "      --save-every N    steps between checkpoints (default 200)\n"
            "      --time-limit MIN  a time budget: the decay phase starts when (1 - decay) of it is spent, so the run\n"
            "                        ends decayed at about MIN minutes (and saves); continue with --resume\n"
            "      --run-steps N     stop (and save) after N steps of this run; continue with --resume\n"
            "      --log FILE        append one line per evaluation: step tokens train held-out retrieval tok/s GFLOP/s s\n"
            "  -t, --threads N       compute threads (default: all cores)\n"
            "  -h, --help            this help\n");
}

int mm_cli_train(int argc, char **argv) {
    const char *cmd = "train", *preset = "demo";
    mm_train_params p;
    mm_train_defaults(&p);
    long vocab = 4096, threads = 0, l;
    int steps_given = 0, decay_given = 0, warmup_given = 0;
    double d, aux = 0.001;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
#define NEXT() if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2
#define INT(dst, lo, hi) do { NEXT(); if (mm_arg_int(cmd, a, v, lo, hi, &l)) return 2; dst = l; } while (0)
#define DBL(dst, lo, hi) do { NEXT(); if (mm_arg_float(cmd, a, v, lo, hi, &d)) return 2; dst = d; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { NEXT(); p.train_file = v; }
        else if (!strcmp(a, "--heldout")) { NEXT(); p.heldout_file = v; }
        else if (!strcmp(a, "--tokenizer")) { NEXT(); p.tokenizer = v; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { NEXT(); p.out_dir = v; }
        else if (!strcmp(a, "--resume")) p.resume = 1;
        else if (!strcmp(a, "--export")) { NEXT(); p.export_dir = v; }
        else if (!strcmp(a, "--preset")) { NEXT(); preset = v; }
        else if (!strcmp(a, "--vocab")) INT(vocab, 2, 1 << 24);
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) INT(p.n_seq, 1, 4096);
        else if (!strcmp(a, "--seq")) INT(p.seq_len, 2, 1 << 20);
        else if (!strcmp(a, "--steps")) { INT(p.steps, 1, 1L << 40); steps_given = 1; }
        else if (!strcmp(a, "--lr")) DBL(p.lr, 0, 10);
        else if (!strcmp(a, "--lr-min")) DBL(p.lr_min, 0, 10);
        else if (!strcmp(a, "--warmup")) { DBL(p.warmup_frac, 0, 1e12); warmup_given = 1; }
        else if (!strcmp(a, "--decay")) { DBL(p.decay_frac, 0, 1); decay_given = 1; }
        else if (!strcmp(a, "--wd")) DBL(p.weight_decay, 0, 10);
        else if (!strcmp(a, "--clip")) DBL(p.clip, 0, 1e9);
        else if (!strcmp(a, "--aux")) DBL(aux, 0, 100);
        else if (!strcmp(a, "--niah")) DBL(p.niah_frac, 0, 1);
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) INT(p.seed, 0, 0x7fffffffffffffffL);
        else if (!strcmp(a, "--eval-every")) INT(p.eval_every, 1, 1 << 30);
        else if (!strcmp(a, "--eval-windows")) INT(p.eval_windows, 1, 1 << 20);
        else if (!strcmp(a, "--save-every")) INT(p.save_every, 1, 1 << 30);
        else if (!strcmp(a, "--time-limit")) { DBL(p.time_limit, 0, 1e9); p.time_limit *= 60; }
        else if (!strcmp(a, "--run-steps")) INT(p.run_steps, 1, 1L << 40);
        else if (!strcmp(a, "--log")) { NEXT(); p.log_file = v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT(threads, 1, 1024);
        else { fprintf(stderr, "minimax %s: unknown option '%s' (see --help)\n", cmd, a); return 2; }
#undef NEXT
#undef INT
#undef DBL
    }
    if (!p.train_file || !p.tokenizer || !p.out_dir) {
        fprintf(stderr, "minimax %s: -f TRAIN.txt, --tokenizer FILE and -o DIR are required (see --help)\n", cmd);
        return 2;
    }
    if (mm_tdims_preset(&p.dims, preset, (int)vocab) < 0) { fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error()); return 2; }
    p.dims.aux_coef = aux;
    if (p.resume) { /* the saved schedule, unless given again */
        if (!steps_given) p.steps = 0;
        if (!decay_given) p.decay_frac = -1;
        if (!warmup_given) p.warmup_frac = -1;
    }
    if (threads) mm_set_threads((int)threads);
    p.progress = isatty(2);
    /* the ceiling the progress line compares with: OpenBLAS SGEMM on the same threads, measured now */
    mm_bench_stat gemm = mm_bench_blas_sgemm(1024, 3);
    p.gemm_ceiling = gemm.median;
    fprintf(stderr, "train: GEMM ceiling (OpenBLAS sgemm 1024³, %d threads): %.1f GFLOP/s\n", mm_get_threads(), gemm.median);
    mm_train_result r;
    double t0 = mm_time();
    if (mm_train_run(&p, &r) < 0) { fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error()); return 1; }
    fprintf(stderr, "train: step %lld, %lld tokens; train loss %.4f, held-out loss %.4f; %.0f tokens/s, %.1f GFLOP/s (%.0f%% of the GEMM ceiling); %.1f min\n",
            (long long)r.step, (long long)r.tokens, r.train_loss, r.heldout_loss, r.tokens_per_s, r.gflops,
            p.gemm_ceiling > 0 ? 100 * r.gflops / p.gemm_ceiling : NAN, (mm_time() - t0) / 60);
    return 0;
}
