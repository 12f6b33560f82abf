/*
 * seize/net.h — OpenAI-compatible chat completions at scale: a bounded, crash-safe batch client
 * (libcurl multi_socket + epoll, retries with backoff, a fsync'd journal), the reply parser, the
 * SEIZE editing prompt (ARCHITECTURE.md §2).
 *
 *     seize_llm_params p = seize_llm_default_params();
 *     p.endpoint = "http://127.0.0.1:8000/v1";
 *     p.model = "gpt-3.5-turbo";
 *     seize_llm_batch *b = NULL;
 *     if (seize_llm_batch_new(&p, "edits.jsonl.journal", build_messages, ctx, &b) < 0) ...
 *     for (size_t i = 0; i < n; i++) seize_llm_batch_add(b, key[i], check[i], 1);
 *     int rc = seize_llm_batch_run(b, NULL, NULL);    // 0, SEIZE_ENET (some failed), ...
 *     const struct json_t *texts = seize_llm_batch_texts(b, 0);   // JSON array of strings
 *     seize_llm_batch_free(b);
 *
 * Journal format (JSON Lines, one line per completed request, appended and fsync'd before the
 * request counts as done): {"key": K, "check": C, "settings": S, "texts": [..]} adds texts to
 * item K; {"key": K, "check": C, "settings": S, "error": "..."} records a failure (informational;
 * the item is retried by the next run). A torn last line (a crash mid-write) is ignored and cut
 * off on the next open. Lines whose "check" differs from the item's current check (the input
 * changed) or whose "settings" differs from the batch's settings hash (another model, endpoint,
 * prompt, sampling parameter...; see seize_llm_settings) are ignored; they stay in the file, so
 * going back to the former settings reuses them.
 *
 * Secrets: the API key and the credentials of the endpoint URL are registered (seize_secret_add)
 * when a batch is created, and every message built from server data, every URL shown and every
 * text stored goes through seize_redact / seize_redact_secrets first.
 */
#ifndef SEIZE_NET_H
#define SEIZE_NET_H

#include "seize/core.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- parameters -------------------------------------------------------------------------- */

/* Error kinds counted by the client. */
enum {
    SEIZE_LLM_ERR_CONNECT = 0, /* connection refused/reset/dropped, DNS, send/receive failure */
    SEIZE_LLM_ERR_TIMEOUT,     /* no complete reply within the per-request timeout */
    SEIZE_LLM_ERR_429,         /* rate limited */
    SEIZE_LLM_ERR_5XX,         /* server error (also 408 and 409) */
    SEIZE_LLM_ERR_4XX,         /* rejected request (not retried) */
    SEIZE_LLM_ERR_MALFORMED,   /* 200 with a body that is not a chat completion, or truncated */
    SEIZE_LLM_ERR_COUNT
};

/* Short name of an error kind ("connect", "timeout", "429", "5xx", "4xx", "malformed"; "input"
 * for SEIZE_LLM_ERR_INPUT). */
const char *seize_llm_err_name(int kind);

/* The kind of an item that failed before any request: its messages could not be built (e.g. the
 * file is not an image). Not counted in seize_llm_stats.errors. */
#define SEIZE_LLM_ERR_INPUT (-1)

/* Whether a rerun may fix a failure of this kind: 1 for connect, timeout, 429, 5xx and
 * malformed replies; 0 for 4xx (the server rejected the request) and SEIZE_LLM_ERR_INPUT. */
int seize_llm_err_retryable(int kind);

typedef struct seize_llm_params {
    const char *endpoint; /* base URL; requests go to <endpoint>/chat/completions */
    const char *api_key;  /* sent as "Authorization: Bearer <key>" when non-NULL and non-empty;
                             never logged or put in error messages */
    const char *model;    /* required */
    double temperature;   /* < 0: not sent (server default) */
    double top_p;         /* < 0: not sent */
    long max_tokens;      /* <= 0: not sent */
    long long seed;       /* < 0: not sent; with n separate requests, sample k gets seed + k */
    double timeout;       /* seconds per request (whole transfer) */
    int concurrency;      /* requests in flight */
    int max_attempts;     /* attempts per request (>= 1) */
    double backoff_base;  /* first retry delay in seconds; doubles each attempt, full jitter */
    double backoff_max;   /* cap on one delay (Retry-After may ask for more, up to 10 minutes) */
    int use_n;            /* 1: always send `n`; 0: never (n separate requests); -1: auto (send
                             `n`, fall back to separate requests if the server ignores or
                             rejects it) */
    const seize_cancel *cancel; /* optional (core.h): level 1 = stop issuing requests and let
                                   the ones in flight finish; 2 = abort those too */
    const char *settings;       /* settings hash (64 hex, seize_llm_settings with the caller's extra
                                   settings); journal lines carry it and only lines with the same value
                                   are reused. NULL: computed from the parameters alone */
} seize_llm_params;

/* Defaults: temperature/top_p/max_tokens/seed unset, timeout 60 s, concurrency 16, 6 attempts,
 * backoff 1 s .. 60 s, use_n auto. endpoint, api_key, model NULL. */
seize_llm_params seize_llm_default_params(void);

/* Canonical description of everything in `p` that shapes an answer: {"model", "endpoint"
 * (seize_url_canonical: no credentials), "temperature", "top_p", "max_tokens", "seed"} (null
 * when unset), plus every member of `extra` (may be NULL; command-specific settings such as
 * prompt hashes and the number of samples), which wins over a member of the same name.
 * *out (optional) receives the object (new reference); hash (optional) the SHA-256, in hex, of
 * its compact text with sorted keys. Timeouts, concurrency and retry settings are left out:
 * they do not change an answer. 0 or SEIZE_ENOMEM. */
int seize_llm_settings(const seize_llm_params *p, const struct json_t *extra, struct json_t **out,
                       char hash[65]);

/* Sets one parameter from its command-line name and text value: "temperature", "top-p",
 * "max-tokens", "seed", "timeout", "concurrency", "max-attempts", "backoff-base",
 * "backoff-max". Strict parsing and range checks; SEIZE_EINVAL with a message naming the
 * option otherwise. */
int seize_llm_param_set(seize_llm_params *p, const char *name, const char *value);

/* --- replies and requests ----------------------------------------------------------------- */

typedef struct seize_chat_reply {
    char **texts; /* one per choice, in choice index order (heap strings) */
    size_t n_texts;
    int64_t prompt_tokens, completion_tokens; /* from "usage"; 0 when absent */
} seize_chat_reply;

/* Parses a chat completion body: {"choices": [{"index", "message": {"content": ...}}, ...],
 * "usage": {...}}. content may be a string or an array of {"type": "text", "text": ...} parts.
 * SEIZE_EFORMAT (with a short reason) for anything else, including a reply with no choices or a
 * choice with null content. Never reads past `len`. Free with seize_chat_reply_free. */
int seize_chat_parse(const char *body, size_t len, seize_chat_reply *out);
void seize_chat_reply_free(seize_chat_reply *r); /* accepts a zeroed reply */

/* The human-readable message of an error body ({"error": {"message": ...}} or {"error": "..."} or
 * {"message": ...}), cut to 200 bytes; otherwise the start of the body with control characters
 * replaced. Heap string, never NULL unless out of memory. */
char *seize_chat_error_message(const char *body, size_t len);

/* Builds a request body: {"model", "messages", [temperature], [top_p], [max_tokens], [seed],
 * [n]} as a compact JSON heap string. `messages` is borrowed; n <= 1 omits "n"; seed_offset is
 * added to a set seed. */
char *seize_chat_request_body(const seize_llm_params *p, const struct json_t *messages, size_t n,
                              long long seed_offset);

/* Whether an HTTP status is retried (408, 409, 429, 5xx). */
int seize_llm_status_retryable(long status);

/* Delay before retry number `attempt` (1 = first retry): a uniform draw in
 * [0, min(max, base * 2^(attempt-1))] ("full jitter"), from `u` in [0, 1); when the server sent
 * Retry-After (retry_after > 0) the delay is at least that, capped at 600 s. */
double seize_llm_backoff(int attempt, double base, double max, double retry_after, double u);

/* 64-bit FNV-1a as 16 hex digits into out[17]; used for journal checks. */
void seize_llm_fingerprint(const void *data, size_t len, char out[17]);

/* Standard base64 (with padding) of `len` bytes: heap string (NULL on allocation failure). */
char *seize_base64_encode(const void *data, size_t len);

/* --- event loop and asynchronous chat calls ------------------------------------------------ */

/* One thread's event loop: epoll over libcurl's sockets (its multi_socket interface), one-shot
 * timers, and a wake-up that other threads may send. Calls on it run concurrently; every
 * callback runs on the loop's thread, inside seize_loop_run_once. Only seize_loop_wake may be
 * called from another thread. The batch client below is one user; a server answering queries
 * is another.
 *
 *     seize_loop *loop;
 *     if (seize_loop_new(&loop) < 0) return -1;
 *     seize_chat_request rq = {url, body, api_key, 60.0};
 *     seize_chat_async(loop, &rq, on_done, ctx, NULL);      // on_done(ctx, result) later
 *     while (seize_loop_pending(loop)) seize_loop_run_once(loop, 1.0);
 *     seize_loop_free(loop);
 */
typedef struct seize_loop seize_loop;
/* 0, or SEIZE_ENET (libcurl or epoll set-up failed) / SEIZE_ENOMEM. */
int seize_loop_new(seize_loop **out);
/* Abandons the calls in flight (no callbacks) and the timers; accepts NULL. */
void seize_loop_free(seize_loop *l);
/* Makes a seize_loop_run_once that is waiting return soon. Thread-safe, async-signal-safe. */
void seize_loop_wake(seize_loop *l);
/* Waits at most max_wait seconds (0: only polls) for socket activity, libcurl's timer, a due
 * timer or a wake-up, then drives the transfers and runs the callbacks of the calls that ended
 * and of the timers that are due. 0, or SEIZE_ENET when waiting failed. */
int seize_loop_run_once(seize_loop *l, double max_wait);
/* Calls in flight plus timers not yet fired. */
size_t seize_loop_pending(const seize_loop *l);

typedef void (*seize_loop_timer_fn)(void *ctx);
/* Runs fn(ctx) once, on the loop's thread, at monotonic time `due` (seize_now()) or later.
 * Returns the timer's id (> 0), or SEIZE_ENOMEM. */
long seize_loop_timer_add(seize_loop *l, double due, seize_loop_timer_fn fn, void *ctx);
/* Removes a pending timer; ids of fired or cancelled timers are ignored. */
void seize_loop_timer_cancel(seize_loop *l, long id);

/* One chat completions request. Strings are copied by seize_chat_async. */
typedef struct seize_chat_request {
    const char *url;     /* the full URL (…/chat/completions); may hold credentials */
    const char *body;    /* JSON body (seize_chat_request_body) */
    const char *api_key; /* NULL or "": no Authorization header */
    double timeout;      /* seconds for the whole transfer */
} seize_chat_request;

/* How a call ended at the transport level. */
enum {
    SEIZE_CHAT_OK = 0,     /* an HTTP reply arrived (any status: see `status`) */
    SEIZE_CHAT_EURL,       /* the URL or its protocol is unusable (not http/https, malformed) */
    SEIZE_CHAT_ETIMEOUT,   /* the whole transfer took longer than the timeout */
    SEIZE_CHAT_ETRUNCATED, /* the reply was cut short or its encoding is broken */
    SEIZE_CHAT_ECONNECT,   /* other transport errors (refused, reset, DNS, TLS, ...) */
    SEIZE_CHAT_ETOOBIG     /* the reply is larger than 16 MiB */
};
typedef struct seize_chat_result {
    int transport;      /* SEIZE_CHAT_* */
    const char *error;  /* transport error text ("" for SEIZE_CHAT_OK); may quote the URL */
    long status;        /* HTTP status (SEIZE_CHAT_OK) */
    double retry_after; /* seconds asked by a Retry-After header, 0 when none */
    const char *body;   /* the reply body, NUL-terminated (seize_chat_parse it) */
    size_t len;
} seize_chat_result;
/* Called once per call, on the loop's thread; `res` and its strings are valid during the call
 * only. The callback may start or cancel calls and add timers. */
typedef void (*seize_chat_done_fn)(void *ctx, const seize_chat_result *res);
typedef struct seize_chat_call seize_chat_call;
/* Starts one POST on the loop; done(ctx, res) runs when it ends. *out (may be NULL) receives a
 * handle valid until done runs (for seize_chat_cancel). 0, SEIZE_ENOMEM or SEIZE_ENET. */
int seize_chat_async(seize_loop *l, const seize_chat_request *req, seize_chat_done_fn done,
                     void *ctx, seize_chat_call **out);
/* Abandons a call in flight: its callback never runs. Accepts NULL. */
void seize_chat_cancel(seize_chat_call *c);

/* --- the batch client --------------------------------------------------------------------- */

/* Builds the "messages" array for item `item` (called when a request is about to start; the
 * result is used for that request and released). Returns 0 and a new reference, or a negative
 * code with the message set: the item then fails without being retried. Called on the thread
 * running seize_llm_batch_run. */
typedef int (*seize_llm_build_fn)(void *ctx, size_t item, struct json_t **messages);

typedef struct seize_llm_stats {
    size_t items, items_done, items_failed, items_from_journal;
    size_t texts_wanted, texts_done; /* texts (requests when n = 1) over all items */
    size_t requests;                 /* HTTP requests started in this run */
    size_t replies_ok;               /* successful replies in this run */
    size_t retries;
    size_t errors[SEIZE_LLM_ERR_COUNT];
    int64_t prompt_tokens, completion_tokens;
    double seconds; /* wall time of seize_llm_batch_run so far */
    int native;     /* 1: a model in this process (seize_captioner_blip2): requests are its
                       generate calls, completion tokens the tokens it generated */
} seize_llm_stats;

typedef struct seize_llm_batch seize_llm_batch;

/* Creates a batch client. `p` is copied (its strings must outlive the batch). `journal_path`
 * (NULL: no journal) is opened for appending and replayed: items added later pick up the texts
 * recorded for their key and check. Errors: SEIZE_EINVAL (missing endpoint/model, bad values),
 * SEIZE_EIO (journal), SEIZE_ENET (libcurl initialisation). */
int seize_llm_batch_new(const seize_llm_params *p, const char *journal_path,
                        seize_llm_build_fn build, void *ctx, seize_llm_batch **out);
void seize_llm_batch_free(seize_llm_batch *b);

/* Adds an item that wants `n_out` texts. `key` identifies it in the journal (unique in the
 * batch; SEIZE_EINVAL for a duplicate), `check` is a fingerprint of what is asked (journal lines
 * with another check are ignored); both copied. Texts found in the journal are taken up to
 * n_out. Returns 0 or a negative code. */
int seize_llm_batch_add(seize_llm_batch *b, const char *key, const char *check, size_t n_out);

typedef void (*seize_llm_progress_fn)(void *ctx, const seize_llm_stats *st);

/* Runs every request still needed on one thread (libcurl's multi_socket interface over epoll),
 * `concurrency` at a time. Retried with backoff (seize_llm_backoff; Retry-After honoured):
 * connection errors, timeouts, 408/409/429/5xx, malformed or truncated replies. Not retried:
 * other 4xx (the item fails at once; a 400 to a request with n > 1 in auto mode switches to
 * single requests instead). Each completed request is appended to the journal and counts
 * (stats, progress, and its place among the `concurrency`) only once a background committer
 * has written and fdatasync'd it (group commit), so a crash at any moment loses at most
 * `concurrency` requests and never one that was counted. `progress` (may be NULL) is called
 * after each round of completions.
 * Returns 0 when every item is complete; SEIZE_ENET when some items failed (the others are
 * complete; see seize_llm_batch_error); SEIZE_ECANCEL when cancelled; SEIZE_EIO when the journal
 * cannot be written; SEIZE_ENET with a message when the endpoint is unusable (bad URL, 401,
 * 403, 404) or unreachable (a request used all its attempts on connection errors or timeouts
 * before any reply succeeded): the run stops at once and unfinished items are left neither
 * complete nor failed. Not thread safe; one run per batch. */
int seize_llm_batch_run(seize_llm_batch *b, seize_llm_progress_fn progress, void *ctx);

/* The item's texts as a JSON array of strings (borrowed until the batch is freed), NULL when the
 * item is not complete. */
const struct json_t *seize_llm_batch_texts(const seize_llm_batch *b, size_t item);
/* The item's failure message, NULL when it has not failed. Borrowed. */
const char *seize_llm_batch_error(const seize_llm_batch *b, size_t item);
/* The kind of the item's failure (SEIZE_LLM_ERR_*, SEIZE_LLM_ERR_INPUT when its messages could
 * not be built); meaningless when it has not failed. */
int seize_llm_batch_error_kind(const seize_llm_batch *b, size_t item);
/* The settings hash the batch keys its journal lines with (64 hex digits). Borrowed. */
const char *seize_llm_batch_settings(const seize_llm_batch *b);
/* Statistics of the run so far. */
seize_llm_stats seize_llm_batch_stats(const seize_llm_batch *b);

/* Writes a one-paragraph summary of `st` to fp ("12000 requests in 9.6 s (1250/s), retries:
 * 12 (429: 3, 5xx: 9), tokens: prompt 1234, completion 567"). */
void seize_llm_stats_print(FILE *fp, const char *label, const seize_llm_stats *st);

/* --- journal ------------------------------------------------------------------------------ */

typedef struct seize_journal seize_journal;

/* Opens (creating) a JSON Lines journal for appending; calls `replay(ctx, line)` for each
 * complete, parseable line already in it (the JSON value is borrowed for the call). A torn or
 * unparseable last line is cut off (the file is truncated after the last good line); an
 * unparseable line in the middle is skipped. `replay` may be NULL. */
int seize_journal_open(const char *path, void (*replay)(void *ctx, struct json_t *line), void *ctx,
                       seize_journal **out);
/* Buffers one line (compact JSON + '\n'); nothing is durable until a sync has covered it.
 * Line number k (1-based, counting from the open) is durable once seize_journal_lines reports
 * synced >= k. Thread safe against a concurrent sync or the background committer. */
int seize_journal_add(seize_journal *j, const struct json_t *line);
/* Writes the buffered lines and fdatasyncs the file, in the caller's thread. A write or sync
 * failure is sticky: every later call reports it (SEIZE_EIO). */
int seize_journal_sync(seize_journal *j);
/* Starts a background committer that syncs whenever lines are buffered (group commit: lines
 * added during one fdatasync go out together in the next) and calls notify(ctx) from its thread
 * after each sync (may be NULL). */
int seize_journal_start(seize_journal *j, void (*notify)(void *ctx), void *ctx);
/* Lines added so far; *synced (optional) receives how many are durable, *failed (optional)
 * whether a write or sync failed (seize_journal_sync then returns the message). */
uint64_t seize_journal_lines(seize_journal *j, uint64_t *synced, int *failed);
/* Stops the committer (after it has synced what is buffered) and syncs; accepts NULL. */
int seize_journal_stop(seize_journal *j);
/* Stops, syncs and closes; accepts NULL. Returns the sync status. */
int seize_journal_close(seize_journal *j);

/* --- secrets ------------------------------------------------------------------------------ */

/* Registers a secret (an API key, a token) for this process: seize_redact and
 * seize_redact_secrets replace it by "***". Strings shorter than 4 bytes are ignored (they would
 * blank out ordinary words); at most 64 secrets. Thread safe. */
void seize_secret_add(const char *secret);
/* Registers the credentials found in a URL: the password and user:password of its userinfo
 * (as written, percent-decoded, and base64 as Basic authentication sends them) and the values
 * of query parameters whose name suggests a credential (key, token, secret, sig, password,
 * auth). */
void seize_secret_add_url(const char *url);
/* The one redaction for messages: a heap copy of `s` with every registered secret replaced by
 * "***", and also, registered or not, the credential after "Bearer " or "Basic " (an echoed
 * Authorization header) and the password of any "scheme://user:password@host" (-> user:***).
 * Used for every message built from server data and every URL shown. NULL only for NULL or out
 * of memory. */
char *seize_redact(const char *s);
/* Only the registered secrets replaced (for model replies, where "Bearer ..." may be text). */
char *seize_redact_secrets(const char *s);
/* A URL for display: the password of its userinfo replaced ("http://user:***@host/v1") and
 * secret query values redacted; registers the URL's secrets. Heap string. */
char *seize_url_redact(const char *url);
/* A URL for keys: scheme and host lowercased, userinfo dropped, trailing '/' of the path
 * removed, secret query values replaced by "***"; registers the URL's secrets. Heap string. */
char *seize_url_canonical(const char *url);

/* --- SEIZE editing prompt (ARCHITECTURE.md §2) -------------------------------------------- */

/* The authors' system message and user template ({caption} and {instruction} placeholders). */
extern const char *const SEIZE_REASON_SYSTEM;
extern const char *const SEIZE_REASON_USER;

/* Fills a template: {caption} and {instruction} are replaced (each may occur any number of
 * times), {{ and }} give literal braces, other braces are copied. Heap string. */
char *seize_prompt_format(const char *tmpl, const char *caption, const char *instruction);

/* Post-processing of an edited description: strip whitespace, drop a leading
 * "Edited Description:" (and the whitespace after it), keep the first line, strip again.
 * Heap string. */
char *seize_reason_clean(const char *reply);

#ifdef __cplusplus
}
#endif
#endif
