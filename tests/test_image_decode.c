/* test_image_decode.c — image decoding into Pillow's modes, and bad input. Test files are written here with libpng,
 * libjpeg-turbo and libwebp (no Pillow on the machine): each mode is checked against what Pillow 9.4's plugins
 * and converters define (PngImagePlugin's mode table, the L;2/L;4/RGB;16B/LA;16B unpackers, JpegImagePlugin's
 * CMYK;I, Convert.c), and through preprocessing against an equivalent image in a mode the goldens cover (LA ≡ RGBA
 * with grey channels, 16-bit RGB ≡ its high bytes, 2/4-bit grey ≡ scaled L, P with tRNS ≡ P). Bad input: truncated
 * and corrupt PNG / JPEG / WebP, zero sizes, decompression-bomb headers, unknown and unsupported formats, empty data. */
#include <webp/encode.h>
#include "mm_test.h"
#include "mm_test_image.h"
#include "vision/mm_image.h"
#include "vision/mm_preprocess.h"

/* A smooth pattern with hard edges: sample value for (x, y, channel). */
static uint8_t pat(int x, int y, int c) { return (uint8_t)((x * 7 + y * 13 + c * 61 + ((x / 5 + y / 3) % 2) * 90) & 255); }

static mm_image *dec(const buf *b) { return mm_image_decode(b->p, b->n, 0); }

/* Preprocessing of a and b agree byte for byte (tiles and thumbnail). */
static int same_preprocess(const mm_image *a, const mm_image *b) {
    mm_image_settings s;
    mm_image_settings_default(&s);
    mm_image_plan pa, pb;
    uint8_t *ua = NULL, *ub = NULL;
    int ok = mm_image_preprocess_run(&s, a, &pa, &ua, NULL) == 0 && mm_image_preprocess_run(&s, b, &pb, &ub, NULL) == 0 &&
             pa.n_patches == pb.n_patches && !memcmp(ua, ub, (size_t)pa.n_patches * 336 * 336 * 3);
    free(ua);
    free(ub);
    return ok;
}

static mm_image *from_pixels(int w, int h, int mode, const uint8_t *px) {
    mm_image *im = mm_image_new(w, h, mode);
    memcpy(im->data, px, (size_t)w * h * im->bands);
    return im;
}

static void check_error(const buf *b, const char *what, const char *needle) {
    mm_image *im = mm_image_decode(b->p, b->n, 0);
    CHECK(!im && strstr(mm_last_error(), needle), "%s: expected an error containing '%s', got %s", what, needle,
          im ? "an image" : mm_last_error());
    mm_image_free(im);
}

/* PNG chunk CRC (CRC-32, reflected 0xedb88320) over type + data, for hand-edited headers. */
static void fix_ihdr_crc(uint8_t *p) {
    uint32_t crc = 0xffffffffu;
    for (int i = 12; i < 29; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
    }
    crc ^= 0xffffffffu;
    p[29] = (uint8_t)(crc >> 24), p[30] = (uint8_t)(crc >> 16), p[31] = (uint8_t)(crc >> 8), p[32] = (uint8_t)crc;
}

int main(void) {
    const int W = 53, H = 29;
    uint8_t *rgba = malloc((size_t)W * H * 4), *rgb = malloc((size_t)W * H * 3), *grey = malloc((size_t)W * H);
    uint8_t *la = malloc((size_t)W * H * 2), *wide = malloc((size_t)W * H * 8), *idx = malloc((size_t)W * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x;
            for (int c = 0; c < 4; c++) rgba[4 * i + c] = c == 3 ? (uint8_t)((x * 9 + y * 5) % 256) : pat(x, y, c);
            for (int c = 0; c < 3; c++) rgb[3 * i + c] = pat(x, y, c);
            grey[i] = pat(x, y, 0);
            la[2 * i] = grey[i], la[2 * i + 1] = rgba[4 * i + 3];
            idx[i] = (uint8_t)((x / 4 + y / 4) % 7);
        }

    /* RGB and RGBA, plain and interlaced */
    buf b = make_png(W, H, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0, NULL, 0, 0);
    mm_image *im = dec(&b);
    CHECK(im && im->mode == MM_IMG_RGB && !strcmp(mm_image_format(im), "PNG") && !memcmp(im->data, rgb, (size_t)W * H * 3),
          "RGB PNG: %s", im ? mm_image_mode(im) : mm_last_error());
    mm_image *ref_rgb = im;
    free(b.p);
    b = make_png(W, H, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0, NULL, 0, 1);
    im = dec(&b);
    CHECK(im && im->mode == MM_IMG_RGB && !memcmp(im->data, rgb, (size_t)W * H * 3), "interlaced RGB PNG");
    mm_image_free(im);
    free(b.p);
    b = make_png(W, H, PNG_COLOR_TYPE_RGBA, 8, rgba, NULL, 0, NULL, 0, 0);
    mm_image *ref_rgba = dec(&b);
    CHECK(ref_rgba && ref_rgba->mode == MM_IMG_RGBA && !memcmp(ref_rgba->data, rgba, (size_t)W * H * 4), "RGBA PNG");
    free(b.p);

    /* L, LA: LA resizes like RGBA with grey channels (Pillow's La band path) */
    b = make_png(W, H, PNG_COLOR_TYPE_GRAY, 8, grey, NULL, 0, NULL, 0, 0);
    im = dec(&b);
    CHECK(im && im->mode == MM_IMG_L && !memcmp(im->data, grey, (size_t)W * H), "L PNG");
    mm_image_free(im);
    free(b.p);
    b = make_png(W, H, PNG_COLOR_TYPE_GA, 8, la, NULL, 0, NULL, 0, 0);
    im = dec(&b);
    CHECK(im && im->mode == MM_IMG_LA && !memcmp(im->data, la, (size_t)W * H * 2), "LA PNG: %s", im ? mm_image_mode(im) : mm_last_error());
    uint8_t *ga4 = malloc((size_t)W * H * 4);
    for (size_t i = 0; i < (size_t)W * H; i++) ga4[4 * i] = ga4[4 * i + 1] = ga4[4 * i + 2] = la[2 * i], ga4[4 * i + 3] = la[2 * i + 1];
    mm_image *grey_rgba = from_pixels(W, H, MM_IMG_RGBA, ga4);
    CHECK(im && same_preprocess(im, grey_rgba), "LA preprocesses as RGBA with grey channels");
    mm_image_free(im);
    free(b.p);

    /* 16-bit: RGB and RGBA keep the high bytes, grey + alpha becomes RGBA (g, g, g, a), grey becomes I */
    for (size_t i = 0; i < (size_t)W * H * 3; i++) wide[2 * i] = rgb[i], wide[2 * i + 1] = (uint8_t)(i * 37);
    b = make_png(W, H, PNG_COLOR_TYPE_RGB, 16, wide, NULL, 0, NULL, 0, 0);
    im = dec(&b);
    CHECK(im && im->mode == MM_IMG_RGB && !memcmp(im->data, rgb, (size_t)W * H * 3) && same_preprocess(im, ref_rgb),
          "16-bit RGB PNG = its high bytes");
    mm_image_free(im);
    free(b.p);
    for (size_t i = 0; i < (size_t)W * H * 2; i++) wide[2 * i] = la[i], wide[2 * i + 1] = (uint8_t)(i * 11);
    b = make_png(W, H, PNG_COLOR_TYPE_GA, 16, wide, NULL, 0, NULL, 0, 0);
    im = dec(&b);
    CHECK(im && im->mode == MM_IMG_RGBA && !memcmp(im->data, ga4, (size_t)W * H * 4), "16-bit grey+alpha PNG = RGBA (g,g,g,a)");
    mm_image_free(im);
    free(b.p);
    for (size_t i = 0; i < (size_t)W * H; i++) wide[2 * i] = (uint8_t)(i % 3), wide[2 * i + 1] = grey[i];
    b = make_png(W, H, PNG_COLOR_TYPE_GRAY, 16, wide, NULL, 0, NULL, 0, 0);
    im = dec(&b);
    int i_ok = im && im->mode == MM_IMG_I;
    for (size_t i = 0; i_ok && i < (size_t)W * H; i++) {
        int32_t v;
        memcpy(&v, im->data + 4 * i, 4);
        i_ok = v == (int32_t)((i % 3) << 8 | grey[i]);
    }
    CHECK(i_ok, "16-bit grey PNG = mode I with the 16-bit values");
    if (im) {   /* Pillow's I → RGB clips to [0, 255]; a preprocessing runs through the int32 resize */
        uint8_t row[3 * 53];
        mm_image_row_rgb(im, 0, row);
        CHECK(row[0] == ((0 % 3) ? 255 : grey[0]) && row[3] == 255, "I to RGB clips like Pillow's i2rgb");
        mm_image_settings s;
        mm_image_settings_default(&s);
        mm_image_plan p;
        uint8_t *u8 = NULL;
        CHECK(mm_image_preprocess_run(&s, im, &p, &u8, NULL) == 0, "I preprocess: %s", mm_last_error());
        free(u8);
    }
    mm_image_free(im);
    free(b.p);

    /* 2- and 4-bit grey are L scaled ×85 / ×17; 1-bit is mode 1 (0 or 255, resized NEAREST) */
    for (int bd = 2; bd <= 4; bd += 2) {
        const int per = 8 / bd, maxv = (1 << bd) - 1, scale = 255 / maxv;
        const size_t rb = ((size_t)W * bd + 7) / 8;
        uint8_t *packed = calloc(rb * H, 1), *want = malloc((size_t)W * H);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int v = pat(x, y, 1) % (maxv + 1);
                packed[(size_t)y * rb + (size_t)x / per] |= (uint8_t)(v << (8 - bd * (x % per + 1)));
                want[(size_t)y * W + x] = (uint8_t)(v * scale);
            }
        b = make_png(W, H, PNG_COLOR_TYPE_GRAY, bd, packed, NULL, 0, NULL, 0, 0);
        im = dec(&b);
        CHECK(im && im->mode == MM_IMG_L && !memcmp(im->data, want, (size_t)W * H), "%d-bit grey PNG = L scaled by %d", bd, scale);
        mm_image *l8 = from_pixels(W, H, MM_IMG_L, want);
        CHECK(im && same_preprocess(im, l8), "%d-bit grey preprocesses as 8-bit L", bd);
        mm_image_free(l8);
        mm_image_free(im);
        free(b.p);
        free(packed);
        free(want);
    }
    {
        const size_t rb = ((size_t)W + 7) / 8;
        uint8_t *packed = calloc(rb * H, 1);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if ((x + y) % 3 == 0) packed[(size_t)y * rb + (size_t)x / 8] |= (uint8_t)(0x80 >> (x % 8));
        b = make_png(W, H, PNG_COLOR_TYPE_GRAY, 1, packed, NULL, 0, NULL, 0, 0);
        im = dec(&b);
        int ok = im && im->mode == MM_IMG_1;
        for (int y = 0; ok && y < H; y++)
            for (int x = 0; ok && x < W; x++) ok = im->data[(size_t)y * W + x] == ((x + y) % 3 == 0 ? 255 : 0);
        CHECK(ok, "1-bit PNG = mode 1 with 0/255");
        /* NEAREST: every pixel of the thumbnail is 0 or 255 */
        mm_image_settings s;
        mm_image_settings_default(&s);
        mm_image_plan p;
        uint8_t *u8 = NULL;
        ok = im && mm_image_preprocess_run(&s, im, &p, &u8, NULL) == 0;
        for (size_t i = 0; ok && i < 336 * 336 * 3; i++) ok = u8[i] == 0 || u8[i] == 255;
        CHECK(ok, "mode 1 resizes with NEAREST");
        free(u8);
        mm_image_free(im);
        free(b.p);
        free(packed);
    }

    /* palette: 4-bit and 8-bit, with and without tRNS (transparency never changes the RGB Pillow converts to) */
    png_color pal[7];
    for (int i = 0; i < 7; i++) pal[i].red = (uint8_t)(i * 40), pal[i].green = (uint8_t)(255 - i * 30), pal[i].blue = (uint8_t)(i * i * 5);
    const uint8_t trns[7] = {0, 64, 255, 0, 128, 255, 3};
    b = make_png(W, H, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, 7, NULL, 0, 0);
    mm_image *p8 = dec(&b);
    CHECK(p8 && p8->mode == MM_IMG_P && !memcmp(p8->data, idx, (size_t)W * H) && p8->palette[3 * 6] == 240 &&
              p8->palette[3 * 200] == 200, "P PNG: indices, palette, grey ramp past the palette as Pillow");
    free(b.p);
    b = make_png(W, H, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, 7, trns, 7, 0);
    im = dec(&b);
    CHECK(im && p8 && im->mode == MM_IMG_P && same_preprocess(im, p8), "P with tRNS preprocesses as P without");
    mm_image_free(im);
    free(b.p);
    {
        const size_t rb = ((size_t)W + 1) / 2;
        uint8_t *packed = calloc(rb * H, 1);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) packed[(size_t)y * rb + (size_t)x / 2] |= (uint8_t)(idx[(size_t)y * W + x] << (x % 2 ? 0 : 4));
        b = make_png(W, H, PNG_COLOR_TYPE_PALETTE, 4, packed, pal, 7, NULL, 0, 0);
        im = dec(&b);
        CHECK(im && im->mode == MM_IMG_P && !memcmp(im->data, idx, (size_t)W * H), "4-bit P PNG");
        mm_image_free(im);
        free(b.p);
        free(packed);
    }
    mm_image_free(p8);

    /* JPEG: RGB, grey, CMYK (Pillow's CMYK;I: every byte inverted, then cmyk2rgb) */
    b = make_jpeg(W, H, 3, JCS_RGB, rgb);
    im = dec(&b);
    CHECK(im && im->mode == MM_IMG_RGB && !strcmp(mm_image_format(im), "JPEG"), "RGB JPEG");
    mm_image_free(im);
    free(b.p);
    b = make_jpeg(W, H, 1, JCS_GRAYSCALE, grey);
    im = dec(&b);
    CHECK(im && im->mode == MM_IMG_L, "grey JPEG");
    mm_image_free(im);
    free(b.p);
    b = make_jpeg(W, H, 4, JCS_CMYK, rgba);
    im = dec(&b);
    CHECK(im && im->mode == MM_IMG_CMYK, "CMYK JPEG: %s", im ? mm_image_mode(im) : mm_last_error());
    if (im) {
        /* libjpeg's own CMYK decode, inverted, is what the image holds */
        struct jpeg_decompress_struct d;
        struct jpeg_error_mgr e;
        d.err = jpeg_std_error(&e);
        jpeg_create_decompress(&d);
        jpeg_mem_src(&d, b.p, (unsigned long)b.n);
        jpeg_read_header(&d, TRUE);
        d.out_color_space = JCS_CMYK;
        jpeg_start_decompress(&d);
        uint8_t *raw = malloc((size_t)W * H * 4);
        while (d.output_scanline < d.output_height) {
            JSAMPROW r = raw + (size_t)d.output_scanline * W * 4;
            jpeg_read_scanlines(&d, &r, 1);
        }
        jpeg_finish_decompress(&d);
        jpeg_destroy_decompress(&d);
        int ok = 1;
        for (size_t i = 0; i < (size_t)W * H * 4; i++) ok &= im->data[i] + raw[i] == 255;
        CHECK(ok, "CMYK JPEG bytes are libjpeg's, inverted");
        /* cmyk2rgb on one pixel: C 0, M 255, Y 128, K 64 → (191, 0, 95) */
        mm_image *one = mm_image_new(1, 1, MM_IMG_CMYK);
        const uint8_t px[4] = {0, 255, 128, 64};
        memcpy(one->data, px, 4);
        uint8_t out[3];
        mm_image_row_rgb(one, 0, out);
        CHECK(out[0] == 191 && out[1] == 0 && out[2] == 95, "cmyk2rgb: %d %d %d", out[0], out[1], out[2]);
        mm_image_free(one);
        free(raw);
    }
    mm_image_free(im);
    free(b.p);

    /* WebP: lossless RGB and RGBA round-trip exactly */
    uint8_t *wout = NULL;
    size_t wn = WebPEncodeLosslessRGBA(rgba, W, H, W * 4, &wout);
    im = mm_image_decode(wout, wn, 0);
    int wok = im && im->mode == MM_IMG_RGBA;   /* libwebp may rewrite the RGB of fully transparent pixels */
    for (size_t i = 0; wok && i < (size_t)W * H; i++)
        wok = im->data[4 * i + 3] == rgba[4 * i + 3] && (!rgba[4 * i + 3] || !memcmp(im->data + 4 * i, rgba + 4 * i, 3));
    CHECK(wok, "lossless RGBA WebP");
    mm_image_free(im);
    buf wb = {0};
    buf_put(&wb, wout, wn / 2);
    check_error(&wb, "truncated WebP", "WebP");
    free(wb.p);
    WebPFree(wout);
    wn = WebPEncodeLosslessRGB(rgb, W, H, W * 3, &wout);
    im = mm_image_decode(wout, wn, 0);
    CHECK(im && im->mode == MM_IMG_RGB && !memcmp(im->data, rgb, (size_t)W * H * 3), "lossless RGB WebP");
    mm_image_free(im);
    WebPFree(wout);

    /* ---------------------------------------------------------------- bad input */
    b = make_png(W, H, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0, NULL, 0, 0);
    const size_t cuts[] = {7, 8, 20, 33, 40, 60};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        buf t = {.p = b.p, .n = cuts[k]};
        check_error(&t, "truncated PNG", cuts[k] < 8 ? "unknown format" : "PNG");
    }
    buf t = {.p = b.p, .n = b.n - 20};
    check_error(&t, "PNG missing its end", "truncated");
    buf c = {0};
    buf_put(&c, b.p, b.n);
    c.p[c.n / 2] ^= 0x5a;   /* inside the compressed data: the chunk CRC no longer matches */
    check_error(&c, "corrupt PNG", "corrupt");
    memcpy(c.p, b.p, b.n);
    memset(c.p + 16, 0, 4);   /* width 0 */
    fix_ihdr_crc(c.p);
    check_error(&c, "zero-width PNG", "PNG");
    memcpy(c.p, b.p, b.n);
    c.p[16] = 0, c.p[17] = 0x01, c.p[18] = 0x86, c.p[19] = 0xa0;   /* 100000 × 100000 */
    c.p[20] = 0, c.p[21] = 0x01, c.p[22] = 0x86, c.p[23] = 0xa0;
    fix_ihdr_crc(c.p);
    check_error(&c, "bomb PNG header", "decompression bomb");
    memcpy(c.p, b.p, b.n);
    c.p[16] = 0, c.p[17] = 0, c.p[18] = 0x30, c.p[19] = 0;   /* 12288 × 12288 = 151M pixels: over a 10M limit */
    c.p[20] = 0, c.p[21] = 0, c.p[22] = 0x30, c.p[23] = 0;
    fix_ihdr_crc(c.p);
    im = mm_image_decode(c.p, c.n, 10000000);
    CHECK(!im && strstr(mm_last_error(), "limit of 10000000"), "pixel limit: %s", mm_last_error());
    free(c.p);
    free(b.p);

    b = make_jpeg(W, H, 3, JCS_RGB, rgb);
    t = (buf){.p = b.p, .n = b.n / 2};
    check_error(&t, "truncated JPEG", "truncated");
    t.n = 5;
    check_error(&t, "JPEG cut in its header", "JPEG");
    c = (buf){0};
    buf_put(&c, b.p, b.n);
    for (size_t i = 2; i < 200 && i < c.n; i++) c.p[i] = (uint8_t)(c.p[i] * 31 + 7);   /* garbage markers */
    check_error(&c, "corrupt JPEG", "JPEG");
    memcpy(c.p, b.p, b.n);
    for (size_t i = 2; i + 8 < c.n; i++)
        if (c.p[i] == 0xff && c.p[i + 1] == 0xc0) {   /* SOF0: height and width → 60000 × 60000 */
            c.p[i + 5] = 0xea, c.p[i + 6] = 0x60, c.p[i + 7] = 0xea, c.p[i + 8] = 0x60;
            break;
        }
    check_error(&c, "bomb JPEG header", "decompression bomb");
    free(c.p);
    free(b.p);

    buf u = {.p = (uint8_t *)"this is not an image at all", .n = 27};
    check_error(&u, "text", "unknown format");
    u = (buf){.p = (uint8_t *)"GIF89a\x01\x00\x01\x00", .n = 10};
    check_error(&u, "GIF", "GIF is not supported");
    u = (buf){.p = (uint8_t *)"", .n = 0};
    check_error(&u, "empty data", "empty");
    u = (buf){.p = (uint8_t *)"RIFF\x10\x00\x00\x00WEBPVP8 ", .n = 16};
    check_error(&u, "WebP header only", "WebP");
    CHECK(mm_image_load("/nonexistent/image.png", 0) == NULL && strstr(mm_last_error(), "cannot open"), "missing file");

    mm_image_free(ref_rgb);
    mm_image_free(ref_rgba);
    mm_image_free(grey_rgba);
    free(rgba), free(rgb), free(grey), free(la), free(wide), free(idx), free(ga4);
    return mmt_done();
}
