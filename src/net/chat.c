// Chat completion requests and replies: parameters, request bodies, reply parsing, retry policy.
#include "seize/net.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// --- parameters ---------------------------------------------------------------------------

seize_llm_params seize_llm_default_params(void)
{
    seize_llm_params p;
    memset(&p, 0, sizeof p);
    p.temperature = -1;
    p.top_p = -1;
    p.max_tokens = 0;
    p.seed = -1;
    p.timeout = 60;
    p.concurrency = 16;
    p.max_attempts = 6;
    p.backoff_base = 1;
    p.backoff_max = 60;
    p.use_n = -1;
    return p;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int seize_llm_param_set(seize_llm_params *p, const char *name, const char *value)
{
    double d;
    long long l;
#define BAD(range) seize_error(SEIZE_EINVAL, "invalid --%s '%s' (expected %s)", name, value, range)
    if (!strcmp(name, "temperature")) {
        if (parse_double(value, 0, 2, &d)) return BAD("a number in [0, 2]");
        p->temperature = d;
    } else if (!strcmp(name, "top-p")) {
        if (parse_double(value, 0, 1, &d)) return BAD("a number in [0, 1]");
        p->top_p = d;
    } else if (!strcmp(name, "max-tokens")) {
        if (parse_ll(value, 1, 1000000, &l)) return BAD("an integer in [1, 1000000]");
        p->max_tokens = (long)l;
    } else if (!strcmp(name, "seed")) {
        if (parse_ll(value, 0, (long long)1 << 53, &l)) return BAD("a non-negative integer");
        p->seed = l;
    } else if (!strcmp(name, "timeout")) {
        if (parse_double(value, 0.001, 86400, &d)) return BAD("seconds in [0.001, 86400]");
        p->timeout = d;
    } else if (!strcmp(name, "concurrency")) {
        if (parse_ll(value, 1, 4096, &l)) return BAD("an integer in [1, 4096]");
        p->concurrency = (int)l;
    } else if (!strcmp(name, "max-attempts")) {
        if (parse_ll(value, 1, 1000, &l)) return BAD("an integer in [1, 1000]");
        p->max_attempts = (int)l;
    } else if (!strcmp(name, "backoff-base")) {
        if (parse_double(value, 0, 3600, &d)) return BAD("seconds in [0, 3600]");
        p->backoff_base = d;
    } else if (!strcmp(name, "backoff-max")) {
        if (parse_double(value, 0, 3600, &d)) return BAD("seconds in [0, 3600]");
        p->backoff_max = d;
    } else {
        return seize_error(SEIZE_EINVAL, "unknown client option '%s'", name);
    }
#undef BAD
    return 0;
}

const char *seize_llm_err_name(int kind)
{
    static const char *names[SEIZE_LLM_ERR_COUNT] = {"connect", "timeout", "429",
                                                     "5xx",     "4xx",     "malformed"};
    if (kind == SEIZE_LLM_ERR_INPUT) return "input";
    return kind >= 0 && kind < SEIZE_LLM_ERR_COUNT ? names[kind] : "?";
}

int seize_llm_err_retryable(int kind)
{
    return kind == SEIZE_LLM_ERR_CONNECT || kind == SEIZE_LLM_ERR_TIMEOUT ||
           kind == SEIZE_LLM_ERR_429 || kind == SEIZE_LLM_ERR_5XX ||
           kind == SEIZE_LLM_ERR_MALFORMED;
}

int seize_llm_settings(const seize_llm_params *p, const json_t *extra, json_t **out, char hash[65])
{
    json_t *o = json_object();
    char *ep = p->endpoint ? seize_url_canonical(p->endpoint) : NULL;
    if (!o || (p->endpoint && !ep)) {
        json_decref(o);
        free(ep);
        return seize_error(SEIZE_ENOMEM, "out of memory");
    }
    json_object_set_new(o, "model", p->model ? json_string(p->model) : json_null());
    json_object_set_new(o, "endpoint", ep ? json_string(ep) : json_null());
    free(ep);
    json_object_set_new(o, "temperature",
                        p->temperature >= 0 ? json_real(p->temperature) : json_null());
    json_object_set_new(o, "top_p", p->top_p >= 0 ? json_real(p->top_p) : json_null());
    json_object_set_new(o, "max_tokens",
                        p->max_tokens > 0 ? json_integer(p->max_tokens) : json_null());
    json_object_set_new(o, "seed", p->seed >= 0 ? json_integer(p->seed) : json_null());
    if (extra) json_object_update(o, (json_t *)extra);
    if (hash) {
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!text) {
            json_decref(o);
            return seize_error(SEIZE_ENOMEM, "out of memory");
        }
        uint8_t d[32];
        seize_sha256_buffer(text, strlen(text), d);
        seize_sha256_hex(d, hash);
        free(text);
    }
    if (out)
        *out = o;
    else
        json_decref(o);
    return 0;
}

// --- replies ------------------------------------------------------------------------------

void seize_chat_reply_free(seize_chat_reply *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_texts; i++)
        free(r->texts[i]);
    free(r->texts);
    memset(r, 0, sizeof *r);
}

// The text of a message's content: a string, or the concatenated "text" of its text parts.
static char *content_text(json_t *content)
{
    if (json_is_string(content)) return seize_strdup(json_string_value(content));
    if (!json_is_array(content)) return NULL;
    size_t total = 0, i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *t = json_object_get(part, "text");
        if (!json_is_string(t)) return NULL;
        total += json_string_length(t);
    }
    char *s = malloc(total + 1), *w = s;
    if (!s) return NULL;
    json_array_foreach(content, i, part)
    {
        json_t *t = json_object_get(part, "text");
        size_t n = json_string_length(t);
        memcpy(w, json_string_value(t), n);
        w += n;
    }
    *w = 0;
    return s;
}

static int64_t usage_int(json_t *usage, const char *key)
{
    json_t *v = json_object_get(usage, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0) return (int64_t)json_integer_value(v);
    return 0;
}

typedef struct {
    long long index;
    size_t pos;
    char *text;
} choice_t;

static int cmp_choice(const void *a, const void *b)
{
    const choice_t *x = a, *y = b;
    if (x->index != y->index) return x->index < y->index ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int seize_chat_parse(const char *body, size_t len, seize_chat_reply *out)
{
    memset(out, 0, sizeof *out);
    json_error_t e;
    json_t *root = json_loadb(body, len, 0, &e);
    if (!root) return seize_error(SEIZE_EFORMAT, "reply is not JSON: %s", e.text);
    int rc = 0;
    json_t *choices = json_object_get(root, "choices");
    size_t n = json_array_size(choices);
    choice_t *cs = NULL;
    if (!json_is_array(choices) || n == 0) {
        rc = seize_error(SEIZE_EFORMAT, "reply has no choices");
        goto done;
    }
    cs = seize_calloc(n, sizeof *cs);
    if (!cs) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(choices, i);
        json_t *msg = json_object_get(c, "message");
        json_t *content = json_object_get(msg, "content");
        json_t *idx = json_object_get(c, "index");
        cs[i].index = json_is_integer(idx) ? json_integer_value(idx) : (long long)i;
        cs[i].pos = i;
        if (!json_is_object(msg) || !content) {
            rc = seize_error(SEIZE_EFORMAT, "choice %zu has no message content", i);
            goto done;
        }
        cs[i].text = content_text(content);
        if (!cs[i].text) {
            rc = seize_error(SEIZE_EFORMAT, "choice %zu has no text content", i);
            goto done;
        }
    }
    qsort(cs, n, sizeof *cs, cmp_choice);
    out->texts = seize_calloc(n, sizeof *out->texts);
    if (!out->texts) {
        rc = SEIZE_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        out->texts[i] = cs[i].text;
        cs[i].text = NULL;
    }
    out->n_texts = n;
    json_t *usage = json_object_get(root, "usage");
    out->prompt_tokens = usage_int(usage, "prompt_tokens");
    out->completion_tokens = usage_int(usage, "completion_tokens");
done:
    if (cs)
        for (size_t i = 0; i < n; i++)
            free(cs[i].text);
    free(cs);
    json_decref(root);
    return rc;
}

static char *clip_text(const char *s, size_t len)
{
    if (len > 200) len = 200;
    char *o = malloc(len + 1);
    if (!o) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        o[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    o[len] = 0;
    // Do not end in the middle of a UTF-8 sequence.
    size_t k = len;
    while (k > 0 && ((unsigned char)o[k - 1] & 0xC0) == 0x80)
        k--;
    if (k > 0 && ((unsigned char)o[k - 1] & 0x80)) {
        unsigned char lead = (unsigned char)o[k - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (len - (k - 1) < need) o[k - 1] = 0;
    }
    return o;
}

char *seize_chat_error_message(const char *body, size_t len)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *msg = NULL;
    if (root) {
        json_t *err = json_object_get(root, "error");
        if (json_is_string(err))
            msg = json_string_value(err);
        else if (json_is_string(json_object_get(err, "message")))
            msg = json_string_value(json_object_get(err, "message"));
        else if (json_is_string(json_object_get(root, "message")))
            msg = json_string_value(json_object_get(root, "message"));
    }
    char *o = msg ? clip_text(msg, strlen(msg)) : clip_text(body ? body : "", body ? len : 0);
    json_decref(root);
    return o;
}

// --- requests -----------------------------------------------------------------------------

char *seize_chat_request_body(const seize_llm_params *p, const json_t *messages, size_t n,
                              long long seed_offset)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "model", json_string(p->model ? p->model : ""));
    json_object_set(o, "messages", (json_t *)messages);
    if (p->temperature >= 0) json_object_set_new(o, "temperature", json_real(p->temperature));
    if (p->top_p >= 0) json_object_set_new(o, "top_p", json_real(p->top_p));
    if (p->max_tokens > 0) json_object_set_new(o, "max_tokens", json_integer(p->max_tokens));
    if (p->seed >= 0) json_object_set_new(o, "seed", json_integer(p->seed + seed_offset));
    if (n > 1) json_object_set_new(o, "n", json_integer((json_int_t)n));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

int seize_llm_status_retryable(long status)
{
    return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);
}

double seize_llm_backoff(int attempt, double base, double max, double retry_after, double u)
{
    if (attempt < 1) attempt = 1;
    double cap = base * ldexp(1.0, attempt - 1 > 60 ? 60 : attempt - 1);
    if (cap > max) cap = max;
    if (u < 0) u = 0;
    if (u >= 1) u = 0.999999;
    double d = u * cap;
    if (retry_after > 0) {
        double ra = retry_after > 600 ? 600 : retry_after;
        if (d < ra) d = ra;
    }
    return d;
}

void seize_llm_fingerprint(const void *data, size_t len, char out[17])
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull; // FNV-1a 64 offset basis
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[h & 15];
        h >>= 4;
    }
    out[16] = 0;
}

char *seize_base64_encode(const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3) {
        seize_error(SEIZE_ENOMEM, "input too large for base64");
        return NULL;
    }
    size_t olen = (len + 2) / 3 * 4;
    char *o = malloc(olen + 1);
    if (!o) {
        seize_error(SEIZE_ENOMEM, "out of memory");
        return NULL;
    }
    const unsigned char *p = data;
    size_t i = 0, w = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[w++] = tab[v >> 18];
        o[w++] = tab[(v >> 12) & 63];
        o[w++] = tab[(v >> 6) & 63];
        o[w++] = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        o[w++] = tab[v >> 18];
        o[w++] = tab[(v >> 12) & 63];
        o[w++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        o[w++] = '=';
    }
    o[w] = 0;
    return o;
}

// --- summary ------------------------------------------------------------------------------

void seize_llm_stats_print(FILE *fp, const char *label, const seize_llm_stats *st)
{
    if (st->native) { // no server: no retries, errors or prompt tokens to count
        size_t run = st->items_done - st->items_from_journal;
        fprintf(fp,
                "%s: %zu/%zu items complete (%zu from the journal), %zu failed; %zu generate calls "
                "in %.1f s (%.2f s per image); %lld tokens generated\n",
                label, st->items_done, st->items, st->items_from_journal, st->items_failed,
                st->requests, st->seconds, run ? st->seconds / (double)run : 0.0,
                (long long)st->completion_tokens);
        return;
    }
    double rate = st->seconds > 0 ? (double)st->replies_ok / st->seconds : 0;
    fprintf(fp,
            "%s: %zu/%zu items complete (%zu from the journal), %zu failed; %zu requests in "
            "%.1f s (%.1f replies/s)",
            label, st->items_done, st->items, st->items_from_journal, st->items_failed,
            st->requests, st->seconds, rate);
    size_t n_err = 0;
    for (int k = 0; k < SEIZE_LLM_ERR_COUNT; k++)
        n_err += st->errors[k];
    fprintf(fp, "; %zu retries", st->retries);
    if (n_err) {
        fprintf(fp, "; errors:");
        const char *sep = " ";
        for (int k = 0; k < SEIZE_LLM_ERR_COUNT; k++)
            if (st->errors[k]) {
                fprintf(fp, "%s%s %zu", sep, seize_llm_err_name(k), st->errors[k]);
                sep = ", ";
            }
    }
    fprintf(fp, "; tokens: prompt %lld, completion %lld\n", (long long)st->prompt_tokens,
            (long long)st->completion_tokens);
}
