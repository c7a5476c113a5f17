/* test_pipeline.c — pipeline and expert parallelism (src/model/mm_pipeline.*, src/dist/): the split planner, then
 * the same binary re-run under `mpirun --oversubscribe -np 2` and `-np 3` (uneven --layer-split; then the experts
 * split instead of the layers) on golden models, where
 * rank 0 compares everything bit for bit against a whole model loaded in its own process with the same threads:
 * a prefill of four sequences in one batch whose chunks (n_ubatch 5) are the micro-batches, batched decode steps of
 * the four, a long batch cut into micro-batches (n_micro) against one process given the same pieces, snapshot / restore, copy and reset of sequences (the other ranks follow under rank 0's ids), state
 * files (the pipeline's equal to one process's byte for byte, loading either way, damaged files refused in step). */
#include <sys/wait.h>
#include <unistd.h>
#include "mm_test.h"
#include "model/mm_pipeline.h"
#include "minimax.h"

static void test_plan(void) {
    int first[9];
    /* equal layers, no embedding/head: even split */
    int64_t eq[8] = {10, 10, 10, 10, 10, 10, 10, 10};
    CHECK(mm_pp_plan(eq, 8, 0, 0, 2, NULL, first) == 0 && first[0] == 0 && first[1] == 4 && first[2] == 8, "even 2");
    CHECK(mm_pp_plan(eq, 8, 0, 0, 4, NULL, first) == 0 && first[1] == 2 && first[2] == 4 && first[3] == 6, "even 4");
    /* a heavy embedding on rank 0 and head on the last rank: they get fewer layers */
    CHECK(mm_pp_plan(eq, 8, 20, 20, 2, NULL, first) == 0 && first[1] == 4, "symmetric ends");
    CHECK(mm_pp_plan(eq, 8, 30, 0, 2, NULL, first) == 0 && first[1] == 3, "heavy embedding: rank 0 got %d layers", first[1]);
    CHECK(mm_pp_plan(eq, 8, 0, 30, 2, NULL, first) == 0 && first[1] == 6, "heavy head: rank 0 got %d layers", first[1]);
    /* every rank gets a layer even when one layer dominates */
    int64_t skew[4] = {1000, 1, 1, 1};
    CHECK(mm_pp_plan(skew, 4, 0, 0, 4, NULL, first) == 0 && first[1] == 1 && first[2] == 2 && first[3] == 3, "skew");
    CHECK(mm_pp_plan(skew, 4, 0, 0, 2, NULL, first) == 0 && first[1] == 1, "skew 2: %d", first[1]);
    /* overrides and refusals */
    CHECK(mm_pp_plan(eq, 8, 0, 0, 3, "1,5,2", first) == 0 && first[1] == 1 && first[2] == 6 && first[3] == 8, "split");
    CHECK(mm_pp_plan(eq, 8, 0, 0, 3, "1,5,1", first) < 0 && strstr(mm_last_error(), "summing to 7"), "%s", mm_last_error());
    CHECK(mm_pp_plan(eq, 8, 0, 0, 2, "1,5,2", first) < 0 && strstr(mm_last_error(), "more counts"), "%s", mm_last_error());
    CHECK(mm_pp_plan(eq, 8, 0, 0, 2, "4,x", first) < 0 && strstr(mm_last_error(), "layer counts"), "%s", mm_last_error());
    CHECK(mm_pp_plan(eq, 8, 0, 0, 2, "0,8", first) < 0, "a rank with no layers");
    CHECK(mm_pp_plan(eq, 8, 0, 0, 9, NULL, first) < 0 && strstr(mm_last_error(), "at least one layer"), "%s", mm_last_error());
}

/* ---------------------------------------------------------------- under mpirun */
typedef struct {
    mm_context *c;
    float *lg;
} side;

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* One batch on both sides; returns the rows written (equal on both, else -1) and compares them bit for bit. */
static int both(side *p, side *r, const mm_batch *b, int V, const char *what) {
    int np = mm_decode(p->c, b, p->lg), nr = mm_decode(r->c, b, r->lg);
    CHECK(np == nr && np > 0, "%s: rows %d vs %d (%s)", what, np, nr, mm_last_error());
    if (np != nr || np <= 0) return -1;
    CHECK(same(p->lg, r->lg, (size_t)np * V), "%s: logits differ from one process (max |d| %g)", what,
          mmt_maxdiff(p->lg, r->lg, (size_t)np * V));
    return np;
}

/* Reads a whole file (NULL if missing); *n its size. */
static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    char *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) fwrite(b, 1, n, f), fclose(f);
}

static void state_files(side *p, side *r, const char *model, int32_t *tok, int32_t *seq, int V) {
    char fp[512], fr[512], bad[512];
    snprintf(fp, sizeof fp, "%s/pipe.state", mmt_tmpdir());
    snprintf(fr, sizeof fr, "%s/one.state", mmt_tmpdir());
    snprintf(bad, sizeof bad, "%s/bad.state", mmt_tmpdir());
    /* sequence 1 grows past two KV pages of the pipeline's 64 positions (one process has the default 256), so its
     * blocks leave and reach the ranks' pages in several spans; the files must not differ */
    int32_t lt[150], ls[150];
    for (int i = 0; i < 150; i++) lt[i] = (int32_t)((i * 13 + 5) % V), ls[i] = 1;
    mm_batch lb = {.n_tokens = 150, .token = lt, .seq = ls};
    both(p, r, &lb, V, "a long run of sequence 1");
    mm_seq_state *sp = mm_seq_snapshot(p->c, 1), *sr = mm_seq_snapshot(r->c, 1);
    CHECK(sp && sr && mm_seq_state_save(sp, fp) == 0 && mm_seq_state_save(sr, fr) == 0, "save: %s", mm_last_error());
    mm_seq_state_free(sp);
    mm_seq_state_free(sr);
    size_t np = 0, nr = 0;
    char *bp = slurp(fp, &np), *br = slurp(fr, &nr);
    CHECK(bp && br && np == nr && np > 44 && !memcmp(bp, br, np), "the pipeline's state file (%zu bytes) differs from "
          "one process's (%zu bytes)", np, nr);
    /* the one-process file into the pipeline and the pipeline's into one process, restored as sequence 0 */
    mm_seq_state *lp = mm_seq_state_load(p->c, fr), *lr = mm_seq_state_load(r->c, fp);
    CHECK(lp && lr && mm_seq_state_len(lp) == mm_seq_len(r->c, 1), "load: %s", mm_last_error());
    CHECK(lp && lr && mm_seq_restore(p->c, 0, lp) == 0 && mm_seq_restore(r->c, 0, lr) == 0, "restore: %s", mm_last_error());
    mm_seq_state_free(lp);
    mm_seq_state_free(lr);
    for (int s = 0; s < 4; s++) tok[s] = (int32_t)(5 * s + 2), seq[s] = s;
    mm_batch db = {.n_tokens = 4, .token = tok, .seq = seq};
    both(p, r, &db, V, "after loading state files");
    /* a damaged file: a clear error on rank 0, the other ranks freed their parts and stay in step */
    const size_t cut[2] = {np / 2, 50};
    for (int k = 0; k < 2 && bp; k++) {
        spit(bad, bp, cut[k]);
        lp = mm_seq_state_load(p->c, bad);
        CHECK(!lp && strstr(mm_last_error(), "truncated"), "a file cut at %zu of %zu bytes: %s", cut[k], np,
              lp ? "loaded" : mm_last_error());
        mm_seq_state_free(lp);
    }
    if (bp) {
        bp = realloc(bp, np + 1);
        bp[np] = 7;
        spit(bad, bp, np + 1);
        lp = mm_seq_state_load(p->c, bad);
        CHECK(!lp && strstr(mm_last_error(), "trailing"), "trailing bytes: %s", lp ? "loaded" : mm_last_error());
        mm_seq_state_free(lp);
    }
    both(p, r, &db, V, "after refused state files");
    free(bp);
    free(br);
    /* a stage's part alone (a stage loaded without the job) is no whole-model file */
    mm_model *stage = mm_model_load(model, &(mm_model_params){.layer_begin = 0, .layer_end = 1});
    mm_context *sc = stage ? mm_context_new(stage, &(mm_context_params){.n_ctx = 8}) : NULL;
    mm_seq_state *ss = sc ? mm_seq_snapshot(sc, 0) : NULL;
    CHECK(ss && mm_seq_state_save(ss, bad) < 0 && strstr(mm_last_error(), "pipeline stage"), "a stage's state: %s",
          mm_last_error());
    mm_seq_state_free(ss);
    mm_context_free(sc);
    mm_model_free(stage);
}

/* A chunk cut into micro-batches (n_micro 2: pieces of 64 or more tokens, at a sequence boundary within 16 rows of
 * the even cut, else inside a prompt): one batch of 220 tokens, sequence 0's 96 then sequence 1's 124, is cut at 96
 * (the boundary, 14 rows before the even cut at 110), and sequence 1's 130-token prompt alone at 65. One process
 * given the same pieces as separate calls must give the same bits; the pipeline runs one more forward chunk per cut.
 * Expert parallelism cuts nothing (every rank works on every token): one call there. */
static void micro_batches(mm_model *m, mm_model *ref, int ep, int V) {
    side p = {mm_context_new(m, &(mm_context_params){.n_ctx = 512, .n_seq_max = 2, .n_ubatch = 256, .n_micro = 2}),
              malloc(sizeof(float) * 220 * (size_t)V)};
    side r = {mm_context_new(ref, &(mm_context_params){.n_ctx = 512, .n_seq_max = 2, .n_ubatch = 256}), malloc(sizeof(float) * 220 * (size_t)V)};
    int32_t tok[220], seq[220];
    int8_t all[220];   /* the logits of every row (by default a call's last row of each sequence) */
    for (int i = 0; i < 220; i++) tok[i] = (int32_t)((i * 29 + 5) % V), seq[i] = i < 96 ? 0 : 1, all[i] = 1;
    const int cuts[2][3] = {{0, 96, 220}, {0, 65, 130}};
    for (int k = 0; k < 2; k++) {
        const int n = cuts[k][2];
        if (k == 1)
            for (int i = 0; i < n; i++) seq[i] = 0, tok[i] = (int32_t)((i * 13 + 2) % V);
        mm_timings t0, t1;
        mm_context_timings(p.c, &t0);
        const int np = mm_decode(p.c, &(mm_batch){.n_tokens = n, .token = tok, .seq = seq, .logits = all}, p.lg);
        mm_context_timings(p.c, &t1);
        int nr = 0;
        for (int j = 0; j < (ep ? 1 : 2); j++) {
            const int a = cuts[k][j], e = ep ? n : cuts[k][j + 1];
            const int got = mm_decode(r.c, &(mm_batch){.n_tokens = e - a, .token = tok + a, .seq = seq + a, .logits = all + a},
                                      r.lg + (size_t)nr * V);
            nr += got > 0 ? got : 0;
        }
        CHECK(np == nr && np > 0, "micro-batches %d: rows %d vs %d (%s)", k, np, nr, mm_last_error());
        CHECK(np == nr && np > 0 && same(p.lg, r.lg, (size_t)np * V), "micro-batches %d: logits differ from one process given the same "
              "pieces (max |d| %g)", k, np == nr && np > 0 ? mmt_maxdiff(p.lg, r.lg, (size_t)np * V) : -1.0);
        CHECK(t1.forwards - t0.forwards == (ep ? 1 : 2), "micro-batches %d: %lld forward chunks", k, (long long)(t1.forwards - t0.forwards));
        if (k == 0) {   /* then sequence 0 is reset for the single prompt */
            mm_seq_reset(p.c, 0), mm_seq_reset(r.c, 0);
        }
    }
    mm_context_free(p.c);
    mm_context_free(r.c);
    free(p.lg);
    free(r.lg);
}

static int child(const char *path, const char *split) {
    mm_set_threads(1);
    mm_dist *d = mm_dist_open(NULL, NULL);
    if (!d) {
        fprintf(stderr, "%s\n", mm_last_error());
        return 2;
    }
    const int ep = split && !strcmp(split, "ep");
    mm_model *m = mm_pp_load(d, path, NULL, ep ? NULL : split, ep);
    if (!m) {
        if (d->rank == 0) fprintf(stderr, "pipeline load: %s\n", mm_last_error());
        d->ops->close(d);
        return 2;
    }
    if (d->rank != 0) {
        int rc = mm_pp_worker(m, NULL);
        if (rc < 0) mm_dist_fail(d, "worker");
        mm_model_free(m);
        d->ops->close(d);
        return 0;
    }
    mm_model *ref = mm_model_load(path, NULL);
    CHECK(ref != NULL, "%s", mm_last_error());
    const int V = mm_model_config(m)->vocab_size, S = 4;
    mm_context_params cp = {.n_ctx = 256, .n_seq_max = S, .n_ubatch = 5}, cpp = cp;
    cpp.kv_page = 64; /* the pipeline's pages are smaller than one process's: no result or file may depend on it */
    side p = {mm_context_new(m, &cpp), malloc(sizeof(float) * 64 * (size_t)V)};
    side r = {mm_context_new(ref, &cp), malloc(sizeof(float) * 64 * (size_t)V)};

    /* prefill: 4 sequences of 3, 7, 2, 6 tokens in one batch of 18 (chunks of 5), logits of every row */
    const int lens[4] = {3, 7, 2, 6};
    int32_t tok[32], seq[32], next[4];
    int8_t want[32];
    int n = 0;
    for (int s = 0; s < S; s++)
        for (int i = 0; i < lens[s]; i++, n++) tok[n] = (int32_t)((s * 37 + i * 11 + 1) % V), seq[n] = s, want[n] = 1;
    mm_batch b = {.n_tokens = n, .token = tok, .seq = seq, .logits = want};
    both(&p, &r, &b, V, "prefill of 4 sequences");
    for (int s = 0, row = 0; s < S; row += lens[s], s++) next[s] = mmt_argmax(r.lg + (size_t)(row + lens[s] - 1) * V, V);

    /* batched decode: the 4 sequences one token each, 5 steps (greedy), snapshot of seq 1 after step 2 */
    mm_seq_state *snap_p = NULL, *snap_r = NULL;
    for (int step = 0; step < 5; step++) {
        for (int s = 0; s < S; s++) tok[s] = next[s], seq[s] = s;
        mm_batch db = {.n_tokens = S, .token = tok, .seq = seq};
        if (both(&p, &r, &db, V, "batched decode step") != S) break;
        for (int s = 0; s < S; s++) next[s] = mmt_argmax(r.lg + (size_t)s * V, V);
        if (step == 2) {
            snap_p = mm_seq_snapshot(p.c, 1);
            snap_r = mm_seq_snapshot(r.c, 1);
            CHECK(snap_p && snap_r, "snapshot: %s", mm_last_error());
        }
    }
    /* restore seq 1's snapshot into seq 2, copy seq 0 to seq 3, reset seq 0: then one step of all four */
    CHECK(mm_seq_restore(p.c, 2, snap_p) == 0 && mm_seq_restore(r.c, 2, snap_r) == 0, "restore: %s", mm_last_error());
    CHECK(mm_seq_copy(p.c, 3, 0) == 0 && mm_seq_copy(r.c, 3, 0) == 0, "copy: %s", mm_last_error());
    mm_seq_reset(p.c, 0);
    mm_seq_reset(r.c, 0);
    CHECK(mm_seq_len(p.c, 2) == mm_seq_len(r.c, 2) && mm_seq_len(p.c, 0) == 0, "lengths");
    for (int s = 0; s < S; s++) tok[s] = (int32_t)(7 * s + 3), seq[s] = s;
    mm_batch db = {.n_tokens = S, .token = tok, .seq = seq};
    both(&p, &r, &db, V, "after restore/copy/reset");
    mm_seq_state_free(snap_p);
    mm_seq_state_free(snap_r);
    /* state files: rank 0 gathers the other ranks' layers into the file one process writes (byte for byte), and a
     * file loads on either side (rank 0 scatters it to the ranks) and continues bit-identically */
    state_files(&p, &r, path, tok, seq, V);
    micro_batches(m, ref, ep, V);
    /* a second context at once keeps its own id on every rank */
    side q = {mm_context_new(m, &(mm_context_params){.n_ctx = 16, .n_ubatch = 2}), p.lg};
    side rq = {mm_context_new(ref, &(mm_context_params){.n_ctx = 16, .n_ubatch = 2}), r.lg};
    int32_t zero[3] = {0, 0, 0};
    mm_batch one = {.n_tokens = 3, .token = tok, .seq = zero};
    both(&q, &rq, &one, V, "second context");
    mm_context_free(q.c);
    mm_context_free(rq.c);
    /* final hidden states (embeddings, task heads) stay on the last rank: refused before anything runs */
    {
        const int len0 = mm_seq_len(p.c, 0);
        int8_t hw[3] = {1, 1, 1};
        float *hid = malloc(sizeof(float) * 3 * (size_t)mm_model_config(m)->hidden_size);
        mm_batch hb = {.n_tokens = 3, .token = tok, .seq = zero, .hidden = hw};
        CHECK(mm_decode_ex(p.c, &hb, NULL, hid) < 0 && strstr(mm_last_error(), "ranks") && mm_seq_len(p.c, 0) == len0,
              "hidden states across ranks: %s", mm_last_error());
        free(hid);
    }

    mm_context_free(p.c);
    mm_context_free(r.c);
    free(p.lg);
    free(r.lg);
    mm_model_free(ref);
    mm_model_free(m);
    mm_pp_finish(d);
    d->ops->close(d);
    return mmt_done();
}

/* The transport delivers while the sender computes: rank 0 queues 16 MiB for rank 1 and then makes no transport
 * call for 3 s (a stage busy with its next micro-batch); rank 1 must have it within 2 s. Over TCP a message that
 * large needs the sender's side of MPI to make progress (a rendezvous), which the transport's own progress thread
 * gives it. Then the other way, and an orderly close. */
static int child_idle(void) {
    mm_dist *d = mm_dist_open(NULL, NULL);
    if (!d) {
        fprintf(stderr, "%s\n", mm_last_error());
        return 2;
    }
    const size_t n = (size_t)16 << 20;
    char *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (char)(i * 7 + (size_t)d->rank);
    if (d->rank == 0) {
        CHECK(mm_dist_send(d, 1, 77, buf, n) == 0, "queue 16 MiB");
        const double t0 = mm_time();
        while (mm_time() - t0 < 3.0) { /* busy without transport calls */
            volatile double x = 0;
            for (int i = 0; i < 100000; i++) x += i;
        }
        CHECK(d->ops->recv(d, 1, 78, buf, 1, 10.0) == 0 && buf[0] == 'k', "rank 1 took it while rank 0 was busy: %s", mm_last_error());
    } else if (d->rank == 1) {
        char *got = malloc(n);
        const double t0 = mm_time();
        const int rc = d->ops->recv(d, 0, 77, got, n, 2.0);
        CHECK(rc == 0, "16 MiB from a busy rank 0 within 2 s (%.2f s): %s", mm_time() - t0, rc ? mm_last_error() : "");
        int ok = rc == 0;
        for (size_t i = 0; ok && i < n; i++) ok = got[i] == (char)(i * 7);
        CHECK(ok, "the 16 MiB arrived intact");
        CHECK(mm_dist_send(d, 0, 78, "k", 1) == 0 && d->ops->flush(d, 10.0) == 0, "ack");
        free(got);
    }
    free(buf);
    if (d->rank == 0) printf("MMT %d %d\n", mmt_passed, mmt_failed);
    else if (mmt_failed) fprintf(stderr, "rank %d: %d checks failed\n", d->rank, mmt_failed);
    const int failed = mmt_failed;
    d->ops->close(d);
    return failed ? 1 : 0;
}

/* Runs this binary under mpirun with np ranks on a golden case (golden NULL: the idle-sender transport test over TCP);
 * adds the child's MMT counts. */
static void under_mpirun(const char *self, int np, const char *golden, const char *split) {
    char model[4096], cmd[8192];
    snprintf(model, sizeof model, "%s/golden/%s", mmt_shared(), golden ? golden : "-");
    if (!golden) snprintf(cmd, sizeof cmd, "timeout 120 mpirun --oversubscribe --mca btl self,tcp -np %d %s --child-idle 2>&1", np, self);
    else snprintf(cmd, sizeof cmd, "timeout 120 mpirun --oversubscribe -np %d %s --child %s %s 2>&1", np, self, model,
                  split ? split : "-");
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL, "popen");
    if (!f) return;
    char line[1024];
    int p = -1, fl = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MMT %d %d", &p, &fl) == 2) continue;
        fputs(line, stderr);
    }
    int st = pclose(f);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && p > 0 && fl == 0, "mpirun -np %d on %s: exit %d, child MMT %d %d", np,
          golden ? golden : "the idle-sender test", WIFEXITED(st) ? WEXITSTATUS(st) : -1, p, fl);
    if (p > 0) mmt_passed += p;
    if (fl > 0) mmt_failed += fl;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--child")) return child(argv[2], strcmp(argv[3], "-") ? argv[3] : NULL);
    if (argc == 2 && !strcmp(argv[1], "--child-idle")) return child_idle();
    test_plan();
    CHECK(mm_dist_available(), "this build has no MPI transport (build with make MPI=1; scripts/deps.sh installs Open MPI)");
    CHECK(system("command -v mpirun >/dev/null") == 0, "mpirun is missing (openmpi-bin, scripts/deps.sh)");
    if (mm_dist_available()) {
        if (geteuid() == 0) { /* Open MPI refuses root unless told */
            setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
            setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        }
        setenv("MM_DIST_TIMEOUT", "60", 1);
        if (getenv("MM_SANITIZE")) { /* Open MPI's own leaks: tests/lsan-mpi.supp, matched on full stacks */
            char opt[1024];
            snprintf(opt, sizeof opt, "%s:fast_unwind_on_malloc=0", getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
            setenv("ASAN_OPTIONS", opt, 1);
            setenv("LSAN_OPTIONS", "suppressions=tests/lsan-mpi.supp", 1);
            setenv("OMPI_MCA_mca_base_component_disable_dlclose", "1", 1);
            setenv("PMIX_MCA_mca_base_component_disable_dlclose", "1", 1);
        }
        under_mpirun(argv[0], 2, "a_small_mixed", NULL);
        under_mpirun(argv[0], 3, "f_remote_dialect", "1,5,2");
        under_mpirun(argv[0], 2, "c_deepnorm_alpha_beta", "ep"); /* expert parallelism: 2 + 2 experts */
        under_mpirun(argv[0], 3, "a_small_mixed", "ep");         /* 1 + 1 + 2 experts */
        under_mpirun(argv[0], 2, NULL, NULL);                    /* the transport delivers from a busy sender */
    }
    return mmt_done();
}
