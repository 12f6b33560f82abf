// seize serve's counters and /metrics in Prometheus' text format (version 0.0.4).
#include "serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const srv_route_names[RT_COUNT] = {"page",         "healthz", "metrics", "info",
                                               "gallery",      "images",  "search",  "search_text",
                                               "search_image", "other"};

static const double buckets[SRV_N_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,  0.5,    1,     2.5,  5,     10};

void srv_metrics_init(srv_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void srv_metrics_destroy(srv_metrics *m)
{
    pthread_mutex_destroy(&m->mu);
}

void srv_metrics_request(srv_metrics *m, int route, int status, double seconds)
{
    if (route < 0 || route >= RT_COUNT) route = RT_OTHER;
    pthread_mutex_lock(&m->mu);
    srv_route_stats *r = &m->rt[route];
    for (int i = 0; i < SRV_N_STATUS; i++)
        if (r->status[i] == status || !r->status[i]) {
            r->status[i] = status;
            r->count[i]++;
            break;
        }
    int b = 0;
    while (b < SRV_N_BUCKETS - 1 && seconds > buckets[b])
        b++;
    r->hist[b]++;
    r->n++;
    r->sum += seconds;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_cache(srv_metrics *m, size_t hits, size_t misses)
{
    pthread_mutex_lock(&m->mu);
    m->cache_hits += hits, m->cache_misses += misses;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_llm(srv_metrics *m, int stage, size_t requests, size_t failures)
{
    pthread_mutex_lock(&m->mu);
    m->llm_requests[stage] += requests, m->llm_failures[stage] += failures;
    pthread_mutex_unlock(&m->mu);
}

// --- the text --------------------------------------------------------------------------------

typedef struct text {
    char *s;
    size_t len, cap;
    int oom;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0 || t->oom) return;
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 8192) + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = 1;
            return;
        }
        t->s = s, t->cap = cap;
    }
}

static void put_requests(text *t, const srv_metrics *m)
{
    put(t, "# HELP seize_requests_total HTTP requests answered, by route and status.\n"
           "# TYPE seize_requests_total counter\n");
    for (int r = 0; r < RT_COUNT; r++)
        for (int i = 0; i < SRV_N_STATUS && m->rt[r].status[i]; i++)
            put(t, "seize_requests_total{route=\"%s\",status=\"%d\"} %llu\n", srv_route_names[r],
                m->rt[r].status[i], m->rt[r].count[i]);
    put(t, "# HELP seize_request_seconds Time from a request's headers to its answer.\n"
           "# TYPE seize_request_seconds histogram\n");
    for (int r = 0; r < RT_COUNT; r++) {
        if (!m->rt[r].n) continue;
        unsigned long long cum = 0;
        for (int b = 0; b < SRV_N_BUCKETS; b++) {
            cum += m->rt[r].hist[b];
            if (b < SRV_N_BUCKETS - 1)
                put(t, "seize_request_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    srv_route_names[r], buckets[b], cum);
            else
                put(t, "seize_request_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                    srv_route_names[r], cum);
        }
        put(t, "seize_request_seconds_sum{route=\"%s\"} %.6f\n", srv_route_names[r], m->rt[r].sum);
        put(t, "seize_request_seconds_count{route=\"%s\"} %llu\n", srv_route_names[r], m->rt[r].n);
    }
}

static void put_llm(text *t, const srv_metrics *m)
{
    static const char *const stages[2] = {"caption", "edit"};
    put(t,
        "# HELP seize_cache_hits_total Captions and edits answered from the cache.\n"
        "# TYPE seize_cache_hits_total counter\nseize_cache_hits_total %llu\n"
        "# HELP seize_cache_misses_total Captions and edits asked of the servers.\n"
        "# TYPE seize_cache_misses_total counter\nseize_cache_misses_total %llu\n",
        m->cache_hits, m->cache_misses);
    put(t, "# HELP seize_llm_requests_total HTTP requests to the captioner and the LLM.\n"
           "# TYPE seize_llm_requests_total counter\n");
    for (int s = 0; s < 2; s++)
        put(t, "seize_llm_requests_total{stage=\"%s\"} %llu\n", stages[s], m->llm_requests[s]);
    put(t, "# HELP seize_llm_failures_total Those requests that failed.\n"
           "# TYPE seize_llm_failures_total counter\n");
    for (int s = 0; s < 2; s++)
        put(t, "seize_llm_failures_total{stage=\"%s\"} %llu\n", stages[s], m->llm_failures[s]);
}

static void put_batches(text *t, seize_server *s)
{
    seize_batcher_stats bs = {0};
    if (s->b) seize_batcher_stats_get(s->b, &bs);
    put(t,
        "# HELP seize_batches_total Encoder batches of plain text and image searches.\n"
        "# TYPE seize_batches_total counter\nseize_batches_total %llu\n",
        bs.batches);
    put(t, "# HELP seize_batch_size Requests per encoder batch.\n"
           "# TYPE seize_batch_size histogram\n");
    static const char *const le[7] = {"1", "2", "4", "8", "16", "32", "+Inf"};
    unsigned long long cum = 0;
    for (int i = 0; i < 7; i++) {
        cum += bs.size_hist[i];
        put(t, "seize_batch_size_bucket{le=\"%s\"} %llu\n", le[i], cum);
    }
    put(t, "seize_batch_size_sum %llu\nseize_batch_size_count %llu\n", bs.requests, bs.batches);
}

enum MHD_Result srv_metrics_page(srv_req *r, struct MHD_Connection *c)
{
    seize_server *s = r->s;
    text t = {0};
    pthread_mutex_lock(&s->m.mu);
    srv_metrics m = s->m; // a snapshot (the mutex member is not used)
    pthread_mutex_unlock(&s->m.mu);
    put_requests(&t, &m);
    put_llm(&t, &m);
    pthread_mutex_lock(&s->mu);
    srv_gate w = s->workers, b = s->searches;
    pthread_mutex_unlock(&s->mu);
    put(&t,
        "# HELP seize_queue_depth Requests waiting for a worker or the batcher.\n"
        "# TYPE seize_queue_depth gauge\nseize_queue_depth %d\n"
        "# HELP seize_workers_busy Workers busy with a composed or gallery-image search.\n"
        "# TYPE seize_workers_busy gauge\nseize_workers_busy %d\n"
        "# HELP seize_searches_in_flight Text and upload searches at the batcher.\n"
        "# TYPE seize_searches_in_flight gauge\nseize_searches_in_flight %d\n",
        w.waiting + b.waiting, w.busy, b.busy);
    put_batches(&t, s);
    if (t.oom || !t.s) {
        free(t.s);
        return srv_send_error(r, c, 500, "out of memory");
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(t.len, t.s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return srv_send(r, c, 200, resp);
}
