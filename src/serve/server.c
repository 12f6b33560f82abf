// seize serve: the HTTP server (libmicrohttpd, a thread per connection), its gate (n_workers
// requests worked on at once, `queue` more waiting, 503 beyond), the deadline watchdog (504),
// routing, the bearer token, CORS, request bodies (JSON or multipart/form-data) and start/stop.
#include "serve_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

seize_serve_params seize_serve_default_params(void)
{
    seize_serve_params p = {0};
    p.listen = "127.0.0.1:8080";
    return p;
}

// --- responses -------------------------------------------------------------------------------

void srv_add_cors(const seize_server *s, struct MHD_Response *resp)
{
    if (!s->cors) return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->cors);
    MHD_add_response_header(resp, "Vary", "Origin");
}

enum MHD_Result srv_send(srv_req *r, struct MHD_Connection *c, int status,
                         struct MHD_Response *resp)
{
    if (!resp) return MHD_NO;
    srv_add_cors(r->s, resp);
    r->status = status, r->responded = 1;
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result srv_send_json(srv_req *r, struct MHD_Connection *c, int status, json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text) return MHD_NO;
    size_t n = strlen(text);
    text[n] = 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    return srv_send(r, c, status, resp);
}

json_t *srv_error_json(int status, const char *msg)
{
    return json_pack("{s:{s:i,s:s}}", "error", "status", status, "message", msg);
}

enum MHD_Result srv_send_error(srv_req *r, struct MHD_Connection *c, int status, const char *fmt,
                               ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    // the LLM key never leaves the server (the net module redacts its messages already)
    char *red = seize_redact_secrets(msg);
    char *m = red ? red : msg;
    json_t *j = srv_error_json(status, m);
    if (!j) { // not UTF-8 (a client's URL or name in the message): those bytes as '?'
        for (unsigned char *q = (unsigned char *)m; *q; q++)
            if (*q >= 0x80) *q = '?';
        j = srv_error_json(status, m);
    }
    free(red);
    return srv_send_json(r, c, status, j);
}

// --- the gate and the watchdog ---------------------------------------------------------------

static void active_add(seize_server *s, srv_active *a)
{
    a->next = s->active;
    s->active = a;
}

static void active_remove(seize_server *s, srv_active *a)
{
    for (srv_active **p = &s->active; *p; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            break;
        }
}

int srv_gate_enter(seize_server *s, srv_active *act, srv_slot **slot)
{
    srv_gate *g = slot ? &s->workers : &s->searches;
    pthread_mutex_lock(&s->mu);
    if (g->busy >= g->cap) {
        if (s->stopping || g->waiting >= s->p.queue) {
            pthread_mutex_unlock(&s->mu);
            return 503;
        }
        g->waiting++;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); // the condition variable's clock
        double left = act->deadline - srv_now();
        if (left < 0) left = 0;
        ts.tv_sec += (time_t)left;
        ts.tv_nsec += (long)((left - floor(left)) * 1e9);
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        int rc = 0;
        while (g->busy >= g->cap && !s->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        g->waiting--;
        if (s->stopping || g->busy >= g->cap) {
            pthread_mutex_unlock(&s->mu);
            return s->stopping ? 503 : 504;
        }
    }
    if (++g->busy > g->peak) g->peak = g->busy;
    for (int i = 0; slot && i < s->n_slots; i++)
        if (!s->slots[i].busy) {
            s->slots[i].busy = 1;
            *slot = &s->slots[i];
            break;
        }
    active_add(s, act);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void srv_gate_leave(seize_server *s, srv_active *act, srv_slot *slot)
{
    pthread_mutex_lock(&s->mu);
    active_remove(s, act);
    if (slot) slot->busy = 0;
    (slot ? &s->workers : &s->searches)->busy--;
    pthread_cond_broadcast(&s->cv); // (the watchdog sleeps on it too)
    pthread_mutex_unlock(&s->mu);
}

// Cancels the requests past their deadline (their work ends with SEIZE_ECANCEL: 504).
static void *watchdog(void *arg)
{
    seize_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (s->watchdog_on != 2) {
        double now = srv_now();
        for (srv_active *a = s->active; a; a = a->next)
            if (!a->timed_out && now > a->deadline) {
                a->timed_out = 1;
                seize_cancel_abort(&a->cancel, SIGALRM);
            }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *encoding, const char *data, uint64_t off,
                                  size_t size);

// --- routing ---------------------------------------------------------------------------------

static int route_of(const char *url, const char *method, int *allowed_get)
{
    static const struct {
        const char *url;
        int route, get;
    } t[] = {{"/healthz", RT_HEALTHZ, 1},
             {"/metrics", RT_METRICS, 1},
             {"/v1/info", RT_INFO, 1},
             {"/v1/gallery", RT_GALLERY, 1},
             {"/v1/search", RT_SEARCH, 0},
             {"/v1/search/text", RT_SEARCH_TEXT, 0},
             {"/v1/search/image", RT_SEARCH_IMAGE, 0}};
    srv_asset a;
    *allowed_get = 1;
    if (srv_asset_find(url, &a)) return RT_PAGE;
    if (!strncmp(url, "/v1/images/", 11) && url[11]) return RT_IMAGES;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(url, t[i].url)) {
            *allowed_get = t[i].get;
            return t[i].route;
        }
    (void)method;
    return RT_OTHER;
}

// Constant-time comparison of the Authorization header with "Bearer <token>".
static int token_ok(const seize_server *s, struct MHD_Connection *c)
{
    if (!s->token) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    size_t n = strlen(h), m = strlen(s->token);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)(s->token[i] ^ (i < n ? h[i] : 0));
    return diff == 0;
}

static enum MHD_Result send_page(srv_req *r, struct MHD_Connection *c, const char *url)
{
    srv_asset a;
    srv_asset_find(url, &a);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a.len, (void *)a.data, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", a.type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    // the page loads only its own files (and images as blobs): no script injected by a name or
    // a caption could run, no other site may frame it
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    return srv_send(r, c, 200, resp);
}

static enum MHD_Result preflight(srv_req *r, struct MHD_Connection *c)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    return srv_send(r, c, 204, resp);
}

// The first call of a request (headers only): 404, 401, 405, 413 or a preflight answered here;
// MHD_YES to go on reading the body.
static enum MHD_Result first_call(srv_req *r, struct MHD_Connection *c, const char *url,
                                  const char *method)
{
    seize_server *s = r->s;
    int get_only;
    r->route = route_of(url, method, &get_only);
    if (r->route == RT_OTHER) return srv_send_error(r, c, 404, "no such route: %s %s", method, url);
    if (!strcmp(method, "OPTIONS") && s->cors) return preflight(r, c);
    int open = r->route == RT_PAGE || r->route == RT_HEALTHZ;
    if (!open && !token_ok(s, c))
        return srv_send_error(r, c, 401, "missing or wrong bearer token (Authorization: Bearer)");
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (get_only != is_get || (!is_get && strcmp(method, "POST")))
        return srv_send_error(r, c, 405, "%s is not allowed on %s (use %s)", method, url,
                              get_only ? "GET" : "POST");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > s->p.max_upload_bytes)
        return srv_send_error(r, c, 413, "request body of %s bytes is over the limit of %zu", cl,
                              s->p.max_upload_bytes);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!is_get && ct && !strncasecmp(ct, "multipart/form-data", 19)) {
        r->form = json_object();
        r->pp = MHD_create_post_processor(c, 64 * 1024, post_field, r);
        if (!r->pp) return srv_send_error(r, c, 400, "malformed multipart/form-data header");
    }
    return MHD_YES;
}

// Body bytes: into the post processor or the JSON buffer, within max_upload_bytes.
static enum MHD_Result body_data(srv_req *r, struct MHD_Connection *c, const char *data, size_t n)
{
    seize_server *s = r->s;
    if (r->len + n > s->p.max_upload_bytes) r->too_big = 1;
    if (r->too_big) { // the rest is discarded, 413 at its end; past twice the limit: closed
        r->len += n;
        return r->len > 2 * s->p.max_upload_bytes ? MHD_NO : MHD_YES;
    }
    if (r->pp) {
        r->len += n;
        if (!r->bad_form && MHD_post_process(r->pp, data, n) != MHD_YES) r->bad_form = 1;
        return MHD_YES; // a malformed form is answered 400 once read
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) return MHD_NO;
        r->body = b, r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = 0;
    (void)c;
    return MHD_YES;
}

// multipart/form-data fields: the file "image" (bytes) and the others as JSON members
// (numbers for k, num_captions, pos and neg; booleans for stream; strings otherwise).
static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *encoding, const char *data, uint64_t off, size_t size)
{
    srv_req *r = cls;
    if (!key) return MHD_NO; // a part without a name (no Content-Disposition): malformed
    if (!strcmp(key, "image")) {
        uint8_t *b = realloc(r->file, r->file_len + size + 1);
        if (!b) return MHD_NO;
        if (size) memcpy(b + r->file_len, data, size);
        r->file = b, r->file_len += size;
        return MHD_YES;
    }
    json_t *old = json_object_get(r->form, key);
    const char *prev = old ? json_string_value(old) : "";
    size_t n = strlen(prev ? prev : "");
    if (n + size > 256 * 1024) return MHD_NO;
    char *v = malloc(n + size + 1);
    if (!v) return MHD_NO;
    memcpy(v, prev ? prev : "", n);
    if (size) memcpy(v + n, data, size);
    v[n + size] = 0;
    json_object_set_new(r->form, key, json_string(v));
    free(v);
    return MHD_YES;
}

// The form's fields as a request body: typed members, the file as an upload reference.
static json_t *form_body(srv_req *r)
{
    json_t *b = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(r->form, key, v)
    {
        const char *sv = json_string_value(v);
        char *end;
        double d = strtod(sv, &end);
        int num = *sv && !*end && isfinite(d); // else the string: 400 from the field's check
        if (!strcmp(key, "stream"))
            json_object_set_new(b, key, json_boolean(!strcmp(sv, "1") || !strcmp(sv, "true")));
        else if ((!strcmp(key, "k") || !strcmp(key, "num_captions")) && num && d == floor(d) &&
                 fabs(d) < 1e15)
            json_object_set_new(b, key, json_integer((json_int_t)d));
        else if ((!strcmp(key, "pos") || !strcmp(key, "neg")) && num)
            json_object_set_new(b, key, json_real(d));
        else if (!strcmp(key, "name"))
            json_object_set_new(b, "reference", json_pack("{s:s}", "name", sv));
        else
            json_object_set(b, key, v);
    }
    if (r->file) json_object_set_new(b, "reference", json_pack("{s:b}", "upload", 1));
    return b;
}

// The whole request has arrived: parse its body, answer.
static enum MHD_Result handle(srv_req *r, struct MHD_Connection *c, const char *url)
{
    seize_server *s = r->s;
    if (r->too_big)
        return srv_send_error(r, c, 413, "request body over the limit of %zu bytes",
                              s->p.max_upload_bytes);
    if (r->bad_form)
        return srv_send_error(r, c, 400,
                              "malformed multipart/form-data body (or a form field "
                              "over 256 KiB)");
    switch (r->route) {
    case RT_PAGE:
        return send_page(r, c, url);
    case RT_HEALTHZ:
        return srv_send_json(r, c, 200, json_pack("{s:s}", "status", "ok"));
    case RT_METRICS:
        return srv_metrics_page(r, c);
    case RT_INFO:
        return srv_info(r, c);
    case RT_GALLERY:
        return srv_gallery(r, c);
    case RT_IMAGES:
        return srv_image(r, c, url + 11);
    default:
        break;
    }
    json_t *body = NULL;
    if (r->pp) {
        body = form_body(r);
    } else {
        json_error_t err;
        body = json_loadb(r->body ? r->body : "", r->len, 0, &err);
        if (!body)
            return srv_send_error(r, c, 400, "malformed JSON body: %s (line %d, column %d)",
                                  err.text, err.line, err.column);
    }
    if (!json_is_object(body)) {
        json_decref(body);
        return srv_send_error(r, c, 400, "the body must be a JSON object");
    }
    enum MHD_Result rc = r->route == RT_SEARCH_TEXT    ? srv_search_text(r, c, body)
                         : r->route == RT_SEARCH_IMAGE ? srv_search_image(r, c, body)
                                                       : srv_search(r, c, body);
    json_decref(body);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    seize_server *s = cls;
    srv_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->s = s, r->t0 = srv_now(), r->route = RT_OTHER;
        *con_cls = r;
        pthread_mutex_lock(&s->mu);
        s->inflight++;
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        // a kept-alive connection's next request while stopping: refused, or a busy client
        // would hold the drain until its deadline
        if (stopping) return srv_send_error(r, c, 503, "the server is stopping");
        return first_call(r, c, url, method);
    }
    if (r->responded) { // answered at the first call: the body is not read
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        enum MHD_Result rc = body_data(r, c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc;
    }
    return handle(r, c, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    seize_server *s = cls;
    srv_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    srv_metrics_request(&s->m, r->route, r->status ? r->status : 499, srv_now() - r->t0);
    if (r->pp) MHD_destroy_post_processor(r->pp);
    json_decref(r->form);
    free(r->file);
    free(r->body);
    free(r);
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

// --- start and stop --------------------------------------------------------------------------

// Binds and listens on "HOST:PORT" ("[::1]:0" for IPv6): the socket, or -1 (*v6 set).
static int listen_on(const char *listen_addr, int *v6)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || colon == listen_addr || (size_t)(colon - listen_addr) >= sizeof host)
        return seize_error(SEIZE_EINVAL, "listen: '%s' is not HOST:PORT", listen_addr);
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = 0;
    long port;
    if (seize_parse_long(colon + 1, 0, 65535, &port) < 0) // getaddrinfo takes 99999 mod 65536
        return seize_error(SEIZE_EINVAL, "listen: bad port in '%s' (0 to 65535)", listen_addr);
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') h[strlen(h) - 1] = 0, h++;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC, hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int g = getaddrinfo(h, colon + 1, &hints, &ai);
    if (g != 0)
        return seize_error(SEIZE_EINVAL, "listen: cannot resolve '%s': %s", listen_addr,
                           gai_strerror(g));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    *v6 = ai->ai_family == AF_INET6;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return seize_error(SEIZE_EIO, "cannot listen on %s: %s", listen_addr, strerror(e));
    }
    freeaddrinfo(ai);
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t n = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &n) < 0) return -1;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void apply_defaults(seize_serve_params *p)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    if (!p->listen) p->listen = "127.0.0.1:8080";
    if (p->n_threads <= 0) p->n_threads = (int)cores;
    if (p->n_workers <= 0) p->n_workers = 2 * (int)cores < 4 ? 4 : 2 * (int)cores;
    if (p->queue <= 0) p->queue = 64;
    if (!p->max_upload_bytes) p->max_upload_bytes = (size_t)20 << 20;
    if (!p->max_pixels) p->max_pixels = 40000000;
    if (p->request_timeout_s <= 0) p->request_timeout_s = 120;
    if (p->batch_window_ms <= 0) p->batch_window_ms = 2;
    if (p->max_batch <= 0) p->max_batch = 32;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

// An LLM client's parameters with its strings copied (into s->strs[at..at+2]).
static void copy_llm(seize_server *s, const seize_llm_params *in, seize_llm_params *out, int at)
{
    *out = *in;
    out->endpoint = s->strs[at] = dup_or_null(in->endpoint);
    out->model = s->strs[at + 1] = dup_or_null(in->model);
    out->api_key = s->strs[at + 2] = dup_or_null(in->api_key);
    out->settings = NULL, out->cancel = NULL;
}

// Uploads are files of their requests only (compose.c): those a killed server left go.
static void clear_uploads(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

static int make_dirs(seize_server *s)
{
    if (!s->cache_dir) {
        char tmpl[] = "/tmp/seize-serve-XXXXXX";
        if (!mkdtemp(tmpl))
            return seize_error(SEIZE_EIO, "cannot make a cache folder in /tmp: %s",
                               strerror(errno));
        s->cache_dir = strdup(tmpl);
        s->own_cache_dir = 1;
    } else if (mkdir(s->cache_dir, 0700) < 0 && errno != EEXIST) {
        return seize_error(SEIZE_EIO, "cannot make the cache folder '%s': %s", s->cache_dir,
                           strerror(errno));
    }
    char sub[4200];
    for (int i = 0; i < 2; i++) {
        snprintf(sub, sizeof sub, "%s/%s", s->cache_dir, i ? "thumbs" : "uploads");
        if (mkdir(sub, 0700) < 0 && errno != EEXIST)
            return seize_error(SEIZE_EIO, "cannot make '%s': %s", sub, strerror(errno));
        if (i == 0) clear_uploads(sub);
    }
    return 0;
}

// Per worker: an engine state, and a captioner and a reasoner when configured.
static int make_slots(seize_server *s)
{
    s->n_slots = s->workers.cap = s->p.n_workers;
    s->searches.cap = 4 * s->p.max_batch;
    s->decodes.cap = s->p.n_threads < 4 ? s->p.n_threads : 4;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    if (!s->slots) return seize_error(SEIZE_ENOMEM, "out of memory");
    seize_engine_state_params sp = seize_engine_state_default_params();
    sp.precision = s->p.precision;
    seize_captioner_openai_opts co = {0};
    seize_reasoner_openai_opts ro = {0};
    for (int i = 0; i < s->n_slots; i++) {
        srv_slot *w = &s->slots[i];
        int rc = seize_engine_state_new(s->e, &sp, &w->st);
        if (rc == 0 && s->native) w->cap = s->native;
        if (rc == 0 && s->has_cap && !s->native)
            rc = seize_captioner_openai_new(&s->cap_p, &co, &w->cap);
        if (rc == 0 && s->has_llm) rc = seize_reasoner_openai_new(&s->llm_p, &ro, &w->rsn);
        if (rc < 0) return rc;
    }
    if (s->has_cap) seize_captioner_settings(s->slots[0].cap, NULL, s->cap_hash);
    if (s->has_llm) seize_reasoner_settings(s->slots[0].rsn, NULL, s->rsn_hash);
    return 0;
}

// The native captioner (SEIZE's settings, the server's threads), shared by the slots.
static int open_native(seize_server *s, const char *dir)
{
    seize_captioner_blip2_opts o = seize_captioner_blip2_default_opts();
    o.model_dir = dir, o.threads = s->p.n_threads, o.command = "serve";
    json_t *set = NULL;
    int rc = seize_captioner_blip2_new(&o, &s->native);
    if (rc == 0) rc = seize_captioner_settings(s->native, &set, NULL);
    // its name as the settings give it ("DIR/" and "a/DIR" are "DIR")
    const char *name = json_string_value(json_object_get(json_object_get(set, "model"), "name"));
    if (rc == 0 && !(s->cap_name = strdup(name ? name : dir)))
        rc = seize_error(SEIZE_ENOMEM, "out of memory");
    json_decref(set);
    s->has_cap = rc == 0;
    return rc;
}

static int start_daemon(seize_server *s)
{
    int v6 = 0, fd = listen_on(s->p.listen, &v6);
    if (fd < 0) return fd;
    s->port = port_of(fd);
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | (v6 ? MHD_USE_IPv6 : 0);
    unsigned idle = (unsigned)s->p.request_timeout_s + 60;
    s->d =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)(s->p.n_workers + s->p.queue + 64),
                         MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, s, MHD_OPTION_END);
    if (!s->d) {
        close(fd);
        return seize_error(SEIZE_EIO, "cannot serve on %s (libmicrohttpd failed to start)",
                           s->p.listen);
    }
    return 0;
}

static int start(seize_server *s, const seize_serve_params *in)
{
    s->p = *in;
    apply_defaults(&s->p);
    if (!in->index_dir || !in->model_dir)
        return seize_error(SEIZE_EINVAL, "serve: %s is required",
                           in->index_dir ? "model_dir" : "index_dir");
    s->index_dir = strdup(in->index_dir), s->model_dir = strdup(in->model_dir);
    s->gallery_dir = dup_or_null(in->gallery_dir), s->token = dup_or_null(in->token);
    s->cors = dup_or_null(in->cors_origin), s->cache_dir = dup_or_null(in->cache_dir);
    if (s->token && !*s->token) return seize_error(SEIZE_EINVAL, "serve: the token is empty");
    if (in->captioner && in->captioner_dir)
        return seize_error(SEIZE_EINVAL, "serve: give a captioner server or a captioner folder, "
                                         "not both");
    if ((s->has_cap = in->captioner != NULL)) copy_llm(s, in->captioner, &s->cap_p, 0);
    if ((s->has_llm = in->llm != NULL)) copy_llm(s, in->llm, &s->llm_p, 3);
    // BLAS on one thread per call: the engine states and the batcher have their own pools
    // (the server's work is many small calls at once, not one big product)
    seize_blas_threads_set(1);
    int rc = make_dirs(s);
    if (rc == 0) rc = seize_engine_open(s->model_dir, s->index_dir, s->gallery_dir, &s->e);
    if (rc < 0) return rc;
    s->idx = seize_engine_index(s->e);
    seize_batcher_params bp = seize_batcher_default_params();
    bp.max_batch = s->p.max_batch, bp.window_ms = s->p.batch_window_ms;
    bp.n_threads = s->p.n_threads, bp.precision = s->p.precision;
    if ((rc = seize_batcher_new(s->e, &bp, &s->b)) < 0) return rc;
    if (in->captioner_dir && (rc = open_native(s, in->captioner_dir)) < 0) return rc;
    if ((rc = make_slots(s)) < 0) return rc;
    char cache_file[4200];
    snprintf(cache_file, sizeof cache_file, "%s/llm-cache.jsonl", s->cache_dir);
    if ((rc = srv_cache_new(SRV_CACHE_ENTRIES, cache_file, &s->cache)) < 0) return rc;
    s->watchdog_on = 1;
    if (pthread_create(&s->watchdog, NULL, watchdog, s) != 0) {
        s->watchdog_on = 0;
        return seize_error(SEIZE_ENOMEM, "serve: cannot start a thread");
    }
    return start_daemon(s);
}

int seize_server_start(const seize_serve_params *p, seize_server **out)
{
    *out = NULL;
    seize_server *s = calloc(1, sizeof *s);
    if (!s) return seize_error(SEIZE_ENOMEM, "out of memory");
    srv_metrics_init(&s->m);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = start(s, p);
    if (rc < 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", seize_errmsg());
        seize_server_stop(s);
        return seize_error(rc, "%s", msg);
    }
    *out = s;
    return 0;
}

int seize_server_port(const seize_server *s)
{
    return s ? s->port : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) < 0 ? 0 : 0;
}

// No new connections; the requests in flight finish (those waiting for a worker get 503), up
// to request_timeout_s and a little more (the watchdog ends their work by then).
static void drain(seize_server *s)
{
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    double until = srv_now() + s->p.request_timeout_s + 5;
    while (s->inflight > 0 && srv_now() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(s->d); // closes the idle connections, joins their threads
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void seize_server_stop(seize_server *s)
{
    if (!s) return;
    if (s->d) drain(s);
    if (s->watchdog_on) {
        pthread_mutex_lock(&s->mu);
        s->watchdog_on = 2;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->watchdog, NULL);
    }
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        seize_engine_state_free(s->slots[i].st);
        if (s->slots[i].cap != s->native) seize_captioner_free(s->slots[i].cap);
        seize_reasoner_free(s->slots[i].rsn);
    }
    free(s->slots);
    seize_captioner_free(s->native);
    free(s->cap_name);
    seize_batcher_free(s->b);
    seize_engine_free(s->e);
    srv_cache_free(s->cache);
    if (s->own_cache_dir && s->cache_dir) nftw(s->cache_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(s->index_dir), free(s->model_dir), free(s->gallery_dir), free(s->token), free(s->cors);
    free(s->cache_dir);
    for (int i = 0; i < 8; i++)
        free(s->strs[i]);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    srv_metrics_destroy(&s->m);
    free(s);
}

void srv_decode_enter(seize_server *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->decodes.busy >= s->decodes.cap)
        pthread_cond_wait(&s->cv, &s->mu);
    if (++s->decodes.busy > s->decodes.peak) s->decodes.peak = s->decodes.busy;
    pthread_mutex_unlock(&s->mu);
}

void srv_decode_leave(seize_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->decodes.busy--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
