/* test_longctx.c — long-context machinery on a small random model: split attention in the model (= unsplit at
 * several split counts and depths), the paged KV cache (any page size = the default bit for bit; snapshots and
 * forks share pages copy-on-write), the memory planner against measured RSS. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "mm_test.h"
#include "formats/mm_mkmodel.h"
#include "model/mm_context.h"
#include "text/mm_needle.h"
#include "tools/mm_niah.h"
#include "minimax.h"

static mm_model *small_model(const char *name, int D) {
    mm_mkmodel_params p;
    mm_mkmodel_preset(&p, "tiny");
    p.vocab_size = 256, p.hidden_size = 64, p.n_heads = 4, p.n_kv_heads = 2, p.head_dim = D, p.rotary_dim = 16;
    p.intermediate_size = 64, p.n_experts = 2, p.top_k = 2, p.dtype = MM_F32, p.max_position_embeddings = 1 << 20;
    mm_mkmodel_parse_layer_types(&p, "LS");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/%s", mmt_tmpdir(), name);
    if (mm_mkmodel_write(dir, &p, NULL) != 0) {
        CHECK(0, "mkmodel: %s", mm_last_error());
        return NULL;
    }
    mm_model *m = mm_model_load(dir, NULL);
    CHECK(m != NULL, "load: %s", mm_last_error());
    return m;
}

/* Prefill n tokens, then decode one at a time to each depth in deps; logits of every decode step with the
 * attention split into `split` parts (1: never) into out[nd][V]. */
static void run_depths(mm_model *m, int split, int kt, int page, const int *deps, int nd, float *out) {
    const int V = mm_model_config(m)->vocab_size;
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 4096, .n_ubatch = 256, .type_k = kt, .type_v = kt, .kv_page = page});
    c->att_split = split;
    int32_t *ids = malloc(sizeof(int32_t) * 4096), *seq = calloc(4096, sizeof(int32_t));
    for (int i = 0; i < 4096; i++) ids[i] = (i * 7919 + 13) % V;
    int len = 0;
    for (int d = 0; d < nd; d++) {
        /* a prefill chunk up to one before the depth (split prefill rows), then one decoded token there */
        mm_batch b = {.n_tokens = deps[d] - len - 1, .token = ids + len, .seq = seq};
        if (b.n_tokens > 0) CHECK(mm_decode(c, &b, out + (size_t)d * V) >= 0, "prefill: %s", mm_last_error());
        mm_batch one = {.n_tokens = 1, .token = ids + deps[d] - 1, .seq = seq};
        CHECK(mm_decode(c, &one, out + (size_t)d * V) == 1, "decode: %s", mm_last_error());
        len = deps[d];
    }
    free(ids), free(seq);
    mm_context_free(c);
}

static void test_split(void) {
    mm_model *m = small_model("split", 40);
    if (!m) return;
    const int V = 256, deps[] = {70, 600, 1300}, nd = 3;
    float *ref = malloc(sizeof(float) * V * nd), *got = malloc(sizeof(float) * V * nd);
    for (int kt = 0; kt < 2; kt++) {
        const int type = kt ? MM_KV_Q8_0 : MM_KV_F32;
        run_depths(m, 1, type, 0, deps, nd, ref);
        const int splits[] = {2, 3, 7, 0};
        for (int s = 0; s < 4; s++) {
            run_depths(m, splits[s], type, 0, deps, nd, got);
            for (int d = 0; d < nd; d++) {
                double e = 0, span = 0;
                for (int i = 0; i < V; i++)
                    e = fmax(e, fabs((double)got[d * V + i] - ref[d * V + i])), span = fmax(span, fabs(ref[d * V + i]));
                /* attention split = unsplit within ~1e-7 relative (test_attention); the layers after it keep that */
                CHECK(e <= 1e-6 * span, "KV %s split %d at depth %d: max|dlogit| %.3g (max|logit| %.3g)", mm_kv_type_name(type), splits[s],
                      deps[d], e, span);
            }
        }
    }
    free(ref), free(got);
    mm_model_free(m);
}

/* mm_seq_fill_synthetic: bad ids and sizes refused; the filled positions count as the sequence's, the next token
 * decodes at that depth, and the same seed gives the same logits while another seed (other keys) does not. */
static void test_fill(void) {
    mm_model *m = small_model("fill", 40);
    if (!m) return;
    const int V = 256;
    for (int kt = 0; kt < 2; kt++) {
        const int type = kt ? MM_KV_Q8_0 : MM_KV_F32;
        float *lg[3];
        for (int run = 0; run < 3; run++) {
            mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 1024, .n_ubatch = 64, .type_k = type, .type_v = type});
            lg[run] = calloc((size_t)V, sizeof(float));
            if (run == 0) {
                CHECK(mm_seq_fill_synthetic(c, 1, 10, 1) < 0 && strstr(mm_last_error(), "sequence id 1"), "bad id: %s", mm_last_error());
                CHECK(mm_seq_fill_synthetic(c, 0, 1025, 1) < 0 && strstr(mm_last_error(), "do not fit"), "too long: %s", mm_last_error());
                CHECK(mm_seq_fill_synthetic(c, 0, -1, 1) < 0, "negative count refused");
                CHECK(mm_seq_len(c, 0) == 0, "a refused fill leaves the sequence empty");
            }
            CHECK(mm_seq_fill_synthetic(c, 0, 600, 7) == 0 && mm_seq_fill_synthetic(c, 0, 100, run == 2 ? 9 : 8) == 0, "fill: %s",
                  mm_last_error());
            CHECK(mm_seq_len(c, 0) == 700, "700 positions filled: %d", mm_seq_len(c, 0));
            CHECK(mm_seq_fill_synthetic(c, 0, 1024 - 700 + 1, 1) < 0 && mm_seq_len(c, 0) == 700, "a fill past the context's end refused");
            int32_t tok = 5, sq = 0;
            mm_batch b = {.n_tokens = 1, .token = &tok, .seq = &sq};
            CHECK(mm_decode(c, &b, lg[run]) == 1, "decode at depth 700: %s", mm_last_error());
            CHECK(mm_seq_len(c, 0) == 701, "the token went to position 700");
            int finite = 1;
            for (int i = 0; i < V; i++) finite &= isfinite(lg[run][i]) != 0;
            CHECK(finite, "finite logits after the fill");
            mm_context_free(c);
        }
        CHECK(!memcmp(lg[0], lg[1], sizeof(float) * V), "KV %s: the same seeds give the same logits", mm_kv_type_name(type));
        CHECK(memcmp(lg[0], lg[2], sizeof(float) * V) != 0, "KV %s: other keys in the last 100 positions change the logits",
              mm_kv_type_name(type));
        for (int run = 0; run < 3; run++) free(lg[run]);
    }
    mm_model_free(m);
}

/* Pages of 64 and 2048 positions give the default page's logits bit for bit, f32 and q8_0 KV, at depths that
 * cross many pages (and none, for 2048), with and without split attention. */
static void test_page_sizes(void) {
    mm_model *m = small_model("pages", 40);
    if (!m) return;
    const int V = 256, deps[] = {70, 600, 1300}, nd = 3;
    float *ref = malloc(sizeof(float) * V * nd), *got = malloc(sizeof(float) * V * nd);
    for (int kt = 0; kt < 2; kt++) {
        const int type = kt ? MM_KV_Q8_0 : MM_KV_F32;
        for (int split = 0; split < 2; split++) {
            run_depths(m, split ? 3 : 1, type, 0, deps, nd, ref);
            const int pages[] = {64, 2048};
            for (int pi = 0; pi < 2; pi++) {
                run_depths(m, split ? 3 : 1, type, pages[pi], deps, nd, got);
                CHECK(!memcmp(ref, got, sizeof(float) * V * nd), "KV %s, pages of %d, split %d: logits differ from pages of %d",
                      mm_kv_type_name(type), pages[pi], split, MM_KV_PAGE_DEFAULT);
            }
        }
    }
    free(ref), free(got);
    mm_model_free(m);
}

/* Into seq of c: n_pre tokens in one batch (if any), then each of extra[n_extra] alone; the last token's logits. */
static void feed(mm_context *c, int seq, const int32_t *pre, int n_pre, const int32_t *extra, int n_extra, float *out) {
    int32_t sq[512];
    for (int i = 0; i < 512; i++) sq[i] = seq;
    if (n_pre > 0) CHECK(mm_decode(c, &(mm_batch){.n_tokens = n_pre, .token = pre, .seq = sq}, out) >= 0, "prefill: %s", mm_last_error());
    for (int i = 0; i < n_extra; i++)
        CHECK(mm_decode(c, &(mm_batch){.n_tokens = 1, .token = extra + i, .seq = sq}, out) == 1, "decode: %s", mm_last_error());
}

/* What a fresh context computes for the same tokens fed the same way. */
static void fresh(mm_model *m, const int32_t *pre, int n_pre, const int32_t *extra, int n_extra, float *out) {
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 1024});
    feed(c, 0, pre, n_pre, extra, n_extra, out);
    mm_context_free(c);
}

static int64_t live_pages(const mm_context *c) {
    mm_kv_stats st;
    mm_context_kv_stats(c, &st);
    return st.pages_live;
}

/* Snapshots, restores and forks share pages; a write into a shared page copies that page only; every holder goes
 * on exactly as a fresh run of its own tokens; snapshots outlive their context; reset returns pages for reuse. */
static void test_cow(void) {
    mm_model *m = small_model("cow", 40);
    if (!m) return;
    const int V = 256, P = 64, N = 300; /* 300 tokens: 4 full pages and a partial fifth */
    int32_t ids[512];
    for (int i = 0; i < 512; i++) ids[i] = (i * 7919 + 13) % V;
    float *want = malloc(sizeof(float) * V), *got = malloc(sizeof(float) * V);
    const mm_context_params cp = {.n_ctx = 1024, .n_seq_max = 3, .kv_page = P};
    mm_context *c = mm_context_new(m, &cp);
    mm_kv_stats st;
    mm_context_kv_stats(c, &st);
    CHECK(st.page_positions == P && st.pages_live == 0 && st.pages_free == 0, "fresh pool: %d positions, %lld live, %lld free",
          st.page_positions, (long long)st.pages_live, (long long)st.pages_free);
    /* one softmax layer: K and V rows of 2 KV heads × 40 f32 per position */
    CHECK(st.page_bytes == (int64_t)P * 2 * 2 * 40 * 4, "page bytes %lld", (long long)st.page_bytes);
    feed(c, 0, ids, N, NULL, 0, got);
    CHECK(live_pages(c) == 5, "300 tokens in pages of 64: %lld live pages", (long long)live_pages(c));
    mm_seq_state *snap = mm_seq_snapshot(c, 0);
    CHECK(snap && live_pages(c) == 5, "a snapshot shares the pages: %lld live", (long long)live_pages(c));
    CHECK(mm_seq_copy(c, 1, 0) == 0 && live_pages(c) == 5, "a fork shares the pages: %lld live", (long long)live_pages(c));
    const int32_t a[2] = {5, 6}, b[2] = {9, 10}, x[1] = {77};
    feed(c, 1, NULL, 0, b, 1, got);
    CHECK(live_pages(c) == 6, "a write after the fork copies one page: %lld live", (long long)live_pages(c));
    feed(c, 0, NULL, 0, a, 1, got);
    CHECK(live_pages(c) == 7, "the original's write copies its shared last page too: %lld live", (long long)live_pages(c));
    feed(c, 0, NULL, 0, a + 1, 1, got);
    feed(c, 1, NULL, 0, b + 1, 1, want);
    CHECK(live_pages(c) == 7, "writes into own pages copy nothing: %lld live", (long long)live_pages(c));
    float *got1 = malloc(sizeof(float) * V);
    memcpy(got1, want, sizeof(float) * V);
    fresh(m, ids, N, a, 2, want);
    CHECK(!memcmp(got, want, sizeof(float) * V), "the original after the fork differs from a fresh run of its tokens");
    fresh(m, ids, N, b, 2, want);
    CHECK(!memcmp(got1, want, sizeof(float) * V), "the fork differs from a fresh run of its tokens");
    /* the snapshot still holds the state at 300 tokens after both sequences wrote past it */
    fresh(m, ids, N, x, 1, want);
    CHECK(snap && mm_seq_restore(c, 2, snap) == 0, "restore: %s", mm_last_error());
    feed(c, 2, NULL, 0, x, 1, got);
    CHECK(!memcmp(got, want, sizeof(float) * V), "a snapshot restored after later writes differs from a fresh run");
    /* it outlives its context and restores into another one */
    mm_context_free(c);
    mm_context *c2 = mm_context_new(m, &cp);
    CHECK(snap && mm_seq_restore(c2, 0, snap) == 0, "restore into another context: %s", mm_last_error());
    mm_seq_state_free(snap);
    feed(c2, 0, NULL, 0, x, 1, got);
    CHECK(!memcmp(got, want, sizeof(float) * V), "a snapshot restored into another context differs from a fresh run");
    /* saved with pages of 64, loaded into pages of 256: the file does not depend on the page size */
    char path[1100];
    snprintf(path, sizeof path, "%s/paged.state", mmt_tmpdir());
    mm_seq_reset(c2, 0);
    feed(c2, 0, ids, N, NULL, 0, got);
    snap = mm_seq_snapshot(c2, 0);
    CHECK(snap && mm_seq_state_save(snap, path) == 0, "save: %s", mm_last_error());
    mm_seq_state_free(snap);
    mm_context *c3 = mm_context_new(m, &(mm_context_params){.n_ctx = 1024, .kv_page = 256});
    mm_seq_state *ld = mm_seq_state_load(c3, path);
    CHECK(ld && mm_seq_restore(c3, 0, ld) == 0, "load into pages of 256: %s", mm_last_error());
    mm_seq_state_free(ld);
    feed(c3, 0, NULL, 0, x, 1, got);
    CHECK(!memcmp(got, want, sizeof(float) * V), "a state saved with pages of 64 and loaded into pages of 256 differs");
    /* a snapshot does not restore into a context of another page size (a file does) */
    snap = mm_seq_snapshot(c2, 0);
    CHECK(snap && mm_seq_restore(c3, 0, snap) < 0 && strstr(mm_last_error(), "page"), "restore across page sizes: %s", mm_last_error());
    mm_seq_state_free(snap);
    mm_context_free(c3);
    /* reset returns the pages to the pool, and the next run takes them again: the count stays put */
    mm_seq_reset(c2, 0);
    mm_context_kv_stats(c2, &st);
    const int64_t total = st.pages_live + st.pages_free;
    CHECK(st.pages_live == 0 && st.pages_free >= 5, "after reset: %lld live, %lld free", (long long)st.pages_live, (long long)st.pages_free);
    for (int r = 0; r < 3; r++) {
        feed(c2, 0, ids, N, NULL, 0, got);
        mm_context_kv_stats(c2, &st);
        CHECK(st.pages_live == 5 && st.pages_live + st.pages_free == total, "run %d after reset: %lld live, %lld free (of %lld)", r,
              (long long)st.pages_live, (long long)st.pages_free, (long long)total);
        mm_seq_reset(c2, 0);
    }
    mm_context_free(c2);
    /* page sizes that are not a power of two in 64..65536 are refused */
    const int bad[] = {32, 100, 96, 131072, -64, 1};
    for (int i = 0; i < 6; i++) {
        mm_context *cb = mm_context_new(m, &(mm_context_params){.n_ctx = 1024, .kv_page = bad[i]});
        CHECK(!cb && strstr(mm_last_error(), "power of two"), "kv_page %d: %s", bad[i], cb ? "accepted" : mm_last_error());
        mm_context_free(cb);
    }
    /* the planner counts whole pages: 1100 positions are 5 pages of 256, 18 of 64, 1 of 2048 */
    const int ps[3] = {0, 64, 2048};
    const int64_t pos[3] = {1280, 1152, 2048};
    for (int i = 0; i < 3; i++) {
        mm_mem_plan pl;
        const mm_config *cfg = mm_model_config(m);
        const int64_t want_kv = 2 * (mm_state_bytes_kv(cfg, pos[i], MM_KV_Q8_0, MM_KV_F32) - mm_state_bytes_kv(cfg, 0, MM_KV_Q8_0, MM_KV_F32));
        CHECK(mm_mem_plan_get(m, &(mm_context_params){.n_ctx = 1100, .n_seq_max = 2, .type_k = MM_KV_Q8_0, .kv_page = ps[i]}, 1, &pl) == 0 &&
                  pl.kv == want_kv,
              "plan with pages of %d: KV %lld bytes, want %lld", ps[i], (long long)pl.kv, (long long)want_kv);
    }
    mm_mem_plan pl;
    CHECK(mm_mem_plan_get(m, &(mm_context_params){.kv_page = 100}, 1, &pl) < 0, "the planner refuses pages of 100");
    free(want), free(got), free(got1);
    mm_model_free(m);
}

/* Needle prompts: exact length, the needle's tokens at the reported position and near the asked depth of the
 * haystack, the same prefix before it at every depth of a length; the answer's scoring. */
static void test_niah(void) {
    char tp[1100];
    snprintf(tp, sizeof tp, "%s/tokenizer/tokenizer.json", mmt_shared());
    mm_tokenizer *tok = mm_tokenizer_load(tp);
    CHECK(tok != NULL, "tokenizer: %s", mm_last_error());
    if (!tok) return;
    const int32_t pre[3] = {200019, 1503, 373}, suf[2] = {200020, 10};
    for (int chat = 0; chat < 2; chat++)
        for (int keys = 1; keys <= 3; keys += 2) {
            mm_niah_spec s = {.tok = tok, .n_keys = keys, .seed = 7};
            if (chat) s.prefix = pre, s.n_prefix = 3, s.suffix = suf, s.n_suffix = 2;
            const int L = 700;
            mm_niah_prompt p0 = {0};
            for (int d = 0; d <= 100; d += 25) {
                mm_niah_prompt p;
                CHECK(mm_niah_build(&s, L, d / 100.0, &p) == 0, "build: %s", mm_last_error());
                CHECK(p.n == L, "length %d, asked %d", p.n, L);
                char line[160];
                int32_t *nid = NULL;
                const int nn = mm_tokenizer_encode(tok, line, (size_t)mm_needle_line(p.key, atoi(p.value), line, sizeof line), 0, &nid);
                CHECK(nn == p.needle_len && !memcmp(p.ids + p.needle_at, nid, sizeof(int32_t) * (size_t)nn), "needle tokens at %d", p.needle_at);
                free(nid);
                /* the needle sits at a line boundary near depth·H (lines of the built-in haystack are < 80 tokens) */
                const int before = p.needle_at - s.n_prefix - (keys > 1 && d > 50 ? (keys - 1) * p.needle_len : 0);
                CHECK(abs(before - (int)(d / 100.0 * p.hay_tokens)) <= 80 || keys > 1, "depth %d%%: needle after %d of %d haystack tokens", d,
                      before, p.hay_tokens);
                CHECK(!memcmp(p.ids, pre, 0) && (!chat || !memcmp(p.ids, pre, sizeof pre)), "prefix");
                CHECK(!chat || !memcmp(p.ids + L - 2, suf, sizeof suf), "suffix");
                char *tail = mm_tokenizer_decode(tok, p.ids + p.n - s.n_suffix - 30, 30, 0);
                CHECK(tail && strstr(tail, "Answer: The secret number of the") && strstr(tail, p.key), "question: %s", tail);
                free(tail);
                if (p0.ids) /* depths ascending: the earlier prompt's prefix is this one's */
                    CHECK(p0.shared <= p.shared && !memcmp(p0.ids, p.ids, sizeof(int32_t) * (size_t)p0.shared) && !strcmp(p0.value, p.value),
                          "depth %d%% does not extend the previous depth's prefix", d);
                mm_niah_prompt_free(&p0);
                p0 = p;
            }
            mm_niah_prompt_free(&p0);
        }
    mm_niah_spec s = {.tok = tok, .n_keys = 1, .seed = 1};
    mm_niah_prompt p;
    CHECK(mm_niah_build(&s, 20, 0.5, &p) < 0 && strstr(mm_last_error(), "cannot hold"), "a too short length: %s", mm_last_error());
    const char *refs[2] = {"48213", "Silver Otter"};
    CHECK(mm_niah_score(" 48213.", refs, 1) == 1 && mm_niah_score("4821", refs, 1) == 0, "string_match_all of one");
    CHECK(mm_niah_score("the silver otter: 48213", refs, 2) == 1 && mm_niah_score("48213", refs, 2) == 0.5, "string_match_all of two");

    /* The grid with prefix reuse gives the answers of separate runs (a small random model: it does not retrieve). */
    mm_mkmodel_params mp;
    mm_mkmodel_preset(&mp, "tiny");
    mp.vocab_size = mm_tokenizer_n_ids(tok), mp.hidden_size = 32, mp.n_heads = 2, mp.n_kv_heads = 1, mp.head_dim = 16, mp.rotary_dim = 8;
    mp.intermediate_size = 32, mp.n_experts = 2, mp.top_k = 1;
    mm_mkmodel_parse_layer_types(&mp, "LS");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/niah-model", mmt_tmpdir());
    mm_model *m = mm_mkmodel_write(dir, &mp, NULL) == 0 ? mm_model_load(dir, NULL) : NULL;
    CHECK(m != NULL, "niah model: %s", mm_last_error());
    if (m) {
        mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 400, .type_k = MM_KV_Q8_0, .type_v = MM_KV_Q8_0});
        const int lengths[2] = {150, 300}, depths[3] = {100, 0, 50};
        mm_niah_cell grid[6], one;
        CHECK(mm_niah_run(c, &s, lengths, 2, depths, 3, 4, grid, NULL, NULL) == 0, "niah run: %s", mm_last_error());
        for (int i = 0; i < 6; i++) {
            CHECK(mm_niah_run(c, &s, &lengths[i / 3], 1, &depths[i % 3], 1, 4, &one, NULL, NULL) == 0, "single cell");
            CHECK(!strcmp(one.answer, grid[i].answer) && one.score == grid[i].score && grid[i].length == lengths[i / 3] &&
                      grid[i].depth_pct == depths[i % 3],
                  "cell %d: grid answer '%s' vs alone '%s'", i, grid[i].answer, one.answer);
        }
        mm_context_free(c);
        mm_model_free(m);
    }
    mm_tokenizer_free(tok);
}

int main(void) {
    test_split();
    test_fill();
    test_page_sizes();
    test_cow();
    test_niah();
    return mmt_done();
}
