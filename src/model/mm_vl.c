/* mm_vl.c — the public image API of minimax.h over vision/ (MiniMax-VL-01): planning and preprocessing with the
 * model's processor settings, encoding (tower → projector → packing), and binding the features to the image-token
 * positions of a prompt (the merge: features replace the embeddings where input_ids == image_token_index, in
 * order; golden-vl README §4). */
#include <stdlib.h>
#include "model/mm_model.h"
#include "vision/mm_vision.h"

struct mm_image_input {
    mm_image_plan plan;
    int size;          /* S */
    uint8_t *rgb;      /* [n_patches, S, S, 3] */
    float *pixels;     /* [n_patches, 3, S, S] */
};

static const mm_image_settings *settings_of(const mm_model *m, mm_image_settings *def) {
    if (m && m->vision) return &m->vision->cfg.img;
    mm_image_settings_default(def);
    return def;
}

int mm_model_has_vision(const mm_model *m) { return m && m->vision != NULL; }

int mm_image_plan_for(const mm_model *m, int width, int height, mm_image_plan *out) {
    mm_image_settings def;
    return mm_image_plan_make(settings_of(m, &def), width, height, out);
}

mm_image_input *mm_image_preprocess(const mm_model *m, const mm_image *im) {
    mm_image_settings def;
    const mm_image_settings *s = settings_of(m, &def);
    mm_image_input *in = mm_xcalloc(1, sizeof *in);
    in->size = s->image_size;
    if (mm_image_preprocess_run(s, im, &in->plan, &in->rgb, &in->pixels) < 0) {
        free(in);
        return NULL;
    }
    return in;
}

void mm_image_input_free(mm_image_input *in) {
    if (!in) return;
    free(in->rgb);
    free(in->pixels);
    free(in);
}

const mm_image_plan *mm_image_input_plan(const mm_image_input *in) { return &in->plan; }
int mm_image_input_size(const mm_image_input *in) { return in->size; }
const float *mm_image_input_pixels(const mm_image_input *in) { return in->pixels; }
const uint8_t *mm_image_input_rgb(const mm_image_input *in) { return in->rgb; }

static int need_vision(const mm_model *m, const mm_image_input *in) {
    if (!m || !m->vision) {
        mm_set_error("this model has no vision tower (images need a MiniMax-VL-01 checkpoint, or a .gguf with --mmproj)");
        return -1;
    }
    if (in && in->size != m->vision->cfg.img.image_size) {
        mm_set_error("the image was preprocessed for %d-pixel patches, the model's tower takes %d", in->size,
                     m->vision->cfg.img.image_size);
        return -1;
    }
    return 0;
}

int mm_image_patch_tokens(const mm_model *m) { return m && m->vision ? mm_vision_patch_tokens(&m->vision->cfg) : 0; }

int mm_image_encode_patches(const mm_model *m, const mm_image_input *in, int p0, int np, float *proj) {
    if (need_vision(m, in) < 0) return -1;
    if (p0 < 0 || np < 0 || p0 + np > in->plan.n_patches) {
        mm_set_error("encode: patches [%d, %d) are outside the image's %d", p0, p0 + np, in->plan.n_patches);
        return -1;
    }
    return mm_vision_encode_patches(m->vision, in->pixels, p0, np, proj);
}

int mm_image_pack(const mm_model *m, const mm_image_input *in, const float *proj, float *out) {
    if (need_vision(m, in) < 0) return -1;
    mm_vision_pack(m->vision, &in->plan, proj, out);
    return 0;
}

int mm_image_pack_rows(const mm_model *m, const mm_image_input *in, const float *proj, const float **rows) {
    if (need_vision(m, in) < 0) return -1;
    mm_vision_pack_rows(m->vision, &in->plan, proj, rows);
    return 0;
}

int mm_image_encode(const mm_model *m, const mm_image_input *in, float *out) {
    if (need_vision(m, in) < 0) return -1;
    const size_t rows = (size_t)in->plan.n_patches * (size_t)mm_image_patch_tokens(m);
    float *proj = malloc(sizeof(float) * rows * (size_t)m->cfg.hidden_size);
    if (!proj) {
        mm_set_error("encode: out of memory for the projected features [%zu, %d]", rows, m->cfg.hidden_size);
        return -1;
    }
    int rc = mm_vision_encode_patches(m->vision, in->pixels, 0, in->plan.n_patches, proj);
    if (!rc) mm_vision_pack(m->vision, &in->plan, proj, out);
    free(proj);
    return rc;
}

int mm_image_expand(const mm_model *m, const int32_t *ids, int n, int n_images, const int *n_tok, int32_t **out) {
    *out = NULL;
    if (n_images > 0 && need_vision(m, NULL) < 0) return -1;
    const int32_t img = m->cfg.vision ? m->cfg.image_token_index : -1;
    int found = 0;
    int64_t total = n;
    for (int i = 0; i < n; i++)
        if (ids[i] == img) {
            if (found < n_images) total += n_tok[found] - 1;
            found++;
        }
    if (found != n_images) {
        mm_set_error("the prompt has %d image placeholder%s (<image>, token %d) but %d image%s given: each placeholder "
                     "takes one image, in order", found, found == 1 ? "" : "s", img, n_images, n_images == 1 ? " was" : "s were");
        return -1;
    }
    if (total > (1 << 30)) {
        mm_set_error("the expanded prompt would hold %lld tokens", (long long)total);
        return -1;
    }
    int32_t *o = mm_xmalloc(sizeof(int32_t) * (size_t)(total > 0 ? total : 1));
    int k = 0, j = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] != img) {
            o[k++] = ids[i];
            continue;
        }
        for (int r = 0; r < n_tok[j]; r++) o[k++] = img;
        j++;
    }
    *out = o;
    return k;
}

int mm_image_embd(const mm_model *m, const int32_t *ids, int n, int n_images, const float *const *feats, const int *n_tok,
                  const float **embd) {
    const int32_t img = m->cfg.vision ? m->cfg.image_token_index : -1;
    int64_t want = 0, have = 0;
    for (int j = 0; j < n_images; j++) want += n_tok[j];
    for (int i = 0; i < n; i++) have += ids[i] == img;
    if (have != want) {
        mm_set_error("the prompt has %lld image tokens but its %d image%s give %lld features: the counts must match "
                     "(expand each <image> placeholder to its image's token count)", (long long)have, n_images,
                     n_images == 1 ? "" : "s", (long long)want);
        return -1;
    }
    const int H = m->cfg.hidden_size;
    int j = 0, r = 0;
    for (int i = 0; i < n; i++) {
        embd[i] = NULL;
        if (ids[i] != img) continue;
        while (r == n_tok[j]) j++, r = 0;
        embd[i] = feats[j] + (size_t)r++ * H;
    }
    return 0;
}
