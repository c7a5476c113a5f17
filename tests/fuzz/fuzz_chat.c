/* fuzz_chat.c — chat rendering (both MiniMax templates) of arbitrary JSON: {"messages": ..., "tools": ...,
 * "add_generation_prompt": ...}; the prompt's plain ranges must be sorted, disjoint and inside the text. */
// fuzz-options: -max_len=16384
#include <jansson.h>

#include "fuzz.h"
#include "text/mm_chat.h"

static void fuzz_init(void) {}

/* Every reference chat template case (their messages, tools and flags), one per seed. */
static void fuzz_seeds(const char *shared, const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/tokenizer/chat_template_cases.jsonl", shared);
    FILE *f = fopen(p, "r");
    if (!f) exit(2);
    char line[1 << 16];
    int n = 0;
    while (fgets(line, sizeof line, f)) fuzz_seed(dir, n++, line, strlen(line));
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *in = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    if (!in) return 0;
    const json_t *msgs = json_object_get(in, "messages"), *tools = json_object_get(in, "tools");
    for (int style = MM_CHAT_TEXT01; style <= MM_CHAT_M1; style++) {
        mm_chat_prompt p;
        if (mm_chat_render_prompt(style, msgs, tools, json_is_true(json_object_get(in, "add_generation_prompt")), &p) < 0) continue;
        size_t at = 0;
        for (int i = 0; i < p.n_plain; i++) {
            if (p.plain[i][0] < at || p.plain[i][1] < p.plain[i][0] || p.plain[i][1] > p.len) abort();
            at = p.plain[i][1];
        }
        if (p.text[p.len]) abort();
        free(p.text);
        free(p.plain);
    }
    json_decref(in);
    return 0;
}
