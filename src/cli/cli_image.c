/* cli_image.c — images on the command line (MiniMax-VL-01): loading, preprocessing and encoding the --image files
 * of run / logits / chat, binding them to a prompt's placeholders, and `minimax image-info`. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "base/mm_common.h"
#include "minimax.h"

void mm_cli_images_free(mm_cli_images *im) {
    for (int i = 0; i < im->n; i++) {
        mm_image_input_free(im->in[i]);
        free(im->feat[i]);
    }
    free(im->in);
    free(im->feat);
    free(im->ntok);
    memset(im, 0, sizeof *im);
}

int mm_cli_images_load(const char *cmd, const mm_model *m, const char *const *paths, int n, mm_cli_images *im) {
    memset(im, 0, sizeof *im);
    if (n && m && !mm_model_has_vision(m)) {
        fprintf(stderr, "minimax %s: --image needs a model with a vision tower (MiniMax-VL-01, or a .gguf with --mmproj); "
                        "this one is text-only\n", cmd);
        return -1;
    }
    im->in = mm_xcalloc((size_t)n + 1, sizeof *im->in);
    im->feat = mm_xcalloc((size_t)n + 1, sizeof *im->feat);
    im->ntok = mm_xcalloc((size_t)n + 1, sizeof *im->ntok);
    for (int i = 0; i < n; i++, im->n++) {
        mm_image *img = mm_image_load(paths[i], 0);
        if (!img) {
            fprintf(stderr, "minimax %s: --image %s\n", cmd, mm_last_error());
            return -1;
        }
        im->in[i] = mm_image_preprocess(m, img);
        mm_image_free(img);
        if (!im->in[i]) {
            fprintf(stderr, "minimax %s: --image %s: %s\n", cmd, paths[i], mm_last_error());
            return -1;
        }
        im->ntok[i] = mm_image_input_plan(im->in[i])->n_tokens;
    }
    return 0;
}

int mm_cli_images_encode(const char *cmd, const mm_model *m, mm_cli_images *im) {
    const int H = mm_model_config(m)->hidden_size;
    double t0 = mm_time();
    for (int i = 0; i < im->n; i++) {
        im->feat[i] = malloc(sizeof(float) * (size_t)im->ntok[i] * H);
        if (!im->feat[i] || mm_image_encode(m, im->in[i], im->feat[i]) < 0) {
            fprintf(stderr, "minimax %s: encoding image %d: %s\n", cmd, i + 1, im->feat[i] ? mm_last_error() : "out of memory");
            return -1;
        }
        im->patches += mm_image_input_plan(im->in[i])->n_patches;
    }
    im->encode_seconds = mm_time() - t0;
    return 0;
}

const float **mm_cli_images_embd(const char *cmd, const mm_model *m, const mm_cli_images *im, const int32_t *ids, int n) {
    const float **embd = mm_xcalloc((size_t)n + 1, sizeof *embd);
    if (mm_image_embd(m, ids, n, im->n, (const float *const *)im->feat, im->ntok, embd) < 0) {
        fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
        free(embd);
        return NULL;
    }
    return embd;
}

json_t *mm_cli_user_content(const char *text, int n_images) {
    json_t *parts = json_array();
    int placeholders = 0;
    for (const char *p = text; (p = strstr(p, "<image>")); p += 7) placeholders++;
    if (!placeholders)   /* no placeholder: the images first, then the text (the common order of a chat UI) */
        for (int i = 0; i < n_images; i++) json_array_append_new(parts, json_pack("{s:s}", "type", "image"));
    for (const char *p = text;;) {
        const char *q = strstr(p, "<image>");
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len) {
            json_t *t = json_stringn(p, len);
            if (!t) {
                json_decref(parts);
                return NULL;   /* not UTF-8 */
            }
            json_array_append_new(parts, json_pack("{s:s, s:o}", "type", "text", "text", t));
        }
        if (!q) break;
        json_array_append_new(parts, json_pack("{s:s}", "type", "image"));
        p = q + 7;
    }
    return parts;
}

/* ---------------------------------------------------------------- minimax image-info */
static void usage(FILE *f) {
    fprintf(f,
            "usage: minimax image-info [-m MODEL] --image FILE [--image FILE2 ...] [--json] [--mmproj FILE]\n"
            "\n"
            "How MiniMax-VL-01 sees an image: its mode and size as decoded, the grid resolution chosen, the tiles and\n"
            "the number of image tokens it takes in a prompt. Without -m the released processor settings are used\n"
            "(336-pixel tiles, the 28 grid pinpoints, CLIP normalisation); with -m those of the model's config.\n"
            "\n"
            "  -m, --model DIR       a VL checkpoint (or a .gguf with --mmproj) whose settings to use\n"
            "      --mmproj FILE     the vision GGUF of a .gguf model\n"
            "      --image FILE      PNG, JPEG or WebP (repeatable)\n"
            "      --json            one JSON object per image\n"
            "  -h, --help            this help\n");
}

int mm_cli_image_info(int argc, char **argv) {
    const char *cmd = "image-info", *model = NULL, *mmproj = NULL, *paths[64];
    int n = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; model = v; }
        else if (!strcmp(a, "--mmproj")) { if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2; mmproj = v; }
        else if (!strcmp(a, "--image")) {
            if (!(v = mm_arg_next(cmd, argc, argv, &i))) return 2;
            if (n == 64) { fprintf(stderr, "minimax %s: at most 64 images\n", cmd); return 2; }
            paths[n++] = v;
        } else if (!strcmp(a, "--json")) json = 1;
        else { fprintf(stderr, "minimax %s: unknown option '%s' (see --help)\n", cmd, a); return 2; }
    }
    if (!n) { fprintf(stderr, "minimax %s: --image FILE is required (see --help)\n", cmd); return 2; }
    mm_model *m = NULL;
    if (model && !(m = mm_model_load(model, &(mm_model_params){.mmproj = mmproj}))) {
        fprintf(stderr, "minimax %s: %s\n", cmd, mm_last_error());
        return 1;
    }
    if (m && !mm_model_has_vision(m)) {
        fprintf(stderr, "minimax %s: %s has no vision tower (not a MiniMax-VL-01 model)\n", cmd, model);
        mm_model_free(m);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        mm_image *img = mm_image_load(paths[i], 0);
        mm_image_plan p;
        if (!img || mm_image_plan_for(m, mm_image_width(img), mm_image_height(img), &p) < 0) {
            fprintf(stderr, "minimax %s: %s%s%s\n", cmd, img ? paths[i] : "", img ? ": " : "", mm_last_error());
            mm_image_free(img);
            rc = 1;
            break;
        }
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:[i,i], s:[i,i], s:i, s:i, s:{s:[i,i], s:[i,i]}, s:{s:i, s:i, s:i}, s:i}",
                                  "file", paths[i], "format", mm_image_format(img), "mode", mm_image_mode(img), "width", p.width,
                                  "height", p.height, "best_resolution_wh", p.best_width, p.best_height, "grid_rows_cols",
                                  p.grid_rows, p.grid_cols, "n_tiles", p.n_tiles, "n_patches", p.n_patches, "resize", "size_wh",
                                  p.resized_width, p.resized_height, "offset_xy", p.offset_x, p.offset_y, "unpad", "rows",
                                  p.feat_rows, "cols", p.feat_cols, "pad", p.feat_pad, "num_image_tokens", p.n_tokens);
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(s);
            free(s);
            json_decref(o);
        } else {
            printf("%s: %s %s %dx%d → canvas %dx%d (%d×%d tiles + thumbnail = %d patches), resized %dx%d at (%d, %d), "
                   "features %d×%d (pad %d): %d image tokens\n",
                   paths[i], mm_image_format(img), mm_image_mode(img), p.width, p.height, p.best_width, p.best_height,
                   p.grid_rows, p.grid_cols, p.n_patches, p.resized_width, p.resized_height, p.offset_x, p.offset_y,
                   p.feat_rows, p.feat_cols, p.feat_pad, p.n_tokens);
        }
        mm_image_free(img);
    }
    mm_model_free(m);
    return rc;
}
