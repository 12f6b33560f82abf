// The batch client: many chat requests over one libcurl multi handle, `concurrency` in flight,
// retries with backoff, a journal written (and fsync'd) before a request counts as done.
//
// One thread drives everything: build a body, start it, poll, read completions, classify,
// journal, schedule retries. Requests waiting out a backoff sit in `delayed`; requests ready to
// start sit in a FIFO. A request asks for `n` texts of its item; an item is complete when it holds
// n_out texts.
#include "seize/net.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLY_BYTES ((size_t)16 << 20)

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

typedef struct slot {
    CURL *h;
    req *r;
    char *resp;
    size_t len, cap;
    int too_big;
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

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
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return seize_error(SEIZE_ENET, "cannot initialise libcurl: %s",
                           curl_easy_strerror(curl_init_rc));
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
    CURLM *multi;
    int ep;          // epoll set of curl's sockets and `evfd`
    int evfd;        // written by the journal committer after each sync
    double curl_due; // when curl wants its timeout action (-1: none)
    struct curl_slist *headers;
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

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    slot *s = ud;
    size_t n = size * nmemb;
    if (s->len + n > MAX_REPLY_BYTES) {
        s->too_big = 1;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *nb = realloc(s->resp, cap);
        if (!nb) return 0;
        s->resp = nb;
        s->cap = cap;
    }
    memcpy(s->resp + s->len, data, n);
    s->len += n;
    s->resp[s->len] = 0;
    return n;
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
    s->r = r;
    s->len = 0;
    s->too_big = 0;
    CURL *h = s->h;
    curl_easy_setopt(h, CURLOPT_URL, b->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, R->headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(b->p.timeout * 1000 + 0.5));
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "seize/" SEIZE_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLMcode mc = curl_multi_add_handle(R->multi, h);
    if (mc != CURLM_OK) {
        s->r = NULL;
        return seize_error(SEIZE_ENET, "cannot start a request: %s", curl_multi_strerror(mc));
    }
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

static int finish(run *R, slot *s, CURLcode res)
{
    seize_llm_batch *b = R->b;
    req *r = s->r;
    s->r = NULL;
    R->n_busy--;
    curl_multi_remove_handle(R->multi, s->h);
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t ra = -1;
    curl_easy_getinfo(s->h, CURLINFO_RETRY_AFTER, &ra);
    char what[400];
    if (res != CURLE_OK) {
        if (s->too_big) {
            retry_or_fail(R, r, SEIZE_LLM_ERR_MALFORMED, 0, "reply larger than 16 MiB");
            return 0;
        }
        switch (res) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_NOT_BUILT_IN:
            R->fatal = 1;
            snprintf(R->fatal_msg, sizeof R->fatal_msg, "cannot use endpoint '%s': %s", b->url_shown,
                     curl_easy_strerror(res));
            free_req(r);
            return 0;
        case CURLE_OPERATION_TIMEDOUT:
            snprintf(what, sizeof what, "timed out after %g s", b->p.timeout);
            retry_or_fail(R, r, SEIZE_LLM_ERR_TIMEOUT, 0, what);
            return 0;
        case CURLE_PARTIAL_FILE:
        case CURLE_BAD_CONTENT_ENCODING:
            snprintf(what, sizeof what, "truncated reply: %s", curl_easy_strerror(res));
            retry_or_fail(R, r, SEIZE_LLM_ERR_MALFORMED, 0, what);
            return 0;
        default:
            snprintf(what, sizeof what, "%s", curl_easy_strerror(res));
            retry_or_fail(R, r, SEIZE_LLM_ERR_CONNECT, 0, what);
            return 0;
        }
    }
    if (status >= 200 && status < 300) {
        seize_chat_reply rep;
        int rc = seize_chat_parse(s->resp ? s->resp : "", s->len, &rep);
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
    char *raw = seize_chat_error_message(s->resp, s->len);
    char *msg = seize_redact(raw); // error bodies may echo the Authorization header or the URL
    free(raw);
    snprintf(what, sizeof what, "HTTP %ld: %s", status, msg ? msg : "");
    if (seize_llm_status_retryable(status)) {
        retry_or_fail(R, r, status == 429 ? SEIZE_LLM_ERR_429 : SEIZE_LLM_ERR_5XX,
                      ra > 0 ? (double)ra : 0, what);
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

static void abort_in_flight(run *R)
{
    for (int k = 0; k < R->n_slots; k++) {
        slot *s = &R->slots[k];
        if (!s->r) continue;
        curl_multi_remove_handle(R->multi, s->h);
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

// --- event loop plumbing (curl's multi_socket interface over epoll) -------------------------

static void wake(void *ctx)
{
    run *R = ctx;
    uint64_t one = 1;
    if (write(R->evfd, &one, sizeof one) < 0) { /* already signalled (counter full): fine */
    }
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)e;
    (void)socketp;
    run *R = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(R->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.fd = fd;
    if (what & CURL_POLL_IN) ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
    if (epoll_ctl(R->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
        epoll_ctl(R->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    run *R = userp;
    R->curl_due = timeout_ms < 0 ? -1 : seize_now() + (double)timeout_ms / 1000;
    return 0;
}

int seize_llm_batch_run(seize_llm_batch *b, seize_llm_progress_fn progress, void *pctx)
{
    if (b->ran) return seize_error(SEIZE_EINVAL, "a batch runs once");
    b->ran = 1;
    double t0 = seize_now();
    run R;
    memset(&R, 0, sizeof R);
    R.b = b;
    R.ep = R.evfd = -1;
    R.curl_due = -1;
    int rc = 0;
    const seize_cancel *cancel = b->p.cancel; // may be NULL: never cancelled

    for (size_t i = 0; i < b->n_items && rc == 0; i++) {
        size_t have = json_array_size(b->items[i].texts);
        if (have < b->items[i].n_out) rc = queue_item(&R, i, b->items[i].n_out - have);
    }
    R.multi = curl_multi_init();
    R.n_slots = b->p.concurrency;
    R.slots = seize_calloc((size_t)R.n_slots, sizeof *R.slots);
    if (rc == 0 && (!R.multi || !R.slots)) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    for (int k = 0; rc == 0 && k < R.n_slots; k++)
        if (!(R.slots[k].h = curl_easy_init()))
            rc = seize_error(SEIZE_ENET, "curl_easy_init failed");
    if (rc == 0) {
        curl_multi_setopt(R.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)R.n_slots);
        R.headers = curl_slist_append(NULL, "Content-Type: application/json");
        R.headers = curl_slist_append(R.headers, "Accept: application/json");
        R.headers = curl_slist_append(R.headers, "Expect:");
        if (b->p.api_key && *b->p.api_key) {
            size_t kl = strlen(b->p.api_key);
            char *auth = malloc(kl + 32);
            if (auth) {
                snprintf(auth, kl + 32, "Authorization: Bearer %s", b->p.api_key);
                R.headers = curl_slist_append(R.headers, auth);
                memset(auth, 0, kl + 32);
                free(auth);
            }
        }
        if (!R.headers) rc = seize_error(SEIZE_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        R.ep = epoll_create1(EPOLL_CLOEXEC);
        R.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.fd = R.evfd;
        if (R.ep < 0 || R.evfd < 0 || epoll_ctl(R.ep, EPOLL_CTL_ADD, R.evfd, &ev) < 0)
            rc = seize_error(SEIZE_ENET, "cannot set up the event loop: %s", strerror(errno));
        curl_multi_setopt(R.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(R.multi, CURLMOPT_SOCKETDATA, &R);
        curl_multi_setopt(R.multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(R.multi, CURLMOPT_TIMERDATA, &R);
    }
    // Journal lines are made durable by a committer thread, so fdatasync never stalls the loop;
    // a completion counts (progress, items_done) once its line is durable.
    if (rc == 0 && b->journal) rc = seize_journal_start(b->journal, wake, &R);

    while (rc == 0) {
        double now = seize_now();
        if (seize_cancel_level(cancel) >= 2 || R.fatal) break;
        if (!seize_cancel_level(cancel)) {
            // Move requests whose backoff has elapsed to the ready queue.
            for (size_t k = 0; k < R.d_len;) {
                if (R.delayed[k]->due <= now) {
                    if ((rc = push_ready(&R, R.delayed[k])) < 0) break;
                    R.delayed[k] = R.delayed[--R.d_len];
                } else {
                    k++;
                }
            }
            // A completion keeps its place until its journal line is durable, so that a crash
            // never loses more than `concurrency` requests.
            while (rc == 0 && R.n_busy + (int)R.p_len < R.n_slots && R.r_len) {
                req *r = pop_ready(&R);
                if ((rc = start(&R, r)) < 0) free_req(r);
            }
            if (rc < 0) break;
        }
        if (rc == 0) rc = settle(&R);
        if (rc < 0) break;
        if (R.n_busy == 0 && (seize_cancel_level(cancel) || (R.r_len == 0 && R.d_len == 0))) break;
        // Wait for socket activity, curl's timer, a backoff, the committer, or 100 ms (to
        // notice a cancel).
        double wait = 0.1;
        now = seize_now();
        if (R.curl_due >= 0 && R.curl_due - now < wait) wait = R.curl_due - now;
        for (size_t k = 0; k < R.d_len; k++) {
            double d = R.delayed[k]->due - now;
            if (d < wait) wait = d;
        }
        if (R.n_busy + (int)R.p_len < R.n_slots && R.r_len && !seize_cancel_level(cancel)) wait = 0;
        struct epoll_event evs[128];
        int n_ev = epoll_wait(R.ep, evs, 128, wait <= 0 ? 0 : (int)ceil(wait * 1000));
        int running = 0;
        for (int k = 0; k < n_ev; k++) {
            if (evs[k].data.fd == R.evfd) {
                uint64_t v;
                if (read(R.evfd, &v, sizeof v) < 0) { /* nothing to read: fine */
                }
                continue;
            }
            int flags = 0;
            if (evs[k].events & EPOLLIN) flags |= CURL_CSELECT_IN;
            if (evs[k].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
            if (evs[k].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(R.multi, evs[k].data.fd, flags, &running);
        }
        if (R.curl_due >= 0 && seize_now() >= R.curl_due) {
            R.curl_due = -1; // the action may set a new one
            curl_multi_socket_action(R.multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        CURLMsg *m;
        int left;
        while (rc == 0 && (m = curl_multi_info_read(R.multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            slot *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            rc = finish(&R, s, m->data.result);
        }
        if (rc == 0) rc = settle(&R);
        b->st.seconds = seize_now() - t0;
        if (progress) progress(pctx, &b->st);
        if (rc < 0 || R.fatal) break;
    }
    abort_in_flight(&R);
    if (b->journal) {
        int jrc = seize_journal_stop(b->journal); // all lines durable, committer gone
        if (rc == 0) rc = jrc < 0 ? jrc : settle(&R);
    }
    if (progress) progress(pctx, &b->st);
    // Leftover requests (cancel or fatal): dropped; their items stay incomplete.
    req *r;
    while ((r = pop_ready(&R)))
        free_req(r);
    for (size_t k = 0; k < R.d_len; k++)
        free_req(R.delayed[k]);
    free(R.ready);
    free(R.delayed);
    free(R.pend);
    for (int k = 0; R.slots && k < R.n_slots; k++) {
        if (R.slots[k].h) curl_easy_cleanup(R.slots[k].h);
        free(R.slots[k].resp);
    }
    free(R.slots);
    curl_slist_free_all(R.headers);
    if (R.multi) curl_multi_cleanup(R.multi);
    if (R.ep >= 0) close(R.ep);
    if (R.evfd >= 0) close(R.evfd);
    b->st.seconds = seize_now() - t0;
    if (rc < 0) return rc;
    if (R.fatal) {
        char *m = seize_redact(R.fatal_msg);
        rc = seize_error(SEIZE_ENET, "%s", m ? m : "the endpoint is unusable");
        free(m);
        return rc;
    }
    if (seize_cancel_level(cancel)) return seize_error(SEIZE_ECANCEL, "interrupted");
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
