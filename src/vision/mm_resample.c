/* mm_resample.c — Pillow 9.4's resize(BICUBIC) (see mm_resample.h): coefficients as libImaging's
 * precompute_coeffs, the 8-bit passes with its 22-bit fixed point, the int32 passes in double, NEAREST as
 * ImagingScaleAffine, and the RGBa premultiplication of Convert.c around a resize of RGBA / LA. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vision/mm_resample.h"
#include "base/mm_pool.h"

#define PRECISION_BITS (32 - 8 - 2)

/* Pillow's bicubic_filter, a = -0.5, same expression order (the double weights decide the fixed-point rounding). */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct {
    int ksize;     /* coefficients per output sample */
    int *bounds;   /* [out][2]: first input sample, count */
    double *kk;    /* [out][ksize] normalised weights */
    int32_t *k8;   /* [out][ksize] the weights in fixed point */
} coeffs;

static void coeffs_free(coeffs *c) {
    free(c->bounds);
    free(c->kk);
    free(c->k8);
}

/* precompute_coeffs for an axis of in samples → out samples over the box [0, in). */
static int coeffs_make(coeffs *c, int in, int out) {
    memset(c, 0, sizeof *c);
    double scale = (double)(float)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)out);
    c->kk = malloc(sizeof(double) * (size_t)out * (size_t)ksize);
    c->k8 = malloc(sizeof(int32_t) * (size_t)out * (size_t)ksize);
    if (!c->bounds || !c->kk || !c->k8) {
        coeffs_free(c);
        mm_set_error("image resize: out of memory for %d×%d coefficients", out, ksize);
        return -1;
    }
    for (int xx = 0; xx < out; xx++) {
        double center = 0.0 + (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in) xmax = in;
        xmax -= xmin;
        double *k = c->kk + (size_t)xx * ksize;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bicubic((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out * (size_t)ksize; i++)
        c->k8[i] = c->kk[i] < 0 ? (int32_t)(-0.5 + c->kk[i] * (1 << PRECISION_BITS))
                                : (int32_t)(0.5 + c->kk[i] * (1 << PRECISION_BITS));
    return 0;
}

/* Pillow's clip8: the integer part of a 22-bit fixed-point sum, clamped to [0, 255]. */
static inline uint8_t clip8(int32_t v) {
    int32_t q = v >> PRECISION_BITS;
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}
static inline int32_t round_up(double f) { return (int32_t)(f >= 0.0 ? f + 0.5F : f - 0.5F); }

typedef struct {
    const mm_image *in;
    mm_image *out;
    int y0;
    const coeffs *c;
} pass_args;

/* Rows per hand-out of a pass: about 64k output samples. */
static int64_t pass_chunk(const mm_image *out) { return 65536 / ((int64_t)out->w * out->bands + 1) + 1; }

/* Horizontal pass, output rows [r0, r1): rows [y0 + r0, y0 + r1) of in → out (same mode, width out->w). */
static void pass_h_rows(void *arg, int64_t r0, int64_t r1, int ith) {
    const pass_args *a = arg;
    const mm_image *in = a->in;
    mm_image *out = a->out;
    const coeffs *c = a->c;
    const int B = in->bands, W = out->w, y0 = a->y0;
    (void)ith;
    for (int y = (int)r0; y < (int)r1; y++) {
        if (in->mode == MM_IMG_I) {
            const int32_t *s = (const int32_t *)in->data + (size_t)(y + y0) * (size_t)in->w;
            int32_t *d = (int32_t *)out->data + (size_t)y * (size_t)W;
            for (int xx = 0; xx < W; xx++) {
                const int xmin = c->bounds[2 * xx], xmax = c->bounds[2 * xx + 1];
                const double *k = c->kk + (size_t)xx * c->ksize;
                double ss = 0.0;
                for (int x = 0; x < xmax; x++) ss += s[x + xmin] * k[x];
                d[xx] = round_up(ss);
            }
            continue;
        }
        const uint8_t *s = in->data + (size_t)(y + y0) * (size_t)in->w * B;
        uint8_t *d = out->data + (size_t)y * (size_t)W * B;
        for (int xx = 0; xx < W; xx++) {
            const int xmin = c->bounds[2 * xx], xmax = c->bounds[2 * xx + 1];
            const int32_t *k = c->k8 + (size_t)xx * c->ksize;
            for (int b = 0; b < B; b++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < xmax; x++) ss += s[(x + xmin) * B + b] * k[x];
                d[xx * B + b] = clip8(ss);
            }
        }
    }
}

/* Rows spread over the compute pool (serially when another thread's region holds it, e.g. the server's model). */
static void pass_h(const mm_image *in, mm_image *out, int y0, const coeffs *c) {
    pass_args a = {in, out, y0, c};
    mm_parallel_for(out->h, pass_chunk(out), pass_h_rows, &a);
}

/* Vertical pass, output rows [r0, r1): in → out (same width), input rows bounds[] shifted by -y0. */
static void pass_v_rows(void *arg, int64_t r0, int64_t r1, int ith) {
    const pass_args *a = arg;
    const mm_image *in = a->in;
    mm_image *out = a->out;
    const coeffs *c = a->c;
    const int B = in->bands, W = in->w, y0 = a->y0;
    (void)ith;
    for (int yy = (int)r0; yy < (int)r1; yy++) {
        const int ymin = c->bounds[2 * yy] - y0, ymax = c->bounds[2 * yy + 1];
        if (in->mode == MM_IMG_I) {
            const double *k = c->kk + (size_t)yy * c->ksize;
            int32_t *d = (int32_t *)out->data + (size_t)yy * (size_t)W;
            for (int x = 0; x < W; x++) {
                double ss = 0.0;
                for (int y = 0; y < ymax; y++) ss += ((const int32_t *)in->data)[(size_t)(y + ymin) * (size_t)W + x] * k[y];
                d[x] = round_up(ss);
            }
            continue;
        }
        const int32_t *k = c->k8 + (size_t)yy * c->ksize;
        uint8_t *d = out->data + (size_t)yy * (size_t)W * B;
        for (int x = 0; x < W * B; x++) {
            int32_t ss = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++) ss += in->data[(size_t)(y + ymin) * (size_t)W * B + x] * k[y];
            d[x] = clip8(ss);
        }
    }
}

static void pass_v(const mm_image *in, mm_image *out, int y0, const coeffs *c) {
    pass_args a = {in, out, y0, c};
    mm_parallel_for(out->h, pass_chunk(out), pass_v_rows, &a);
}

/* ImagingResampleInner with the box (0, 0, in_w, in_h). */
static mm_image *bicubic_resize(const mm_image *in, int w, int h) {
    const int need_h = w != in->w, need_v = h != in->h;
    coeffs cv, ch;
    if (coeffs_make(&cv, in->h, h) < 0) return NULL;
    const int yfirst = cv.bounds[0], ylast = cv.bounds[2 * h - 2] + cv.bounds[2 * h - 1];
    mm_image *tmp = NULL, *out = NULL;
    const mm_image *src = in;
    if (need_h) {
        if (coeffs_make(&ch, in->w, w) < 0) {
            coeffs_free(&cv);
            return NULL;
        }
        tmp = mm_image_new(w, ylast - yfirst, in->mode);
        if (tmp) pass_h(in, tmp, yfirst, &ch);
        coeffs_free(&ch);
        if (!tmp) {
            coeffs_free(&cv);
            return NULL;
        }
        src = tmp;
    }
    if (need_v) {
        out = mm_image_new(src->w, h, in->mode);
        if (out) pass_v(src, out, need_h ? yfirst : 0, &cv);
        mm_image_free(tmp);
    } else {
        out = tmp;
    }
    coeffs_free(&cv);
    return out;
}

/* ImagingScaleAffine for a plain scale: source index int(x0) with x0 = a/2, a/2 + a, ... in a double. */
static mm_image *nearest_resize(const mm_image *in, int w, int h) {
    mm_image *out = mm_image_new(w, h, in->mode);
    int *xin = out ? malloc(sizeof(int) * (size_t)w) : NULL;
    if (!xin) {
        if (out) mm_set_error("image resize: out of memory");
        mm_image_free(out);
        return NULL;
    }
    const double ax = (double)(float)in->w / w, ay = (double)(float)in->h / h;
    double xo = ax * 0.5, yo = ay * 0.5;
    for (int x = 0; x < w; x++, xo += ax) xin[x] = xo < 0.0 ? -1 : (int)xo;
    const int B = in->bands;
    for (int y = 0; y < h; y++, yo += ay) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        if (yi >= in->h) yi = in->h - 1;   /* not reached for a plain scale; keeps every read in bounds */
        const uint8_t *s = in->data + (size_t)yi * (size_t)in->w * B;
        uint8_t *d = out->data + (size_t)y * (size_t)w * B;
        for (int x = 0; x < w; x++) memcpy(d + (size_t)x * B, s + (size_t)(xin[x] < in->w ? xin[x] : in->w - 1) * B, (size_t)B);
    }
    memcpy(out->palette, in->palette, sizeof out->palette);
    free(xin);
    return out;
}

static inline int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/* RGBA → RGBa / LA → La in place on a copy (alpha is the last band). */
static void premultiply(mm_image *im) {
    const int B = im->bands;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
        uint8_t *p = im->data + i * B;
        for (int b = 0; b < B - 1; b++) p[b] = (uint8_t)muldiv255(p[b], p[B - 1]);
    }
}
static void unpremultiply(mm_image *im) {
    const int B = im->bands;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
        uint8_t *p = im->data + i * B;
        int a = p[B - 1];
        if (a == 0 || a == 255) continue;
        for (int b = 0; b < B - 1; b++) {
            int v = 255 * p[b] / a;
            p[b] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

static mm_image *copy_image(const mm_image *im) {
    mm_image *c = mm_image_new(im->w, im->h, im->mode);
    if (!c) return NULL;
    memcpy(c->data, im->data, (size_t)im->w * im->h * im->bands);
    memcpy(c->palette, im->palette, sizeof c->palette);
    c->format = im->format;
    return c;
}

mm_image *mm_image_resize(const mm_image *im, int w, int h) {
    if (w < 1 || h < 1) {
        mm_set_error("image resize of %dx%d to %dx%d: the target needs at least one pixel (Pillow refuses it too)", im->w,
                     im->h, w, h);
        return NULL;
    }
    if (w == im->w && h == im->h) return copy_image(im);
    if (im->mode == MM_IMG_P || im->mode == MM_IMG_1) return nearest_resize(im, w, h);
    if (im->mode == MM_IMG_RGBA || im->mode == MM_IMG_LA) {
        mm_image *pm = copy_image(im);
        if (!pm) return NULL;
        premultiply(pm);
        mm_image *out = bicubic_resize(pm, w, h);
        mm_image_free(pm);
        if (out) unpremultiply(out);
        return out;
    }
    return bicubic_resize(im, w, h);
}
