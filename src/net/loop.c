// The event loop (see net.h): epoll over libcurl's sockets (multi_socket interface), one-shot
// timers, an eventfd for wake-ups from other threads, and asynchronous chat calls on top.
#include "seize/net.h"

#include "net_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_REPLY_BYTES ((size_t)16 << 20)

typedef struct timer {
    double due;
    long id;
    seize_loop_timer_fn fn;
    void *ctx;
} timer;

struct seize_chat_call {
    seize_loop *l;
    CURL *h;
    struct curl_slist *headers;
    seize_buf resp;
    int too_big;
    seize_chat_done_fn done;
    void *ctx;
    seize_chat_call *prev, *next; // the loop's calls in flight
};

struct seize_loop {
    int ep;   // epoll set of curl's sockets and evfd
    int evfd; // seize_loop_wake
    CURLM *multi;
    double curl_due; // when curl wants its timeout action (-1: none)
    timer *timers;
    size_t n_timers, cap_timers;
    long next_id;
    seize_chat_call *calls;
    size_t n_calls;
};

// --- setup ---------------------------------------------------------------------------------

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int net_curl_init(void)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return seize_error(SEIZE_ENET, "cannot initialise libcurl: %s",
                           curl_easy_strerror(curl_init_rc));
    return 0;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)e;
    (void)socketp;
    seize_loop *l = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.fd = fd;
    if (what & CURL_POLL_IN) ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
    if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
        epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    seize_loop *l = userp;
    l->curl_due = timeout_ms < 0 ? -1 : seize_now() + (double)timeout_ms / 1000;
    return 0;
}

int seize_loop_new(seize_loop **out)
{
    *out = NULL;
    int rc = net_curl_init();
    if (rc < 0) return rc;
    seize_loop *l = seize_calloc(1, sizeof *l);
    if (!l) return SEIZE_ENOMEM;
    l->curl_due = -1;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->multi = curl_multi_init();
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = l->evfd;
    if (l->ep < 0 || l->evfd < 0 || !l->multi ||
        epoll_ctl(l->ep, EPOLL_CTL_ADD, l->evfd, &ev) < 0) {
        rc = seize_error(SEIZE_ENET, "cannot set up the event loop: %s",
                         l->multi ? strerror(errno) : "curl_multi_init failed");
        seize_loop_free(l);
        return rc;
    }
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
    *out = l;
    return 0;
}

void seize_loop_free(seize_loop *l)
{
    if (!l) return;
    while (l->calls)
        seize_chat_cancel(l->calls);
    if (l->multi) curl_multi_cleanup(l->multi);
    if (l->ep >= 0) close(l->ep);
    if (l->evfd >= 0) close(l->evfd);
    free(l->timers);
    free(l);
}

void seize_loop_wake(seize_loop *l)
{
    uint64_t one = 1;
    if (write(l->evfd, &one, sizeof one) < 0) { /* already signalled (counter full): fine */
    }
}

size_t seize_loop_pending(const seize_loop *l)
{
    return l->n_calls + l->n_timers;
}

// --- timers ----------------------------------------------------------------------------------

long seize_loop_timer_add(seize_loop *l, double due, seize_loop_timer_fn fn, void *ctx)
{
    if (l->n_timers == l->cap_timers) {
        size_t cap = l->cap_timers ? l->cap_timers * 2 : 16;
        timer *t = seize_realloc(l->timers, cap, sizeof *t);
        if (!t) return SEIZE_ENOMEM;
        l->timers = t;
        l->cap_timers = cap;
    }
    long id = ++l->next_id;
    l->timers[l->n_timers++] = (timer){due, id, fn, ctx};
    return id;
}

void seize_loop_timer_cancel(seize_loop *l, long id)
{
    for (size_t k = 0; k < l->n_timers; k++)
        if (l->timers[k].id == id) {
            l->timers[k] = l->timers[--l->n_timers];
            return;
        }
}

// Fires the timers that are due (in due order; a callback may add or cancel timers).
static void run_timers(seize_loop *l)
{
    for (;;) {
        double now = seize_now();
        size_t best = l->n_timers;
        for (size_t k = 0; k < l->n_timers; k++)
            if (l->timers[k].due <= now &&
                (best == l->n_timers || l->timers[k].due < l->timers[best].due))
                best = k;
        if (best == l->n_timers) return;
        timer t = l->timers[best];
        l->timers[best] = l->timers[--l->n_timers];
        t.fn(t.ctx);
    }
}

// --- running ---------------------------------------------------------------------------------

static void call_done(seize_chat_call *c, CURLcode res);

// Seconds until the loop has something to do (curl's timer or a timer), capped at max_wait.
static double wait_time(const seize_loop *l, double max_wait)
{
    double wait = max_wait, now = seize_now();
    if (l->curl_due >= 0 && l->curl_due - now < wait) wait = l->curl_due - now;
    for (size_t k = 0; k < l->n_timers; k++)
        if (l->timers[k].due - now < wait) wait = l->timers[k].due - now;
    return wait;
}

int seize_loop_run_once(seize_loop *l, double max_wait)
{
    double wait = wait_time(l, max_wait);
    struct epoll_event evs[128];
    int n_ev = epoll_wait(l->ep, evs, 128, wait <= 0 ? 0 : (int)ceil(wait * 1000));
    if (n_ev < 0 && errno != EINTR)
        return seize_error(SEIZE_ENET, "epoll_wait: %s", strerror(errno));
    int running = 0;
    for (int k = 0; k < n_ev; k++) {
        if (evs[k].data.fd == l->evfd) {
            uint64_t v;
            if (read(l->evfd, &v, sizeof v) < 0) { /* nothing to read: fine */
            }
            continue;
        }
        int flags = 0;
        if (evs[k].events & EPOLLIN) flags |= CURL_CSELECT_IN;
        if (evs[k].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
        if (evs[k].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(l->multi, evs[k].data.fd, flags, &running);
    }
    if (l->curl_due >= 0 && seize_now() >= l->curl_due) {
        l->curl_due = -1; // the action may set a new one
        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(l->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        seize_chat_call *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        call_done(c, m->data.result);
    }
    run_timers(l);
    return 0;
}

// --- asynchronous chat calls -------------------------------------------------------------------

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    seize_chat_call *c = ud;
    size_t n = size * nmemb;
    if (c->resp.len + n > MAX_REPLY_BYTES) {
        c->too_big = 1;
        return 0;
    }
    return seize_buf_append(&c->resp, data, n) < 0 ? 0 : n;
}

static void unlink_call(seize_chat_call *c)
{
    seize_loop *l = c->l;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    l->n_calls--;
}

static void call_free(seize_chat_call *c)
{
    for (struct curl_slist *s = c->headers; s; s = s->next) // the Authorization header
        memset(s->data, 0, strlen(s->data));
    curl_slist_free_all(c->headers);
    if (c->h) curl_easy_cleanup(c->h);
    seize_buf_free(&c->resp);
    free(c);
}

static struct curl_slist *headers_for(const char *api_key)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *n;
    if (h && (n = curl_slist_append(h, "Accept: application/json"))) h = n;
    if (h && (n = curl_slist_append(h, "Expect:"))) h = n;
    if (h && api_key && *api_key) {
        seize_buf auth = {0};
        if (seize_buf_printf(&auth, "Authorization: Bearer %s", api_key) == 0 &&
            (n = curl_slist_append(h, auth.data)))
            h = n;
        if (auth.data) memset(auth.data, 0, auth.len);
        seize_buf_free(&auth);
    }
    return h;
}

int seize_chat_async(seize_loop *l, const seize_chat_request *req, seize_chat_done_fn done,
                     void *ctx, seize_chat_call **out)
{
    if (out) *out = NULL;
    seize_chat_call *c = seize_calloc(1, sizeof *c);
    if (!c) return SEIZE_ENOMEM;
    c->l = l;
    c->done = done;
    c->ctx = ctx;
    c->h = curl_easy_init();
    c->headers = headers_for(req->api_key);
    if (!c->h || !c->headers) {
        call_free(c);
        return seize_error(SEIZE_ENOMEM, "cannot set up a request");
    }
    CURL *h = c->h;
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, req->body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(req->timeout * 1000 + 0.5));
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "seize/" SEIZE_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLMcode mc = curl_multi_add_handle(l->multi, h);
    if (mc != CURLM_OK) {
        call_free(c);
        return seize_error(SEIZE_ENET, "cannot start a request: %s", curl_multi_strerror(mc));
    }
    c->next = l->calls;
    if (l->calls) l->calls->prev = c;
    l->calls = c;
    l->n_calls++;
    if (out) *out = c;
    return 0;
}

void seize_chat_cancel(seize_chat_call *c)
{
    if (!c) return;
    curl_multi_remove_handle(c->l->multi, c->h);
    unlink_call(c);
    call_free(c);
}

// How a transfer ended, as the caller sees it.
static void classify(seize_chat_call *c, CURLcode res, seize_chat_result *r)
{
    memset(r, 0, sizeof *r);
    r->error = "";
    r->body = c->resp.data ? c->resp.data : "";
    r->len = c->resp.len;
    if (res == CURLE_OK) {
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &r->status);
        curl_off_t ra = -1;
        curl_easy_getinfo(c->h, CURLINFO_RETRY_AFTER, &ra);
        r->retry_after = ra > 0 ? (double)ra : 0;
        return;
    }
    r->error = curl_easy_strerror(res);
    if (c->too_big) {
        r->transport = SEIZE_CHAT_ETOOBIG;
        r->error = "reply larger than 16 MiB";
    } else if (res == CURLE_UNSUPPORTED_PROTOCOL || res == CURLE_URL_MALFORMAT ||
               res == CURLE_NOT_BUILT_IN) {
        r->transport = SEIZE_CHAT_EURL;
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        r->transport = SEIZE_CHAT_ETIMEOUT;
    } else if (res == CURLE_PARTIAL_FILE || res == CURLE_BAD_CONTENT_ENCODING) {
        r->transport = SEIZE_CHAT_ETRUNCATED;
    } else {
        r->transport = SEIZE_CHAT_ECONNECT;
    }
}

static void call_done(seize_chat_call *c, CURLcode res)
{
    curl_multi_remove_handle(c->l->multi, c->h);
    unlink_call(c);
    seize_chat_result r;
    classify(c, res, &r);
    c->done(c->ctx, &r);
    call_free(c);
}
