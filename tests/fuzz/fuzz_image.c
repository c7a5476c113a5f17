/* fuzz_image.c — what a stranger's image meets (MiniMax-VL-01): the server's data-URL parser (mm_oai_data_url,
 * an input starting with "data:"), then the image decoders (PNG, JPEG, WebP, into Pillow's modes) and the anyres
 * preprocessing (Pillow's resize, tiles, thumbnail, normalisation) of whatever decodes. Invariants: a decoded
 * image has a size within the pixel limit, a known mode and a known format; its preprocessed pixels are all
 * readable and finite, and its token count is what the plan of its size says. A refusal always says why.
 * Most inputs run the preprocessing under the released settings scaled down (preprocess_scaled). */
// fuzz-options: -max_len=262144 -timeout=20
#include <math.h>
#include "fuzz.h"
#include "minimax.h"
#include "../mm_test_image.h"
#include "server/mm_oai.h"
#include "vision/mm_image.h"
#include "vision/mm_preprocess.h"

/* Small enough that one input preprocesses in milliseconds; larger headers take the decompression-bomb path. */
#define FUZZ_MAX_PIXELS (1 << 20)

static void fuzz_init(void) {}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* "data:<media>;base64," + base64(p[0..n)) as seed i. */
static void seed_data_url(const char *dir, int i, const char *media, const uint8_t *p, size_t n) {
    size_t hl = strlen("data:") + strlen(media) + strlen(";base64,"), len = hl + (n + 2) / 3 * 4;
    char *s = mm_xmalloc(len + 1);
    snprintf(s, len + 1, "data:%s;base64,", media);
    char *o = s + hl;
    for (size_t k = 0; k < n; k += 3) {
        uint32_t v = (uint32_t)p[k] << 16 | (k + 1 < n ? (uint32_t)p[k + 1] << 8 : 0) | (k + 2 < n ? p[k + 2] : 0);
        *o++ = B64[v >> 18 & 63], *o++ = B64[v >> 12 & 63];
        *o++ = k + 1 < n ? B64[v >> 6 & 63] : '=';
        *o++ = k + 2 < n ? B64[v & 63] : '=';
    }
    fuzz_seed(dir, i, s, len);
    free(s);
}

static void seed_buf(const char *dir, int *i, buf b) {
    if (b.p) fuzz_seed(dir, (*i)++, b.p, b.n);
    free(b.p);
}

static void fuzz_seeds(const char *shared, const char *dir) {
    static const char *files[] = {"img6_rgb_10x7.png", "img0_rgb_336x336.png", "img9_rgba_200x500.png", "img3_l_750x1000.png",
                                  "img4_p_1920x1080.png", "img1_rgb_640x480.jpg", "img5_rgb_4000x300.jpg"};
    int i = 0;
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char rel[256];
        snprintf(rel, sizeof rel, "golden-vl/preprocess/%s", files[k]);
        fuzz_seed_file(shared, rel, dir, i++);
    }
    /* every PNG colour type and depth the decoders map, a palette with transparency, interlacing, and JPEG's
     * grey, RGB and CMYK: small images of a pattern */
    enum { W = 13, H = 9 };
    uint8_t raw[W * H * 8];
    for (size_t k = 0; k < sizeof raw; k++) raw[k] = (uint8_t)(k * 37 + (k / 7) * 11);
    png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {10, 20, 250}};
    const uint8_t trns[2] = {0, 128};
    static const struct { int ct, bd; } png_kinds[] = {
        {PNG_COLOR_TYPE_GRAY, 1}, {PNG_COLOR_TYPE_GRAY, 4}, {PNG_COLOR_TYPE_GRAY, 8}, {PNG_COLOR_TYPE_GRAY, 16},
        {PNG_COLOR_TYPE_GA, 8},   {PNG_COLOR_TYPE_GA, 16},  {PNG_COLOR_TYPE_RGB, 16}, {PNG_COLOR_TYPE_RGBA, 8},
    };
    for (size_t k = 0; k < sizeof png_kinds / sizeof png_kinds[0]; k++)
        seed_buf(dir, &i, make_png(W, H, png_kinds[k].ct, png_kinds[k].bd, raw, NULL, 0, NULL, 0, (int)(k & 1)));
    uint8_t idx[W * H];
    for (int k = 0; k < W * H; k++) idx[k] = (uint8_t)(k % 4);
    seed_buf(dir, &i, make_png(W, H, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, 4, trns, 2, 0));
    seed_buf(dir, &i, make_jpeg(W, H, 1, JCS_GRAYSCALE, raw));
    seed_buf(dir, &i, make_jpeg(W, H, 3, JCS_RGB, raw));
    buf cmyk = make_jpeg(W, H, 4, JCS_CMYK, raw);
    if (cmyk.p) seed_data_url(dir, i++, "image/jpeg", cmyk.p, cmyk.n);
    seed_buf(dir, &i, cmyk);
    char path[1024];
    snprintf(path, sizeof path, "%s/golden-vl/preprocess/img6_rgb_10x7.png", shared);
    size_t n;
    char *png = fuzz_read(path, &n);
    if (!png) {
        fprintf(stderr, "fuzz: seed %s is missing\n", path);
        exit(2);
    }
    seed_data_url(dir, i++, "image/png", (const uint8_t *)png, n);
    seed_data_url(dir, i++, "", (const uint8_t *)png, n);
    free(png);
}

/* The released preprocessing on one image through the library's API, checked against its plan. */
static void preprocess_released(const mm_image *im, int w, int h) {
    mm_set_error("%s", "");
    mm_image_input *in = mm_image_preprocess(NULL, im);
    if (!in) {
        if (!mm_last_error()[0]) abort();
        return;
    }
    const mm_image_plan *p = mm_image_input_plan(in);
    mm_image_plan want;
    if (mm_image_plan_for(NULL, w, h, &want) < 0 || want.n_tokens != p->n_tokens || want.n_patches != p->n_patches ||
        p->n_patches < 1)
        abort();
    const size_t S = (size_t)mm_image_input_size(in), cnt = (size_t)p->n_patches * 3 * S * S;
    fuzz_touch(mm_image_input_rgb(in), cnt);
    if (!fuzz_all_finite(mm_image_input_pixels(in), cnt)) abort();
    mm_image_input_free(in);
}

/* The same steps under the released settings scaled down 12× (tile 28, pinpoints 28..168): the same resize,
 * canvas, tile and normalisation code on 144× fewer output pixels, so most inputs cost microseconds. */
static void preprocess_scaled(const mm_image *im, int w, int h) {
    static mm_image_settings s;
    if (!s.image_size) {
        mm_image_settings_default(&s);
        s.image_size /= 12;
        for (int i = 0; i < s.n_pinpoints; i++) s.pinpoints[i][0] /= 12, s.pinpoints[i][1] /= 12;
        if (mm_image_settings_check(&s) < 0) abort();
    }
    mm_set_error("%s", "");
    mm_image_plan p, want;
    uint8_t *u8 = NULL;
    float *px = NULL;
    if (mm_image_preprocess_run(&s, im, &p, &u8, &px) < 0) {
        if (!mm_last_error()[0] || u8 || px) abort();
        return;
    }
    if (mm_image_plan_make(&s, w, h, &want) < 0 || memcmp(&want, &p, sizeof p) || p.n_patches < 1) abort();
    const size_t S = (size_t)s.image_size, cnt = (size_t)p.n_patches * 3 * S * S;
    fuzz_touch(u8, cnt);
    if (!fuzz_all_finite(px, cnt)) abort();
    free(u8);
    free(px);
}

/* The decoders and the preprocessing on n bytes: one input in 16 (by its last byte) under the released
 * settings, the others scaled down. */
static void image(const uint8_t *data, size_t n) {
    mm_set_error("%s", "");
    mm_image *im = mm_image_decode(data, n, FUZZ_MAX_PIXELS);
    if (!im) {
        if (!mm_last_error()[0]) abort();   /* a refusal says why */
        return;
    }
    const int w = mm_image_width(im), h = mm_image_height(im);
    if (w < 1 || h < 1 || (int64_t)w * h > FUZZ_MAX_PIXELS || !mm_image_mode(im) || !mm_image_format(im)) abort();
    if (im->mode < MM_IMG_1 || im->mode > MM_IMG_I) abort();
    fuzz_touch(im->data, (size_t)w * h * (size_t)im->bands);
    if (data[n - 1] % 16 == 0)
        preprocess_released(im, w, h);
    else
        preprocess_scaled(im, w, h);
    mm_image_free(im);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 5 && !memcmp(data, "data:", 5)) {
        char *url = mm_xmalloc(size + 1);
        memcpy(url, data, size);
        url[size] = 0;
        uint8_t *bytes = NULL;
        size_t nb = 0;
        char err[512] = "";
        int r = mm_oai_data_url(url, 1 << 20, &bytes, &nb, err, sizeof err);
        if (r == 0) {
            if (!bytes || !nb || nb > (1 << 20)) abort();
            image(bytes, nb);
        } else if ((r != -1 && r != -2) || bytes || !err[0]) {
            abort();
        }
        free(bytes);
        free(url);
        return 0;
    }
    image(data, size);
    return 0;
}
