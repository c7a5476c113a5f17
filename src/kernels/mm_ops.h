/* mm_ops.h — the small element-wise and row-wise ops of the forward pass (all f32). */
#ifndef MM_OPS_H
#define MM_OPS_H
#include <stdint.h>

/* y[T,n] = w[n] ∘ x[T,n] / sqrt(mean(x²) + eps)   (in-place allowed: y == x) */
void mm_rmsnorm(float *y, const float *x, const float *w, int T, int n, float eps);
/* x[n] = x · sigmoid(x) */
void mm_silu(float *x, int64_t n);
/* x[n] = sigmoid(x) */
void mm_sigmoid(float *x, int64_t n);
/* Rotate-half RoPE on the first rot dims of one head vector x[D] at position pos:
 * pairs (d, d + rot/2) with angle f32(f32(pos) · inv_freq[d]); dims rot..D-1 pass through. */
void mm_rope(float *x, int rot, const float *inv_freq, int64_t pos);
/* y[T,n] = a·x[T,n] + b·r[T,n] */
void mm_axpby(float *y, float a, const float *r, float b, const float *x, int64_t n);
/* The residual step of a layer half and the next norm in one pass over each token (rows spread over the pool):
 *   x[T,n] = a·r[T,n] + b·d[T,n]   (r may be x or h), then, if w != NULL, h[T,n] = rmsnorm(x)·w
 * with the same arithmetic as mm_axpby followed by mm_rmsnorm. */
void mm_residual_rmsnorm(float *x, float a, const float *r, float b, const float *d, float *h, const float *w, int T, int n,
                         float eps);
/* In-place softmax over x[n] (max-subtracted, f32). */
void mm_softmax(float *x, int n);

/* y[T,n] = (x − mean) / sqrt(var + eps) · w + b per row, mean and variance over n (in-place allowed: y == x). */
void mm_layernorm(float *y, const float *x, const float *w, const float *b, int T, int n, float eps);
/* y[T,n] += b[n] on every row. */
void mm_add_rows(float *y, const float *b, int T, int n);
/* x[n] = GELU(x) = x · (1 + erf(x / √2)) / 2, the exact (erf) form, not the tanh approximation. The fast path
 * evaluates erf with a branch-free rational/exponential approximation (|Δerf| < 2e-7, so |ΔGELU| < 1e-7·|x|);
 * mm_gelu_erf_ref is the definition with libm's erff. */
void mm_gelu_erf(float *x, int64_t n);
void mm_gelu_erf_ref(float *x, int64_t n);
/* x[n] = x · sigmoid(1.702·x) (CLIP's "quick_gelu"). */
void mm_gelu_quick(float *x, int64_t n);
#endif
