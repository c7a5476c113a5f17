/* mm_vision_config.c — the vision half of a MiniMax-VL-01 config.json and the processor's preprocessor_config.json.
 *
 * config.json: vision_config (CLIPVisionConfig; its class defaults apply to absent keys: hidden 768, 12 layers,
 * 12 heads, MLP 3072, image 224, patch 32, quick_gelu, eps 1e-5 — the released file sets all of them),
 * image_grid_pinpoints, vision_feature_layer, vision_feature_select_strategy, image_token_index,
 * projector_hidden_act. preprocessor_config.json (optional): size, image_mean, image_std, patch_size,
 * process_image_mode, image_grid_pinpoints. Documented defaults when it is absent or silent: size = the tower's
 * image_size, CLIP's mean (0.48145466, 0.4578275, 0.40821073) and std (0.26862954, 0.26130258, 0.27577711), the
 * tower's patch_size, config.json's pinpoints.
 *
 * Pinpoints are read as (width, height), as MiniMax's processor reads them (golden-vl README, caveat 1). A config
 * of the transformers-native port (text_config without attn_type_list) reads them as (height, width), as that
 * port's processor and model both do; for the released symmetric list the two readings agree. */
#include <stdlib.h>
#include <string.h>
#include "formats/mm_json.h"
#include "vision/mm_vision.h"

#define TRY(x)                  \
    do {                        \
        if ((x) < 0) goto fail; \
    } while (0)

/* A list of [a, b] pairs into pinpoints (swapped when hw). */
static int read_pinpoints(json_t *arr, const char *path, const char *key, int hw, mm_image_settings *s) {
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MM_VL_MAX_PINPOINTS) {
        mm_set_error("%s: \"%s\" must be a list of 1 to %d [width, height] pairs", path, key, MM_VL_MAX_PINPOINTS);
        return -1;
    }
    s->n_pinpoints = (int)json_array_size(arr);
    for (int i = 0; i < s->n_pinpoints; i++) {
        json_t *p = json_array_get(arr, (size_t)i);
        json_t *a = json_array_get(p, 0), *b = json_array_get(p, 1);
        if (json_array_size(p) != 2 || !json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) < 1 ||
            json_integer_value(b) < 1 || json_integer_value(a) > (1 << 16) || json_integer_value(b) > (1 << 16)) {
            mm_set_error("%s: %s[%d] must be a pair of positive integers", path, key, i);
            return -1;
        }
        s->pinpoints[i][0] = (int)json_integer_value(hw ? b : a);
        s->pinpoints[i][1] = (int)json_integer_value(hw ? a : b);
    }
    return 0;
}

static int read_triple(json_t *o, const char *key, const char *path, float out[3]) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v) || json_array_size(v) != 3) {
        mm_set_error("%s: \"%s\" must be a list of 3 numbers (one per RGB channel)", path, key);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        json_t *x = json_array_get(v, (size_t)i);
        if (!json_is_number(x)) {
            mm_set_error("%s: %s[%d] must be a number", path, key, i);
            return -1;
        }
        out[i] = (float)json_number_value(x);
    }
    return 1;
}

static json_t *load_object(const char *text, const char *path) {
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        mm_set_error("%s: malformed JSON at line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        mm_set_error("%s: the top level must be a JSON object", path);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* The processor's settings over the defaults already in vc->img. */
static int parse_preproc(mm_vision_config *vc, json_t *pp, const char *path, int hw) {
    mm_image_settings *s = &vc->img;
    const char *mode = NULL;
    TRY(mm_json_str(pp, "process_image_mode", path, &mode));
    if (mode && strcmp(mode, "anyres")) {
        mm_set_error("%s: process_image_mode \"%s\" is not supported: MiniMax-VL-01 runs \"anyres\" (tiles + thumbnail)", path, mode);
        goto fail;
    }
    json_t *size = json_object_get(pp, "size");
    if (size && !json_is_null(size)) {
        int sw = 0, sh = 0;
        if (json_is_integer(size)) sw = sh = (int)json_integer_value(size);
        else if (json_is_array(size) && json_array_size(size) == 2)
            sh = (int)json_integer_value(json_array_get(size, 0)), sw = (int)json_integer_value(json_array_get(size, 1));
        else if (json_is_object(size)) {
            TRY(mm_json_int(size, "height", path, 1, 1 << 16, &sh));
            TRY(mm_json_int(size, "width", path, 1, 1 << 16, &sw));
            if (!sw && !sh) {
                TRY(mm_json_int(size, "shortest_edge", path, 1, 1 << 16, &sw));
                sh = sw;
            }
        }
        if (sw < 1 || sw != sh) {
            mm_set_error("%s: \"size\" must give one square side (e.g. [336, 336]); this engine cuts square tiles", path);
            goto fail;
        }
        if (sw != s->image_size) {
            mm_set_error("%s: the processor's size %d differs from the vision tower's image_size %d", path, sw, s->image_size);
            goto fail;
        }
    }
    int patch = s->patch_size;
    TRY(mm_json_int(pp, "patch_size", path, 1, 1 << 16, &patch));
    if (patch != s->patch_size) {
        mm_set_error("%s: the processor's patch_size %d differs from the vision tower's %d", path, patch, s->patch_size);
        goto fail;
    }
    TRY(read_triple(pp, "image_mean", path, s->mean));
    TRY(read_triple(pp, "image_std", path, s->std));
    int flag = 1;
    TRY(mm_json_bool(pp, "do_normalize", path, &flag));
    if (!flag) goto unsupported;
    TRY(mm_json_bool(pp, "do_rescale", path, &flag));
    if (!flag) goto unsupported;
    double rf = 1.0 / 255;
    TRY(mm_json_num(pp, "rescale_factor", path, &rf));
    if (rf != 1.0 / 255 && (float)rf != 1.0f / 255) goto unsupported;
    json_t *pins = json_object_get(pp, "image_grid_pinpoints");
    if (pins && !json_is_null(pins)) {
        mm_image_settings own = *s;
        TRY(read_pinpoints(pins, path, "image_grid_pinpoints", hw, &own));
        if (own.n_pinpoints != s->n_pinpoints || memcmp(own.pinpoints, s->pinpoints, sizeof(int) * 2 * (size_t)own.n_pinpoints)) {
            mm_set_error("%s: image_grid_pinpoints differs from config.json's; the processor and the model must cut images "
                         "the same way", path);
            goto fail;
        }
    }
    return 0;
unsupported:
    mm_set_error("%s: do_normalize/do_rescale off or a rescale_factor other than 1/255 is not what MiniMax-VL-01 was "
                 "trained with; refusing rather than computing other pixel values", path);
fail:
    return -1;
}

int mm_vision_config_parse(mm_vision_config *vc, const char *config_text, const char *path, const char *preproc_text,
                           const char *preproc_path, int text_hidden) {
    memset(vc, 0, sizeof *vc);
    json_t *root = load_object(config_text, path), *pp = NULL;
    if (!root) return -1;
    mm_image_settings_default(&vc->img);
    vc->text_hidden = text_hidden;
    json_t *tc = json_object_get(root, "text_config"), *v = json_object_get(root, "vision_config");
    const char *tmt = json_string_value(json_object_get(tc, "model_type"));
    vc->hf_names = tmt ? strcmp(tmt, "minimax_text_01") != 0 : !json_object_get(tc, "attn_type_list");
    /* vision_config with CLIPVisionConfig's defaults */
    vc->hidden = 768, vc->intermediate = 3072, vc->n_layers = 12, vc->n_heads = 12, vc->ln_eps = 1e-5;
    vc->img.image_size = 224, vc->img.patch_size = 32;
    const char *act = "quick_gelu", *pet = NULL, *vmt = NULL;
    char vpath[4200];
    snprintf(vpath, sizeof vpath, "%s (vision_config)", path);
    if (!json_is_object(v)) {
        mm_set_error("%s: model_type minimax_vl_01 needs a \"vision_config\" object (the vision tower's config)", path);
        goto fail;
    }
    TRY(mm_json_str(v, "model_type", vpath, &vmt));
    if (vmt && strcmp(vmt, "clip_vision_model")) {
        mm_set_error("%s: model_type \"%s\" is not supported (MiniMax-VL-01's tower is clip_vision_model)", vpath, vmt);
        goto fail;
    }
    TRY(mm_json_int(v, "hidden_size", vpath, 1, 1 << 16, &vc->hidden));
    TRY(mm_json_int(v, "intermediate_size", vpath, 1, 1 << 18, &vc->intermediate));
    TRY(mm_json_int(v, "num_hidden_layers", vpath, 1, 1024, &vc->n_layers));
    TRY(mm_json_int(v, "num_attention_heads", vpath, 1, 4096, &vc->n_heads));
    TRY(mm_json_int(v, "image_size", vpath, 1, 4096, &vc->img.image_size));
    TRY(mm_json_int(v, "patch_size", vpath, 1, 4096, &vc->img.patch_size));
    TRY(mm_json_num(v, "layer_norm_eps", vpath, &vc->ln_eps));
    TRY(mm_json_str(v, "hidden_act", vpath, &act));
    TRY(mm_json_str(v, "position_embedding_type", vpath, &pet));
    int channels = 3;
    TRY(mm_json_int(v, "num_channels", vpath, 1, 64, &channels));
    if (channels != 3) {
        mm_set_error("%s: num_channels %d is not supported (RGB: 3)", vpath, channels);
        goto fail;
    }
    if (!strcmp(act, "gelu")) vc->act = MM_VACT_GELU;
    else if (!strcmp(act, "quick_gelu")) vc->act = MM_VACT_QUICK_GELU;
    else {
        mm_set_error("%s: hidden_act \"%s\" is not supported (gelu or quick_gelu)", vpath, act);
        goto fail;
    }
    if (pet && strcmp(pet, "learned_absolute") && strcmp(pet, "absolute")) {
        mm_set_error("%s: position_embedding_type \"%s\" is not supported: the released tower uses learned absolute "
                     "positions (the 2-D RoPE option of modeling_clip.py is not implemented)", vpath, pet);
        goto fail;
    }
    if (vc->hidden % vc->n_heads || vc->img.image_size % vc->img.patch_size || !(vc->ln_eps > 0)) {
        mm_set_error("%s: hidden_size %d must be a multiple of num_attention_heads %d, image_size %d of patch_size %d, "
                     "layer_norm_eps positive", vpath, vc->hidden, vc->n_heads, vc->img.image_size, vc->img.patch_size);
        goto fail;
    }
    /* the model-level keys */
    int layer = -1;
    json_t *vfl = json_object_get(root, "vision_feature_layer");
    if (vfl && !json_is_null(vfl) && !json_is_integer(vfl)) {
        mm_set_error("%s: vision_feature_layer must be one integer (a list of layers is not what the original code runs)", path);
        goto fail;
    }
    TRY(mm_json_int(root, "vision_feature_layer", path, -4096, 4096, &layer));
    if (layer != -1) {
        mm_set_error("%s: vision_feature_layer %d is refused: MiniMax's original code only works with -1 (the last "
                     "layer); with another value its feature split selects an empty tensor (golden-vl README §3)", path, layer);
        goto fail;
    }
    const char *strategy = "default", *pact = "gelu";
    TRY(mm_json_str(root, "vision_feature_select_strategy", path, &strategy));
    if (strcmp(strategy, "default")) {
        mm_set_error("%s: vision_feature_select_strategy \"%s\" is refused: only \"default\" (drop CLS, 576 features per "
                     "patch) fits the anyres packing of the original code", path, strategy);
        goto fail;
    }
    TRY(mm_json_str(root, "projector_hidden_act", path, &pact));
    if (strcmp(pact, "gelu")) {
        mm_set_error("%s: projector_hidden_act \"%s\" is not supported (gelu)", path, pact);
        goto fail;
    }
    int bias = 1;
    TRY(mm_json_bool(root, "multimodal_projector_bias", path, &bias));
    if (!bias) {
        mm_set_error("%s: multimodal_projector_bias false is not supported (the released projector has biases)", path);
        goto fail;
    }
    int iti = 200025;
    TRY(mm_json_int(root, "image_token_index", path, 0, INT32_MAX, &iti));
    vc->image_token_index = iti;
    json_t *pins = json_object_get(root, "image_grid_pinpoints");
    if (pins && !json_is_null(pins)) TRY(read_pinpoints(pins, path, "image_grid_pinpoints", vc->hf_names, &vc->img));
    if (preproc_text) {
        if (!(pp = load_object(preproc_text, preproc_path))) goto fail;
        TRY(parse_preproc(vc, pp, preproc_path, vc->hf_names));
    }
    if (mm_image_settings_check(&vc->img) < 0) {
        mm_error_prefix("%s", path);
        goto fail;
    }
    json_decref(pp);
    json_decref(root);
    return 0;
fail:
    json_decref(pp);
    json_decref(root);
    return -1;
}

int mm_vision_config_load(mm_vision_config *vc, const char *dir, int text_hidden) {
    char cpath[4200], ppath[4200];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(ppath, sizeof ppath, "%s/preprocessor_config.json", dir);
    char *ctext = mm_json_read_file(cpath, "config");
    if (!ctext) return -1;
    FILE *f = fopen(ppath, "rb");
    char *ptext = NULL;
    if (f) {
        fclose(f);
        if (!(ptext = mm_json_read_file(ppath, "preprocessor config"))) {
            free(ctext);
            return -1;
        }
    }
    int rc = mm_vision_config_parse(vc, ctext, cpath, ptext, ppath, text_hidden);
    free(ctext);
    free(ptext);
    return rc;
}
