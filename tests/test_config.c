/* test_config.c — config.json parsing: both dialects, their defaults, and every refusal. */
#include "mm_test.h"
#include "minimax.h"

static const char *REMOTE_MIN =
    "{\"model_type\":\"minimax_text_01\",\"architectures\":[\"MiniMaxText01ForCausalLM\"],\"vocab_size\":512,"
    "\"hidden_size\":48,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
    "\"intermediate_size\":64,\"num_local_experts\":4,\"num_experts_per_tok\":2,\"attn_type_list\":[0,1]%s}";

static int parse_remote(mm_config *c, const char *extra) {
    char buf[2048];
    snprintf(buf, sizeof buf, REMOTE_MIN, extra);
    return mm_config_parse(c, buf, "config.json");
}

static void expect_error(const char *json, const char *needle) {
    mm_config c;
    int r = mm_config_parse(&c, json, "cfg.json");
    CHECK(r < 0, "accepted: %s", json);
    CHECK(r < 0 && strstr(mm_last_error(), needle), "error for %.60s... should mention '%s', got: %s", json, needle, mm_last_error());
}

static void expect_remote_error(const char *extra, const char *needle) {
    char buf[2048];
    snprintf(buf, sizeof buf, REMOTE_MIN, extra);
    expect_error(buf, needle);
}

int main(void) {
    mm_config c;
    /* remote dialect defaults: postnorm false, rotary = head_dim, head_dim = hidden/heads, factors 1, block 256 */
    CHECK(parse_remote(&c, "") == 0, "minimal remote config: %s", mm_last_error());
    CHECK(c.dialect == MM_DIALECT_REMOTE && c.postnorm == 0, "remote: missing postnorm must mean false");
    CHECK(c.head_dim == 12 && c.rotary_dim == 12, "remote: head_dim %d rotary %d", c.head_dim, c.rotary_dim);
    CHECK(c.alpha_lin == 1 && c.beta_mlp == 1 && c.block_size == 256 && c.rope_theta == 1e6, "remote defaults");
    CHECK(c.n_lightning == 1 && c.n_softmax == 1 && c.layer_type[1] == MM_LAYER_SOFTMAX, "layer layout");
    CHECK(parse_remote(&c, ",\"postnorm\":true,\"head_dim\":16,\"rotary_dim\":8,\"layernorm_mlp_alpha\":3.5,"
                           "\"rope_theta\":10000000") == 0, "full remote: %s", mm_last_error());
    CHECK(c.postnorm == 1 && c.head_dim == 16 && c.rotary_dim == 8 && c.alpha_mlp == 3.5 && c.rope_theta == 1e7, "remote fields");
    CHECK(parse_remote(&c, ",\"shared_intermediate_size\":0,\"sliding_window\":null,\"hidden_act\":\"silu\"") == 0, "explicit zeros");
    CHECK(parse_remote(&c, ",\"shared_intermediate_size\":[0]") == 0, "VL-style [0] shared size");
    CHECK(mm_config_parse(&c, "{\"model_type\":\"minimax_m1\",\"num_hidden_layers\":1,\"attn_type_list\":[1]}", "m1") == 0,
          "minimax_m1 is the same architecture: %s", mm_last_error());

    /* native dialect: postnorm always true, layer_types, factors, rope_parameters */
    const char *hf = "{\"model_type\":\"minimax\",\"num_hidden_layers\":4,\"hidden_size\":64,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                     "\"layer_types\":[\"linear_attention\",\"full_attention\",\"linear_attention\",\"full_attention\"],"
                     "\"full_attn_alpha_factor\":2.3,\"block_size\":128,\"postnorm\":false,"
                     "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":5000.0,\"partial_rotary_factor\":0.5}}";
    CHECK(mm_config_parse(&c, hf, "hf") == 0, "native config: %s", mm_last_error());
    CHECK(c.dialect == MM_DIALECT_HF && c.postnorm == 1, "native dialect always post-norm");
    CHECK(c.alpha_full == 2.3 && c.block_size == 128 && c.rope_theta == 5000 && c.rotary_dim == 8, "native fields");
    CHECK(mm_config_parse(&c, "{\"model_type\":\"minimax\",\"num_hidden_layers\":3}", "hf") == 0, "native default layout");
    CHECK(c.layer_type[0] == MM_LAYER_SOFTMAX && c.layer_type[1] == MM_LAYER_LIGHTNING && c.layer_type[2] == MM_LAYER_SOFTMAX,
          "native default: even index full attention");

    /* the golden configs parse */
    char p[1024];
    snprintf(p, sizeof p, "%s/golden/f_remote_dialect/config.json", mmt_shared());
    CHECK(mm_config_load(&c, p) == 0 && c.rotary_dim == 8 && c.max_position_embeddings == 10240000, "golden f: %s", mm_last_error());

    /* refusals */
    expect_error("{", "malformed JSON");
    expect_error("[1,2]", "JSON object");
    expect_error("{\"vocab_size\":5}", "model_type");
    expect_error("{\"model_type\":\"llama\"}", "unknown model_type");
    expect_error("{\"model_type\":\"minimax_vl_01\"}", "needs a \"text_config\" object");
    expect_error("{\"model_type\":\"minimax\",\"architectures\":[\"MiniMaxText01ForCausalLM\"]}", "contradicts");
    expect_error("{\"model_type\":\"minimax\",\"architectures\":[\"LlamaForCausalLM\"]}", "not a MiniMax");
    expect_error("{\"model_type\":\"minimax\",\"num_hidden_layers\":2,\"num_hidden_layers\":3}", "malformed JSON");
    expect_remote_error(",\"shared_intermediate_size\":1024", "shared_intermediate_size");
    expect_remote_error(",\"sliding_window\":4096", "sliding_window");
    expect_remote_error(",\"hidden_act\":\"gelu\"", "hidden_act");
    expect_remote_error(",\"rope_scaling\":{\"type\":\"linear\"}", "rope_scaling");
    expect_remote_error(",\"rotary_dim\":7", "rotary_dim");
    expect_remote_error(",\"rotary_dim\":64", "rotary_dim");
    expect_error("{\"model_type\":\"minimax\",\"num_local_experts\":4,\"num_experts_per_tok\":9}", "num_experts_per_tok");
    expect_error("{\"model_type\":\"minimax\",\"num_attention_heads\":8,\"num_key_value_heads\":3}", "multiple");
    expect_remote_error(",\"layer_types\":[\"full_attention\",\"full_attention\"]", "disagree");
    expect_remote_error(",\"rms_norm_eps\":\"small\"", "rms_norm_eps");
    expect_remote_error(",\"postnorm\":1", "postnorm");
    expect_error("{\"model_type\":\"minimax_text_01\",\"num_hidden_layers\":2,\"attn_type_list\":[0]}", "attn_type_list");
    expect_error("{\"model_type\":\"minimax_text_01\",\"num_hidden_layers\":2,\"attn_type_list\":[0,2]}", "attn_type_list[1]");
    expect_error("{\"model_type\":\"minimax_text_01\",\"num_hidden_layers\":2}", "attn_type_list");
    expect_error("{\"model_type\":\"minimax_text_01\",\"num_hidden_layers\":2.5,\"attn_type_list\":[0,1]}", "integer");
    expect_error("{\"model_type\":\"minimax_text_01\",\"num_hidden_layers\":0}", "out of range");
    expect_error("{\"model_type\":\"minimax_text_01\",\"num_hidden_layers\":1,\"attn_type_list\":[0]}", "slope");
    expect_error("{\"model_type\":\"minimax\",\"layer_types\":[\"mamba\",\"full_attention\"],\"num_hidden_layers\":2}", "layer_types[0]");
    expect_error("{\"model_type\":\"minimax\",\"rope_theta\":10,\"rope_parameters\":{\"rope_theta\":20}}", "disagree");
    expect_error("{\"model_type\":\"minimax\",\"rope_parameters\":{\"rope_type\":\"yarn\"}}", "rope_type");
    CHECK(mm_config_load(&c, "/nonexistent/config.json") < 0 && strstr(mm_last_error(), "cannot open"), "missing file");

    /* memory estimate: Text-01 lightning state is 280 MiB, KV 40 KiB/token in bf16 */
    mm_config t = {.n_lightning = 70, .n_softmax = 10, .n_heads = 64, .head_dim = 128, .n_kv_heads = 8};
    CHECK(mm_state_bytes(&t, 0, 1) == 280LL << 20, "lightning state bytes");
    CHECK(mm_state_bytes(&t, 1, 1) - mm_state_bytes(&t, 0, 1) == 40 << 10, "KV bytes per token");
    return mmt_done();
}
