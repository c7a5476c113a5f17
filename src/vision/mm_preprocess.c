/* mm_preprocess.c — the anyres preprocessing of MiniMax-VL-01's image_processor.py and the token count of
 * processing_minimax_vl_01.py (get_num_token), as ../shared/golden-vl/README.md §1–§2 states them. Every
 * comparison and truncation is the original Python's, in IEEE double: int(w * (W / w)) is W - 1 for some sizes,
 * and exact integer arithmetic would pick another canvas for them. */
#include <stdlib.h>
#include <string.h>
#include "vision/mm_preprocess.h"
#include "vision/mm_resample.h"

void mm_image_settings_default(mm_image_settings *s) {
    memset(s, 0, sizeof *s);
    s->image_size = 336;
    s->patch_size = 14;
    static const int sides[6] = {336, 672, 1008, 1344, 1680, 2016};
    /* the 28 released pinpoints: 336 and 672 with every height up to 2016, 1008 likewise, 1344 up to 1344,
     * 1680 and 2016 up to 1008, in this order */
    static const int max_h[6] = {2016, 2016, 2016, 1344, 1008, 1008};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6 && sides[j] <= max_h[i]; j++) {
            s->pinpoints[s->n_pinpoints][0] = sides[i];
            s->pinpoints[s->n_pinpoints][1] = sides[j];
            s->n_pinpoints++;
        }
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memcpy(s->mean, mean, sizeof mean);
    memcpy(s->std, std, sizeof std);
}

int mm_image_settings_check(const mm_image_settings *s) {
    if (s->image_size < 1 || s->image_size > 4096 || s->patch_size < 1 || s->image_size % s->patch_size) {
        mm_set_error("image size %d and patch size %d: the image size must be a positive multiple of the patch size",
                     s->image_size, s->patch_size);
        return -1;
    }
    if (s->n_pinpoints < 1) {
        mm_set_error("image_grid_pinpoints is empty");
        return -1;
    }
    for (int i = 0; i < s->n_pinpoints; i++) {
        int w = s->pinpoints[i][0], h = s->pinpoints[i][1];
        if (w < s->image_size || h < s->image_size || w % s->image_size || h % s->image_size || w > 16 * 4096 || h > 16 * 4096) {
            mm_set_error("image_grid_pinpoints[%d] = [%d, %d]: each side must be a positive multiple of the image size %d "
                         "(the canvas is cut into whole tiles)", i, w, h, s->image_size);
            return -1;
        }
    }
    for (int c = 0; c < 3; c++)
        if (!(s->std[c] != 0.0f) || s->std[c] != s->std[c] || s->mean[c] != s->mean[c]) {
            mm_set_error("image_std[%d] = %g / image_mean[%d] = %g: the std must be non-zero and both finite", c, s->std[c], c,
                         s->mean[c]);
            return -1;
        }
    return 0;
}

int mm_image_plan_make(const mm_image_settings *s, int w, int h, mm_image_plan *p) {
    memset(p, 0, sizeof *p);
    p->width = w;
    p->height = h;
    if (w < 1 || h < 1) {
        mm_set_error("image of %dx%d: an image needs at least one pixel", w, h);
        return -1;
    }
    /* select_best_resolution: pinpoints as (width, height), list order, doubles and truncation as in Python */
    int64_t best_eff = 0, best_waste = INT64_MAX;
    int bw = 0, bh = 0;
    for (int i = 0; i < s->n_pinpoints; i++) {
        const int W = s->pinpoints[i][0], H = s->pinpoints[i][1];
        double sw = (double)W / w, sh = (double)H / h, scale = sw < sh ? sw : sh;
        int64_t dw = (int64_t)(w * scale), dh = (int64_t)(h * scale);
        int64_t eff = dw * dh < (int64_t)w * h ? dw * dh : (int64_t)w * h, waste = (int64_t)W * H - eff;
        if (eff > best_eff || (eff == best_eff && waste < best_waste)) {
            best_eff = eff, best_waste = waste;
            bw = W, bh = H;
        }
    }
    if (!bw) {   /* every candidate gave an effective resolution of 0: the first one, as Python's None would fail */
        mm_set_error("image of %dx%d: no grid pinpoint gives it a non-empty resize", w, h);
        return -1;
    }
    const int S = s->image_size;
    p->best_width = bw;
    p->best_height = bh;
    p->grid_rows = bh / S;
    p->grid_cols = bw / S;
    p->n_tiles = p->grid_rows * p->grid_cols;
    p->n_patches = 1 + p->n_tiles;
    /* keep-ratio resize onto the canvas (image_processor.py) */
    if ((double)w / h > (double)bw / bh) {
        p->resized_width = bw;
        p->resized_height = (int)((double)((int64_t)bw * h) / w);
    } else {
        p->resized_width = (int)((double)((int64_t)bh * w) / h);
        p->resized_height = bh;
    }
    p->offset_x = (bw - p->resized_width) / 2;
    p->offset_y = (bh - p->resized_height) / 2;
    /* get_num_token: the crop on the feature grid, floor division */
    const int64_t Wg = bw / s->patch_size, Hg = bh / s->patch_size;
    if ((double)w / h > (double)Wg / Hg) {
        int64_t nh = (int64_t)h * Wg / w, pad = (Hg - nh) / 2;
        p->feat_pad = (int)pad;
        p->feat_rows = (int)(Hg - 2 * pad);
        p->feat_cols = (int)Wg;
    } else {
        int64_t nw = (int64_t)w * Hg / h, pad = (Wg - nw) / 2;
        p->feat_pad = (int)pad;
        p->feat_cols = (int)(Wg - 2 * pad);
        p->feat_rows = (int)Hg;
    }
    const int side = S / s->patch_size;
    p->n_tokens = side * side + p->feat_rows * (p->feat_cols + 1);
    if (p->resized_width < 1 || p->resized_height < 1) {
        mm_set_error("image of %dx%d is too elongated: its keep-ratio resize onto the %dx%d canvas would be %dx%d pixels "
                     "(the reference processor fails on it too)", w, h, bw, bh, p->resized_width, p->resized_height);
        return -1;
    }
    return 0;
}

/* Rows of a resized image converted to RGB and pasted at (ox, oy) on an RGB canvas of cw pixels per row. */
static void paste_rgb(const mm_image *im, uint8_t *canvas, int cw, int ox, int oy) {
    for (int y = 0; y < im->h; y++) mm_image_row_rgb(im, y, canvas + ((size_t)(oy + y) * cw + ox) * 3);
}

int mm_image_preprocess_run(const mm_image_settings *s, const mm_image *im, mm_image_plan *p, uint8_t **u8, float **pixels) {
    if (u8) *u8 = NULL;
    if (pixels) *pixels = NULL;
    if (mm_image_plan_make(s, im->w, im->h, p) < 0) return -1;
    const int S = s->image_size, NP = p->n_patches, bw = p->best_width, bh = p->best_height;
    const size_t tile = (size_t)S * S * 3;
    uint8_t *patches = malloc(tile * (size_t)NP), *canvas = calloc((size_t)bw * bh, 3);   /* black canvas */
    if (!patches || !canvas) {
        free(patches);
        free(canvas);
        mm_set_error("image preprocessing: out of memory for %d patches of %dx%d", NP, S, S);
        return -1;
    }
    /* thumbnail: the original resized to S×S (ratio not kept), in its mode, then RGB */
    mm_image *t = mm_image_resize(im, S, S);
    mm_image *r = t ? mm_image_resize(im, p->resized_width, p->resized_height) : NULL;
    if (!r) {
        mm_image_free(t);
        free(patches);
        free(canvas);
        return -1;
    }
    paste_rgb(t, patches, S, 0, 0);
    paste_rgb(r, canvas, bw, p->offset_x, p->offset_y);
    mm_image_free(t);
    mm_image_free(r);
    for (int gr = 0; gr < p->grid_rows; gr++)
        for (int gc = 0; gc < p->grid_cols; gc++) {
            uint8_t *dst = patches + tile * (size_t)(1 + gr * p->grid_cols + gc);
            for (int y = 0; y < S; y++)
                memcpy(dst + (size_t)y * S * 3, canvas + ((size_t)(gr * S + y) * bw + (size_t)gc * S) * 3, (size_t)S * 3);
        }
    free(canvas);
    if (pixels) {
        float *pv = malloc(sizeof(float) * tile * (size_t)NP);
        if (!pv) {
            free(patches);
            mm_set_error("image preprocessing: out of memory for pixel_values [%d, 3, %d, %d]", NP, S, S);
            return -1;
        }
        /* ToTensor then Normalize: every step a float32 operation in this order */
        for (int k = 0; k < NP; k++)
            for (int c = 0; c < 3; c++) {
                const uint8_t *src = patches + tile * (size_t)k + c;
                float *dst = pv + tile * (size_t)k + (size_t)c * S * S;
                const float mean = s->mean[c], std = s->std[c];
                for (size_t i = 0; i < (size_t)S * S; i++) {
                    float v = (float)src[3 * i] / 255.0f;
                    dst[i] = (v - mean) / std;
                }
            }
        *pixels = pv;
    }
    if (u8) *u8 = patches;
    else free(patches);
    return 0;
}
