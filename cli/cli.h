// cli/cli.h — the subcommands of build/seize (cli/cmd_<name>.c, listed in cli/main.c) and the
// helpers they share. Exit codes: 0 ok, 1 failure, 2 usage, 3 some items failed.
#ifndef SEIZE_CLI_H
#define SEIZE_CLI_H

#include "seize/cluster.h" /* MPI ranks (cmd_index, cmd_search, cmd_run, main) */
#include "seize/core.h"    /* and <stdio.h> */

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };
typedef int cli_cmd(int argc, char **argv);
cli_cmd cmd_inspect, cmd_fetch_model, cmd_tokenize, cmd_preprocess, cmd_encode_images,
    cmd_encode_texts, cmd_index, cmd_search, cmd_eval, cmd_check_submission, cmd_submission,
    cmd_query_features, cmd_caption, cmd_reason, cmd_run, cmd_serve;

/* Prints "seize CMD: error: MESSAGE" (rc EXIT_FAIL), or "seize CMD: MESSAGE" and a --help hint
 * (EXIT_USAGE); returns rc. cli_lib_fail: the library's last error (seize_errmsg()). */
int cli_say(int rc, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define cli_fail(...) cli_say(EXIT_FAIL, __VA_ARGS__)
#define cli_usage(...) cli_say(EXIT_USAGE, __VA_ARGS__)
#define cli_lib_fail(cmd) cli_fail(cmd, "%s", seize_errmsg())
#define cli_parse_int seize_parse_long /* strict numbers: 0 or -1 */
#define cli_parse_float seize_parse_double

/* "label  done/total  rate/s  ETA" on stderr when it is a terminal and not quiet, ~10 a second. */
typedef struct cli_progress {
    const char *label;
    size_t total, done, errors;
    double t0, last;
    int enabled;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, size_t total, int quiet);
void cli_progress_update(cli_progress *p, size_t done, size_t errors);
void cli_progress_end(cli_progress *p);
/* A library progress callback (user pointer: a cli_progress) that never asks to stop. */
int cli_progress_cb(void *progress, size_t done, size_t n_bad);

/* A note on stderr (unless quiet) when OpenBLAS uses slower kernels than the CPU allows. Threads:
 * `requested` if > 0, else all cores; for the CLIP model also the BLAS policy (1 per thread). */
void cli_blas_note(int quiet);
int cli_threads(long requested);
int cli_model_threads(long requested);

#endif
