/* fuzz_tool_calls.c — generated text through MiniMax function-call parsing (Text-01 <function_call> fences and
 * M1 <tool_calls> JSON lines) and the streaming marker scan; calls that parse are rendered back in both
 * formats (as the server does for history) and parsed again. */
// fuzz-options: -max_len=8192
#include <jansson.h>

#include "fuzz.h"
#include "server/mm_oai.h"
#include "text/mm_chat.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *shared, const char *dir) {
    static const char *const outs[] = {
        "<function_call>```typescript\nfunctions.get_current_weather({\"location\": \"Shanghai\"})\n```",
        "Let me check.\n<function_call>```typescript\nfunctions.a({})\nfunctions.b({\"x\": [1, 2, {\"y\": null}]})\n```"
        "<function_call>functions.c({\"z\": \"\\u00e9\"})",
        "<tool_calls>\n{\"name\": \"get_current_weather\", \"arguments\": {\"location\": \"Shanghai\"}}\n"
        "{\"name\": \"f\", \"arguments\": \"{\\\"q\\\": 1}\"}\n</tool_calls>",
        "<tool_calls>\n{\"name\": \"g\"}\n",
        "no call here, but <func and <tool",
    };
    fuzz_seed_strings(dir, 0, outs, (int)(sizeof outs / sizeof outs[0]));
    (void)shared;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    size_t partial, content_len;
    size_t m = mm_oai_tool_marker(text, size, &partial);
    if (m > size || partial > size) abort();
    json_t *calls = mm_oai_parse_tool_calls(text, size, "fz", &content_len);
    if (content_len > size) abort();
    if (calls) {
        for (int style = MM_CHAT_TEXT01; style <= MM_CHAT_M1; style++) {
            /* the OpenAI shape back to model text (a name or argument string need not survive the trip:
             * Text-01 names are identifiers, string arguments are taken as encoded JSON) */
            char *r = mm_oai_render_tool_calls(calls, style);
            size_t cl;
            json_t *again = mm_oai_parse_tool_calls(r, strlen(r), "fz", &cl);
            if (cl > strlen(r)) abort();
            json_decref(again);
            free(r);
        }
        json_decref(calls);
    }
    return 0;
}
