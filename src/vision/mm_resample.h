/* mm_resample.h — Pillow 9.4's Image.resize(size, Image.BICUBIC), bit for bit, on mm_image (libImaging/Resample.c
 * and the NEAREST scaling of libImaging/Geometry.c, as ../shared/golden-vl/README.md §1 describes):
 *   - the same size: a copy;
 *   - modes P and 1: NEAREST whatever was asked (source x = int(x0), x0 = a/2 + k·a accumulated in a double);
 *   - RGBA and LA: premultiplied (c' = MULDIV255(c, a)) before, un-premultiplied (min(255, 255·c'/a), copied when
 *     a is 0 or 255) after;
 *   - L, LA, RGB, RGBA, CMYK: separable bicubic (a = −0.5) with support widened by the downscale factor, weights
 *     normalised in double then rounded to 22-bit fixed point, each pass rounding to uint8; a pass whose size
 *     does not change is skipped, the horizontal pass first;
 *   - I: the same passes in double, each rounding half away from zero to int32. */
#ifndef MM_RESAMPLE_H
#define MM_RESAMPLE_H
#include "vision/mm_image.h"

/* im resized to w×h in its own mode (NULL + error on out of memory or a size < 1). */
mm_image *mm_image_resize(const mm_image *im, int w, int h);
#endif
