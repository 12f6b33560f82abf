// The batch client: many chat requests as asynchronous calls on one event loop (seize_loop,
// loop.c), `concurrency` in flight, retries with backoff, a journal written (and fsync'd) before
// a request counts as done.
//
// One thread drives everything: build a body, start it, run the loop, take completions, classify,
// journal, schedule retries. Requests waiting out a backoff sit in `delayed`; requests ready to
// start sit in a FIFO. A request asks for `n` texts of its item; an item is complete when it holds
// n_out texts.
#include "seize/net.h"

#include "net_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct item {
    char *key, *check;
    size_t n_out;
    json_t *texts;      // array of strings, durable in the journal (or about to be)
    size_t next_sample; // seed offset of the next single-sample request
    char *error;        // set when the item failed (redacted)
    int err_kind;       // SEIZE_LLM_ERR_* of the failure
    int from_journal;   // complete before the run started
} item;

typedef struct req {
    size_t item;
    size_t n;      // texts asked for
    size_t sample; // seed offset
    int attempts;  // started so far
    double due;    // may start at
    char *body;    // built at the first start, kept for retries
} req;

struct run;
typedef struct slot {
    struct run *R;
    seize_chat_call *call; // in flight when r is set
    req *r;
} slot;

struct seize_llm_batch {
    seize_llm_params p;
    char *url;       // the request URL (may hold credentials: never shown)
    char *url_shown; // the same, redacted, for messages
    char settings[65];
    seize_llm_build_fn build;
    void *ctx;
    seize_journal *journal;
    json_t *replay; // key -> array of journal lines (from the journal at open)
    json_t *index;  // key -> item index
    item *items;
    size_t n_items, cap_items;
    seize_llm_stats st;
    int use_n;
    uint64_t rng;
    int ran;
};

// --- setup --------------------------------------------------------------------------------

static void replay_line(void *ctx, json_t *line)
{
    seize_llm_batch *b = ctx;
    const char *key = json_string_value(json_object_get(line, "key"));
    if (!key) return;
    json_t *arr = json_object_get(b->replay, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(b->replay, key, arr);
    }
    json_array_append(arr, line);
}

int seize_llm_batch_new(const seize_llm_params *p, const char *journal_path,
                        seize_llm_build_fn build, void *ctx, seize_llm_batch **out)
{
    *out = NULL;
    if (!p->endpoint || !*p->endpoint)
        return seize_error(SEIZE_EINVAL, "no endpoint (set --endpoint or OPENAI_BASE_URL)");
    if (!p->model || !*p->model) return seize_error(SEIZE_EINVAL, "no model (set --model)");
    if (p->concurrency < 1 || p->max_attempts < 1 || !(p->timeout > 0))
        return seize_error(SEIZE_EINVAL, "invalid client parameters");
    int crc = net_curl_init();
    if (crc < 0) return crc;
    seize_llm_batch *b = calloc(1, sizeof *b);
    if (!b) return seize_error(SEIZE_ENOMEM, "out of memory");
    b->p = *p;
    b->build = build;
    b->ctx = ctx;
    b->use_n = p->use_n;
    b->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    if (!b->rng) b->rng = 1;
    size_t el = strlen(p->endpoint);
    while (el > 0 && p->endpoint[el - 1] == '/')
        el--;
    b->url = malloc(el + sizeof "/chat/completions");
    b->replay = json_object();
    b->index = json_object();
    if (!b->url || !b->replay || !b->index) {
        seize_llm_batch_free(b);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    memcpy(b->url, p->endpoint, el);
    memcpy(b->url + el, "/chat/completions", sizeof "/chat/completions");
    // Everything shown or stored from here on is redacted with these secrets.
    seize_secret_add(p->api_key);
    seize_secret_add_url(p->endpoint);
    b->url_shown = seize_url_redact(b->url);
    int src = 0;
    if (p->settings && strlen(p->settings) == 64)
        memcpy(b->settings, p->settings, 65);
    else
        src = seize_llm_settings(p, NULL, NULL, b->settings);
    if (!b->url_shown || src < 0) {
        seize_llm_batch_free(b);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    b->p.settings = b->settings;
    if (journal_path) {
        int rc = seize_journal_open(journal_path, replay_line, b, &b->journal);
        if (rc < 0) {
            seize_llm_batch_free(b);
            return rc;
        }
    }
    *out = b;
    return 0;
}

void seize_llm_batch_free(seize_llm_batch *b)
{
    if (!b) return;
    seize_journal_close(b->journal);
    for (size_t i = 0; i < b->n_items; i++) {
        free(b->items[i].key);
        free(b->items[i].check);
        free(b->items[i].error);
        json_decref(b->items[i].texts);
    }
    free(b->items);
    json_decref(b->replay);
    json_decref(b->index);
    free(b->url);
    free(b->url_shown);
    free(b);
}

int seize_llm_batch_add(seize_llm_batch *b, const char *key, const char *check, size_t n_out)
{
    if (json_object_get(b->index, key))
        return seize_error(SEIZE_EINVAL, "duplicate item key '%s'", key);
    if (b->n_items == b->cap_items) {
        size_t cap = b->cap_items ? b->cap_items * 2 : 256;
        item *ni = seize_realloc(b->items, cap, sizeof *ni);
        if (!ni) return SEIZE_ENOMEM;
        b->items = ni;
        b->cap_items = cap;
    }
    item *it = &b->items[b->n_items];
    memset(it, 0, sizeof *it);
    it->key = seize_strdup(key);
    it->check = seize_strdup(check ? check : "");
    it->texts = json_array();
    if (!it->key || !it->check || !it->texts) {
        free(it->key);
        free(it->check);
        json_decref(it->texts);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    it->n_out = n_out;
    json_t *lines = json_object_get(b->replay, key);
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line)
    {
        const char *c = json_string_value(json_object_get(line, "check"));
        if (!c || strcmp(c, it->check)) continue;
        // Answers to other settings (model, endpoint, prompt, sampling) are not this item's.
        const char *set = json_string_value(json_object_get(line, "settings"));
        if (!set || strcmp(set, b->settings)) continue;
        json_t *texts = json_object_get(line, "texts"), *t;
        size_t k;
        json_array_foreach(texts, k, t)
        {
            if (json_is_string(t) && json_array_size(it->texts) < n_out)
                json_array_append(it->texts, t);
        }
    }
    it->next_sample = json_array_size(it->texts);
    if (json_array_size(it->texts) == n_out) {
        it->from_journal = 1;
        b->st.items_from_journal++;
        b->st.items_done++;
    }
    b->st.items++;
    b->st.texts_wanted += n_out;
    b->st.texts_done += json_array_size(it->texts);
    json_object_set_new(b->index, key, json_integer((json_int_t)b->n_items));
    b->n_items++;
    return 0;
}

const json_t *seize_llm_batch_texts(const seize_llm_batch *b, size_t i)
{
    if (i >= b->n_items || json_array_size(b->items[i].texts) < b->items[i].n_out) return NULL;
    return b->items[i].texts;
}

const char *seize_llm_batch_error(const seize_llm_batch *b, size_t i)
{
    return i < b->n_items ? b->items[i].error : NULL;
}

int seize_llm_batch_error_kind(const seize_llm_batch *b, size_t i)
{
    return i < b->n_items ? b->items[i].err_kind : SEIZE_LLM_ERR_INPUT;
}

const char *seize_llm_batch_settings(const seize_llm_batch *b)
{
    return b->settings;
}

seize_llm_stats seize_llm_batch_stats(const seize_llm_batch *b)
{
    return b->st;
}

// --- the run ------------------------------------------------------------------------------

typedef struct run {
    seize_llm_batch *b;
    seize_loop *loop; // curl's transfers; woken by the journal committer after each sync
    int rc;           // a failure inside a completion callback (stops the run)
    slot *slots;
    int n_slots, n_busy;
    req **ready; // ring buffer
    size_t r_head, r_len, r_cap;
    req **delayed;
    size_t d_len, d_cap;
    int fatal; // endpoint unusable: stop everything
    char fatal_msg[512];
    // Completions waiting for their journal line to be durable before they count (FIFO).
    struct pending {
        uint64_t line; // journal line number
        size_t texts;
        int item_done;
    } * pend;
    size_t p_head, p_len, p_cap;
} run;

static double rand_unit(seize_llm_batch *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return (double)(b->rng >> 11) / 9007199254740992.0;
}

static int push_ready(run *R, req *r)
{
    if (R->r_len == R->r_cap) {
        size_t cap = R->r_cap ? R->r_cap * 2 : 1024;
        req **nr = seize_malloc(cap, sizeof *nr);
        if (!nr) return SEIZE_ENOMEM;
        for (size_t i = 0; i < R->r_len; i++)
            nr[i] = R->ready[(R->r_head + i) % R->r_cap];
        free(R->ready);
        R->ready = nr;
        R->r_cap = cap;
        R->r_head = 0;
    }
    R->ready[(R->r_head + R->r_len) % R->r_cap] = r;
    R->r_len++;
    return 0;
}

static req *pop_ready(run *R)
{
    if (!R->r_len) return NULL;
    req *r = R->ready[R->r_head];
    R->r_head = (R->r_head + 1) % R->r_cap;
    R->r_len--;
    return r;
}

static int push_delayed(run *R, req *r)
{
    if (R->d_len == R->d_cap) {
        size_t cap = R->d_cap ? R->d_cap * 2 : 64;
        req **nd = seize_realloc(R->delayed, cap, sizeof *nd);
        if (!nd) return SEIZE_ENOMEM;
        R->delayed = nd;
        R->d_cap = cap;
    }
    R->delayed[R->d_len++] = r;
    return 0;
}

static void free_req(req *r)
{
    if (!r) return;
    free(r->body);
    free(r);
}

// Queues requests for `missing` texts of item i: one request with n = missing when the server
// takes `n`, otherwise `missing` single requests.
static int queue_item(run *R, size_t i, size_t missing)
{
    seize_llm_batch *b = R->b;
    item *it = &b->items[i];
    size_t per = (b->use_n != 0 && missing > 1) ? missing : 1;
    for (size_t done = 0; done < missing; done += per) {
        req *r = calloc(1, sizeof *r);
        if (!r) return seize_error(SEIZE_ENOMEM, "out of memory");
        r->item = i;
        r->n = per;
        r->sample = it->next_sample; // seed offset; a request for n samples reserves n
        it->next_sample += per;
        if (push_ready(R, r) < 0) {
            free(r);
            return SEIZE_ENOMEM;
        }
    }
    return 0;
}

static void fail_item(run *R, size_t i, int kind, const char *msg)
{
    seize_llm_batch *b = R->b;
    item *it = &b->items[i];
    if (it->error) return;
    it->error = seize_redact(msg); // messages may quote the server, which may quote the key
    if (!it->error) it->error = seize_strdup("out of memory");
    it->err_kind = kind;
    b->st.items_failed++;
    if (b->journal && it->error) {
        json_t *line = json_pack("{s:s, s:s, s:s, s:s}", "key", it->key, "check", it->check,
                                 "settings", b->settings, "error", it->error);
        if (line) seize_journal_add(b->journal, line); // informational: a failure is not fatal
        json_decref(line);
    }
}

static void on_done(void *ctx, const seize_chat_result *res);

// Starts request r on a free slot. 0 when started or when r was consumed (item failed to build).
static int start(run *R, req *r)
{
    seize_llm_batch *b = R->b;
    item *it = &b->items[r->item];
    if (it->error) { // the item already failed: do not spend requests on it
        free_req(r);
        return 0;
    }
    if (!r->body) {
        json_t *messages = NULL;
        int rc = b->build(b->ctx, r->item, &messages);
        if (rc < 0) {
            fail_item(R, r->item, SEIZE_LLM_ERR_INPUT, seize_errmsg());
            free_req(r);
            return 0;
        }
        r->body = seize_chat_request_body(&b->p, messages, r->n, (long long)r->sample);
        json_decref(messages);
        if (!r->body) return seize_error(SEIZE_ENOMEM, "cannot encode a request");
    }
    slot *s = NULL;
    for (int k = 0; k < R->n_slots; k++)
        if (!R->slots[k].r) {
            s = &R->slots[k];
            break;
        }
    SEIZE_ASSERT(s != NULL);
    seize_chat_request q = {b->url, r->body, b->p.api_key, b->p.timeout};
    int rc = seize_chat_async(R->loop, &q, on_done, s, &s->call);
    if (rc < 0) return rc;
    s->r = r;
    r->attempts++;
    b->st.requests++;
    R->n_busy++;
    return 0;
}

// Records the texts of a successful reply; queues what is still missing.
static int take_reply(run *R, req *r, seize_chat_reply *rep)
{
    seize_llm_batch *b = R->b;
    item *it = &b->items[r->item];
    size_t got = rep->n_texts < r->n ? rep->n_texts : r->n;
    size_t room = it->n_out - json_array_size(it->texts);
    if (got > room) got = room;
    json_t *texts = json_array();
    if (!texts) return SEIZE_ENOMEM;
    for (size_t k = 0; k < got; k++) {
        // A reply that quotes the API key (or the endpoint's password) is stored without it.
        char *clean = seize_redact_secrets(rep->texts[k]);
        if (!clean) {
            json_decref(texts);
            return SEIZE_ENOMEM;
        }
        json_array_append_new(texts, json_string(clean));
        free(clean);
    }
    if (json_array_size(texts) != got) { // not UTF-8: treat as malformed
        json_decref(texts);
        return 1;
    }
    for (size_t k = 0; k < got; k++)
        json_array_append(it->texts, json_array_get(texts, k));
    int item_done = json_array_size(it->texts) == it->n_out && !it->error;
    if (b->journal) {
        json_t *line = json_pack("{s:s, s:s, s:s, s:O}", "key", it->key, "check", it->check,
                                 "settings", b->settings, "texts", texts);
        int rc = line ? seize_journal_add(b->journal, line) : SEIZE_ENOMEM;
        json_decref(line);
        if (rc < 0) {
            json_decref(texts);
            return rc;
        }
        if (R->p_head + R->p_len == R->p_cap) {
            if (R->p_head > 0) { // compact
                memmove(R->pend, R->pend + R->p_head, R->p_len * sizeof *R->pend);
                R->p_head = 0;
            }
            if (R->p_len == R->p_cap) {
                size_t cap = R->p_cap ? R->p_cap * 2 : 256;
                struct pending *np = seize_realloc(R->pend, cap, sizeof *np);
                if (!np) {
                    json_decref(texts);
                    return SEIZE_ENOMEM;
                }
                R->pend = np;
                R->p_cap = cap;
            }
        }
        struct pending *pe = &R->pend[R->p_head + R->p_len++];
        pe->line = seize_journal_lines(b->journal, NULL, NULL);
        pe->texts = got;
        pe->item_done = item_done;
    } else {
        b->st.texts_done += got;
        b->st.items_done += (size_t)item_done;
    }
    json_decref(texts);
    b->st.prompt_tokens += rep->prompt_tokens;
    b->st.completion_tokens += rep->completion_tokens;
    b->st.replies_ok++;
    if (rep->n_texts < r->n && got < r->n) {
        // The server gave fewer choices than asked: it ignores `n`.
        if (b->use_n < 0) b->use_n = 0;
        return queue_item(R, r->item, r->n - got);
    }
    return 0;
}

static void retry_or_fail(run *R, req *r, int kind, double retry_after, const char *what)
{
    seize_llm_batch *b = R->b;
    b->st.errors[kind]++;
    int cancelled = seize_cancel_level(b->p.cancel) > 0;
    if (r->attempts >= b->p.max_attempts || cancelled) {
        if (r->attempts >= b->p.max_attempts && b->st.replies_ok == 0 &&
            (kind == SEIZE_LLM_ERR_CONNECT || kind == SEIZE_LLM_ERR_TIMEOUT)) {
            // Nothing has ever worked: the endpoint is unreachable, not this item at fault.
            // Stop rather than spend max_attempts on every item.
            if (!R->fatal) {
                R->fatal = 1;
                snprintf(R->fatal_msg, sizeof R->fatal_msg,
                         "cannot reach %s: %s (after %d attempts)", b->url_shown, what,
                         r->attempts);
            }
        } else if (r->attempts >= b->p.max_attempts) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s (after %d attempts)", what, r->attempts);
            fail_item(R, r->item, kind, msg);
        }
        free_req(r);
        return;
    }
    b->st.retries++;
    r->due = seize_now() + seize_llm_backoff(r->attempts, b->p.backoff_base, b->p.backoff_max,
                                             retry_after, rand_unit(b));
    if (push_delayed(R, r) < 0) {
        fail_item(R, r->item, kind, "out of memory");
        free_req(r);
    }
}

static int finish(run *R, slot *s, const seize_chat_result *res)
{
    seize_llm_batch *b = R->b;
    req *r = s->r;
    s->r = NULL;
    s->call = NULL;
    R->n_busy--;
    long status = res->status;
    char what[400];
    switch (res->transport) {
    case SEIZE_CHAT_OK:
        break;
    case SEIZE_CHAT_ETOOBIG:
        retry_or_fail(R, r, SEIZE_LLM_ERR_MALFORMED, 0, res->error);
        return 0;
    case SEIZE_CHAT_EURL:
        R->fatal = 1;
        snprintf(R->fatal_msg, sizeof R->fatal_msg, "cannot use endpoint '%s': %s", b->url_shown,
                 res->error);
        free_req(r);
        return 0;
    case SEIZE_CHAT_ETIMEOUT:
        snprintf(what, sizeof what, "timed out after %g s", b->p.timeout);
        retry_or_fail(R, r, SEIZE_LLM_ERR_TIMEOUT, 0, what);
        return 0;
    case SEIZE_CHAT_ETRUNCATED:
        snprintf(what, sizeof what, "truncated reply: %s", res->error);
        retry_or_fail(R, r, SEIZE_LLM_ERR_MALFORMED, 0, what);
        return 0;
    default:
        snprintf(what, sizeof what, "%s", res->error);
        retry_or_fail(R, r, SEIZE_LLM_ERR_CONNECT, 0, what);
        return 0;
    }
    if (status >= 200 && status < 300) {
        seize_chat_reply rep;
        int rc = seize_chat_parse(res->body, res->len, &rep);
        if (rc == 0) {
            rc = take_reply(R, r, &rep);
            seize_chat_reply_free(&rep);
            if (rc < 0) {
                free_req(r);
                return rc;
            }
            if (rc == 0) {
                free_req(r);
                return 0;
            }
            snprintf(what, sizeof what, "malformed reply: text is not valid UTF-8");
        } else {
            char *m = seize_redact(seize_errmsg()); // a parse error may quote the body
            snprintf(what, sizeof what, "malformed reply: %s", m ? m : "?");
            free(m);
        }
        retry_or_fail(R, r, SEIZE_LLM_ERR_MALFORMED, 0, what);
        return 0;
    }
    char *raw = seize_chat_error_message(res->body, res->len);
    char *msg = seize_redact(raw); // error bodies may echo the Authorization header or the URL
    free(raw);
    snprintf(what, sizeof what, "HTTP %ld: %s", status, msg ? msg : "");
    if (seize_llm_status_retryable(status)) {
        retry_or_fail(R, r, status == 429 ? SEIZE_LLM_ERR_429 : SEIZE_LLM_ERR_5XX, res->retry_after,
                      what);
    } else if (status == 401 || status == 403 || status == 404) {
        b->st.errors[SEIZE_LLM_ERR_4XX]++;
        if (!R->fatal) {
            R->fatal = 1;
            snprintf(R->fatal_msg, sizeof R->fatal_msg, "%s: %s%s", b->url_shown, what,
                     status == 401   ? " (check OPENAI_API_KEY)"
                     : status == 404 ? " (check --endpoint and --model)"
                                     : "");
        }
        free_req(r);
    } else if (status == 400 && r->n > 1 && b->p.use_n < 0) {
        // Some servers reject n > 1: ask for the samples one by one (not counted as an attempt).
        b->use_n = 0;
        size_t i = r->item, n = r->n;
        free_req(r);
        free(msg);
        return queue_item(R, i, n);
    } else {
        b->st.errors[SEIZE_LLM_ERR_4XX]++;
        fail_item(R, r->item, SEIZE_LLM_ERR_4XX, what);
        free_req(r);
    }
    free(msg);
    return 0;
}

// A call ended: its completion is handled at once (a failure stops the run).
static void on_done(void *ctx, const seize_chat_result *res)
{
    slot *s = ctx;
    run *R = s->R;
    int rc = finish(R, s, res);
    if (rc < 0 && R->rc == 0) R->rc = rc;
}

static void abort_in_flight(run *R)
{
    for (int k = 0; k < R->n_slots; k++) {
        slot *s = &R->slots[k];
        if (!s->r) continue;
        seize_chat_cancel(s->call);
        s->call = NULL;
        free_req(s->r);
        s->r = NULL;
        R->n_busy--;
    }
}

// Counts the completions whose journal lines are durable; SEIZE_EIO when the journal failed.
static int settle(run *R)
{
    seize_llm_batch *b = R->b;
    if (!b->journal) return 0;
    uint64_t synced = 0;
    int failed = 0;
    seize_journal_lines(b->journal, &synced, &failed);
    if (failed) return seize_journal_sync(b->journal); // returns the failure's message
    while (R->p_len && R->pend[R->p_head].line <= synced) {
        b->st.texts_done += R->pend[R->p_head].texts;
        b->st.items_done += (size_t)R->pend[R->p_head].item_done;
        R->p_head++;
        R->p_len--;
    }
    if (!R->p_len) R->p_head = 0;
    return 0;
}

static void wake(void *ctx)
{
    seize_loop_wake(((run *)ctx)->loop);
}

// Queues what every item still needs and sets up the slots, the loop and the journal's committer.
static int run_setup(run *R)
{
    seize_llm_batch *b = R->b;
    int rc = 0;
    for (size_t i = 0; i < b->n_items && rc == 0; i++) {
        size_t have = json_array_size(b->items[i].texts);
        if (have < b->items[i].n_out) rc = queue_item(R, i, b->items[i].n_out - have);
    }
    if (rc < 0) return rc;
    R->n_slots = b->p.concurrency;
    R->slots = seize_calloc((size_t)R->n_slots, sizeof *R->slots);
    if (!R->slots) return SEIZE_ENOMEM;
    for (int k = 0; k < R->n_slots; k++)
        R->slots[k].R = R;
    if ((rc = seize_loop_new(&R->loop)) < 0) return rc;
    // Journal lines are made durable by a committer thread, so fdatasync never stalls the loop;
    // a completion counts (progress, items_done) once its line is durable.
    if (b->journal) rc = seize_journal_start(b->journal, wake, R);
    return rc;
}

// Starts what may start: requests whose backoff has elapsed, then ready ones while slots are
// free. A completion keeps its place until its journal line is durable, so that a crash never
// loses more than `concurrency` requests.
static int start_ready(run *R, double now)
{
    int rc = 0;
    for (size_t k = 0; k < R->d_len;) {
        if (R->delayed[k]->due <= now) {
            if ((rc = push_ready(R, R->delayed[k])) < 0) return rc;
            R->delayed[k] = R->delayed[--R->d_len];
        } else {
            k++;
        }
    }
    while (rc == 0 && R->n_busy + (int)R->p_len < R->n_slots && R->r_len) {
        req *r = pop_ready(R);
        if ((rc = start(R, r)) < 0) free_req(r);
    }
    return rc;
}

// The loop of a run: start, wait for the loop (sockets, curl's timer, the committer, a backoff,
// or 100 ms to notice a cancel), take completions (in on_done), count durable ones.
static int run_loop(run *R, seize_llm_progress_fn progress, void *pctx, double t0)
{
    seize_llm_batch *b = R->b;
    const seize_cancel *cancel = b->p.cancel; // may be NULL: never cancelled
    int rc = 0;
    while (rc == 0) {
        if (seize_cancel_level(cancel) >= 2 || R->fatal) break;
        if (!seize_cancel_level(cancel) && (rc = start_ready(R, seize_now())) < 0) break;
        if ((rc = settle(R)) < 0) break;
        if (R->n_busy == 0 && (seize_cancel_level(cancel) || (R->r_len == 0 && R->d_len == 0)))
            break;
        double wait = 0.1, now = seize_now();
        for (size_t k = 0; k < R->d_len; k++) {
            double d = R->delayed[k]->due - now;
            if (d < wait) wait = d;
        }
        if (R->n_busy + (int)R->p_len < R->n_slots && R->r_len && !seize_cancel_level(cancel))
            wait = 0;
        rc = seize_loop_run_once(R->loop, wait < 0 ? 0 : wait);
        if (rc == 0) rc = R->rc;
        if (rc == 0) rc = settle(R);
        b->st.seconds = seize_now() - t0;
        if (progress) progress(pctx, &b->st);
        if (rc < 0 || R->fatal) break;
    }
    return rc;
}

static void run_free(run *R)
{
    req *r; // leftover requests (cancel or fatal): dropped; their items stay incomplete
    while ((r = pop_ready(R)))
        free_req(r);
    for (size_t k = 0; k < R->d_len; k++)
        free_req(R->delayed[k]);
    free(R->ready);
    free(R->delayed);
    free(R->pend);
    free(R->slots);
    seize_loop_free(R->loop);
}

int seize_llm_batch_run(seize_llm_batch *b, seize_llm_progress_fn progress, void *pctx)
{
    if (b->ran) return seize_error(SEIZE_EINVAL, "a batch runs once");
    b->ran = 1;
    double t0 = seize_now();
    run R;
    memset(&R, 0, sizeof R);
    R.b = b;
    int rc = run_setup(&R);
    if (rc == 0) rc = run_loop(&R, progress, pctx, t0);
    if (R.slots) abort_in_flight(&R);
    if (b->journal) {
        int jrc = seize_journal_stop(b->journal); // all lines durable, committer gone
        if (rc == 0) rc = jrc < 0 ? jrc : settle(&R);
    }
    if (progress) progress(pctx, &b->st);
    run_free(&R);
    b->st.seconds = seize_now() - t0;
    if (rc < 0) return rc;
    if (R.fatal) {
        char *m = seize_redact(R.fatal_msg);
        rc = seize_error(SEIZE_ENET, "%s", m ? m : "the endpoint is unusable");
        free(m);
        return rc;
    }
    if (seize_cancel_level(b->p.cancel)) return seize_error(SEIZE_ECANCEL, "interrupted");
    if (b->st.items_failed) {
        size_t first = 0;
        while (first < b->n_items && !b->items[first].error)
            first++;
        return seize_error(SEIZE_ENET, "%zu of %zu items failed (first: '%s': %s)",
                           b->st.items_failed, b->n_items, b->items[first].key,
                           b->items[first].error);
    }
    return 0;
}
