/*
 * cli/llm_cli.h — more plumbing shared by seize caption and seize reason (cli/llm_cli.c), beside
 * the cli_llm_* declarations in cli.h: signals for the whole command, the journal lock, the
 * settings sidecar, and the messages for interrupts and failed items.
 */
#ifndef SEIZE_CLI_LLM_CLI_H
#define SEIZE_CLI_LLM_CLI_H

#include "cli.h"

#include "seize/core.h"
#include "seize/net.h"
#include "seize/pipeline.h"

#include <jansson.h>

/* Longest caption or relative text accepted (bytes); longer ones are refused before any
 * request, naming the item. Also the limit on a --prompt-file. */
#define CLI_LLM_MAX_TEXT SEIZE_STAGE_MAX_TEXT

/* Installs the SIGINT/SIGTERM handlers of cli_llm_run for the rest of the command, so that an
 * interrupt while inputs load also ends with "interrupted; rerun to resume" and status 130. */
void cli_llm_signals(const char *cmd);
/* Whether an interrupt arrived. */
int cli_llm_interrupted(void);
/* Prints "seize CMD: interrupted; rerun to resume (DETAIL)" and returns 130. */
int cli_llm_interrupt_exit(const char *cmd, const char *detail);

/* Locks "<out>.journal.lock" and, when the journal is elsewhere, "<journal>.lock" too, for the
 * rest of the process (released by cli_llm_unlock or at exit): a second caption/reason on the
 * same output or the same journal fails at once. 0, or EXIT_FAIL with the message printed. */
int cli_llm_lock(const char *cmd, const char *out, const char *journal, seize_lock lock[2]);
void cli_llm_unlock(seize_lock lock[2]);

/* Writes "<out>.settings.json" atomically: the settings object plus "settings_hash". 0 or
 * EXIT_FAIL (message printed). */
int cli_llm_save_settings(const char *cmd, const char *out, json_t *settings, const char *hash);

/* The progress line of a stage call (seize_stage_progress_fn; the user pointer is a
 * cli_llm_progress), started at its first report. */
typedef struct cli_llm_progress {
    cli_progress bar;
    const char *cmd;
    int quiet, started;
} cli_llm_progress;
void cli_llm_progress_fn(void *user, const seize_stage_progress *p);
/* Ends the line and, unless quiet and when the call reported progress, prints the client's
 * summary (seize_llm_stats_print). */
void cli_llm_progress_end(cli_llm_progress *p, const seize_llm_stats *st);
/* The command's cancel token (set by the signal handlers of cli_llm_signals). */
const seize_cancel *cli_llm_cancel(void);

#endif
