/* cli_bench.c — `minimax bench`: this machine's ceilings (read bandwidth, reference-BLAS GEMM), then prompt
 * processing (ppN) and generation (tgN) tokens/s with median and spread, achieved GB/s and GFLOP/s as a % of
 * the ceilings, time per op type and peak RSS. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "tools/mm_bench.h"
#include "base/mm_common.h"
#include "kernels/mm_kernels.h"
#include "minimax.h"
#include "model/mm_model.h"
#include "vision/mm_image.h"
#include "vision/mm_vision.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax bench -m DIR [options]\n"
            "\n"
            "Measures the machine's ceilings, then the model's prompt processing and generation speed.\n"
            "\n"
            "  -m, --model DIR     checkpoint directory\n"
            "  -p, --n-prompt LIST prompt lengths to test, comma-separated (default 512,4096; 0 = none)\n"
            "  -n, --n-gen LIST    generation lengths to test (default 128; 0 = none)\n"
            "  -r, --repeats N     repeats of each test (default 3)\n"
            "  -t, --threads N     compute threads (default: all cores)\n"
            "  -b, --ubatch N      prefill chunk size (default 512)\n"
            "  -d, --depth LIST    run every test after N tokens already in the sequence (prefilled once, restored\n"
            "                      before each repeat), e.g. tg128 at depth 4096 (default 0); a list (-d 0,4096,32768,\n"
            "                      --depths) runs every test at each depth, the prefix prefilled once and extended\n"
            "      --fill-depth    fill each depth's prefix with random keys and values instead of prefilling it\n"
            "                      (mm_seq_fill_synthetic: decode and prefill at depth cost the same, in seconds, not\n"
            "                      hours; the generated tokens are meaningless)\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            "      --no-repack     keep quantized matrices in their stored layout (default: packed where faster)\n"
            "      --isa NAME      force the kernel set: scalar, avx2, avxvnni or avx512 (default: the best this CPU\n"
            "                      runs), e.g. to measure an AVX2-only machine's kernels on a newer one\n"
            "      --bw-mb N       buffer for the bandwidth ceiling in MiB (default 1024)\n"
            "      --gemm-n N      matrix size for the BLAS ceiling (default 2048)\n"
            "      --attn-depth LIST  depths at which to time the softmax attention kernel alone (default: each\n"
            "                      prompt length >= 1024 less one chunk; 0 = none)\n"
            "      --decode-attn-depth LIST  depths at which to time decode attention alone: one token over all KV heads\n"
            "                      of the model's shape, one thread, the KV types of -ctk/-ctv, a random cache of that\n"
            "                      many positions; ns per position, multiply-adds/s and GB/s of KV read\n"
            "      --no-ceilings   skip the ceilings and kernel rates (percent columns read 0; the peak RSS is then the\n"
            "                      model's alone, as bench/peer compares it)\n"
            "      --image WxH     MiniMax-VL-01: encode a synthetic image of this size (default 672x672; 0 = none):\n"
            "                      seconds per patch, GFLOP/s against OpenBLAS sgemm at the tower's layer shape, then the\n"
            "                      prefill of a prompt holding it (tokens/s)\n"
            "      --image-file F  encode this image file instead\n"
            "      --no-image-prefill  encode only (skip the image prompt's prefill)\n"
            "      --json          one JSON object on stdout instead of the table\n"
            "  -h, --help          this help\n");
}

typedef struct {
    char name[32];
    int pp, n;              /* pp: prompt processing of n tokens; else generation of n tokens */
    mm_bench_stat tps;      /* tokens/s */
    double *samples;        /* [reps] tokens/s of each repeat, in order */
    double gbs, gflops;     /* at the median */
    int depth;              /* tokens in the sequence before the test */
    mm_timings t;           /* summed over repeats */
} bench_result;

/* FLOPs of a layer's projections and chosen experts for one token (2 per multiply-add). */
static double layer_matmul_flops(const mm_config *c, int type) {
    const double H = c->hidden_size, NHD = (double)c->n_heads * c->head_dim, NKVD = (double)c->n_kv_heads * c->head_dim;
    double attn = type == MM_LAYER_LIGHTNING ? (3 * NHD * H + NHD * H + H * NHD) : (NHD * H + 2 * NKVD * H + H * NHD);
    double moe = (double)c->n_experts * H + (double)c->n_experts_per_tok * 3.0 * c->intermediate_size * H;
    return 2.0 * (attn + moe);
}

/* FLOPs of n tokens at positions pos0.. processed in chunks of `chunk` tokens, logits for the last of each. */
static double forward_flops(const mm_config *c, int64_t pos0, int64_t n, int chunk) {
    const double NH = c->n_heads, D = c->head_dim;
    double f = 0;
    for (int l = 0; l < c->n_layers; l++) {
        f += n * layer_matmul_flops(c, c->layer_type[l]);
        if (c->layer_type[l] == MM_LAYER_LIGHTNING) {
            double m = chunk < c->block_size ? chunk : c->block_size;
            f += n * 2.0 * NH * (2 * D * D + m * D);
        } else { /* scores and weighted values over positions 0..p */
            double sum_pos = (double)n * pos0 + (double)n * (n + 1) / 2;
            f += 4.0 * NH * D * sum_pos;
        }
    }
    f += ceil((double)n / chunk) * 2.0 * c->vocab_size * c->hidden_size;
    return f;
}

/* x as a percentage of the ceiling c (0 when the ceiling was not measured). */
static double pct(double x, double c) { return c > 0 ? 100 * x / c : 0; }

/* A synthetic test image: smooth gradients, hard edges and a disc (what the goldens' images hold). */
static mm_image *synthetic_image(int w, int h) {
    mm_image *im = mm_image_new(w, h, MM_IMG_RGB);
    if (!im) return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->data + ((size_t)y * w + x) * 3;
            int dx = x - w / 2, dy = y - h / 3, disc = (int64_t)dx * dx + (int64_t)dy * dy < (int64_t)w * w / 16;
            p[0] = (uint8_t)(255 * x / (w > 1 ? w - 1 : 1));
            p[1] = (uint8_t)(((x / 16 + y / 16) & 1) ? 220 : 30);
            p[2] = disc ? 250 : (uint8_t)(255 * y / (h > 1 ? h - 1 : 1));
        }
    return im;
}

typedef struct {
    int w, h, n_patches, n_tokens, n_prompt;
    mm_bench_stat enc_s, pp_tps;        /* encode seconds, image-prompt prefill tokens/s */
    double gflops, per_patch;           /* at the median */
    mm_bench_stat ceiling;              /* OpenBLAS at the tower's layer shape */
    int cm, cn, ck;
    mm_vision_times t;                  /* summed over repeats */
} image_bench;

/* Encodes the image reps times, then prefills a prompt of 8 text tokens + its image tokens + 8 text tokens. */
static int bench_image(mm_model *m, mm_context *c, const char *file, int w, int h, int reps, int ceiling, int prefill,
                       image_bench *ib) {
    memset(ib, 0, sizeof *ib);
    mm_image *im = file ? mm_image_load(file, 0) : synthetic_image(w, h);
    mm_image_input *in = im ? mm_image_preprocess(m, im) : NULL;
    mm_image_free(im);
    if (!in) return -1;
    const mm_image_plan *p = mm_image_input_plan(in);
    const mm_config *cfg = mm_model_config(m);
    const mm_vision_config *vc = &m->vision->cfg;
    ib->w = p->width, ib->h = p->height, ib->n_patches = p->n_patches, ib->n_tokens = p->n_tokens;
    ib->cm = 4 * (mm_vision_patch_tokens(vc) + 1), ib->cn = vc->intermediate, ib->ck = vc->hidden;
    if (ceiling) ib->ceiling = mm_bench_blas_sgemm_mnk(ib->cm, ib->cn, ib->ck, 3);
    const int H = cfg->hidden_size, n = 16 + p->n_tokens;
    float *feat = malloc(sizeof(float) * (size_t)p->n_tokens * H);
    double *enc = mm_xmalloc(sizeof(double) * (size_t)reps), *tps = mm_xmalloc(sizeof(double) * (size_t)reps);
    int32_t *ids = mm_xmalloc(sizeof(int32_t) * (size_t)n), *seq = mm_xcalloc((size_t)n, sizeof(int32_t));
    const float **embd = mm_xcalloc((size_t)n, sizeof *embd);
    float *logits = mm_xmalloc(sizeof(float) * (size_t)cfg->vocab_size);
    int rc = feat ? 0 : -1;
    for (int i = 0; i < n; i++) ids[i] = i >= 8 && i < 8 + p->n_tokens ? cfg->image_token_index : (int32_t)(1000 + 37 * i) % cfg->vocab_size;
    for (int r = 0; r < reps && !rc; r++) {
        mm_vision_times before = *m->vision->times;
        double t0 = mm_time();
        rc = mm_image_encode(m, in, feat);
        enc[r] = mm_time() - t0;
        ib->t.matmul += m->vision->times->matmul - before.matmul;
        ib->t.attention += m->vision->times->attention - before.attention;
        ib->t.other += m->vision->times->other - before.other;
        if (!rc) rc = mm_image_embd(m, ids, n, 1, (const float *const *)&feat, &p->n_tokens, embd);
        if (!rc && prefill) {
            mm_seq_reset(c, 0);
            mm_batch b = {.n_tokens = n, .token = ids, .seq = seq, .embd = embd};
            t0 = mm_time();
            rc = mm_decode(c, &b, logits) != 1;
            tps[r] = n / (mm_time() - t0);
        }
    }
    if (!rc) {
        ib->n_prompt = prefill ? n : 0;
        ib->enc_s = mm_bench_summarize(enc, reps);
        ib->pp_tps = mm_bench_summarize(tps, reps);
        ib->per_patch = ib->enc_s.median / p->n_patches;
        ib->gflops = mm_vision_patch_flops(vc) * p->n_patches / ib->enc_s.median / 1e9;
    }
    free(feat), free(enc), free(tps), free(ids), free(seq), free(embd), free(logits);
    mm_image_input_free(in);
    return rc ? -1 : 0;
}

/* "512,4096" into out; zeros are dropped ("0" = none) unless keep0 (depths). */
static int parse_list_z(const char *cmd, const char *v, int *out, int max, int keep0) {
    int n = 0;
    char *dup = mm_xstrdup(v), *save = NULL;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long x;
        if (n == max || mm_arg_int(cmd, "list", tok, 0, 1 << 24, &x)) { free(dup); return -1; }
        if (x > 0 || keep0) out[n++] = (int)x;
    }
    free(dup);
    return n;
}
static int parse_list(const char *cmd, const char *v, int *out, int max) { return parse_list_z(cmd, v, out, max, 0); }

int mm_cli_bench(int argc, char **argv) {
    const char *cmd = "bench", *model = NULL;
    int pps[16] = {512, 4096}, n_pp = 2, tgs[16] = {128}, n_tg = 1, json = 0, kt = MM_KV_F32, vt = MM_KV_F32, no_repack = 0, kv_page = 0;
    int depths[16], n_depth = -1, ceilings = 1, fill_depth = 0, ddepths[16], n_ddepth = 0;
    long reps = 3, threads = 0, ubatch = 512, bw_mb = 1024, gemm_n = 2048, depth = 0;
    int img_w = 672, img_h = 672, img_prefill = 1;
    const char *img_file = NULL;
    int dlist[16] = {0}, n_dl = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int kr;
#define NEXT() \
    if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEXT(); model = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) { NEXT(); if ((n_pp = parse_list(cmd, v, pps, 16)) < 0) return 2; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) { NEXT(); if ((n_tg = parse_list(cmd, v, tgs, 16)) < 0) return 2; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--repeats")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1000, &reps)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--ubatch")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 65536, &ubatch)) return 2; }
        else if (!strcmp(a, "-d") || !strcmp(a, "--depth") || !strcmp(a, "--depths")) {
            NEXT();
            if ((n_dl = parse_list_z(cmd, v, dlist, 16, 1)) <= 0) return 2;
            for (int j = 0; j < n_dl; j++)
                if (dlist[j] < 0 || dlist[j] > (1 << 24) || (j && dlist[j] <= dlist[j - 1])) {
                    fprintf(stderr, "minimax bench: %s: depths must rise, each in [0, %d]\n", a, 1 << 24);
                    return 2;
                }
        }
        else if ((kr = mm_arg_kv(cmd, argc, argv, &i, &kt, &vt)) != 0) { if (kr < 0) return 2; }
        else if ((kr = mm_arg_kv_page(cmd, argc, argv, &i, &kv_page)) != 0) { if (kr < 0) return 2; }
        else if (!strcmp(a, "--no-repack")) no_repack = 1;
        else if (!strcmp(a, "--isa")) {
            NEXT();
            if (mm_kernels_force_isa(v) != 0) {
                fprintf(stderr, "minimax bench: --isa %s: unknown kernel set or not supported by this CPU "
                                "(scalar, avx2, avxvnni, avx512)\n", v);
                return 2;
            }
        }
        else if (!strcmp(a, "--bw-mb")) { NEXT(); if (mm_arg_int(cmd, a, v, 16, 1 << 20, &bw_mb)) return 2; }
        else if (!strcmp(a, "--gemm-n")) { NEXT(); if (mm_arg_int(cmd, a, v, 64, 16384, &gemm_n)) return 2; }
        else if (!strcmp(a, "--attn-depth")) { NEXT(); if ((n_depth = parse_list(cmd, v, depths, 16)) < 0) return 2; }
        else if (!strcmp(a, "--decode-attn-depth")) { NEXT(); if ((n_ddepth = parse_list(cmd, v, ddepths, 16)) < 0) return 2; }
        else if (!strcmp(a, "--no-ceilings")) ceilings = 0;
        else if (!strcmp(a, "--fill-depth")) fill_depth = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--image-file")) { NEXT(); img_file = v; }
        else if (!strcmp(a, "--no-image-prefill")) img_prefill = 0;
        else if (!strcmp(a, "--image")) {
            NEXT();
            if (!strcmp(v, "0")) img_w = img_h = 0;
            else if (sscanf(v, "%dx%d", &img_w, &img_h) != 2 || img_w < 1 || img_h < 1 || img_w > 20000 || img_h > 20000) {
                fprintf(stderr, "minimax bench: --image expects WxH (e.g. 2016x2016) or 0, got '%s'\n", v);
                return 2;
            }
        }
        else { fprintf(stderr, "minimax bench: unknown option '%s' (see --help)\n", a); return 2; }
#undef NEXT
    }
    if (!model) { fprintf(stderr, "minimax bench: -m DIR is required (see --help)\n"); return 2; }
    mm_set_threads((int)threads);

    /* Ceilings first, while the model is not yet competing for the page cache. */
    mm_bench_stat bw = {0, 0, 0}, blas = bw;
    if (ceilings) {
        bw = mm_bench_read_bandwidth((size_t)bw_mb << 20, 5);
        blas = mm_bench_blas_sgemm((int)gemm_n, 3);
    }

    mm_model *m = mm_cli_load_model("bench", model, &(mm_model_params){.no_repack = no_repack});
    if (!m) { fprintf(stderr, "minimax bench: %s\n", mm_last_error()); return 1; }
    const mm_config *cfg = mm_model_config(m);
    mm_model_stats st;
    mm_model_get_stats(m, &st);

    /* Kernel rates against the sgemm ceiling: the integer prefill GEMM of the model's main block type (T = one
     * chunk, 2048 × 2048), and the softmax attention kernel alone at depth (the last chunk of each long prompt). */
    int qdt = -1;
    for (int d = MM_Q8_0; d <= MM_Q6_K; d++)
        if (st.bytes_by_dtype[d] > 0 && (qdt < 0 || st.bytes_by_dtype[d] > st.bytes_by_dtype[qdt])) qdt = d;
    mm_bench_stat qg = {0};
    if (!ceilings) qdt = -1, n_depth = 0;
    if (qdt >= 0) qg = mm_bench_qgemm(qdt, (int)ubatch, 2048, 2048, 3);
    if (n_depth < 0) {
        n_depth = 0;
        for (int i = 0; i < n_pp; i++)
            if (pps[i] >= 1024) depths[n_depth++] = pps[i] - (int)(ubatch < pps[i] ? ubatch : pps[i]);
    }
    mm_bench_stat att[16];
    for (int i = 0; i < n_depth && cfg->n_softmax; i++)
        att[i] = mm_bench_attention(cfg->n_heads / cfg->n_kv_heads, cfg->n_kv_heads, cfg->head_dim, depths[i], (int)ubatch, 1);
    if (!cfg->n_softmax) n_depth = 0;
    /* decode attention alone: ns per position; its cache of depth positions must fit (2 GiB at most here) */
    const int G = cfg->n_kv_heads > 0 ? cfg->n_heads / cfg->n_kv_heads : 1;
    const double kv_pos = (double)cfg->n_kv_heads * (double)(mm_kv_head_bytes((mm_dtype)kt, cfg->head_dim) + mm_kv_head_bytes((mm_dtype)vt, cfg->head_dim));
    mm_bench_stat datt[16];
    if (!cfg->n_softmax && n_ddepth) {
        fprintf(stderr, "minimax bench: --decode-attn-depth: %s has no softmax attention layer\n", model);
        mm_model_free(m);
        return 2;
    }
    for (int i = 0; i < n_ddepth; i++) {
        if (kv_pos * ddepths[i] > 2.0 * 1073741824.0) {
            fprintf(stderr, "minimax bench: --decode-attn-depth %d: the cache would take %.1f GiB (%.0f bytes per position); at most 2 GiB\n",
                    ddepths[i], kv_pos * ddepths[i] / 1073741824.0, kv_pos);
            mm_model_free(m);
            return 2;
        }
        datt[i] = mm_bench_attention_decode(G, cfg->n_kv_heads, cfg->head_dim, kt, vt, ddepths[i], (int)(reps > 3 ? reps : 3));
    }
    int max_len = 16;
    const int do_image = mm_model_has_vision(m) && (img_file || img_w > 0);
    if (do_image && img_prefill) {   /* room for the image prompt */
        mm_image_plan ip;
        if (!img_file && mm_image_plan_for(m, img_w, img_h, &ip) == 0) max_len = ip.n_tokens + 16;
        else max_len = 1 << 16;
    }
    for (int i = 0; i < n_pp; i++) max_len = pps[i] > max_len ? pps[i] : max_len;
    for (int i = 0; i < n_tg; i++) max_len = tgs[i] > max_len ? tgs[i] : max_len;
    max_len += dlist[n_dl - 1];
    if (n_dl * (n_pp + n_tg) > 32) { fprintf(stderr, "minimax bench: at most 32 tests (depths x (-p + -n))\n"); mm_model_free(m); return 2; }
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = max_len, .n_ubatch = (int)ubatch, .type_k = kt, .type_v = vt,
                                                           .kv_page = kv_page});
    if (!c) { fprintf(stderr, "minimax bench: %s\n", mm_last_error()); mm_model_free(m); return 1; }
    int32_t *ids = mm_xmalloc(sizeof(int32_t) * (size_t)max_len), *seq = mm_xcalloc((size_t)max_len, sizeof(int32_t));
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < max_len; i++) { /* random prompt tokens: the depth prefix, then the tests' */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)cfg->vocab_size);
    }
    float *logits = mm_xmalloc(sizeof(float) * (size_t)cfg->vocab_size);
    double *samples = mm_xmalloc(sizeof(double) * (size_t)reps);
    bench_result res[32];
    int n_res = 0, rc = 0;
    mm_seq_state *at_depth = NULL; /* the sequence after the depth prefix, restored before every repeat */
    const double state_bytes = (double)mm_state_bytes_kv(cfg, 0, kt, vt);
    const double kv_per_tok = (double)(mm_state_bytes_kv(cfg, 1, kt, vt) - mm_state_bytes_kv(cfg, 0, kt, vt));
    for (int di = 0; di < n_dl && !rc; di++) {
    depth = dlist[di];
    if (depth > 0) { /* extend the previous depth's prefix */
        if (at_depth) rc = mm_seq_restore(c, 0, at_depth) != 0;
        else mm_seq_reset(c, 0);
        const int from = mm_seq_len(c, 0);
        mm_batch b = {.n_tokens = (int)depth - from, .token = ids + from, .seq = seq};
        mm_seq_state_free(at_depth);
        at_depth = NULL;
        if (fill_depth && !rc) rc = mm_seq_fill_synthetic(c, 0, (int)depth - from, (uint64_t)depth) != 0;
        else if (!rc) rc = mm_decode(c, &b, logits) != 1;
        if (rc || !(at_depth = mm_seq_snapshot(c, 0))) {
            fprintf(stderr, "minimax bench: %s the depth of %ld tokens: %s\n", fill_depth ? "filling" : "prefilling", depth,
                    mm_last_error());
            rc = 1;
        }
    }
    const int32_t *tids = ids + depth;
    for (int k = 0; k < n_pp + n_tg && !rc; k++) {
        bench_result *r = &res[n_res++];
        memset(r, 0, sizeof *r);
        r->pp = k < n_pp;
        r->n = r->pp ? pps[k] : tgs[k - n_pp];
        snprintf(r->name, sizeof r->name, depth ? "%s%d@d%ld" : "%s%d", r->pp ? "pp" : "tg", r->n, depth);
        r->samples = mm_xmalloc(sizeof(double) * (size_t)reps);
        for (int rep = -1; rep < reps && !rc; rep++) {
            /* rep -1 warms the page cache and the threads with one chunk (pp) or a few tokens (tg) */
            const int n = rep < 0 ? (r->pp ? (r->n < ubatch ? r->n : (int)ubatch) : (r->n < 4 ? r->n : 4)) : r->n;
            if (at_depth) rc = mm_seq_restore(c, 0, at_depth) != 0;
            else mm_seq_reset(c, 0);
            mm_context_reset_timings(c);
            double t0 = mm_time();
            if (r->pp) {
                mm_batch b = {.n_tokens = n, .token = tids, .seq = seq};
                rc = rc || mm_decode(c, &b, logits) != 1;
            } else {
                for (int i = 0; i < n && !rc; i++) {
                    mm_batch b = {.n_tokens = 1, .token = tids + i, .seq = seq};
                    rc = mm_decode(c, &b, logits) != 1;
                }
            }
            double dt = mm_time() - t0;
            if (rep < 0) continue;
            samples[rep] = r->n / dt;
            mm_timings t;
            mm_context_timings(c, &t);
            r->t.lightning += t.lightning, r->t.softmax += t.softmax, r->t.moe += t.moe, r->t.head += t.head,
                r->t.other += t.other;
        }
        if (rc) { fprintf(stderr, "minimax bench: %s\n", mm_last_error()); break; }
        memcpy(r->samples, samples, sizeof(double) * (size_t)reps);
        r->tps = mm_bench_summarize(samples, (int)reps);
        if (r->pp) {
            r->gflops = forward_flops(cfg, depth, r->n, (int)ubatch) / r->n * r->tps.median / 1e9;
            /* weights are read once per chunk, and each chunk reads the KV cache up to its end once */
            double kvb = 0;
            for (int t0 = 0; t0 < r->n; t0 += (int)ubatch) kvb += kv_per_tok * (double)(depth + (t0 + ubatch < r->n ? t0 + ubatch : r->n));
            r->gbs = (((double)st.bytes_total * ceil((double)r->n / ubatch) + kvb) / r->n) * r->tps.median / 1e9;
        } else {
            /* a decoded token reads its weights, the lightning states (read + write) and the KV cache so far */
            double bytes = (double)st.bytes_per_token + 2 * state_bytes + kv_per_tok * (depth + (r->n + 1) / 2.0);
            r->gbs = bytes * r->tps.median / 1e9;
            r->gflops = forward_flops(cfg, depth + r->n / 2, 1, 1) * r->tps.median / 1e9;
        }
        r->depth = (int)depth;
    }
    }
    image_bench ib;
    if (!rc && do_image && bench_image(m, c, img_file, img_w, img_h, (int)reps, ceilings, img_prefill, &ib) < 0) {
        fprintf(stderr, "minimax bench: image: %s\n", mm_last_error());
        rc = 1;
    }
    if (!rc) {
        const char *isa = mm_kernels_isa();
        if (json) {
            json_t *o = json_pack("{s:s, s:i, s:s, s:i, s:i, s:b, s:I, s:I, s:I, s:I, s:I}", "model", model, "threads",
                                  mm_get_threads(), "isa", isa, "ubatch", (int)ubatch, "depth", dlist[0], "depth_filled", fill_depth,
                                  "params", (json_int_t)st.n_params, "params_active", (json_int_t)st.n_params_active,
                                  "weight_bytes", (json_int_t)st.bytes_total, "bytes_per_token", (json_int_t)st.bytes_per_token,
                                  "packed_bytes", (json_int_t)st.bytes_packed);
            json_object_set_new(o, "ceilings", json_pack("{s:{s:f,s:f,s:f}, s:{s:i,s:f,s:f,s:f}}", "read_bandwidth_gbs", "median",
                                                         bw.median, "min", bw.min, "max", bw.max, "blas_sgemm_gflops", "n",
                                                         (int)gemm_n, "median", blas.median, "min", blas.min, "max", blas.max));
            json_t *kern = json_object();
            if (qdt >= 0)
                json_object_set_new(kern, "qgemm", json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:f, s:f}", "dtype", mm_dtype_name((mm_dtype)qdt),
                                                             "T", (int)ubatch, "N", 2048, "K", 2048, "gops_median", qg.median, "min",
                                                             qg.min, "max", qg.max, "x_sgemm", pct(qg.median, blas.median) / 100));
            json_t *ja = json_array();
            for (int i = 0; i < n_depth; i++)
                json_array_append_new(ja, json_pack("{s:i, s:i, s:f, s:f}", "depth", depths[i], "queries", (int)ubatch, "gflops",
                                                    att[i].median, "pct_sgemm", pct(att[i].median, blas.median)));
            json_object_set_new(kern, "softmax_attention", ja);
            json_t *jd = json_array();
            for (int i = 0; i < n_ddepth; i++)
                json_array_append_new(jd, json_pack("{s:i, s:s, s:s, s:f, s:f, s:f, s:f, s:f}", "depth", ddepths[i], "type_k", mm_kv_type_name(kt),
                                                    "type_v", mm_kv_type_name(vt), "ns_per_position_median", datt[i].median, "min", datt[i].min,
                                                    "max", datt[i].max, "gmacs_per_s", 2.0 * cfg->n_heads * cfg->head_dim / datt[i].median,
                                                    "kv_gb_per_s", kv_pos / datt[i].median));
            json_object_set_new(kern, "decode_attention", jd);
            json_object_set_new(o, "kernels", kern);
            json_t *arr = json_array();
            for (int i = 0; i < n_res; i++) {
                bench_result *r = &res[i];
                double tot = r->t.lightning + r->t.softmax + r->t.moe + r->t.head + r->t.other;
                json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:{s:f,s:f,s:f}, s:f, s:f, s:f, s:f, s:{s:f,s:f,s:f,s:f,s:f}}",
                    "test", r->name, "tokens", r->n, "depth", r->depth, "tokens_per_s", "median", r->tps.median, "min", r->tps.min, "max", r->tps.max,
                    "gb_per_s", r->gbs, "pct_bandwidth", pct(r->gbs, bw.median), "gflop_per_s", r->gflops,
                    "pct_blas", pct(r->gflops, blas.median), "time_fraction", "lightning", r->t.lightning / tot,
                    "softmax", r->t.softmax / tot, "moe", r->t.moe / tot, "head", r->t.head / tot, "other", r->t.other / tot));
                json_t *sm = json_array();
                for (int k = 0; k < reps; k++) json_array_append_new(sm, json_real(r->samples[k]));
                json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "samples", sm);
            }
            json_object_set_new(o, "tests", arr);
            if (do_image) {
                double tt = ib.t.matmul + ib.t.attention + ib.t.other;
                json_object_set_new(o, "image", json_pack("{s:i, s:i, s:i, s:i, s:{s:f,s:f,s:f}, s:f, s:f, s:{s:[i,i,i], s:f}, s:f, s:i, s:{s:f,s:f,s:f}, s:{s:f,s:f,s:f}}",
                    "width", ib.w, "height", ib.h, "patches", ib.n_patches, "image_tokens", ib.n_tokens, "encode_s", "median", ib.enc_s.median,
                    "min", ib.enc_s.min, "max", ib.enc_s.max, "s_per_patch", ib.per_patch, "gflop_per_s", ib.gflops, "blas_sgemm_gflops",
                    "mnk", ib.cm, ib.cn, ib.ck, "median", ib.ceiling.median, "pct_blas", pct(ib.gflops, ib.ceiling.median),
                    "prompt_tokens", ib.n_prompt, "prefill_tokens_per_s", "median", ib.pp_tps.median, "min", ib.pp_tps.min, "max", ib.pp_tps.max,
                    "time_fraction", "matmul", ib.t.matmul / tt, "attention", ib.t.attention / tt, "other", ib.t.other / tt));
            }
            json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)mm_peak_rss()));
            char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            puts(s);
            free(s);
            json_decref(o);
        } else {
            int dt = -1;
            for (int d = 0; d < MM_DTYPE_COUNT; d++)
                if (st.bytes_by_dtype[d] * 2 > st.bytes_total) dt = d;
            printf("minimax bench: %s — %s, %.3gB params (%.3gB active), %.2f GiB weights, %.2f GiB read per token\n", model,
                   dt >= 0 ? mm_dtype_name((mm_dtype)dt) : "mixed", st.n_params / 1e9, st.n_params_active / 1e9,
                   st.bytes_total / 1073741824.0, st.bytes_per_token / 1073741824.0);
            printf("threads %d, kernels %s, %ld repeats per test; %.2f GiB of weights in the packed 16-row layout%s\n", mm_get_threads(),
                   isa, reps, st.bytes_packed / 1073741824.0, no_repack ? " (--no-repack)" : "");
            printf("ceilings: read bandwidth %.2f GB/s (median of 5, %.2f-%.2f); OpenBLAS sgemm n=%ld %.1f GFLOP/s (median of 3, %.1f-%.1f)\n\n",
                   bw.median, bw.min, bw.max, gemm_n, blas.median, blas.min, blas.max);
            if (qdt >= 0)
                printf("integer GEMM %s (T=%ld, 2048x2048): %.1f GOP/s (median of 3, %.1f-%.1f) = %.2fx sgemm\n", mm_dtype_name((mm_dtype)qdt),
                       ubatch, qg.median, qg.min, qg.max, pct(qg.median, blas.median) / 100);
            for (int i = 0; i < n_depth; i++)
                printf("softmax attention kernel, %ld queries at depth %d: %.1f GFLOP/s = %.1f%% of sgemm\n", ubatch, depths[i],
                       att[i].median, pct(att[i].median, blas.median));
            for (int i = 0; i < n_ddepth; i++)
                printf("decode attention, one thread, %d query heads over %d %s/%s KV heads at depth %d: %.1f ns per position (%.1f-%.1f), "
                       "%.1f G multiply-adds/s, %.2f GB/s of KV\n", cfg->n_heads, cfg->n_kv_heads, mm_kv_type_name(kt), mm_kv_type_name(vt),
                       ddepths[i], datt[i].median, datt[i].min, datt[i].max, 2.0 * cfg->n_heads * cfg->head_dim / datt[i].median,
                       kv_pos / datt[i].median);
            if (qdt >= 0 || n_depth || n_ddepth) printf("\n");
            if (fill_depth && dlist[n_dl - 1] > 0)
                printf("depths filled with random keys and values (--fill-depth), not prefilled\n");
            printf("%-8s %10s %19s %8s %6s %9s %6s   %s\n", "test", "tokens/s", "(min-max)", "GB/s", "%bw", "GFLOP/s", "%blas",
                   "time: lightning softmax moe head other");
            for (int i = 0; i < n_res; i++) {
                bench_result *r = &res[i];
                double tot = r->t.lightning + r->t.softmax + r->t.moe + r->t.head + r->t.other;
                printf("%-8s %10.2f %9.2f-%-9.2f %8.2f %5.1f%% %9.1f %5.1f%%   %5.1f%% %5.1f%% %5.1f%% %5.1f%% %5.1f%%\n", r->name,
                       r->tps.median, r->tps.min, r->tps.max, r->gbs, pct(r->gbs, bw.median), r->gflops,
                       pct(r->gflops, blas.median), 100 * r->t.lightning / tot, 100 * r->t.softmax / tot, 100 * r->t.moe / tot,
                       100 * r->t.head / tot, 100 * r->t.other / tot);
            }
            for (int i = 0; i + 1 < n_res; i++) /* lightning scaling between prompt lengths */
                if (res[i].pp && res[i + 1].pp && res[i + 1].n > res[i].n && res[i].t.lightning > 0)
                    printf("\nlightning time %s → %s: %.2f× for %.2f× the tokens\n", res[i].name, res[i + 1].name,
                           res[i + 1].t.lightning / res[i].t.lightning, (double)res[i + 1].n / res[i].n);
            if (do_image) {
                double tt = ib.t.matmul + ib.t.attention + ib.t.other;
                printf("\nimage %dx%d: %d patches (thumbnail + %d tiles), %d image tokens\n", ib.w, ib.h, ib.n_patches, ib.n_patches - 1,
                       ib.n_tokens);
                printf("encode   %.3f s (%.3f-%.3f) = %.3f s per patch, %.1f GFLOP/s = %.1f%% of OpenBLAS sgemm %dx%dx%d (%.1f "
                       "GFLOP/s); time: matmul %.1f%% attention %.1f%% other %.1f%%\n",
                       ib.enc_s.median, ib.enc_s.min, ib.enc_s.max, ib.per_patch, ib.gflops, pct(ib.gflops, ib.ceiling.median),
                       ib.cm, ib.cn, ib.ck, ib.ceiling.median, 100 * ib.t.matmul / tt, 100 * ib.t.attention / tt, 100 * ib.t.other / tt);
                if (ib.n_prompt)
                    printf("image-prompt prefill: %d tokens at %.2f tokens/s (%.2f-%.2f)\n", ib.n_prompt, ib.pp_tps.median,
                           ib.pp_tps.min, ib.pp_tps.max);
            }
            printf("peak RSS %.1f MiB\n", mm_peak_rss() / 1048576.0);
        }
    }
    for (int i = 0; i < n_res; i++) free(res[i].samples);
    mm_seq_state_free(at_depth);
    free(ids), free(seq), free(logits), free(samples);
    mm_context_free(c);
    mm_model_free(m);
    return rc ? 1 : 0;
}
