/* mm_safetensors.h — one .safetensors file: a validating mmap reader and a streaming, sharding writer.
 *
 * Format: u64 little-endian header length N, N bytes of JSON
 *   {"__metadata__": {str: str}, name: {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...}
 * then the raw little-endian data; offsets count from the first byte after the header.
 * Supported dtypes: F32, F16, BF16. Every malformed input is an error naming the file, the tensor and why. */
#ifndef MM_SAFETENSORS_H
#define MM_SAFETENSORS_H
#include <stdint.h>
#include "base/mm_common.h"

/* ---------------------------------------------------------------- reader */
typedef struct mm_st_file mm_st_file;

/* Maps the file read-only (MAP_PRIVATE) and validates the header completely: dtypes, shapes (ndim <= 4,
 * non-negative), data_offsets inside the data section, size == nelem * dtype size, no overlaps.
 * Returns NULL with mm_last_error() set on any problem. Tensors keep their header order. */
mm_st_file *mm_st_open(const char *path);
void mm_st_close(mm_st_file *f);
const char *mm_st_path(const mm_st_file *f);
int mm_st_count(const mm_st_file *f);
const mm_tensor *mm_st_at(const mm_st_file *f, int i);
const mm_tensor *mm_st_find(const mm_st_file *f, const char *name);  /* linear scan; NULL if absent */
const char *mm_st_metadata(const mm_st_file *f, const char *key);    /* __metadata__ value or NULL */
size_t mm_st_data_bytes(const mm_st_file *f);                        /* bytes after the header */

/* ---------------------------------------------------------------- writer
 * Streams a checkpoint to disk without holding it in memory:
 *   w = mm_st_writer_new(dir, shard_bytes);
 *   mm_st_writer_add(w, name, dtype, ndim, shape);   ... for every tensor (declaration order = file order)
 *   mm_st_writer_begin(w);                            checks free space, creates the files, writes headers
 *   mm_st_writer_write(w, bytes, n);                  ... the data of every tensor in order, any chunking
 *   mm_st_writer_finish(w);                           checks that every byte came, writes the index
 *   mm_st_writer_free(w);
 * One shard (total <= shard_bytes, or shard_bytes == 0): DIR/model.safetensors.
 * Several: DIR/model-0000i-of-0000N.safetensors + DIR/model.safetensors.index.json
 * ({"metadata":{"total_size":N},"weight_map":{name: file}}), split in declaration order like HF's
 * split_torch_state_dict_into_shards (a shard is closed when the next tensor would push it past shard_bytes).
 * Headers are space-padded so the data section starts at a multiple of 8. */
typedef struct mm_st_writer mm_st_writer;

mm_st_writer *mm_st_writer_new(const char *dir, uint64_t shard_bytes);
int mm_st_writer_add(mm_st_writer *w, const char *name, mm_dtype dtype, int ndim, const int64_t *shape);
int mm_st_writer_begin(mm_st_writer *w);
int mm_st_writer_write(mm_st_writer *w, const void *data, size_t n);
int mm_st_writer_finish(mm_st_writer *w);
void mm_st_writer_free(mm_st_writer *w);   /* also after an error; removes nothing already written */
uint64_t mm_st_writer_total_bytes(const mm_st_writer *w);   /* tensor data bytes declared so far */
uint64_t mm_st_writer_file_bytes(const mm_st_writer *w);    /* bytes of the shard files (after begin), + the index (after finish) */
uint64_t mm_st_writer_written(const mm_st_writer *w);       /* tensor data bytes written so far */
int mm_st_writer_n_files(const mm_st_writer *w);            /* shard files (after begin) */

/* Bytes free for an unprivileged user on the filesystem holding path (statvfs), or -1 with an error. */
int64_t mm_disk_free(const char *path);
#endif
