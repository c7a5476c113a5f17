/* test_server_sched.c — failure isolation in the server's scheduler: a job that cannot run (a token id outside
 * the vocabulary, a prompt longer than the context) or whose sequence fails inside a batch ends alone with
 * an error; the jobs batched with it finish exactly as they would alone. Includes mm_sched.c to drive the
 * worker's steps by hand (no thread), so every case is deterministic. */
#include "../src/server/mm_sched.c"

#include "mm_test.h"

static mm_job *job(const int32_t *p, int n, int max_tokens) {
    int32_t *ids = mm_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    memcpy(ids, p, sizeof(int32_t) * (size_t)n);
    mm_job *j = mm_job_new(ids, n);
    j->max_tokens = max_tokens;
    j->sp.temperature = 0;   /* greedy: outputs comparable run to run */
    return j;
}

/* Steps until the scheduler has nothing left (bounded). */
static void run_all(mm_sched *s) {
    for (int i = 0; i < 10000 && mm_sched_pending(s); i++) {
        admit_queued(s);
        step(s);
    }
}

/* The tokens a prompt generates alone. */
static int solo(mm_sched *s, const int32_t *p, int n, int max_tokens, int32_t *out) {
    mm_job *j = job(p, n, max_tokens);
    mm_sched_submit(s, j);
    run_all(s);
    int k = j->n_gen;
    memcpy(out, j->gen, sizeof(int32_t) * (size_t)k);
    mm_job_release(j);
    return k;
}

/* Stop strings and generated text are bytes: a NUL in either is not an end. */
static void stops_with_nul(void) {
    mm_job *j = job((const int32_t[]){1}, 1, 8);
    mm_job_add_stop(j, "x\0y", 3);
    mm_job_add_stop(j, "STOP", 4);
    CHECK(!job_push(j, 1, "a\0b", 3) && j->text_len == 3, "text with a NUL is kept whole");
    CHECK(!job_push(j, 2, "cx", 2) && j->text_ready == 4, "'x' may start the NUL stop string: held back (%zu)", j->text_ready);
    CHECK(!job_push(j, 3, "\0z", 2) && j->text_ready == 7, "'x\\0z' is not 'x\\0y': released");
    CHECK(job_push(j, 4, "STOP!", 5) && j->text_len == 7 && !memcmp(j->text, "a\0bcx\0z", 7), "a stop string after a NUL is found");
    mm_job_release(j);
    j = job((const int32_t[]){1}, 1, 8);
    mm_job_add_stop(j, "x\0y", 3);
    CHECK(job_push(j, 1, "ab x\0y cd", 10) && j->text_len == 3, "a stop string holding a NUL cuts the text (%zu)", j->text_len);
    mm_job_release(j);
}

/* The image memory budget: reservations up to max, refused past it (nothing changes), given back when an image's
 * pixels are freed (also by a job that ends before its images were encoded). */
static void image_budget(void) {
    mm_image_budget b = {.max = 100};
    CHECK(mm_image_budget_reserve(&b, 60) && b.used == 60, "60 of 100 reserved");
    CHECK(!mm_image_budget_reserve(&b, 41) && b.used == 60, "41 more refused, nothing changed");
    CHECK(!mm_image_budget_reserve(&b, SIZE_MAX) && b.used == 60, "SIZE_MAX refused (no overflow)");
    CHECK(mm_image_budget_reserve(&b, 40) && b.used == 100, "exactly up to max");
    mm_job_image im = {.in_bytes = 40, .budget = &b};
    mm_job_image_free_pixels(&im);
    CHECK(b.used == 60 && im.in_bytes == 0, "freeing an image's pixels gives its bytes back");
    mm_job_image_free_pixels(&im);
    CHECK(b.used == 60, "freeing twice gives nothing back twice");
    mm_job *j = job((const int32_t[]){200025, 200025}, 2, 1);
    mm_job_image *ims = mm_xcalloc(1, sizeof *ims);
    ims[0] = (mm_job_image){.n_tok = 2, .in_bytes = 60, .budget = &b};
    CHECK(mm_job_set_images(j, ims, 1, 200025) == 0, "images bound to the job");
    mm_job_release(j);
    CHECK(b.used == 0, "a job released before encoding gives its images' bytes back (%zu)", (size_t)b.used);
}

int main(void) {
    stops_with_nul();
    image_budget();
    char dir[512];
    snprintf(dir, sizeof dir, "%s/golden/a_small_mixed", mmt_shared());
    mm_model *m = mm_model_load(dir, NULL);
    CHECK(m != NULL, "load %s: %s", dir, mm_last_error());
    if (!m) return mmt_done();
    mm_sched *s = sched_create(m, NULL, &(mm_sched_params){.parallel = 3, .n_ctx = 64, .queue_max = 8});
    const int32_t pa[] = {1, 2, 3}, pb[] = {4, 5, 6}, bad[] = {1, 600, 3};
    int32_t ga[16], gb[16];
    CHECK(solo(s, pa, 3, 12, ga) == 12 && solo(s, pb, 3, 12, gb) == 12, "solo runs");

    /* a bad id and an oversized prompt admitted in the same step as two good jobs */
    int32_t big[100];
    for (int i = 0; i < 100; i++) big[i] = i % 500;
    mm_job *a = job(pa, 3, 12), *b = job(pb, 3, 12), *c = job(bad, 3, 12), *d = job(big, 100, 4);
    mm_sched_submit(s, a), mm_sched_submit(s, b);
    admit_queued(s);
    step(s);   /* a prefills; b waits for the next step */
    step(s);
    mm_sched_submit(s, c);
    mm_sched_submit(s, d);
    run_all(s);
    CHECK(c->done && !strcmp(c->finish_reason, "error") && strstr(c->error, "600"), "the bad id fails: %s", c->error);
    CHECK(d->done && !strcmp(d->finish_reason, "error") && strstr(d->error, "100 tokens"), "the long prompt fails: %s", d->error);
    CHECK(a->done && !strcmp(a->finish_reason, "length") && a->n_gen == 12 && !memcmp(a->gen, ga, sizeof ga[0] * 12),
          "job a is untouched (%s, %d tokens)", a->finish_reason, a->n_gen);
    CHECK(b->done && !strcmp(b->finish_reason, "length") && b->n_gen == 12 && !memcmp(b->gen, gb, sizeof gb[0] * 12),
          "job b is untouched (%s, %d tokens)", b->finish_reason, b->n_gen);
    mm_job_release(a), mm_job_release(b), mm_job_release(c), mm_job_release(d);

    /* a sequence whose decode fails inside a batch: only it ends */
    a = job(pa, 3, 12), b = job(pb, 3, 12);
    mm_sched_submit(s, a), mm_sched_submit(s, b);
    for (int i = 0; i < 4; i++) admit_queued(s), step(s);   /* both generating */
    int sb = -1;
    for (int i = 0; i < s->p.parallel; i++)
        if (s->slots[i].job == b) sb = i;
    CHECK(sb >= 0 && s->slots[sb].state == SLOT_GEN && b->n_gen >= 1 && !b->done, "b is generating");
    if (sb >= 0) s->slots[sb].next = 600;   /* what a broken sampler or tokenizer would feed */
    run_all(s);
    CHECK(b->done && !strcmp(b->finish_reason, "error") && strstr(b->error, "600"), "the failing sequence ends alone: %s", b->error);
    CHECK(a->done && !strcmp(a->finish_reason, "length") && a->n_gen == 12 && !memcmp(a->gen, ga, sizeof ga[0] * 12),
          "the sequence batched with it finishes exactly as alone (%s, %d)", a->finish_reason, a->n_gen);
    mm_job_release(a), mm_job_release(b);
    mm_sched_stats st;
    mm_sched_get_stats(s, &st);
    CHECK(st.running == 0 && st.queued == 0, "nothing left running");

    sched_destroy(s);
    mm_model_free(m);
    return mmt_done();
}
