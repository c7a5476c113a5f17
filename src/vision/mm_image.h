/* mm_image.h — decoded images in Pillow's modes, the decoders behind mm_image_decode (PNG via libpng, JPEG via
 * libjpeg-turbo, WebP via libwebp) and Pillow's conversions of each mode to RGB.
 *
 * An image keeps the mode Pillow 9.4 gives the same file, because the preprocessing resizes in the source mode:
 *   MM_IMG_1     1 byte/pixel, 0 or 255            PNG 1-bit grey
 *   MM_IMG_L     1 byte/pixel                      PNG 2/4/8-bit grey (scaled ×85 / ×17), JPEG grey
 *   MM_IMG_LA    2 bytes/pixel (L, A)              PNG 8-bit grey + alpha
 *   MM_IMG_P     1 byte/pixel palette index        PNG palette (any depth; transparency is kept as info only)
 *   MM_IMG_RGB   3 bytes/pixel                     PNG RGB (16-bit: high bytes), JPEG YCbCr/RGB, WebP without alpha
 *   MM_IMG_RGBA  4 bytes/pixel                     PNG RGBA, PNG 16-bit grey + alpha (g,g,g,a), WebP with alpha
 *   MM_IMG_CMYK  4 bytes/pixel                     JPEG CMYK/YCCK, inverted as Pillow's "CMYK;I" raw mode does
 *   MM_IMG_I     one int32 per pixel               PNG 16-bit grey (Pillow's mode "I")
 * Each decoder checks the header's size against the pixel limit before it allocates pixel memory, and treats
 * a truncated or corrupt file as an error (Pillow: "image file is truncated" / "broken data stream"). */
#ifndef MM_IMAGE_H
#define MM_IMAGE_H
#include <stdint.h>
#include "base/mm_common.h"

typedef enum { MM_IMG_1, MM_IMG_L, MM_IMG_LA, MM_IMG_P, MM_IMG_RGB, MM_IMG_RGBA, MM_IMG_CMYK, MM_IMG_I } mm_image_mode_t;

struct mm_image {
    int w, h;
    int mode;                 /* mm_image_mode_t */
    int bands;                /* bytes per pixel for the 8-bit modes; 4 for I (one int32) */
    uint8_t *data;            /* [h][w·bands] rows, tightly packed (I: int32_t[h][w]) */
    uint8_t palette[256 * 3]; /* P: RGB of each index; indices past the file's palette are the grey ramp (i, i, i),
                               * as Pillow initialises a palette */
    const char *format;       /* "PNG", "JPEG", "WEBP" */
};

/* Bands (bytes per pixel) of an 8-bit mode, 4 for I. */
int mm_image_mode_bands(int mode);
/* A new image of w×h in mode (pixels uninitialised). NULL + error if w·h·bands overflows or exceeds limit. */
mm_image *mm_image_new(int w, int h, int mode);
/* 0 if w×h (from a header) is a size this engine decodes: both >= 1 and w·h <= max_pixels; else -1 + error. */
int mm_image_check_size(const char *fmt, int64_t w, int64_t h, int64_t max_pixels);

/* Decoders: data[0..n) holds a whole file of that format. */
mm_image *mm_image_decode_png(const uint8_t *data, size_t n, int64_t max_pixels);
mm_image *mm_image_decode_jpeg(const uint8_t *data, size_t n, int64_t max_pixels);
mm_image *mm_image_decode_webp(const uint8_t *data, size_t n, int64_t max_pixels);

/* Row y of im converted to RGB the way Pillow's convert("RGB") does (rgb[w·3]): L replicated, LA its L, P looked
 * up in the palette (transparency ignored), RGBA its RGB, CMYK by cmyk2rgb, I clipped to [0, 255], 1 as 0/255. */
void mm_image_row_rgb(const mm_image *im, int y, uint8_t *rgb);
#endif
