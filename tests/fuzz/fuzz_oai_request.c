/* fuzz_oai_request.c — an OpenAI request body as the server handles it before tokenizing: JSON (with U+0000
 * allowed, as the server parses it), validation for /v1/chat/completions and /v1/completions, the history
 * conversion for both templates (tool calls, tool results) and the rendered prompt. */
// fuzz-options: -max_len=16384
#include <jansson.h>

#include "fuzz.h"
#include "server/mm_oai.h"
#include "text/mm_chat.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *shared, const char *dir) {
    static const char *const bodies[] = {
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hello!\"}],\"max_tokens\":64,"
        "\"temperature\":0.7,\"top_p\":0.9,\"seed\":3,\"stop\":[\"\\n\\n\",\"END\"],\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
        "{\"messages\":[{\"role\":\"developer\",\"content\":\"sys\"},{\"role\":\"user\",\"content\":\"weather?\"},{\"role\":\"assistant\","
        "\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"t\\\": 20}\"}],\"tools\":[{\"type\":"
        "\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
        "\"tool_choice\":\"auto\"}",
        "{\"prompt\":\"The capital of France is\",\"max_tokens\":5,\"parse_special\":false,\"stop\":\"\\u0000\"}",
        "{\"prompt\":[1,2,3,200019],\"max_completion_tokens\":3,\"ignore_eos\":true,\"min_p\":0.1,\"top_k\":40,\"repeat_penalty\":1.1}",
        "{\"prompt\":[\"one prompt\"],\"n\":1,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5}",
    };
    fuzz_seed_strings(dir, 0, bodies, (int)(sizeof bodies / sizeof bodies[0]));
    (void)shared;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *body = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    if (!body) return 0;
    for (int kind = MM_OAI_CHAT; kind <= MM_OAI_COMPLETION; kind++) {
        mm_oai_req r;
        char err[512];
        if (mm_oai_parse(&r, kind, body, err, sizeof err) == 0 && kind == MM_OAI_CHAT) {
            for (int style = MM_CHAT_TEXT01; style <= MM_CHAT_M1; style++) {
                json_t *msgs = mm_oai_template_messages(r.messages, style, err, sizeof err);
                mm_chat_prompt p;
                if (msgs && mm_chat_render_prompt(style, msgs, r.tools, 1, &p) == 0) {
                    free(p.text);
                    free(p.plain);
                }
                json_decref(msgs);
            }
        }
        if (kind == MM_OAI_COMPLETION && r.prompt && r.prompt_len == 0) abort();   /* an empty prompt is refused */
        mm_oai_req_clear(&r);
    }
    json_decref(body);
    return 0;
}
