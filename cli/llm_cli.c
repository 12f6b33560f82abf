// What seize caption and seize reason share (llm_cli.h): the LLM client's options, signals and
// the progress line.
#include "llm_cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static seize_cancel g_cancel;
static char g_stop_msg[160];
static size_t g_stop_len;
static int g_signals_installed;

static void sampling_help(char *buf, size_t n, const char *what, double v)
{
    if (v < 0)
        snprintf(buf, n, "%s (not sent if unset)", what);
    else
        snprintf(buf, n, "%s (default %g)", what, v);
}

void cli_llm_init(cli_llm *g, double temperature, double top_p, cli_opt *opts)
{
    memset(g, 0, sizeof *g);
    g->p = seize_llm_default_params();
    g->p.temperature = temperature;
    g->p.top_p = top_p;
    g->seed = -1, g->concurrency = g->p.concurrency, g->attempts = g->p.max_attempts;
    sampling_help(g->temp_help, sizeof g->temp_help, "sampling temperature", temperature);
    sampling_help(g->top_help, sizeof g->top_help, "nucleus sampling", top_p);
    const cli_opt t[CLI_LLM_N_OPTS] = {
        CLI_STR("endpoint", 0, "URL", &g->p.endpoint,
                "API base URL (default $OPENAI_BASE_URL); key from $OPENAI_API_KEY"),
        CLI_STR("model", 0, "NAME", &g->p.model, "model name (required)"),
        CLI_FLOAT("temperature", 0, "T", &g->p.temperature, 0, 2, g->temp_help),
        CLI_FLOAT("top-p", 0, "P", &g->p.top_p, 0, 1, g->top_help),
        CLI_INT("max-tokens", 0, "N", &g->p.max_tokens, 1, 1000000, "(not sent if unset)"),
        CLI_INT("seed", 0, "S", &g->seed, 0, 1L << 53,
                "(not sent if unset; with N requests sample k gets S + k)"),
        CLI_FLOAT("timeout", 0, "SEC", &g->p.timeout, 0.001, 86400, "per request (default 60)"),
        CLI_INT("concurrency", 0, "N", &g->concurrency, 1, 4096, "requests in flight (default 16)"),
        CLI_INT("max-attempts", 0, "N", &g->attempts, 1, 1000,
                "attempts per request (default 6); retried: connection errors,\ntimeouts, "
                "408/409/429/5xx, malformed replies (Retry-After honoured)"),
        CLI_FLOAT("backoff-base", 0, "SEC", &g->p.backoff_base, 0, 3600,
                  "first retry delay (default 1; doubling, full jitter)"),
        CLI_FLOAT("backoff-max", 0, "SEC", &g->p.backoff_max, 0, 3600,
                  "longest delay (default 60)"),
        CLI_STR("journal", 0, "FILE", &g->journal,
                "progress journal (default OUT.journal); a rerun resumes from it.\nEntries are "
                "keyed by the settings (model, endpoint, prompt, sampling:\nOUT.settings.json, "
                "written with the output, credentials as ***);\na rerun with other settings asks "
                "again (old entries are kept and\nreused if those settings come back). "
                "OUT.journal.lock (and\nFILE.lock): a second process on the same output or "
                "journal fails"),
        CLI_FLAG("quiet", 'q', &g->quiet, "no progress or summary"),
        CLI_END};
    memcpy(opts, t, sizeof t);
}

// First interrupt: finish the requests in flight; second: abandon them.
static void on_signal(int sig)
{
    if (seize_cancel_request(&g_cancel, sig) == 1) {
        ssize_t w = write(STDERR_FILENO, g_stop_msg, g_stop_len);
        (void)w;
    }
}

int cli_llm_finish(const char *cmd, cli_llm *g)
{
    g->p.seed = g->seed;
    g->p.concurrency = (int)g->concurrency;
    g->p.max_attempts = (int)g->attempts;
    return cli_llm_finish_params(cmd, &g->p);
}

int cli_llm_finish_params(const char *cmd, seize_llm_params *p)
{
    if (!p->endpoint) p->endpoint = getenv("OPENAI_BASE_URL");
    if (!p->endpoint || !*p->endpoint)
        return cli_usage(cmd, "no endpoint: give --endpoint or set OPENAI_BASE_URL");
    if (!p->model || !*p->model) return cli_usage(cmd, "--model is required");
    p->api_key = getenv("OPENAI_API_KEY");
    p->cancel = &g_cancel;
    // Known from now on: no message or file of this process shows them.
    seize_secret_add(p->api_key);
    seize_secret_add_url(p->endpoint);
    cli_llm_signals(cmd);
    return 0;
}

void cli_llm_signals(const char *cmd)
{
    if (g_signals_installed) return;
    g_signals_installed = 1;
    int n = snprintf(g_stop_msg, sizeof g_stop_msg,
                     "\nseize %s: stopping: waiting for the requests in flight "
                     "(interrupt again to abandon them)\n",
                     cmd);
    g_stop_len = n > 0 && (size_t)n < sizeof g_stop_msg ? (size_t)n : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_llm_interrupted(void)
{
    return seize_cancel_level(&g_cancel) != 0;
}

int cli_llm_interrupt_exit(const char *cmd, const char *detail)
{
    fprintf(stderr, "seize %s: interrupted; rerun to resume%s%s%s\n", cmd, detail ? " (" : "",
            detail ? detail : "", detail ? ")" : "");
    return 130;
}

int cli_llm_lock(const char *cmd, const char *out, const char *journal, seize_lock lock[2])
{
    return seize_stage_lock(out, journal, lock) < 0 ? cli_lib_fail(cmd) : 0;
}

void cli_llm_unlock(seize_lock lock[2])
{
    seize_stage_unlock(lock);
}

int cli_llm_save_settings(const char *cmd, const char *out, json_t *settings, const char *hash)
{
    return seize_stage_settings_save(out, settings, hash) < 0 ? cli_lib_fail(cmd) : 0;
}

const char *cli_llm_journal_path(const char *out, const char *journal, char **owned)
{
    *owned = NULL;
    if (journal) return journal;
    size_t ol = strlen(out);
    *owned = malloc(ol + sizeof ".journal");
    if (!*owned) return NULL;
    memcpy(*owned, out, ol);
    memcpy(*owned + ol, ".journal", sizeof ".journal");
    return *owned;
}

void cli_llm_progress_fn(void *user, const seize_stage_progress *p)
{
    cli_llm_progress *pc = user;
    if (!pc->started) {
        cli_progress_start(&pc->bar, pc->cmd, p->total - p->done_before, pc->quiet);
        pc->started = 1;
    }
    cli_progress_update(&pc->bar, p->done - p->done_before, p->errors);
}

void cli_llm_progress_end(cli_llm_progress *pc, const seize_llm_stats *st)
{
    if (!pc->started) return;
    cli_progress_end(&pc->bar);
    if (!pc->quiet) {
        char label[64];
        snprintf(label, sizeof label, "seize %s", pc->cmd);
        seize_llm_stats_print(stderr, label, st);
    }
}

const seize_cancel *cli_llm_cancel(void)
{
    return &g_cancel;
}
