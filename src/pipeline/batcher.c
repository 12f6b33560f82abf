// The batcher (seize_batcher_*): plain text and image searches from many threads, encoded and
// ranked in batches on one thread with its own engine state. Callers queue a request and sleep
// on its condition variable; the batcher thread sleeps on `work` until a request comes, then
// up to window_ms for more (or until max_batch are queued), takes them, encodes the texts in
// one forward pass and the images in another, ranks every query in one gallery scan with the
// largest k asked, and wakes each caller with its own cut of the hits. An image is preprocessed
// on its caller's thread before it is queued (the batcher thread only encodes), so that a large
// photo delays no other request and a bad one fails alone.
#include "engine_int.h"

#include "seize/retrieval.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct request {
    const char *text; // a text search, or
    const float *px;  // an image search: its pixels, preprocessed (3, S, S)
    size_t exclude, k;
    seize_query_hit *hits; // the caller's array of k
    size_t n_hits;
    int rc, done;
    char err[512]; // the batcher thread's message when rc < 0
    pthread_cond_t cond;
    struct request *next;
} request;

struct seize_batcher {
    const seize_engine *e;
    seize_batcher_params p;
    seize_engine_state *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; // a request was queued, or stop (CLOCK_MONOTONIC)
    pthread_cond_t idle; // the last caller left after stop
    request *head, *tail;
    size_t waiting, inside; // queued; callers inside a search call
    long long last_arrival; // CLOCK_MONOTONIC ns of the last request queued
    int stop;
    seize_batcher_stats stats;
    // the batcher thread's scratch, for max_batch requests
    request **batch, **row_req; // taken; the request of each query row
    const char **texts;
    float *q; // (max_batch, dim)
    size_t *exclude;
};

seize_batcher_params seize_batcher_default_params(void)
{
    seize_batcher_params p = {0};
    p.max_batch = 32;
    p.window_ms = 2.0;
    p.n_threads = 1;
    p.precision = SEIZE_PRECISION_FP32;
    return p;
}

// --- the batcher thread

static void fail(request *r, int rc)
{
    r->rc = rc;
    snprintf(r->err, sizeof r->err, "%s", seize_errmsg());
}

// Encodes the batch's texts then its images into b->q; row_req[i] is the request of row i.
// Returns the number of rows (0 when the encoder failed: every request has its error).
static size_t encode_batch(seize_batcher *b, size_t n)
{
    size_t dim = b->st->dim, nt = 0, ni = 0;
    for (size_t i = 0; i < n; i++)
        if (b->batch[i]->text) {
            b->texts[nt] = b->batch[i]->text;
            b->row_req[nt++] = b->batch[i];
        }
    int rc = seize_engine_embed_texts(b->st, b->texts, nt, b->q);
    size_t per = 3 * (size_t)b->st->pre.size * (size_t)b->st->pre.size;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!b->batch[i]->text) {
            memcpy(b->st->pixels + ni * per, b->batch[i]->px, per * sizeof(float));
            b->row_req[nt + ni++] = b->batch[i];
        }
    if (rc == 0 && ni) rc = engine_encode_pixels(b->st, ni, b->q + nt * dim);
    for (size_t i = 0; rc < 0 && i < n; i++)
        fail(b->batch[i], rc);
    return rc < 0 ? 0 : nt + ni;
}

// Answers the n requests of b->batch (without the lock).
static void run_batch(seize_batcher *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b->batch[i]->rc = 0;
    size_t rows = encode_batch(b, n), k = 1;
    for (size_t i = 0; i < rows; i++) {
        b->exclude[i] = b->row_req[i]->exclude;
        if (b->row_req[i]->k > k) k = b->row_req[i]->k;
    }
    seize_search_result *res = NULL;
    int rc = rows ? seize_engine_rank(b->st, b->q, rows, b->exclude, k, &res) : 0;
    for (size_t i = 0; i < rows; i++) {
        request *r = b->row_req[i];
        if (rc < 0) {
            fail(r, rc);
            continue;
        }
        size_t m = res->n_ranked[i] < r->k ? res->n_ranked[i] : r->k;
        for (size_t j = 0; j < m; j++) {
            size_t row = res->index[i * res->k + j];
            float score = res->score[i * res->k + j];
            r->hits[j] =
                (seize_query_hit){seize_index_name(b->e->idx, row), row, score, score, 0.0f, 0.0f};
        }
        r->n_hits = m;
    }
    seize_search_result_free(res);
}

static int size_bucket(size_t n)
{
    int h = 0;
    for (size_t lim = 1; h < 6 && n > lim; lim *= 2)
        h++;
    return h; // 1, 2, 3-4, 5-8, 9-16, 17-32, more
}

static long long mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

// Waits (with b->mu held) while requests keep arriving within window_ms of each other, at most
// 4 window_ms in all, until max_batch are queued or the batcher stops. Clients answered by the
// last batch come back over a few ms (HTTP threads wake, reply, the clients send again): a
// fixed window from the first arrival split them into two batches, two gallery scans. A
// request that waited through a scan waits no longer unless others are still arriving.
static void wait_window(seize_batcher *b)
{
    long long w = (long long)(b->p.window_ms * 1e6), cap = mono_ns() + 4 * w;
    while (w > 0 && !b->stop && b->waiting < (size_t)b->p.max_batch) {
        long long dl = b->last_arrival + w < cap ? b->last_arrival + w : cap;
        if (mono_ns() >= dl) break;
        struct timespec ts = {(time_t)(dl / 1000000000LL), (long)(dl % 1000000000LL)};
        pthread_cond_timedwait(&b->work, &b->mu, &ts);
    }
}

static void *batcher_main(void *arg)
{
    seize_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stop)
            pthread_cond_wait(&b->work, &b->mu);
        if (!b->head) break; // stopping, nothing left to answer
        wait_window(b);
        size_t n = 0;
        while (b->head && n < (size_t)b->p.max_batch) {
            b->batch[n++] = b->head;
            b->head = b->head->next;
        }
        if (!b->head) b->tail = NULL;
        b->waiting -= n;
        pthread_mutex_unlock(&b->mu);
        run_batch(b, n);
        pthread_mutex_lock(&b->mu);
        b->stats.batches++;
        b->stats.requests += n;
        b->stats.size_hist[size_bucket(n)]++;
        for (size_t i = 0; i < n; i++) {
            b->batch[i]->done = 1;
            pthread_cond_signal(&b->batch[i]->cond);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

// --- making and freeing

static int alloc_scratch(seize_batcher *b)
{
    size_t n = (size_t)b->p.max_batch;
    b->batch = seize_calloc(n, sizeof *b->batch);
    b->row_req = seize_calloc(n, sizeof *b->row_req);
    b->texts = seize_calloc(n, sizeof *b->texts);
    b->exclude = seize_calloc(n, sizeof *b->exclude);
    b->q = seize_calloc(n * b->st->dim, sizeof *b->q);
    if (!b->batch || !b->row_req || !b->texts || !b->exclude || !b->q)
        return seize_error(SEIZE_ENOMEM, "out of memory");
    return 0;
}

static void free_scratch(seize_batcher *b)
{
    seize_engine_state_free(b->st);
    free(b->batch);
    free(b->row_req);
    free(b->texts);
    free(b->exclude);
    free(b->q);
}

static int init_sync(seize_batcher *b)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca)) return seize_error(SEIZE_ENOMEM, "batcher: no condition");
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int bad = pthread_cond_init(&b->work, &ca);
    pthread_condattr_destroy(&ca);
    if (bad) return seize_error(SEIZE_ENOMEM, "batcher: no condition");
    if (pthread_cond_init(&b->idle, NULL)) {
        pthread_cond_destroy(&b->work);
        return seize_error(SEIZE_ENOMEM, "batcher: no condition");
    }
    if (pthread_mutex_init(&b->mu, NULL)) {
        pthread_cond_destroy(&b->work);
        pthread_cond_destroy(&b->idle);
        return seize_error(SEIZE_ENOMEM, "batcher: no mutex");
    }
    return 0;
}

int seize_batcher_new(const seize_engine *e, const seize_batcher_params *p, seize_batcher **out)
{
    *out = NULL;
    if (!e || !p || p->max_batch < 1 || p->max_batch > 4096 || !(p->window_ms >= 0) ||
        p->window_ms > 60000 || p->n_threads < 1)
        return seize_error(SEIZE_EINVAL, "batcher: max_batch must be 1..4096, window_ms "
                                         "0..60000 and n_threads at least 1");
    seize_batcher *b = seize_calloc(1, sizeof *b);
    if (!b) return SEIZE_ENOMEM;
    b->e = e;
    b->p = *p;
    seize_engine_state_params sp = {p->max_batch, p->n_threads, p->precision};
    int rc = seize_engine_state_new(e, &sp, &b->st);
    if (rc == 0) rc = alloc_scratch(b);
    if (rc == 0) rc = engine_pixels_reserve(b->st, (size_t)p->max_batch);
    if (rc == 0) rc = init_sync(b);
    if (rc < 0) {
        free_scratch(b);
        free(b);
        return rc;
    }
    if (pthread_create(&b->thread, NULL, batcher_main, b)) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->work);
        pthread_cond_destroy(&b->idle);
        free_scratch(b);
        free(b);
        return seize_error(SEIZE_ENOMEM, "batcher: cannot start its thread");
    }
    *out = b;
    return 0;
}

void seize_batcher_free(seize_batcher *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1; // no request is queued from now on; the thread answers those queued
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_mutex_lock(&b->mu);
    while (b->inside) // callers answered but not yet out of their call
        pthread_cond_wait(&b->idle, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->idle);
    free_scratch(b);
    free(b);
}

// --- requests

// Queues r and sleeps until the batcher thread has answered it.
static int submit(seize_batcher *b, request *r, size_t *n_hits)
{
    *n_hits = 0;
    if (pthread_cond_init(&r->cond, NULL)) return seize_error(SEIZE_ENOMEM, "no condition");
    pthread_mutex_lock(&b->mu);
    if (b->stop) {
        pthread_mutex_unlock(&b->mu);
        pthread_cond_destroy(&r->cond);
        return seize_error(SEIZE_ECANCEL, "search: the batcher is shutting down");
    }
    b->inside++;
    if (b->tail)
        b->tail->next = r;
    else
        b->head = r;
    b->tail = r;
    b->waiting++;
    b->last_arrival = mono_ns();
    pthread_cond_signal(&b->work);
    while (!r->done)
        pthread_cond_wait(&r->cond, &b->mu);
    if (--b->inside == 0 && b->stop) pthread_cond_signal(&b->idle);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&r->cond);
    if (r->rc < 0) return seize_error(r->rc, "%s", r->err);
    *n_hits = r->n_hits;
    return 0;
}

int seize_batcher_search_text(seize_batcher *b, const char *text, size_t k, seize_query_hit *hits,
                              size_t *n_hits)
{
    *n_hits = 0;
    int rc = engine_check_text(text, SIZE_MAX);
    if (rc < 0) return rc;
    if (k == 0 || !hits) return seize_error(SEIZE_EINVAL, "search: k must be at least 1");
    request r = {.text = text, .exclude = SIZE_MAX, .k = k, .hits = hits};
    return submit(b, &r, n_hits);
}

int seize_batcher_search_image(seize_batcher *b, const struct seize_image *img, size_t exclude,
                               size_t k, seize_query_hit *hits, size_t *n_hits)
{
    *n_hits = 0;
    if (!img || !img->data || !img->width || !img->height)
        return seize_error(SEIZE_EINVAL, "search: the image is empty");
    if (k == 0 || !hits) return seize_error(SEIZE_EINVAL, "search: k must be at least 1");
    size_t count = seize_index_count(b->e->idx);
    if (exclude != SIZE_MAX && exclude >= count)
        return seize_error(SEIZE_EINVAL, "search: row %zu is not in the gallery of %zu images",
                           exclude, count);
    // preprocessed here, with the state's options (only read after the state was made)
    size_t per = 3 * (size_t)b->st->pre.size * (size_t)b->st->pre.size;
    float *px = seize_malloc(per, sizeof *px);
    if (!px) return SEIZE_ENOMEM;
    int rc = seize_image_preprocess(img, &b->st->pre, px);
    if (rc < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", seize_errmsg());
        free(px);
        return seize_error(rc, "search: the image: %s", why);
    }
    request r = {.px = px, .exclude = exclude, .k = k, .hits = hits};
    rc = submit(b, &r, n_hits);
    free(px);
    return rc;
}

void seize_batcher_stats_get(seize_batcher *b, seize_batcher_stats *out)
{
    pthread_mutex_lock(&b->mu);
    *out = b->stats;
    out->waiting = b->waiting;
    pthread_mutex_unlock(&b->mu);
}
