/* test_gguf_llama.c — every GGUF `minimax quantize` writes passes the checks llama.cpp applies when it loads a
 * minimax-01 file (tests/llama_gguf_rules.h, an independent reader): every file type, with MiniMax's tokenizer
 * (pre "minimax-m2"), with a GPT-2 byte-level tokenizer (pre "gpt-2"), without a tokenizer (model "none"),
 * GGUF → GGUF requantization, the golden checkpoints GGUF can express. And the checker itself: hand-made files
 * that break one rule each are refused with that rule named. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/mm_common.h"
#include "formats/mm_gguf.h"
#include "formats/mm_imatrix.h"
#include "formats/mm_mkmodel.h"
#include "llama_gguf_rules.h"
#include "minimax.h"
#include "mm_test.h"
#include "text/mm_tokenizer.h"
#include "tools/mm_imatrix_calc.h"
#include "tools/mm_quantize.h"

static char pbuf[8][1024];
static const char *tp(const char *name) {  /* a path in the scratch folder (8 live at once) */
    static int k;
    k = (k + 1) % 8;
    snprintf(pbuf[k], sizeof pbuf[k], "%s/%s", mmt_tmpdir(), name);
    return pbuf[k];
}

static void check_file(const char *what, const char *path) {
    char why[512];
    int rc = llama_gguf_check(path, why, sizeof why);
    CHECK(rc == 0, "%s (%s) breaks a llama.cpp loading rule: %s", what, path, why);
}

/* ---------------------------------------------------------------- a GPT-2 style tokenizer.json
 * 256 byte tokens under GPT-2's byte → character map, a few merges, two special tokens. */
static void put_utf8(char **p, unsigned c) {
    if (c < 0x80) *(*p)++ = (char)c;
    else {
        *(*p)++ = (char)(0xc0 | (c >> 6));
        *(*p)++ = (char)(0x80 | (c & 0x3f));
    }
}
static unsigned gpt2_char(int b) {  /* bytes_to_unicode: printable Latin-1 stays, the rest moves to 256+ */
    if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) return (unsigned)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff))) n++;
    return 256u + (unsigned)n;
}
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
static int write_gpt2_tokenizer(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"version\":\"1.0\",\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
               "\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
               "\"added_tokens\":[{\"id\":261,\"content\":\"<|endoftext|>\",\"special\":true},"
               "{\"id\":262,\"content\":\"<pad>\",\"special\":true}],\"model\":{\"type\":\"BPE\",\"vocab\":{");
    char tok[8];
    for (int b = 0; b < 256; b++) {
        char *p = tok;
        put_utf8(&p, gpt2_char(b));
        *p = 0;
        if (b) fputc(',', f);
        json_str(f, tok);
        fprintf(f, ":%d", b);
    }
    /* merges: "h e" → he (256), "l l" → ll (257), "Ġ t" → Ġt (258), "he ll" → hell (259), "hell o" → hello (260) */
    fprintf(f, ",\"he\":256,\"ll\":257,\"\xc4\xa0t\":258,\"hell\":259,\"hello\":260},\"merges\":[\"h e\",\"l l\","
               "\"\xc4\xa0 t\",\"he ll\",\"hell o\"]}}\n");
    fclose(f);
    FILE *c = fopen(tp("gpt2tok/tokenizer_config.json"), "w");
    if (c) {
        fprintf(c, "{\"bos_token\":\"<|endoftext|>\",\"eos_token\":\"<|endoftext|>\",\"pad_token\":\"<pad>\"}\n");
        fclose(c);
    }
    return 0;
}

static int mkmodel(const char *dir, int hidden, int vocab, const char *types) {
    mm_mkmodel_params p;
    mm_mkmodel_preset(&p, "tiny");
    p.hidden_size = hidden;
    p.vocab_size = vocab;
    p.n_heads = 4;
    p.n_kv_heads = 2;
    p.head_dim = hidden / 4;
    p.rotary_dim = p.head_dim / 2;
    p.intermediate_size = 256;
    p.n_experts = 2;
    p.top_k = 1;
    p.dtype = MM_F32;
    p.force = 1;
    if (mm_mkmodel_parse_layer_types(&p, types) < 0) return -1;
    return mm_mkmodel_write(dir, &p, NULL);
}

static int convert_im(const char *in, const char *out, mm_gguf_ftype ft, const char *tok, int no_tok, const char *imatrix) {
    mm_gguf_convert_params p = {.ftype = ft, .force = 1, .tokenizer = tok, .no_tokenizer = no_tok, .imatrix = imatrix};
    int rc = mm_gguf_convert(in, out, &p, NULL);
    if (rc < 0) fprintf(stderr, "convert %s -> %s: %s\n", in, out, mm_last_error());
    return rc;
}
static int convert(const char *in, const char *out, mm_gguf_ftype ft, const char *tok, int no_tok) {
    return convert_im(in, out, ft, tok, no_tok, NULL);
}

static const char *pre_of(const char *path, char *buf, size_t n) {
    mm_gguf *g = mm_gguf_open(path);
    const char *s = NULL;
    buf[0] = 0;
    if (g && mm_gguf_get_str(g, "tokenizer.ggml.pre", &s) == 1) snprintf(buf, n, "%s", s);
    if (!g || mm_gguf_get_str(g, "tokenizer.ggml.model", &s) != 1) snprintf(buf, n, "<no model key>");
    else if (!strcmp(s, "none")) snprintf(buf, n, "none");
    mm_gguf_close(g);
    return buf;
}

/* ---------------------------------------------------------------- quantize's files */
static void test_quantize_files(void) {
    char buf[64];
    mkdir(tp("gpt2tok"), 0755);
    CHECK(write_gpt2_tokenizer(tp("gpt2tok/tokenizer.json")) == 0, "write tokenizer");
    char A[1024], C[1024];
    snprintf(A, sizeof A, "%s", tp("A"));
    CHECK(mkmodel(A, 256, 320, "LS") == 0, "mkmodel A: %s", mm_last_error());
    /* an importance matrix of A, for the file types llama.cpp makes only with one (iq1_*, iq2_*, iq3_xxs) */
    char im_path[1024];
    snprintf(im_path, sizeof im_path, "%s", tp("A-imatrix.gguf"));
    mm_model *ma = mm_model_load(A, NULL);
    int32_t ids[64];
    for (int i = 0; i < 64; i++) ids[i] = (37 * i + 11) % 320;
    mm_imatrix *im = ma ? mm_imatrix_compute(ma, ids, 64, &(mm_imatrix_params){.n_ctx = 32}, "ids") : NULL;
    CHECK(im && mm_imatrix_save(im, im_path, 0) == 0, "imatrix of A: %s", mm_last_error());
    mm_imatrix_free(im);
    mm_model_free(ma);
    for (int ft = 0; ft < MM_FT_COUNT; ft++) {
        char out[64];
        const char *nm = mm_gguf_ftype_name((mm_gguf_ftype)ft);
        CHECK(mm_gguf_ftype_check((mm_gguf_ftype)ft, 1) == 0, "%s: every file type is written with an imatrix: %s", nm, mm_last_error());
        const int needs_imatrix = mm_gguf_ftype_check((mm_gguf_ftype)ft, 0) < 0;
        snprintf(out, sizeof out, "A-%s.gguf", nm);
        if (convert_im(A, tp(out), (mm_gguf_ftype)ft, tp("gpt2tok"), 0, needs_imatrix ? im_path : NULL) < 0) {
            CHECK(0, "quantize %s failed", nm);
            continue;
        }
        check_file(nm, tp(out));
    }
    CHECK(!strcmp(pre_of(tp("A-f32.gguf"), buf, sizeof buf), "gpt-2"), "GPT-2 byte-level split written as \"gpt-2\", got %s", buf);
    /* the file's tokenizer is the json's */
    mm_tokenizer *tg = mm_tokenizer_load_gguf(tp("A-f32.gguf")), *tj = mm_tokenizer_load(tp("gpt2tok/tokenizer.json"));
    CHECK(tg && tj, "tokenizers load: %s", mm_last_error());
    if (tg && tj) {
        const char *text = "hello there, hello<|endoftext|> tell";
        int32_t *a = NULL, *b = NULL;
        int na = mm_tokenizer_encode(tg, text, strlen(text), 1, &a), nb = mm_tokenizer_encode(tj, text, strlen(text), 1, &b);
        CHECK(na > 0 && na == nb && !memcmp(a, b, sizeof a[0] * (size_t)na), "gpt-2 GGUF tokenizer = tokenizer.json (%d vs %d)", na, nb);
        free(a);
        free(b);
    }
    mm_tokenizer_free(tg);
    mm_tokenizer_free(tj);

    /* without a tokenizer: "none" with the vocabulary size; the model still loads and runs from ids */
    CHECK(convert(A, tp("A-none.gguf"), MM_FT_Q8_0, NULL, 1) == 0, "quantize --no-tokenizer");
    check_file("q8_0 without tokenizer", tp("A-none.gguf"));
    CHECK(!strcmp(pre_of(tp("A-none.gguf"), buf, sizeof buf), "none"), "tokenizer.ggml.model \"none\", got %s", buf);
    CHECK(mm_tokenizer_load_gguf(tp("A-none.gguf")) == NULL && strstr(mm_last_error(), "no tokenizer"), "no tokenizer refused: %s",
          mm_last_error());
    mm_model *m = mm_model_load(tp("A-none.gguf"), NULL);
    CHECK(m != NULL, "a GGUF without tokenizer loads: %s", mm_last_error());
    mm_model_free(m);

    /* GGUF → GGUF keeps the tokenizer, or its absence */
    CHECK(convert(tp("A-f32.gguf"), tp("A-requant.gguf"), MM_FT_Q4_K, NULL, 0) == 0, "requantize");
    check_file("GGUF → q4_k", tp("A-requant.gguf"));
    CHECK(!strcmp(pre_of(tp("A-requant.gguf"), buf, sizeof buf), "gpt-2"), "tokenizer copied, got %s", buf);
    CHECK(convert(tp("A-none.gguf"), tp("A-none2.gguf"), MM_FT_Q4_0, NULL, 0) == 0, "requantize a file without tokenizer");
    check_file("GGUF without tokenizer → q4_0", tp("A-none2.gguf"));
    CHECK(!strcmp(pre_of(tp("A-none2.gguf"), buf, sizeof buf), "none"), "still none, got %s", buf);

    /* MiniMax's own tokenizer (200064 ids): pre "minimax-m2" */
    char tdir[1024];
    snprintf(tdir, sizeof tdir, "%s/tokenizer", mmt_shared());
    snprintf(C, sizeof C, "%s", tp("C"));
    CHECK(mkmodel(C, 64, 200064, "LS") == 0, "mkmodel C: %s", mm_last_error());
    CHECK(convert(C, tp("C.gguf"), MM_FT_F32, tdir, 0) == 0, "quantize with MiniMax's tokenizer");
    check_file("f32 with MiniMax's tokenizer", tp("C.gguf"));
    CHECK(!strcmp(pre_of(tp("C.gguf"), buf, sizeof buf), "minimax-m2"), "MiniMax's split, got %s", buf);
    /* a tokenizer with more ids than the embedding has rows would not load in llama.cpp: refused */
    CHECK(convert(A, tp("A-big.gguf"), MM_FT_F32, tdir, 0) < 0 && strstr(mm_last_error(), "embedding has 320 rows"),
          "tokenizer larger than the vocabulary refused: %s", mm_last_error());

    /* golden checkpoints: each one GGUF can express converts into a loadable file */
    static const char *golden[] = {"a_small_mixed", "b_long_blocks", "c_deepnorm_alpha_beta", "d_batch_left_padding",
                                   "e_partial_rotary_original", "f_remote_dialect", "g_prenorm_lastlinear_alibi"};
    int converted = 0;
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
        char in[1024], out[128];
        snprintf(in, sizeof in, "%s/golden/%s", mmt_shared(), golden[i]);
        snprintf(out, sizeof out, "golden-%zu.gguf", i);
        mm_gguf_convert_params p = {.ftype = MM_FT_F32, .force = 1};
        if (mm_gguf_convert(in, tp(out), &p, NULL) < 0) {
            CHECK(strstr(mm_last_error(), "cannot be written"), "golden %s: refused for an unexpected reason: %s", golden[i],
                  mm_last_error());
            continue;
        }
        converted++;
        check_file(golden[i], tp(out));
    }
    CHECK(converted >= 5, "only %d golden cases converted", converted);
    printf("golden cases converted and checked: %d of %zu\n", converted, sizeof golden / sizeof golden[0]);
}

/* ---------------------------------------------------------------- the checker refuses what llama.cpp refuses */
enum { V_OK, V_PRE_GPT2, V_NO_MODEL, V_DUP_TOKEN, V_FEW_TOKENS, V_EXTRA_TENSOR, V_BAD_SHAPE, V_EPS_U32, V_NO_RESIDUAL,
       V_BAD_BOS, V_NO_MERGES, V_COUNT };

static int write_variant(const char *path, int v) {
    enum { H = 32, NH = 2, NKV = 1, D = 16, I = 32, E = 2, VOC = 8 };
    mm_gguf_writer *w = mm_gguf_writer_new(path);
    int rc = 0;
#define W(x) rc |= (x) < 0
    W(mm_gguf_w_str(w, "general.architecture", "minimax-01"));
    W(mm_gguf_w_u32(w, "minimax-01.vocab_size", VOC));
    W(mm_gguf_w_u32(w, "minimax-01.context_length", 64));
    W(mm_gguf_w_u32(w, "minimax-01.embedding_length", H));
    W(mm_gguf_w_u32(w, "minimax-01.block_count", 2));
    W(mm_gguf_w_u32(w, "minimax-01.feed_forward_length", I));
    W(mm_gguf_w_u32(w, "minimax-01.attention.head_count", NH));
    W(mm_gguf_w_u32(w, "minimax-01.attention.head_count_kv", NKV));
    W(mm_gguf_w_u32(w, "minimax-01.attention.key_length", D));
    W(mm_gguf_w_u32(w, "minimax-01.attention.value_length", D));
    W(mm_gguf_w_u32(w, "minimax-01.rope.dimension_count", D / 2));
    W(mm_gguf_w_f32(w, "minimax-01.rope.freq_base", 1e4f));
    if (v == V_EPS_U32) W(mm_gguf_w_u32(w, "minimax-01.attention.layer_norm_rms_epsilon", 0));
    else W(mm_gguf_w_f32(w, "minimax-01.attention.layer_norm_rms_epsilon", 1e-5f));
    W(mm_gguf_w_u32(w, "minimax-01.expert_count", E));
    W(mm_gguf_w_u32(w, "minimax-01.expert_used_count", 1));
    if (v != V_NO_RESIDUAL) W(mm_gguf_w_f32(w, "minimax-01.residual_scale", 1.0f));
    const uint8_t rec[2] = {1, 0};
    W(mm_gguf_w_arr(w, "minimax-01.attention.recurrent_layers", MM_GGUF_BOOL, 2, rec));
    if (v != V_NO_MODEL) W(mm_gguf_w_str(w, "tokenizer.ggml.model", "gpt2"));
    W(mm_gguf_w_str(w, "tokenizer.ggml.pre", v == V_PRE_GPT2 ? "gpt2" : "gpt-2"));
    const char *toks[VOC] = {"a", "b", "c", "ab", "d", "e", "<s>", v == V_DUP_TOKEN ? "a" : "</s>"};
    int nt = v == V_FEW_TOKENS ? VOC - 1 : VOC;
    W(mm_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (uint64_t)nt, toks));
    int32_t types[VOC] = {1, 1, 1, 1, 1, 1, 3, 3};
    W(mm_gguf_w_arr(w, "tokenizer.ggml.token_type", MM_GGUF_I32, (uint64_t)nt, types));
    const char *merges[1] = {"a b"};
    if (v != V_NO_MERGES) W(mm_gguf_w_arr_str(w, "tokenizer.ggml.merges", 1, merges));
    W(mm_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", v == V_BAD_BOS ? 99 : 6));
    W(mm_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 0));
    /* tensors, PyTorch order (outermost first) */
    struct { const char *name; int nd; int64_t s[3]; } t[] = {
        {"token_embd.weight", 2, {VOC, H}},         {"output_norm.weight", 1, {H}},
        {"output.weight", 2, {VOC, H}},             {"blk.0.attn_norm.weight", 1, {H}},
        {"blk.0.attn_qkv.weight", 2, {3 * NH * D, H}}, {"blk.0.attn_gate.weight", 2, {NH * D, H}},
        {"blk.0.attn_norm_2.weight", 1, {NH * D}},  {"blk.0.attn_output.weight", 2, {H, NH * D}},
        {"blk.1.attn_norm.weight", 1, {H}},         {"blk.1.attn_q.weight", 2, {v == V_BAD_SHAPE ? NH * D + 1 : NH * D, H}},
        {"blk.1.attn_k.weight", 2, {NKV * D, H}},   {"blk.1.attn_v.weight", 2, {NKV * D, H}},
        {"blk.1.attn_output.weight", 2, {H, NH * D}},
    };
    int64_t total = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        W(mm_gguf_writer_add(w, t[i].name, MM_F32, t[i].nd, t[i].s));
        int64_t n = 1;
        for (int d = 0; d < t[i].nd; d++) n *= t[i].s[d];
        total += n;
    }
    for (int l = 0; l < 2; l++) {
        char nm[64];
        int64_t s1[1] = {H}, s2[2] = {E, H}, s3a[3] = {E, I, H}, s3b[3] = {E, H, I};
        snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l), W(mm_gguf_writer_add(w, nm, MM_F32, 1, s1));
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate_inp.weight", l), W(mm_gguf_writer_add(w, nm, MM_F32, 2, s2));
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate_exps.weight", l), W(mm_gguf_writer_add(w, nm, MM_F32, 3, s3a));
        snprintf(nm, sizeof nm, "blk.%d.ffn_down_exps.weight", l), W(mm_gguf_writer_add(w, nm, MM_F32, 3, s3b));
        snprintf(nm, sizeof nm, "blk.%d.ffn_up_exps.weight", l), W(mm_gguf_writer_add(w, nm, MM_F32, 3, s3a));
        total += H + E * H + 3 * E * I * H;
    }
    if (v == V_EXTRA_TENSOR) {
        int64_t s1[1] = {H};
        W(mm_gguf_writer_add(w, "blk.0.bogus.weight", MM_F32, 1, s1));
        total += H;
    }
    W(mm_gguf_writer_begin(w));
    float *zero = calloc((size_t)total, sizeof *zero);
    W(mm_gguf_writer_write(w, zero, sizeof *zero * (size_t)total));
    free(zero);
    W(mm_gguf_writer_finish(w));
#undef W
    mm_gguf_writer_free(w);
    return rc ? -1 : 0;
}

static void test_checker(void) {
    static const char *want[V_COUNT] = {
        [V_PRE_GPT2] = "unknown pre-tokenizer type: 'gpt2'",
        [V_NO_MODEL] = "tokenizer.ggml.model not found",
        [V_DUP_TOKEN] = "duplicate token",
        [V_FEW_TOKENS] = "token_embd.weight has wrong shape",
        [V_EXTRA_TENSOR] = "wrong number of tensors: blk.0.bogus.weight",
        [V_BAD_SHAPE] = "blk.1.attn_q.weight has wrong shape",
        [V_EPS_U32] = "layer_norm_rms_epsilon has type 4",
        [V_NO_RESIDUAL] = "residual_scale not found",
        [V_BAD_BOS] = "bad special token",
        [V_NO_MERGES] = "cannot find tokenizer merges",
    };
    for (int v = 0; v < V_COUNT; v++) {
        char name[32], why[512];
        snprintf(name, sizeof name, "variant-%d.gguf", v);
        if (write_variant(tp(name), v) < 0) {
            CHECK(0, "writing variant %d: %s", v, mm_last_error());
            continue;
        }
        int rc = llama_gguf_check(tp(name), why, sizeof why);
        if (v == V_OK) CHECK(rc == 0, "the valid hand-made file is refused: %s", why);
        else CHECK(rc < 0 && strstr(why, want[v]), "variant %d: wanted \"%s\", got rc %d \"%s\"", v, want[v], rc, why);
    }
    /* and a truncated file */
    char why[512];
    FILE *f = fopen(tp("variant-0.gguf"), "rb");
    uint8_t head[200];
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    FILE *g = fopen(tp("cut.gguf"), "wb");
    if (g) {
        fwrite(head, 1, n, g);
        fclose(g);
    }
    CHECK(llama_gguf_check(tp("cut.gguf"), why, sizeof why) < 0, "a truncated file passes");
}

int main(void) {
    test_checker();
    test_quantize_files();
    return mmt_done();
}
