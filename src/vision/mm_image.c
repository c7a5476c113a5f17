/* mm_image.c — format detection, the public image API (mm_image_decode / _load / _free and accessors), pixel
 * buffers with overflow-checked sizes, and Pillow 9.4's conversions of each mode to RGB (libImaging/Convert.c:
 * l2rgb, la2rgb, rgba2rgb, cmyk2rgb, i2rgb, bit2rgb, and the palette lookup). */
#include <stdlib.h>
#include <string.h>
#include "vision/mm_image.h"

static const char *const MODE_NAMES[] = {"1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I"};

int mm_image_mode_bands(int mode) {
    switch (mode) {
    case MM_IMG_LA: return 2;
    case MM_IMG_RGB: return 3;
    case MM_IMG_RGBA:
    case MM_IMG_CMYK:
    case MM_IMG_I: return 4;
    default: return 1;
    }
}

int mm_image_check_size(const char *fmt, int64_t w, int64_t h, int64_t max_pixels) {
    if (max_pixels <= 0) max_pixels = MM_IMAGE_MAX_PIXELS;
    if (w < 1 || h < 1) {
        mm_set_error("%s image of size %lldx%lld: an image needs at least one pixel", fmt, (long long)w, (long long)h);
        return -1;
    }
    if (w > (1 << 24) || h > (1 << 24) || w * h > max_pixels) {
        mm_set_error("%s image of %lldx%lld = %lld pixels is larger than the limit of %lld pixels (a decompression bomb "
                     "or a too large image; it was refused from its header, before decoding)",
                     fmt, (long long)w, (long long)h, (long long)(w * h), (long long)max_pixels);
        return -1;
    }
    return 0;
}

mm_image *mm_image_new(int w, int h, int mode) {
    if (mm_image_check_size("an", w, h, INT64_MAX) < 0) return NULL;
    size_t bytes = (size_t)w * (size_t)h * (size_t)mm_image_mode_bands(mode);
    mm_image *im = calloc(1, sizeof *im);
    uint8_t *data = im ? malloc(bytes) : NULL;
    if (!data) {
        free(im);
        mm_set_error("out of memory for a %dx%d %s image (%zu bytes)", w, h, MODE_NAMES[mode], bytes);
        return NULL;
    }
    im->w = w;
    im->h = h;
    im->mode = mode;
    im->bands = mm_image_mode_bands(mode);
    im->data = data;
    for (int i = 0; i < 256; i++) im->palette[3 * i] = im->palette[3 * i + 1] = im->palette[3 * i + 2] = (uint8_t)i;
    return im;
}

void mm_image_free(mm_image *im) {
    if (!im) return;
    free(im->data);
    free(im);
}

int mm_image_width(const mm_image *im) { return im->w; }
int mm_image_height(const mm_image *im) { return im->h; }
const char *mm_image_mode(const mm_image *im) { return MODE_NAMES[im->mode]; }
const char *mm_image_format(const mm_image *im) { return im->format; }

mm_image *mm_image_decode(const void *data, size_t n, int64_t max_pixels) {
    const uint8_t *p = data;
    mm_image *im = NULL;
    if (!p || n == 0) {
        mm_set_error("image: empty data (0 bytes)");
        return NULL;
    }
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) im = mm_image_decode_png(p, n, max_pixels);
    else if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) im = mm_image_decode_jpeg(p, n, max_pixels);
    else if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) im = mm_image_decode_webp(p, n, max_pixels);
    else if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) {
        mm_set_error("image: GIF is not supported (convert it to PNG: PNG, JPEG and WebP are read)");
        return NULL;
    } else {
        mm_set_error("image: unknown format (the data starts with none of the PNG, JPEG or WebP signatures)");
        return NULL;
    }
    return im;
}

mm_image *mm_image_load(const char *path, int64_t max_pixels) {
    size_t n = 0;
    const uint8_t *map = mm_map_file(path, 1, "an image", &n);
    if (!map) return NULL;
    mm_image *im = mm_image_decode(map, n, max_pixels);
    mm_unmap_file(map, n);
    if (!im) mm_error_prefix("%s", path);
    return im;
}

/* MULDIV255 of libImaging/ImagingUtils.h: a·b/255 rounded, in integers. */
static inline int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}
static inline uint8_t clip8(int v) { return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v); }

void mm_image_row_rgb(const mm_image *im, int y, uint8_t *rgb) {
    const uint8_t *r = im->data + (size_t)y * (size_t)im->w * (size_t)im->bands;
    const int w = im->w;
    switch (im->mode) {
    case MM_IMG_1:
    case MM_IMG_L:
        for (int x = 0; x < w; x++) rgb[3 * x] = rgb[3 * x + 1] = rgb[3 * x + 2] = r[x];
        break;
    case MM_IMG_LA:
        for (int x = 0; x < w; x++) rgb[3 * x] = rgb[3 * x + 1] = rgb[3 * x + 2] = r[2 * x];
        break;
    case MM_IMG_P:
        for (int x = 0; x < w; x++) memcpy(rgb + 3 * x, im->palette + 3 * r[x], 3);
        break;
    case MM_IMG_RGB: memcpy(rgb, r, (size_t)w * 3); break;
    case MM_IMG_RGBA:
        for (int x = 0; x < w; x++) memcpy(rgb + 3 * x, r + 4 * x, 3);
        break;
    case MM_IMG_CMYK:
        for (int x = 0; x < w; x++) {
            const uint8_t *c = r + 4 * x;
            int nk = 255 - c[3];
            for (int k = 0; k < 3; k++) rgb[3 * x + k] = clip8(nk - muldiv255(c[k], nk));
        }
        break;
    case MM_IMG_I:
        for (int x = 0; x < w; x++) {
            int32_t v;
            memcpy(&v, r + 4 * x, 4);
            rgb[3 * x] = rgb[3 * x + 1] = rgb[3 * x + 2] = clip8(v);
        }
        break;
    }
}
