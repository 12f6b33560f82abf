// seize serve's composed search (POST /v1/search): the reference's captions, their edits by the
// relative text (through the cache, cache.c), the query vectors and the ranking, on a worker's
// engine state (seize_engine_query_state); as one JSON reply, or with "stream": true as
// NDJSON lines ({"stage", "done", "total"}, then {"result"} or {"error"}) from a thread of its
// own while the connection's thread hands the lines to the client.
#include "serve_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const stages[4] = {"caption", "edit", "encode", "search"};

typedef struct cjob {
    seize_server *s;
    srv_slot *slot;
    srv_active act;
    char *reference;  // what seize_engine_query_state takes: a gallery name or the upload's path
    int upload;       // reference is this job's own copy of the upload: removed with the job
    const char *name; // gallery name (borrowed from the index), or NULL
    char sha[65];
    char *text;
    seize_query_options o;
    const char *method;
    double pos, neg, t0, t_stage[4];
    // the reply: status and JSON (a result or an error object)
    int status;
    json_t *reply;
    // streaming
    int stream, finished;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *out;
    size_t out_len, out_cap, out_off;
    pthread_t th;
} cjob;

static void push_line(cjob *j, json_t *line)
{
    char *t = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!t) return;
    size_t n = strlen(t);
    pthread_mutex_lock(&j->mu);
    if (j->out_len + n + 1 > j->out_cap) {
        size_t cap = (j->out_cap ? j->out_cap * 2 : 4096) + n + 1;
        char *o = realloc(j->out, cap);
        if (o) j->out = o, j->out_cap = cap;
    }
    if (j->out_len + n + 1 <= j->out_cap) {
        memcpy(j->out + j->out_len, t, n);
        j->out[j->out_len + n] = '\n';
        j->out_len += n + 1;
    }
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    free(t);
}

static void on_stage(void *user, const char *stage, size_t done, size_t total)
{
    cjob *j = user;
    for (int i = 0; i < 4; i++)
        if (!strcmp(stage, stages[i]) && j->t_stage[i] == 0) j->t_stage[i] = srv_now();
    if (j->stream)
        push_line(j, json_pack("{s:s,s:I,s:I}", "stage", stage, "done", (json_int_t)done, "total",
                               (json_int_t)total));
}

static json_t *strings_json(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, v[i] ? json_string(v[i]) : json_null());
    return a;
}

static json_t *timing_json(const cjob *j, double t_end)
{
    double ms[4];
    for (int i = 0; i < 4; i++) {
        double end = t_end;
        for (int k = i + 1; k < 4; k++)
            if (j->t_stage[k] > 0) {
                end = j->t_stage[k];
                break;
            }
        ms[i] = j->t_stage[i] > 0 ? (end - j->t_stage[i]) * 1e3 : 0;
    }
    return json_pack("{s:f,s:f,s:f,s:f,s:f}", "caption_ms", ms[0], "edit_ms", ms[1], "encode_ms",
                     ms[2], "search_ms", ms[3], "total_ms", (t_end - j->t0) * 1e3);
}

static json_t *result_json(const cjob *j, const seize_query_result *res, int cached)
{
    json_t *hits = json_array();
    for (size_t i = 0; i < res->n_hits; i++) {
        const seize_query_hit *h = &res->hits[i];
        json_array_append_new(
            hits, json_pack("{s:I,s:s,s:I,s:f,s:f,s:f,s:f}", "rank", (json_int_t)(i + 1), "name",
                            h->name, "row", (json_int_t)h->row, "score", (double)h->score, "a",
                            (double)h->a, "b", (double)h->b, "increment", (double)h->increment));
    }
    return json_pack("{s:{s:s?,s:s},s:o,s:o,s:b,s:s,s:f,s:f,s:o,s:o}", "reference", "name", j->name,
                     "sha256", j->sha, "captions", strings_json(res->captions, res->n_captions),
                     "edits", strings_json(res->edits, res->n_edits), "cached", cached, "method",
                     j->method, "pos", j->pos, "neg", j->neg, "results", hits, "timing",
                     timing_json(j, srv_now()));
}

static int status_of(int rc)
{
    switch (rc) {
    case SEIZE_ENET:
        return 502;
    case SEIZE_EINVAL:
    case SEIZE_EFORMAT:
        return 400;
    case SEIZE_ENOTFOUND:
        return 404;
    case SEIZE_ECANCEL:
        return 503;
    default:
        return 500;
    }
}

// Runs the query on the job's worker, then gives the worker back; j->status and j->reply.
static void run(cjob *j)
{
    seize_server *s = j->s;
    srv_llm_wrap w = {s->cache,    j->slot->cap, j->slot->rsn, j->sha,
                      s->cap_hash, s->rsn_hash,  &s->m};
    srv_llm_wrap_init(&w);
    j->o.captioner = &w.wcap, j->o.reasoner = &w.wrsn;
    j->o.cancel = &j->act.cancel;
    j->o.on_stage = on_stage, j->o.stage_user = j;
    seize_query_result res = {0};
    int rc = seize_engine_query_state(j->slot->st, j->reference, j->text, &j->o, &res);
    srv_gate_leave(s, &j->act, j->slot);
    char msg[1200];
    if (j->act.timed_out) {
        j->status = 504;
        snprintf(msg, sizeof msg, "the search took over %g s", s->p.request_timeout_s);
    } else if (rc < 0) {
        j->status = status_of(rc);
        snprintf(msg, sizeof msg, "%s", seize_errmsg());
    } else {
        j->status = 200;
        j->reply = result_json(j, &res, !w.asked);
    }
    if (j->status != 200) {
        char *red = seize_redact_secrets(msg);
        j->reply = srv_error_json(j->status, red ? red : msg);
        free(red);
    }
    seize_query_result_release(&res);
}

static void cjob_free(cjob *j)
{
    if (!j) return;
    json_decref(j->reply);
    if (j->upload) unlink(j->reference);
    free(j->reference);
    free(j->text);
    free(j->out);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

// --- streaming -------------------------------------------------------------------------------

static void *stream_thread(void *arg)
{
    cjob *j = arg;
    run(j);
    push_line(j, json_pack("{s:O}", j->status == 200 ? "result" : "error",
                           j->status == 200 ? j->reply : json_object_get(j->reply, "error")));
    pthread_mutex_lock(&j->mu);
    j->finished = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    cjob *j = cls;
    pthread_mutex_lock(&j->mu);
    while (j->out_off == j->out_len && !j->finished)
        pthread_cond_wait(&j->cv, &j->mu);
    size_t n = j->out_len - j->out_off;
    if (n > max) n = max;
    memcpy(buf, j->out + j->out_off, n);
    j->out_off += n;
    pthread_mutex_unlock(&j->mu);
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

// The response is done (or the client left): stop the work, wait for its thread, free.
static void stream_free(void *cls)
{
    cjob *j = cls;
    seize_cancel_abort(&j->act.cancel, SIGPIPE);
    pthread_join(j->th, NULL);
    cjob_free(j);
}

static enum MHD_Result start_stream(srv_req *r, struct MHD_Connection *c, cjob *j)
{
    j->stream = 1;
    if (pthread_create(&j->th, NULL, stream_thread, j) != 0) {
        srv_gate_leave(r->s, &j->act, j->slot);
        cjob_free(j);
        return srv_send_error(r, c, 500, "cannot start a thread");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, j, stream_free);
    if (!resp) {
        stream_free(j);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    return srv_send(r, c, 200, resp);
}

// --- the request -----------------------------------------------------------------------------

__attribute__((format(printf, 4, 5))) static int say(char *msg, size_t cap, int status,
                                                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return status;
}

// The options of the body into j: 0, or -1 with msg set.
static int parse_options(json_t *body, cjob *j, char *msg, size_t cap)
{
    const char *text, *method;
    long k, ncap;
    json_t *st = json_object_get(body, "stream");
    if (json_object_get(body, "text") == NULL) {
        snprintf(msg, cap, "missing 'text' (the change to make to the reference)");
        return -1;
    }
    if (srv_get_text(body, "text", 1, &text, msg, cap) < 0 ||
        srv_get_text(body, "method", 0, &method, msg, cap) < 0 ||
        srv_get_int(body, "k", 1, SRV_MAX_K, 50, &k, msg, cap) < 0 ||
        srv_get_int(body, "num_captions", 1, SRV_MAX_CAPTIONS, 15, &ncap, msg, cap) < 0)
        return -1;
    seize_method m = SEIZE_METHOD_SEIZE;
    if (method && seize_method_parse(method, &m) < 0) {
        snprintf(msg, cap, "'method' must be \"seize\", \"mean\" or \"ldre\"");
        return -1;
    }
    seize_search_weights w = seize_search_weights_for(SEIZE_DS_CIRCO);
    j->pos = w.pos, j->neg = w.neg;
    const char *keys[2] = {"pos", "neg"};
    double *dst[2] = {&j->pos, &j->neg};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            snprintf(msg, cap, "'%s' must be a number", keys[i]);
            return -1;
        }
        *dst[i] = json_number_value(v);
    }
    if (st && !json_is_boolean(st)) {
        snprintf(msg, cap, "'stream' must be true or false");
        return -1;
    }
    j->stream = json_is_true(st);
    j->method = m == SEIZE_METHOD_MEAN ? "mean" : m == SEIZE_METHOD_LDRE ? "ldre" : "seize";
    j->o = seize_query_default_options();
    j->o.method = (int)m, j->o.k = (size_t)k, j->o.n_captions = (size_t)ncap;
    j->o.pos = j->pos, j->o.neg = j->neg, j->o.precision = j->s->p.precision;
    if (!(j->text = strdup(text))) return say(msg, cap, -1, "out of memory");
    return 0;
}

// The reference for the engine: a gallery name (its file's sha256), or the upload written to a
// file of this job's own in the cache folder (the captioner reads files; cjob_free removes it,
// so uploads take no disk space past their request): 0 or an HTTP status.
static int place_reference(cjob *j, srv_ref *ref, char *msg, size_t cap)
{
    seize_server *s = j->s;
    if (ref->name) {
        if (!s->gallery_dir)
            return say(msg, cap, 400,
                       "composed search of a gallery image needs the server's "
                       "gallery folder (--gallery)");
        char path[8192];
        uint8_t d[32];
        snprintf(path, sizeof path, "%s/%s", s->gallery_dir, ref->name);
        if (seize_sha256_file(path, d) < 0)
            return say(msg, cap, 404, "the image file of '%s' cannot be read", ref->name);
        seize_sha256_hex(d, j->sha);
        j->name = ref->name;
        j->reference = strdup(ref->name);
        return j->reference ? 0 : say(msg, cap, 500, "out of memory");
    }
    memcpy(j->sha, ref->sha, sizeof j->sha);
    size_t n = strlen(s->cache_dir) + 100;
    if (!(j->reference = malloc(n))) return say(msg, cap, 500, "out of memory");
    snprintf(j->reference, n, "%s/uploads/%s-XXXXXX.%s", s->cache_dir, ref->sha,
             strcmp(ref->format, "PNG") ? "jpg" : "png");
    int fd = mkstemps(j->reference, 4);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int e = errno;
    if (fd >= 0 && !fp) close(fd);
    j->upload = fd >= 0;
    int ok = fp && fwrite(ref->bytes, 1, ref->len, fp) == ref->len;
    if (!ok) e = errno;
    if (fp && fclose(fp) != 0 && ok) ok = 0, e = errno;
    return ok ? 0 : say(msg, cap, 500, "cannot store the upload: %s", strerror(e));
}

static cjob *cjob_new(seize_server *s)
{
    cjob *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->s = s;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    return j;
}

enum MHD_Result srv_search(srv_req *r, struct MHD_Connection *c, json_t *body)
{
    seize_server *s = r->s;
    char msg[1200];
    cjob *j = cjob_new(s);
    if (!j) return srv_send_error(r, c, 500, "out of memory");
    j->t0 = r->t0;
    srv_ref ref = {0};
    int st = parse_options(body, j, msg, sizeof msg) < 0 ? 400 : 0;
    if (!st && (!s->has_cap || !s->has_llm))
        st = 501, snprintf(msg, sizeof msg,
                           "composed search needs a captioner and an LLM "
                           "(--captioner-model, --llm-model)");
    if (!st) st = srv_ref_get(r, body, &ref, msg, sizeof msg);
    srv_ref_drop_pixels(&ref); // decoded only to check it: the captioner reads the file
    if (!st) st = place_reference(j, &ref, msg, sizeof msg);
    srv_ref_release(&ref);
    if (st) {
        cjob_free(j);
        return srv_send_error(r, c, st, "%s", msg);
    }
    j->act.deadline = r->t0 + s->p.request_timeout_s;
    st = srv_gate_enter(s, &j->act, &j->slot);
    if (st) {
        cjob_free(j);
        return srv_send_error(r, c, st,
                              st == 503 ? "the server is busy: try again shortly"
                                        : "no worker became free in time");
    }
    if (j->stream) return start_stream(r, c, j);
    run(j);
    int status = j->status;
    json_t *reply = json_incref(j->reply);
    cjob_free(j);
    return srv_send_json(r, c, status, reply);
}
