// Plumbing shared by seize caption and seize reason: client parameters from the environment,
// the journal path, and running a batch with signals, a progress line and the summary.
#include "cli.h"

#include "seize/net.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_cancel;
static char g_stop_msg[160];
static size_t g_stop_len;

volatile sig_atomic_t *cli_llm_cancel_flag(void)
{
    return &g_cancel;
}

// First interrupt: finish the requests in flight; second: abandon them.
static void on_signal(int sig)
{
    (void)sig;
    if (g_cancel < 2) g_cancel++;
    if (g_cancel == 1 && write(STDERR_FILENO, g_stop_msg, g_stop_len) < 0) g_cancel = 1;
}

int cli_llm_finish_params(const char *cmd, seize_llm_params *p)
{
    if (!p->endpoint) p->endpoint = getenv("OPENAI_BASE_URL");
    if (!p->endpoint || !*p->endpoint)
        return cli_usage(cmd, "no endpoint: give --endpoint or set OPENAI_BASE_URL");
    if (!p->model || !*p->model) return cli_usage(cmd, "--model is required");
    p->api_key = getenv("OPENAI_API_KEY");
    p->cancel = &g_cancel;
    return 0;
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

typedef struct progress_ctx {
    cli_progress bar;
    size_t base; // done before this run (from the journal): not counted in the rate
    int by_texts;
} progress_ctx;

static void on_progress(void *vctx, const seize_llm_stats *st)
{
    progress_ctx *pc = vctx;
    size_t errs = 0;
    for (int k = 0; k < SEIZE_LLM_ERR_COUNT; k++) errs += st->errors[k];
    cli_progress_update(&pc->bar, (pc->by_texts ? st->texts_done : st->items_done) - pc->base, errs);
}

int cli_llm_run(const char *cmd, seize_llm_batch *b, int by_texts, int quiet, seize_llm_stats *st)
{
    int n = snprintf(g_stop_msg, sizeof g_stop_msg,
                     "\nseize %s: stopping: waiting for the requests in flight "
                     "(interrupt again to abandon them)\n", cmd);
    g_stop_len = n > 0 && (size_t)n < sizeof g_stop_msg ? (size_t)n : 0;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    progress_ctx pc;
    seize_llm_stats st0 = seize_llm_batch_stats(b);
    pc.by_texts = by_texts;
    pc.base = by_texts ? st0.texts_done : st0.items_done;
    cli_progress_start(&pc.bar, cmd,
                       by_texts ? st0.texts_wanted - st0.texts_done : st0.items - st0.items_done, quiet);
    int rc = seize_llm_batch_run(b, on_progress, &pc);
    cli_progress_end(&pc.bar);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    *st = seize_llm_batch_stats(b);
    if (!quiet) {
        char label[64];
        snprintf(label, sizeof label, "seize %s", cmd);
        seize_llm_stats_print(stderr, label, st);
    }
    return rc;
}
