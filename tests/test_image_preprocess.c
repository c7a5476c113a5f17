/* test_image_preprocess.c — MiniMax-VL-01 preprocessing against ../shared/golden-vl/preprocess: for all 10 images
 * (from the PNG files, from the decoded PNGs of the JPEGs, and from the JPEG files through libjpeg-turbo) the
 * 8-bit tiles equal *.patches.png byte for byte, pixel_values match the reference's sha256 (and, for img0 and
 * img6, the full float32 tensor bit for bit), and the plan matches (best resolution, grid, image_sizes, token
 * count, unpad crop); then all 1470 rows of selection_table.json. */
#include <jansson.h>
#include "mm_test.h"
#include "base/mm_sha256.h"
#include "vision/mm_image.h"
#include "vision/mm_preprocess.h"

static char dir[4096];

static void check_one(json_t *e, const char *file, const char *label) {
    const char *name = json_string_value(json_object_get(e, "name"));
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    mm_image *im = mm_image_load(path, 0);
    CHECK(im != NULL, "%s (%s): decode: %s", name, label, mm_last_error());
    if (!im) return;
    const char *want_mode = json_string_value(json_object_get(e, "pil_mode"));
    CHECK(!strcmp(mm_image_mode(im), want_mode), "%s (%s): mode %s, Pillow says %s", name, label, mm_image_mode(im), want_mode);
    mm_image_settings s;
    mm_image_settings_default(&s);
    mm_image_plan p;
    uint8_t *u8 = NULL;
    float *pv = NULL;
    int rc = mm_image_preprocess_run(&s, im, &p, &u8, &pv);
    CHECK(rc == 0, "%s (%s): preprocess: %s", name, label, mm_last_error());
    json_t *best = json_object_get(e, "best_resolution_wh"), *grid = json_object_get(e, "grid_rows_cols");
    json_t *unpad = json_object_get(e, "unpad"), *isz = json_object_get(e, "image_sizes_hw");
    CHECK(p.best_width == json_integer_value(json_array_get(best, 0)) && p.best_height == json_integer_value(json_array_get(best, 1)),
          "%s: best %dx%d", name, p.best_width, p.best_height);
    CHECK(p.grid_rows == json_integer_value(json_array_get(grid, 0)) && p.grid_cols == json_integer_value(json_array_get(grid, 1)),
          "%s: grid %dx%d", name, p.grid_rows, p.grid_cols);
    CHECK(p.height == json_integer_value(json_array_get(isz, 0)) && p.width == json_integer_value(json_array_get(isz, 1)),
          "%s: image_sizes", name);
    CHECK(p.n_patches == json_integer_value(json_object_get(e, "n_patches")), "%s: n_patches %d", name, p.n_patches);
    CHECK(p.n_tokens == json_integer_value(json_object_get(e, "num_image_tokens")), "%s: tokens %d", name, p.n_tokens);
    CHECK(p.feat_rows == json_integer_value(json_object_get(unpad, "rows")) &&
              p.feat_cols == json_integer_value(json_object_get(unpad, "cols")) &&
              p.feat_pad == json_integer_value(json_object_get(unpad, "pad")),
          "%s: unpad rows %d cols %d pad %d", name, p.feat_rows, p.feat_cols, p.feat_pad);
    if (rc == 0) {
        const size_t S = 336, tile = S * S * 3;
        snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(json_object_get(e, "patches_u8"), "file")));
        mm_image *ref = mm_image_load(path, 0);
        CHECK(ref && ref->mode == MM_IMG_RGB && ref->w == (int)S && ref->h == (int)(S * p.n_patches), "%s: patches.png", name);
        if (ref && ref->w == (int)S && ref->h == (int)(S * p.n_patches)) {
            int bad_patch = -1;
            size_t diffs = 0;
            for (size_t i = 0; i < tile * (size_t)p.n_patches; i++)
                if (ref->data[i] != u8[i]) {
                    if (bad_patch < 0) bad_patch = (int)(i / tile);
                    diffs++;
                }
            CHECK(diffs == 0, "%s (%s): %zu bytes of the 8-bit patches differ from the reference (first in patch %d)", name,
                  label, diffs, bad_patch);
        }
        mm_image_free(ref);
        uint8_t d[32];
        char hex[65];
        mm_sha256(pv, sizeof(float) * tile * (size_t)p.n_patches, d);
        mm_sha256_hex(d, hex);
        const char *want = json_string_value(json_object_get(json_object_get(e, "pixel_values"), "sha256"));
        CHECK(want && !strcmp(hex, want), "%s (%s): pixel_values sha256 %s, reference %s", name, label, hex, want ? want : "?");
        const char *bin = json_string_value(json_object_get(json_object_get(e, "pixel_values"), "file"));
        if (bin) {   /* the full tensor: equal bit for bit */
            snprintf(path, sizeof path, "%s/%s", dir, bin);
            FILE *f = fopen(path, "rb");
            size_t n = tile * (size_t)p.n_patches;
            float *refv = malloc(sizeof(float) * n);
            size_t got = f ? fread(refv, sizeof(float), n, f) : 0;
            if (f) fclose(f);
            CHECK(got == n && !memcmp(refv, pv, sizeof(float) * n), "%s: pixel_values.bin differs", name);
            free(refv);
        }
    }
    free(u8);
    free(pv);
    mm_image_free(im);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/golden-vl/preprocess", mmt_shared());
    char path[8192];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_error_t jerr;
    json_t *man = json_load_file(path, 0, &jerr);
    CHECK(man != NULL, "manifest: %s", jerr.text);
    if (!man) return mmt_done();
    json_t *images = json_object_get(man, "images");
    CHECK(json_array_size(images) == 10, "10 golden images");
    size_t i;
    json_t *e;
    json_array_foreach(images, i, e) {
        const char *file = json_string_value(json_object_get(e, "file"));
        const char *dec = json_string_value(json_object_get(e, "decoded_rgb_source"));
        check_one(e, file, "file");
        if (dec && strcmp(dec, file)) check_one(e, dec, "decoded png");
    }
    json_decref(man);

    /* every row of the selection table */
    snprintf(path, sizeof path, "%s/selection_table.json", dir);
    json_t *tab = json_load_file(path, 0, &jerr);
    json_t *rows = json_object_get(tab, "rows");
    CHECK(json_array_size(rows) == 1470, "selection table has %zu rows", json_array_size(rows));
    mm_image_settings s;
    mm_image_settings_default(&s);
    int bad = 0;
    json_array_foreach(rows, i, e) {
        int w = (int)json_integer_value(json_array_get(e, 0)), h = (int)json_integer_value(json_array_get(e, 1));
        mm_image_plan p;
        mm_image_plan_make(&s, w, h, &p);   /* -1 for sizes too elongated to resize; the numbers are still set */
        if (p.best_width != json_integer_value(json_array_get(e, 2)) || p.best_height != json_integer_value(json_array_get(e, 3)) ||
            p.n_tiles != json_integer_value(json_array_get(e, 4)) || p.n_tokens != json_integer_value(json_array_get(e, 5))) {
            if (bad++ < 5)
                fprintf(stderr, "selection %dx%d: best %dx%d tiles %d tokens %d, reference %lld %lld %lld %lld\n", w, h,
                        p.best_width, p.best_height, p.n_tiles, p.n_tokens, json_integer_value(json_array_get(e, 2)),
                        json_integer_value(json_array_get(e, 3)), json_integer_value(json_array_get(e, 4)),
                        json_integer_value(json_array_get(e, 5)));
        }
    }
    CHECK(bad == 0, "%d of %zu selection-table rows differ", bad, json_array_size(rows));
    json_decref(tab);
    return mmt_done();
}
