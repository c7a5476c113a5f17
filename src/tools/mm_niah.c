/* mm_niah.c — the needle-in-a-haystack harness (see mm_niah.h). */
#include "tools/mm_niah.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/mm_common.h"
#include "text/mm_needle.h"


typedef struct {
    int32_t *ids;
    int n, cap;
} ivec;
static void ipush(ivec *v, const int32_t *ids, int n) {
    if (n <= 0) return;
    if (v->n + n > v->cap) v->ids = mm_xrealloc(v->ids, sizeof(int32_t) * (size_t)(v->cap = (v->n + n) * 2 + 16));
    memcpy(v->ids + v->n, ids, sizeof(int32_t) * (size_t)n);
    v->n += n;
}
/* Appends the tokens of text; -1 on a tokenizer error. */
static int itext(ivec *v, const mm_tokenizer *tok, const char *text, size_t len) {
    int32_t *ids = NULL;
    const int n = mm_tokenizer_encode(tok, text, len, 0, &ids);
    if (n < 0) return -1;
    ipush(v, ids, n);
    free(ids);
    return n;
}

void mm_niah_prompt_free(mm_niah_prompt *p) {
    free(p->ids);
    p->ids = NULL;
}

int mm_niah_build(const mm_niah_spec *s, int length, double depth, mm_niah_prompt *out) {
    memset(out, 0, sizeof *out);
    const int nk = s->n_keys < 1 ? 1 : s->n_keys > 4 ? 4 : s->n_keys;
    uint64_t r = s->seed * 0x2545f4914f6cdd1dull + 11;
    int keys[4], vals[4];
    for (int i = 0; i < nk; i++) {
        int dup;
        do {
            keys[i] = (int)(mm_rand_splitmix(&r) % 1024), dup = 0;
            for (int j = 0; j < i; j++) dup |= keys[j] == keys[i];
        } while (dup);
        vals[i] = 10000 + (int)(mm_rand_splitmix(&r) % 90000);
    }
    char line[160];
    ivec needle[4] = {{0}}, q = {0}, hay = {0};
    int *starts = NULL, n_lines = 0, rc = -1, needles = 0;
    char *gen = NULL;
    for (int i = 0; i < nk; i++) {
        char key[48];
        mm_needle_key(keys[i], key, sizeof key);
        if (i == 0) snprintf(out->key, sizeof out->key, "%s", key), snprintf(out->value, sizeof out->value, "%d", vals[0]);
        if (itext(&needle[i], s->tok, line, (size_t)mm_needle_line(key, vals[i], line, sizeof line)) < 0) goto done;
        needles += needle[i].n;
    }
    if (itext(&q, s->tok, line, (size_t)mm_needle_question(out->key, line, sizeof line)) < 0) goto done;
    const int H = length - s->n_prefix - s->n_suffix - needles - q.n;
    if (H < 1) {
        mm_set_error("niah: %d tokens cannot hold the needles (%d), the question (%d) and the template (%d)", length, needles, q.n,
                     s->n_prefix + s->n_suffix);
        goto done;
    }
    /* haystack: whole lines until H tokens, the last one cut to fit exactly */
    const char *text = s->hay;
    size_t len = s->hay_len, at = 0;
    if (!text) text = gen = mm_needle_hay((size_t)H * 8 + 1024, s->seed, &len);
    while (hay.n < H) {
        if (at >= len) {
            if (!s->hay || !len) {
                mm_set_error("niah: the haystack text is empty");
                goto done;
            }
            at = 0; /* a short text repeats */
        }
        const char *nl = memchr(text + at, '\n', len - at);
        const size_t e = nl ? (size_t)(nl - text) + 1 : len;
        starts = mm_xrealloc(starts, sizeof(int) * (size_t)(n_lines + 1));
        starts[n_lines++] = hay.n;
        if (itext(&hay, s->tok, text + at, e - at) < 0) goto done;
        at = e;
    }
    hay.n = H;
    /* the asked needle at the line start nearest depth·H (the end counts); distractors at fixed fractions */
    int best = H, place[4];
    for (int i = 0; i < n_lines; i++)
        if (fabs(starts[i] - depth * H) < fabs(best - depth * H)) best = starts[i];
    place[0] = best;
    for (int j = 1; j < nk; j++) {
        const double f = (2.0 * j - 1) / (2.0 * (nk - 1));
        int b = H;
        for (int i = 0; i < n_lines; i++)
            if (fabs(starts[i] - f * H) < fabs(b - f * H)) b = starts[i];
        place[j] = b;
    }
    ivec p = {0};
    ipush(&p, s->prefix, s->n_prefix);
    for (int t = 0; t <= H; t++) {
        for (int j = nk - 1; j >= 0; j--) /* at a shared boundary the distractors come after the asked needle's place */
            if (place[j] == t && j != 0) ipush(&p, needle[j].ids, needle[j].n);
        if (place[0] == t) {
            out->shared = out->needle_at = p.n;
            out->needle_len = needle[0].n;
            ipush(&p, needle[0].ids, needle[0].n);
        }
        if (t < H) ipush(&p, hay.ids + t, 1);
    }
    ipush(&p, q.ids, q.n);
    ipush(&p, s->suffix, s->n_suffix);
    out->ids = p.ids;
    out->n = p.n;
    out->hay_tokens = H;
    rc = 0;
done:
    for (int i = 0; i < 4; i++) free(needle[i].ids);
    free(q.ids), free(hay.ids), free(starts), free(gen);
    return rc;
}

double mm_niah_score(const char *pred, const char *const *refs, int n_refs) {
    if (n_refs <= 0) return 0;
    int found = 0;
    for (int i = 0; i < n_refs; i++) {
        const size_t m = strlen(refs[i]);
        int hit = m == 0;
        for (const char *p = pred; *p && !hit; p++) {
            size_t k = 0;
            while (k < m && p[k] && tolower((unsigned char)p[k]) == tolower((unsigned char)refs[i][k])) k++;
            hit = k == m;
        }
        found += hit;
    }
    return (double)found / n_refs;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) b = x[i] > x[b] ? i : b;
    return b;
}

int mm_niah_run(mm_context *c, const mm_niah_spec *s, const int *lengths, int nl, const int *depths_pct, int nd, int max_answer,
                mm_niah_cell *cells, void (*progress)(const mm_niah_cell *cell, void *arg), void *arg) {
    const int V = mm_model_config(mm_context_model(c))->vocab_size;
    float *logits = mm_xmalloc(sizeof(float) * (size_t)V);
    int32_t *ans = mm_xmalloc(sizeof(int32_t) * (size_t)(max_answer > 0 ? max_answer : 1));
    int *order = mm_xmalloc(sizeof(int) * (size_t)nd), rc = 0;
    for (int d = 0; d < nd; d++) order[d] = d;
    for (int i = 1; i < nd; i++) /* ascending depth: each needle's prefix extends the previous one */
        for (int j = i; j > 0 && depths_pct[order[j]] < depths_pct[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (int l = 0; l < nl && !rc; l++) {
        mm_seq_reset(c, 0);
        const int32_t *prev = NULL;
        mm_niah_prompt pp = {0};
        for (int oi = 0; oi < nd && !rc; oi++) {
            const int d = order[oi];
            mm_niah_cell *cell = &cells[l * nd + d];
            memset(cell, 0, sizeof *cell);
            cell->length = lengths[l], cell->depth_pct = depths_pct[d];
            const double t0 = mm_time();
            mm_niah_prompt p;
            if (mm_niah_build(s, lengths[l], depths_pct[d] / 100.0, &p) < 0) { rc = -1; break; }
            /* the shared prefix: what the sequence holds (the previous needle's prefix) is a prefix of this one */
            int have = mm_seq_len(c, 0);
            if (prev && (have > p.shared || memcmp(prev, p.ids, sizeof(int32_t) * (size_t)have))) {
                mm_seq_reset(c, 0);
                have = 0;
            }
            int32_t *seqs = mm_xcalloc((size_t)p.n, sizeof(int32_t));
            mm_seq_state *st = NULL;
            if (p.shared > have) {
                mm_batch b = {.n_tokens = p.shared - have, .token = p.ids + have, .seq = seqs};
                if (mm_decode(c, &b, logits) < 0) rc = -1;
            }
            if (!rc && !(st = mm_seq_snapshot(c, 0))) rc = -1;
            mm_batch b = {.n_tokens = p.n - p.shared, .token = p.ids + p.shared, .seq = seqs};
            if (!rc && mm_decode(c, &b, logits) < 0) rc = -1;
            int na = 0;
            for (; !rc && na < max_answer; na++) {
                ans[na] = argmax(logits, V);
                const char *ts = mm_tokenizer_token_str(s->tok, ans[na]);
                if (mm_tokenizer_is_special(s->tok, ans[na]) || (ts && strchr(ts, '\n')) || mm_seq_len(c, 0) >= mm_context_n_ctx(c)) {
                    na++;
                    break;
                }
                mm_batch one = {.n_tokens = 1, .token = &ans[na], .seq = seqs};
                if (mm_decode(c, &one, logits) < 0) rc = -1;
            }
            if (!rc) {
                char *txt = mm_tokenizer_decode(s->tok, ans, (size_t)na, 1);
                if (txt) {
                    char *nlp = strchr(txt, '\n');
                    if (nlp) *nlp = 0;
                    snprintf(cell->answer, sizeof cell->answer, "%s", txt);
                }
                free(txt);
                snprintf(cell->expected, sizeof cell->expected, "%s", p.value);
                const char *refs[1] = {p.value};
                cell->score = mm_niah_score(cell->answer, refs, 1);
                cell->needle_at = p.needle_at;
                if (mm_seq_restore(c, 0, st) < 0) rc = -1;
            }
            mm_seq_state_free(st);
            free(seqs);
            cell->seconds = mm_time() - t0;
            mm_niah_prompt_free(&pp);
            pp = p;
            prev = p.ids;
            if (!rc && progress) progress(cell, arg);
        }
        mm_niah_prompt_free(&pp);
    }
    free(logits), free(ans), free(order);
    return rc;
}
