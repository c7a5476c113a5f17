/* test_server_oai.c — OpenAI request validation, chat-history conversion and MiniMax tool-call parsing
 * on hand-written model outputs (a random model never emits calls). */
#include <jansson.h>

#include "base/mm_common.h"
#include "text/mm_chat.h"
#include "server/mm_oai.h"
#include "text/mm_reasoning.h"
#include "mm_test.h"

static int parse(const char *body, int kind, mm_oai_req *r, char *err) {
    json_t *j = json_loads(body, 0, NULL);
    int rc = mm_oai_parse(r, kind, j, err, 256);
    json_decref(j);
    return rc;
}

static void expect_bad(const char *body, int kind, const char *needle) {
    mm_oai_req r;
    char err[256] = "";
    int rc = parse(body, kind, &r, err);
    CHECK(rc < 0 && strstr(err, needle), "%s → expected an error naming '%s', got rc %d '%s'", body, needle, rc, err);
    mm_oai_req_clear(&r);
}

/* Image parts: validation, their URLs in template order, the template's image parts, and data-URL decoding. */
static void images(void) {
    char err[256];
    mm_oai_req r;
    const char *body = "{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\",\"image_url\":\"data:,a\"}]},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"t\"},{\"type\":\"image_url\","
                       "\"image_url\":{\"url\":\"u2\"}}]},{\"role\":\"user\",\"content\":\"plain\"}]}";
    CHECK(parse(body, MM_OAI_CHAT, &r, err) == 0, "image parts parse: %s", err);
    const char *urls[4];
    CHECK(mm_oai_image_urls(r.messages, urls, 4) == 2 && !strcmp(urls[0], "data:,a") && !strcmp(urls[1], "u2"), "image URLs in order");
    CHECK(mm_oai_image_urls(r.messages, urls, 1) == 2, "the count beyond max");
    json_t *t = mm_oai_template_messages(r.messages, MM_CHAT_VL01, err, sizeof err);
    json_t *p1 = json_array_get(json_object_get(json_array_get(t, 1), "content"), 1);
    CHECK(t && !strcmp(json_string_value(json_object_get(p1, "type")), "image") && json_object_size(p1) == 1,
          "image_url → {\"type\": \"image\"} for the VL template");
    char *text = t ? mm_chat_render(MM_CHAT_VL01, t, NULL, 1) : NULL;
    CHECK(text && strstr(text, "system ai_setting=assistant\n<image><end_of_sentence>") && strstr(text, "user name=user\nt<image><"),
          "rendered: %s", text ? text : mm_last_error());
    free(text);
    json_decref(t);
    CHECK(!mm_oai_template_messages(r.messages, MM_CHAT_TEXT01, err, sizeof err) && strstr(err, "does not take images"),
          "a text template refuses images: %s", err);
    mm_oai_req_clear(&r);
    expect_bad("{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"image_url\",\"image_url\":\"x\"}]}]}",
               MM_OAI_CHAT, "user and system messages");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"u\":1}}]}]}",
               MM_OAI_CHAT, "image_url");
    uint8_t *b = NULL;
    size_t n = 0;
    CHECK(mm_oai_data_url("data:image/png;base64,aGVsbG8gd29ybGQ=", 100, &b, &n, err, sizeof err) == 0 && n == 11 &&
          !memcmp(b, "hello world", 11), "base64 data URL");
    free(b);
    CHECK(mm_oai_data_url("data:;base64,aGk", 100, &b, &n, err, sizeof err) == 0 && n == 2 && !memcmp(b, "hi", 2),
          "no media type, no padding");
    free(b);
    CHECK(mm_oai_data_url("data:image/webp;base64,-_-_", 100, &b, &n, err, sizeof err) == 0 && n == 3 && b[0] == 0xfb,
          "URL-safe alphabet");
    free(b);
    static const struct { const char *url; const char *needle; int rc; } bad[] = {
        {"https://x/y.png", "not fetched", -1}, {"HTTP://x", "not fetched", -1}, {"file:///etc/passwd", "not fetched", -1},
        {"ftp://x", "data URL", -1}, {"data:image/png,abc", "base64", -1}, {"data:image/png;base64", "','", -1},
        {"data:text/html;base64,aGk=", "not an image type", -1}, {"data:image/png;base64,a*b=", "invalid base64", -1},
        {"data:image/png;base64,a", "truncated", -1}, {"data:image/png;base64,", "no data", -1},
        {"data:image/png;base64,QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
         "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", "limit of 100 bytes", -2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = mm_oai_data_url(bad[i].url, 100, &b, &n, err, sizeof err);
        CHECK(rc == bad[i].rc && !b && strstr(err, bad[i].needle), "%s → rc %d '%s', want %d '%s'", bad[i].url, rc, err, bad[i].rc,
              bad[i].needle);
    }
}

static json_t *calls_of(const char *text, size_t *content_len) {
    return mm_oai_parse_tool_calls(text, strlen(text), "x", content_len);
}

static void expect_call(json_t *calls, size_t i, const char *name, const char *args_json) {
    json_t *fn = json_object_get(json_array_get(calls, i), "function");
    const char *nm = json_string_value(json_object_get(fn, "name"));
    const char *args = json_string_value(json_object_get(fn, "arguments"));
    json_t *a = args ? json_loads(args, 0, NULL) : NULL, *want = json_loads(args_json, 0, NULL);
    CHECK(nm && !strcmp(nm, name), "call %zu name %s, want %s", i, nm ? nm : "(null)", name);
    CHECK(a && json_equal(a, want), "call %zu arguments %s, want %s", i, args ? args : "(null)", args_json);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(calls, i), "type")), "function"), "type function");
    CHECK(json_is_string(json_object_get(json_array_get(calls, i), "id")), "has an id");
    json_decref(a);
    json_decref(want);
}

int main(void) {
    mm_oai_req r;
    char err[256];

    /* ---- valid requests and defaults */
    CHECK(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", MM_OAI_CHAT, &r, err) == 0, "minimal chat: %s", err);
    CHECK(r.max_tokens == -1 && r.sp.temperature == 1.0f && r.sp.top_p == 1.0f && !r.stream && !r.tools, "OpenAI defaults");
    mm_oai_req_clear(&r);
    CHECK(parse("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],\"max_tokens\":5,"
                "\"temperature\":0,\"top_p\":0.9,\"top_k\":3,\"min_p\":0.1,\"seed\":7,\"stop\":[\"a\",\"b\"],\"n\":1,"
                "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"tools\":[{\"type\":\"function\",\"function\":"
                "{\"name\":\"f\"}}]}",
                MM_OAI_CHAT, &r, err) == 0,
          "full chat: %s", err);
    CHECK(r.max_tokens == 5 && r.sp.temperature == 0 && r.sp.top_k == 3 && r.sp.seed == 7 && r.seeded && r.n_stop == 2 &&
              r.stream && r.include_usage && r.tools,
          "fields read");
    mm_oai_req_clear(&r);
    CHECK(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
                "\"f\"}}],\"tool_choice\":\"none\"}",
                MM_OAI_CHAT, &r, err) == 0 && !r.tools,
          "tool_choice none drops the tools");
    mm_oai_req_clear(&r);
    CHECK(parse("{\"prompt\":[1,2,3],\"max_tokens\":0}", MM_OAI_COMPLETION, &r, err) == 0 && r.n_prompt_ids == 3 &&
              r.prompt_ids[2] == 3 && r.max_tokens == 0,
          "token-id prompt");
    mm_oai_req_clear(&r);
    CHECK(parse("{\"prompt\":[\"text\"],\"stop\":\"\\n\"}", MM_OAI_COMPLETION, &r, err) == 0 && r.prompt && !strcmp(r.prompt, "text") &&
              r.n_stop == 1,
          "one-element prompt batch");
    mm_oai_req_clear(&r);

    /* ---- invalid requests: each names the field */
    expect_bad("[1]", MM_OAI_CHAT, "JSON object");
    expect_bad("{}", MM_OAI_CHAT, "'messages'");
    expect_bad("{\"messages\":[]}", MM_OAI_CHAT, "'messages'");
    expect_bad("{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", MM_OAI_CHAT, "role");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", MM_OAI_CHAT, "content");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", MM_OAI_CHAT, "'n'");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", MM_OAI_CHAT, "'temperature'");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-1}", MM_OAI_CHAT, "'max_tokens'");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", MM_OAI_CHAT, "'max_tokens'");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":2}", MM_OAI_CHAT, "'top_p'");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", MM_OAI_CHAT, "'stream'");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", MM_OAI_CHAT, "'stop[0]'");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\"}]}", MM_OAI_CHAT, "'tools[0]'");
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"maybe\"}", MM_OAI_CHAT, "'tool_choice'");
    expect_bad("{\"prompt\":\"\"}", MM_OAI_COMPLETION, "'prompt'");
    expect_bad("{\"prompt\":[1,-2]}", MM_OAI_COMPLETION, "'prompt'");
    expect_bad("{\"prompt\":[\"a\",\"b\"]}", MM_OAI_COMPLETION, "'prompt'");
    expect_bad("{\"prompt\":7}", MM_OAI_COMPLETION, "'prompt'");

    /* ---- Text-01 function calls */
    size_t cl;
    json_t *c = calls_of("<function_call>```typescript\nfunctions.get_current_weather({\"location\": \"Shanghai\"})\n```", &cl);
    CHECK(c && json_array_size(c) == 1 && cl == 0, "one Text-01 call");
    if (c) expect_call(c, 0, "get_current_weather", "{\"location\": \"Shanghai\"}");
    json_decref(c);
    c = calls_of("Let me check.\n<function_call>```typescript\nfunctions.a({\"x\": [1, {\"y\": \")\"}]})\nfunctions.b({})\n```"
                 "<function_call>```typescript\nfunctions.c({\"z\": \"\\u4e0a\\u6d77\"})\n```",
                 &cl);
    CHECK(c && json_array_size(c) == 3 && cl == strlen("Let me check."), "content before calls, three calls (cl %zu)", cl);
    if (c && json_array_size(c) == 3) {
        expect_call(c, 0, "a", "{\"x\": [1, {\"y\": \")\"}]}");
        expect_call(c, 1, "b", "{}");
        expect_call(c, 2, "c", "{\"z\": \"上海\"}");
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(c, 0), "id")),
                     json_string_value(json_object_get(json_array_get(c, 1), "id"))),
              "distinct ids");
    }
    json_decref(c);
    c = calls_of("<function_call>functions.f({\"k\": 1})", &cl);
    CHECK(c && json_array_size(c) == 1, "an unfenced call");
    json_decref(c);
    c = calls_of("<function_call>```typescript\nfunctions.f({\"k\": 1})", &cl);
    CHECK(c && json_array_size(c) == 1, "an unclosed fence at the end of the output");
    json_decref(c);
    const char *bad[] = {"<function_call>```typescript\nfunctions.f({\"k\": 1)\n```", "<function_call>```typescript\nfunctions.f[1]\n```",
                         "<function_call>```typescript\nfunctions.f(\"str\")\n```", "<function_call>```typescript\nfunctions.f({}) and more\n```",
                         "plain text, no call", "<tool_calls>\nnot json\n</tool_calls>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = calls_of(bad[i], &cl);
        CHECK(!c && cl == strlen(bad[i]), "not a call: %s", bad[i]);
        json_decref(c);
    }

    /* ---- M1 tool calls */
    c = calls_of("<tool_calls>\n{\"name\": \"search_web\", \"arguments\": {\"query_list\": [\"a\"]}}\n{\"name\": \"g\", \"arguments\": "
                 "\"{\\\"q\\\": 1}\"}\n</tool_calls>",
                 &cl);
    CHECK(c && json_array_size(c) == 2 && cl == 0, "two M1 calls");
    if (c && json_array_size(c) == 2) {
        expect_call(c, 0, "search_web", "{\"query_list\": [\"a\"]}");
        expect_call(c, 1, "g", "{\"q\": 1}");
    }
    json_decref(c);

    /* ---- markers for streaming hold-back */
    size_t partial;
    CHECK(mm_oai_tool_marker("hello <func", 11, &partial) == 11 && partial == 5, "a partial marker is held (%zu)", partial);
    CHECK(mm_oai_tool_marker("a<tool_calls>x", 14, &partial) == 1 && partial == 0, "marker position");
    CHECK(mm_oai_tool_marker("a < b", 5, &partial) == 5 && partial == 0, "'<' followed by a space is not a marker prefix");

    /* ---- history: assistant tool calls and tool results → template roles, and a round trip */
    json_t *msgs = json_loads(
        "[{\"role\":\"developer\",\"content\":\"sys\"},{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
        "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"t\\\": 20}\"}]",
        0, NULL);
    json_t *t = mm_oai_template_messages(msgs, MM_CHAT_TEXT01, err, sizeof err);
    CHECK(t && json_array_size(t) == 4, "converted history: %s", t ? "" : err);
    if (t && json_array_size(t) == 4) {
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(t, 0), "role")), "system"), "developer → system");
        const char *asst = json_string_value(json_object_get(json_array_get(t, 2), "content"));
        size_t l2;
        json_t *back = asst ? mm_oai_parse_tool_calls(asst, strlen(asst), "y", &l2) : NULL;
        CHECK(back && json_array_size(back) == 1, "rendered call parses back: %s", asst ? asst : "(null)");
        if (back) expect_call(back, 0, "get_weather", "{\"city\": \"Paris\"}");
        json_decref(back);
        /* the call's markers are template markup, its name and arguments are text */
        json_t *tr = json_object_get(json_array_get(t, 2), "_mm_template");
        const char *nm = asst ? strstr(asst, "get_weather") : NULL, *mk = asst ? strstr(asst, "<function_call>") : NULL;
        int marker_in = 0, name_in = 0;
        for (size_t k = 0; k < json_array_size(tr); k++) {
            json_int_t a = json_integer_value(json_array_get(json_array_get(tr, k), 0)), e = json_integer_value(json_array_get(json_array_get(tr, k), 1));
            if (mk && a <= mk - asst && mk - asst + 15 <= e) marker_in = 1;
            if (nm && a < nm - asst + 11 && nm - asst < e) name_in = 1;
        }
        CHECK(json_array_size(tr) >= 2 && marker_in && !name_in, "tool-call markup ranges: marker in, name out");
        json_t *fn = json_array_get(t, 3);
        CHECK(!strcmp(json_string_value(json_object_get(fn, "role")), "function") &&
                  !strcmp(json_string_value(json_object_get(fn, "name")), "get_weather"),
              "tool → function with the call's name");
        char *prompt = mm_chat_render(MM_CHAT_TEXT01, t, NULL, 1);
        CHECK(prompt && strstr(prompt, "function_response=functions\n{\"name\": \"get_weather\", \"response\": {\"t\": 20}}"),
              "renders with the Text-01 template: %s", prompt ? prompt : mm_last_error());
        free(prompt);
    }
    json_decref(t);
    t = mm_oai_template_messages(msgs, MM_CHAT_M1, err, sizeof err);
    if (t) {
        const char *asst = json_string_value(json_object_get(json_array_get(t, 2), "content"));
        CHECK(asst && !strncmp(asst, "<tool_calls>\n{\"name\": \"get_weather\"", 35), "M1 history call: %s", asst ? asst : "");
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(t, 3), "role")), "tool"), "M1 keeps role tool");
    }
    CHECK(t != NULL, "M1 conversion");
    json_decref(t);
    json_decref(msgs);
    msgs = json_loads("[{\"role\":\"tool\",\"tool_call_id\":\"nope\",\"content\":\"x\"}]", 0, NULL);
    t = mm_oai_template_messages(msgs, MM_CHAT_TEXT01, err, sizeof err);
    CHECK(!t && strstr(err, "tool_call_id"), "a tool result for an unknown call is an error");
    json_decref(msgs);

    json_t *e = mm_oai_error("m", "invalid_request_error", NULL);
    CHECK(json_is_string(json_object_get(json_object_get(e, "error"), "message")) &&
              json_is_null(json_object_get(json_object_get(e, "error"), "code")),
          "error shape");
    json_decref(e);
    /* content parts are joined in one pass: 200000 parts (the old strcat loop was quadratic: minutes) */
    {
        json_t *parts = json_array();
        for (int i = 0; i < 200000; i++) json_array_append_new(parts, json_pack("{s:s, s:s}", "type", "text", "text", "0123456789"));
        json_t *hist = json_pack("[{s:s, s:o}]", "role", "assistant", "content", parts);
        double t0 = mm_time();
        json_t *tm = mm_oai_template_messages(hist, MM_CHAT_TEXT01, err, sizeof err);
        double dt = mm_time() - t0;
        CHECK(tm && json_string_length(json_object_get(json_array_get(tm, 0), "content")) == 2000000 && dt < 2.0,
              "200000 content parts joined in %.3f s", dt);
        json_decref(tm);
        json_decref(hist);
        /* a NUL inside content is kept */
        hist = json_loads("[{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"a\\u0000b\"},{\"type\":\"text\",\"text\":\"c\"}]}]",
                          JSON_ALLOW_NUL, NULL);
        tm = mm_oai_template_messages(hist, MM_CHAT_TEXT01, err, sizeof err);
        const json_t *ct = json_object_get(json_array_get(tm, 0), "content");
        CHECK(json_string_length(ct) == 4 && !memcmp(json_string_value(ct), "a\0bc", 4), "content with NUL joined whole");
        json_decref(tm);
        json_decref(hist);
    }

    /* a message quoting client bytes that are not UTF-8 (GET /%ff) still gives an error object */
    e = mm_oai_error("no such endpoint: GET /\xff and a cut \xc3", "not_found_error", "not_found");
    const char *em = json_string_value(json_object_get(json_object_get(e, "error"), "message"));
    CHECK(em && !strcmp(em, "no such endpoint: GET /\xef\xbf\xbd and a cut \xef\xbf\xbd"), "invalid UTF-8 → U+FFFD: %s", em ? em : "(null)");
    json_decref(e);

    /* mm_utf8_lossy: Rust's from_utf8_lossy replacement rules, NUL kept */
    static const struct { const char *in; size_t n; const char *out; size_t out_n; } L[] = {
        {"abc", 3, "abc", 3},
        {"a\0b", 3, "a\0b", 3},
        {"\xc3\xa9", 2, "\xc3\xa9", 2},
        {"\xc3", 1, "\xef\xbf\xbd", 3},                               /* cut character */
        {"\xe2\x82x", 3, "\xef\xbf\xbdx", 4},                         /* maximal prefix → one U+FFFD */
        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6},                  /* overlong */
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9},  /* surrogate */
        {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12},
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        size_t n;
        char *o = mm_utf8_lossy(L[i].in, L[i].n, &n);
        CHECK(n == L[i].out_n && !memcmp(o, L[i].out, n) && o[n] == 0, "mm_utf8_lossy case %zu (%zu bytes)", i, n);
        free(o);
    }
    images();
    {   /* a finished chat output split into thinking, answer and calls (in the thinking and after it) */
        const char *call = "<tool_calls>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_calls>";
        char text[512];
        mm_oai_output o;
        snprintf(text, sizeof text, "<think>\nplan\n</think>\n\nThe answer.");
        mm_oai_split_output(text, strlen(text), MM_REASONING_DEEPSEEK, 0, 0, "id", &o);
        CHECK(o.reasoning && !strcmp(o.reasoning, "plan\n") && !strcmp(o.content, "The answer.") && !o.calls, "split: '%s' '%s'",
              o.reasoning ? o.reasoning : "(none)", o.content);
        mm_oai_output_clear(&o);
        mm_oai_split_output(text, strlen(text), MM_REASONING_NONE, 0, 0, "id", &o);
        CHECK(!o.reasoning && !strcmp(o.content, text), "none: the text as it is");
        mm_oai_output_clear(&o);
        snprintf(text, sizeof text, "<think>look it up %s</think>\n\nok %s", call, call);
        mm_oai_split_output(text, strlen(text), MM_REASONING_DEEPSEEK, 0, 1, "id", &o);
        CHECK(o.calls && json_array_size(o.calls) == 2 && o.reasoning && !strcmp(o.reasoning, "look it up") && !strcmp(o.content, "ok"),
              "calls inside and after the thinking: %zu calls, '%s' '%s'", json_array_size(o.calls), o.reasoning ? o.reasoning : "", o.content);
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(o.calls, 1), "id")), "call_id_1"), "call ids run across both");
        mm_oai_output_clear(&o);
        mm_oai_split_output(text, strlen(text), MM_REASONING_NONE, 0, 1, "id", &o);
        CHECK(o.calls && json_array_size(o.calls) == 2 && !strstr(o.content, "<tool_calls>") && strstr(o.content, "<think>look it up</think>"),
              "none with tools: the calls parsed, the thinking left inline: '%s'", o.content);
        mm_oai_output_clear(&o);
        snprintf(text, sizeof text, "reasons</think>answer");   /* the prompt opened the block */
        mm_oai_split_output(text, strlen(text), MM_REASONING_DEEPSEEK, 1, 0, "id", &o);
        CHECK(o.reasoning && !strcmp(o.reasoning, "reasons") && !strcmp(o.content, "answer"), "in_thinking");
        mm_oai_output_clear(&o);
    }
    expect_bad("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"frequency_penalty\":1}", MM_OAI_CHAT, "frequency_penalty");
    expect_bad("{\"prompt\":\"x\",\"tools\":[]}", MM_OAI_COMPLETION, "other endpoint");
    expect_bad("{\"prompt\":\"x\",\"logit_bias\":{\"1\":\"a\"}}", MM_OAI_COMPLETION, "logit_bias");
    return mmt_done();
}
