/* mm_mkmodel.h — write a random-weight MiniMax-01 checkpoint in the exact Hugging Face layout.
 *
 * Values are a pure function of (seed, canonical tensor name, element index), drawn with a counter-based
 * generator, so they can be produced in parallel chunks and are identical whatever the layout (per-expert
 * w1/w2/w3 or fused gate_up_proj/down_proj), the dtype (each is rounded from the same f32), the shard
 * size or the thread count. The canonical name is the per-expert (block_sparse_moe.*) name. */
#ifndef MM_MKMODEL_H
#define MM_MKMODEL_H
#include <stdint.h>
#include "base/mm_common.h"

enum { MM_LAYOUT_PER_EXPERT = 0, MM_LAYOUT_FUSED = 1 };

typedef struct mm_mkmodel_params {
    int vocab_size;         /* V */
    int hidden_size;        /* H */
    int n_layers;           /* L */
    int n_heads;            /* NH */
    int n_kv_heads;         /* NKV */
    int head_dim;           /* D */
    int rotary_dim;         /* R <= D, even */
    int intermediate_size;  /* I */
    int n_experts;          /* E */
    int top_k;
    int max_position_embeddings;
    double rope_theta;
    uint8_t layer_type[512];/* MM_LAYER_* per layer (MM_MAX_LAYERS) */
    mm_dtype dtype;         /* F32, F16 or BF16 */
    uint64_t seed;
    int layout;             /* MM_LAYOUT_* */
    int dialect;            /* MM_DIALECT_REMOTE or MM_DIALECT_HF */
    uint64_t shard_bytes;   /* 0: one file */
    int force;              /* overwrite a non-empty directory */
    int progress;           /* print bytes written to stderr (the CLI sets it when stderr is a terminal) */
    /* MiniMax-VL-01 (preset vl01): the text model above under language_model. (remote dialect) or
     * model.language_model. (hf), plus a CLIP tower, the projector and image_newline, config.json with text_config /
     * vision_config, and preprocessor_config.json. The text weights equal those of the text model of the same seed. */
    int vision;
    int v_hidden, v_layers, v_heads, v_ffn;   /* Dv, layers, heads, MLP width of the tower */
    int v_image, v_patch;                      /* image side (336) and ViT patch (14) */
    int arch;               /* MM_ARCH_*: a task head (score / qa_outputs) instead of the lm_head; needs the hf dialect */
    int num_labels;         /* classification heads (0: 2) */
    const char *labels;     /* comma-separated id2label names (NULL: LABEL_0, LABEL_1, ...) */
    int pad_token_id;       /* -1: none (written as null) */
} mm_mkmodel_params;

/* Fills p with a preset: "tiny" (small, fast, real tokenizer vocab), "text01" (MiniMax-Text-01 sizes) or "vl01"
 * (MiniMax-VL-01: text01's language model and the real ViT-L/14-336 tower: width 1024, 24 layers, 16 heads, MLP 4096),
 * layer types "every 8th layer and the last are softmax", bf16, seed 0, per-expert, remote dialect. */
int mm_mkmodel_preset(mm_mkmodel_params *p, const char *name);
/* The default layout for p->n_layers: layer i is softmax iff (i+1) % 8 == 0 or i == L-1. */
void mm_mkmodel_default_layer_types(mm_mkmodel_params *p);
/* "LLLS", "L,S", "0,1", "0001": L/0 lightning, S/1 softmax (also F for full). Sets n_layers to the count. */
int mm_mkmodel_parse_layer_types(mm_mkmodel_params *p, const char *spec);
/* The task head's outputs: num_labels (or the count of names in labels, else 2); 2 for question answering. */
int mm_mkmodel_num_labels(const mm_mkmodel_params *p);
/* Checks every field; -1 with a message naming the field and the rule. */
int mm_mkmodel_validate(const mm_mkmodel_params *p);

/* The config.json text for p (malloc'd), in p->dialect (VL: the minimax_vl_01 layout with text_config nested). */
char *mm_mkmodel_config_json(const mm_mkmodel_params *p);
/* VL: the preprocessor_config.json text (malloc'd): size, CLIP mean/std, patch size, anyres, the 28 pinpoints. */
char *mm_mkmodel_preprocessor_json(const mm_mkmodel_params *p);

typedef struct mm_mkmodel_result {
    int64_t n_params;
    uint64_t bytes;         /* bytes of all files written */
    int n_files;            /* safetensors files */
    double seconds;
} mm_mkmodel_result;

/* Writes dir/config.json and the weights. dir is created if missing; a non-empty dir needs p->force
 * (then only files of a checkpoint are replaced). Refuses when the disk lacks room. */
int mm_mkmodel_write(const char *dir, const mm_mkmodel_params *p, mm_mkmodel_result *res);

/* Copies a tokenizer into dir: src is a tokenizer.json file or a directory holding one; tokenizer_config.json
 * next to it is copied too when present. */
int mm_mkmodel_copy_tokenizer(const char *dir, const char *src);

/* The f32 value that element idx (flat, row-major) of the canonical tensor `name` gets: for tests and
 * tools. name must be a tensor of the per-expert layout (e.g. "model.layers.0.block_sparse_moe.experts.1.w2.weight"). */
float mm_mkmodel_value(const mm_mkmodel_params *p, const char *name, int64_t idx);
#endif
