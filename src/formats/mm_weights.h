/* mm_weights.h — a checkpoint's tensor set: one model.safetensors, or model.safetensors.index.json + shards.
 * Tensors are read-only views into the mmap'd files and live until mm_weights_close(). */
#ifndef MM_WEIGHTS_H
#define MM_WEIGHTS_H
#include "base/mm_common.h"

typedef struct mm_weights mm_weights;

/* path: a directory (model.safetensors.index.json + shards if the index exists, else model.safetensors),
 * an index file (*.index.json), or a single .safetensors file. Every shard is validated on open; a missing
 * shard, a tensor the index lists but its shard lacks, a tensor stored in two shards, or a shard name that
 * leaves the directory is an error. Returns NULL with mm_last_error() set. */
mm_weights *mm_weights_open(const char *path);
void mm_weights_close(mm_weights *w);
const mm_tensor *mm_weights_find(const mm_weights *w, const char *name);  /* NULL if absent (hash lookup) */
const char *mm_weights_file_of(const mm_weights *w, const char *name);    /* path of the file holding it, or NULL */
int mm_weights_count(const mm_weights *w);
const mm_tensor *mm_weights_at(const mm_weights *w, int i);               /* shard order, then header order */
int mm_weights_n_files(const mm_weights *w);
const char *mm_weights_file(const mm_weights *w, int i);                  /* path of shard i */
/* A table over n tensor views that live in memory owned elsewhere (a GGUF mapping): the views are copied,
 * the names must stay valid until close, which calls owner_free(owner). On a duplicate name it returns NULL
 * (and still frees the owner). */
/* Checks a tensor t looked up under name (NULL: missing) against ndim dims[] and whole-block rows; -1 + an error
 * naming the tensor, its file and the shape expected from config.json. */
int mm_weights_check(const mm_weights *w, const char *name, const mm_tensor *t, int ndim, const int64_t *dims);
/* The tensor name checked as above, or NULL + error. */
const mm_tensor *mm_weights_expect(const mm_weights *w, const char *name, int ndim, const int64_t *dims);
/* A new f32 copy of an F32/F16/BF16 tensor of exactly n elements (any shape whose product is n) under name;
 * NULL + error (missing, other size, quantized). For norms, biases and embeddings that are read element-wise. */
float *mm_weights_f32(const mm_weights *w, const char *name, int64_t n);
mm_weights *mm_weights_from_tensors(int n, const mm_tensor *t, const char *file, void *owner, void (*owner_free)(void *));
#endif
