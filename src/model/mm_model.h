/* mm_model.h — a loaded MiniMax-01 model: config, per-layer weight views into the mmap'd checkpoint,
 * and the derived constants (lightning decay slopes, RoPE frequencies). Shapes use the spec's names:
 * H hidden, NH heads, D head_dim, NKV kv heads, I expert width, E experts, V vocab. */
#ifndef MM_MODEL_H
#define MM_MODEL_H
#include "base/mm_common.h"

typedef struct mm_weights mm_weights;
typedef struct mm_pp mm_pp;
struct mm_vision;

typedef struct {
    int type;              /* MM_LAYER_LIGHTNING or MM_LAYER_SOFTMAX */
    int kind_index;        /* index among the layers of the same type (state / KV cache slot) */
    float *in_norm;        /* [H] input_layernorm, f32 copy */
    float *post_norm;      /* [H] post_attention_layernorm, f32 copy */
    float alpha_attn, beta_attn;   /* residual factors of the attention half */
    /* lightning */
    mm_tensor qkv;         /* [3·NH·D, H]  rows head-major: head h = rows h·3D + (q 0..D-1 | k D..2D-1 | v 2D..3D-1) */
    mm_tensor out_gate;    /* [NH·D, H]    output_gate */
    float *attn_norm;      /* [NH·D]       RMSNorm over all heads jointly, eps 1e-6 */
    mm_tensor out_proj;    /* [H, NH·D] */
    float *slope;          /* [NH]         per-head decay rate s (λ = exp(-s)), f32 as the remote code */
    /* softmax */
    mm_tensor wq;          /* [NH·D, H] */
    mm_tensor wk, wv;      /* [NKV·D, H] */
    mm_tensor wo;          /* [H, NH·D] */
    /* MoE */
    mm_tensor router;      /* [E, H] */
    mm_tensor *w1;         /* [E] views, each [I, H]  gate projection (SiLU branch) */
    mm_tensor *w3;         /* [E] views, each [I, H]  up projection */
    mm_tensor *w2;         /* [E] views, each [H, I]  down projection */
} mm_layer;

struct mm_model {
    char *path;
    mm_config cfg;
    mm_weights *weights;   /* owns the mappings every mm_tensor points into */
    mm_tensor embed;       /* [V, H] */
    mm_tensor lm_head;     /* [V, H] (the embedding when tied); no data in a task-head checkpoint */
    mm_tensor head_w;      /* [head_n, H] task head: score.weight or qa_outputs.weight (cfg.arch != causal LM) */
    float *head_b;         /* [head_n] its bias, f32 copy (token classification, QA), or NULL */
    int head_n;            /* num_labels, 2 for QA, 0 for a causal LM */
    char **labels;         /* [cfg.num_labels] id2label (classification heads), NULL-terminated, or NULL */
    float *final_norm;     /* [H] */
    mm_layer *layers;      /* [L] */
    float *inv_freq;       /* [rotary_dim/2] RoPE inverse frequencies, f32 */
    void **packs;          /* [n_packs] packed copies of block-quantized matrices (mm_pack.h), owned */
    int n_packs;
    int64_t bytes_packed;  /* Σ of their sizes */
    /* The layers this process holds: [layer_begin, layer_end) — all of them, except for a pipeline stage
     * (mm_pipeline.h). Only they, the embedding (when layer_begin is 0) and the head (when layer_end is L) are
     * bound, packed and touched; the other layers[] entries stay zero but for type and kind_index. */
    int layer_begin, layer_end;
    float *end_norm;       /* [H] input_layernorm of layer layer_end (when < L): the norm that ends this stage */
    int lin_begin, lin_end;   /* the lightning kind_index range of those layers (their lightning states) */
    int soft_begin, soft_end; /* the softmax kind_index range (their KV caches) */
    int no_head;           /* the head is not held even though layer_end is L (mm_model_params.no_head) */
    int expert_begin, expert_end; /* the experts of each layer this process holds (all, or an expert-parallel share) */
    int64_t bytes_bound;   /* bytes of the tensors this process binds (all of the model, or its stage's share) */
    mm_pp *pp;             /* the pipeline this model is a stage of; NULL for a single process */
    struct mm_vision *vision;      /* MiniMax-VL-01's tower, projector and newline (vision/mm_vision.h), or NULL */
    mm_weights *vision_weights;    /* a separate vision GGUF (mmproj) the tower points into, or NULL */
    int64_t vision_params, vision_bytes;   /* of the vision tensors inside `weights` (not read per text token) */
    int64_t bytes_packed_src; /* Σ of the stored sizes of the packed matrices (their file pages are released) */
};

/* Whether this process holds the embedding / the final norm and lm_head. */
static inline int mm_model_has_embed(const struct mm_model *m) { return m->layer_begin == 0; }
static inline int mm_model_has_head(const struct mm_model *m) { return m->layer_end == m->cfg.n_layers && !m->no_head; }

/* The config and the tensor table of a checkpoint directory or .gguf file, nothing bound or touched. 0 or -1. */
int mm_model_open_weights(const char *path, mm_config *cfg, mm_weights **w);

/* Bytes of each layer's tensors (model.layers.<i>.*) into per_layer[L]; the embedding's into *embed; the head's
 * (final norm and lm_head, or the embedding again when tied) into *head. The pipeline planner balances on them. */
void mm_weights_layer_bytes(const mm_weights *w, const mm_config *c, int64_t *per_layer, int64_t *embed, int64_t *head);

/* Base ALiBi slopes for n heads as the remote code builds them (power-of-2 formula, or interleaved),
 * and the per-layer rate s[l][i] = f32(s0[i] · f32(1 − l/(L−1) + 1e-5)). */
void mm_slopes_base(int n, float *s0);
void mm_slopes_layer(int n, int layer, int n_layers, float *s);
#endif
