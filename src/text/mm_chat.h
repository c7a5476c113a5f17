/* mm_chat.h — chat prompts for MiniMax models, rendered in C (no template engine).
 *
 * MM_CHAT_TEXT01 reproduces MiniMax-Text-01's tokenizer_config.json chat_template; MM_CHAT_M1 reproduces
 * MiniMax-M1's. messages is a JSON array of {role, content[, name]} where content is a list of parts
 * ({type: "text", text} / {type: "image", ...}) or a plain string (taken as one text part). Where the
 * reference templates fail (see mm_chat.c) we either render the evident intent or return an error. */
#ifndef MM_CHAT_H
#define MM_CHAT_H
#include <jansson.h>

enum { MM_CHAT_TEXT01, MM_CHAT_M1 };

/* malloc'd prompt, or NULL + mm_set_error() on bad input. tools may be NULL. */
char *mm_chat_render(int style, const json_t *messages, const json_t *tools, int add_generation_prompt);
/* config.json's model_type → style: "minimax_m1" → MM_CHAT_M1, anything else → MM_CHAT_TEXT01. */
int mm_chat_style_for_model_type(const char *model_type);
/* Python json.dumps(v, ensure_ascii=False) (", " and ": " separators, key order kept): what the templates'
 * `tojson` filter gives. malloc'd. */
char *mm_chat_tojson(const json_t *v);

#endif
