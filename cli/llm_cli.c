// Plumbing shared by seize caption and seize reason: client parameters from the environment,
// the journal path, and running a batch with signals, a progress line and the summary.
#include "llm_cli.h"

#include "seize/net.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static seize_cancel g_cancel;
static char g_stop_msg[160];
static size_t g_stop_len;
static int g_signals_installed;

// First interrupt: finish the requests in flight; second: abandon them.
static void on_signal(int sig)
{
    if (seize_cancel_request(&g_cancel, sig) == 1) {
        ssize_t w = write(STDERR_FILENO, g_stop_msg, g_stop_len);
        (void)w;
    }
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
