/* mm_image_png.c — PNG through libpng, into the mode Pillow 9.4's PngImagePlugin gives the same file:
 * grey 1 → "1"; grey 2/4/8 → L (scaled as Pillow's L;2/L;4 unpackers, ×85 / ×17); grey 16 → I; RGB 8 → RGB;
 * RGB 16 → RGB of the high bytes; palette → P; grey+alpha 8 → LA; grey+alpha 16 → RGBA (g, g, g, a) of the high
 * bytes; RGBA 8/16 → RGBA. tRNS, gAMA, sBIT and the other ancillary chunks do not change pixels (Pillow keeps
 * them as info). Errors unwind with longjmp from libpng's error callback; every buffer is freed on that path. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "vision/mm_image.h"

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    char err[200];
} png_src;

static void on_read(png_structp png, png_bytep out, size_t want) {
    png_src *s = png_get_io_ptr(png);
    if (want > s->n - s->pos) {
        snprintf(s->err, sizeof s->err, "the file is truncated (%zu bytes)", s->n);
        png_error(png, "truncated");
    }
    memcpy(out, s->p + s->pos, want);
    s->pos += want;
}

static void on_error(png_structp png, png_const_charp msg) {
    png_src *s = png_get_error_ptr(png);
    if (!s->err[0]) snprintf(s->err, sizeof s->err, "%s", msg);
    png_longjmp(png, 1);
}
static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

mm_image *mm_image_decode_png(const uint8_t *data, size_t n, int64_t max_pixels) {
    png_src src = {.p = data, .n = n};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        mm_set_error("PNG: out of memory starting libpng");
        return NULL;
    }
    mm_image *volatile im = NULL;
    uint8_t *volatile raw = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        if (!strncmp(src.err, "out of memory", 13)) mm_set_error("PNG: %s", src.err);
        else mm_set_error("PNG: corrupt or truncated file: %s", src.err[0] ? src.err : "libpng error");
        png_destroy_read_struct(&png, &info, NULL);
        mm_image_free(im);
        free(raw);
        free(rows);
        return NULL;
    }
    png_set_read_fn(png, &src, on_read);
    /* header-level bomb limits before anything is allocated for pixels; text chunks are capped too */
    png_set_user_limits(png, 1u << 24, 1u << 24);
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if (mm_image_check_size("PNG", w, h, max_pixels) < 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return NULL;
    }
    int mode;
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY: mode = depth == 1 ? MM_IMG_1 : depth == 16 ? MM_IMG_I : MM_IMG_L; break;
    case PNG_COLOR_TYPE_RGB: mode = MM_IMG_RGB; break;
    case PNG_COLOR_TYPE_PALETTE: mode = MM_IMG_P; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: mode = depth == 16 ? MM_IMG_RGBA : MM_IMG_LA; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: mode = MM_IMG_RGBA; break;
    default:
        png_destroy_read_struct(&png, &info, NULL);
        mm_set_error("PNG: unknown color type %d", ctype);
        return NULL;
    }
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);   /* 0/255, ×85, ×17 */
    if (ctype == PNG_COLOR_TYPE_PALETTE && depth < 8) png_set_packing(png);                /* one index per byte */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rb = png_get_rowbytes(png, info);
    im = mm_image_new((int)w, (int)h, mode);
    raw = malloc(rb * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!im || !raw || !rows) {
        snprintf(src.err, sizeof src.err, "out of memory for %ux%u pixels", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + (size_t)y * rb;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_colorp pal;
        int np = 0;
        if (png_get_PLTE(png, info, &pal, &np) && np > 0)
            for (int i = 0; i < np && i < 256; i++) {
                im->palette[3 * i] = pal[i].red;
                im->palette[3 * i + 1] = pal[i].green;
                im->palette[3 * i + 2] = pal[i].blue;
            }
    }
    const int ch = png_get_channels(png, info), wide = depth == 16;
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *s = rows[y];
        uint8_t *d = im->data + (size_t)y * w * (size_t)im->bands;
        if (mode == MM_IMG_I) {
            for (png_uint_32 x = 0; x < w; x++) {
                int32_t v = (int32_t)s[2 * x] << 8 | s[2 * x + 1];   /* big-endian samples, Pillow's I;16B */
                memcpy(d + 4 * x, &v, 4);
            }
        } else if (ctype == PNG_COLOR_TYPE_GRAY_ALPHA && wide) {
            for (png_uint_32 x = 0; x < w; x++) {
                d[4 * x] = d[4 * x + 1] = d[4 * x + 2] = s[4 * x];      /* Pillow's LA;16B unpacker: high bytes */
                d[4 * x + 3] = s[4 * x + 2];
            }
        } else if (wide) {
            for (png_uint_32 x = 0; x < w * (png_uint_32)ch; x++) d[x] = s[2 * x];   /* RGB;16B / RGBA;16B */
        } else {
            memcpy(d, s, (size_t)w * (size_t)im->bands);
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(raw);
    free(rows);
    im->format = "PNG";
    return im;
}
