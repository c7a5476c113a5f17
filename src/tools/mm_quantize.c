/* mm_quantize.c — checkpoint conversion to GGUF (`minimax quantize`): per-tensor type plans following llama.cpp's
 * mixes, streaming quantization with a progress line. */
#include "tools/mm_quantize.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "kernels/mm_kernels.h"
#include "model/mm_model.h"
#include "kernels/mm_quant.h"
#include "formats/mm_safetensors.h"
#include "text/mm_tokenizer.h"
#include "formats/mm_weights.h"
#include "vision/mm_vision.h"
#include "formats/mm_imatrix.h"

#define MM_GGUF_MAGIC "GGUF"
#define MM_GGUF_MAX_NAME 64          /* GGML_MAX_NAME: names are stored in 64-byte fields, NUL included */
#define MM_GGUF_MAX_COUNT (1u << 26) /* sanity bound on tensor / KV counts */

/* ---------------------------------------------------------------- conversion */
/* Each file type's main block type as llama.cpp's llama_ftype_get_default_type has it: iq2_s (LLAMA_FTYPE_MOSTLY_IQ2_S)
 * is IQ2_XS with IQ3_S in places; IQ2_S blocks are its IQ2_M's. */
static const struct {
    const char *name;
    mm_dtype base;
    uint32_t llama;
} mm_ftypes[MM_FT_COUNT] = {
    [MM_FT_F32] = {"f32", MM_F32, 0},     [MM_FT_F16] = {"f16", MM_F16, 1},     [MM_FT_BF16] = {"bf16", MM_BF16, 32},
    [MM_FT_Q8_0] = {"q8_0", MM_Q8_0, 7},  [MM_FT_Q4_0] = {"q4_0", MM_Q4_0, 2},  [MM_FT_Q4_K] = {"q4_k", MM_Q4_K, 14},
    [MM_FT_Q6_K] = {"q6_k", MM_Q6_K, 18}, [MM_FT_Q4_K_M] = {"q4_k_m", MM_Q4_K, 15},
    [MM_FT_Q4_1] = {"q4_1", MM_Q4_1, 3},  [MM_FT_Q5_0] = {"q5_0", MM_Q5_0, 8},  [MM_FT_Q5_1] = {"q5_1", MM_Q5_1, 9},
    [MM_FT_Q2_K] = {"q2_k", MM_Q2_K, 10}, [MM_FT_Q3_K_S] = {"q3_k_s", MM_Q3_K, 11}, [MM_FT_Q3_K_M] = {"q3_k_m", MM_Q3_K, 12},
    [MM_FT_Q3_K_L] = {"q3_k_l", MM_Q3_K, 13}, [MM_FT_Q4_K_S] = {"q4_k_s", MM_Q4_K, 14}, [MM_FT_Q5_K_S] = {"q5_k_s", MM_Q5_K, 16},
    [MM_FT_Q5_K_M] = {"q5_k_m", MM_Q5_K, 17}, [MM_FT_IQ4_NL] = {"iq4_nl", MM_IQ4_NL, 25}, [MM_FT_IQ4_XS] = {"iq4_xs", MM_IQ4_XS, 30},
    [MM_FT_IQ2_XXS] = {"iq2_xxs", MM_IQ2_XXS, 19}, [MM_FT_IQ2_XS] = {"iq2_xs", MM_IQ2_XS, 20}, [MM_FT_IQ2_S] = {"iq2_s", MM_IQ2_XS, 28},
    [MM_FT_IQ3_XXS] = {"iq3_xxs", MM_IQ3_XXS, 23}, [MM_FT_IQ3_S] = {"iq3_s", MM_IQ3_S, 26}, [MM_FT_IQ1_S] = {"iq1_s", MM_IQ1_S, 24},
    [MM_FT_IQ1_M] = {"iq1_m", MM_IQ1_M, 31},
};

int mm_gguf_ftype_check(mm_gguf_ftype f, int has_imatrix) {
    if ((unsigned)f >= MM_FT_COUNT) {
        mm_set_error("unknown file type %d", (int)f);
        return -1;
    }
    const mm_dtype t = mm_ftypes[f].base;
    /* llama.cpp's tensor_requires_imatrix: these types (for every tensor but the embedding and the output) */
    if ((t == MM_IQ3_XXS || t == MM_IQ2_XXS || t == MM_IQ2_XS || t == MM_IQ2_S || t == MM_IQ1_M || t == MM_IQ1_S) && !has_imatrix) {
        mm_set_error("%s requires an importance matrix (--imatrix FILE; compute one with `minimax imatrix`), as in llama.cpp: "
                     "without one the result is garbage", mm_ftypes[f].name);
        return -1;
    }
    return 0;
}

int mm_gguf_ftype_from_name(const char *name) {
    for (int i = 0; i < MM_FT_COUNT; i++)
        if (!strcasecmp(name, mm_ftypes[i].name)) return i;
    return -1;
}
const char *mm_gguf_ftype_name(mm_gguf_ftype f) { return (unsigned)f < MM_FT_COUNT ? mm_ftypes[f].name : "?"; }
uint32_t mm_gguf_ftype_llama_id(mm_gguf_ftype f) { return (unsigned)f < MM_FT_COUNT ? mm_ftypes[f].llama : 0; }

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}
/* llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between. */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The grid file types llama.cpp gives its 2-bit mix (IQ2_M has no file type here). */
static int iq2_family(mm_gguf_ftype f) {
    return f == MM_FT_IQ2_XXS || f == MM_FT_IQ2_XS || f == MM_FT_IQ1_S || f == MM_FT_IQ2_S || f == MM_FT_IQ1_M;
}

/* llama_tensor_get_type_impl's choices for the file types that are not Q4_K_M (its arms for falcon and 70B left out).
 * c->i_v counts attn_v-like tensors (attn_v, attn_qkv). */
static mm_dtype llama_mix(mm_gguf_ftype f, mm_dtype t, const char *name, const mm_tensor_type_ctx *c) {
    const int attn_v = strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight"), gqa4 = c->n_gqa >= 4;
    const int nl = c->n_layers, il = c->layer;
    if (iq2_family(f)) {
        const mm_dtype up = f == MM_FT_IQ2_S ? MM_IQ3_S : MM_Q2_K; /* the more-bits choice of the 2-bit mix */
        if (attn_v) t = gqa4 || c->n_expert >= 4 ? MM_Q4_K : up;
        else if (strstr(name, "attn_k.weight") && c->n_expert == 8) t = MM_Q4_K;
        else if (strstr(name, "ffn_down")) {
            if (il < nl / 8) t = up;
        } else if (strstr(name, "attn_output.weight")) {
            if (c->n_expert == 8) t = MM_Q5_K;
            else if (f == MM_FT_IQ1_S || f == MM_FT_IQ1_M) t = MM_IQ2_XXS;
            else if (f == MM_FT_IQ2_S) t = MM_IQ3_S;
        }
        return t;
    }
    if (attn_v) {
        if (f == MM_FT_Q2_K) t = gqa4 ? MM_Q4_K : MM_Q3_K;
        else if (f == MM_FT_IQ3_XXS) t = gqa4 ? MM_Q4_K : !c->has_imatrix ? MM_IQ3_S : MM_IQ3_XXS;
        else if (f == MM_FT_IQ3_S && gqa4) t = MM_Q4_K;
        else if (f == MM_FT_Q3_K_M) t = c->i_v < 2 ? MM_Q5_K : MM_Q4_K;
        else if (f == MM_FT_Q3_K_L) t = MM_Q5_K;
        else if ((f == MM_FT_IQ4_NL || f == MM_FT_IQ4_XS) && gqa4) t = MM_Q5_K;
        else if (f == MM_FT_Q5_K_M && use_more_bits(c->i_v, c->n_v)) t = MM_Q6_K;
        else if (f == MM_FT_Q4_K_S && c->i_v < 4) t = MM_Q5_K;
        if (c->n_expert == 8) t = MM_Q8_0;
    } else if (strstr(name, "attn_k.weight")) {
        if (c->n_expert == 8) t = MM_Q8_0;
        else if (f == MM_FT_IQ3_XXS) t = MM_IQ2_S;
    } else if (strstr(name, "attn_q.weight")) {
        if (f == MM_FT_IQ3_XXS) t = MM_IQ2_S;
    } else if (strstr(name, "ffn_down")) {
        if (f == MM_FT_Q2_K) t = MM_Q3_K;
        else if (f == MM_FT_IQ3_XXS && !c->has_imatrix) t = il < nl / 8 ? MM_Q4_K : MM_Q3_K;
        else if (f == MM_FT_Q3_K_M) t = il < nl / 16 ? MM_Q5_K : MM_Q4_K;
        else if (f == MM_FT_Q3_K_L) t = MM_Q5_K;
        else if (il < nl / 8 && (f == MM_FT_IQ4_NL || f == MM_FT_IQ4_XS) && !c->has_imatrix) t = MM_Q5_K;
        else if (f == MM_FT_Q5_K_M && use_more_bits(il, nl)) t = MM_Q6_K;
        else if (f == MM_FT_Q4_K_S && il < nl / 8) t = MM_Q5_K;
        else if ((f == MM_FT_Q4_0 || f == MM_FT_Q5_0) && c->has_imatrix && il < nl / 8) t = f == MM_FT_Q4_0 ? MM_Q4_1 : MM_Q5_1;
    } else if (strstr(name, "attn_output.weight")) {
        if (c->n_expert == 8) {
            if (f == MM_FT_Q2_K || f == MM_FT_Q3_K_S || f == MM_FT_Q3_K_M || f == MM_FT_IQ4_NL || f == MM_FT_Q4_K_S || f == MM_FT_IQ4_XS ||
                f == MM_FT_IQ3_XXS || f == MM_FT_IQ3_S)
                t = MM_Q5_K;
        } else if (f == MM_FT_Q2_K) t = MM_Q3_K;
        else if (f == MM_FT_IQ3_XXS) t = MM_IQ3_S;
        else if (f == MM_FT_Q3_K_M) t = MM_Q4_K;
        else if (f == MM_FT_Q3_K_L) t = MM_Q5_K;
    }
    return t;
}

mm_dtype mm_gguf_tensor_type(mm_gguf_ftype f, const char *name, int ndim, int64_t row_len, int layer, int n_layers,
                             int i_v, int n_v, int tied) {
    mm_tensor_type_ctx c = {layer, n_layers, i_v, n_v, tied, 0, 1, 1};
    return mm_gguf_tensor_type_ex(f, name, ndim, row_len, &c);
}

mm_dtype mm_gguf_tensor_type_ex(mm_gguf_ftype f, const char *name, int ndim, int64_t row_len, const mm_tensor_type_ctx *cx) {
    const int layer = cx->layer, n_layers = cx->n_layers, i_v = cx->i_v, n_v = cx->n_v, tied = cx->tied;
    if (ndim < 2 || ends_with(name, "ffn_gate_inp.weight")) return MM_F32; /* norms, router */
    mm_dtype t = mm_ftypes[f].base;
    int quantized = t != MM_F32 && t != MM_F16 && t != MM_BF16;
    if (quantized) {
        int is_output = !strcmp(name, "output.weight") || (tied && !strcmp(name, "token_embd.weight"));
        const int grid = iq2_family(f) || f == MM_FT_IQ3_XXS;
        if (is_output) {
            if (grid) t = row_len % mm_dtype_block(t) ? MM_Q8_0 : MM_Q5_K;
            else if (t != MM_Q8_0) t = MM_Q6_K;
        } else if (f == MM_FT_Q4_K_M) {
            if (ends_with(name, ".attn_v.weight") && use_more_bits(i_v, n_v)) t = MM_Q6_K;
            else if (strstr(name, ".ffn_down") && use_more_bits(layer, n_layers)) t = MM_Q6_K;
            else if (ends_with(name, ".attn_qkv.weight")) t = MM_Q6_K;
        } else if (strcmp(name, "token_embd.weight")) {
            t = llama_mix(f, t, name, cx);
        } else if (grid) { /* the (untied) embedding of the grid mixes */
            t = f == MM_FT_IQ2_S || f == MM_FT_IQ3_XXS ? MM_IQ3_S : MM_Q2_K;
        }
    }
    if (row_len % mm_dtype_block(t)) /* llama.cpp's fallbacks, but Q4_K → Q8_0 (the SIMD kernels) */
        t = t == MM_IQ4_XS || t == MM_IQ2_XXS || t == MM_IQ2_XS || t == MM_IQ2_S || t == MM_IQ3_XXS || t == MM_IQ3_S || t == MM_IQ1_S ||
                    t == MM_IQ1_M
                ? MM_IQ4_NL
                : t == MM_Q2_K || t == MM_Q3_K ? MM_Q4_0 : t == MM_Q5_K ? MM_Q5_1 : MM_Q8_0;
    if (row_len % mm_dtype_block(t)) t = MM_F16;   /* not even 32-blocks */
    return t;
}

typedef mm_gguf_tplan mm_plan;
typedef struct {
    mm_plan *p;
    int n, cap;
} mm_plans;

static mm_plan *plan_add(mm_plans *ps, const char *name) {
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        ps->p = mm_xrealloc(ps->p, sizeof *ps->p * (size_t)ps->cap);
    }
    mm_plan *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    return p;
}
static void plan_vec(mm_plans *ps, const char *name, const float *v, int64_t n) {
    mm_plan *p = plan_add(ps, name);
    p->ndim = 1;
    p->shape[0] = n;
    p->f32 = v;
}
static void plan_mat(mm_plans *ps, const char *name, const mm_tensor *t, int n_mats) {
    mm_plan *p = plan_add(ps, name);
    p->mats = t;
    p->n_mats = n_mats;
    if (n_mats == 1 && t->ndim == 2) {
        p->ndim = 2;
        p->shape[0] = t->shape[0];
        p->shape[1] = t->shape[1];
    } else {
        p->ndim = 3;
        p->shape[0] = n_mats;
        p->shape[1] = t->shape[0];
        p->shape[2] = t->shape[1];
    }
}

int mm_gguf_plan_model(const mm_model *m, mm_gguf_tplan **out) {
    const mm_config *c = &m->cfg;
    mm_plans ps = {0};
    const int64_t H = c->hidden_size;
    plan_mat(&ps, "token_embd.weight", &m->embed, 1);
    plan_vec(&ps, "output_norm.weight", m->final_norm, H);
    if (!c->tie_word_embeddings) plan_mat(&ps, "output.weight", &m->lm_head, 1);
    for (int l = 0; l < c->n_layers; l++) {
        const mm_layer *ly = &m->layers[l];
        char nm[64];
        const int first = ps.n;
#define NM(suf) (snprintf(nm, sizeof nm, "blk.%d." suf, l), nm)
        plan_vec(&ps, NM("attn_norm.weight"), ly->in_norm, H);
        if (ly->type == MM_LAYER_LIGHTNING) {
            plan_mat(&ps, NM("attn_qkv.weight"), &ly->qkv, 1);
            plan_mat(&ps, NM("attn_gate.weight"), &ly->out_gate, 1);
            plan_vec(&ps, NM("attn_norm_2.weight"), ly->attn_norm, (int64_t)c->n_heads * c->head_dim);
            plan_mat(&ps, NM("attn_output.weight"), &ly->out_proj, 1);
        } else {
            plan_mat(&ps, NM("attn_q.weight"), &ly->wq, 1);
            plan_mat(&ps, NM("attn_k.weight"), &ly->wk, 1);
            plan_mat(&ps, NM("attn_v.weight"), &ly->wv, 1);
            plan_mat(&ps, NM("attn_output.weight"), &ly->wo, 1);
        }
        plan_vec(&ps, NM("ffn_norm.weight"), ly->post_norm, H);
        plan_mat(&ps, NM("ffn_gate_inp.weight"), &ly->router, 1);
        plan_mat(&ps, NM("ffn_gate_exps.weight"), ly->w1, c->n_experts);
        plan_mat(&ps, NM("ffn_down_exps.weight"), ly->w2, c->n_experts);
        plan_mat(&ps, NM("ffn_up_exps.weight"), ly->w3, c->n_experts);
#undef NM
        for (int k = first; k < ps.n; k++) ps.p[k].layer = l;
    }
    *out = ps.p;
    return ps.n;
}

static void progress_line(const mm_plan *p, uint64_t done, uint64_t total, double t0) {
    double el = mm_time() - t0;
    fprintf(stderr, "\rquantize: %5.1f%%  %7.1f / %.1f MB  %5.0fs  %-32s", total ? 100.0 * done / total : 100.0, done / 1e6,
            total / 1e6, el, p ? p->name : "done");
    fflush(stderr);
}

/* The vision GGUF of a VL model next to its text GGUF. */
static int write_mmproj(const mm_model *m, const char *out, const mm_gguf_convert_params *pp, const char *name,
                        mm_gguf_convert_result *res) {
    const mm_vision *v = m->vision;
    if (pp->mmproj) snprintf(res->mmproj, sizeof res->mmproj, "%s", pp->mmproj);
    else {
        size_t n = strlen(out);
        if (n > 5 && !strcmp(out + n - 5, ".gguf")) n -= 5;
        snprintf(res->mmproj, sizeof res->mmproj, "%.*s-mmproj.gguf", (int)n, out);
    }
    struct stat st;
    if (!pp->force && stat(res->mmproj, &st) == 0) {
        mm_set_error("%s: exists (pass --force to overwrite it)", res->mmproj);
        return -1;
    }
    mm_dtype t = pp->mmproj_type >= 0 ? (mm_dtype)pp->mmproj_type : v->layers[0].wq.dtype;
    if (t != MM_F32 && t != MM_F16 && t != MM_BF16 && t != MM_Q8_0) t = MM_F16;   /* a quantized source: F16 */
    char vname[300];
    snprintf(vname, sizeof vname, "%s (vision)", name);
    const uint32_t ft = t == MM_F32 ? 0 : t == MM_F16 ? 1 : t == MM_BF16 ? 32 : 7;
    if (mm_vision_gguf_write(v, res->mmproj, t, vname, ft, &res->mmproj_bytes) < 0) {
        mm_error_prefix("writing the vision GGUF %s", res->mmproj);
        return -1;
    }
    return 0;
}

int mm_gguf_convert(const char *in, const char *out, const mm_gguf_convert_params *pp, mm_gguf_convert_result *res) {
    double t0 = mm_time();
    mm_gguf_convert_result rdummy;
    if (!res) res = &rdummy;
    memset(res, 0, sizeof *res);
    if ((unsigned)pp->ftype >= MM_FT_COUNT) {
        mm_set_error("unknown file type %d", (int)pp->ftype);
        return -1;
    }
    struct stat si, so;
    if (stat(out, &so) == 0) {
        if (stat(in, &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
            mm_set_error("%s: the output is the input", out);
            return -1;
        }
        if (S_ISDIR(so.st_mode)) {
            mm_set_error("%s: is a directory (the output is one .gguf file)", out);
            return -1;
        }
        if (!pp->force) {
            mm_set_error("%s: exists (pass --force to overwrite it)", out);
            return -1;
        }
    }
    mm_imatrix *im = NULL;
    if (pp->imatrix && !(im = mm_imatrix_load(pp->imatrix))) return -1;
    if (mm_gguf_ftype_check(pp->ftype, im != NULL) < 0) {
        mm_imatrix_free(im);
        return -1;
    }
    /* Stored layout (no packed copies): conversion reads each matrix once, row by row. */
    mm_model *m = mm_model_load(in, &(mm_model_params){.no_repack = 1});
    if (!m) {
        mm_imatrix_free(im);
        return -1;
    }
    float *qw = NULL;
    const mm_config *c = &m->cfg;
    int rc = -1;
    mm_plans ps = {0};
    mm_gguf_writer *w = mm_gguf_writer_new(out);
    mm_gguf *gin = NULL;
    float *fbuf = NULL;
    void *qbuf = NULL;
    if (mm_gguf_check_config(c) < 0) {
        mm_error_prefix("%s cannot be written as a llama.cpp minimax-01 GGUF", in);
        goto done;
    }
    /* KVs */
    const char *base = strrchr(in, '/');
    char name[256];
    snprintf(name, sizeof name, "%s", base && base[1] ? base + 1 : in);
    if (ends_with(name, ".gguf")) name[strlen(name) - 5] = 0;
    if (mm_gguf_write_config(w, c) || mm_gguf_w_str(w, "general.name", name) ||
        mm_gguf_w_u32(w, "general.file_type", mm_ftypes[pp->ftype].llama) ||
        mm_gguf_w_u32(w, "general.quantization_version", 2))
        goto done;
    if (!pp->no_tokenizer) {
        char tj[4096];
        struct stat st;
        if (pp->tokenizer) {
            if (mm_gguf_write_tokenizer_json(w, pp->tokenizer, c->vocab_size)) goto done;
            res->has_tokenizer = 1;
        } else if (mm_gguf_is_file(in)) {
            if (!(gin = mm_gguf_open(in))) goto done;
            const char *tm = NULL;
            if (mm_gguf_get_str(gin, "tokenizer.ggml.model", &tm) < 0) goto done;
            for (int i = 0; tm && strcmp(tm, "none") && strcmp(tm, "no_vocab") && i < mm_gguf_n_kv(gin); i++)
                if (!strncmp(mm_gguf_kv_key(gin, i), "tokenizer.", 10)) {
                    if (mm_gguf_w_copy_kv(w, gin, i)) goto done;
                    res->has_tokenizer = 1;
                }
        } else if (snprintf(tj, sizeof tj, "%s/tokenizer.json", in) > 0 && stat(tj, &st) == 0) {
            if (mm_gguf_write_tokenizer_json(w, tj, c->vocab_size)) {
                mm_error_prefix("embedding the tokenizer (pass --no-tokenizer to write the GGUF without it)");
                goto done;
            }
            res->has_tokenizer = 1;
        }
    }
    /* No tokenizer: llama.cpp requires tokenizer.ggml.model and reads "none" as a vocabulary of
     * minimax-01.vocab_size ids without text (written above), so the file loads there and runs from token ids. */
    if (!res->has_tokenizer && mm_gguf_w_str(w, "tokenizer.ggml.model", "none")) goto done;
    /* tensors, in llama.cpp's naming, and their types */
    ps.n = mm_gguf_plan_model(m, &ps.p);
    int n_v = c->n_softmax, i_v = 0, n_vl = 0, i_vl = 0;
    for (int k = 0; k < ps.n; k++) n_vl += ends_with(ps.p[k].name, ".attn_v.weight") || ends_with(ps.p[k].name, ".attn_qkv.weight");
    for (int k = 0; k < ps.n; k++) {
        mm_plan *p = &ps.p[k];
        const int q4km = pp->ftype == MM_FT_Q4_K_M;
        mm_tensor_type_ctx tc = {p->layer, c->n_layers, q4km ? i_v : i_vl, q4km ? n_v : n_vl, c->tie_word_embeddings,
                                 im != NULL, c->n_kv_heads > 0 ? c->n_heads / c->n_kv_heads : 1, c->n_experts};
        p->type = mm_gguf_tensor_type_ex(pp->ftype, p->name, p->ndim, p->shape[p->ndim - 1], &tc);
        if (ends_with(p->name, ".attn_v.weight")) i_v++;
        if (ends_with(p->name, ".attn_v.weight") || ends_with(p->name, ".attn_qkv.weight")) i_vl++;
    }
    int64_t max_cols = 1;
    for (int k = 0; k < ps.n; k++) {
        mm_plan *p = &ps.p[k];
        if (mm_gguf_writer_add(w, p->name, p->type, p->ndim, p->shape)) goto done;
        res->n_by_type[p->type]++;
        int64_t ne = 1;
        for (int d = 0; d < p->ndim; d++) ne *= p->shape[d];
        res->n_params += ne;
        if (p->shape[p->ndim - 1] > max_cols) max_cols = p->shape[p->ndim - 1];
    }
    res->n_tensors = ps.n;
    if (mm_gguf_writer_begin(w)) goto done;
    /* data: rows converted to f32, then to the target type, a few MB at a time */
    const int64_t chunk_elems = (int64_t)4 << 20;
    int64_t buf_elems = chunk_elems > max_cols ? chunk_elems : max_cols; /* a chunk is <= chunk_elems or one row */
    fbuf = mm_xmalloc(sizeof(float) * (size_t)buf_elems);
    qbuf = mm_xmalloc(sizeof(float) * (size_t)buf_elems + 4096);
    uint64_t total = mm_gguf_writer_data_bytes(w);
    double last = 0;
    qw = mm_xmalloc(sizeof(float) * (size_t)max_cols);
    for (int k = 0; k < ps.n; k++) {
        mm_plan *p = &ps.p[k];
        int64_t cols = p->shape[p->ndim - 1];
        const mm_imatrix_entry *ie = im && p->ndim >= 2 ? mm_imatrix_find(im, p->name) : NULL;
        if (ie && mm_imatrix_matrix(ie, cols, p->n_mats, 0, qw) < 0) {
            mm_set_error("%s: the importance matrix of %s has %d × %lld values, the tensor %d × %lld (another model?)",
                         pp->imatrix, p->name, ie->n_mat, (long long)ie->ne0, p->n_mats, (long long)cols);
            goto done;
        }
        if (p->ndim == 1) {
            size_t nb = mm_quantize_rows(p->type, p->f32, qbuf, 1, cols);
            if (!nb || mm_gguf_writer_write(w, qbuf, nb)) goto done;
            continue;
        }
        int64_t rows_per = chunk_elems / cols > 0 ? chunk_elems / cols : 1;
        for (int e = 0; e < p->n_mats; e++) {
            const mm_tensor *t = &p->mats[e];
            if (ie) mm_imatrix_matrix(ie, cols, p->n_mats, e, qw);
            int64_t R = t->ndim == 2 ? t->shape[0] : 1;
            for (int64_t r0 = 0; r0 < R; r0 += rows_per) {
                int64_t nr = R - r0 < rows_per ? R - r0 : rows_per;
#pragma omp parallel for schedule(static) if (nr * cols > (1 << 16))
                for (int64_t r = 0; r < nr; r++) mm_tensor_row_f32(t, r0 + r, fbuf + (size_t)(r * cols));
                size_t nb = mm_quantize_rows_w(p->type, fbuf, qbuf, nr, cols, ie ? qw : NULL);
                if (!nb || mm_gguf_writer_write(w, qbuf, nb)) goto done;
                /* The rows are converted: drop their pages of the input mapping, so that memory stays a few
                 * chunks whatever the model's size (each page is read once; the kernel would otherwise keep
                 * every page of a 900 GB checkpoint counted in this process's resident set). A misaligned tensor's
                 * private copy (mm_safetensors.c) is dropped the same way: nothing reads these rows again. */
                mm_tensor chunk = mm_tensor_rows(t, r0, nr);
                mm_release_file_pages(chunk.data, chunk.nbytes);
                if (pp->progress && mm_time() - last > 0.1) {
                    last = mm_time();
                    progress_line(p, mm_gguf_writer_written(w), total, t0);
                }
            }
        }
    }
    if (mm_gguf_writer_finish(w)) goto done;
    if (pp->progress) {
        progress_line(NULL, total, total, t0);
        fputc('\n', stderr);
    }
    if (m->vision && write_mmproj(m, out, pp, name, res) < 0) goto done;
    res->file_bytes = mm_gguf_writer_file_bytes(w);
    res->seconds = mm_time() - t0;
    rc = 0;
done:
    if (rc && pp->progress) fputc('\n', stderr);
    free(fbuf);
    free(qbuf);
    free(qw);
    mm_imatrix_free(im);
    free(ps.p);
    mm_gguf_writer_free(w);
    mm_gguf_close(gin);
    mm_model_free(m);
    return rc;
}
