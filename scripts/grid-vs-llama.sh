#!/usr/bin/env bash
# The grid i-quant quantizers against llama.cpp's on the same values: relative RMS error of IQ2_XXS, IQ2_XS, IQ2_S,
# IQ3_XXS, IQ3_S, IQ1_S, IQ1_M (and Q2_K, Q3_K for scale) on 64 rows of 4096 Gaussian values, plain (weights of ones) and with a
# heavy-tailed importance matrix (e^{1.5 g}), the latter also weighted by it; and the seconds per type (one thread).
# Then llama.cpp's dequantizer decodes this engine's blocks of every type (the weighted ones): same values, bit for bit.
#   bash scripts/grid-vs-llama.sh LLAMA_CPP_DIR     (a llama.cpp checkout built with CMake: LLAMA_CPP_DIR/build/bin)
# Needs build/libminimax.a (make). llama.cpp is only linked here, for the comparison; nothing of it enters the build.
set -euo pipefail
cd "$(dirname "$0")/.."
llama=${1:?usage: grid-vs-llama.sh LLAMA_CPP_DIR}
[ -f build/libminimax.a ] || { echo "build/libminimax.a missing: run make first" >&2; exit 1; }
[ -f "$llama/build/bin/libggml-base.so" ] || { echo "$llama/build/bin/libggml-base.so missing: build llama.cpp" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/data.h" <<'EOF'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
enum { R = 64, C = 4096, NT = 9 };
static unsigned long long st = 88172645463325252ull;
static double ur(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return (double)(st >> 11) / 9007199254740992.0; }
static float gr(void) { return (float)(sqrt(-2 * log(ur() + 1e-12)) * cos(6.283185307179586 * ur())); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static float *x, *y, *qw, *ones;
static void *q;
static void data(void) {
    x = malloc(sizeof(float) * R * C), y = malloc(sizeof(float) * R * C), qw = malloc(sizeof(float) * C);
    ones = malloc(sizeof(float) * C), q = malloc((size_t)R * C * 4);
    for (int i = 0; i < R * C; i++) x[i] = gr() * 0.02f;
    for (int i = 0; i < C; i++) qw[i] = expf(1.5f * gr()), ones[i] = 1.0f;
}
static void report(const char *who, const char *type, int wi, double sec) {
    double e = 0, s = 0, ew = 0, sw = 0;
    for (int i = 0; i < R * C; i++) {
        const double d = (double)y[i] - x[i];
        e += d * d, s += (double)x[i] * x[i], ew += qw[i % C] * d * d, sw += qw[i % C] * (double)x[i] * x[i];
    }
    if (wi) printf("%-9s %-8s imatrix  rel RMS %.4f, weighted by it %.4f  %.2f s\n", who, type, sqrt(e / s), sqrt(ew / sw), sec);
    else printf("%-9s %-8s plain    rel RMS %.4f  %.2f s\n", who, type, sqrt(e / s), sec);
}
EOF
cat > "$tmp/mine.c" <<'EOF'
#include "kernels/mm_quant.h"
#include "data.h"
int main(int argc, char **argv) {
    data();
    const mm_dtype ts[NT] = {MM_IQ2_XXS, MM_IQ2_XS, MM_IQ2_S, MM_IQ3_XXS, MM_IQ3_S, MM_IQ1_S, MM_IQ1_M, MM_Q2_K, MM_Q3_K};
    for (int ti = 0; ti < NT; ti++)
        for (int wi = 0; wi < 2; wi++) {
            const double t0 = now();
            mm_quantize_rows_w(ts[ti], x, q, R, C, wi ? qw : ones);
            const double t1 = now();
            for (int r = 0; r < R; r++) mm_dequantize_row(ts[ti], (char *)q + r * mm_row_bytes(ts[ti], C), y + (size_t)r * C, C);
            report("minimax", mm_dtype_name(ts[ti]), wi, t1 - t0);
            if (wi && argc > 1) { /* the blocks and their values, for llama.c */
                char path[4096];
                snprintf(path, sizeof path, "%s/blocks-%d", argv[1], ti);
                FILE *f = fopen(path, "wb");
                fwrite(q, 1, (size_t)R * mm_row_bytes(ts[ti], C), f), fwrite(y, sizeof(float), (size_t)R * C, f), fclose(f);
            }
        }
    return 0;
}
EOF
cat > "$tmp/llama.c" <<'EOF'
#include "ggml.h"
#include "data.h"
int main(int argc, char **argv) {
    data();
    const enum ggml_type ts[NT] = {GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S, GGML_TYPE_IQ3_XXS, GGML_TYPE_IQ3_S,
                                   GGML_TYPE_IQ1_S,   GGML_TYPE_IQ1_M,  GGML_TYPE_Q2_K,  GGML_TYPE_Q3_K};
    for (int ti = 0; ti < NT; ti++) {
        ggml_quantize_init(ts[ti]);
        for (int wi = 0; wi < 2; wi++) {
            const double t0 = now();
            ggml_quantize_chunk(ts[ti], x, q, 0, R, C, wi ? qw : ones);
            const double t1 = now();
            ggml_get_type_traits(ts[ti])->to_float(q, y, (int64_t)R * C);
            report("llama.cpp", ggml_type_name(ts[ti]), wi, t1 - t0);
        }
    }
    for (int ti = 0; ti < NT && argc > 1; ti++) { /* minimax's blocks through llama.cpp's dequantizer */
        char path[4096];
        snprintf(path, sizeof path, "%s/blocks-%d", argv[1], ti);
        const size_t qb = ggml_row_size(ts[ti], (int64_t)R * C);
        FILE *f = fopen(path, "rb");
        if (!f || fread(q, 1, qb, f) != qb || fread(x, sizeof(float), (size_t)R * C, f) != (size_t)R * C) return 1;
        fclose(f);
        ggml_get_type_traits(ts[ti])->to_float(q, y, (int64_t)R * C);
        int diff = 0;
        for (int i = 0; i < R * C; i++) diff += memcmp(&x[i], &y[i], sizeof(float)) != 0;
        printf("llama.cpp decodes minimax's %-8s blocks: %d of %d values differ\n", ggml_type_name(ts[ti]), diff, R * C);
    }
    return 0;
}
EOF
cc -std=c11 -O2 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -fopenmp -Iinclude -Isrc -I"$tmp" "$tmp/mine.c" build/libminimax.a -o "$tmp/mine" -lm -lpthread
cc -std=c11 -O2 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -I"$llama/ggml/include" -I"$tmp" "$tmp/llama.c" -o "$tmp/llama" -L"$llama/build/bin" -lggml-base -lggml -lm \
  -Wl,-rpath,"$llama/build/bin"
OMP_NUM_THREADS=1 "$tmp/mine" "$tmp"
"$tmp/llama" "$tmp"
