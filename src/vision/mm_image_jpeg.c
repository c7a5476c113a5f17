/* mm_image_jpeg.c — JPEG through libjpeg-turbo with its defaults (islow IDCT, fancy upsampling), as Pillow's
 * decoder uses it: 1 component → L, 3 → RGB (libjpeg converts YCbCr), 4 → CMYK (libjpeg converts YCCK), each
 * byte inverted as Pillow's "CMYK;I" raw mode does for every 4-component JPEG ("assume adobe conventions").
 * libjpeg's fatal errors unwind with longjmp; its "premature end of file" warning is an error here (Pillow:
 * "image file is truncated"); other warnings are ignored as Pillow ignores them. EXIF orientation is not
 * applied (Pillow's open does not rotate either). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include "vision/mm_image.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX + 32];
} jpeg_err;

static void on_error_exit(j_common_ptr ci) {
    jpeg_err *e = (jpeg_err *)ci->err;
    char m[JMSG_LENGTH_MAX];
    e->pub.format_message(ci, m);
    snprintf(e->msg, sizeof e->msg, "%s", m);
    longjmp(e->jmp, 1);
}

static void on_emit(j_common_ptr ci, int level) {
    jpeg_err *e = (jpeg_err *)ci->err;
    if (level < 0 && e->pub.msg_code == JWRN_JPEG_EOF) {   /* data ended before the image did */
        snprintf(e->msg, sizeof e->msg, "the file is truncated (the data ends before the image does)");
        longjmp(e->jmp, 1);
    }
}

mm_image *mm_image_decode_jpeg(const uint8_t *data, size_t n, int64_t max_pixels) {
    struct jpeg_decompress_struct ci;
    jpeg_err err;
    memset(&err, 0, sizeof err);
    ci.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error_exit;
    err.pub.emit_message = on_emit;
    mm_image *volatile im = NULL;
    if (setjmp(err.jmp)) {
        mm_set_error("JPEG: corrupt or truncated file: %s", err.msg);
        jpeg_destroy_decompress(&ci);
        mm_image_free(im);
        return NULL;
    }
    jpeg_create_decompress(&ci);
    ci.mem->max_memory_to_use = 512L << 20;   /* libjpeg's own working memory (progressive coefficients) */
    jpeg_mem_src(&ci, data, (unsigned long)n);
    jpeg_read_header(&ci, TRUE);
    if (mm_image_check_size("JPEG", ci.image_width, ci.image_height, max_pixels) < 0) {
        jpeg_destroy_decompress(&ci);
        return NULL;
    }
    int mode;
    switch (ci.num_components) {
    case 1: mode = MM_IMG_L, ci.out_color_space = JCS_GRAYSCALE; break;
    case 3: mode = MM_IMG_RGB, ci.out_color_space = JCS_RGB; break;
    case 4: mode = MM_IMG_CMYK, ci.out_color_space = JCS_CMYK; break;
    default:
        jpeg_destroy_decompress(&ci);
        mm_set_error("JPEG: %d color components are not supported (1, 3 or 4 are)", ci.num_components);
        return NULL;
    }
    jpeg_start_decompress(&ci);
    im = mm_image_new((int)ci.output_width, (int)ci.output_height, mode);
    if (!im) {
        jpeg_destroy_decompress(&ci);
        return NULL;
    }
    const size_t stride = (size_t)im->w * (size_t)im->bands;
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = im->data + (size_t)ci.output_scanline * stride;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    if (mode == MM_IMG_CMYK)
        for (size_t i = 0; i < stride * (size_t)im->h; i++) im->data[i] = (uint8_t)~im->data[i];
    im->format = "JPEG";
    return im;
}
