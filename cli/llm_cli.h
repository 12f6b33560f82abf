/*
 * cli/llm_cli.h — what seize caption and seize reason share (cli/llm_cli.c): the LLM client's
 * options as one group of the option table (cli/opt.h), signals, the progress line.
 *
 *     cli_llm g;
 *     cli_opt llm[CLI_LLM_N_OPTS], all[48];
 *     cli_llm_init(&g, -1, -1, llm);       // sampling defaults (< 0: not sent)
 *     cli_opts_join(all, 48, own, llm);
 *     ... cli_parse(&spec, argc, argv, NULL) ...
 *     if ((rc = cli_llm_finish("reason", &g))) return rc;
 *     ... g.p is the client's parameters, g.journal the --journal (or NULL), g.quiet -q ...
 *
 * The group: --endpoint, --model, --temperature, --top-p, --max-tokens, --seed, --timeout,
 * --concurrency, --max-attempts, --backoff-base, --backoff-max, --journal, -q/--quiet.
 */
#ifndef SEIZE_CLI_LLM_CLI_H
#define SEIZE_CLI_LLM_CLI_H

#include "cli.h"
#include "opt.h"

#include "seize/core.h"
#include "seize/net.h"
#include "seize/pipeline.h"

#include <jansson.h>

#define CLI_LLM_N_OPTS 14 /* entries of the group, CLI_END included */

typedef struct cli_llm {
    seize_llm_params p;               /* seize_llm_default_params() and the sampling given */
    long seed, concurrency, attempts; /* copied into p by cli_llm_finish */
    const char *journal;              /* --journal FILE, or NULL (OUT.journal) */
    int quiet;                        /* -q */
    char temp_help[48], top_help[48];
} cli_llm;

/* Sets up g with the default temperature and top-p (< 0: not sent; --help says which) and
 * fills opts[CLI_LLM_N_OPTS] with the group writing into g. */
void cli_llm_init(cli_llm *g, double temperature, double top_p, cli_opt *opts);
/* Endpoint from $OPENAI_BASE_URL when not given, key from $OPENAI_API_KEY, the cancel token
 * of cli_llm_cancel, signals installed; endpoint and model must be set. 0, or EXIT_USAGE. */
int cli_llm_finish(const char *cmd, cli_llm *g);

/* Whether an interrupt arrived; the command's cancel token (set by the signal handlers). */
int cli_llm_interrupted(void);
const seize_cancel *cli_llm_cancel(void);
/* Prints "seize CMD: interrupted; rerun to resume (DETAIL)" and returns 130. */
int cli_llm_interrupt_exit(const char *cmd, const char *detail);

/* The progress line of a stage call (seize_stage_progress_fn; the user pointer is a
 * cli_llm_progress), started at its first report; _end ends it and, unless quiet and when
 * the call reported progress, prints the client's summary (seize_llm_stats_print). */
typedef struct cli_llm_progress {
    cli_progress bar;
    const char *cmd;
    int quiet, started;
} cli_llm_progress;
void cli_llm_progress_fn(void *user, const seize_stage_progress *p);
void cli_llm_progress_end(cli_llm_progress *p, const seize_llm_stats *st);

/* To go once seize caption uses the above (what they did is now the library's:
 * seize_stage_lock/unlock, seize_stage_settings_save). */
#define CLI_LLM_MAX_TEXT SEIZE_STAGE_MAX_TEXT
void cli_llm_signals(const char *cmd);
int cli_llm_lock(const char *cmd, const char *out, const char *journal, seize_lock lock[2]);
void cli_llm_unlock(seize_lock lock[2]);
int cli_llm_save_settings(const char *cmd, const char *out, json_t *settings, const char *hash);

#endif
