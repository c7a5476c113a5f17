/* mm_imatrix.h — llama.cpp's importance-matrix files: per weight matrix, the per-column sums of squared
 * activations over a calibration text (and per expert for the stacked expert tensors), which quantizers use as
 * the weights of their least-squares fits.
 *
 * GGUF form (llama-imatrix's default): KVs general.type = "imatrix", imatrix.datasets (string array),
 * imatrix.chunk_count and imatrix.chunk_size (u32); per matrix NAME (a GGUF tensor name, blk.N.ffn_down_exps.weight)
 * two F32 tensors NAME.in_sum2 ne {K, n_mat} (Σ x² per column, per expert) and NAME.counts ne {1, n_mat} (tokens
 * summed per expert). The importance of column k of matrix e is in_sum2[e][k] / counts[e] (1 where counts is 0).
 * Legacy form (.dat): i32 n_entries, then per entry i32 name length, name bytes, i32 ncall, i32 nval,
 * f32 values[nval] (mean x² per column times ncall), then optionally i32 chunk count, i32 length + dataset name. */
#ifndef MM_IMATRIX_H
#define MM_IMATRIX_H
#include <stdint.h>
#include "base/mm_common.h"

typedef struct {
    char *name;        /* GGUF tensor name */
    int64_t ne0;       /* columns K */
    int n_mat;         /* experts (1 for a 2-D matrix) */
    double *sums;      /* [n_mat][ne0]: Σ x² */
    double *counts;    /* [n_mat]: tokens summed (legacy: ncall, with sums = mean·ncall) */
} mm_imatrix_entry;

typedef struct mm_imatrix {
    mm_imatrix_entry *e;
    int n, cap;
    char *dataset;     /* the calibration file's name, or NULL */
    uint32_t chunk_count, chunk_size;
} mm_imatrix;

mm_imatrix *mm_imatrix_new(void);
void mm_imatrix_free(mm_imatrix *im);
/* Reads a GGUF or legacy file (told apart by the GGUF magic), validating every count and size against the
 * file. NULL + mm_last_error() naming the file and what is wrong. */
mm_imatrix *mm_imatrix_load(const char *path);
/* Writes im as GGUF (legacy = 0) or in the legacy .dat form. 0 or -1 with the error. */
int mm_imatrix_save(const mm_imatrix *im, const char *path, int legacy);
/* The entry of a matrix, or NULL. */
const mm_imatrix_entry *mm_imatrix_find(const mm_imatrix *im, const char *name);
/* The entry of name with ne0 columns and n_mat matrices, added (zeros) if missing; NULL if it exists with another
 * shape. */
mm_imatrix_entry *mm_imatrix_get(mm_imatrix *im, const char *name, int64_t ne0, int n_mat);
/* out[ne0] = the importance of the columns of matrix e of an entry, as llama.cpp's quantize reads it:
 * sums / counts (GGUF), or sums / ncall (legacy, where counts holds ncall); 1 where nothing was counted. */
void mm_imatrix_columns(const mm_imatrix_entry *en, int e, float *out);
/* out[cols] = the importance of matrix e of a tensor of n_mats matrices with cols columns: an entry of that shape,
 * or a legacy one (which keeps no expert count) of n_mats·cols values, slice e. -1 if the shapes do not agree. */
int mm_imatrix_matrix(const mm_imatrix_entry *en, int64_t cols, int n_mats, int e, float *out);
#endif
