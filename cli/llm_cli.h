// cli/llm_cli.h — for seize caption and seize reason: the LLM client's options as one group of
// the option table (--endpoint ... --journal, -q), signals and the progress line:
//     cli_llm g; cli_opt llm[CLI_LLM_N_OPTS], all[48];
//     cli_llm_init(&g, 1.0, 0.9, llm);  // default temperature and top-p (< 0: not sent)
//     cli_opts_join(all, 48, own, llm); // cli_parse with `all`, then cli_llm_finish
#ifndef SEIZE_CLI_LLM_CLI_H
#define SEIZE_CLI_LLM_CLI_H

#include "cli.h"
#include "opt.h"
#include "seize/pipeline.h"

#define CLI_LLM_N_OPTS 14 /* entries of the group, CLI_END included */

typedef struct cli_llm {
    seize_llm_params p;
    long seed, concurrency, attempts; /* into p by cli_llm_finish */
    const char *journal;              /* --journal, or NULL */
    int quiet;
    char help[48]; /* --temperature's */
} cli_llm;
void cli_llm_init(cli_llm *g, double temperature, double top_p, cli_opt *opts);
/* Reads $OPENAI_BASE_URL (no --endpoint) and $OPENAI_API_KEY; SIGINT/SIGTERM then set
 * cli_llm_cancel() (1st: finish the requests in flight, 2nd: abandon them). 0 or EXIT_USAGE. */
int cli_llm_finish(const char *cmd, cli_llm *g);
extern seize_cancel cli_llm_cancel_token;
#define cli_llm_cancel() ((const seize_cancel *)&cli_llm_cancel_token)
/* Prints "seize CMD: interrupted; rerun to resume (DETAIL)"; returns 130. */
int cli_llm_interrupt_exit(const char *cmd, const char *detail);
/* A progress line (cli_llm_progress_fn, a seize_stage_progress_fn taking a cli_llm_progress),
 * started at the first report; _end ends it and, unless quiet, prints the client's summary. */
typedef struct cli_llm_progress {
    cli_progress bar;
    const char *cmd;
    int quiet, started;
} cli_llm_progress;
void cli_llm_progress_fn(void *user, const seize_stage_progress *p);
void cli_llm_progress_end(cli_llm_progress *p, const seize_llm_stats *st);

#endif
