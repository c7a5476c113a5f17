/* mm_gguf.h — GGUF (llama.cpp's model file, version 2/3): a validating mmap reader, a streaming writer,
 * and the MiniMax-01 mapping between a GGUF written the way llama.cpp's converter writes `minimax-01`
 * and this engine's config, tensor names and tokenizer.
 *
 * File layout (little-endian, every integer unaligned):
 *   u32 magic "GGUF"; u32 version; u64 n_tensors; u64 n_kv
 *   n_kv × { string key; u32 value_type; value }        string = u64 length + bytes (no NUL)
 *   n_tensors × { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
 *   padding to `general.alignment` (u32, default 32), then the data section; offsets count from its start
 *   and are multiples of the alignment.
 * Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array (u32 elem type,
 * u64 count, elements), 10 u64, 11 i64, 12 f64.
 * ne[] is innermost first (ne0 = row length); a mm_tensor's shape is outermost first (PyTorch order), so
 * shape[i] = ne[n_dims-1-i]: a Linear weight [out, in] is stored as ne {in, out}.
 * GGML type ids this engine reads and writes: F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q2_K 10, Q3_K 11,
 * Q4_K 12, Q5_K 13, Q6_K 14, IQ2_XXS 16, IQ2_XS 17, IQ3_XXS 18, IQ1_S 19, IQ4_NL 20, IQ3_S 21, IQ2_S 22, IQ4_XS 23,
 * IQ1_M 29, BF16 30. */
#ifndef MM_GGUF_H
#define MM_GGUF_H
#include <stdint.h>
#include "base/mm_common.h"
#include "minimax.h"

struct mm_weights;
struct mm_tokenizer;

enum {
    MM_GGUF_U8 = 0, MM_GGUF_I8, MM_GGUF_U16, MM_GGUF_I16, MM_GGUF_U32, MM_GGUF_I32, MM_GGUF_F32, MM_GGUF_BOOL,
    MM_GGUF_STRING, MM_GGUF_ARRAY, MM_GGUF_U64, MM_GGUF_I64, MM_GGUF_F64, MM_GGUF_NTYPES
};
#define MM_GGUF_DEFAULT_ALIGNMENT 32

/* GGML type id of a dtype, and back (-1 for a GGML type this engine has no kernels for). */
int mm_gguf_type_of(mm_dtype t);
int mm_gguf_dtype_of(uint32_t ggml_type);
const char *mm_gguf_type_name(uint32_t ggml_type);   /* "Q5_K", ... or NULL if not a GGML type at all */

/* ---------------------------------------------------------------- reader */
typedef struct mm_gguf mm_gguf;

/* Maps the file read-only and validates all of it: magic, version (2 or 3), counts, every string and array
 * length against the file size, value types, duplicate keys, general.alignment (a power of two), tensor
 * names (unique, < 64 bytes), dims (1..4, each >= 1, no overflow), GGML types, row lengths that are whole
 * blocks, offsets aligned and inside the data section, no two tensors overlapping. NULL + mm_last_error()
 * naming the file, the byte offset and the field on any problem. */
mm_gguf *mm_gguf_open(const char *path);
void mm_gguf_close(mm_gguf *g);
const char *mm_gguf_path(const mm_gguf *g);
uint32_t mm_gguf_version(const mm_gguf *g);
uint32_t mm_gguf_alignment(const mm_gguf *g);
uint64_t mm_gguf_data_offset(const mm_gguf *g);      /* file offset of the data section */

int mm_gguf_n_kv(const mm_gguf *g);
const char *mm_gguf_kv_key(const mm_gguf *g, int i);
int mm_gguf_kv_type(const mm_gguf *g, int i);        /* MM_GGUF_* */
int mm_gguf_find_kv(const mm_gguf *g, const char *key); /* index or -1 */
/* Typed getters: 1 when read, 0 when the key is absent, -1 (+ error) when it has another type or the
 * value does not fit. get_u32/get_i64 accept every integer type, get_f32/get_f64 f32 and f64. */
int mm_gguf_get_u32(const mm_gguf *g, const char *key, uint32_t *out);
int mm_gguf_get_i64(const mm_gguf *g, const char *key, int64_t *out);
int mm_gguf_get_f64(const mm_gguf *g, const char *key, double *out);
int mm_gguf_get_bool(const mm_gguf *g, const char *key, int *out);
int mm_gguf_get_str(const mm_gguf *g, const char *key, const char **out);  /* NUL-terminated, owned by g */
/* Arrays: *type the element type, *n the count. Scalar arrays: *data points at the packed elements
 * (little-endian, unaligned); string arrays: use mm_gguf_arr_str. */
int mm_gguf_get_arr(const mm_gguf *g, const char *key, int *type, uint64_t *n, const void **data);
const char *mm_gguf_arr_str(const mm_gguf *g, const char *key, uint64_t i, size_t *len); /* NULL if not */
/* Element i of a scalar integer/bool array as int64 (0 if out of range / not an integer array). */
int64_t mm_gguf_arr_int(const mm_gguf *g, const char *key, uint64_t i);

int mm_gguf_n_tensors(const mm_gguf *g);
const mm_tensor *mm_gguf_tensor(const mm_gguf *g, int i);            /* file order */
const mm_tensor *mm_gguf_find_tensor(const mm_gguf *g, const char *name);
uint64_t mm_gguf_tensor_offset(const mm_gguf *g, int i);             /* within the data section */

/* ---------------------------------------------------------------- writer
 *   w = mm_gguf_writer_new(path);
 *   mm_gguf_w_str(w, key, "..."); ...               KVs, in the order they should appear
 *   mm_gguf_writer_add(w, name, dtype, ndim, shape); ... tensors (shape PyTorch order), in data order
 *   mm_gguf_writer_begin(w);                         checks free space, writes header, KVs, infos, padding
 *   mm_gguf_writer_write(w, bytes, n);               ... the data of every tensor in order, any chunking;
 *                                                    the padding between tensors is written for you
 *   mm_gguf_writer_finish(w);                        checks every byte came, renames PATH.tmp to PATH
 *   mm_gguf_writer_free(w);                          removes PATH.tmp if finish was not reached
 * KV setters fail (return -1) on a duplicate key or after begin. */
typedef struct mm_gguf_writer mm_gguf_writer;

mm_gguf_writer *mm_gguf_writer_new(const char *path);
int mm_gguf_w_u32(mm_gguf_writer *w, const char *key, uint32_t v);
int mm_gguf_w_i32(mm_gguf_writer *w, const char *key, int32_t v);
int mm_gguf_w_u64(mm_gguf_writer *w, const char *key, uint64_t v);
int mm_gguf_w_f32(mm_gguf_writer *w, const char *key, float v);
int mm_gguf_w_bool(mm_gguf_writer *w, const char *key, int v);
int mm_gguf_w_str(mm_gguf_writer *w, const char *key, const char *v);
int mm_gguf_w_arr(mm_gguf_writer *w, const char *key, int elem_type, uint64_t n, const void *packed); /* scalar */
int mm_gguf_w_arr_str(mm_gguf_writer *w, const char *key, uint64_t n, const char *const *v);
/* Copies KV i of a reader verbatim (same key, type and value). */
int mm_gguf_w_copy_kv(mm_gguf_writer *w, const mm_gguf *g, int i);
int mm_gguf_writer_has_kv(const mm_gguf_writer *w, const char *key);
int mm_gguf_writer_add(mm_gguf_writer *w, const char *name, mm_dtype dtype, int ndim, const int64_t *shape);
int mm_gguf_writer_begin(mm_gguf_writer *w);
int mm_gguf_writer_write(mm_gguf_writer *w, const void *data, size_t n);
int mm_gguf_writer_finish(mm_gguf_writer *w);
void mm_gguf_writer_free(mm_gguf_writer *w);
uint64_t mm_gguf_writer_file_bytes(const mm_gguf_writer *w);   /* size of the whole file (after add) */
uint64_t mm_gguf_writer_data_bytes(const mm_gguf_writer *w);   /* tensor bytes declared */
uint64_t mm_gguf_writer_written(const mm_gguf_writer *w);      /* tensor bytes written so far */

/* ---------------------------------------------------------------- MiniMax-01 (llama.cpp `minimax-01`)
 * KVs (arch "minimax-01"): context_length, embedding_length, block_count, feed_forward_length (expert
 * width), attention.head_count, attention.head_count_kv, attention.key_length = value_length (head_dim),
 * rope.dimension_count (rotary_dim), rope.freq_base, attention.layer_norm_rms_epsilon, expert_count,
 * expert_used_count, residual_scale (the DeepNorm α), attention.recurrent_layers (bool per layer, true =
 * lightning; when absent: full_attention_interval, default 8, layer i softmax iff (i+1) % interval == 0),
 * vocab_size. Tensors: token_embd, output_norm, output (absent = tied), blk.N.{attn_norm, ffn_norm,
 * attn_qkv (fused, per-head interleaved q|k|v rows exactly as Hugging Face stores qkv_proj), attn_gate,
 * attn_norm_2, attn_output, attn_q, attn_k, attn_v, ffn_gate_inp, ffn_gate_exps [E,I,H], ffn_up_exps
 * [E,I,H], ffn_down_exps [E,H,I]}.weight.
 * What llama.cpp's graph assumes and the format therefore cannot say: post-norm residual (residual = the
 * normalised input), one α for every residual with β = 1, power-of-two ALiBi base slopes, lightning block
 * 256. A config outside that is refused by mm_gguf_check_config(); a GGUF is loaded with exactly these. */

/* 0 if cfg can be written as a llama.cpp minimax-01 GGUF, else -1 with the reason. */
int mm_gguf_check_config(const mm_config *cfg);
/* Writes the minimax-01 hyper-parameter KVs (general.architecture included) of cfg. */
int mm_gguf_write_config(mm_gguf_writer *w, const mm_config *cfg);
/* The config of a minimax-01 GGUF (validated like config.json). */
int mm_gguf_read_config(const mm_gguf *g, mm_config *cfg);

/* 1 if path is a regular file that is a GGUF (name ends in .gguf, or starts with the magic). */
int mm_gguf_is_file(const char *path);
/* Opens path, builds its config and a weight table under the Hugging Face names the binder looks up
 * (model.embed_tokens.weight, model.layers.N.self_attn.qkv_proj.weight, model.layers.N.mlp.experts.gate_proj,
 * ...). The table owns the mapping. 0 or -1 with an error. */
int mm_gguf_load_model(const char *path, mm_config *cfg, struct mm_weights **w);
/* A weight table over g's tensors under the names map(name, out[MM_GGUF_MAPPED_NAME], ctx) writes; map returns -1
 * for a tensor outside the layout, then NULL + an error saying it is not part of `what`. The table owns g (also
 * closed on failure). */
#define MM_GGUF_MAPPED_NAME 128
struct mm_weights *mm_gguf_weights(mm_gguf *g, int (*map)(const char *name, char *out, void *ctx), void *ctx,
                                   const char *what);

/* Tokenizer KVs (tokenizer.ggml.*: model "gpt2", pre, tokens, token_type, merges, bos/eos/padding ids,
 * add_bos_token false; tokenizer.chat_template) from a Hugging Face tokenizer.json (a file or a directory
 * holding it, with tokenizer_config.json next to it when present). n_vocab_min pads the token list with
 * "[PAD<id>]" unused tokens up to the embedding's row count, as llama.cpp's converter does. Refuses a
 * tokenizer whose pre-tokenizer has no llama.cpp `pre` type. */
int mm_gguf_write_tokenizer_json(mm_gguf_writer *w, const char *tokenizer_path, int n_vocab_min);

/* The tokenizer of a GGUF (tokenizer.ggml.model "gpt2"; pre "minimax-m2"/"minimax-01" → the GPT-4o (o200k)
 * split with NFC as MiniMax's tokenizer.json has, "gpt-4o" → the same split without NFC, "default"/"gpt-2"
 * → GPT-2's byte-level regex; "gpt2" too, as files written before llama.cpp's name "gpt-2" was used). CONTROL tokens
 * become special added tokens, USER_DEFINED ones non-special added tokens, UNUSED ones no token. A file without a
 * tokenizer (tokenizer.ggml.model "none", as `minimax quantize` writes for a checkpoint that has none, so that
 * llama.cpp loads it as a vocabulary of vocab_size ids without text) is an error naming that. */
struct mm_tokenizer *mm_tokenizer_load_gguf(const char *path);

#endif
