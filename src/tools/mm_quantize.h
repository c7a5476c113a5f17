/* mm_quantize.h — checkpoint conversion to a llama.cpp minimax-01 GGUF (`minimax quantize`). It sits in tools/
 * because it reads its input through the model binder (either tensor layout, or a GGUF) and writes with formats/. */
#ifndef MM_QUANTIZE_H
#define MM_QUANTIZE_H
#include "formats/mm_gguf.h"

/* The file types of `--type`, with llama.cpp's general.file_type ids. */
typedef enum {
    MM_FT_F32, MM_FT_F16, MM_FT_BF16, MM_FT_Q8_0, MM_FT_Q4_0, MM_FT_Q4_K, MM_FT_Q6_K, MM_FT_Q4_K_M,
    MM_FT_Q4_1, MM_FT_Q5_0, MM_FT_Q5_1, MM_FT_Q2_K, MM_FT_Q3_K_S, MM_FT_Q3_K_M, MM_FT_Q3_K_L, MM_FT_Q4_K_S, MM_FT_Q5_K_S,
    MM_FT_Q5_K_M, MM_FT_IQ4_NL, MM_FT_IQ4_XS,
    /* grid i-quants: refused as llama.cpp refuses them without an importance matrix (all but IQ3_S) */
    MM_FT_IQ2_XXS, MM_FT_IQ2_XS, MM_FT_IQ2_S, MM_FT_IQ3_XXS, MM_FT_IQ3_S, MM_FT_IQ1_S, MM_FT_IQ1_M, MM_FT_COUNT
} mm_gguf_ftype;
int mm_gguf_ftype_from_name(const char *name);        /* "q4_k_m", ... (case-insensitive) or -1 */
const char *mm_gguf_ftype_name(mm_gguf_ftype f);
uint32_t mm_gguf_ftype_llama_id(mm_gguf_ftype f);     /* LLAMA_FTYPE_* (0, 1, 32, 7, 2, 14, 18, 15, 3, 8, ...) */
/* 0 if this engine can write file type f (with or without an importance matrix), else -1 with the reason. */
int mm_gguf_ftype_check(mm_gguf_ftype f, int has_imatrix);

/* The storage type of one tensor under file type f, following llama.cpp's llama_tensor_get_type:
 * norms and the router (ffn_gate_inp) F32; the output matrix (or the tied embedding) Q6_K for every
 * quantized type but Q8_0 (Q5_K for the grid i-quant file types); Q4_K_M: attn_v and ffn_down Q6_K on llama.cpp's use_more_bits layers and attn_qkv
 * Q6_K (llama.cpp used Q5_K, which this engine runs only through its scalar
 * reference: the next better type with SIMD kernels); rows that are no
 * whole K-block fall back to Q8_0 (llama.cpp: Q5_0 for Q4_K, Q8_0 for Q6_K) and rows that are no whole
 * 32-block to F16. name is the GGUF name (blk.N.attn_v.weight), i_v / n_v the attn_v index and count. */
mm_dtype mm_gguf_tensor_type(mm_gguf_ftype f, const char *name, int ndim, int64_t row_len, int layer, int n_layers,
                             int i_v, int n_v, int tied);
/* The same with what the mixes of the other file types look at (llama_tensor_get_type_impl): whether an
 * importance matrix is given, the GQA ratio, the expert count. i_v / n_v count llama.cpp's "attn_v-like" tensors
 * (attn_v and the fused attn_qkv) for them; Q4_K_M keeps the rule above. Fallbacks for rows that are no whole
 * block: IQ4_XS and the grid i-quants → IQ4_NL, Q2_K / Q3_K → Q4_0, Q5_K → Q5_1, Q4_K / Q6_K → Q8_0, then F16. */
typedef struct {
    int layer, n_layers, i_v, n_v, tied;
    int has_imatrix, n_gqa, n_expert;
} mm_tensor_type_ctx;
mm_dtype mm_gguf_tensor_type_ex(mm_gguf_ftype f, const char *name, int ndim, int64_t row_len, const mm_tensor_type_ctx *c);

/* One tensor of the GGUF a model converts to, in llama.cpp's naming and order: a 1-D f32 vector, or 2-D sources
 * stacked along the first dim (the experts of ffn_*_exps). The model's own tensors: products on them are what
 * `minimax imatrix` observes. */
typedef struct {
    char name[64];
    mm_dtype type;         /* set by the conversion */
    int ndim;
    int64_t shape[3];      /* PyTorch order */
    const float *f32;      /* 1-D f32 source */
    const mm_tensor *mats; /* 2-D sources */
    int n_mats;
    int layer;             /* blk.N's N, 0 for the others */
} mm_gguf_tplan;
struct mm_model;
/* The tensors of m's GGUF (malloc'd array in *out, the caller frees it); returns their count. */
int mm_gguf_plan_model(const struct mm_model *m, mm_gguf_tplan **out);

typedef struct mm_gguf_convert_params {
    mm_gguf_ftype ftype;
    int force;               /* overwrite an existing output */
    int progress;            /* a progress line on stderr */
    int no_tokenizer;        /* do not embed the tokenizer */
    const char *tokenizer;   /* tokenizer.json to embed (default: the input's own) */
    const char *mmproj;      /* VL input: where its vision GGUF goes (NULL: OUT with .gguf → -mmproj.gguf) */
    int mmproj_type;         /* VL: the vision matrices' dtype (mm_dtype: F32, F16, BF16, Q8_0); -1: as stored */
    const char *imatrix;     /* llama.cpp importance-matrix file (GGUF or legacy .dat): the weights of the fits */
} mm_gguf_convert_params;

typedef struct mm_gguf_convert_result {
    int n_tensors;
    int n_by_type[MM_DTYPE_COUNT];
    uint64_t file_bytes;
    int64_t n_params;
    int has_tokenizer;
    double seconds;
    char mmproj[4096];       /* VL: the vision GGUF written ("" for a text model) */
    uint64_t mmproj_bytes;
} mm_gguf_convert_result;

/* A Hugging Face checkpoint directory (or a GGUF) to a llama.cpp minimax-01 GGUF at out (written as out.tmp,
 * renamed at the end). Refuses configs GGUF cannot express, an existing out without force, too little disk.
 * A MiniMax-VL-01 checkpoint gives two files: its language model at out and its vision side (tower, projector,
 * newline, processor settings, image token) as a separate vision GGUF (vision/mm_vision_gguf.c) for --mmproj. */
int mm_gguf_convert(const char *in, const char *out, const mm_gguf_convert_params *p, mm_gguf_convert_result *res);
#endif
