// What seize caption and seize reason share (llm_cli.h).
#include "llm_cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

seize_cancel cli_llm_cancel_token;
static char g_stop[160];

void cli_llm_init(cli_llm *g, double temperature, double top_p, cli_opt *opts)
{
    *g = (cli_llm){seize_llm_default_params(), -1};
    g->p.temperature = temperature, g->p.top_p = top_p;
    g->concurrency = g->p.concurrency, g->attempts = g->p.max_attempts;
    const char *fmt = temperature < 0 ? "(not sent if unset)" : "(default %g; top-p %g)";
    snprintf(g->help, sizeof g->help, fmt, temperature, top_p);
    const cli_opt t[CLI_LLM_N_OPTS] = {
        CLI_STR("endpoint", 0, "URL", &g->p.endpoint,
                "API base URL (default $OPENAI_BASE_URL); key from $OPENAI_API_KEY"),
        CLI_STR("model", 0, "NAME", &g->p.model, "model name (required)"),
        CLI_FLOAT("temperature", 0, "T", &g->p.temperature, 0, 2, g->help),
        CLI_FLOAT("top-p", 0, "P", &g->p.top_p, 0, 1, "(see --temperature)"),
        CLI_INT("max-tokens", 0, "N", &g->p.max_tokens, 1, 1000000, "(not sent if unset)"),
        CLI_INT("seed", 0, "S", &g->seed, 0, 1L << 53,
                "(not sent if unset; with N requests sample k gets S + k)"),
        CLI_FLOAT("timeout", 0, "SEC", &g->p.timeout, 0.001, 86400, "per request (default 60)"),
        CLI_INT("concurrency", 0, "N", &g->concurrency, 1, 4096, "requests in flight (default 16)"),
        CLI_INT("max-attempts", 0, "N", &g->attempts, 1, 1000,
                "attempts per request (default 6) on connection errors, timeouts,\n"
                "408/409/429/5xx, malformed replies (Retry-After honoured)"),
        CLI_FLOAT("backoff-base", 0, "SEC", &g->p.backoff_base, 0, 3600,
                  "first retry delay (default 1; doubling, full jitter)"),
        CLI_FLOAT("backoff-max", 0, "SEC", &g->p.backoff_max, 0, 3600,
                  "longest delay (default 60)"),
        CLI_STR("journal", 0, "FILE", &g->journal,
                "progress journal (default OUT.journal): a rerun resumes from its\nentries of the "
                "same settings (OUT.settings.json: model, endpoint\nwithout credentials, prompt, "
                "sampling), others are kept;\nOUT.journal.lock, FILE.lock: one process at a "
                "time"),
        CLI_FLAG("quiet", 'q', &g->quiet, "no progress or summary"),
        CLI_END};
    memcpy(opts, t, sizeof t);
}

static void on_signal(int sig)
{
    if (seize_cancel_request(&cli_llm_cancel_token, sig) == 1)
        (void)!write(STDERR_FILENO, g_stop, strlen(g_stop)); // (both async-signal-safe)
}

int cli_llm_finish(const char *cmd, cli_llm *g)
{
    seize_llm_params *p = &g->p;
    p->seed = g->seed, p->concurrency = (int)g->concurrency, p->max_attempts = (int)g->attempts;
    if (!p->endpoint) p->endpoint = getenv("OPENAI_BASE_URL");
    if (!p->endpoint || !*p->endpoint)
        return cli_usage(cmd, "no endpoint: give --endpoint or set OPENAI_BASE_URL");
    if (!p->model || !*p->model) return cli_usage(cmd, "--model is required");
    p->api_key = getenv("OPENAI_API_KEY");
    p->cancel = &cli_llm_cancel_token;
    snprintf(g_stop, sizeof g_stop,
             "\nseize %s: stopping, finished work is kept; interrupt again to stop at once\n", cmd);
    signal(SIGINT, on_signal), signal(SIGTERM, on_signal);
    return 0;
}

int cli_llm_interrupt_exit(const char *cmd, const char *detail)
{
    fprintf(stderr, "seize %s: interrupted; rerun to resume (%s)\n", cmd, detail);
    return 130;
}

void cli_llm_progress_fn(void *user, const seize_stage_progress *p)
{
    cli_llm_progress *pc = user;
    if (!pc->started++) cli_progress_start(&pc->bar, pc->cmd, p->total - p->done_before, pc->quiet);
    cli_progress_update(&pc->bar, p->done - p->done_before, p->errors);
}

void cli_llm_progress_end(cli_llm_progress *pc, const seize_llm_stats *st)
{
    char label[64];
    if (!pc->started) return;
    cli_progress_end(&pc->bar);
    snprintf(label, sizeof label, "seize %s", pc->cmd);
    if (!pc->quiet) seize_llm_stats_print(stderr, label, st);
}
