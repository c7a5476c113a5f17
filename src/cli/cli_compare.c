/* cli_compare.c — `minimax compare`: two models on the same tokens (one full forward each, logits at every
 * position): KL(A‖B), top-1 agreement and |Δlogit| per position and in total; how a quantization is judged. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "minimax.h"
#include "base/mm_common.h"
#include "formats/mm_gguf.h"
#include "text/mm_tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax compare -m A -m B (--ids LIST | --ids-file FILE | -p TEXT) [-c N] [--json]\n"
            "\n"
            "Runs both models over the same tokens (one forward each, logits at every position) and reports, per\n"
            "position and in total: KL(A||B) of the next-token distributions (nats), whether the top-1 tokens\n"
            "agree, and the largest |logit_A - logit_B| (and its mean over every position and vocabulary entry).\n"
            "A is the reference (e.g. the original checkpoint), B the candidate (e.g. a quantized GGUF).\n"
            "\n"
            "  -m, --model PATH    a checkpoint directory or a .gguf; give it twice (A, then B)\n"
            "      --ids LIST      token ids, comma-separated\n"
            "      --ids-file F    token ids from a file (commas, spaces, newlines or a JSON array)\n"
            "  -p, --prompt TEXT   text, tokenized with A's tokenizer (tokenizer.json in A, or the GGUF's own)\n"
            "      --tokenizer F   tokenizer.json to use for -p\n"
            "  -c, --ctx N         use at most the first N tokens\n"
            "  -t, --threads N     compute threads\n"
            "  -ub, --ubatch N     tokens per forward step (default 512); 1 runs every token as a decode step, through\n"
            "                      the single-token attention path\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            "  -ctkb, -ctvb T      KV cache types of B's keys / values when they differ from A's (default: A's)\n"
            "      --json          one JSON object on stdout instead of the table\n"
            "      --no-positions  totals only\n"
            "  -h, --help          this help\n");
}

/* Logits [n, V] of one forward over ids. */
static float *run_model(const char *path, const int32_t *ids, int n, int kt, int vt, int ub, int kv_page, int *V_out, char **err) {
    static char msg[4096];
    mm_model *m = mm_cli_load_model("compare", path, NULL); /* under mpirun: A's pipeline, then B's */
    if (!m) {
        snprintf(msg, sizeof msg, "%s", mm_last_error());
        *err = msg;
        return NULL;
    }
    const int V = mm_model_config(m)->vocab_size;
    float *lg = NULL;
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = n, .n_ubatch = ub, .type_k = kt, .type_v = vt, .kv_page = kv_page});
    int32_t *seq = mm_xcalloc((size_t)n, sizeof *seq);
    int8_t *want = mm_xmalloc((size_t)n);
    memset(want, 1, (size_t)n);
    if (!c) {
        snprintf(msg, sizeof msg, "%s: %s", path, mm_last_error());
        *err = msg;
        goto out;
    }
    lg = malloc(sizeof(float) * (size_t)n * (size_t)V);
    if (!lg) {
        snprintf(msg, sizeof msg, "out of memory for %d x %d logits", n, V);
        *err = msg;
        goto out;
    }
    mm_batch b = {.n_tokens = n, .token = ids, .seq = seq, .logits = want};
    if (mm_decode(c, &b, lg) != n) {
        snprintf(msg, sizeof msg, "%s: %s", path, mm_last_error());
        *err = msg;
        free(lg);
        lg = NULL;
        goto out;
    }
    *V_out = V;
out:
    free(seq);
    free(want);
    mm_context_free(c);
    mm_model_free(m);
    return lg;
}

/* log-softmax normaliser: log Σ exp(x) */
static double logsumexp(const float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += k;
        if (len + 1 == cap) {
            char *g = realloc(buf, cap *= 2);
            if (!g) { free(buf); buf = NULL; }
            else buf = g;
        }
    }
    fclose(f);
    if (buf) buf[len] = 0;
    return buf;
}

int mm_cli_compare(int argc, char **argv) {
    const char *cmd = "compare", *models[2] = {NULL, NULL}, *ids_arg = NULL, *ids_file = NULL, *prompt = NULL, *tokpath = NULL;
    long ctx = 0, threads = 0, ubatch = 512;
    int json_out = 0, positions = 1, nm = 0, kt = MM_KV_F32, vt = MM_KV_F32, ktb = -1, vtb = -1, kv_page = 0, kr;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (nm == 2) { fprintf(stderr, "minimax compare: -m given more than twice\n"); return 2; }
            models[nm++] = v;
        } else if ((kr = mm_arg_kv(cmd, argc, argv, &i, &kt, &vt)) != 0) {
            if (kr < 0) return 2;
        } else if ((kr = mm_arg_kv_page(cmd, argc, argv, &i, &kv_page)) != 0) {
            if (kr < 0) return 2;
        } else if (!strcmp(a, "-ctkb") || !strcmp(a, "-ctvb")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            const int t = mm_kv_type_from_name(v);
            if (t < 0) { fprintf(stderr, "minimax compare: %s '%s' is not a KV cache type (f32, f16, bf16, q8_0, q4_0)\n", a, v); return 2; }
            *(a[3] == 'k' ? &ktb : &vtb) = t;
        } else if (!strcmp(a, "--ids")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; ids_arg = v; }
        else if (!strcmp(a, "--ids-file")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; ids_file = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; prompt = v; }
        else if (!strcmp(a, "--tokenizer")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; tokpath = v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1 << 24, &ctx)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1024, &threads)) return 2;
        } else if (!strcmp(a, "-ub") || !strcmp(a, "--ubatch")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1 << 16, &ubatch)) return 2;
        } else if (!strcmp(a, "--json")) json_out = 1;
        else if (!strcmp(a, "--no-positions")) positions = 0;
        else { fprintf(stderr, "minimax compare: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (nm != 2) {
        fprintf(stderr, "minimax compare: give two models, -m A -m B (see --help)\n");
        return 2;
    }
    if (!!ids_arg + !!ids_file + !!prompt != 1) {
        fprintf(stderr, "minimax compare: give exactly one of --ids, --ids-file, -p\n");
        return 2;
    }
    if (threads) mm_set_threads((int)threads);
    int32_t *ids = NULL;
    int n = 0, rc = 1;
    float *la = NULL, *lb = NULL;
    if (ids_arg || ids_file) {
        char *text = ids_file ? read_file(ids_file) : NULL;
        if (ids_file && !text) { fprintf(stderr, "minimax compare: cannot read %s: %s\n", ids_file, strerror(errno)); return 1; }
        n = mm_arg_ids(cmd, ids_file ? text : ids_arg, &ids);
        free(text);
        if (n < 0) return 2;
    } else {
        mm_tokenizer *tok;
        char tdef[4096];
        if (tokpath) tok = mm_tokenizer_load(tokpath);
        else if (mm_gguf_is_file(models[0])) tok = mm_tokenizer_load_gguf(models[0]);
        else {
            snprintf(tdef, sizeof tdef, "%s/tokenizer.json", models[0]);
            tok = mm_tokenizer_load(tdef);
        }
        if (!tok) { fprintf(stderr, "minimax compare: -p needs a tokenizer: %s\n", mm_last_error()); return 1; }
        n = mm_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids);
        mm_tokenizer_free(tok);
        if (n < 0) { fprintf(stderr, "minimax compare: %s\n", mm_last_error()); return 1; }
    }
    if (ctx && n > ctx) n = (int)ctx;
    if (n <= 0) { fprintf(stderr, "minimax compare: no tokens to run\n"); free(ids); return 2; }
    int Va = 0, Vb = 0;
    char *err = NULL;
    if (!(la = run_model(models[0], ids, n, kt, vt, (int)ubatch, kv_page, &Va, &err))) { fprintf(stderr, "minimax compare: A: %s\n", err); goto out; }
    if (!(lb = run_model(models[1], ids, n, ktb < 0 ? kt : ktb, vtb < 0 ? vt : vtb, (int)ubatch, kv_page, &Vb, &err))) { fprintf(stderr, "minimax compare: B: %s\n", err); goto out; }
    if (Va != Vb) {
        fprintf(stderr, "minimax compare: the vocabularies differ (A %d, B %d)\n", Va, Vb);
        goto out;
    }
    const int V = Va;
    double kl_sum = 0, kl_max = 0, abs_sum = 0, abs_max = 0;
    int agree = 0;
    json_t *jpos = json_array();
    if (!json_out && positions) printf("%6s %8s %12s %8s %8s %5s %10s\n", "pos", "token", "KL(A||B)", "top1 A", "top1 B", "same", "max|dl|");
    for (int t = 0; t < n; t++) {
        const float *a = la + (size_t)t * V, *b = lb + (size_t)t * V;
        double za = logsumexp(a, V), zb = logsumexp(b, V), kl = 0, mx = 0;
        for (int i = 0; i < V; i++) {
            double lpa = a[i] - za, lpb = b[i] - zb;
            kl += exp(lpa) * (lpa - lpb);
            double d = fabs((double)a[i] - b[i]);
            abs_sum += d;
            if (!(d <= mx)) mx = d;
        }
        if (kl < 0) kl = 0; /* rounding */
        int ta = argmax(a, V), tb = argmax(b, V);
        agree += ta == tb;
        kl_sum += kl;
        if (!(kl <= kl_max)) kl_max = kl;
        if (!(mx <= abs_max)) abs_max = mx;
        if (json_out && positions)
            json_array_append_new(jpos, json_pack("{s:i,s:i,s:f,s:i,s:i,s:f}", "pos", t, "token", ids[t], "kl", kl, "top1_a", ta,
                                                  "top1_b", tb, "max_abs_dlogit", mx));
        else if (positions)
            printf("%6d %8d %12.3e %8d %8d %5s %10.4f\n", t, ids[t], kl, ta, tb, ta == tb ? "yes" : "NO", mx);
    }
    double kl_mean = kl_sum / n, top1 = 100.0 * agree / n, abs_mean = abs_sum / ((double)n * V);
    if (json_out) {
        json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:f,s:f,s:f,s:i,s:f,s:f}", "model_a", models[0], "model_b", models[1], "n_tokens",
                              n, "vocab", V, "kl_mean", kl_mean, "kl_max", kl_max, "top1_agree_pct", top1, "top1_agree",
                              agree, "max_abs_dlogit", abs_max, "mean_abs_dlogit", abs_mean);
        if (positions) json_object_set(o, "positions", jpos);
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("A %s\nB %s\n", models[0], models[1]);
        printf("tokens %d  vocab %d\n", n, V);
        printf("KL(A||B)      mean %.4e  max %.4e nats\n", kl_mean, kl_max);
        printf("top-1 agree   %.2f%% (%d of %d)\n", top1, agree, n);
        printf("|dlogit|      max %.4f  mean %.4e\n", abs_max, abs_mean);
    }
    json_decref(jpos);
    rc = 0;
out:
    free(ids);
    free(la);
    free(lb);
    return rc;
}
