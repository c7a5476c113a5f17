/* cli.h — the `minimax` command's subcommands (one file each) and their shared argument helpers. */
#ifndef MM_CLI_H
#define MM_CLI_H
#include <stdint.h>
#include <stdio.h>

/* Each subcommand: argv[0] is the subcommand name. Returns the process exit code. */
int mm_cli_run(int argc, char **argv);
int mm_cli_chat(int argc, char **argv);
int mm_cli_logits(int argc, char **argv);
int mm_cli_info(int argc, char **argv);
int mm_cli_mkmodel(int argc, char **argv);
int mm_cli_tokenize(int argc, char **argv);
int mm_cli_bench(int argc, char **argv);
int mm_cli_serve(int argc, char **argv);
int mm_cli_quantize(int argc, char **argv);
int mm_cli_compare(int argc, char **argv);
int mm_cli_train(int argc, char **argv);
int mm_cli_train_tokenizer(int argc, char **argv);
int mm_cli_perplexity(int argc, char **argv);
int mm_cli_image_info(int argc, char **argv);
int mm_cli_embed(int argc, char **argv);
int mm_cli_classify(int argc, char **argv);

/* --image files of a prompt (cli_image.c): decoded and preprocessed (load), then encoded (encode; features
 * [ntok[i], H] each), then bound to the image tokens of the prompt's ids (embd: NULL for text tokens). Each prints
 * "minimax CMD: ..." and returns -1 / NULL on an error. */
typedef struct mm_cli_images {
    int n;
    struct mm_image_input **in;
    float **feat;
    int *ntok;
    double encode_seconds;
    int64_t patches;
} mm_cli_images;
struct mm_model;
int mm_cli_images_load(const char *cmd, const struct mm_model *m, const char *const *paths, int n, mm_cli_images *im);
int mm_cli_images_encode(const char *cmd, const struct mm_model *m, mm_cli_images *im);
const float **mm_cli_images_embd(const char *cmd, const struct mm_model *m, const mm_cli_images *im, const int32_t *ids, int n);
void mm_cli_images_free(mm_cli_images *im);
/* A user message's content parts for text with "<image>" placeholders (none: n_images image parts first). NULL if
 * the text is not UTF-8. */
struct json_t;
struct json_t *mm_cli_user_content(const char *text, int n_images);

/* Multi-process runs (cli_dist.c). mm_cli_load_model loads the model of a command: the whole model in a plain
 * process, this rank's pipeline stage under mpirun (ranks > 0 serve rank 0 there and exit, never returning). A
 * second call on rank 0 (compare: A, then B; the first model freed) moves every rank to the next model.
 * main strips --layer-split from any command line into mm_cli_set_layer_split, and ends the job after the
 * command with mm_cli_dist_end. */
struct mm_model;
struct mm_model_params;
struct mm_model *mm_cli_load_model(const char *cmd, const char *path, const struct mm_model_params *p);
void mm_cli_set_layer_split(const char *split);
void mm_cli_set_expert_parallel(int on);
int mm_cli_launched_ranks(void);
void mm_cli_dist_end(void);
/* Waits until fd has input to read: on rank 0 of a pipeline it pings the other ranks meanwhile (every
 * mm_pp_keepalive_s), so a user who takes time to type does not run out their bounded wait for the next command.
 * 0 when input (or its end) is there, -1 when a signal interrupted the wait. Read fd unbuffered after it. */
int mm_cli_wait_input(const struct mm_model *m, int fd);
/* A slow step on rank 0 of a pipeline that makes no transport calls (loading a tokenizer): a thread pings the other
 * ranks meanwhile. NULL (nothing to do) in a plain process. */
typedef struct mm_cli_keepalive mm_cli_keepalive;
mm_cli_keepalive *mm_cli_keepalive_start(const struct mm_model *m);
void mm_cli_keepalive_stop(mm_cli_keepalive *k);

int mm_cli_imatrix(int argc, char **argv);
int mm_cli_niah(int argc, char **argv);

/* Argument helpers: print "minimax <cmd>: <message>" and return -1 on a bad value. */
int mm_arg_int(const char *cmd, const char *flag, const char *val, long lo, long hi, long *out);
int mm_arg_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out);
/* Parses "1,2,3" (commas and/or spaces) into a malloc'd array; returns count or -1. */
int mm_arg_ids(const char *cmd, const char *val, int32_t **out);
/* Sampling flags shared by run and chat: --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n
 * -s/--seed. Returns 1 when argv[*i] was one (value parsed into sp), 0 when it is another flag, -1 on a
 * bad value (message printed). MM_SAMPLING_HELP is their --help text. */
struct mm_sampler_params;
int mm_arg_sampling(const char *cmd, int argc, char **argv, int *i, struct mm_sampler_params *sp);
#define MM_SAMPLING_HELP                                                                    \
    "      --temp T           temperature (default 0 = greedy)\n"                          \
    "      --top-k K          top-k (default 40; 0 = off)\n"                               \
    "      --top-p P          top-p (default 0.95; 1 = off)\n"                             \
    "      --min-p P          min-p (default 0.05; 0 = off)\n"                             \
    "      --repeat-penalty R repetition penalty (default 1 = off)\n"                      \
    "      --repeat-last-n N  tokens the penalty looks back over (default 64; -1 = all)\n" \
    "  -s, --seed S           random seed (default 0)\n"
/* KV cache flags shared by every command that makes a context: -ctk/--cache-type-k T, -ctv/--cache-type-v T
 * (f32, f16, bf16, q8_0, q4_0) and --kv-bf16 (both bf16). Returns 1 when argv[*i] was one (MM_KV_* into *tk /
 * *tv), 0 when it is another flag, -1 on a bad value (message printed). MM_KV_HELP is their --help text. */
int mm_arg_kv(const char *cmd, int argc, char **argv, int *i, int *tk, int *tv);
/* --kv-page N: positions per KV cache page (a power of two in 64..65536) into *page; same returns as mm_arg_kv. */
int mm_arg_kv_page(const char *cmd, int argc, char **argv, int *i, int *page);
#define MM_KV_PAGE_HELP "      --kv-page N        positions per KV cache page: a power of two in 64..65536 (default 256)\n"
#define MM_KV_HELP                                                                                       \
    "  -ctk, --cache-type-k T KV cache type of keys: f32 (default), f16, bf16, q8_0, q4_0\n"             \
    "  -ctv, --cache-type-v T KV cache type of values (same types)\n"                                   \
    "      --kv-bf16          both bf16 (= -ctk bf16 -ctv bf16)\n"
/* The memory plan of model m with a context of p: printed on stderr as one line ("memory plan: ...") when
 * show, then checked against the available memory. 0 when it fits; 1 (message printed: the numbers and the
 * flags that would make it fit) when it does not. */
struct mm_model;
struct mm_context_params;
int mm_cli_plan(const char *cmd, const struct mm_model *m, const struct mm_context_params *p, int show);
/* A whole file, NUL-terminated (malloc'd); *len its size. NULL after printing why. */
char *mm_arg_read_file(const char *cmd, const char *path, size_t *len);
/* The tokens of text file `file` under the model's tokenizer (a GGUF's own, or MODEL/tokenizer.json, or tokpath):
 * a malloc'd array in *ids, their count returned; -1 after printing the error as "minimax CMD: ...". */
int mm_arg_tokenize_file(const char *cmd, const char *model, const char *tokpath, const char *file, int32_t **ids);
/* The value after a flag: argv[++*i], or an error if missing. */
const char *mm_arg_next(const char *cmd, int argc, char **argv, int *i);
#endif
