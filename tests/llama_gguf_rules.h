/* llama_gguf_rules.h — the checks llama.cpp applies when it loads a `minimax-01` GGUF, written from the GGUF format
 * description and the loader's documented behaviour, on an independent reader (this file shares no code with
 * src/formats/mm_gguf.c, so a bug there cannot hide itself). Used by tests/test_gguf_llama.c.
 *
 * What llama.cpp refuses (each rule names where it applies):
 *   file       magic "GGUF", version 2 or 3; value types 0..12; no duplicate keys; general.alignment a u32 power of
 *              two; tensor names unique and < 64 bytes; 1..4 dims, each >= 1, no element-count overflow; a known
 *              GGML type whose block divides ne[0]; tensor data laid out in order, each offset the running sum of
 *              the previous tensors' sizes padded to the alignment; the data inside the file
 *   hparams    general.architecture "minimax-01"; context_length, embedding_length, block_count,
 *              attention.head_count(_kv), feed_forward_length, expert_count, expert_used_count u32;
 *              attention.layer_norm_rms_epsilon and residual_scale f32 (required by the minimax-01 loader);
 *              attention.recurrent_layers a bool array of block_count entries when present; every typed key read
 *              with exactly its type (the loader does not convert)
 *   vocab      tokenizer.ggml.model present; "none"/"no_vocab" → {arch}.vocab_size ids without text; "gpt2" →
 *              merges (string array), tokens (string array, no two equal), token_type (i32 array, one per token)
 *              when present, scores (f32/i32, one per token) when present, pre one of llama.cpp's names;
 *              special token ids u32 and inside the vocabulary; add_bos_token true needs a bos id
 *   tensors    exactly the minimax-01 set (no extra tensor, `output` optional), each with the loader's shape
 *              (ne order): token_embd {H, V}, output {H, V}, output_norm {H}, blk.N.attn_norm {H}; softmax
 *              layers attn_q {H, NH·D}, attn_k / attn_v {H, NKV·D}; lightning layers attn_norm_2 {NH·D},
 *              attn_qkv {H, 3·NH·D}, attn_gate {H, NH·D}; attn_output {NH·D, H}, ffn_norm {H}, ffn_gate_inp
 *              {H, E}, ffn_gate_exps / ffn_up_exps {H, I, E}, ffn_down_exps {I, H, E}; V = the token count. */
#ifndef LLAMA_GGUF_RULES_H
#define LLAMA_GGUF_RULES_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GGML block sizes and bytes per block, by type id (0 where the id is not a type). */
static const struct { int blck, bytes; } lg_types[] = {
    [0] = {1, 4},     [1] = {1, 2},     [2] = {32, 18},   [3] = {32, 20},   [6] = {32, 22},   [7] = {32, 24},
    [8] = {32, 34},   [9] = {32, 36},   [10] = {256, 84}, [11] = {256, 110}, [12] = {256, 144}, [13] = {256, 176},
    [14] = {256, 210}, [15] = {256, 292}, [16] = {256, 66}, [17] = {256, 74}, [18] = {256, 98}, [19] = {256, 50},
    [20] = {32, 18},  [21] = {256, 110}, [22] = {256, 82}, [23] = {256, 136}, [24] = {1, 1},   [25] = {1, 2},
    [26] = {1, 4},    [27] = {1, 8},    [28] = {1, 8},    [29] = {256, 56}, [30] = {1, 2},
};
/* llama.cpp's pre-tokenizer names for BPE vocabularies (llama-vocab.cpp). */
static const char *const lg_pre_names[] = {
    "default", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
    "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "mpt", "starcoder", "gpt-2", "phi-2", "jina-es",
    "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "jina-v1-en",
    "jina-v2-code", "roberta-bpe", "refact", "command-r", "qwen2", "deepseek-r1-qwen", "qwen35", "stablelm2",
    "olmo", "dbrx", "smaug-bpe", "poro-chat", "glm4", "chatglm-bpe", "viking", "jais", "tekken", "smollm",
    "codeshell", "bloom", "gpt3-finnish", "exaone", "exaone4", "chameleon", "minerva-7b", "megrez", "gpt-4o",
    "llama4", "superbpe", "trillion", "bailingmoe", "bailingmoe2", "seed-coder", "hunyuan", "hunyuan-dense",
    "kimi-k2", "grok-2", "afmoe", "minimax-m2", "solar-open", NULL};

typedef struct {
    char key[256];
    uint32_t type;          /* value type; for arrays the element type is atype */
    uint32_t atype;
    uint64_t n;             /* array length (1 for scalars) */
    size_t off;             /* file offset of the value (scalars) or of the first element (arrays) */
} lg_kv;

typedef struct {
    char name[128];
    uint32_t ndim, type;
    uint64_t ne[4], off, nbytes;
} lg_tensor;

typedef struct {
    const uint8_t *b;
    size_t n, pos;
    int bad;
    char *why;
    size_t whylen;
    lg_kv *kv;
    uint64_t nkv;
    lg_tensor *t;
    uint64_t nt;
} lg_file;

static int lg_fail(lg_file *f, const char *fmt, ...) {
    if (!f->bad) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->why, f->whylen, fmt, ap);
        va_end(ap);
    }
    f->bad = 1;
    return -1;
}
static uint64_t lg_rd(lg_file *f, int bytes) {
    if (f->bad || f->pos + (size_t)bytes > f->n) return lg_fail(f, "truncated at byte %zu", f->pos), 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)f->b[f->pos + i] << (8 * i);
    f->pos += (size_t)bytes;
    return v;
}
static int lg_vsize(uint32_t t) {  /* bytes of a scalar value type; 0 for string/array; -1 unknown */
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? sz[t] : -1;
}
static void lg_skip_str(lg_file *f, char *out, size_t outlen) {
    uint64_t len = lg_rd(f, 8);
    if (f->bad) return;
    if (len > f->n - f->pos) {
        lg_fail(f, "string of %llu bytes runs past the end", (unsigned long long)len);
        return;
    }
    if (out) {
        size_t k = len < outlen - 1 ? (size_t)len : outlen - 1;
        memcpy(out, f->b + f->pos, k);
        out[k] = 0;
    }
    f->pos += (size_t)len;
}
static const lg_kv *lg_find(const lg_file *f, const char *key) {
    for (uint64_t i = 0; i < f->nkv; i++)
        if (!strcmp(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}
/* A scalar u32 / f32 KV read with exactly that type, as llama.cpp's get_key does. */
static int lg_u32(lg_file *f, const char *key, int required, uint32_t *out) {
    const lg_kv *k = lg_find(f, key);
    if (!k) return required ? lg_fail(f, "key %s not found", key) : 0;
    if (k->type != 4) return lg_fail(f, "key %s has type %u, llama.cpp reads it as u32 (4)", key, k->type);
    size_t save = f->pos;
    f->pos = k->off;
    *out = (uint32_t)lg_rd(f, 4);
    f->pos = save;
    return 1;
}
static int lg_f32(lg_file *f, const char *key, int required) {
    const lg_kv *k = lg_find(f, key);
    if (!k) return required ? lg_fail(f, "key %s not found", key) : 0;
    if (k->type != 6) return lg_fail(f, "key %s has type %u, llama.cpp reads it as f32 (6)", key, k->type);
    return 1;
}
static const char *lg_str(lg_file *f, const char *key, char *buf, size_t len) {
    const lg_kv *k = lg_find(f, key);
    if (!k) return NULL;
    if (k->type != 8) {
        lg_fail(f, "key %s has type %u, llama.cpp reads it as a string", key, k->type);
        return NULL;
    }
    size_t save = f->pos;
    f->pos = k->off;
    lg_skip_str(f, buf, len);
    f->pos = save;
    return buf;
}
static int lg_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const lg_tensor *lg_tensor_find(const lg_file *f, const char *name) {
    for (uint64_t i = 0; i < f->nt; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}
/* Marks the tensor as expected and checks its shape; a missing tensor fails unless optional. */
static void lg_expect(lg_file *f, uint8_t *seen, const char *name, int optional, int nd, uint64_t a, uint64_t b, uint64_t c) {
    const lg_tensor *t = lg_tensor_find(f, name);
    if (!t) {
        if (!optional) lg_fail(f, "missing tensor %s", name);
        return;
    }
    seen[t - f->t] = 1;
    uint64_t want[3] = {a, b, c};
    int ok = (int)t->ndim == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->ne[i] == want[i];
    if (!ok)
        lg_fail(f, "tensor %s has wrong shape: expected {%llu, %llu, %llu}[:%d], got %u dims {%llu, %llu, %llu}", name,
                (unsigned long long)a, (unsigned long long)b, (unsigned long long)c, nd, t->ndim,
                (unsigned long long)t->ne[0], (unsigned long long)(t->ndim > 1 ? t->ne[1] : 0),
                (unsigned long long)(t->ndim > 2 ? t->ne[2] : 0));
}

/* 0 when llama.cpp would load the file as minimax-01, else -1 with the first broken rule in why. */
static int llama_gguf_check(const char *path, char *why, size_t whylen) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return snprintf(why, whylen, "cannot open %s", path), -1;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(sz > 0 ? (size_t)sz : 1);
    size_t got = fread(buf, 1, (size_t)(sz > 0 ? sz : 0), fp);
    fclose(fp);
    lg_file F = {.b = buf, .n = got, .why = why, .whylen = whylen}, *f = &F;
    why[0] = 0;
    char s[512];
    /* ---- file */
    if (got < 24 || memcmp(buf, "GGUF", 4)) lg_fail(f, "no GGUF magic");
    f->pos = 4;
    uint32_t version = (uint32_t)lg_rd(f, 4);
    if (!f->bad && version != 2 && version != 3) lg_fail(f, "version %u", version);
    f->nt = lg_rd(f, 8);
    f->nkv = lg_rd(f, 8);
    if (!f->bad && (f->nt > got / 8 || f->nkv > got / 8)) lg_fail(f, "counts larger than the file");
    f->kv = calloc(f->bad ? 1 : f->nkv + 1, sizeof *f->kv);
    f->t = calloc(f->bad ? 1 : f->nt + 1, sizeof *f->t);
    for (uint64_t i = 0; !f->bad && i < f->nkv; i++) {
        lg_kv *k = &f->kv[i];
        lg_skip_str(f, k->key, sizeof k->key);
        k->type = (uint32_t)lg_rd(f, 4);
        k->n = 1;
        if (k->type == 9) {
            k->atype = (uint32_t)lg_rd(f, 4);
            k->n = lg_rd(f, 8);
            if (k->atype == 9 || lg_vsize(k->atype) < 0) lg_fail(f, "key %s: array of type %u", k->key, k->atype);
        } else if (lg_vsize(k->type) < 0) {
            lg_fail(f, "key %s: value type %u", k->key, k->type);
        }
        k->off = f->pos;
        uint32_t et = k->type == 9 ? k->atype : k->type;
        if (f->bad) break;
        if (et == 8)
            for (uint64_t j = 0; j < k->n && !f->bad; j++) lg_skip_str(f, NULL, 0);
        else if (k->n > (f->n - f->pos) / (uint64_t)lg_vsize(et))
            lg_fail(f, "key %s runs past the end", k->key);
        else
            f->pos += (size_t)(k->n * (uint64_t)lg_vsize(et));
        for (uint64_t j = 0; j < i && !f->bad; j++)
            if (!strcmp(f->kv[j].key, k->key)) lg_fail(f, "duplicate key %s", k->key);
    }
    for (uint64_t i = 0; !f->bad && i < f->nt; i++) {
        lg_tensor *t = &f->t[i];
        uint64_t len = lg_rd(f, 8);
        f->pos -= 8;
        if (!f->bad && len >= 64) lg_fail(f, "tensor name of %llu bytes (GGML_MAX_NAME is 64)", (unsigned long long)len);
        lg_skip_str(f, t->name, sizeof t->name);
        t->ndim = (uint32_t)lg_rd(f, 4);
        if (!f->bad && (t->ndim < 1 || t->ndim > 4)) lg_fail(f, "tensor %s: %u dims", t->name, t->ndim);
        uint64_t ne = 1;
        for (uint32_t d = 0; !f->bad && d < t->ndim; d++) {
            t->ne[d] = lg_rd(f, 8);
            if (t->ne[d] < 1 || t->ne[d] > (uint64_t)INT64_MAX / ne) lg_fail(f, "tensor %s: ne[%u] = %llu", t->name, d, (unsigned long long)t->ne[d]);
            else ne *= t->ne[d];
        }
        t->type = (uint32_t)lg_rd(f, 4);
        t->off = lg_rd(f, 8);
        if (f->bad) break;
        if (t->type >= sizeof lg_types / sizeof lg_types[0] || !lg_types[t->type].blck) {
            lg_fail(f, "tensor %s: GGML type %u", t->name, t->type);
            break;
        }
        if (t->ne[0] % (uint64_t)lg_types[t->type].blck) lg_fail(f, "tensor %s: ne[0] %llu not a multiple of the block", t->name, (unsigned long long)t->ne[0]);
        t->nbytes = ne / (uint64_t)lg_types[t->type].blck * (uint64_t)lg_types[t->type].bytes;
        for (uint64_t j = 0; j < i && !f->bad; j++)
            if (!strcmp(f->t[j].name, t->name)) lg_fail(f, "duplicate tensor %s", t->name);
    }
    uint32_t align = 32;
    const lg_kv *ak = f->bad ? NULL : lg_find(f, "general.alignment");
    if (ak && lg_u32(f, "general.alignment", 1, &align) == 1 && (align == 0 || (align & (align - 1))))
        lg_fail(f, "general.alignment %u is not a power of two", align);
    uint64_t data = ((uint64_t)f->pos + align - 1) / align * align, run = 0;
    for (uint64_t i = 0; !f->bad && i < f->nt; i++) {
        if (f->t[i].off != run)
            lg_fail(f, "tensor %s has offset %llu, expected %llu", f->t[i].name, (unsigned long long)f->t[i].off, (unsigned long long)run);
        run += (f->t[i].nbytes + align - 1) / align * align;
        if (data + f->t[i].off + f->t[i].nbytes > f->n) lg_fail(f, "tensor %s: data is not within the file bounds", f->t[i].name);
    }
    /* ---- hparams */
    const char *arch = f->bad ? NULL : lg_str(f, "general.architecture", s, sizeof s);
    if (!f->bad && (!arch || strcmp(arch, "minimax-01"))) lg_fail(f, "general.architecture is %s", arch ? arch : "missing");
    uint32_t H = 0, L = 0, NH = 0, NKV = 0, D = 0, I = 0, E = 0, K = 0, ctx = 0, u;
    if (!f->bad) {
        lg_u32(f, "minimax-01.context_length", 1, &ctx);
        lg_u32(f, "minimax-01.embedding_length", 1, &H);
        lg_u32(f, "minimax-01.block_count", 1, &L);
        lg_u32(f, "minimax-01.feed_forward_length", 1, &I);
        lg_u32(f, "minimax-01.attention.head_count", 1, &NH);
        NKV = NH;
        lg_u32(f, "minimax-01.attention.head_count_kv", 0, &NKV);
        lg_u32(f, "minimax-01.expert_count", 1, &E);
        lg_u32(f, "minimax-01.expert_used_count", 1, &K);
        lg_f32(f, "minimax-01.attention.layer_norm_rms_epsilon", 1);
        lg_f32(f, "minimax-01.residual_scale", 1);
        lg_f32(f, "minimax-01.rope.freq_base", 0);
        lg_u32(f, "minimax-01.rope.dimension_count", 0, &u);
        lg_u32(f, "general.file_type", 0, &u);
        lg_u32(f, "general.quantization_version", 0, &u);
        if (!f->bad && (!H || !L || !NH || !NKV || !E || !K || K > E || NH % NKV)) lg_fail(f, "inconsistent hyper-parameters");
        D = NH ? H / NH : 0;
        lg_u32(f, "minimax-01.attention.key_length", 0, &D);
        uint32_t Dv = D;
        lg_u32(f, "minimax-01.attention.value_length", 0, &Dv);
        if (!f->bad && Dv != D) lg_fail(f, "value_length %u != key_length %u (minimax-01 asserts equal head sizes)", Dv, D);
    }
    uint8_t rec[512] = {0};
    if (!f->bad && L > 512) lg_fail(f, "%u layers", L);
    const lg_kv *rk = f->bad ? NULL : lg_find(f, "minimax-01.attention.recurrent_layers");
    if (rk) {
        if (rk->type != 9 || rk->atype != 7 || rk->n != L) lg_fail(f, "attention.recurrent_layers must be a bool array of %u", L);
        else
            for (uint32_t i = 0; i < L; i++) rec[i] = f->b[rk->off + i] != 0;
    } else if (!f->bad) {
        uint32_t iv = 8;
        lg_u32(f, "minimax-01.full_attention_interval", 0, &iv);
        for (uint32_t i = 0; i < L; i++) rec[i] = (i + 1) % (iv ? iv : 8) != 0;
    }
    /* ---- vocab */
    uint64_t V = 0;
    const char *model = f->bad ? NULL : lg_str(f, "tokenizer.ggml.model", s, sizeof s);
    if (!f->bad && !model) lg_fail(f, "key tokenizer.ggml.model not found");
    if (!f->bad && (!strcmp(model, "none") || !strcmp(model, "no_vocab"))) {
        uint32_t vs = 0;
        if (lg_u32(f, "minimax-01.vocab_size", 0, &vs) == 0 && !f->bad) lg_fail(f, "vocabulary \"%s\" without minimax-01.vocab_size", model);
        V = vs;
    } else if (!f->bad && !strcmp(model, "gpt2")) {
        const lg_kv *mk = lg_find(f, "tokenizer.ggml.merges"), *tk = lg_find(f, "tokenizer.ggml.tokens");
        if (!mk) lg_fail(f, "cannot find tokenizer merges in model file");
        else if (mk->type != 9 || mk->atype != 8) lg_fail(f, "invalid gguf type for tokenizer.ggml.merges");
        char pre[128];
        if (!f->bad && lg_str(f, "tokenizer.ggml.pre", pre, sizeof pre)) {
            int known = 0;
            for (int i = 0; lg_pre_names[i]; i++) known |= !strcmp(pre, lg_pre_names[i]);
            if (!known) lg_fail(f, "unknown pre-tokenizer type: '%s'", pre);
        }
        if (!f->bad && !tk) lg_fail(f, "cannot find tokenizer vocab in model file");
        else if (!f->bad && (tk->type != 9 || tk->atype != 8)) lg_fail(f, "invalid gguf type for tokenizer.ggml.tokens");
        if (!f->bad) {
            V = tk->n;
            char **tok = calloc(V ? V : 1, sizeof *tok);
            size_t save = f->pos;
            f->pos = tk->off;
            for (uint64_t i = 0; i < V && !f->bad; i++) {
                uint64_t len = lg_rd(f, 8);
                if (f->bad || len > f->n - f->pos) { lg_fail(f, "token %llu runs past the end", (unsigned long long)i); break; }
                tok[i] = malloc((size_t)len + 1);
                memcpy(tok[i], f->b + f->pos, (size_t)len);
                tok[i][len] = 0;
                f->pos += (size_t)len;
            }
            f->pos = save;
            if (!f->bad) {
                char **sorted = malloc(sizeof *sorted * (V ? V : 1));
                memcpy(sorted, tok, sizeof *sorted * V);
                qsort(sorted, V, sizeof *sorted, lg_cmp_str);
                for (uint64_t i = 1; i < V && !f->bad; i++)
                    if (!strcmp(sorted[i - 1], sorted[i])) lg_fail(f, "duplicate token in vocabulary: '%s'", sorted[i]);
                free(sorted);
            }
            for (uint64_t i = 0; i < V; i++) free(tok[i]);
            free(tok);
        }
        const lg_kv *tt = f->bad ? NULL : lg_find(f, "tokenizer.ggml.token_type");
        if (tt && (tt->type != 9 || tt->atype != 5 || tt->n < V)) lg_fail(f, "tokenizer.ggml.token_type must be an i32 array of >= %llu", (unsigned long long)V);
        const lg_kv *sc = f->bad ? NULL : lg_find(f, "tokenizer.ggml.scores");
        if (sc && (sc->type != 9 || (sc->atype != 6 && sc->atype != 5) || sc->n < V)) lg_fail(f, "tokenizer.ggml.scores must be f32/i32 of >= %llu", (unsigned long long)V);
        static const char *const ids[] = {"bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "mask", NULL};
        int have_bos = 0;
        for (int i = 0; ids[i] && !f->bad; i++) {
            char key[96];
            snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", ids[i]);
            uint32_t id;
            if (lg_u32(f, key, 0, &id) == 1) {
                if (id >= V) lg_fail(f, "bad special token: '%s' = %u (vocabulary of %llu)", key, id, (unsigned long long)V);
                if (i == 0) have_bos = 1;
            }
        }
        const lg_kv *ab = f->bad ? NULL : lg_find(f, "tokenizer.ggml.add_bos_token");
        if (ab && ab->type != 7) lg_fail(f, "tokenizer.ggml.add_bos_token is not a bool");
        else if (ab && f->b[ab->off] && !have_bos) lg_fail(f, "add_bos_token is true, but bos_token_id is not set");
    } else if (!f->bad) {
        lg_fail(f, "tokenizer.ggml.model \"%s\" is not a vocabulary this file's tokens can have", model);
    }
    /* ---- tensors */
    uint8_t *seen = calloc(f->nt + 1, 1);
    if (!f->bad) {
        uint64_t A = (uint64_t)NH * D, KV = (uint64_t)NKV * D;
        lg_expect(f, seen, "token_embd.weight", 0, 2, H, V, 0);
        lg_expect(f, seen, "output_norm.weight", 0, 1, H, 0, 0);
        lg_expect(f, seen, "output.weight", 1, 2, H, V, 0);
        char nm[96];
#define LG_T(suf, opt, nd, a, b, c) (snprintf(nm, sizeof nm, "blk.%u." suf ".weight", l), lg_expect(f, seen, nm, opt, nd, a, b, c))
        for (uint32_t l = 0; l < L && !f->bad; l++) {
            LG_T("attn_norm", 0, 1, H, 0, 0);
            if (!rec[l]) {
                LG_T("attn_q", 0, 2, H, A, 0);
                LG_T("attn_k", 0, 2, H, KV, 0);
                LG_T("attn_v", 0, 2, H, KV, 0);
            } else {
                LG_T("attn_norm_2", 0, 1, A, 0, 0);
                LG_T("attn_qkv", 0, 2, H, 3 * A, 0);
                LG_T("attn_gate", 0, 2, H, A, 0);
            }
            LG_T("attn_output", 0, 2, A, H, 0);
            LG_T("ffn_norm", 0, 1, H, 0, 0);
            LG_T("ffn_gate_inp", 0, 2, H, E, 0);
            LG_T("ffn_gate_exps", 1, 3, H, I, E);
            LG_T("ffn_down_exps", 0, 3, I, H, E);
            LG_T("ffn_up_exps", 0, 3, H, I, E);
        }
#undef LG_T
        for (uint64_t i = 0; i < f->nt && !f->bad; i++)
            if (!seen[i]) lg_fail(f, "wrong number of tensors: %s is not a minimax-01 tensor", f->t[i].name);
    }
    free(seen);
    free(f->kv);
    free(f->t);
    free(buf);
    (void)ctx;
    return f->bad ? -1 : 0;
}
#endif
