/* cli_heads.c — `minimax embed` (pooled, L2-normalised final hidden states of a text) and `minimax classify`
 * (a task-head checkpoint: the labels of a sequence, a label per token, or the answer span of a question). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mm_common.h"
#include "cli/cli.h"
#include "formats/mm_gguf.h"
#include "minimax.h"
#include "text/mm_tokenizer.h"

#define MAX_INPUTS 64

typedef struct {
    const char *model, *tokpath, *ids[MAX_INPUTS], *texts[MAX_INPUTS], *files[MAX_INPUTS];
    int n_ids, n_texts, n_files;
    long threads;
} inputs;

/* -m, --tokenizer, --ids, -p, -f, -t: 1 when argv[*i] was one of them, 0 another flag, -1 a bad value. */
static int common_arg(const char *cmd, int argc, char **argv, int *i, inputs *in) {
    const char *a = argv[*i], *v;
    const char **list = NULL;
    int *n = NULL;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        if (!(in->model = mm_arg_next(cmd, argc, argv, i))) return -1;
        return 1;
    }
    if (!strcmp(a, "--tokenizer")) {
        if (!(in->tokpath = mm_arg_next(cmd, argc, argv, i))) return -1;
        return 1;
    }
    if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        if (!(v = mm_arg_next(cmd, argc, argv, i)) || mm_arg_int(cmd, a, v, 1, 1024, &in->threads)) return -1;
        return 1;
    }
    if (!strcmp(a, "--ids")) list = in->ids, n = &in->n_ids;
    else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) list = in->texts, n = &in->n_texts;
    else if (!strcmp(a, "-f") || !strcmp(a, "--file")) list = in->files, n = &in->n_files;
    else return 0;
    if (!(v = mm_arg_next(cmd, argc, argv, i))) return -1;
    if (in->n_ids + in->n_texts + in->n_files == MAX_INPUTS) {
        fprintf(stderr, "minimax %s: at most %d inputs\n", cmd, MAX_INPUTS);
        return -1;
    }
    list[(*n)++] = v;
    return 1;
}

/* The model, its tokenizer (when text is given or it has one), a context for the longest input. */
typedef struct {
    mm_model *m;
    mm_tokenizer *tok;
    mm_context *c;
    int32_t *ids[MAX_INPUTS];
    int len[MAX_INPUTS], n;
    char *label[MAX_INPUTS];   /* what each input is called in the output */
} loaded;

static void unload(loaded *L) {
    for (int i = 0; i < L->n; i++) {
        free(L->ids[i]);
        free(L->label[i]);
    }
    mm_context_free(L->c);
    mm_tokenizer_free(L->tok);
    mm_model_free(L->m);
}

static int tokenize(const char *cmd, loaded *L, const char *text, size_t len, const char *label) {
    int32_t *ids = NULL;
    int n = mm_tokenizer_encode(L->tok, text, len, 0, &ids);   /* the text as text: special-token strings are not special */
    if (n <= 0) {
        fprintf(stderr, "minimax %s: %s: %s\n", cmd, label, n < 0 ? mm_last_error() : "empty input");
        free(ids);
        return -1;
    }
    L->ids[L->n] = ids;
    L->len[L->n] = n;
    L->label[L->n++] = mm_xstrdup(label);
    return 0;
}

static int load(const char *cmd, const inputs *in, int need_text, loaded *L) {
    memset(L, 0, sizeof *L);
    if (!in->model) {
        fprintf(stderr, "minimax %s: -m DIR is required (see --help)\n", cmd);
        return -1;
    }
    if (in->threads) mm_set_threads((int)in->threads);
    if (!(L->m = mm_model_load(in->model, NULL))) {
        fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
        return -1;
    }
    const int V = mm_model_config(L->m)->vocab_size;
    char tdefault[4096];
    snprintf(tdefault, sizeof tdefault, "%s/tokenizer.json", in->model);
    if (in->n_texts || in->n_files || need_text || in->tokpath) {
        L->tok = !in->tokpath && mm_gguf_is_file(in->model) ? mm_tokenizer_load_gguf(in->model)
                                                             : mm_tokenizer_load(in->tokpath ? in->tokpath : tdefault);
        if (!L->tok) {
            fprintf(stderr, "minimax %s: %s (text needs the tokenizer: put tokenizer.json in the model directory or pass "
                            "--tokenizer FILE)\n", cmd, mm_last_error());
            return -1;
        }
    } else if (access(tdefault, R_OK) == 0) {
        L->tok = mm_tokenizer_load(tdefault);   /* only to show token texts; without it ids are shown */
    }
    for (int i = 0; i < in->n_texts; i++)
        if (tokenize(cmd, L, in->texts[i], strlen(in->texts[i]), in->texts[i]) < 0) return -1;
    for (int i = 0; i < in->n_files; i++) {
        size_t len;
        char *text = mm_arg_read_file(cmd, in->files[i], &len);
        int rc = text ? tokenize(cmd, L, text, len, in->files[i]) : -1;
        free(text);
        if (rc < 0) return -1;
    }
    for (int i = 0; i < in->n_ids; i++) {
        int n = mm_arg_ids(cmd, in->ids[i], &L->ids[L->n]);
        if (n <= 0) {
            if (!n) fprintf(stderr, "minimax %s: --ids %s: no ids\n", cmd, in->ids[i]);
            if (!n) free(L->ids[L->n]);
            return -1;
        }
        for (int k = 0; k < n; k++)
            if (L->ids[L->n][k] < 0 || L->ids[L->n][k] >= V) {
                fprintf(stderr, "minimax %s: token id %d is out of range [0, %d)\n", cmd, L->ids[L->n][k], V);
                free(L->ids[L->n]);
                return -1;
            }
        L->len[L->n] = n;
        L->label[L->n++] = mm_xstrdup(in->ids[i]);
    }
    int longest = 1;
    for (int i = 0; i < L->n; i++) longest = L->len[i] > longest ? L->len[i] : longest;
    L->c = mm_context_new(L->m, &(mm_context_params){.n_ctx = longest, .n_seq_max = 1, .n_ubatch = 512});
    if (!L->c) {
        fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- embed */
static void embed_usage(FILE *f) {
    fprintf(f,
            "usage: minimax embed -m DIR (-p TEXT | -f FILE | --ids LIST)... [options]\n"
            "\n"
            "The embedding of each input: its final hidden states (after the final norm) pooled and L2-normalised, one\n"
            "line of hidden_size numbers per input, in the order given (texts, then files, then id lists). Works on\n"
            "every checkpoint (causal LM or task head).\n"
            "\n"
            "  -m, --model DIR        checkpoint directory (or .gguf)\n"
            "  -p, --prompt TEXT      an input text (repeatable)\n"
            "  -f, --file FILE        an input read from a file (repeatable)\n"
            "      --ids LIST         an input as token ids, comma-separated (repeatable)\n"
            "      --pooling P        last (default: the last token's state) or mean (the average over the tokens)\n"
            "      --json             print a JSON array of arrays instead\n"
            "      --tokenizer FILE   tokenizer.json to use\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            "  -h, --help             this help\n");
}

int mm_cli_embed(int argc, char **argv) {
    const char *cmd = "embed";
    inputs in = {0};
    int pooling = MM_POOL_LAST, as_json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = common_arg(cmd, argc, argv, &i, &in);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            embed_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--pooling")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (strcmp(v, "last") && strcmp(v, "mean")) {
                fprintf(stderr, "minimax embed: --pooling must be last or mean, got '%s'\n", v);
                return 2;
            }
            pooling = !strcmp(v, "mean") ? MM_POOL_MEAN : MM_POOL_LAST;
        } else if (!strcmp(a, "--json")) {
            as_json = 1;
        } else {
            fprintf(stderr, "minimax embed: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!in.n_ids && !in.n_texts && !in.n_files) {
        fprintf(stderr, "minimax embed: give at least one input: -p TEXT, -f FILE or --ids LIST\n");
        return 2;
    }
    loaded L;
    int rc = 1;
    if (load(cmd, &in, 0, &L) < 0) goto out;
    const int H = mm_model_config(L.m)->hidden_size;
    float *e = mm_xmalloc(sizeof(float) * (size_t)H);
    if (as_json) putchar('[');
    for (int i = 0; i < L.n; i++) {
        if (mm_embed(L.c, 0, L.ids[i], L.len[i], pooling, e) < 0) {
            fprintf(stderr, "minimax embed: %s: %s\n", L.label[i], mm_last_error());
            free(e);
            goto out;
        }
        if (as_json) fputs(i ? ",\n[" : "[", stdout);
        for (int k = 0; k < H; k++) printf(as_json ? (k ? ",%.8g" : "%.8g") : (k ? " %.8g" : "%.8g"), (double)e[k]);
        if (as_json) putchar(']');
        else putchar('\n');
    }
    if (as_json) puts("]");
    free(e);
    rc = 0;
out:
    unload(&L);
    return rc;
}

/* ---------------------------------------------------------------- classify */
static void classify_usage(FILE *f) {
    fprintf(f,
            "usage: minimax classify -m DIR (-p TEXT | -f FILE | --ids LIST)... [options]\n"
            "       minimax classify -m DIR --question TEXT --context TEXT [--max-answer-len N]\n"
            "\n"
            "Runs a task-head checkpoint (transformers' MiniMaxForSequenceClassification, ...ForTokenClassification or\n"
            "...ForQuestionAnswering; config.json's architectures[0]):\n"
            "  sequence classification: per input, each label and its probability, the likeliest first (softmax;\n"
            "    sigmoid for multi-label or one label; the raw value for regression), read at the last non-padding token\n"
            "  token classification:    per token, its text, the likeliest label and its probability\n"
            "  question answering:      the answer span in the context with the highest start + end logit, its\n"
            "    probability and token positions (question and context are encoded one after the other)\n"
            "\n"
            "  -m, --model DIR        checkpoint directory\n"
            "  -p, --prompt TEXT      an input text (repeatable)\n"
            "  -f, --file FILE        an input read from a file (repeatable)\n"
            "      --ids LIST         an input as token ids, comma-separated (repeatable)\n"
            "      --question TEXT    question answering: the question ...\n"
            "      --context TEXT     ... and the text the answer is taken from\n"
            "      --max-answer-len N the longest answer in tokens (default 15)\n"
            "      --top N            sequence classification: print the N likeliest labels (default: all)\n"
            "      --tokenizer FILE   tokenizer.json to use\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            "  -h, --help             this help\n");
}

/* Indices of x[n] by value, descending (n is a label count: small). */
static void order_desc(const float *x, int n, int *ord) {
    for (int i = 0; i < n; i++) ord[i] = i;
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && x[ord[k]] > x[ord[k - 1]]; k--) {
            int t = ord[k];
            ord[k] = ord[k - 1];
            ord[k - 1] = t;
        }
}

int mm_cli_classify(int argc, char **argv) {
    const char *cmd = "classify", *question = NULL, *context = NULL;
    inputs in = {0};
    long max_len = 15, top = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = common_arg(cmd, argc, argv, &i, &in);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            classify_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--question")) {
            if (!(question = mm_arg_next(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--context")) {
            if (!(context = mm_arg_next(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--max-answer-len")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1 << 20, &max_len)) return 2;
        } else if (!strcmp(a, "--top")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i)) || mm_arg_int(cmd, a, v, 1, 1 << 20, &top)) return 2;
        } else {
            fprintf(stderr, "minimax classify: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    const int qa_args = question || context;
    if (qa_args && (!question || !context || in.n_ids || in.n_texts || in.n_files)) {
        fprintf(stderr, "minimax classify: question answering takes --question and --context (and no other input)\n");
        return 2;
    }
    if (!qa_args && !in.n_ids && !in.n_texts && !in.n_files) {
        fprintf(stderr, "minimax classify: give at least one input: -p TEXT, -f FILE or --ids LIST (or --question and --context)\n");
        return 2;
    }
    loaded L;
    int rc = 1, nq = 0;
    float *out = NULL, *st = NULL, *en = NULL;
    int *ord = NULL;
    if (load(cmd, &in, qa_args, &L) < 0) goto out;
    const mm_config *cfg = mm_model_config(L.m);
    if (cfg->arch == MM_ARCH_CAUSAL_LM) {
        fprintf(stderr, "minimax classify: %s is a causal LM (%s): it has no task head; give a MiniMaxForSequenceClassification, "
                        "MiniMaxForTokenClassification or MiniMaxForQuestionAnswering checkpoint (`minimax embed` works on any)\n",
                in.model, mm_arch_name(cfg->arch));
        goto out;
    }
    if (qa_args && cfg->arch != MM_ARCH_QA) {
        fprintf(stderr, "minimax classify: --question/--context need a question-answering checkpoint; %s is a %s\n", in.model,
                mm_arch_name(cfg->arch));
        goto out;
    }
    if (qa_args) {   /* one input: the question's tokens, then the context's */
        if (tokenize(cmd, &L, question, strlen(question), "question") < 0 || tokenize(cmd, &L, context, strlen(context), "context") < 0)
            goto out;
        nq = L.len[0];
        int32_t *both = mm_xmalloc(sizeof(int32_t) * (size_t)(L.len[0] + L.len[1]));
        memcpy(both, L.ids[0], sizeof(int32_t) * (size_t)L.len[0]);
        memcpy(both + nq, L.ids[1], sizeof(int32_t) * (size_t)L.len[1]);
        free(L.ids[0]);
        free(L.ids[1]);
        free(L.label[1]);
        L.ids[0] = both;
        L.len[0] += L.len[1];
        L.n = 1;
        mm_context_free(L.c);
        if (!(L.c = mm_context_new(L.m, &(mm_context_params){.n_ctx = L.len[0], .n_seq_max = 1, .n_ubatch = 512}))) {
            fprintf(stderr, "minimax classify: %s\n", mm_last_error());
            goto out;
        }
    }
    const int K = mm_model_head_size(L.m);
    int longest = 0;
    for (int i = 0; i < L.n; i++) longest = L.len[i] > longest ? L.len[i] : longest;
    out = mm_xmalloc(sizeof(float) * (size_t)longest * (size_t)K);
    ord = mm_xmalloc(sizeof(int) * (size_t)K);
    for (int i = 0; i < L.n; i++) {
        const int T = L.len[i];
        if (mm_classify(L.c, 0, L.ids[i], T, out) < 0) {
            fprintf(stderr, "minimax classify: %s: %s\n", L.label[i], mm_last_error());
            goto out;
        }
        if (cfg->arch == MM_ARCH_SEQ_CLS) {
            printf("%s\n", L.label[i]);
            mm_head_scores(cfg, out, K);
            order_desc(out, K, ord);
            for (int k = 0; k < K && (!top || k < top); k++) printf("  %-20s %.6f\n", mm_model_label(L.m, ord[k]), (double)out[ord[k]]);
        } else if (cfg->arch == MM_ARCH_TOKEN_CLS) {
            printf("%s\n", L.label[i]);
            for (int t = 0; t < T; t++) {
                float *row = out + (size_t)t * K;
                mm_head_scores(cfg, row, K);
                order_desc(row, K, ord);
                char *piece = L.tok ? mm_tokenizer_decode(L.tok, L.ids[i] + t, 1, 0) : NULL;
                printf("  %6d %-20s %-16s %.6f\n", L.ids[i][t], piece ? piece : "", mm_model_label(L.m, ord[0]), (double)row[ord[0]]);
                free(piece);
            }
        } else {
            st = mm_xmalloc(sizeof(float) * (size_t)T);
            en = mm_xmalloc(sizeof(float) * (size_t)T);
            for (int t = 0; t < T; t++) {
                st[t] = out[2 * t];
                en[t] = out[2 * t + 1];
            }
            int a, b;
            double p = mm_qa_best_span(st, en, nq, T, (int)max_len, &a, &b);
            char *ans = L.tok ? mm_tokenizer_decode(L.tok, L.ids[i] + a, (size_t)(b - a + 1), 0) : NULL;
            printf("answer: %s\nscore: %.6f\ntokens: %d..%d of the context (start logit %.4f, end logit %.4f)\n", ans ? ans : "",
                   p, a - nq, b - nq, (double)st[a], (double)en[b]);
            free(ans);
        }
    }
    rc = 0;
out:
    free(out);
    free(ord);
    free(st);
    free(en);
    unload(&L);
    return rc;
}
