/* test_vl_golden.c — MiniMax-VL-01 end to end against ../shared/golden-vl (vl_a_single_image, vl_b_two_images):
 * per image the vision tower's selected features, the projector output and the packed features (within
 * 1e-5 × max |value|), the prompt logits of one full forward with the image features merged (≤ 1e-3), every
 * greedy decode step and id, the text-only prompt of vl_b, chunked prefill cut inside the image spans against the
 * whole prefill, and the errors for image tokens without features and count mismatches. */
#include <jansson.h>
#include "mm_test.h"
#include "mm_test_json.h"
#include "model/mm_model.h"
#include "vision/mm_vision.h"
#include "minimax.h"

static double maxabs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* |got - ref| ≤ 1e-5 · max |ref| over n values; prints the relative deviation. */
static void check_stage(const char *what, const float *got, const float *ref, size_t n) {
    double d = mmt_maxdiff(got, ref, n), mx = maxabs(ref, n);
    printf("  %-26s max|d| %.3g (rel %.3g of max %.3g)\n", what, d, d / mx, mx);
    CHECK(d <= 1e-5 * mx, "%s: max|d| %.3g > 1e-5 x %.3g", what, d, mx);
}

/* Feeds ids[0..n) (with embd) to seq 0 of c in pieces of the given sizes (cut = NULL: whole), logits of every
 * position into out [n, V] when want_all, else of the last into out [V]. Returns rows written. */
static int feed(mm_context *c, const int32_t *ids, const float **embd, int n, const int *cut, int want_all, float *out, int V) {
    int32_t *seq = calloc((size_t)n, sizeof(int32_t));
    int8_t *want = malloc((size_t)n);
    memset(want, want_all, (size_t)n);
    if (!want_all) want[n - 1] = 1;
    int rows = 0;
    for (int i = 0, k = 0; i < n; k++) {
        int len = cut && cut[k] ? cut[k] : n - i;
        if (len > n - i) len = n - i;
        mm_batch b = {.n_tokens = len, .token = ids + i, .seq = seq, .logits = want + i, .embd = embd ? embd + i : NULL};
        int r = mm_decode(c, &b, out + (size_t)rows * V);
        if (r < 0) {
            rows = -1;
            break;
        }
        rows += r;
        i += len;
    }
    free(seq);
    free(want);
    return rows;
}

static void run_case(const char *shared, const char *name) {
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/golden-vl/%s", shared, name);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_error_t jerr;
    json_t *man = json_load_file(path, 0, &jerr);
    CHECK(man != NULL, "%s: manifest: %s", name, jerr.text);
    if (!man) return;
    printf("%s\n", name);
    mm_model *m = mm_model_load(dir, NULL);
    CHECK(m != NULL, "%s: load: %s", name, mm_last_error());
    if (!m) {
        json_decref(man);
        return;
    }
    CHECK(mm_model_has_vision(m) && mm_model_config(m)->image_token_index == 200025, "%s: a VL model, image token 200025", name);
    const int V = mm_model_config(m)->vocab_size, H = mm_model_config(m)->hidden_size;
    const int Dv = m->vision->cfg.hidden, G = mm_image_patch_tokens(m);
    mm_context *c = mm_context_new(m, &(mm_context_params){.n_ctx = 4096});
    json_t *prompts = json_object_get(man, "prompts"), *gens = json_object_get(man, "generations");
    for (size_t p = 0; p < json_array_size(prompts); p++) {
        json_t *pr = json_array_get(prompts, p), *imgs = json_object_get(pr, "images");
        int n, ni = (int)json_array_size(imgs);
        int32_t *ids = mmt_ids(json_object_get(pr, "input_ids"), &n);
        float **feats = calloc((size_t)(ni + 1), sizeof(float *));
        int *ntok = calloc((size_t)(ni + 1), sizeof(int));
        for (int j = 0; j < ni; j++) {
            json_t *e = json_array_get(imgs, (size_t)j);
            snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(e, "source")));
            mm_image *im = mm_image_load(path, 0);
            CHECK(im != NULL, "%s: image %d: %s", name, j, mm_last_error());
            mm_image_input *in = im ? mm_image_preprocess(m, im) : NULL;
            CHECK(in != NULL, "%s: preprocess %d: %s", name, j, mm_last_error());
            mm_image_free(im);
            if (!in) continue;
            const mm_image_plan *pl = mm_image_input_plan(in);
            const int np = pl->n_patches;
            ntok[j] = pl->n_tokens;
            CHECK(np == json_integer_value(json_object_get(e, "n_patches")) &&
                      pl->n_tokens == json_integer_value(json_object_get(e, "num_image_tokens")),
                  "%s image %d: %d patches, %d tokens", name, j, np, pl->n_tokens);
            size_t nr;
            float *sel = malloc(sizeof(float) * (size_t)np * G * Dv), *proj = malloc(sizeof(float) * (size_t)np * G * H);
            feats[j] = malloc(sizeof(float) * (size_t)pl->n_tokens * H);
            CHECK(mm_vision_tower(m->vision, mm_image_input_pixels(in), np, sel) == 0, "tower: %s", mm_last_error());
            float *ref = mmt_read_bin(dir, json_object_get(e, "vision_selected_features"), &nr);
            CHECK(ref && nr == (size_t)np * G * Dv, "%s: selected features file", name);
            if (ref) check_stage("vision selected features", sel, ref, nr);
            free(ref);
            CHECK(mm_vision_project(m->vision, sel, (int64_t)np * G, proj) == 0, "project: %s", mm_last_error());
            ref = mmt_read_bin(dir, json_object_get(e, "projector_output"), &nr);
            CHECK(ref && nr == (size_t)np * G * H, "%s: projector file", name);
            if (ref) check_stage("projector output", proj, ref, nr);
            free(ref);
            CHECK(mm_image_pack(m, in, proj, feats[j]) == 0, "pack: %s", mm_last_error());
            ref = mmt_read_bin(dir, json_object_get(e, "packed_features"), &nr);
            CHECK(ref && nr == (size_t)pl->n_tokens * H, "%s: packed file", name);
            if (ref) check_stage("packed features", feats[j], ref, nr);
            /* the one-call encode gives the same packed features */
            float *enc = malloc(sizeof(float) * (size_t)pl->n_tokens * H);
            CHECK(mm_image_encode(m, in, enc) == 0 && !memcmp(enc, feats[j], sizeof(float) * (size_t)pl->n_tokens * H),
                  "%s: mm_image_encode differs from the staged encode", name);
            free(enc);
            free(ref);
            free(sel);
            free(proj);
            mm_image_input_free(in);
        }
        const float **embd = calloc((size_t)n, sizeof(float *));
        CHECK(mm_image_embd(m, ids, n, ni, (const float *const *)feats, ntok, embd) == 0, "%s: embd: %s", name, mm_last_error());
        size_t nref;
        float *ref = mmt_read_bin(dir, json_object_get(pr, "logits"), &nref), *out = malloc(sizeof(float) * (size_t)n * V);
        CHECK(ref && nref == (size_t)n * V, "%s: logits file", name);
        mm_seq_reset(c, 0);
        int r = feed(c, ids, embd, n, NULL, 1, out, V);
        CHECK(r == n, "%s prompt %zu: decode: %s", name, p, mm_last_error());
        if (ref && r == n) {
            double d = mmt_maxdiff(out, ref, (size_t)n * V);
            printf("  prompt %zu (%d tokens, %d images): max|dlogit| %.3g\n", p, n, ni, d);
            CHECK(d <= 1e-3, "%s prompt %zu: max|dlogit| %.3g > 1e-3", name, p, d);
        }
        /* greedy generations from this prompt: step 0 is the full prefill's last row, then one token at a time on
         * the state that prefill left */
        for (size_t g = 0; g < json_array_size(gens); g++) {
            json_t *gen = json_array_get(gens, g);
            if ((size_t)json_integer_value(json_object_get(gen, "prompt_index")) != p) continue;
            int ng;
            int32_t *gids = mmt_ids(json_object_get(gen, "generated_ids"), &ng);
            float *sref = mmt_read_bin(dir, json_object_get(gen, "step_logits"), &nref), *step = malloc(sizeof(float) * V);
            int ok = r == n && mm_seq_len(c, 0) == n, same = 1;
            double d = 0;
            if (ok) memcpy(step, out + (size_t)(n - 1) * V, sizeof(float) * V);
            for (int k = 0; ok && k < ng; k++) {
                if (k > 0) {
                    int32_t s0 = 0;
                    mm_batch b = {.n_tokens = 1, .token = &gids[k - 1], .seq = &s0};
                    ok = mm_decode(c, &b, step) == 1;
                }
                if (!ok) break;
                if (sref) d = fmax(d, mmt_maxdiff(step, sref + (size_t)k * V, (size_t)V));
                same &= mmt_argmax(step, V) == gids[k];
            }
            printf("  generation %zu: %d steps, max|dlogit| %.3g, greedy ids %s\n", g, ng, d, same ? "identical" : "DIFFER");
            CHECK(ok && same && sref && d <= 1e-3, "%s gen %zu: ok %d same %d max|d| %.3g", name, g, ok, same, d);
            free(gids);
            free(sref);
            free(step);
        }
        if (ni) {
            /* chunked prefill with cuts inside the image spans equals the whole prefill (last position) */
            static const int cuts[] = {7, 300, 1, 511, 1000, 64, 0};
            float *last = malloc(sizeof(float) * V);
            mm_seq_reset(c, 0);
            r = feed(c, ids, embd, n, cuts, 0, last, V);
            CHECK(r == 1, "%s: chunked prefill: %s", name, mm_last_error());
            if (r == 1) {
                double d = mmt_maxdiff(last, out + (size_t)(n - 1) * V, (size_t)V);
                printf("  chunked prefill across the image spans vs whole: max|dlogit| %.3g\n", d);
                CHECK(d <= 2e-4, "%s: chunked vs whole prefill %.3g", name, d);
            }
            /* an image token without its features is refused, and nothing advances */
            mm_seq_reset(c, 0);
            mm_batch b = {.n_tokens = n, .token = ids, .seq = calloc((size_t)n, sizeof(int32_t))};
            CHECK(mm_decode(c, &b, last) < 0 && strstr(mm_last_error(), "no image features") && mm_seq_len(c, 0) == 0,
                  "image tokens without features: %s", mm_last_error());
            free((void *)b.seq);
            int one = ntok[0] - 1;
            CHECK(mm_image_embd(m, ids, n, 1, (const float *const *)feats, &one, embd) < 0 && strstr(mm_last_error(), "must match"),
                  "count mismatch: %s", mm_last_error());
            int32_t *ex = NULL;
            CHECK(mm_image_expand(m, ids, n, 1, ntok, &ex) < 0 && strstr(mm_last_error(), "placeholder"),
                  "placeholder mismatch: %s", mm_last_error());
            free(ex);
            free(last);
        }
        for (int j = 0; j < ni; j++) free(feats[j]);
        free(feats);
        free(ntok);
        free(embd);
        free(ref);
        free(out);
        free(ids);
    }
    mm_context_free(c);
    mm_model_free(m);
    json_decref(man);
}

int main(void) {
    run_case(mmt_shared(), "vl_a_single_image");
    run_case(mmt_shared(), "vl_b_two_images");
    return mmt_done();
}
