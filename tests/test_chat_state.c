/* test_chat_state.c — the invariants `minimax chat` relies on:
 *   1. appending a conversation turn by turn to a sequence (each turn's tokens, the answer token by token, the
 *      closing tokens with the last sampled token) gives the logits of prefilling all those tokens at once, so
 *      the greedy answers are identical (golden model a_small_mixed, hand-chosen ids);
 *   2. a sequence state written to a file and read back (/save, /load) reproduces the next answer exactly;
 *   3. with the real tokenizer, the per-turn template deltas (render(history + user, gen) after render(history))
 *      plus the answers and the closing text encode to the same ids as the whole conversation rendered at once,
 *      for both chat styles. */
#include <jansson.h>

#include "minimax.h"
#include "text/mm_chat.h"
#include "base/mm_common.h"
#include "mm_test.h"
#include "text/mm_tokenizer.h"

static int V;

static int32_t argmax(const float *l) {
    int32_t b = 0;
    for (int i = 1; i < V; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

/* Decodes n tokens onto seq; the logits of the last token go to out. */
static int feed(mm_context *c, int seq, const int32_t *ids, int n, float *out) {
    int32_t s[256];
    for (int i = 0; i < n; i++) s[i] = seq;
    mm_batch b = {.n_tokens = n, .token = ids, .seq = s};
    return mm_decode(c, &b, out) == 1 ? 0 : -1;
}

static float max_diff(const float *a, const float *b, int n, float *scale) {
    float d = 0, m = 1;
    for (int i = 0; i < n; i++) {
        float e = fabsf(a[i] - b[i]);
        if (e > d) d = e;
        if (fabsf(b[i]) > m) m = fabsf(b[i]);
    }
    *scale = m;
    return d;
}

/* A chat on `seq` the way the CLI runs it: the turn's tokens, then n_ans greedy tokens each fed before the
 * next is sampled, except the last, which is fed with the closing tokens. Appends every fed token to all[],
 * and for each sampled token its position in all[] (the token it follows) and the logits it came from. */
typedef struct {
    int32_t all[512];
    int n_all;
    int32_t sampled[64];
    int at[64];
    float *logits[64];
    int n_sampled;
} trace;

static int chat_turn(mm_context *c, int seq, trace *t, const int32_t *turn, int n_turn, int n_ans,
                     const int32_t *close, int n_close, float *scratch) {
    if (feed(c, seq, turn, n_turn, scratch)) return -1;
    memcpy(t->all + t->n_all, turn, sizeof(int32_t) * (size_t)n_turn);
    t->n_all += n_turn;
    for (int k = 0; k < n_ans; k++) {
        int32_t next = argmax(scratch);
        t->at[t->n_sampled] = t->n_all - 1;
        t->logits[t->n_sampled] = mm_xmalloc(sizeof(float) * (size_t)V);
        memcpy(t->logits[t->n_sampled], scratch, sizeof(float) * (size_t)V);
        t->sampled[t->n_sampled++] = next;
        t->all[t->n_all++] = next;
        if (k + 1 < n_ans && feed(c, seq, &next, 1, scratch)) return -1;
    }
    /* the pending answer token and the closing tokens in one batch */
    int32_t tail[8];
    tail[0] = t->all[t->n_all - 1];
    memcpy(tail + 1, close, sizeof(int32_t) * (size_t)n_close);
    if (feed(c, seq, tail, 1 + n_close, scratch)) return -1;
    memcpy(t->all + t->n_all, close, sizeof(int32_t) * (size_t)n_close);
    t->n_all += n_close;
    return 0;
}

static void model_invariants(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/golden/a_small_mixed", mmt_shared());
    mm_model *m = mm_model_load(dir, NULL);
    CHECK(m != NULL, "load %s: %s", dir, mm_last_error());
    if (!m) return;
    V = mm_model_config(m)->vocab_size;
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 512, .n_seq_max = 3});
    CHECK(c != NULL, "context: %s", mm_last_error());
    if (!c) { mm_model_free(m); return; }
    float *lg = mm_xmalloc(sizeof(float) * (size_t)V);

    /* hand-chosen ids (vocabulary 512): a "system + user" turn, two more user turns; closing = {2, 10} */
    const int32_t t1[] = {1, 200, 31, 7, 415, 9, 88, 10, 1, 300, 12};
    const int32_t t2[] = {1, 300, 77, 501, 2, 10, 1, 301};
    const int32_t t3[] = {1, 300, 45, 46, 2, 10, 1, 301};
    const int32_t close[] = {2, 10};
    trace t = {0};
    int ok = !chat_turn(c, 0, &t, t1, 11, 6, close, 2, lg) && !chat_turn(c, 0, &t, t2, 8, 5, close, 2, lg);
    CHECK(ok, "turns on sequence 0: %s", mm_last_error());
    CHECK(mm_seq_len(c, 0) == t.n_all, "sequence 0 holds %d tokens, %d were fed", mm_seq_len(c, 0), t.n_all);
    /* save here (a closed answer), like /save between turns */
    char state_path[600];
    snprintf(state_path, sizeof state_path, "%s/chat.state", mmt_tmpdir());
    mm_seq_state *st = mm_seq_snapshot(c, 0);
    CHECK(st && !mm_seq_state_save(st, state_path), "save: %s", mm_last_error());
    mm_seq_state_free(st);
    const int n_saved = t.n_all;
    ok = ok && !chat_turn(c, 0, &t, t3, 8, 7, close, 2, lg);
    CHECK(ok, "turn 3 on sequence 0: %s", mm_last_error());

    /* 1. the whole conversation at once on sequence 1, logits at every position */
    if (ok) {
        int8_t want[512] = {0};
        int32_t s1[512];
        for (int i = 0; i < t.n_all; i++) s1[i] = 1;
        for (int k = 0; k < t.n_sampled; k++) want[t.at[k]] = 1;
        float *all = mm_xmalloc(sizeof(float) * (size_t)V * (size_t)t.n_sampled);
        mm_batch b = {.n_tokens = t.n_all, .token = t.all, .seq = s1, .logits = want};
        int rows = mm_decode(c, &b, all);
        CHECK(rows == t.n_sampled, "one-shot prefill of %d tokens gave %d rows (%s)", t.n_all, rows, mm_last_error());
        CHECK(mm_seq_len(c, 1) == mm_seq_len(c, 0), "lengths %d vs %d", mm_seq_len(c, 1), mm_seq_len(c, 0));
        int same = 0;
        float worst = 0;
        for (int k = 0; rows == t.n_sampled && k < t.n_sampled; k++) {
            float scale, d = max_diff(t.logits[k], all + (size_t)k * V, V, &scale);
            if (d / scale > worst) worst = d / scale;
            same += argmax(all + (size_t)k * V) == t.sampled[k];
        }
        CHECK(same == t.n_sampled, "greedy tokens: %d of %d agree between turn-by-turn and one-shot", same, t.n_sampled);
        CHECK(worst < 1e-4f, "turn-by-turn vs one-shot logits differ by %g (relative to the largest logit)", worst);
        free(all);
    }

    /* 2. /load: the saved state on sequence 2 (and on a reset sequence 0), then turn 3 again: the same answer */
    mm_seq_state *ld = mm_seq_state_load(c, state_path);
    CHECK(ld && mm_seq_state_len(ld) == n_saved, "load: %s", ld ? "wrong length" : mm_last_error());
    for (int target = 2; ld && target >= 0; target -= 2) {
        if (target == 0) mm_seq_reset(c, 0);
        CHECK(!mm_seq_restore(c, target, ld), "restore into %d: %s", target, mm_last_error());
        trace r = {0};
        CHECK(!chat_turn(c, target, &r, t3, 8, 7, close, 2, lg), "turn 3 after /load: %s", mm_last_error());
        int same = 0, exact = 0;
        for (int k = 0; k < r.n_sampled; k++) {
            same += r.sampled[k] == t.sampled[t.n_sampled - 7 + k];
            exact += !memcmp(r.logits[k], t.logits[t.n_sampled - 7 + k], sizeof(float) * (size_t)V);
            free(r.logits[k]);
        }
        CHECK(same == 7 && exact == 7, "after /load into sequence %d: %d of 7 tokens, %d of 7 logit rows identical",
              target, same, exact);
        CHECK(mm_seq_len(c, target) == t.n_all, "after /load and turn 3: %d tokens, want %d", mm_seq_len(c, target),
              t.n_all);
    }
    mm_seq_state_free(ld);
    /* a header whose layer counts sum past INT32_MAX (found by fuzz_state): refused, no overflow */
    {
        char bad_path[600];
        snprintf(bad_path, sizeof bad_path, "%s/bad.state", mmt_tmpdir());
        FILE *f = fopen(bad_path, "wb");
        const int32_t hdr[8] = {1, 0, 1263225675, 1263225675, 1, 1, 1, 0};
        CHECK(f && fwrite("MMSEQST1", 8, 1, f) == 1 && fwrite(hdr, sizeof hdr, 1, f) == 1 && !fclose(f), "write %s", bad_path);
        mm_seq_state *bad = mm_seq_state_load(c, bad_path);
        CHECK(!bad && strstr(mm_last_error(), "does not match"), "a state with 2 x 1263225675 layers: %s",
              bad ? "loaded" : mm_last_error());
        mm_seq_state_free(bad);
    }
    for (int k = 0; k < t.n_sampled; k++) free(t.logits[k]);
    free(lg);
    mm_context_free(c);
    mm_model_free(m);
}

/* ------------------------------------------------------------------ 3. template deltas with the real tokenizer */

static json_t *msg(const char *role, const char *text) { return json_pack("{s:s, s:s}", "role", role, "content", text); }

static int append_ids(const mm_tokenizer *tok, const char *text, int32_t **all, int *n) {
    int32_t *ids;
    int k = mm_tokenizer_encode(tok, text, strlen(text), 1, &ids);
    if (k < 0) return -1;
    *all = mm_xrealloc(*all, sizeof(int32_t) * (size_t)(*n + k + 1));
    memcpy(*all + *n, ids, sizeof(int32_t) * (size_t)k);
    *n += k;
    free(ids);
    return 0;
}

static void template_deltas(const mm_tokenizer *tok, int style, const char *name) {
    const char *users[] = {"Hello! What is 2+2?", "And 3*3? Answer in one word.", "Thanks, bye."};
    const char *answers[] = {"2+2 is 4.", "Nine.", "Goodbye!\nTake care."};
    json_t *h = json_array();
    json_array_append_new(h, msg("system", "You are terse."));
    int32_t *inc = NULL;
    int n_inc = 0, bad = 0;
    for (int turn = 0; turn < 3 && !bad; turn++) {
        json_t *hu = json_copy(h);
        json_array_append_new(hu, msg("user", users[turn]));
        char *before = turn ? mm_chat_render(style, h, NULL, 0) : mm_xstrdup("");
        char *after = mm_chat_render(style, hu, NULL, 1);
        bad = !before || !after || strncmp(after, before, strlen(before));
        CHECK(!bad, "%s turn %d: render(history) is not a prefix of render(history + user)", name, turn);
        if (!bad) bad = append_ids(tok, after + strlen(before), &inc, &n_inc);
        /* the answer (as the model would sample it) and the closing text after it */
        json_t *ha = json_copy(hu);
        json_array_append_new(ha, msg("assistant", answers[turn]));
        char *closed = mm_chat_render(style, ha, NULL, 0);
        size_t pre = strlen(after), na = strlen(answers[turn]);
        int shape = closed && !strncmp(closed, after, pre) && !strncmp(closed + pre, answers[turn], na);
        CHECK(shape, "%s turn %d: the assistant message does not render as prompt + answer + closing", name, turn);
        if (!bad && shape) bad = append_ids(tok, answers[turn], &inc, &n_inc) || append_ids(tok, closed + pre + na, &inc, &n_inc);
        free(before);
        free(after);
        free(closed);
        json_decref(hu);
        json_decref(h);
        h = ha;
    }
    char *whole = mm_chat_render(style, h, NULL, 0);
    int32_t *ids = NULL;
    int n = whole ? mm_tokenizer_encode(tok, whole, strlen(whole), 1, &ids) : -1;
    int same = n == n_inc && !bad && !memcmp(ids, inc, sizeof(int32_t) * (size_t)n);
    CHECK(same, "%s: turn-by-turn ids (%d) differ from the whole conversation's (%d)", name, n_inc, n);
    free(whole);
    free(ids);
    free(inc);
    json_decref(h);
}

int main(void) {
    model_invariants();
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer/tokenizer.json", mmt_shared());
    mm_tokenizer *tok = mm_tokenizer_load(path);
    CHECK(tok != NULL, "tokenizer %s: %s", path, mm_last_error());
    if (tok) {
        template_deltas(tok, MM_CHAT_TEXT01, "Text-01");
        template_deltas(tok, MM_CHAT_M1, "M1");
        mm_tokenizer_free(tok);
    }
    return mmt_done();
}
