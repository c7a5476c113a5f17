/* mm_preprocess.h — MiniMax-VL-01's "anyres" image preprocessing (../shared/golden-vl/README.md §1–§2):
 * best grid resolution, keep-ratio resize onto a black canvas, 336×336 tiles, the thumbnail, normalisation, and
 * the number of image tokens with the unpadded feature grid behind it. */
#ifndef MM_PREPROCESS_H
#define MM_PREPROCESS_H
#include "vision/mm_image.h"

#define MM_VL_MAX_PINPOINTS 64

/* The processor's settings: from preprocessor_config.json / config.json, or the released defaults. */
typedef struct mm_image_settings {
    int image_size;                         /* S: tile and thumbnail side (336) */
    int patch_size;                         /* ViT patch side (14); S / patch_size features per tile side */
    int n_pinpoints;
    int pinpoints[MM_VL_MAX_PINPOINTS][2];  /* candidate canvases, (width, height) as the processor reads them */
    float mean[3], std[3];                  /* per-channel normalisation (float32, as torchvision uses them) */
} mm_image_settings;

/* The released settings: 336, patch 14, the 28 pinpoints of MiniMax-VL-01, CLIP's mean and std. */
void mm_image_settings_default(mm_image_settings *s);
/* 0 if the settings can be run (sizes positive, S a multiple of the patch, every pinpoint a positive multiple
 * of S, at least one pinpoint); else -1 + error naming what is wrong. */
int mm_image_settings_check(const mm_image_settings *s);

/* The geometry of one w×h image (mm_image_plan in minimax.h). -1 + error if the keep-ratio resize would give an
 * empty side (an image too elongated for the grid; the reference processor fails on it too). */
int mm_image_plan_make(const mm_image_settings *s, int w, int h, mm_image_plan *p);

/* Runs the preprocessing of im under s: plan, u8 patches [n_patches][S][S][3] (thumbnail first, then the tiles
 * row-major: the reference's *.patches.png) and pixel_values [n_patches][3][S][S] (f32(u8)/255 − mean) / std in
 * float32. Either output may be NULL. Returns 0 or -1 + error (out of memory, unplannable size). */
int mm_image_preprocess_run(const mm_image_settings *s, const mm_image *im, mm_image_plan *p, uint8_t **u8,
                            float **pixels);
#endif
