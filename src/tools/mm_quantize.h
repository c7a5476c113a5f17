/* mm_quantize.h — checkpoint conversion to a llama.cpp minimax-01 GGUF (`minimax quantize`). It sits in tools/
 * because it reads its input through the model binder (either tensor layout, or a GGUF) and writes with formats/. */
#ifndef MM_QUANTIZE_H
#define MM_QUANTIZE_H
#include "formats/mm_gguf.h"

/* The file types of `--type`, with llama.cpp's general.file_type ids. */
typedef enum {
    MM_FT_F32, MM_FT_F16, MM_FT_BF16, MM_FT_Q8_0, MM_FT_Q4_0, MM_FT_Q4_K, MM_FT_Q6_K, MM_FT_Q4_K_M, MM_FT_COUNT
} mm_gguf_ftype;
int mm_gguf_ftype_from_name(const char *name);        /* "q4_k_m", ... (case-insensitive) or -1 */
const char *mm_gguf_ftype_name(mm_gguf_ftype f);
uint32_t mm_gguf_ftype_llama_id(mm_gguf_ftype f);     /* LLAMA_FTYPE_* (0, 1, 32, 7, 2, 14, 18, 15) */

/* The storage type of one tensor under file type f, following llama.cpp's llama_tensor_get_type:
 * norms and the router (ffn_gate_inp) F32; the output matrix (or the tied embedding) Q6_K for every
 * quantized type but Q8_0; Q4_K_M: attn_v and ffn_down Q6_K on llama.cpp's use_more_bits layers and attn_qkv
 * Q6_K (llama.cpp uses Q5_K, which this engine has no kernels for: the next better one); rows that are no
 * whole K-block fall back to Q8_0 (llama.cpp: Q5_0 for Q4_K, Q8_0 for Q6_K) and rows that are no whole
 * 32-block to F16. name is the GGUF name (blk.N.attn_v.weight), i_v / n_v the attn_v index and count. */
mm_dtype mm_gguf_tensor_type(mm_gguf_ftype f, const char *name, int ndim, int64_t row_len, int layer, int n_layers,
                             int i_v, int n_v, int tied);

typedef struct mm_gguf_convert_params {
    mm_gguf_ftype ftype;
    int force;               /* overwrite an existing output */
    int progress;            /* a progress line on stderr */
    int no_tokenizer;        /* do not embed the tokenizer */
    const char *tokenizer;   /* tokenizer.json to embed (default: the input's own) */
    const char *mmproj;      /* VL input: where its vision GGUF goes (NULL: OUT with .gguf → -mmproj.gguf) */
    int mmproj_type;         /* VL: the vision matrices' dtype (mm_dtype: F32, F16, BF16, Q8_0); -1: as stored */
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
