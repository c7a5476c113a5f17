/* cli_quantize.c — `minimax quantize`: a Hugging Face checkpoint (or a GGUF) to a llama.cpp minimax-01 GGUF
 * of one file type, tokenizer included. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/mm_common.h"
#include "cli/cli.h"
#include "minimax.h"
#include "formats/mm_gguf.h"
#include "tools/mm_quantize.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax quantize IN OUT.gguf --type TYPE [--imatrix FILE] [-t N] [--force]\n"
            "\n"
            "Converts a checkpoint directory (config.json + safetensors) or a .gguf to a GGUF file that llama.cpp's\n"
            "minimax-01 loader reads (its KV keys, tensor names and layouts), with the tokenizer from IN's\n"
            "tokenizer.json. Norms and the router stay F32; the output matrix gets Q6_K under the 4-bit types;\n"
            "a tensor whose rows are no whole blocks of TYPE falls back to Q8_0 (or F16), as in llama.cpp.\n"
            "\n"
            "  --type TYPE        f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k (all Q4_K), q6_k, and llama.cpp's\n"
            "                     per-tensor mixes q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, iq4_nl,\n"
            "                     iq4_xs, iq3_s, and with --imatrix iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq1_s, iq1_m\n"
            "  --imatrix FILE     importance matrix (llama.cpp's GGUF or legacy .dat, e.g. from `minimax imatrix`): the\n"
            "                     weights of every block's least-squares fit (iq1_*, iq2_* and iq3_xxs require one)\n"
            "  -t, --threads N    threads\n"
            "  --force            overwrite OUT\n"
            "  --tokenizer FILE   tokenizer.json to embed instead of IN's\n"
            "  --mmproj FILE      MiniMax-VL-01 input: where the vision GGUF goes (default: OUT with -mmproj.gguf); load\n"
            "                     the pair with `minimax run -m OUT.gguf --mmproj FILE`\n"
            "  --mmproj-type T    the vision matrices' type: f32, f16, bf16 or q8_0 (default: as stored)\n"
            "  --no-tokenizer     write no tokenizer\n"
            "  --progress / --no-progress   progress line on stderr (default: when stderr is a terminal)\n"
            "  -h, --help         this help\n");
}

int mm_cli_quantize(int argc, char **argv) {
    const char *cmd = "quantize", *in = NULL, *out = NULL, *type = NULL;
    long threads = 0;
    mm_gguf_convert_params p = {.progress = isatty(2), .mmproj_type = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--type")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; type = v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1024, &threads)) return 2;
        } else if (!strcmp(a, "--force")) p.force = 1;
        else if (!strcmp(a, "--tokenizer")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; p.tokenizer = v; }
        else if (!strcmp(a, "--no-tokenizer")) p.no_tokenizer = 1;
        else if (!strcmp(a, "--mmproj")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; p.mmproj = v; }
        else if (!strcmp(a, "--mmproj-type")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            int t = mm_dtype_from_name(v);
            if (t != MM_F32 && t != MM_F16 && t != MM_BF16 && t != MM_Q8_0) {
                fprintf(stderr, "minimax quantize: --mmproj-type must be f32, f16, bf16 or q8_0, got '%s'\n", v);
                return 2;
            }
            p.mmproj_type = t;
        }
        else if (!strcmp(a, "--imatrix")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; p.imatrix = v; }
        else if (!strcmp(a, "--progress")) p.progress = 1;
        else if (!strcmp(a, "--no-progress")) p.progress = 0;
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "minimax quantize: unknown option '%s' (see --help)\n", a); return 2; }
        else if (!in) in = a;
        else if (!out) out = a;
        else { fprintf(stderr, "minimax quantize: unexpected argument '%s' (IN and OUT are already given)\n", a); return 2; }
    }
    if (!in || !out || !type) {
        fprintf(stderr, "minimax quantize: IN, OUT and --type are required (see --help)\n");
        return 2;
    }
    int ft = mm_gguf_ftype_from_name(type);
    if (ft < 0) {
        fprintf(stderr, "minimax quantize: --type must be one of");
        for (int f = 0; f < MM_FT_COUNT; f++) fprintf(stderr, "%s %s", f ? "," : "", mm_gguf_ftype_name((mm_gguf_ftype)f));
        fprintf(stderr, "; got '%s'\n", type);
        return 2;
    }
    if (mm_gguf_ftype_check((mm_gguf_ftype)ft, p.imatrix != NULL) < 0) {
        fprintf(stderr, "minimax quantize: %s\n", mm_last_error());
        return 2;
    }
    if (p.tokenizer && p.no_tokenizer) {
        fprintf(stderr, "minimax quantize: --tokenizer and --no-tokenizer contradict each other\n");
        return 2;
    }
    p.ftype = (mm_gguf_ftype)ft;
    if (threads) mm_set_threads((int)threads);
    mm_gguf_convert_result r;
    if (mm_gguf_convert(in, out, &p, &r) < 0) {
        fprintf(stderr, "minimax quantize: %s\n", mm_last_error());
        return 1;
    }
    fprintf(stderr, "wrote %s: %s, %d tensors (", out, mm_gguf_ftype_name(p.ftype), r.n_tensors);
    int first = 1;
    for (int t = 0; t < MM_DTYPE_COUNT; t++)
        if (r.n_by_type[t]) {
            fprintf(stderr, "%s%d %s", first ? "" : ", ", r.n_by_type[t], mm_dtype_name((mm_dtype)t));
            first = 0;
        }
    fprintf(stderr, "), %.1f M params, %.2f MB, %s tokenizer, %.1f s, peak RSS %.1f MB\n", r.n_params / 1e6,
            r.file_bytes / 1e6, r.has_tokenizer ? "with" : "no", r.seconds, mm_peak_rss() / 1e6);
    if (r.mmproj[0]) fprintf(stderr, "wrote %s: the vision tower, projector and processor settings, %.2f MB\n", r.mmproj, r.mmproj_bytes / 1e6);
    return 0;
}
