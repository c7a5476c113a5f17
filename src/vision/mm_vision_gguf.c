/* mm_vision_gguf.c — MiniMax-VL-01's vision side as a separate GGUF ("mmproj", as llama.cpp's multimodal tools
 * load one next to the text model), written by `minimax quantize` and read by mm_model_load(..., .mmproj).
 *
 * KVs, llama.cpp's clip.* names where one exists:
 *   general.architecture "clip", general.name, general.file_type, clip.has_vision_encoder true,
 *   clip.projector_type "mlp" (linear, GELU, linear), clip.use_gelu (true: erf GELU in the tower's MLP and the
 *   projector; false: quick_gelu in the tower), clip.vision.image_size, clip.vision.patch_size,
 *   clip.vision.embedding_length (Dv), clip.vision.feed_forward_length (Fv), clip.vision.projection_dim (H),
 *   clip.vision.block_count, clip.vision.attention.head_count, clip.vision.attention.layer_norm_epsilon,
 *   clip.vision.image_mean / image_std (3 f32), clip.vision.mm_patch_merge_type "spatial_unpad",
 *   clip.vision.image_grid_pinpoints (i32 pairs).
 * Keys added here (llama.cpp has none for them):
 *   minimax_vl.image_token_index (u32): the placeholder id the text model's prompts use for image features;
 *   minimax_vl.pinpoint_order "width,height": how image_grid_pinpoints pairs are read (MiniMax's processor order).
 * Tensors (llama.cpp's names): v.patch_embd.weight [Dv, 3, p, p], v.class_embd [Dv], v.position_embd.weight
 * [1 + G, Dv], v.pre_ln.{weight,bias}, v.blk.N.{attn_q, attn_k, attn_v, attn_out, ln1, ln2, ffn_up (fc1),
 * ffn_down (fc2)}.{weight,bias}, mm.0.{weight,bias} (linear_1), mm.2.{weight,bias} (linear_2), v.image_newline [H].
 * The reader maps them back to the released names, so one binder (mm_vision_bind) serves both. */
#include <stdio.h>
#include <stdlib.h>
#include "formats/mm_gguf.h"
#include "formats/mm_weights.h"
#include "kernels/mm_quant.h"
#include "vision/mm_vision.h"

#define TOWER "vision_tower.vision_model."

/* GGUF name → released name (out[MM_GGUF_MAPPED_NAME]); -1 if it is not a tensor of this layout. */
static int map_name(const char *g, char *out, void *ctx) {
    (void)ctx;
    const size_t n = MM_GGUF_MAPPED_NAME;
    static const struct { const char *g, *hf; } top[] = {
        {"v.patch_embd.weight", TOWER "embeddings.patch_embedding.weight"},
        {"v.class_embd", TOWER "embeddings.class_embedding"},
        {"v.position_embd.weight", TOWER "embeddings.position_embedding.weight"},
        {"v.pre_ln.weight", TOWER "pre_layrnorm.weight"},
        {"v.pre_ln.bias", TOWER "pre_layrnorm.bias"},
        {"mm.0.weight", "multi_modal_projector.linear_1.weight"},
        {"mm.0.bias", "multi_modal_projector.linear_1.bias"},
        {"mm.2.weight", "multi_modal_projector.linear_2.weight"},
        {"mm.2.bias", "multi_modal_projector.linear_2.bias"},
        {"v.image_newline", "image_newline"},
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(g, top[i].g)) {
            snprintf(out, n, "%s", top[i].hf);
            return 0;
        }
    static const struct { const char *g, *hf; } blk[] = {
        {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
        {"attn_out", "self_attn.out_proj"}, {"ln1", "layer_norm1"}, {"ln2", "layer_norm2"}, {"ffn_up", "mlp.fc1"},
        {"ffn_down", "mlp.fc2"},
    };
    int l, used = 0;
    char part[32], kind[16];
    if (sscanf(g, "v.blk.%d.%31[a-z_0-9].%15s%n", &l, part, kind, &used) != 3 || g[used] || l < 0 ||
        (strcmp(kind, "weight") && strcmp(kind, "bias")))
        return -1;
    for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++)
        if (!strcmp(part, blk[i].g)) {
            snprintf(out, n, TOWER "encoder.layers.%d.%s.%s", l, blk[i].hf, kind);
            return 0;
        }
    return -1;
}

static int get_u32(const mm_gguf *g, const char *key, uint32_t *out) {
    int r = mm_gguf_get_u32(g, key, out);
    if (r == 0) mm_set_error("%s: the vision GGUF lacks \"%s\"", mm_gguf_path(g), key);
    return r == 1 ? 0 : -1;
}

static int get_f32s(const mm_gguf *g, const char *key, float *out, uint64_t want) {
    int type;
    uint64_t n;
    const void *data;
    int r = mm_gguf_get_arr(g, key, &type, &n, &data);
    if (r == 0) return 0;
    if (r < 0 || type != MM_GGUF_F32 || n != want) {
        mm_set_error("%s: \"%s\" must be an array of %llu f32", mm_gguf_path(g), key, (unsigned long long)want);
        return -1;
    }
    memcpy(out, data, sizeof(float) * want);
    return 0;
}

int mm_vision_gguf_load(const char *path, int text_hidden, mm_vision_config *vc, struct mm_weights **wout) {
    *wout = NULL;
    memset(vc, 0, sizeof *vc);
    mm_gguf *g = mm_gguf_open(path);
    if (!g) return -1;
    const char *arch = NULL, *ptype = NULL, *merge = NULL, *order = NULL;
    if (mm_gguf_get_str(g, "general.architecture", &arch) < 0 || !arch || strcmp(arch, "clip")) {
        mm_set_error("%s: not a vision GGUF (general.architecture is \"%s\", expected \"clip\")", path, arch ? arch : "absent");
        goto fail;
    }
    int has = 0;
    if (mm_gguf_get_bool(g, "clip.has_vision_encoder", &has) < 0 || !has) {
        mm_set_error("%s: clip.has_vision_encoder is not true", path);
        goto fail;
    }
    if (mm_gguf_get_str(g, "clip.projector_type", &ptype) < 0 || !ptype || strcmp(ptype, "mlp")) {
        mm_set_error("%s: clip.projector_type \"%s\" is not supported (MiniMax-VL-01's projector is \"mlp\")", path,
                     ptype ? ptype : "absent");
        goto fail;
    }
    if (mm_gguf_get_str(g, "clip.vision.mm_patch_merge_type", &merge) < 0 || (merge && strcmp(merge, "spatial_unpad"))) {
        mm_set_error("%s: clip.vision.mm_patch_merge_type \"%s\" is not supported (\"spatial_unpad\")", path, merge);
        goto fail;
    }
    uint32_t u[7], iti;
    const char *keys[7] = {"clip.vision.image_size", "clip.vision.patch_size", "clip.vision.embedding_length",
                           "clip.vision.feed_forward_length", "clip.vision.projection_dim", "clip.vision.block_count",
                           "clip.vision.attention.head_count"};
    for (int i = 0; i < 7; i++)
        if (get_u32(g, keys[i], &u[i]) < 0) goto fail;
    if (get_u32(g, "minimax_vl.image_token_index", &iti) < 0) goto fail;
    mm_image_settings_default(&vc->img);
    vc->img.image_size = (int)u[0], vc->img.patch_size = (int)u[1], vc->hidden = (int)u[2], vc->intermediate = (int)u[3];
    vc->n_layers = (int)u[5], vc->n_heads = (int)u[6], vc->text_hidden = text_hidden;
    vc->image_token_index = (int32_t)iti;
    if ((int)u[4] != text_hidden) {
        mm_set_error("%s: clip.vision.projection_dim %u differs from the text model's hidden size %d (a vision GGUF of "
                     "another model?)", path, u[4], text_hidden);
        goto fail;
    }
    if (!vc->n_heads || !vc->img.patch_size || vc->hidden % vc->n_heads || vc->img.image_size % vc->img.patch_size ||
        vc->n_layers > 1024) {
        mm_set_error("%s: inconsistent vision sizes (width %d, heads %d, image %d, patch %d, layers %d)", path, vc->hidden,
                     vc->n_heads, vc->img.image_size, vc->img.patch_size, vc->n_layers);
        goto fail;
    }
    int gelu = 1;
    if (mm_gguf_get_bool(g, "clip.use_gelu", &gelu) < 0) goto fail;
    vc->act = gelu ? MM_VACT_GELU : MM_VACT_QUICK_GELU;
    double eps = 1e-5;
    if (mm_gguf_get_f64(g, "clip.vision.attention.layer_norm_epsilon", &eps) < 0) goto fail;
    vc->ln_eps = eps;
    if (get_f32s(g, "clip.vision.image_mean", vc->img.mean, 3) < 0 || get_f32s(g, "clip.vision.image_std", vc->img.std, 3) < 0)
        goto fail;
    if (mm_gguf_get_str(g, "minimax_vl.pinpoint_order", &order) < 0 || (order && strcmp(order, "width,height"))) {
        mm_set_error("%s: minimax_vl.pinpoint_order \"%s\" is not supported (\"width,height\")", path, order);
        goto fail;
    }
    int type;
    uint64_t n;
    int r = mm_gguf_get_arr(g, "clip.vision.image_grid_pinpoints", &type, &n, NULL);
    if (r < 0) goto fail;
    if (r == 1) {
        if ((type != MM_GGUF_I32 && type != MM_GGUF_U32) || n < 2 || n % 2 || n / 2 > MM_VL_MAX_PINPOINTS) {
            mm_set_error("%s: clip.vision.image_grid_pinpoints must hold 1 to %d (width, height) integer pairs", path,
                         MM_VL_MAX_PINPOINTS);
            goto fail;
        }
        vc->img.n_pinpoints = (int)(n / 2);
        for (uint64_t i = 0; i < n; i++) {
            int64_t x = mm_gguf_arr_int(g, "clip.vision.image_grid_pinpoints", i);
            vc->img.pinpoints[i / 2][i % 2] = x > 0 && x <= (1 << 16) ? (int)x : 0;
        }
    }
    if (mm_image_settings_check(&vc->img) < 0) {
        mm_error_prefix("%s", path);
        goto fail;
    }
    *wout = mm_gguf_weights(g, map_name, NULL, "a MiniMax-VL-01 vision GGUF");
    return *wout ? 0 : -1;
fail:
    mm_gguf_close(g);
    return -1;
}

/* ---------------------------------------------------------------- writer */
typedef struct {
    char name[64];
    mm_dtype type;
    int ndim;
    int64_t shape[4];
    const mm_tensor *mat;   /* rows to convert, or */
    const float *vec;       /* f32 values */
} plan;

int mm_vision_gguf_write(const mm_vision *v, const char *out, mm_dtype mtype, const char *name, uint32_t file_type,
                         uint64_t *bytes) {
    const mm_vision_config *c = &v->cfg;
    const int64_t D = c->hidden, F = c->intermediate, H = c->text_hidden, p = c->img.patch_size;
    const int64_t L1 = mm_vision_patch_tokens(c) + 1;
    int np = 0, cap = 16 + 16 * c->n_layers;
    plan *ps = mm_xcalloc((size_t)cap, sizeof *ps);
#define ADD(nm_, t_, nd_, s0, s1, s2, s3, m_, v_)                                                             \
    do {                                                                                                      \
        plan *q_ = &ps[np++];                                                                                 \
        snprintf(q_->name, sizeof q_->name, "%s", nm_);                                                       \
        q_->type = t_, q_->ndim = nd_, q_->shape[0] = s0, q_->shape[1] = s1, q_->shape[2] = s2, q_->shape[3] = s3; \
        q_->mat = m_, q_->vec = v_;                                                                           \
    } while (0)
    /* a matrix type needs whole blocks per row, else F16 (as llama.cpp falls back) */
#define MT(cols) (mm_row_bytes(mtype, cols) ? mtype : MM_F16)
    mm_dtype pt = v->patch.dtype == MM_F32 || mtype == MM_F32 ? MM_F32 : MM_F16;
    if (mtype == MM_BF16 && v->patch.dtype == MM_BF16) pt = MM_BF16;
    ADD("v.patch_embd.weight", pt, 4, D, 3, p, p, &v->patch, NULL);
    ADD("v.class_embd", MM_F32, 1, D, 0, 0, 0, NULL, v->cls);
    ADD("v.position_embd.weight", MM_F32, 2, L1, D, 0, 0, NULL, v->pos);
    ADD("v.pre_ln.weight", MM_F32, 1, D, 0, 0, 0, NULL, v->pre_w);
    ADD("v.pre_ln.bias", MM_F32, 1, D, 0, 0, 0, NULL, v->pre_b);
    for (int l = 0; l < c->n_layers; l++) {
        const mm_vision_layer *ly = &v->layers[l];
        char b[64];
#define BLK(part, t_, nd_, s0, s1, m_, v_)                 \
    do {                                                   \
        snprintf(b, sizeof b, "v.blk.%d.%s", l, part);     \
        ADD(b, t_, nd_, s0, s1, 0, 0, m_, v_);             \
    } while (0)
        BLK("attn_q.weight", MT(D), 2, D, D, &ly->wq, NULL);
        BLK("attn_q.bias", MM_F32, 1, D, 0, NULL, ly->bq);
        BLK("attn_k.weight", MT(D), 2, D, D, &ly->wk, NULL);
        BLK("attn_k.bias", MM_F32, 1, D, 0, NULL, ly->bk);
        BLK("attn_v.weight", MT(D), 2, D, D, &ly->wv, NULL);
        BLK("attn_v.bias", MM_F32, 1, D, 0, NULL, ly->bv);
        BLK("attn_out.weight", MT(D), 2, D, D, &ly->wo, NULL);
        BLK("attn_out.bias", MM_F32, 1, D, 0, NULL, ly->bo);
        BLK("ln1.weight", MM_F32, 1, D, 0, NULL, ly->ln1_w);
        BLK("ln1.bias", MM_F32, 1, D, 0, NULL, ly->ln1_b);
        BLK("ln2.weight", MM_F32, 1, D, 0, NULL, ly->ln2_w);
        BLK("ln2.bias", MM_F32, 1, D, 0, NULL, ly->ln2_b);
        BLK("ffn_up.weight", MT(D), 2, F, D, &ly->fc1, NULL);
        BLK("ffn_up.bias", MM_F32, 1, F, 0, NULL, ly->b1);
        BLK("ffn_down.weight", MT(F), 2, D, F, &ly->fc2, NULL);
        BLK("ffn_down.bias", MM_F32, 1, D, 0, NULL, ly->b2);
#undef BLK
    }
    ADD("mm.0.weight", MT(D), 2, H, D, 0, 0, &v->proj1, NULL);
    ADD("mm.0.bias", MM_F32, 1, H, 0, 0, 0, NULL, v->proj1_b);
    ADD("mm.2.weight", MT(H), 2, H, H, 0, 0, &v->proj2, NULL);
    ADD("mm.2.bias", MM_F32, 1, H, 0, 0, 0, NULL, v->proj2_b);
    ADD("v.image_newline", MM_F32, 1, H, 0, 0, 0, NULL, v->newline);
#undef ADD
#undef MT
    mm_gguf_writer *w = mm_gguf_writer_new(out);
    int rc = -1;
    float *fbuf = NULL;
    void *qbuf = NULL;
    int32_t pins[2 * MM_VL_MAX_PINPOINTS];
    for (int i = 0; i < c->img.n_pinpoints; i++) pins[2 * i] = c->img.pinpoints[i][0], pins[2 * i + 1] = c->img.pinpoints[i][1];
    if (mm_gguf_w_str(w, "general.architecture", "clip") || mm_gguf_w_str(w, "general.name", name) ||
        mm_gguf_w_u32(w, "general.file_type", file_type) || mm_gguf_w_bool(w, "clip.has_vision_encoder", 1) ||
        mm_gguf_w_str(w, "clip.projector_type", "mlp") || mm_gguf_w_bool(w, "clip.use_gelu", c->act == MM_VACT_GELU) ||
        mm_gguf_w_u32(w, "clip.vision.image_size", (uint32_t)c->img.image_size) ||
        mm_gguf_w_u32(w, "clip.vision.patch_size", (uint32_t)p) || mm_gguf_w_u32(w, "clip.vision.embedding_length", (uint32_t)D) ||
        mm_gguf_w_u32(w, "clip.vision.feed_forward_length", (uint32_t)F) ||
        mm_gguf_w_u32(w, "clip.vision.projection_dim", (uint32_t)H) ||
        mm_gguf_w_u32(w, "clip.vision.block_count", (uint32_t)c->n_layers) ||
        mm_gguf_w_u32(w, "clip.vision.attention.head_count", (uint32_t)c->n_heads) ||
        mm_gguf_w_f32(w, "clip.vision.attention.layer_norm_epsilon", (float)c->ln_eps) ||
        mm_gguf_w_arr(w, "clip.vision.image_mean", MM_GGUF_F32, 3, c->img.mean) ||
        mm_gguf_w_arr(w, "clip.vision.image_std", MM_GGUF_F32, 3, c->img.std) ||
        mm_gguf_w_str(w, "clip.vision.mm_patch_merge_type", "spatial_unpad") ||
        mm_gguf_w_arr(w, "clip.vision.image_grid_pinpoints", MM_GGUF_I32, 2 * (uint64_t)c->img.n_pinpoints, pins) ||
        mm_gguf_w_u32(w, "minimax_vl.image_token_index", (uint32_t)c->image_token_index) ||
        mm_gguf_w_str(w, "minimax_vl.pinpoint_order", "width,height"))
        goto done;
    int64_t maxc = 1;
    for (int i = 0; i < np; i++) {
        if (mm_gguf_writer_add(w, ps[i].name, ps[i].type, ps[i].ndim, ps[i].shape)) goto done;
        int64_t cols = ps[i].ndim == 4 ? 3 * p * p : ps[i].shape[ps[i].ndim - 1];
        if (cols > maxc) maxc = cols;
    }
    if (mm_gguf_writer_begin(w)) goto done;
    fbuf = mm_xmalloc(sizeof(float) * (size_t)maxc);
    qbuf = mm_xmalloc(sizeof(float) * (size_t)maxc + 4096);
    for (int i = 0; i < np; i++) {
        const plan *q = &ps[i];
        const int64_t cols = q->ndim == 4 ? 3 * p * p : q->shape[q->ndim - 1];
        const int64_t rows = q->ndim == 4 ? D : q->ndim == 2 ? q->shape[0] : 1;
        for (int64_t r = 0; r < rows; r++) {
            const float *src = q->vec ? q->vec + r * cols : fbuf;
            if (q->mat) mm_tensor_row_f32(q->mat, r, fbuf);
            size_t nb = mm_quantize_rows(q->type, src, qbuf, 1, cols);
            if (!nb || mm_gguf_writer_write(w, qbuf, nb)) goto done;
        }
    }
    if (mm_gguf_writer_finish(w)) goto done;
    if (bytes) *bytes = mm_gguf_writer_file_bytes(w);
    rc = 0;
done:
    free(fbuf);
    free(qbuf);
    free(ps);
    mm_gguf_writer_free(w);
    return rc;
}
