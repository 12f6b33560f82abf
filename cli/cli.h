/*
 * cli/cli.h — the subcommands of build/seize and the helpers they share.
 *
 * Each subcommand lives in cli/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)` where
 * argv[0] is the subcommand's name; it is listed in the table in cli/main.c. Exit codes:
 * 0 success, 1 failure, 2 usage error, 3 finished but some items failed.
 */
#ifndef SEIZE_CLI_H
#define SEIZE_CLI_H

#include <stddef.h>
#include <stdio.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };

/* The subcommands (keep in step with the table in cli/main.c). */
int cmd_inspect(int argc, char **argv);
int cmd_fetch_model(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_encode_images(int argc, char **argv);
int cmd_encode_texts(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_check_submission(int argc, char **argv);
int cmd_submission(int argc, char **argv);
int cmd_query_features(int argc, char **argv);
int cmd_caption(int argc, char **argv);
int cmd_reason(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* Prints "seize <cmd>: error: <message>" to stderr; returns EXIT_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "seize <cmd>: <message>" and a hint to run --help; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports the library's last error (seize_errmsg()) for `cmd`; returns EXIT_FAIL. */
int cli_lib_fail(const char *cmd);

/* Strict number parsing: the whole string must be a number in range. 0 or -1. */
int cli_parse_int(const char *s, long min, long max, long *out);
int cli_parse_float(const char *s, double *out);

/* A one-line progress display on stderr, shown only when stderr is a terminal and not quiet:
 * "label  done/total  rate/s  ETA". Updates at most ~10 times a second. */
typedef struct cli_progress {
    const char *label;
    size_t total, done, errors;
    double t0, last;
    int enabled;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, size_t total, int quiet);
void cli_progress_update(cli_progress *p, size_t done, size_t errors);
void cli_progress_end(cli_progress *p);

/* --- shared by seize caption and seize reason (cli/llm_cli.c) --- */
struct seize_llm_params;
/* Endpoint from $OPENAI_BASE_URL when not given, key from $OPENAI_API_KEY, the cancel token of
 * cli_llm_cancel; checks that endpoint and model are set. 0, or EXIT_USAGE (message printed). */
int cli_llm_finish_params(const char *cmd, struct seize_llm_params *p);
/* `journal`, or "<out>.journal" (heap, returned in *owned for the caller to free); NULL when
 * out of memory. */
const char *cli_llm_journal_path(const char *out, const char *journal, char **owned);

/* A note on stderr (unless quiet) when the loaded OpenBLAS uses slower kernels than the CPU
 * allows (seize_clip_blas_better_core). */
void cli_blas_note(int quiet);

/* Number of threads to use: `requested` if > 0, else all online cores. */
int cli_threads(long requested);
/* The same for a command that runs the CLIP model, which also sets the process's BLAS thread
 * policy for it (seize_blas_threads_set(1): the model's own pool threads each make
 * single-threaded BLAS calls). The one place the CLI sets BLAS threads for the model. */
int cli_model_threads(long requested);

#endif
