/* mm_test_image.h — test images written in memory with libpng and libjpeg-turbo (no Pillow on the machine), for the
 * image tests and the image fuzz target's seeds. Header-only: every function is static. */
#ifndef MM_TEST_IMAGE_H
#define MM_TEST_IMAGE_H
#include <png.h>
#include <jpeglib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;
static inline void buf_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) b->p = realloc(b->p, b->cap = (b->n + n) * 2 + 1024);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void png_write_cb(png_structp png, png_bytep d, size_t n) { buf_put(png_get_io_ptr(png), d, n); }
static inline void png_flush_cb(png_structp png) { (void)png; }

/* A w×h PNG of color type ct and bit depth bd from rows of raw samples (big-endian 16-bit), optional palette/tRNS. */
static inline buf make_png(int w, int h, int ct, int bd, const uint8_t *raw, const png_color *pal, int npal, const uint8_t *trns,
                    int ntrns, int interlace) {
    buf b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(b.p);
        b.p = NULL;
        b.n = 0;
        return b;
    }
    png_set_write_fn(png, &b, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bd, ct, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    const int ch = ct == PNG_COLOR_TYPE_RGB ? 3 : ct == PNG_COLOR_TYPE_RGBA ? 4 : ct == PNG_COLOR_TYPE_GA ? 2 : 1;
    const size_t rb = ((size_t)w * ch * bd + 7) / 8;
    const int passes = interlace ? png_set_interlace_handling(png) : 1;   /* Adam7: the whole image once per pass */
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) png_write_row(png, raw + (size_t)y * rb);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return b;
}

static inline buf make_jpeg(int w, int h, int comps, J_COLOR_SPACE cs, const uint8_t *px) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buf b = {0};
    buf_put(&b, mem, size);
    free(mem);
    return b;
}

#endif
