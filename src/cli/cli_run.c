/* cli_run.c — `minimax run`: prefill a prompt (token ids or text, optionally wrapped in the model's chat
 * template), then sample and stream tokens. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/cli_gen.h"
#include "text/mm_chat.h"
#include "base/mm_common.h"
#include "formats/mm_gguf.h"
#include "model/mm_context.h"
#include "text/mm_tokenizer.h"
#include "minimax.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax run -m DIR (--ids 1,2,3 | -p TEXT) [--image FILE ...] [options]\n"
            "\n"
            "Generate tokens from a prompt with a MiniMax-01 checkpoint directory (config.json + safetensors).\n"
            "\n"
            "  -m, --model DIR        checkpoint directory\n"
            "      --image FILE       an image (PNG, JPEG, WebP) for a MiniMax-VL-01 model (repeatable): the images bind\n"
            "                         in order to the prompt's <image> placeholders (with --chat and no placeholder they\n"
            "                         come first in the user turn); with --ids the ids hold each image's tokens already\n"
            "      --mmproj FILE      the vision GGUF of a .gguf VL model (minimax quantize writes it)\n"
            "      --ids LIST         prompt as token ids, comma-separated\n"
            "  -p, --prompt TEXT      prompt as text (needs tokenizer.json in DIR or --tokenizer)\n"
            "  -f, --file FILE        prompt text read from a file\n"
            "      --tokenizer FILE   tokenizer.json to use\n"
            "      --chat             wrap the prompt as one user turn in the model's chat template, followed by\n"
            "                         the assistant's generation prompt\n"
            "  -sys, --system TEXT    a system turn before the user turn (implies --chat)\n"
            "      --no-special       treat special-token strings in the prompt as plain text (not with --chat)\n"
            "  -n, --n-predict N      tokens to generate (default 32)\n"
            "  -c, --ctx-size N       context size in tokens (default: prompt + n, at least 512)\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            "  -b, --ubatch N         prefill chunk size in tokens (default 512)\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            MM_SAMPLING_HELP
            "      --stop TEXT        stop when the output ends with TEXT (repeatable)\n"
            "      --ignore-eos       do not stop at <end_of_sentence>\n"
            "      --json-schema FILE the output is JSON valid under the JSON Schema in FILE (grammar-constrained\n"
            "                         sampling; the subset: type, properties, required, enum, const, items, anyOf, ...)\n"
            "      --grammar FILE     the output follows the GBNF grammar in FILE (llama.cpp's format)\n"
            "      --hide-thinking    print only the answer after a <think>...</think> block (on a terminal the\n"
            "                         thinking is shown dimmed; into a pipe the text is printed as it is)\n"
            "      --print-ids        print the generated token ids on one line, space-separated\n"
            "      --stats            print the memory plan, prefill/decode tokens/s and peak memory to stderr\n"
            "      --prompt-cache F   restore the state after the prompt from F when F holds a prefix of this prompt\n"
            "                         (same model and KV types, else refused); otherwise prefill and save it to F\n"
            "      --fill-depth N     before the prompt, fill N positions of the KV cache with random keys and values\n"
            "                         instead of prefilling them: memory and speed at depth N in seconds (the text\n"
            "                         generated is then meaningless)\n"
            "      --chunk-times FILE write one CSV line per prefill chunk to FILE: its first position, tokens, wall\n"
            "                         seconds and the seconds in lightning layers, softmax layers, MoE, head and the rest\n"
            "  -h, --help             this help\n");
}

#define MAX_STOP 16
#define MAX_IMAGES 64

static volatile sig_atomic_t run_interrupted;
static void on_run_sigint(int sig) {
    (void)sig;
    run_interrupted = 1;
}

/* Prompt cache file: "MMPCACHE", u32 version 1, u64 model fingerprint, i32 n, i32 ids[n], then the state of the
 * sequence after those n tokens (mm_seq_state_save's format, which carries the KV types and shapes). */
static const char PC_MAGIC[8] = {'M', 'M', 'P', 'C', 'A', 'C', 'H', 'E'};
#define PC_VERSION 1u

/* Restores the cached state when the file holds a proper prefix of ids[n]: its length; 0 when there is no file or it
 * holds another prompt; -1 (message printed) for a file that is not a prompt cache, of another version, model or KV
 * types, or damaged. */
static int prompt_cache_load(const char *path, const mm_model *m, mm_context *c, const int32_t *ids, int n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8];
    uint32_t ver = 0;
    uint64_t fp = 0;
    int32_t k = -1, *cids = NULL;
    int rc = -1;
    mm_seq_state *st = NULL;
    if (fread(magic, 8, 1, f) != 1 || memcmp(magic, PC_MAGIC, 8) || fread(&ver, 4, 1, f) != 1 || fread(&fp, 8, 1, f) != 1 ||
        fread(&k, 4, 1, f) != 1) {
        fprintf(stderr, "minimax run: %s is not a minimax prompt cache (delete it or name another file)\n", path);
        goto done;
    }
    if (ver != PC_VERSION) {
        fprintf(stderr, "minimax run: %s is a prompt cache of version %u; this build reads version %u (delete it)\n", path, ver, PC_VERSION);
        goto done;
    }
    if (fp != mm_model_fingerprint(m)) {
        fprintf(stderr, "minimax run: %s was made with another model (fingerprint %016llx, this model's %016llx); delete it or name "
                        "another file\n", path, (unsigned long long)fp, (unsigned long long)mm_model_fingerprint(m));
        goto done;
    }
    if (k < 0 || k > mm_context_n_ctx(c)) {
        fprintf(stderr, "minimax run: %s: a cached prompt of %d tokens does not fit this context (-c %d)\n", path, k, mm_context_n_ctx(c));
        goto done;
    }
    cids = mm_xmalloc(sizeof(int32_t) * (size_t)(k + 1));
    if (fread(cids, sizeof(int32_t), (size_t)k, f) != (size_t)k) {
        fprintf(stderr, "minimax run: %s: truncated\n", path);
        goto done;
    }
    if (!(st = mm_seq_state_fread(c, f, path))) { /* the error names the file */
        fprintf(stderr, "minimax run: %s\n", mm_last_error());
        goto done;
    }
    if (mm_seq_state_len(st) != k) {
        fprintf(stderr, "minimax run: %s: the state holds %d tokens, the header %d: damaged\n", path, mm_seq_state_len(st), k);
        goto done;
    }
    if (k >= n || memcmp(cids, ids, sizeof(int32_t) * (size_t)k)) {
        fprintf(stderr, "prompt cache: %s holds another prompt; prefilling this one and saving it\n", path);
        rc = 0;
        goto done;
    }
    if (mm_seq_restore(c, 0, st) < 0) {
        fprintf(stderr, "minimax run: %s: %s\n", path, mm_last_error());
        goto done;
    }
    fprintf(stderr, "prompt cache: restored %d of the prompt's %d tokens from %s\n", k, n, path);
    rc = k;
done:
    mm_seq_state_free(st);
    free(cids);
    fclose(f);
    return rc;
}

/* Saves sequence 0 (holding ids[n]) as a prompt cache: written to path.tmp, then renamed. */
static int prompt_cache_save(const char *path, const mm_model *m, mm_context *c, const int32_t *ids, int n) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mm_seq_state *st = mm_seq_snapshot(c, 0);
    FILE *f = st ? fopen(tmp, "wb") : NULL;
    const uint32_t ver = PC_VERSION;
    const uint64_t fp = mm_model_fingerprint(m);
    const int32_t k = n;
    int ok = f && fwrite(PC_MAGIC, 8, 1, f) == 1 && fwrite(&ver, 4, 1, f) == 1 && fwrite(&fp, 8, 1, f) == 1 && fwrite(&k, 4, 1, f) == 1 &&
             fwrite(ids, sizeof(int32_t), (size_t)n, f) == (size_t)n && mm_seq_state_fwrite(st, f) == 0;
    if (f && fclose(f) != 0) ok = 0;
    mm_seq_state_free(st);
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "minimax run: cannot write the prompt cache %s\n", path);
        unlink(tmp);
        return -1;
    }
    return 0;
}

int mm_cli_run(int argc, char **argv) {
    const char *cmd = "run", *model = NULL, *ids_arg = NULL, *prompt = NULL, *pfile = NULL, *tokpath = NULL, *pcache = NULL;
    const char *stops[MAX_STOP], *chunk_times = NULL;
    const char *system = NULL, *images[MAX_IMAGES], *mmproj = NULL, *schema_file = NULL, *grammar_file = NULL;
    int n_images = 0;
    int hide_thinking = 0, n_stop = 0, print_ids = 0, stats = 0, ignore_eos = 0, parse_special = 1, kt = MM_KV_F32, vt = MM_KV_F32, chat = 0, kv_page = 0;
    long n_predict = 32, n_ctx = 0, threads = 0, ubatch = 512, fill = 0;
    mm_sampler_params sp = mm_sampler_default_params();
    sp.temperature = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int sr;
#define NEXT() \
    if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEXT(); model = v; }
        else if (!strcmp(a, "--ids")) { NEXT(); ids_arg = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { NEXT(); prompt = v; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { NEXT(); pfile = v; }
        else if (!strcmp(a, "--tokenizer")) { NEXT(); tokpath = v; }
        else if (!strcmp(a, "--mmproj")) { NEXT(); mmproj = v; }
        else if (!strcmp(a, "--image")) {
            NEXT();
            if (n_images == MAX_IMAGES) { fprintf(stderr, "minimax run: at most %d images\n", MAX_IMAGES); return 2; }
            images[n_images++] = v;
        }
        else if (!strcmp(a, "--no-special")) parse_special = 0;
        else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "-sys") || !strcmp(a, "--system")) { NEXT(); system = v; chat = 1; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { NEXT(); if (mm_arg_int(cmd, a, v, 0, 1 << 24, &n_predict)) return 2; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1L << 30, &n_ctx)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--ubatch")) { NEXT(); if (mm_arg_int(cmd, a, v, 1, 65536, &ubatch)) return 2; }
        else if ((sr = mm_arg_kv(cmd, argc, argv, &i, &kt, &vt)) != 0) { if (sr < 0) return 2; }
        else if ((sr = mm_arg_kv_page(cmd, argc, argv, &i, &kv_page)) != 0) { if (sr < 0) return 2; }
        else if ((sr = mm_arg_sampling(cmd, argc, argv, &i, &sp)) != 0) { if (sr < 0) return 2; }
        else if (!strcmp(a, "--stop")) {
            NEXT();
            if (n_stop == MAX_STOP || !*v) { fprintf(stderr, "minimax run: at most %d non-empty --stop strings\n", MAX_STOP); return 2; }
            stops[n_stop++] = v;
        }
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = 1;
        else if (!strcmp(a, "--print-ids")) print_ids = 1;
        else if (!strcmp(a, "--json-schema")) { NEXT(); schema_file = v; }
        else if (!strcmp(a, "--grammar")) { NEXT(); grammar_file = v; }
        else if (!strcmp(a, "--hide-thinking")) hide_thinking = 1;
        else if (!strcmp(a, "--stats")) stats = 1;
        else if (!strcmp(a, "--prompt-cache")) { NEXT(); pcache = v; }
        else if (!strcmp(a, "--chunk-times")) { NEXT(); chunk_times = v; }
        else if (!strcmp(a, "--fill-depth")) { NEXT(); if (mm_arg_int(cmd, a, v, 0, 1L << 30, &fill)) return 2; }
        else { fprintf(stderr, "minimax run: unknown option '%s' (see --help)\n", a); return 2; }
#undef NEXT
    }
    if (!model) { fprintf(stderr, "minimax run: -m DIR is required (see --help)\n"); return 2; }
    if (!!ids_arg + !!prompt + !!pfile != 1) {
        fprintf(stderr, "minimax run: give exactly one prompt: --ids LIST, -p TEXT or -f FILE\n");
        return 2;
    }
    if (chat && ids_arg) {
        fprintf(stderr, "minimax run: --chat/--system need a text prompt (-p TEXT or -f FILE), not --ids\n");
        return 2;
    }
    if (pcache && n_images) {
        fprintf(stderr, "minimax run: --prompt-cache cannot be combined with --image (the cache is keyed by token ids, "
                        "which do not tell one image from another)\n");
        return 2;
    }
    if (pcache && fill) {
        fprintf(stderr, "minimax run: --prompt-cache cannot be combined with --fill-depth (a cached state must come from "
                        "its prompt, not from random keys)\n");
        return 2;
    }
    if (chat && !parse_special) {
        fprintf(stderr, "minimax run: --no-special cannot be combined with --chat/--system (the template's control tokens must be parsed)\n");
        return 2;
    }

    int rc = 1;
    mm_model *m = NULL;
    mm_context *c = NULL;
    mm_sampler *smp = NULL;
    mm_tokenizer *tok = NULL;
    mm_detok *dt = NULL;
    int32_t *ids = NULL, *gen = NULL;
    float *logits = NULL;
    mm_cli_images imgs = {0};
    const float **embd = NULL;
    char *text = NULL, *ptext = NULL, *rendered = NULL;
    size_t text_len = 0, text_cap = 0;
    int n = 0, in_thinking = 0;
    mm_cli_grammar cg = {0};
    FILE *ct = NULL;

    if (threads) mm_set_threads((int)threads);
    if (chunk_times && !(ct = fopen(chunk_times, "w"))) {
        fprintf(stderr, "minimax run: --chunk-times %s: %s\n", chunk_times, strerror(errno));
        goto out;
    }
    if (ct) fprintf(ct, "chunk,pos0,tokens,seconds,lightning_s,softmax_s,moe_s,head_s,other_s\n");
    m = mm_cli_load_model("run", model, &(mm_model_params){.mmproj = mmproj});
    if (!m) { fprintf(stderr, "minimax run: %s\n", mm_last_error()); goto out; }
    const mm_config *cfg = mm_model_config(m);
    if (mm_cli_images_load(cmd, m, images, n_images, &imgs) < 0) goto out;

    /* The tokenizer: required for text prompts, optional (for printing text) with --ids. */
    char tdefault[4096];
    snprintf(tdefault, sizeof tdefault, "%s/tokenizer.json", model);
    if (!tokpath && mm_gguf_is_file(model)) { /* a .gguf carries its own tokenizer (tokenizer.ggml.*) */
        tok = mm_tokenizer_load_gguf(model);
        if (!tok && (prompt || pfile)) {
            fprintf(stderr, "minimax run: %s (pass --tokenizer FILE)\n", mm_last_error());
            goto out;
        }
    } else if (tokpath || prompt || pfile || access(tdefault, R_OK) == 0) {
        tok = mm_tokenizer_load(tokpath ? tokpath : tdefault);
        if (!tok) {
            fprintf(stderr, "minimax run: %s%s\n", mm_last_error(),
                    tokpath ? "" : " (put tokenizer.json in the model directory or pass --tokenizer FILE)");
            goto out;
        }
    }
    if (ids_arg) {
        n = mm_arg_ids(cmd, ids_arg, &ids);
        if (n < 0) goto out;
    } else {
        const char *src = prompt;
        if (pfile) {
            if (!(ptext = mm_arg_read_file(cmd, pfile, NULL))) goto out;
            src = ptext;
        }
        if (chat) {
            json_t *msgs = json_array(), *sm = system ? json_pack("{s:s, s:s}", "role", "system", "content", system) : NULL,
                   *parts = n_images ? mm_cli_user_content(src, n_images) : NULL,
                   *um = n_images ? (parts ? json_pack("{s:s, s:o}", "role", "user", "content", parts) : NULL)
                                  : json_pack("{s:s, s:s}", "role", "user", "content", src);
            if ((system && !sm) || !um) {
                fprintf(stderr, "minimax run: the %s is not valid UTF-8\n", system && !sm ? "system prompt" : "prompt");
                json_decref(sm), json_decref(um), json_decref(msgs);
                goto out;
            }
            if (sm) json_array_append_new(msgs, sm);
            json_array_append_new(msgs, um);
            rendered = mm_chat_render(mm_chat_style_for_model_type(cfg->model_type), msgs, NULL, 1);
            json_decref(msgs);
            if (!rendered) { fprintf(stderr, "minimax run: chat template: %s\n", mm_last_error()); goto out; }
            src = rendered;
        }
        in_thinking = mm_reasoning_prompt_opens(src, strlen(src));
        n = mm_tokenizer_encode(tok, src, strlen(src), parse_special, &ids);
        if (n < 0) { fprintf(stderr, "minimax run: %s\n", mm_last_error()); goto out; }
        if (n_images) {   /* each <image> placeholder becomes its image's tokens */
            int32_t *ex = NULL;
            int ne = mm_image_expand(m, ids, n, imgs.n, imgs.ntok, &ex);
            if (ne < 0) { fprintf(stderr, "minimax run: %s\n", mm_last_error()); goto out; }
            free(ids);
            ids = ex, n = ne;
        }
    }
    if (n == 0) { fprintf(stderr, "minimax run: the prompt is empty\n"); goto out; }
    if (n_images || cfg->vision) {   /* features at the image positions; image tokens without images are refused */
        if (n_images && mm_cli_images_encode(cmd, m, &imgs) < 0) goto out;
        if (!(embd = mm_cli_images_embd(cmd, m, &imgs, ids, n))) goto out;
    }
    for (int i = 0; i < n; i++)
        if ((!embd || !embd[i]) && (ids[i] < 0 || ids[i] >= cfg->vocab_size)) {
            fprintf(stderr, "minimax run: token id %d at prompt position %d is out of range [0, %d)\n", ids[i], i, cfg->vocab_size);
            goto out;
        }
    if (!n_ctx) n_ctx = fill + n + n_predict > 512 ? fill + n + n_predict : 512;
    if (n > n_ctx) {
        fprintf(stderr, "minimax run: the prompt has %d tokens, more than the context size %ld (raise -c)\n", n, n_ctx);
        goto out;
    }
    if (fill + n > n_ctx) {
        fprintf(stderr, "minimax run: --fill-depth %ld and the prompt's %d tokens are more than the context size %ld (raise -c)\n",
                fill, n, n_ctx);
        goto out;
    }
    const mm_context_params cp = {.n_ctx = (int)n_ctx, .n_seq_max = 1, .n_ubatch = (int)ubatch, .type_k = kt, .type_v = vt,
                                  .kv_page = kv_page};
    if (mm_cli_plan("run", m, &cp, stats)) goto out;
    c = mm_context_new(m, &cp);
    if (!c) { fprintf(stderr, "minimax run: %s\n", mm_last_error()); goto out; }
    if (fill) {
        const double tf = mm_time();
        if (mm_seq_fill_synthetic(c, 0, (int)fill, 1) < 0) { fprintf(stderr, "minimax run: %s\n", mm_last_error()); goto out; }
        fprintf(stderr, "minimax run: filled %ld positions with random keys and values in %.2f s (--fill-depth): the prompt "
                "starts at position %ld; the text generated is meaningless, its speed and memory are not\n", fill, mm_time() - tf, fill);
    }
    smp = mm_sampler_new(&sp, cfg->vocab_size);
    if (!smp) { fprintf(stderr, "minimax run: %s\n", mm_last_error()); goto out; }
    for (int i = 0; i < n; i++) mm_sampler_accept(smp, ids[i]);
    int32_t eos = tok ? mm_tokenizer_token_id(tok, "<end_of_sentence>") : -1;
    if (tok) dt = mm_detok_new(tok, 1);
    if (mm_cli_grammar_init(&cg, cmd, schema_file, grammar_file, tok, cfg->vocab_size, ignore_eos ? -1 : eos, smp) < 0) goto out;
    mm_cli_think th;
    mm_cli_think_init(&th, hide_thinking, in_thinking);

    logits = mm_xmalloc(sizeof(float) * (size_t)cfg->vocab_size);
    gen = mm_xmalloc(sizeof(int32_t) * (size_t)(n_predict + 1));
    int32_t *seqz = mm_xcalloc((size_t)n, sizeof(int32_t));
    double t0 = mm_time();
    int from = 0, r = 1;
    if (pcache && (from = prompt_cache_load(pcache, m, c, ids, n)) < 0) { free(seqz); goto out; }
    /* The prompt in chunks of -b tokens: a progress line on a terminal, Ctrl-C stops at a chunk boundary (the
     * sequence then holds the chunks done, and --prompt-cache saves them so that a rerun continues). With a prompt
     * cache the last token comes alone, after the state of the others is saved. */
    const int end = pcache && from < n - 1 ? n - 1 : n, show = isatty(STDERR_FILENO) && end - from > ubatch;
    run_interrupted = 0;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_run_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    int at = from;
    for (int chunk = 0; at < end && r == 1 && !run_interrupted; chunk++) {
        const int k = end - at < ubatch ? end - at : (int)ubatch;
        mm_batch pb = {.n_tokens = k, .token = ids + at, .seq = seqz, .embd = embd ? embd + at : NULL};
        mm_timings t0c, t1c;
        mm_context_timings(c, &t0c);
        const double w0 = mm_time();
        r = mm_decode(c, &pb, logits);
        if (ct && r == 1) { /* this chunk's share of the context's running totals */
            mm_context_timings(c, &t1c);
            fprintf(ct, "%d,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", chunk, at, k, mm_time() - w0, t1c.lightning - t0c.lightning,
                    t1c.softmax - t0c.softmax, t1c.moe - t0c.moe, t1c.head - t0c.head, t1c.other - t0c.other);
            fflush(ct);
        }
        at += k;
        if (show) {
            const double dt = mm_time() - t0, tps = (at - from) / dt;
            fprintf(stderr, "\rprefill %d/%d tokens, %.1f tokens/s, ETA %.0f s   ", at, n, tps, (n - at) / tps);
            if (at == end || run_interrupted) fputc('\n', stderr);
        }
    }
    sigaction(SIGINT, &old, NULL);
    if (r == 1 && run_interrupted) {
        fprintf(stderr, "minimax run: interrupted after %d of the prompt's %d tokens (a chunk boundary)", at, n);
        if (pcache && at > from && prompt_cache_save(pcache, m, c, ids, at) == 0) fprintf(stderr, "; saved to %s, a rerun continues there", pcache);
        fputc('\n', stderr);
        free(seqz);
        rc = 130;
        goto out;
    }
    if (r == 1 && end < n) { /* the prompt cache: the state after all but the last token, then the last token */
        mm_batch lb = {.n_tokens = 1, .token = ids + n - 1, .seq = seqz, .embd = embd ? embd + n - 1 : NULL};
        r = prompt_cache_save(pcache, m, c, ids, n - 1) == 0 ? mm_decode(c, &lb, logits) : -1;
    }
    free(seqz);
    double t_prefill = mm_time() - t0;
    if (r != 1) { fprintf(stderr, "minimax run: %s\n", mm_last_error()); goto out; }

    int n_gen = 0, stopped = 0;
    const int stream_text = tok && !print_ids;
    double t1 = mm_time();
    while (n_gen < n_predict) {
        int32_t next = mm_sampler_sample(smp, logits);
        int gs = mm_cli_grammar_step(&cg, cmd, smp, next);
        if (gs < 0) goto out;
        if (!ignore_eos && next == eos) break;
        gen[n_gen++] = next;
        mm_sampler_accept(smp, next);
        if (dt) {
            size_t len;
            const char *piece = mm_detok_push(dt, next, &len);
            if (text_len + len + 1 > text_cap) text = mm_xrealloc(text, text_cap = (text_len + len + 1) * 2);
            memcpy(text + text_len, piece, len);
            text_len += len;
            text[text_len] = 0;
            if (stream_text) mm_cli_think_show(&th, text, text_len, 0);
            for (int s = 0; s < n_stop && !stopped; s++) {
                size_t sl = strlen(stops[s]);
                stopped = text_len >= sl && !memcmp(text + text_len - sl, stops[s], sl);
            }
            if (stopped) break;
        }
        if (gs == 1 || n_gen == n_predict) break;   /* the grammar is complete and allows nothing more */
        if (mm_seq_len(c, 0) >= n_ctx) {
            fprintf(stderr, "\nminimax run: context full (%ld tokens); stopping\n", n_ctx);
            break;
        }
        int32_t s0 = 0;
        mm_batch db = {.n_tokens = 1, .token = &next, .seq = &s0};
        if (mm_decode(c, &db, logits) != 1) { fprintf(stderr, "minimax run: %s\n", mm_last_error()); goto out; }
    }
    double t_decode = mm_time() - t1;
    if (stream_text) {
        size_t len;
        const char *rest = mm_detok_flush(dt, &len);
        if (text_len + len + 1 > text_cap) text = mm_xrealloc(text, text_cap = (text_len + len + 1) * 2);
        memcpy(text + text_len, rest, len);
        text_len += len;
        mm_cli_think_show(&th, text ? text : "", text_len, 1);
        putchar('\n');
    }
    if (mm_cli_grammar_incomplete(&cg))
        fprintf(stderr, "minimax run: the output stopped before the grammar was complete (-n %ld tokens; raise -n)\n", n_predict);
    if (print_ids || !tok) {
        for (int i = 0; i < n_gen; i++) printf(i ? " %d" : "%d", gen[i]);
        putchar('\n');
    }
    if (stats) {
        if (imgs.n)
            fprintf(stderr, "images: %d (%lld patches) encoded in %.3f s = %.3f s per patch\n", imgs.n, (long long)imgs.patches,
                    imgs.encode_seconds, imgs.encode_seconds / (double)imgs.patches);
        fprintf(stderr, "prefill: %d tokens in %.3f s = %.2f tokens/s\n", n, t_prefill, n / t_prefill);
        if (n_gen > 1)
            fprintf(stderr, "decode:  %d tokens in %.3f s = %.2f tokens/s\n", n_gen - 1, t_decode, (n_gen - 1) / t_decode);
        fprintf(stderr, "peak memory (RSS): %.1f MiB; threads: %d\n", mm_peak_rss() / 1048576.0, mm_get_threads());
    }
    rc = 0;
out:
    if (ct && fclose(ct) != 0 && rc == 0) {
        fprintf(stderr, "minimax run: --chunk-times %s: %s\n", chunk_times, strerror(errno));
        rc = 1;
    }
    mm_cli_images_free(&imgs);
    free(embd);
    mm_cli_grammar_free(&cg);
    mm_detok_free(dt);
    mm_tokenizer_free(tok);
    mm_sampler_free(smp);
    mm_context_free(c);
    mm_model_free(m);
    free(ids);
    free(gen);
    free(logits);
    free(text);
    free(ptext);
    free(rendered);
    return rc;
}
