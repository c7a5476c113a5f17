/* mm_vision.h — MiniMax-VL-01's vision side: the config (vision_config, projector, pinpoints, the processor's
 * preprocessor_config.json), the CLIP ViT tower (MiniMax's modeling_clip.py: per patch a standard CLIP vision
 * transformer, patches independent), the 2-layer projector, and the anyres packing with image_newline
 * (../shared/golden-vl/README.md §3–§4). Shapes: S image side, p ViT patch, G = (S/p)² = 576 features per patch,
 * Dv vision width, Fv vision MLP width, NHv heads, H the language model's width. */
#ifndef MM_VISION_H
#define MM_VISION_H
#include "vision/mm_preprocess.h"

struct mm_weights;

enum { MM_VACT_GELU = 0, MM_VACT_QUICK_GELU = 1 };

typedef struct mm_vision_config {
    int hidden;             /* Dv */
    int intermediate;       /* Fv */
    int n_layers;
    int n_heads;            /* NHv; head width Dv / NHv */
    int act;                /* MM_VACT_* of the tower's MLP (the projector is always erf GELU) */
    double ln_eps;          /* LayerNorm eps (1e-5) */
    int text_hidden;        /* H: the projector's output width */
    int32_t image_token_index;
    int hf_names;           /* 1: the transformers-native port's pinpoint order (height, width) was read */
    mm_image_settings img;  /* image_size, patch_size, pinpoints (width, height), mean, std */
} mm_vision_config;

/* The VL part of a config.json text (model_type minimax_vl_01) and, when preproc_text is not NULL, the
 * processor's preprocessor_config.json. Refuses, naming the key and why, what the original code cannot run:
 * vision_feature_layer other than -1, vision_feature_select_strategy other than "default", a projector
 * activation other than gelu, RoPE positions in the tower, a processor mode other than anyres, a processor size
 * or patch that disagrees with the tower, pinpoints that are not whole tiles. */
int mm_vision_config_parse(mm_vision_config *vc, const char *config_text, const char *config_path, const char *preproc_text,
                           const char *preproc_path, int text_hidden);
/* Reads DIR/config.json and DIR/preprocessor_config.json (optional) and parses them. */
int mm_vision_config_load(mm_vision_config *vc, const char *dir, int text_hidden);

typedef struct {
    mm_tensor wq, wk, wv, wo;    /* [Dv, Dv] */
    float *bq, *bk, *bv, *bo;    /* [Dv] */
    float *ln1_w, *ln1_b;        /* [Dv] layer_norm1 */
    float *ln2_w, *ln2_b;        /* [Dv] layer_norm2 */
    mm_tensor fc1;               /* [Fv, Dv] */
    mm_tensor fc2;               /* [Dv, Fv] */
    float *b1;                   /* [Fv] */
    float *b2;                   /* [Dv] */
} mm_vision_layer;

/* Wall time of the tower's parts, summed over the calls of mm_vision_tower / mm_vision_project (`minimax bench`
 * reads it; one encoding thread at a time, as the CLI and the server's worker do). */
typedef struct {
    double matmul;      /* patch embedding, q/k/v/out, fc1/fc2, projector (with their bias adds) */
    double attention;   /* scores, softmax, weighted values */
    double other;       /* LayerNorms, GELU, residuals, im2col, copies */
} mm_vision_times;

typedef struct mm_vision {
    mm_vision_config cfg;
    mm_vision_times *times;      /* accumulated timings (owned) */
    mm_tensor patch;             /* [Dv, 3·p·p] the conv weight [Dv, 3, p, p] seen as rows over (c, ky, kx) */
    float *cls;                  /* [Dv] class_embedding */
    float *pos;                  /* [1 + G, Dv] position_embedding */
    float *pre_w, *pre_b;        /* [Dv] pre_layrnorm */
    mm_vision_layer *layers;     /* [n_layers] */
    mm_tensor proj1;             /* [H, Dv] multi_modal_projector.linear_1 */
    mm_tensor proj2;             /* [H, H]  multi_modal_projector.linear_2 */
    float *proj1_b, *proj2_b;    /* [H] */
    float *newline;              /* [H] image_newline */
} mm_vision;

/* Binds the tower, projector and newline of a weight table, under the released names
 * (vision_tower.vision_model.*, multi_modal_projector.*, image_newline) or the transformers-native port's
 * (model.vision_tower[.vision_model].*, model.multi_modal_projector.*, model.image_newline); shapes checked
 * against cfg. NULL + error naming the tensor. The views point into w, which must outlive the result. */
mm_vision *mm_vision_bind(const mm_vision_config *cfg, const struct mm_weights *w);
void mm_vision_free(mm_vision *v);

/* The tower on np patches: pixels [np, 3, S, S] → selected features [np·G, Dv] (the last layer's hidden states,
 * CLS dropped, no post-LayerNorm). Patches run in groups through the shared matrix kernels. 0 or -1 + error. */
int mm_vision_tower(const mm_vision *v, const float *pixels, int np, float *selected);
/* out [rows, H] = linear_2(GELU(linear_1(x) + b1)) + b2 over x [rows, Dv]. */
int mm_vision_project(const mm_vision *v, const float *x, int64_t rows, float *out);
/* The anyres packing of one image's projected patches proj [n_patches·G, H] (thumbnail first) into
 * out [p->n_tokens, H]: the thumbnail's G rows, then the tiles stitched into the (rows·S/p) × (cols·S/p) grid,
 * cropped to feat_rows × feat_cols at feat_pad, emitted row by row, each row followed by image_newline. */
void mm_vision_pack(const mm_vision *v, const mm_image_plan *p, const float *proj, float *out);
/* The same arrangement as pointers: rows[i] (i < p->n_tokens) points at the row of proj, or at image_newline, that
 * packed row i copies (callers that bind features without copying them). */
void mm_vision_pack_rows(const mm_vision *v, const mm_image_plan *p, const float *proj, const float **rows);
/* Tower + projector on patches [p0, p0 + np) of pixels [n, 3, S, S] into proj rows [p0·G, (p0 + np)·G). */
int mm_vision_encode_patches(const mm_vision *v, const float *pixels, int p0, int np, float *proj);
/* The vision GGUF ("mmproj") of a MiniMax-VL-01 model (KVs and tensor names in mm_vision_gguf.c): write v with its
 * matrices in mtype (rows that are no whole blocks: F16; vectors F32) to out (out.tmp renamed at the end); or
 * read one into a config and a weight table under the released names for mm_vision_bind. */
int mm_vision_gguf_write(const mm_vision *v, const char *out, mm_dtype mtype, const char *name, uint32_t file_type,
                         uint64_t *bytes);
int mm_vision_gguf_load(const char *path, int text_hidden, mm_vision_config *vc, struct mm_weights **w);
/* Features per patch (G) and FLOPs of encoding one patch (tower + projector, 2 per multiply-add). */
int mm_vision_patch_tokens(const mm_vision_config *c);
double mm_vision_patch_flops(const mm_vision_config *c);
#endif
