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

// Locks "<base>.lock"; `what` ("output 'x'") names it in the message of a second process.
static int lock_one(const char *cmd, const char *base, const char *kind, const char *name,
                    seize_lock *lock)
{
    size_t n = strlen(base), wl = strlen(name) + 32;
    char *path = malloc(n + sizeof ".lock");
    char *what = malloc(wl);
    if (!path || !what) {
        free(path);
        free(what);
        return cli_fail(cmd, "out of memory");
    }
    memcpy(path, base, n);
    memcpy(path + n, ".lock", sizeof ".lock");
    snprintf(what, wl, "%s '%s'", kind, name);
    int rc = seize_lock_file(path, what, lock);
    free(path);
    free(what);
    return rc < 0 ? cli_lib_fail(cmd) : 0;
}

int cli_llm_lock(const char *cmd, const char *out, const char *journal, seize_lock lock[2])
{
    lock[0].fd = lock[1].fd = -1;
    lock[0].path = lock[1].path = NULL;
    char *def = NULL;
    const char *dj = cli_llm_journal_path(out, NULL, &def);
    if (!dj) return cli_fail(cmd, "out of memory");
    int same = !strcmp(dj, journal);
    int rc = same ? lock_one(cmd, dj, "journal", journal, &lock[0])
                  : lock_one(cmd, dj, "output", out, &lock[0]);
    if (rc == 0 && !same) rc = lock_one(cmd, journal, "journal", journal, &lock[1]);
    free(def);
    if (rc) cli_llm_unlock(lock);
    return rc;
}

void cli_llm_unlock(seize_lock lock[2])
{
    seize_lock_release(&lock[0]);
    seize_lock_release(&lock[1]);
}

void cli_llm_sha256(const char *s, char hex[65])
{
    uint8_t d[32];
    seize_sha256_buffer(s ? s : "", s ? strlen(s) : 0, d);
    seize_sha256_hex(d, hex);
}

int cli_llm_settings(const char *cmd, seize_llm_params *p, json_t *extra, json_t **out,
                     char hash[65])
{
    json_object_set_new(extra, "command", json_string(cmd));
    if (seize_llm_settings(p, extra, out, hash) < 0) return cli_lib_fail(cmd);
    p->settings = hash;
    return 0;
}

int cli_llm_save_settings(const char *cmd, const char *out, json_t *settings, const char *hash)
{
    size_t n = strlen(out);
    char *path = malloc(n + sizeof ".settings.json");
    json_t *o = json_deep_copy(settings);
    if (!path || !o) {
        free(path);
        json_decref(o);
        return cli_fail(cmd, "out of memory");
    }
    memcpy(path, out, n);
    memcpy(path + n, ".settings.json", sizeof ".settings.json");
    json_object_set_new(o, "settings_hash", json_string(hash));
    int rc = seize_json_save(path, o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    free(path);
    return rc < 0 ? cli_lib_fail(cmd) : 0;
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
    for (int k = 0; k < SEIZE_LLM_ERR_COUNT; k++)
        errs += st->errors[k];
    cli_progress_update(&pc->bar, (pc->by_texts ? st->texts_done : st->items_done) - pc->base,
                        errs);
}

int cli_llm_run(const char *cmd, seize_llm_batch *b, int by_texts, int quiet, seize_llm_stats *st)
{
    cli_llm_signals(cmd); // (normally done by cli_llm_finish_params) kept until the end
    progress_ctx pc;
    seize_llm_stats st0 = seize_llm_batch_stats(b);
    pc.by_texts = by_texts;
    pc.base = by_texts ? st0.texts_done : st0.items_done;
    cli_progress_start(&pc.bar, cmd,
                       by_texts ? st0.texts_wanted - st0.texts_done : st0.items - st0.items_done,
                       quiet);
    int rc = seize_llm_batch_run(b, on_progress, &pc);
    cli_progress_end(&pc.bar);
    *st = seize_llm_batch_stats(b);
    if (!quiet) {
        char label[64];
        snprintf(label, sizeof label, "seize %s", cmd);
        seize_llm_stats_print(stderr, label, st);
    }
    return rc;
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
