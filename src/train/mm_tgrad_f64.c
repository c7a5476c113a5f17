/* mm_tgrad_f64.c — the training ops and model (mm_tgrad_ops.inc, mm_tgrad_model.inc) in double: for the finite-difference tests. */
#include <cblas.h>
#undef I /* complex.h (through cblas.h) names the imaginary unit I; here I is the expert width */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/mm_tgrad.h"
#include "base/mm_common.h"
#include "kernels/mm_kernels.h"

typedef double real;
#define S(name) name##_f64
#define MM_TG_F64 1
#define EXP exp
#define SQRT sqrt
#define COS cos
#define SIN sin
#define mm_t_linear_fwd mm_t_linear_fwd_f64
#define mm_t_linear_bwd mm_t_linear_bwd_f64
#define mm_t_rmsnorm_fwd mm_t_rmsnorm_fwd_f64
#define mm_t_rmsnorm_bwd mm_t_rmsnorm_bwd_f64
#define mm_t_silu_fwd mm_t_silu_fwd_f64
#define mm_t_silu_bwd mm_t_silu_bwd_f64
#define mm_t_swiglu_fwd mm_t_swiglu_fwd_f64
#define mm_t_swiglu_bwd mm_t_swiglu_bwd_f64
#define mm_t_lightning_fwd mm_t_lightning_fwd_f64
#define mm_t_lightning_bwd mm_t_lightning_bwd_f64
#define mm_t_rope_fwd mm_t_rope_fwd_f64
#define mm_t_rope_bwd mm_t_rope_bwd_f64
#define mm_t_attn_fwd mm_t_attn_fwd_f64
#define mm_t_attn_bwd mm_t_attn_bwd_f64
#define mm_t_router_fwd mm_t_router_fwd_f64
#define mm_t_router_bwd mm_t_router_bwd_f64
#define mm_t_xent mm_t_xent_f64
#include "train/mm_tgrad_ops.inc"
#include "train/mm_tgrad_model.inc"
