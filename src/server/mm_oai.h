/* mm_oai.h — the OpenAI-compatible API's JSON side, independent of HTTP and of the model:
 * request validation, chat messages in the OpenAI shape → the shape MiniMax's chat templates expect,
 * and MiniMax function-call output → OpenAI `tool_calls`. */
#ifndef MM_OAI_H
#define MM_OAI_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "minimax.h"
#include "text/mm_grammar.h"

enum { MM_OAI_CHAT, MM_OAI_COMPLETION };
#define MM_OAI_MAX_STOP 8

typedef struct {
    int kind;                 /* MM_OAI_CHAT / MM_OAI_COMPLETION */
    json_t *messages;         /* chat: the messages array (a reference into the body, which must not change) */
    json_t *tools;            /* chat: tools array, or NULL (also NULL with tool_choice "none"); likewise */
    char *prompt;             /* completion: prompt text (malloc'd, may hold NUL), or NULL when given as ids */
    size_t prompt_len;
    int32_t *prompt_ids;      /* completion: prompt as token ids (malloc'd), or NULL */
    int n_prompt_ids;
    int max_tokens;           /* -1: until the context is full */
    mm_sampler_params sp;     /* OpenAI defaults: temperature 1, top_p 1, top_k/min_p/penalty off */
    int seeded;               /* a seed was given */
    char *stop[MM_OAI_MAX_STOP];   /* malloc'd; may hold NUL: stop_len[k] bytes */
    size_t stop_len[MM_OAI_MAX_STOP];
    int n_stop;
    int stream, include_usage;
    int ignore_eos;           /* extension: keep generating after <end_of_sentence> */
    int parse_special;        /* extension (completions): 1/0 special-token strings in the prompt are/are not special
                               * tokens; -1 not given (the server's --parse-special decides) */
    mm_grammar *grammar;      /* the output's grammar (owned): response_format json_object / json_schema, or the
                               * extension `grammar` (GBNF); NULL: unconstrained */
    int32_t *bias_id;         /* logit_bias: token ids (owned) and their biases in [-100, 100] */
    float *bias_val;
    int n_bias;
    int reasoning_format;     /* chat extension `reasoning_format` (MM_REASONING_*), -1: the server's */
} mm_oai_req;

/* Validates body for endpoint kind and fills r. Returns 0, or -1 with a message naming the field in err
 * (the caller answers 400). r needs mm_oai_req_clear() either way. A field this server does not implement is
 * refused by name (never ignored); so is a value it cannot honour (n > 1, logprobs, a non-zero
 * presence_penalty / frequency_penalty, parallel_tool_calls false). */
int mm_oai_parse(mm_oai_req *r, int kind, const json_t *body, char *err, size_t errlen);
void mm_oai_req_clear(mm_oai_req *r);

/* OpenAI chat messages → the messages a MiniMax template renders (new array; NULL + err on bad input):
 *   role "developer" → "system"; content null → "";
 *   an assistant message's tool_calls → MiniMax call text appended to its content (format below);
 *   role "tool" → Text-01: {"role":"function","name":N,"content":C}; M1: {"role":"tool","content":
 *   [{"type":"text","name":N,"text":C}]}, where N is the message's name or the name of the call that
 *   tool_call_id answers. */
json_t *mm_oai_template_messages(const json_t *messages, int chat_style, char *err, size_t errlen);

/* MiniMax function-call output formats (both are recognised whatever the model):
 *
 *   Text-01 (MiniMax-Text-01 function-call guide; <function_call> is added token 200022):
 *     <function_call>```typescript
 *     functions.get_current_weather({"location": "Shanghai"})
 *     ```
 *     One or more `functions.NAME(JSON-OBJECT)` lines inside the fence; several <function_call> blocks may
 *     follow each other. The fence is optional.
 *   M1 (tokenizer_config.json's system prompt; vLLM's "minimax" tool parser):
 *     <tool_calls>
 *     {"name": "get_current_weather", "arguments": {"location": "Shanghai"}}
 *     </tool_calls>
 *     One JSON object per line; a missing closing tag is tolerated at the end of the output.
 *
 * mm_oai_parse_tool_calls finds the first marker in text[0..len). If everything after it parses, returns
 * an OpenAI tool_calls array ([{id, type:"function", function:{name, arguments: JSON string}}], ids
 * "call_<id_base>_<i>") and sets *content_len to the length of the text before the marker (trailing
 * whitespace trimmed); otherwise returns NULL and *content_len = len. */
json_t *mm_oai_parse_tool_calls(const char *text, size_t len, const char *id_base, size_t *content_len);

/* Where a tool-call marker starts in text[0..len) (len if none), and the length of the longest suffix of
 * text that is a proper prefix of a marker (text a streaming client must not see yet). */
size_t mm_oai_tool_marker(const char *text, size_t len, size_t *partial);

/* A finished chat output split for the response: the thinking (MM_REASONING_DEEPSEEK only; NULL when there is
 * none) and the content, both with tool-call blocks removed when `tools` and the blocks parse (as
 * mm_oai_parse_tool_calls: a block at the end of the thinking or of the answer), and those calls (NULL if none;
 * ids "call_<id_base>_<i>"). With MM_REASONING_NONE the content is the text itself minus the call blocks.
 * in_thinking: the prompt opened a <think> block. reasoning and content are malloc'd. */
typedef struct {
    char *reasoning;
    char *content;
    json_t *calls;
} mm_oai_output;
void mm_oai_split_output(const char *text, size_t len, int reasoning_format, int in_thinking, int tools, const char *id_base,
                         mm_oai_output *out);
void mm_oai_output_clear(mm_oai_output *o);

/* Renders OpenAI tool_calls as model text in the style's format (malloc'd; used for chat history). */
char *mm_oai_render_tool_calls(const json_t *tool_calls, int chat_style);

/* Images (MiniMax-VL-01): content parts {"type": "image_url", "image_url": {"url": URL}} (or "image_url": URL) of
 * user and system messages. The template messages carry them as {"type": "image"}, which the VL template renders
 * as the placeholder "<image>" in the same order.
 * mm_oai_image_urls: the URLs in that order into urls[0..max) (borrowed from msgs); returns how many there are
 * (which may exceed max). */
int mm_oai_image_urls(const json_t *messages, const char **urls, int max);
/* Decodes a base64 data URL ("data:image/png;base64,...": any image media type, or none) into *out (malloc'd).
 * 0; -1 + err for a remote/file URL (never fetched), another scheme, a non-image media type, non-base64 or
 * malformed data; -2 + err when the data would exceed max_bytes (checked before decoding: answer 413). */
int mm_oai_data_url(const char *url, size_t max_bytes, uint8_t **out, size_t *n, char *err, size_t errlen);

/* {"error":{"message","type","code"}} (new reference). Invalid UTF-8 in message is replaced by U+FFFD;
 * type and code must be valid UTF-8 (they are constants). */
json_t *mm_oai_error(const char *message, const char *type, const char *code);

#endif
