/* mm_imatrix_calc.h — `minimax imatrix`: an importance matrix (llama.cpp's, formats/mm_imatrix.h) computed by
 * running a model over a calibration text: for every matrix of the model's GGUF (per expert for ffn_*_exps), the
 * per-column sum of the squared activations it multiplies, and the number of tokens summed. */
#ifndef MM_IMATRIX_CALC_H
#define MM_IMATRIX_CALC_H
#include <stdint.h>
#include "formats/mm_imatrix.h"
#include "minimax.h"

typedef struct {
    int n_ctx;       /* tokens per chunk; each chunk is a fresh sequence, all its tokens counted */
    int n_chunks;    /* at most this many chunks (0: all that fit) */
    int progress;    /* a line per chunk on stderr */
} mm_imatrix_params;

/* Runs m over ids[n] in chunks; NULL + mm_last_error() when fewer than n_ctx tokens are given. dataset (the text's
 * file name, or NULL) is recorded in the file as llama.cpp records it. */
mm_imatrix *mm_imatrix_compute(mm_model *m, const int32_t *ids, int64_t n, const mm_imatrix_params *p, const char *dataset);
#endif
