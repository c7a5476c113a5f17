/* cli_chat.c — `minimax chat`: an interactive terminal chat with the model's chat template.
 *
 * The conversation lives in sequence 0 of one context and is never prefilled twice. The state always holds
 * the tokens of render(history, no generation prompt): a turn renders the history with the new user message
 * and the generation prompt, takes the part after render(history) (the new user turn plus the generation
 * prompt: every template renders message by message), encodes it with special tokens parsed and decodes it
 * onto the sequence. After the answer the template's closing text ("<end_of_sentence>\n") is fed too: the
 * <end_of_sentence> the model produced, or an appended one if it stopped for another reason (limit, Ctrl-C,
 * full context). The answer itself is kept as the tokens the model sampled.
 *
 * With a MiniMax-VL-01 model, /image PATH attaches an image to the next user message: it becomes an image part of
 * that message (where the text has an "<image>" placeholder, else before the text), is encoded when the turn is
 * sent, and its features fill the placeholder's image tokens; the history keeps the part, the state its tokens.
 *
 * /save FILE writes the sequence state (mm_seq_state_save) to FILE and the transcript to FILE.json;
 * /load FILE reads both back. Ctrl-C during an answer stops that answer; at the prompt it ends the chat. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_gen.h"
#include "minimax.h"
#include "text/mm_chat.h"
#include "base/mm_common.h"
#include "text/mm_tokenizer.h"

static const char *CMD = "chat";

static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax chat -m DIR [options]\n"
            "\n"
            "Interactive chat in the terminal with a MiniMax-01 checkpoint and its chat template. Each turn adds only\n"
            "its new tokens to the conversation state (the history is never prefilled again).\n"
            "\n"
            "  -m, --model DIR        checkpoint directory\n"
            "      --mmproj FILE      the vision GGUF of a .gguf VL model (for /image)\n"
            "      --tokenizer FILE   tokenizer.json to use (default: DIR/tokenizer.json)\n"
            "  -sys, --system TEXT    system prompt (kept across /reset)\n"
            "  -n, --n-predict N      most tokens per answer (default -1 = until <end_of_sentence> or the context\n"
            "                         is full)\n"
            "  -c, --ctx-size N       context size in tokens for the whole conversation (default 4096)\n"
            "  -t, --threads N        compute threads (default: all cores)\n"
            "  -b, --ubatch N         prefill chunk size in tokens (default 512)\n"
            MM_KV_HELP
            MM_KV_PAGE_HELP
            MM_SAMPLING_HELP
            "      --ignore-eos       do not end an answer at <end_of_sentence>\n"
            "      --hide-thinking    print only the answer after a <think>...</think> block (on a terminal the\n"
            "                         thinking is shown dimmed)\n"
            "  -h, --help             this help\n"
            "\n"
            "In the chat: type a message and press Enter. Commands:\n"
            "  /image PATH   attach an image (PNG, JPEG, WebP) to the next message (MiniMax-VL-01; repeatable)\n"
            "  /reset        forget the conversation (the system prompt stays)\n"
            "  /save FILE    write the conversation state to FILE and its transcript to FILE.json\n"
            "  /load FILE    continue a conversation written by /save\n"
            "  /help         these commands\n"
            "  /exit         leave (so do Ctrl-D and Ctrl-C at the prompt)\n"
            "Ctrl-C while an answer is being written stops that answer. A line starting with // sends '/...'.\n");
}

static void cmd_help(void) {
    printf("commands: /image PATH (attach an image to the next message), /reset (forget the conversation, keep the system\n"
           "prompt), /save FILE, /load FILE, /help, /exit\n"
           "Ctrl-C stops an answer; Ctrl-C or Ctrl-D at the prompt leaves. Start a line with // to send a '/'.\n");
}

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

typedef struct {
    mm_context *c;
    mm_tokenizer *tok;
    mm_sampler *smp;
    const mm_config *cfg;
    int style;
    int32_t eos;
    int32_t *close_ids; /* the template's text after an assistant message's content, as tokens */
    int n_close;
    json_t *msgs;       /* the transcript, system message included: what the state holds */
    const char *system;
    long n_ctx, n_predict;
    int ignore_eos;
    int hide_thinking;
    float *logits;
    int32_t *buf;       /* generated tokens of the current answer */
    size_t buf_cap;
    const mm_model *model;
    char *pending[16];  /* /image files for the next message */
    int n_pending;
} chat;

static json_t *message(const char *role, const char *text) {
    return json_pack("{s:s, s:s}", "role", role, "content", text);
}

/* The history's starting transcript: just the system message, if any. */
static void history_init(chat *ch) {
    json_decref(ch->msgs);
    ch->msgs = json_array();
    if (ch->system) json_array_append_new(ch->msgs, message("system", ch->system));
}

/* Text that render(after, add_gen_after) adds after render(before, add_gen_before) ("" before when the
 * state is empty). malloc'd, or NULL + message if the renderings are not prefix-compatible. */
static char *render_suffix(const chat *ch, const json_t *before, int gen_before, int state_empty,
                           const json_t *after, int gen_after) {
    char *a = mm_chat_render(ch->style, after, NULL, gen_after);
    if (!a) return NULL;
    char *b = state_empty ? mm_xstrdup("") : mm_chat_render(ch->style, before, NULL, gen_before);
    if (!b) {
        free(a);
        return NULL;
    }
    size_t nb = strlen(b);
    char *r = NULL;
    if (strncmp(a, b, nb)) mm_set_error("the chat template does not render the history as a prefix of the next turn");
    else r = mm_xstrdup(a + nb);
    free(a);
    free(b);
    return r;
}

/* The closing text after an assistant message (e.g. "<end_of_sentence>\n"), found by rendering a sample. */
static int closing_tokens(chat *ch) {
    json_t *u = json_array(), *ua;
    json_array_append_new(u, message("user", "x"));
    ua = json_copy(u);
    json_array_append_new(ua, message("assistant", "y"));
    char *tail = render_suffix(ch, u, 1, 0, ua, 0);
    json_decref(u);
    json_decref(ua);
    if (!tail) return -1;
    int rc = -1;
    if (tail[0] != 'y') mm_set_error("the chat template does not render an assistant message's text first");
    else if ((ch->n_close = mm_tokenizer_encode(ch->tok, tail + 1, strlen(tail + 1), 1, &ch->close_ids)) <= 0)
        mm_set_error("the chat template's closing text '%s' gives no tokens", tail + 1);
    else rc = 0;
    free(tail);
    return rc;
}

/* Feeds n tokens (embd: image features at image positions, or NULL) to sequence 0; the logits of the last one go
 * to ch->logits. */
static int feed(chat *ch, const int32_t *ids, int n, const float **embd) {
    int32_t *seq = mm_xcalloc((size_t)n, sizeof(int32_t));
    mm_batch b = {.n_tokens = n, .token = ids, .seq = seq, .embd = embd};
    int r = mm_decode(ch->c, &b, ch->logits);
    free(seq);
    if (r != 1) return -1;
    for (int i = 0; i < n; i++) mm_sampler_accept(ch->smp, ids[i]);
    return 0;
}

static void push_gen(chat *ch, size_t n, int32_t id) {
    if (n == ch->buf_cap) ch->buf = mm_xrealloc(ch->buf, sizeof(int32_t) * (ch->buf_cap = ch->buf_cap * 2 + 64));
    ch->buf[n] = id;
}

/* One user turn: prefill its tokens, stream the answer, close it. Returns 0, 1 (refused: the chat goes on),
 * or -1 (the engine failed: the state may be inconsistent). */
static void drop_pending(chat *ch) {
    for (int i = 0; i < ch->n_pending; i++) free(ch->pending[i]);
    ch->n_pending = 0;
}

static void append_shown(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) *buf = mm_xrealloc(*buf, *cap = (*len + n + 1) * 2 + 64);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

static int turn(chat *ch, const char *text) {
    json_t *parts = ch->n_pending ? mm_cli_user_content(text, ch->n_pending) : NULL;
    json_t *um = ch->n_pending ? (parts ? json_pack("{s:s, s:o}", "role", "user", "content", parts) : NULL) : message("user", text);
    if (!um) {
        fprintf(stderr, "minimax chat: the message is not valid UTF-8; not sent\n");
        return 1;
    }
    json_t *with_user = json_copy(ch->msgs);
    json_array_append_new(with_user, um);
    int len0 = mm_seq_len(ch->c, 0);
    char *delta = render_suffix(ch, ch->msgs, 0, len0 == 0, with_user, 1);
    int32_t *ids = NULL;
    int n = delta ? mm_tokenizer_encode(ch->tok, delta, strlen(delta), 1, &ids) : -1;
    const int in_thinking = delta && mm_reasoning_prompt_opens(delta, strlen(delta));
    free(delta);
    mm_cli_images imgs = {0};
    const float **embd = NULL;
    if (n >= 0 && ch->n_pending) {   /* the attached images: their placeholders expand to their tokens */
        int32_t *ex = NULL;
        if (mm_cli_images_load(CMD, ch->model, (const char *const *)ch->pending, ch->n_pending, &imgs) < 0) n = -2;
        else if ((n = mm_image_expand(ch->model, ids, n, imgs.n, imgs.ntok, &ex)) >= 0) {
            free(ids);
            ids = ex;
        }
    }
    if (n < 0) {
        if (n == -1) fprintf(stderr, "minimax chat: %s; not sent\n", mm_last_error());
        if (ch->n_pending) fprintf(stderr, "minimax chat: the attached image%s dropped (attach again with /image)\n",
                                   ch->n_pending == 1 ? " was" : "s were");
        drop_pending(ch);
        json_decref(with_user);
        free(ids);
        mm_cli_images_free(&imgs);
        return 1;
    }
    /* Room for the turn, at least one answer token, and the closing tokens. */
    if (len0 + (long)n + 1 + ch->n_close > ch->n_ctx) {
        fprintf(stderr,
                "minimax chat: context full: this message needs %d tokens (+%d to answer and close) but %ld of %ld are "
                "free; not sent. Send something shorter, /reset, or restart with a larger -c.\n",
                n, 1 + ch->n_close, ch->n_ctx - len0, ch->n_ctx);
        json_decref(with_user);
        free(ids);
        mm_cli_images_free(&imgs);   /* the attached images stay pending; their decoded pixels go */
        return 1;
    }
    if (imgs.n && (mm_cli_images_encode(CMD, ch->model, &imgs) < 0 || !(embd = mm_cli_images_embd(CMD, ch->model, &imgs, ids, n)))) {
        json_decref(with_user);
        free(ids);
        mm_cli_images_free(&imgs);
        return 1;
    }
    drop_pending(ch);
    double t0 = mm_time();
    int r = feed(ch, ids, n, embd);
    double t_prefill = mm_time() - t0;
    free(ids);
    free(embd);
    if (imgs.n)
        fprintf(stderr, "[%d image%s: %lld patches encoded in %.2f s]\n", imgs.n, imgs.n == 1 ? "" : "s", (long long)imgs.patches,
                imgs.encode_seconds);
    mm_cli_images_free(&imgs);
    if (r) {
        fprintf(stderr, "minimax chat: prefill: %s\n", mm_last_error());
        json_decref(with_user);
        return -1;
    }

    mm_detok *dt = mm_detok_new(ch->tok, 1);
    mm_cli_think th;
    mm_cli_think_init(&th, ch->hide_thinking, in_thinking);
    char *shown = NULL;   /* the answer's text so far, for the display */
    size_t shown_len = 0, shown_cap = 0;
    size_t n_gen = 0;
    int32_t pending = -1; /* sampled but not yet in the state */
    const char *why = NULL; /* Ctrl-C during the prefill stops before the first token */
    double t1 = mm_time();
    for (;;) {
        if (g_interrupted) { why = "interrupted"; break; }
        int32_t next = mm_sampler_sample(ch->smp, ch->logits);
        pending = next;
        if (!ch->ignore_eos && next == ch->eos) break;
        push_gen(ch, n_gen++, next);
        size_t plen;
        const char *piece = mm_detok_push(dt, next, &plen);
        append_shown(&shown, &shown_len, &shown_cap, piece, plen);
        mm_cli_think_show(&th, shown, shown_len, 0);
        if (ch->n_predict >= 0 && (long)n_gen >= ch->n_predict) { why = "length limit"; break; }
        /* after feeding it, the next sampled token and the closing tokens must still fit */
        if (mm_seq_len(ch->c, 0) + 2 + ch->n_close > ch->n_ctx) { why = "context full"; break; }
        if (g_interrupted) { why = "interrupted"; break; }
        if (feed(ch, &next, 1, NULL)) {
            fprintf(stderr, "\nminimax chat: decode: %s\n", mm_last_error());
            mm_detok_free(dt);
            free(shown);
            json_decref(with_user);
            return -1;
        }
        pending = -1;
    }
    double t_gen = mm_time() - t1;
    size_t plen;
    const char *rest = mm_detok_flush(dt, &plen);
    append_shown(&shown, &shown_len, &shown_cap, rest, plen);
    mm_cli_think_show(&th, shown, shown_len, 1);
    free(shown);
    mm_detok_free(dt);
    fputc('\n', stdout);
    fflush(stdout);

    /* Close the answer as the template would: the pending token, then "<end_of_sentence>\n" (whose first token
     * is the model's own <end_of_sentence> when that is what it sampled). */
    int32_t *tail = mm_xmalloc(sizeof(int32_t) * (size_t)(ch->n_close + 1));
    int nt = 0;
    if (pending >= 0 && pending != ch->close_ids[0]) tail[nt++] = pending;
    memcpy(tail + nt, ch->close_ids, sizeof(int32_t) * (size_t)ch->n_close);
    nt += ch->n_close;
    r = feed(ch, tail, nt, NULL);
    free(tail);
    if (r) {
        fprintf(stderr, "minimax chat: closing the answer: %s\n", mm_last_error());
        json_decref(with_user);
        return -1;
    }
    char *answer = mm_tokenizer_decode(ch->tok, ch->buf, n_gen, 0);
    json_t *am = message("assistant", answer);
    if (!am) am = message("assistant", ""); /* undecodable bytes were replaced, so this is not expected */
    json_array_append_new(with_user, am);
    free(answer);
    json_decref(ch->msgs);
    ch->msgs = with_user;

    if (why) fprintf(stderr, "[%s]\n", why);
    fprintf(stderr, "[prefill %d tokens, %.1f tokens/s | generated %zu tokens, %.1f tokens/s | context %d/%ld]\n", n,
            t_prefill > 0 ? n / t_prefill : 0.0, n_gen, t_gen > 0 && n_gen ? n_gen / t_gen : 0.0,
            mm_seq_len(ch->c, 0), ch->n_ctx);
    return 0;
}

static char *sidecar_path(const char *path) {
    size_t n = strlen(path);
    char *p = mm_xmalloc(n + 6);
    memcpy(p, path, n);
    memcpy(p + n, ".json", 6);
    return p;
}

static void cmd_save(chat *ch, const char *path) {
    mm_seq_state *st = mm_seq_snapshot(ch->c, 0);
    char *side = sidecar_path(path);
    if (!st || mm_seq_state_save(st, path)) {
        fprintf(stderr, "minimax chat: /save: %s\n", mm_last_error());
    } else {
        json_t *j = json_pack("{s:i, s:s, s:i, s:i, s:O}", "minimax_chat", 1, "model_type", ch->cfg->model_type,
                              "vocab_size", ch->cfg->vocab_size, "n_tokens", mm_seq_state_len(st), "messages",
                              ch->msgs);
        if (!j || json_dump_file(j, side, JSON_INDENT(1) | JSON_ENSURE_ASCII))
            fprintf(stderr, "minimax chat: /save: cannot write the transcript %s: %s\n", side, strerror(errno));
        else
            printf("saved %d tokens, %zu messages to %s (transcript %s)\n", mm_seq_state_len(st),
                   json_array_size(ch->msgs), path, side);
        json_decref(j);
    }
    mm_seq_state_free(st);
    free(side);
}

static void cmd_load(chat *ch, const char *path, char **system_owned) {
    char *side = sidecar_path(path);
    json_error_t jerr;
    json_t *j = json_load_file(side, 0, &jerr);
    mm_seq_state *st = NULL;
    json_t *msgs = json_object_get(j, "messages");
    json_int_t ntok = json_integer_value(json_object_get(j, "n_tokens"));
    if (!j) {
        fprintf(stderr, "minimax chat: /load: cannot read the transcript %s: %s (line %d)\n", side, jerr.text, jerr.line);
        goto out;
    }
    if (json_integer_value(json_object_get(j, "minimax_chat")) != 1 || !json_is_array(msgs) ||
        !json_is_integer(json_object_get(j, "n_tokens"))) {
        fprintf(stderr, "minimax chat: /load: %s is not a minimax chat transcript (version 1)\n", side);
        goto out;
    }
    if (json_integer_value(json_object_get(j, "vocab_size")) != ch->cfg->vocab_size) {
        fprintf(stderr, "minimax chat: /load: %s was saved with a model of vocabulary %lld, this one has %d\n", side,
                (long long)json_integer_value(json_object_get(j, "vocab_size")), ch->cfg->vocab_size);
        goto out;
    }
    char *check = json_array_size(msgs) ? mm_chat_render(ch->style, msgs, NULL, 0) : mm_xstrdup("");
    if (!check) {
        fprintf(stderr, "minimax chat: /load: %s: %s\n", side, mm_last_error());
        goto out;
    }
    free(check);
    if (!(st = mm_seq_state_load(ch->c, path))) {
        fprintf(stderr, "minimax chat: /load: %s\n", mm_last_error());
        goto out;
    }
    if (mm_seq_state_len(st) != ntok) {
        fprintf(stderr, "minimax chat: /load: %s holds %d tokens but its transcript %s says %lld; not loaded\n", path,
                mm_seq_state_len(st), side, (long long)ntok);
        goto out;
    }
    if (mm_seq_state_len(st) + 1 + ch->n_close > ch->n_ctx) {
        fprintf(stderr, "minimax chat: /load: the conversation holds %d tokens, which leaves no room in this context "
                        "of %ld (raise -c)\n", mm_seq_state_len(st), ch->n_ctx);
        goto out;
    }
    if (mm_seq_restore(ch->c, 0, st)) {
        fprintf(stderr, "minimax chat: /load: %s\n", mm_last_error());
        goto out;
    }
    json_decref(ch->msgs);
    ch->msgs = json_incref(msgs);
    /* The loaded conversation's system prompt replaces ours (it is in the state); /reset keeps it. */
    free(*system_owned);
    *system_owned = NULL;
    json_t *m0 = json_array_get(msgs, 0);
    const char *role0 = json_string_value(json_object_get(m0, "role"));
    const char *sys = json_string_value(json_object_get(m0, "content"));
    if (role0 && !strcmp(role0, "system") && sys) *system_owned = mm_xstrdup(sys);
    ch->system = *system_owned;
    mm_sampler_reset(ch->smp);
    printf("loaded %d tokens, %zu messages from %s\n", mm_seq_state_len(st), json_array_size(msgs), path);
out:
    mm_seq_state_free(st);
    json_decref(j);
    free(side);
}

int mm_cli_chat(int argc, char **argv) {
    const char *model = NULL, *tokpath = NULL, *system = NULL, *mmproj = NULL;
    long n_predict = -1, n_ctx = 4096, threads = 0, ubatch = 512;
    int kt = MM_KV_F32, vt = MM_KV_F32, ignore_eos = 0, hide_thinking = 0, kv_page = 0;
    mm_sampler_params sp = mm_sampler_default_params();
    sp.temperature = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int sr;
#define NEXT() \
    if (!(v = mm_arg_next(CMD, argc, argv, &i))) return 2
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEXT(); model = v; }
        else if (!strcmp(a, "--tokenizer")) { NEXT(); tokpath = v; }
        else if (!strcmp(a, "--mmproj")) { NEXT(); mmproj = v; }
        else if (!strcmp(a, "-sys") || !strcmp(a, "--system")) { NEXT(); system = v; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { NEXT(); if (mm_arg_int(CMD, a, v, -1, 1L << 30, &n_predict)) return 2;
            if (!n_predict) { fprintf(stderr, "minimax chat: -n must be -1 (no limit) or at least 1\n"); return 2; } }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { NEXT(); if (mm_arg_int(CMD, a, v, 8, 1L << 30, &n_ctx)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NEXT(); if (mm_arg_int(CMD, a, v, 1, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--ubatch")) { NEXT(); if (mm_arg_int(CMD, a, v, 1, 65536, &ubatch)) return 2; }
        else if ((sr = mm_arg_kv(CMD, argc, argv, &i, &kt, &vt)) != 0) { if (sr < 0) return 2; }
        else if ((sr = mm_arg_kv_page(CMD, argc, argv, &i, &kv_page)) != 0) { if (sr < 0) return 2; }
        else if ((sr = mm_arg_sampling(CMD, argc, argv, &i, &sp)) != 0) { if (sr < 0) return 2; }
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = 1;
        else if (!strcmp(a, "--hide-thinking")) hide_thinking = 1;
        else { fprintf(stderr, "minimax chat: unknown option '%s' (see --help)\n", a); return 2; }
#undef NEXT
    }
    if (!model) { fprintf(stderr, "minimax chat: -m DIR is required (see --help)\n"); return 2; }

    int rc = 1;
    mm_model *m = NULL;
    char *line = NULL, *system_owned = system ? mm_xstrdup(system) : NULL;
    size_t line_cap = 0;
    chat ch = {.n_ctx = n_ctx, .n_predict = n_predict, .ignore_eos = ignore_eos, .hide_thinking = hide_thinking, .system = system_owned};

    if (threads) mm_set_threads((int)threads);
    if (!(m = mm_cli_load_model(CMD, model, &(mm_model_params){.mmproj = mmproj}))) { fprintf(stderr, "minimax chat: %s\n", mm_last_error()); goto out; }
    ch.cfg = mm_model_config(m);
    ch.model = m;
    ch.style = mm_chat_style_for_model_type(ch.cfg->model_type);
    char tdefault[4096];
    snprintf(tdefault, sizeof tdefault, "%s/tokenizer.json", model);
    mm_cli_keepalive *ka = mm_cli_keepalive_start(m); /* under mpirun: the tokenizer may take longer than a wait */
    ch.tok = mm_tokenizer_load(tokpath ? tokpath : tdefault);
    mm_cli_keepalive_stop(ka);
    if (!ch.tok) {
        fprintf(stderr, "minimax chat: %s%s\n", mm_last_error(),
                tokpath ? "" : " (put tokenizer.json in the model directory or pass --tokenizer FILE)");
        goto out;
    }
    ch.eos = mm_tokenizer_token_id(ch.tok, "<end_of_sentence>");
    if (ch.eos < 0) { fprintf(stderr, "minimax chat: the tokenizer has no <end_of_sentence> token\n"); goto out; }
    if (mm_tokenizer_n_ids(ch.tok) > ch.cfg->vocab_size) {
        fprintf(stderr, "minimax chat: the tokenizer has %d ids but the model's vocabulary only %d\n",
                mm_tokenizer_n_ids(ch.tok), ch.cfg->vocab_size);
        goto out;
    }
    if (closing_tokens(&ch)) { fprintf(stderr, "minimax chat: %s\n", mm_last_error()); goto out; }
    const mm_context_params cp = {.n_ctx = (int)n_ctx, .n_seq_max = 1, .n_ubatch = (int)ubatch, .type_k = kt, .type_v = vt,
                                  .kv_page = kv_page};
    if (mm_cli_plan(CMD, m, &cp, 0)) goto out;
    ch.c = mm_context_new(m, &cp);
    if (!ch.c) { fprintf(stderr, "minimax chat: %s\n", mm_last_error()); goto out; }
    if (!(ch.smp = mm_sampler_new(&sp, ch.cfg->vocab_size))) { fprintf(stderr, "minimax chat: %s\n", mm_last_error()); goto out; }
    ch.logits = mm_xmalloc(sizeof(float) * (size_t)ch.cfg->vocab_size);
    history_init(&ch);
    if (system && !json_array_size(ch.msgs)) { fprintf(stderr, "minimax chat: the system prompt is not valid UTF-8\n"); goto out; }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C at the prompt interrupts getline */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    const int tty = isatty(STDIN_FILENO);
    /* under mpirun: stdin unbuffered, so that waiting on its descriptor (mm_cli_wait_input) sees every line */
    if (mm_cli_launched_ranks() > 1) setvbuf(stdin, NULL, _IONBF, 0);
    if (tty)
        printf("minimax chat: %s (%s template, context %ld tokens). /help for commands, Ctrl-C stops an answer.\n",
               model, ch.style == MM_CHAT_M1 ? "MiniMax-M1" : ch.style == MM_CHAT_VL01 ? "MiniMax-VL-01" : "MiniMax-Text-01", n_ctx);
    rc = 0;
    for (;;) {
        if (tty) {
            printf("> ");
            fflush(stdout);
        }
        g_interrupted = 0;
        errno = 0;
        ssize_t got = mm_cli_wait_input(m, STDIN_FILENO) < 0 ? -1 : getline(&line, &line_cap, stdin);
        if (got < 0) {
            if (tty) putchar('\n');
            break; /* EOF, or Ctrl-C at the prompt (EINTR) */
        }
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (!got) continue;
        if (line[0] == '/' && line[1] != '/') {
            char *arg = line + 1 + strcspn(line + 1, " \t");
            size_t cl = (size_t)(arg - line);
            while (*arg == ' ' || *arg == '\t') arg++;
#define IS(name) (cl == strlen(name) && !memcmp(line, name, cl))
            if (IS("/exit") || IS("/quit")) break;
            else if (IS("/help")) cmd_help();
            else if (IS("/image")) {
                mm_image *img = NULL;
                mm_image_plan pl;
                if (!*arg) fprintf(stderr, "minimax chat: /image needs a file: /image PATH\n");
                else if (!mm_model_has_vision(m))
                    fprintf(stderr, "minimax chat: this model has no vision tower (MiniMax-VL-01, or a .gguf with --mmproj)\n");
                else if (ch.n_pending == 16) fprintf(stderr, "minimax chat: at most 16 images per message\n");
                else if (!(img = mm_image_load(arg, 0)) || mm_image_plan_for(m, mm_image_width(img), mm_image_height(img), &pl) < 0)
                    fprintf(stderr, "minimax chat: /image %s\n", mm_last_error());
                else {
                    ch.pending[ch.n_pending++] = mm_xstrdup(arg);
                    printf("[image %d attached to the next message: %s %dx%d, %d tokens]\n", ch.n_pending, mm_image_format(img),
                           pl.width, pl.height, pl.n_tokens);
                }
                mm_image_free(img);
            } else if (IS("/reset")) {
                drop_pending(&ch);
                mm_seq_reset(ch.c, 0);
                mm_sampler_reset(ch.smp);
                history_init(&ch);
                printf("conversation cleared%s\n", ch.system ? " (the system prompt stays)" : "");
            } else if (IS("/save") || IS("/load")) {
                if (!*arg) fprintf(stderr, "minimax chat: %.5s needs a file name: %.5s FILE\n", line, line);
                else if (IS("/save")) cmd_save(&ch, arg);
                else cmd_load(&ch, arg, &system_owned);
            } else
                fprintf(stderr, "minimax chat: unknown command '%.*s' (/help lists the commands)\n", (int)cl, line);
#undef IS
            fflush(stdout);
            continue;
        }
        if (turn(&ch, line[0] == '/' ? line + 1 : line) < 0) {
            rc = 1;
            break;
        }
    }
out:
    drop_pending(&ch);
    signal(SIGINT, SIG_DFL);
    free(line);
    free(system_owned);
    json_decref(ch.msgs);
    free(ch.close_ids);
    free(ch.buf);
    free(ch.logits);
    mm_sampler_free(ch.smp);
    mm_context_free(ch.c);
    mm_tokenizer_free(ch.tok);
    mm_model_free(m);
    return rc;
}
