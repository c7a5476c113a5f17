/* mm_image_webp.c — still WebP through libwebp: RGB when the file has no alpha, RGBA when it has (Pillow 9.4's
 * WebPImagePlugin modes). Animated WebP is refused (this engine reads one image per file). */
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include "vision/mm_image.h"

mm_image *mm_image_decode_webp(const uint8_t *data, size_t n, int64_t max_pixels) {
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(data, n, &f) != VP8_STATUS_OK) {
        mm_set_error("WebP: corrupt or truncated header");
        return NULL;
    }
    if (f.has_animation) {
        mm_set_error("WebP: animated WebP is not supported (send one frame as PNG or JPEG)");
        return NULL;
    }
    if (mm_image_check_size("WebP", f.width, f.height, max_pixels) < 0) return NULL;
    mm_image *im = mm_image_new(f.width, f.height, f.has_alpha ? MM_IMG_RGBA : MM_IMG_RGB);
    if (!im) return NULL;
    const size_t stride = (size_t)im->w * (size_t)im->bands;
    uint8_t *ok = f.has_alpha ? WebPDecodeRGBAInto(data, n, im->data, stride * (size_t)im->h, (int)stride)
                              : WebPDecodeRGBInto(data, n, im->data, stride * (size_t)im->h, (int)stride);
    if (!ok) {
        mm_image_free(im);
        mm_set_error("WebP: corrupt or truncated file (libwebp could not decode it)");
        return NULL;
    }
    im->format = "WEBP";
    return im;
}
