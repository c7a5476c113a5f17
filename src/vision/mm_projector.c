/* mm_projector.c — the multi-modal projector (linear_1 → erf GELU → linear_2, with biases) and MiniMax-VL-01's
 * anyres packing with image_newline (modeling_minimax_vl_01.py; golden-vl README §4). */
#include <stdlib.h>
#include "kernels/mm_kernels.h"
#include "kernels/mm_ops.h"
#include "vision/mm_vision.h"

int mm_vision_project(const mm_vision *v, const float *x, int64_t rows, float *out) {
    const int D = v->cfg.hidden, H = v->cfg.text_hidden;
    const int64_t chunk = 2304;   /* rows per pass: 4 patches; the hidden activations stay [2304, H] */
    float *hid = malloc(sizeof(float) * (size_t)(rows < chunk ? rows : chunk) * (size_t)H);
    if (!hid) {
        mm_set_error("projector: out of memory for [%lld, %d] activations", (long long)(rows < chunk ? rows : chunk), H);
        return -1;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int n = (int)(rows - r0 < chunk ? rows - r0 : chunk);
        double t0 = mm_time();
        mm_matmul(hid, x + (size_t)r0 * D, &v->proj1, n);
        mm_add_rows(hid, v->proj1_b, n, H);
        double t1 = mm_time();
        mm_gelu_erf(hid, (int64_t)n * H);
        double t2 = mm_time();
        mm_matmul(out + (size_t)r0 * H, hid, &v->proj2, n);
        mm_add_rows(out + (size_t)r0 * H, v->proj2_b, n, H);
        v->times->matmul += (t1 - t0) + (mm_time() - t2);
        v->times->other += t2 - t1;
    }
    free(hid);
    return 0;
}

int mm_vision_encode_patches(const mm_vision *v, const float *pixels, int p0, int np, float *proj) {
    const mm_vision_config *c = &v->cfg;
    const size_t G = (size_t)mm_vision_patch_tokens(c), px = 3 * (size_t)c->img.image_size * c->img.image_size;
    const int step = 4;
    float *sel = malloc(sizeof(float) * G * (size_t)(np < step ? np : step) * (size_t)c->hidden);
    if (!sel) {
        mm_set_error("vision tower: out of memory for the features of %d patches", np < step ? np : step);
        return -1;
    }
    int rc = 0;
    for (int k = 0; k < np && !rc; k += step) {
        int n = np - k < step ? np - k : step;
        rc = mm_vision_tower(v, pixels + (size_t)(p0 + k) * px, n, sel);
        if (!rc) rc = mm_vision_project(v, sel, (int64_t)n * (int64_t)G, proj + (size_t)(p0 + k) * G * c->text_hidden);
    }
    free(sel);
    return rc;
}

void mm_vision_pack_rows(const mm_vision *v, const mm_image_plan *p, const float *proj, const float **rows) {
    const int H = v->cfg.text_hidden, side = v->cfg.img.image_size / v->cfg.img.patch_size, G = side * side;
    int k = 0;
    for (int i = 0; i < G; i++) rows[k++] = proj + (size_t)i * H;   /* the thumbnail, no newline */
    /* the tiles as one (grid_rows·side) × (grid_cols·side) map, cropped, each row closed by image_newline */
    const int nrows = p->feat_rows, ncols = p->feat_cols, pad = p->feat_pad;
    const int by_rows = nrows < p->grid_rows * side;   /* the crop removes rows (else columns) */
    for (int y = 0; y < nrows; y++) {
        const int fy = by_rows ? y + pad : y;
        for (int x = 0; x < ncols; x++) {
            const int fx = by_rows ? x : x + pad;
            const int tile = (fy / side) * p->grid_cols + fx / side, in = (fy % side) * side + fx % side;
            rows[k++] = proj + ((size_t)(1 + tile) * G + (size_t)in) * H;
        }
        rows[k++] = v->newline;
    }
}

void mm_vision_pack(const mm_vision *v, const mm_image_plan *p, const float *proj, float *out) {
    const float **rows = mm_xmalloc(sizeof(float *) * (size_t)p->n_tokens);
    mm_vision_pack_rows(v, p, proj, rows);
    const size_t H = (size_t)v->cfg.text_hidden;
    for (int i = 0; i < p->n_tokens; i++) memcpy(out + (size_t)i * H, rows[i], sizeof(float) * H);
    free(rows);
}
